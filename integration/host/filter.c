// The golang HTTP filter and a one-filter FilterManager, ported from Envoy v1.39.0:
//   contrib/golang/filters/http/source/golang_filter.cc   (Filter::*)
//   contrib/golang/filters/http/source/processor_state.cc (ProcessorState::*, BufferList)
//   source/common/http/filter_manager.cc                  (continue/inject/local reply, simplified)
// The chain is: [golang filter] -> router (decode) and [golang filter] -> codec (encode).
#include "host.h"

pthread_mutex_t g_weak_mu = PTHREAD_MUTEX_INITIALIZER;
int g_noop; // benchmark baseline: a no-op C filter in place of the golang filter
void conn_read_enable(struct conn* c, int enable);

/* ---------- lifetime: shared_ptr<Filter> + weak_ptr in HttpRequestInternal ---------- */
void stream_ref(stream_t* s) {
  pthread_mutex_lock(&g_weak_mu);
  s->refs++;
  pthread_mutex_unlock(&g_weak_mu);
}

static void pstate_free(pstate_t* st);
static void stream_release_members(stream_t* s) {
  pstate_free(&s->dec);
  pstate_free(&s->enc);
  hm_free(&s->req_headers);
  hm_free(&s->req_trailers);
  hm_free(&s->resp_headers);
  hm_free(&s->resp_trailers);
  buf_free(&s->up_body);
  buf_free(&s->down_body);
  kv_free(s->meta, s->n_meta);
  kv_free(s->fstate, s->n_fstate);
  s->meta = s->fstate = NULL;
  s->n_meta = s->n_fstate = 0;
  pthread_mutex_destroy(&s->mu);
}

// When the last reference goes, the weak pointer expires (later C API calls get
// CAPIFilterIsGone, as with Envoy's weak_ptr<Filter>). The struct itself outlives the members
// until Go releases the request: Go may still pass a processState* that points into it, and the
// C API reads its state before finding the filter gone (cgo.cc reads it the same way).
void stream_unref(stream_t* s) {
  pthread_mutex_lock(&g_weak_mu);
  int left = --s->refs;
  if (left == 0) {
    if (s->req)
      s->req->filter = NULL;
    s->dying = 1;
  }
  pthread_mutex_unlock(&g_weak_mu);
  if (left)
    return;
  stream_release_members(s);
  pthread_mutex_lock(&g_weak_mu);
  int can_free = s->req == NULL;
  s->dying = 2;
  pthread_mutex_unlock(&g_weak_mu);
  if (can_free)
    free(s);
}

// The request is released: Go finalized it, or it never reached Go.
void req_release(reqint_t* r) {
  pthread_mutex_lock(&g_weak_mu);
  stream_t* s = r->mem;
  int free_stream = s && s->dying == 2;
  if (s)
    s->req = NULL;
  r->filter = NULL;
  pthread_mutex_unlock(&g_weak_mu);
  buf_free(&r->str_value);
  free(r);
  COUNT(C_REQ_FREED);
  if (free_stream)
    free(s);
}

stream_t* stream_new(worker_t* w, struct conn* c) {
  stream_t* s = calloc(1, sizeof(*s));
  s->refs = 1;
  s->w = w;
  s->conn = c;
  pthread_mutex_init(&s->mu, NULL);
  reqint_t* r = calloc(1, sizeof(*r));
  // golang_filter.h Filter ctor: plugin name, worker id; configId stays 0 until initRequest.
  r->base.plugin_name.data = g_config.plugin_name;
  r->base.plugin_name.len = strlen(g_config.plugin_name);
  r->base.worker_id = (uint32_t)w->id;
  r->filter = s;
  r->mem = s;
  r->w = w;
  s->req = r;
  s->dec.base.req = &r->base;
  s->dec.base.is_encoding = 0;
  s->dec.base.state = WaitingHeader;
  s->dec.s = s;
  s->enc.base.req = &r->base;
  s->enc.base.is_encoding = 1;
  s->enc.base.state = WaitingHeader;
  s->enc.s = s;
  COUNT(C_REQUESTS);
  return s;
}

/* ---------- BufferList (doDataList) ---------- */
static buf_t* dd_push(pstate_t* st, buf_t* data) {
  buf_t* b = calloc(1, sizeof(*b));
  buf_move(b, data);
  if (st->n_dd == st->cap_dd) {
    st->cap_dd = st->cap_dd ? st->cap_dd * 2 : 4;
    st->dd = realloc(st->dd, st->cap_dd * sizeof(buf_t*));
  }
  st->dd[st->n_dd++] = b;
  return b;
}
static void dd_move_out(pstate_t* st, buf_t* data) {
  for (size_t i = 0; i < st->n_dd; i++) {
    buf_move(data, st->dd[i]);
    buf_free(st->dd[i]);
    free(st->dd[i]);
  }
  st->n_dd = 0;
}
static void dd_clear_latest(pstate_t* st) {
  if (!st->n_dd)
    return;
  buf_t* b = st->dd[--st->n_dd];
  buf_free(b);
  free(b);
}
static void dd_clear_all(pstate_t* st) {
  for (size_t i = 0; i < st->n_dd; i++) {
    buf_free(st->dd[i]);
    free(st->dd[i]);
  }
  st->n_dd = 0;
}
int pstate_dd_exists(pstate_t* st, buf_t* b) {
  for (size_t i = 0; i < st->n_dd; i++)
    if (st->dd[i] == b)
      return 1;
  return 0;
}
static void pstate_free(pstate_t* st) {
  dd_clear_all(st);
  free(st->dd);
  buf_free(&st->data_buffer);
}

int pstate_in_go(pstate_t* st) {
  int s = st->base.state;
  return s == ProcessingHeader || s == ProcessingData || s == ProcessingTrailer ||
         atomic_load(&st->base.req->is_golang_processing_log);
}

/* ---------- watermark buffer (processor_state.cc addBufferData) ---------- */
static int watermark_requested(pstate_t* st) { return st->above_high == 2; }

// Low watermark: Envoy's WatermarkBuffer fires below-low once length <= limit/2 after it was high.
void pstate_check_watermark(pstate_t* st) {
  uint32_t limit = g_config.buffer_limit;
  if (!st->above_high || !limit || st->data_buffer.len > limit / 2)
    return;
  int requested = watermark_requested(st);
  st->above_high = 0;
  if (requested && !st->base.is_encoding && st->s->conn) {
    host_log(1, "golang filter decode data buffer want more data");
    conn_read_enable(st->s->conn, 1);
  }
}

static void add_buffer_data(pstate_t* st, buf_t* data) {
  stream_t* s = st->s;
  buf_move(&st->data_buffer, data);
  uint32_t limit = g_config.buffer_limit;
  if (!limit || st->above_high || st->data_buffer.len <= limit)
    return;
  st->above_high = 1;
  if (st->base.state == WaitingAllData) {
    if (!st->base.is_encoding) {
      host_log(1, "golang filter decode data buffer is full, reply with 413");
      fm_send_local_reply(s, 413, "Payload Too Large", 17, NULL, "request_payload_too_large");
    } else {
      host_log(1, "golang filter encode data buffer is full, reply with 500");
      fm_send_local_reply(s, 500, "Internal Server Error", 21, NULL,
                          "response_payload_too_large");
    }
    return;
  }
  st->above_high = 2; // watermark_requested_
  if (!st->base.is_encoding && s->conn) {
    host_log(1, "golang filter decode data buffer is full, disable reading");
    conn_read_enable(s->conn, 0);
  }
}

static void drain_buffer_data(pstate_t* st) {
  st->data_buffer.len = 0;
  pstate_check_watermark(st);
}

/* ---------- ProcessorState::handle*GolangStatus ---------- */
static int handle_header_status(pstate_t* st, uint64_t status) {
  int done = 0;
  switch (status) {
  case GS_LocalReply:
  case GS_Running:
    break;
  case GS_Continue:
    st->base.state = st->do_end_stream ? Done : WaitingData;
    done = 1;
    break;
  case GS_StopAndBuffer:
    st->base.state = WaitingAllData;
    break;
  case GS_StopAndBufferWatermark:
    st->base.state = WaitingData;
    break;
  default:
    host_log(4, "unexpected status: %d", (int)status);
  }
  return done;
}

static int handle_data_status(pstate_t* st, uint64_t status) {
  int done = 0;
  switch (status) {
  case GS_LocalReply:
  case GS_Running:
    return 0;
  case GS_Continue:
    st->base.state = st->do_end_stream ? Done : WaitingData;
    done = 1;
    break;
  case GS_StopAndBuffer:
    if (st->do_end_stream)
      host_log(4, "want more data while stream is end");
    st->base.state = WaitingAllData;
    break;
  case GS_StopAndBufferWatermark:
    if (st->do_end_stream)
      host_log(4, "want more data while stream is end");
    st->base.state = WaitingData;
    break;
  case GS_StopNoBuffer:
    if (st->do_end_stream)
      host_log(4, "want more data while stream is end");
    dd_clear_latest(st);
    st->base.state = WaitingData;
    break;
  default:
    host_log(4, "unexpected status: %d", (int)status);
  }
  if (st->trailers && st->data_buffer.len == 0)
    st->base.state = WaitingTrailer;
  return done;
}

static int handle_trailer_status(pstate_t* st, uint64_t status) {
  if (status == GS_Continue) {
    st->base.state = Done;
    return 1;
  }
  if (status != GS_LocalReply && status != GS_Running)
    host_log(4, "unexpected status: %d", (int)status);
  return 0;
}

static int handle_golang_status(pstate_t* st, int status) {
  switch (st->base.state) {
  case ProcessingHeader:
    return handle_header_status(st, status);
  case ProcessingData:
    return handle_data_status(st, status);
  case ProcessingTrailer:
    return handle_trailer_status(st, status);
  default:
    host_log(4, "unexpected state %d in handleGolangStatus", st->base.state);
    return 0;
  }
}

/* ---------- Filter: config id, headers, data, trailers ---------- */
static int init_request(stream_t* s) {
  if (s->req->base.configId != 0)
    return 0;
  uint64_t id = g_config.config_id; // Filter::getMergedConfigId
  if (s->route && s->route->any.len)
    id = route_merged_config_id(s->route, id);
  s->req->base.configId = id;
  return 1;
}

static void fm_continue(pstate_t* st);
static void fm_inject(pstate_t* st, buf_t* data, int end);

static void continue_do_data(pstate_t* st) {
  if (!st->end_stream && st->n_dd == 0)
    return;
  buf_t out = {0};
  dd_move_out(st, &out);
  fm_inject(st, &out, st->do_end_stream);
  buf_free(&out);
}

static int do_headers(stream_t* s, pstate_t* st, hdrmap_t* h, int end) {
  st->headers = h;
  st->base.state = ProcessingHeader; // processHeader
  st->do_end_stream = end;
  init_request(s);
  uint64_t status = g_dso.on_header(&st->base, end ? 1 : 0, h->n, hm_bytes(h));
  int done = handle_header_status(st, status);
  if (done)
    st->headers = NULL;
  return done;
}

static int do_data_go(stream_t* s, pstate_t* st, buf_t* data, int end) {
  st->base.state = ProcessingData; // processData
  st->do_end_stream = end;
  buf_t* b = dd_push(st, data);
  pstate_check_watermark(st);
  uint64_t status = g_dso.on_data(&st->base, end ? 1 : 0, (uint64_t)(uintptr_t)b, b->len);
  (void)s;
  return handle_data_status(st, status);
}

static int do_data(stream_t* s, pstate_t* st, buf_t* data, int end) {
  int done = 0;
  switch (st->base.state) {
  case WaitingData:
    done = do_data_go(s, st, data, end);
    break;
  case WaitingAllData:
    if (end) {
      if (st->data_buffer.len) {
        add_buffer_data(st, data);
        buf_move(data, &st->data_buffer);
        pstate_check_watermark(st);
      }
      if (st->base.state == WaitingAllData && !atomic_load(&s->destroyed) && !s->local_reply)
        done = do_data_go(s, st, data, end);
      break;
    }
    /* fallthrough */
  case ProcessingHeader:
  case ProcessingData:
    host_log(0, "golang filter appending data to buffer");
    add_buffer_data(st, data);
    break;
  default:
    host_log(4, "unexpected state: %d", st->base.state);
  }
  return done;
}

static int do_trailer_go(stream_t* s, pstate_t* st, hdrmap_t* t) {
  (void)s;
  st->base.state = ProcessingTrailer; // processTrailer
  st->do_end_stream = 1;
  uint64_t status = g_dso.on_header(&st->base, 1, t->n, hm_bytes(t));
  return handle_trailer_status(st, status);
}

static int do_trailer(stream_t* s, pstate_t* st, hdrmap_t* t) {
  st->trailers = t;
  int done = 0;
  switch (st->base.state) {
  case WaitingTrailer:
  case WaitingData:
    done = do_trailer_go(s, st, t);
    break;
  case WaitingAllData:
    if (st->data_buffer.len) {
      done = do_data_go(s, st, &st->data_buffer, 0);
      if (st->base.state == WaitingTrailer) {
        continue_do_data(st);
        done = do_trailer_go(s, st, t);
      }
    } else {
      continue_do_data(st);
      done = do_trailer_go(s, st, t);
    }
    break;
  case ProcessingHeader:
  case ProcessingData:
    break;
  default:
    host_log(4, "unexpected state: %d", st->base.state);
  }
  return done;
}

/* ---------- Filter::continueStatusInternal (runs on the worker) ---------- */
static void continue_status_internal(stream_t* s, pstate_t* st, int status) {
  int saved = st->base.state;
  int done = handle_golang_status(st, status);
  if (done) {
    switch (saved) {
    case ProcessingHeader:
      if (st->do_end_stream || !(st->end_stream || st->trailers))
        fm_continue(st);
      break;
    case ProcessingData:
      continue_do_data(st);
      break;
    case ProcessingTrailer:
      continue_do_data(st);
      if (atomic_load(&s->destroyed))
        return;
      fm_continue(st);
      break;
    default:
      host_log(4, "unexpected state");
    }
    if (atomic_load(&s->destroyed))
      return;
  }
  int cur = st->base.state;
  if ((cur == WaitingData && (st->data_buffer.len || st->end_stream)) ||
      (cur == WaitingAllData && (st->end_stream || st->trailers))) {
    int d = do_data_go(s, st, &st->data_buffer, st->end_stream);
    if (!d)
      return;
    continue_do_data(st);
    if (atomic_load(&s->destroyed))
      return;
  }
  if (st->base.state == WaitingTrailer && st->trailers) {
    if (do_trailer_go(s, st, st->trailers))
      fm_continue(st);
  }
}

typedef struct {
  stream_t* s;
  pstate_t* st;
  int status;
} continue_task_t;

static void continue_task(void* arg) {
  continue_task_t* t = arg;
  if (!atomic_load(&t->s->destroyed))
    continue_status_internal(t->s, t->st, t->status);
  else
    host_log(1, "golang filter has gone or destroyed in continueStatus event");
  stream_unref(t->s);
  free(t);
}

// Filter::continueStatus: always posted to the worker's dispatcher, even from the worker itself.
CAPIStatus filter_continue_status(stream_t* s, pstate_t* st, int status) {
  if (atomic_load(&s->destroyed))
    return CAPIFilterIsDestroy;
  if (!pstate_in_go(st))
    return CAPINotInGo;
  continue_task_t* t = malloc(sizeof(*t));
  stream_ref(s);
  t->s = s;
  t->st = st;
  t->status = status;
  dispatcher_post(s->w, continue_task, t);
  return CAPIOK;
}

typedef struct {
  stream_t* s;
  pstate_t* st;
  int code;
  buf_t body;
  hdrmap_t extra;
  char details[64];
} reply_task_t;

static void reply_task(void* arg) {
  reply_task_t* t = arg;
  stream_t* s = t->s;
  if (!atomic_load(&s->destroyed) && !s->finished) {
    // Filter::sendLocalReplyInternal
    dd_clear_all(t->st);
    drain_buffer_data(t->st);
    if (!t->st->base.is_encoding)
      t->st->base.state = WaitingHeader; // DecodingProcessorState::sendLocalReply
    fm_send_local_reply(s, t->code, t->body.p, t->body.len, &t->extra, t->details);
  } else {
    host_log(1, "golang filter has gone or destroyed in sendLocalReply");
  }
  buf_free(&t->body);
  hm_free(&t->extra);
  stream_unref(s);
  free(t);
}

CAPIStatus filter_send_local_reply(stream_t* s, pstate_t* st, int code, const char* body,
                                   size_t body_len, hdrmap_t* extra, const char* details) {
  if (atomic_load(&s->destroyed))
    return CAPIFilterIsDestroy;
  if (!pstate_in_go(st))
    return CAPINotInGo;
  reply_task_t* t = calloc(1, sizeof(*t));
  stream_ref(s);
  t->s = s;
  t->st = st;
  t->code = code;
  buf_add(&t->body, body, body_len);
  if (extra)
    t->extra = *extra; // takes ownership
  snprintf(t->details, sizeof(t->details), "%s", details ? details : "");
  dispatcher_post(s->w, reply_task, t);
  return CAPIOK;
}

/* addData: FilterManager add{De,En}codedData; the host appends to what goes to the next hop. */
typedef struct {
  stream_t* s;
  pstate_t* st;
  buf_t data;
} data_task_t;

static void add_data_now(stream_t* s, pstate_t* st, buf_t* data) {
  if (st->base.is_encoding)
    buf_move(&s->down_body, data);
  else
    buf_move(&s->up_body, data);
}
static void add_data_task(void* arg) {
  data_task_t* t = arg;
  if (!atomic_load(&t->s->destroyed))
    add_data_now(t->s, t->st, &t->data);
  buf_free(&t->data);
  stream_unref(t->s);
  free(t);
}

CAPIStatus filter_add_data(stream_t* s, pstate_t* st, const char* p, size_t n, int streaming) {
  (void)streaming;
  if (st->base.state == ProcessingData) {
    host_log(4, "golang filter calls addData when processing data is not supported, use "
                "`BufferInstance.Append` instead.");
    return CAPIInvalidPhase;
  }
  if (atomic_load(&s->destroyed))
    return CAPIFilterIsDestroy;
  if (!pstate_in_go(st))
    return CAPINotInGo;
  if (dispatcher_is_thread_safe(s->w)) {
    buf_t b = {0};
    buf_add(&b, p, n);
    add_data_now(s, st, &b);
    buf_free(&b);
    return CAPIOK;
  }
  data_task_t* t = calloc(1, sizeof(*t));
  stream_ref(s);
  t->s = s;
  t->st = st;
  buf_add(&t->data, p, n);
  dispatcher_post(s->w, add_data_task, t);
  return CAPIYield;
}

static void inject_task(void* arg) {
  data_task_t* t = arg;
  if (!atomic_load(&t->s->destroyed))
    fm_inject(t->st, &t->data, 0);
  buf_free(&t->data);
  stream_unref(t->s);
  free(t);
}

CAPIStatus filter_inject_data(stream_t* s, pstate_t* st, const char* p, size_t n) {
  if (atomic_load(&s->destroyed))
    return CAPIFilterIsDestroy;
  if (!pstate_in_go(st))
    return CAPINotInGo;
  if (st->base.state != ProcessingData) {
    host_log(4, "injectData is not supported when calling without processing data, use "
                "`addData` instead.");
    return CAPIInvalidPhase;
  }
  if (dispatcher_is_thread_safe(s->w)) {
    host_log(4, "injectData is not supported when calling inside the callback context");
    return CAPIInvalidScene;
  }
  data_task_t* t = calloc(1, sizeof(*t));
  stream_ref(s);
  t->s = s;
  t->st = st;
  buf_add(&t->data, p, n);
  dispatcher_post(s->w, inject_task, t);
  return CAPIOK;
}

typedef struct {
  stream_t* s;
  hdrmap_t* m;
  char *k, *v;
  size_t kl, vl;
  int action, remove;
} header_task_t;

static void header_task(void* arg) {
  header_task_t* t = arg;
  if (!atomic_load(&t->s->destroyed)) {
    if (t->remove)
      hm_remove(t->m, t->k, t->kl);
    else if (t->action == HeaderAdd)
      hm_add(t->m, t->k, t->kl, t->v, t->vl);
    else
      hm_set(t->m, t->k, t->kl, t->v, t->vl);
  }
  free(t->k);
  free(t->v);
  stream_unref(t->s);
  free(t);
}

// setHeader/removeHeader from a goroutine: posted, CAPIOK returned at once.
void filter_set_header_posted(stream_t* s, hdrmap_t* m, const char* k, size_t kl, const char* v,
                              size_t vl, int action, int remove) {
  header_task_t* t = calloc(1, sizeof(*t));
  stream_ref(s);
  t->s = s;
  t->m = m;
  t->k = strndup(k, kl);
  t->kl = kl;
  t->v = strndup(v ? v : "", vl);
  t->vl = vl;
  t->action = action;
  t->remove = remove;
  dispatcher_post(s->w, header_task, t);
}

/* ---------- router (decode side's terminal filter) ---------- */
static void router_task(void* arg) {
  stream_t* s = arg;
  if (!s->finished && !atomic_load(&s->destroyed) && !s->local_reply)
    router_exchange(s);
  stream_unref(s);
}
static void router_complete(stream_t* s) {
  if (s->router_done)
    return;
  s->router_done = 1;
  stream_ref(s);
  dispatcher_post(s->w, router_task, s);
}
static void router_headers(stream_t* s, int end) {
  s->router_headers_sent = 1;
  if (end)
    router_complete(s);
}
static void router_data(stream_t* s, buf_t* data, int end) {
  buf_move(&s->up_body, data);
  if (end)
    router_complete(s);
}
static void router_trailers(stream_t* s) {
  s->router_trailers_sent = 1;
  s->up_has_trailers = 1;
  router_complete(s);
}

/* ---------- codec (encode side's terminal) ---------- */
static void codec_complete(stream_t* s) {
  if (s->codec_done)
    return;
  s->codec_done = 1;
  codec_response_done(s);
}
static void codec_headers(stream_t* s, int end) {
  s->codec_headers_sent = 1;
  if (end)
    codec_complete(s);
}
static void codec_data(stream_t* s, buf_t* data, int end) {
  buf_move(&s->down_body, data);
  if (end)
    codec_complete(s);
}
static void codec_trailers(stream_t* s) {
  s->codec_trailers_sent = 1;
  codec_complete(s);
}

/* ---------- FilterManager ---------- */
void fm_decode_headers(stream_t* s, int end) {
  if (s->dec_aborted)
    return;
  // The route (and a golang cluster specifier) is resolved before the first filter, as
  // getMergedConfigId's route() call does in Envoy.
  route_resolve(s);
  if (g_noop) {
    router_headers(s, end);
    return;
  }
  s->req_headers_end = end;
  s->dec.end_stream = end;
  if (do_headers(s, &s->dec, &s->req_headers, end))
    router_headers(s, end);
}

void fm_decode_data(stream_t* s, buf_t* data, int end) {
  if (s->dec_aborted) {
    data->len = 0;
    return;
  }
  s->dec.end_stream = end;
  if (g_noop) {
    router_data(s, data, end);
    return;
  }
  if (do_data(s, &s->dec, data, end)) {
    dd_move_out(&s->dec, data);
    if (!s->router_headers_sent)
      router_headers(s, 0);
    router_data(s, data, end);
  }
}

void fm_decode_trailers(stream_t* s) {
  if (s->dec_aborted)
    return;
  if (g_noop) {
    router_trailers(s);
    return;
  }
  if (do_trailer(s, &s->dec, &s->req_trailers)) {
    if (!s->router_headers_sent)
      router_headers(s, 0);
    router_trailers(s);
  }
}

void fm_encode_headers(stream_t* s, int end) {
  s->have_resp_headers = 1;
  s->resp_headers_end = end;
  s->enc.end_stream = end;
  if (g_noop) {
    codec_headers(s, end);
    return;
  }
  if (do_headers(s, &s->enc, &s->resp_headers, end))
    codec_headers(s, end);
}

void fm_encode_data(stream_t* s, buf_t* data, int end) {
  s->enc.end_stream = end;
  if (g_noop) {
    codec_data(s, data, end);
    return;
  }
  if (do_data(s, &s->enc, data, end)) {
    dd_move_out(&s->enc, data);
    if (!s->codec_headers_sent)
      codec_headers(s, 0);
    codec_data(s, data, end);
  }
}

void fm_encode_trailers(stream_t* s) {
  s->have_resp_trailers = 1;
  if (g_noop) {
    codec_trailers(s);
    return;
  }
  if (do_trailer(s, &s->enc, &s->resp_trailers)) {
    if (!s->codec_headers_sent)
      codec_headers(s, 0);
    codec_trailers(s);
  }
}

// continueDecoding / continueEncoding: resume iteration to the next hop.
static void fm_continue(pstate_t* st) {
  stream_t* s = st->s;
  if (!st->base.is_encoding) {
    if (s->dec_aborted)
      return;
    if (!s->router_headers_sent)
      router_headers(s, s->req_headers_end);
    if (st->trailers && !s->router_trailers_sent)
      router_trailers(s);
  } else {
    if (!s->codec_headers_sent)
      codec_headers(s, s->resp_headers_end);
    if (st->trailers && !s->codec_trailers_sent)
      codec_trailers(s);
  }
}

// inject{De,En}codedDataToFilterChain: headers go first if they were held back.
static void fm_inject(pstate_t* st, buf_t* data, int end) {
  stream_t* s = st->s;
  if (!st->base.is_encoding) {
    if (s->dec_aborted)
      return;
    if (!s->router_headers_sent)
      router_headers(s, 0);
    router_data(s, data, end);
  } else {
    if (!s->codec_headers_sent)
      codec_headers(s, 0);
    codec_data(s, data, end);
  }
}

// FilterManager::sendLocalReply: through the encoder chain if no response started, straight to
// the codec if response headers exist but were not sent, otherwise reset the stream.
void fm_send_local_reply(stream_t* s, int code, const char* body, size_t body_len,
                         hdrmap_t* extra, const char* details) {
  if (s->finished)
    return;
  COUNT(C_LOCAL_REPLY);
  s->local_reply = 1;
  s->dec_aborted = 1;
  s->response_code = code;
  snprintf(s->details, sizeof(s->details), "%s", details ? details : "");
  char status[16];
  int sl = snprintf(status, sizeof(status), "%d", code);
  if (s->have_resp_headers && s->codec_headers_sent) {
    stream_reset(s);
    return;
  }
  int direct = s->have_resp_headers;
  hm_free(&s->resp_headers);
  hm_free(&s->resp_trailers);
  s->have_resp_trailers = 0;
  s->down_body.len = 0;
  hm_add(&s->resp_headers, ":status", 7, status, sl);
  if (extra)
    for (size_t i = 0; i < extra->n; i++)
      if (extra->h[i].vl) // cgo.cc: only non-empty values are added
        hm_add(&s->resp_headers, extra->h[i].k, extra->h[i].kl, extra->h[i].v, extra->h[i].vl);
  if (body_len) {
    char cl[32];
    int n = snprintf(cl, sizeof(cl), "%zu", body_len);
    hm_set(&s->resp_headers, "content-length", 14, cl, n);
    if (!hm_get(&s->resp_headers, "content-type", 12))
      hm_add(&s->resp_headers, "content-type", 12, "text/plain", 10);
  }
  buf_t b = {0};
  buf_add(&b, body, body_len);
  if (direct) {
    host_log(1, "sending local reply %d directly to the codec", code);
    s->codec_headers_sent = 1;
    codec_data(s, &b, 1);
  } else {
    fm_encode_headers(s, body_len == 0);
    if (body_len && !s->finished)
      fm_encode_data(s, &b, 1);
  }
  buf_free(&b);
}

/* ---------- end of stream: onStreamComplete, log, onDestroy (conn_manager_impl.cc order) ---- */
static void filter_log(stream_t* s) {
  reqint_t* r = s->req;
  init_request(s);
  pstate_t* d = &s->dec;
  pstate_t* e = &s->enc;
  uint64_t rhn = s->req_headers.n, rhb = hm_bytes(&s->req_headers), rtn = 0, rtb = 0, phn = 0,
           phb = 0, ptn = 0, ptb = 0;
  d->headers = &s->req_headers;
  if (s->req_trailers.n) {
    rtn = s->req_trailers.n;
    rtb = hm_bytes(&s->req_trailers);
    d->trailers = &s->req_trailers;
  }
  if (s->have_resp_headers) {
    phn = s->resp_headers.n;
    phb = hm_bytes(&s->resp_headers);
    e->headers = &s->resp_headers;
  }
  if (s->have_resp_trailers && s->resp_trailers.n) {
    ptn = s->resp_trailers.n;
    ptb = hm_bytes(&s->resp_trailers);
    e->trailers = &s->resp_trailers;
  }
  atomic_store(&r->base.is_golang_processing_log, 1);
  COUNT(C_ACCESS_LOG);
  g_dso.on_log(&r->base, 6 /* AccessLogType::DownstreamEnd */, &d->base, &e->base, rhn, rhb, rtn,
               rtb, phn, phb, ptn, ptb);
  atomic_store(&r->base.is_golang_processing_log, 0);
}

static void filter_on_destroy(stream_t* s) {
  reqint_t* r = s->req;
  if (r->base.configId == 0) {
    atomic_store(&s->destroyed, 1);
    req_release(r); // delete req_: it never reached Go
    return;
  }
  pthread_mutex_lock(&s->mu);
  int already = atomic_exchange(&s->destroyed, 1);
  pthread_mutex_unlock(&s->mu);
  if (already)
    return;
  int reason = (pstate_in_go(&s->dec) || pstate_in_go(&s->enc)) ? 1 /* Terminate */ : 0;
  COUNT(C_GO_DESTROY);
  g_dso.on_destroy(&r->base, reason);
}

void stream_finish(stream_t* s) {
  if (s->finished)
    return;
  s->finished = 1;
  reqint_t* r = s->req;
  if (g_noop) {
    s->req->base.configId = 0; // never went to Go: onDestroy frees it
    filter_on_destroy(s);
    COUNT(C_STREAMS_DESTROYED);
    return;
  }
  atomic_store(&r->base.is_golang_processing_log, 1);
  COUNT(C_STREAM_COMPLETE);
  g_dso.on_stream_complete(&r->base);
  atomic_store(&r->base.is_golang_processing_log, 0);
  filter_log(s);
  filter_on_destroy(s);
  COUNT(C_STREAMS_DESTROYED);
}
