#!/usr/bin/env bash
# bench/mqtt_floor.sh: what answering one command over MQTT costs in CPU when
# nothing else is done: the floor under the node's CPU per command.
#
# The same open-loop echo traffic (loadgen --mode=echo at RATE messages/s,
# DEVICES devices, REQUEST_BYTES in and REPLY_BYTES out, the sizes of the
# node's commands and replies) is answered in turn by:
#   paho-thread    bench/mqtt_floor on Paho MQTT C++, set up as the node's
#                  gateway, each message handed to another thread before it is
#                  answered (as the gateway hands it to a CAF worker)
#   paho-callback  the same, answering on Paho's callback thread
#   mosquitto      loadgen's own echo peer: libmosquitto without threads of
#                  its own, driven over epoll by one thread (its CPU is that
#                  thread's, read from /proc/<loadgen>/task/*)
#   node           meetingd itself (SQLite, --db-sync=full) at the same rate
#                  under the command mix
# and for each the CPU per message (CPU seconds over messages answered, in
# µs) and the context switches per message (all threads) are read from
# /proc between loadgen's --on-ready and --on-done. ROUNDS rounds alternate
# the variants, so that a slower minute of this shared machine hits each.
#
# Writes bench/results/mqtt_floor-<date>.{json,md}.
#
# Environment: RATE (1500), DEVICES (200), DURATION (15s), WARMUP (5s),
# ROUNDS (2), VARIANTS ("paho-thread paho-callback mosquitto node"),
# REQUEST_BYTES (190), REPLY_BYTES (560), MIX (the node's, as throughput.sh).
source "$(dirname "$0")/lib.sh"

RATE=${RATE:-1500}
DEVICES=${DEVICES:-200}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-5s}
ROUNDS=${ROUNDS:-2}
VARIANTS=${VARIANTS:-paho-thread paho-callback mosquitto node}
REQUEST_BYTES=${REQUEST_BYTES:-190}
REPLY_BYTES=${REPLY_BYTES:-560}
MIX=${MIX:-login,create:2,accept,join,leave,mute,renew,end}
result_paths mqtt_floor
run=$bench_run
[ -x "$MQTT_FLOOR" ] || { echo "bench: $MQTT_FLOOR is missing (ninja -C $BUILD_DIR mqtt_floor)" >&2; exit 1; }

# proc_hook <file> <pid> [thread name]: a shell command (for loadgen's hooks)
# that records the time, then the CPU ticks and the context switches of the
# process (all its threads), or of its threads of that name only. $PPID is
# expanded by the shell loadgen starts, whose parent is loadgen.
proc_hook() {
  local file=$1 pid=$2 name=${3:-}
  local tasks="/proc/$pid/task/*"
  [ "$pid" = loadgen ] && tasks='/proc/$PPID/task/*'
  local cmd="{ date +%s%N; for t in $tasks; do"
  [ -n "$name" ] && cmd+=" [ \"\$(cat \$t/comm)\" = $name ] || continue;"
  cmd+=" awk '{print \$14 + \$15}' \$t/stat; awk '/^(non)?voluntary_ctxt_switches:/ {s += \$2} END {print \"cs\", s}' \$t/status;"
  cmd+=" done | awk '\$1 == \"cs\" {c += \$2; next} {t += \$1} END {print t + 0; print c + 0}'; } > $file"
  echo "$cmd"
}

# costs <json> <before> <after>: adds .floor = {cpu_us_per_message, ...}.
costs() {
  local json=$1
  jq --arg secs "$(sample_seconds "$2" "$3")" --arg ticks "$(sample_delta "$2" "$3" 1)" \
    --arg ctx "$(sample_delta "$2" "$3" 2)" --argjson hz "$CLK_TCK" \
    '.total.throughput as $r | ($secs|tonumber) as $s
     | .floor = {window_s: $s,
                 cpu_percent: (($ticks|tonumber) / $hz / $s * 100 | . * 10 | round / 10),
                 cpu_us_per_message: (if $r > 0 then ($ticks|tonumber) / $hz / $s / $r * 1e6 else null end | . * 10 | round / 10),
                 ctx_switches_per_message: (if $r > 0 then ($ctx|tonumber) / $s / $r else null end | . * 100 | round / 100)}' \
    "$json" >"$json.tmp" && mv "$json.tmp" "$json"
}

# measure <variant> <round>
measure() {
  local variant=$1 round=$2 out=$run/$1-$2.json peer_pid= target
  local echo_args=(--mode=echo --payload-bytes="$REQUEST_BYTES" --reply-bytes="$REPLY_BYTES")
  start_broker
  case $variant in
    paho-thread | paho-callback)
      MQTT_USERNAME=$BENCH_NODE_USER MQTT_PASSWORD=$BENCH_NODE_PASSWORD \
        "$MQTT_FLOOR" --broker="tcp://127.0.0.1:$MQTT_PORT" --handoff="${variant#paho-}" \
        --reply-bytes="$REPLY_BYTES" >"$run/$variant-$round.peer" 2>&1 &
      peer_pid=$!
      bench_pids+=("$peer_pid")
      wait_for 10 grep -q '^ready' "$run/$variant-$round.peer" \
        || { cat "$run/$variant-$round.peer" >&2; exit 1; }
      echo_args+=(--external-echo-peer)
      target=("$peer_pid")
      ;;
    mosquitto) target=(loadgen echo-peer) ;;
    node)
      start_emulator
      start_node "$run/node-$round.db" --db-sync=full
      echo_args=(--mode=node --mix="$MIX")
      target=("$NODE_PID")
      ;;
  esac
  say "$variant, round $round: $RATE messages/s for $DURATION (load $(loadavg1))"
  MQTT_USERNAME=$BENCH_NODE_USER MQTT_PASSWORD=$BENCH_NODE_PASSWORD \
    run_loadgen "$out" "${echo_args[@]}" --devices="$DEVICES" --rate="$RATE" --inflight=16 \
    --threads=2 --duration="$DURATION" --warmup="$WARMUP" \
    --on-ready="$(proc_hook "$run/s0" "${target[@]}")" \
    --on-done="$(proc_hook "$run/s1" "${target[@]}")" \
    --label="$variant round $round" >"$out.txt" 2>&1 || { cat "$out.txt" >&2; exit 1; }
  costs "$out" "$run/s0" "$run/s1"
  jq -c --arg v "$variant" '{variant: $v, rate: .total.throughput} + .floor' "$out" >&2
  if [ -n "$peer_pid" ]; then
    kill "$peer_pid" 2>/dev/null || true
    wait "$peer_pid" 2>/dev/null || true
    forget_pid "$peer_pid"
  fi
  if [ "$variant" = node ]; then stop_node; stop_emulator; fi
  stop_broker
}

for round in $(seq 1 "$ROUNDS"); do
  for variant in $VARIANTS; do measure "$variant" "$round"; done
done

jq -s --argjson machine "$(machine_json)" --arg rate "$RATE" \
  '{bench: "mqtt_floor", machine: $machine, rate: ($rate|tonumber),
    runs: [.[] | {variant: (.label | split(" round ")[0]), round: (.label | split(" round ")[1] | tonumber),
                  throughput: .total.throughput, p50_ms: .total.latency_ms.p50,
                  p99_ms: .total.latency_ms.p99} + .floor]}' \
  "$run"/*-[0-9]*.json >"$RESULT_JSON"
{
  echo "# MQTT floor: CPU per command answered, $RATE messages/s ($(date -u +%F))"
  echo
  echo "| variant | round | messages/s | CPU µs per message | context switches per message | p99 ms |"
  echo "|---|---|---|---|---|---|"
  jq -r '.runs | sort_by(.variant, .round)[]
         | "| \(.variant) | \(.round) | \(.throughput | round) | \(.cpu_us_per_message) | \(.ctx_switches_per_message) | \(.p99_ms) |"' \
    "$RESULT_JSON"
} >"$RESULT_MD"
cat "$RESULT_MD"
