/*
 * toml.h - a small TOML reader for calibration files (internal to geom).
 *
 * Covers exactly what Pose2Sim and anipose calibration files use: [table]
 * headers, key = value pairs, basic and literal strings, integers and
 * floats, booleans, (nested, multi-line) arrays and comments. Anything
 * else (inline tables, arrays of tables, dates, multi-line strings, dotted
 * keys) is rejected with a line-numbered error.
 */
#ifndef KINEMA_GEOM_TOML_H
#define KINEMA_GEOM_TOML_H

#include <stddef.h>

typedef enum { TOML_STRING, TOML_NUMBER, TOML_BOOL, TOML_ARRAY } toml_type;

typedef struct toml_value {
    toml_type type;
    int line;               /* where the value starts */
    char *str;              /* TOML_STRING, owned */
    double num;             /* TOML_NUMBER */
    int boolean;            /* TOML_BOOL */
    int n;                  /* TOML_ARRAY item count */
    struct toml_value *items; /* TOML_ARRAY, owned */
} toml_value;

typedef struct toml_kv {
    char *key;              /* owned */
    toml_value val;
} toml_kv;

typedef struct toml_table {
    char *name;             /* owned; "" for the root table */
    int line;
    int n, cap;
    toml_kv *kvs;           /* owned */
} toml_table;

typedef struct toml_doc {
    int n, cap;
    toml_table *tables;     /* owned; tables[0] is the root */
} toml_doc;

/* Parse len bytes of text; srcname prefixes error messages
 * ("calib.toml:7: expected ']'"). Free with toml_free. */
int toml_parse(const char *text, size_t len, const char *srcname, toml_doc *out);
void toml_free(toml_doc *d);
/* Borrowed value of key in table, or NULL. */
const toml_value *toml_get(const toml_table *t, const char *key);

#endif
