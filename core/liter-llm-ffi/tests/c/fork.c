/* fork() after using liter-llm, from plain C: the child's blocking and asynchronous calls work,
 * the parent's calls in flight at the fork are neither delivered in the child nor sent twice,
 * and nothing hangs (the child has an alarm; the parent bounds every wait).
 *
 * The upstream is a tiny HTTP server on a thread of the parent (127.0.0.1, an ephemeral port):
 * it answers every request with one OpenAI completion, after 600 ms for paths containing
 * "/slow", and counts the requests by kind. The child reaches it through the parent. Run by
 * `make test-c`. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "liter_llm.h"

static int failures = 0;

#define CHECK(cond, ...)                                         \
    do {                                                         \
        if (!(cond)) {                                           \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fprintf(stderr, "\n");                               \
            failures++;                                          \
        }                                                        \
    } while (0)

static const char BODY[] =
    "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"Hello!\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}";

static atomic_int slow_requests = 0;
static atomic_int fast_requests = 0;
static int port = 0;

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void *serve_one(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[8192];
    size_t have = 0;
    long want = -1;
    while (have < sizeof buf - 1) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL) continue;
        if (want < 0) {
            char *cl = strcasestr(buf, "content-length:");
            want = (end - buf) + 4 + (cl ? atol(cl + 15) : 0);
        }
        if ((long)have >= want) break;
    }
    buf[have] = 0;
    if (strstr(buf, "/slow") != NULL) {
        atomic_fetch_add(&slow_requests, 1);
        sleep_ms(600);
    } else {
        atomic_fetch_add(&fast_requests, 1);
    }
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n"
                     "connection: close\r\n\r\n",
                     strlen(BODY));
    if (write(fd, head, (size_t)n) < 0 || write(fd, BODY, strlen(BODY)) < 0) {
        /* the client went away; nothing to do */
    }
    close(fd);
    return NULL;
}

static void *serve(void *arg) {
    int listener = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) continue;
        pthread_t t;
        pthread_create(&t, NULL, serve_one, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static void start_server(void) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 64) != 0) {
        perror("listen");
        exit(2);
    }
    socklen_t len = sizeof addr;
    getsockname(listener, (struct sockaddr *)&addr, &len);
    port = ntohs(addr.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, serve, (void *)(intptr_t)listener);
    pthread_detach(t);
}

static void request(char *out, size_t size, const char *path) {
    snprintf(out, size,
             "{\"model\": \"openai/gpt\", \"prompt\": \"x\", \"api_key\": \"sk-test-c\", "
             "\"base_url\": \"http://127.0.0.1:%d/%s\", \"timeout\": 10}",
             port, path);
}

static int blocking_call(const char *path) {
    char req[512];
    request(req, sizeof req, path);
    int32_t len = 0;
    char *out = liter_llm_invoke(NULL, req, &len);
    int ok = out != NULL && len > 0 && strstr(out, "Hello!") != NULL;
    if (!ok) fprintf(stderr, "blocking call failed: %s\n", out ? out : "(NULL)");
    liter_llm_free(out);
    return ok;
}

/* Callbacks count by kind: user_data is 1 for a fast call, 2 for a slow one. */
static atomic_int fast_ok = 0;
static atomic_int slow_done = 0;

static void on_done(void *user_data, char *result, int32_t len) {
    if ((intptr_t)user_data == 2) {
        atomic_fetch_add(&slow_done, 1);
    } else if (len > 0 && strstr(result, "Hello!") != NULL) {
        atomic_fetch_add(&fast_ok, 1);
    }
    liter_llm_free(result);
}

static uint64_t async_call(const char *path, intptr_t kind) {
    char req[512];
    request(req, sizeof req, path);
    return liter_llm_invoke_async(NULL, req, on_done, (void *)kind);
}

/* Waits up to `ms` for `*counter` to reach `want`. */
static int wait_for(atomic_int *counter, int want, long ms) {
    for (long waited = 0; waited < ms; waited += 10) {
        if (atomic_load(counter) >= want) return 1;
        sleep_ms(10);
    }
    return atomic_load(counter) >= want;
}

static int child(uint64_t parent_call) {
    alarm(20); /* a hang kills the child, which fails the test */
    int bad = 0;
    if (!blocking_call("fast")) bad++;
    int before = atomic_load(&fast_ok);
    if (async_call("fast", 1) == 0 || !wait_for(&fast_ok, before + 1, 10000)) {
        fprintf(stderr, "child: the asynchronous call did not complete\n");
        bad++;
    }
    if (liter_llm_cancel(parent_call) != 0) {
        fprintf(stderr, "child: a call of the parent could be cancelled\n");
        bad++;
    }
    sleep_ms(1000); /* longer than the parent's slow calls take */
    if (atomic_load(&slow_done) != 0) {
        fprintf(stderr, "child: %d calls of the parent were delivered\n", atomic_load(&slow_done));
        bad++;
    }
    if (!blocking_call("fast")) bad++;
    /* A grandchild works too. */
    pid_t pid = fork();
    if (pid == 0) _exit(blocking_call("fast") ? 0 : 1);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child: the grandchild failed\n");
        bad++;
    }
    return bad == 0 ? 0 : 1;
}

int main(void) {
    start_server();
    CHECK(blocking_call("fast"), "the parent's first call");
    CHECK(async_call("fast", 1) != 0 && wait_for(&fast_ok, 1, 10000), "the parent's async call");

    enum { SLOW = 4 };
    uint64_t slow_ids[SLOW];
    for (int i = 0; i < SLOW; i++) slow_ids[i] = async_call("slow", 2);
    CHECK(wait_for(&slow_requests, SLOW, 10000), "the slow calls reached the upstream");

    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(child(slow_ids[0]));
    int status = 0;
    pid_t ended = 0;
    for (int waited = 0; waited < 30000 && ended == 0; waited += 10) {
        ended = waitpid(pid, &status, WNOHANG);
        if (ended == 0) sleep_ms(10);
    }
    if (ended == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK(ended == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %d)", status);

    CHECK(wait_for(&slow_done, SLOW, 10000), "the parent's slow calls were delivered in the parent");
    sleep_ms(200);
    CHECK(atomic_load(&slow_done) == SLOW, "each slow callback fired once: %d", atomic_load(&slow_done));
    CHECK(atomic_load(&slow_requests) == SLOW, "the slow calls were sent once: %d", atomic_load(&slow_requests));
    /* parent 1 + 1, child 1 + 1 + 1, grandchild 1 */
    CHECK(atomic_load(&fast_requests) == 6, "fast requests: %d", atomic_load(&fast_requests));
    CHECK(blocking_call("fast"), "the parent's call after the fork");

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok fork: child, grandchild and parent calls; the parent's calls in flight stayed its own\n");
    return 0;
}
