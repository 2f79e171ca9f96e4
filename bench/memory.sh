#!/usr/bin/env bash
# bench/memory.sh: the node's memory per live meeting.
#
# For each N in MEETINGS: a fresh node and database; loadgen logs DEVICES
# devices in, then (populate mode) makes N idle meetings of PARTICIPANTS
# users (create, then the others join). The node's VmRSS is read from
# /proc/<pid>/status once the devices are logged in (before) and once the
# last join is answered (after); (after - before) / N is the cost of one
# meeting while it is fresh, including what the node keeps for the requests
# it just answered (replies are kept 10 minutes for idempotent replay). Then
# the node is restarted on the same database, without those replies (deleted
# from request_log, as if the restart came 10 minutes later), and its RSS
# compared with a node started on an empty one: the cost of the meeting alone.
#
# Idle meetings give up their actors after --passivate-after (the node's
# default is 1 min; PASSIVATE_AFTER, 5s here, so as not to wait): while the
# devices are still connected, the script waits until admin.stats counts no
# meeting with an actor and reads VmRSS again (asleep): the steady state of
# an idle meeting, still with the requests' 10 minutes of replay keys.
#
# A small sweep: SWEEP_PARTICIPANTS ("4 8") at SWEEP_MEETINGS (10000) shows
# how the cost grows with participants.
#
# Writes bench/results/memory-<date>.{json,md,png}.
#
# Environment: MEETINGS ("10000 100000"), PARTICIPANTS (2), DEVICES (200),
# INFLIGHT (4), SWEEP_PARTICIPANTS ("4 8"), SWEEP_MEETINGS (10000),
# DB_SYNC (normal: memory does not depend on it and populating is faster),
# PASSIVATE_AFTER (5s).
source "$(dirname "$0")/lib.sh"

MEETINGS=${MEETINGS:-10000 100000}
PARTICIPANTS=${PARTICIPANTS:-2}
DEVICES=${DEVICES:-200}
INFLIGHT=${INFLIGHT:-4}
SWEEP_PARTICIPANTS=${SWEEP_PARTICIPANTS-4 8}
SWEEP_MEETINGS=${SWEEP_MEETINGS:-10000}
DB_SYNC=${DB_SYNC:-normal}
PASSIVATE_AFTER=${PASSIVATE_AFTER:-5s}
result_paths memory

[ -x "$MEETCTL" ] || { echo "bench: $MEETCTL is missing (ninja -C $BUILD_DIR meetctl)" >&2; exit 1; }
run=$bench_run

start_broker
start_emulator

# The RSS of a node on an empty database, after start (the baseline for the
# restarted nodes).
start_node "$run/empty.db" --db-sync="$DB_SYNC" --passivate-after="$PASSIVATE_AFTER"
sleep 2
empty_rss=$(rss_kib "$NODE_PID")
stop_node
say "node on an empty database: $empty_rss KiB"

rows='[]'
# measure <meetings> <participants>
measure() {
  local n=$1 p=$2
  local db=$run/mem-$n-$p.db devices=$DEVICES
  # Whole groups of p devices.
  devices=$(( (devices / p) * p ))
  start_node "$db" --db-sync="$DB_SYNC" --passivate-after="$PASSIVATE_AFTER"
  say "populate: $n meetings x $p participants, $devices devices (load $(loadavg1))"
  local out=$run/mem-$n-$p.json
  # Run by loadgen once populated, its devices still connected: RSS fresh,
  # then RSS once every meeting is asleep.
  cat >"$run/on-done.sh" <<HOOK
sleep 1
awk '/^VmRSS:/ {print \$2}' /proc/$NODE_PID/status > $run/rss1
awk '/^VmHWM:/ {print \$2}' /proc/$NODE_PID/status > $run/hwm1
t0=\$(date +%s%N)
for i in \$(seq 1 600); do
  [ "\$($MEETCTL --broker=tcp://127.0.0.1:$MQTT_PORT --id=$BENCH_CONSOLE --json stats | jq .meetings.with_actor)" = 0 ] && break
  sleep 0.5
done
echo \$(( (\$(date +%s%N) - t0) / 1000000 )) > $run/asleep_ms
sleep 1
awk '/^VmRSS:/ {print \$2}' /proc/$NODE_PID/status > $run/rss2
HOOK
  run_loadgen "$out" --mode=populate --devices="$devices" --participants="$p" \
    --meetings="$n" --inflight="$INFLIGHT" --timeout=60s --prefix="m$p" \
    --on-ready="sleep 1; awk '/^VmRSS:/ {print \$2}' /proc/$NODE_PID/status > $run/rss0" \
    --on-done="bash $run/on-done.sh" \
    --label="populate $n x $p" >"$out.txt"
  cat "$out.txt" >&2
  local before after hwm asleep asleep_ms
  before=$(cat "$run/rss0"); after=$(cat "$run/rss1"); hwm=$(cat "$run/hwm1")
  asleep=$(cat "$run/rss2"); asleep_ms=$(cat "$run/asleep_ms")
  say "RSS before $before KiB, fresh $after KiB, all asleep $asleep KiB (after $asleep_ms ms)"
  local live
  live=$(sqlite3 "$db" "select count(*) from meetings where status = 'active'" 2>/dev/null \
    || sqlite3 "$db" "select count(*) from active_meetings" 2>/dev/null || echo "?")
  local logged
  logged=$(sqlite3 "$db" "select count(*) from request_log" 2>/dev/null || echo 0)
  stop_node
  # The devices disconnected: restart on the same database (their meetings
  # are still live: presence grace has not run out) and compare with empty.
  # The replies kept for idempotency are deleted first, as if the restart
  # came after their 10 minutes: what is left is the meetings themselves.
  sqlite3 "$db" "delete from request_log; vacuum;"
  start_node "$db" --db-sync="$DB_SYNC" --passivate-after="$PASSIVATE_AFTER"
  local load_ms ready_ms=$NODE_READY_MS
  load_ms=$(node_log_field load_ms)
  sleep 2
  local restarted
  restarted=$(rss_kib "$NODE_PID")
  stop_node
  rows=$(jq --argjson n "$n" --argjson p "$p" --argjson before "$before" --argjson after "$after" \
    --argjson hwm "$hwm" --argjson restarted "$restarted" --argjson empty "$empty_rss" \
    --argjson asleep "$asleep" --argjson asleep_ms "$asleep_ms" \
    --arg live "$live" --argjson logged "$logged" --arg load_ms "${load_ms:-null}" --argjson ready_ms "$ready_ms" \
    --slurpfile r "$out" \
    '. + [{meetings: $n, participants: $p, rss_before_kib: $before, rss_after_kib: $after,
           hwm_after_kib: $hwm,
           bytes_per_meeting: (($after - $before) * 1024 / $n),
           rss_asleep_kib: $asleep, all_asleep_after_ms: $asleep_ms,
           bytes_per_meeting_asleep: (($asleep - $before) * 1024 / $n),
           restarted_rss_kib: $restarted, empty_rss_kib: $empty,
           bytes_per_meeting_after_restart: (($restarted - $empty) * 1024 / $n),
           live_meetings_in_db: $live, request_log_rows: $logged, restart_load_ms: ($load_ms | tonumber? // null),
           restart_ready_ms: $ready_ms,
           populate_meetings_per_s: $r[0].populate.meetings_per_s,
           load_start: $r[0].host.loadavg_measure_start[0], load_end: $r[0].host.loadavg_end[0],
           run: ($r[0] | del(.timeline))}]' <<<"$rows")
}

for n in $MEETINGS; do measure "$n" "$PARTICIPANTS"; done
for p in $SWEEP_PARTICIPANTS; do measure "$SWEEP_MEETINGS" "$p"; done

jq -n --argjson machine "$(machine_json)" --argjson rows "$rows" --argjson p "$PARTICIPANTS" \
  '{bench: "memory", machine: $machine, runs: $rows,
    figures: ($rows | map(select(.participants == $p))
              | map({key: "bytes_per_meeting_\(.meetings)", value: .bytes_per_meeting},
                    {key: "bytes_per_meeting_asleep_\(.meetings)", value: .bytes_per_meeting_asleep})
              | from_entries),
    passivate_after: "'"$PASSIVATE_AFTER"'",
    targets: {bytes_per_idle_two_person_meeting_max: 4096}}' >"$RESULT_JSON"

{
  echo "# Memory per live meeting ($bench_stamp)"
  echo
  echo "Machine: $(nproc) vCPU, shared; load average at start $(jq -r .machine.loadavg_at_start "$RESULT_JSON")."
  echo "Idle meetings made with \`loadgen --mode=populate\` ($DEVICES devices, $INFLIGHT in flight each): a create, then the other participants join. RSS from /proc/<pid>/status (VmRSS). Node on an empty database: $empty_rss KiB."
  echo
  echo "Meetings give up their actors after --passivate-after=$PASSIVATE_AFTER of quiet (the node's default: 1min); \"asleep\" is read once admin.stats counts none with an actor."
  echo
  echo "| meetings | participants | RSS before → fresh → asleep (KiB) | bytes / meeting fresh | **bytes / meeting asleep** | all asleep after | after restart: RSS (KiB) | bytes / meeting after restart | restart load_ms | populate meetings/s | load |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  jq -r '.runs[] | "| \(.meetings) | \(.participants) | \(.rss_before_kib) → \(.rss_after_kib) → \(.rss_asleep_kib) | \(.bytes_per_meeting | floor) | **\(.bytes_per_meeting_asleep | floor)** | \(.all_asleep_after_ms) ms | \(.restarted_rss_kib) | \(.bytes_per_meeting_after_restart | floor) | \(.restart_load_ms) | \(.populate_meetings_per_s | floor) | \(.load_start) → \(.load_end) |"' "$RESULT_JSON"
  echo
  jq -r --argjson p "$PARTICIPANTS" '.runs[] | select(.participants == $p) | "- \(.meetings) idle \($p)-person meetings: **\(.bytes_per_meeting_asleep / 1024 * 100 | floor / 100) KiB** per meeting asleep, \(.bytes_per_meeting / 1024 * 100 | floor / 100) KiB fresh (target ≤ 4 KiB per idle meeting: \(if .bytes_per_meeting_asleep <= 4096 then "met" else "NOT met" end))"' "$RESULT_JSON"
} >"$RESULT_MD"

if command -v gnuplot >/dev/null; then
  jq -r --argjson p "$PARTICIPANTS" '.runs[] | select(.participants == $p) | "\(.meetings) \(.bytes_per_meeting) \(.bytes_per_meeting_after_restart) \(.bytes_per_meeting_asleep)"' "$RESULT_JSON" >"$run/m.dat"
  jq -r --argjson n "$SWEEP_MEETINGS" '.runs[] | select(.meetings == $n) | "\(.participants) \(.bytes_per_meeting) \(.bytes_per_meeting_after_restart) \(.bytes_per_meeting_asleep)"' "$RESULT_JSON" | sort -n >"$run/p.dat"
  gnuplot <<EOF
set terminal pngcairo size 1000,450 noenhanced
set output "$RESULT_PNG_PREFIX.png"
set multiplot layout 1,2 title "Node RSS per live meeting ($(nproc) vCPU, shared)"
set ylabel "bytes / meeting"
set yrange [0:*]
set key top left
set logscale x
set xlabel "meetings ($PARTICIPANTS participants)"
plot "$run/m.dat" using 1:2 with linespoints lw 2 title "fresh", \
     "" using 1:4 with linespoints lw 2 title "asleep", \
     "" using 1:3 with linespoints lw 2 title "after restart", 4096 with lines dt 2 title "target 4 KiB"
unset logscale x
set xlabel "participants ($SWEEP_MEETINGS meetings)"
plot "$run/p.dat" using 1:2 with linespoints lw 2 title "fresh", \
     "" using 1:4 with linespoints lw 2 title "asleep", \
     "" using 1:3 with linespoints lw 2 title "after restart"
unset multiplot
EOF
fi
cat "$RESULT_MD"
echo "results: $RESULT_JSON $RESULT_MD" >&2
