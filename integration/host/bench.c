// In-process benchmark (--bench N): on each worker thread, N synthetic requests go through the
// same FilterManager, golang filter state machine and C API as served requests, with no sockets:
// decode headers [+ data], the router's posted task answers with a synthetic upstream response
// (encode headers + data), then onStreamComplete, log and onDestroy. Continuations posted by Go
// (Continue from a goroutine, router tasks) travel through the worker's own dispatcher queue and
// eventfd, exactly as in the epoll loop. What is left out is the socket I/O and HTTP parsing, which
// costs the same with or without the golang filter and hides its microseconds under noise.
#include "host.h" // first: defines _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

int g_bench;             // --bench: run the in-process benchmark instead of listening
long g_bench_n;          // requests per worker
long g_bench_warmup;     // requests per worker before the clock starts
size_t g_bench_body;     // request body bytes (0: GET without body)
const char* g_bench_path = "/bench";
const char* g_bench_name = "bench";
static hdrmap_t g_bench_headers; // --bench-header K:V
static int g_bench_status = 200; // expected response status

void bench_add_header(const char* kv) {
  const char* colon = strchr(kv, ':');
  if (!colon || colon == kv) {
    fprintf(stderr, "abihost: --bench-header: want NAME:VALUE, got %s\n", kv);
    exit(2);
  }
  const char* v = colon + 1;
  while (*v == ' ')
    v++;
  hm_add(&g_bench_headers, kv, (size_t)(colon - kv), v, strlen(v));
}

void bench_set_status(int code) { g_bench_status = code; }

// The upstream's answer, as router_exchange hands a real one to the encoder chain.
void bench_upstream_response(stream_t* s) {
  hm_free(&s->resp_headers);
  hm_add(&s->resp_headers, ":status", 7, "200", 3);
  hm_add(&s->resp_headers, "content-type", 12, "text/plain; charset=utf-8", 25);
  hm_add(&s->resp_headers, "date", 4, "Sun, 22 Nov 2026 00:00:00 GMT", 29);
  s->response_code = 200;
  snprintf(s->upstream_local, sizeof(s->upstream_local), "127.0.0.1:40000");
  snprintf(s->upstream_remote, sizeof(s->upstream_remote), "127.0.0.1:8080");
  buf_t body = {0};
  buf_add(&body, "ok", 2);
  stream_ref(s);
  fm_encode_headers(s, 0);
  if (!s->finished)
    fm_encode_data(s, &body, 1);
  buf_free(&body);
  stream_unref(s);
}

// Runs what was posted to the worker's dispatcher; waits on its eventfd (bounded) when empty.
static int drain_tasks(worker_t* w) {
  pthread_mutex_lock(&w->mu);
  task_t* t = w->head;
  w->head = w->tail = NULL;
  pthread_mutex_unlock(&w->mu);
  if (!t) {
    struct pollfd p = {.fd = w->evfd, .events = POLLIN};
    int r = poll(&p, 1, 10000);
    if (r == 0)
      return -1; // nothing arrived for 10 s: the request is stuck
    uint64_t v;
    ssize_t n = read(w->evfd, &v, sizeof(v));
    (void)n;
    return 0;
  }
  while (t) {
    task_t* next = t->next;
    t->fn(t->arg);
    free(t);
    t = next;
  }
  return 0;
}

static const char* bench_method(void) { return g_bench_body ? "POST" : "GET"; }

// One request, start to destroy. Returns 0 when it ended with the expected status.
static int bench_one(worker_t* w, unsigned long long seq) {
  stream_t* s = stream_new(w, NULL); // the reference the downstream connection would hold
  snprintf(s->local_addr, sizeof(s->local_addr), "127.0.0.1:10000");
  snprintf(s->remote_addr, sizeof(s->remote_addr), "127.0.0.1:50000");
  hdrmap_t* h = &s->req_headers;
  hm_add(h, ":authority", 10, "bench.local", 11);
  hm_add(h, ":path", 5, g_bench_path, strlen(g_bench_path));
  hm_add(h, ":method", 7, bench_method(), strlen(bench_method()));
  hm_add(h, ":scheme", 7, "http", 4);
  hm_add(h, "user-agent", 10, "abihost-bench", 13);
  hm_add(h, "accept", 6, "*/*", 3);
  for (size_t i = 0; i < g_bench_headers.n; i++)
    hm_add(h, g_bench_headers.h[i].k, g_bench_headers.h[i].kl, g_bench_headers.h[i].v,
           g_bench_headers.h[i].vl);
  hm_set(h, "x-forwarded-proto", 17, "http", 4);
  char id[40];
  int idl = snprintf(id, sizeof(id), "bench-%d-%016llx", w->id, seq);
  hm_add(h, "x-request-id", 12, id, (size_t)idl);
  s->route = route_match(g_bench_path, strlen(g_bench_path));
  int end = g_bench_body == 0;
  if (end)
    s->req_complete = 1;
  stream_ref(s);
  fm_decode_headers(s, end);
  if (!end && !s->finished) {
    buf_t b = {0};
    char* zeros = calloc(1, g_bench_body);
    buf_add(&b, zeros, g_bench_body);
    free(zeros);
    s->req_complete = 1;
    fm_decode_data(s, &b, 1);
    buf_free(&b);
  }
  stream_unref(s);
  int rc = 0;
  while (!s->finished) {
    if (drain_tasks(w) < 0) {
      fprintf(stderr, "abihost: --bench: request %llu on %s made no progress for 10 s\n", seq,
              w->name);
      exit(1);
    }
  }
  hdr_t* st = hm_get(&s->resp_headers, ":status", 7);
  if (!st || atoi(st->v) != g_bench_status) {
    rc = -1;
    if (seq == 0)
      fprintf(stderr, "abihost: --bench: first request ended with status %s, want %d (%s)\n",
              st ? st->v : "none", g_bench_status, s->details);
  }
  s->conn = NULL;
  stream_unref(s);
  return rc;
}

typedef struct {
  worker_t* w;
  pthread_barrier_t* bar;
  long failures;
  double wall_ns, cpu_ns;
} bench_arg_t;

static double now_ns(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void* bench_worker(void* p) {
  bench_arg_t* a = p;
  t_worker = a->w;
  unsigned long long seq = 0;
  for (long i = 0; i < g_bench_warmup; i++)
    a->failures += bench_one(a->w, seq++) ? 1 : 0;
  pthread_barrier_wait(a->bar);
  double w0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  for (long i = 0; i < g_bench_n; i++)
    a->failures += bench_one(a->w, seq++) ? 1 : 0;
  a->wall_ns = now_ns(CLOCK_MONOTONIC) - w0;
  a->cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
  pthread_barrier_wait(a->bar);
  return NULL;
}

// Prints one line: BENCH name=... workers=... requests=... ns_per_request=... (see README);
// posted_from_go counts callbacks posted to a worker from other threads (async continuations).
int bench_run(void) {
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, g_concurrency + 1);
  bench_arg_t* args = calloc(g_concurrency, sizeof(*args));
  for (uint32_t i = 0; i < g_concurrency; i++) {
    args[i].w = g_workers[i];
    args[i].bar = &bar;
    pthread_create(&g_workers[i]->thread, NULL, bench_worker, &args[i]);
  }
  pthread_barrier_wait(&bar);
  double w0 = now_ns(CLOCK_MONOTONIC), p0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  pthread_barrier_wait(&bar);
  double wall = now_ns(CLOCK_MONOTONIC) - w0, proc = now_ns(CLOCK_PROCESS_CPUTIME_ID) - p0;
  long failures = 0;
  double worker_wall = 0, worker_cpu = 0;
  for (uint32_t i = 0; i < g_concurrency; i++) {
    pthread_join(g_workers[i]->thread, NULL);
    failures += args[i].failures;
    worker_wall += args[i].wall_ns;
    worker_cpu += args[i].cpu_ns;
  }
  double total = (double)g_bench_n * g_concurrency;
  // ns_per_request: a worker's wall time per request (its latency when run back to back);
  // worker_cpu_ns: CPU of the worker threads per request; process_cpu_ns: every thread,
  // including Go's GC, finalizers and goroutines, per request.
  printf("BENCH name=%s workers=%u requests=%.0f failures=%ld ns_per_request=%.0f "
         "worker_cpu_ns=%.0f process_cpu_ns=%.0f requests_per_s=%.0f posted_from_go=%llu\n",
         g_bench_name, g_concurrency, total, failures, worker_wall / total, worker_cpu / total,
         proc / total, total / (wall / 1e9), (unsigned long long)atomic_load(&g_counters[C_POSTED]));
  fflush(stdout);
  free(args);
  return failures ? 1 : 0;
}
