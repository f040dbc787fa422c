/* Cache benchmark worker (C, the ABI itself):
 *   c_worker CONFIG_JSON REQUEST_BEFORE_PROMPT REQUEST_AFTER_PROMPT PROMPT VARY CALLS WARMUP
 * The request is BEFORE + prompt + AFTER (the prompt numbered per call when VARY is 1); prints
 * py_worker.py's JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "liter_llm.h"

static double cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static double wall_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static const char *STATUSES[] = {"off", "bypass", "miss", "hit-l1", "hit-l2"};

static unsigned call(uint64_t client, const char *request) {
    int32_t len;
    char *r = liter_llm_client_invoke(client, NULL, request, &len);
    if (r == NULL || len < 0) {
        fprintf(stderr, "call failed: %s\n", r ? r : "(null)");
        exit(1);
    }
    unsigned seen = 0;
    for (unsigned i = 0; i < 5; i++) {
        char needle[32];
        snprintf(needle, sizeof needle, "\"cache\":\"%s\"", STATUSES[i]);
        if (strstr(r, needle)) seen |= 1u << i;
    }
    liter_llm_free(r);
    return seen;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: c_worker CONFIG BEFORE AFTER PROMPT VARY CALLS WARMUP\n");
        return 2;
    }
    const char *before = argv[2], *after = argv[3], *prompt = argv[4];
    int vary = atoi(argv[5]), calls = atoi(argv[6]), warmup = atoi(argv[7]);
    uint64_t client;
    int32_t len;
    char *created = liter_llm_client_new(argv[1], NULL, &client, &len);
    if (len < 0) {
        fprintf(stderr, "client: %s\n", created);
        return 1;
    }
    liter_llm_free(created);
    size_t size = strlen(before) + strlen(after) + strlen(prompt) + 32;
    char **requests = malloc(sizeof(char *) * (size_t)(calls + warmup));
    for (int i = 0; i < calls + warmup; i++) {
        requests[i] = malloc(size);
        if (vary)
            snprintf(requests[i], size, "%s%s %d%s", before, prompt, i, after);
        else
            snprintf(requests[i], size, "%s%s%s", before, prompt, after);
    }
    for (int i = 0; i < warmup; i++) call(client, requests[calls + i]);
    unsigned seen = 0;
    double cpu = cpu_s(), wall = wall_s();
    for (int i = 0; i < calls; i++) seen |= call(client, requests[i]);
    cpu = cpu_s() - cpu;
    wall = wall_s() - wall;
    printf("{\"cpu_us\": %.3f, \"wall_us\": %.3f, \"statuses\": [", cpu * 1e6 / calls, wall * 1e6 / calls);
    const char *sep = "";
    for (unsigned i = 0; i < 5; i++)
        if (seen & (1u << i)) {
            printf("%s\"%s\"", sep, STATUSES[i]);
            sep = ", ";
        }
    printf("]}\n");
    for (int i = 0; i < calls + warmup; i++) free(requests[i]);
    free(requests);
    liter_llm_client_free(client);
    return 0;
}
