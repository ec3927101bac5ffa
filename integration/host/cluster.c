// The golang cluster specifier, ported from Envoy v1.39.0:
//   contrib/golang/router/cluster_specifier/source/golang_cluster_specifier.cc (ClusterConfig,
//   GolangClusterSpecifierPlugin::route) and cgo.cc (the C API it exports to Go).
// The route resolves before the first filter runs and again after ClearRouteCache, as Envoy's
// route() cache does; clusters map names to upstream addresses (--cluster NAME=HOST:PORT).
#include "host.h" // first: defines _GNU_SOURCE

#define MAX_CLUSTER_LENGTH 8192

cs_dso_t g_csdso;
uint64_t g_cs_plugin_id; // 0: no cluster specifier configured
cluster_t g_clusters[MAX_CLUSTERS];
size_t g_n_clusters;
char g_default_cluster[128] = "upstream";

// GolangClusterSpecifierPlugin::route: grow the buffer until the name fits; <= 0 is the default.
void route_resolve(stream_t* s) {
  s->route_resolved = 1;
  snprintf(s->cluster, sizeof(s->cluster), "%s", g_default_cluster);
  if (!g_cs_plugin_id)
    return;
  int64_t len = 256;
  for (;;) {
    char* buf = malloc((size_t)len);
    int64_t n = g_csdso.on_specify((uint64_t)(uintptr_t)&g_cs_plugin_id,
                                   (uint64_t)(uintptr_t)&s->req_headers, g_cs_plugin_id,
                                   (uint64_t)(uintptr_t)buf, (uint64_t)len);
    if (n <= 0) {
      host_log(1, "golang cluster specifier choose the default cluster");
      free(buf);
      return;
    }
    if (n <= len) {
      snprintf(s->cluster, sizeof(s->cluster), "%.*s", (int)n, buf);
      free(buf);
      return;
    }
    free(buf);
    if (n > MAX_CLUSTER_LENGTH) {
      host_log(5, "cluster name too long: %lld", (long long)n); // Envoy: RELEASE_ASSERT
      abort();
    }
    len = n;
  }
}

cluster_t* cluster_find(const char* name) {
  for (size_t i = 0; i < g_n_clusters; i++)
    if (!strcmp(g_clusters[i].name, name))
      return &g_clusters[i];
  return NULL;
}

static hdrmap_t* hmap(unsigned long long p) { return (hdrmap_t*)(uintptr_t)p; }

void envoyGoClusterSpecifierGetNumHeadersAndByteSize(unsigned long long header_ptr,
                                                     void* header_num, void* byte_size) {
  *(uint64_t*)header_num = hmap(header_ptr)->n;
  *(uint64_t*)byte_size = hm_bytes(hmap(header_ptr));
}

int envoyGoClusterSpecifierGetHeader(unsigned long long header_ptr, void* key, void* value) {
  GoString* k = key;
  hdr_t* h = hm_get(hmap(header_ptr), k->p, (size_t)k->n);
  if (!h)
    return 0; // GetHeaderResult::Mising
  GoString* v = value;
  v->p = h->v;
  v->n = (ptrdiff_t)h->vl;
  return 1; // GetHeaderResult::Found
}

void envoyGoClusterSpecifierGetAllHeaders(unsigned long long header_ptr, void* strs, void* buf) {
  hdrmap_t* m = hmap(header_ptr);
  GoString* g = strs;
  char* b = buf;
  size_t i = 0;
  for (size_t j = 0; j < m->n; j++) {
    g[i].p = b;
    g[i].n = (ptrdiff_t)m->h[j].kl;
    memcpy(b, m->h[j].k, m->h[j].kl);
    b += m->h[j].kl;
    i++;
    g[i].n = (ptrdiff_t)m->h[j].vl;
    if (m->h[j].vl) {
      g[i].p = b;
      memcpy(b, m->h[j].v, m->h[j].vl);
      b += m->h[j].vl;
    }
    i++;
  }
}

void envoyGoClusterSpecifierLogError(unsigned long long plugin_ptr, void* msg) {
  (void)plugin_ptr;
  GoString* m = msg;
  COUNT(C_CS_ERRORS);
  host_log(4, "%.*s", (int)m->n, m->p);
}
