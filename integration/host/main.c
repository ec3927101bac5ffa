// abihost: loads a golang-filter .so the way Envoy v1.39.0 does and serves real HTTP/1.1 through it.
//
//   abihost --so dist/govoy.so --config cfg.pb --upstream 127.0.0.1:8080
//           [--route /prefix=route.pb]... [--plugin-name govoy] [--concurrency 2]
//           [--listen 127.0.0.1:0] [--admin 127.0.0.1:0] [--buffer-limit 1048576]
//           [--log-level info] [--dso-kinds http,network,cluster,bridge]
//   abihost --noop-filter --upstream 127.0.0.1:8080   (benchmark baseline: a no-op C filter)
//   abihost --bench N [--bench-warmup N] [--bench-header K:V]... [--bench-body BYTES]
//           [--bench-path /p] [--bench-name NAME] [--bench-status CODE] (--so ... | --noop-filter)
//       in-process benchmark: N synthetic requests per worker, no sockets (bench.c); prints
//       "BENCH name=... ns_per_request=... requests_per_s=..."
//   abihost --network --so x.so --plugin-name NAME --config cfg.pb   (golang network filter)
//   ... --cluster-specifier cs.pb --cluster canary=127.0.0.1:9000 [--default-cluster NAME]
//       (golang cluster specifier picks among --upstream, named "upstream", and --cluster ones)
//   ... --tcp-bridge bridge.pb --bridge-plugin-name NAME   (golang HTTP-TCP bridge as upstream)
//
// --config and --route files hold a serialized google.protobuf.Any: the golang filter's
// plugin_config and a RouterPlugin's config (ConfigsPerRoute.plugins_config[plugin-name]).
// When ready it prints "READY listen=ADDR admin=ADDR" on stdout. The admin address serves
// GET /stats (JSON counters and Go-defined metrics), GET /logs, POST /cleanup (envoyGoFilterCleanUp).
#include "host.h"  // first: defines _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>


#ifndef ENVOY_ABI_VERSION
#define ENVOY_ABI_VERSION "unknown"
#endif

filter_config_t g_config;
route_t* g_routes;
size_t g_n_routes;
uint32_t g_concurrency = 2;
worker_t** g_workers;
static char g_library_id[128] = "govoy";
void* worker_main(void* arg);

static void die(const char* fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "abihost: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static void read_file(const char* flag, const char* path, buf_t* out) {
  FILE* f = fopen(path, "rb");
  if (!f)
    die("%s: cannot read %s: %s", flag, path, strerror(errno));
  char tmp[65536];
  size_t n;
  while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
    buf_add(out, tmp, n);
  fclose(f);
}

static void parse_addr(const char* flag, const char* v, char* host, size_t hl, int* port) {
  const char* colon = strrchr(v, ':');
  if (!colon || colon == v)
    die("%s: want HOST:PORT, got %s", flag, v);
  size_t n = (size_t)(colon - v);
  if (n >= hl)
    die("%s: host too long in %s", flag, v);
  memcpy(host, v, n);
  host[n] = 0;
  struct in_addr a;
  if (inet_pton(AF_INET, host, &a) != 1)
    die("%s: %s is not an IPv4 address", flag, host);
  char* end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || p < 0 || p > 65535 || end == colon + 1)
    die("%s: bad port in %s", flag, v);
  *port = (int)p;
}

static int log_level_of(const char* v) {
  static const char* names[] = {"trace", "debug", "info", "warning", "error", "critical", "off"};
  for (int i = 0; i < 7; i++)
    if (!strcmp(v, names[i]))
      return i;
  die("--log-level: unknown level %s (trace|debug|info|warning|error|critical|off)", v);
}

/* ---------- RoutePluginConfig (golang_filter.cc) ---------- */
static uint64_t route_config_id(route_t* r) {
  r->cfg.plugin_name_ptr = (uint64_t)(uintptr_t)g_config.plugin_name;
  r->cfg.plugin_name_len = strlen(g_config.plugin_name);
  r->cfg.config_ptr = (uint64_t)(uintptr_t)r->any.p;
  r->cfg.config_len = r->any.len;
  r->cfg.is_route_config = 1;
  r->cfg.concurrency = g_concurrency;
  return g_dso.new_config(&r->cfg);
}

uint64_t route_merged_config_id(route_t* r, uint64_t parent_id) {
  pthread_rwlock_rdlock(&r->lock);
  if (r->merged_id > 0 && r->cached_parent == parent_id) {
    uint64_t id = r->merged_id;
    pthread_rwlock_unlock(&r->lock);
    return id;
  }
  pthread_rwlock_unlock(&r->lock);
  pthread_rwlock_wrlock(&r->lock);
  if (r->merged_id > 0) {
    if (r->cached_parent == parent_id) {
      uint64_t id = r->merged_id;
      pthread_rwlock_unlock(&r->lock);
      return id;
    }
    g_dso.destroy_config(r->merged_id, 1); // delayed delete on the Go side
  }
  if (r->config_id == 0)
    r->config_id = route_config_id(r);
  r->merged_id = g_dso.merge_config((uint64_t)(uintptr_t)g_config.plugin_name,
                                    strlen(g_config.plugin_name), parent_id, r->config_id);
  r->cached_parent = parent_id;
  uint64_t id = r->merged_id;
  pthread_rwlock_unlock(&r->lock);
  return id;
}

route_t* route_match(const char* path, size_t len) {
  route_t* best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; i < g_n_routes; i++) {
    size_t pl = strlen(g_routes[i].prefix);
    if (pl <= len && !strncmp(path, g_routes[i].prefix, pl) && (!best || pl > best_len)) {
      best = &g_routes[i];
      best_len = pl;
    }
  }
  return best;
}

/* ---------- admin ---------- */
static void json_str(buf_t* b, const char* s) {
  buf_add(b, "\"", 1);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      buf_printf(b, "\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      buf_printf(b, "\\u%04x", *s);
    else
      buf_add(b, s, 1);
  }
  buf_add(b, "\"", 1);
}

static void admin_stats(buf_t* b) {
  buf_add(b, "{\"envoy_abi\":", 13);
  json_str(b, ENVOY_ABI_VERSION);
  buf_printf(b, ",\"concurrency\":%u,\"config_id\":%llu,\"counters\":{", g_concurrency,
             (unsigned long long)g_config.config_id);
  for (int i = 0; i < C_COUNT; i++) {
    if (i)
      buf_add(b, ",", 1);
    json_str(b, g_counter_names[i]);
    buf_printf(b, ":%llu", (unsigned long long)atomic_load(&g_counters[i]));
  }
  buf_add(b, "},\"metrics\":{", 13);
  static const char* types[] = {"counter", "gauge", "histogram"};
  pthread_mutex_lock(&g_config.mu);
  for (size_t i = 0; i < g_config.n_metrics; i++) {
    metric_t* m = &g_config.metrics[i];
    if (i)
      buf_add(b, ",", 1);
    json_str(b, m->name);
    buf_printf(b, ":{\"type\":\"%s\",\"value\":%lld,\"samples\":%llu}", types[m->type],
               (long long)m->value, (unsigned long long)m->samples);
  }
  pthread_mutex_unlock(&g_config.mu);
  buf_add(b, "}}", 2);
}

static void admin_serve(int lfd) {
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
      continue;
    char req[4096];
    size_t got = 0;
    while (got < sizeof(req) - 1) {
      ssize_t n = read(fd, req + got, sizeof(req) - 1 - got);
      if (n <= 0)
        break;
      got += (size_t)n;
      req[got] = 0;
      if (strstr(req, "\r\n\r\n"))
        break;
    }
    req[got] = 0;
    buf_t body = {0};
    int code = 200;
    const char* ctype = "application/json";
    if (!strncmp(req, "GET /stats ", 11)) {
      admin_stats(&body);
    } else if (!strncmp(req, "GET /logs ", 10)) {
      logs_dump(&body);
      ctype = "text/plain";
    } else if (!strncmp(req, "POST /cleanup ", 14)) {
      // DsoManager::cleanUpForTest -> envoyGoFilterCleanUp: forces Go GC and finalizers.
      if (g_dso.cleanup)
        g_dso.cleanup();
      buf_add(&body, "{}", 2);
    } else {
      code = 404;
      buf_add(&body, "{\"error\":\"unknown admin path\"}", 30);
    }
    buf_t out = {0};
    buf_printf(&out,
               "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\nconnection: "
               "close\r\n\r\n",
               code, code == 200 ? "OK" : "Not Found", ctype, body.len);
    buf_add(&out, body.p, body.len);
    size_t off = 0;
    while (off < out.len) {
      ssize_t n = write(fd, out.p + off, out.len - off);
      if (n <= 0)
        break;
      off += (size_t)n;
    }
    buf_free(&out);
    buf_free(&body);
    close(fd);
  }
}

static int listen_on(const char* flag, const char* host, int port, int reuseport) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (reuseport ? SOCK_NONBLOCK : 0), 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuseport)
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  if (bind(fd, (struct sockaddr*)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0)
    die("%s: cannot listen on %s:%d: %s", flag, host, port, strerror(errno));
  return fd;
}

static int bound_port(int fd) {
  struct sockaddr_in a;
  socklen_t l = sizeof(a);
  getsockname(fd, (struct sockaddr*)&a, &l);
  return ntohs(a.sin_port);
}

static void usage(void) {
  fprintf(stderr,
          "usage: abihost --so PATH --upstream HOST:PORT [--config ANY_FILE] "
          "[--route PREFIX[=ANY_FILE]]... [--plugin-name NAME] [--concurrency N] "
          "[--listen HOST:PORT] [--admin HOST:PORT] [--buffer-limit BYTES] "
          "[--log-level LEVEL] [--dso-kinds http,network,cluster,bridge] [--noop-filter] "
          "[--network [--library-id ID]] [--cluster-specifier ANY_FILE] "
          "[--cluster NAME=HOST:PORT]... [--default-cluster NAME] "
          "[--tcp-bridge ANY_FILE --bridge-plugin-name NAME] [--bench N [--bench-warmup N] "
          "[--bench-header K:V]... [--bench-body BYTES] [--bench-path /P] [--bench-name NAME] "
          "[--bench-status CODE]] [--version]\n");
}

int main(int argc, char** argv) {
  const char *bridge_config_path = NULL, *bridge_plugin = NULL;
  const char *so = NULL, *config = NULL, *upstream = NULL, *cs_config = NULL,
             *listen_addr = "127.0.0.1:0",
             *admin_addr = "127.0.0.1:0", *kinds = "http";
  g_config.plugin_name = "govoy";
  g_config.buffer_limit = 1024 * 1024; // per_connection_buffer_limit_bytes default
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!strcmp(a, "--version")) {
      printf("abihost envoy-abi %s\n", ENVOY_ABI_VERSION);
      return 0;
    }
    if (!strcmp(a, "--network")) {
      g_network = 1; // serve the golang network filter on --listen
      continue;
    }
    if (!strcmp(a, "--noop-filter")) {
      g_noop = 1; // benchmark baseline: no .so, a no-op C filter
      continue;
    }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage();
      return 0;
    }
    if (i + 1 >= argc) {
      usage();
      die("%s: missing value", a);
    }
    const char* v = argv[++i];
    if (!strcmp(a, "--so"))
      so = v;
    else if (!strcmp(a, "--config"))
      config = v;
    else if (!strcmp(a, "--upstream"))
      upstream = v;
    else if (!strcmp(a, "--listen"))
      listen_addr = v;
    else if (!strcmp(a, "--admin"))
      admin_addr = v;
    else if (!strcmp(a, "--cluster-specifier"))
      cs_config = v;
    else if (!strcmp(a, "--tcp-bridge"))
      bridge_config_path = v;
    else if (!strcmp(a, "--bridge-plugin-name")) {
      if (!*v || strlen(v) >= 128)
        die("--bridge-plugin-name: want 1..127 characters");
      bridge_plugin = v;
    }
    else if (!strcmp(a, "--default-cluster")) {
      if (!*v || strlen(v) >= sizeof(g_default_cluster))
        die("--default-cluster: want 1..127 characters");
      snprintf(g_default_cluster, sizeof(g_default_cluster), "%s", v);
    } else if (!strcmp(a, "--cluster")) {
      const char* eq = strchr(v, '=');
      if (!eq || eq == v || (size_t)(eq - v) >= sizeof(g_clusters[0].name))
        die("--cluster: want NAME=HOST:PORT, got %s", v);
      if (g_n_clusters + 1 >= MAX_CLUSTERS)
        die("--cluster: at most %d clusters", MAX_CLUSTERS - 1);
      cluster_t* cl = &g_clusters[g_n_clusters++];
      snprintf(cl->name, sizeof(cl->name), "%.*s", (int)(eq - v), v);
      parse_addr("--cluster", eq + 1, cl->host, sizeof(cl->host), &cl->port);
    } else if (!strcmp(a, "--library-id")) {
      if (!*v || strlen(v) >= sizeof(g_library_id))
        die("--library-id: want 1..127 characters");
      snprintf(g_library_id, sizeof(g_library_id), "%s", v);
    } else if (!strcmp(a, "--plugin-name")) {
      if (!*v)
        die("--plugin-name: must not be empty");
      g_config.plugin_name = (char*)v;
    } else if (!strcmp(a, "--bench")) {
      char* end;
      long n = strtol(v, &end, 10);
      if (*end || n < 1 || n > 100000000)
        die("--bench: want 1..100000000 requests per worker, got %s", v);
      g_bench = 1;
      g_bench_n = n;
    } else if (!strcmp(a, "--bench-warmup")) {
      char* end;
      long n = strtol(v, &end, 10);
      if (*end || n < 0 || n > 100000000)
        die("--bench-warmup: want 0..100000000 requests per worker, got %s", v);
      g_bench_warmup = n;
    } else if (!strcmp(a, "--bench-body")) {
      char* end;
      long n = strtol(v, &end, 10);
      if (*end || n < 0 || n > (1L << 24))
        die("--bench-body: want 0..16777216 bytes, got %s", v);
      g_bench_body = (size_t)n;
    } else if (!strcmp(a, "--bench-header")) {
      bench_add_header(v);
    } else if (!strcmp(a, "--bench-path")) {
      if (v[0] != '/')
        die("--bench-path: must start with '/', got %s", v);
      g_bench_path = v;
    } else if (!strcmp(a, "--bench-name")) {
      if (!*v || strchr(v, ' '))
        die("--bench-name: want a non-empty name without spaces, got '%s'", v);
      g_bench_name = v;
    } else if (!strcmp(a, "--bench-status")) {
      char* end;
      long n = strtol(v, &end, 10);
      if (*end || n < 100 || n > 599)
        die("--bench-status: want an HTTP status 100..599, got %s", v);
      bench_set_status((int)n);
    } else if (!strcmp(a, "--dso-kinds")) {
      kinds = v;
    } else if (!strcmp(a, "--concurrency")) {
      char* end;
      long n = strtol(v, &end, 10);
      if (*end || n < 1 || n > 64)
        die("--concurrency: want 1..64, got %s", v);
      g_concurrency = (uint32_t)n;
    } else if (!strcmp(a, "--buffer-limit")) {
      char* end;
      long long n = strtoll(v, &end, 10);
      if (*end || n < 0 || n > (1LL << 31))
        die("--buffer-limit: want 0..2147483648 bytes, got %s", v);
      g_config.buffer_limit = (uint32_t)n;
    } else if (!strcmp(a, "--log-level")) {
      g_log_level = log_level_of(v);
    } else if (!strcmp(a, "--route")) {
      g_routes = realloc(g_routes, (g_n_routes + 1) * sizeof(route_t));
      route_t* r = &g_routes[g_n_routes++];
      memset(r, 0, sizeof(*r));
      pthread_rwlock_init(&r->lock, NULL);
      const char* eq = strchr(v, '=');
      r->prefix = eq ? strndup(v, (size_t)(eq - v)) : strdup(v);
      if (r->prefix[0] != '/')
        die("--route: prefix must start with '/', got %s", r->prefix);
      r->name = r->prefix;
      if (eq)
        read_file("--route", eq + 1, &r->any);
    } else {
      usage();
      die("unknown flag %s", a);
    }
  }
  if (!so && !g_noop)
    die("--so: required (path of the golang filter shared object)");
  if (g_network && g_n_routes)
    die("--route: per-route configs exist only for the HTTP filter, not with --network");
  if (g_network && g_noop)
    die("--network: cannot be combined with --noop-filter");
  if (g_bench && g_network)
    die("--bench: only with the HTTP filter, not with --network");
  if (g_bench && !upstream)
    upstream = "127.0.0.1:1"; // never dialled: the router answers with a synthetic response
  if (!upstream && !g_network)
    die("--upstream: required (HOST:PORT of the upstream HTTP server)");
  if (upstream) {
    // --upstream is the cluster named "upstream", the default cluster unless --default-cluster.
    parse_addr("--upstream", upstream, g_upstream_host, sizeof(g_upstream_host),
               &g_upstream_port);
    cluster_t* cl = &g_clusters[g_n_clusters++];
    snprintf(cl->name, sizeof(cl->name), "upstream");
    snprintf(cl->host, sizeof(cl->host), "%s", g_upstream_host);
    cl->port = g_upstream_port;
  }
  static char kinds_buf[64];
  if (cs_config && !strstr(kinds, "cluster")) {
    snprintf(kinds_buf, sizeof(kinds_buf), "%s,cluster", kinds);
    kinds = kinds_buf; // ClusterSpecifierDsoImpl is loaded for the cluster specifier
  }
  if (cs_config && (g_network || g_noop))
    die("--cluster-specifier: only with the HTTP filter");
  static char kinds_buf2[80];
  if (bridge_config_path) {
    if (g_network || g_noop)
      die("--tcp-bridge: only with the HTTP filter");
    if (!bridge_plugin)
      die("--bridge-plugin-name: required with --tcp-bridge");
    if (!strstr(kinds, "bridge")) {
      snprintf(kinds_buf2, sizeof(kinds_buf2), "%s,bridge", kinds);
      kinds = kinds_buf2; // HttpTcpBridgeDsoImpl
    }
  }
  char lhost[64], ahost[64];
  int lport, aport;
  parse_addr("--listen", listen_addr, lhost, sizeof(lhost), &lport);
  parse_addr("--admin", admin_addr, ahost, sizeof(ahost), &aport);
  for (const char* k = kinds; *k;) {
    const char* comma = strchr(k, ',');
    size_t n = comma ? (size_t)(comma - k) : strlen(k);
    if (!((n == 4 && !strncmp(k, "http", 4)) || (n == 7 && !strncmp(k, "network", 7)) ||
          (n == 7 && !strncmp(k, "cluster", 7)) || (n == 6 && !strncmp(k, "bridge", 6))))
      die("--dso-kinds: unknown kind %.*s (http|network|cluster|bridge)", (int)n, k);
    k += n + (comma ? 1 : 0);
  }
  if (g_network && !strcmp(kinds, "http"))
    kinds = "network"; // the network filter loads NetworkFilterDsoImpl only
  if (!g_network && !strstr(kinds, "http"))
    die("--dso-kinds: must include http (this host serves HTTP unless --network)");
  if (g_network && !strstr(kinds, "network"))
    die("--dso-kinds: must include network with --network");
  if (config)
    read_file("--config", config, &g_config.any);
  signal(SIGPIPE, SIG_IGN);

  // config.cc: DsoManager<HttpFilterDsoImpl>::load, then FilterConfig::newGoPluginConfig.
  if (g_noop) {
    g_n_routes = 0;
  } else if (!dso_load(so, kinds)) {
    fprintf(stderr, "abihost: golang_filter: load library failed: %s %s\n", g_config.plugin_name,
            so);
    return 1;
  }
  pthread_mutex_init(&g_config.mu, NULL);
  // MetricStore: ids start at the MetricType value and grow by kMetricIdIncrement (4), so the low
  // two bits of an id name its type.
  g_config.next_id[0] = 0;
  g_config.next_id[1] = 1;
  g_config.next_id[2] = 2;
  g_config.base.plugin_name_ptr = (uint64_t)(uintptr_t)g_config.plugin_name;
  g_config.base.plugin_name_len = strlen(g_config.plugin_name);
  g_config.base.config_ptr = (uint64_t)(uintptr_t)g_config.any.p;
  g_config.base.config_len = g_config.any.len;
  g_config.base.is_route_config = 0;
  g_config.base.concurrency = g_concurrency;
  if (g_network) {
    // network config.cc: envoyGoFilterOnNetworkFilterConfig(library_id, serialized Any).
    g_net_config_id = g_ndso.on_config((uint64_t)(uintptr_t)g_library_id, strlen(g_library_id),
                                       (uint64_t)(uintptr_t)g_config.any.p, g_config.any.len);
    if (g_net_config_id == 0) {
      fprintf(stderr, "abihost: golang network filter config id is zero: %s\n", so);
      return 1;
    }
  }
  g_config.config_id = (g_noop || g_network) ? 0 : g_dso.new_config(&g_config.base);
  if (g_config.config_id == 0 && !g_noop && !g_network) {
    fprintf(stderr, "abihost: golang filter failed to parse plugin config: %s %s\n",
            g_config.plugin_name, so);
    return 1;
  }
  if (cs_config) {
    // ClusterConfig ctor: envoyGoClusterSpecifierNewPlugin(serialized Any); 0 fails.
    buf_t any = {0};
    read_file("--cluster-specifier", cs_config, &any);
    g_cs_plugin_id = g_csdso.new_plugin((uint64_t)(uintptr_t)any.p, any.len);
    buf_free(&any);
    if (g_cs_plugin_id == 0) {
      fprintf(stderr,
              "abihost: golang_cluster_specifier_plugin: generate plugin failed in golang side: "
              "%s\n",
              so);
      return 1;
    }
  }
  if (bridge_config_path) {
    buf_t any = {0};
    read_file("--tcp-bridge", bridge_config_path, &any);
    g_bridge_config_id = bridge_config(bridge_plugin, &any);
    buf_free(&any);
    if (g_bridge_config_id == 0) {
      // Envoy: PANIC("golang http-tcp bridge failed to parse plugin config: ...")
      fprintf(stderr, "abihost: golang http-tcp bridge failed to parse plugin config: %s %s\n",
              bridge_plugin, so);
      return 1;
    }
  }
  // RoutePluginConfig ctor: the DSO is loaded, so per-route configs are parsed now.
  for (size_t i = 0; i < g_n_routes; i++) {
    route_t* r = &g_routes[i];
    if (!r->any.len)
      continue;
    r->config_id = route_config_id(r);
    if (r->config_id == 0) {
      fprintf(stderr, "abihost: golang filter failed to parse plugin config: %s (route %s)\n",
              g_config.plugin_name, r->prefix);
      return 1;
    }
  }

  if (g_bench) {
    // Workers without an event loop: each runs the benchmark on its own thread (bench.c).
    g_workers = calloc(g_concurrency, sizeof(worker_t*));
    for (uint32_t i = 0; i < g_concurrency; i++) {
      worker_t* w = calloc(1, sizeof(*w));
      g_workers[i] = w;
      w->id = (int)i;
      snprintf(w->name, sizeof(w->name), "worker_%u", i);
      w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      pthread_mutex_init(&w->mu, NULL);
    }
    return bench_run();
  }
  int lfd0 = listen_on("--listen", lhost, lport, 1);
  lport = bound_port(lfd0);
  int afd = listen_on("--admin", ahost, aport, 0);
  aport = bound_port(afd);
  g_workers = calloc(g_concurrency, sizeof(worker_t*));
  for (uint32_t i = 0; i < g_concurrency; i++) {
    worker_t* w = calloc(1, sizeof(*w));
    g_workers[i] = w;
    w->id = (int)i;
    snprintf(w->name, sizeof(w->name), "worker_%u", i);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&w->mu, NULL);
    struct {
      worker_t* w;
      int lfd;
    }* arg = malloc(sizeof(*arg));
    arg->w = w;
    arg->lfd = i == 0 ? lfd0 : listen_on("--listen", lhost, lport, 1);
    pthread_create(&w->thread, NULL, worker_main, arg);
  }
  printf("READY listen=%s:%d admin=%s:%d\n", lhost, lport, ahost, aport);
  fflush(stdout);
  admin_serve(afd);
  return 0;
}
