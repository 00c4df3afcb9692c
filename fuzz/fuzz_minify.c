/*
 * The minifier: streaming at any split equals one pass, the output has no
 * whitespace outside strings, and minifying twice changes nothing.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"
#include "ngx_http_snap_testing.h"


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int                     in;
    size_t                  split, n, m, i;
    unsigned char          *a, *b, *c, *p;
    ngx_http_snap_minify_t  st;

    if (size == 0) {
        return 0;
    }

    split = data[0] % size;
    data++;
    size--;

    a = malloc(size + 1);
    b = malloc(size + 1);
    c = malloc(size + 1);

    n = ngx_http_snap_test_minify(data, size, a);

    memset(&st, 0, sizeof(st));
    p = b;
    ngx_http_snap_minify(&st, data, split > size ? size : split,
                         ngx_http_snap_copy_emit, &p);
    ngx_http_snap_minify(&st, data + (split > size ? size : split),
                         size - (split > size ? size : split),
                         ngx_http_snap_copy_emit, &p);

    if ((size_t) (p - b) != n || memcmp(a, b, n) != 0) {
        abort();
    }

    m = ngx_http_snap_test_minify(a, n, c);

    if (m != n || memcmp(a, c, n) != 0) {
        abort();
    }

    /* whitespace survives only inside strings */
    for (i = 0, in = 0; i < n; i++) {
        if (in) {
            if (a[i] == '\\') {
                i++;
            } else if (a[i] == '"') {
                in = 0;
            }
            continue;
        }

        if (a[i] == '"') {
            in = 1;
        } else if (a[i] == ' ' || a[i] == '\t' || a[i] == '\r'
                   || a[i] == '\n')
        {
            abort();
        }
    }

    free(a);
    free(b);
    free(c);

    return 0;
}
