/*
 * The floor: one round trip through the C ABI with the built-in `mock` provider (no network),
 * liter_llm_invoke() then liter_llm_free(), in a loop.
 *
 *   floor [seconds] [calls_per_batch] [openai_base_url]
 *
 * With a base URL, each call goes to that OpenAI-compatible server instead (the mock upstream):
 * the core's own cost of an HTTP call, with no language binding in the way.
 *
 * Times batches of calls with a monotonic clock until `seconds` pass (after a warm-up) and prints
 * one JSON object: the median, 10th and 90th percentile of nanoseconds per call over batches,
 * and this process's CPU time per call.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "liter_llm.h"

#define MAX_BATCHES 100000

#define MESSAGES                                                                                             \
    "\"messages\": ["                                                                                         \
    "{\"role\": \"system\", \"content\": \"You are a concise assistant for a customer-support team.\"},"   \
    "{\"role\": \"user\", \"content\": \"A customer says their order arrived with a cracked screen protector.\"}]," \
    " \"max_tokens\": 256, \"temperature\": 0.2"

static const char *provider = "mock";
static char request[4096] = "{\"model\": \"demo\", " MESSAGES "}";

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double cpu_ns(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return ((double)usage.ru_utime.tv_sec + (double)usage.ru_stime.tv_sec) * 1e9 +
           ((double)usage.ru_utime.tv_usec + (double)usage.ru_stime.tv_usec) * 1e3;
}

/* Context switches of every thread of the process so far: voluntary, involuntary. */
static void switches(double *voluntary, double *involuntary) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    *voluntary = (double)usage.ru_nvcsw;
    *involuntary = (double)usage.ru_nivcsw;
}

static int call_once(void) {
    int32_t len = 0;
    char *out = liter_llm_invoke(provider, request, &len);
    if (out == NULL || len <= 0) {
        fprintf(stderr, "floor: the %s call failed: %s\n", provider, out ? out : "(NULL)");
        liter_llm_free(out);
        return -1;
    }
    liter_llm_free(out);
    return 0;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int batch = argc > 2 ? atoi(argv[2]) : 1000;
    if (seconds <= 0 || batch <= 0) {
        fprintf(stderr, "usage: floor [seconds > 0] [calls_per_batch > 0] [openai_base_url]\n");
        return 2;
    }
    if (argc > 3) {
        provider = "openai";
        int n = snprintf(request, sizeof request, "{\"model\": \"gpt-4o-mini\", \"api_key\": \"sk-bench\", \"base_url\": \"%s\", " MESSAGES "}", argv[3]);
        if (n < 0 || (size_t)n >= sizeof request) {
            fprintf(stderr, "floor: the base URL is too long\n");
            return 2;
        }
    }
    static double per_call[MAX_BATCHES];
    for (int i = 0; i < batch; i++) {
        if (call_once() != 0) return 1;
    }
    int batches = 0;
    double vcs_start, ivcs_start, vcs_end, ivcs_end;
    switches(&vcs_start, &ivcs_start);
    double cpu_start = cpu_ns(), start = now_ns(), end = start + seconds * 1e9;
    while (batches < MAX_BATCHES && now_ns() < end) {
        double t0 = now_ns();
        for (int i = 0; i < batch; i++) {
            if (call_once() != 0) return 1;
        }
        per_call[batches++] = (now_ns() - t0) / batch;
    }
    double calls = (double)batches * batch;
    double cpu_per_call = (cpu_ns() - cpu_start) / calls;
    switches(&vcs_end, &ivcs_end);
    qsort(per_call, (size_t)batches, sizeof per_call[0], compare);
    printf("{\"calls\": %ld, \"batches\": %d, \"median_ns\": %.0f, \"p10_ns\": %.0f, \"p90_ns\": %.0f, "
           "\"cpu_ns_per_call\": %.0f, \"voluntary_cs_per_call\": %.3f, \"involuntary_cs_per_call\": %.3f, "
           "\"calls_total\": %ld, \"version\": \"%s\"}\n",
           (long)batches * batch, batches, per_call[batches / 2], per_call[batches / 10],
           per_call[batches * 9 / 10], cpu_per_call, (vcs_end - vcs_start) / calls, (ivcs_end - ivcs_start) / calls,
           (long)(batches + 1) * batch, liter_llm_version());
    return 0;
}
