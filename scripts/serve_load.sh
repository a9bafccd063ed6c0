#!/usr/bin/env bash
# Load test of `ecps serve` with wrk (Debian's wrk, installed by setup.sh):
# starts the server on a free loopback port, then for each request size (rows
# per POST /v1/predict) runs wrk with C connections for D seconds and prints
# one markdown row: requests/s, rows/s, p50/p90/p99 latency, errors. The
# bodies hold random valid rows of the model's feature space (ids uniform
# per field, dense values in [0, 5)), written once by python3 from the
# bundle's schema (ecps checkpoint inspect --json).
#
#   scripts/serve_load.sh [BUNDLE_OR_CHECKPOINT]
#     without a model: trains a full DLRM on ECPS_LOAD_TRAIN_ROWS generated
#     Criteo-shaped rows (default 200000, one epoch) and converts its best.ckpt
#   ECPS_LOAD_SECONDS=10        seconds per request size
#   ECPS_LOAD_CONNECTIONS=64    concurrent connections
#   ECPS_LOAD_ROWS="1 16 64"    rows per request, one run each
#   ECPS_LOAD_SERVER_THREADS=2  ecps serve --threads
#   ECPS_LOAD_WRK_THREADS=2     wrk -t
#   ECPS=build/ecps             the binary
#
# Exit codes: 0 every request answered 200; 1 a non-2xx answer, a socket
# error or a server that did not start; 2 wrk, python3 or ecps missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ECPS="${ECPS:-build/ecps}"
SECONDS_EACH="${ECPS_LOAD_SECONDS:-10}"
CONNECTIONS="${ECPS_LOAD_CONNECTIONS:-64}"
ROW_SIZES="${ECPS_LOAD_ROWS:-1 16 64}"
SERVER_THREADS="${ECPS_LOAD_SERVER_THREADS:-2}"
WRK_THREADS="${ECPS_LOAD_WRK_THREADS:-2}"
for tool in wrk python3; do
  command -v "$tool" >/dev/null || { echo "serve_load: $tool not installed (scripts/setup.sh)" >&2; exit 2; }
done
[ -x "$ECPS" ] || { echo "serve_load: $ECPS not built" >&2; exit 2; }

work=$(mktemp -d /tmp/ecps_serve_load.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

model="${1:-}"
if [ -z "$model" ]; then
  rows="${ECPS_LOAD_TRAIN_ROWS:-200000}"
  echo "serve_load: training a full DLRM on $rows generated rows in $work" >&2
  "$ECPS" train --log-level warn --set data.generate.rows="$rows" \
    --set data.cache_dir="$work/data" --set output.dir="$work/run" \
    --set output.progress=none >"$work/train.log" 2>&1 ||
    { echo "serve_load: training failed (log below)" >&2; cat "$work/train.log" >&2; exit 1; }
  model="$work/run/best.ckpt"
fi
if ! head -c 8 "$model" | grep -q ECPSBNDL; then
  "$ECPS" checkpoint convert --out "$work/model.bundle" "$model" >/dev/null
  model="$work/model.bundle"
fi
"$ECPS" checkpoint inspect --json "$model" >"$work/header.json"
for n in $ROW_SIZES; do
  python3 - "$work/header.json" "$n" >"$work/body_$n.json" <<'EOF'
import json, random, sys
schema = json.load(open(sys.argv[1]))["schema"]
rng = random.Random(1)
rows = [{"dense": [round(rng.uniform(0, 5), 4) for _ in range(schema["num_dense"])],
         "sparse": [rng.randrange(c) for c in schema["cardinalities"]]}
        for _ in range(int(sys.argv[2]))]
print(json.dumps({"rows": rows}, separators=(",", ":")))
EOF
done
cat >"$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("ECPS_LOAD_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
EOF

"$ECPS" serve --model "$model" --port 0 --threads "$SERVER_THREADS" \
  >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(sed -nE 's|.*listening on http://127\.0\.0\.1:([0-9]+).*|\1|p' "$work/serve.out")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { echo "serve_load: the server did not start:" >&2; cat "$work/serve.err" >&2; exit 1; }
echo "serve_load: $(head -1 "$work/serve.out" | sed 's/^ecps serve: //')" >&2
echo "serve_load: load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs" >&2

status=0
echo "| rows/request | connections | requests/s | rows/s | p50 | p90 | p99 | errors |"
echo "|---|---|---|---|---|---|---|---|"
for n in $ROW_SIZES; do
  ECPS_LOAD_BODY="$work/body_$n.json" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${SECONDS_EACH}s" \
    --latency -s "$work/post.lua" "http://127.0.0.1:$port/v1/predict" >"$work/wrk_$n.txt"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk_$n.txt")
  pct() { awk -v p="$1" '$1 == p {print $2}' "$work/wrk_$n.txt"; }
  non2xx=$(awk -F': ' '/Non-2xx or 3xx responses/ {print $2}' "$work/wrk_$n.txt")
  sock=$(sed -nE 's/.*Socket errors: (.*)/\1/p' "$work/wrk_$n.txt")
  errors="${non2xx:-0} non-2xx${sock:+; socket: $sock}"
  [ -z "$non2xx" ] && [ -z "$sock" ] || status=1
  rows_s=$(awk -v r="$rps" -v n="$n" 'BEGIN {printf "%.0f", r * n}')
  echo "| $n | $CONNECTIONS | $rps | $rows_s | $(pct 50%) | $(pct 90%) | $(pct 99%) | $errors |"
done
echo "serve_load: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# The server's own count: every answer a 200 (no error kind counted).
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^ecps_serve_(errors|rows)_total' >&2 || true
exit $status
