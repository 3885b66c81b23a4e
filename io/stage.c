/* stage.c: moving a datum's outputs into place.  Workers scan what the
 * user command wrote under pfs/out and rename each file into the output
 * folder with RENAME_NOREPLACE, so that two datums writing one path is
 * caught atomically by the file system even when they finish at the same
 * moment on different ranks, and nothing already in place is overwritten.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"

/* Only the missing tail of the path costs system calls: the common case
 * (parent exists) is one mkdir. */
int io_mkdirs (const char *path, mode_t mode)
{
    if (mkdir (path, mode) == 0)
        return 0;
    if (errno == EEXIST) {
        struct stat st;
        if (stat (path, &st) == 0 && S_ISDIR (st.st_mode))
            return 0;
        errno = ENOTDIR;
        return -1;
    }
    if (errno != ENOENT)
        return -1;
    char *buf = strdup (path);
    if (!buf)
        return -1;
    size_t len = strlen (buf);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    char *slash = strrchr (buf, '/');
    int rc = -1;
    if (!slash || slash == buf)
        errno = ENOENT;
    else {
        *slash = '\0';
        if (io_mkdirs (buf, mode) == 0
            && (mkdir (path, mode) == 0 || errno == EEXIST))
            rc = 0;
    }
    int e = errno;
    free (buf);
    errno = e;
    return rc;
}

static int remove_at (int dfd, const char *name)
{
    if (unlinkat (dfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    int fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
                                  | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir (fd);
    if (!d) {
        close (fd);
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir (d))) {
        if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
            continue;
        if (remove_at (dirfd (d), de->d_name) < 0)
            rc = -1;
    }
    closedir (d);
    if (rc == 0 && unlinkat (dfd, name, AT_REMOVEDIR) < 0
        && errno != ENOENT)
        rc = -1;
    return rc;
}

int io_remove_tree (const char *path)
{
    return remove_at (AT_FDCWD, path);
}

typedef struct scan {
    io_outlist_t *ol;
    size_t cap;
    char *path;             /* the folder or file being looked at */
    size_t pathcap;         /* bytes allocated at path */
} scan_t;

/* Make room for a path of len bytes (and its NUL) in s->path. */
static int scan_room (scan_t *s, size_t len)
{
    if (len < s->pathcap)
        return 0;
    size_t ncap = s->pathcap ? s->pathcap : 256;
    while (ncap <= len)
        ncap *= 2;
    char *np = realloc (s->path, ncap);
    if (!np)
        return -1;
    s->path = np;
    s->pathcap = ncap;
    return 0;
}

static int add_path (scan_t *s, size_t rootlen, uint64_t size)
{
    io_outlist_t *ol = s->ol;
    if (ol->n == s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 16;
        char **np = realloc (ol->paths, ncap * sizeof (*np));
        if (!np)
            return -1;
        ol->paths = np;
        uint64_t *ns = realloc (ol->sizes, ncap * sizeof (*ns));
        if (!ns)
            return -1;
        ol->sizes = ns;
        s->cap = ncap;
    }
    if (!(ol->paths[ol->n] = strdup (s->path + rootlen + 1)))
        return -1;
    ol->sizes[ol->n++] = size;
    ol->bytes += size;
    return 0;
}

static int scan_dir (scan_t *s, size_t len, size_t rootlen,
                     dr_error_t *err)
{
    DIR *d = opendir (s->path);
    if (!d)
        return dr_path_error (err, "cannot read the output folder", s->path,
                              errno);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir (d))) {
        if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
            continue;
        size_t nl = strlen (de->d_name);
        if (scan_room (s, len + 1 + nl) < 0) {
            rc = dr_errprintf (err, "out of memory scanning the outputs");
            break;
        }
        s->path[len] = '/';
        memcpy (s->path + len + 1, de->d_name, nl + 1);
        struct stat st;
        const char *shown = s->path + rootlen + 1;
        if (lstat (s->path, &st) < 0)
            rc = dr_path_error (err, "cannot read output", s->path, errno);
        else if (S_ISLNK (st.st_mode)) {
            /* PFS stores content, not links: the output gets a copy of
             * what the link leads to, then is scanned like any other. */
            if (io_link_materialize (s->path, shown, err) < 0)
                rc = -1;
            else if (lstat (s->path, &st) < 0)
                rc = dr_path_error (err, "cannot read output", s->path,
                                    errno);
        }
        if (rc == 0 && S_ISDIR (st.st_mode))
            rc = scan_dir (s, len + 1 + nl, rootlen, err);
        else if (rc == 0 && S_ISREG (st.st_mode)) {
            if (add_path (s, rootlen, (uint64_t)st.st_size) < 0)
                rc = dr_errprintf (err, "out of memory");
        }
        else if (rc == 0)
            rc = dr_errprintf (err, "%s is %s: only regular files and "
                               "folders can be outputs", shown,
                               S_ISFIFO (st.st_mode)   ? "a FIFO"
                               : S_ISSOCK (st.st_mode) ? "a socket"
                               : S_ISCHR (st.st_mode)  ? "a character device"
                               : S_ISBLK (st.st_mode)  ? "a block device"
                                                       : "of an unknown kind");
        s->path[len] = '\0';
    }
    closedir (d);
    return rc;
}

typedef struct pair {
    char *path;
    uint64_t size;
} pair_t;

static int cmp_pair (const void *a, const void *b)
{
    return strcmp (((const pair_t *)a)->path, ((const pair_t *)b)->path);
}

int io_outlist_scan (const char *dir, io_outlist_t *out, dr_error_t *err)
{
    memset (out, 0, sizeof (*out));
    scan_t s = { .ol = out };
    size_t len = strlen (dir);
    if (scan_room (&s, len) < 0)
        return dr_errprintf (err, "out of memory scanning the outputs");
    memcpy (s.path, dir, len + 1);
    int rc = scan_dir (&s, len, len, err);
    free (s.path);
    if (rc < 0) {
        io_outlist_free (out);
        return -1;
    }
    /* Sizes travel with their paths: sort (path, size) pairs. */
    if (out->n > 1) {
        pair_t *pairs = malloc (out->n * sizeof (*pairs));
        if (!pairs) {
            io_outlist_free (out);
            return dr_errprintf (err, "out of memory");
        }
        for (size_t i = 0; i < out->n; i++)
            pairs[i] = (pair_t){ out->paths[i], out->sizes[i] };
        qsort (pairs, out->n, sizeof (*pairs), cmp_pair);
        for (size_t i = 0; i < out->n; i++) {
            out->paths[i] = pairs[i].path;
            out->sizes[i] = pairs[i].size;
        }
        free (pairs);
    }
    return 0;
}

void io_outlist_free (io_outlist_t *out)
{
    int saved = errno;
    if (out) {
        for (size_t i = 0; i < out->n; i++)
            free (out->paths[i]);
        free (out->paths);
        free (out->sizes);
        free (out->mtimes);
        memset (out, 0, sizeof (*out));
    }
    errno = saved;
}

/* Move one file from src to rel beneath the output folder rootfd: never
 * replacing, never through a link; a copy when they are on different file
 * systems.  Fills *st with what landed. */
static int move_one (const char *src, int rootfd, const char *rel,
                     struct stat *st)
{
    const char *leaf;
    int pfd = io_beneath_parent (rootfd, rel, true, &leaf);
    if (pfd < 0)
        return -1;
    int rc = renameat2 (AT_FDCWD, src, pfd, leaf, RENAME_NOREPLACE);
    if (rc < 0 && errno == EXDEV && (rc = io_copy_noreplace_at (src, pfd,
                                                                leaf)) == 0)
        unlink (src);
    if (rc == 0 && fstatat (pfd, leaf, st, AT_SYMLINK_NOFOLLOW) < 0)
        memset (st, 0, sizeof (*st));
    int e = errno;
    close (pfd);
    errno = e;
    return rc;
}

/* Put back a file this datum moved (its collision elsewhere undoes it). */
static void unmove_one (const char *src, int rootfd, const char *rel)
{
    const char *leaf;
    int pfd = io_beneath_parent (rootfd, rel, false, &leaf);
    if (pfd >= 0) {
        (void)renameat2 (pfd, leaf, AT_FDCWD, src, RENAME_NOREPLACE);
        close (pfd);
    }
    io_remove_output_at (rootfd, rel);
}

int io_outlist_move (io_outlist_t *ol, const char *src_dir,
                     const char *dst_dir, char **collision, dr_error_t *err)
{
    *collision = NULL;
    if (!ol->n)
        return 0;
    free (ol->mtimes);
    if (!(ol->mtimes = calloc (ol->n, sizeof (*ol->mtimes))))
        return dr_errprintf (err, "out of memory");
    int rootfd = open (dst_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0 && errno == ENOENT && io_mkdirs (dst_dir, 0755) == 0)
        rootfd = open (dst_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return dr_path_error (err, "cannot open the output folder", dst_dir,
                              errno);
    for (size_t i = 0; i < ol->n; i++) {
        struct stat st;
        char *src = jobs_pathf ("%s/%s", src_dir, ol->paths[i]);
        int e = ENOMEM;
        if (src && move_one (src, rootfd, ol->paths[i], &st) == 0) {
            ol->sizes[i] = (uint64_t)st.st_size;
            ol->mtimes[i] = (int64_t)st.st_mtim.tv_sec * 1000000000
                            + st.st_mtim.tv_nsec;
            free (src);
            continue;
        }
        if (src)
            e = errno;
        /* Put back what this datum already moved: the output folder must
         * hold only what succeeded datums own. */
        for (size_t j = 0; j < i; j++) {
            char *back = jobs_pathf ("%s/%s", src_dir, ol->paths[j]);
            if (back)
                unmove_one (back, rootfd, ol->paths[j]);
            free (back);
        }
        close (rootfd);
        int rc;
        if (e == EEXIST || e == ENOTEMPTY || e == EISDIR || e == ENOTDIR) {
            *collision = strdup (ol->paths[i]);
            errno = EEXIST;
            rc = dr_errprintf (err, "%s/%s already exists", dst_dir,
                               ol->paths[i]);
        }
        else if (e == ELOOP) {
            errno = e;
            rc = dr_errprintf (err, "cannot move %s to %s/%s: a folder on "
                               "the way is a symbolic link (never "
                               "followed in the output folder)", ol->paths[i],
                               dst_dir, ol->paths[i]);
        }
        else if (!src)
            rc = dr_errprintf (err, "out of memory moving %s", ol->paths[i]);
        else
            rc = dr_path_error (err, "cannot move output", src, e);
        int saved = errno;      /* what the caller reads the outcome from */
        free (src);
        errno = saved;
        return rc;
    }
    close (rootfd);
    return 0;
}
