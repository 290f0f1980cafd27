/*
 * synth.c - `kinema synth`: a synthetic multi-view rig with ground truth.
 *
 * Why: triangulation and self-calibration must be measured against truth.
 * A parametric articulated body (segment lengths from anthropometric
 * ratios of stature, varied per subject) is driven by joint-angle
 * patterns for walking, turning, sit-to-stand and arm waving, grounded so
 * its lowest foot point touches z = 0. Cameras stand around the room with
 * realistic intrinsics and lens distortion; observations get Gaussian
 * pixel noise, displaced outliers and missed detections. Three
 * independent random streams (subject, cameras, observations) make a seed
 * fully deterministic.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/geom.h"
#include "geom/linalg.h"

#define NB 33 /* the body model produces BlazePose-33 points */

/* BlazePose indices of the COCO-17 keypoints. */
static const int coco_from_blaze[17] = {0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16,
                                        23, 24, 25, 26, 27, 28};

typedef struct {
    double H;                         /* stature */
    double thigh, shank, ankle_h, foot;
    double hip_w, sh_w, trunk;        /* trunk: hip joints -> shoulder line */
    double upper_arm, forearm, hand;
    double head;                      /* head scale (1 = 1.75 m adult) */
} body;

typedef struct {
    double root[2], heading;
    double hip_fl[2], knee[2], ankle[2];
    double sh_fl[2], sh_ab[2], elbow[2];
    double lean, head_yaw;
    double anchor;                    /* 0..1: keep the feet in place (sit) */
} pose;

void km_synth_opts_default(km_synth_opts *o)
{
    memset(o, 0, sizeof *o);
    o->ncams = 4;
    o->nframes = 300;
    o->fps = 30;
    o->noise_px = 1.0;
    o->outliers = 0.0;
    o->missing = 0.0;
    o->seed = 1;
    o->motion = KM_MOTION_WALK;
    o->skel = KM_SKEL_BLAZEPOSE33;
}

int km_motion_parse(const char *s, km_motion *out)
{
    static const char *names[] = {"walk", "turn", "sit", "wave", "mixed"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (km_motion)i;
            return 0;
        }
    return km_seterr(KM_EINVAL, "unknown motion '%s' (walk, turn, sit, wave, mixed)", s);
}

static double uni(km_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * km_rng_uniform(r);
}

static void make_body(km_rng *r, double H, body *b)
{
    double v[8];
    for (int i = 0; i < 8; i++)
        v[i] = 1 + 0.03 * km_rng_gauss(r);
    b->H = H;
    b->thigh = 0.245 * H * v[0];
    b->shank = 0.246 * H * v[1];
    b->ankle_h = 0.039 * H;
    b->foot = 0.152 * H * v[2];
    b->hip_w = 0.10 * H * v[3];
    b->sh_w = 0.22 * H * v[4];
    b->upper_arm = 0.186 * H * v[5];
    b->forearm = 0.146 * H * v[6];
    b->hand = 0.108 * H * v[7];
    /* shoulders at 0.818 H when standing; hip joints at thigh + shank + ankle */
    b->trunk = 0.818 * H - (b->thigh + b->shank + b->ankle_h);
    b->head = H / 1.75;
}

/* ------------------------------------------------------------ motions */

static double smoothstep(double x)
{
    x = x < 0 ? 0 : x > 1 ? 1 : x;
    return x * x * (3 - 2 * x);
}

/* Leg and arm angles of a walking cycle at phase ph (radians). */
static void gait_angles(double ph, double amp, pose *p)
{
    for (int s = 0; s < 2; s++) {
        double q = ph + s * M_PI;
        p->hip_fl[s] = amp * (0.05 + 0.38 * sin(q));
        p->knee[s] = amp * (0.12 + 0.55 * fmax(0, sin(q + 1.4)));
        p->ankle[s] = amp * 0.12 * sin(q - 0.6);
        p->sh_fl[s] = -amp * 0.35 * sin(q);
        p->sh_ab[s] = 0.08;
        p->elbow[s] = 0.25 + amp * 0.15 * (1 + sin(q));
    }
    p->lean = 0.05 * amp;
}

static void standing_angles(pose *p)
{
    for (int s = 0; s < 2; s++) {
        p->hip_fl[s] = 0.02, p->knee[s] = 0.04, p->ankle[s] = 0;
        p->sh_fl[s] = 0.05, p->sh_ab[s] = 0.08, p->elbow[s] = 0.15;
    }
    p->lean = 0.02;
}

static void wave_angles(double t, pose *p)
{
    standing_angles(p);
    /* the right arm waves throughout (raised over the first 0.8 s); the
     * left one joins for the second half of every 8 s, raised and lowered
     * smoothly */
    double c = fmod(t, 8.0);
    double left = smoothstep((c - 4.0) / 0.8) * (1 - smoothstep((c - 7.2) / 0.8));
    double up[2] = {left, smoothstep(t / 0.8)};
    double w = sin(2 * M_PI * 1.4 * t);
    for (int s = 0; s < 2; s++) {
        p->sh_ab[s] += up[s] * (2.5 + 0.15 * w - p->sh_ab[s]);
        p->sh_fl[s] += up[s] * (0.3 - p->sh_fl[s]);
        p->elbow[s] += up[s] * (0.6 + 0.45 * w - p->elbow[s]);
    }
    p->head_yaw = 0.3 * sin(0.5 * t);
}

static void sit_angles(double t, pose *p)
{
    /* 5 s cycle: stand 1 s, sit down 1.5 s, seated 1 s, stand up 1.5 s */
    double c = fmod(t, 5.0), d;
    if (c < 1.0)
        d = 0;
    else if (c < 2.5)
        d = smoothstep((c - 1.0) / 1.5);
    else if (c < 3.5)
        d = 1;
    else
        d = 1 - smoothstep((c - 3.5) / 1.5);
    standing_angles(p);
    for (int s = 0; s < 2; s++) {
        p->hip_fl[s] = 0.02 + 1.45 * d;
        p->knee[s] = 0.04 + 1.55 * d;
        p->ankle[s] = 0.15 * d;
        p->sh_fl[s] = 0.05 + 0.5 * d;
    }
    p->lean = 0.02 + 0.15 * d + 0.35 * sin(M_PI * d);
    p->anchor = 1;
}

/* Position on the walking loop (an ellipse) after distance s. */
static void loop_at(double s, double *xy, double *heading)
{
    const double a = 1.6, b = 1.1;
    /* arc length of the ellipse by Ramanujan's approximation */
    double per = M_PI * (3 * (a + b) - sqrt((3 * a + b) * (a + 3 * b)));
    double th = 2 * M_PI * s / per; /* near-uniform speed is enough here */
    xy[0] = a * cos(th);
    xy[1] = b * sin(th);
    *heading = atan2(b * cos(th), -a * sin(th));
}

/* Back-and-forth along x with 180 degree turns in place. */
static void turn_path(double t, pose *p)
{
    const double len = 3.0, v = 1.1, turn = 1.4;
    double leg = len / v, period = 2 * (leg + turn);
    double c = fmod(t, period);
    double x, head, amp;
    double u; /* time into the current straight leg */
    if (c < leg) {
        x = -len / 2 + v * c, head = 0, u = c;
    } else if (c < leg + turn) {
        x = len / 2, head = M_PI * smoothstep((c - leg) / turn), u = -1;
    } else if (c < 2 * leg + turn) {
        u = c - leg - turn;
        x = len / 2 - v * u, head = M_PI;
    } else {
        x = -len / 2, head = M_PI + M_PI * smoothstep((c - 2 * leg - turn) / turn), u = -1;
    }
    /* shorter steps while turning, blended over 0.4 s at both ends */
    amp = u < 0 ? 0.4 : 0.4 + 0.6 * smoothstep(fmin(u, leg - u) / 0.4);
    gait_angles(2 * M_PI * 0.9 * t, amp, p);
    p->root[0] = x, p->root[1] = 0.3, p->heading = head;
}

static void blend(pose *acc, const pose *p, double w)
{
    double *a = (double *)acc;
    const double *b = (const double *)p;
    for (size_t i = 0; i < sizeof(pose) / sizeof(double); i++)
        a[i] += w * b[i];
}

/* Pose at frame time t; `walked` carries the distance along the loop
 * (advanced by the caller's time step) for WALK and MIXED. */
static void pose_at(km_motion m, double t, double dt, double *walked, pose *out)
{
    memset(out, 0, sizeof *out);
    pose p;
    memset(&p, 0, sizeof p);
    double xy[2], head;
    if (m == KM_MOTION_TURN) {
        turn_path(t, out);
        return;
    }
    double w_walk = 0, w_wave = 0, w_sit = 0;
    if (m == KM_MOTION_WALK)
        w_walk = 1;
    else if (m == KM_MOTION_WAVE)
        w_wave = 1;
    else if (m == KM_MOTION_SIT)
        w_sit = 1;
    else {
        /* 10 s segments: walk, wave, walk, sit; 0.8 s cross-fades */
        static const int type[4] = {0, 1, 0, 2}; /* 0 walk, 1 wave, 2 sit */
        double c = fmod(t, 40.0);
        int seg = (int)(c / 10.0) % 4;
        double cur = t < 10.0 ? 1.0 : smoothstep((c - 10.0 * seg) / 0.8);
        double ws[3] = {0};
        ws[type[seg]] += cur;
        ws[type[(seg + 3) % 4]] += 1 - cur;
        w_walk = ws[0], w_wave = ws[1], w_sit = ws[2];
    }
    *walked += 1.1 * w_walk * dt;
    loop_at(*walked, xy, &head);
    if (w_walk > 0) {
        gait_angles(2 * M_PI * 0.9 * t, 1, &p);
        blend(out, &p, w_walk);
    }
    if (w_wave > 0) {
        memset(&p, 0, sizeof p);
        wave_angles(t, &p);
        blend(out, &p, w_wave);
    }
    if (w_sit > 0) {
        memset(&p, 0, sizeof p);
        sit_angles(t, &p);
        blend(out, &p, w_sit);
    }
    out->root[0] = xy[0], out->root[1] = xy[1];
    out->heading = head + (m == KM_MOTION_WAVE ? 0.6 * sin(0.2 * t) : 0);
    if (m == KM_MOTION_SIT || m == KM_MOTION_WAVE)
        out->root[0] = out->root[1] = 0;
}

/* --------------------------------------------------------- kinematics */

static void add(double *o, const double *a, const double *v, double s)
{
    o[0] = a[0] + s * v[0], o[1] = a[1] + s * v[1], o[2] = a[2] + s * v[2];
}

/* The 33 BlazePose points of body b in pose p (before grounding). */
static void body_points(const body *b, const pose *p, double P[NB][3])
{
    double f[3] = {cos(p->heading), sin(p->heading), 0};
    double l[3] = {-sin(p->heading), cos(p->heading), 0};
    double u[3] = {0, 0, 1};
    double hip_h = b->thigh + b->shank + b->ankle_h;
    /* sit: move the pelvis back so the feet stay where they were */
    double fwd = 0;
    for (int s = 0; s < 2; s++)
        fwd += 0.5 * (b->thigh * sin(p->hip_fl[s]) + b->shank * sin(p->hip_fl[s] - p->knee[s]));
    double root[3] = {p->root[0], p->root[1], hip_h};
    add(root, root, f, -p->anchor * fwd);
    for (int s = 0; s < 2; s++) {
        double side = s == 0 ? 1 : -1; /* s = 0 left (+l), 1 right */
        double hip[3], knee[3], ankle[3], d[3], fd[3];
        add(hip, root, l, side * b->hip_w / 2);
        double a = p->hip_fl[s], k = a - p->knee[s], fa = k + p->ankle[s];
        for (int i = 0; i < 3; i++)
            d[i] = -u[i] * cos(a) + f[i] * sin(a);
        add(knee, hip, d, b->thigh);
        for (int i = 0; i < 3; i++)
            d[i] = -u[i] * cos(k) + f[i] * sin(k);
        add(ankle, knee, d, b->shank);
        /* foot direction: forward, pitched with the shank and the ankle */
        for (int i = 0; i < 3; i++)
            fd[i] = f[i] * cos(fa) + u[i] * sin(fa);
        double *heel = P[29 + s], *toe = P[31 + s];
        add(heel, ankle, fd, -0.22 * b->foot);
        add(heel, heel, d, b->ankle_h);
        add(toe, ankle, fd, 0.72 * b->foot);
        add(toe, toe, d, b->ankle_h * 0.9);
        memcpy(P[23 + s], hip, sizeof hip);
        memcpy(P[25 + s], knee, sizeof knee);
        memcpy(P[27 + s], ankle, sizeof ankle);
    }
    double tu[3], neck[3];
    for (int i = 0; i < 3; i++)
        tu[i] = u[i] * cos(p->lean) + f[i] * sin(p->lean);
    add(neck, root, tu, b->trunk);
    for (int s = 0; s < 2; s++) {
        double side = s == 0 ? 1 : -1;
        double sh[3], el[3], wr[3], d[3], n[3], fd[3];
        add(sh, neck, l, side * b->sh_w / 2);
        double fl = p->sh_fl[s], ab = p->sh_ab[s];
        for (int i = 0; i < 3; i++)
            d[i] = -tu[i] * cos(fl) * cos(ab) + f[i] * sin(fl) * cos(ab) + side * l[i] * sin(ab);
        v3_normalize(d);
        add(el, sh, d, b->upper_arm);
        /* elbow flexion bends the forearm towards the front / up */
        /* (the plane turns from forward to up as the arm is raised) */
        double ra = smoothstep((ab - 0.8) / 0.8), ref[3];
        for (int i = 0; i < 3; i++)
            ref[i] = (1 - ra) * (f[i] + 0.3 * tu[i]) + ra * tu[i];
        double pr = v3_dot(ref, d);
        for (int i = 0; i < 3; i++)
            n[i] = ref[i] - pr * d[i];
        if (v3_normalize(n) < 1e-6)
            memcpy(n, f, sizeof n);
        for (int i = 0; i < 3; i++)
            fd[i] = d[i] * cos(p->elbow[s]) + n[i] * sin(p->elbow[s]);
        add(wr, el, fd, b->forearm);
        memcpy(P[11 + s], sh, sizeof sh);
        memcpy(P[13 + s], el, sizeof el);
        memcpy(P[15 + s], wr, sizeof wr);
        /* hand points: pinky, index, thumb */
        double *pk = P[17 + s], *ix = P[19 + s], *th = P[21 + s];
        add(pk, wr, fd, 0.75 * b->hand);
        add(pk, pk, l, -side * 0.025 * b->head);
        add(ix, wr, fd, 0.8 * b->hand);
        add(ix, ix, l, side * 0.02 * b->head);
        add(th, wr, fd, 0.45 * b->hand);
        add(th, th, l, side * 0.04 * b->head);
    }
    /* head: eyes at 0.936 H when standing upright */
    double hy = p->heading + p->head_yaw;
    double hf[3] = {cos(hy), sin(hy), 0}, hl[3] = {-sin(hy), cos(hy), 0};
    double hc[3], s = b->head;
    add(hc, neck, tu, 0.936 * b->H - 0.818 * b->H);
    add(hc, hc, hf, -0.03 * s);
    add(P[0], hc, hf, 0.105 * s);
    add(P[0], P[0], tu, -0.02 * s);
    const double eye_off[3] = {0.016, 0.032, 0.046};
    for (int e = 0; e < 3; e++) {
        double base[3];
        add(base, hc, hf, 0.085 * s);
        add(P[1 + e], base, hl, eye_off[e] * s);
        add(P[4 + e], base, hl, -eye_off[e] * s);
    }
    add(P[7], hc, hl, 0.075 * s);
    add(P[8], hc, hl, -0.075 * s);
    add(P[7], P[7], hf, -0.01 * s);
    add(P[8], P[8], hf, -0.01 * s);
    double mouth[3];
    add(mouth, hc, hf, 0.09 * s);
    add(mouth, mouth, tu, -0.055 * s);
    add(P[9], mouth, hl, 0.024 * s);
    add(P[10], mouth, hl, -0.024 * s);
    /* ground: the lowest foot point touches z = 0 */
    double zmin = INFINITY;
    for (int i = 27; i < 33; i++)
        zmin = fmin(zmin, P[i][2] - (i < 29 ? b->ankle_h : 0));
    for (int i = 0; i < NB; i++)
        P[i][2] -= zmin;
}

/* ------------------------------------------------------------ cameras */

static void look_at(const double C[3], const double target[3], double roll, double R[9])
{
    double z[3] = {target[0] - C[0], target[1] - C[1], target[2] - C[2]};
    v3_normalize(z);
    double down[3] = {0, 0, -1}, x[3], y[3];
    v3_cross(down, z, x); /* image x to the right, image y down */
    v3_normalize(x);
    v3_cross(z, x, y);
    double cr = cos(roll), sr = sin(roll);
    for (int i = 0; i < 3; i++) {
        double xi = cr * x[i] + sr * y[i], yi = -sr * x[i] + cr * y[i];
        R[i] = xi, R[3 + i] = yi, R[6 + i] = z[i];
    }
}

static void make_cameras(km_rng *r, int n, km_calib *calib)
{
    double az0 = uni(r, 0, 2 * M_PI);
    for (int c = 0; c < n; c++) {
        km_camera *k = &calib->cams[c];
        snprintf(k->name, sizeof k->name, "cam_%02d", c + 1);
        int hd = km_rng_uniform(r) < 0.75;
        k->width = hd ? 1920 : 1280;
        k->height = hd ? 1080 : 720;
        double fx = k->width * uni(r, 0.55, 0.80);
        memset(k->K, 0, sizeof k->K);
        k->K[0] = fx;
        k->K[4] = fx * (1 + 0.002 * km_rng_gauss(r));
        k->K[2] = k->width / 2.0 + 6 * km_rng_gauss(r);
        k->K[5] = k->height / 2.0 + 6 * km_rng_gauss(r);
        k->K[8] = 1;
        k->dist[0] = uni(r, -0.20, 0.05);
        k->dist[1] = uni(r, 0.0, 0.06);
        k->dist[2] = 0.0008 * km_rng_gauss(r);
        k->dist[3] = 0.0008 * km_rng_gauss(r);
        k->dist[4] = 0;
        double az = az0 + 2 * M_PI * c / n + uni(r, -0.15, 0.15);
        double rad = uni(r, 4.2, 5.2);
        double C[3] = {rad * cos(az), rad * sin(az), uni(r, 1.2, 2.6)};
        double target[3] = {uni(r, -0.3, 0.3), uni(r, -0.3, 0.3), uni(r, 0.8, 1.1)};
        double R[9];
        look_at(C, target, uni(r, -0.05, 0.05), R);
        km_camera_set_pose(k, R, C);
    }
}

/* ------------------------------------------------------- observations */

static void observe(km_rng *r, const km_synth_opts *o, const km_camera *cam, const double *X,
                    double *out)
{
    double uv[2];
    double z = km_camera_project(cam, X, uv);
    /* draw every random number first so the stream does not depend on
     * visibility */
    double nx = km_rng_gauss(r), ny = km_rng_gauss(r);
    double pm = km_rng_uniform(r), po = km_rng_uniform(r);
    double orad = uni(r, 20, 200), oang = uni(r, 0, 2 * M_PI);
    double sc = uni(r, 0.6, 1.0);
    out[0] = out[1] = out[2] = 0;
    if (!(z > 0.1) || uv[0] < 0 || uv[1] < 0 || uv[0] >= cam->width || uv[1] >= cam->height)
        return;
    if (pm < o->missing)
        return;
    uv[0] += o->noise_px * nx;
    uv[1] += o->noise_px * ny;
    if (po < o->outliers) {
        uv[0] += orad * cos(oang);
        uv[1] += orad * sin(oang);
    }
    out[0] = uv[0], out[1] = uv[1], out[2] = sc;
}

static int check_opts(const km_synth_opts *o)
{
    if (o->ncams < 2 || o->ncams > 16)
        return km_seterr(KM_ERANGE, "synth: --cameras must be 2..16, got %d", o->ncams);
    if (o->nframes < 1 || o->nframes > 1000000)
        return km_seterr(KM_ERANGE, "synth: --frames must be 1..1000000");
    if (!(o->fps > 0 && o->fps <= 1000))
        return km_seterr(KM_ERANGE, "synth: --fps must be in (0, 1000]");
    if (!(o->noise_px >= 0 && o->noise_px <= 100))
        return km_seterr(KM_ERANGE, "synth: --noise must be 0..100 px");
    if (!(o->outliers >= 0 && o->outliers <= 1) || !(o->missing >= 0 && o->missing <= 1))
        return km_seterr(KM_ERANGE, "synth: --outliers and --missing must be 0..1");
    if (o->skel != KM_SKEL_COCO17 && o->skel != KM_SKEL_BLAZEPOSE33)
        return km_seterr(KM_EINVAL, "synth: skeleton must be coco17 or blazepose33");
    if (o->height != 0 && !(o->height >= 1.0 && o->height <= 2.5))
        return km_seterr(KM_ERANGE, "synth: --height must be 1.0..2.5 m");
    return 0;
}

void km_synth_free(km_synth *s)
{
    if (!s)
        return;
    if (s->views)
        for (int c = 0; c < s->calib.ncams; c++)
            km_kp2d_free(&s->views[c]);
    free(s->views);
    free(s->gt);
    km_calib_free(&s->calib);
    memset(s, 0, sizeof *s);
}

static void generate_gt(const km_synth_opts *o, const body *b, km_synth *s)
{
    double walked = 0, P[NB][3];
    double dt = 1.0 / o->fps;
    for (int f = 0; f < o->nframes; f++) {
        pose p;
        pose_at(o->motion, f * dt, dt, &walked, &p);
        body_points(b, &p, P);
        double *g = s->gt + (size_t)f * s->nkp * 3;
        for (int k = 0; k < s->nkp; k++) {
            int src = s->skel == KM_SKEL_COCO17 ? coco_from_blaze[k] : k;
            memcpy(g + 3 * k, P[src], 3 * sizeof(double));
        }
    }
}

int km_synth_generate(const km_synth_opts *o, km_synth *s)
{
    memset(s, 0, sizeof *s);
    int rc = check_opts(o);
    if (rc)
        return rc;
    km_rng r_body, r_cam, r_obs;
    km_rng_seed(&r_body, o->seed * 3 + 1);
    km_rng_seed(&r_cam, o->seed * 3 + 2);
    km_rng_seed(&r_obs, o->seed * 3 + 3);
    body b;
    double H = o->height > 0 ? o->height : uni(&r_body, 1.50, 1.95);
    make_body(&r_body, H, &b);
    s->height = H;
    s->skel = o->skel;
    s->nkp = km_skeleton_count(o->skel);
    s->nframes = o->nframes;
    if ((rc = km_calib_alloc(&s->calib, o->ncams)))
        return rc;
    make_cameras(&r_cam, o->ncams, &s->calib);
    s->gt = malloc((size_t)o->nframes * s->nkp * 3 * sizeof *s->gt);
    s->views = calloc((size_t)o->ncams, sizeof *s->views);
    if (!s->gt || !s->views) {
        km_synth_free(s);
        return km_seterr(KM_ENOMEM, "synth: out of memory");
    }
    generate_gt(o, &b, s);
    for (int c = 0; c < o->ncams && rc == 0; c++) {
        km_kp2d *v = &s->views[c];
        if ((rc = km_kp2d_alloc(v, o->skel, o->nframes)))
            break;
        char in[96];
        snprintf(in, sizeof in, "synth:%s", s->calib.cams[c].name);
        v->input = strdup(in);
        v->width = s->calib.cams[c].width;
        v->height = s->calib.cams[c].height;
        v->fps = o->fps;
        for (int f = 0; f < o->nframes; f++)
            v->timestamp[f] = f / o->fps;
    }
    for (int f = 0; f < o->nframes && rc == 0; f++)
        for (int c = 0; c < o->ncams; c++)
            for (int k = 0; k < s->nkp; k++) {
                size_t i = ((size_t)f * s->nkp + k) * 3;
                observe(&r_obs, o, &s->calib.cams[c], s->gt + i, s->views[c].kp + i);
            }
    if (rc)
        km_synth_free(s);
    return rc;
}

int km_synth_write(const km_synth *s, const char *dir)
{
    int rc = km_mkdirs(dir);
    if (rc)
        return rc;
    char path[4096];
    for (int c = 0; c < s->calib.ncams && rc == 0; c++) {
        char name[32];
        snprintf(name, sizeof name, "cam_%02d.json", c + 1);
        if ((rc = km_path_join(path, sizeof path, dir, name)))
            return rc;
        rc = km_kp2d_write(path, &s->views[c], "synth", NULL);
    }
    if (rc)
        return rc;
    if ((rc = km_path_join(path, sizeof path, dir, "calib.toml")) ||
        (rc = km_calib_write_toml(path, &s->calib)))
        return rc;
    km_array a = {KM_DT_F64, 3, {s->nframes, s->nkp, 3}, s->gt};
    if ((rc = km_path_join(path, sizeof path, dir, "gt.npy")))
        return rc;
    return km_npy_write(path, &a);
}
