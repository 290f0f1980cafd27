/*
 * tracker.c - stable person ids across video frames.
 *
 * Deliberately simple: greedy best-first matching of this frame's persons
 * to live tracks by the mean of box IoU and OKS (IoU alone when they share
 * no confident keypoints), a minimum similarity, and a maximum age after
 * which an unseen track is forgotten. Ids are never reused.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/pose.h"

#define MAX_TRACKS 64

typedef struct {
    int id, age;        /* age: frames since last matched */
    km_person last;     /* COCO-17 copy of the last matched person */
} track;

struct km_pose_tracker {
    int max_age;
    float min_sim;
    int next_id;
    int n;
    track t[MAX_TRACKS];
};

km_pose_tracker *km_pose_tracker_new(int max_age, float min_similarity)
{
    km_pose_tracker *t = calloc(1, sizeof *t);
    if (!t) {
        km_seterr(KM_ENOMEM, "pose tracker: out of memory");
        return NULL;
    }
    t->max_age = max_age > 0 ? max_age : 1;
    t->min_sim = min_similarity;
    return t;
}

void km_pose_tracker_free(km_pose_tracker *t)
{
    free(t);
}

static float track_similarity(const km_person *a, const km_person *b)
{
    float iou = km_box_iou(a->bbox, b->bbox);
    float oks = km_pose_oks(a, b, 0.3f);
    return oks >= 0.0f ? 0.5f * (iou + oks) : iou;
}

typedef struct {
    float sim;
    int person, track;
} cand;

static int by_sim(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    return (a->sim < b->sim) - (a->sim > b->sim);
}

void km_pose_tracker_update(km_pose_tracker *t, km_pose_result *r)
{
    static const int cap = KM_POSE_MAX_PERSONS * MAX_TRACKS;
    cand *c = malloc(sizeof *c * (size_t)cap);
    int nc = 0;
    for (int i = 0; c && i < r->n; i++)
        for (int j = 0; j < t->n; j++) {
            km_person pc;
            km_person_to_coco(&r->p[i], &pc);
            float s = track_similarity(&pc, &t->t[j].last);
            if (s >= t->min_sim && nc < cap)
                c[nc++] = (cand){s, i, j};
        }
    if (c)
        qsort(c, (size_t)nc, sizeof *c, by_sim);
    char pused[KM_POSE_MAX_PERSONS] = {0}, tused[MAX_TRACKS] = {0};
    for (int i = 0; i < nc; i++) {
        if (pused[c[i].person] || tused[c[i].track])
            continue;
        pused[c[i].person] = tused[c[i].track] = 1;
        track *tr = &t->t[c[i].track];
        r->p[c[i].person].id = tr->id;
        km_person_to_coco(&r->p[c[i].person], &tr->last);
        tr->age = -1; /* becomes 0 below */
    }
    free(c);
    /* age and drop unseen tracks */
    int w = 0;
    for (int j = 0; j < t->n; j++) {
        t->t[j].age++;
        if (t->t[j].age <= t->max_age)
            t->t[w++] = t->t[j];
    }
    t->n = w;
    for (int i = 0; i < r->n; i++) {
        if (pused[i])
            continue;
        r->p[i].id = t->next_id++;
        if (t->n < MAX_TRACKS) {
            track *tr = &t->t[t->n++];
            tr->id = r->p[i].id;
            tr->age = 0;
            km_person_to_coco(&r->p[i], &tr->last);
        }
    }
}
