/*
 * xml.h - the bounded XML reader used for cascade files (internal).
 * Node text and names point into the caller's buffer, which must outlive
 * the tree and be NUL-terminated one past `len`.
 */
#ifndef KINEMA_VISION_XML_H
#define KINEMA_VISION_XML_H

#include <stddef.h>

typedef struct {
    const char *name;
    size_t name_len;
    const char *text; /* text before the first child (all text for leaves) */
    size_t text_len;
    int first_child, next; /* -1 = none */
} vis_xml_node;

typedef struct {
    vis_xml_node *nodes; /* nodes[0] is the root element */
    int n, cap;
} vis_xml;

/* Parse; KM_EFORMAT with the line number on malformed input. Free with
 * vis_xml_free. */
int vis_xml_parse(const char *buf, size_t len, vis_xml *x);
void vis_xml_free(vis_xml *x);
/* First child of `node` named `name`, or -1. */
int vis_xml_child(const vis_xml *x, int node, const char *name);
/* Number of children of `node`. */
int vis_xml_count(const vis_xml *x, int node);

#endif
