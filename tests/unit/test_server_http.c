/* test_server_http.c - km_server over a real loopback socket: route
 * params, 404 / 405 / 401 error bodies, request ids, bounded JSON bodies,
 * field validation answers, and multipart uploads (fields, SHA-256, size
 * limit, truncation) leaving no temp file behind. The client is a plain
 * socket with receive timeouts, so every exchange is bounded. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kinema/server.h"

typedef struct fixture {
    km_server *srv;
    km_auth *auth;
    int port;
    char tmp[64];
} fixture;

static fixture *F;

static void h_echo(km_req *r, void *data)
{
    km_resp_json(r, 200, json_pack("{s:s, s:s, s:s}", "id", km_req_param(r, "id"), "route",
                                   (const char *)data, "request_id", km_req_id(r)));
}

static void h_json(km_req *r, void *data)
{
    json_t *body;
    if (km_req_json(r, &body))
        return;
    int64_t n = 0;
    const char *name = NULL;
    if (km_field_id(r, body, "name", 1, &name) || km_field_int(r, body, "n", 1, 0, 10, &n)) {
        json_decref(body);
        return;
    }
    km_resp_json(r, 200, json_pack("{s:s, s:I}", "name", name, "n", (json_int_t)n));
    json_decref(body);
}

static void h_upload(km_req *r, void *data)
{
    km_form f;
    if (km_req_form(r, F->tmp, 1000, &f))
        return;
    const km_form_field *file = km_form_get(&f, "file");
    const km_form_field *cam = km_form_get(&f, "cam");
    km_resp_json(r, 200, json_pack("{s:s, s:s, s:I, s:s}", "cam", cam ? cam->value : "",
                                   "sha256", file ? file->sha256 : "", "size",
                                   (json_int_t)(file ? file->size : -1), "filename",
                                   file ? file->filename : ""));
    km_form_free(&f);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

static int setup(void **state)
{
    F = calloc(1, sizeof *F);
    snprintf(F->tmp, sizeof F->tmp, "/tmp/kinema-http-XXXXXX");
    if (!mkdtemp(F->tmp))
        return -1;
    char tokpath[128];
    snprintf(tokpath, sizeof tokpath, "%s/tokens", F->tmp);
    km_write_file_atomic(tokpath, "tok-1\n", 6);
    if (km_auth_load(&F->auth, tokpath))
        return -1;
    unlink(tokpath);
    F->port = free_port();
    km_server_opts o = {"127.0.0.1", F->port, 4, 200, F->auth, 1};
    if (km_server_create(&F->srv, &o))
        return -1;
    km_server_route(F->srv, "GET", "/things/{id}", 0, h_echo, "things");
    km_server_route(F->srv, "GET", "/open/{id}", 1, h_echo, "open");
    km_server_route(F->srv, "POST", "/json", 0, h_json, NULL);
    km_server_route(F->srv, "POST", "/upload", 0, h_upload, NULL);
    if (km_server_start(F->srv))
        return -1;
    *state = F;
    return 0;
}

static int teardown(void **state)
{
    km_server_free(F->srv);
    km_auth_free(F->auth);
    km_rmtree(F->tmp);
    free(F);
    return 0;
}

/* Send raw bytes (optionally half-closing), read the answer. Returns the
 * status; *body points into a static buffer. */
static char resp[65536];
static int http_raw(const char *req, size_t len, int half_close, const char **body)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(s, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (half_close)
        shutdown(s, SHUT_WR);
    size_t got = 0;
    ssize_t n;
    while (got < sizeof resp - 1 && (n = recv(s, resp + got, sizeof resp - 1 - got, 0)) > 0)
        got += (size_t)n;
    resp[got] = 0;
    close(s);
    char *b = strstr(resp, "\r\n\r\n");
    *body = b ? b + 4 : "";
    int status = 0;
    sscanf(resp, "HTTP/1.1 %d", &status);
    return status;
}

static int http(const char *method, const char *path, const char *headers, const char *body,
                const char **out)
{
    char req[8192];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n\r\n%s",
                     method, path, headers ? headers : "", blen, body ? body : "");
    return http_raw(req, (size_t)n, 0, out);
}

#define AUTH "Authorization: Bearer tok-1\r\n"

static void assert_error(const char *body, const char *code, const char *field)
{
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_non_null(json_string_value(json_object_get(e, "message")));
    if (field)
        assert_string_equal(json_string_value(json_object_get(e, "field")), field);
    json_decref(j);
}

static void test_routes(void **state)
{
    const char *b;
    assert_int_equal(http("GET", "/things/abc", AUTH, NULL, &b), 200);
    assert_non_null(strstr(b, "\"id\":\"abc\""));
    assert_non_null(strstr(resp, "X-Request-Id: "));
    assert_int_equal(http("GET", "/things/abc", AUTH "X-Request-Id: trace-1\r\n", NULL, &b), 200);
    assert_non_null(strstr(resp, "X-Request-Id: trace-1\r\n"));
    assert_non_null(strstr(b, "\"request_id\":\"trace-1\""));
    assert_int_equal(http("GET", "/things/abc/more", AUTH, NULL, &b), 404);
    assert_error(b, "not_found", NULL);
    assert_int_equal(http("DELETE", "/things/abc", AUTH, NULL, &b), 405);
    assert_error(b, "method_not_allowed", NULL);
}

static void test_auth(void **state)
{
    const char *b;
    assert_int_equal(http("GET", "/things/a", NULL, NULL, &b), 401);
    assert_error(b, "unauthorized", NULL);
    assert_non_null(strstr(resp, "WWW-Authenticate: Bearer"));
    assert_int_equal(http("GET", "/things/a", "Authorization: Bearer tok-2\r\n", NULL, &b), 401);
    assert_int_equal(http("GET", "/things/a", "Authorization: Basic dG9rLTE=\r\n", NULL, &b), 401);
    assert_int_equal(http("GET", "/open/a", NULL, NULL, &b), 200);
}

static void test_json_fields(void **state)
{
    const char *b;
    const char *ct = AUTH "Content-Type: application/json\r\n";
    assert_int_equal(http("POST", "/json", ct, "{\"name\":\"ok_1\",\"n\":3}", &b), 200);
    assert_int_equal(http("POST", "/json", ct, "{\"n\":3}", &b), 400);
    assert_error(b, "missing_field", "name");
    assert_int_equal(http("POST", "/json", ct, "{\"name\":\"../x\",\"n\":3}", &b), 400);
    assert_error(b, "invalid_id", "name");
    assert_int_equal(http("POST", "/json", ct, "{\"name\":\"a\",\"n\":\"3\"}", &b), 400);
    assert_error(b, "invalid_field", "n");
    assert_int_equal(http("POST", "/json", ct, "{\"name\":\"a\",\"n\":11}", &b), 400);
    assert_error(b, "out_of_range", "n");
    assert_int_equal(http("POST", "/json", ct, "[1,2]", &b), 400);
    assert_error(b, "invalid_json", NULL);
    assert_int_equal(http("POST", "/json", ct, "{\"name\":\"a\",\"name\":\"b\",\"n\":1}", &b), 400);
    char big[400];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = 0;
    big[0] = '{';
    big[sizeof big - 2] = '}';
    assert_int_equal(http("POST", "/json", ct, big, &b), 413); /* max_json = 200 */
    assert_error(b, "too_large", NULL);
    assert_int_equal(http("POST", "/json", AUTH "Content-Type: text/plain\r\n", "{}", &b), 415);
}

static int tmp_files(void)
{
    DIR *d = opendir(F->tmp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int upload(size_t file_len, int truncate, const char **b)
{
    char *req = malloc(file_len + 2048);
    char *file = malloc(file_len + 1);
    memset(file, 'k', file_len);
    char part[512];
    int plen = snprintf(part, sizeof part,
                        "--XB\r\nContent-Disposition: form-data; name=\"cam\"\r\n\r\n2\r\n"
                        "--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../x y.mp4\"\r\n\r\n");
    const char *tail = "\r\n--XB--\r\n";
    size_t body_len = (size_t)plen + file_len + strlen(tail);
    int h = snprintf(req, 1024, "POST /upload HTTP/1.1\r\nHost: t\r\n" AUTH
                     "Content-Type: multipart/form-data; boundary=XB\r\nContent-Length: %zu\r\n\r\n",
                     body_len);
    size_t n = (size_t)h;
    memcpy(req + n, part, (size_t)plen);
    n += (size_t)plen;
    memcpy(req + n, file, file_len);
    n += file_len;
    if (!truncate) {
        memcpy(req + n, tail, strlen(tail));
        n += strlen(tail);
    }
    int st = http_raw(req, truncate ? n - file_len / 2 : n, truncate, b);
    free(req);
    free(file);
    return st;
}

static void test_upload(void **state)
{
    const char *b;
    assert_int_equal(upload(900, 0, &b), 200);
    json_t *j = json_loads(b, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "cam")), "2");
    assert_int_equal(json_integer_value(json_object_get(j, "size")), 900);
    assert_string_equal(json_string_value(json_object_get(j, "filename")), "x_y.mp4");
    char *data = malloc(900);
    memset(data, 'k', 900);
    uint8_t d[32];
    char hex[65];
    km_sha256_buf(data, 900, d);
    km_sha256_hex(d, hex);
    free(data);
    assert_string_equal(json_string_value(json_object_get(j, "sha256")), hex);
    json_decref(j);
    assert_int_equal(tmp_files(), 0);
    assert_int_equal(upload(1001, 0, &b), 413); /* limit is 1000 */
    assert_error(b, "too_large", "file");
    assert_int_equal(tmp_files(), 0);
    assert_int_equal(upload(800, 1, &b), 400);
    assert_error(b, "truncated", NULL);
    assert_int_equal(tmp_files(), 0);
    assert_int_equal(http("POST", "/upload", AUTH "Content-Type: application/json\r\n", "{}", &b),
                     415);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_upload),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
