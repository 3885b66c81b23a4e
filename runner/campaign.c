/* campaign.c: chained pipelines (filled in with the cluster work). */
#include "runner/runner.h"

int runner_campaign (int argc, char **argv)
{
    (void)argc;
    (void)argv;
    dr_log (LOG_ERR, "campaign: not built yet");
    return EXIT_USAGE;
}
