/* The C side of the C conformance runner: the calls of one case through the C ABI, exactly as a C
 * program makes them, all in this one process.
 *
 *   invoke [--config JSON] [--calls N] [--stream CANCEL_AFTER] [PROVIDER] < request.json
 *
 * With --config, first liter_llm_configure(JSON); a refused configuration prints
 * `configure_error <json>` and makes no call. Then N calls (default 1) of the request, one after
 * the other, each printing its lines:
 *   - liter_llm_invoke(): `response <json>` or `error <json>` (the error object's envelope);
 *   - with --stream, liter_llm_stream(): `chunk <json>` for each chunk, then `assembled <json>`
 *     (the chunks through liter_llm_stream_assemble()) when the stream completed, `error <json>`
 *     when it failed, or `cancelled` when CANCEL_AFTER (> 0) chunks had arrived and the program
 *     called liter_llm_cancel(); with CANCEL_AFTER 0 it cancels before reading any chunk, when it
 *     receives SIGUSR1 (the runner sends it once the mock upstream has the request);
 *     CANCEL_AFTER -1 reads to the end.
 *
 * Exits 0; 4 when the assembler refused the chunks (`assemble_error <json>`, no call after it);
 * 2 on misuse or when memory runs out. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liter_llm.h"

static char *read_all(FILE *in) {
    size_t cap = 1 << 16, len = 0, n;
    char *text = malloc(cap);
    if (text == NULL) return NULL;
    while ((n = fread(text + len, 1, cap - len - 1, in)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *grown = realloc(text, cap *= 2);
            if (grown == NULL) { free(text); return NULL; }
            text = grown;
        }
    }
    text[len] = '\0';
    return text;
}

/* The events of one stream, handed from the library's runtime thread to the main thread. */
struct event { char *data; int32_t len; struct event *next; };
struct queue {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct event *head, *tail;
};

static void on_event(void *user_data, char *data, int32_t len) {
    struct queue *q = user_data;
    struct event *e = malloc(sizeof *e);
    if (e == NULL) abort();
    e->data = data;
    e->len = len;
    e->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail) q->tail->next = e; else q->head = e;
    q->tail = e;
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

static struct event *next_event(struct queue *q) {
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL) pthread_cond_wait(&q->ready, &q->lock);
    struct event *e = q->head;
    q->head = e->next;
    if (q->head == NULL) q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    return e;
}

/* Appends `piece` to the growing JSON array text in `*array`. */
static int append(char **array, size_t *len, size_t *cap, const char *piece, size_t n) {
    while (*len + n + 2 > *cap) {
        char *grown = realloc(*array, *cap *= 2);
        if (grown == NULL) return -1;
        *array = grown;
    }
    memcpy(*array + *len, piece, n);
    *len += n;
    (*array)[*len] = '\0';
    return 0;
}

static int stream(const char *provider, const char *request, long cancel_after, const sigset_t *cancel_signal) {
    struct queue q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL };
    size_t cap = 1 << 12, len = 0;
    char *chunks = malloc(cap);
    if (chunks == NULL || append(&chunks, &len, &cap, "[", 1) != 0) return 2;
    long received = 0;
    int cancelled = 0;
    uint64_t id = liter_llm_stream(provider, request, on_event, &q);
    if (id == 0) { free(chunks); return 2; }
    if (cancel_after == 0) {
        int received_signal = 0;
        if (sigwait(cancel_signal, &received_signal) != 0) { free(chunks); return 2; }
        liter_llm_cancel(id);
        cancelled = 1;
    }
    for (;;) {
        struct event *e = next_event(&q);
        char *data = e->data;
        int32_t n = e->len;
        free(e);
        if (n > 0) {
            /* Chunks still queued when the stream was abandoned are released unread. */
            if (!cancelled) {
                printf("chunk %s\n", data);
                if ((received > 0 && append(&chunks, &len, &cap, ",", 1) != 0) ||
                    append(&chunks, &len, &cap, data, (size_t)n) != 0) {
                    liter_llm_free(data);
                    free(chunks);
                    return 2;
                }
                if (++received == cancel_after) { liter_llm_cancel(id); cancelled = 1; }
            }
            liter_llm_free(data);
            continue;
        }
        /* The end of the stream: exactly once, nothing after it. */
        int status = 0;
        if (cancelled) {
            printf("cancelled\n");
        } else if (n < 0) {
            printf("error %s\n", data);
        } else if (append(&chunks, &len, &cap, "]", 1) != 0) {
            status = 2;
        } else {
            int32_t out_len = 0;
            char *assembled = liter_llm_stream_assemble(chunks, &out_len);
            if (assembled == NULL) { status = 2; }
            else {
                printf("%s %s\n", out_len < 0 ? "assemble_error" : "assembled", assembled);
                if (out_len < 0) status = 4;
                liter_llm_free(assembled);
            }
        }
        liter_llm_free(data); /* NULL for a completed stream: a no-op */
        free(chunks);
        return status;
    }
}

/* A whole number from `text`, at least `least`, or -2 when it is not one. */
static long number(const char *text, long least) {
    char *end = NULL;
    long n = strtol(text, &end, 10);
    return (*text == '\0' || *end != '\0' || n < least) ? -2 : n;
}

int main(int argc, char **argv) {
    const char *config = NULL, *provider = NULL;
    long calls = 1, cancel_after = -1;
    int streaming = 0, i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc) break;
        if (strcmp(argv[i], "--config") == 0) config = argv[i + 1];
        else if (strcmp(argv[i], "--calls") == 0) calls = number(argv[i + 1], 1);
        else if (strcmp(argv[i], "--stream") == 0) { streaming = 1; cancel_after = number(argv[i + 1], -1); }
        else break;
    }
    if (i < argc && strncmp(argv[i], "--", 2) != 0) provider = argv[i++];
    if (i != argc || calls < 1 || cancel_after < -1) {
        fputs("usage: invoke [--config JSON] [--calls N] [--stream CANCEL_AFTER] [PROVIDER] < request.json\n", stderr);
        return 2;
    }
    /* Blocked before the library starts its threads, which inherit the mask, so SIGUSR1 can only
     * be taken by sigwait() here. */
    sigset_t cancel_signal;
    sigemptyset(&cancel_signal);
    sigaddset(&cancel_signal, SIGUSR1);
    if (pthread_sigmask(SIG_BLOCK, &cancel_signal, NULL) != 0) return 2;
    char *request = read_all(stdin);
    if (request == NULL) return 2;
    int status = 0;
    if (config != NULL) {
        int32_t out_len = 0;
        char *out = liter_llm_configure(config, &out_len);
        if (out == NULL) { free(request); return 2; }
        if (out_len < 0) { printf("configure_error %s\n", out); calls = 0; }
        liter_llm_free(out);
    }
    for (long call = 0; call < calls && status == 0; call++) {
        if (streaming) {
            status = stream(provider, request, cancel_after, &cancel_signal);
            continue;
        }
        int32_t out_len = 0;
        char *out = liter_llm_invoke(provider, request, &out_len);
        if (out == NULL) { status = 2; break; }
        printf("%s %s\n", out_len < 0 ? "error" : "response", out);
        liter_llm_free(out);
    }
    free(request);
    fflush(stdout);
    return status;
}
