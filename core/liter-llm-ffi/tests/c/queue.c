/* The completion queue from plain C: results, errors, streams, cancel, draining with a small
 * capacity, a host that reads the fd itself, freeing a queue with calls in flight, invalid
 * handles. Waits on the queue's fd (the read end of a pipe) with poll(), as an event loop would. Run under valgrind by `make test-c`: no errors, no leaks.
 * `queue fork` checks that a fork's child cannot use the parent's queue (not under valgrind: the
 * child leaks the parent's state on purpose, see docs/fork.md). */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

#define MOCK "{\"model\": \"mock/demo\", \"prompt\": \"Hi\"}"

/* A loopback listener that never accepts: calls to it wait (in the kernel's backlog) until
 * cancelled. */
static int silent_port(int *out_fd) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, size) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &size) != 0) {
        fprintf(stderr, "cannot listen on 127.0.0.1\n");
        exit(2);
    }
    *out_fd = fd;
    return ntohs(addr.sin_port);
}

/* Waits up to 10 s for the queue's fd to be readable; 1 when it is. */
static int wait_readable(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 10000) == 1 && (p.revents & POLLIN);
}

static int readable_now(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

/* One drained event, as the test reads it. */
typedef struct {
    uint64_t tag;
    char *data;
    int32_t len;
} Event;

enum { MAX_DRAIN = 64 };

/* liter_llm_queue_drain into `events` (at most MAX_DRAIN at once). */
static int drain(uint64_t q, Event *events, int capacity) {
    uint64_t tags[MAX_DRAIN];
    char *data[MAX_DRAIN];
    int32_t lens[MAX_DRAIN];
    if (capacity > MAX_DRAIN) capacity = MAX_DRAIN;
    int n = liter_llm_queue_drain(q, tags, data, lens, capacity);
    for (int i = 0; i < n; i++) events[i] = (Event){tags[i], data[i], lens[i]};
    return n;
}

/* Drains until `want` events arrived (waiting on the fd), `capacity` at a time. */
static int collect(uint64_t q, int fd, Event *events, int want, int capacity) {
    int got = 0;
    while (got < want) {
        if (!wait_readable(fd)) break;
        int n = drain(q, events + got, capacity < want - got ? capacity : want - got);
        CHECK(n >= 0, "drain returned %d", n);
        if (n < 0) break;
        got += n;
    }
    return got;
}

static int fcntl_closed(int fd) {
    return fcntl(fd, F_GETFD) == -1;
}

static void free_events(Event *events, int n) {
    for (int i = 0; i < n; i++) liter_llm_free(events[i].data);
}

/* How many descriptors the process has open. */
static int open_fds(void) {
    DIR *dir = opendir("/proc/self/fd");
    int n = 0;
    if (dir == NULL) return -1;
    while (readdir(dir) != NULL) n++;
    closedir(dir);
    return n;
}

static void results_and_errors(void) {
    int32_t fd = -2;
    uint64_t q = liter_llm_queue_new(&fd);
    CHECK(q != 0 && fd >= 0, "queue_new: handle %llu fd %d", (unsigned long long)q, fd);
    CHECK(!readable_now(fd), "a new queue's fd is readable");
    CHECK(liter_llm_invoke_queued(NULL, MOCK, q, 11) != 0, "invoke_queued: no call id");
    CHECK(liter_llm_invoke_queued(NULL, "[]", q, 12) != 0, "invoke_queued (bad request): no call id");
    Event events[4];
    int n = collect(q, fd, events, 2, 4);
    CHECK(n == 2, "got %d events", n);
    for (int i = 0; i < n; i++) {
        if (events[i].tag == 11) {
            CHECK(events[i].len > 0 && strstr(events[i].data, "\"chat.completion\""), "result: %s", events[i].data);
            CHECK((size_t)events[i].len == strlen(events[i].data), "result length");
        } else {
            CHECK(events[i].tag == 12, "unknown tag %llu", (unsigned long long)events[i].tag);
            CHECK(events[i].len < 0 && strstr(events[i].data, "\"invalid_request\""), "error: %s", events[i].data);
            CHECK((size_t)-events[i].len == strlen(events[i].data), "error length");
        }
    }
    free_events(events, n);
    CHECK(!readable_now(fd), "the fd stays readable after the queue was emptied");
    CHECK(drain(q, events, 4) == 0, "an empty queue drains 0");
    CHECK(liter_llm_queue_free(q) == 1, "queue_free");
    printf("ok queue results and errors\n");
}

/* A host whose event loop reads the fd itself (libuv, for Node): it takes the wake-up byte, so
 * it drains until a drain comes back short; one byte per empty -> non-empty transition. The
 * queue holds both ends of a pipe, and frees both. */
static void host_reads_the_fd(void) {
    int before = open_fds();
    int32_t fd;
    uint64_t q = liter_llm_queue_new(&fd);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode), "the queue's fd is not a pipe");
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK, "the queue's fd blocks");
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "the queue's fd is not close-on-exec");
    CHECK(open_fds() == before + 2, "a queue holds %d descriptors, not 2", open_fds() - before);
    enum { N = 7, CAPACITY = 2 };
    for (uint64_t tag = 1; tag <= N; tag++) CHECK(liter_llm_invoke_queued(NULL, MOCK, q, tag) != 0, "start %llu", (unsigned long long)tag);
    Event events[N];
    int got = 0;
    while (got < N && wait_readable(fd)) {
        char bytes[16];
        CHECK(read(fd, bytes, sizeof bytes) == 1, "one byte per wake-up");
        int n;
        do {
            n = drain(q, events + got, CAPACITY);
            CHECK(n >= 0 && got + n <= N, "drain returned %d after %d", n, got);
            if (n < 0) break;
            got += n;
        } while (n == CAPACITY);
    }
    CHECK(got == N, "got %d of %d", got, N);
    free_events(events, got);
    CHECK(!readable_now(fd), "fd readable once drained");
    CHECK(liter_llm_queue_free(q) == 1, "queue_free");
    CHECK(open_fds() == before, "a freed queue left %d descriptors open", open_fds() - before);
    printf("ok queue host reads the fd\n");
}

static void small_capacity(void) {
    int32_t fd;
    uint64_t q = liter_llm_queue_new(&fd);
    enum { N = 9 };
    for (uint64_t tag = 1; tag <= N; tag++) CHECK(liter_llm_invoke_queued(NULL, MOCK, q, tag) != 0, "start %llu", (unsigned long long)tag);
    /* Wait until all nine wait in the queue: the fd stays readable while any remain. */
    Event events[N];
    int got = 0, seen[N + 1] = {0};
    while (got < N && wait_readable(fd)) {
        int n = drain(q, events + got, 2);
        CHECK(n >= 0 && n <= 2, "drain(2) returned %d", n);
        if (n < 0) break;
        got += n;
    }
    CHECK(got == N, "got %d of %d", got, N);
    for (int i = 0; i < got; i++) {
        CHECK(events[i].tag >= 1 && events[i].tag <= N && !seen[events[i].tag]++, "tag %llu twice or unknown", (unsigned long long)events[i].tag);
        CHECK(events[i].len > 0, "result %d is an error: %s", i, events[i].data);
    }
    free_events(events, got);
    CHECK(!readable_now(fd), "fd readable once drained");
    CHECK(liter_llm_queue_drain(q, NULL, NULL, NULL, 0) == 0, "capacity 0 drains 0");
    {
        uint64_t tags[4];
        char *data[4];
        int32_t lens[4];
        CHECK(liter_llm_queue_drain(q, NULL, NULL, NULL, 4) == -1, "NULL arrays with capacity 4 is -1");
        CHECK(liter_llm_queue_drain(q, tags, data, NULL, 4) == -1, "a NULL lens array with capacity 4 is -1");
        CHECK(liter_llm_queue_drain(q, NULL, data, lens, 4) == -1, "a NULL tags array with capacity 4 is -1");
        CHECK(liter_llm_queue_drain(q, tags, NULL, lens, 4) == -1, "a NULL data array with capacity 4 is -1");
    }
    liter_llm_queue_free(q);
    printf("ok queue small capacity\n");
}

static void streams(void) {
    int32_t fd;
    uint64_t q = liter_llm_queue_new(&fd);
    uint64_t a = liter_llm_stream_queued(NULL, "{\"model\": \"mock/demo\", \"prompt\": \"Hi\", \"mock_response\": \"a b c\"}", q, 1);
    uint64_t client = 0;
    int32_t len;
    char *made = liter_llm_client_new(NULL, NULL, &client, &len);
    liter_llm_free(made);
    CHECK(client != 0, "client_new");
    uint64_t b = liter_llm_client_stream_queued(client, NULL, "{\"model\": \"mock/demo\", \"prompt\": \"Hi\", \"mock_response\": \"x y\"}", q, 2);
    uint64_t c = liter_llm_client_invoke_queued(client, NULL, MOCK, q, 3);
    CHECK(a && b && c, "stream ids %llu %llu %llu", (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
    int chunks[4] = {0}, ends[4] = {0}, results = 0;
    int open = 3;
    Event events[3];
    while (open > 0 && wait_readable(fd)) {
        int n = drain(q, events, 3);
        for (int i = 0; i < n; i++) {
            uint64_t tag = events[i].tag;
            if (tag == 3) {
                CHECK(events[i].len > 0, "client result: %s", events[i].data);
                results++;
                open--;
            } else if (events[i].data == NULL) {
                CHECK(events[i].len == 0, "an end has len %d", events[i].len);
                ends[tag]++;
                open--;
            } else {
                CHECK(events[i].len > 0 && strstr(events[i].data, "chat.completion.chunk"), "chunk: %s", events[i].data);
                CHECK(ends[tag] == 0, "a chunk after its stream's end");
                chunks[tag]++;
            }
        }
        free_events(events, n);
    }
    CHECK(ends[1] == 1 && ends[2] == 1 && results == 1, "ends %d %d, results %d", ends[1], ends[2], results);
    CHECK(chunks[1] >= 4 && chunks[2] >= 3, "chunks %d %d", chunks[1], chunks[2]);
    /* A freed client ends a queued call with an error, through the queue. */
    liter_llm_client_free(client);
    CHECK(liter_llm_client_invoke_queued(client, NULL, MOCK, q, 4) != 0, "start on a freed client");
    int n = collect(q, fd, events, 1, 1);
    CHECK(n == 1 && events[0].tag == 4 && events[0].len < 0 && strstr(events[0].data, "was freed"), "freed client: %s",
          n == 1 ? events[0].data : "(none)");
    free_events(events, n);
    liter_llm_queue_free(q);
    printf("ok queue streams\n");
}

static void cancel_and_free(void) {
    int listener;
    int port = silent_port(&listener);
    char slow[256];
    snprintf(slow, sizeof slow,
             "{\"model\": \"openai/gpt\", \"prompt\": \"x\", \"api_key\": \"sk-test-c\", \"base_url\": \"http://127.0.0.1:%d\", \"timeout\": 60}",
             port);
    int32_t fd;
    uint64_t q = liter_llm_queue_new(&fd);
    uint64_t call = liter_llm_invoke_queued(NULL, slow, q, 5);
    uint64_t stream = liter_llm_stream_queued(NULL, slow, q, 6);
    CHECK(call && stream, "start slow calls");
    CHECK(!readable_now(fd), "a call in flight made the fd readable");
    CHECK(liter_llm_cancel(call) == 1, "cancel a call in flight");
    CHECK(liter_llm_cancel(stream) == 1, "cancel a stream in flight");
    CHECK(liter_llm_cancel(call) == 0, "cancel twice");
    Event events[2];
    int n = collect(q, fd, events, 2, 2);
    CHECK(n == 2, "got %d events after cancel", n);
    for (int i = 0; i < n; i++)
        CHECK(events[i].len < 0 && strstr(events[i].data, "\"cancelled\""), "cancel of %llu: %s", (unsigned long long)events[i].tag,
              events[i].data);
    free_events(events, n);
    CHECK(drain(q, events, 2) == 0, "one last event per call");

    /* Freed with calls in flight and results undrained: the calls are cancelled, all freed. */
    uint64_t inflight[4];
    for (int i = 0; i < 4; i++) inflight[i] = liter_llm_invoke_queued(NULL, slow, q, 100 + i);
    CHECK(liter_llm_stream_queued(NULL, slow, q, 200) != 0, "start a stream to free");
    CHECK(liter_llm_invoke_queued(NULL, MOCK, q, 300) != 0, "start a fast call");
    CHECK(wait_readable(fd), "the fast call arrives");
    CHECK(liter_llm_queue_free(q) == 1, "free a queue with calls in flight");
    for (int i = 0; i < 4; i++) CHECK(liter_llm_cancel(inflight[i]) == 0, "a freed queue's call still runs");
    CHECK(liter_llm_queue_free(q) == 0, "free twice");
    close(listener);
    printf("ok queue cancel and free\n");
}

static void invalid_handles(void) {
    Event events[1];
    CHECK(liter_llm_queue_new(NULL) == 0, "queue_new(NULL)");
    CHECK(drain(0, events, 1) == -1, "drain(0)");
    CHECK(drain(987654321, events, 1) == -1, "drain(unknown)");
    CHECK(liter_llm_queue_free(0) == 0 && liter_llm_queue_free(987654321) == 0, "free(unknown)");
    CHECK(liter_llm_invoke_queued(NULL, MOCK, 987654321, 1) == 0, "invoke_queued on an unknown queue");
    CHECK(liter_llm_stream_queued(NULL, MOCK, 0, 1) == 0, "stream_queued on queue 0");
    int32_t fd;
    uint64_t q = liter_llm_queue_new(&fd);
    liter_llm_queue_free(q);
    CHECK(drain(q, events, 1) == -1, "drain a freed queue");
    CHECK(liter_llm_client_invoke_queued(1, NULL, MOCK, q, 1) == 0, "invoke_queued on a freed queue");
    CHECK(fcntl_closed(fd), "the freed queue's fd is closed");
    printf("ok queue invalid handles\n");
}

/* A queue made before fork() does not exist in the child; the child makes its own, and the
 * parent's queue goes on working. */
static void fork_child(void) {
    int32_t fd;
    uint64_t q = liter_llm_queue_new(&fd);
    CHECK(liter_llm_invoke_queued(NULL, MOCK, q, 1) != 0, "start before the fork");
    CHECK(wait_readable(fd), "the result before the fork");
    pid_t pid = fork();
    if (pid == 0) {
        Event events[2];
        int bad = 0;
        bad |= drain(q, events, 2) != -1;
        bad |= liter_llm_invoke_queued(NULL, MOCK, q, 2) != 0;
        bad |= liter_llm_queue_free(q) != 0;
        int32_t mine_fd;
        uint64_t mine = liter_llm_queue_new(&mine_fd);
        bad |= mine == 0 || mine == q;
        bad |= liter_llm_invoke_queued(NULL, MOCK, mine, 3) == 0;
        bad |= collect(mine, mine_fd, events, 1, 2) != 1 || events[0].tag != 3 || events[0].len <= 0;
        liter_llm_free(events[0].data);
        liter_llm_queue_free(mine);
        _exit(bad);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the child's queue checks failed (status %d)", status);
    Event events[2];
    CHECK(liter_llm_invoke_queued(NULL, MOCK, q, 4) != 0, "start after the fork");
    int n = collect(q, fd, events, 2, 2);
    CHECK(n == 2 && events[0].tag == 1 && events[1].tag == 4, "the parent's events after the fork: %d", n);
    free_events(events, n);
    liter_llm_queue_free(q);
    printf("ok queue fork\n");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "fork") == 0) {
        fork_child();
        return failures ? 1 : 0;
    }
    results_and_errors();
    small_capacity();
    host_reads_the_fd();
    streams();
    cancel_and_free();
    invalid_handles();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C ABI completion queue: all checks passed\n");
    return 0;
}
