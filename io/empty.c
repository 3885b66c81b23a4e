/* empty.c: Pachyderm's `empty_files` input option.  Instead of a link to
 * the repo entry, the datum's sandbox gets zero-length regular files of the
 * same names: a command that needs only the names (to list, to count, to
 * pass paths on) reads nothing.  A directory entry becomes the same tree
 * of folders holding empty files.  The repo is only read.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"

#define MAXDEPTH 256

/* Mirror the directory sfd as empty files under the directory dfd. */
static int mirror (int sfd, int dfd, const char *src, int depth,
                   dr_error_t *err)
{
    if (depth > MAXDEPTH) {
        errno = ELOOP;
        return dr_errprintf (err, "%s: folders nested more than %d deep",
                             src, MAXDEPTH);
    }
    int fd = dup (sfd);
    DIR *d = fd < 0 ? NULL : fdopendir (fd);
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close (fd);
        errno = e;
        return dr_errprintf (err, "%s: cannot read: %s", src, strerror (e));
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0) {
        errno = 0;
        if (!(de = readdir (d))) {
            if (errno)
                rc = dr_errprintf (err, "%s: cannot read: %s", src,
                                   strerror (errno));
            break;
        }
        const char *n = de->d_name;
        if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])))
            continue;
        struct stat st;
        /* A link in the repo stands for what it points to, as for the
         * glob; one that dangles is an empty file. */
        if (fstatat (sfd, n, &st, 0) < 0 && fstatat (sfd, n, &st,
                                                     AT_SYMLINK_NOFOLLOW) < 0)
            continue;       /* removed since it was listed */
        if (S_ISDIR (st.st_mode) && de->d_type != DT_LNK) {
            if (mkdirat (dfd, n, 0755) < 0 && errno != EEXIST) {
                rc = dr_errprintf (err, "%s/%s: cannot create: %s", src, n,
                                   strerror (errno));
                break;
            }
            int cs = openat (sfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
                                         | O_CLOEXEC);
            int cd = openat (dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
                                         | O_CLOEXEC);
            if (cs < 0 || cd < 0)
                rc = dr_errprintf (err, "%s/%s: cannot open: %s", src, n,
                                   strerror (errno));
            else {
                size_t sl = strlen (src);
                char sub[sl + strlen (n) + 2];
                memcpy (sub, src, sl);
                sub[sl] = '/';
                strcpy (sub + sl + 1, n);
                rc = mirror (cs, cd, sub, depth + 1, err);
            }
            if (cs >= 0)
                close (cs);
            if (cd >= 0)
                close (cd);
            continue;
        }
        int f = openat (dfd, n, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                        0644);
        if (f < 0) {
            rc = dr_errprintf (err, "%s/%s: cannot create an empty file: %s",
                               src, n, strerror (errno));
            break;
        }
        close (f);
    }
    closedir (d);
    return rc;
}

int io_stage_empty (const char *src, const char *dst, dr_error_t *err)
{
    struct stat st;
    if (stat (src, &st) < 0 || !S_ISDIR (st.st_mode)) {
        /* A file, a dangling link or something gone: an empty file. */
        int f = open (dst, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f < 0)
            return dr_errprintf (err, "%s: cannot create an empty file: %s",
                                 dst, strerror (errno));
        close (f);
        return 0;
    }
    if (mkdir (dst, 0755) < 0 && errno != EEXIST)
        return dr_errprintf (err, "%s: cannot create: %s", dst,
                             strerror (errno));
    int sfd = open (src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dfd = open (dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc;
    if (sfd < 0 || dfd < 0)
        rc = dr_errprintf (err, "%s: cannot open: %s", sfd < 0 ? src : dst,
                           strerror (errno));
    else
        rc = mirror (sfd, dfd, src, 0, err);
    if (sfd >= 0)
        close (sfd);
    if (dfd >= 0)
        close (dfd);
    return rc;
}

/* vi: ts=4 sw=4 expandtab
 */
