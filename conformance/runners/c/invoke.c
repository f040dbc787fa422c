/* The C side of the C conformance runner: one call through the C ABI, exactly as a C program
 * makes it. Usage: invoke [PROVIDER] < request.json
 * Prints the returned JSON; exits 0 for a response, 3 for an error result, 2 on misuse. */
#include <stdio.h>
#include <stdlib.h>

#include "liter_llm.h"

int main(int argc, char **argv) {
    size_t cap = 1 << 16, len = 0;
    char *request = malloc(cap);
    if (request == NULL) return 2;
    size_t n;
    while ((n = fread(request + len, 1, cap - len - 1, stdin)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *grown = realloc(request, cap *= 2);
            if (grown == NULL) { free(request); return 2; }
            request = grown;
        }
    }
    request[len] = '\0';
    int32_t out_len = 0;
    char *out = liter_llm_invoke(argc > 1 ? argv[1] : NULL, request, &out_len);
    free(request);
    if (out == NULL) return 2;
    fputs(out, stdout);
    liter_llm_free(out);
    return out_len < 0 ? 3 : 0;
}
