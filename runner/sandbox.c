/* sandbox.c: a worker's reused sandbox (sandbox.h).
 *
 * Creating and removing folders and links per datum costs more than a
 * short command on most file systems (bench/RESULTS.md), so the sandbox
 * is made once and refreshed: the links a datum had go, and a scan of
 * each folder (a rewind and a getdents64 on a descriptor held open)
 * checks that nothing else is left.  Removed links are renamed into a
 * trash folder beside the sandbox instead of unlinked: on ext4 a stream
 * of freed inodes makes each later allocation scan past the recently
 * deleted ones.  The trash goes with the sandbox at the end of the job.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/runner.h"
#include "runner/sandbox.h"

/* One distinct input name: pfs/<name>. */
typedef struct sb_input {
    const char *name;
    char *visible;      /* <sandbox>/pfs/<name> */
    int fd;             /* the folder pfs/<name>, or -1 (absent, a link) */
    ino_t ino;
    bool bound;         /* bound read-only over itself */
    bool whole;         /* pfs/<name> is the datum's whole-repo entry */
    bool dirty;         /* an entry could not be moved away: scan it */
} sb_input_t;

struct sandbox {
    const jobs_spec_t *spec;
    char *path;
    char *trash_path;   /* <sandbox>/../trash */
    char *pfs_path, *out_path;
    int root, pfs, out, trash;
    ino_t pfs_ino, out_ino;
    sb_input_t *in;
    size_t nin;
    size_t *in_of;      /* spec->pfs index -> in index */
    unsigned long ntrash;
    bool linked;        /* the current datum's links were made */
    char *buf;          /* scratch for paths */
    size_t cap;
    bool out_empty;     /* sandbox_out_empty found it so, since enter */
    /* A window's further output folders (sandbox.h): <sandbox>/window/<i>
     * for i = 1 .. nslot - 1; slot 0 is pfs/out. */
    int win;
    ino_t win_ino;
    struct sb_slot {
        int fd;
        ino_t ino;
        char *path;
        bool empty;     /* found so since it was last left */
    } *slot;
    size_t nslot;
    char dents[8192] __attribute__ ((aligned (8)));
};

/* A getdents64 that left room for another entry of the longest name has
 * reached the end of the folder: local and network file systems alike
 * fill the buffer while entries remain.  So a small folder is read with
 * one call, not two. */
#define DENTS_AT_END(n, s) ((size_t)(n) + 512 <= sizeof ((s)->dents))

/* printf into the scratch buffer, grown as needed. */
static const char *sb_pathf (sandbox_t *s, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static const char *sb_pathf (sandbox_t *s, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start (ap, fmt);
        int n = vsnprintf (s->buf, s->cap, fmt, ap);
        va_end (ap);
        if (n < 0)
            abort ();
        if ((size_t)n < s->cap)
            return s->buf;
        size_t ncap = s->cap ? s->cap : 256;
        while (ncap <= (size_t)n)
            ncap *= 2;
        char *b = realloc (s->buf, ncap);
        if (!b)
            abort ();
        s->buf = b;
        s->cap = ncap;
    }
}

/* A path that writes into pfs/<name> even while it is bound read-only:
 * through the descriptor opened before the bind. */
static char *writable_path (const sb_input_t *in, const char *rel)
{
    char *p = NULL;
    if (in->bound && asprintf (&p, "/proc/self/fd/%d%s%s", in->fd,
                               rel[0] ? "/" : "", rel) < 0)
        p = NULL;
    else if (!in->bound)
        p = jobs_pathf ("%s%s%s", in->visible, rel[0] ? "/" : "", rel);
    if (!p)
        abort ();
    return p;
}

static int open_dir (int at, const char *name, ino_t *ino)
{
    int fd = openat (at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
                                   | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && ino) {
        if (fstat (fd, &st) < 0) {
            int e = errno;
            close (fd);
            errno = e;
            return -1;
        }
        *ino = st.st_ino;
    }
    return fd;
}

static void close_fd (int *fd)
{
    if (*fd >= 0)
        close (*fd);
    *fd = -1;
}

static void input_drop (sb_input_t *in)
{
    if (in->bound)
        runner_ro_unbind (in->visible);
    in->bound = false;
    close_fd (&in->fd);
}

/* The folders every datum has: the sandbox, pfs, pfs/out. */
static int open_layout (sandbox_t *s, dr_error_t *err)
{
    const char *p = sb_pathf (s, "%s/pfs/out", s->path);
    if (io_mkdirs (p, 0755) < 0)
        return dr_path_error (err, "cannot create", p, errno);
    if ((s->root = open_dir (AT_FDCWD, s->path, NULL)) < 0)
        return dr_path_error (err, "cannot open", s->path, errno);
    if ((s->pfs = open_dir (s->root, "pfs", &s->pfs_ino)) < 0)
        return dr_path_error (err, "cannot open", s->pfs_path, errno);
    if ((s->out = open_dir (s->pfs, "out", &s->out_ino)) < 0)
        return dr_path_error (err, "cannot open", p, errno);
    return 0;
}

static void close_layout (sandbox_t *s)
{
    for (size_t i = 0; i < s->nin; i++) {
        input_drop (&s->in[i]);
        s->in[i].whole = s->in[i].dirty = false;
    }
    for (size_t i = 1; i < s->nslot; i++)
        close_fd (&s->slot[i].fd);
    close_fd (&s->win);
    close_fd (&s->out);
    close_fd (&s->pfs);
    close_fd (&s->root);
}

sandbox_t *sandbox_open (const char *path, const jobs_spec_t *spec,
                         dr_error_t *err)
{
    sandbox_t *s = calloc (1, sizeof (*s));
    if (!s) {
        dr_errprintf (err, "out of memory");
        return NULL;
    }
    s->spec = spec;
    s->root = s->pfs = s->out = s->trash = s->win = -1;
    s->in = calloc (spec->npfs + 1, sizeof (*s->in));
    s->in_of = calloc (spec->npfs + 1, sizeof (*s->in_of));
    s->path = strdup (path);
    s->trash_path = jobs_pathf ("%s/../trash", path);
    s->pfs_path = jobs_pathf ("%s/pfs", path);
    s->out_path = jobs_pathf ("%s/pfs/out", path);
    if (!s->in || !s->in_of || !s->path || !s->trash_path || !s->pfs_path
        || !s->out_path)
        abort ();
    for (size_t i = 0; i < spec->npfs; i++) {
        const char *name = spec->pfs[i]->name;
        size_t k = 0;
        while (k < s->nin && strcmp (s->in[k].name, name))
            k++;
        if (k == s->nin) {
            s->in[k] = (sb_input_t){ .name = name, .fd = -1 };
            if (!(s->in[k].visible = jobs_pathf ("%s/pfs/%s", path, name)))
                abort ();
            s->nin++;
        }
        s->in_of[i] = k;
    }
    if (open_layout (s, err) < 0) {
        int e = errno;
        sandbox_close (s);
        errno = e;
        return NULL;
    }
    return s;
}

void sandbox_close (sandbox_t *s)
{
    if (!s)
        return;
    close_layout (s);
    close_fd (&s->trash);
    for (size_t i = 0; i < s->nin; i++)
        free (s->in[i].visible);
    free (s->in);
    free (s->in_of);
    free (s->path);
    free (s->trash_path);
    free (s->pfs_path);
    free (s->out_path);
    for (size_t i = 1; i < s->nslot; i++)
        free (s->slot[i].path);
    free (s->slot);
    free (s->buf);
    free (s);
}

/* pfs/<name> as a folder, bound read-only where inputs are. */
static int input_dir (sandbox_t *s, sb_input_t *in, dr_error_t *err)
{
    if (in->fd >= 0)
        return 0;
    if (mkdirat (s->pfs, in->name, 0755) < 0 && errno != EEXIST)
        return dr_path_error (err, "cannot create", in->visible, errno);
    if ((in->fd = open_dir (s->pfs, in->name, &in->ino)) < 0) {
        /* Something else has the name: it goes. */
        if (io_remove_tree (in->visible) < 0
            || mkdirat (s->pfs, in->name, 0755) < 0
            || (in->fd = open_dir (s->pfs, in->name, &in->ino)) < 0)
            return dr_path_error (err, "cannot create", in->visible, errno);
    }
    if (runner_ro_active ()) {
        if (runner_ro_bind (in->visible) == 0)
            in->bound = true;
        else
            dr_log (LOG_DEBUG, "%s: cannot bind read-only: %s", in->visible,
                    strerror (errno));
    }
    return 0;
}

/* The whole repo as the entry: pfs/<name> is a link to it (or, with
 * empty_files, an empty copy of it, bound read-only). */
static int whole_entry (sandbox_t *s, sb_input_t *in, const jobs_input_t *pi,
                        dr_error_t *err)
{
    if (in->whole)
        return 0;   /* a group datum may name it twice */
    if (in->fd >= 0) {
        /* Left by an earlier datum's entries (empty after its reset). */
        input_drop (in);
        if (unlinkat (s->pfs, in->name, AT_REMOVEDIR) < 0 && errno != ENOENT
            && io_remove_tree (in->visible) < 0)
            return dr_path_error (err, "cannot remove", in->visible, errno);
    }
    if (pi->empty_files) {
        if (io_stage_empty (pi->repo, in->visible, err) < 0)
            return -1;
        in->whole = true;
        if (runner_ro_active () && runner_ro_bind (in->visible) == 0)
            in->bound = true;
        return 0;
    }
    if (symlinkat (pi->repo, s->pfs, in->name) < 0 && errno != EEXIST)
        return dr_path_error (err, "cannot link", in->visible, errno);
    in->whole = true;
    return 0;
}

/* An empty_files entry: an empty file (or tree of them) at rel. */
static int empty_entry (sb_input_t *in, const char *target, const char *rel,
                        dr_error_t *err)
{
    char *link = writable_path (in, rel);
    char *slash = strrchr (link, '/');
    int rc = 0;
    *slash = '\0';
    if (io_mkdirs (link, 0755) < 0) {
        int e = errno;
        char *v = jobs_pathf ("%s/%s", in->visible, rel);
        if (!v)
            abort ();
        *strrchr (v, '/') = '\0';
        rc = dr_path_error (err, "cannot create", v, e);
        free (v);
    }
    *slash = '/';
    if (rc == 0)
        rc = io_stage_empty (target, link, err);
    free (link);
    return rc;
}

static int link_entry (sandbox_t *s, sb_input_t *in, const jobs_input_t *pi,
                       const char *rel, dr_error_t *err)
{
    /* The kernel takes no longer path in one call. */
    if (strlen (in->visible) + 1 + strlen (rel) >= PATH_MAX)
        return dr_path_error (err, "cannot link",
                              sb_pathf (s, "%s/%s", in->visible, rel),
                              ENAMETOOLONG);
    if (input_dir (s, in, err) < 0)
        return -1;
    const char *target = sb_pathf (s, "%s/%s", pi->repo, rel);
    if (pi->empty_files)
        return empty_entry (in, target, rel, err);
    if (symlinkat (target, in->fd, rel) == 0 || errno == EEXIST)
        return 0;   /* EEXIST: a group datum may name one path twice */
    if (errno == ENOENT && strchr (rel, '/')) {
        /* The folders of its repo-relative path. */
        char *dir = writable_path (in, rel);
        *strrchr (dir, '/') = '\0';
        int rc = io_mkdirs (dir, 0755);
        int e = errno;
        free (dir);
        if (rc < 0) {
            /* Named as the command would see it. */
            const char *v = sb_pathf (s, "%s/%s", in->visible, rel);
            *strrchr ((char *)v, '/') = '\0';
            return dr_path_error (err, "cannot create", v, e);
        }
        target = sb_pathf (s, "%s/%s", pi->repo, rel);
        if (symlinkat (target, in->fd, rel) == 0 || errno == EEXIST)
            return 0;
    }
    return dr_path_error (err, "cannot link",
                          sb_pathf (s, "%s/%s", in->visible, rel), errno);
}

int sandbox_enter (sandbox_t *s, const wdatum_t *d, bool links,
                   dr_error_t *err)
{
    const jobs_spec_t *spec = s->spec;
    s->linked |= links;
    s->out_empty = false;
    for (uint32_t i = 0; i < d->nentries; i++) {
        if (d->input[i] >= spec->npfs)
            return dr_errprintf (err, "bad input index %u", d->input[i]);
        const jobs_input_t *pi = spec->pfs[d->input[i]];
        sb_input_t *in = &s->in[s->in_of[d->input[i]]];
        if (!links && !pi->empty_files)
            continue;
        int rc = d->path[i][0] ? link_entry (s, in, pi, d->path[i], err)
                               : whole_entry (s, in, pi, err);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- reset */

static int trash_fd (sandbox_t *s)
{
    if (s->trash < 0) {
        if (mkdir (s->trash_path, 0755) < 0 && errno != EEXIST)
            return -1;
        s->trash = open_dir (AT_FDCWD, s->trash_path, NULL);
    }
    return s->trash;
}

/* Move name (beneath at) out of the way; 0 when it is gone. */
static int discard (sandbox_t *s, int at, const char *name,
                    const char *path)
{
    char num[32];
    snprintf (num, sizeof (num), "%lu", s->ntrash++);
    int t = trash_fd (s);
    if (t >= 0 && renameat (at, name, t, num) == 0)
        return 0;
    if (errno == ENOENT)
        return 0;
    if (unlinkat (at, name, 0) == 0 || errno == ENOENT)
        return 0;
    return io_remove_tree (path);
}

/* Remove every entry of the folder fd (at path, writable) but those keep()
 * accepts.  Returns a bit mask of the kept names keep() reported seen
 * (bit i for its answer i + 1), or -1 when the folder cannot be read. */
typedef int (*keep_fn) (const sandbox_t *s, const struct dirent64 *de);

static int scan_dir (sandbox_t *s, int fd, const char *path, keep_fn keep)
{
    int seen = 0;
    bool removed;
    do {
        removed = false;
        if (lseek (fd, 0, SEEK_SET) < 0)
            return -1;
        for (;;) {
            ssize_t n = getdents64 (fd, s->dents, sizeof (s->dents));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            for (ssize_t off = 0; off < n;) {
                struct dirent64 *de = (struct dirent64 *)(s->dents + off);
                off += de->d_reclen;
                const char *nm = de->d_name;
                if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
                    continue;
                int k = keep ? keep (s, de) : 0;
                if (k > 0) {
                    seen |= 1 << (k - 1);
                    continue;
                }
                char *p = jobs_pathf ("%s/%s", path, nm);
                if (p)
                    io_remove_tree (p);
                free (p);
                removed = true;
            }
            if (DENTS_AT_END (n, s))
                break;
        }
        /* Removing while reading may skip entries: read it again. */
    } while (removed);
    return seen;
}

static int keep_root (const sandbox_t *s, const struct dirent64 *de)
{
    if (!strcmp (de->d_name, "pfs"))
        return de->d_ino == s->pfs_ino ? 1 : 0;
    return s->win >= 0 && !strcmp (de->d_name, "window")
                   && de->d_ino == s->win_ino
               ? 2
               : 0;
}

static int keep_pfs (const sandbox_t *s, const struct dirent64 *de)
{
    if (!strcmp (de->d_name, "out"))
        return de->d_ino == s->out_ino ? 1 : 0;
    for (size_t i = 0; i < s->nin; i++) {
        const sb_input_t *in = &s->in[i];
        if (strcmp (de->d_name, in->name))
            continue;
        /* An input's folder that is ours; anything else under its name
         * goes. */
        return in->fd >= 0 && de->d_ino == in->ino ? 2 : 0;
    }
    return 0;
}

/* 1 when the folder fd holds nothing, 0 when it holds something, -1 on
 * an error: one rewind and (for a small folder) one read. */
static int dir_empty (sandbox_t *s, int fd)
{
    if (lseek (fd, 0, SEEK_SET) < 0)
        return -1;
    for (;;) {
        ssize_t n = getdents64 (fd, s->dents, sizeof (s->dents));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -1 : 1;
        for (ssize_t off = 0; off < n;) {
            struct dirent64 *de = (struct dirent64 *)(s->dents + off);
            off += de->d_reclen;
            const char *nm = de->d_name;
            if (!(nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2]))))
                return 0;
        }
        if (DENTS_AT_END (n, s))
            return 1;
    }
}

/* Still the folder we opened?  The command may have removed or renamed
 * it and made another: then only a scan by path is right. */
static bool same_dir (int at, const char *name, ino_t ino)
{
    struct stat st;
    return fstatat (at, name, &st, AT_SYMLINK_NOFOLLOW) == 0
           && st.st_ino == ino && S_ISDIR (st.st_mode);
}

/* A window slot's folder name under <sandbox>/window. */
static void slot_name (unsigned slot, char name[16])
{
    snprintf (name, 16, "%u", slot);
}

static int keep_slot (const sandbox_t *s, const struct dirent64 *de)
{
    char *end;
    unsigned long i = strtoul (de->d_name, &end, 10);
    return !*end && i > 0 && i < s->nslot && s->slot[i].fd >= 0
                   && de->d_ino == s->slot[i].ino
               ? 1
               : 0;
}

int sandbox_out_empty (sandbox_t *s, unsigned slot)
{
    if (slot == 0) {
        if (!same_dir (s->pfs, "out", s->out_ino))
            return -1;
        int rc = dir_empty (s, s->out);
        s->out_empty = rc == 1;
        return rc;
    }
    if (slot >= s->nslot || s->slot[slot].fd < 0 || s->win < 0)
        return -1;
    struct sb_slot *sl = &s->slot[slot];
    char name[16];
    slot_name (slot, name);
    if (!same_dir (s->win, name, sl->ino))
        return -1;
    int rc = dir_empty (s, sl->fd);
    sl->empty = rc == 1;
    return rc;
}

const char *sandbox_out_dir (sandbox_t *s, unsigned slot, dr_error_t *err)
{
    if (slot == 0)
        return s->out_path;
    if (s->root < 0) {
        dr_errprintf (err, "sandbox %s: its layout is gone", s->path);
        return NULL;
    }
    if (slot >= s->nslot) {
        struct sb_slot *n = realloc (s->slot, (slot + 1) * sizeof (*n));
        if (!n)
            abort ();
        for (size_t i = s->nslot; i <= slot; i++)
            n[i] = (struct sb_slot){ .fd = -1 };
        s->slot = n;
        s->nslot = slot + 1;
    }
    struct sb_slot *sl = &s->slot[slot];
    if (!sl->path && !(sl->path = jobs_pathf ("%s/window/%u", s->path, slot)))
        abort ();
    if (sl->fd >= 0)
        return sl->path;
    if (s->win < 0) {
        /* Made afresh: what an earlier command left there is no one's. */
        io_remove_tree (sb_pathf (s, "%s/window", s->path));
        if (mkdirat (s->root, "window", 0755) < 0) {
            dr_path_error (err, "cannot create", sl->path, errno);
            return NULL;
        }
        if ((s->win = open_dir (s->root, "window", &s->win_ino)) < 0) {
            dr_path_error (err, "cannot open", sl->path, errno);
            return NULL;
        }
    }
    char name[16];
    slot_name (slot, name);
    if (mkdirat (s->win, name, 0755) < 0 && errno != EEXIST) {
        dr_path_error (err, "cannot create", sl->path, errno);
        return NULL;
    }
    if ((sl->fd = open_dir (s->win, name, &sl->ino)) < 0) {
        dr_path_error (err, "cannot open", sl->path, errno);
        return NULL;
    }
    sl->empty = false;
    return sl->path;
}

/* Empty one window folder (its outputs were moved, or the datum failed):
 * the relayout when it is no longer the folder we made. */
static void leave_slot (sandbox_t *s, unsigned slot)
{
    struct sb_slot *sl = &s->slot[slot];
    if (sl->fd < 0)
        return;
    char name[16];
    slot_name (slot, name);
    if (!sl->empty && (!same_dir (s->win, name, sl->ino)
                       || scan_dir (s, sl->fd, sl->path, NULL) < 0)) {
        io_remove_tree (sl->path);
        close_fd (&sl->fd);
    }
    sl->empty = false;
}

/* Rebuild the layout from scratch: the command removed or replaced one of
 * its folders. */
static void relayout (sandbox_t *s)
{
    dr_error_t err = { { 0 } };
    close_layout (s);
    io_remove_tree (sb_pathf (s, "%s/pfs", s->path));
    io_remove_tree (sb_pathf (s, "%s/window", s->path));
    if (open_layout (s, &err) < 0)
        dr_log (LOG_WARN, "sandbox %s: %s", s->path, err.text);
}

void sandbox_leave_slot (sandbox_t *s, unsigned slot)
{
    if (slot == 0) {
        if (!s->out_empty && s->out >= 0
            && scan_dir (s, s->out, s->out_path, NULL) < 0)
            relayout (s);
        s->out_empty = false;
    }
    else if (slot < s->nslot && s->win >= 0)
        leave_slot (s, slot);
}

void sandbox_leave (sandbox_t *s, const wdatum_t *d)
{
    const jobs_spec_t *spec = s->spec;
    if (s->root < 0) {
        relayout (s);
        return;
    }
    for (uint32_t i = 0; i < d->nentries; i++) {
        if (d->input[i] >= spec->npfs)
            continue;
        const jobs_input_t *pi = spec->pfs[d->input[i]];
        sb_input_t *in = &s->in[s->in_of[d->input[i]]];
        const char *rel = d->path[i];
        if (!s->linked && !pi->empty_files)
            continue;
        if (!rel[0]) {
            if (!in->whole)
                continue;
            if (in->bound)
                runner_ro_unbind (in->visible);
            in->bound = in->whole = false;
            discard (s, s->pfs, in->name, in->visible);
            continue;
        }
        if (in->fd < 0)
            continue;
        char *wp = NULL;
        if (discard (s, in->fd, rel, (wp = writable_path (in, rel))) < 0)
            in->dirty = true;
        free (wp);
        /* The folders of its repo-relative path, deepest first; the
         * input's own folder stays for the next datum. */
        if (strchr (rel, '/')) {
            char *p = strdup (rel), *slash;
            if (!p)
                abort ();
            while ((slash = strrchr (p, '/'))) {
                *slash = '\0';
                if (unlinkat (in->fd, p, AT_REMOVEDIR) < 0)
                    break;
            }
            free (p);
        }
    }
    s->linked = false;
    /* Whatever else the command left anywhere in the sandbox goes. */
    int root_seen = scan_dir (s, s->root, s->path, keep_root);
    if (root_seen < 0 || !(root_seen & 1)) {
        relayout (s);
        return;
    }
    int seen = scan_dir (s, s->pfs, s->pfs_path, keep_pfs);
    if (seen < 0 || !(seen & 1)) {
        relayout (s);
        return;
    }
    for (size_t k = 0; k < s->nin; k++) {
        sb_input_t *in = &s->in[k];
        /* A read-only folder holds only what the worker put there. */
        if (in->fd >= 0 && (!in->bound || in->dirty)) {
            char *wp = writable_path (in, "");
            if (scan_dir (s, in->fd, wp, NULL) < 0)
                input_drop (in);
            free (wp);
            in->dirty = false;
        }
    }
    /* The window's folders: whatever a command left in them goes. */
    if (s->win >= 0) {
        if (!(root_seen & 2) || !same_dir (s->root, "window", s->win_ino)) {
            io_remove_tree (sb_pathf (s, "%s/window", s->path));
            for (size_t i = 1; i < s->nslot; i++)
                close_fd (&s->slot[i].fd);
            close_fd (&s->win);
        }
        else {
            scan_dir (s, s->win, sb_pathf (s, "%s/window", s->path),
                      keep_slot);
            for (unsigned i = 1; i < s->nslot; i++)
                leave_slot (s, i);
        }
    }
    /* pfs/out was read just now, when the datum's outputs were taken. */
    sandbox_leave_slot (s, 0);
}
