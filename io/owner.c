/* owner.c: the owner marker of an output folder.  An output folder belongs
 * to one pipeline and one state folder; the marker, a small JSON file
 * `<output>/.datumrun-owner.json` (docs/manifest.md), says which, so that
 * a second pipeline or a second state folder is refused before anything
 * runs, and so that a path under the folder leads back to the manifest
 * that knows which datum made it.  The marker is written to a temporary
 * name and renamed into place, so it is always whole.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"

bool io_name_reserved (const char *name)
{
    if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
        return true;
    return strcmp (name, IO_OWNER_FILE) == 0;
}

void io_owner_free (io_owner_t *o)
{
    int saved = errno;
    if (o) {
        free (o->pipeline);
        free (o->spec);
        free (o->state_dir);
        free (o->state_rel);
        free (o->manifest);
        memset (o, 0, sizeof (*o));
    }
    errno = saved;
}

/* Path of b relative to the folder a (both canonical absolute paths). */
static char *relative_to (const char *a, const char *b)
{
    /* Skip the components both share. */
    size_t i = 0, ca = 0, cb = 0;
    for (;;) {
        size_t ea = i, eb = i;
        while (a[ea] && a[ea] != '/')
            ea++;
        while (b[eb] && b[eb] != '/')
            eb++;
        if (ea != eb || strncmp (a + i, b + i, ea - i))
            break;
        ca = cb = ea;
        if (!a[ea] || !b[eb])
            break;
        i = ea + 1;
    }
    size_t ups = 0;
    for (const char *p = a + ca; *p; p++)
        if (*p == '/' && p[1] && p[1] != '/')
            ups++;
    const char *rest = b + cb;
    while (*rest == '/')
        rest++;
    char *s = malloc (ups * 3 + strlen (rest) + 2);
    if (!s)
        return NULL;
    char *q = s;
    for (size_t k = 0; k < ups; k++)
        q += sprintf (q, "..%s", k + 1 < ups || *rest ? "/" : "");
    strcpy (q, rest);
    if (!s[0])
        strcpy (s, ".");
    return s;
}

int io_owner_init (io_owner_t *o, const char *pipeline, const char *spec,
                   const char *state_dir, const char *output)
{
    memset (o, 0, sizeof (*o));
    o->pipeline = strdup (pipeline);
    o->spec = strdup (spec);
    o->state_dir = strdup (state_dir);
    o->state_rel = relative_to (output, state_dir);
    if (asprintf (&o->manifest, "%s/manifest.h5", state_dir) < 0)
        o->manifest = NULL;
    if (!o->pipeline || !o->spec || !o->state_dir || !o->state_rel
        || !o->manifest) {
        io_owner_free (o);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

static char *marker_path (const char *output)
{
    char *p;
    if (asprintf (&p, "%s/%s", output, IO_OWNER_FILE) < 0)
        return NULL;
    return p;
}

int io_owner_read (const char *output, io_owner_t *o, dr_error_t *err)
{
    memset (o, 0, sizeof (*o));
    char *path = marker_path (output);
    if (!path)
        return dr_errprintf (err, "out of memory");
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free (path);
        if (e == ENOENT || e == ENOTDIR)
            return 0;
        errno = e;
        return dr_errprintf (err, "%s/%s: cannot read: %s", output,
                             IO_OWNER_FILE, strerror (e));
    }
    json_error_t je;
    json_t *root = json_loadfd (fd, 0, &je);
    close (fd);
    const char *pl = NULL, *sp = NULL, *sd = NULL, *sr = NULL, *mf = NULL;
    int version = 0;
    if (!root
        || json_unpack_ex (root, &je, 0, "{s:i, s:s, s:s, s:s, s?s, s?s}",
                           "datumrun_owner", &version, "pipeline", &pl,
                           "spec", &sp, "state_dir", &sd,
                           "state_dir_from_output", &sr, "manifest", &mf)
               < 0) {
        dr_errprintf (err, "%s: not a datumrun owner marker (%s); if no "
                      "pipeline owns the folder, remove the file and rerun",
                      path, je.text);
        json_decref (root);
        free (path);
        errno = EINVAL;
        return -1;
    }
    o->pipeline = strdup (pl);
    o->spec = strdup (sp);
    o->state_dir = strdup (sd);
    o->state_rel = sr ? strdup (sr) : NULL;
    o->manifest = mf ? strdup (mf) : NULL;
    json_decref (root);
    free (path);
    if (!o->pipeline || !o->spec || !o->state_dir) {
        io_owner_free (o);
        return dr_errprintf (err, "out of memory");
    }
    return 1;
}

int io_owner_write (const char *output, const io_owner_t *o, dr_error_t *err)
{
    char *path = marker_path (output), *tmp = NULL, *text = NULL;
    json_t *root = json_pack ("{s:i, s:s, s:s, s:s, s:s, s:s}",
                              "datumrun_owner", 1, "pipeline", o->pipeline,
                              "spec", o->spec, "state_dir", o->state_dir,
                              "state_dir_from_output",
                              o->state_rel ? o->state_rel : "",
                              "manifest", o->manifest ? o->manifest : "");
    int rc = -1;
    if (!path || !root || asprintf (&tmp, "%s.tmp.%d", path, (int)getpid ()) < 0
        || !(text = json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER))) {
        tmp = NULL;
        dr_errprintf (err, "out of memory");
        goto done;
    }
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                   0644);
    size_t len = strlen (text);
    if (fd < 0 || write (fd, text, len) != (ssize_t)len
        || write (fd, "\n", 1) != 1 || fsync (fd) < 0) {
        dr_errprintf (err, "%s: cannot write: %s", tmp, strerror (errno));
        if (fd >= 0)
            close (fd);
        unlink (tmp);
        goto done;
    }
    if (close (fd) < 0 || rename (tmp, path) < 0) {
        dr_errprintf (err, "%s: cannot write: %s", path, strerror (errno));
        unlink (tmp);
        goto done;
    }
    rc = 0;
done:
    free (text);
    json_decref (root);
    free (tmp);
    free (path);
    return rc;
}

int io_owner_remove (const char *output)
{
    char *path = marker_path (output);
    if (!path)
        return -1;
    int rc = unlink (path) < 0 && errno != ENOENT ? -1 : 0;
    free (path);
    return rc;
}

/* Canonical form of a folder that may not exist yet: realpath of the
 * longest existing prefix, the rest appended. */
static char *canon (const char *path)
{
    char *r = realpath (path, NULL);
    if (r)
        return r;
    char *copy = strdup (path);
    if (!copy)
        return NULL;
    char *slash = strrchr (copy, '/');
    if (!slash || slash == copy) {
        return copy;
    }
    *slash = '\0';
    char *head = canon (copy);
    char *out = NULL;
    if (head && asprintf (&out, "%s/%s", strcmp (head, "/") ? head : "",
                          slash + 1) < 0)
        out = NULL;
    free (head);
    free (copy);
    return out;
}

bool io_owner_same_state (const io_owner_t *marker, const char *output,
                          const char *state_dir)
{
    if (!strcmp (marker->state_dir, state_dir))
        return true;
    char *mine = canon (state_dir);
    bool same = false;
    if (mine) {
        char *theirs = canon (marker->state_dir);
        same = theirs && !strcmp (theirs, mine);
        free (theirs);
        /* A project moved as a whole keeps the state folder's place
         * relative to the output folder. */
        if (!same && marker->state_rel && marker->state_rel[0]
            && access (marker->state_dir, F_OK) < 0) {
            char *rel = NULL;
            if (asprintf (&rel, "%s/%s", output, marker->state_rel) >= 0) {
                char *c = canon (rel);
                same = c && !strcmp (c, mine);
                free (c);
            }
            free (rel);
        }
    }
    free (mine);
    return same;
}
