/* report.c: `datumrun report SPEC [JOB] [-o FILE.html]`, one
 * self-contained HTML page about a past (or running) job, made from the
 * manifest alone: its counters, a timeline with a row per worker and a
 * bar per attempt coloured by outcome, a histogram of datum durations,
 * each worker's and node's busy fraction, the slowest datums and the
 * failures with their log files.  Nothing is fetched from the network: the
 * style, the inline SVG and the little script (tooltips, and a summary of
 * what rendered for tests) are all in the file.  Beyond a bound of bars
 * the timeline is aggregated into time bins per worker, and the page says
 * so, so that 100,000 datums still give a page a browser opens at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner/progress.h"
#include "runner/runner.h"

#define DEFAULT_MAX_BARS 5000
#define AGG_BINS 400
#define HIST_BINS 30
#define TOP_SLOW 20
#define MAX_FAILURES 200
#define TL_WIDTH 1000.0

static const char *const colours[JOBS_ATTEMPT_NOUTCOMES] = {
    "#3a9d4f",  /* success */
    "#d64541",  /* failed */
    "#e8a33d",  /* interrupted */
    "#8e44ad",  /* lost */
    "#2f80c0",  /* recovered */
};

const optparse_option_t runner_report_options[] = {
    { .name = "output", .key = 'o', .type = OPTPARSE_STR, .arg = "FILE.html",
      .complete = OPTPARSE_COMP_FILE,
      .help = "where to write the page (default: report-JOB.html here)" },
    RUNNER_OPT_STATE_DIR,
    OPTPARSE_END,
};

/* ------------------------------------------------------------- data */

typedef struct worker {
    int rank;
    char host[64];
    double busy;            /* seconds of attempts */
    size_t nattempts;
} worker_t;

typedef struct rep {
    const jobs_spec_t *spec;
    io_manifest_t *m;
    const jobs_record_t *job;
    io_attempt_t *a;
    size_t n, cap;
    worker_t *w;
    size_t nw;
    int64_t t0, t1;         /* the timeline's span, ns */
    size_t max_bars;
} rep_t;

static int collect (const io_attempt_t *a, void *arg)
{
    rep_t *r = arg;
    if (r->n == r->cap) {
        size_t ncap = r->cap ? 2 * r->cap : 1024;
        io_attempt_t *v = realloc (r->a, ncap * sizeof (*v));
        if (!v)
            return -1;
        r->a = v;
        r->cap = ncap;
    }
    r->a[r->n++] = *a;
    return 0;
}

static int cmp_worker (const void *x, const void *y)
{
    const worker_t *a = x, *b = y;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

static size_t worker_index (const rep_t *r, int rank)
{
    size_t lo = 0, hi = r->nw;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->w[mid].rank < rank)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void build_workers (rep_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const io_attempt_t *a = &r->a[i];
        size_t k = 0;
        while (k < r->nw && r->w[k].rank != a->rank)
            k++;
        if (k == r->nw) {
            worker_t *w = realloc (r->w, (r->nw + 1) * sizeof (*w));
            if (!w)
                abort ();
            r->w = w;
            memset (&r->w[k], 0, sizeof (r->w[k]));
            r->w[k].rank = a->rank;
            snprintf (r->w[k].host, sizeof (r->w[k].host), "%s", a->host);
            r->nw++;
        }
        /* Workers are few: a linear search is fine while building. */
    }
    qsort (r->w, r->nw, sizeof (*r->w), cmp_worker);
    r->t0 = r->job->start_ns;
    r->t1 = r->job->start_ns + (int64_t)(r->job->duration_s * 1e9);
    for (size_t i = 0; i < r->n; i++) {
        const io_attempt_t *a = &r->a[i];
        worker_t *w = &r->w[worker_index (r, a->rank)];
        w->busy += a->duration_s;
        w->nattempts++;
        if (a->start_ns <= 0)
            continue;
        int64_t e = a->start_ns + (int64_t)(a->duration_s * 1e9);
        if (a->start_ns < r->t0)
            r->t0 = a->start_ns;
        if (e > r->t1)
            r->t1 = e;
    }
    if (r->t1 <= r->t0)
        r->t1 = r->t0 + 1000000;   /* 1 ms: an empty or instant job */
}

/* ------------------------------------------------------------ output */

static void esc (FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs ("&lt;", f); break;
        case '>': fputs ("&gt;", f); break;
        case '&': fputs ("&amp;", f); break;
        case '"': fputs ("&quot;", f); break;
        case '\'': fputs ("&#39;", f); break;
        case '\n': fputs ("&#10;", f); break;
        default: fputc (*s, f);
        }
    }
}

static const char *outcome_name (uint8_t o)
{
    return jobs_attempt_outcome_name ((jobs_attempt_outcome_t)o);
}

/* The datum's inputs on one line ("in:/a, in:/b"), or "". */
static void inputs_of (const rep_t *r, const io_hash_t *id, char *buf,
                       size_t len)
{
    io_datum_rec_t view;
    const io_datum_rec_t *d = io_manifest_find (r->m, id, &view);
    size_t at = 0;
    buf[0] = '\0';
    for (const char *e = d && d->inputs ? d->inputs : ""; *e && at < len;
         e += strlen (e) + 1) {
        int n = snprintf (buf + at, len - at, "%s%s", at ? ", " : "", e);
        if (n < 0)
            break;
        at += (size_t)n;
    }
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

static void fmt_exit (const io_attempt_t *a, char *buf, size_t len)
{
    if (a->term_signal)
        snprintf (buf, len, "signal %d", a->term_signal);
    else if (a->exit_status < 0)
        snprintf (buf, len, "-");
    else
        snprintf (buf, len, "exit %d", a->exit_status);
}

static const char *style =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "margin:24px;color:#222;max-width:1100px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;"
    "border-bottom:1px solid #ddd;padding-bottom:4px}"
    "table{border-collapse:collapse}td,th{padding:3px 10px;text-align:left;"
    "border-bottom:1px solid #eee;vertical-align:top}"
    "th{background:#f6f6f6;font-weight:600}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    ".mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}"
    ".note{background:#fff6dd;border:1px solid #e8d48a;padding:6px 10px;"
    "margin:8px 0}.legend span{display:inline-block;margin-right:14px}"
    ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;"
    "vertical-align:-1px}.busy{display:inline-block;height:10px;"
    "background:#3a9d4f}.busybox{display:inline-block;width:200px;"
    "background:#eee;margin-right:6px}"
    "#tip{position:fixed;pointer-events:none;background:#222;color:#fff;"
    "padding:6px 8px;border-radius:4px;font-size:12px;white-space:pre;"
    "display:none;max-width:600px;z-index:10}"
    "svg text{font-size:11px;fill:#444}";

static void counters (FILE *f, const rep_t *r)
{
    const jobs_record_t *j = r->job;
    char dl[32], ul[32], dur[32], t[64];
    jobs_fmt_bytes (j->bytes_downloaded, dl, sizeof (dl));
    jobs_fmt_bytes (j->bytes_uploaded, ul, sizeof (ul));
    jobs_fmt_duration (j->duration_s, dur, sizeof (dur));
    time_t tt = (time_t)(j->start_ns / 1000000000);
    struct tm tm;
    localtime_r (&tt, &tm);
    strftime (t, sizeof (t), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf (f, "<h2>Counters</h2><table id=\"counters\">");
    fprintf (f, "<tr><th>state</th><td>%s</td></tr>",
             jobs_state_name (j->state));
    fprintf (f, "<tr><th>started</th><td>%s</td></tr>", t);
    fprintf (f, "<tr><th>duration</th><td>%s</td></tr>",
             j->state == JOBS_STATE_RUNNING ? "(running)" : dur);
    fprintf (f, "<tr><th>workers / nodes</th><td>%d / %d</td></tr>",
             j->workers, j->nodes);
    fprintf (f, "<tr><th>datums</th><td>%llu processed + %llu skipped / "
             "%llu total, %llu failed, %llu recovered</td></tr>",
             (unsigned long long)j->processed,
             (unsigned long long)j->skipped, (unsigned long long)j->total,
             (unsigned long long)j->failed,
             (unsigned long long)j->recovered);
    size_t per[JOBS_ATTEMPT_NOUTCOMES] = { 0 };
    for (size_t i = 0; i < r->n; i++)
        if (r->a[i].outcome < JOBS_ATTEMPT_NOUTCOMES)
            per[r->a[i].outcome]++;
    fprintf (f, "<tr><th>attempts</th><td>%zu:", r->n);
    for (int k = 0; k < JOBS_ATTEMPT_NOUTCOMES; k++)
        if (per[k])
            fprintf (f, " %zu %s", per[k],
                     outcome_name ((uint8_t)k));
    fprintf (f, "</td></tr>");
    fprintf (f, "<tr><th>data in / out</th><td>%s / %s</td></tr></table>\n",
             dl, ul);
}

static double xof (const rep_t *r, int64_t ns)
{
    return 120.0 + TL_WIDTH * (double)(ns - r->t0) / (double)(r->t1 - r->t0);
}

/* One bar per attempt, with what the tooltip shows in data-tip. */
static void bar (FILE *f, const rep_t *r, const io_attempt_t *a, double y)
{
    char in[1024], ex[32], dur[32], id[33];
    double x0 = xof (r, a->start_ns);
    double x1 = xof (r, a->start_ns + (int64_t)(a->duration_s * 1e9));
    double w = x1 - x0 < 0.5 ? 0.5 : x1 - x0;
    inputs_of (r, &a->datum, in, sizeof (in));
    fmt_exit (a, ex, sizeof (ex));
    jobs_fmt_duration (a->duration_s, dur, sizeof (dur));
    io_hash_hex (&a->datum, id);
    fprintf (f, "<rect class=\"bar\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
             "height=\"14\" fill=\"%s\" data-tip=\"datum %.12s (attempt %u, "
             "%s)&#10;inputs: ", x0, y, w,
             colours[a->outcome % JOBS_ATTEMPT_NOUTCOMES], id, a->attempt,
             outcome_name (a->outcome));
    esc (f, in);
    fprintf (f, "&#10;duration: %s, %s&#10;rank %d on ", dur, ex, a->rank);
    esc (f, a->host);
    fprintf (f, "\"/>");
}

static void timeline (FILE *f, const rep_t *r)
{
    double rowh = 18, top = 24;
    double height = top + rowh * (double)(r->nw ? r->nw : 1) + 10;
    bool agg = r->n > r->max_bars;
    fprintf (f, "<h2>Timeline</h2><div class=\"legend\">");
    for (int k = 0; k < JOBS_ATTEMPT_NOUTCOMES; k++)
        fprintf (f, "<span><i style=\"background:%s\"></i>%s</span>",
                 colours[k], outcome_name ((uint8_t)k));
    fprintf (f, "</div>");
    size_t shown = 0;
    if (agg) {
        for (size_t i = 0; i < r->n; i++)
            shown += r->a[i].outcome != JOBS_ATTEMPT_SUCCESS;
        if (shown > r->max_bars)
            shown = r->max_bars;
        fprintf (f, "<p class=\"note\" id=\"aggregated\">%zu attempts are "
                 "more than this page draws one by one (%zu): each worker's "
                 "row shows how busy it was in %d time bins (darker is "
                 "busier), and only the %zu attempts that did not succeed "
                 "are drawn as bars.</p>", r->n, r->max_bars, AGG_BINS,
                 shown);
    }
    fprintf (f, "<svg class=\"timeline\" width=\"%.0f\" height=\"%.0f\" "
             "xmlns=\"http://www.w3.org/2000/svg\">", 120 + TL_WIDTH + 20,
             height);
    /* A time axis in seconds from the job's start. */
    double span = (double)(r->t1 - r->t0) * 1e-9;
    double step = pow (10, floor (log10 (span > 0 ? span : 1)));
    if (span / step < 3)
        step /= 2;
    for (double s = 0; s <= span * 1.0001; s += step) {
        double x = 120 + TL_WIDTH * s / span;
        fprintf (f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
                 "stroke=\"#eee\"/><text x=\"%.1f\" y=\"14\">%gs</text>", x,
                 top - 4, x, height, x - 6, s);
    }
    for (size_t k = 0; k < r->nw; k++) {
        double y = top + rowh * (double)k;
        fprintf (f, "<text x=\"0\" y=\"%.0f\">rank %d ", y + 11,
                 r->w[k].rank);
        esc (f, r->w[k].host);
        fprintf (f, "</text>");
    }
    if (!agg) {
        for (size_t i = 0; i < r->n; i++) {
            const io_attempt_t *a = &r->a[i];
            bar (f, r, a, top + rowh * (double)worker_index (r, a->rank) + 1);
        }
    }
    else {
        /* Busy seconds per (worker, bin), drawn with that opacity. */
        double *busy = calloc (r->nw * AGG_BINS, sizeof (*busy));
        double binw = (double)(r->t1 - r->t0) / AGG_BINS;
        if (!busy)
            abort ();
        for (size_t i = 0; i < r->n; i++) {
            const io_attempt_t *a = &r->a[i];
            if (a->start_ns <= 0)
                continue;
            double s = (double)(a->start_ns - r->t0);
            double e = s + a->duration_s * 1e9;
            size_t k = worker_index (r, a->rank);
            for (int b = (int)(s / binw); b < AGG_BINS && b * binw < e; b++) {
                double lo = b * binw > s ? b * binw : s;
                double hi = (b + 1) * binw < e ? (b + 1) * binw : e;
                if (hi > lo)
                    busy[k * AGG_BINS + (size_t)b] += hi - lo;
            }
        }
        for (size_t k = 0; k < r->nw; k++) {
            double y = top + rowh * (double)k + 1;
            for (int b = 0; b < AGG_BINS; b++) {
                double frac = busy[k * AGG_BINS + (size_t)b] / binw;
                if (frac <= 0)
                    continue;
                fprintf (f, "<rect class=\"agg\" x=\"%.2f\" y=\"%.1f\" "
                         "width=\"%.2f\" height=\"14\" fill=\"%s\" "
                         "fill-opacity=\"%.2f\" data-tip=\"rank %d: busy "
                         "%.0f%% of %.3gs\"/>",
                         120 + TL_WIDTH * b / AGG_BINS, y,
                         TL_WIDTH / AGG_BINS + 0.1, colours[0],
                         frac > 1 ? 1.0 : 0.15 + 0.85 * frac, r->w[k].rank,
                         100 * (frac > 1 ? 1 : frac), binw * 1e-9);
            }
        }
        free (busy);
        size_t drawn = 0;
        for (size_t i = 0; i < r->n && drawn < shown; i++) {
            const io_attempt_t *a = &r->a[i];
            if (a->outcome == JOBS_ATTEMPT_SUCCESS)
                continue;
            bar (f, r, a, top + rowh * (double)worker_index (r, a->rank) + 1);
            drawn++;
        }
    }
    fprintf (f, "</svg>\n");
    fprintf (f, "<script>window.DR_EXPECTED_BARS=%zu;</script>\n",
             agg ? shown : r->n);
}

static int cmp_double (const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void histogram (FILE *f, const rep_t *r)
{
    fprintf (f, "<h2>Datum durations</h2>");
    double *d = malloc ((r->n ? r->n : 1) * sizeof (*d));
    size_t n = 0;
    if (!d)
        abort ();
    for (size_t i = 0; i < r->n; i++)
        if (r->a[i].start_ns > 0)
            d[n++] = r->a[i].duration_s;
    if (!n) {
        fprintf (f, "<p>No attempts.</p>");
        free (d);
        return;
    }
    qsort (d, n, sizeof (*d), cmp_double);
    double max = d[n - 1] > 0 ? d[n - 1] : 1e-3;
    size_t count[HIST_BINS] = { 0 }, top = 0;
    for (size_t i = 0; i < n; i++) {
        int b = (int)(d[i] / max * HIST_BINS);
        count[b >= HIST_BINS ? HIST_BINS - 1 : b]++;
    }
    for (int b = 0; b < HIST_BINS; b++)
        if (count[b] > top)
            top = count[b];
    char med[32], p95[32], mx[32];
    jobs_fmt_duration (d[n / 2], med, sizeof (med));
    jobs_fmt_duration (d[(size_t)((double)(n - 1) * 0.95)], p95, sizeof (p95));
    jobs_fmt_duration (d[n - 1], mx, sizeof (mx));
    fprintf (f, "<p>%zu attempts: median %s, 95th percentile %s, longest "
             "%s.</p>", n, med, p95, mx);
    double W = 600, H = 160, bw = W / HIST_BINS;
    fprintf (f, "<svg class=\"histogram\" width=\"%.0f\" height=\"%.0f\" "
             "xmlns=\"http://www.w3.org/2000/svg\">", W + 60, H + 30);
    for (int b = 0; b < HIST_BINS; b++) {
        double h = top ? H * (double)count[b] / (double)top : 0;
        char lo[32], hi[32];
        jobs_fmt_duration (max * b / HIST_BINS, lo, sizeof (lo));
        jobs_fmt_duration (max * (b + 1) / HIST_BINS, hi, sizeof (hi));
        fprintf (f, "<rect class=\"hbar\" x=\"%.1f\" y=\"%.1f\" "
                 "width=\"%.1f\" height=\"%.1f\" fill=\"#2f80c0\" "
                 "data-tip=\"%s to %s: %zu attempts\"/>", 40 + b * bw,
                 10 + H - h, bw - 1, h, lo, hi, count[b]);
    }
    fprintf (f, "<text x=\"40\" y=\"%.0f\">0</text><text x=\"%.0f\" "
             "y=\"%.0f\">%s</text><text x=\"0\" y=\"18\">%zu</text></svg>\n",
             H + 26, 40 + W - 30, H + 26, mx, top);
    free (d);
}

static void busy_tables (FILE *f, const rep_t *r)
{
    double wall = (double)(r->t1 - r->t0) * 1e-9;
    fprintf (f, "<h2>Busy fraction</h2><p>Share of the job's %.3gs that "
             "each worker spent running attempts.</p><table id=\"workers\">"
             "<tr><th>worker</th><th>host</th><th>attempts</th>"
             "<th>busy</th></tr>", wall);
    for (size_t k = 0; k < r->nw; k++) {
        double frac = wall > 0 ? r->w[k].busy / wall : 0;
        if (frac > 1)
            frac = 1;
        fprintf (f, "<tr><td>rank %d</td><td>", r->w[k].rank);
        esc (f, r->w[k].host);
        fprintf (f, "</td><td class=\"n\">%zu</td><td><span class=\"busybox\">"
                 "<span class=\"busy\" style=\"width:%.0fpx\"></span></span>"
                 "%.1f%%</td></tr>", r->w[k].nattempts, 200 * frac,
                 100 * frac);
    }
    fprintf (f, "</table><table id=\"nodes\" style=\"margin-top:12px\">"
             "<tr><th>node</th><th>workers</th><th>busy</th></tr>");
    bool *done = calloc (r->nw ? r->nw : 1, sizeof (*done));
    if (!done)
        abort ();
    for (size_t k = 0; k < r->nw; k++) {
        if (done[k])
            continue;
        double busy = 0;
        int nw = 0;
        for (size_t q = k; q < r->nw; q++) {
            if (!done[q] && !strcmp (r->w[q].host, r->w[k].host)) {
                done[q] = true;
                busy += r->w[q].busy;
                nw++;
            }
        }
        double frac = wall > 0 ? busy / (wall * nw) : 0;
        if (frac > 1)
            frac = 1;
        fprintf (f, "<tr><td>");
        esc (f, r->w[k].host);
        fprintf (f, "</td><td class=\"n\">%d</td><td><span class=\"busybox\">"
                 "<span class=\"busy\" style=\"width:%.0fpx\"></span></span>"
                 "%.1f%%</td></tr>", nw, 200 * frac, 100 * frac);
    }
    free (done);
    fprintf (f, "</table>\n");
}

static int cmp_slow (const void *x, const void *y)
{
    const io_attempt_t *a = *(const io_attempt_t *const *)x;
    const io_attempt_t *b = *(const io_attempt_t *const *)y;
    return (a->duration_s < b->duration_s) - (a->duration_s > b->duration_s);
}

static void attempt_row (FILE *f, const rep_t *r, const io_attempt_t *a,
                         bool logs)
{
    char id[33], in[1024], dur[32], ex[32];
    io_hash_hex (&a->datum, id);
    inputs_of (r, &a->datum, in, sizeof (in));
    jobs_fmt_duration (a->duration_s, dur, sizeof (dur));
    fmt_exit (a, ex, sizeof (ex));
    fprintf (f, "<tr><td class=\"mono\">%.12s</td><td>", id);
    esc (f, in);
    fprintf (f, "</td><td class=\"n\">%u</td><td>%s</td><td class=\"n\">%s"
             "</td><td>%s</td><td>rank %d on ", a->attempt,
             outcome_name (a->outcome), dur, ex, a->rank);
    esc (f, a->host);
    fprintf (f, "</td>");
    if (logs) {
        char *out, *err;
        runner_log_files (r->spec->state_dir, r->job->id, &a->datum, &out,
                          &err);
        fprintf (f, "<td class=\"mono\">");
        if (!out && !err)
            fprintf (f, "(no output)");
        if (err) {
            esc (f, err);
            fprintf (f, "<br>");
        }
        esc (f, out);
        fprintf (f, "</td>");
        free (out);
        free (err);
    }
    fprintf (f, "</tr>");
}

static void slowest (FILE *f, const rep_t *r)
{
    size_t n = r->n < TOP_SLOW ? r->n : TOP_SLOW;
    fprintf (f, "<h2>Slowest datums</h2>");
    if (!r->n) {
        fprintf (f, "<p>No attempts.</p>");
        return;
    }
    const io_attempt_t **v = malloc (r->n * sizeof (*v));
    if (!v)
        abort ();
    for (size_t i = 0; i < r->n; i++)
        v[i] = &r->a[i];
    qsort (v, r->n, sizeof (*v), cmp_slow);
    fprintf (f, "<table id=\"slowest\"><tr><th>datum</th><th>inputs</th>"
             "<th>attempt</th><th>outcome</th><th>duration</th><th>exit</th>"
             "<th>worker</th></tr>");
    for (size_t i = 0; i < n; i++)
        attempt_row (f, r, v[i], false);
    fprintf (f, "</table>\n");
    free (v);
}

static void failures (FILE *f, const rep_t *r)
{
    size_t nf = 0;
    for (size_t i = 0; i < r->n; i++)
        nf += r->a[i].outcome != JOBS_ATTEMPT_SUCCESS;
    fprintf (f, "<h2>Failures</h2>");
    if (!nf) {
        fprintf (f, "<p id=\"nofailures\">Every attempt succeeded.</p>");
        return;
    }
    fprintf (f, "<p>%zu attempts did not succeed%s.</p><table id=\"failures\">"
             "<tr><th>datum</th><th>inputs</th><th>attempt</th><th>outcome"
             "</th><th>duration</th><th>exit</th><th>worker</th>"
             "<th>logs</th></tr>", nf,
             nf > MAX_FAILURES ? " (the first 200 are listed)" : "");
    size_t shown = 0;
    for (size_t i = 0; i < r->n && shown < MAX_FAILURES; i++) {
        if (r->a[i].outcome == JOBS_ATTEMPT_SUCCESS)
            continue;
        attempt_row (f, r, &r->a[i], true);
        shown++;
    }
    fprintf (f, "</table>\n");
}

/* Tooltips, and what rendered: data-bars (bars in the timeline),
 * data-errors (script errors caught) and data-ready on <body>, which the
 * headless-browser test reads from the DOM it dumps. */
static const char *script =
    "<script>\n"
    "(function(){var errs=0;window.addEventListener('error',function(){"
    "errs++;document.body.dataset.errors=errs;});\n"
    "function ready(){var b=document.body;"
    "var bars=document.querySelectorAll('svg.timeline rect.bar');"
    "b.dataset.bars=bars.length;b.dataset.expectedBars="
    "window.DR_EXPECTED_BARS;b.dataset.errors=errs;"
    "var tip=document.getElementById('tip');"
    "document.querySelectorAll('[data-tip]').forEach(function(el){"
    "el.addEventListener('mousemove',function(e){tip.textContent="
    "el.getAttribute('data-tip');tip.style.display='block';"
    "tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});"
    "el.addEventListener('mouseleave',function(){tip.style.display='none';"
    "});});b.dataset.ready='1';}\n"
    "if(document.readyState==='loading')document.addEventListener("
    "'DOMContentLoaded',ready);else ready();})();\n"
    "</script>\n";

static int write_report (FILE *f, const rep_t *r)
{
    fprintf (f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
             "charset=\"utf-8\"><title>datumrun report: ");
    esc (f, r->job->pipeline);
    fprintf (f, " job %.8s</title><style>%s</style></head>\n<body>"
             "<div id=\"tip\"></div><h1>", r->job->id, style);
    esc (f, r->job->pipeline);
    fprintf (f, ": job <span class=\"mono\">%s</span></h1><p>Spec ",
             r->job->id);
    esc (f, r->spec->path);
    fprintf (f, ", state folder ");
    esc (f, r->spec->state_dir);
    fprintf (f, ". Made by datumrun %s from the manifest.</p>\n",
             DATUMRUN_VERSION);
    counters (f, r);
    timeline (f, r);
    histogram (f, r);
    busy_tables (f, r);
    slowest (f, r);
    failures (f, r);
    fputs (script, f);
    fprintf (f, "</body></html>\n");
    return ferror (f) ? -1 : 0;
}

int cmd_report (optparse_t *args)
{
    const char *opt_out = optparse_str (args, "output", NULL);
    const char *spec_path = optparse_pos (args, 0);
    const char *job_prefix = optparse_pos (args, 1);
    dr_error_t err = { { 0 } };
    jobs_spec_t *spec = NULL;
    rep_t r = { 0 };
    int rc = EXIT_USAGE;
    char *path = NULL;
    if (!(spec = jobs_spec_load (spec_path,
                                 optparse_str (args, "state-dir", NULL),
                                 &err))) {
        fprintf (stderr, "%s\n", err.text);
        return EXIT_USAGE;
    }
    r.spec = spec;
    if (!(r.m = io_manifest_open_ro (spec->state_dir, &err))) {
        fprintf (stderr, "datumrun report: %s\n", err.text);
        goto out;
    }
    size_t nj = io_manifest_njobs (r.m);
    if (job_prefix) {
        int hits = 0;
        size_t plen = strlen (job_prefix);
        for (size_t i = 0; i < nj; i++) {
            const jobs_record_t *j = io_manifest_job (r.m, i);
            if (!strncmp (j->id, job_prefix, plen)) {
                r.job = j;
                hits++;
            }
        }
        if (hits != 1) {
            fprintf (stderr, "datumrun report: %s job '%s'\n",
                     hits ? "ambiguous" : "no", job_prefix);
            goto out;
        }
    }
    else if (nj)
        r.job = io_manifest_job (r.m, nj - 1);
    else {
        fprintf (stderr, "datumrun report: pipeline %s has no jobs yet\n",
                 spec->name);
        goto out;
    }
    io_hash_t jid;
    io_hash_from_hex (r.job->id, &jid);
    if (io_manifest_attempts (r.m, &jid, NULL, collect, &r, &err) < 0) {
        fprintf (stderr, "datumrun report: %s\n",
                 err.text[0] ? err.text : "out of memory");
        goto out;
    }
    const char *mb = getenv ("DATUMRUN_REPORT_MAX_BARS");
    r.max_bars = mb && atol (mb) > 0 ? (size_t)atol (mb) : DEFAULT_MAX_BARS;
    build_workers (&r);
    path = opt_out ? strdup (opt_out)
                   : jobs_pathf ("report-%.8s.html", r.job->id);
    FILE *f = path ? fopen (path, "w") : NULL;
    if (!f) {
        fprintf (stderr, "datumrun report: %s: cannot create: %s\n",
                 path ? path : "report", strerror (errno));
        goto out;
    }
    int wrc = write_report (f, &r);
    if (fclose (f) != 0 || wrc < 0) {
        fprintf (stderr, "datumrun report: %s: cannot write: %s\n", path,
                 strerror (errno));
        goto out;
    }
    printf ("report: %s (%zu attempts of job %.8s)\n", path, r.n, r.job->id);
    rc = EXIT_OK;
out:
    free (path);
    free (r.a);
    free (r.w);
    io_manifest_close (r.m);
    jobs_spec_destroy (spec);
    return rc;
}
