// Worker event loops, the HTTP/1.1 downstream codec and the upstream exchange.
// Parsing uses nodejs/http-parser (Debian libhttp-parser-dev). Each worker owns an epoll loop, a
// SO_REUSEPORT listener and its dispatcher queue (eventfd), like an Envoy worker thread.
// Simplification: the router buffers the whole request and performs the upstream exchange with
// blocking I/O on the worker (keep-alive pool per worker); Envoy streams it asynchronously.
#include "host.h"  // first: defines _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>


#define SLICE 16384 // Envoy's default read slice

typedef struct {
  int kind;
} tag_t;
static tag_t listen_tag = {TAG_LISTEN};
static tag_t wake_tag = {TAG_WAKE};

char g_upstream_host[64];
int g_upstream_port;

/* ---------- message collector shared by request and response parsing ---------- */
typedef struct {
  buf_t url, field, value;
  int last_value, in_trailers;
  hdrmap_t headers, trailers;
  buf_t body;
  int headers_done, complete;
} msg_t;

static void msg_commit(msg_t* m) {
  if (m->field.len) {
    hm_add(m->in_trailers ? &m->trailers : &m->headers, m->field.p, m->field.len,
           m->value.p ? m->value.p : "", m->value.len);
  }
  m->field.len = m->value.len = 0;
  m->last_value = 0;
}
static void msg_reset(msg_t* m) {
  m->url.len = m->field.len = m->value.len = 0;
  m->last_value = m->in_trailers = m->headers_done = m->complete = 0;
  hm_free(&m->headers);
  hm_free(&m->trailers);
  m->body.len = 0;
}
static void msg_free(msg_t* m) {
  msg_reset(m);
  buf_free(&m->url);
  buf_free(&m->field);
  buf_free(&m->value);
  buf_free(&m->body);
}

static int on_begin(http_parser* p) {
  msg_reset(p->data);
  return 0;
}
static int on_url(http_parser* p, const char* at, size_t n) {
  buf_add(&((msg_t*)p->data)->url, at, n);
  return 0;
}
static int on_field(http_parser* p, const char* at, size_t n) {
  msg_t* m = p->data;
  if (m->last_value)
    msg_commit(m);
  buf_add(&m->field, at, n);
  return 0;
}
static int on_value(http_parser* p, const char* at, size_t n) {
  msg_t* m = p->data;
  buf_add(&m->value, at, n);
  m->last_value = 1;
  return 0;
}
static int on_headers_complete(http_parser* p) {
  msg_t* m = p->data;
  msg_commit(m);
  m->headers_done = 1;
  m->in_trailers = 1;
  return 0;
}
static int on_body(http_parser* p, const char* at, size_t n) {
  buf_add(&((msg_t*)p->data)->body, at, n);
  return 0;
}
static int on_complete(http_parser* p) {
  msg_t* m = p->data;
  msg_commit(m);
  m->complete = 1;
  http_parser_pause(p, 1); // one message at a time
  return 0;
}
static http_parser_settings settings = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* ---------- downstream connection ---------- */
typedef struct conn {
  tag_t tag;
  int fd, refs, closed;
  worker_t* w;
  http_parser parser;
  msg_t msg;
  buf_t in, out;
  stream_t* stream;
  int headers_dispatched, end_dispatched, read_disabled, close_after, resume_posted;
  char local[64], remote[64];
} conn_t;

static void conn_process(conn_t* c);
static void conn_close(conn_t* c);

static void conn_unref(conn_t* c) {
  if (--c->refs == 0) {
    msg_free(&c->msg);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
  }
}

static void set_events(conn_t* c) {
  struct epoll_event ev = {0};
  ev.events = (c->read_disabled ? 0 : EPOLLIN) | (c->out.len ? EPOLLOUT : 0) | EPOLLRDHUP;
  ev.data.ptr = c;
  epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void resume_task(void* arg) {
  conn_t* c = arg;
  c->resume_posted = 0;
  if (!c->closed)
    conn_process(c);
  conn_unref(c);
}
static void post_resume(conn_t* c) {
  if (c->resume_posted || c->closed)
    return;
  c->resume_posted = 1;
  c->refs++;
  dispatcher_post(c->w, resume_task, c);
}

void conn_read_enable(struct conn* c, int enable) {
  if (c->closed)
    return;
  c->read_disabled = !enable;
  set_events(c);
  if (enable)
    post_resume(c);
}

static void addr_str(struct sockaddr_in* a, char* out, size_t n) {
  char ip[32];
  inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
  snprintf(out, n, "%s:%d", ip, ntohs(a->sin_port));
}

void conn_accept(worker_t* w, int lfd) {
  for (;;) {
    struct sockaddr_in ra;
    socklen_t rl = sizeof(ra);
    int fd = accept4(lfd, (struct sockaddr*)&ra, &rl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (g_network) {
      char local[64], remote[64];
      struct sockaddr_in la;
      socklen_t ll = sizeof(la);
      getsockname(fd, (struct sockaddr*)&la, &ll);
      addr_str(&la, local, sizeof(local));
      addr_str(&ra, remote, sizeof(remote));
      net_accept(w, fd, local, remote);
      continue;
    }
    conn_t* c = calloc(1, sizeof(*c));
    c->tag.kind = TAG_CONN;
    c->fd = fd;
    c->refs = 1;
    c->w = w;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = &c->msg;
    addr_str(&ra, c->remote, sizeof(c->remote));
    struct sockaddr_in la;
    socklen_t ll = sizeof(la);
    getsockname(fd, (struct sockaddr*)&la, &ll);
    addr_str(&la, c->local, sizeof(c->local));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
  }
}

static void conn_flush(conn_t* c) {
  while (c->out.len) {
    ssize_t n = write(c->fd, c->out.p, c->out.len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR)
        break;
      conn_close(c);
      return;
    }
    buf_drain(&c->out, (size_t)n);
  }
  if (!c->out.len && c->close_after && !c->stream) {
    conn_close(c);
    return;
  }
  set_events(c);
}

static void send_raw_error(conn_t* c, int code, const char* reason) {
  buf_printf(&c->out, "HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", code,
             reason);
  c->close_after = 1;
  conn_flush(c);
}

static void request_id(char* out, size_t n) {
  static atomic_ullong seq;
  unsigned long long v = atomic_fetch_add(&seq, 1) + 1;
  snprintf(out, n, "abihost-%016llx", v);
}

// Dispatch what the parser produced into the filter manager (Envoy's HTTP/1 codec callbacks).
static void conn_dispatch(conn_t* c) {
  msg_t* m = &c->msg;
  if (m->headers_done && !c->headers_dispatched) {
    c->headers_dispatched = 1;
    stream_t* s = stream_new(c->w, c);
    c->stream = s;
    snprintf(s->local_addr, sizeof(s->local_addr), "%s", c->local);
    snprintf(s->remote_addr, sizeof(s->remote_addr), "%s", c->remote);
    hdr_t* host = hm_get(&m->headers, "host", 4);
    const char* method = http_method_str(c->parser.method);
    hm_add(&s->req_headers, ":authority", 10, host ? host->v : "", host ? host->vl : 0);
    hm_add(&s->req_headers, ":path", 5, m->url.p ? m->url.p : "/", m->url.p ? m->url.len : 1);
    hm_add(&s->req_headers, ":method", 7, method, strlen(method));
    hm_add(&s->req_headers, ":scheme", 7, "http", 4);
    for (size_t i = 0; i < m->headers.n; i++) {
      hdr_t* h = &m->headers.h[i];
      if (h->kl == 4 && !strcmp(h->k, "host"))
        continue;
      hm_add(&s->req_headers, h->k, h->kl, h->v, h->vl);
    }
    // The HTTP connection manager's request mutations.
    hm_set(&s->req_headers, "x-forwarded-proto", 17, "http", 4);
    if (!hm_get(&s->req_headers, "x-request-id", 12)) {
      char id[40];
      request_id(id, sizeof(id));
      hm_add(&s->req_headers, "x-request-id", 12, id, strlen(id));
    }
    hdr_t* conn_hdr = hm_get(&m->headers, "connection", 10);
    if (conn_hdr && !strcasecmp(conn_hdr->v, "close"))
      c->close_after = 1;
    if (c->parser.http_minor == 0 && c->parser.http_major == 1 &&
        !(conn_hdr && !strcasecmp(conn_hdr->v, "keep-alive")))
      c->close_after = 1;
    s->route = route_match(m->url.p ? m->url.p : "/", m->url.len);
    int end = m->complete && m->body.len == 0 && m->trailers.n == 0;
    c->end_dispatched = end;
    if (end)
      s->req_complete = 1;
    stream_ref(s);
    fm_decode_headers(s, end);
    stream_unref(s);
  }
  stream_t* s = c->stream;
  if (!s || !c->headers_dispatched)
    return;
  stream_ref(s);
  // Body goes to the filters in slices of at most SLICE bytes, like Envoy's read slices, so
  // buffer limits see a large body arrive in several decodeData calls.
  size_t off = 0;
  while (!s->finished && !c->end_dispatched &&
         (m->body.len > off || (m->complete && !m->trailers.n))) {
    size_t n = m->body.len - off > SLICE ? SLICE : m->body.len - off;
    int end = m->complete && !m->trailers.n && off + n == m->body.len;
    buf_t b = {0};
    buf_add(&b, m->body.p + off, n);
    off += n;
    if (end) {
      c->end_dispatched = 1;
      s->req_complete = 1;
    }
    fm_decode_data(s, &b, end);
    buf_free(&b);
  }
  m->body.len = 0;
  if (!s->finished && !c->end_dispatched && m->complete && m->trailers.n) {
    c->end_dispatched = 1;
    s->req_complete = 1;
    s->req_trailers = m->trailers;
    memset(&m->trailers, 0, sizeof(m->trailers));
    fm_decode_trailers(s);
  }
  if (m->complete)
    s->req_complete = 1;
  stream_unref(s);
}

static void conn_process(conn_t* c) {
  c->refs++;
  while (!c->closed && !c->read_disabled) {
    if (c->msg.complete) {
      if (c->stream)
        break; // wait for the response before the next pipelined request
      // previous exchange done: start the next message
      http_parser_pause(&c->parser, 0);
      msg_reset(&c->msg);
      c->headers_dispatched = c->end_dispatched = 0;
    }
    if (!c->in.len)
      break;
    size_t n = http_parser_execute(&c->parser, &settings, c->in.p, c->in.len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e != HPE_OK && e != HPE_PAUSED) {
      host_log(3, "downstream protocol error: %s", http_errno_description(e));
      if (c->stream)
        stream_reset(c->stream);
      else
        send_raw_error(c, 400, "Bad Request");
      break;
    }
    buf_drain(&c->in, n);
    conn_dispatch(c);
    if (n == 0 && !c->msg.complete)
      break;
  }
  conn_unref(c);
}

static void conn_read(conn_t* c) {
  char tmp[65536];
  for (;;) {
    if (c->closed || c->read_disabled)
      return;
    ssize_t n = read(c->fd, tmp, sizeof(tmp));
    if (n > 0) {
      buf_add(&c->in, tmp, (size_t)n);
      conn_process(c);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    // peer closed or error: Envoy resets any active stream
    conn_close(c);
    return;
  }
}

void conn_on_event(void* p, uint32_t events) {
  conn_t* c = p;
  if (c->closed)
    return;
  c->refs++;
  if (events & EPOLLOUT)
    conn_flush(c);
  if (!c->closed && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
    conn_read(c);
  conn_unref(c);
}

static void detach_stream(conn_t* c, stream_t* s) {
  stream_finish(s);
  if (c) {
    c->stream = NULL;
  }
  s->conn = NULL;
  stream_unref(s); // the connection's reference
}

static void deferred_unref(void* arg) { conn_unref(arg); }

static void conn_close(conn_t* c) {
  if (c->closed)
    return;
  c->closed = 1;
  if (c->stream) {
    COUNT(C_RESET);
    detach_stream(c, c->stream);
  }
  epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  // deferredDelete: events of this loop iteration may still name the connection
  dispatcher_post(c->w, deferred_unref, c);
}

void stream_reset(stream_t* s) {
  if (s->conn)
    conn_close(s->conn);
  else if (!s->finished) {
    COUNT(C_RESET);
    stream_finish(s);
  }
}

static int skip_hop(hdr_t* h) {
  return (h->kl == 10 && !strcmp(h->k, "connection")) ||
         (h->kl == 17 && !strcmp(h->k, "transfer-encoding")) ||
         (h->kl == 14 && !strcmp(h->k, "content-length")) ||
         (h->kl == 10 && !strcmp(h->k, "keep-alive"));
}

static void write_headers(buf_t* out, hdrmap_t* m) {
  for (size_t i = 0; i < m->n; i++) {
    hdr_t* h = &m->h[i];
    if (h->k[0] == ':' || skip_hop(h))
      continue;
    buf_add(out, h->k, h->kl);
    buf_add(out, ": ", 2);
    buf_add(out, h->v, h->vl);
    buf_add(out, "\r\n", 2);
  }
}

static void write_body(buf_t* out, buf_t* body, hdrmap_t* trailers, int chunked) {
  if (!chunked) {
    buf_add(out, body->p, body->len);
    return;
  }
  if (body->len) {
    buf_printf(out, "%zx\r\n", body->len);
    buf_add(out, body->p, body->len);
    buf_add(out, "\r\n", 2);
  }
  buf_add(out, "0\r\n", 3);
  if (trailers)
    write_headers(out, trailers);
  buf_add(out, "\r\n", 2);
}

// The codec got the end of the response: serialize it, then end the stream (doEndStream).
void codec_response_done(stream_t* s) {
  conn_t* c = s->conn;
  if (!c || c->closed) {
    if (!s->finished)
      stream_finish(s);
    return;
  }
  hdr_t* st = hm_get(&s->resp_headers, ":status", 7);
  int code = st ? atoi(st->v) : 502;
  s->response_code = code;
  if (!s->req_complete || s->drain_on_complete)
    c->close_after = 1; // HTTP/1: a response before the whole request closes the connection
  int chunked = s->have_resp_trailers && s->resp_trailers.n;
  buf_printf(&c->out, "HTTP/1.1 %d %s\r\n", code, http_status_str((enum http_status)code));
  write_headers(&c->out, &s->resp_headers);
  if (chunked)
    buf_add(&c->out, "transfer-encoding: chunked\r\n", 28);
  else
    buf_printf(&c->out, "content-length: %zu\r\n", s->down_body.len);
  if (c->close_after)
    buf_add(&c->out, "connection: close\r\n", 19);
  buf_add(&c->out, "\r\n", 2);
  write_body(&c->out, &s->down_body, chunked ? &s->resp_trailers : NULL, chunked);
  c->refs++;
  detach_stream(c, s);
  conn_flush(c);
  if (!c->closed && !c->close_after)
    post_resume(c); // next pipelined request, if any
  conn_unref(c);
}

/* ---------- upstream ---------- */
static int upstream_connect(cluster_t* cl) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cl->port)};
  inet_pton(AF_INET, cl->host, &a.sin_addr);
  struct timeval tv = {30, 0}; // bounded: a stuck upstream must not hang a worker forever
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, (struct sockaddr*)&a, sizeof(a)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int write_all(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) {
      if (w < 0 && errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

// Returns 0 on a complete response in *m, -1 when nothing was received, -2 on a partial one.
static int exchange_once(int fd, buf_t* req, msg_t* m, int* keepalive) {
  if (write_all(fd, req->p, req->len) < 0)
    return -1;
  http_parser p;
  http_parser_init(&p, HTTP_RESPONSE);
  p.data = m;
  char tmp[65536];
  size_t got = 0;
  while (!m->complete) {
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      http_parser_execute(&p, &settings, NULL, 0); // EOF ends a close-delimited body
      break;
    }
    got += (size_t)n;
    http_parser_execute(&p, &settings, tmp, (size_t)n);
    enum http_errno e = HTTP_PARSER_ERRNO(&p);
    if (e != HPE_OK && e != HPE_PAUSED)
      return -2;
  }
  if (!m->complete)
    return got ? -2 : -1;
  *keepalive = http_should_keep_alive(&p);
  m->url.len = 0;
  // keep the status code where the caller can find it
  char code[8];
  snprintf(code, sizeof(code), "%d", p.status_code);
  buf_add(&m->url, code, strlen(code));
  return 0;
}

void router_exchange(stream_t* s) {
  worker_t* w = s->w;
  if (!s->route_resolved)
    route_resolve(s);
  cluster_t* cl = cluster_find(s->cluster);
  if (!cl) {
    // Router::Filter: no cluster of that name -> 503, details cluster_not_found.
    COUNT(C_NO_CLUSTER);
    host_log(1, "unknown cluster '%s'", s->cluster);
    fm_send_local_reply(s, 503, "", 0, NULL, "cluster_not_found");
    return;
  }
  if (s->override_host[0]) {
    // The load balancer takes the override host when the cluster has it; each cluster here has
    // one host. Strict and absent: no healthy upstream.
    char mine[80];
    snprintf(mine, sizeof(mine), "%s:%d", cl->host, cl->port);
    int match = !strcmp(s->override_host, mine) || !strcmp(s->override_host, cl->host);
    if (!match && s->override_strict) {
      COUNT(C_UPSTREAM_FAIL);
      fm_send_local_reply(s, 503, "no healthy upstream", 19, NULL, "no_healthy_upstream");
      return;
    }
  }
  COUNT(C_UPSTREAM_RQ);
  s->attempted_upstream = 1;
  if (g_bridge_config_id) {
    bridge_exchange(s, cl); // --tcp-bridge: the golang HTTP-TCP bridge is the upstream
    return;
  }
  if (g_bench) {
    bench_upstream_response(s); // --bench: a synthetic upstream, no socket
    return;
  }
  buf_t req = {0};
  hdr_t* method = hm_get(&s->req_headers, ":method", 7);
  hdr_t* path = hm_get(&s->req_headers, ":path", 5);
  hdr_t* auth = hm_get(&s->req_headers, ":authority", 10);
  buf_printf(&req, "%s %s HTTP/1.1\r\nhost: %s\r\n", method ? method->v : "GET",
             path ? path->v : "/", auth && auth->vl ? auth->v : cl->host);
  write_headers(&req, &s->req_headers);
  int chunked = s->up_has_trailers && s->req_trailers.n;
  if (chunked)
    buf_add(&req, "transfer-encoding: chunked\r\n", 28);
  else if (s->up_body.len || (method && strcmp(method->v, "GET") && strcmp(method->v, "HEAD")))
    buf_printf(&req, "content-length: %zu\r\n", s->up_body.len);
  buf_add(&req, "\r\n", 2);
  write_body(&req, &s->up_body, chunked ? &s->req_trailers : NULL, chunked);

  msg_t m = {0};
  int keepalive = 0, rc = -1, fd = -1;
  for (int attempt = 0; attempt < 2 && rc == -1; attempt++) {
    int pooled = 0;
    for (int i = w->n_idle_up - 1; i >= 0; i--) {
      if (w->idle_up[i].cluster == cl) {
        fd = w->idle_up[i].fd;
        w->idle_up[i] = w->idle_up[--w->n_idle_up];
        pooled = 1;
        break;
      }
    }
    if (!pooled)
      fd = upstream_connect(cl);
    if (fd < 0)
      break;
    msg_reset(&m);
    rc = exchange_once(fd, &req, &m, &keepalive);
    if (rc != 0) {
      close(fd);
      fd = -1;
      if (!pooled)
        break; // a fresh connection failed: no retry
    }
  }
  buf_free(&req);
  if (rc != 0) {
    COUNT(C_UPSTREAM_FAIL);
    msg_free(&m);
    const char* body = "upstream connect error or disconnect/reset before headers. reset reason: "
                       "connection failure";
    fm_send_local_reply(s, 503, body, strlen(body), NULL, "upstream_reset_before_response_started");
    return;
  }
  struct sockaddr_in la, ra;
  socklen_t ll = sizeof(la), rl = sizeof(ra);
  getsockname(fd, (struct sockaddr*)&la, &ll);
  getpeername(fd, (struct sockaddr*)&ra, &rl);
  addr_str(&la, s->upstream_local, sizeof(s->upstream_local));
  addr_str(&ra, s->upstream_remote, sizeof(s->upstream_remote));
  if (keepalive) {
    if (w->n_idle_up == w->cap_idle_up) {
      w->cap_idle_up = w->cap_idle_up ? w->cap_idle_up * 2 : 8;
      w->idle_up = realloc(w->idle_up, w->cap_idle_up * sizeof(*w->idle_up));
    }
    w->idle_up[w->n_idle_up].fd = fd;
    w->idle_up[w->n_idle_up++].cluster = cl;
  } else {
    close(fd);
  }
  // response headers: :status first, hop-by-hop headers dropped
  hm_free(&s->resp_headers);
  hm_add(&s->resp_headers, ":status", 7, m.url.p, m.url.len);
  for (size_t i = 0; i < m.headers.n; i++)
    if (!skip_hop(&m.headers.h[i]))
      hm_add(&s->resp_headers, m.headers.h[i].k, m.headers.h[i].kl, m.headers.h[i].v,
             m.headers.h[i].vl);
  s->response_code = atoi(m.url.p);
  int has_trailers = m.trailers.n > 0;
  s->resp_trailers = m.trailers;
  memset(&m.trailers, 0, sizeof(m.trailers));
  buf_t body = {0};
  buf_move(&body, &m.body);
  msg_free(&m);
  stream_ref(s);
  fm_encode_headers(s, body.len == 0 && !has_trailers);
  for (size_t off = 0; !s->finished && off < body.len;) {
    size_t n = body.len - off > SLICE ? SLICE : body.len - off;
    buf_t b = {0};
    buf_add(&b, body.p + off, n);
    off += n;
    fm_encode_data(s, &b, !has_trailers && off == body.len);
    buf_free(&b);
  }
  if (!s->finished && has_trailers)
    fm_encode_trailers(s);
  else if (!has_trailers)
    hm_free(&s->resp_trailers);
  buf_free(&body);
  stream_unref(s);
}

/* ---------- worker loop ---------- */
typedef struct {
  worker_t* w;
  int lfd;
} worker_arg_t;

static void run_tasks(worker_t* w) {
  uint64_t v;
  ssize_t r = read(w->evfd, &v, sizeof(v));
  (void)r;
  pthread_mutex_lock(&w->mu);
  task_t* t = w->head;
  w->head = w->tail = NULL;
  pthread_mutex_unlock(&w->mu);
  while (t) {
    task_t* next = t->next;
    t->fn(t->arg);
    free(t);
    t = next;
  }
}

void* worker_main(void* arg) {
  worker_arg_t* a = arg;
  worker_t* w = a->w;
  t_worker = w;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, a->lfd, &ev);
  struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &wake_tag};
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &wev);
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(w->epfd, evs, 64, -1);
    for (int i = 0; i < n; i++) {
      tag_t* t = evs[i].data.ptr;
      if (t->kind == TAG_LISTEN)
        conn_accept(w, a->lfd);
      else if (t->kind == TAG_WAKE)
        run_tasks(w);
      else if (t->kind == TAG_CONN)
        conn_on_event(t, evs[i].events);
      else
        net_on_event(t, evs[i].events);
    }
  }
  return NULL;
}
