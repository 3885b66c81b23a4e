/* fscheck.c: checks made before anything is written, so that a run that
 * must exit 2 leaves no file behind.  A folder the job will create (the
 * output, the state folder) must be a directory already or be creatable:
 * its deepest existing ancestor a writable directory on a file system that
 * stores files (not /proc, /sys and the like).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "io/io.h"

/* File system types whose folders are the kernel's, not the user's. */
static const long pseudo_fs[] = {
    0x9fa0,      /* proc */
    0x62656572,  /* sysfs */
    0x27e0eb,    /* cgroup */
    0x63677270,  /* cgroup2 */
    0x64626720,  /* debugfs */
    0x73636673,  /* securityfs */
    0x1cd1,      /* devpts */
    0x6e736673,  /* nsfs */
    0xcafe4a11,  /* bpf */
    0x74726163,  /* tracefs */
};

int io_check_dir_writable (const char *path, const char *what,
                           dr_error_t *err)
{
    char *p = strdup (path);
    if (!p)
        return dr_errprintf (err, "%s '%s': out of memory", what, path);
    struct stat st;
    bool exists = false;
    /* Walk up to the deepest existing ancestor. */
    for (;;) {
        if (lstat (p, &st) == 0 || stat (p, &st) == 0) {
            if (stat (p, &st) < 0) {
                int e = errno;
                dr_errprintf (err, "%s '%s': '%s' is a dangling link", what,
                              path, p);
                free (p);
                errno = e;
                return -1;
            }
            break;
        }
        if (errno != ENOENT && errno != ENOTDIR) {
            int e = errno;
            dr_errprintf (err, "%s '%s': cannot use '%s': %s", what, path, p,
                          strerror (e));
            free (p);
            errno = e;
            return -1;
        }
        char *slash = strrchr (p, '/');
        if (!slash || slash == p) {
            strcpy (p, "/");
            if (stat (p, &st) < 0) {
                free (p);
                return dr_errprintf (err, "%s '%s': no root", what, path);
            }
            break;
        }
        *slash = '\0';
    }
    exists = !strcmp (p, path);
    int rc = 0;
    struct statfs sf;
    if (!S_ISDIR (st.st_mode)) {
        errno = ENOTDIR;
        rc = exists ? dr_errprintf (err, "%s '%s' is not a directory (it is "
                                    "a %s)", what, path,
                                    S_ISREG (st.st_mode) ? "regular file"
                                                         : "special file")
                    : dr_errprintf (err, "%s '%s': '%s' is not a directory",
                                    what, path, p);
    }
    else if (statfs (p, &sf) == 0) {
        for (size_t i = 0; i < sizeof (pseudo_fs) / sizeof (pseudo_fs[0]);
             i++)
            if ((long)sf.f_type == pseudo_fs[i]) {
                errno = EACCES;
                rc = dr_errprintf (err, "%s '%s' is on a kernel pseudo file "
                                   "system ('%s' holds no files)", what, path,
                                   p);
                break;
            }
    }
    if (rc == 0 && access (p, W_OK | X_OK) < 0) {
        int e = errno;
        rc = dr_errprintf (err, "%s '%s': '%s' is not writable: %s", what,
                           path, p, strerror (e));
        errno = e;
    }
    int e = errno;
    free (p);
    errno = e;
    return rc;
}

int io_check_spec_folders (const jobs_spec_t *spec, dr_error_t *err)
{
    dr_error_t why = { { 0 } };
    if (io_check_dir_writable (spec->output, "output folder", &why) < 0
        || io_check_dir_writable (spec->state_dir, "state folder", &why) < 0)
        return dr_errprintf (err, "%s: %s", spec->path, why.text);
    return 0;
}
