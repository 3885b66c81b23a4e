/* fuzz_proto.c: libFuzzer harness for the wire protocol's decoders
 * (runner/proto.c): the first byte picks the message (0 ASSIGN, 1 RESULT,
 * 2 STOP), the rest is its body as a peer would send it.  A decoded
 * message is packed again and decoded again: the answers must agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runner/proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t *copy = malloc (size);
    if (!copy)
        return 0;
    memcpy (copy, data + 1, size - 1);
    buf_t b = { .data = copy, .len = size - 1, .cap = size };
    switch (data[0] % 3) {
    case 0: {
        char job[33];
        wdatum_t *v;
        size_t n;
        if (proto_assign_unpack (&b, job, &v, &n) == 0) {
            for (size_t i = 0; i < n; i++) {
                if (!v[i].join_key || !v[i].group_key)
                    abort ();
                for (uint32_t k = 0; k < v[i].nentries; k++)
                    if (!v[i].path[k])
                        abort ();
                wdatum_free (&v[i]);
            }
            free (v);
        }
        else if (v || n)
            abort ();   /* a refused message leaves nothing behind */
        break;
    }
    case 1: {
        wresult_t r;
        if (proto_result_unpack (&b, &r) == 0) {
            buf_t again = { 0 };
            proto_result_pack (&r, &again);
            wresult_t r2;
            if (proto_result_unpack (&again, &r2) < 0 || r2.didx != r.didx
                || r2.outcome != r.outcome || r2.outs.n != r.outs.n)
                abort ();
            wresult_free (&r2);
            buf_free (&again);
        }
        wresult_free (&r);
        break;
    }
    default:
        (void)proto_stop_unpack (&b);
        break;
    }
    free (copy);
    return 0;
}
