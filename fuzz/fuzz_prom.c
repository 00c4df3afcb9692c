/*
 * The Prometheus text format: any label value, escaped, reads back as
 * itself; its sample line is one line of exactly the predicted length,
 * with no raw quote, backslash or line feed inside the label value.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    size_t                      n, len, i, j;
    uint64_t                    v;
    unsigned char              *out, *back;
    ngx_http_snap_prom_label_t  label;

    v = 0;

    for (i = 0; i < size && i < 8; i++) {
        v = v << 8 | data[i];
    }

    label.name = "v";
    label.value = data;
    label.len = size;

    len = ngx_http_snap_prom_sample(NULL, "m", NULL, &label, 1, v, size % 7);
    out = malloc(len);

    n = ngx_http_snap_prom_sample(out, "m", NULL, &label, 1, v, size % 7);

    if (n != len || out[n - 1] != '\n' || memchr(out, '\n', n - 1) != NULL
        || memcmp(out, "m{v=\"", 5) != 0)
    {
        abort();
    }

    /* unescape the value back: it ends at the first unescaped quote */
    back = malloc(size + 1);
    j = 0;

    for (i = 5; i < n && out[i] != '"'; i++) {
        if (out[i] == '\\') {
            i++;

            if (i == n) {
                abort();
            }

            back[j++] = (out[i] == 'n') ? '\n' : out[i];
            continue;
        }

        back[j++] = out[i];
    }

    if (j != size || (size && memcmp(back, data, size) != 0)
        || i + 2 >= n || out[i + 1] != '}' || out[i + 2] != ' ')
    {
        abort();
    }

    free(back);
    free(out);

    return 0;
}
