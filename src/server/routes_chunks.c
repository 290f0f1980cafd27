/*
 * routes_chunks.c - POST /api/chunks/receive: one camera's video chunk.
 *
 * multipart/form-data: file (the MP4), camera_id, chunk_number, optional
 * patient_id + session_id (default: the current session). The upload is
 * streamed to data/tmp with a size limit and a SHA-256, checked to decode
 * as video, then renamed into place and recorded in one step under the
 * commit lock. Answers 202 at once; when chunk N is now present for every
 * camera, its processing task is queued. A byte-identical re-upload is an
 * idempotent 200, a different one 409. Any failure removes the temp file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kinema/media.h"
#include "server/capture.h"

typedef struct chunk_in {
    km_session_rec s;
    int64_t camera_id, chunk_number;
    const km_form_field *file;
    int explicit_ids;
} chunk_in;

static const char *text_of(const km_form *f, const char *name)
{
    const km_form_field *fl = km_form_get(f, name);
    return fl && !fl->is_file ? fl->value : NULL;
}

/* Validate fields and resolve the session; answers on failure. */
static int read_fields(km_req *r, km_capture *c, const km_form *f, chunk_in *in)
{
    const km_form_field *file = km_form_get(f, "file");
    const char *p = text_of(f, "patient_id"), *s = text_of(f, "session_id");
    if (!file) {
        km_resp_error(r, 400, "missing_field", "file", "field file (the MP4 chunk) is required");
        return KM_EINVAL;
    }
    if (!file->is_file) {
        km_resp_error(r, 400, "invalid_field", "file", "field file must be a file upload");
        return KM_EINVAL;
    }
    in->file = file;
    int64_t cam;
    if (km_text_int(r, "camera_id", text_of(f, "camera_id"), 1, 0, KM_SERVE_MAX_CAMERAS - 1,
                    &cam) ||
        km_text_int(r, "chunk_number", text_of(f, "chunk_number"), 1, 0,
                    KM_SERVE_MAX_CHUNK_NUMBER, &in->chunk_number))
        return KM_EINVAL;
    int a = km_text_id(r, "patient_id", p, 0), b = km_text_id(r, "session_id", s, 0);
    if ((a && a != KM_ENOTFOUND) || (b && b != KM_ENOTFOUND))
        return KM_EINVAL;
    in->explicit_ids = p || s;
    int rc = cap_session_resolve(c, p, s, &in->s);
    if (rc == KM_EINVAL) {
        km_resp_error(r, 400, "missing_field", p ? "session_id" : "patient_id", "%s",
                      km_errmsg());
        return rc;
    }
    if (rc == KM_ENOTFOUND && !in->explicit_ids) {
        km_resp_error(r, 409, "no_active_session", NULL,
                      "no active session: POST /api/session/start first");
        return rc;
    }
    if (rc) {
        km_resp_error(r, rc == KM_ENOTFOUND ? 404 : 500,
                      rc == KM_ENOTFOUND ? "session_not_found" : "internal", NULL, "%s",
                      km_errmsg());
        return rc;
    }
    if (cam >= in->s.cameras_count) {
        km_resp_error(r, 400, "out_of_range", "camera_id",
                      "camera_id must be in 0..%d for this session", in->s.cameras_count - 1);
        return KM_ERANGE;
    }
    in->camera_id = cam;
    return KM_OK;
}

/* The upload must be a video that decodes at least one frame. */
static int check_video(km_req *r, const km_form_field *file)
{
    km_video_info info;
    km_reader *rd = NULL;
    km_frame *fr = NULL;
    int rc = file->size > 0 ? km_probe(file->path, &info) : km_seterr(KM_EFORMAT, "empty file");
    if (!rc && (info.width <= 0 || info.height <= 0))
        rc = km_seterr(KM_EFORMAT, "no video stream");
    if (!rc)
        rc = km_reader_open(&rd, file->path, NULL);
    if (!rc)
        rc = km_reader_read(rd, &fr);
    km_frame_unref(fr);
    km_reader_close(rd);
    if (rc) {
        km_resp_error(r, 422, "invalid_video", "file", "file does not decode as video: %s",
                      km_errmsg());
        return KM_EFORMAT;
    }
    return KM_OK;
}

static void answer(km_req *r, int status, const char *what, const chunk_in *in,
                   const km_chunk_rec *ch, int ncams)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:s}", "status", what,
                          "patient_id", in->s.patient_id, "session_id", in->s.session_id,
                          "camera_id", (json_int_t)in->camera_id, "chunk_number",
                          (json_int_t)in->chunk_number, "sha256", ch->sha256, "size",
                          (json_int_t)ch->size, "state", ch->state);
    if (o && ncams >= 0) {
        json_object_set_new(o, "cameras_received", json_integer(ncams));
        json_object_set_new(o, "group_complete", json_boolean(ncams >= in->s.cameras_count));
    }
    km_resp_json(r, status, o);
}

/* Make a rename into path's directory durable before the store row. */
static void sync_parent(const char *path)
{
    char dir[CAP_PATH];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Rename into place and record, under the commit lock. Answers. */
static void commit(km_req *r, km_capture *c, km_form *f, chunk_in *in)
{
    const km_form_field *file = in->file;
    char path[CAP_PATH];
    km_chunk_rec ch, old;
    memset(&ch, 0, sizeof ch);
    snprintf(ch.patient_id, sizeof ch.patient_id, "%s", in->s.patient_id);
    snprintf(ch.session_id, sizeof ch.session_id, "%s", in->s.session_id);
    ch.camera_id = (int)in->camera_id;
    ch.chunk_number = in->chunk_number;
    snprintf(ch.sha256, sizeof ch.sha256, "%s", file->sha256);
    ch.size = file->size;
    snprintf(ch.state, sizeof ch.state, "received");
    ch.received_at = km_wall_s();
    int ncams = 0;
    pthread_mutex_lock(&c->commit_mu);
    km_session_rec now;
    int rc = km_store_session_get(c->store, ch.patient_id, ch.session_id, &now);
    if (rc || strcmp(now.state, "active") != 0) {
        pthread_mutex_unlock(&c->commit_mu);
        km_resp_error(r, 404, "session_not_found", NULL, "the session was cancelled");
        return;
    }
    if (km_store_chunk_get(c->store, ch.patient_id, ch.session_id, ch.camera_id,
                           ch.chunk_number, &old) == KM_OK) {
        pthread_mutex_unlock(&c->commit_mu);
        if (!strcmp(old.sha256, ch.sha256) && old.size == ch.size)
            answer(r, 200, "duplicate", in, &old, -1);
        else
            km_resp_error(r, 409, "duplicate_chunk", "chunk_number",
                          "chunk %lld of camera %lld exists with different content (sha256 %s)",
                          (long long)ch.chunk_number, (long long)in->camera_id, old.sha256);
        return;
    }
    rc = cap_chunk_path(c, ch.patient_id, ch.session_id, ch.camera_id, ch.chunk_number, path,
                        sizeof path);
    if (!rc && rename(file->path, path) != 0)
        rc = km_seterr(KM_EIO, "cannot store chunk: %s", strerror(errno));
    if (!rc)
        sync_parent(path);
    if (!rc) {
        km_form_take(f, "file");
        rc = km_store_chunk_put(c->store, &ch, &ncams);
        if (rc)
            unlink(path);
    }
    pthread_mutex_unlock(&c->commit_mu);
    if (rc) {
        km_resp_km_error(r, rc, NULL);
        return;
    }
    if (ncams >= in->s.cameras_count &&
        cap_enqueue_chunk(c, ch.patient_id, ch.session_id, ch.chunk_number) != KM_OK)
        km_log(KM_LOG_ERROR, "cannot queue chunk %lld: %s (requeued at next start)",
               (long long)ch.chunk_number, km_errmsg());
    km_log(KM_LOG_INFO, "chunk %lld camera %d of %s/%s received (%lld bytes)",
           (long long)ch.chunk_number, ch.camera_id, ch.patient_id, ch.session_id,
           (long long)ch.size);
    answer(r, 202, "received", in, &ch, ncams);
}

static int queue_full(km_req *r, km_capture *c)
{
    int64_t backlog = 0;
    if (km_queue_backlog(c->queue, &backlog) == KM_OK && backlog >= c->max_pending) {
        km_req_drain(r, 4 << 20);
        km_resp_header(r, "Retry-After", "10");
        km_resp_error(r, 503, "busy", NULL, "processing queue is full (%lld chunk groups waiting)",
                      (long long)backlog);
        return 1;
    }
    return 0;
}

static void receive(km_req *r, void *data)
{
    km_capture *c = data;
    if (queue_full(r, c))
        return;
    km_form f;
    if (km_req_form(r, c->tmp_dir, c->max_upload, &f))
        return;
    chunk_in in;
    memset(&in, 0, sizeof in);
    if (!read_fields(r, c, &f, &in) && !check_video(r, in.file))
        commit(r, c, &f, &in);
    km_form_free(&f);
}

int routes_chunks(km_server *srv, km_capture *c)
{
    return km_server_route(srv, "POST", "/api/chunks/receive", 0, receive, c);
}
