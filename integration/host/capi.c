// Every envoyGo* function of contrib/golang/common/go/api/api.h, exported from the executable
// (linked with -rdynamic) so the Go .so resolves them at dlopen time, as it does inside Envoy.
// HTTP entries follow contrib/golang/filters/http/source/cgo.cc and golang_filter.cc.
#include "host.h"

#include <arpa/inet.h>

void conn_set_drain(struct conn* c);

void kv_put(kv_t** arr, size_t* n, const char* ns, size_t nsl, const char* key, size_t kl,
            const char* v, size_t vl) {
  for (size_t i = 0; i < *n; i++) {
    kv_t* e = &(*arr)[i];
    if (strlen(e->ns) == nsl && strncmp(e->ns, ns, nsl) == 0 && strlen(e->key) == kl &&
        strncmp(e->key, key, kl) == 0) {
      e->val.len = 0;
      buf_add(&e->val, v, vl);
      return;
    }
  }
  *arr = realloc(*arr, (*n + 1) * sizeof(kv_t));
  kv_t* e = &(*arr)[(*n)++];
  e->ns = strndup(ns, nsl);
  e->key = strndup(key, kl);
  memset(&e->val, 0, sizeof(e->val));
  buf_add(&e->val, v, vl);
}
void kv_free(kv_t* arr, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(arr[i].ns);
    free(arr[i].key);
    buf_free(&arr[i].val);
  }
  free(arr);
}

static CAPIStatus counted(CAPIStatus st) {
  switch (st) {
  case CAPIYield:
    COUNT(C_YIELD);
    break;
  case CAPINotInGo:
    COUNT(C_NOT_IN_GO);
    break;
  case CAPIInvalidPhase:
    COUNT(C_INVALID_PHASE);
    break;
  case CAPIFilterIsDestroy:
    COUNT(C_FILTER_DESTROYED);
    break;
  case CAPIFilterIsGone:
    COUNT(C_FILTER_GONE);
    break;
  default:
    break;
  }
  return st;
}

static stream_t* lock_filter(reqint_t* r) {
  pthread_mutex_lock(&g_weak_mu);
  stream_t* s = r->filter;
  if (s)
    s->refs++;
  pthread_mutex_unlock(&g_weak_mu);
  return s;
}

// cgo.cc envoyGoFilterProcessStateHandlerWrapper: state must be processing in Go, filter alive.
#define WITH_STATE(sp)                                                                            \
  pstate_t* st = (pstate_t*)(sp);                                                                 \
  if (!pstate_in_go(st))                                                                          \
    return counted(CAPINotInGo);                                                                  \
  stream_t* s = lock_filter((reqint_t*)st->base.req);                                             \
  if (!s)                                                                                         \
    return counted(CAPIFilterIsGone);                                                             \
  CAPIStatus rc;

// cgo.cc envoyGoFilterHandlerWrapper: request-level calls.
#define WITH_REQ(rp)                                                                              \
  reqint_t* r = (reqint_t*)(rp);                                                                  \
  stream_t* s = lock_filter(r);                                                                   \
  if (!s)                                                                                         \
    return counted(CAPIFilterIsGone);                                                             \
  if (!pstate_in_go(&s->dec) && !pstate_in_go(&s->enc)) {                                         \
    stream_unref(s);                                                                              \
    return counted(CAPINotInGo);                                                                  \
  }                                                                                               \
  CAPIStatus rc;

#define DONE                                                                                      \
  stream_unref(s);                                                                                \
  return counted(rc);

// The common prelude of most Filter:: methods.
#define CHECK_LIVE(st)                                                                            \
  if (atomic_load(&s->destroyed)) {                                                               \
    rc = CAPIFilterIsDestroy;                                                                     \
    goto out;                                                                                     \
  }                                                                                               \
  if (!pstate_in_go(st)) {                                                                        \
    rc = CAPINotInGo;                                                                             \
    goto out;                                                                                     \
  }

CAPIStatus envoyGoFilterHttpContinue(void* sp, int status) {
  WITH_STATE(sp);
  rc = filter_continue_status(s, st, status);
  DONE;
}

static void go_strings_to_map(void* strs, int n, hdrmap_t* m) {
  GoString* g = (GoString*)strs;
  for (int i = 0; i + 1 < n; i += 2)
    hm_add(m, g[i].p, g[i].n, g[i + 1].p, g[i + 1].n);
}

CAPIStatus envoyGoFilterHttpSendLocalReply(void* sp, int response_code, void* body_text_data,
                                           int body_text_len, void* headers, int headers_num,
                                           long long int grpc_status, void* details_data,
                                           int details_len) {
  (void)grpc_status;
  WITH_STATE(sp);
  hdrmap_t extra = {0};
  go_strings_to_map(headers, headers_num, &extra);
  char details[64];
  snprintf(details, sizeof(details), "%.*s", details_len, (const char*)details_data);
  rc = filter_send_local_reply(s, st, response_code, body_text_data, body_text_len, &extra,
                               details);
  if (rc != CAPIOK)
    hm_free(&extra);
  DONE;
}

CAPIStatus envoyGoFilterHttpSendPanicReply(void* sp, void* details_data, int details_len) {
  WITH_STATE(sp);
  COUNT(C_PANIC_ERROR);
  host_log(4, "[go_plugin_http][%s] filter paniced with error details: %.*s",
           g_config.plugin_name, details_len, (const char*)details_data);
  const char* body = "error happened in filter\r\n";
  rc = filter_send_local_reply(s, st, 500, body, strlen(body), NULL, "");
  DONE;
}

CAPIStatus envoyGoFilterHttpAddData(void* sp, void* data, int data_len, bool is_streaming) {
  WITH_STATE(sp);
  rc = filter_add_data(s, st, data, data_len, is_streaming);
  DONE;
}

CAPIStatus envoyGoFilterHttpInjectData(void* sp, void* data, int data_len) {
  WITH_STATE(sp);
  rc = filter_inject_data(s, st, data, data_len);
  DONE;
}

static CAPIStatus get_header(stream_t* s, pstate_t* st, hdrmap_t* m, void* key, int kl,
                             uint64_t* vd, int* vl) {
  if (atomic_load(&s->destroyed))
    return CAPIFilterIsDestroy;
  if (!pstate_in_go(st))
    return CAPINotInGo;
  if (!m)
    return CAPIInvalidPhase;
  hdr_t* h = hm_get(m, key, kl);
  if (h) {
    *vd = (uint64_t)(uintptr_t)h->v;
    *vl = (int)h->vl;
  }
  return CAPIOK;
}

CAPIStatus envoyGoFilterHttpGetHeader(void* sp, void* key_data, int key_len, uint64_t* value_data,
                                      int* value_len) {
  WITH_STATE(sp);
  pthread_mutex_lock(&s->mu);
  rc = get_header(s, st, st->headers, key_data, key_len, value_data, value_len);
  pthread_mutex_unlock(&s->mu);
  DONE;
}

// golang_filter.cc copyHeaderMapToGo: keys and values packed into Go's buffer, GoStrings point in.
static void copy_map_to_go(hdrmap_t* m, GoString* strs, char* buf) {
  size_t i = 0;
  for (size_t j = 0; j < m->n; j++) {
    hdr_t* h = &m->h[j];
    strs[i].n = h->kl;
    strs[i].p = buf;
    memcpy(buf, h->k, h->kl);
    buf += h->kl;
    i++;
    strs[i].n = h->vl;
    if (h->vl) {
      strs[i].p = buf;
      memcpy(buf, h->v, h->vl);
      buf += h->vl;
    }
    i++;
  }
}

static CAPIStatus copy_map(stream_t* s, pstate_t* st, hdrmap_t* m, void* strs, void* buf) {
  if (atomic_load(&s->destroyed))
    return CAPIFilterIsDestroy;
  if (!pstate_in_go(st))
    return CAPINotInGo;
  if (!m)
    return CAPIInvalidPhase;
  copy_map_to_go(m, strs, buf);
  return CAPIOK;
}

CAPIStatus envoyGoFilterHttpCopyHeaders(void* sp, void* strs, void* buf) {
  WITH_STATE(sp);
  pthread_mutex_lock(&s->mu);
  rc = copy_map(s, st, st->headers, strs, buf);
  pthread_mutex_unlock(&s->mu);
  DONE;
}

static CAPIStatus set_map(stream_t* s, pstate_t* st, hdrmap_t* m, void* k, int kl, void* v, int vl,
                          int act, int remove) {
  if (atomic_load(&s->destroyed))
    return CAPIFilterIsDestroy;
  if (!pstate_in_go(st))
    return CAPINotInGo;
  if (!m)
    return CAPIInvalidPhase;
  if (dispatcher_is_thread_safe(s->w)) {
    if (remove)
      hm_remove(m, k, kl);
    else if (act == HeaderAdd)
      hm_add(m, k, kl, v, vl);
    else
      hm_set(m, k, kl, v, vl);
  } else {
    filter_set_header_posted(s, m, k, kl, v, vl, act, remove);
  }
  return CAPIOK;
}

CAPIStatus envoyGoFilterHttpSetHeaderHelper(void* sp, void* key_data, int key_len,
                                            void* value_data, int value_len, headerAction action) {
  WITH_STATE(sp);
  rc = set_map(s, st, st->headers, key_data, key_len, value_data, value_len, action, 0);
  DONE;
}

CAPIStatus envoyGoFilterHttpRemoveHeader(void* sp, void* key_data, int key_len) {
  WITH_STATE(sp);
  rc = set_map(s, st, st->headers, key_data, key_len, NULL, 0, 0, 1);
  DONE;
}

CAPIStatus envoyGoFilterHttpGetBuffer(void* sp, uint64_t buffer, void* value) {
  WITH_STATE(sp);
  CHECK_LIVE(st);
  buf_t* b = (buf_t*)(uintptr_t)buffer;
  if (!pstate_dd_exists(st, b)) {
    rc = CAPIInvalidPhase;
    goto out;
  }
  if (b->len)
    memcpy(value, b->p, b->len);
  rc = CAPIOK;
out:
  DONE;
}

CAPIStatus envoyGoFilterHttpDrainBuffer(void* sp, uint64_t buffer, uint64_t length) {
  WITH_STATE(sp);
  CHECK_LIVE(st);
  buf_t* b = (buf_t*)(uintptr_t)buffer;
  if (!pstate_dd_exists(st, b)) {
    rc = CAPIInvalidPhase;
    goto out;
  }
  buf_drain(b, length);
  rc = CAPIOK;
out:
  DONE;
}

CAPIStatus envoyGoFilterHttpSetBufferHelper(void* sp, uint64_t buffer, void* data, int length,
                                            bufferAction action) {
  WITH_STATE(sp);
  CHECK_LIVE(st);
  buf_t* b = (buf_t*)(uintptr_t)buffer;
  if (!pstate_dd_exists(st, b)) {
    rc = CAPIInvalidPhase;
    goto out;
  }
  if (action == Set) {
    b->len = 0;
    buf_add(b, data, length);
  } else if (action == Prepend) {
    buf_prepend(b, data, length);
  } else {
    buf_add(b, data, length);
  }
  rc = CAPIOK;
out:
  DONE;
}

CAPIStatus envoyGoFilterHttpCopyTrailers(void* sp, void* strs, void* buf) {
  WITH_STATE(sp);
  pthread_mutex_lock(&s->mu);
  rc = copy_map(s, st, st->trailers, strs, buf);
  pthread_mutex_unlock(&s->mu);
  DONE;
}

CAPIStatus envoyGoFilterHttpSetTrailer(void* sp, void* key_data, int key_len, void* value,
                                       int value_len, headerAction action) {
  WITH_STATE(sp);
  rc = set_map(s, st, st->trailers, key_data, key_len, value, value_len, action, 0);
  DONE;
}

CAPIStatus envoyGoFilterHttpRemoveTrailer(void* sp, void* key_data, int key_len) {
  WITH_STATE(sp);
  rc = set_map(s, st, st->trailers, key_data, key_len, NULL, 0, 0, 1);
  DONE;
}

// Http::Utility::parseAuthority(host).is_ip_address_: an IPv4 address, optionally with a port.
static int is_ip_authority(const char* h, int n) {
  char tmp[64];
  if (n <= 0 || n >= (int)sizeof(tmp))
    return 0;
  memcpy(tmp, h, (size_t)n);
  tmp[n] = 0;
  char* colon = strrchr(tmp, ':');
  if (colon) {
    char* end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || end == colon + 1)
      return 0;
    *colon = 0;
  }
  struct in_addr a;
  return inet_pton(AF_INET, tmp, &a) == 1;
}

typedef struct {
  stream_t* s;
  char host[64];
  int strict;
} override_task_t;

static void override_task(void* arg) {
  override_task_t* t = arg;
  if (!atomic_load(&t->s->destroyed)) {
    snprintf(t->s->override_host, sizeof(t->s->override_host), "%s", t->host);
    t->s->override_strict = t->strict;
  }
  stream_unref(t->s);
  free(t);
}

// golang_filter.cc setUpstreamOverrideHost: decoding only, an IP authority, posted off-worker.
CAPIStatus envoyGoFilterHttpSetUpstreamOverrideHost(void* sp, void* host_data, int host_len,
                                                    bool strict) {
  WITH_STATE(sp);
  if (atomic_load(&s->destroyed)) {
    rc = CAPIFilterIsDestroy;
  } else if (!pstate_in_go(st)) {
    rc = CAPINotInGo;
  } else if (st->base.is_encoding) {
    rc = CAPIInvalidPhase;
  } else if (!is_ip_authority(host_data, host_len)) {
    rc = CAPIInvalidIPAddress;
  } else if (dispatcher_is_thread_safe(s->w)) {
    snprintf(s->override_host, sizeof(s->override_host), "%.*s", host_len,
             (const char*)host_data);
    s->override_strict = strict;
    rc = CAPIOK;
  } else {
    override_task_t* t = calloc(1, sizeof(*t));
    stream_ref(s);
    t->s = s;
    snprintf(t->host, sizeof(t->host), "%.*s", host_len, (const char*)host_data);
    t->strict = 0; // as Envoy's posted lambda does
    dispatcher_post(s->w, override_task, t);
    rc = CAPIOK;
  }
  DONE;
}

static void clear_route(stream_t* s, int refresh) {
  s->route_resolved = 0; // the router resolves again unless refreshed now
  if (refresh)
    route_resolve(s);
}

typedef struct {
  stream_t* s;
  int refresh;
} route_task_t;

static void route_task(void* arg) {
  route_task_t* t = arg;
  if (!atomic_load(&t->s->destroyed))
    clear_route(t->s, t->refresh);
  stream_unref(t->s);
  free(t);
}

// Filter::clearRouteCache: inline on the worker, posted from goroutines.
CAPIStatus envoyGoFilterHttpClearRouteCache(void* rp, bool refresh) {
  WITH_REQ(rp);
  if (atomic_load(&s->destroyed)) {
    rc = CAPIFilterIsDestroy;
  } else if (dispatcher_is_thread_safe(s->w)) {
    clear_route(s, refresh);
    rc = CAPIOK;
  } else {
    route_task_t* t = malloc(sizeof(*t));
    stream_ref(s);
    t->s = s;
    t->refresh = refresh;
    dispatcher_post(s->w, route_task, t);
    rc = CAPIOK;
  }
  DONE;
}

static void set_str(reqint_t* r, const char* v, size_t n, uint64_t* vd, int* vl) {
  r->str_value.len = 0;
  buf_add(&r->str_value, v, n);
  buf_add(&r->str_value, "", 1); // keep a valid pointer for empty values
  *vd = (uint64_t)(uintptr_t)r->str_value.p;
  *vl = (int)n;
}

CAPIStatus envoyGoFilterHttpGetStringValue(void* rp, int id, uint64_t* value_data,
                                           int* value_len) {
  WITH_REQ(rp);
  pthread_mutex_lock(&s->mu);
  const char* v = NULL;
  rc = CAPIOK;
  if (atomic_load(&s->destroyed)) {
    rc = CAPIFilterIsDestroy;
    goto out;
  }
  switch (id) {
  case 1: // RouteName
    v = s->route ? s->route->name : "";
    break;
  case 2: // FilterChainName
    v = "";
    break;
  case 5: // ResponseCodeDetails
    if (!s->details[0]) {
      rc = CAPIValueNotFound;
      goto out;
    }
    v = s->details;
    break;
  case 7:
    v = s->local_addr;
    break;
  case 8:
    v = s->remote_addr;
    break;
  case 9:
  case 10:
    if (!s->upstream_remote[0]) {
      rc = CAPIValueNotFound;
      goto out;
    }
    v = id == 9 ? s->upstream_local : s->upstream_remote;
    break;
  case 11: // UpstreamClusterName
    if (!s->attempted_upstream) {
      rc = CAPIValueNotFound;
      goto out;
    }
    v = s->cluster;
    break;
  default: // VirtualClusterName and every SSL value: no virtual clusters, no TLS here
    rc = CAPIValueNotFound;
    goto out;
  }
  set_str(r, v, strlen(v), value_data, value_len);
out:
  pthread_mutex_unlock(&s->mu);
  DONE;
}

CAPIStatus envoyGoFilterHttpGetIntegerValue(void* rp, int id, uint64_t* value) {
  WITH_REQ(rp);
  pthread_mutex_lock(&s->mu);
  rc = CAPIOK;
  if (atomic_load(&s->destroyed)) {
    rc = CAPIFilterIsDestroy;
  } else if (id == 3) {
    *value = 1; // Http::Protocol::Http11
  } else if (id == 4) {
    if (s->response_code)
      *value = s->response_code;
    else
      rc = CAPIValueNotFound;
  } else if (id == 6) {
    if (s->attempted_upstream)
      *value = 1;
    else
      rc = CAPIValueNotFound;
  } else if (id == 100) {
    *value = 0; // SslConnectionExists
  } else {
    rc = CAPIValueNotFound;
  }
  pthread_mutex_unlock(&s->mu);
  DONE;
}

/* dynamic metadata: a Struct per filter name, serialized by hand (field 1: map<string, Value>) */
static void put_varint(buf_t* b, uint64_t v) {
  while (v >= 0x80) {
    unsigned char c = (unsigned char)(v | 0x80);
    buf_add(b, &c, 1);
    v >>= 7;
  }
  unsigned char c = (unsigned char)v;
  buf_add(b, &c, 1);
}

static void populate_metadata(stream_t* s, const char* name, uint64_t* vd, int* vl) {
  buf_t out = {0};
  int found = 0;
  for (size_t i = 0; i < s->n_meta; i++) {
    kv_t* e = &s->meta[i];
    if (strcmp(e->ns, name) != 0)
      continue;
    found = 1;
    size_t kl = strlen(e->key);
    buf_t entry = {0};
    unsigned char tag = 0x0a;
    buf_add(&entry, &tag, 1);
    put_varint(&entry, kl);
    buf_add(&entry, e->key, kl);
    tag = 0x12;
    buf_add(&entry, &tag, 1);
    put_varint(&entry, e->val.len);
    buf_add(&entry, e->val.p, e->val.len);
    tag = 0x0a;
    buf_add(&out, &tag, 1);
    put_varint(&out, entry.len);
    buf_add(&out, entry.p, entry.len);
    buf_free(&entry);
  }
  if (found)
    set_str(s->req, out.p ? out.p : "", out.len, vd, vl);
  buf_free(&out);
}

typedef struct {
  stream_t* s;
  char* key;
  uint64_t* vd;
  int* vl;
  int* rc;
  int kind; // 0 metadata, 1 filter state, 2 property, 3 secret
} read_task_t;

static CAPIStatus get_property(stream_t* s, const char* path, uint64_t* vd, int* vl);

static void read_now(read_task_t* t) {
  stream_t* s = t->s;
  switch (t->kind) {
  case 0:
    populate_metadata(s, t->key, t->vd, t->vl);
    break;
  case 1:
    for (size_t i = 0; i < s->n_fstate; i++)
      if (strcmp(s->fstate[i].key, t->key) == 0)
        set_str(s->req, s->fstate[i].val.p, s->fstate[i].val.len, t->vd, t->vl);
    break;
  case 2:
    *t->rc = get_property(s, t->key, t->vd, t->vl);
    break;
  case 3:
    *t->vl = -1; // no generic secrets configured in the host
    break;
  }
}

static void read_task(void* arg) {
  read_task_t* t = arg;
  if (!atomic_load(&t->s->destroyed)) {
    read_now(t);
    COUNT(C_SEMA_DEC);
    g_dso.sema_dec(&t->s->req->base); // wakes the goroutine waiting in checkOrWaitCallback
  } else {
    host_log(2, "golang filter has gone or destroyed in a posted read");
  }
  free(t->key);
  stream_unref(t->s);
  free(t);
}

// Reads from a goroutine are posted to the worker and answered with CAPIYield; the worker fills
// the result and calls envoyGoRequestSemaDec (golang_filter.cc getDynamicMetadata & co).
static CAPIStatus posted_read(stream_t* s, int kind, const char* key, size_t kl, uint64_t* vd,
                              int* vl, int* rc) {
  read_task_t t0 = {s, strndup(key, kl), vd, vl, rc, kind};
  if (dispatcher_is_thread_safe(s->w)) {
    int local = CAPIOK;
    t0.rc = &local;
    read_now(&t0);
    free(t0.key);
    return (CAPIStatus)local;
  }
  read_task_t* t = malloc(sizeof(*t));
  *t = t0;
  stream_ref(s);
  dispatcher_post(s->w, read_task, t);
  return CAPIYield;
}

CAPIStatus envoyGoFilterHttpGetDynamicMetadata(void* rp, void* name_data, int name_len,
                                               uint64_t* value_data, int* value_len) {
  WITH_REQ(rp);
  pthread_mutex_lock(&s->mu);
  rc = atomic_load(&s->destroyed)
           ? CAPIFilterIsDestroy
           : posted_read(s, 0, name_data, name_len, value_data, value_len, NULL);
  pthread_mutex_unlock(&s->mu);
  DONE;
}

typedef struct {
  stream_t* s;
  char *ns, *key;
  buf_t val;
  int fs;
} write_task_t;

static void write_task(void* arg) {
  write_task_t* t = arg;
  if (!atomic_load(&t->s->destroyed)) {
    if (t->fs)
      kv_put(&t->s->fstate, &t->s->n_fstate, "", 0, t->key, strlen(t->key), t->val.p, t->val.len);
    else
      kv_put(&t->s->meta, &t->s->n_meta, t->ns, strlen(t->ns), t->key, strlen(t->key), t->val.p,
             t->val.len);
  }
  free(t->ns);
  free(t->key);
  buf_free(&t->val);
  stream_unref(t->s);
  free(t);
}

static void posted_write(stream_t* s, int fs, const char* ns, size_t nsl, const char* key,
                         size_t kl, const char* v, size_t vl) {
  if (dispatcher_is_thread_safe(s->w)) {
    if (fs)
      kv_put(&s->fstate, &s->n_fstate, "", 0, key, kl, v, vl);
    else
      kv_put(&s->meta, &s->n_meta, ns, nsl, key, kl, v, vl);
    return;
  }
  write_task_t* t = calloc(1, sizeof(*t));
  stream_ref(s);
  t->s = s;
  t->fs = fs;
  t->ns = strndup(ns ? ns : "", nsl);
  t->key = strndup(key, kl);
  buf_add(&t->val, v, vl);
  dispatcher_post(s->w, write_task, t);
}

CAPIStatus envoyGoFilterHttpSetDynamicMetadata(void* rp, void* name_data, int name_len,
                                               void* key_data, int key_len, void* buf_data,
                                               int buf_len) {
  WITH_REQ(rp);
  if (atomic_load(&s->destroyed)) {
    rc = CAPIFilterIsDestroy;
  } else {
    posted_write(s, 0, name_data, name_len, key_data, key_len, buf_data, buf_len);
    rc = CAPIOK;
  }
  DONE;
}

// Go's runtime.SetFinalizer on the request: free it on the worker if the filter is alive
// (Filter::deferredDeleteRequest), directly otherwise.
typedef struct {
  stream_t* s;
  reqint_t* r;
} fin_task_t;

static void fin_task(void* arg) {
  fin_task_t* t = arg;
  stream_t* s = t->s;
  req_release(t->r);
  stream_unref(s);
  free(t);
}

void envoyGoFilterHttpFinalize(void* rp, int reason) {
  (void)reason;
  COUNT(C_FINALIZE);
  reqint_t* r = rp;
  stream_t* s = lock_filter(r);
  if (s) {
    fin_task_t* t = malloc(sizeof(*t));
    t->s = s;
    t->r = r;
    dispatcher_post(r->w, fin_task, t);
  } else {
    req_release(r);
  }
}

CAPIStatus envoyGoFilterHttpSetStringFilterState(void* rp, void* key_data, int key_len,
                                                 void* value_data, int value_len, int state_type,
                                                 int life_span, int stream_sharing) {
  (void)state_type;
  (void)life_span;
  (void)stream_sharing;
  WITH_REQ(rp);
  if (atomic_load(&s->destroyed)) {
    rc = CAPIFilterIsDestroy;
  } else {
    posted_write(s, 1, NULL, 0, key_data, key_len, value_data, value_len);
    rc = CAPIOK;
  }
  DONE;
}

CAPIStatus envoyGoFilterHttpGetStringFilterState(void* rp, void* key_data, int key_len,
                                                 uint64_t* value_data, int* value_len) {
  WITH_REQ(rp);
  pthread_mutex_lock(&s->mu);
  rc = atomic_load(&s->destroyed)
           ? CAPIFilterIsDestroy
           : posted_read(s, 1, key_data, key_len, value_data, value_len, NULL);
  pthread_mutex_unlock(&s->mu);
  DONE;
}

// A few CEL attributes (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes).
static CAPIStatus get_property(stream_t* s, const char* path, uint64_t* vd, int* vl) {
  const char* v = NULL;
  char tmp[32];
  hdr_t* h;
  if (!strcmp(path, "request.path") && (h = hm_get(&s->req_headers, ":path", 5)))
    v = h->v;
  else if (!strcmp(path, "request.method") && (h = hm_get(&s->req_headers, ":method", 7)))
    v = h->v;
  else if (!strcmp(path, "request.host") && (h = hm_get(&s->req_headers, ":authority", 10)))
    v = h->v;
  else if (!strcmp(path, "request.scheme"))
    v = "http";
  else if (!strcmp(path, "request.protocol"))
    v = "HTTP/1.1";
  else if (!strcmp(path, "xds.route_name") && s->route)
    v = s->route->name;
  else if (!strcmp(path, "source.address"))
    v = s->remote_addr;
  else if (!strcmp(path, "destination.address"))
    v = s->local_addr;
  else if (!strcmp(path, "response.code") && s->response_code) {
    snprintf(tmp, sizeof(tmp), "%d", s->response_code);
    v = tmp;
  }
  if (!v)
    return CAPIValueNotFound;
  set_str(s->req, v, strlen(v), vd, vl);
  return CAPIOK;
}

CAPIStatus envoyGoFilterHttpGetStringProperty(void* rp, void* key_data, int key_len,
                                              uint64_t* value_data, int* value_len, int* rcp) {
  WITH_REQ(rp);
  pthread_mutex_lock(&s->mu);
  rc = atomic_load(&s->destroyed)
           ? CAPIFilterIsDestroy
           : posted_read(s, 2, key_data, key_len, value_data, value_len, rcp);
  pthread_mutex_unlock(&s->mu);
  DONE;
}

CAPIStatus envoyGoFilterHttpGetStringSecret(void* rp, void* key_data, int key_len,
                                            uint64_t* value_data, int* value_len) {
  WITH_REQ(rp);
  pthread_mutex_lock(&s->mu);
  rc = atomic_load(&s->destroyed)
           ? CAPIFilterIsDestroy
           : posted_read(s, 3, key_data, key_len, value_data, value_len, NULL);
  pthread_mutex_unlock(&s->mu);
  DONE;
}

CAPIStatus envoyGoFilterHttpSetDrainConnectionUponCompletion(void* rp) {
  WITH_REQ(rp);
  pthread_mutex_lock(&s->mu);
  if (atomic_load(&s->destroyed)) {
    rc = CAPIFilterIsDestroy;
  } else {
    s->drain_on_complete = 1;
    rc = CAPIOK;
  }
  pthread_mutex_unlock(&s->mu);
  DONE;
}

/* ---------- logging (contrib/golang/common/log/cgo.cc) ---------- */
void envoyGoFilterLog(uint32_t level, void* message_data, int message_len) {
  COUNT(C_LOGS);
  if (level > 5)
    return;
  host_log((int)level, "[go] %.*s", message_len, (const char*)message_data);
}
uint32_t envoyGoFilterLogLevel(void) { return (uint32_t)g_log_level; }

/* ---------- config & metrics (golang_filter.cc FilterConfig) ---------- */
void envoyGoConfigHttpFinalize(void* c) {
  (void)c;
  COUNT(C_CONFIG_FINALIZE);
}

static filter_config_t* config_of(void* c) {
  return c == &g_config.base ? &g_config : NULL;
}

CAPIStatus envoyGoFilterHttpDefineMetric(void* c, uint32_t metric_type, void* name_data,
                                         int name_len, uint32_t* metric_id) {
  filter_config_t* fc = config_of(c);
  if (!fc)
    return counted(CAPIFilterIsGone);
  if (metric_type > 2)
    return CAPIValueNotFound;
  pthread_mutex_lock(&fc->mu);
  if (fc->n_metrics == fc->cap_metrics) {
    fc->cap_metrics = fc->cap_metrics ? fc->cap_metrics * 2 : 16;
    fc->metrics = realloc(fc->metrics, fc->cap_metrics * sizeof(metric_t));
  }
  metric_t* m = &fc->metrics[fc->n_metrics++];
  memset(m, 0, sizeof(*m));
  fc->next_id[metric_type] += 4; // MetricStore::kMetricIdIncrement
  m->id = fc->next_id[metric_type];
  m->type = (int)metric_type;
  m->name = strndup(name_data, name_len);
  *metric_id = m->id;
  pthread_mutex_unlock(&fc->mu);
  return CAPIOK;
}

static metric_t* find_metric(filter_config_t* fc, uint32_t id) {
  for (size_t i = 0; i < fc->n_metrics; i++)
    if (fc->metrics[i].id == id)
      return &fc->metrics[i];
  return NULL;
}

CAPIStatus envoyGoFilterHttpIncrementMetric(void* c, uint32_t metric_id, int64_t offset) {
  filter_config_t* fc = config_of(c);
  if (!fc)
    return counted(CAPIFilterIsGone);
  pthread_mutex_lock(&fc->mu);
  metric_t* m = find_metric(fc, metric_id);
  if (m && m->type == 0 && offset > 0)
    m->value += offset; // counters only go up
  else if (m && m->type == 1)
    m->value += offset;
  pthread_mutex_unlock(&fc->mu);
  return CAPIOK;
}

CAPIStatus envoyGoFilterHttpGetMetric(void* c, uint32_t metric_id, uint64_t* value) {
  filter_config_t* fc = config_of(c);
  if (!fc)
    return counted(CAPIFilterIsGone);
  pthread_mutex_lock(&fc->mu);
  metric_t* m = find_metric(fc, metric_id);
  if (m && m->type != 2)
    *value = (uint64_t)m->value;
  pthread_mutex_unlock(&fc->mu);
  return CAPIOK;
}

CAPIStatus envoyGoFilterHttpRecordMetric(void* c, uint32_t metric_id, uint64_t value) {
  filter_config_t* fc = config_of(c);
  if (!fc)
    return counted(CAPIFilterIsGone);
  pthread_mutex_lock(&fc->mu);
  metric_t* m = find_metric(fc, metric_id);
  if (m) {
    if (m->type == 0)
      m->value += (int64_t)value;
    else if (m->type == 1)
      m->value = (int64_t)value;
    else {
      m->value += (int64_t)value; // histogram: sum and sample count
      m->samples++;
    }
  }
  pthread_mutex_unlock(&fc->mu);
  return CAPIOK;
}
