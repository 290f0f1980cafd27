/*
 * capture.h - the capture service of seed 000 (sessions, chunk ingestion,
 * synchronized pose + 3D), shared by its route files and its worker.
 *
 * Why internal: only `kinema serve` composes it; other APIs reuse the
 * layers below (server.h, store.h, queue.h), not this service.
 *
 * File layout (the seed's contract), under data_dir:
 *   unprocessed/patient{P}/session{S}/camera{N}/{chunk}.mp4
 *   unprocessed/patient{P}/session{S}/camera{N}/2D/points/{model}/{frame}_{chunk}.npy
 *   unprocessed/patient{P}/session{S}/camera{N}/2D/confidence/{model}/{frame}_{chunk}_confidence.npy
 *   unprocessed/patient{P}/session{S}/camera{N}/ensemble/{frame}_{chunk}.npy (+ _confidence)
 *   unprocessed/patient{P}/session{S}/camera{N}/ensemble/chunk_{chunk}.npy   [frames,K,3]
 *   unprocessed/patient{P}/session{S}/calibration.npz (+ .toml)
 *   processed/keypoints_3d/patient{P}/session{S}/{frame}_{chunk}_3d.npy
 *   processed/keypoints_3d/patient{P}/session{S}/chunk_{chunk}_3d.npy      [frames,K,3]
 *   tmp/  uploads in flight (same file system, so rename is atomic)
 */
#ifndef KINEMA_CAPTURE_H
#define KINEMA_CAPTURE_H

#include <pthread.h>
#include <stdatomic.h>

#include "kinema/pose.h"
#include "kinema/queue.h"
#include "kinema/server.h"
#include "kinema/store.h"

#define CAP_QUEUE "capture"
#define CAP_MAX_MODELS 6
#define CAP_MAX_CHUNK_FRAMES 36000
#define CAP_MAX_INFLIGHT 64
#define CAP_PATH 1024

typedef struct km_capture {
    km_store *store;         /* borrowed */
    km_queue *queue;         /* borrowed (set after the queue opens) */
    km_pool *pool;           /* owned: per-camera parallelism inside a task */
    char data_dir[512];
    char tmp_dir[600];
    char models_dir[512];
    int64_t max_upload;
    int64_t max_pending;     /* chunk groups queued before 503 */
    pthread_mutex_t commit_mu;   /* chunk commit vs cancel */
    pthread_mutex_t nets_mu;
    km_pose_net *nets[KM_POSE_NKINDS];  /* loaded on first use, shared */
    atomic_int groups_busy;  /* chunk groups being posed now */
    pthread_mutex_t flight_mu;
    pthread_cond_t flight_cv;
    char inflight[CAP_MAX_INFLIGHT][132]; /* "P/S" of running tasks */
    char cancelled[CAP_MAX_INFLIGHT][132];/* sessions being cancelled */
    double started_at;
} km_capture;

int capture_init(km_capture *c, km_store *store, const char *data_dir, const char *models_dir,
                 int64_t max_upload, int threads);
void capture_destroy(km_capture *c);

/* ---- layout (capture_layout.c): all return KM_ERANGE if too long ---- */
int cap_session_dir(const km_capture *c, const char *p, const char *s, char *out, size_t cap);
int cap_camera_dir(const km_capture *c, const char *p, const char *s, int cam, char *out,
                   size_t cap);
int cap_chunk_path(const km_capture *c, const char *p, const char *s, int cam, int64_t chunk,
                   char *out, size_t cap);
int cap_processed_dir(const km_capture *c, const char *p, const char *s, char *out, size_t cap);
int cap_calib_path(const km_capture *c, const char *p, const char *s, const char *ext,
                   char *out, size_t cap);
/* Create every directory of a session (cameras x models). */
int cap_make_session_dirs(const km_capture *c, const km_session_rec *r);
/* Remove a session's unprocessed and processed trees. */
int cap_remove_session_dirs(const km_capture *c, const char *p, const char *s);
/* Write an array to path via temp + rename, without fsync (the worker
 * syncs once per task before marking it done). */
int cap_write_npy(const char *path, const km_array *a);
/* Flush everything written under data_dir to disk (syncfs). */
int cap_sync(const km_capture *c);

/* ---- sessions (capture_session.c) ---- */
/* Parse models JSON (array of names) into kinds; n_out set. */
int cap_models_parse(const char *models_json, km_pose_kind *kinds, int *n_out);
/* Resolve the session addressed by (p, s) or the current one when both
 * are NULL/empty. */
int cap_session_resolve(km_capture *c, const char *p, const char *s, km_session_rec *out);
/* JSON summary (state, progress) and detail (per chunk, per camera). */
json_t *cap_session_json(km_capture *c, const km_session_rec *r, int detail);
/* Cancel: stop its work, delete its rows and files. */
int cap_session_cancel(km_capture *c, const char *p, const char *s);
int cap_is_cancelled(km_capture *c, const char *p, const char *s);
/* A task of session (p, s) starts / ends: returns a slot for
 * cap_flight_end, or -2 when the session is being cancelled. */
int cap_flight_begin(km_capture *c, const char *p, const char *s);
void cap_flight_end(km_capture *c, int slot);

/* ---- processing (capture_process.c, capture_pose.c, capture_geom.c) ---- */
int cap_process_task(km_queue *q, const km_task *t, void *data);
/* Enqueue every complete chunk group lacking a task (start-up reconcile). */
int cap_reconcile(km_capture *c);
int cap_enqueue_chunk(km_capture *c, const char *p, const char *s, int64_t chunk);

typedef struct cap_cam_result {
    int rc;
    char err[256];
    int nframes;
    int nkp;
    km_kp_format fmt;
    double fps;
    double *kp;      /* owned [nframes][nkp][3] ensemble x, y, score */
} cap_cam_result;

/* Decode camera `cam`'s chunk, run the models (on `threads` threads) +
 * ensemble, write its 2D files. out->kp owned by the caller (free()). */
int cap_pose_camera(km_capture *c, const km_session_rec *r, int cam, int64_t chunk,
                    int threads, cap_cam_result *out);
km_pose_net *cap_net(km_capture *c, km_pose_kind kind);

/* Triangulate one chunk group when the session has a calibration;
 * writes 3D files. Returns frames written via *nframes. */
int cap_triangulate_chunk(km_capture *c, const km_session_rec *r, int64_t chunk,
                          cap_cam_result *cams, int *nframes);
/* Triangulate again every processed chunk group (after a new
 * calibration); *groups = groups written. */
int cap_retriangulate(km_capture *c, const km_session_rec *r, int *groups);
/* Self-calibrate from the session's ensemble keypoints; writes .npz and
 * .toml; report JSON (owned) in *report. */
int cap_recalibrate(km_capture *c, const km_session_rec *r, json_t **report);
/* Save a calibration body (TOML, .npz or JSON bytes) for a session. */
int cap_save_calibration(km_capture *c, const km_session_rec *r, const char *body, size_t len);
/* Concatenate the session's 3D chunks into one export file (npy/trc/c3d)
 * at out_path. */
int cap_export_3d(km_capture *c, const km_session_rec *r, const char *fmt, char *out_path,
                  size_t cap);

/* ---- routes (routes_*.c) ---- */
int routes_health(km_server *srv, km_capture *c);
int routes_session(km_server *srv, km_capture *c);
int routes_chunks(km_server *srv, km_capture *c);
int routes_calibration(km_server *srv, km_capture *c);

#endif
