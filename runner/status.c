/* status.c: `datumrun status SPEC [--json] [--watch]`, the running job as
 * rank 0 last described it in the state folder's status.json (rewritten
 * atomically about once a second, progress.c).  It reads that file only,
 * never MPI, so any shell on a node that sees the state folder can ask.
 * A status whose writer stopped updating it long ago is a job that died
 * without a word (kill -9, a lost node): said so.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/progress.h"
#include "runner/runner.h"

/* Rank 0 rewrites the file every second while it runs. */
#define STALE_S 30.0

const optparse_option_t runner_status_options[] = {
    RUNNER_OPT_STATE_DIR,
    RUNNER_OPT_JSON ("print the status document as it is, with \"live\" "
                     "added"),
    { .name = "watch", .help = "redraw every second until the job ends" },
    OPTPARSE_END,
};

/* Whether the status describes a job still running now. */
static bool is_live (json_t *st, double *age)
{
    const char *state = "";
    json_int_t updated = 0;
    json_unpack (st, "{s?s, s?I}", "state", &state, "updated_ns", &updated);
    *age = (double)(dr_realtime_ns () - updated) * 1e-9;
    return !strcmp (state, "running") && *age < STALE_S;
}

static void print_text (json_t *st, const char *pipeline)
{
    char line[512], ago[32];
    double age;
    bool live = is_live (st, &age);
    const char *job = "", *state = "";
    json_unpack (st, "{s?s, s?s}", "job_id", &job, "state", &state);
    progress_format_line (st, line, sizeof (line));
    jobs_fmt_duration (age, ago, sizeof (ago));
    if (live)
        printf ("pipeline %s: job %.8s running\n", pipeline, job);
    else if (!strcmp (state, "running"))
        printf ("pipeline %s: job %.8s stopped updating its status %s ago "
                "(killed, or its node lost?): not running\n", pipeline, job,
                ago);
    else
        printf ("pipeline %s: no job running; the last one, %.8s, ended "
                "%s ago: %s\n", pipeline, job, ago, state);
    printf ("%s\n", line);
    json_t *workers = json_object_get (st, "workers");
    size_t i;
    json_t *w;
    if (live && json_array_size (workers)) {
        printf ("\n%-6s  %-16s  %-6s  %-9s  %-12s  %s\n", "RANK", "HOST",
                "STATE", "FOR", "DATUM", "INPUTS");
        json_array_foreach (workers, i, w) {
            int rank = 0;
            const char *host = "", *ws = "", *datum = "", *in = "";
            double run = 0;
            json_unpack (w, "{s?i, s?s, s?s, s?s, s?s, s?f}", "rank", &rank,
                         "host", &host, "state", &ws, "datum", &datum,
                         "inputs", &in, "running_s", &run);
            char dur[32] = "-";
            if (!strcmp (ws, "busy"))
                jobs_fmt_duration (run, dur, sizeof (dur));
            printf ("%-6d  %-16.16s  %-6s  %-9s  %-12.12s  %s\n", rank, host,
                    ws, dur, datum, in);
        }
        json_t *slow = json_object_get (st, "slowest_running");
        if (json_array_size (slow)) {
            printf ("\nslowest running:\n");
            json_array_foreach (slow, i, w) {
                const char *datum = "", *in = "";
                double run = 0;
                int rank = 0;
                json_unpack (w, "{s?s, s?s, s?f, s?i}", "datum", &datum,
                             "inputs", &in, "running_s", &run, "rank", &rank);
                char dur[32];
                jobs_fmt_duration (run, dur, sizeof (dur));
                printf ("  %-9s  %.12s  rank %d  %s\n", dur, datum, rank, in);
            }
        }
    }
    json_t *lost = json_object_get (st, "lost_workers");
    if (json_array_size (lost)) {
        printf ("\nlost workers:\n");
        json_array_foreach (lost, i, w) {
            int rank = 0;
            const char *host = "", *why = "";
            json_unpack (w, "{s?i, s?s, s?s}", "rank", &rank, "host", &host,
                         "reason", &why);
            printf ("  rank %d on %s: %s\n", rank, host, why);
        }
    }
}

int cmd_status (optparse_t *args)
{
    dr_error_t err = { { 0 } };
    jobs_spec_t *spec = jobs_spec_load (optparse_pos (args, 0),
                                        optparse_str (args, "state-dir",
                                                      NULL),
                                        &err);
    if (!spec) {
        fprintf (stderr, "%s\n", err.text);
        return EXIT_USAGE;
    }
    bool json = optparse_has (args, "json"), watch = optparse_has (args,
                                                                   "watch");
    int rc = EXIT_OK;
    for (;;) {
        json_t *st = progress_read_status (spec->state_dir);
        if (!st) {
            if (json)
                printf ("{\"pipeline\":\"%s\",\"live\":false,\"state\":"
                        "null}\n", spec->name);
            else
                printf ("pipeline %s: no job status yet (no job has run "
                        "with this state folder, %s)\n", spec->name,
                        spec->state_dir);
            break;
        }
        double age;
        bool live = is_live (st, &age);
        if (watch && !json && isatty (STDOUT_FILENO))
            printf ("\033[H\033[J");    /* redraw from the top */
        if (json) {
            json_object_set_new (st, "live", json_boolean (live));
            char *s = json_dumps (st, JSON_COMPACT | JSON_PRESERVE_ORDER
                                          | JSON_REAL_PRECISION (6));
            printf ("%s\n", s);
            free (s);
        }
        else
            print_text (st, spec->name);
        fflush (stdout);
        json_decref (st);
        if (!watch || !live)
            break;
        poll (NULL, 0, 1000);
        if (!json && !isatty (STDOUT_FILENO))
            printf ("\n");
    }
    jobs_spec_destroy (spec);
    return rc;
}
