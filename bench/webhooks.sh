#!/usr/bin/env bash
# bench/webhooks.sh: what webhooks (--webhook-url, docs/protocol.md §15) cost
# the node's commands, whether a dead receiver slows them, and how fast the
# node delivers a backlog. The receiver is bench/webhook_sink (cpp-httplib on
# loopback: it checks every signature, counts duplicates and events out of
# order within a meeting, and times the arrivals).
#
#   0. flat out (FLAT=1): DEVICES devices, INFLIGHT in flight each, the mix
#      MIX, webhooks off, then on (to the sink): commands/s on over off. Off's
#      rate halved is the rate of 1 unless RATE is set.
#   1. the same open-loop run (loadgen --rate=RATE, the mix MIX, a fresh
#      stack and database each) with webhooks
#        off    no --webhook-url
#        on     --webhook-url to the sink
#        down   --webhook-url to a loopback port nothing listens on (every
#               attempt refused at once, retried with backoff: events pile up)
#      ROUNDS rounds, the variants in turn. Between loadgen's --on-ready and
#      --on-done: the node's CPU per command (CPU seconds over commands
#      answered) and context switches per command (/proc), its commits/s,
#      mean commit time and webhook counters (/metrics), the sink's CPU per
#      event; then loadgen's p50/p99, the node's own (admin.stats) and its
#      webhooks{...}, the node's RSS, SQLite's pages per commit (-wal file).
#      For on: the wait until nothing is pending, then the sink's count
#      against the node's delivered (each event once, signatures good) and
#      the delay from an event's time ("at") to its arrival at the sink.
#   2. backlog (BACKLOG=1), one stack:
#        outage   the sink down, BACKLOG_DURATION at RATE (events pile up,
#                 each meeting's first one retried with backoff), then the
#                 sink started on that port: the time until nothing is
#                 pending and the sink's count stops growing (retry waits
#                 included: what a receiver back from an outage sees);
#        restart  the sink down again, another BACKLOG_DURATION at RATE, the
#                 node stopped, the sink started, the node started again: it
#                 reads the outbox at start and sends everything at once (no
#                 retry waits): the delivery rate, first to last arrival.
#
# Writes bench/results/webhooks-<date>.{json,md}.
#
# Environment: RATE (commands/s; default: half of 0's flat-out rate, or
# 800 with FLAT=0), DEVICES (200), INFLIGHT (2, flat out), DURATION (10s),
# WARMUP (5s), FLAT_DURATION (10s), FLAT (1), ROUNDS (2), VARIANTS
# ("off on down"), MIX (login,create:2,accept,join,leave,mute,renew,end, as
# throughput.sh), THREADS (loadgen threads, 2), BACKLOG (1),
# BACKLOG_DURATION (10s), DRAIN_TIMEOUT (seconds to wait for a backlog to
# drain, 120), SINK_THREADS (48), STORE (sqlite with --db-sync=full, or
# postgresql: a throwaway server, bench/lib.sh start_pg).
source "$(dirname "$0")/lib.sh"

RATE=${RATE:-}
DEVICES=${DEVICES:-200}
INFLIGHT=${INFLIGHT:-2}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-5s}
FLAT=${FLAT:-1}
FLAT_DURATION=${FLAT_DURATION:-10s}
ROUNDS=${ROUNDS:-2}
VARIANTS=${VARIANTS:-off on down}
MIX=${MIX:-login,create:2,accept,join,leave,mute,renew,end}
THREADS=${THREADS:-2}
BACKLOG=${BACKLOG:-1}
BACKLOG_DURATION=${BACKLOG_DURATION:-10s}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
SINK_THREADS=${SINK_THREADS:-48}
STORE=${STORE:-sqlite}
case $STORE in
  sqlite | postgresql) ;;
  *) echo "bench: STORE=$STORE: expected sqlite or postgresql" >&2; exit 1 ;;
esac
WEBHOOK_SINK=$BUILD_DIR/bench/webhook_sink
[ -x "$WEBHOOK_SINK" ] || { echo "bench: $WEBHOOK_SINK is missing (ninja -C $BUILD_DIR webhook_sink)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench: curl is needed (the node's /metrics, the sink's /count)" >&2; exit 1; }
result_paths webhooks
run=$bench_run
# The node signs with it, the sink checks with it. Not a secret: a run's own.
WEBHOOK_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export WEBHOOK_SECRET
pg_settings=null
if [ "$STORE" = postgresql ]; then
  start_pg
  pg_settings=$(pg_settings_json)
fi

# -- the sink -----------------------------------------------------------------------
SINK_PID= SINK_PORT=

# start_sink <port> <summary json> [webhook_sink options...]: sets SINK_PID, SINK_PORT.
start_sink() {
  local port=$1 out=$2; shift 2
  "$WEBHOOK_SINK" --listen="127.0.0.1:$port" --threads="$SINK_THREADS" --json="$out" "$@" \
    >"$out.log" 2>&1 &
  SINK_PID=$!
  SINK_PORT=$port
  bench_pids+=("$SINK_PID")
  if ! wait_for 10 grep -q 'listening on' "$out.log"; then
    cat "$out.log" >&2
    echo "bench: webhook_sink did not start on port $port" >&2
    exit 1
  fi
}

# stop_sink: SIGTERM; it writes its summary (start_sink's json) and exits.
stop_sink() {
  [ -n "$SINK_PID" ] || return 0
  kill -TERM "$SINK_PID" 2>/dev/null || true
  wait "$SINK_PID" 2>/dev/null || true
  forget_pid "$SINK_PID"
  SINK_PID=
}

# sink_unique: events the sink took so far (empty if it does not answer).
sink_unique() {
  curl -fsS --max-time 2 "http://127.0.0.1:$SINK_PORT/count" 2>/dev/null | jq -r '.unique' || true
}

# -- the node -----------------------------------------------------------------------

# node_metric <name>: a value on the node's /metrics page (empty if absent).
node_metric() {
  curl -fsS --max-time 2 "http://127.0.0.1:$NODE_HTTP_PORT/metrics" 2>/dev/null \
    | awk -v n="$1" '$1 == n {v = $2} END {if (v != "") print v + 0}' || true
}

# start_node_on <name> [meetingd options...]: a node on a fresh database of
# STORE; sets stack_pids (node, broker, emulator[, PostgreSQL's]).
start_node_on() {
  local name=$1; shift
  if [ "$STORE" = postgresql ]; then
    NODE_DB=$(create_pg_db "${name//-/_}_$(date +%s%N)")
    start_node "$NODE_DB" "$@"
    stack_pids=("$NODE_PID" "$BROKER_PID" "$EMULATOR_PID" "$(pg_pids)")
  else
    NODE_DB=$run/$name.db
    start_node "$NODE_DB" --db-sync=full "$@"
    stack_pids=("$NODE_PID" "$BROKER_PID" "$EMULATOR_PID")
  fi
}

# restart_node_on [meetingd options...]: the node again on NODE_DB.
restart_node_on() {
  if [ "$STORE" = postgresql ]; then
    start_node "$NODE_DB" "$@"
  else
    start_node "$NODE_DB" --db-sync=full "$@"
  fi
}

# wh_hook <file> [sink port]: a shell command (for loadgen's hooks) that
# records, one per line: the time; the context switches of all the node's
# threads; its store commits and their seconds; webhooks delivered, failed
# attempts, given up, pending (its /metrics); the sink's unique events; the
# bytes the node has had written to storage (/proc/<pid>/io write_bytes).
wh_hook() {
  local file=$1 sink=${2:-}
  local cmd="{ date +%s%N"
  cmd+="; cat /proc/$NODE_PID/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ {s += \$2} END {print s + 0}'"
  cmd+="; curl -fsS --max-time 2 http://127.0.0.1:$NODE_HTTP_PORT/metrics 2>/dev/null | awk '"
  cmd+="\$1 == \"meetingd_store_commit_duration_seconds_count\" {c = \$2} "
  cmd+="\$1 == \"meetingd_store_commit_duration_seconds_sum\" {s = \$2} "
  cmd+="\$1 == \"meetingd_webhooks_delivered_total\" {d = \$2} "
  cmd+="\$1 == \"meetingd_webhook_failed_attempts_total\" {f = \$2} "
  cmd+="\$1 == \"meetingd_webhooks_given_up_total\" {g = \$2} "
  cmd+="\$1 == \"meetingd_webhooks_pending\" {p = \$2} "
  cmd+="END {print c; print s; print d; print f; print g; print p}'"
  if [ -n "$sink" ]; then
    cmd+="; curl -fsS --max-time 2 http://127.0.0.1:$sink/count 2>/dev/null | jq -r .unique"
  else
    cmd+="; echo"
  fi
  cmd+="; awk '/^write_bytes:/ {print \$2}' /proc/$NODE_PID/io"
  cmd+="; } > $file"
  echo "$cmd"
}

# node_log_json: what the node logged that a run should not show (500s,
# errors, warnings other than the webhook attempts that failed) and the
# webhook lines, counted. The text log: <time> <level> <event> key=value...
node_log_json() {
  local counts first
  counts=$(awk '$3 == "cmd.failed" {f++} $2 == "error" {e++}
                $2 == "warning" && $3 != "webhook.attempt_failed" {w++}
                $3 == "webhook.attempt_failed" {a++} $3 == "webhook.given_up" {g++}
                $3 == "webhook.outbox_read_failed" {o++}
                END {printf "%d %d %d %d %d %d\n", f, e, w, a, g, o}' "$NODE_LOG")
  first=$(awk '$3 == "cmd.failed" || $2 == "error" || ($2 == "warning" && $3 != "webhook.attempt_failed")' \
    "$NODE_LOG" | head -n 3 | cut -c1-300)
  jq -n --arg c "$counts" --arg first "$first" \
    '($c | split(" ") | map(tonumber)) as $n
     | {internal_errors: $n[0], error_lines: $n[1], other_warning_lines: $n[2],
        webhook_attempt_failed_lines: $n[3], webhook_given_up_lines: $n[4],
        outbox_read_failed_lines: $n[5], first: ($first | split("\n") | map(select(. != "")))}'
}

# admin_stats: the node's admin.stats (commands' p50/p99 over its last
# 10000, webhooks{...}), or null.
admin_stats() {
  "$MEETCTL" --broker="tcp://127.0.0.1:$MQTT_PORT" --id="$BENCH_CONSOLE" --json stats 2>/dev/null \
    | jq -c '{commands: (.commands | {p50_ms, p99_ms}), webhooks}' || echo null
}

# wait_drained <timeout s> [sink port] [file]: until the node has nothing
# pending and (with a sink) the sink's count has not grown for a second.
# Prints the seconds waited, or nothing if it timed out; writes the sink's
# counts at that moment (its /count) to file.
wait_drained() {
  local timeout=$1 sink=${2:-} file=${3:-} t0 last= same=0 pending unique
  t0=$(date +%s%N)
  local deadline=$((SECONDS + timeout))
  while [ $SECONDS -lt $deadline ]; do
    pending=$(node_metric meetingd_webhooks_pending)
    unique=
    [ -z "$sink" ] || unique=$(sink_unique)
    if [ "${pending:-x}" = 0 ]; then
      if [ -z "$sink" ] || [ "$unique" = "$last" ]; then
        same=$((same + 1))
        if [ $same -ge 5 ]; then
          [ -z "$file" ] || curl -fsS --max-time 2 "http://127.0.0.1:$sink/count" >"$file" 2>/dev/null || true
          awk -v t0="$t0" -v t1="$(date +%s%N)" 'BEGIN { printf "%.2f\n", (t1 - t0) / 1e9 }'
          return 0
        fi
      else
        same=0
      fi
    else
      same=0
    fi
    last=$unique
    sleep 0.2
  done
}

stop_stack() { stop_node; stop_emulator; stop_broker; }

# -- one run --------------------------------------------------------------------------

# costs <out> <prefix> <has sink>: the run's costs from its hooks' samples
# (<prefix>-cpu0/1: node, broker, emulator, [PostgreSQL,] [sink]; <prefix>-wh0/1).
costs() {
  local out=$1 p=$2 has_sink=$3 n=${#stack_pids[@]}
  local sink_cpu=null pg_cpu=null
  [ "$has_sink" = 0 ] || sink_cpu=$(cpu_share "$p-cpu0" "$p-cpu1" "$n")
  [ "$STORE" != postgresql ] || pg_cpu=$(cpu_share "$p-cpu0" "$p-cpu1" 4)
  jq --arg node "$(cpu_share "$p-cpu0" "$p-cpu1" 1)" \
    --arg broker "$(cpu_share "$p-cpu0" "$p-cpu1" 2)" \
    --arg emulator "$(cpu_share "$p-cpu0" "$p-cpu1" 3)" \
    --argjson sink "$sink_cpu" --argjson pg "$pg_cpu" \
    --arg secs "$(sample_seconds "$p-wh0" "$p-wh1")" \
    --arg ctx "$(sample_delta "$p-wh0" "$p-wh1" 1)" \
    --arg commits "$(sample_delta "$p-wh0" "$p-wh1" 2)" \
    --arg commit_s "$(sample_delta "$p-wh0" "$p-wh1" 3)" \
    --arg delivered "$(sample_delta "$p-wh0" "$p-wh1" 4)" \
    --arg failed "$(sample_delta "$p-wh0" "$p-wh1" 5)" \
    --arg given_up "$(sample_delta "$p-wh0" "$p-wh1" 6)" \
    --arg pending0 "$(sed -n 8p "$p-wh0")" --arg pending1 "$(sed -n 8p "$p-wh1")" \
    --arg received "$(sample_delta "$p-wh0" "$p-wh1" 8)" \
    --arg written "$(sample_delta "$p-wh0" "$p-wh1" 9)" \
    'def num: if . == null or . == "" then null else tonumber end;
     def r(d): if . == null then null else (. * d | round) / d end;
     def per_s($x; $s): if $x != null and $s > 0 then $x / $s else null end;
     .total.throughput as $r | ($secs|tonumber) as $s
     | .cpu_percent = {node: ($node|tonumber), broker: ($broker|tonumber), emulator: ($emulator|tonumber),
                       sink: $sink, postgresql: $pg, loadgen: (100 * .loadgen_cpu_s / .duration_s | r(10))}
     | ($commits|num) as $n | per_s($n; $s) as $cps
     | per_s($delivered|num; $s) as $dps
     | .node_costs = {
         window_s: $s,
         cpu_us_per_command: (if $r > 0 then .cpu_percent.node / 100 / $r * 1e6 else null end | r(10)),
         ctx_switches_per_command: (if per_s($ctx|num; $s) != null and $r > 0 then per_s($ctx|num; $s) / $r else null end | r(100)),
         commits_per_s: ($cps | r(10)),
         commands_per_commit: (if $cps != null and $cps > 0 then $r / $cps else null end | r(100)),
         commit_ms_mean: (if $n != null and $n > 0 then ($commit_s|num) / $n * 1000 else null end | r(1000)),
         written_kib_per_command: (if per_s($written|num; $s) != null and $r > 0 then per_s($written|num; $s) / $r / 1024 else null end | r(100))}
     | .webhooks = {
         delivered_per_s: ($dps | r(10)),
         delivered_per_command: (if $dps != null and $r > 0 then $dps / $r else null end | r(1000)),
         failed_attempts_per_s: (per_s($failed|num; $s) | r(10)),
         given_up: ($given_up|num),
         pending_at_start: ($pending0|num), pending_at_end: ($pending1|num),
         sink_events_per_s: (per_s($received|num; $s) | r(10)),
         sink_cpu_us_per_event: (if $sink != null and $dps != null and $dps > 0 then $sink / 100 / $dps * 1e6 else null end | r(10))}' \
    "$out" >"$out.tmp" && mv "$out.tmp" "$out"
}

# measure <variant> <round> <rate: 0 flat out> <duration> <out>
measure() {
  local variant=$1 round=$2 rate=$3 duration=$4 out=$5
  local wh_args=() has_sink=0 load_args
  start_broker
  start_emulator
  case $variant in
    off) ;;
    on)
      start_sink "$(free_port)" "${out%.json}.sink"
      wh_args=(--webhook-url="http://127.0.0.1:$SINK_PORT/meetingd")
      has_sink=1
      ;;
    down) wh_args=(--webhook-url="http://127.0.0.1:$(free_port)/meetingd") ;;
    *) echo "bench: variant $variant: expected off, on or down" >&2; exit 1 ;;
  esac
  start_node_on "$variant-$round" "${wh_args[@]}"
  [ "$has_sink" = 0 ] || stack_pids+=("$SINK_PID")
  if [ "$rate" = 0 ]; then
    load_args=(--inflight="$INFLIGHT")
    say "webhooks $variant, flat out: $DEVICES devices x $INFLIGHT in flight, $duration (load $(loadavg1))"
  else
    load_args=(--inflight=16 --rate="$rate")
    say "webhooks $variant, round $round: $rate commands/s for $duration (load $(loadavg1))"
  fi
  local sink_port=
  [ "$has_sink" = 0 ] || sink_port=$SINK_PORT
  run_loadgen "$out" --mode=node --devices="$DEVICES" "${load_args[@]}" \
    --threads="$THREADS" --mix="$MIX" --duration="$duration" --warmup="$WARMUP" \
    --on-ready="$(cpu_hook "$run/m-cpu0" "${stack_pids[@]}"); $(wh_hook "$run/m-wh0" "$sink_port")" \
    --on-done="$(cpu_hook "$run/m-cpu1" "${stack_pids[@]}"); $(wh_hook "$run/m-wh1" "$sink_port")" \
    --label="webhooks $variant round $round" >"$out.txt" 2>&1 || { cat "$out.txt" >&2; exit 1; }
  grep -v '^\[' "$out.txt" | tail -n 4 >&2 || true
  costs "$out" "$run/m" "$has_sink"
  local inside drained=null sink=null rss frames=
  rss=$(rss_kib "$NODE_PID")
  # SQLite's pages per commit, from its log (gone when the node stops).
  [ "$STORE" != sqlite ] || frames=$(wal_frames_per_commit "$NODE_DB-wal") || frames=
  inside=$(admin_stats)
  if [ "$has_sink" = 1 ]; then
    # Everything delivered, then the sink's view against the node's.
    drained=$(wait_drained 30 "$SINK_PORT")
    [ -n "$drained" ] || { echo "bench: webhooks still pending 30 s after the load" >&2; drained=null; }
    local delivered
    delivered=$(node_metric meetingd_webhooks_delivered_total)
    stop_sink
    sink=$(jq -c --arg d "${delivered:-}" 'del(.per_second) + {node_delivered_total: (if $d == "" then null else ($d|tonumber) end)}' "${out%.json}.sink" 2>/dev/null || echo null)
  fi
  jq --arg v "$variant" --argjson round "$round" --argjson inside "$inside" \
    --argjson drained "$drained" --argjson sink "$sink" --argjson log "$(node_log_json)" \
    --arg store "$STORE" --argjson rss "${rss:-null}" --arg frames "$frames" \
    '.variant = $v | .round = $round | .store = $store | .inside_node = $inside | .node_log = $log
     | .node_rss_kib_after_load = $rss
     | .node_costs.wal_frames_per_commit = (if $frames == "" then null else ($frames|tonumber) end)
     | .webhooks.drained_after_s = $drained | .sink = $sink' "$out" >"$out.tmp" && mv "$out.tmp" "$out"
  jq -c '{variant, round, rate: (.total.throughput | round), p99_ms: .total.latency_ms.p99,
          cpu_us: .node_costs.cpu_us_per_command, delivered_per_s: .webhooks.delivered_per_s,
          failed_per_s: .webhooks.failed_attempts_per_s, pending: .webhooks.pending_at_end}' "$out" >&2
  stop_stack
}

# -- 0: flat out ----------------------------------------------------------------------
flat_json=null
if [ "$FLAT" = 1 ]; then
  measure off 0 0 "$FLAT_DURATION" "$run/flat-off.json"
  measure on 0 0 "$FLAT_DURATION" "$run/flat-on.json"
  flat_json=$(jq -n --slurpfile a "$run/flat-off.json" --slurpfile b "$run/flat-on.json" '{off: $a[0], on: $b[0]}')
  if [ -z "$RATE" ]; then
    RATE=$(jq '.total.throughput / 2 | floor' "$run/flat-off.json")
  fi
fi
RATE=${RATE:-800}

# -- 1: off, on, down at RATE ----------------------------------------------------------
for round in $(seq 1 "$ROUNDS"); do
  for variant in $VARIANTS; do
    measure "$variant" "$round" "$RATE" "$DURATION" "$run/rate-$variant-$round.json"
  done
done

# -- 2: backlog --------------------------------------------------------------------------
# drain_figures <sink summary json> <sink counts when drained> <t0 ns> <node
# cpu ticks at t0> <pending at t0> <drained s>: the backlog's delivery. The
# events up to the moment nothing was pending (the counts wait_drained
# saved) are the backlog; what the sink took later (late) came from the
# node's own timers after the load (participants of devices gone).
drain_figures() {
  local sink=$1 at_drain=$2 t0=$3 cpu0=$4 pending=$5 drained=$6
  local snap=null
  [ -s "$at_drain" ] && snap=$(jq -c . "$at_drain" 2>/dev/null) || snap=null
  jq -c --arg t0 "$t0" --arg cpu "$(awk -v c0="$cpu0" -v c1="$(cpu_ticks "$NODE_PID")" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", (c1 - c0) / hz }')" \
    --arg pending "$pending" --arg drained "$drained" --argjson snap "$snap" \
    '(($t0|tonumber) / 1e6) as $t0ms
     | ($snap // .) as $d
     | (if $d.last_arrival_ms > 0 then ($d.last_arrival_ms - $d.first_arrival_ms) / 1000 else null end) as $span
     | {pending_at_start: (if $pending == "" then null else ($pending|tonumber) end),
        events: $d.unique, late_events: (.unique - $d.unique), received: .received, duplicates, bad_signatures, out_of_order,
        first_arrival_after_s: (if .first_arrival_ms > 0 then (.first_arrival_ms - $t0ms) / 1000 else null end),
        last_arrival_after_s: (if $d.last_arrival_ms > 0 then ($d.last_arrival_ms - $t0ms) / 1000 else null end),
        drained_after_s: (if $drained == "" then null else ($drained|tonumber) end),
        arrival_span_s: $span,
        events_per_s: (if $span != null and $span > 0 then $d.unique / $span else null end),
        peak_1s, node_cpu_s: ($cpu|tonumber),
        node_cpu_us_per_event: (if $d.unique > 0 then ($cpu|tonumber) / $d.unique * 1e6 else null end),
        lag_ms, by_type, per_second: [.per_second[] | select(.t * 1000 <= $d.last_arrival_ms) | .n]}' "$sink"
}

backlog_json=null
if [ "$BACKLOG" = 1 ]; then
  start_broker
  start_emulator
  hook_port=$(free_port)
  url="http://127.0.0.1:$hook_port/meetingd"
  start_node_on backlog --webhook-url="$url"
  # outage: the receiver down while the load runs, then back.
  say "backlog, outage: the sink down, $RATE commands/s for $BACKLOG_DURATION (load $(loadavg1))"
  run_loadgen "$run/backlog-outage.json" --mode=node --devices="$DEVICES" --inflight=16 --rate="$RATE" \
    --threads="$THREADS" --mix="$MIX" --duration="$BACKLOG_DURATION" --warmup=1s \
    --label="backlog outage" >"$run/backlog-outage.txt" 2>&1 || { cat "$run/backlog-outage.txt" >&2; exit 1; }
  pending=$(node_metric meetingd_webhooks_pending)
  failed=$(node_metric meetingd_webhook_failed_attempts_total)
  say "backlog, outage: $pending pending ($failed failed attempts); the sink starts"
  cpu0=$(cpu_ticks "$NODE_PID")
  t0=$(date +%s%N)
  start_sink "$hook_port" "$run/sink-outage.json"
  drained=$(wait_drained "$DRAIN_TIMEOUT" "$SINK_PORT" "$run/sink-outage.drained")
  [ -n "$drained" ] || echo "bench: the outage's backlog did not drain in $DRAIN_TIMEOUT s" >&2
  stop_sink
  outage=$(drain_figures "$run/sink-outage.json" "$run/sink-outage.drained" "$t0" "$cpu0" "$pending" "$drained")
  outage=$(jq -c --arg f "$failed" --slurpfile l "$run/backlog-outage.json" \
    '. + {failed_attempts_before: ($f|tonumber? // null), load_commands_per_s: $l[0].total.throughput}' <<<"$outage")
  echo "$outage" >&2
  # restart: the sink down, a backlog, the node restarted with the sink up.
  say "backlog, restart: the sink down, $RATE commands/s for $BACKLOG_DURATION (load $(loadavg1))"
  run_loadgen "$run/backlog-restart.json" --mode=node --devices="$DEVICES" --inflight=16 --rate="$RATE" \
    --threads="$THREADS" --mix="$MIX" --duration="$BACKLOG_DURATION" --warmup=1s \
    --label="backlog restart" >"$run/backlog-restart.txt" 2>&1 || { cat "$run/backlog-restart.txt" >&2; exit 1; }
  pending=$(node_metric meetingd_webhooks_pending)
  say "backlog, restart: $pending pending; node stopped, sink started, node started"
  stop_node
  start_sink "$hook_port" "$run/sink-restart.json"
  t0=$(date +%s%N)
  restart_node_on --webhook-url="$url"
  stack_pids[0]=$NODE_PID
  # The node's CPU from its start (recovery included: a few hundred meetings).
  drained=$(wait_drained "$DRAIN_TIMEOUT" "$SINK_PORT" "$run/sink-restart.drained")
  [ -n "$drained" ] || echo "bench: the restart's backlog did not drain in $DRAIN_TIMEOUT s" >&2
  stop_sink
  restart=$(drain_figures "$run/sink-restart.json" "$run/sink-restart.drained" "$t0" 0 "$pending" "$drained")
  outbox_read=$(grep -m 1 'webhook.outbox_read' "$NODE_LOG" | cut -c1-300 || true)
  restart=$(jq -c --arg r "$outbox_read" --argjson ready "$NODE_READY_MS" \
    '. + {node_ready_ms: $ready, outbox_read_line: $r}' <<<"$restart")
  echo "$restart" >&2
  backlog_json=$(jq -n --argjson o "$outage" --argjson r "$restart" --argjson log "$(node_log_json)" \
    --arg d "$BACKLOG_DURATION" --argjson rate "$RATE" \
    '{duration: $d, rate: $rate, outage: $o, restart: $r, node_log_after_restart: $log}')
  stop_stack
fi

# -- results ------------------------------------------------------------------------------
jq -s --argjson machine "$(machine_json)" --argjson rate "$RATE" --arg store "$STORE" \
  --argjson pg "$pg_settings" --argjson flat "$flat_json" --argjson backlog "$backlog_json" \
  --arg mix "$MIX" --argjson devices "$DEVICES" --arg duration "$DURATION" --arg warmup "$WARMUP" \
  'def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
             else (.[length / 2 - 1] + .[length / 2]) / 2 end;
   def r(d): if . == null then null else (. * d | round) / d end;
   def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b | r(100) end;
   . as $runs
   | ([$runs[] | .variant] | unique) as $vs
   | (reduce $vs[] as $v ({}; .[$v] = ([$runs[] | select(.variant == $v)] as $rs | {
        rounds: ($rs | length),
        commands_per_s: ([$rs[].total.throughput] | med | r(1)),
        p50_ms: ([$rs[].total.latency_ms.p50] | med | r(10)),
        p99_ms: ([$rs[].total.latency_ms.p99] | med | r(10)),
        inside_p50_ms: ([$rs[].inside_node.commands.p50_ms // empty] | med | r(10)),
        inside_p99_ms: ([$rs[].inside_node.commands.p99_ms // empty] | med | r(10)),
        commit_ms_mean: ([$rs[].node_costs.commit_ms_mean // empty] | med | r(100)),
        wal_frames_per_commit: ([$rs[].node_costs.wal_frames_per_commit // empty] | med | r(10)),
        written_kib_per_command: ([$rs[].node_costs.written_kib_per_command // empty] | med | r(100)),
        rss_mib_after_load: ([$rs[].node_rss_kib_after_load // empty] | med | . / 1024 | r(1)),
        cpu_us_per_command: ([$rs[].node_costs.cpu_us_per_command // empty] | med | r(10)),
        ctx_switches_per_command: ([$rs[].node_costs.ctx_switches_per_command // empty] | med | r(100)),
        commits_per_s: ([$rs[].node_costs.commits_per_s // empty] | med | r(10)),
        delivered_per_s: ([$rs[].webhooks.delivered_per_s // empty] | med | r(10)),
        failed_attempts_per_s: ([$rs[].webhooks.failed_attempts_per_s // empty] | med | r(10)),
        pending_at_end: ([$rs[].webhooks.pending_at_end // empty] | med),
        sink_cpu_us_per_event: ([$rs[].webhooks.sink_cpu_us_per_event // empty] | med | r(10)),
        lag_p50_ms: ([$rs[].sink.lag_ms.p50 // empty] | med),
        lag_p99_ms: ([$rs[].sink.lag_ms.p99 // empty] | med),
        errors: ([$rs[].total.failed] | add)}))) as $by
   | {bench: "webhooks", machine: $machine, store: $store, postgresql_server: $pg,
      config: {rate: $rate, devices: $devices, duration: $duration, warmup: $warmup, mix: $mix},
      flat_out: $flat, runs: $runs, backlog: $backlog, by_variant: $by,
      figures: {
        rate: $rate,
        flat_out_commands_per_s_off: ($flat.off.total.throughput // null | r(1)),
        flat_out_commands_per_s_on: ($flat.on.total.throughput // null | r(1)),
        flat_out_on_over_off: ratio($flat.on.total.throughput // null; $flat.off.total.throughput // null),
        flat_out_cpu_us_off: ($flat.off.node_costs.cpu_us_per_command // null),
        flat_out_cpu_us_on: ($flat.on.node_costs.cpu_us_per_command // null),
        flat_out_delivered_per_s: ($flat.on.webhooks.delivered_per_s // null),
        flat_out_pending_at_end: ($flat.on.webhooks.pending_at_end // null),
        cpu_us_per_command: {off: $by.off.cpu_us_per_command, on: $by.on.cpu_us_per_command, down: $by.down.cpu_us_per_command},
        cpu_on_over_off: ratio($by.on.cpu_us_per_command; $by.off.cpu_us_per_command),
        cpu_down_over_off: ratio($by.down.cpu_us_per_command; $by.off.cpu_us_per_command),
        p99_ms: {off: $by.off.p99_ms, on: $by.on.p99_ms, down: $by.down.p99_ms},
        p99_on_over_off: ratio($by.on.p99_ms; $by.off.p99_ms),
        p99_down_over_off: ratio($by.down.p99_ms; $by.off.p99_ms),
        inside_p99_ms: {off: $by.off.inside_p99_ms, on: $by.on.inside_p99_ms, down: $by.down.inside_p99_ms},
        p50_ms: {off: $by.off.p50_ms, on: $by.on.p50_ms, down: $by.down.p50_ms},
        commit_ms_mean: {off: $by.off.commit_ms_mean, on: $by.on.commit_ms_mean, down: $by.down.commit_ms_mean},
        wal_frames_per_commit: {off: $by.off.wal_frames_per_commit, on: $by.on.wal_frames_per_commit, down: $by.down.wal_frames_per_commit},
        written_kib_per_command: {off: $by.off.written_kib_per_command, on: $by.on.written_kib_per_command, down: $by.down.written_kib_per_command},
        delivered_per_s_steady: $by.on.delivered_per_s,
        delivery_lag_p99_ms: $by.on.lag_p99_ms,
        backlog_restart_events_per_s: ($backlog.restart.events_per_s // null | r(1)),
        backlog_restart_events: ($backlog.restart.events // null),
        backlog_outage_drained_after_s: ($backlog.outage.drained_after_s // null),
        backlog_outage_events: ($backlog.outage.events // null)}}' \
  "$run"/rate-*.json >"$RESULT_JSON"

f() { jq -r "$1" "$RESULT_JSON"; }
{
  echo "# Webhooks: what delivery costs the node's commands ($bench_stamp)"
  echo
  echo "Machine: $(f '.machine.nproc') vCPU ($(f '.machine.cpu')), shared; load average at start $(f '.machine.loadavg_at_start')."
  echo "Commit $(f '.machine.commit') (uncommitted changes: $(f '.machine.uncommitted_changes')). Store: $STORE$([ "$STORE" = sqlite ] && echo ' (--db-sync=full)')."
  echo "$DEVICES devices, mix \`$MIX\`; open loop at **$RATE commands/s**, $DURATION after $WARMUP warmup, $ROUNDS round(s); the receiver: bench/webhook_sink on loopback (signatures checked)."
  echo
  if [ "$flat_json" != null ]; then
    echo "Flat out ($DEVICES × $INFLIGHT in flight, $FLAT_DURATION, the sink on the same 2 cores): off $(f '.figures.flat_out_commands_per_s_off') commands/s, on $(f '.figures.flat_out_commands_per_s_on') (on/off **$(f '.figures.flat_out_on_over_off')**); node CPU per command $(f '.figures.flat_out_cpu_us_off') / $(f '.figures.flat_out_cpu_us_on') µs; delivered $(f '.figures.flat_out_delivered_per_s') events/s, $(f '.figures.flat_out_pending_at_end') pending at the end; sink $(f '.flat_out.on.cpu_percent.sink')% of a core."
    echo
  fi
  echo "| webhooks | round | commands/s | p50 ms | p99 ms | inside p99 ms | node CPU µs/command | ctx sw/command | commits/s | ms/commit | pages/commit | KiB written/command | delivered/s | failed attempts/s | pending at end | node RSS MiB | sink CPU µs/event | errors | load 1 min |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  jq -r 'def o: {off: 0, on: 1, down: 2}[.] // 3;
    .runs | sort_by(.round, (.variant | o))[]
    | "| \(.variant) | \(.round) | \(.total.throughput | round) | \(.total.latency_ms.p50) | \(.total.latency_ms.p99) | \(.inside_node.commands.p99_ms // null | if . == null then "?" else (. * 10 | round / 10) end) | \(.node_costs.cpu_us_per_command // "?") | \(.node_costs.ctx_switches_per_command // "?") | \(.node_costs.commits_per_s // "?") | \(.node_costs.commit_ms_mean // "?") | \(.node_costs.wal_frames_per_commit // "?") | \(.node_costs.written_kib_per_command // "?") | \(.webhooks.delivered_per_s // "-") | \(.webhooks.failed_attempts_per_s // "-") | \(.webhooks.pending_at_end // "-") | \(.node_rss_kib_after_load // null | if . == null then "?" else (. / 1024 | round) end) | \(.webhooks.sink_cpu_us_per_event // "-") | \(.total.failed) | \(.host.loadavg_measure_start[0]) → \(.host.loadavg_end[0]) |"' "$RESULT_JSON"
  echo
  echo "- node CPU per command (median over rounds): off $(f '.figures.cpu_us_per_command.off') µs, on $(f '.figures.cpu_us_per_command.on') µs (**×$(f '.figures.cpu_on_over_off')**), receiver down $(f '.figures.cpu_us_per_command.down') µs (**×$(f '.figures.cpu_down_over_off')**)"
  echo "- commits (median over rounds): off $(f '.figures.commit_ms_mean.off') ms each, $(f '.figures.wal_frames_per_commit.off') pages; on $(f '.figures.commit_ms_mean.on') ms, $(f '.figures.wal_frames_per_commit.on') pages; down $(f '.figures.commit_ms_mean.down') ms, $(f '.figures.wal_frames_per_commit.down') pages (pages: SQLite's log at the end of the load); written to storage per command: $(f '.figures.written_kib_per_command | "\(.off) / \(.on) / \(.down)"') KiB; command p50: $(f '.figures.p50_ms | "\(.off) / \(.on) / \(.down)"') ms"
  echo "- command p99 (loadgen, median over rounds): off $(f '.figures.p99_ms.off') ms, on $(f '.figures.p99_ms.on') ms (×$(f '.figures.p99_on_over_off')), down $(f '.figures.p99_ms.down') ms (×$(f '.figures.p99_down_over_off')); inside the node (admin.stats): $(f '.figures.inside_p99_ms | [.off, .on, .down] | map(if . == null then "?" else (. * 10 | round / 10 | tostring) end) | join(" / ")') ms"
  echo "- steady state (on): $(f '.figures.delivered_per_s_steady') events delivered/s; event time to arrival at the sink p50 $(f '.by_variant.on.lag_p50_ms') ms, p99 $(f '.figures.delivery_lag_p99_ms') ms; sink vs node: $(f '[.runs[] | select(.variant == "on") | .sink | "\(.unique) unique / \(.node_delivered_total) delivered, \(.duplicates) duplicates, \(.bad_signatures) bad signatures, \(.out_of_order) out of order"] | join("; ")')"
  if [ "$backlog_json" != null ]; then
    echo "- backlog after an outage ($BACKLOG_DURATION at $RATE/s with the sink down, then the sink started): $(f '.backlog.outage | "\(.pending_at_start) pending, \(.events) events arrived (and \(.late_events) later, of the node'\''s own timers), the last \(.last_arrival_after_s // 0 | . * 100 | round / 100) s after the sink started, \(.events_per_s // 0 | round) events/s first to last arrival (the retry waits: up to twice the outage), peak \(.peak_1s) in one second; \(.duplicates) duplicates, \(.out_of_order) out of order"')"
    echo "- backlog at a restart (the node restarted with the sink up; it reads the outbox at start): $(f '.backlog.restart | "\(.events) events in \(.arrival_span_s) s first to last arrival: **\(.events_per_s // 0 | round) events/s** (peak \(.peak_1s) in one second), the first \(.first_arrival_after_s // 0 | . * 100 | round / 100) s after the node was started; node CPU \(.node_cpu_us_per_event // 0 | round) µs per event from its start (recovery included); \(.duplicates) duplicates, \(.out_of_order) out of order"')"
  fi
  echo "- node log: $(f '[.runs | sort_by(.round, ({off: 0, on: 1, down: 2}[.variant] // 3))[] | "\(.variant)/\(.round): \(.node_log.internal_errors) 500s, \(.node_log.error_lines) errors, \(.node_log.other_warning_lines) other warnings, \(.node_log.webhook_attempt_failed_lines) webhook.attempt_failed"] | join("; ")')"
} >"$RESULT_MD"
cat "$RESULT_MD"
echo "results: $RESULT_JSON $RESULT_MD" >&2
