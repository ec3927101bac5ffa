// Containers, counters, logs, the per-worker dispatcher and DSO loading.
#include "host.h"  // first: defines _GNU_SOURCE

#include <ctype.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>


/* ---------- buffers ---------- */
static void buf_reserve(buf_t* b, size_t need) {
  if (b->cap >= need)
    return;
  size_t c = b->cap ? b->cap * 2 : 256;
  while (c < need)
    c *= 2;
  b->p = realloc(b->p, c);
  if (!b->p) {
    fprintf(stderr, "abihost: out of memory\n");
    abort();
  }
  b->cap = c;
}
void buf_add(buf_t* b, const void* p, size_t n) {
  if (!n)
    return;
  buf_reserve(b, b->len + n);
  memcpy(b->p + b->len, p, n);
  b->len += n;
}
void buf_prepend(buf_t* b, const void* p, size_t n) {
  if (!n)
    return;
  buf_reserve(b, b->len + n);
  memmove(b->p + n, b->p, b->len);
  memcpy(b->p, p, n);
  b->len += n;
}
void buf_drain(buf_t* b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}
void buf_move(buf_t* dst, buf_t* src) {
  if (dst->len == 0 && dst->cap < src->cap) {
    // Swap storage instead of copying, like Envoy's slice moves.
    buf_t t = *dst;
    *dst = *src;
    *src = t;
    src->len = 0;
    return;
  }
  buf_add(dst, src->p, src->len);
  src->len = 0;
}
void buf_free(buf_t* b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}
void buf_printf(buf_t* b, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char* s = NULL;
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n > 0)
    buf_add(b, s, (size_t)n);
  free(s);
}

/* ---------- header maps ---------- */
static char* lower_dup(const char* k, size_t kl) {
  char* s = malloc(kl + 1);
  for (size_t i = 0; i < kl; i++)
    s[i] = (char)tolower((unsigned char)k[i]);
  s[kl] = 0;
  return s;
}
static char* dup_n(const char* v, size_t vl) {
  char* s = malloc(vl + 1);
  if (vl)
    memcpy(s, v, vl);
  s[vl] = 0;
  return s;
}
void hm_add(hdrmap_t* m, const char* k, size_t kl, const char* v, size_t vl) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 16;
    m->h = realloc(m->h, m->cap * sizeof(hdr_t));
  }
  hdr_t* h = &m->h[m->n++];
  h->k = lower_dup(k, kl);
  h->kl = kl;
  h->v = dup_n(v, vl);
  h->vl = vl;
}
hdr_t* hm_get(hdrmap_t* m, const char* k, size_t kl) {
  for (size_t i = 0; i < m->n; i++)
    if (m->h[i].kl == kl && strncasecmp(m->h[i].k, k, kl) == 0)
      return &m->h[i];
  return NULL;
}
void hm_remove(hdrmap_t* m, const char* k, size_t kl) {
  size_t j = 0;
  for (size_t i = 0; i < m->n; i++) {
    if (m->h[i].kl == kl && strncasecmp(m->h[i].k, k, kl) == 0) {
      free(m->h[i].k);
      free(m->h[i].v);
      continue;
    }
    m->h[j++] = m->h[i];
  }
  m->n = j;
}
void hm_set(hdrmap_t* m, const char* k, size_t kl, const char* v, size_t vl) {
  // Envoy's setCopy replaces the first entry and removes the rest.
  hdr_t* h = hm_get(m, k, kl);
  if (!h) {
    hm_add(m, k, kl, v, vl);
    return;
  }
  free(h->v);
  h->v = dup_n(v, vl);
  h->vl = vl;
  size_t idx = (size_t)(h - m->h), j = idx + 1;
  for (size_t i = idx + 1; i < m->n; i++) {
    if (m->h[i].kl == kl && strncasecmp(m->h[i].k, k, kl) == 0) {
      free(m->h[i].k);
      free(m->h[i].v);
      continue;
    }
    m->h[j++] = m->h[i];
  }
  m->n = j;
}
size_t hm_bytes(hdrmap_t* m) {
  size_t n = 0;
  for (size_t i = 0; i < m->n; i++)
    n += m->h[i].kl + m->h[i].vl;
  return n;
}
void hm_free(hdrmap_t* m) {
  for (size_t i = 0; i < m->n; i++) {
    free(m->h[i].k);
    free(m->h[i].v);
  }
  free(m->h);
  m->h = NULL;
  m->n = m->cap = 0;
}

/* ---------- counters ---------- */
atomic_ullong g_counters[C_COUNT];
const char* g_counter_names[C_COUNT] = {
    "host.requests",        "host.streams_destroyed", "host.go_destroy",
    "host.finalize",        "host.req_freed",         "host.config_finalize",
    "golang.panic_error",   "host.local_reply",       "host.upstream_rq",
    "host.upstream_fail",   "host.posted",            "host.capi_yield",
    "host.sema_dec",        "host.capi_not_in_go",    "host.capi_invalid_phase",
    "host.capi_filter_destroyed", "host.capi_filter_gone", "host.go_logs",
    "host.stream_complete", "host.access_log",        "host.stream_reset",
    "net.downstream_conns", "net.downstream_closed",  "net.downstream_finalize",
    "net.upstream_conns",   "net.upstream_ready",     "net.upstream_fail",
    "net.upstream_finalize", "cluster_specifier.errors", "host.no_cluster",
    "bridge.requests",
};

/* ---------- logs: stderr plus a bounded in-memory ring for the admin endpoint ---------- */
int g_log_level = 2;
#define LOG_RING 4096
static char* g_ring[LOG_RING];
static size_t g_ring_next;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static const char* level_names[] = {"trace", "debug", "info", "warning", "error", "critical"};

void host_log(int level, const char* fmt, ...) {
  if (level < g_log_level || level > 5)
    return;
  buf_t b = {0};
  buf_printf(&b, "[%s] ", level_names[level]);
  va_list ap;
  va_start(ap, fmt);
  char* msg = NULL;
  int n = vasprintf(&msg, fmt, ap);
  va_end(ap);
  if (n > 0)
    buf_add(&b, msg, (size_t)n);
  free(msg);
  buf_add(&b, "\0", 1);
  fprintf(stderr, "%s\n", b.p);
  pthread_mutex_lock(&g_log_mu);
  free(g_ring[g_ring_next % LOG_RING]);
  g_ring[g_ring_next % LOG_RING] = b.p;
  g_ring_next++;
  pthread_mutex_unlock(&g_log_mu);
}

void logs_dump(buf_t* out) {
  pthread_mutex_lock(&g_log_mu);
  size_t start = g_ring_next > LOG_RING ? g_ring_next - LOG_RING : 0;
  for (size_t i = start; i < g_ring_next; i++) {
    buf_printf(out, "%s\n", g_ring[i % LOG_RING]);
  }
  pthread_mutex_unlock(&g_log_mu);
}

/* ---------- dispatcher ---------- */
__thread worker_t* t_worker;

// Event::Dispatcher::post: queue a callback for the worker's event loop, wake it via eventfd.
void dispatcher_post(worker_t* w, void (*fn)(void*), void* arg) {
  task_t* t = malloc(sizeof(*t));
  t->fn = fn;
  t->arg = arg;
  t->next = NULL;
  if (t_worker != w)
    COUNT(C_POSTED);
  pthread_mutex_lock(&w->mu);
  if (w->tail)
    w->tail->next = t;
  else
    w->head = t;
  w->tail = t;
  pthread_mutex_unlock(&w->mu);
  uint64_t one = 1;
  ssize_t r = write(w->evfd, &one, sizeof(one));
  (void)r;
}

/* ---------- DSO loading, mirroring contrib/golang/common/dso/dso.cc ---------- */
http_dso_t g_dso;

static int sym(void* h, const char* lib, const char* name, void** out) {
  *out = dlsym(h, name);
  if (!*out) {
    // Same message as dso.cc's dlsymInternal.
    host_log(4, "lib: %s, cannot find symbol: %s, err: %s", lib, name, dlerror());
    return 0;
  }
  return 1;
}

// groups: comma separated subset of http,network,cluster,bridge: the DSO kinds Envoy would load
// for the configured extensions. Each kind dlsyms its full symbol list and fails when one is
// missing, as HttpFilterDsoImpl, NetworkFilterDsoImpl, ClusterSpecifierDsoImpl and
// HttpTcpBridgeDsoImpl do.
int dso_load(const char* path, const char* groups) {
  void* h = dlopen(path, RTLD_LAZY); // dso.cc: dlopen(dso_name, RTLD_LAZY)
  if (!h) {
    host_log(4, "cannot load : %s error: %s", path, dlerror());
    return 0;
  }
  g_dso.handle = h;
  int ok = 1;
  if (strstr(groups, "http")) { // HttpFilterDsoImpl
    ok &= sym(h, path, "envoyGoFilterNewHttpPluginConfig", (void**)&g_dso.new_config);
    ok &= sym(h, path, "envoyGoFilterMergeHttpPluginConfig", (void**)&g_dso.merge_config);
    ok &= sym(h, path, "envoyGoFilterDestroyHttpPluginConfig", (void**)&g_dso.destroy_config);
    ok &= sym(h, path, "envoyGoFilterOnHttpHeader", (void**)&g_dso.on_header);
    ok &= sym(h, path, "envoyGoFilterOnHttpData", (void**)&g_dso.on_data);
    ok &= sym(h, path, "envoyGoFilterOnHttpLog", (void**)&g_dso.on_log);
    ok &= sym(h, path, "envoyGoFilterOnHttpStreamComplete", (void**)&g_dso.on_stream_complete);
    ok &= sym(h, path, "envoyGoFilterOnHttpDestroy", (void**)&g_dso.on_destroy);
    ok &= sym(h, path, "envoyGoRequestSemaDec", (void**)&g_dso.sema_dec);
    ok &= sym(h, path, "envoyGoFilterCleanUp", (void**)&g_dso.cleanup);
  }
  if (strstr(groups, "network")) {
    ok &= sym(h, path, "envoyGoFilterOnNetworkFilterConfig", (void**)&g_ndso.on_config);
    ok &= sym(h, path, "envoyGoFilterOnDownstreamConnection",
              (void**)&g_ndso.on_downstream_connection);
    ok &= sym(h, path, "envoyGoFilterOnDownstreamData", (void**)&g_ndso.on_downstream_data);
    ok &= sym(h, path, "envoyGoFilterOnDownstreamEvent", (void**)&g_ndso.on_downstream_event);
    ok &= sym(h, path, "envoyGoFilterOnDownstreamWrite", (void**)&g_ndso.on_downstream_write);
    ok &= sym(h, path, "envoyGoFilterOnUpstreamConnectionReady", (void**)&g_ndso.on_upstream_ready);
    ok &= sym(h, path, "envoyGoFilterOnUpstreamConnectionFailure",
              (void**)&g_ndso.on_upstream_failure);
    ok &= sym(h, path, "envoyGoFilterOnUpstreamData", (void**)&g_ndso.on_upstream_data);
    ok &= sym(h, path, "envoyGoFilterOnUpstreamEvent", (void**)&g_ndso.on_upstream_event);
    ok &= sym(h, path, "envoyGoFilterOnSemaDec", (void**)&g_ndso.on_sema_dec);
  }
  if (strstr(groups, "cluster")) {
    ok &= sym(h, path, "envoyGoClusterSpecifierNewPlugin", (void**)&g_csdso.new_plugin);
    ok &= sym(h, path, "envoyGoOnClusterSpecify", (void**)&g_csdso.on_specify);
  }
  if (strstr(groups, "bridge")) {
    ok &= sym(h, path, "envoyGoHttpTcpBridgeOnConfig", (void**)&g_bdso.on_config);
    ok &= sym(h, path, "envoyGoHttpTcpBridgeDestroyPluginConfig", (void**)&g_bdso.destroy_config);
    ok &= sym(h, path, "envoyGoHttpTcpBridgeOnEncodeHeader", (void**)&g_bdso.on_encode_header);
    ok &= sym(h, path, "envoyGoHttpTcpBridgeOnEncodeData", (void**)&g_bdso.on_encode_data);
    ok &= sym(h, path, "envoyGoHttpTcpBridgeOnUpstreamData", (void**)&g_bdso.on_upstream_data);
    ok &= sym(h, path, "envoyGoHttpTcpBridgeOnDestroy", (void**)&g_bdso.on_destroy);
  }
  return ok;
}
