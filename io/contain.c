/* contain.c: every path datumrun deletes or writes inside an output folder
 * goes through here, relative to a descriptor of that folder.  A relative
 * path from an inflight list, the manifest or a datum's outputs must be
 * clean (no "..", no ".", no empty component, not absolute), and no
 * component is ever followed through a symbolic link: the walk opens each
 * folder with O_NOFOLLOW (or asks openat2 for RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS in one call where the kernel has it), so neither a
 * forged list nor a link planted in the output folder can reach a file
 * outside it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef __has_include
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define HAVE_OPENAT2_H 1
#endif
#endif

#include "io/io.h"

bool io_path_is_clean (const char *rel)
{
    if (!rel || !rel[0] || rel[0] == '/')
        return false;
    const char *p = rel;
    for (;;) {
        const char *slash = strchr (p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen (p);
        if (n == 0 || (n == 1 && p[0] == '.')
            || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

#if defined(HAVE_OPENAT2_H) && defined(SYS_openat2)
/* One system call for the whole walk; -1 with ENOSYS on old kernels. */
static int open_beneath2 (int rootfd, const char *dir)
{
    static int missing;
    if (missing) {
        errno = ENOSYS;
        return -1;
    }
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
                   | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall (SYS_openat2, rootfd, dir, &how, sizeof (how));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM))
        missing = 1;    /* EPERM: a seccomp filter that does not know it */
    if (fd < 0 && missing)
        errno = ENOSYS;
    return fd;
}
#else
static int open_beneath2 (int rootfd, const char *dir)
{
    (void)rootfd;
    (void)dir;
    errno = ENOSYS;
    return -1;
}
#endif

/* Walk dir (clean, relative) component by component. */
static int walk (int rootfd, char *dir, bool create)
{
    int fd = dup (rootfd);
    if (fd < 0)
        return -1;
    char *p = dir;
    while (*p) {
        char *slash = strchr (p, '/');
        if (slash)
            *slash = '\0';
        int nfd = openat (fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
                                     | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && create) {
            if (mkdirat (fd, p, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                close (fd);
                errno = e;
                return -1;
            }
            nfd = openat (fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
                                     | O_CLOEXEC);
        }
        if (slash)
            *slash = '/';
        int e = errno;
        close (fd);
        if (nfd < 0) {
            /* A symlink where a folder should be reads as ELOOP or
             * ENOTDIR depending on the kernel: say ELOOP for both when
             * it is one. */
            errno = e;
            return -1;
        }
        fd = nfd;
        if (!slash)
            break;
        p = slash + 1;
    }
    return fd;
}

int io_beneath_parent (int rootfd, const char *rel, bool create,
                       const char **leaf)
{
    if (!io_path_is_clean (rel)) {
        errno = EINVAL;
        return -1;
    }
    const char *slash = strrchr (rel, '/');
    *leaf = slash ? slash + 1 : rel;
    if (!slash)
        return dup (rootfd);
    size_t n = (size_t)(slash - rel);
    char *dir = malloc (n + 1);
    if (!dir)
        return -1;
    memcpy (dir, rel, n);
    dir[n] = '\0';
    int fd = open_beneath2 (rootfd, dir);
    if (fd < 0 && (errno == ENOSYS || (errno == ENOENT && create)))
        fd = walk (rootfd, dir, create);
    int e = errno;
    free (dir);
    errno = e;
    return fd;
}

int io_remove_output_at (int rootfd, const char *rel)
{
    const char *leaf;
    int fd = io_beneath_parent (rootfd, rel, false, &leaf);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    int rc = 0;
    if (unlinkat (fd, leaf, 0) < 0 && errno != ENOENT)
        rc = -1;
    int e = errno;
    close (fd);
    if (rc < 0) {
        errno = e;
        return -1;
    }
    /* Prune the folders the file leaves empty, deepest first, never the
     * output folder itself; each through its own checked parent. */
    size_t len = strlen (rel);
    char *dir = malloc (len + 1);
    if (!dir)
        return 0;
    memcpy (dir, rel, len + 1);
    char *slash;
    while ((slash = strrchr (dir, '/'))) {
        *slash = '\0';
        int pfd = io_beneath_parent (rootfd, dir, false, &leaf);
        if (pfd < 0)
            break;
        int r = unlinkat (pfd, leaf, AT_REMOVEDIR);
        close (pfd);
        if (r < 0)
            break;
    }
    free (dir);
    return 0;
}

int io_remove_output (const char *root, const char *rel)
{
    int rootfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return errno == ENOENT ? 0 : -1;
    int rc = io_remove_output_at (rootfd, rel);
    int e = errno;
    close (rootfd);
    errno = e;
    return rc;
}

int io_stat_output_at (int rootfd, const char *rel, struct stat *st)
{
    if (!io_path_is_clean (rel)) {
        errno = EINVAL;
        return -1;
    }
    return fstatat (rootfd, rel, st, AT_SYMLINK_NOFOLLOW);
}

/* ---------------------------------------------------------- copying */

/* Copy the regular file open at in to a new file name in dirfd. */
static int copy_fd_to (int in, int dirfd, const char *name, mode_t mode)
{
    int out = openat (dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW
                                       | O_CLOEXEC, mode & 07777);
    if (out < 0)
        return -1;
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read (in, buf, sizeof (buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write (out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = -1;
                break;
            }
            done += w;
        }
        if (rc < 0)
            break;
    }
    int e = errno;
    /* On disk before it is linked to its final name: after a crash that
     * name holds the whole file or nothing (node-local scratch). */
    if (rc == 0 && fsync (out) < 0) {
        rc = -1;
        e = errno;
    }
    if (close (out) < 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc < 0)
        unlinkat (dirfd, name, 0);
    errno = e;
    return rc;
}

int io_copy_noreplace_at (const char *src, int dirfd, const char *leaf)
{
    char tmp[300];
    int in = open (src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    struct stat st;
    if (fstat (in, &st) < 0) {
        int e = errno;
        close (in);
        errno = e;
        return -1;
    }
    snprintf (tmp, sizeof (tmp), ".datumrun-tmp.%d.%.200s", (int)getpid (),
              leaf);
    int rc = copy_fd_to (in, dirfd, tmp, st.st_mode);
    close (in);
    if (rc < 0)
        return -1;
    /* link() never replaces: a collision is caught as with rename. */
    rc = linkat (dirfd, tmp, dirfd, leaf, 0);
    int e = errno;
    unlinkat (dirfd, tmp, 0);
    errno = e;
    return rc;
}

/* Ancestors of the folder being copied, by (dev, ino): a link back to one
 * of them is a loop. */
typedef struct chain {
    const struct chain *up;
    dev_t dev;
    ino_t ino;
} chain_t;

static bool in_chain (const chain_t *c, const struct stat *st)
{
    for (; c; c = c->up)
        if (c->dev == st->st_dev && c->ino == st->st_ino)
            return true;
    return false;
}

static int materialize (const char *src, const char *dst, const char *shown,
                        const chain_t *up, int depth, dr_error_t *err);

/* Copy the folder src (already stat'ed as st) to the new folder dst. */
static int copy_dir (const char *src, const struct stat *st, const char *dst,
                     const char *shown, const chain_t *up, int depth,
                     dr_error_t *err)
{
    if (in_chain (up, st))
        return dr_errprintf (err, "%s: a symbolic link loop (it leads back "
                             "to a folder that contains it)", shown);
    if (depth > 64)
        return dr_errprintf (err, "%s: folders nested more than 64 deep "
                             "behind a symbolic link", shown);
    chain_t me = { up, st->st_dev, st->st_ino };
    if (mkdir (dst, (st->st_mode & 07777) | 0700) < 0)
        return dr_errprintf (err, "%s: cannot create: %s", dst,
                             strerror (errno));
    DIR *d = opendir (src);
    if (!d)
        return dr_errprintf (err, "%s: cannot read %s: %s", shown, src,
                             strerror (errno));
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir (d))) {
        if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
            continue;
        char *s = NULL, *t = NULL, *sh = NULL;
        if (asprintf (&s, "%s/%s", src, de->d_name) < 0)
            s = NULL;
        if (asprintf (&t, "%s/%s", dst, de->d_name) < 0)
            t = NULL;
        if (asprintf (&sh, "%s/%s", shown, de->d_name) < 0)
            sh = NULL;
        if (!s || !t || !sh)
            rc = dr_errprintf (err, "%s: out of memory", shown);
        else
            rc = materialize (s, t, sh, &me, depth + 1, err);
        free (s);
        free (t);
        free (sh);
    }
    closedir (d);
    return rc;
}

static const char *kind_name (mode_t m)
{
    return S_ISFIFO (m)   ? "a FIFO"
           : S_ISSOCK (m) ? "a socket"
           : S_ISCHR (m)  ? "a character device"
           : S_ISBLK (m)  ? "a block device"
                          : "not a regular file or folder";
}

/* Copy what src leads to (following links) to the new path dst. */
static int materialize (const char *src, const char *dst, const char *shown,
                        const chain_t *up, int depth, dr_error_t *err)
{
    struct stat st;
    if (stat (src, &st) < 0) {
        if (errno == ELOOP)
            return dr_errprintf (err, "%s: a symbolic link loop", shown);
        if (errno == ENOENT)
            return dr_errprintf (err, "%s: a dangling symbolic link (its "
                                 "target does not exist)", shown);
        return dr_errprintf (err, "%s: %s", shown, strerror (errno));
    }
    if (S_ISDIR (st.st_mode))
        return copy_dir (src, &st, dst, shown, up, depth, err);
    if (!S_ISREG (st.st_mode))
        return dr_errprintf (err, "%s is %s: only regular files and folders "
                             "can be outputs", shown, kind_name (st.st_mode));
    int in = open (src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return dr_errprintf (err, "%s: cannot read: %s", shown,
                             strerror (errno));
    int rc = copy_fd_to (in, AT_FDCWD, dst, st.st_mode);
    int e = errno;
    close (in);
    if (rc < 0)
        return dr_errprintf (err, "%s: cannot copy to %s: %s", shown, dst,
                             strerror (e));
    return 0;
}

int io_link_materialize (const char *link, const char *shown, dr_error_t *err)
{
    struct stat st;
    if (stat (link, &st) < 0)
        return materialize (link, NULL, shown, NULL, 0, err);
    if (!S_ISREG (st.st_mode) && !S_ISDIR (st.st_mode))
        return materialize (link, NULL, shown, NULL, 0, err);
    /* A link to a folder that holds the link itself would copy forever:
     * its ancestors are the chain the copy must not meet. */
    chain_t *anc = NULL;
    char *dir = strdup (link);
    if (!dir)
        return dr_errprintf (err, "%s: out of memory", shown);
    char *slash;
    int rc = 0;
    while ((slash = strrchr (dir, '/')) && slash != dir) {
        *slash = '\0';
        struct stat ds;
        if (stat (dir, &ds) < 0)
            break;
        chain_t *c = malloc (sizeof (*c));
        if (!c) {
            rc = dr_errprintf (err, "%s: out of memory", shown);
            break;
        }
        *c = (chain_t){ anc, ds.st_dev, ds.st_ino };
        anc = c;
    }
    free (dir);
    char *tmp = NULL;
    if (rc == 0 && asprintf (&tmp, "%s.datumrun-copy", link) < 0) {
        tmp = NULL;
        rc = dr_errprintf (err, "%s: out of memory", shown);
    }
    if (rc == 0) {
        io_remove_tree (tmp);
        rc = materialize (link, tmp, shown, anc, 0, err);
        if (rc == 0 && (unlink (link) < 0 || rename (tmp, link) < 0))
            rc = dr_errprintf (err, "%s: cannot replace the link by its "
                               "copy: %s", shown, strerror (errno));
        if (rc < 0)
            io_remove_tree (tmp);
    }
    free (tmp);
    while (anc) {
        chain_t *up = (chain_t *)anc->up;
        free (anc);
        anc = up;
    }
    return rc;
}
