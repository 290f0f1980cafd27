/* test_geom_io.c - 2D keypoint files (round trip, person selection,
 * malformed inputs named by file and field) and 3D exports (.npy, .csv,
 * .trc, .json, OpenPose JSON, and .c3d checked by an independent minimal
 * C3D reader written here from the format description). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "test_geom_common.h"

#define NF 7

static void make_seq(double *seq, int nf, int nkp)
{
    for (int f = 0; f < nf; f++)
        for (int k = 0; k < nkp; k++)
            for (int d = 0; d < 3; d++)
                seq[((size_t)f * nkp + k) * 3 + d] = 0.001 * f + 0.01 * k + d + 0.25;
    seq[((size_t)2 * nkp + 3) * 3 + 1] = NAN; /* frame 2, keypoint 3 missing */
}

/* ---------------------------------------------------------- 2D keypoints */

static void test_kp2d_round_trip(void **state)
{
    (void)state;
    km_kp2d k, r;
    assert_int_equal(km_kp2d_alloc(&k, KM_SKEL_COCO17, NF), 0);
    k.width = 640, k.height = 480, k.fps = 25;
    k.input = strdup("video.mp4");
    for (int f = 0; f < NF; f++) {
        k.frame_index[f] = 10 + 2 * f;
        k.timestamp[f] = (10 + 2 * f) / 25.0;
        for (int i = 0; i < 17; i++) {
            double *p = k.kp + ((size_t)f * 17 + i) * 3;
            p[0] = 100.125 + f + i, p[1] = 200.5 - i, p[2] = f == 3 ? 0 : 0.5 + 0.01 * i;
        }
    }
    char p[256];
    tc_tmp_path(p, sizeof p, "kp.json");
    assert_int_equal(km_kp2d_write(p, &k, "test", NULL), 0);
    assert_int_equal(km_kp2d_read(p, -1, &r), 0);
    assert_int_equal(r.nframes, NF);
    assert_int_equal(r.skel, KM_SKEL_COCO17);
    assert_int_equal(r.width, 640);
    assert_string_equal(r.input, "video.mp4");
    for (int f = 0; f < NF; f++) {
        assert_int_equal(r.frame_index[f], 10 + 2 * f);
        for (int i = 0; i < 17 * 3; i++)
            assert_true(fabs(r.kp[(size_t)f * 51 + i] - k.kp[(size_t)f * 51 + i]) < 1e-9 ||
                        (f == 3));
    }
    /* frame 3 had no detection: empty persons, read as score 0 */
    assert_true(r.kp[(size_t)3 * 51 + 2] == 0);
    km_kp2d_free(&r);
    km_kp2d_free(&k);
}

static const char *HEAD = "{\"width\":100,\"height\":50,\"fps\":30,\"keypoint_format\":\"coco17\",";

static char *coco_person(char *buf, size_t cap, int id, double score, double x)
{
    size_t n = (size_t)snprintf(buf, cap, "{\"id\":%d,\"score\":%g,\"keypoints\":[", id, score);
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s[%g,%d,0.9]", i ? "," : "", x, i);
    snprintf(buf + n, cap - n, "]}");
    return buf;
}

/* Person selection: by id, else the best score. */
static void test_kp2d_person_selection(void **state)
{
    (void)state;
    char a[2048], b[2048], text[8192], p[256];
    snprintf(text, sizeof text, "%s\"frames\":[{\"frame\":0,\"persons\":[%s,%s]}]}", HEAD,
             coco_person(a, sizeof a, 4, 0.5, 10), coco_person(b, sizeof b, 7, 0.9, 20));
    tc_tmp_path(p, sizeof p, "two.json");
    tc_write_text(p, text);
    km_kp2d k;
    assert_int_equal(km_kp2d_read(p, -1, &k), 0);
    assert_true(k.kp[0] == 20);
    km_kp2d_free(&k);
    assert_int_equal(km_kp2d_read(p, 4, &k), 0);
    assert_true(k.kp[0] == 10);
    km_kp2d_free(&k);
    assert_int_equal(km_kp2d_read(p, 99, &k), 0);
    assert_true(k.kp[2] == 0); /* absent: missing */
    km_kp2d_free(&k);
}

static void test_kp2d_malformed(void **state)
{
    (void)state;
    char person[2048];
    coco_person(person, sizeof person, 0, 1, 5);
    char short_person[] = "{\"id\":0,\"keypoints\":[[1,2,0.5]]}";
    static char texts[10][8192];
    const char *want[10];
    int n = 0;
    snprintf(texts[n], 8192, "{\"height\":5,\"fps\":30,\"keypoint_format\":\"coco17\",\"frames\":[]}");
    want[n++] = "'width'";
    snprintf(texts[n], 8192, "{\"width\":1,\"height\":5,\"fps\":30,\"keypoint_format\":\"x\",\"frames\":[]}");
    want[n++] = "keypoint_format";
    snprintf(texts[n], 8192, "%s\"frames\":{}}", HEAD);
    want[n++] = "'frames'";
    snprintf(texts[n], 8192, "%s\"frames\":[{\"frame\":0,\"persons\":[%s]}]}", HEAD, short_person);
    want[n++] = "frames[0].persons[].keypoints";
    snprintf(texts[n], 8192, "%s\"frames\":[{\"frame\":1,\"persons\":[]},{\"frame\":1,\"persons\":[]}]}", HEAD);
    want[n++] = "frames[1].frame";
    snprintf(texts[n], 8192, "%s\"frames\":[{\"frame\":0,\"persons\":7}]}", HEAD);
    want[n++] = "frames[0].persons";
    snprintf(texts[n], 8192, "%s\"frames\":[{\"frame\":0,\"persons\":[%s]}", HEAD, person);
    want[n++] = "bad.json:1:";
    snprintf(texts[n], 8192, "%s\"keypoint_names\":[\"nose\"],\"frames\":[]}", HEAD);
    want[n++] = "keypoint_names";
    snprintf(texts[n], 8192, "%s\"frames\":[{\"frame\":-3,\"persons\":[]}]}", HEAD);
    want[n++] = "frames[0].frame";
    snprintf(texts[n], 8192, "[1,2]");
    want[n++] = "top";
    char p[256];
    tc_tmp_path(p, sizeof p, "bad.json");
    for (int i = 0; i < n; i++) {
        tc_write_text(p, texts[i]);
        km_kp2d k;
        int rc = km_kp2d_read(p, -1, &k);
        if (rc == 0 || !strstr(km_errmsg(), want[i]) || !strstr(km_errmsg(), "bad.json"))
            fail_msg("case %d: rc %d msg '%s' wanted '%s'", i, rc, km_errmsg(), want[i]);
        assert_null(k.kp);
    }
    km_kp2d k;
    assert_int_not_equal(km_kp2d_read("/nonexistent.json", -1, &k), 0);
}

/* --------------------------------------------------------------- exports */

static const char *const *names17(void)
{
    static const char *n[17];
    for (int i = 0; i < 17; i++)
        n[i] = km_skeleton_name(KM_SKEL_COCO17, i);
    return n;
}

static void test_export_npy_csv_json(void **state)
{
    (void)state;
    double seq[NF * 17 * 3];
    make_seq(seq, NF, 17);
    char p[256];
    tc_tmp_path(p, sizeof p, "o.npy");
    assert_int_equal(km_export_format_of(p), KM_EXPORT_NPY);
    assert_int_equal(km_export_3d(p, KM_EXPORT_NPY, seq, NF, 17, names17(), 30), 0);
    km_array a;
    assert_int_equal(km_npy_read(p, &a), 0);
    assert_true(a.shape[0] == NF && a.shape[1] == 17 && a.shape[2] == 3);
    assert_true(((double *)a.data)[5] == seq[5]);
    km_array_free(&a);

    tc_tmp_path(p, sizeof p, "o.csv");
    assert_int_equal(km_export_3d(p, KM_EXPORT_CSV, seq, NF, 17, names17(), 30), 0);
    FILE *f = fopen(p, "r");
    char line[8192];
    assert_non_null(fgets(line, sizeof line, f));
    assert_true(strncmp(line, "frame,time,nose_x,nose_y,nose_z,left_eye_x", 42) == 0);
    int lines = 1;
    while (fgets(line, sizeof line, f))
        lines++;
    fclose(f);
    assert_int_equal(lines, NF + 1);

    tc_tmp_path(p, sizeof p, "o.json");
    assert_int_equal(km_export_3d(p, KM_EXPORT_JSON, seq, NF, 17, names17(), 30), 0);
    json_error_t e;
    json_t *root = json_load_file(p, 0, &e);
    assert_non_null(root);
    json_t *fr = json_array_get(json_object_get(root, "frames"), 2);
    assert_true(json_is_null(json_array_get(json_object_get(fr, "keypoints_3d"), 3)));
    json_t *v = json_array_get(json_array_get(json_object_get(fr, "keypoints_3d"), 4), 2);
    assert_true(fabs(json_number_value(v) - seq[(2 * 17 + 4) * 3 + 2]) < 1e-6);
    json_decref(root);
    assert_int_not_equal(km_export_3d(p, KM_EXPORT_UNKNOWN, seq, NF, 17, names17(), 30), 0);
}

/* TRC: OpenSim header, millimetres, y-up (x, y, z) -> (y, z, x). */
static void test_export_trc(void **state)
{
    (void)state;
    double seq[NF * 17 * 3];
    make_seq(seq, NF, 17);
    char p[256], line[16384];
    tc_tmp_path(p, sizeof p, "o.trc");
    assert_int_equal(km_export_3d(p, KM_EXPORT_TRC, seq, NF, 17, names17(), 30), 0);
    FILE *f = fopen(p, "r");
    assert_non_null(fgets(line, sizeof line, f));
    assert_true(strncmp(line, "PathFileType\t4\t(X/Y/Z)\to.trc", 27) == 0);
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "\t7\t17\tmm\t"));
    assert_non_null(fgets(line, sizeof line, f));
    assert_true(strncmp(line, "Frame#\tTime\tnose\t\t\tleft_eye", 26) == 0);
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "X1\tY1\tZ1"));
    assert_non_null(fgets(line, sizeof line, f)); /* blank */
    assert_non_null(fgets(line, sizeof line, f)); /* frame 1 */
    int fr;
    double t, x, y, z;
    assert_int_equal(sscanf(line, "%d\t%lf\t%lf\t%lf\t%lf", &fr, &t, &x, &y, &z), 5);
    assert_int_equal(fr, 1);
    assert_true(fabs(x - seq[1] * 1000) < 1e-3 && fabs(y - seq[2] * 1000) < 1e-3 &&
                fabs(z - seq[0] * 1000) < 1e-3);
    fclose(f);
}

/* ---- an independent minimal C3D reader (header, POINT group, floats) ---- */

typedef struct {
    int npoints, first, last, data_block;
    float rate, scale;
    char labels[64][33];
    int nlabels;
    char units[8];
    float *data; /* [frames][points][4] */
} c3d_file;

static int rd16(const unsigned char *p)
{
    return (int16_t)(p[0] | p[1] << 8);
}

static float rdf(const unsigned char *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

static int c3d_read(const unsigned char *b, size_t len, c3d_file *c)
{
    memset(c, 0, sizeof *c);
    if (len < 1024 || b[1] != 0x50)
        return -1;
    int pblock = b[0];
    c->npoints = rd16(b + 2);
    c->first = rd16(b + 6);
    c->last = rd16(b + 8);
    c->scale = rdf(b + 12);
    c->data_block = rd16(b + 16);
    c->rate = rdf(b + 20);
    size_t pos = (size_t)(pblock - 1) * 512;
    if (b[pos + 3] != 84)
        return -1; /* Intel */
    pos += 4;
    int point_group = 0;
    while (pos + 4 < len) {
        int nl = (int8_t)b[pos];
        if (nl == 0)
            break;
        nl = abs(nl);
        int id = (int8_t)b[pos + 1];
        char name[64] = {0};
        memcpy(name, b + pos + 2, (size_t)nl);
        size_t off_pos = pos + 2 + (size_t)nl;
        int off = rd16(b + off_pos);
        if (id < 0 && strcmp(name, "POINT") == 0)
            point_group = -id;
        if (id > 0 && id == point_group) {
            int type = (int8_t)b[off_pos + 2], nd = b[off_pos + 3];
            int dims[8] = {0};
            for (int i = 0; i < nd; i++)
                dims[i] = b[off_pos + 4 + i];
            const unsigned char *d = b + off_pos + 4 + nd;
            if (strcmp(name, "LABELS") == 0 && type == -1 && nd == 2) {
                c->nlabels = dims[1];
                for (int i = 0; i < dims[1] && i < 64; i++) {
                    int L = dims[0] < 32 ? dims[0] : 32;
                    memcpy(c->labels[i], d + (size_t)i * dims[0], (size_t)L);
                    for (int j = L - 1; j >= 0 && c->labels[i][j] == ' '; j--)
                        c->labels[i][j] = '\0';
                }
            } else if (strcmp(name, "UNITS") == 0 && type == -1) {
                memcpy(c->units, d, (size_t)(dims[0] < 7 ? dims[0] : 7));
            } else if (strcmp(name, "USED") == 0 && rd16(d) != c->npoints) {
                return -1;
            } else if (strcmp(name, "DATA_START") == 0 && rd16(d) != c->data_block) {
                return -1;
            }
        }
        if (off == 0)
            break;
        pos = off_pos + (size_t)off;
    }
    int frames = c->last - c->first + 1;
    size_t need = (size_t)(c->data_block - 1) * 512 + (size_t)frames * c->npoints * 16;
    if (frames < 1 || need > len || c->scale >= 0)
        return -1;
    c->data = malloc((size_t)frames * c->npoints * 16);
    for (size_t i = 0; i < (size_t)frames * c->npoints * 4; i++)
        c->data[i] = rdf(b + (size_t)(c->data_block - 1) * 512 + 4 * i);
    return 0;
}

static void test_export_c3d(void **state)
{
    (void)state;
    double seq[NF * 17 * 3];
    make_seq(seq, NF, 17);
    char p[256];
    tc_tmp_path(p, sizeof p, "o.c3d");
    assert_int_equal(km_export_3d(p, KM_EXPORT_C3D, seq, NF, 17, names17(), 50), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(km_read_file(p, 1 << 24, &buf, &len), 0);
    assert_int_equal(len % 512, 0);
    c3d_file c;
    assert_int_equal(c3d_read(buf, len, &c), 0);
    assert_int_equal(c.npoints, 17);
    assert_int_equal(c.first, 1);
    assert_int_equal(c.last, NF);
    assert_true(c.rate == 50.0f);
    assert_int_equal(c.nlabels, 17);
    assert_string_equal(c.labels[0], "nose");
    assert_string_equal(c.labels[16], "right_ankle");
    assert_string_equal(c.units, "mm");
    for (int f = 0; f < NF; f++)
        for (int k = 0; k < 17; k++) {
            const float *q = c.data + ((size_t)f * 17 + k) * 4;
            const double *s = seq + ((size_t)f * 17 + k) * 3;
            if (f == 2 && k == 3) {
                assert_true(q[3] < 0); /* invalid marker */
                continue;
            }
            assert_true(q[3] >= 0);
            for (int d = 0; d < 3; d++)
                assert_true(fabs(q[d] - s[d] * 1000) < 1e-3 * fabs(s[d] * 1000) + 1e-3);
        }
    free(c.data);
    free(buf);
}

static void test_export_openpose(void **state)
{
    (void)state;
    km_kp2d k;
    assert_int_equal(km_kp2d_alloc(&k, KM_SKEL_COCO17, 3), 0);
    k.width = 10, k.height = 10, k.fps = 30;
    for (int i = 0; i < 17; i++) {
        k.kp[3 * i] = i, k.kp[3 * i + 1] = 2 * i, k.kp[3 * i + 2] = 0.5;
    }
    char dir[256], p[512];
    tc_tmp_path(dir, sizeof dir, "openpose");
    assert_int_equal(km_export_openpose(dir, "cam1", &k), 0);
    snprintf(p, sizeof p, "%s/cam1_000000000000_keypoints.json", dir);
    json_error_t e;
    json_t *root = json_load_file(p, 0, &e);
    assert_non_null(root);
    json_t *pk = json_object_get(json_array_get(json_object_get(root, "people"), 0),
                                 "pose_keypoints_2d");
    assert_int_equal(json_array_size(pk), 51);
    assert_true(json_number_value(json_array_get(pk, 4)) == 2.0);
    json_decref(root);
    snprintf(p, sizeof p, "%s/cam1_000000000002_keypoints.json", dir);
    root = json_load_file(p, 0, &e);
    assert_int_equal(json_array_size(json_object_get(root, "people")), 0);
    json_decref(root);
    km_kp2d_free(&k);
}

/* km_rig_check: files must fit the calibration, in its camera order. */
static void test_rig_check(void **state)
{
    (void)state;
    km_synth_opts o;
    km_synth_opts_default(&o);
    o.ncams = 3, o.nframes = 4, o.seed = 8;
    km_synth s;
    assert_int_equal(km_synth_generate(&o, &s), 0);
    for (int c = 0; c < 3; c++) { /* one image size, so only the order differs */
        s.calib.cams[c].width = s.views[c].width = 1920;
        s.calib.cams[c].height = s.views[c].height = 1080;
    }
    const char *paths[3] = {"dir/cam_01.json", "dir/cam_02.json", "dir/cam_03.json"};
    assert_int_equal(km_rig_check(&s.calib, 3, paths, s.views), 0);
    assert_int_not_equal(km_rig_check(&s.calib, 2, paths, s.views), 0);
    assert_non_null(strstr(km_errmsg(), "2 keypoint files but the calibration has 3"));
    const char *swapped[3] = {"dir/cam_02.json", "dir/cam_01.json", "dir/cam_03.json"};
    km_kp2d sw[3] = {s.views[1], s.views[0], s.views[2]}; /* shallow copies */
    assert_int_not_equal(km_rig_check(&s.calib, 3, swapped, sw), 0);
    assert_non_null(strstr(km_errmsg(), "names camera 'cam_02'"));
    /* "cam_1" inside "cam_10" is not a mention; unrelated names pass */
    const char *other[3] = {"a/left.json", "a/cam_010.json", "a/x.json"};
    for (int c = 0; c < 3; c++) {
        free(s.views[c].input);
        s.views[c].input = NULL;
    }
    assert_int_equal(km_rig_check(&s.calib, 3, other, s.views), 0);
    s.views[2].width = 640;
    assert_int_not_equal(km_rig_check(&s.calib, 3, paths, s.views), 0);
    assert_non_null(strstr(km_errmsg(), "dir/cam_03.json: image size 640x"));
    s.views[2].width = s.calib.cams[2].width;
    s.views[1].frame_index[3] = 9;
    assert_int_not_equal(km_rig_check(&s.calib, 3, paths, s.views), 0);
    assert_non_null(strstr(km_errmsg(), "synchronised"));
    km_synth_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kp2d_round_trip),
        cmocka_unit_test(test_kp2d_person_selection),
        cmocka_unit_test(test_kp2d_malformed),
        cmocka_unit_test(test_export_npy_csv_json),
        cmocka_unit_test(test_export_trc),
        cmocka_unit_test(test_export_c3d),
        cmocka_unit_test(test_export_openpose),
        cmocka_unit_test(test_rig_check),
    };
    return cmocka_run_group_tests(tests, geom_tmp_setup, tc_tmpdir_teardown);
}
