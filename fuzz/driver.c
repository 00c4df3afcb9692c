/*
 * Runs a fuzz target over files, without libFuzzer: the regression run of
 * the kept corpora and crashes inside `make test`, with gcc's sanitizers.
 */

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);


int
main(int argc, char **argv)
{
    int             i;
    long            n;
    FILE           *f;
    unsigned char  *buf;

    for (i = 1; i < argc; i++) {
        f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            return 1;
        }

        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);

        buf = malloc(n ? n : 1);
        if (fread(buf, 1, n, f) != (size_t) n) {
            perror(argv[i]);
            return 1;
        }

        fclose(f);

        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }

    printf("%s: %d inputs\n", argv[0], argc - 1);

    return 0;
}
