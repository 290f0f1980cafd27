/*
 * skeleton.c - keypoint naming of the two formats the geom layer reads and
 * writes: COCO-17 and BlazePose-33 (MediaPipe order). Self-contained so the
 * geometry tools do not depend on the pose engine.
 */
#include <string.h>

#include "kinema/geom.h"

static const char *const blaze_names[33] = {
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
};

static const char *const coco_names[17] = {
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
};

int km_skeleton_count(km_skeleton s)
{
    switch (s) {
    case KM_SKEL_COCO17: return 17;
    case KM_SKEL_BLAZEPOSE33: return 33;
    default: return 0;
    }
}

const char *km_skeleton_name(km_skeleton s, int i)
{
    if (i < 0 || i >= km_skeleton_count(s))
        return NULL;
    return s == KM_SKEL_COCO17 ? coco_names[i] : blaze_names[i];
}

const char *km_skeleton_id(km_skeleton s)
{
    switch (s) {
    case KM_SKEL_COCO17: return "coco17";
    case KM_SKEL_BLAZEPOSE33: return "blazepose33";
    default: return "none";
    }
}

km_skeleton km_skeleton_parse(const char *id)
{
    if (!id)
        return KM_SKEL_NONE;
    if (strcmp(id, "coco17") == 0 || strcmp(id, "coco") == 0)
        return KM_SKEL_COCO17;
    if (strcmp(id, "blazepose33") == 0 || strcmp(id, "blazepose") == 0)
        return KM_SKEL_BLAZEPOSE33;
    return KM_SKEL_NONE;
}

int km_skeleton_find(km_skeleton s, const char *name)
{
    int n = km_skeleton_count(s);
    for (int i = 0; i < n; i++)
        if (strcmp(km_skeleton_name(s, i), name) == 0)
            return i;
    return -1;
}
