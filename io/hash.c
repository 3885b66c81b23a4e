/* hash.c: XXH3-128 hashes of bytes, streams and files; content hashes of
 * files and directory trees through the stat cache. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/io.h"

static void put_be64 (uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void from_xxh (XXH128_hash_t x, io_hash_t *out)
{
    put_be64 (out->b, x.high64);
    put_be64 (out->b + 8, x.low64);
}

void io_hash_bytes (const void *data, size_t len, io_hash_t *out)
{
    from_xxh (XXH3_128bits (data, len), out);
}

void io_hash_hex (const io_hash_t *h, char out[33])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[h->b[i] >> 4];
        out[2 * i + 1] = digits[h->b[i] & 15];
    }
    out[32] = '\0';
}

/* Hex digit values plus one, 0 for anything else: the manifest decodes
 * five hex hashes per datum record when it opens. */
static const uint8_t hexvals[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
    ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int io_hash_from_hex (const char *hex, io_hash_t *out)
{
    /* One pass: a NUL maps to 0 (bad) like any other non-hex byte, and
     * stops the walk at the pair it is in. */
    int bad = 0;
    io_hash_t v;
    for (int i = 0; i < 16 && !bad; i++) {
        int hi = hexvals[(unsigned char)hex[2 * i]];
        int lo = hi ? hexvals[(unsigned char)hex[2 * i + 1]] : 0;
        bad = !hi | !lo;
        v.b[i] = (uint8_t)(((hi - 1) & 15) << 4 | ((lo - 1) & 15));
    }
    if (!bad && hex[32])
        bad = 1;
    if (!bad)
        *out = v;
    if (bad) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}


bool io_hash_is_zero (const io_hash_t *h)
{
    static const io_hash_t zero;
    return io_hash_eq (h, &zero);
}

struct io_hasher {
    XXH3_state_t *st;
};

io_hasher_t *io_hasher_create (void)
{
    io_hasher_t *h = malloc (sizeof (*h));
    if (!h)
        return NULL;
    if (!(h->st = XXH3_createState ())) {
        free (h);
        errno = ENOMEM;
        return NULL;
    }
    XXH3_128bits_reset (h->st);
    return h;
}

void io_hasher_reset (io_hasher_t *h)
{
    XXH3_128bits_reset (h->st);
}

void io_hasher_update (io_hasher_t *h, const void *data, size_t len)
{
    XXH3_128bits_update (h->st, data, len);
}

void io_hasher_digest (io_hasher_t *h, io_hash_t *out)
{
    from_xxh (XXH3_128bits_digest (h->st), out);
}

void io_hasher_destroy (io_hasher_t *h)
{
    int saved = errno;
    if (h) {
        XXH3_freeState (h->st);
        free (h);
    }
    errno = saved;
}

/* A growable path: the stat cache's key and the name in messages.  The
 * tree itself is walked with directory descriptors (openat, fstatat), so
 * that no depth or length of path is too much for it. */
typedef struct hpath {
    char *s;
    size_t len, cap;
} hpath_t;

static int hp_reserve (hpath_t *p, size_t extra)
{
    if (p->len + extra + 1 <= p->cap)
        return 0;
    size_t ncap = p->cap ? p->cap : 256;
    while (ncap < p->len + extra + 1)
        ncap *= 2;
    char *n = realloc (p->s, ncap);
    if (!n)
        return -1;
    p->s = n;
    p->cap = ncap;
    return 0;
}

/* Stream the open file fd through XXH3 in fixed-size blocks; closes fd. */
static int hash_file_contents (int fd, const char *path, io_hash_t *out,
                               dr_error_t *err)
{
    static __thread char buf[1 << 17];
    XXH3_state_t *st = XXH3_createState ();
    if (!st) {
        close (fd);
        return dr_errprintf (err, "%s: out of memory", path);
    }
    XXH3_128bits_reset (st);
    for (;;) {
        ssize_t n = read (fd, buf, sizeof (buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            XXH3_freeState (st);
            close (fd);
            return dr_errprintf (err, "%s: read error: %s", path,
                                 strerror (e));
        }
        if (n == 0)
            break;
        XXH3_128bits_update (st, buf, (size_t)n);
    }
    from_xxh (XXH3_128bits_digest (st), out);
    XXH3_freeState (st);
    close (fd);
    return 0;
}

/* Depth of directory recursion in progress: 0 at a datum's own entry. */
static __thread int sc_depth;

static int cmp_names (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

static int hash_path (io_statcache_t *sc, int dfd, const char *name,
                      hpath_t *path, bool rehash, io_hash_t *out,
                      uint64_t *bytes, dr_error_t *err);

/* A directory hashes its sorted children's names, kinds and hashes. */
static int hash_dir (io_statcache_t *sc, int dfd, const char *name,
                     hpath_t *path, bool rehash, io_hash_t *out,
                     uint64_t *bytes, dr_error_t *err)
{
    int fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir (fd);
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close (fd);
        return dr_errprintf (err, "%s: cannot read directory: %s", path->s,
                             strerror (e));
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = -1;
    io_hasher_t *h = NULL;
    while ((de = readdir (d))) {
        if (io_name_reserved (de->d_name))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nn = realloc (names, cap * sizeof (*nn));
            if (!nn)
                goto done;
            names = nn;
        }
        if (!(names[n] = strdup (de->d_name)))
            goto done;
        n++;
    }
    if (n > 1)
        qsort (names, n, sizeof (*names), cmp_names);
    if (!(h = io_hasher_create ()))
        goto done;
    io_hasher_update (h, "dir", 4);
    size_t plen = path->len;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen (names[i]);
        if (hp_reserve (path, nl + 1) < 0)
            goto done;
        path->s[plen] = '/';
        memcpy (path->s + plen + 1, names[i], nl + 1);
        path->len = plen + 1 + nl;
        io_hash_t child;
        uint64_t cb = 0;
        int r = hash_path (sc, dirfd (d), names[i], path, rehash, &child, &cb,
                           err);
        path->len = plen;
        path->s[plen] = '\0';
        if (r < 0)
            goto done;
        *bytes += cb;
        io_hasher_update (h, names[i], nl + 1);
        io_hasher_update (h, child.b, sizeof (child.b));
    }
    io_hasher_digest (h, out);
    rc = 0;
done:
    if (rc < 0 && err && !err->text[0])
        dr_errprintf (err, "%s: out of memory", path->s);
    for (size_t i = 0; i < n; i++)
        free (names[i]);
    free (names);
    io_hasher_destroy (h);
    closedir (d);
    return rc;
}

/* A symlink that cannot be followed (dangling, a loop) or that points at a
 * directory inside a directory datum hashes as its target string: the walk
 * never follows links into directories, so neither does hashing. */
static int hash_link (int dfd, const char *name, const char *path,
                      io_hash_t *out, dr_error_t *err)
{
    size_t cap = 256;
    char *target = NULL;
    ssize_t n;
    for (;;) {
        char *t = realloc (target, cap);
        if (!t) {
            free (target);
            return dr_errprintf (err, "%s: out of memory", path);
        }
        target = t;
        n = readlinkat (dfd, name, target, cap);
        if (n < 0) {
            int e = errno;
            free (target);
            return dr_errprintf (err, "%s: %s", path, strerror (e));
        }
        if ((size_t)n < cap)
            break;
        cap *= 2;
    }
    io_hasher_t *h = io_hasher_create ();
    if (!h) {
        free (target);
        return dr_errprintf (err, "%s: out of memory", path);
    }
    io_hasher_update (h, "link", 5);
    io_hasher_update (h, target, (size_t)n);
    io_hasher_digest (h, out);
    io_hasher_destroy (h);
    free (target);
    return 0;
}

static int hash_path (io_statcache_t *sc, int dfd, const char *name,
                      hpath_t *hp, bool rehash, io_hash_t *out,
                      uint64_t *bytes, dr_error_t *err)
{
    const char *path = hp->s;
    struct stat st;
    if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return dr_errprintf (err, "%s: %s", path, strerror (errno));
    if (S_ISLNK (st.st_mode)) {
        /* A datum's own entry (the first call) may be a link to a folder;
         * below it, links to folders are not followed. */
        if (fstatat (dfd, name, &st, 0) < 0
            || (S_ISDIR (st.st_mode) && sc_depth > 0))
            return hash_link (dfd, name, path, out, err);
    }
    if (S_ISDIR (st.st_mode)) {
        sc_depth++;
        int rc = hash_dir (sc, dfd, name, hp, rehash, out, bytes, err);
        sc_depth--;
        return rc;
    }
    io_stat_entry_t e = {
        .size = (uint64_t)st.st_size,
        .mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000
                    + st.st_mtim.tv_nsec,
        .ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000
                    + st.st_ctim.tv_nsec,
        .ino = st.st_ino,
        .dev = st.st_dev,
    };
    *bytes = e.size;
    if (sc && !rehash) {
        const io_stat_entry_t *c = io_statcache_get (sc, path);
        /* ctime too: a same-size rewrite that restores the old mtime
         * (cp -p, rsync -t, touch -r) cannot restore the ctime. */
        if (c && c->size == e.size && c->mtime_ns == e.mtime_ns
            && c->ctime_ns == e.ctime_ns && c->ino == e.ino
            && c->dev == e.dev) {
            *out = c->hash;
            return 0;
        }
    }
    if (!S_ISREG (st.st_mode)) {
        /* Devices, fifos and sockets hash by kind only: reading them
         * could block or never end. */
        io_hash_bytes ("special", 8, &e.hash);
    }
    else {
        int fd = openat (dfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return dr_errprintf (err, "%s: cannot read: %s", path,
                                 strerror (errno));
        if (hash_file_contents (fd, path, &e.hash, err) < 0)
            return -1;
    }
    /* A file modified within the last moments could change again within
     * the same timestamp tick at the same size, unseen by the stat check:
     * like git's racy entries, it is not cached and will be read again. */
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    int64_t changed_ns = e.mtime_ns > e.ctime_ns ? e.mtime_ns : e.ctime_ns;
    bool racy = changed_ns > now_ns - 2000000000LL;
    if (sc && !racy && io_statcache_put (sc, path, &e) < 0)
        return dr_errprintf (err, "%s: out of memory", path);
    *out = e.hash;
    return 0;
}

int io_open_parent (const char *path, const char **name)
{
    const char *slash = strrchr (path, '/');
    *name = slash ? slash + 1 : path;
    if (strlen (path) < PATH_MAX || !slash) {
        *name = path;
        return AT_FDCWD;
    }
    /* Longer than the kernel takes in one call: open the folders a few
     * components at a time, each step shorter than PATH_MAX. */
    int fd = open (path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY
                                                   | O_CLOEXEC);
    const char *p = path;
    while (fd >= 0 && p < slash) {
        while (*p == '/' && p < slash)
            p++;
        if (p >= slash)
            break;
        /* Whole components, up to about PATH_MAX / 2 bytes. */
        const char *cut = p;
        for (;;) {
            const char *nx = memchr (cut, '/', (size_t)(slash - cut));
            nx = nx ? nx : slash;
            if (cut > p && (size_t)(nx - p) >= PATH_MAX / 2)
                break;
            cut = nx;
            if (cut >= slash)
                break;
            cut++;
        }
        char *chunk = strndup (p, (size_t)(cut - p));
        int nfd = chunk ? openat (fd, chunk, O_PATH | O_DIRECTORY
                                                 | O_CLOEXEC)
                        : -1;
        int e = errno;
        free (chunk);
        close (fd);
        errno = e;
        fd = nfd;
        p = cut;
    }
    return fd < 0 ? -1 : fd;
}

int io_content_hash (io_statcache_t *sc, const char *path, bool rehash,
                     io_hash_t *out, uint64_t *bytes, dr_error_t *err)
{
    hpath_t hp = { 0 };
    size_t len = strlen (path);
    if (hp_reserve (&hp, len) < 0)
        return dr_errprintf (err, "%s: out of memory", path);
    memcpy (hp.s, path, len + 1);
    hp.len = len;
    const char *name;
    int dfd = io_open_parent (path, &name);
    if (dfd == -1) {
        int e = errno;
        free (hp.s);
        return dr_errprintf (err, "%s: %s", path, strerror (e));
    }
    *bytes = 0;
    int rc = hash_path (sc, dfd, name, &hp, rehash, out, bytes, err);
    if (dfd >= 0)
        close (dfd);
    free (hp.s);
    return rc;
}
