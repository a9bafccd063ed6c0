#!/usr/bin/env bash
# A scripted stand-in for `ecps train` used by bench_test (--ecps): it
# answers --list-methods (--json too) and --print-config, logs every training invocation
# to $FAKE_ECPS_LOG ("method budget dim lr"), and writes a deterministic
# results.json into output.dir. Methods with behaviour:
#   crashy  always fails (exit 1, "ecps train: simulated crash")
#   flaky   dies by SIGSEGV on its first attempt, succeeds on the retry
#   slow    sleeps ${FAKE_SLOW_S:-2} s before finishing (interrupt tests)
#   beta    cannot go below 25% of the full table (real ratio reported)
#   fixed   always 62.5% of the full table, whatever the budget
set -u
[[ "${1:-}" == train ]] || { echo "fake ecps: only 'train'" >&2; exit 2; }
shift
all_args=" $* "
method=full budget=1 dim=16 lr=0.001 out= print_config=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --list-methods)
      methods=(full baseline "uncompressed table"
        alpha hashing "a hashing method"
        beta quantization "a quantization method (>= 25%)"
        crashy hashing "always crashes"
        flaky "hashing, static" "crashes once"
        slow hashing "takes a while"
        fixed quantization "a fixed-ratio method (62.5%)")
      if [[ $all_args == *" --json "* ]]; then
        sep='['
        for ((i = 0; i < ${#methods[@]}; i += 3)); do
          printf '%s{"name": "%s", "family": "%s", "description": "%s", "params": []}' \
            "$sep" "${methods[i]}" "${methods[i + 1]}" "${methods[i + 2]}"
          sep=', '
        done
        echo ']'
      else
        printf '%-14s %-14s %s\n' "${methods[@]}"
      fi
      exit 0 ;;
    --print-config) print_config=1 ;;
    --set)
      shift
      case "$1" in
        embedding.method=*) method=${1#*=} ;;
        embedding.budget=*) budget=${1#*=} ;;
        embedding.dim=*) dim=${1#*=} ;;
        optimizer.lr=*) lr=${1#*=} ;;
        output.dir=*) out=${1#*=} ;;
        bad.key=*) echo "ecps train: --set: config key 'bad.key' is unknown" >&2; exit 2 ;;
      esac ;;
  esac
  shift
done
[[ $print_config == 1 ]] && { echo "embedding: {method: $method}"; exit 0; }
[[ -n "${FAKE_ECPS_LOG:-}" ]] && echo "$method $budget $dim $lr" >> "$FAKE_ECPS_LOG"
mkdir -p "$out"
echo "[info] fake training $method" >&2
case "$method" in
  crashy) echo "ecps train: simulated crash" >&2; exit 1 ;;
  flaky)
    if [[ ! -e "$out/.flaky_seen" ]]; then touch "$out/.flaky_seen"; kill -SEGV $$; fi ;;
  slow) sleep "${FAKE_SLOW_S:-2}" ;;
esac
awk -v m="$method" -v b="$budget" -v d="$dim" -v lr="$lr" 'BEGIN {
  ratio = (m == "full") ? 1 : (m == "fixed") ? 0.625 : b; if (m == "beta" && ratio < 0.25) ratio = 0.25
  bonus = (m == "alpha") ? 0.02 : (m == "beta") ? 0.01 : 0
  val = 0.70 + 0.1 * ratio + bonus + (lr == 0.01 ? 0.005 : 0) + d / 10000
  printf "{\"method\": \"%s\", \"budget\": %s, \"model\": \"dlrm\", \"embedding_dim\": %s,\n", m, b, d
  printf " \"val_auc\": %.6f, \"val_logloss\": 0.45, \"test_auc\": %.6f, \"test_logloss\": 0.46,\n", val, val - 0.003
  printf " \"inference_memory_bytes\": %d, \"inference_memory_ratio\": %.6f,\n", ratio * 4000 * d, ratio
  printf " \"training_memory\": {\"embedding_total_bytes\": %d, \"embedding_ratio\": %.6f, \"total_bytes\": 100000},\n", 3 * ratio * 4000 * d, 3 * ratio
  printf " \"stages\": [{\"name\": \"train\", \"seconds\": 1.5}], \"train_time_seconds\": %.3f,\n", 1 + ratio
  printf " \"latency_ms_per_batch_median\": %.3f, \"throughput_samples_per_s\": 5000, \"steps\": 10,\n", 0.5 + (m == "beta")
  printf " \"stop_reason\": \"max_steps\", \"git_commit\": \"fake\", \"config\": \"embedding: {method: %s}\\n\"}\n", m
}' > "$out/results.json.tmp" && mv "$out/results.json.tmp" "$out/results.json"
echo '{"fake": true}'
