/*
 * quote.c - writing a string as a quoted JSON string, for the writers that
 * print JSON (and TOML) with stdio rather than building a jansson tree.
 */
#include <stdio.h>

#include "kinema/util.h"

void km_fput_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}
