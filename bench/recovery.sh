#!/usr/bin/env bash
# bench/recovery.sh: how long a node takes to come back on a database of N
# live meetings (two participants each).
#
# The databases are made by bench/store_bench --recovery N --keep (the store
# alone writes N meetings as the node would; it also reports the store's own
# open and load time). For each one, REPEAT times: a copy of the database,
# meetingd started on it, and
#   - ready_ms: from exec to the log line lmq.ready (state loaded, actors
#     spawned, subscribed at the broker: commands are taken, and queue);
#   - recovered_ms: from exec to the log line node.recovered (the directory
#     and every recovered meeting actor initialized: commands are answered
#     at full speed), both polled every 5 ms; the target applies to this one;
#   - load_ms:  what the node logs in node.started (reading the database);
#   - the node's RSS once recovered.
# The page cache is warm (the copy was just written): this is the restart of
# a node on the same machine, not a cold disk.
#
# Writes bench/results/recovery-<date>.{json,md,png}.
#
# Environment: MEETINGS ("10000 100000"), REPEAT (3).
source "$(dirname "$0")/lib.sh"

MEETINGS=${MEETINGS:-10000 100000}
REPEAT=${REPEAT:-3}
result_paths recovery
run=$bench_run

if [ ! -x "$STORE_BENCH" ]; then
  echo "bench: $STORE_BENCH is missing (ninja -C $BUILD_DIR store_bench)" >&2
  exit 1
fi

args=()
for n in $MEETINGS; do args+=(--recovery "$n"); done
say "building the databases with store_bench ${args[*]} (load $(loadavg1))"
"$STORE_BENCH" "${args[@]}" --keep --dir "$run" >"$run/store.json"
cat "$run/store.json" >&2

start_broker
start_emulator
rows='[]'
i=0
for n in $MEETINGS; do
  src=$(jq -r ".recovery[$i].db" "$run/store.json")
  store_load=$(jq ".recovery[$i].load_ms" "$run/store.json")
  i=$((i + 1))
  for r in $(seq 1 "$REPEAT"); do
    db=$run/rec-$n-$r.db
    cp "$src" "$db"
    load=$(loadavg1)
    start_node "$db"
    ready_ms=$NODE_READY_MS
    t_ready=$(date +%s%N)
    until grep -q "node.recovered" "$NODE_LOG"; do sleep 0.005; done
    recovered_ms=$(( ready_ms + ($(date +%s%N) - t_ready) / 1000000 ))
    load_ms=$(node_log_field load_ms)
    live=$(node_log_field meetings)
    rss=$(rss_kib "$NODE_PID")
    say "$n meetings, run $r: ready in $ready_ms ms, recovered in $recovered_ms ms, load_ms $load_ms, $live meetings, RSS $rss KiB (load $load)"
    t0=$(date +%s%N)
    stop_node
    stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    rows=$(jq --argjson n "$n" --argjson r "$r" --argjson ready "$ready_ms" --argjson recovered "$recovered_ms" \
      --arg load_ms "$load_ms" --arg live "$live" --argjson rss "$rss" --arg la "$load" \
      --argjson store "$store_load" --argjson stop "$stop_ms" \
      '. + [{meetings: $n, run: $r, ready_ms: $ready, recovered_ms: $recovered, node_load_ms: ($load_ms | tonumber? // null),
             meetings_loaded: ($live | tonumber? // null), rss_kib: $rss, stop_ms: $stop,
             store_bench_load_ms: $store, load1: ($la | tonumber)}]' <<<"$rows")
    rm -f "$db" "$db-wal" "$db-shm"
  done
done

summary=$(jq 'group_by(.meetings) | map({meetings: .[0].meetings,
    ready_ms_median: (map(.ready_ms) | sort | .[length / 2 | floor]),
    ready_ms_min: (map(.ready_ms) | min), ready_ms_max: (map(.ready_ms) | max),
    recovered_ms_median: (map(.recovered_ms) | sort | .[length / 2 | floor]),
    recovered_ms_min: (map(.recovered_ms) | min), recovered_ms_max: (map(.recovered_ms) | max),
    node_load_ms_median: (map(.node_load_ms) | sort | .[length / 2 | floor]),
    store_bench_load_ms: .[0].store_bench_load_ms,
    rss_kib: (map(.rss_kib) | max), meetings_loaded: .[0].meetings_loaded,
    load1: (map(.load1) | max)})' <<<"$rows")
jq -n --argjson machine "$(machine_json)" --argjson rows "$rows" --argjson summary "$summary" \
  --slurpfile store "$run/store.json" \
  '{bench: "recovery", machine: $machine, runs: $rows, summary: $summary,
    store_bench: $store[0],
    figures: ($summary | map({key: "recovered_ms_\(.meetings)", value: .recovered_ms_median}) | from_entries),
    targets: {recovered_ms_max_100000: 2000}}' >"$RESULT_JSON"

{
  echo "# Recovery from SQLite ($bench_stamp)"
  echo
  echo "Machine: $(nproc) vCPU, shared; load average at start $(jq -r .machine.loadavg_at_start "$RESULT_JSON"). Warm page cache."
  echo "Databases from \`store_bench --recovery N\` (N meetings, 2 participants each); $REPEAT restarts each, median shown."
  echo
  echo "| meetings | exec → node.recovered ms (median, min–max) | exec → lmq.ready ms | node load_ms | store alone load_ms | RSS once recovered (KiB) | load 1 min |"
  echo "|---|---|---|---|---|---|---|"
  jq -r '.summary[] | "| \(.meetings) | **\(.recovered_ms_median)** (\(.recovered_ms_min)–\(.recovered_ms_max)) | \(.ready_ms_median) | \(.node_load_ms_median) | \(.store_bench_load_ms | floor) | \(.rss_kib) | \(.load1) |"' "$RESULT_JSON"
  echo
  jq -r '.summary[] | select(.meetings == 100000) | "- 100k meetings: recovered in **\(.recovered_ms_median) ms** (target ≤ 2000 ms: \(if .recovered_ms_median <= 2000 then "met" else "NOT met" end))"' "$RESULT_JSON"
} >"$RESULT_MD"

if command -v gnuplot >/dev/null; then
  jq -r '.summary[] | "\(.meetings) \(.ready_ms_median) \(.node_load_ms_median) \(.store_bench_load_ms) \(.recovered_ms_median)"' "$RESULT_JSON" >"$run/r.dat"
  gnuplot <<EOF
set terminal pngcairo size 800,500 noenhanced
set output "$RESULT_PNG_PREFIX.png"
set title "Recovery from SQLite ($(nproc) vCPU, shared, warm cache)"
set xlabel "live meetings (2 participants each)"
set ylabel "ms"
set logscale x
set yrange [0:*]
set key top left
plot "$run/r.dat" using 1:5 with linespoints lw 2 title "exec -> node.recovered", \
     "" using 1:2 with linespoints lw 2 title "exec -> lmq.ready", \
     "" using 1:3 with linespoints lw 2 title "node load_ms", \
     "" using 1:4 with linespoints title "store_bench load_ms", \
     2000 with lines dt 2 title "target for 100k"
EOF
fi
cat "$RESULT_MD"
echo "results: $RESULT_JSON $RESULT_MD" >&2
