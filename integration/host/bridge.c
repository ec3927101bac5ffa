// The golang HTTP-to-TCP bridge (an HTTP upstream that speaks raw TCP through Go), ported from
// Envoy v1.39.0 contrib/golang/upstreams/http/tcp/source: upstream_request.cc (HttpTcpBridge:
// encodeHeaders/encodeData/encodeTrailers, onUpstreamData, sendDataToDownstream, the C API
// helpers), processor_state.cc (status handling) and cgo.cc. With --tcp-bridge the router hands
// every request to the bridge instead of speaking HTTP/1.1 to the cluster.
#include "host.h" // first: defines _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

bridge_dso_t g_bdso;
uint64_t g_bridge_config_id; // 0: no bridge
char g_bridge_plugin[128] = "";
static httpConfig g_bridge_cfg;

enum { BWaitingHeader, BProcessingHeader, BWaitingData, BWaitingAllData, BProcessingData,
       BEndStream, BDone };                                  // processor_state.h FilterState
enum { BContinue = 0, BStopAndBuffer = 1, BEndStreamStatus = 2 }; // api.HttpTcpBridgeStatus

typedef struct bridge {
  httpRequest base; // HttpTcpBridge derives from httpRequest
  processState enc, dec;
  stream_t* s;
  cluster_t* cl;
  int fd, already_sent_resp_headers, self_half_close, failed;
  hdrmap_t resp_headers;
  buf_t enc_buffer; // EncodingProcessorState data_buffer_
  buf_t str_value;
} bridge_t;

uint64_t bridge_config(const char* name, buf_t* any) {
  snprintf(g_bridge_plugin, sizeof(g_bridge_plugin), "%s", name);
  g_bridge_cfg.plugin_name_ptr = (uint64_t)(uintptr_t)g_bridge_plugin;
  g_bridge_cfg.plugin_name_len = strlen(g_bridge_plugin);
  g_bridge_cfg.config_ptr = (uint64_t)(uintptr_t)any->p;
  g_bridge_cfg.config_len = any->len;
  g_bridge_cfg.concurrency = g_concurrency;
  return g_bdso.on_config(&g_bridge_cfg); // BridgeConfig::newGoPluginConfig
}

static bridge_t* of_state(void* sp) {
  processState* p = sp;
  return p->is_encoding ? (bridge_t*)((char*)p - offsetof(bridge_t, enc))
                        : (bridge_t*)((char*)p - offsetof(bridge_t, dec));
}
static int in_go(processState* p) {
  return p->state == BProcessingHeader || p->state == BProcessingData;
}

static int b_write(bridge_t* b, buf_t* data, int end) {
  size_t off = 0;
  while (off < data->len) {
    ssize_t n = send(b->fd, data->p + off, data->len - off, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR)
        continue;
      return -1;
    }
    off += (size_t)n;
  }
  if (end)
    shutdown(b->fd, SHUT_WR); // write(..., end_stream) on a half-close-enabled connection
  return 0;
}

// sendDataToDownstream: response headers once (":status" 200 unless Go set one), then the data.
static void send_downstream(bridge_t* b, buf_t* data, int end) {
  stream_t* s = b->s;
  if (!b->already_sent_resp_headers) {
    hm_free(&s->resp_headers);
    hdr_t* st = hm_get(&b->resp_headers, ":status", 7);
    hm_add(&s->resp_headers, ":status", 7, st ? st->v : "200", st ? st->vl : 3);
    for (size_t i = 0; i < b->resp_headers.n; i++)
      if (strcmp(b->resp_headers.h[i].k, ":status"))
        hm_add(&s->resp_headers, b->resp_headers.h[i].k, b->resp_headers.h[i].kl,
               b->resp_headers.h[i].v, b->resp_headers.h[i].vl);
    b->already_sent_resp_headers = 1;
    s->response_code = atoi(st ? st->v : "200");
    fm_encode_headers(s, 0);
  }
  if (!s->finished)
    fm_encode_data(s, data, end);
}

static int b_connect(cluster_t* cl) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cl->port)};
  inet_pton(AF_INET, cl->host, &a.sin_addr);
  struct timeval tv = {30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, (struct sockaddr*)&a, sizeof(a)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void b_reset(bridge_t* b, const char* why) {
  host_log(3, "golang http-tcp bridge: %s", why);
  COUNT(C_UPSTREAM_FAIL);
  if (b->already_sent_resp_headers)
    stream_reset(b->s); // onResetStream after the response started
  else {
    const char* body = "upstream connect error or disconnect/reset before headers. reset reason: "
                       "connection termination";
    fm_send_local_reply(b->s, 503, body, strlen(body), NULL,
                        "upstream_reset_before_response_started");
  }
}

// Blocking on the worker like the HTTP router of this host; Envoy drives it from its event loop.
void bridge_exchange(struct stream* s, cluster_t* cl) {
  bridge_t* b = calloc(1, sizeof(*b));
  b->s = s;
  b->cl = cl;
  b->base.plugin_name.data = g_bridge_plugin;
  b->base.plugin_name.len = strlen(g_bridge_plugin);
  b->base.configId = g_bridge_config_id;
  b->base.worker_id = (uint32_t)s->w->id;
  b->enc.req = b->dec.req = &b->base;
  b->enc.is_encoding = 1;
  b->enc.state = b->dec.state = BWaitingHeader;
  COUNT(C_BRIDGE_RQ);
  b->fd = b_connect(cl);
  if (b->fd < 0) {
    // Pool failure: the router answers 503 before any Go call (no HttpTcpBridge is created).
    COUNT(C_UPSTREAM_FAIL);
    const char* body = "upstream connect error or disconnect/reset before headers. reset reason: "
                       "connection failure";
    fm_send_local_reply(s, 503, body, strlen(body), NULL, "upstream_reset_before_response_started");
    free(b);
    return;
  }
  stream_ref(s);
  int has_body = s->up_body.len > 0, has_trailers = s->up_has_trailers;
  int end = !has_body && !has_trailers;
  // encodeHeaders
  buf_t buffer = {0};
  b->enc.state = BProcessingHeader;
  uint64_t st = g_bdso.on_encode_header(&b->enc, end, s->req_headers.n, hm_bytes(&s->req_headers),
                                        (uint64_t)(uintptr_t)&buffer, buffer.len);
  b->enc.state = st == BContinue ? BWaitingData : st == BStopAndBuffer ? BWaitingAllData : BEndStream;
  if (st > BEndStreamStatus) {
    host_log(5, "golang http-tcp bridge handleHeaderGolangStatus unexpected go_tatus: %llu",
             (unsigned long long)st);
    abort(); // Envoy: PANIC
  }
  if (b->enc.state == BEndStream) {
    send_downstream(b, &buffer, 1);
    goto done;
  }
  if (buffer.len && b_write(b, &buffer, b->self_half_close && end) < 0) {
    b_reset(b, "write failed");
    goto done;
  }
  // encodeData (the router hands the whole body at once in this host)
  if (has_body) {
    buf_t data = {0};
    buf_move(&data, &s->up_body);
    int dend = !has_trailers;
    if (b->enc.state == BWaitingAllData && !dend) {
      buf_move(&b->enc_buffer, &data);
    } else {
      b->enc.state = BProcessingData;
      st = g_bdso.on_encode_data(&b->enc, dend, (uint64_t)(uintptr_t)&data, data.len);
      if (st == BContinue)
        b->enc.state = dend ? BDone : BWaitingData;
      else if (st == BStopAndBuffer)
        b->enc.state = BWaitingAllData;
      else
        b->enc.state = BEndStream;
      if (b->enc.state == BEndStream) {
        send_downstream(b, &data, 1);
        buf_free(&data);
        goto done;
      }
      if ((b->enc.state == BDone || b->enc.state == BWaitingData) &&
          b_write(b, &data, b->self_half_close && dend) < 0) {
        buf_free(&data);
        b_reset(b, "write failed");
        goto done;
      }
    }
    buf_free(&data);
  }
  if (has_trailers)
    shutdown(b->fd, SHUT_WR); // encodeTrailers: write(empty, end_stream=true)
  // onUpstreamData: the read buffer keeps what Go did not consume (StopAndBuffer).
  buf_t rb = {0};
  char tmp[16384];
  for (;;) {
    ssize_t n = read(b->fd, tmp, sizeof(tmp));
    if (n < 0 && errno == EINTR)
      continue;
    int eof = n <= 0;
    if (n > 0)
      buf_add(&rb, tmp, (size_t)n);
    b->dec.state = BProcessingData;
    st = g_bdso.on_upstream_data(&b->dec, eof, b->resp_headers.n, hm_bytes(&b->resp_headers),
                                 (uint64_t)(uintptr_t)&rb, rb.len);
    b->dec.state = BDone;
    if (st == BEndStreamStatus || st == BContinue) {
      int e = eof || st == BEndStreamStatus;
      send_downstream(b, &rb, e);
      rb.len = 0;
      if (e || s->finished)
        break;
    } else if (st == BStopAndBuffer) {
      if (eof) {
        b_reset(b, "onUpstreamData unexpected go_tatus when end_stream is true"); // Envoy: PANIC
        break;
      }
    } else {
      host_log(5, "golang http-tcp bridge onUpstreamData, unexpected go_tatus: %llu",
               (unsigned long long)st);
      abort();
    }
  }
  buf_free(&rb);
done:
  buf_free(&buffer);
  close(b->fd);
  g_bdso.on_destroy(&b->base); // ~HttpTcpBridge
  hm_free(&b->resp_headers);
  buf_free(&b->enc_buffer);
  buf_free(&b->str_value);
  free(b);
  stream_unref(s);
}

/* ---------- C API (cgo.cc) ---------- */
static void copy_to_go(hdrmap_t* m, GoString* g, char* buf) {
  size_t i = 0;
  for (size_t j = 0; j < m->n; j++) {
    g[i].p = buf;
    g[i].n = (ptrdiff_t)m->h[j].kl;
    memcpy(buf, m->h[j].k, m->h[j].kl);
    buf += m->h[j].kl;
    i++;
    g[i].n = (ptrdiff_t)m->h[j].vl;
    if (m->h[j].vl) {
      g[i].p = buf;
      memcpy(buf, m->h[j].v, m->h[j].vl);
      buf += m->h[j].vl;
    }
    i++;
  }
}

CAPIStatus envoyGoHttpTcpBridgeCopyHeaders(void* sp, void* strs, void* buf) {
  processState* p = sp;
  if (!in_go(p))
    return CAPINotInGo;
  bridge_t* b = of_state(sp);
  if (p->is_encoding) {
    copy_to_go(&b->s->req_headers, strs, buf);
  } else {
    if (b->already_sent_resp_headers)
      return CAPIInvalidPhase;
    copy_to_go(&b->resp_headers, strs, buf);
  }
  return CAPIOK;
}

CAPIStatus envoyGoHttpTcpBridgeSetRespHeader(void* sp, void* key_data, int key_len,
                                             void* value_data, int value_len, headerAction act) {
  processState* p = sp;
  if (!in_go(p))
    return CAPINotInGo;
  bridge_t* b = of_state(sp);
  if (b->already_sent_resp_headers || p->is_encoding)
    return CAPIInvalidPhase;
  if (act == HeaderAdd)
    hm_add(&b->resp_headers, key_data, key_len, value_data, value_len);
  else
    hm_set(&b->resp_headers, key_data, key_len, value_data, value_len);
  return CAPIOK;
}

CAPIStatus envoyGoHttpTcpBridgeRemoveRespHeader(void* sp, void* key_data, int key_len) {
  processState* p = sp;
  if (!in_go(p))
    return CAPINotInGo;
  bridge_t* b = of_state(sp);
  if (b->already_sent_resp_headers || p->is_encoding)
    return CAPIInvalidPhase;
  hm_remove(&b->resp_headers, key_data, key_len);
  return CAPIOK;
}

CAPIStatus envoyGoHttpTcpBridgeGetBuffer(void* sp, uint64_t buffer, void* value) {
  if (!in_go(sp))
    return CAPINotInGo;
  buf_t* bb = (buf_t*)(uintptr_t)buffer;
  if (bb->len)
    memcpy(value, bb->p, bb->len);
  return CAPIOK;
}

CAPIStatus envoyGoHttpTcpBridgeDrainBuffer(void* sp, uint64_t buffer, uint64_t length) {
  if (!in_go(sp))
    return CAPINotInGo;
  buf_drain((buf_t*)(uintptr_t)buffer, length);
  return CAPIOK;
}

CAPIStatus envoyGoHttpTcpBridgeSetBufferHelper(void* sp, uint64_t buffer, void* data, int length,
                                               bufferAction action) {
  if (!in_go(sp))
    return CAPINotInGo;
  buf_t* bb = (buf_t*)(uintptr_t)buffer;
  if (action == Set) {
    bb->len = 0;
    buf_add(bb, data, length);
  } else if (action == Prepend) {
    buf_prepend(bb, data, length);
  } else {
    buf_add(bb, data, length);
  }
  return CAPIOK;
}

CAPIStatus envoyGoHttpTcpBridgeGetStringValue(void* rp, int id, uint64_t* value_data,
                                              int* value_len) {
  bridge_t* b = rp; // base is the first member
  const char* v;
  if (id == 1) // RouteName
    v = b->s->route ? b->s->route->name : "";
  else if (id == 2) // ClusterName
    v = b->cl->name;
  else {
    host_log(5, "golang http-tcp bridge getStringValue invalid string value id: %d", id);
    abort(); // Envoy: PANIC
  }
  b->str_value.len = 0;
  buf_add(&b->str_value, v, strlen(v) + 1);
  *value_data = (uint64_t)(uintptr_t)b->str_value.p;
  *value_len = (int)strlen(v);
  return CAPIOK;
}

CAPIStatus envoyGoHttpTcpBridgeSetSelfHalfCloseForUpstreamConn(void* rp, int enabled) {
  ((bridge_t*)rp)->self_half_close = enabled == 1;
  return CAPIOK;
}
