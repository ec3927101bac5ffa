// ABI mock host: plays Envoy v1.39.0's side of the contrib golang ABI for a real govoy.so.
// The layout of every struct shared with Go comes from Envoy's own api.h
// (contrib/golang/common/go/api/api.h), included from the pinned Envoy module.
#ifndef GOVOY_ABIHOST_H
#define GOVOY_ABIHOST_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

// cgo's string header (contrib/golang/common/dso/libgolang.h: _GoString_).
typedef struct {
  const char* p;
  ptrdiff_t n;
} GoString;
typedef struct {
  void* data;
  int64_t len;
  int64_t cap;
} GoSlice;

/* ---------- small containers ---------- */
typedef struct {
  char* p;
  size_t len, cap;
} buf_t;
void buf_add(buf_t* b, const void* p, size_t n);
void buf_prepend(buf_t* b, const void* p, size_t n);
void buf_drain(buf_t* b, size_t n);
void buf_move(buf_t* dst, buf_t* src); // appends src to dst, empties src
void buf_free(buf_t* b);
void buf_printf(buf_t* b, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct {
  char* k;
  size_t kl;
  char* v;
  size_t vl;
} hdr_t;
typedef struct {
  hdr_t* h;
  size_t n, cap;
} hdrmap_t;
void hm_add(hdrmap_t* m, const char* k, size_t kl, const char* v, size_t vl); // key lower-cased
void hm_set(hdrmap_t* m, const char* k, size_t kl, const char* v, size_t vl);
void hm_remove(hdrmap_t* m, const char* k, size_t kl);
hdr_t* hm_get(hdrmap_t* m, const char* k, size_t kl);
size_t hm_bytes(hdrmap_t* m); // Envoy's HeaderMap::byteSize(): sum of key and value lengths
void hm_free(hdrmap_t* m);

/* ---------- counters ---------- */
enum {
  C_REQUESTS,           // downstream requests started
  C_STREAMS_DESTROYED,  // streams whose filters were destroyed
  C_GO_DESTROY,         // envoyGoFilterOnHttpDestroy calls
  C_FINALIZE,           // envoyGoFilterHttpFinalize calls (Go GC finalizers)
  C_REQ_FREED,          // HttpRequestInternal freed
  C_CONFIG_FINALIZE,    // envoyGoConfigHttpFinalize calls
  C_PANIC_ERROR,        // golang.panic_error (stats.h)
  C_LOCAL_REPLY,        // local replies sent
  C_UPSTREAM_RQ,        // requests sent upstream
  C_UPSTREAM_FAIL,      // upstream connect/read failures (503)
  C_POSTED,             // callbacks posted to a worker dispatcher from a non-worker thread
  C_YIELD,              // CAPIYield returned (read from a goroutine)
  C_SEMA_DEC,           // envoyGoRequestSemaDec calls
  C_NOT_IN_GO,          // CAPINotInGo returned
  C_INVALID_PHASE,      // CAPIInvalidPhase returned
  C_FILTER_DESTROYED,   // CAPIFilterIsDestroy returned
  C_FILTER_GONE,        // CAPIFilterIsGone returned
  C_LOGS,               // envoyGoFilterLog calls
  C_STREAM_COMPLETE,    // envoyGoFilterOnHttpStreamComplete calls
  C_ACCESS_LOG,         // envoyGoFilterOnHttpLog calls
  C_RESET,              // streams reset (connection closed mid-stream)
  C_NET_CONNS,          // network filter: downstream connections
  C_NET_CLOSED,         // network filter: downstream connections closed
  C_NET_FINALIZE,       // envoyGoFilterDownstreamFinalize: wrappers freed
  C_NET_UP_CONNS,       // envoyGoFilterUpstreamConnect calls
  C_NET_UP_READY,       // upstream connections ready
  C_NET_UP_FAIL,        // upstream connection failures
  C_NET_UP_FINALIZE,    // envoyGoFilterUpstreamFinalize: wrappers freed
  C_CS_ERRORS,          // envoyGoClusterSpecifierLogError calls
  C_NO_CLUSTER,         // requests whose cluster does not exist (503)
  C_BRIDGE_RQ,          // requests handed to the HTTP-TCP bridge
  C_COUNT
};
extern atomic_ullong g_counters[C_COUNT];
extern const char* g_counter_names[C_COUNT];
#define COUNT(c) atomic_fetch_add(&g_counters[c], 1)

/* ---------- logging ---------- */
extern int g_log_level; // spdlog levels: 0 trace .. 5 critical, 6 off
void host_log(int level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void logs_dump(buf_t* out);

/* ---------- dispatcher (one per worker) ---------- */
typedef struct task {
  void (*fn)(void*);
  void* arg;
  struct task* next;
} task_t;

typedef struct worker {
  int id;
  char name[32]; // "worker_<id>", parsed by Envoy's config.cc for worker_id
  pthread_t thread;
  int epfd, evfd;
  pthread_mutex_t mu;
  task_t *head, *tail;
  struct idle_up {
    int fd;
    const void* cluster;
  }* idle_up; // idle upstream keep-alive sockets
  int n_idle_up, cap_idle_up;
} worker_t;

extern __thread worker_t* t_worker;
void dispatcher_post(worker_t* w, void (*fn)(void*), void* arg);
static inline int dispatcher_is_thread_safe(worker_t* w) { return t_worker == w; }

/* ---------- DSO (contrib/golang/common/dso/dso.cc) ---------- */
typedef struct {
  void* handle;
  uint64_t (*new_config)(httpConfig*);
  uint64_t (*merge_config)(uint64_t, uint64_t, uint64_t, uint64_t);
  void (*destroy_config)(uint64_t, int64_t);
  uint64_t (*on_header)(processState*, uint64_t, uint64_t, uint64_t);
  uint64_t (*on_data)(processState*, uint64_t, uint64_t, uint64_t);
  void (*on_log)(httpRequest*, uint64_t, processState*, processState*, uint64_t, uint64_t,
                 uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
  void (*on_stream_complete)(httpRequest*);
  void (*on_destroy)(httpRequest*, uint64_t);
  void (*sema_dec)(httpRequest*);
  void (*cleanup)(void);
} http_dso_t;
extern http_dso_t g_dso;
int dso_load(const char* path, const char* groups);

// NetworkFilterDsoImpl (dso.h)
typedef struct {
  uint64_t (*on_config)(uint64_t, uint64_t, uint64_t, uint64_t);
  uint64_t (*on_downstream_connection)(void*, uint64_t, uint64_t, uint64_t);
  uint64_t (*on_downstream_data)(void*, uint64_t, uint64_t, int64_t, int64_t);
  void (*on_downstream_event)(void*, int64_t);
  uint64_t (*on_downstream_write)(void*, uint64_t, uint64_t, int64_t, int64_t);
  void (*on_upstream_ready)(void*, uint64_t);
  void (*on_upstream_failure)(void*, int64_t, uint64_t);
  void (*on_upstream_data)(void*, uint64_t, uint64_t, int64_t, int64_t);
  void (*on_upstream_event)(void*, int64_t);
  void (*on_sema_dec)(void*);
} net_dso_t;
extern net_dso_t g_ndso;
extern int g_network;            // --network: serve the golang network filter instead of HTTP
extern uint64_t g_net_config_id; // envoyGoFilterOnNetworkFilterConfig result
extern worker_t** g_workers;
void net_accept(worker_t* w, int fd, const char* local, const char* remote);
void net_on_event(void* tag, uint32_t events);

// ClusterSpecifierDsoImpl (dso.h)
typedef struct {
  uint64_t (*new_plugin)(uint64_t, uint64_t);
  int64_t (*on_specify)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
} cs_dso_t;
extern cs_dso_t g_csdso;
extern uint64_t g_cs_plugin_id;
#define MAX_CLUSTERS 32
typedef struct {
  char name[128];
  char host[64];
  int port;
} cluster_t;
extern cluster_t g_clusters[MAX_CLUSTERS];
extern size_t g_n_clusters;
extern char g_default_cluster[128];
cluster_t* cluster_find(const char* name);

// HttpTcpBridgeDsoImpl (dso.h)
struct stream;
typedef struct {
  uint64_t (*on_config)(httpConfig*);
  void (*destroy_config)(uint64_t);
  uint64_t (*on_encode_header)(processState*, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
  uint64_t (*on_encode_data)(processState*, uint64_t, uint64_t, uint64_t);
  uint64_t (*on_upstream_data)(processState*, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
  void (*on_destroy)(httpRequest*);
} bridge_dso_t;
extern bridge_dso_t g_bdso;
extern uint64_t g_bridge_config_id;
uint64_t bridge_config(const char* name, buf_t* any);
void bridge_exchange(struct stream* s, cluster_t* cl);

// epoll tags: every registered object starts with an int kind
enum { TAG_CONN = 1, TAG_LISTEN = 2, TAG_WAKE = 3, TAG_NCONN = 4, TAG_UCONN = 5 };

/* ---------- config (golang_filter.cc FilterConfig / RoutePluginConfig) ---------- */
typedef struct metric {
  uint32_t id;
  int type; // 0 counter, 1 gauge, 2 histogram (golang_filter.h MetricType)
  char* name;
  int64_t value;
  uint64_t samples;
} metric_t;

typedef struct filter_config {
  httpConfig base; // httpConfigInternal: what Go keeps as its config handle
  char* plugin_name;
  buf_t any;      // serialized google.protobuf.Any
  uint64_t config_id;
  pthread_mutex_t mu;
  metric_t* metrics;
  size_t n_metrics, cap_metrics;
  uint32_t next_id[3];
  uint32_t buffer_limit;
} filter_config_t;

typedef struct route {
  char* prefix;
  char* name;
  buf_t any; // per-route Any for the plugin, empty when the route has none
  httpConfig cfg;
  uint64_t config_id, merged_id, cached_parent;
  pthread_rwlock_t lock;
} route_t;

extern filter_config_t g_config;
extern route_t* g_routes;
extern size_t g_n_routes;
extern uint32_t g_concurrency;
uint64_t route_merged_config_id(route_t* r, uint64_t parent_id);
route_t* route_match(const char* path, size_t len);

/* ---------- HTTP stream: Envoy's golang Filter + a one-filter FilterManager ---------- */
enum filter_state {
  WaitingHeader,
  ProcessingHeader,
  WaitingData,
  WaitingAllData,
  ProcessingData,
  WaitingTrailer,
  ProcessingTrailer,
  Done,
};
enum golang_status {
  GS_Running,
  GS_LocalReply,
  GS_Continue,
  GS_StopAndBuffer,
  GS_StopAndBufferWatermark,
  GS_StopNoBuffer,
};

struct stream;
typedef struct pstate {
  processState base; // must be first: Go holds a *C.processState
  struct stream* s;
  hdrmap_t* headers;
  hdrmap_t* trailers;
  buf_t** dd; // doDataList
  size_t n_dd, cap_dd;
  buf_t data_buffer;
  int above_high;
  int end_stream, do_end_stream;
} pstate_t;

typedef struct reqint {
  httpRequest base; // HttpRequestInternal: first member is the C struct Go sees
  struct stream* filter; // weak: cleared when the stream is freed (guarded by g_weak_mu)
  struct stream* mem;    // the stream's memory, kept until this request is released
  worker_t* w;
  buf_t str_value;
} reqint_t;

typedef struct {
  char* ns;
  char* key;
  buf_t val;
} kv_t;

struct conn;
typedef struct stream {
  int refs;  // guarded by g_weak_mu
  int dying; // 1: refs hit 0, 2: members released (guarded by g_weak_mu)
  worker_t* w;
  struct conn* conn;
  route_t* route;
  reqint_t* req;
  pstate_t dec, enc;
  pthread_mutex_t mu; // Filter::mutex_
  atomic_int destroyed; // has_destroyed_
  int finished;
  // request side
  hdrmap_t req_headers, req_trailers;
  int req_headers_end, req_complete, dec_aborted;
  int router_headers_sent, router_trailers_sent, router_done;
  // what goes upstream
  buf_t up_body;
  int up_has_trailers;
  // response side
  hdrmap_t resp_headers, resp_trailers;
  int have_resp_headers, have_resp_trailers, resp_headers_end;
  int codec_headers_sent, codec_trailers_sent, codec_done;
  buf_t down_body;
  int local_reply;
  // stream info
  int response_code;
  char details[64];
  char local_addr[64], remote_addr[64], upstream_local[64], upstream_remote[64];
  int attempted_upstream, drain_on_complete;
  kv_t* meta; // dynamic metadata: (filter name, key, serialized google.protobuf.Value)
  size_t n_meta;
  kv_t* fstate; // string filter state: (key, -, value)
  size_t n_fstate;
  char override_host[128]; // setUpstreamOverrideHost
  int override_strict;
  int route_resolved; // cleared by ClearRouteCache
  char cluster[128];  // what the route (and the cluster specifier) picked
} stream_t;
void route_resolve(stream_t* s);
void kv_put(kv_t** arr, size_t* n, const char* ns, size_t nsl, const char* key, size_t kl,
            const char* v, size_t vl);
void kv_free(kv_t* arr, size_t n);

extern pthread_mutex_t g_weak_mu;
extern int g_noop;
void stream_ref(stream_t* s);
void stream_unref(stream_t* s);
void req_release(reqint_t* r);
stream_t* stream_new(worker_t* w, struct conn* c);
void fm_decode_headers(stream_t* s, int end);
void fm_decode_data(stream_t* s, buf_t* data, int end);
void fm_decode_trailers(stream_t* s);
void fm_encode_headers(stream_t* s, int end);
void fm_encode_data(stream_t* s, buf_t* data, int end);
void fm_encode_trailers(stream_t* s);
void fm_send_local_reply(stream_t* s, int code, const char* body, size_t body_len,
                         hdrmap_t* extra, const char* details);
void stream_reset(stream_t* s);

// exported C API implementation helpers used by capi.c
CAPIStatus filter_continue_status(stream_t* s, pstate_t* st, int status);
CAPIStatus filter_send_local_reply(stream_t* s, pstate_t* st, int code, const char* body,
                                   size_t body_len, hdrmap_t* extra, const char* details);
CAPIStatus filter_add_data(stream_t* s, pstate_t* st, const char* p, size_t n, int streaming);
CAPIStatus filter_inject_data(stream_t* s, pstate_t* st, const char* p, size_t n);
void filter_set_header_posted(stream_t* s, hdrmap_t* m, const char* k, size_t kl, const char* v,
                              size_t vl, int action, int remove);
int pstate_dd_exists(pstate_t* st, buf_t* b);
int pstate_in_go(pstate_t* st);
void pstate_check_watermark(pstate_t* st);

/* ---------- connections (conn.c) ---------- */
void conn_accept(worker_t* w, int lfd);
void conn_on_event(void* conn, uint32_t events);
void codec_response_done(stream_t* s);
void router_exchange(stream_t* s);
void stream_finish(stream_t* s);
extern char g_upstream_host[64];
extern int g_upstream_port;

/* ---------- in-process benchmark (bench.c) ---------- */
extern int g_bench;
extern long g_bench_n, g_bench_warmup;
extern size_t g_bench_body;
extern const char* g_bench_path;
extern const char* g_bench_name;
void bench_add_header(const char* kv);
void bench_set_status(int code);
void bench_upstream_response(stream_t* s);
int bench_run(void);

#endif
