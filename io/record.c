/* record.c: a datum record's strings.  Its inputs text and its output
 * paths live in one allocation (inputs, NUL, padding, the outputs array,
 * the paths), so that a million records cost one malloc each and the
 * journal and the HDF5 file can hand over their concatenated form as is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/manifest_int.h"

static size_t align8 (size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* One block: [inputs NUL][pad][char *outputs[nout]][u64 sizes[nout]]
 * [i64 mtimes[nout]][outbuf].  Sizes and mtimes start unknown. */
static size_t block_size (size_t ilen, size_t outlen, size_t nout)
{
    return align8 (ilen + 1)
           + nout * (sizeof (char *) + sizeof (uint64_t) + sizeof (int64_t))
           + outlen;
}

/* Lay the block out at `block` (malloc'd when NULL). */
static int alloc_strings_at (io_datum_rec_t *rec, size_t ilen, size_t outlen,
                             size_t nout, char **outdst, char *block)
{
    /* The file formats count in 32 bits; this also keeps sums exact. */
    if (ilen >= UINT32_MAX || outlen >= UINT32_MAX || nout >= UINT32_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t at = align8 (ilen + 1);
    size_t arrays = nout * (sizeof (char *) + sizeof (uint64_t)
                            + sizeof (int64_t));
    if (!block && !(block = malloc (at + arrays + outlen)))
        return -1;
    rec->inputs = block;
    rec->outputs = nout ? (char **)(void *)(block + at) : NULL;
    rec->out_sizes = nout ? (uint64_t *)(void *)(block + at
                                                 + nout * sizeof (char *))
                          : NULL;
    rec->out_mtimes = nout ? (int64_t *)(void *)(block + at + nout
                                                 * (sizeof (char *)
                                                    + sizeof (uint64_t)))
                           : NULL;
    for (size_t k = 0; k < nout; k++) {
        rec->out_sizes[k] = 0;
        rec->out_mtimes[k] = IO_MTIME_UNKNOWN;
    }
    rec->noutputs = nout;
    *outdst = block + at + arrays;
    return 0;
}

static int alloc_strings (io_datum_rec_t *rec, size_t ilen, size_t outlen,
                          size_t nout, char **outdst)
{
    return alloc_strings_at (rec, ilen, outlen, nout, outdst, NULL);
}

size_t io_inputs_len (const char *inputs)
{
    const char *e = inputs;
    if (!e)
        return 0;
    while (*e)
        e += strlen (e) + 1;
    return (size_t)(e - inputs);
}

/* An inputs list of ilen bytes is well-formed: non-empty entries, each
 * NUL-terminated. */
static bool inputs_ok (const char *inputs, size_t ilen)
{
    if (ilen == 0)
        return true;
    if (inputs[0] == '\0' || inputs[ilen - 1] != '\0')
        return false;
    for (size_t i = 1; i < ilen; i++)
        if (inputs[i] == '\0' && inputs[i - 1] == '\0')
            return false;
    return true;
}

int io__inputs_from_lines (const char *text, size_t len, char **out,
                           size_t *outlen)
{
    char *s = malloc (len + 2), *q = s;
    if (!s)
        return -1;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr (text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
        if (n) {
            if (memchr (text + i, '\0', n)) {
                free (s);
                errno = EINVAL;
                return -1;
            }
            memcpy (q, text + i, n);
            q += n;
            *q++ = '\0';
        }
        i += n + 1;
    }
    *q = '\0';
    *out = s;
    *outlen = (size_t)(q - s);
    return 0;
}

int io__datum_set_strings (io_datum_rec_t *rec, const char *inputs,
                           size_t ilen, const char *outbuf, size_t outlen,
                           size_t nout)
{
    if (!inputs_ok (inputs, ilen)
        || (outlen > 0 && outbuf[outlen - 1] != '\0')) {
        errno = EINVAL;
        return -1;
    }
    size_t count = 0;
    for (size_t i = 0; i < outlen; i++)
        count += outbuf[i] == '\0';
    if (count != nout) {
        errno = EINVAL;
        return -1;
    }
    char *dst;
    if (alloc_strings (rec, ilen, outlen, nout, &dst) < 0)
        return -1;
    memcpy (rec->inputs, inputs, ilen);
    rec->inputs[ilen] = '\0';
    memcpy (dst, outbuf, outlen);
    for (size_t k = 0; k < nout; k++) {
        rec->outputs[k] = dst;
        dst += strlen (dst) + 1;
    }
    return 0;
}

/* The bytes of src's inputs list and of its outputs (each with its NUL);
 * -1 with EINVAL for a missing output. */
static int strings_len (const io_datum_rec_t *src, size_t *ilen,
                        size_t *outlen)
{
    *ilen = io_inputs_len (src->inputs ? src->inputs : "");
    *outlen = 0;
    if (src->noutputs && !src->outputs) {
        errno = EINVAL;
        return -1;
    }
    for (size_t k = 0; k < src->noutputs; k++) {
        if (!src->outputs[k]) {
            errno = EINVAL;
            return -1;
        }
        *outlen += strlen (src->outputs[k]) + 1;
    }
    return 0;
}

ssize_t io__datum_strings_size (const io_datum_rec_t *src)
{
    size_t ilen, outlen;
    if (strings_len (src, &ilen, &outlen) < 0)
        return -1;
    if (ilen >= UINT32_MAX || outlen >= UINT32_MAX
        || src->noutputs >= UINT32_MAX) {
        errno = EINVAL;
        return -1;
    }
    return (ssize_t)block_size (ilen, outlen, src->noutputs);
}

int io__datum_copy_strings (io_datum_rec_t *dst, const io_datum_rec_t *src)
{
    return io__datum_copy_strings_at (dst, src, NULL);
}

int io__datum_copy_strings_at (io_datum_rec_t *dst, const io_datum_rec_t *src,
                               void *block)
{
    const char *inputs = src->inputs ? src->inputs : "";
    size_t ilen, outlen;
    if (strings_len (src, &ilen, &outlen) < 0)
        return -1;
    char *p;
    if (alloc_strings_at (dst, ilen, outlen, src->noutputs, &p, block) < 0)
        return -1;
    memcpy (dst->inputs, inputs, ilen);
    dst->inputs[ilen] = '\0';
    for (size_t k = 0; k < src->noutputs; k++) {
        size_t l = strlen (src->outputs[k]) + 1;
        memcpy (p, src->outputs[k], l);
        dst->outputs[k] = p;
        p += l;
        if (src->out_sizes && src->out_mtimes) {
            dst->out_sizes[k] = src->out_sizes[k];
            dst->out_mtimes[k] = src->out_mtimes[k];
        }
    }
    return 0;
}

void io__datum_free_strings (io_datum_rec_t *rec)
{
    free (rec->inputs);
    rec->inputs = NULL;
    rec->outputs = NULL;
    rec->out_sizes = NULL;
    rec->out_mtimes = NULL;
    rec->noutputs = 0;
}

size_t io__datum_outputs_len (const io_datum_rec_t *rec)
{
    size_t len = 0;
    for (size_t k = 0; k < rec->noutputs; k++)
        len += strlen (rec->outputs[k]) + 1;
    return len;
}

size_t io__datum_block_size (const io_datum_rec_t *rec)
{
    if (!rec->inputs)
        return 0;
    return block_size (io_inputs_len (rec->inputs),
                       io__datum_outputs_len (rec), rec->noutputs);
}

void io__datum_block_move (io_datum_rec_t *rec, void *dst)
{
    char *old = rec->inputs, *to = dst;
    if (!old)
        return;
    memcpy (to, old, io__datum_block_size (rec));
    rec->inputs = to;
    if (rec->noutputs) {
        rec->outputs = (char **)(void *)(to + ((char *)rec->outputs - old));
        rec->out_sizes = (uint64_t *)(void *)(to + ((char *)rec->out_sizes
                                                    - old));
        rec->out_mtimes = (int64_t *)(void *)(to + ((char *)rec->out_mtimes
                                                    - old));
        for (size_t k = 0; k < rec->noutputs; k++)
            rec->outputs[k] = to + (rec->outputs[k] - old);
    }
}
