/* Against a library built with the `test-panic` feature (`make test-panic-lib`): every export
 * given "__liter_llm_test_panic__" panics inside the library, and the panic comes back as an
 * `internal` error; this process is never aborted. Run by `make test-c`. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "liter_llm.h"

#define PANIC "__liter_llm_test_panic__"

static int failures = 0;

static void check_internal(const char *name, char *out, int32_t len) {
    if (out == NULL || len >= 0 || strstr(out, "\"internal\"") == NULL) {
        fprintf(stderr, "FAIL %s: %s\n", name, out ? out : "(null)");
        failures++;
    } else {
        printf("ok %s\n", name);
    }
    liter_llm_free(out);
}

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int fired;
    int32_t len;
    char *result;
};

static void on_done(void *user_data, char *result, int32_t len) {
    struct waiter *w = user_data;
    pthread_mutex_lock(&w->lock);
    w->fired++;
    w->len = len;
    w->result = result;
    pthread_cond_signal(&w->done);
    pthread_mutex_unlock(&w->lock);
}

static void check_async(const char *name, int streaming) {
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};
    const char *request = "{\"model\": \"mock/m\", \"prompt\": \"x\"}";
    uint64_t id = streaming ? liter_llm_stream(PANIC, request, on_done, &w) : liter_llm_invoke_async(PANIC, request, on_done, &w);
    if (id == 0) {
        fprintf(stderr, "FAIL %s: no call id\n", name);
        failures++;
        return;
    }
    pthread_mutex_lock(&w.lock);
    while (!w.fired) pthread_cond_wait(&w.done, &w.lock);
    pthread_mutex_unlock(&w.lock);
    check_internal(name, w.result, w.len);
}

int main(void) {
    int32_t len = 0;
    uint64_t client = 0;
    char *result = liter_llm_invoke(PANIC, "{\"model\": \"mock/m\", \"prompt\": \"x\"}", &len);
    check_internal("invoke", result, len);
    result = liter_llm_configure(PANIC, &len);
    check_internal("configure", result, len);
    result = liter_llm_stream_assemble(PANIC, &len);
    check_internal("stream_assemble", result, len);
    result = liter_llm_client_new(NULL, PANIC, &client, &len);
    check_internal("client_new", result, len);
    check_async("invoke_async", 0);
    check_async("stream", 1);
    char *out = liter_llm_invoke("mock", "{\"model\": \"m\", \"prompt\": \"x\"}", &len);
    if (out == NULL || len <= 0) {
        fprintf(stderr, "FAIL the library does not work after the panics\n");
        failures++;
    }
    liter_llm_free(out);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C panic boundary: all checks passed\n");
    return 0;
}
