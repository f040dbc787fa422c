/* The C driver of the conformance harness (conformance/RUNNER_CONTRACT.md, "Drivers"): reads
 * operations as JSON lines on stdin, makes each call through the C ABI exactly as a C program
 * does, and writes one JSON line per operation. The library's own JSON goes into the replies
 * unchanged, so the harness sees exactly what a C caller gets; C has no native types to check.
 *
 *   driver < operations > replies
 *
 * The operations are read with a small scanner that finds a top-level member's value in one
 * line of JSON (enough for the protocol's flat messages; `request` and `config` are passed on as
 * the text they are). Exits 0 at the end of its input, 2 on a malformed line or when memory runs
 * out. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liter_llm.h"

#define PROTOCOL_VERSION 1

/* The end of the JSON value starting at `p` (strings, nesting and scalars), or NULL. */
static const char *skip_value(const char *p) {
    int depth = 0;
    do {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (*p == '\0') return NULL;
                if (*p == '\\' && *++p == '\0') return NULL;
            }
            p++;
        } else if (*p == '{' || *p == '[') {
            depth++, p++;
            continue;
        } else if (*p == '}' || *p == ']') {
            if (depth == 0) return NULL;
            depth--, p++;
        } else if (*p == ',' || *p == ':') {
            p++;
            continue;
        } else {
            const char *start = p;
            while (*p && strchr(",:]} \t\r\n", *p) == NULL) p++;
            if (p == start) return NULL;
        }
    } while (depth > 0);
    return p;
}

/* The value of member `name` of the JSON object `object` as a span, or NULL when absent. */
static const char *member(const char *object, const char *name, size_t *len) {
    const char *p = object + strspn(object, " \t");
    if (*p++ != '{') return NULL;
    size_t name_len = strlen(name);
    for (;;) {
        p += strspn(p, " \t,");
        if (*p != '"') return NULL;
        const char *key = p + 1, *key_end = skip_value(p), *end;
        if (key_end == NULL) return NULL;
        p = key_end + strspn(key_end, " \t");
        if (*p++ != ':') return NULL;
        p += strspn(p, " \t");
        end = skip_value(p);
        if (end == NULL) return NULL;
        if ((size_t)(key_end - key - 1) == name_len && strncmp(key, name, name_len) == 0) {
            *len = (size_t)(end - p);
            return strncmp(p, "null", 4) == 0 ? NULL : p;
        }
        p = end;
    }
}

/* A copy of member `name` (NUL-terminated): its JSON text, or with `decode` the string it holds.
 * NULL when absent or null; exits when memory runs out or the string is malformed. */
static char *text(const char *object, const char *name, int decode) {
    size_t len = 0;
    const char *value = member(object, name, &len);
    if (value == NULL) return NULL;
    char *out = malloc(len + 1), *o = out;
    if (out == NULL) exit(2);
    if (!decode) { memcpy(out, value, len); out[len] = '\0'; return out; }
    if (*value != '"') exit(2);
    for (const char *p = value + 1; p < value + len - 1; p++) {
        if (*p != '\\') { *o++ = *p; continue; }
        char c = *++p;
        const char *simple = strchr("\"\"\\\\//b\bf\fn\nr\rt\t", c);
        if (c != 'u' && simple != NULL) { *o++ = simple[1]; continue; }
        unsigned long code = strtoul((char[5]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
        p += 4;
        if (code >= 0xD800 && code < 0xDC00 && p[1] == '\\' && p[2] == 'u') {
            code = 0x10000 + ((code - 0xD800) << 10) + (strtoul((char[5]){p[3], p[4], p[5], p[6], 0}, NULL, 16) - 0xDC00);
            p += 6;
        }
        if (code < 0x80) *o++ = (char)code;
        else if (code < 0x800) { *o++ = (char)(0xC0 | code >> 6); *o++ = (char)(0x80 | (code & 0x3F)); }
        else if (code < 0x10000) {
            *o++ = (char)(0xE0 | code >> 12); *o++ = (char)(0x80 | (code >> 6 & 0x3F)); *o++ = (char)(0x80 | (code & 0x3F));
        } else {
            *o++ = (char)(0xF0 | code >> 18); *o++ = (char)(0x80 | (code >> 12 & 0x3F));
            *o++ = (char)(0x80 | (code >> 6 & 0x3F)); *o++ = (char)(0x80 | (code & 0x3F));
        }
    }
    *o = '\0';
    return out;
}

static long number(const char *object, const char *name, long absent) {
    char *value = text(object, name, 0);
    long n = value == NULL ? absent : strtol(value, NULL, 10);
    free(value);
    return n;
}

/* The events of one call, handed from the library's delivery thread to the main thread. */
struct event { char *data; int32_t len; struct event *next; };
struct queue { pthread_mutex_t lock; pthread_cond_t ready; struct event *head, *tail; };

static void on_event(void *user_data, char *data, int32_t len) {
    struct queue *q = user_data;
    struct event *e = malloc(sizeof *e);
    if (e == NULL) abort();
    *e = (struct event){ data, len, NULL };
    pthread_mutex_lock(&q->lock);
    if (q->tail) q->tail->next = e; else q->head = e;
    q->tail = e;
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

static struct event next_event(struct queue *q) {
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL) pthread_cond_wait(&q->ready, &q->lock);
    struct event *e = q->head, copy = *e;
    q->head = e->next;
    if (q->head == NULL) q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    free(e);
    return copy;
}

/* Writes `{"id":ID,` and then the library's object `out` without its opening brace, so that
 * `{"error": {...}}` becomes the reply's `error` member (and `{"client": N}` its `client`). */
static void reply_with(const char *id, const char *prefix, const char *out) {
    printf("{\"id\":%s,%s%s\n", id, prefix, out + 1 + (prefix[0] != '\0'));
}

/* A stream: its chunks as a JSON array, then how it ended. `line`, when cancelling in flight, is
 * where the harness's `cancel` is read. */
static void stream(const char *id, const char *op, uint64_t client, const char *provider, const char *request,
                   char **line, size_t *line_cap) {
    struct queue q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL };
    long cancel_after = number(op, "cancel_after_chunks", -1), received = 0;
    size_t cap = 1 << 12, len = 1;
    char *chunks = malloc(cap);
    if (chunks == NULL) exit(2);
    strcpy(chunks, "[");
    int cancelled = 0;
    uint64_t call = client ? liter_llm_client_stream(client, provider, request, on_event, &q)
                           : liter_llm_stream(provider, request, on_event, &q);
    if (call == 0) exit(2);
    if (cancel_after == 0) {
        printf("{\"id\":%s,\"event\":\"started\"}\n", id);
        fflush(stdout);
        if (getline(line, line_cap, stdin) < 0) exit(2);
        liter_llm_cancel(call);
        cancelled = 1;
    }
    for (;;) {
        struct event e = next_event(&q);
        if (e.len > 0) {
            /* Chunks still queued when the stream was abandoned are released unread. */
            if (!cancelled) {
                while (len + (size_t)e.len + 3 > cap) if ((chunks = realloc(chunks, cap *= 2)) == NULL) exit(2);
                if (received++ > 0) chunks[len++] = ',';
                memcpy(chunks + len, e.data, (size_t)e.len);
                len += (size_t)e.len;
                if (received == cancel_after) { liter_llm_cancel(call); cancelled = 1; }
            }
            liter_llm_free(e.data);
            continue;
        }
        /* The end of the stream: exactly once, nothing after it. */
        strcpy(chunks + len, "]");
        if (cancelled) {
            printf("{\"id\":%s,\"stream\":{\"chunks\":%s,\"cancelled\":true}}\n", id, chunks);
        } else if (e.len < 0) {
            printf("{\"id\":%s,\"stream\":{\"chunks\":%s,%s}\n", id, chunks, e.data + 1);
        } else {
            int32_t out_len = 0;
            char *assembled = liter_llm_stream_assemble(chunks, &out_len);
            if (assembled == NULL) exit(2);
            if (out_len < 0) reply_with(id, "\"assembler_", assembled);
            else printf("{\"id\":%s,\"stream\":{\"chunks\":%s,\"assembled\":%s}}\n", id, chunks, assembled);
            liter_llm_free(assembled);
        }
        liter_llm_free(e.data); /* NULL for a completed stream: a no-op */
        free(chunks);
        return;
    }
}

static void invoke(const char *id, const char *op, uint64_t client, const char *provider, const char *request) {
    int32_t out_len = 0;
    char *out;
    char *async = text(op, "async", 0);
    int is_async = async != NULL && strcmp(async, "true") == 0;
    free(async);
    if (is_async) {
        struct queue q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL };
        uint64_t call = client ? liter_llm_client_invoke_async(client, provider, request, on_event, &q)
                               : liter_llm_invoke_async(provider, request, on_event, &q);
        if (call == 0) exit(2);
        struct event e = next_event(&q);
        out = e.data, out_len = e.len;
    } else {
        out = client ? liter_llm_client_invoke(client, provider, request, &out_len)
                     : liter_llm_invoke(provider, request, &out_len);
    }
    if (out == NULL) exit(2);
    if (out_len < 0) reply_with(id, "", out);
    else printf("{\"id\":%s,\"response\":%s}\n", id, out);
    liter_llm_free(out);
}

int main(void) {
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, stdin) > 0) {
        char *id = text(line, "id", 0), *name = text(line, "op", 1);
        if (id == NULL || name == NULL) return 2;
        char *provider = text(line, "provider", 1), *request = text(line, "request", 0);
        char *config = text(line, "config", 0);
        uint64_t client = (uint64_t)number(line, "client", 0);
        int32_t out_len = 0;
        char *out = NULL;
        if (strcmp(name, "hello") == 0) {
            printf("{\"id\":%s,\"protocol\":%d,\"language\":\"c\",\"binding\":\"%s\"}\n", id, PROTOCOL_VERSION,
                   liter_llm_version());
        } else if (strcmp(name, "env") == 0) {
            char *variable = text(line, "name", 1), *value = text(line, "value", 1);
            if (variable == NULL) return 2;
            if (value == NULL) unsetenv(variable); else setenv(variable, value, 1);
            printf("{\"id\":%s}\n", id);
            free(variable);
            free(value);
        } else if (strcmp(name, "configure") == 0) {
            if ((out = liter_llm_configure(config, &out_len)) == NULL) return 2;
            if (out_len < 0) reply_with(id, "", out); else printf("{\"id\":%s}\n", id);
        } else if (strcmp(name, "client_create") == 0) {
            uint64_t created = 0;
            if ((out = liter_llm_client_new(config, NULL, &created, &out_len)) == NULL) return 2;
            reply_with(id, "", out); /* {"client": N} or {"error": {...}} */
        } else if (strcmp(name, "client_close") == 0) {
            liter_llm_client_free(client);
            printf("{\"id\":%s}\n", id);
        } else if (strcmp(name, "invoke") == 0 && request != NULL) {
            invoke(id, line, client, provider, request);
        } else if (strcmp(name, "stream") == 0 && request != NULL) {
            stream(id, line, client, provider, request, &line, &line_cap);
        } else {
            printf("{\"id\":%s,\"problem\":\"unknown operation, or one without its request\"}\n", id);
        }
        fflush(stdout);
        liter_llm_free(out);
        free(id), free(name), free(provider), free(request), free(config);
    }
    free(line);
    return 0;
}
