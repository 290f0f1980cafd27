/*
 * progress.c - a one-line terminal progress bar.
 *
 * Drawn only when the output is a terminal: in logs, pipes and CI output a
 * bar is noise (carriage returns and partial lines), so there it prints
 * nothing at all. Redraws are throttled to 10 per second so a fast loop
 * calling km_progress_update per frame costs almost nothing. Each redraw
 * is one buffered write of "\r<line>\033[K" (clear to end of line).
 *
 * Ownership: km_progress_start returns an owned bar; km_progress_finish
 * frees it. The stream is borrowed and never closed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kinema/util.h"

#define BAR_WIDTH 30
#define REDRAW_INTERVAL_NS 100000000u /* 10 redraws a second */
#define LABEL_MAX 64

struct km_progress {
    char label[LABEL_MAX];
    int64_t total;     /* <= 0: unknown */
    int64_t done;
    FILE *out;
    int is_tty;
    int drawn;         /* drawn at least once */
    uint64_t start_ns;
    uint64_t last_draw_ns;
};

km_progress *km_progress_start(const char *label, int64_t total, FILE *out)
{
    km_progress *p = calloc(1, sizeof *p);
    if (!p) {
        km_seterr(KM_ENOMEM, "km_progress_start: out of memory");
        return NULL;
    }
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total > 0 ? total : 0;
    p->out = out ? out : stderr;
    p->is_tty = isatty(fileno(p->out)) == 1;
    p->start_ns = km_now_ns();
    return p;
}

/* "1:05" or "2:03:04" */
static void format_duration(char *buf, size_t cap, double seconds)
{
    if (!(seconds >= 0) || seconds > 359999999.0)
        seconds = 0;
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
}

static void draw(km_progress *p, uint64_t now)
{
    double elapsed = (double)(now - p->start_ns) / 1e9;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0.0;
    char eta[32];
    if (p->total > 0) {
        int64_t done = p->done < p->total ? p->done : p->total;
        if (done < 0)
            done = 0;
        int filled = (int)(done * BAR_WIDTH / p->total);
        int pct = (int)(done * 100 / p->total);
        char bar[BAR_WIDTH + 1];
        memset(bar, '#', (size_t)filled);
        memset(bar + filled, ' ', (size_t)(BAR_WIDTH - filled));
        bar[BAR_WIDTH] = '\0';
        if (rate > 0)
            format_duration(eta, sizeof eta, (double)(p->total - done) / rate);
        else
            snprintf(eta, sizeof eta, "?");
        fprintf(p->out, "\r%s [%s] %3d%%  %.1f fps  ETA %s\033[K", p->label, bar, pct, rate,
                eta);
    } else {
        format_duration(eta, sizeof eta, elapsed);
        fprintf(p->out, "\r%s %lld  %.1f fps  %s\033[K", p->label, (long long)p->done, rate,
                eta);
    }
    fflush(p->out);
    p->drawn = 1;
    p->last_draw_ns = now;
}

void km_progress_update(km_progress *p, int64_t done)
{
    if (!p)
        return;
    p->done = done;
    if (!p->is_tty)
        return;
    uint64_t now = km_now_ns();
    if (p->drawn && now - p->last_draw_ns < REDRAW_INTERVAL_NS)
        return;
    draw(p, now);
}

void km_progress_finish(km_progress *p)
{
    if (!p)
        return;
    if (p->is_tty) {
        draw(p, km_now_ns());
        fputc('\n', p->out);
        fflush(p->out);
    }
    free(p);
}
