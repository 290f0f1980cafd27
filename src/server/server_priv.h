/*
 * server_priv.h - what the files of src/server share but the public header
 * hides: the request struct (a stack object of the dispatching thread).
 */
#ifndef KINEMA_SERVER_PRIV_H
#define KINEMA_SERVER_PRIV_H

#include "kinema/server.h"

struct mg_connection;

#define KM_REQ_MAX_PARAMS 4
#define KM_REQ_MAX_HEADERS 4

struct km_req {
    struct mg_connection *conn;
    const char *method;
    const char *path;
    const char *query;
    long long content_length;
    size_t srv_max_json;
    char remote[48];
    char id[KM_ID_MAX + 1];
    int nparams;
    char pnames[KM_REQ_MAX_PARAMS][32];
    char pvals[KM_REQ_MAX_PARAMS][KM_ID_MAX * 2 + 2];
    int nheaders;
    char hnames[KM_REQ_MAX_HEADERS][48];
    char hvals[KM_REQ_MAX_HEADERS][128];
    int responded;
    int status;
    int body_done; /* read to the end */
};

#endif
