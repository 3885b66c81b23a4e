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
    char buf[4096];
    size_t len = strlen (path);
    if (len >= sizeof (buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy (buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    char *slash = strrchr (buf, '/');
    if (!slash || slash == buf) {
        errno = ENOENT;
        return -1;
    }
    *slash = '\0';
    if (io_mkdirs (buf, mode) < 0)
        return -1;
    if (mkdir (path, mode) == 0 || errno == EEXIST)
        return 0;
    return -1;
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

int io_remove_output (const char *root, const char *rel)
{
    char buf[4096];
    if (snprintf (buf, sizeof (buf), "%s/%s", root, rel)
        >= (int)sizeof (buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (unlink (buf) < 0 && errno != ENOENT)
        return -1;
    /* Prune folders the datum's files leave empty, never root itself. */
    size_t rlen = strlen (root);
    char *slash;
    while ((slash = strrchr (buf + rlen + 1, '/'))) {
        *slash = '\0';
        if (rmdir (buf) < 0)
            break;
    }
    return 0;
}

typedef struct scan {
    io_outlist_t *ol;
    size_t cap;
    char path[4096];
} scan_t;

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
        return dr_errprintf (err, "%s: %s", s->path, strerror (errno));
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir (d))) {
        if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
            continue;
        size_t nl = strlen (de->d_name);
        if (len + 1 + nl >= sizeof (s->path)) {
            rc = dr_errprintf (err, "%s/%s: path too long", s->path,
                               de->d_name);
            break;
        }
        s->path[len] = '/';
        memcpy (s->path + len + 1, de->d_name, nl + 1);
        struct stat st;
        if (lstat (s->path, &st) < 0)
            rc = dr_errprintf (err, "%s: %s", s->path, strerror (errno));
        else if (S_ISDIR (st.st_mode))
            rc = scan_dir (s, len + 1 + nl, rootlen, err);
        else if (add_path (s, rootlen, (uint64_t)st.st_size) < 0)
            rc = dr_errprintf (err, "out of memory");
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
    if (len >= sizeof (s.path))
        return dr_errprintf (err, "%s: path too long", dir);
    memcpy (s.path, dir, len + 1);
    if (scan_dir (&s, len, len, err) < 0) {
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
        memset (out, 0, sizeof (*out));
    }
    errno = saved;
}

/* Copy src to a temporary name beside dst and link it into place without
 * replacing: the cross-file-system fallback of rename. */
static int copy_noreplace (const char *src, const char *dst)
{
    char tmp[4200];
    snprintf (tmp, sizeof (tmp), "%s.datumrun-tmp.%d", dst, (int)getpid ());
    int in = open (src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close (in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read (in, buf, sizeof (buf))) > 0) {
        if (write (out, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    }
    if (n < 0)
        rc = -1;
    close (in);
    if (close (out) < 0)
        rc = -1;
    if (rc == 0)
        rc = link (tmp, dst);
    int saved = errno;
    unlink (tmp);
    if (rc == 0)
        unlink (src);
    errno = saved;
    return rc;
}

static int move_one (const char *src, const char *dst)
{
    if (renameat2 (AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == ENOENT) {
        /* The destination folder is missing: make it and try again. */
        char dir[4096];
        snprintf (dir, sizeof (dir), "%s", dst);
        char *slash = strrchr (dir, '/');
        if (slash) {
            *slash = '\0';
            if (io_mkdirs (dir, 0755) < 0)
                return -1;
        }
        if (renameat2 (AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
            return 0;
    }
    if (errno == EXDEV)
        return copy_noreplace (src, dst);
    return -1;
}

int io_outlist_move (const io_outlist_t *ol, const char *src_dir,
                     const char *dst_dir, char **collision, dr_error_t *err)
{
    char src[4096], dst[4096];
    *collision = NULL;
    for (size_t i = 0; i < ol->n; i++) {
        snprintf (src, sizeof (src), "%s/%s", src_dir, ol->paths[i]);
        snprintf (dst, sizeof (dst), "%s/%s", dst_dir, ol->paths[i]);
        if (move_one (src, dst) == 0)
            continue;
        int e = errno;
        /* Put back what this datum already moved: the output folder must
         * hold only what succeeded datums own. */
        for (size_t j = 0; j < i; j++) {
            snprintf (src, sizeof (src), "%s/%s", src_dir, ol->paths[j]);
            snprintf (dst, sizeof (dst), "%s/%s", dst_dir, ol->paths[j]);
            (void)rename (dst, src);
            io_remove_output (dst_dir, ol->paths[j]);
        }
        if (e == EEXIST || e == ENOTEMPTY || e == EISDIR || e == ENOTDIR) {
            *collision = strdup (ol->paths[i]);
            errno = EEXIST;
            return dr_errprintf (err, "%s/%s already exists", dst_dir,
                                 ol->paths[i]);
        }
        errno = e;
        return dr_errprintf (err, "cannot move %s to %s: %s", src, dst,
                             strerror (e));
    }
    return 0;
}
