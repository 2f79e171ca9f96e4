#!/usr/bin/env bash
# bench/recovery.sh: how long a node takes to come back on a database of N
# live meetings (two participants each), on SQLite and on PostgreSQL.
#
# The databases are made by bench/store_bench --recovery N --keep (the store
# alone writes N meetings as the node would; it also reports the store's own
# open and load time). For each one, REPEAT times: meetingd started on it, and
#   - ready_ms: from exec to the log line lmq.ready (state loaded, actors
#     spawned, subscribed at the broker: commands are taken, and queue);
#   - recovered_ms: from exec to the log line node.recovered (the directory
#     and every recovered meeting actor initialized: commands are answered
#     at full speed), both polled every 5 ms; the target applies to this one;
#   - load_ms:  what the node logs in node.started (reading the database);
#   - the node's RSS once recovered;
#   - PostgreSQL: the CPU of the node's server backend by then (its session
#     is new: that is the load, and the few statements of the start).
# SQLite: each restart runs on a fresh copy of the file, warm page cache (the
# copy was just written): the restart of a node on the same machine, not a
# cold disk. PostgreSQL: a throwaway server of this run (bench/lib.sh
# start_pg: fsync and synchronous_commit on, shared_buffers 256MB) on this
# machine, reached over loopback TCP; the restarts share one database (a
# restart changes no meeting: nothing in these meetings is due), VACUUM
# ANALYZE'd after it was written, as autovacuum would have done; the server
# stays up, so its cache is warm: the restart of the node, not of the server.
#
# Writes bench/results/recovery-<date>.{json,md,png}.
#
# Environment: MEETINGS ("10000 100000"), REPEAT (3), STORE (both: sqlite,
# postgresql or both), PG_DETAIL (1: store_bench --pg-detail, the load's
# queries timed one by one on the server and through libpq).
source "$(dirname "$0")/lib.sh"

MEETINGS=${MEETINGS:-10000 100000}
REPEAT=${REPEAT:-3}
STORE=${STORE:-both}
PG_DETAIL=${PG_DETAIL:-1}
case $STORE in
  sqlite) stores=(sqlite) ;;
  postgresql) stores=(postgresql) ;;
  both) stores=(sqlite postgresql) ;;
  *) echo "bench: STORE=$STORE: expected sqlite, postgresql or both" >&2; exit 1 ;;
esac
result_paths recovery
run=$bench_run

if [ ! -x "$STORE_BENCH" ]; then
  echo "bench: $STORE_BENCH is missing (ninja -C $BUILD_DIR store_bench)" >&2
  exit 1
fi

args=()
for n in $MEETINGS; do args+=(--recovery "$n"); done
pg_settings=null
for store in "${stores[@]}"; do
  if [ "$store" = sqlite ]; then
    say "SQLite: building the databases with store_bench ${args[*]} (load $(loadavg1))"
    "$STORE_BENCH" "${args[@]}" --keep --dir "$run" >"$run/store-sqlite.json"
  else
    start_pg
    pg_settings=$(pg_settings_json)
    say "PostgreSQL $(jq -r .server_version <<<"$pg_settings") on port $PG_PORT: building the databases with store_bench ${args[*]} (load $(loadavg1))"
    detail=()
    [ "$PG_DETAIL" = 1 ] && detail=(--pg-detail)
    "$STORE_BENCH" "${args[@]}" --keep --db "$(create_pg_db bench)" --batch 5000 --loads 3 "${detail[@]}" \
      >"$run/store-postgresql.json"
  fi
  jq -c '.recovery[] | del(.queries, .loads)' "$run/store-$store.json" >&2
done

start_broker
start_emulator
rows='[]'
# The stores take turns, restart by restart: a machine whose load changes
# during the run weighs on both alike.
i=0
for n in $MEETINGS; do
  for r in $(seq 1 "$REPEAT"); do
    for store in "${stores[@]}"; do
      src=$(jq -r ".recovery[$i].db" "$run/store-$store.json")
      store_load=$(jq ".recovery[$i].load_ms" "$run/store-$store.json")
      if [ "$store" = sqlite ]; then
        db=$run/rec-$n-$r.db
        cp "$src" "$db"
      else
        db=$src
      fi
      load=$(loadavg1)
      start_node "$db"
      ready_ms=$NODE_READY_MS
      t_ready=$(date +%s%N)
      until grep -q "node.recovered" "$NODE_LOG"; do sleep 0.005; done
      recovered_ms=$(( ready_ms + ($(date +%s%N) - t_ready) / 1000000 ))
      load_ms=$(node_log_field load_ms)
      live=$(node_log_field meetings)
      rss=$(rss_kib "$NODE_PID")
      hwm=$(hwm_kib "$NODE_PID")
      server_cpu=null
      if [ "$store" = postgresql ]; then
        backend=$(pg_sql "${db##*/}" "SELECT pid FROM pg_stat_activity WHERE datname = current_database()
          AND application_name = 'meetingd' ORDER BY backend_start DESC LIMIT 1")
        [ -z "$backend" ] || server_cpu=$(awk -v hz="$CLK_TCK" '{printf "%d", 1000 * ($14 + $15) / hz}' "/proc/$backend/stat" 2>/dev/null || echo null)
      fi
      say "$store, $n meetings, run $r: ready in $ready_ms ms, recovered in $recovered_ms ms, load_ms $load_ms, $live meetings, RSS $rss KiB (peak $hwm), server CPU $server_cpu ms (load $load)"
      t0=$(date +%s%N)
      stop_node
      stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
      rows=$(jq --arg store "$store" --argjson n "$n" --argjson r "$r" --argjson ready "$ready_ms" --argjson recovered "$recovered_ms" \
        --arg load_ms "$load_ms" --arg live "$live" --argjson rss "$rss" --argjson hwm "$hwm" --arg la "$load" \
        --argjson store_load "$store_load" --argjson stop "$stop_ms" --argjson server_cpu "$server_cpu" \
        '. + [{store: $store, meetings: $n, run: $r, ready_ms: $ready, recovered_ms: $recovered, node_load_ms: ($load_ms | tonumber? // null),
               meetings_loaded: ($live | tonumber? // null), rss_kib: $rss, rss_peak_kib: $hwm, stop_ms: $stop,
               server_backend_cpu_ms: $server_cpu, store_bench_load_ms: $store_load, load1: ($la | tonumber)}]' <<<"$rows")
      [ "$store" = postgresql ] || rm -f "$db" "$db-wal" "$db-shm"
    done
  done
  i=$((i + 1))
done

summary=$(jq 'group_by([.store, .meetings]) | map({store: .[0].store, meetings: .[0].meetings,
    ready_ms_median: (map(.ready_ms) | sort | .[length / 2 | floor]),
    ready_ms_min: (map(.ready_ms) | min), ready_ms_max: (map(.ready_ms) | max),
    recovered_ms_median: (map(.recovered_ms) | sort | .[length / 2 | floor]),
    recovered_ms_min: (map(.recovered_ms) | min), recovered_ms_max: (map(.recovered_ms) | max),
    node_load_ms_median: (map(.node_load_ms) | sort | .[length / 2 | floor]),
    server_backend_cpu_ms_median: (map(.server_backend_cpu_ms) | sort | .[length / 2 | floor]),
    store_bench_load_ms: .[0].store_bench_load_ms,
    rss_kib: (map(.rss_kib) | max), rss_peak_kib: (map(.rss_peak_kib) | max), meetings_loaded: .[0].meetings_loaded,
    load1: (map(.load1) | max)}) | sort_by(.store != "sqlite", .meetings)' <<<"$rows")
store_json='{}'
for store in "${stores[@]}"; do
  store_json=$(jq --arg s "$store" --slurpfile j "$run/store-$store.json" '. + {($s): $j[0]}' <<<"$store_json")
done
jq -n --argjson machine "$(machine_json)" --argjson rows "$rows" --argjson summary "$summary" \
  --argjson store "$store_json" --argjson pg "$pg_settings" \
  '{bench: "recovery", machine: $machine, postgresql_server: $pg, runs: $rows, summary: $summary,
    store_bench: $store,
    figures: ($summary | map({key: "recovered_ms_\(.store)_\(.meetings)", value: .recovered_ms_median}) | from_entries),
    targets: {recovered_ms_max_100000: 2000}}' >"$RESULT_JSON"

names() { local s=$1; s=${s//sqlite/SQLite}; echo "${s//postgresql/PostgreSQL}"; }
{
  echo "# Recovery from $(names "${stores[*]}" | sed 's/ / and /') ($bench_stamp)"
  echo
  echo "Machine: $(nproc) vCPU, shared; load average at start $(jq -r .machine.loadavg_at_start "$RESULT_JSON"). Warm page cache."
  echo "Commit $(jq -r .machine.commit "$RESULT_JSON") (uncommitted changes: $(jq -r .machine.uncommitted_changes "$RESULT_JSON"))."
  echo "Databases from \`store_bench --recovery N\` (N meetings, 2 participants each); $REPEAT restarts each, median shown."
  if [ "$pg_settings" != null ]; then
    echo "PostgreSQL: $(jq -r '"\(.server_version), fsync \(.fsync), synchronous_commit \(.synchronous_commit), shared_buffers \(.shared_buffers), jit \(.jit), data on \(.data_filesystem)"' <<<"$pg_settings"); same machine, loopback TCP; server up and warm across the node's restarts."
  fi
  echo
  echo "| store | meetings | exec → node.recovered ms (median, min–max) | exec → lmq.ready ms | node load_ms | store alone load_ms | server backend CPU ms | RSS once recovered (KiB) | peak RSS (KiB) | load 1 min |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  jq -r '.summary[] | "| \(.store) | \(.meetings) | **\(.recovered_ms_median)** (\(.recovered_ms_min)–\(.recovered_ms_max)) | \(.ready_ms_median) | \(.node_load_ms_median | floor) | \(.store_bench_load_ms | floor) | \(.server_backend_cpu_ms_median // "-") | \(.rss_kib) | \(.rss_peak_kib) | \(.load1) |"' "$RESULT_JSON"
  echo
  jq -r '.summary[] | select(.meetings == 100000) | "- \(.store), 100k meetings: recovered in **\(.recovered_ms_median) ms** (target ≤ 2000 ms: \(if .recovered_ms_median <= 2000 then "met" else "NOT met" end))"' "$RESULT_JSON"
  if jq -e '.store_bench.postgresql.recovery[0].queries' "$RESULT_JSON" >/dev/null 2>&1; then
    echo
    echo "PostgreSQL, the load's queries alone (store_bench --pg-detail, best of 3, ms): the server's execution (EXPLAIN ANALYZE, no rows sent), then the wall time until libpq holds the whole result:"
    echo
    echo "| meetings | query | rows | MB (text) | server execution | JIT | text result | binary result | text, no ORDER BY | text, JIT off |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    jq -r '.store_bench.postgresql.recovery[] | .meetings as $n | .queries[] | select(.query != "count")
      | "| \($n) | \(.query) | \(.rows) | \(.text_bytes / 1e6 * 10 | floor / 10) | \(.server_execution_ms | floor) | \(.jit_ms // 0 | floor) | \(.text_result_ms | floor) | \(.binary_result_ms | floor) | \(.text_result_unordered_ms // 0 | floor) | \(.text_result_jit_off_ms | floor) |"' "$RESULT_JSON"
    echo
    echo "store_bench's own loads on PostgreSQL (3 each: wall, this process's CPU, the server backend's CPU, ms):"
    echo
    jq -r '.store_bench.postgresql.recovery[] | "- \(.meetings): " + (.loads | map("\(.load_ms | floor) (CPU \(.load_cpu_ms | floor) + server \(.server_cpu_ms))") | join(", "))' "$RESULT_JSON"
  fi
} >"$RESULT_MD"

if command -v gnuplot >/dev/null; then
  plot=()
  for store in "${stores[@]}"; do
    jq -r --arg s "$store" '.summary[] | select(.store == $s) | "\(.meetings) \(.ready_ms_median) \(.node_load_ms_median) \(.store_bench_load_ms) \(.recovered_ms_median)"' "$RESULT_JSON" >"$run/r-$store.dat"
    name=$(names "$store")
    plot+=("\"$run/r-$store.dat\" using 1:5 with linespoints lw 2 title \"$name: exec -> node.recovered\"")
    plot+=("\"$run/r-$store.dat\" using 1:2 with linespoints title \"$name: exec -> lmq.ready\"")
    plot+=("\"$run/r-$store.dat\" using 1:3 with linespoints dt 3 title \"$name: node load_ms\"")
  done
  plot+=("2000 with lines dt 2 title \"target for 100k\"")
  gnuplot <<EOF
set terminal pngcairo size 800,500 noenhanced
set output "$RESULT_PNG_PREFIX.png"
set title "Recovery from $(names "${stores[*]}" | sed 's/ / and /') ($(nproc) vCPU, shared, warm cache)"
set xlabel "live meetings (2 participants each)"
set ylabel "ms"
set logscale x
set yrange [0:*]
set key top left
plot $(IFS=,; echo "${plot[*]}")
EOF
fi
cat "$RESULT_MD"
echo "results: $RESULT_JSON $RESULT_MD" >&2
