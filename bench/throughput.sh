#!/usr/bin/env bash
# bench/throughput.sh: meetingd's command throughput and latency next to the
# broker's own limit, in the same run, with the same loadgen and devices.
#
#   1. node, flat out: DEVICES devices, INFLIGHT outstanding commands each,
#      the command mix MIX, durability on (--db-sync=full);
#   2. node at half of the rate measured in 1 (open loop): p99 latency;
#      The node's own p50/p99 (gateway in to reply out, admin.stats) is read
#      at the end of this run: what the node adds, apart from the broker;
#      In 1 and 2, loadgen's hooks also sample the node's CPU time, the
#      context switches of all its threads (/proc/<pid>/task/*/status) and
#      its store commits (meetingd_store_commit_duration_seconds on its
#      /metrics): CPU and context switches per command, commits/s, commands
#      per commit; and SQLite's pages per commit are read from the -wal file
#      at the end of 2;
#   2b. bench/fsync_floor in the run directory (the disk the database is
#      on) at the commits/s of 2, with its pages per commit (4 if unknown),
#      as long as 2 (at most 15 s): the fdatasync latency under the node's
#      commits; then again with a checkpoint every 1000 pages on a second
#      thread (the node's default); reported next to the node's p99 of 2;
#   3. echo, flat out: a fresh broker, no node; each device publishes to
#      bench/echo/<client> and a loopback peer answers on bench/reply/<client>,
#      with the request and reply sizes measured in 1 (QoS 1 both ways);
#      then the echo at half its maximum, and at the node's half rate (the
#      latency floor of this machine's broker path at the rate of 2);
#   4. (SWEEP="50 200 500") 1 and 3 again for each number of devices.
#   PostgreSQL (STORE=both, the default): 1 and 2 again with the node on a
#   throwaway PostgreSQL server on this machine (bench/lib.sh start_pg:
#   fsync and synchronous_commit on, the durability of --db-sync=full; a
#   fresh database), right after SQLite's; 2 at SQLite's half rate (the same
#   load for both). The figure: PostgreSQL's commands/s over SQLite's.
#   The server's CPU (all its processes) is reported with the node's. 2b
#   runs once, at the first store's commit rate (SQLite's unless
#   STORE=postgresql).
#
# Writes bench/results/throughput-<date>.{json,md} and -throughput.png,
# -latency.png, -timeline.png (and -sweep.png).
#
# Environment: DEVICES (200), INFLIGHT (2), DURATION (30s), WARMUP (5s),
# MIX (login,create:2,accept,join,leave,mute,renew,end), THREADS (loadgen
# threads, 2), SWEEP (device counts, empty: no sweep), SWEEP_DURATION (10s),
# STORE (both: SQLite and PostgreSQL; sqlite or postgresql: that one only;
# the sweep and the echo's sizes use the first).
source "$(dirname "$0")/lib.sh"

DEVICES=${DEVICES:-200}
INFLIGHT=${INFLIGHT:-2}
DURATION=${DURATION:-30s}
WARMUP=${WARMUP:-5s}
MIX=${MIX:-login,create:2,accept,join,leave,mute,renew,end}
THREADS=${THREADS:-2}
SWEEP=${SWEEP:-}
SWEEP_DURATION=${SWEEP_DURATION:-10s}
STORE=${STORE:-both}
case $STORE in
  sqlite) stores=(sqlite) ;;
  postgresql) stores=(postgresql) ;;
  both) stores=(sqlite postgresql) ;;
  *) echo "bench: STORE=$STORE: expected sqlite, postgresql or both" >&2; exit 1 ;;
esac
primary=${stores[0]}
[ -x "$FSYNC_FLOOR" ] || { echo "bench: $FSYNC_FLOOR is missing (ninja -C $BUILD_DIR fsync_floor)" >&2; exit 1; }
result_paths throughput
run=$bench_run
pg_settings=null
if [[ " ${stores[*]} " == *" postgresql "* ]]; then
  start_pg
  pg_settings=$(pg_settings_json)
fi

# node_hooks <prefix>: sets hooks, loadgen's --on-ready and --on-done
# sampling the CPU of the stack's processes (stack_pids: node, broker,
# emulator[, PostgreSQL's]) into <prefix>-cpu0/1 and the node's context
# switches and commits (node_hook) into <prefix>-node0/1.
node_hooks() {
  local p=$1
  hooks=(--on-ready="$(cpu_hook "$p-cpu0" "${stack_pids[@]}"); $(node_hook "$p-node0" "$NODE_PID" "$NODE_HTTP_PORT")"
         --on-done="$(cpu_hook "$p-cpu1" "${stack_pids[@]}"); $(node_hook "$p-node1" "$NODE_PID" "$NODE_HTTP_PORT")")
}

# node_costs <out> <prefix> <store>: adds to a node run's results the CPU
# shares (cpu_percent) and node_costs: the node's CPU and context switches
# per command (its rate over the hooks' window over the commands/s measured),
# its commits/s, commands per commit and mean commit time (its /metrics).
node_costs() {
  local out=$1 p=$2 store=$3 server=null
  [ "$store" != postgresql ] || server=$(cpu_share "$p-cpu0" "$p-cpu1" 4)
  jq --arg node "$(cpu_share "$p-cpu0" "$p-cpu1" 1)" \
    --arg broker "$(cpu_share "$p-cpu0" "$p-cpu1" 2)" \
    --arg emulator "$(cpu_share "$p-cpu0" "$p-cpu1" 3)" \
    --argjson server "$server" \
    --arg secs "$(sample_seconds "$p-node0" "$p-node1")" \
    --arg ctx "$(sample_delta "$p-node0" "$p-node1" 1)" \
    --arg commits "$(sample_delta "$p-node0" "$p-node1" 2)" \
    --arg commit_s "$(sample_delta "$p-node0" "$p-node1" 3)" \
    'def num: if . == "" then null else tonumber end;
     def r(d): if . == null then null else (. * d | round) / d end;
     .cpu_percent = {node: ($node|tonumber), broker: ($broker|tonumber), emulator: ($emulator|tonumber),
                     loadgen: (100 * .loadgen_cpu_s / .duration_s)}
     | if $server != null then .cpu_percent.postgresql = $server else . end
     | .total.throughput as $r | ($secs|tonumber) as $s | ($ctx|num) as $c | ($commits|num) as $n
     | (if $n != null and $s > 0 then $n / $s else null end) as $cps
     | .node_costs = {
         cpu_us_per_command: (if $r > 0 then .cpu_percent.node / 100 / $r * 1e6 else null end | r(10)),
         ctx_switches_per_s: (if $c != null and $s > 0 then $c / $s else null end | r(10)),
         ctx_switches_per_command: (if $c != null and $s > 0 and $r > 0 then $c / $s / $r else null end | r(100)),
         commits_per_s: ($cps | r(10)),
         commands_per_commit: (if $cps != null and $cps > 0 then $r / $cps else null end | r(100)),
         commit_ms_mean: (if $n != null and $n > 0 then ($commit_s|num) / $n * 1000 else null end | r(1000)),
         window_s: $s}' "$out" >"$out.tmp" && mv "$out.tmp" "$out"
}

# node_flat <store> <devices> <duration> <out>: a fresh stack and database,
# the node flat out. Leaves stack_pids set for the run that follows.
node_flat() {
  local store=$1 devices=$2 duration=$3 out=$4
  start_broker
  start_emulator
  if [ "$store" = postgresql ]; then
    start_node "$(create_pg_db "node_${devices}_$(date +%s%N)")"
    stack_pids=("$NODE_PID" "$BROKER_PID" "$EMULATOR_PID" "$(pg_pids)")
  else
    start_node "$run/node-$devices.db" --db-sync=full
    stack_pids=("$NODE_PID" "$BROKER_PID" "$EMULATOR_PID")
  fi
  say "node on $store, flat out: $devices devices x $INFLIGHT in flight, $duration (load $(loadavg1))"
  node_hooks "$run/flat"
  run_loadgen "$out" --mode=node --devices="$devices" --inflight="$INFLIGHT" \
    --threads="$THREADS" --mix="$MIX" --duration="$duration" --warmup="$WARMUP" \
    "${hooks[@]}" --label="node on $store flat out" >"$out.txt"
  cat "$out.txt" >&2
  node_costs "$out" "$run/flat" "$store"
  jq --arg store "$store" --argjson failures "$(node_failures_json)" \
    '.store = $store | .node_log = $failures' "$out" >"$out.tmp" && mv "$out.tmp" "$out"
}

# echo_flat <devices> <duration> <request bytes> <reply bytes> <out>
echo_flat() {
  local devices=$1 duration=$2 req=$3 rep=$4 out=$5
  start_broker
  say "echo (broker alone), flat out: $devices devices x $INFLIGHT in flight, $req/$rep bytes (load $(loadavg1))"
  MQTT_USERNAME=$BENCH_NODE_USER MQTT_PASSWORD=$BENCH_NODE_PASSWORD \
    run_loadgen "$out" --mode=echo --devices="$devices" --inflight="$INFLIGHT" \
    --threads="$THREADS" --duration="$duration" --warmup="$WARMUP" \
    --payload-bytes="$req" --reply-bytes="$rep" \
    --on-ready="$(cpu_hook "$run/cpu0" "$BROKER_PID")" \
    --on-done="$(cpu_hook "$run/cpu1" "$BROKER_PID")" \
    --label="echo flat out" >"$out.txt"
  cat "$out.txt" >&2
  jq --arg broker "$(cpu_share "$run/cpu0" "$run/cpu1" 1)" \
    '.cpu_percent = {broker: ($broker|tonumber), loadgen: (100 * .loadgen_cpu_s / .duration_s)}' \
    "$out" >"$out.tmp" && mv "$out.tmp" "$out"
  stop_broker
}

stop_all() { stop_node; stop_emulator; stop_broker; }

# -- 1 and 2: the node, on each store ------------------------------------------------
half=
for store in "${stores[@]}"; do
  node_flat "$store" "$DEVICES" "$DURATION" "$run/$store-node-flat.json"
  if [ -z "$half" ]; then # the first store's half rate, for every store
    max_rate=$(jq '.total.throughput' "$run/$store-node-flat.json")
    half=$(awk -v r="$max_rate" 'BEGIN { printf "%d", r / 2 }')
  fi
  say "node on $store at $half commands/s (half of $primary's maximum; load $(loadavg1))"
  node_hooks "$run/half"
  run_loadgen "$run/$store-node-half.json" --mode=node --devices="$DEVICES" --inflight=16 \
    --threads="$THREADS" --mix="$MIX" --rate="$half" --duration="$DURATION" --warmup="$WARMUP" \
    "${hooks[@]}" --label="node on $store at half of $primary's maximum rate" >"$run/$store-node-half.txt"
  cat "$run/$store-node-half.txt" >&2
  node_costs "$run/$store-node-half.json" "$run/half" "$store"
  # SQLite's frames (pages) per commit, from its log (the node removes it when it stops).
  frames=
  [ "$store" != sqlite ] || frames=$(wal_frames_per_commit "$run/node-$DEVICES.db-wal") || frames=
  # The node's own latency window (its last 10000 commands: the end of this run).
  inside=$("$MEETCTL" --broker="tcp://127.0.0.1:$MQTT_PORT" --id="$BENCH_CONSOLE" --json stats \
    | jq -c '.commands | {p50_ms, p99_ms}') || inside=null
  jq --argjson failures "$(node_failures_json)" --argjson inside "$inside" --arg store "$store" \
    --arg frames "$frames" \
    '.store = $store | .node_log = $failures | .inside_node = $inside
     | .node_costs.wal_frames_per_commit = (if $frames == "" then null else ($frames|tonumber) end)' \
    "$run/$store-node-half.json" \
    >"$run/node-half.tmp" && mv "$run/node-half.tmp" "$run/$store-node-half.json"
  stop_all
done
cp "$run/$primary-node-flat.json" "$run/node-flat.json"
cp "$run/$primary-node-half.json" "$run/node-half.json"

# -- the disk's floor: fsync_floor at the node's commit rate ---------------------------
# In the run directory (the disk the node's database was on), at the commits/s
# of the first store's half-rate run, its frames per commit (SQLite's log; 4
# if unknown), as long as that run (at most 15 s); then again with a
# checkpoint every 1000 pages (the node's --db-checkpoint-pages default) on a
# second thread.
floor=null
floor_rate=$(jq -r '.node_costs.commits_per_s // empty' "$run/node-half.json")
if [ -n "$floor_rate" ] && awk -v r="$floor_rate" 'BEGIN { exit !(r > 0) }'; then
  floor_frames=$(jq -r '.node_costs.wal_frames_per_commit // empty' "$run/node-half.json")
  floor_pages=$(awk -v f="${floor_frames:-4}" 'BEGIN { p = int(f + 0.5); print (p < 1) ? 1 : p }')
  floor_every=$(awk -v p="$floor_pages" 'BEGIN { e = int(1000 / p + 0.5); print (e < 1) ? 1 : e }')
  floor_s=$(jq '[.config.duration_s, 15] | min' "$run/node-half.json")
  say "fsync_floor at the node's commit rate: $floor_rate commits/s, $floor_pages pages each, ${floor_s}s (load $(loadavg1))"
  "$FSYNC_FLOOR" --dir="$run" --rate="$floor_rate" --pages="$floor_pages" --duration="${floor_s}s" \
    --checkpoint-every=0 --json="$run/floor.json" >&2
  say "fsync_floor again, a checkpoint every $floor_every commits (load $(loadavg1))"
  "$FSYNC_FLOOR" --dir="$run" --rate="$floor_rate" --pages="$floor_pages" --duration="${floor_s}s" \
    --checkpoint-every="$floor_every" --json="$run/floor-checkpoints.json" >&2
  floor=$(jq -n --slurpfile a "$run/floor.json" --slurpfile b "$run/floor-checkpoints.json" \
    --arg store "$primary" --arg frames "$floor_frames" \
    --arg fs "$(df -T "$run" 2>/dev/null | awk 'NR == 2 {print $2}')" \
    '{store: $store, filesystem: $fs,
      node_wal_frames_per_commit: (if $frames == "" then null else ($frames|tonumber) end),
      no_checkpoints: $a[0], with_checkpoints: $b[0]}')
else
  echo "bench: no commit rate from the node's /metrics: fsync_floor not run" >&2
fi
# The second store's runs, if any (null otherwise).
other=null
if [ "${#stores[@]}" -gt 1 ]; then
  other=$(jq -n --slurpfile f "$run/${stores[1]}-node-flat.json" --slurpfile h "$run/${stores[1]}-node-half.json" \
    '{node_flat_out: $f[0], node_half_rate: $h[0]}')
fi

# -- 3: the broker alone ----------------------------------------------------------------
req=$(jq '.total.bytes_out_mean | floor' "$run/node-flat.json")
rep=$(jq '.total.bytes_in_mean | floor' "$run/node-flat.json")
echo_flat "$DEVICES" "$DURATION" "$req" "$rep" "$run/echo-flat.json"
echo_rate=$(jq '.total.throughput' "$run/echo-flat.json")
echo_half=$(awk -v r="$echo_rate" 'BEGIN { printf "%d", r / 2 }')
# echo_at_rate <rate> <out> <label>: the broker alone, open loop at <rate>.
echo_at_rate() {
  local rate=$1 out=$2 label=$3
  say "$label: $rate messages/s (load $(loadavg1))"
  MQTT_USERNAME=$BENCH_NODE_USER MQTT_PASSWORD=$BENCH_NODE_PASSWORD \
    run_loadgen "$out" --mode=echo --devices="$DEVICES" --inflight=16 \
    --threads="$THREADS" --rate="$rate" --duration="$DURATION" --warmup="$WARMUP" \
    --payload-bytes="$req" --reply-bytes="$rep" --label="$label" >"$out.txt"
  cat "$out.txt" >&2
}
start_broker
echo_at_rate "$echo_half" "$run/echo-half.json" "echo at half its maximum rate"
echo_at_rate "$half" "$run/echo-node-rate.json" "echo at the node's half rate"
stop_broker

# -- 4: the sweep -------------------------------------------------------------------------
sweep_json='[]'
for d in $SWEEP; do
  node_flat "$primary" "$d" "$SWEEP_DURATION" "$run/sweep-node-$d.json"
  stop_all
  echo_flat "$d" "$SWEEP_DURATION" "$req" "$rep" "$run/sweep-echo-$d.json"
  sweep_json=$(jq --argjson d "$d" --slurpfile n "$run/sweep-node-$d.json" \
    --slurpfile e "$run/sweep-echo-$d.json" \
    '. + [{devices: $d, node: $n[0].total.throughput, node_p99_ms: $n[0].total.latency_ms.p99,
           echo: $e[0].total.throughput, echo_p99_ms: $e[0].total.latency_ms.p99,
           ratio: ($n[0].total.throughput / $e[0].total.throughput),
           load: $n[0].host.loadavg_end[0]}]' <<<"$sweep_json")
done

# -- results ------------------------------------------------------------------------------
jq -n --argjson machine "$(machine_json)" \
  --slurpfile nf "$run/node-flat.json" --slurpfile nh "$run/node-half.json" \
  --slurpfile ef "$run/echo-flat.json" --slurpfile eh "$run/echo-half.json" \
  --slurpfile en "$run/echo-node-rate.json" \
  --argjson sweep "$sweep_json" --arg store "$primary" --argjson pg "$pg_settings" \
  --argjson other "$other" --argjson floor "$floor" \
  'def floor_figures($r): {fdatasync_p50_ms: $r.fdatasync_ms.p50, fdatasync_p99_ms: $r.fdatasync_ms.p99,
                           write_fdatasync_p50_ms: $r.write_fdatasync_ms.p50,
                           write_fdatasync_p99_ms: $r.write_fdatasync_ms.p99};
  {bench: "throughput", machine: $machine, store: $store, postgresql_server: $pg,
    node_flat_out: $nf[0], node_half_rate: $nh[0], echo_flat_out: $ef[0], echo_half_rate: $eh[0],
    echo_at_node_half_rate: $en[0],
    postgresql_node_flat_out: ($other.node_flat_out // null),
    postgresql_node_half_rate: ($other.node_half_rate // null),
    fsync_floor: $floor,
    sweep: $sweep,
    figures: ({
      node_commands_per_s: $nf[0].total.throughput,
      echo_messages_per_s: $ef[0].total.throughput,
      ratio: ($nf[0].total.throughput / $ef[0].total.throughput),
      node_p99_ms_at_half: $nh[0].total.latency_ms.p99,
      echo_p99_ms_at_half: $eh[0].total.latency_ms.p99,
      echo_p99_ms_at_node_half_rate: $en[0].total.latency_ms.p99,
      node_inside_p99_ms_at_half: $nh[0].inside_node.p99_ms,
      node_events_per_s: $nf[0].events_per_s,
      ratio_by_messages: ((2 * $nf[0].total.throughput + $nf[0].events_per_s) / (2 * $ef[0].total.throughput)),
      half_rate_target: $nh[0].config.rate,
      half_rate_achieved: $nh[0].total.throughput,
      node_cpu_us_per_command: $nf[0].node_costs.cpu_us_per_command,
      node_cpu_us_per_command_half: $nh[0].node_costs.cpu_us_per_command,
      node_ctx_switches_per_command: $nf[0].node_costs.ctx_switches_per_command,
      node_ctx_switches_per_command_half: $nh[0].node_costs.ctx_switches_per_command,
      node_commits_per_s: $nf[0].node_costs.commits_per_s,
      node_commits_per_s_half: $nh[0].node_costs.commits_per_s,
      fsync_floor: (if $floor == null then null else
        {store: $floor.store, commits_per_s: $floor.no_checkpoints.config.rate,
         pages: $floor.no_checkpoints.config.pages,
         checkpoint_every: $floor.with_checkpoints.config.checkpoint_every}
        + floor_figures($floor.no_checkpoints)
        + {with_checkpoints: floor_figures($floor.with_checkpoints)} end)}
      + (if $other == null then {} else {
        postgresql_commands_per_s: $other.node_flat_out.total.throughput,
        postgresql_over_sqlite: ($other.node_flat_out.total.throughput / $nf[0].total.throughput),
        postgresql_over_echo: ($other.node_flat_out.total.throughput / $ef[0].total.throughput),
        postgresql_p99_ms_at_half: $other.node_half_rate.total.latency_ms.p99,
        postgresql_inside_p99_ms_at_half: $other.node_half_rate.inside_node.p99_ms,
        postgresql_node_cpu_us_per_command: $other.node_flat_out.node_costs.cpu_us_per_command,
        postgresql_node_cpu_us_per_command_half: $other.node_half_rate.node_costs.cpu_us_per_command,
        postgresql_node_ctx_switches_per_command: $other.node_flat_out.node_costs.ctx_switches_per_command,
        postgresql_node_ctx_switches_per_command_half: $other.node_half_rate.node_costs.ctx_switches_per_command,
        postgresql_node_commits_per_s: $other.node_flat_out.node_costs.commits_per_s,
        postgresql_node_commits_per_s_half: $other.node_half_rate.node_costs.commits_per_s} end)),
    targets: ({ratio_min: 0.5, p99_ms_max_at_half: 5, node_cpu_us_per_command_max: 120}
      + (if $other == null then {} else {postgresql_over_sqlite_min: 0.8} end))}' >"$RESULT_JSON"

f() { jq -r "$1" "$RESULT_JSON"; }
# verdict_or <value> <op> <target>: verdict, or "not measured" for a missing value.
verdict_or() { if [ "$1" = "?" ] || [ "$1" = null ]; then echo "not measured"; else verdict "$@"; fi; }
ratio=$(f '.figures.ratio')
p99h=$(f '.figures.node_p99_ms_at_half')
{
  echo "# Throughput: meetingd next to the broker ($bench_stamp)"
  echo
  echo "Machine: $(f '.machine.nproc') vCPU ($(f '.machine.cpu')), shared; load average at start $(f '.machine.loadavg_at_start')."
  echo "Commit $(f '.machine.commit') (uncommitted changes: $(f '.machine.uncommitted_changes'))."
  echo "$DEVICES devices, $INFLIGHT commands in flight each, mix \`$MIX\`, $DURATION after $WARMUP warmup; node on ${stores[*]} (SQLite with --db-sync=full)."
  if [ "$pg_settings" != null ]; then
    echo "PostgreSQL: $(jq -r '"\(.server_version), fsync \(.fsync), synchronous_commit \(.synchronous_commit), shared_buffers \(.shared_buffers), data on \(.data_filesystem)"' <<<"$pg_settings"); same machine, loopback TCP, a fresh database per run."
  fi
  echo
  echo "| run | msgs or cmds/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | load 1 min | CPU % node / broker / loadgen / PostgreSQL |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for k in node_flat_out node_half_rate postgresql_node_flat_out postgresql_node_half_rate echo_flat_out echo_half_rate echo_at_node_half_rate; do
    jq -r --arg k "$k" --arg p "$primary" 'select(.[$k] != null) | .[$k] as $r | "| \(if ($k | startswith("node")) then "\($k) (\($p))" else $k end) | \($r.total.throughput | floor) | \($r.total.latency_ms.p50) | \($r.total.latency_ms.p90) | \($r.total.latency_ms.p99) | \($r.total.latency_ms.p999) | \($r.total.failed) | \($r.host.loadavg_measure_start[0]) → \($r.host.loadavg_end[0]) | \($r.cpu_percent.node // "-") / \($r.cpu_percent.broker // "-") / \($r.cpu_percent.loadgen // 0 | floor) / \($r.cpu_percent.postgresql // "-") |"' "$RESULT_JSON"
  done
  echo
  if [ "$other" != null ]; then
    pr=$(f '.figures.postgresql_over_sqlite')
    echo "- PostgreSQL / SQLite, commands/s flat out: **$(f '.figures.postgresql_commands_per_s | floor') / $(f '.figures.node_commands_per_s | floor') = $(printf '%.2f' "$pr")** (target ≥ 0.8: $(verdict "$pr" '>=' 0.8)); PostgreSQL / broker echo: $(printf '%.2f' "$(f '.figures.postgresql_over_echo')")"
    echo "- p99 at $(f '.figures.half_rate_target | floor')/s (half of SQLite's maximum): SQLite $(f '.figures.node_p99_ms_at_half') ms, PostgreSQL $(f '.figures.postgresql_p99_ms_at_half') ms; inside the node (admin.stats): SQLite $(f '.figures.node_inside_p99_ms_at_half // "?"') ms, PostgreSQL $(f '.figures.postgresql_inside_p99_ms_at_half // "?"') ms"
    echo "- node 500s (cmd.failed) on PostgreSQL: flat out $(f '.postgresql_node_flat_out.node_log.internal_errors'), at half rate $(f '.postgresql_node_half_rate.node_log.internal_errors')"
  fi
  echo "- command throughput / broker echo rate: **$(printf '%.2f' "$ratio")** (target ≥ 0.5: $(verdict "$ratio" '>=' 0.5))"
  echo "- p99 at half of meetingd's maximum ($(f '.figures.half_rate_target | floor')/s): **$p99h ms** (target ≤ 5 ms: $(verdict "$p99h" '<=' 5))"
  echo "  - the broker path alone at that rate (echo_at_node_half_rate): p99 $(f '.figures.echo_p99_ms_at_node_half_rate') ms; inside the node (gateway in to reply out, admin.stats, last 10000 commands): p50 $(f '.node_half_rate.inside_node.p50_ms // "?"') ms, p99 $(f '.figures.node_inside_p99_ms_at_half // "?"') ms"
  if [ "$floor" != null ]; then
    echo "  - the disk's floor at the node's commit rate ($(f '.figures.fsync_floor.commits_per_s | . * 10 | round / 10') commits/s, $(f '.figures.fsync_floor.pages') pages each, fsync_floor in the run directory on $(f '.fsync_floor.filesystem')): fdatasync p50 $(f '.figures.fsync_floor.fdatasync_p50_ms') ms, p99 $(f '.figures.fsync_floor.fdatasync_p99_ms') ms ($(f '.figures.fsync_floor.with_checkpoints.fdatasync_p99_ms') ms with a checkpoint every $(f '.figures.fsync_floor.checkpoint_every') commits); the node's p99: $p99h ms (its commits: $(f '.node_half_rate.node_costs.commit_ms_mean // "?"') ms on average)"
  else
    echo "  - the disk's floor (fsync_floor): not measured (no commit rate from the node's /metrics)"
  fi
  cpu=$(f '.figures.node_cpu_us_per_command // "?"')
  echo "- node CPU per command ($primary): **$cpu µs** flat out (target ≤ 120 µs: $(verdict_or "$cpu" '<=' 120)), $(f '.figures.node_cpu_us_per_command_half // "?"') µs at half rate"
  echo "- node context switches per command (all its threads, voluntary + involuntary): $(f '.figures.node_ctx_switches_per_command // "?"') flat out, $(f '.figures.node_ctx_switches_per_command_half // "?"') at half rate"
  echo "- node commits/s: $(f '.figures.node_commits_per_s // "?"') flat out ($(f '.node_flat_out.node_costs.commands_per_commit // "?"') commands per commit, $(f '.node_flat_out.node_costs.commit_ms_mean // "?"') ms each on average), $(f '.figures.node_commits_per_s_half // "?"') at half rate ($(f '.node_half_rate.node_costs.commands_per_commit // "?"') commands per commit$(f '.node_half_rate.node_costs.wal_frames_per_commit | if . == null then "" else ", \(.) pages each in the -wal file" end'))"
  if [ "$other" != null ]; then
    echo "- on PostgreSQL: node CPU per command $(f '.figures.postgresql_node_cpu_us_per_command // "?"') µs flat out, $(f '.figures.postgresql_node_cpu_us_per_command_half // "?"') µs at half rate; context switches per command $(f '.figures.postgresql_node_ctx_switches_per_command // "?"') and $(f '.figures.postgresql_node_ctx_switches_per_command_half // "?"'); commits/s $(f '.figures.postgresql_node_commits_per_s // "?"') and $(f '.figures.postgresql_node_commits_per_s_half // "?"')"
  fi
  echo "- counting messages instead of commands (a command is a request and a reply; the node also pushed $(f '.figures.node_events_per_s | floor') events/s; an echo is a request and a reply): $(printf '%.2f' "$(f '.figures.ratio_by_messages')")"
  echo "- broker TCP_NODELAY: $(f '.machine.broker_tcp_nodelay'); node TCP_NODELAY shim: $(f '.machine.node_tcp_nodelay_preload'); emulator TCP_NODELAY shim: $(f '.machine.emulator_tcp_nodelay_preload'), backlog $(f '.machine.emulator_backlog_preload'); extra node options: \`$(f '.machine.node_args')\`"
  echo "- node 500s (cmd.failed) in the flat-out run: $(f '.node_flat_out.node_log.internal_errors'), at half rate: $(f '.node_half_rate.node_log.internal_errors')"
  echo
  echo "Per command, node on $primary flat out:"
  echo
  echo "| command | per s | p50 ms | p99 ms | p99.9 ms | errors |"
  echo "|---|---|---|---|---|---|"
  jq -r '.node_flat_out.commands | to_entries[] | "| \(.key) | \(.value.throughput | floor) | \(.value.latency_ms.p50) | \(.value.latency_ms.p99) | \(.value.latency_ms.p999) | \(.value.errors | to_entries | map("\(.key): \(.value)") | join(", ")) |"' "$RESULT_JSON"
  if [ "$other" != null ]; then
    echo
    echo "Per command, node on postgresql flat out:"
    echo
    echo "| command | per s | p50 ms | p99 ms | p99.9 ms | errors |"
    echo "|---|---|---|---|---|---|"
    jq -r '.postgresql_node_flat_out.commands | to_entries[] | "| \(.key) | \(.value.throughput | floor) | \(.value.latency_ms.p50) | \(.value.latency_ms.p99) | \(.value.latency_ms.p999) | \(.value.errors | to_entries | map("\(.key): \(.value)") | join(", ")) |"' "$RESULT_JSON"
  fi
  if [ -n "$SWEEP" ]; then
    echo
    echo "Sweep ($SWEEP_DURATION each):"
    echo
    echo "| devices | node cmds/s | node p99 ms | echo msgs/s | echo p99 ms | ratio | load |"
    echo "|---|---|---|---|---|---|---|"
    jq -r '.sweep[] | "| \(.devices) | \(.node | floor) | \(.node_p99_ms) | \(.echo | floor) | \(.echo_p99_ms) | \(.ratio * 100 | floor / 100) | \(.load) |"' "$RESULT_JSON"
  fi
} >"$RESULT_MD"

# -- plots --------------------------------------------------------------------------------
if command -v gnuplot >/dev/null; then
  jq -r --arg p "$primary" '["node (\($p))", .node_flat_out.total.throughput],
    (select(.postgresql_node_flat_out != null) | ["node (postgresql)", .postgresql_node_flat_out.total.throughput]),
    ["broker echo", .echo_flat_out.total.throughput] | "\"\(.[0])\" \(.[1])"' "$RESULT_JSON" >"$run/bars.dat"
  jq -r '["p50","p90","p99","p99.9"] as $q | [.node_flat_out, .node_half_rate, .echo_flat_out, .echo_half_rate] as $r
    | range(0;4) as $i | "\($q[$i]) \($r[0].total.latency_ms | [.p50,.p90,.p99,.p999][$i]) \($r[1].total.latency_ms | [.p50,.p90,.p99,.p999][$i]) \($r[2].total.latency_ms | [.p50,.p90,.p99,.p999][$i]) \($r[3].total.latency_ms | [.p50,.p90,.p99,.p999][$i])"' \
    "$RESULT_JSON" >"$run/lat.dat"
  jq -r '.node_flat_out.timeline[] | "\(.t) \(.rate) \(.p99_ms)"' "$RESULT_JSON" >"$run/tl-node.dat"
  jq -r '.echo_flat_out.timeline[] | "\(.t) \(.rate) \(.p99_ms)"' "$RESULT_JSON" >"$run/tl-echo.dat"
  jq -r '(.postgresql_node_flat_out.timeline // [])[] | "\(.t) \(.rate) \(.p99_ms)"' "$RESULT_JSON" >"$run/tl-pg.dat"
  tl_pg=
  if [ -s "$run/tl-pg.dat" ]; then
    tl_pg=", \"$run/tl-pg.dat\" using 1:2 with lines lw 2 title \"node on PostgreSQL cmds/s\", \"$run/tl-pg.dat\" using 1:3 axes x1y2 with lines dt 2 title \"node on PostgreSQL p99\""
  fi
  gnuplot <<EOF
set terminal pngcairo size 800,500 noenhanced
set output "$RESULT_PNG_PREFIX-throughput.png"
set title "Flat out, $DEVICES devices x $INFLIGHT in flight ($(nproc) vCPU, shared)"
set ylabel "commands or messages / s"
set style fill solid 0.6
set boxwidth 0.5
set yrange [0:*]
set grid ytics
plot "$run/bars.dat" using 0:2:xtic(1) with boxes notitle, "" using 0:2:(sprintf("%d", \$2)) with labels offset 0,1 notitle
set output "$RESULT_PNG_PREFIX-latency.png"
set title "Round-trip latency percentiles"
set ylabel "ms (log)"
set logscale y
set style data histograms
set style histogram clustered gap 1
set key top left
plot "$run/lat.dat" using 2:xtic(1) title "node flat out", "" using 3 title "node at half rate", \
     "" using 4 title "echo flat out", "" using 5 title "echo at half rate"
unset logscale y
set style data lines
set output "$RESULT_PNG_PREFIX-timeline.png"
set title "Per second during the flat-out runs"
set xlabel "s"
set ylabel "per s"
set y2label "p99 ms"
set y2tics
set yrange [0:*]
set y2range [0:*]
plot "$run/tl-node.dat" using 1:2 with lines lw 2 title "node ($primary) cmds/s", \
     "$run/tl-echo.dat" using 1:2 with lines lw 2 title "echo msgs/s", \
     "$run/tl-node.dat" using 1:3 axes x1y2 with lines dt 2 title "node ($primary) p99", \
     "$run/tl-echo.dat" using 1:3 axes x1y2 with lines dt 2 title "echo p99"$tl_pg
EOF
  if [ -n "$SWEEP" ]; then
    jq -r '.sweep[] | "\(.devices) \(.node) \(.echo) \(.node_p99_ms) \(.echo_p99_ms)"' "$RESULT_JSON" >"$run/sweep.dat"
    gnuplot <<EOF
set terminal pngcairo size 800,500 noenhanced
set output "$RESULT_PNG_PREFIX-sweep.png"
set title "Flat out by number of devices ($INFLIGHT in flight each)"
set xlabel "devices"
set ylabel "per s"
set y2label "p99 ms"
set y2tics
set yrange [0:*]
set y2range [0:*]
set key top left
plot "$run/sweep.dat" using 1:2 with linespoints lw 2 title "node cmds/s", \
     "" using 1:3 with linespoints lw 2 title "echo msgs/s", \
     "" using 1:4 axes x1y2 with linespoints dt 2 title "node p99", \
     "" using 1:5 axes x1y2 with linespoints dt 2 title "echo p99"
EOF
  fi
fi
cat "$RESULT_MD"
echo "results: $RESULT_JSON $RESULT_MD $RESULT_PNG_PREFIX-*.png" >&2
