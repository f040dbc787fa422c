/*
 * The floor: one round trip through the C ABI with the built-in `mock` provider (no network),
 * liter_llm_invoke() then liter_llm_free(), in a loop.
 *
 *   floor [--queued N] [seconds] [calls_per_batch] [openai_base_url]
 *
 * With a base URL, each call goes to that OpenAI-compatible server instead (the mock upstream):
 * the core's own cost of an HTTP call, with no language binding in the way.
 *
 * With --queued N, the calls take the shape of Node's binding (and asyncio's): N calls in flight
 * through liter_llm_invoke_queued() on one completion queue, this thread waiting for the queue's
 * fd with poll(2), taking the results with liter_llm_queue_drain() (up to 64 at once), freeing
 * them and starting a new call for each. That is the core's own cost of that path (submit to the
 * runtime, a worker does the I/O and queues the result, the waiting thread wakes and drains),
 * with no binding in the way. A batch is `calls_per_batch` results; every result must be a
 * response (not an error object) whose tag is a call in flight, else it counts in "errors".
 *
 * Times batches of calls with a monotonic clock until `seconds` pass (after a warm-up) and prints
 * one JSON object: the median, 10th and 90th percentile of nanoseconds per call over batches,
 * and this process's CPU time per call.
 */
#define _POSIX_C_SOURCE 199309L
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "liter_llm.h"

#define MAX_BATCHES 100000
/* Events one liter_llm_queue_drain() call moves, as in bindings/node/lib/native.js. */
#define DRAIN_CAPACITY 64
#define MAX_IN_FLIGHT 4096

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

/* The queued mode's state: one completion queue, the calls in flight by tag (a slot index). */
static uint64_t queue;
static struct pollfd queue_fd;
static char in_flight[MAX_IN_FLIGHT];
static long in_flight_count, queued_errors, queued_done;
static char first_error[256];

static void queued_error(const char *what, const char *detail, int32_t len) {
    if (queued_errors++ == 0) {
        snprintf(first_error, sizeof first_error, "%s%s%.*s", what, detail ? ": " : "",
                 detail ? (int)(len < 0 ? -len : len) : 0, detail ? detail : "");
    }
}

static int submit(uint64_t slot) {
    if (liter_llm_invoke_queued(provider, request, queue, slot) == 0) {
        fprintf(stderr, "floor: liter_llm_invoke_queued refused the call\n");
        return -1;
    }
    in_flight[slot] = 1;
    in_flight_count++;
    return 0;
}

/*
 * Waits for the queue's fd, drains once and frees every result; while `more`, starts a new call
 * in each finished call's slot. Returns how many results came, or -1 when the queue is gone.
 */
static int wait_and_drain(int more) {
    static uint64_t tags[DRAIN_CAPACITY];
    static char *data[DRAIN_CAPACITY];
    static int32_t lens[DRAIN_CAPACITY];
    if (poll(&queue_fd, 1, -1) < 0) {
        if (errno == EINTR) return 0;
        perror("floor: poll");
        return -1;
    }
    int32_t n = liter_llm_queue_drain(queue, tags, data, lens, DRAIN_CAPACITY);
    if (n < 0) {
        fprintf(stderr, "floor: liter_llm_queue_drain: the queue is gone\n");
        return -1;
    }
    for (int32_t i = 0; i < n; i++) {
        uint64_t slot = tags[i];
        if (data[i] == NULL || lens[i] <= 0) {
            queued_error(data[i] == NULL ? "a NULL result" : "an error", data[i], lens[i]);
        } else if (strstr(data[i], "\"choices\"") == NULL) {
            queued_error("a result that is not a completion", data[i], lens[i]);
        }
        liter_llm_free(data[i]);
        if (slot >= MAX_IN_FLIGHT || !in_flight[slot]) {
            queued_error("a result with an unknown tag", NULL, 0);
            continue;
        }
        in_flight[slot] = 0;
        in_flight_count--;
        queued_done++;
        if (more && submit(slot) != 0) return -1;
    }
    return n;
}

/* Runs until `calls` more results have come (starting new calls all along); 0, or -1 on failure. */
static int queued_calls(long calls) {
    long until = queued_done + calls;
    while (queued_done < until) {
        if (wait_and_drain(1) < 0) return -1;
    }
    return 0;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int concurrency = 0;
    if (argc > 2 && strcmp(argv[1], "--queued") == 0) {
        concurrency = atoi(argv[2]);
        if (concurrency <= 0 || concurrency > MAX_IN_FLIGHT) {
            fprintf(stderr, "floor: --queued takes 1 to %d calls in flight\n", MAX_IN_FLIGHT);
            return 2;
        }
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int batch = argc > 2 ? atoi(argv[2]) : 1000;
    if (seconds <= 0 || batch <= 0) {
        fprintf(stderr, "usage: floor [--queued N] [seconds > 0] [calls_per_batch > 0] [openai_base_url]\n");
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
    if (concurrency > 0) {
        int32_t fd = -1;
        queue = liter_llm_queue_new(&fd);
        if (queue == 0 || fd < 0) {
            fprintf(stderr, "floor: liter_llm_queue_new failed\n");
            return 1;
        }
        queue_fd.fd = fd;
        queue_fd.events = POLLIN;
        for (int slot = 0; slot < concurrency; slot++) {
            if (submit((uint64_t)slot) != 0) return 1;
        }
        if (queued_calls(batch) != 0) return 1;
    } else {
        for (int i = 0; i < batch; i++) {
            if (call_once() != 0) return 1;
        }
    }
    long done_start = queued_done;
    int batches = 0;
    double vcs_start, ivcs_start, vcs_end, ivcs_end;
    switches(&vcs_start, &ivcs_start);
    double cpu_start = cpu_ns(), start = now_ns(), end = start + seconds * 1e9;
    while (batches < MAX_BATCHES && now_ns() < end) {
        double t0 = now_ns();
        if (concurrency > 0) {
            if (queued_calls(batch) != 0) return 1;
        } else {
            for (int i = 0; i < batch; i++) {
                if (call_once() != 0) return 1;
            }
        }
        per_call[batches++] = (now_ns() - t0) / batch;
    }
    /* The calls still in flight end inside the measurement: their CPU is counted, and so are they. */
    while (concurrency > 0 && in_flight_count > 0) {
        if (wait_and_drain(0) < 0) return 1;
    }
    double calls = concurrency > 0 ? (double)(queued_done - done_start) : (double)batches * batch;
    double cpu_per_call = (cpu_ns() - cpu_start) / calls;
    switches(&vcs_end, &ivcs_end);
    qsort(per_call, (size_t)batches, sizeof per_call[0], compare);
    putchar('{');
    if (concurrency > 0) {
        liter_llm_queue_free(queue);
        /* Every error, the warm-up's included. */
        printf("\"mode\": \"queued\", \"in_flight\": %d, \"errors\": %ld, \"first_error\": \"", concurrency,
               queued_errors);
        for (const char *c = first_error; *c; c++) {
            if (*c == '"' || *c == '\\') putchar('\\');
            if ((unsigned char)*c >= 0x20) putchar(*c);
        }
        printf("\", ");
    }
    printf("\"calls\": %ld, \"batches\": %d, \"median_ns\": %.0f, \"p10_ns\": %.0f, \"p90_ns\": %.0f, "
           "\"cpu_ns_per_call\": %.0f, \"voluntary_cs_per_call\": %.3f, \"involuntary_cs_per_call\": %.3f, "
           "\"calls_total\": %ld, \"version\": \"%s\"}\n",
           (long)calls, batches, per_call[batches / 2], per_call[batches / 10],
           per_call[batches * 9 / 10], cpu_per_call, (vcs_end - vcs_start) / calls, (ivcs_end - ivcs_start) / calls,
           concurrency > 0 ? queued_done : (long)(batches + 1) * batch, liter_llm_version());
    return 0;
}
