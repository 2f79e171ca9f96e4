#!/usr/bin/env bash
# bench/cluster.sh: several meetingd nodes on one PostgreSQL (docs/cluster.md),
# all on this machine: a throwaway PostgreSQL server (bench/lib.sh start_pg),
# the bundled broker, the RTC emulator and the nodes node-1, node-2, node-3,
# each with its own broker login and --node-id.
#
#   1. Failover (PARTS has failover): two nodes on a fresh database, first
#      populated with FAILOVER_MEETINGS idle two-person meetings (loadgen
#      --mode=populate, so that adopting a shard loads real meetings). Then
#      KILLS times, the victim alternating between node-1 and node-2:
#        - a device (mosquitto_rr: one MQTT connection per attempt) creates a
#          meeting whose id hashes to a shard the victim owns, and keeps
#          sending meeting.get for it: each request resent with the same
#          request id every RETRY_MS until a reply with code 0 comes, then
#          the next request (50 ms apart);
#        - once it is answered, kill -9 of the victim;
#        - the failover time: the kill → the first reply with code 0 to an
#          attempt sent after the kill (necessarily from the survivor, which
#          adopted the shard; a reply the victim sent just before it died
#          may still arrive after the kill, and does not count);
#          also the victim's lease left on that shard at the kill (read just
#          before it), the replies with other codes (503 shard_moving) seen
#          meanwhile, and the survivor's shards.adopted line (meetings
#          loaded, ms);
#        - the victim restarted (same --node-id), and the next kill only
#          once the shards are balanced again (128/128).
#      Reported: p50 (nearest rank) and max over the kills, with --lease.
#   2. Throughput (PARTS has throughput): for each N in NODES ("1 2 3"), a
#      fresh database, N nodes, shards balanced, then the flat-out run of
#      bench/throughput.sh (loadgen --mode=node, same DEVICES, INFLIGHT, MIX,
#      THREADS, WARMUP defaults; DURATION 20s here). Commands/s, p50/p99, and
#      the CPU of all meetingd processes plus all of PostgreSQL's (the
#      postmaster, its backends and helpers, exited ones included) per
#      command. On a 2-vCPU machine the nodes, PostgreSQL, the broker and
#      loadgen share two cores: read it as the cost per command of N nodes,
#      not as scaling.
#   3. Memory: the RSS of each node after the throughput run, then after
#      loadgen --mode=populate made POPULATE more idle two-person meetings
#      (spread over the nodes as the creates land), with the meetings each
#      node serves (its `nodes` row).
#
# Writes bench/results/cluster-<date>.{json,md,png}.
#
# Environment: PARTS ("failover throughput"), LEASE (5s: the nodes' --lease),
# KILLS (20), RETRY_MS (200), FAILOVER_MEETINGS (10000; 0: none),
# NODES ("1 2 3"), DEVICES (200), INFLIGHT (2), DURATION (20s), WARMUP (5s),
# MIX (login,create:2,accept,join,leave,mute,renew,end), THREADS (2),
# POPULATE (10000; 0: no populate), BALANCE_TIMEOUT (120: seconds to wait for
# balanced shards). The meetingd binary is copied into the run directory at
# the start, so that a rebuild during the run cannot change the nodes that
# are restarted.
BENCH_NODE_IDS="node-1 node-2 node-3"
source "$(dirname "$0")/lib.sh"

PARTS=${PARTS:-failover throughput}
LEASE=${LEASE:-5s}
KILLS=${KILLS:-20}
RETRY_MS=${RETRY_MS:-200}
FAILOVER_MEETINGS=${FAILOVER_MEETINGS:-10000}
NODES=${NODES:-1 2 3}
DEVICES=${DEVICES:-200}
INFLIGHT=${INFLIGHT:-2}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
MIX=${MIX:-login,create:2,accept,join,leave,mute,renew,end}
THREADS=${THREADS:-2}
POPULATE=${POPULATE:-10000}
BALANCE_TIMEOUT=${BALANCE_TIMEOUT:-120}
SHARDS=256 # the node's default --shards
result_paths cluster
run=$bench_run

command -v mosquitto_rr >/dev/null || { echo "bench: mosquitto_rr is missing (mosquitto-clients)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "bench: openssl is missing (login tickets)" >&2; exit 1; }
[ -x "$MEETCTL" ] || { echo "bench: $MEETCTL is missing (ninja -C $BUILD_DIR meetctl)" >&2; exit 1; }

binary_mtime=$(date -u -r "$MEETINGD" +%Y-%m-%dT%H:%M:%SZ)
cp "$MEETINGD" "$run/meetingd"
MEETINGD=$run/meetingd

start_pg
pg_settings=$(pg_settings_json)

# -- the cluster ---------------------------------------------------------------------

declare -A node_pid node_log # node id -> pid, log

now_ms_sql='(extract(epoch FROM clock_timestamp()) * 1000)::bigint'
shard_sql() { echo "(('x' || substr(md5($1), 1, 8))::bit(32)::bigint % $SHARDS)"; }

# live_shards <dbname>: "owner count" per node holding live leases.
live_shards() {
  pg_sql "$1" "SELECT owner, count(*) FROM shards WHERE owner <> '' AND lease_until >= $now_ms_sql
               GROUP BY owner ORDER BY owner" | tr '|' ' '
}

# balanced <dbname> <nodes>: every shard leased, to <nodes> nodes, 256/<nodes> each
# (the first ids take the remainder: counts differ by at most one).
balanced() {
  live_shards "$1" | awk -v n="$2" -v total="$SHARDS" '
    { owners++; sum += $2; if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2 }
    END { exit !(owners == n && sum == total && max - min <= 1) }'
}

# wait_balanced <dbname> <nodes>: prints the ms it took.
wait_balanced() {
  local t0 deadline=$((SECONDS + BALANCE_TIMEOUT))
  t0=$(date +%s%N)
  until balanced "$1" "$2"; do
    if [ $SECONDS -ge $deadline ]; then
      echo "bench: shards not balanced over $2 nodes after ${BALANCE_TIMEOUT}s: $(live_shards "$1" | paste -sd,)" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
}

# start_member <db uri> <node id>
start_member() {
  NODE_ID=$2 start_node "$1" --lease="$LEASE"
  node_pid[$2]=$NODE_PID
  node_log[$2]=$NODE_LOG
}

stop_members() {
  local id
  for id in $(printf '%s\n' "${!node_pid[@]}" | sort -r); do
    stop_node "${node_pid[$id]}"
    unset "node_pid[$id]"
  done
}

# served <dbname>: live meetings per node, by the shards it holds, as JSON.
served() {
  pg_sql "$1" "SELECT coalesce(json_object_agg(owner, n), '{}') FROM (SELECT s.owner, count(*) AS n FROM meetings m
    JOIN shards s ON s.shard = $(shard_sql m.id) WHERE m.status = 'active' AND s.owner <> ''
    GROUP BY s.owner ORDER BY s.owner) t"
}

# commit_failures <log...>: store.commit_failed lines (a group commit that
# failed and is retried; its commands wait, new writes get 503
# store_unavailable meanwhile), and how many of them were deadlocks, as JSON.
commit_failures() {
  local all dl
  all=$(cat "$@" 2>/dev/null | grep -c "store.commit_failed" || true)
  dl=$(cat "$@" 2>/dev/null | grep "store.commit_failed" | grep -c "deadlock detected" || true)
  jq -n --argjson a "$all" --argjson d "$dl" '{commit_failed: $a, deadlocks: $d}'
}

# count_failures <log...>: cmd.failed lines (the node's 500s) in these logs.
count_failures() { cat "$@" 2>/dev/null | grep -c "cmd.failed" || true; }

# populate <meetings> <prefix> <json out>: idle two-person meetings, made by
# loadgen's devices without presence (no will: they stay online, and their
# meetings stay live and quiet once loadgen has gone).
populate() {
  say "populate: $1 meetings x 2 participants (load $(loadavg1))"
  run_loadgen "$3" --mode=populate --devices=200 --participants=2 --meetings="$1" \
    --inflight=4 --timeout=60s --prefix="$2" --no-presence --label="populate $1" >"$3.txt"
  tail -n 3 "$3.txt" >&2
}

# -- 1: failover ---------------------------------------------------------------------

FO_USER=bench-failover
FO_CLIENT="GID_MEETING_DOWN@@@$FO_USER"

# dev_rr <wait s> <json>: one request from the failover device on a connection
# of its own; prints the first message on its P2P topic (empty: none).
dev_rr() {
  mosquitto_rr -h 127.0.0.1 -p "$MQTT_PORT" -i "$FO_CLIENT" -q 1 -W "$1" \
    -t "MeetingCtrl/up/$FO_CLIENT" -e "MeetingCtrl/p2p/$FO_CLIENT" -m "$2" 2>/dev/null || true
}

# device_loop <meeting> <out> <stop file>: meeting.get, each request resent
# with the same id every RETRY_MS until code 0; writes a line per reply
# ("<ns> ok <id> <attempts> <ns the attempt began>" or
# "<ns> code=<c> <id> <attempt> <error>").
device_loop() {
  local meeting=$1 out=$2 stop=$3 n=0 id a t0 t r code left
  local window
  window=$(awk -v ms="$RETRY_MS" 'BEGIN { printf "%.3f", ms / 1000 }')
  while [ ! -e "$stop" ]; do
    n=$((n + 1)); id="get-$BASHPID-$n"; a=0
    while [ ! -e "$stop" ]; do
      a=$((a + 1)); t0=$(date +%s%N)
      r=$(timeout "$window" mosquitto_rr -h 127.0.0.1 -p "$MQTT_PORT" -i "$FO_CLIENT" -q 1 -W 1 \
        -t "MeetingCtrl/up/$FO_CLIENT" -e "MeetingCtrl/p2p/$FO_CLIENT" \
        -m "{\"id\":\"$id\",\"type\":\"meeting.get\",\"args\":{\"meeting\":\"$meeting\"}}" 2>/dev/null) || true
      t=$(date +%s%N)
      code=$(jq -r --arg id "$id" 'select(.id == $id) | .code' <<<"$r" 2>/dev/null || true)
      if [ "$code" = 0 ]; then echo "$t ok $id $a $t0" >>"$out"; break; fi
      [ -z "$code" ] || echo "$t code=$code $id $a $(jq -c '.error.reason' <<<"$r")" >>"$out"
      left=$((RETRY_MS * 1000000 - (t - t0)))
      [ "$left" -le 0 ] || sleep "$(awk -v ns="$left" 'BEGIN { printf "%.3f", ns / 1e9 }')"
    done
    sleep 0.05
  done
}

failover_runs='[]'
failover_setup=null
if [[ " $PARTS " == *" failover "* ]]; then
  start_broker
  start_emulator
  db=$(create_pg_db "failover_$(date +%s)")
  dbname=${db##*/}
  start_member "$db" node-1
  start_member "$db" node-2
  bal=$(wait_balanced "$dbname" 2)
  say "failover: node-1 and node-2, --lease=$LEASE, balanced after $bal ms"
  populated=null
  if [ "$FAILOVER_MEETINGS" -gt 0 ]; then
    populate "$FAILOVER_MEETINGS" fo "$run/failover-populate.json"
    populated=$(jq -c '{meetings: .populate.meetings, meetings_per_s: .populate.meetings_per_s, failed: .total.failed}' "$run/failover-populate.json" 2>/dev/null || echo null)
    sleep 2 # a heartbeat: the nodes rows count their meetings
  fi
  failover_setup=$(jq -n --argjson p "$populated" --argjson per_node "$(served "$dbname")" \
    '{populate: $p, meetings_per_node_at_start: $per_node}')

  expiry=$(( $(date +%s) + 6 * 3600 ))
  sig=$(printf '%s' "$FO_USER.$expiry" | openssl dgst -sha256 -hmac "$LOGIN_TICKET_SECRET" | awk '{print $NF}')
  r=$(dev_rr 5 "{\"id\":\"login-1\",\"type\":\"auth.login\",\"args\":{\"user\":\"$FO_USER\",\"ticket\":\"$FO_USER.$expiry.$sig\"}}")
  [ "$(jq -r .code <<<"$r" 2>/dev/null)" = 0 ] || { echo "bench: the failover device's login failed: $r" >&2; exit 1; }

  killed_logs=()
  for k in $(seq 1 "$KILLS"); do
    victim=node-$(( (k - 1) % 2 + 1 ))
    survivor=node-$(( k % 2 + 1 ))
    for try in 1 2 3 4 5; do
      # A meeting id on a shard the victim holds.
      meeting=$(pg_sql "$dbname" "SELECT c.id FROM (SELECT 'fo-$k-$try-' || g AS id, g FROM generate_series(1, 5000) g) c
        JOIN shards s ON s.shard = $(shard_sql c.id)
        WHERE s.owner = '$victim' AND s.lease_until >= $now_ms_sql ORDER BY c.g LIMIT 1")
      shard=$(pg_sql "$dbname" "SELECT $(shard_sql "'$meeting'")")
      r=$(dev_rr 10 "{\"id\":\"create-$k-$try\",\"type\":\"meeting.create\",\"args\":{\"meeting\":\"$meeting\",\"title\":\"failover $k\"}}")
      [ "$(jq -r .code <<<"$r" 2>/dev/null)" = 0 ] || { echo "bench: create $meeting failed: $r" >&2; exit 1; }
      out=$run/failover-$k.log stop=$run/failover-$k.stop
      : >"$out"
      rm -f "$stop"
      device_loop "$meeting" "$out" "$stop" &
      loop_pid=$!
      bench_pids+=("$loop_pid")
      # Steady: three answered requests before the kill.
      wait_for 30 bash -c "[ \$(grep -c ' ok ' '$out') -ge 3 ]" \
        || { echo "bench: meeting.get of $meeting is not answered before the kill" >&2; cat "$out" >&2; exit 1; }
      # The shard's owner and what is left of its lease, just before the kill.
      IFS='|' read -r owner lease_left < <(pg_sql "$dbname" "SELECT owner, lease_until - $now_ms_sql FROM shards WHERE shard = $shard")
      [ "$owner" != "$victim" ] || break
      say "kill $k: shard $shard of $meeting moved to $owner meanwhile; another meeting"
      touch "$stop"
      wait "$loop_pid" 2>/dev/null || true
      forget_pid "$loop_pid"
    done
    [ "$owner" = "$victim" ] || { echo "bench: no meeting of $victim stayed on it until the kill" >&2; exit 1; }
    survivor_lines=$(wc -l <"${node_log[$survivor]}")
    t_kill=$(date +%s%N)
    kill -9 "${node_pid[$victim]}"
    wait "${node_pid[$victim]}" 2>/dev/null || true
    killed_logs+=("${node_log[$victim]}") # its 500s, if any, stay counted
    forget_node "${node_pid[$victim]}"
    unset "node_pid[$victim]"
    deadline=$((SECONDS + 60))
    first=
    while [ $SECONDS -lt $deadline ]; do
      # A reply to an attempt sent after the kill: one the victim sent just
      # before it died can still be on its way.
      first=$(awk -v tk="$t_kill" '$2 == "ok" && $5 > tk { print; exit }' "$out")
      [ -z "$first" ] || break
      sleep 0.02
    done
    touch "$stop"
    wait "$loop_pid" 2>/dev/null || true
    forget_pid "$loop_pid"
    failover_ms=null attempts=null
    if [ -n "$first" ]; then
      failover_ms=$(awk -v tk="$t_kill" '{ printf "%d", ($1 - tk) / 1e6 }' <<<"$first")
      attempts=$(awk '{ print $4 }' <<<"$first")
    fi
    others=$(awk -v tk="$t_kill" '$1 > tk && $2 != "ok" { print $2 " " $5 }' "$out" | sort | uniq -c | awk '{ print $2 " " $3 " x" $1 }' | paste -sd, || true)
    adopted=$(tail -n +"$((survivor_lines + 1))" "${node_log[$survivor]}" | grep -m 1 "shards.adopted" || true)
    adopted_meetings=$(grep -oE 'meetings=[0-9]+' <<<"$adopted" | cut -d= -f2 || true)
    adopted_ms=$(grep -oE ' ms=[0-9.]+' <<<"$adopted" | cut -d= -f2 || true)
    adopted_shards=$(grep -oE 'shards=[0-9,]+' <<<"$adopted" | cut -d= -f2 | tr ',' '\n' | grep -c . || true)
    adopted_at=$(cut -d' ' -f1 <<<"$adopted")
    adopted_after_ms=null
    if [ -n "$adopted_at" ]; then
      adopted_after_ms=$(( $(date -d "$adopted_at" +%s%3N) - t_kill / 1000000 ))
    fi
    # The victim back, and the shards balanced again.
    t_restart=$(date +%s%N)
    start_member "$db" "$victim"
    ready_ms=$NODE_READY_MS
    bal=$(wait_balanced "$dbname" 2)
    say "kill $k/$KILLS of $victim (meeting $meeting, shard $shard, lease left $lease_left ms): first reply after ${failover_ms} ms, $attempts attempts, other replies: ${others:-none}; $survivor adopted $adopted_shards shards, $adopted_meetings meetings in $adopted_ms ms; $victim back and balanced after $(( ($(date +%s%N) - t_restart) / 1000000 )) ms (load $(loadavg1))"
    failover_runs=$(jq --argjson k "$k" --arg victim "$victim" --arg meeting "$meeting" --argjson shard "$shard" \
      --argjson lease_left "$lease_left" --argjson ms "$failover_ms" --argjson attempts "$attempts" \
      --arg others "$others" --arg am "$adopted_meetings" --arg ams "$adopted_ms" --arg ash "$adopted_shards" \
      --argjson aa "$adopted_after_ms" --argjson ready "$ready_ms" --argjson bal "$bal" --arg load "$(loadavg1)" \
      '. + [{kill: $k, victim: $victim, meeting: $meeting, shard: $shard, lease_left_at_kill_ms: $lease_left,
             failover_ms: $ms, attempts: $attempts, other_replies: $others,
             adopted_shards: ($ash | tonumber? // null), adopted_meetings: ($am | tonumber? // null),
             adoption_ms: ($ams | tonumber? // null), adopted_after_kill_ms: $aa,
             restart_ready_ms: $ready, rebalanced_after_ready_ms: $bal, load1: ($load | tonumber)}]' <<<"$failover_runs")
  done
  failover_failures=$(count_failures "${killed_logs[@]}" "${node_log[node-1]}" "${node_log[node-2]}")
  failover_commits=$(commit_failures "${killed_logs[@]}" "${node_log[node-1]}" "${node_log[node-2]}")
  stop_members
  stop_emulator
  stop_broker
fi

# -- 2 and 3: throughput and memory with 1, 2, 3 nodes -------------------------------------

# cpu_sampler <file> <node pids...>: a script for loadgen's hooks that writes
# the time (ns), then the CPU ticks of the nodes (summed), of PostgreSQL (the
# postmaster with its reaped children, plus its live children), of the
# broker, of the emulator.
cpu_sampler() {
  local file=$1; shift
  local pm
  pm=$(head -n 1 "$PG_DATA/postmaster.pid")
  cat >"$file" <<EOF
#!/usr/bin/env bash
ticks() { awk '{ print \$14 + \$15 }' "/proc/\$1/stat" 2>/dev/null || echo 0; }
{
  date +%s%N
  s=0; for p in $*; do s=\$((s + \$(ticks \$p))); done; echo \$s
  s=\$(awk '{ print \$14 + \$15 + \$16 + \$17 }' /proc/$pm/stat)
  for c in \$(pgrep -P $pm); do s=\$((s + \$(ticks \$c))); done; echo \$s
  ticks $BROKER_PID
  ticks $EMULATOR_PID
} >"\$1"
EOF
}

throughput_runs='[]'
if [[ " $PARTS " == *" throughput "* ]]; then
  for n in $NODES; do
    start_broker
    start_emulator
    db=$(create_pg_db "tp_${n}_$(date +%s)")
    dbname=${db##*/}
    ids=()
    for i in $(seq 1 "$n"); do
      start_member "$db" "node-$i"
      ids+=("node-$i")
    done
    bal=$(wait_balanced "$dbname" "$n")
    pids=()
    for id in "${ids[@]}"; do pids+=("${node_pid[$id]}"); done
    cpu_sampler "$run/cpu-sample.sh" "${pids[@]}"
    out=$run/throughput-$n.json
    say "$n node(s), shards $(live_shards "$dbname" | paste -sd,) (balanced after $bal ms), flat out: $DEVICES devices x $INFLIGHT in flight, $DURATION (load $(loadavg1))"
    run_loadgen "$out" --mode=node --devices="$DEVICES" --inflight="$INFLIGHT" \
      --threads="$THREADS" --mix="$MIX" --duration="$DURATION" --warmup="$WARMUP" \
      --on-ready="bash $run/cpu-sample.sh $run/cpu0" --on-done="bash $run/cpu-sample.sh $run/cpu1" \
      --label="$n node(s) on postgresql flat out" >"$out.txt"
    cat "$out.txt" >&2
    rss='[]'
    for id in "${ids[@]}"; do
      rss=$(jq --arg id "$id" --argjson r "$(rss_kib "${node_pid[$id]}")" --argjson h "$(hwm_kib "${node_pid[$id]}")" \
        '. + [{node: $id, rss_kib: $r, rss_peak_kib: $h}]' <<<"$rss")
    done
    served=$(served "$dbname")
    pop=null pop_rss=null pop_served=null
    if [ "$POPULATE" -gt 0 ]; then
      populate "$POPULATE" "pop$n" "$run/populate-$n.json"
      sleep 2
      pop_rss='[]'
      for id in "${ids[@]}"; do
        pop_rss=$(jq --arg id "$id" --argjson r "$(rss_kib "${node_pid[$id]}")" --argjson h "$(hwm_kib "${node_pid[$id]}")" \
          '. + [{node: $id, rss_kib: $r, rss_peak_kib: $h}]' <<<"$pop_rss")
      done
      pop_served=$(served "$dbname")
      pop=$(jq -c '{meetings: .populate.meetings, meetings_per_s: .populate.meetings_per_s, failed: .total.failed}' "$run/populate-$n.json" 2>/dev/null || echo null)
    fi
    logs=()
    for id in "${ids[@]}"; do logs+=("${node_log[$id]}"); done
    failures=$(count_failures "${logs[@]}")
    commits=$(commit_failures "${logs[@]}")
    # What the nodes say of themselves (admin.nodes), once everything ran.
    nodes_view=$("$MEETCTL" --broker="tcp://127.0.0.1:$MQTT_PORT" --id="$BENCH_CONSOLE" --json nodes 2>/dev/null) || nodes_view=null
    jq -e . >/dev/null 2>&1 <<<"$nodes_view" || nodes_view=null
    f0() { sed -n "$1p" "$run/cpu0"; }
    f1() { sed -n "$1p" "$run/cpu1"; }
    wall_s=$(awk -v a="$(f0 1)" -v b="$(f1 1)" 'BEGIN { print (b - a) / 1e9 }')
    jq --argjson n "$n" --argjson wall "$wall_s" --argjson hz "$CLK_TCK" \
      --argjson c0 "[$(f0 2),$(f0 3),$(f0 4),$(f0 5)]" --argjson c1 "[$(f1 2),$(f1 3),$(f1 4),$(f1 5)]" \
      --argjson rss "$rss" --argjson served "$served" --argjson bal "$bal" \
      --argjson pop "$pop" --argjson pop_rss "$pop_rss" --argjson pop_served "$pop_served" \
      --argjson failures "$failures" --argjson commits "$commits" --argjson nodes_view "$nodes_view" \
      '[range(0; 4) as $i | 100 * ($c1[$i] - $c0[$i]) / $hz / $wall] as $cpu
       | {nodes: $n, balanced_after_ms: $bal,
          cpu_percent: {nodes: $cpu[0], postgresql: $cpu[1], broker: $cpu[2], emulator: $cpu[3],
                        loadgen: (100 * .loadgen_cpu_s / .duration_s)},
          cpu_us_per_ok_command: {nodes_and_postgresql: (($cpu[0] + $cpu[1]) / 100 / .total.ok_throughput * 1e6)},
          cpu_us_per_command: {nodes_and_postgresql: (($cpu[0] + $cpu[1]) / 100 / .total.throughput * 1e6),
                               nodes: ($cpu[0] / 100 / .total.throughput * 1e6),
                               postgresql: ($cpu[1] / 100 / .total.throughput * 1e6),
                               broker: ($cpu[2] / 100 / .total.throughput * 1e6)},
          rss_after_run: $rss, meetings_served_after_run: $served,
          populate: $pop, rss_after_populate: $pop_rss, meetings_served_after_populate: $pop_served,
          rss_growth_per_populated_meeting_bytes: (if $pop_rss == null or $pop == null then null else
            [range(0; $rss | length) as $i | {node: $rss[$i].node,
              bytes: (($pop_rss[$i].rss_kib - $rss[$i].rss_kib) * 1024 / $pop.meetings)}] end),
          node_internal_errors: $failures, store_commit_failures: $commits, admin_nodes: $nodes_view,
          loadgen: .}' "$out" >"$out.tmp"
    throughput_runs=$(jq --slurpfile r "$out.tmp" '. + $r' <<<"$throughput_runs")
    stop_members
    stop_emulator
    stop_broker
  done
fi

# -- results ---------------------------------------------------------------------------------

jq -n --argjson machine "$(machine_json)" --argjson pg "$pg_settings" \
  --argjson fo "$failover_runs" --argjson fo_setup "$failover_setup" --argjson tp "$throughput_runs" \
  --arg lease "$LEASE" --argjson kills "$KILLS" --argjson retry "$RETRY_MS" --arg parts "$PARTS" \
  --arg binary "$binary_mtime" --argjson fo_failures "${failover_failures:-null}" \
  --argjson fo_commits "${failover_commits:-null}" \
  --argjson devices "$DEVICES" --argjson inflight "$INFLIGHT" --arg duration "$DURATION" \
  --arg warmup "$WARMUP" --arg mix "$MIX" --argjson populate "$POPULATE" \
  --argjson fo_meetings "$FAILOVER_MEETINGS" \
  'def nearest_rank(p): sort | if length == 0 then null else .[((p * length) | ceil) - 1] end;
   ($fo | map(.failover_ms) | map(select(. != null))) as $ms
   | {bench: "cluster", machine: $machine, postgresql_server: $pg, meetingd_binary_built: $binary,
      settings: {parts: $parts, lease: $lease, kills: $kills, retry_ms: $retry,
                 failover_meetings: $fo_meetings, devices: $devices, inflight: $inflight,
                 duration: $duration, warmup: $warmup, mix: $mix, populate: $populate},
      failover: {setup: $fo_setup, runs: $fo, node_internal_errors: $fo_failures,
                 store_commit_failures: $fo_commits,
                 answered: ($ms | length), unanswered: (($fo | length) - ($ms | length)),
                 p50_ms: ($ms | nearest_rank(0.5)), max_ms: ($ms | max), min_ms: ($ms | min),
                 lease_left_at_kill_ms_range: ($fo | map(.lease_left_at_kill_ms) | [min, max])},
      throughput: $tp,
      figures: {failover_p50_ms: ($ms | nearest_rank(0.5)), failover_max_ms: ($ms | max), lease: $lease,
                commands_per_s: ($tp | map({key: "\(.nodes)", value: .loadgen.total.throughput}) | from_entries),
                ok_commands_per_s: ($tp | map({key: "\(.nodes)", value: .loadgen.total.ok_throughput}) | from_entries),
                cpu_us_per_command: ($tp | map({key: "\(.nodes)", value: .cpu_us_per_command.nodes_and_postgresql}) | from_entries),
                rss_kib_after_run: ($tp | map({key: "\(.nodes)", value: (.rss_after_run | map(.rss_kib))}) | from_entries)}}' \
  >"$RESULT_JSON"

f() { jq -r "$1" "$RESULT_JSON"; }
{
  echo "# Several nodes on one PostgreSQL ($bench_stamp)"
  echo
  echo "Machine: $(f '.machine.nproc') vCPU ($(f '.machine.cpu')), shared; load average at start $(f '.machine.loadavg_at_start')."
  echo "Commit $(f '.machine.commit') (uncommitted changes: $(f '.machine.uncommitted_changes')); meetingd binary built $binary_mtime."
  echo "PostgreSQL: $(jq -r '"\(.server_version), fsync \(.fsync), synchronous_commit \(.synchronous_commit), shared_buffers \(.shared_buffers), data on \(.data_filesystem)"' <<<"$pg_settings"); PostgreSQL, the broker, the RTC emulator, every node and loadgen on this machine, over loopback TCP."
  echo "Nodes: node-1, node-2, node-3, \`--lease=$LEASE\` (renewed every fifth), 256 shards."
  if [ "$(f '.failover.runs | length')" -gt 0 ]; then
    echo
    per_node=$(f '.failover.setup.meetings_per_node_at_start | to_entries | map("\(.key) \(.value)") | join(", ")')
    echo "## Failover: kill -9 of the node that owns the meeting"
    echo
    echo "Two nodes; $(f '.failover.setup.populate.meetings // 0') idle two-person meetings populated first (live meetings per node by the shards it held at the start: $per_node). A device sends \`meeting.get\` for a meeting on a shard of the victim, each request resent with the same id every $RETRY_MS ms until answered (mosquitto_rr, a connection per attempt); failover = kill → first reply with code 0 to an attempt sent after the kill. The victim is restarted and the shards balanced (128/128) before the next kill."
    echo
    echo "- **failover p50 $(f '.failover.p50_ms') ms, max $(f '.failover.max_ms') ms** (min $(f '.failover.min_ms') ms) over $(f '.failover.answered') kills ($(f '.failover.unanswered') unanswered within 60 s), \`--lease=$LEASE\`; the victim's lease on the shard had $(f '.failover.lease_left_at_kill_ms_range[0]')–$(f '.failover.lease_left_at_kill_ms_range[1]') ms left at the kill"
    echo "- node 500s (cmd.failed) over the part: $(f '.failover.node_internal_errors'); failed group commits (store.commit_failed): $(f '.failover.store_commit_failures.commit_failed'), of them deadlocks: $(f '.failover.store_commit_failures.deadlocks')"
    echo
    echo "| kill | victim | lease left at kill ms | **kill → reply ms** | attempts | other replies | survivor's shards.adopted after kill ms | shards | meetings | adoption ms | victim ready ms | rebalanced ms | load |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r '.failover.runs[] | "| \(.kill) | \(.victim) | \(.lease_left_at_kill_ms) | **\(.failover_ms // "none")** | \(.attempts // "-") | \(if .other_replies == "" then "-" else .other_replies end) | \(.adopted_after_kill_ms // "-") | \(.adopted_shards // "-") | \(.adopted_meetings // "-") | \(.adoption_ms // "-") | \(.restart_ready_ms) | \(.rebalanced_after_ready_ms) | \(.load1) |"' "$RESULT_JSON"
  fi
  if [ "$(f '.throughput | length')" -gt 0 ]; then
    echo
    echo "## Throughput, CPU per command and memory with 1, 2, 3 nodes"
    echo
    echo "A fresh database for each; shards balanced before the run; bench/throughput.sh's flat-out run: $DEVICES devices × $INFLIGHT in flight, mix \`$MIX\`, $DURATION after $WARMUP warmup. CPU from /proc over the run (warmup included): every meetingd, and PostgreSQL whole (postmaster, backends, helpers). On $(nproc) shared vCPUs this is the cost per command of N nodes, not their scaling."
    echo
    echo "| nodes | commands/s (answered 0) | p50 ms | p99 ms | p99.9 ms | errors | CPU % nodes / PostgreSQL / broker / loadgen | **CPU µs per command, nodes + PostgreSQL** (per command answered 0) | of which PostgreSQL | node 500s | failed group commits (deadlocks) | load 1 min |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r '.throughput[] | "| \(.nodes) | **\(.loadgen.total.throughput | floor)** (\(.loadgen.total.ok_throughput | floor)) | \(.loadgen.total.latency_ms.p50) | \(.loadgen.total.latency_ms.p99) | \(.loadgen.total.latency_ms.p999) | \(.loadgen.total.failed) | \(.cpu_percent.nodes | floor) / \(.cpu_percent.postgresql | floor) / \(.cpu_percent.broker | floor) / \(.cpu_percent.loadgen | floor) | **\(.cpu_us_per_command.nodes_and_postgresql | floor)** (\(.cpu_us_per_ok_command.nodes_and_postgresql | floor)) | \(.cpu_us_per_command.postgresql | floor) | \(.node_internal_errors) | \(.store_commit_failures.commit_failed) (\(.store_commit_failures.deadlocks)) | \(.loadgen.host.loadavg_measure_start[0]) → \(.loadgen.host.loadavg_end[0]) |"' "$RESULT_JSON"
    echo
    echo "Errors by reason:"
    echo
    jq -r '.throughput[] | "- \(.nodes) node(s): \(if (.loadgen.errors | length) == 0 then "none" else (.loadgen.errors | to_entries | map("\(.key) × \(.value)") | join(", ")) end)"' "$RESULT_JSON"
    echo
    echo "Memory: VmRSS of each node after the run, then after populating $POPULATE more idle two-person meetings (in brackets: the live meetings on the shards the node holds, from the database):"
    echo
    echo "| nodes | RSS after the run, KiB (meetings) | RSS after populate, KiB (meetings) | growth per populated meeting, each node | summed over the nodes | populate meetings/s |"
    echo "|---|---|---|---|---|---|"
    jq -r '.throughput[] | . as $t | "| \(.nodes) | \(.rss_after_run | map("\(.node) \(.rss_kib) (\($t.meetings_served_after_run[.node] // "?"))") | join(", ")) | \(if .rss_after_populate == null then "-" else (.rss_after_populate | map("\(.node) \(.rss_kib) (\($t.meetings_served_after_populate[.node] // "?"))") | join(", ")) end) | \(if .rss_growth_per_populated_meeting_bytes == null then "-" else (.rss_growth_per_populated_meeting_bytes | map("\(.bytes / 1024 * 10 | floor / 10) KiB") | join(", ")) end) | \(if .rss_growth_per_populated_meeting_bytes == null then "-" else "\(.rss_growth_per_populated_meeting_bytes | map(.bytes) | add / 1024 * 10 | floor / 10) KiB" end) | \(.populate.meetings_per_s // "-" | if type == "number" then floor else . end) |"' "$RESULT_JSON"
    echo
    echo "Every node keeps the registry of all the meetings, the users, the devices and who is in which meeting (docs/cluster.md): a node grows with the meetings of the whole cluster, not only with those it serves."
  fi
} >"$RESULT_MD"

# -- plot -------------------------------------------------------------------------------------
if command -v gnuplot >/dev/null; then
  jq -r '.failover.runs[] | select(.failover_ms != null) | "\(.kill) \(.failover_ms) \(.lease_left_at_kill_ms)"' "$RESULT_JSON" >"$run/fo.dat"
  jq -r '.throughput[] | "\(.nodes) \(.loadgen.total.throughput) \(.cpu_us_per_command.nodes) \(.cpu_us_per_command.postgresql)"' "$RESULT_JSON" >"$run/tp.dat"
  plots=0
  [ -s "$run/fo.dat" ] && plots=$((plots + 1))
  [ -s "$run/tp.dat" ] && plots=$((plots + 2))
  if [ "$plots" -gt 0 ]; then
    {
      echo "set terminal pngcairo size $((plots * 420 + 100)),450 noenhanced"
      echo "set output \"$RESULT_PNG_PREFIX.png\""
      echo "set multiplot layout 1,$plots title \"Several nodes on one PostgreSQL ($(nproc) vCPU, shared; --lease=$LEASE)\""
      echo "set grid ytics"
      echo "set yrange [0:*]"
      if [ -s "$run/fo.dat" ]; then
        echo "set title \"kill -9 -> first reply (ms)\""
        echo "set xlabel \"kill\""
        echo "set key below"
        echo "set xrange [0:*]"
        echo "set xtics 1"
        echo "plot \"$run/fo.dat\" using 1:2 with linespoints lw 2 title \"failover\", \"\" using 1:3 with points title \"lease left at kill\""
      fi
      if [ -s "$run/tp.dat" ]; then
        echo "set style fill solid 0.6"
        echo "set boxwidth 0.5"
        echo "set xlabel \"nodes\""
        echo "set xrange [0.5:*]"
        echo "set xtics 1"
        echo "set key top left"
        echo "set title \"commands/s, flat out\""
        echo "plot \"$run/tp.dat\" using 1:2 with boxes notitle, \"\" using 1:2:(sprintf(\"%d\", \$2)) with labels offset 0,1 notitle"
        echo "set title \"CPU per command (us)\""
        echo "set key below"
        echo "set style histogram rowstacked"
        echo "set style data histograms"
        echo "set xrange [*:*]"
        echo "plot \"$run/tp.dat\" using 3:xtic(1) title \"meetingd (all nodes)\", \"\" using 4 title \"PostgreSQL\""
      fi
      echo "unset multiplot"
    } | gnuplot
  fi
fi
cat "$RESULT_MD"
echo "results: $RESULT_JSON $RESULT_MD $RESULT_PNG_PREFIX.png" >&2
