/* Calls the C ABI from plain C: a success, failures, async calls, and frees everything.
 * Run under valgrind by `make test`; it must leak nothing and report no errors. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liter_llm.h"

static int failures = 0;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fprintf(stderr, "\n");                         \
            failures++;                                    \
        }                                                  \
    } while (0)

static void expect(const char *name, const char *provider, const char *request, int want_error, const char *needle) {
    int32_t len = 0;
    char *out = liter_llm_invoke(provider, request, &len);
    CHECK(out != NULL, "%s: NULL result", name);
    if (out == NULL) return;
    CHECK((len < 0) == want_error, "%s: len=%d, want %s: %s", name, len, want_error ? "an error" : "success", out);
    CHECK((size_t)(len < 0 ? -len : len) == strlen(out), "%s: out_len does not match the buffer", name);
    CHECK(strstr(out, needle) != NULL, "%s: %s not in %s", name, needle, out);
    liter_llm_free(out);
    printf("ok %s\n", name);
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

static void expect_async(const char *name, const char *request, int cancel, const char *needle) {
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};
    uint64_t id = liter_llm_invoke_async(NULL, request, on_done, &w);
    CHECK(id != 0, "%s: no call id", name);
    if (cancel) liter_llm_cancel(id);
    pthread_mutex_lock(&w.lock);
    while (!w.fired) pthread_cond_wait(&w.done, &w.lock);
    pthread_mutex_unlock(&w.lock);
    CHECK(w.fired == 1, "%s: callback fired %d times", name, w.fired);
    CHECK(w.result != NULL && strstr(w.result, needle) != NULL, "%s: %s not in %s", name, needle, w.result ? w.result : "(null)");
    liter_llm_free(w.result);
    printf("ok %s\n", name);
}

struct stream_state {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int chunks, ended, errors;
};

static void on_stream(void *user_data, char *result, int32_t len) {
    struct stream_state *st = user_data;
    pthread_mutex_lock(&st->lock);
    if (result == NULL) {
        st->ended++;
        pthread_cond_signal(&st->done);
    } else if (len < 0) {
        st->errors++;
        pthread_cond_signal(&st->done);
    } else {
        st->chunks++;
    }
    pthread_mutex_unlock(&st->lock);
    liter_llm_free(result);
}

static void expect_stream(void) {
    struct stream_state st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    uint64_t id = liter_llm_stream(NULL, "{\"model\": \"mock/demo\", \"prompt\": \"Hi\", \"mock_response\": \"a b c\"}", on_stream, &st);
    CHECK(id != 0, "stream: no call id");
    pthread_mutex_lock(&st.lock);
    while (!st.ended && !st.errors) pthread_cond_wait(&st.done, &st.lock);
    pthread_mutex_unlock(&st.lock);
    CHECK(st.ended == 1 && st.errors == 0 && st.chunks >= 4, "stream: %d chunks, %d ends, %d errors", st.chunks, st.ended, st.errors);
    int32_t len = 0;
    char *whole = liter_llm_stream_assemble("[]", &len);
    CHECK(whole != NULL && len < 0, "assemble of no chunks must be an error");
    liter_llm_free(whole);
    printf("ok stream\n");
}

/* Two clients with their own configuration; a freed handle is an error, never undefined behaviour. */
static void expect_clients(void) {
    uint64_t a = 0, b = 0;
    int32_t len = 0;
    char *out = liter_llm_client_new("{\"defaults\": {\"max_retries\": 0}}", NULL, &a, &len);
    CHECK(out != NULL && len > 0 && a != 0 && strstr(out, "\"client\"") != NULL, "client_new: %s", out ? out : "(null)");
    liter_llm_free(out);
    out = liter_llm_client_new("{\"defaults\": {\"retries\": 1}}", NULL, &b, &len);
    CHECK(out != NULL && len < 0 && b == 0 && strstr(out, "retries") != NULL, "bad client_new: %s", out ? out : "(null)");
    liter_llm_free(out);
    out = liter_llm_client_new("{}", "liter-llm.toml", &b, &len);
    CHECK(out != NULL && len < 0 && strstr(out, "not both") != NULL, "client_new with both: %s", out ? out : "(null)");
    liter_llm_free(out);
    CHECK(liter_llm_client_new(NULL, NULL, NULL, &len) == NULL, "NULL out_client must return NULL");

    out = liter_llm_client_invoke(a, NULL, "{\"model\": \"mock/demo\", \"prompt\": \"Hi\", \"mock_response\": \"from a\"}", &len);
    CHECK(out != NULL && len > 0 && strstr(out, "from a") != NULL, "client_invoke: %s", out ? out : "(null)");
    liter_llm_free(out);

    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};
    uint64_t id = liter_llm_client_invoke_async(a, NULL, "{\"model\": \"mock/demo\", \"prompt\": \"Hi\"}", on_done, &w);
    CHECK(id != 0, "client_invoke_async: no call id");
    pthread_mutex_lock(&w.lock);
    while (!w.fired) pthread_cond_wait(&w.done, &w.lock);
    pthread_mutex_unlock(&w.lock);
    CHECK(w.len > 0, "client_invoke_async: %s", w.result ? w.result : "(null)");
    liter_llm_free(w.result);

    struct stream_state st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    id = liter_llm_client_stream(a, NULL, "{\"model\": \"mock/demo\", \"prompt\": \"Hi\", \"mock_response\": \"x y\"}", on_stream, &st);
    CHECK(id != 0, "client_stream: no call id");
    pthread_mutex_lock(&st.lock);
    while (!st.ended && !st.errors) pthread_cond_wait(&st.done, &st.lock);
    pthread_mutex_unlock(&st.lock);
    CHECK(st.ended == 1 && st.chunks >= 3, "client_stream: %d chunks, %d ends, %d errors", st.chunks, st.ended, st.errors);

    CHECK(liter_llm_client_free(a) == 1, "client_free of a live client must return 1");
    CHECK(liter_llm_client_free(a) == 0, "client_free twice must return 0");
    CHECK(liter_llm_client_free(0) == 0, "client_free(0) must return 0");
    out = liter_llm_client_invoke(a, NULL, "{\"model\": \"mock/demo\", \"prompt\": \"Hi\"}", &len);
    CHECK(out != NULL && len < 0 && strstr(out, "was freed") != NULL, "call on a freed client: %s", out ? out : "(null)");
    liter_llm_free(out);
    printf("ok clients\n");
}

int main(void) {
    CHECK(liter_llm_abi_version() == LITER_LLM_ABI_VERSION, "ABI version mismatch");
    printf("liter-llm %s, ABI %u\n", liter_llm_version(), liter_llm_abi_version());

    expect("mock success", "mock", "{\"model\": \"demo\", \"prompt\": \"Hello\"}", 0, "\"chat.completion\"");
    expect("prefix routing", NULL, "{\"model\": \"mock/demo\", \"prompt\": \"Hi\", \"mock_response\": \"pong\"}", 0, "\"pong\"");
    expect("invalid json", "mock", "{not json", 1, "\"invalid_request\"");
    expect("null request", "mock", NULL, 1, "\"invalid_request\"");
    expect("unknown provider", "nope", "{\"model\": \"m\", \"prompt\": \"x\"}", 1, "\"unsupported\"");
    expect("missing key", "anthropic", "{\"model\": \"claude\", \"prompt\": \"x\"}", 1, "ANTHROPIC_API_KEY");
    /* Port 9 (discard) has no listener: exercises the runtime, the pool and the error path. */
    expect("connection refused", "openai",
           "{\"model\": \"gpt\", \"prompt\": \"x\", \"api_key\": \"sk-test-c\", \"base_url\": \"http://127.0.0.1:9\", \"timeout\": 5}", 1,
           "\"connection\"");

    int32_t clen = 0;
    char *cfg = liter_llm_configure("{\"defaults\": {\"max_retries\": 0}}", &clen);
    CHECK(cfg != NULL && clen > 0 && strstr(cfg, "\"ok\"") != NULL, "configure: %s", cfg ? cfg : "(null)");
    liter_llm_free(cfg);
    cfg = liter_llm_configure("{\"defaults\": {\"retries\": 1}}", &clen);
    CHECK(cfg != NULL && clen < 0 && strstr(cfg, "retries") != NULL, "bad configure: %s", cfg ? cfg : "(null)");
    liter_llm_free(cfg);
    printf("ok configure\n");

    int32_t len = 7;
    CHECK(liter_llm_invoke("mock", "{}", NULL) == NULL, "NULL out_len must return NULL");
    CHECK(len == 7, "out_len untouched");
    liter_llm_free(NULL);
    CHECK(liter_llm_invoke_async(NULL, "{}", NULL, NULL) == 0, "NULL callback must return 0");

    expect_async("async mock", "{\"model\": \"mock/demo\", \"prompt\": \"Hi\"}", 0, "\"chat.completion\"");
    expect_async("async error", "[]", 0, "\"invalid_request\"");
    expect_async("async cancel",
                 "{\"model\": \"openai/gpt\", \"prompt\": \"x\", \"api_key\": \"sk-test-c\", \"base_url\": \"http://127.0.0.1:9\"}", 1,
                 "\"error\"");

    expect_stream();
    expect_clients();

    CHECK(liter_llm_shutdown(1000) == 1, "shutdown: callbacks still running");
    expect("sync after shutdown", "mock", "{\"model\": \"demo\", \"prompt\": \"Hello\"}", 0, "\"chat.completion\"");

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C ABI smoke: all checks passed\n");
    return 0;
}
