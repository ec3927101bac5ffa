// The golang network filter and its upstream connections, ported from Envoy v1.39.0:
//   contrib/golang/filters/network/source/golang.cc   (Filter: onNewConnection/onData/onWrite/
//                                                      onEvent, close, write, filter state)
//   contrib/golang/filters/network/source/upstream.cc (UpstreamConn: connect, pool ready/failure,
//                                                      data, events, write, close, half close)
//   contrib/golang/filters/network/source/cgo.cc      (the C API, wrappers, finalizers)
// The Go filter is the terminal read/write filter of each downstream connection (is_terminal_filter).
#include "host.h" // first: defines _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

net_dso_t g_ndso;
int g_network;
uint64_t g_net_config_id;
static atomic_uint g_next_worker;

enum { RemoteClose = 0, LocalClose = 1 };     // api.ConnectionEvent
enum { FlushWrite = 0, NoFlush = 1 };         // api.ConnectionCloseType
enum { LocalConnectionFailure = 1, RemoteConnectionFailure = 2 }; // Tcp::PoolFailureReason

/* ---------- downstream: Filter + FilterWrapper ---------- */
typedef struct nconn {
  int kind; // TAG_NCONN
  int fd, refs, closed, close_after_flush;
  worker_t* w;
  buf_t out;
  char local[64], remote[64];
  struct nwrapper* wrapper;
  kv_t* fstate;
  size_t n_fstate;
  pthread_mutex_t mu;
} nconn_t;

typedef struct nwrapper {
  nconn_t* filter; // weak (g_weak_mu)
  worker_t* w;
  buf_t str_value;
} nwrapper_t;

typedef struct upconn {
  int kind; // TAG_UCONN
  int fd, refs, closed, connecting, half_close, close_after_flush, write_end;
  worker_t* w;
  uint64_t conn_id;
  char addr[64], local[64], remote[64];
  struct uwrapper* wrapper;
  buf_t out;
} upconn_t;

typedef struct uwrapper {
  upconn_t* conn; // shared: the wrapper keeps the connection object alive (cgo.cc)
  buf_t str_value;
} uwrapper_t;

static void n_unref(nconn_t* c) {
  pthread_mutex_lock(&g_weak_mu);
  int left = --c->refs;
  if (!left && c->wrapper)
    c->wrapper->filter = NULL;
  pthread_mutex_unlock(&g_weak_mu);
  if (left)
    return;
  buf_free(&c->out);
  kv_free(c->fstate, c->n_fstate);
  pthread_mutex_destroy(&c->mu);
  free(c);
}
// n_ref takes a reference under g_weak_mu: Go's Write/Close on another worker's thread take and drop
// references concurrently (n_lock/n_unref), so an unlocked ++ could be lost and free the connection early.
static void n_ref(nconn_t* c) {
  pthread_mutex_lock(&g_weak_mu);
  c->refs++;
  pthread_mutex_unlock(&g_weak_mu);
}
static nconn_t* n_lock(nwrapper_t* wr) {
  pthread_mutex_lock(&g_weak_mu);
  nconn_t* c = wr->filter;
  if (c)
    c->refs++;
  pthread_mutex_unlock(&g_weak_mu);
  return c;
}

static void set_ev(int epfd, int fd, void* tag, uint32_t ev, int add) {
  struct epoll_event e = {.events = ev | EPOLLRDHUP, .data.ptr = tag};
  epoll_ctl(epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &e);
}

// golang.cc onData/onWrite, upstream.cc onUpstreamData: the buffer goes to Go as an array of
// (pointer, length) pairs, one per raw slice; this host's buffers are one slice.
#define SLICES(p, n) unsigned long long slices[2] = {(unsigned long long)(uintptr_t)(p), (n)}
#define SLICE_ARGS(n) (n), (uint64_t)(uintptr_t)slices, (n) ? 1 : 0

static void n_close(nconn_t* c, int event) {
  if (c->closed)
    return;
  c->closed = 1;
  epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  COUNT(C_NET_CLOSED);
  g_ndso.on_downstream_event(c->wrapper, event); // Filter::onEvent
  n_unref(c);                                     // the connection's reference
}

static void n_flush(nconn_t* c) {
  while (c->out.len) {
    ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR)
        break;
      n_close(c, RemoteClose);
      return;
    }
    buf_drain(&c->out, (size_t)n);
  }
  if (!c->out.len && c->close_after_flush) {
    n_close(c, LocalClose);
    return;
  }
  set_ev(c->w->epfd, c->fd, c, EPOLLIN | (c->out.len ? EPOLLOUT : 0), 0);
}

void net_accept(worker_t* w, int fd, const char* local, const char* remote) {
  nconn_t* c = calloc(1, sizeof(*c));
  c->kind = TAG_NCONN;
  c->fd = fd;
  c->refs = 1;
  c->w = w;
  pthread_mutex_init(&c->mu, NULL);
  snprintf(c->local, sizeof(c->local), "%s", local);
  snprintf(c->remote, sizeof(c->remote), "%s", remote);
  nwrapper_t* wr = calloc(1, sizeof(*wr));
  wr->filter = c;
  wr->w = w;
  c->wrapper = wr;
  COUNT(C_NET_CONNS);
  set_ev(w->epfd, fd, c, EPOLLIN, 1);
  uint64_t st = g_ndso.on_downstream_connection(wr, (uint64_t)(uintptr_t)g_config.plugin_name,
                                                strlen(g_config.plugin_name), g_net_config_id);
  (void)st; // StopIteration only stops later read filters; the Go filter is the last one
}

static void n_read(nconn_t* c) {
  char tmp[16384];
  n_ref(c);
  while (!c->closed) {
    ssize_t n = read(c->fd, tmp, sizeof(tmp));
    if (n > 0) {
      SLICES(tmp, (size_t)n);
      g_ndso.on_downstream_data(c->wrapper, SLICE_ARGS((size_t)n), 0);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      break;
    // Downstream half close is not enabled: a FIN closes the connection (RemoteClose).
    n_close(c, RemoteClose);
    break;
  }
  n_unref(c);
}

/* ---------- upstream ---------- */
static void u_ref(upconn_t* u) {
  pthread_mutex_lock(&g_weak_mu);
  u->refs++;
  pthread_mutex_unlock(&g_weak_mu);
}
static void u_unref(upconn_t* u) {
  pthread_mutex_lock(&g_weak_mu);
  int left = --u->refs;
  pthread_mutex_unlock(&g_weak_mu);
  if (left == 0) {
    buf_free(&u->out);
    free(u);
  }
}

static void u_close(upconn_t* u, int event) {
  if (u->closed)
    return;
  u->closed = 1;
  if (u->fd >= 0) {
    epoll_ctl(u->w->epfd, EPOLL_CTL_DEL, u->fd, NULL);
    close(u->fd);
    u->fd = -1;
  }
  g_ndso.on_upstream_event(u->wrapper, event); // UpstreamConn::onEvent
}

static void u_flush(upconn_t* u) {
  while (u->out.len) {
    ssize_t n = send(u->fd, u->out.p, u->out.len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR)
        break;
      u_close(u, RemoteClose);
      return;
    }
    buf_drain(&u->out, (size_t)n);
  }
  if (!u->out.len && u->close_after_flush) {
    u_close(u, LocalClose);
    return;
  }
  if (!u->out.len && u->write_end == 1) {
    shutdown(u->fd, SHUT_WR); // half close: end_stream with half close enabled
    u->write_end = 2;
  }
  set_ev(u->w->epfd, u->fd, u, EPOLLIN | (u->out.len ? EPOLLOUT : 0), 0);
}

static void u_connect_task(void* arg) {
  upconn_t* u = arg;
  char host[64];
  const char* colon = strrchr(u->addr, ':');
  struct sockaddr_in a = {.sin_family = AF_INET};
  int ok = colon && (size_t)(colon - u->addr) < sizeof(host);
  if (ok) {
    memcpy(host, u->addr, (size_t)(colon - u->addr));
    host[colon - u->addr] = 0;
    ok = inet_pton(AF_INET, host, &a.sin_addr) == 1 && atoi(colon + 1) > 0;
    a.sin_port = htons((uint16_t)atoi(colon + 1));
  }
  if (!ok) {
    host_log(4, "malformed IP address: %s", u->addr);
    COUNT(C_NET_UP_FAIL);
    g_ndso.on_upstream_failure(u->wrapper, LocalConnectionFailure, u->conn_id);
    u->closed = 1;
    u_unref(u);
    return;
  }
  u->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  u->connecting = 1;
  if (connect(u->fd, (struct sockaddr*)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
    close(u->fd);
    u->fd = -1;
    u->closed = 1;
    COUNT(C_NET_UP_FAIL);
    g_ndso.on_upstream_failure(u->wrapper, RemoteConnectionFailure, u->conn_id);
    u_unref(u);
    return;
  }
  set_ev(u->w->epfd, u->fd, u, EPOLLOUT, 1);
  u_unref(u);
}

static void u_connected(upconn_t* u) {
  int err = 0;
  socklen_t l = sizeof(err);
  getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &l);
  u->connecting = 0;
  if (err) {
    epoll_ctl(u->w->epfd, EPOLL_CTL_DEL, u->fd, NULL);
    close(u->fd);
    u->fd = -1;
    u->closed = 1;
    COUNT(C_NET_UP_FAIL);
    g_ndso.on_upstream_failure(u->wrapper, RemoteConnectionFailure, u->conn_id);
    return;
  }
  struct sockaddr_in la, ra;
  socklen_t ll = sizeof(la), rl = sizeof(ra);
  getsockname(u->fd, (struct sockaddr*)&la, &ll);
  getpeername(u->fd, (struct sockaddr*)&ra, &rl);
  char ip[32];
  inet_ntop(AF_INET, &la.sin_addr, ip, sizeof(ip));
  snprintf(u->local, sizeof(u->local), "%s:%d", ip, ntohs(la.sin_port));
  inet_ntop(AF_INET, &ra.sin_addr, ip, sizeof(ip));
  snprintf(u->remote, sizeof(u->remote), "%s:%d", ip, ntohs(ra.sin_port));
  COUNT(C_NET_UP_READY);
  g_ndso.on_upstream_ready(u->wrapper, u->conn_id); // UpstreamConn::onPoolReady
  if (!u->closed)
    u_flush(u);
}

static void u_read(upconn_t* u) {
  char tmp[16384];
  while (!u->closed) {
    ssize_t n = read(u->fd, tmp, sizeof(tmp));
    if (n > 0) {
      SLICES(tmp, (size_t)n);
      g_ndso.on_upstream_data(u->wrapper, SLICE_ARGS((size_t)n), 0);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (n == 0 && u->half_close) {
      // Half close enabled: the FIN is end_stream; the connection stays open for writing.
      SLICES("", 0);
      g_ndso.on_upstream_data(u->wrapper, SLICE_ARGS(0), 1);
      if (u->write_end == 2)
        u_close(u, RemoteClose);
      else if (!u->closed)
        set_ev(u->w->epfd, u->fd, u, u->out.len ? EPOLLOUT : 0, 0);
      return;
    }
    u_close(u, RemoteClose);
    return;
  }
}

void net_on_event(void* tag, uint32_t events) {
  int kind = *(int*)tag;
  if (kind == TAG_NCONN) {
    nconn_t* c = tag;
    if (c->closed)
      return;
    n_ref(c);
    if (events & EPOLLOUT)
      n_flush(c);
    if (!c->closed && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
      n_read(c);
    n_unref(c);
    return;
  }
  upconn_t* u = tag;
  if (u->closed)
    return;
  u_ref(u);
  if (u->connecting)
    u_connected(u);
  else {
    if (events & EPOLLOUT)
      u_flush(u);
    if (!u->closed && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
      u_read(u);
  }
  u_unref(u);
}

/* ---------- C API (cgo.cc) ---------- */
typedef struct {
  nwrapper_t* wr;
  upconn_t* u;
  buf_t data;
  int end, type;
  char* key;
  GoString* value;
} ntask_t;

static void d_close_task(void* arg) {
  ntask_t* t = arg;
  nconn_t* c = n_lock(t->wr);
  if (c) {
    if (c->closed)
      host_log(3, "connection has closed, addr: %s", c->remote);
    else if (t->type == FlushWrite && c->out.len)
      c->close_after_flush = 1;
    else
      n_close(c, LocalClose);
    n_unref(c);
  }
  free(t);
}

CAPIStatus envoyGoFilterDownstreamClose(void* f, int close_type) {
  nwrapper_t* wr = f;
  nconn_t* c = n_lock(wr);
  if (!c)
    return CAPIFilterIsGone;
  ntask_t* t = calloc(1, sizeof(*t));
  t->wr = wr;
  t->type = close_type;
  dispatcher_post(c->w, d_close_task, t);
  n_unref(c);
  return CAPIOK;
}

static void d_write_task(void* arg) {
  ntask_t* t = arg;
  nconn_t* c = n_lock(t->wr);
  if (c) {
    if (c->closed) {
      host_log(3, "connection has closed, addr: %s", c->remote);
    } else {
      // Filter::write -> connection().write(): the write filter (onWrite) sees the data first.
      SLICES(t->data.p, t->data.len);
      g_ndso.on_downstream_write(c->wrapper, SLICE_ARGS(t->data.len), t->end);
      buf_add(&c->out, t->data.p, t->data.len);
      if (t->end)
        c->close_after_flush = 1; // no downstream half close: end_stream closes after the flush
      n_flush(c);
    }
    n_unref(c);
  }
  buf_free(&t->data);
  free(t);
}

CAPIStatus envoyGoFilterDownstreamWrite(void* f, void* buffer_ptr, int buffer_len, int end_stream) {
  nwrapper_t* wr = f;
  nconn_t* c = n_lock(wr);
  if (!c)
    return CAPIFilterIsGone;
  ntask_t* t = calloc(1, sizeof(*t));
  t->wr = wr;
  t->end = end_stream;
  buf_add(&t->data, buffer_ptr, buffer_len);
  dispatcher_post(c->w, d_write_task, t);
  n_unref(c);
  return CAPIOK;
}

static void free_wrapper_task(void* arg) {
  nwrapper_t* wr = arg;
  pthread_mutex_lock(&g_weak_mu);
  if (wr->filter)
    wr->filter->wrapper = NULL;
  pthread_mutex_unlock(&g_weak_mu);
  buf_free(&wr->str_value);
  free(wr);
  COUNT(C_NET_FINALIZE);
}

void envoyGoFilterDownstreamFinalize(void* f, int reason) {
  (void)reason;
  nwrapper_t* wr = f;
  nconn_t* c = n_lock(wr);
  if (c) {
    dispatcher_post(c->w, free_wrapper_task, wr);
    n_unref(c);
  } else {
    free_wrapper_task(wr);
  }
}

CAPIStatus envoyGoFilterDownstreamInfo(void* f, int info_type, void* ret) {
  nwrapper_t* wr = f;
  nconn_t* c = n_lock(wr);
  if (!c)
    return CAPIFilterIsGone;
  const char* v = info_type == 0 ? c->local : c->remote;
  wr->str_value.len = 0;
  buf_add(&wr->str_value, v, strlen(v) + 1);
  GoString* g = ret;
  g->p = wr->str_value.p;
  g->n = (ptrdiff_t)strlen(v);
  n_unref(c);
  return CAPIOK;
}

static void fs_set_task(void* arg) {
  ntask_t* t = arg;
  nconn_t* c = n_lock(t->wr);
  if (c) {
    if (!c->closed)
      kv_put(&c->fstate, &c->n_fstate, "", 0, t->key, strlen(t->key), t->data.p, t->data.len);
    n_unref(c);
  }
  free(t->key);
  buf_free(&t->data);
  free(t);
}

CAPIStatus envoyGoFilterSetFilterState(void* f, void* key, void* value, int state_type,
                                       int life_span, int stream_sharing) {
  (void)state_type, (void)life_span, (void)stream_sharing;
  nwrapper_t* wr = f;
  nconn_t* c = n_lock(wr);
  if (!c)
    return CAPIFilterIsGone;
  GoString* k = key;
  GoString* v = value;
  CAPIStatus rc = CAPIOK;
  pthread_mutex_lock(&c->mu);
  if (c->closed) {
    rc = CAPIFilterIsDestroy;
  } else if (dispatcher_is_thread_safe(c->w)) {
    kv_put(&c->fstate, &c->n_fstate, "", 0, k->p, k->n, v->p, v->n);
  } else {
    ntask_t* t = calloc(1, sizeof(*t));
    t->wr = wr;
    t->key = strndup(k->p, k->n);
    buf_add(&t->data, v->p, v->n);
    dispatcher_post(c->w, fs_set_task, t);
  }
  pthread_mutex_unlock(&c->mu);
  n_unref(c);
  return rc;
}

static void fs_read(nconn_t* c, nwrapper_t* wr, const char* key, GoString* out) {
  for (size_t i = 0; i < c->n_fstate; i++) {
    if (!strcmp(c->fstate[i].key, key)) {
      wr->str_value.len = 0;
      buf_add(&wr->str_value, c->fstate[i].val.p, c->fstate[i].val.len);
      buf_add(&wr->str_value, "", 1);
      out->p = wr->str_value.p;
      out->n = (ptrdiff_t)c->fstate[i].val.len;
    }
  }
}

static void fs_get_task(void* arg) {
  ntask_t* t = arg;
  nconn_t* c = n_lock(t->wr);
  if (c) {
    if (!c->closed) {
      fs_read(c, t->wr, t->key, t->value);
      COUNT(C_SEMA_DEC);
      g_ndso.on_sema_dec(t->wr); // golang.cc getFilterState: wake the waiting goroutine
    }
    n_unref(c);
  }
  free(t->key);
  free(t);
}

CAPIStatus envoyGoFilterGetFilterState(void* f, void* key, void* value) {
  nwrapper_t* wr = f;
  nconn_t* c = n_lock(wr);
  if (!c)
    return CAPIFilterIsGone;
  GoString* k = key;
  CAPIStatus rc = CAPIOK;
  pthread_mutex_lock(&c->mu);
  if (c->closed) {
    rc = CAPIFilterIsDestroy;
  } else if (dispatcher_is_thread_safe(c->w)) {
    char* ks = strndup(k->p, k->n);
    fs_read(c, wr, ks, value);
    free(ks);
  } else {
    ntask_t* t = calloc(1, sizeof(*t));
    t->wr = wr;
    t->key = strndup(k->p, k->n);
    t->value = value;
    dispatcher_post(c->w, fs_get_task, t);
    COUNT(C_YIELD);
    rc = CAPIYield;
  }
  pthread_mutex_unlock(&c->mu);
  n_unref(c);
  return rc;
}

void* envoyGoFilterUpstreamConnect(void* library_id, void* addr, uint64_t conn_id) {
  (void)library_id; // one DSO in this host
  GoString* a = addr;
  upconn_t* u = calloc(1, sizeof(*u));
  u->kind = TAG_UCONN;
  u->fd = -1;
  u->refs = 2; // the wrapper's shared_ptr and the connect task
  u->conn_id = conn_id;
  snprintf(u->addr, sizeof(u->addr), "%.*s", (int)a->n, a->p);
  // UpstreamConn ctor: workers' dispatchers are used round-robin.
  u->w = g_workers[atomic_fetch_add(&g_next_worker, 1) % g_concurrency];
  uwrapper_t* wr = calloc(1, sizeof(*wr));
  wr->conn = u;
  u->wrapper = wr;
  COUNT(C_NET_UP_CONNS);
  dispatcher_post(u->w, u_connect_task, u);
  return wr;
}

CAPIStatus envoyGoFilterUpstreamConnEnableHalfClose(void* w, int enable_half_close) {
  uwrapper_t* wr = w;
  // Called from OnPoolReady on the worker, like Envoy's direct (not posted) call.
  wr->conn->half_close = enable_half_close != 0;
  return CAPIOK;
}

static void u_write_task(void* arg) {
  ntask_t* t = arg;
  upconn_t* u = t->u;
  if (u->closed) {
    host_log(3, "connection has closed, addr: %s", u->addr);
  } else {
    buf_add(&u->out, t->data.p, t->data.len);
    if (t->end) {
      if (u->half_close)
        u->write_end = 1;
      else
        u->close_after_flush = 1;
    }
    if (!u->connecting)
      u_flush(u);
  }
  buf_free(&t->data);
  u_unref(u);
  free(t);
}

CAPIStatus envoyGoFilterUpstreamWrite(void* w, void* buffer_ptr, int buffer_len, int end_stream) {
  uwrapper_t* wr = w;
  ntask_t* t = calloc(1, sizeof(*t));
  t->u = wr->conn;
  t->end = end_stream;
  buf_add(&t->data, buffer_ptr, buffer_len);
  u_ref(wr->conn);
  dispatcher_post(wr->conn->w, u_write_task, t);
  return CAPIOK;
}

static void u_close_task(void* arg) {
  ntask_t* t = arg;
  upconn_t* u = t->u;
  if (u->closed)
    host_log(3, "connection has closed, addr: %s", u->addr);
  else if (t->type == FlushWrite && u->out.len)
    u->close_after_flush = 1;
  else
    u_close(u, LocalClose);
  u_unref(u);
  free(t);
}

CAPIStatus envoyGoFilterUpstreamClose(void* w, int close_type) {
  uwrapper_t* wr = w;
  ntask_t* t = calloc(1, sizeof(*t));
  t->u = wr->conn;
  t->type = close_type;
  u_ref(wr->conn);
  dispatcher_post(wr->conn->w, u_close_task, t);
  return CAPIOK;
}

static void u_finalize_task(void* arg) {
  uwrapper_t* wr = arg;
  upconn_t* u = wr->conn;
  if (!u->closed && u->fd >= 0) {
    // The last owner is gone: the connection object dies with it.
    epoll_ctl(u->w->epfd, EPOLL_CTL_DEL, u->fd, NULL);
    close(u->fd);
    u->fd = -1;
    u->closed = 1;
  }
  u->wrapper = NULL;
  u_unref(u);
  buf_free(&wr->str_value);
  free(wr);
  COUNT(C_NET_UP_FINALIZE);
}

void envoyGoFilterUpstreamFinalize(void* w, int reason) {
  (void)reason;
  uwrapper_t* wr = w;
  dispatcher_post(wr->conn->w, u_finalize_task, wr);
}

CAPIStatus envoyGoFilterUpstreamInfo(void* w, int info_type, void* ret) {
  uwrapper_t* wr = w;
  const char* v = info_type == 0 ? wr->conn->local : wr->conn->remote;
  wr->str_value.len = 0;
  buf_add(&wr->str_value, v, strlen(v) + 1);
  GoString* g = ret;
  g->p = wr->str_value.p;
  g->n = (ptrdiff_t)strlen(v);
  return CAPIOK;
}
