/* test_spec.c: unit tests for jobs/spec.c and jobs/duration.c.  Most cases
 * are rows of one table: a spec text and the substring its error must
 * contain (NULL when the spec is valid).  Spec texts use ' for " to stay
 * readable, and @ for the temporary folder the group setup builds, which
 * holds the repos the specs name (data/words, data/b, ...).  Each row goes
 * through everything `run` checks before it writes anything: its options
 * (the row's argv, against run's own option rows), the spec, and the
 * output and state folders (io_check_spec_folders); none of it may create
 * a file.
 */
#define _XOPEN_SOURCE 700     /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/io.h"
#include "jobs/jobs.h"
#include "runner/optparse.h"
#include "runner/runner.h"
#include "seeds.h"

static char tmp[PATH_MAX];      /* canonical temp folder of this run */
static char spec_path[PATH_MAX + 16];

/* ------------------------------------------------------------ fixture */

static int make_dir (const char *rel, mode_t mode)
{
    char path[PATH_MAX + 64];

    snprintf (path, sizeof (path), "%s/%s", tmp, rel);
    if (mkdir (path, 0755) < 0)
        return -1;
    return chmod (path, mode);
}

static int make_file (const char *rel, const char *text)
{
    char path[PATH_MAX + 64];
    FILE *f;

    snprintf (path, sizeof (path), "%s/%s", tmp, rel);
    if (!(f = fopen (path, "w")))
        return -1;
    fputs (text, f);
    return fclose (f);
}

static int group_setup (void **state)
{
    char templ[] = "/tmp/test_spec.XXXXXX";

    if (!mkdtemp (templ) || !realpath (templ, tmp))
        return -1;
    snprintf (spec_path, sizeof (spec_path), "%s/spec.json", tmp);
    if (make_dir ("data", 0755) < 0 || make_dir ("data/words", 0755) < 0
        || make_dir ("data/b", 0755) < 0 || make_dir ("data/c", 0755) < 0
        || make_dir ("data/my-words", 0755) < 0
        || make_dir ("data/locked", 0) < 0 || make_dir ("sub", 0755) < 0
        || make_file ("data/file", "x\n") < 0)
        return -1;
    return 0;
}

static int rm_one (const char *path, const struct stat *st, int flag,
                   struct FTW *ftw)
{
    return remove (path);
}

static int group_teardown (void **state)
{
    char path[PATH_MAX + 64];

    snprintf (path, sizeof (path), "%s/data/locked", tmp);
    chmod (path, 0700);
    return nftw (tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* @ -> the temp folder, and ' -> " when quotes is set.  Caller frees. */
static char *expand (const char *s, bool quotes)
{
    size_t n = 0;
    char *out, *o;

    for (const char *c = s; *c; c++)
        n += *c == '@' ? strlen (tmp) : 1;
    if (!(out = malloc (n + 1)))
        return NULL;
    for (o = out; *s; s++) {
        if (*s == '@') {
            strcpy (o, tmp);
            o += strlen (tmp);
        }
        else
            *o++ = quotes && *s == '\'' ? '"' : *s;
    }
    *o = '\0';
    return out;
}

static jobs_spec_t *parse (const char *text, const char *state,
                           dr_error_t *err)
{
    char *t = expand (text, true), *st = state ? expand (state, false) : NULL;
    jobs_spec_t *spec;

    assert_non_null (t);
    memset (err, 0, sizeof (*err));
    spec = jobs_spec_parse (t, spec_path, st, err);
    free (t);
    free (st);
    return spec;
}

/* ------------------------------------------------------------- table */

#define HEAD "{'pipeline':{'name':'wc'},'transform':{'cmd':['sh','-c','true']},"
#define WORDS "{'pfs':{'repo':'data/words','glob':'/*'}}"
#define PFS(repo) "{'pfs':{'repo':'" repo "','glob':'/*'}}"
#define NAMED(name, repo) "{'pfs':{'name':'" name "','repo':'" repo "','glob':'/*'}}"
/* A valid spec over data/words with extra top-level members. */
#define SPEC(extra) HEAD "'input':" WORDS extra "}"
/* A valid head with the given input. */
#define INPUT(in) HEAD "'input':" in "}"

struct spec_case {
    const char *name;
    const char *json;
    const char *err;        /* substring of the message; NULL: valid */
    const char *state;      /* state_dir argument, NULL for the default */
};

static const struct spec_case cases[] = {
    /* JSON itself */
    { "malformed", "{\n  'pipeline': ,\n}", ":2:15: unexpected token", NULL },
    { "not an object", "[1]", "the spec must be a JSON object", NULL },
    { "duplicate key", SPEC (",'datum_tries':1,'datum_tries':2"),
      "duplicate object key", NULL },

    /* unknown keys, at every level */
    { "unknown top key, suggested", SPEC (",'paralellism_spec':{'constant':2}"),
      "unknown key 'paralellism_spec' in the top level (did you mean "
      "'parallelism_spec'?)", NULL },
    { "unknown top key, swapped letters", SPEC (",'datum_tires':2"),
      "(did you mean 'datum_tries'?)", NULL },
    { "unknown top key, no suggestion", SPEC (",'zzzzzz':1"),
      "unknown key 'zzzzzz' in the top level (allowed: pipeline, ", NULL },
    { "unknown pipeline key",
      "{'pipeline':{'name':'wc','nmae':'x'},'transform':{'cmd':['x']},"
      "'input':" WORDS "}",
      "unknown key 'nmae' in 'pipeline' (did you mean 'name'?)", NULL },
    { "unknown transform key",
      "{'pipeline':{'name':'wc'},'transform':{'cmdd':['x']},'input':" WORDS
      "}", "unknown key 'cmdd' in 'transform' (did you mean 'cmd'?)", NULL },
    { "unknown input key", INPUT ("{'pfss':{'repo':'data/words','glob':'/*'}}"),
      "unknown key 'pfss' in 'input' (did you mean 'pfs'?)", NULL },
    { "unknown pfs key", INPUT ("{'pfs':{'repo':'data/words','glbo':'/*'}}"),
      "unknown key 'glbo' in 'input.pfs' (did you mean 'glob'?)", NULL },
    { "unknown nested pfs key",
      INPUT ("{'cross':[" WORDS ",{'union':[{'pfs':{'rpeo':'data/b',"
             "'glob':'/*'}}]}]}"),
      "unknown key 'rpeo' in 'input.cross[1].union[0].pfs' (did you mean "
      "'repo'?)", NULL },
    { "unknown parallelism key", SPEC (",'parallelism_spec':{'constnat':2}"),
      "unknown key 'constnat' in 'parallelism_spec' (did you mean "
      "'constant'?)", NULL },
    { "unknown chunk_spec key", SPEC (",'chunk_spec':{'size_bytes':2}"),
      "unknown key 'size_bytes' in 'chunk_spec'", NULL },
    { "unknown resource key", SPEC (",'resource_requests':{'cpus':2}"),
      "unknown key 'cpus' in 'resource_requests' (did you mean 'cpu'?)",
      NULL },

    /* pipeline */
    { "missing pipeline",
      "{'transform':{'cmd':['x']},'input':" WORDS "}",
      "missing required key 'pipeline'", NULL },
    { "pipeline not an object",
      "{'pipeline':'wc','transform':{'cmd':['x']},'input':" WORDS "}",
      "pipeline must be an object", NULL },
    { "missing pipeline.name",
      "{'pipeline':{},'transform':{'cmd':['x']},'input':" WORDS "}",
      "missing required key 'pipeline.name'", NULL },
    { "pipeline.name not a string",
      "{'pipeline':{'name':7},'transform':{'cmd':['x']},'input':" WORDS "}",
      "pipeline.name must be a string", NULL },
    { "pipeline.name bad characters",
      "{'pipeline':{'name':'word count'},'transform':{'cmd':['x']},"
      "'input':" WORDS "}", "pipeline.name 'word count' must be 1 to 63", NULL },
    { "pipeline.name empty",
      "{'pipeline':{'name':''},'transform':{'cmd':['x']},'input':" WORDS "}",
      "pipeline.name '' must be 1 to 63", NULL },
    { "pipeline.name too long",
      "{'pipeline':{'name':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaa'},'transform':{'cmd':['x']},'input':" WORDS "}",
      "must be 1 to 63 characters", NULL },

    /* transform */
    { "missing transform", "{'pipeline':{'name':'wc'},'input':" WORDS "}",
      "missing required key 'transform'", NULL },
    { "transform not an object",
      "{'pipeline':{'name':'wc'},'transform':['x'],'input':" WORDS "}",
      "transform must be an object", NULL },
    { "missing cmd",
      "{'pipeline':{'name':'wc'},'transform':{'stdin':['x']},'input':" WORDS
      "}", "missing required key 'transform.cmd'", NULL },
    { "cmd a string",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':'sh'},'input':" WORDS "}",
      "transform.cmd must be an array of strings", NULL },
    { "cmd empty",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':[]},'input':" WORDS "}",
      "transform.cmd must not be empty", NULL },
    { "cmd with a number",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['sh',1]},'input':" WORDS
      "}", "transform.cmd must be an array of strings", NULL },
    { "cmd program empty",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['']},'input':" WORDS "}",
      "transform.cmd[0] (the program) must not be empty", NULL },
    { "stdin not strings",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['x'],'stdin':[{}]},"
      "'input':" WORDS "}", "transform.stdin must be an array of strings",
      NULL },
    { "env not an object",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['x'],'env':['A=1']},"
      "'input':" WORDS "}", "transform.env must be an object of strings",
      NULL },
    { "env value not a string",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['x'],'env':{'K':1}},"
      "'input':" WORDS "}", "transform.env.K must be a string", NULL },
    { "env bad key",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['x'],'env':{'1K':'v'}},"
      "'input':" WORDS "}",
      "transform.env key '1K' is not a valid environment variable name",
      NULL },
    { "env reserved key",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['x'],"
      "'env':{'DATUMRUN_OUT':'v'}},'input':" WORDS "}",
      "transform.env key 'DATUMRUN_OUT' is reserved", NULL },
    { "env key is an input name",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['x'],"
      "'env':{'words':'v'}},'input':" WORDS "}",
      "transform.env key 'words' is also an input name", NULL },
    { "err_cmd a string",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['x'],'err_cmd':'true'},"
      "'input':" WORDS "}", "transform.err_cmd must be an array of strings",
      NULL },
    { "err_stdin not strings",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['x'],'err_stdin':[1]},"
      "'input':" WORDS "}", "transform.err_stdin must be an array of strings",
      NULL },

    /* input shape */
    { "missing input", HEAD "'output':'o'}", "missing required key 'input'",
      NULL },
    { "input not an object", INPUT ("[]"),
      "input must be an object with one of 'pfs'", NULL },
    { "input of no kind", INPUT ("{}"), "input must set one of 'pfs'", NULL },
    { "input of two kinds",
      INPUT ("{'pfs':{'repo':'data/words','glob':'/*'},'cross':[" WORDS "]}"),
      "input sets both 'pfs' and 'cross'; set exactly one", NULL },
    { "input pfs and atom",
      INPUT ("{'pfs':{'repo':'data/words','glob':'/*'},"
             "'atom':{'repo':'data/b','glob':'/*'}}"),
      "input sets both 'pfs' and 'atom'", NULL },
    { "nested input of no kind", INPUT ("{'cross':[" WORDS ",{}]}"),
      "input.cross[1] must set one of", NULL },
    { "empty cross", INPUT ("{'cross':[]}"), "input.cross must not be empty",
      NULL },
    { "empty union", INPUT ("{'union':[]}"), "input.union must not be empty",
      NULL },
    { "empty nested join", INPUT ("{'cross':[" WORDS ",{'join':[]}]}"),
      "input.cross[1].join must not be empty", NULL },
    { "cross not an array", INPUT ("{'cross':" WORDS "}"),
      "input.cross must be an array of inputs", NULL },
    { "pfs not an object", INPUT ("{'pfs':'data/words'}"),
      "input.pfs must be an object", NULL },

    /* pfs fields */
    { "missing repo", INPUT ("{'pfs':{'glob':'/*'}}"),
      "missing required key 'input.pfs.repo'", NULL },
    { "missing glob", INPUT ("{'pfs':{'repo':'data/words'}}"),
      "missing required key 'input.pfs.glob'", NULL },
    { "glob not a string", INPUT ("{'pfs':{'repo':'data/words','glob':1}}"),
      "input.pfs.glob must be a string", NULL },
    { "repo not a string", INPUT ("{'pfs':{'repo':['a'],'glob':'/*'}}"),
      "input.pfs.repo must be a string", NULL },
    { "repo empty", INPUT ("{'pfs':{'repo':'','glob':'/*'}}"),
      "input.pfs.repo must not be empty", NULL },
    { "repo missing", INPUT (PFS ("data/nope")),
      "input 'nope': repo 'data/nope' (@/data/nope) does not exist", NULL },
    { "repo missing, absolute", INPUT (PFS ("@/nope/deeper")),
      "repo '@/nope/deeper' (@/nope/deeper) does not exist", NULL },
    { "repo not a directory", INPUT (PFS ("data/file")),
      "input 'file': repo 'data/file' (@/data/file) is not a directory", NULL },
    { "name not an env name", INPUT (NAMED ("my-words", "data/words")),
      "input.pfs.name 'my-words' is not a valid environment variable name",
      NULL },
    { "default name not an env name", INPUT (PFS ("data/my-words")),
      "input name 'my-words' (from repo 'data/my-words') is not a valid "
      "environment variable name", NULL },
    { "name reserved out", INPUT (NAMED ("out", "data/words")),
      "input name 'out' is reserved", NULL },
    { "name reserved DATUMRUN_", INPUT (NAMED ("DATUMRUN_X", "data/words")),
      "input name 'DATUMRUN_X' is reserved", NULL },
    { "datum_batching not a bool",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['true'],"
      "'datum_batching':'yes'},'input':" WORDS "}",
      "transform.datum_batching must be true or false", NULL },
    /* Pachyderm fields with a meaning on a file system are accepted */
    { "lazy", INPUT ("{'pfs':{'repo':'data/words','glob':'/*','lazy':true}}"),
      NULL, NULL },
    { "lazy false", INPUT ("{'pfs':{'repo':'data/words','glob':'/*',"
                           "'lazy':false}}"), NULL, NULL },
    { "lazy not a bool",
      INPUT ("{'pfs':{'repo':'data/words','glob':'/*','lazy':'yes'}}"),
      "input.pfs.lazy must be true or false", NULL },
    { "empty_files", INPUT ("{'pfs':{'repo':'data/words','glob':'/*',"
                            "'empty_files':true}}"), NULL, NULL },
    { "empty_files not a bool",
      INPUT ("{'pfs':{'repo':'data/words','glob':'/*','empty_files':1}}"),
      "input.pfs.empty_files must be true or false", NULL },
    { "datum_set_spec", SPEC (",'datum_set_spec':{'number':4}"), NULL, NULL },
    { "datum_set_spec with protobuf zeros",
      SPEC (",'datum_set_spec':{'number':0,'size_bytes':0,'per_worker':0}"),
      NULL, NULL },
    { "datum_set_spec.size_bytes",
      SPEC (",'datum_set_spec':{'size_bytes':1000}"),
      "datum_set_spec.size_bytes is not supported: datumrun hands datums to "
      "workers by count; use datum_set_spec.number", NULL },
    { "datum_set_spec.per_worker", SPEC (",'datum_set_spec':{'per_worker':2}"),
      "datum_set_spec.per_worker is not supported", NULL },
    { "datum_set_spec bad number", SPEC (",'datum_set_spec':{'number':-1}"),
      "datum_set_spec.number must be an integer >= 0", NULL },
    { "datum_set_spec unknown key", SPEC (",'datum_set_spec':{'numbr':2}"),
      "unknown key 'numbr' in 'datum_set_spec' (did you mean 'number'?)",
      NULL },
    { "datum_set_spec and chunk_spec",
      SPEC (",'datum_set_spec':{'number':4},'chunk_spec':{'number':2}"),
      "set 'chunk_spec' or 'datum_set_spec', not both", NULL },
    /* ... and those without one are refused, saying why */
    { "spout", SPEC (",'spout':{'overwrite':true}"),
      "'spout' in the top level is a Pachyderm field with no meaning here: a "
      "spout runs forever", NULL },
    { "service", SPEC (",'service':{'internal_port':8000}"),
      "'service' in the top level is a Pachyderm field with no meaning here",
      NULL },
    { "s3_out", SPEC (",'s3_out':true"),
      "'s3_out' in the top level is a Pachyderm field with no meaning here: "
      "it writes the output through Pachyderm's S3 gateway", NULL },
    { "egress", SPEC (",'egress':{'URL':'s3://b'}"),
      "'egress' in the top level is a Pachyderm field", NULL },
    { "pod_patch", SPEC (",'pod_patch':'[]'"), "datumrun sbatch SPEC -- ARGS",
      NULL },
    { "pfs.s3", INPUT ("{'pfs':{'repo':'data/words','glob':'/*','s3':true}}"),
      "'s3' in 'input.pfs' is a Pachyderm field with no meaning here: it "
      "serves the input through Pachyderm's S3 gateway", NULL },
    { "pfs.trigger", INPUT ("{'cross':[{'pfs':{'repo':'data/words','glob':"
                            "'/*','trigger':{'size':'1M'}}}]}"),
      "'trigger' in 'input.cross[0].pfs' is a Pachyderm field with no meaning "
      "here: triggers start a pipeline", NULL },
    { "cron input", INPUT ("{'cron':{'name':'tick','spec':'@every 1m'}}"),
      "'cron' in 'input' is a Pachyderm field with no meaning here: a cron "
      "input makes commits on a schedule", NULL },
    { "transform.secrets",
      "{'pipeline':{'name':'wc'},'transform':{'cmd':['x'],'secrets':[]},"
      "'input':" WORDS "}",
      "'secrets' in 'transform' is a Pachyderm field with no meaning here",
      NULL },
    { "a Pachyderm name at another level is just unknown",
      "{'pipeline':{'name':'wc','spout':1},'transform':{'cmd':['x']},"
      "'input':" WORDS "}", "unknown key 'spout' in 'pipeline'", NULL },
    { "outer_join not a bool",
      INPUT ("{'pfs':{'repo':'data/words','glob':'/*','outer_join':1}}"),
      "input.pfs.outer_join must be true or false", NULL },
    { "join_on not a string",
      INPUT ("{'pfs':{'repo':'data/words','glob':'/*','join_on':1}}"),
      "input.pfs.join_on must be a string", NULL },
    { "join_on empty",
      INPUT ("{'pfs':{'repo':'data/words','glob':'/*','join_on':''}}"),
      "input.pfs.join_on must not be empty", NULL },
    { "branch not a string",
      INPUT ("{'pfs':{'repo':'data/words','glob':'/*','branch':1}}"),
      "input.pfs.branch must be a string", NULL },

    /* names within combinators */
    { "cross duplicate names", INPUT ("{'cross':[" WORDS "," WORDS "]}"),
      "input.cross: more than one input is named 'words'; the inputs of a "
      "cross must have distinct names", NULL },
    { "cross duplicate through a union",
      INPUT ("{'cross':[{'union':[" NAMED ("a", "data/b") ","
             NAMED ("a", "data/c") "]}," NAMED ("a", "data/words") "]}"),
      "input.cross: more than one input is named 'a'", NULL },
    { "join duplicate names",
      INPUT ("{'join':[{'pfs':{'repo':'data/words','glob':'/(*)',"
             "'join_on':'$1'}},{'pfs':{'repo':'data/words','glob':'/(*)',"
             "'join_on':'$1'}}]}"),
      "the inputs of a join must have distinct names", NULL },
    { "group duplicate names",
      INPUT ("{'group':[{'pfs':{'repo':'data/words','glob':'/(*)',"
             "'group_by':'$1'}},{'pfs':{'repo':'data/words','glob':'/(*)',"
             "'group_by':'$1'}}]}"),
      "the inputs of a group must have distinct names", NULL },
    { "join without join_on",
      INPUT ("{'join':[{'pfs':{'repo':'data/words','glob':'/(*)',"
             "'join_on':'$1'}}," PFS ("data/b") "]}"),
      "input.join[1].pfs: input 'b' is part of a join and needs 'join_on'",
      NULL },
    { "group without group_by",
      INPUT ("{'group':[" PFS ("data/b") "]}"),
      "input.group[0].pfs: input 'b' is part of a group and needs "
      "'group_by'", NULL },

    /* output and state folders */
    { "output not a string", SPEC (",'output':1"), "output must be a string",
      NULL },
    { "output empty", SPEC (",'output':''"), "output must not be empty", NULL },
    { "output inside repo", SPEC (",'output':'data/words/out'"),
      "output folder '@/data/words/out' is inside input 'words' repo "
      "'@/data/words'", NULL },
    { "output is repo", SPEC (",'output':'./data/words/'"),
      "output folder '@/data/words' is input 'words' repo", NULL },
    { "output contains repo", SPEC (",'output':'data'"),
      "output folder '@/data' contains input 'words' repo", NULL },
    { "state inside repo", SPEC (""),
      "state folder '@/data/words/st' is inside input 'words' repo",
      "@/data/words/st" },
    { "state is repo", SPEC (""), "state folder '@/data/words' is input",
      "@/data/words/" },
    { "state inside output", SPEC (",'output':'@/o'"),
      "output folder '@/o' and state folder '@/o/st' must not contain "
      "each other", "@/o/st" },
    { "state empty", SPEC (""), "the state folder must not be empty", "" },

    /* parallelism */
    { "parallelism not an object", SPEC (",'parallelism_spec':4"),
      "parallelism_spec must be an object", NULL },
    { "parallelism both",
      SPEC (",'parallelism_spec':{'constant':2,'coefficient':0.5}"),
      "parallelism_spec: set exactly one of 'constant' and 'coefficient', "
      "not both", NULL },
    { "coefficient zero", SPEC (",'parallelism_spec':{'coefficient':0}"),
      "parallelism_spec.coefficient must be a number > 0 (got 0)", NULL },
    { "coefficient negative",
      SPEC (",'parallelism_spec':{'coefficient':-0.5}"),
      "parallelism_spec.coefficient must be a number > 0 (got -0.5)", NULL },
    { "coefficient a string",
      SPEC (",'parallelism_spec':{'coefficient':'half'}"),
      "parallelism_spec.coefficient must be a number > 0 (got \"half\")",
      NULL },
    { "constant zero", SPEC (",'parallelism_spec':{'constant':0}"),
      "parallelism_spec.constant must be an integer >= 1 (got 0)", NULL },
    { "constant fraction", SPEC (",'parallelism_spec':{'constant':1.5}"),
      "parallelism_spec.constant must be an integer >= 1 (got 1.5)", NULL },
    { "constant huge", SPEC (",'parallelism_spec':{'constant':99999999999}"),
      "parallelism_spec.constant is 99999999999, beyond the limit of 65536",
      NULL },
    /* issue 13: hostile bounds */
    { "constant 100000", SPEC (",'parallelism_spec':{'constant':100000}"),
      "parallelism_spec.constant is 100000, beyond the limit of 65536",
      NULL },
    { "constant INT_MAX",
      SPEC (",'parallelism_spec':{'constant':2147483647}"),
      "parallelism_spec.constant is 2147483647, beyond the limit of 65536",
      NULL },
    { "constant INT_MAX+1",
      SPEC (",'parallelism_spec':{'constant':2147483648}"),
      "parallelism_spec.constant is 2147483648, beyond the limit", NULL },
    { "constant 1e300", SPEC (",'parallelism_spec':{'constant':1e300}"),
      "parallelism_spec.constant is 1.0000000000000001e300, beyond the limit of 65536",
      NULL },
    { "constant at the limit", SPEC (",'parallelism_spec':{'constant':65536}"),
      NULL, NULL },
    { "coefficient 1e300", SPEC (",'parallelism_spec':{'coefficient':1e300}"),
      "parallelism_spec.coefficient is 1.0000000000000001e300, beyond the limit of 1024 "
      "workers per node", NULL },
    { "coefficient 1025", SPEC (",'parallelism_spec':{'coefficient':1025}"),
      "parallelism_spec.coefficient is 1025, beyond the limit", NULL },
    { "coefficient at the limit",
      SPEC (",'parallelism_spec':{'coefficient':1024}"), NULL, NULL },
    { "datum_tries beyond the maximum", SPEC (",'datum_tries':1001"),
      "datum_tries is 1001, beyond the limit of 1000", NULL },
    { "datum_tries at the maximum", SPEC (",'datum_tries':1000"), NULL,
      NULL },
    { "datum_tries huge", SPEC (",'datum_tries':2147483647"),
      "datum_tries is 2147483647, beyond the limit of 1000", NULL },
    { "datum_tries 1e300", SPEC (",'datum_tries':1e300"),
      "datum_tries is 1.0000000000000001e300, beyond the limit of 1000", NULL },
    { "datum_tries negative huge", SPEC (",'datum_tries':-2147483649"),
      "datum_tries must be an integer >= 1", NULL },
    { "datum_timeout 1e300", SPEC (",'datum_timeout':1e300"),
      "datum_timeout is 1.0000000000000001e300, beyond the limit of 366 days", NULL },
    { "datum_timeout 10000h", SPEC (",'datum_timeout':'10000h'"),
      "datum_timeout is \"10000h\", beyond the limit of 366 days", NULL },
    { "job_timeout many digits",
      SPEC (",'job_timeout':'99999999999999999999999999999999999999h'"),
      "job_timeout is \"99999999999999999999999999999999999999h\", beyond "
      "the limit", NULL },
    { "job_timeout at the limit", SPEC (",'job_timeout':'8784h'"), NULL,
      NULL },
    { "cpu huge", SPEC (",'resource_requests':{'cpu':2147483647}"),
      "resource_requests.cpu is 2147483647, beyond the limit of 4096 cores "
      "per datum", NULL },
    { "cpu 1e300 string", SPEC (",'resource_requests':{'cpu':'1e300'}"),
      "resource_requests.cpu is \"1e300\", beyond the limit", NULL },
    { "chunk number huge", SPEC (",'chunk_spec':{'number':2147483647}"),
      "chunk_spec.number is 2147483647, beyond the limit of 1000000", NULL },
    { "output a regular file", SPEC (",'output':'@/data/file'"),
      "output folder '@/data/file' is not a directory (it is a regular "
      "file)", NULL },
    { "output under a regular file", SPEC (",'output':'@/data/file/out'"),
      "output folder '@/data/file/out': '@/data/file' is not a directory",
      NULL },
    { "output under /proc", SPEC (",'output':'/proc/datumrun/out'"),
      "output folder '/proc/datumrun/out' is on a kernel pseudo file system",
      NULL },
    { "output under /sys", SPEC (",'output':'/sys/datumrun'"),
      "output folder '/sys/datumrun' is on a kernel pseudo file system",
      NULL },
    { "state under /proc", SPEC (""), "state folder '/proc/datumrun-state' "
      "is on a kernel pseudo file system", "/proc/datumrun-state" },
    { "state a regular file", SPEC (""), "state folder '@/data/file' is not "
      "a directory (it is a regular file)", "@/data/file" },

    /* tries, timeouts, chunks, reprocess, resources */
    { "datum_tries zero", SPEC (",'datum_tries':0"),
      "datum_tries must be an integer >= 1 (got 0)", NULL },
    { "datum_tries a string", SPEC (",'datum_tries':'3'"),
      "datum_tries must be an integer >= 1 (got \"3\")", NULL },
    { "datum_timeout bad unit", SPEC (",'datum_timeout':'10x'"),
      "datum_timeout: bad duration '10x'", NULL },
    { "datum_timeout number without unit", SPEC (",'datum_timeout':'1h30'"),
      "datum_timeout: bad duration '1h30'", NULL },
    { "datum_timeout empty", SPEC (",'datum_timeout':''"),
      "datum_timeout: bad duration ''", NULL },
    { "job_timeout negative number", SPEC (",'job_timeout':-5"),
      "job_timeout must not be negative (got -5)", NULL },
    { "job_timeout negative string", SPEC (",'job_timeout':'-5m'"),
      "job_timeout: bad duration '-5m'", NULL },
    { "job_timeout a bool", SPEC (",'job_timeout':true"),
      "job_timeout must be a duration", NULL },
    { "reprocess_spec unknown", SPEC (",'reprocess_spec':'sometimes'"),
      "reprocess_spec must be \"until_success\" or \"every_job\" (got "
      "'sometimes')", NULL },
    { "reprocess_spec not a string", SPEC (",'reprocess_spec':1"),
      "reprocess_spec must be a string", NULL },
    { "chunk_spec not an object", SPEC (",'chunk_spec':2"),
      "chunk_spec must be an object", NULL },
    { "chunk number zero", SPEC (",'chunk_spec':{'number':0}"),
      "chunk_spec.number must be an integer >= 1 (got 0)", NULL },
    { "cpu zero", SPEC (",'resource_requests':{'cpu':0}"),
      "resource_requests.cpu must be a whole number >= 1 (got 0)", NULL },
    { "cpu half", SPEC (",'resource_requests':{'cpu':0.5}"),
      "resource_requests.cpu must be a whole number >= 1 (got 0.5)", NULL },
    { "cpu fraction", SPEC (",'resource_requests':{'cpu':1.5}"),
      "resource_requests.cpu must be a whole number >= 1", NULL },
    { "cpu word", SPEC (",'resource_requests':{'cpu':'abc'}"),
      "resource_requests.cpu must be a whole number >= 1 (got \"abc\")",
      NULL },
    { "cpu millicores", SPEC (",'resource_requests':{'cpu':'500m'}"),
      "resource_requests.cpu must be a whole number >= 1", NULL },
    { "memory a bool", SPEC (",'resource_requests':{'memory':true}"),
      "resource_requests.memory must be a size such as", NULL },
    { "memory unit", SPEC (",'resource_requests':{'memory':'2GB'}"),
      "resource_requests.memory must be a size such as \"2Gi\", \"512M\" "
      "or a number of bytes (got \"2GB\")", NULL },
    { "memory zero", SPEC (",'resource_requests':{'memory':'0'}"),
      "resource_requests.memory must be a size", NULL },
    { "gpu fraction", SPEC (",'resource_requests':{'gpu':0.5}"),
      "resource_requests.gpu must be a whole number of GPUs from 0 to 4096 "
      "(got 0.5)", NULL },
    { "gpu object without number",
      SPEC (",'resource_requests':{'gpu':{'type':'nvidia'}}"),
      "resource_requests.gpu needs a \"number\"", NULL },
    { "gpu object unknown key",
      SPEC (",'resource_requests':{'gpu':{'number':1,'kind':'x'}}"),
      "kind", NULL },
    { "scratch a number", SPEC (",'scratch':1"), "scratch must be a string",
      NULL },
    { "scratch empty", SPEC (",'scratch':''"),
      "scratch must be a folder, not empty", NULL },
    { "description a number", SPEC (",'description':1"),
      "description must be a string", NULL },

    /* valid specs */
    { "minimal", SPEC (""), NULL, NULL },
    { "atom alias", INPUT ("{'atom':{'repo':'data/words','glob':'/*'}}"),
      NULL, NULL },
    { "absolute repo", INPUT (PFS ("@/data/words")), NULL, NULL },
    { "repo with trailing slash", INPUT (PFS ("data/words/")), NULL, NULL },
    { "nested cross of union and pfs",
      INPUT ("{'cross':[{'union':[" PFS ("data/b") "," PFS ("data/c") "]},"
             WORDS "]}"), NULL, NULL },
    { "deep nesting",
      INPUT ("{'cross':[{'cross':[{'union':[" PFS ("data/b") ",{'cross':["
             PFS ("data/c") "]}]}]}," WORDS "]}"), NULL, NULL },
    { "union sharing a name",
      INPUT ("{'union':[" NAMED ("x", "data/b") "," NAMED ("x", "data/c")
             "]}"), NULL, NULL },
    { "join with join_on",
      INPUT ("{'join':[{'pfs':{'repo':'data/words','glob':'/(*)',"
             "'join_on':'$1','outer_join':true}},{'pfs':{'repo':'data/b',"
             "'glob':'/(*)','join_on':'$1'}}]}"), NULL, NULL },
    { "group with group_by",
      INPUT ("{'group':[{'pfs':{'repo':'data/words','glob':'/(*)',"
             "'group_by':'$1'}}]}"), NULL, NULL },
    { "every field",
      "{'pipeline':{'name':'wc-2_x'},'description':'counts words',"
      "'transform':{'cmd':['sh','-c','wc'],'stdin':['a','b'],"
      "'env':{'LC_ALL':'C'},'err_cmd':['true'],'err_stdin':[]},"
      "'input':{'pfs':{'name':'w','repo':'data/words','glob':'/*',"
      "'branch':'master'}},'output':'out/wc',"
      "'parallelism_spec':{'constant':4},'datum_tries':1,"
      "'datum_timeout':'10m','job_timeout':7200,'chunk_spec':{'number':2},"
      "'reprocess_spec':'every_job',"
      "'resource_requests':{'cpu':2,'memory':'1Gi','gpu':{'number':1}}}",
      NULL, NULL },
    { "nulls mean unset",
      SPEC (",'output':null,'parallelism_spec':null,'datum_tries':null,"
            "'description':null"), NULL, NULL },
    { "empty parallelism", SPEC (",'parallelism_spec':{}"), NULL, NULL },
    { "coefficient", SPEC (",'parallelism_spec':{'coefficient':0.5}"), NULL,
      NULL },
    { "integral reals", SPEC (",'datum_tries':2.0,'resource_requests':"
                              "{'cpu':1.0}"), NULL, NULL },
    { "cpu as a string", SPEC (",'resource_requests':{'cpu':'2'}"), NULL,
      NULL },
    { "duration forms",
      SPEC (",'datum_timeout':'1h30m','job_timeout':'500ms'"), NULL, NULL },
    { "duration as a number", SPEC (",'datum_timeout':2.5,'job_timeout':0"),
      NULL, NULL },
    { "output elsewhere", SPEC (",'output':'@/elsewhere/out'"), NULL, NULL },
    { "state elsewhere", SPEC (""), NULL, "@/st" },
};

/* Run's options on a valid spec: the rows of the table above that are
 * options, not spec keys (same loop, test_table). */
static const struct {
    const char *name;
    const char *argv;       /* space-separated */
    const char *err;        /* substring of the message; NULL: valid */
} option_cases[] = {
    { "-n 999999", "-n 999999", "-n: 999999 is out of range (1 to "
      "65536)" },
    { "-n INT_MAX+1", "-n 2147483648", "-n: 2147483648 is out of "
      "range" },
    { "-n 20 digits", "--workers 99999999999999999999",
      "--workers: 99999999999999999999 is out of range" },
    { "-n zero", "-n 0", "-n: 0 is out of range" },
    { "-n negative", "-n -1", "-n: -1 is out of range" },
    { "-n at the limit", "-n 65536", NULL },
    { "-n with --oversubscribe", "-n 65536 --oversubscribe", NULL },
};

/* `run SPEC ARGV...` against run's option rows: 0, or -1 with err
 * holding what optparse printed. */
static bool options_ok;

static int options_cmd (optparse_t *p)
{
    (void)p;
    options_ok = true;
    return 0;
}

static int parse_options (const char *args, dr_error_t *err)
{
    static const optparse_option_t opts[] = {
        RUNNER_OPT_WORKERS,
        { .name = "oversubscribe" },
        OPTPARSE_END,
    };
    static const optparse_cmd_t table[] = {
        { .name = "run", .args = "SPEC", .fn = options_cmd, .options = opts },
        { 0 },
    };
    char *copy = strdup (args), *save = NULL;
    char *argv[16] = { "datumrun", "run", spec_path };
    int argc = 3;
    assert_non_null (copy);
    for (char *w = strtok_r (copy, " ", &save); w && argc < 15;
         w = strtok_r (NULL, " ", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    /* optparse prints its message: catch it. */
    char msgs[] = "/tmp/test_spec.err.XXXXXX";
    int fd = mkstemp (msgs), saved = dup (2);
    assert_true (fd >= 0 && saved >= 0);
    fflush (stderr);
    dup2 (fd, 2);
    options_ok = false;
    int rc = optparse_main (table, "datumrun", argc, argv);
    fflush (stderr);
    dup2 (saved, 2);
    close (saved);
    memset (err, 0, sizeof (*err));
    ssize_t n = pread (fd, err->text, sizeof (err->text) - 1, 0);
    err->text[n > 0 ? n : 0] = '\0';
    close (fd);
    unlink (msgs);
    free (copy);
    return rc == 0 && options_ok ? 0 : -1;
}

static void test_table (void **state)
{
    int bad = 0;
    char *state_default = jobs_pathf ("%s/.datumrun", tmp);

    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        const struct spec_case *c = &cases[i];
        char *want = c->err ? expand (c->err, false) : NULL;
        char *json = expand (c->json, true);
        seed_write ("spec", "table", i, json, strlen (json));
        free (json);
        dr_error_t err;
        jobs_spec_t *spec = parse (c->json, c->state, &err);
        if (spec && io_check_spec_folders (spec, &err) < 0) {
            jobs_spec_destroy (spec);
            spec = NULL;
        }
        int ok;

        if (!c->err)
            ok = spec != NULL;
        else
            /* Every message starts with the spec path as given. */
            ok = !spec && strstr (err.text, want)
                 && strncmp (err.text, spec_path, strlen (spec_path)) == 0
                 && err.text[strlen (spec_path)] == ':';
        /* Checking never creates a state folder (issue 13). */
        if (access (state_default, F_OK) == 0) {
            print_error ("case '%s': %s was created\n", c->name,
                         state_default);
            ok = 0;
        }
        if (!ok) {
            print_error ("case '%s': expected %s%s%s, got %s%s\n", c->name,
                         want ? "error containing '" : "success",
                         want ? want : "", want ? "'" : "",
                         spec ? "success" : "error: ", spec ? "" : err.text);
            bad++;
        }
        jobs_spec_destroy (spec);
        free (want);
    }
    for (size_t i = 0; i < sizeof (option_cases) / sizeof (option_cases[0]);
         i++) {
        dr_error_t err;
        int rc = parse_options (option_cases[i].argv, &err);
        const char *want = option_cases[i].err;
        /* "datumrun run: --workers: ..." */
        if (want ? rc == 0 || !strstr (err.text, want) : rc != 0) {
            print_error ("case '%s': expected %s%s%s, got %s%s\n",
                         option_cases[i].name,
                         want ? "error containing '" : "success",
                         want ? want : "", want ? "'" : "",
                         rc == 0 ? "success" : "error: ", rc ? err.text : "");
            bad++;
        }
    }
    free (state_default);
    assert_int_equal (bad, 0);
}

/* ---------------------------------------------------------- fields */

/* Pachyderm's fields that mean something on a file system, as values. */
static void test_pachyderm_fields (void **state)
{
    (void)state;
    static const struct {
        const char *json;
        bool empty_files;
        int chunk;
    } pcases[] = {
        { SPEC (""), false, 1 },
        { INPUT ("{'pfs':{'repo':'data/words','glob':'/*','lazy':true}}"),
          false, 1 },
        { INPUT ("{'pfs':{'repo':'data/words','glob':'/*',"
                 "'empty_files':true,'lazy':true}}"), true, 1 },
        { SPEC (",'datum_set_spec':{'number':5}"), false, 5 },
        { SPEC (",'datum_set_spec':{'number':0}"), false, 1 },
        { SPEC (",'datum_set_spec':{}"), false, 1 },
        { SPEC (",'chunk_spec':{'number':3}"), false, 3 },
    };
    for (size_t i = 0; i < sizeof (pcases) / sizeof (pcases[0]); i++) {
        dr_error_t err;
        jobs_spec_t *spec = parse (pcases[i].json, NULL, &err);
        if (!spec)
            fail_msg ("case %zu: %s", i, err.text);
        assert_int_equal (spec->pfs[0]->empty_files, pcases[i].empty_files);
        assert_int_equal (spec->chunk_number, pcases[i].chunk);
        jobs_spec_destroy (spec);
    }
}

static void test_defaults (void **state)
{
    dr_error_t err;
    jobs_spec_t *spec = parse (SPEC (""), NULL, &err);
    char want[PATH_MAX + 64];

    assert_non_null (spec);
    assert_string_equal (spec->path, spec_path);
    assert_string_equal (spec->dir, tmp);
    assert_string_equal (spec->name, "wc");
    assert_string_equal (spec->cmd[0], "sh");
    assert_string_equal (spec->cmd[2], "true");
    assert_null (spec->cmd[3]);
    assert_non_null (spec->stdin_lines);
    assert_null (spec->stdin_lines[0]);
    assert_non_null (spec->env);
    assert_null (spec->env[0]);
    assert_null (spec->err_cmd);
    assert_non_null (spec->err_stdin);
    assert_null (spec->err_stdin[0]);

    assert_int_equal (spec->npfs, 1);
    assert_ptr_equal (spec->pfs[0], spec->input);
    assert_int_equal (spec->input->kind, JOBS_INPUT_PFS);
    assert_string_equal (spec->input->name, "words");
    snprintf (want, sizeof (want), "%s/data/words", tmp);
    assert_string_equal (spec->input->repo, want);
    assert_string_equal (spec->input->glob, "/*");
    assert_null (spec->input->join_on);
    assert_null (spec->input->group_by);
    assert_false (spec->input->outer_join);
    assert_int_equal (spec->input->index, 0);

    snprintf (want, sizeof (want), "%s/wc", tmp);
    assert_string_equal (spec->output, want);
    snprintf (want, sizeof (want), "%s/.datumrun/wc", tmp);
    assert_string_equal (spec->state_dir, want);

    assert_int_equal (spec->par_constant, 0);
    assert_true (spec->par_coefficient == 0);
    assert_int_equal (spec->datum_tries, 3);
    assert_true (spec->datum_timeout == 0);
    assert_true (spec->job_timeout == 0);
    assert_int_equal (spec->chunk_number, 1);
    assert_false (spec->reprocess_every_job);
    assert_int_equal (spec->cpu, 1);
    assert_non_null (spec->pipeline_canon);
    jobs_spec_destroy (spec);
}

static void test_every_field (void **state)
{
    dr_error_t err;
    jobs_spec_t *spec;
    char want[PATH_MAX + 64];

    spec = parse ("{'pipeline':{'name':'wc'},"
                  "'transform':{'cmd':['sh','-c','wc'],'stdin':['a','b'],"
                  "'env':{'LC_ALL':'C','X':'1=2'},'err_cmd':['true'],"
                  "'err_stdin':['e']},"
                  "'input':{'pfs':{'name':'w','repo':'data/words/',"
                  "'glob':'/*','branch':'master'}},'output':'out/wc',"
                  "'parallelism_spec':{'constant':4},'datum_tries':1,"
                  "'datum_timeout':'1h30m','job_timeout':2.5,"
                  "'chunk_spec':{'number':2},'reprocess_spec':'every_job',"
                  "'resource_requests':{'cpu':'2','memory':'1Gi'}}",
                  NULL, &err);
    assert_non_null (spec);
    assert_string_equal (spec->stdin_lines[1], "b");
    assert_null (spec->stdin_lines[2]);
    assert_string_equal (spec->env[0], "LC_ALL=C");
    assert_string_equal (spec->env[1], "X=1=2");
    assert_null (spec->env[2]);
    assert_string_equal (spec->err_cmd[0], "true");
    assert_string_equal (spec->err_stdin[0], "e");
    assert_string_equal (spec->input->name, "w");
    snprintf (want, sizeof (want), "%s/out/wc", tmp);
    assert_string_equal (spec->output, want);
    assert_int_equal (spec->par_constant, 4);
    assert_int_equal (spec->datum_tries, 1);
    assert_true (spec->datum_timeout == 5400);
    assert_true (spec->job_timeout == 2.5);
    assert_int_equal (spec->chunk_number, 2);
    assert_true (spec->reprocess_every_job);
    assert_int_equal (spec->cpu, 2);
    assert_true (spec->memory_mib == 1024);
    assert_int_equal (spec->gpu, 0);
    assert_null (spec->scratch);
    assert_false (spec->datum_batching);
    jobs_spec_destroy (spec);

    /* GPUs, both forms; memory units; scratch relative to the spec. */
    spec = parse (SPEC (",'resource_requests':{'gpu':2,'memory':'512M'},"
                        "'scratch':'local'"), NULL, &err);
    assert_non_null (spec);
    assert_int_equal (spec->gpu, 2);
    assert_null (spec->gpu_type);
    assert_true (spec->memory_mib == 489);   /* 512e6 bytes, rounded up */
    snprintf (want, sizeof (want), "%s/local", tmp);
    assert_string_equal (spec->scratch, want);
    jobs_spec_destroy (spec);
    spec = parse (SPEC (",'resource_requests':{'gpu':{'type':'amd',"
                        "'number':4},'memory':2147483648},"
                        "'scratch':'/local/tmp'"), NULL, &err);
    assert_non_null (spec);
    assert_int_equal (spec->gpu, 4);
    assert_string_equal (spec->gpu_type, "amd");
    assert_true (spec->memory_mib == 2048);
    assert_string_equal (spec->scratch, "/local/tmp");
    jobs_spec_destroy (spec);

    spec = parse ("{'pipeline':{'name':'wc'},'transform':{'cmd':['true'],"
                  "'datum_batching':true},'input':" WORDS "}", NULL, &err);
    assert_non_null (spec);
    assert_true (spec->datum_batching);
    jobs_spec_destroy (spec);

    spec = parse (SPEC (",'parallelism_spec':{'coefficient':0.5},"
                        "'reprocess_spec':'until_success'"), NULL, &err);
    assert_non_null (spec);
    assert_int_equal (spec->par_constant, 0);
    assert_true (spec->par_coefficient == 0.5);
    assert_false (spec->reprocess_every_job);
    jobs_spec_destroy (spec);
}

static void test_name_from_repo (void **state)
{
    dr_error_t err;
    jobs_spec_t *spec;

    /* "." takes the resolved folder's name. */
    spec = parse (INPUT (PFS ("data/words/.")), NULL, &err);
    assert_non_null (spec);
    assert_string_equal (spec->input->name, "words");
    jobs_spec_destroy (spec);
    spec = parse (INPUT (PFS ("data/words/../b")), NULL, &err);
    assert_non_null (spec);
    assert_string_equal (spec->input->name, "b");
    assert_non_null (strstr (spec->input->repo, "/data/b"));
    jobs_spec_destroy (spec);
}

static void test_atom_alias (void **state)
{
    dr_error_t err;
    jobs_spec_t *a = parse (INPUT ("{'atom':{'repo':'data/words','glob':'/*'}}"),
                            NULL, &err);
    jobs_spec_t *p = parse (SPEC (""), NULL, &err);

    assert_non_null (a);
    assert_non_null (p);
    assert_int_equal (a->input->kind, JOBS_INPUT_PFS);
    assert_string_equal (a->input->name, "words");
    /* The 1.x spelling is the same code: same pipeline hash. */
    assert_string_equal (a->pipeline_canon, p->pipeline_canon);
    jobs_spec_destroy (a);
    jobs_spec_destroy (p);
}

static void test_tree (void **state)
{
    dr_error_t err;
    jobs_spec_t *spec;
    jobs_input_t *in;

    spec = parse (INPUT ("{'cross':[{'union':[" NAMED ("x", "data/b") ","
                         NAMED ("x", "data/c") "]},{'cross':["
                         WORDS "]}]}"), NULL, &err);
    assert_non_null (spec);
    in = spec->input;
    assert_int_equal (in->kind, JOBS_INPUT_CROSS);
    assert_int_equal (in->nchildren, 2);
    assert_int_equal (in->children[0]->kind, JOBS_INPUT_UNION);
    assert_int_equal (in->children[0]->nchildren, 2);
    assert_int_equal (in->children[1]->kind, JOBS_INPUT_CROSS);
    assert_int_equal (spec->npfs, 3);
    assert_ptr_equal (spec->pfs[0], in->children[0]->children[0]);
    assert_ptr_equal (spec->pfs[1], in->children[0]->children[1]);
    assert_ptr_equal (spec->pfs[2], in->children[1]->children[0]);
    for (size_t i = 0; i < spec->npfs; i++)
        assert_int_equal (spec->pfs[i]->index, (int)i);
    assert_non_null (strstr (spec->pfs[0]->repo, "/data/b"));
    assert_non_null (strstr (spec->pfs[1]->repo, "/data/c"));
    assert_string_equal (spec->pfs[2]->name, "words");
    jobs_spec_destroy (spec);

    spec = parse (INPUT ("{'join':[{'pfs':{'repo':'data/words','glob':'/(*)',"
                         "'join_on':'$1','outer_join':true}},{'pfs':{'repo':"
                         "'data/b','glob':'/(*)','join_on':'$1'}}]}"),
                  NULL, &err);
    assert_non_null (spec);
    assert_int_equal (spec->input->kind, JOBS_INPUT_JOIN);
    assert_string_equal (spec->pfs[0]->join_on, "$1");
    assert_true (spec->pfs[0]->outer_join);
    assert_false (spec->pfs[1]->outer_join);
    jobs_spec_destroy (spec);

    spec = parse (INPUT ("{'group':[{'pfs':{'repo':'data/words','glob':'/(*)',"
                         "'group_by':'$1'}}]}"), NULL, &err);
    assert_non_null (spec);
    assert_int_equal (spec->input->kind, JOBS_INPUT_GROUP);
    assert_string_equal (spec->pfs[0]->group_by, "$1");
    jobs_spec_destroy (spec);
}

static void test_state_arg (void **state)
{
    char cwd[PATH_MAX], want[PATH_MAX + 64];
    dr_error_t err;
    jobs_spec_t *spec;

    assert_non_null (getcwd (cwd, sizeof (cwd)));
    assert_int_equal (chdir (tmp), 0);
    /* Relative to the current folder, not to the spec's. */
    spec = parse (SPEC (""), "sub/state/", &err);
    assert_int_equal (chdir (cwd), 0);
    assert_non_null (spec);
    snprintf (want, sizeof (want), "%s/sub/state", tmp);
    assert_string_equal (spec->state_dir, want);
    jobs_spec_destroy (spec);

    spec = parse (SPEC (""), "@/x/../st", &err);
    assert_non_null (spec);
    snprintf (want, sizeof (want), "%s/st", tmp);
    assert_string_equal (spec->state_dir, want);
    jobs_spec_destroy (spec);
}

/* ------------------------------------------------------------ canon */

static void test_canon (void **state)
{
    static const char *const same[] = {
        SPEC (""),
        /* key order, whitespace, and fields that are not code */
        "{ 'input' : { 'pfs' : { 'glob' : '/*', 'repo' : 'data/words' } },\n"
        "  'output': 'elsewhere', 'datum_tries': 7,\n"
        "  'parallelism_spec': {'constant': 9}, 'job_timeout': '1h',\n"
        "  'transform': {'cmd': ['sh', '-c', 'true']},\n"
        "  'pipeline': {'name': 'wc'}, 'description': 'x' }",
        /* an absolute repo, the default name spelled out, branch */
        INPUT ("{'pfs':{'name':'words','repo':'@/data/words/','glob':'/*',"
               "'branch':'master'}}"),
        "{'pipeline':{'name':'wc'},'transform':{'cmd':['sh','-c','true'],"
        "'env':null},'input':" WORDS ",'parallelism_spec':"
        "{'coefficient':0.25}}",
        /* how datums reach the command is not code */
        "{'pipeline':{'name':'wc'},'transform':{'cmd':['sh','-c','true'],"
        "'datum_batching':true},'input':" WORDS "}",
        /* lazy changes nothing the command sees; nor does chunking */
        INPUT ("{'pfs':{'repo':'data/words','glob':'/*','lazy':true}}"),
        INPUT ("{'pfs':{'repo':'data/words','glob':'/*',"
               "'empty_files':false}}"),
        SPEC (",'datum_set_spec':{'number':8}"),
    };
    static const char *const differ[] = {
        INPUT ("{'pfs':{'repo':'data/words','glob':'/*/*'}}"),
        INPUT ("{'pfs':{'name':'w','repo':'data/words','glob':'/*'}}"),
        INPUT ("{'pfs':{'repo':'data/b','glob':'/*'}}"),
        INPUT ("{'cross':[" WORDS "]}"),
        INPUT ("{'pfs':{'repo':'data/words','glob':'/*',"
               "'empty_files':true}}"),
        "{'pipeline':{'name':'wc'},'transform':{'cmd':['sh','-c','false']},"
        "'input':" WORDS "}",
        "{'pipeline':{'name':'wc'},'transform':{'cmd':['sh','-c','true'],"
        "'env':{'A':'1'}},'input':" WORDS "}",
    };
    dr_error_t err;
    jobs_spec_t *base = parse (same[0], NULL, &err), *s;

    assert_non_null (base);
    /* Sorted keys, no whitespace, canonical repo, effective name. */
    assert_non_null (strstr (base->pipeline_canon,
                             "{\"input\":{\"pfs\":{\"glob\":\"/*\",\"name\":"
                             "\"words\",\"repo\":\""));
    assert_non_null (strstr (base->pipeline_canon,
                             "\"transform\":{\"cmd\":[\"sh\",\"-c\","
                             "\"true\"]}}"));
    assert_null (strstr (base->pipeline_canon, "output"));
    assert_null (strchr (base->pipeline_canon, ' '));
    for (size_t i = 1; i < sizeof (same) / sizeof (same[0]); i++) {
        s = parse (same[i], NULL, &err);
        assert_non_null (s);
        assert_string_equal (s->pipeline_canon, base->pipeline_canon);
        jobs_spec_destroy (s);
    }
    for (size_t i = 0; i < sizeof (differ) / sizeof (differ[0]); i++) {
        s = parse (differ[i], NULL, &err);
        assert_non_null (s);
        assert_string_not_equal (s->pipeline_canon, base->pipeline_canon);
        jobs_spec_destroy (s);
    }
    jobs_spec_destroy (base);
}

/* ---------------------------------------------------------- loading */

static void test_load (void **state)
{
    char cwd[PATH_MAX], path[PATH_MAX + 64], want[2 * PATH_MAX + 256];
    dr_error_t err;
    jobs_spec_t *spec;

    /* Relative repos are taken from the spec's folder, not the CWD. */
    assert_int_equal (make_file ("sub/spec.json",
                                 "{\"pipeline\": {\"name\": \"wc\"},\n"
                                 " \"transform\": {\"cmd\": [\"true\"]},\n"
                                 " \"input\": {\"pfs\": {\"repo\": "
                                 "\"../data/words\", \"glob\": \"/*\"}}}\n"),
                      0);
    snprintf (path, sizeof (path), "%s/sub/spec.json", tmp);
    spec = jobs_spec_load (path, NULL, &err);
    assert_non_null (spec);
    assert_string_equal (spec->path, path);
    snprintf (want, sizeof (want), "%s/sub", tmp);
    assert_string_equal (spec->dir, want);
    snprintf (want, sizeof (want), "%s/data/words", tmp);
    assert_string_equal (spec->pfs[0]->repo, want);
    snprintf (want, sizeof (want), "%s/sub/wc", tmp);
    assert_string_equal (spec->output, want);
    jobs_spec_destroy (spec);

    /* Malformed: exactly "SPEC:LINE:COL: message", SPEC as given. */
    assert_int_equal (make_file ("sub/bad.json", "{\n  \"pipeline\": ,\n}\n"),
                      0);
    assert_non_null (getcwd (cwd, sizeof (cwd)));
    assert_int_equal (chdir (tmp), 0);
    errno = 0;
    spec = jobs_spec_load ("sub/bad.json", NULL, &err);
    assert_int_equal (chdir (cwd), 0);
    assert_null (spec);
    assert_int_equal (errno, EINVAL);
    assert_string_equal (err.text, "sub/bad.json:2:15: unexpected token near "
                                   "','");

    /* Validation errors name the path as given, too. */
    assert_int_equal (make_file ("sub/typo.json",
                                 "{\"pipeline\": {\"name\": \"wc\"},"
                                 " \"transfrom\": {}}"), 0);
    assert_int_equal (chdir (tmp), 0);
    spec = jobs_spec_load ("sub/typo.json", NULL, &err);
    assert_int_equal (chdir (cwd), 0);
    assert_null (spec);
    assert_string_equal (err.text, "sub/typo.json: unknown key 'transfrom' "
                                   "in the top level (did you mean "
                                   "'transform'?)");

    snprintf (path, sizeof (path), "%s/missing.json", tmp);
    errno = 0;
    assert_null (jobs_spec_load (path, NULL, &err));
    assert_int_equal (errno, ENOENT);
    snprintf (want, sizeof (want), "%s: cannot read: %s", path,
              strerror (ENOENT));
    assert_string_equal (err.text, want);

    snprintf (path, sizeof (path), "%s/sub", tmp);
    assert_null (jobs_spec_load (path, NULL, &err));
    snprintf (want, sizeof (want), "%s: cannot read: %s", path,
              strerror (EISDIR));
    assert_string_equal (err.text, want);

    assert_int_equal (make_file ("sub/empty.json", ""), 0);
    snprintf (path, sizeof (path), "%s/sub/empty.json", tmp);
    assert_null (jobs_spec_load (path, NULL, &err));
    snprintf (want, sizeof (want), "%s:1:0: ", path);
    assert_memory_equal (err.text, want, strlen (want));

    /* A NUL byte in the file is an error at its position, not the end. */
    snprintf (path, sizeof (path), "%s/sub/nul.json", tmp);
    {
        int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true (fd >= 0);
        assert_int_equal (write (fd, "{\"a\":\0}", 7), 7);
        close (fd);
    }
    assert_null (jobs_spec_load (path, NULL, &err));
    snprintf (want, sizeof (want), "%s:1:", path);
    assert_memory_equal (err.text, want, strlen (want));
}

/* Root reads anything, so drop to nobody in a child to see the refusal. */
static void test_unreadable_repo (void **state)
{
    static const char text[] = INPUT (PFS ("data/locked"));
    pid_t pid;
    int status;

    pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        dr_error_t err;
        jobs_spec_t *spec;
        char *want;

        if (geteuid () == 0
            && (chmod (tmp, 0755) < 0 || setgid (65534) < 0
                || setuid (65534) < 0))
            _exit (3);
        spec = parse (text, "@/st", &err);
        want = expand ("input 'locked': repo 'data/locked' (@/data/locked) "
                       "is not readable", false);
        if (spec || !strstr (err.text, want)) {
            fprintf (stderr, "got: %s\n", spec ? "success" : err.text);
            _exit (1);
        }
        free (want);
        _exit (0);
    }
    assert_int_equal (waitpid (pid, &status, 0), pid);
    chmod (tmp, 0700);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
}

static void test_errors (void **state)
{
    dr_error_t err;

    errno = 0;
    assert_null (parse (SPEC (",'datum_tries':0"), NULL, &err));
    assert_int_equal (errno, EINVAL);
    errno = 0;
    assert_null (parse ("{", NULL, &err));
    assert_int_equal (errno, EINVAL);
    /* err may be NULL. */
    assert_null (jobs_spec_parse ("{}", spec_path, NULL, NULL));
    assert_null (jobs_spec_parse (NULL, spec_path, NULL, &err));
    assert_null (jobs_spec_load (NULL, NULL, &err));
    errno = 42;
    jobs_spec_destroy (NULL);
    assert_int_equal (errno, 42);

    /* A value longer than the message buffer loses its middle; the reason
     * after it stays whole. */
    char digits[2001];
    memset (digits, '9', sizeof (digits) - 1);
    digits[sizeof (digits) - 1] = '\0';
    char *text = jobs_pathf (SPEC (",'job_timeout':'%sx'"), digits);
    assert_non_null (text);
    assert_null (parse (text, NULL, &err));
    free (text);
    const char *tail = "x' (use e.g. \"90\", \"90s\", \"10m\", \"1h30m\", "
                       "\"500ms\")";
    size_t len = strlen (err.text);
    assert_true (len > strlen (tail));
    assert_string_equal (err.text + len - strlen (tail), tail);
    assert_non_null (strstr (err.text, ": job_timeout: bad duration '999"));
    assert_non_null (strstr (err.text, "999...999"));
    assert_int_equal (strncmp (err.text, spec_path, strlen (spec_path)), 0);
}

/* ---------------------------------------------------------- durations */

static void test_duration (void **state)
{
    static const struct {
        const char *s;
        double want;        /* < 0: must be refused */
    } rows[] = {
        { "90", 90 }, { "90s", 90 }, { "10m", 600 }, { "2h", 7200 },
        { "1h30m", 5400 }, { "500ms", 0.5 }, { "1.5h", 5400 },
        { "1m30s", 90 }, { "0", 0 }, { "0s", 0 }, { ".5s", 0.5 },
        { "2h3m4s5ms", 7384.005 }, { "10us", 1e-5 }, { "7ns", 7e-9 },
        { "1.", 1 },
        { "", -1 }, { "s", -1 }, { "10x", -1 }, { "1h30", -1 }, { "-5m", -1 },
        { " 5s", -1 }, { "5s ", -1 }, { "5 s", -1 }, { "1e3", -1 },
        { "inf", -1 }, { "0x10", -1 }, { ".", -1 }, { "5mm", -1 },
        { "h", -1 }, { "1hm", -1 },
    };

    for (size_t i = 0; i < sizeof (rows) / sizeof (rows[0]); i++) {
        double got = -2;
        int rc = jobs_parse_duration (rows[i].s, &got);
        if (rows[i].want < 0) {
            if (rc != -1)
                print_error ("'%s' should be refused, got %g\n", rows[i].s,
                             got);
            assert_int_equal (rc, -1);
            assert_int_equal (errno, EINVAL);
        }
        else {
            if (rc != 0 || fabs (got - rows[i].want) > 1e-9 * (1 + got))
                print_error ("'%s': rc %d, got %g, want %g\n", rows[i].s, rc,
                             got, rows[i].want);
            assert_int_equal (rc, 0);
            assert_true (fabs (got - rows[i].want) <= 1e-9 * (1 + got));
        }
    }
    assert_int_equal (jobs_parse_duration (NULL, &(double){ 0 }), -1);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_table),
        cmocka_unit_test (test_defaults),
        cmocka_unit_test (test_pachyderm_fields),
        cmocka_unit_test (test_every_field),
        cmocka_unit_test (test_name_from_repo),
        cmocka_unit_test (test_atom_alias),
        cmocka_unit_test (test_tree),
        cmocka_unit_test (test_state_arg),
        cmocka_unit_test (test_canon),
        cmocka_unit_test (test_load),
        cmocka_unit_test (test_unreadable_repo),
        cmocka_unit_test (test_errors),
        cmocka_unit_test (test_duration),
    };

    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
