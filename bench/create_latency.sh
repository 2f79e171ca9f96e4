#!/usr/bin/env bash
# bench/create_latency.sh: meeting.create throughput when every CreateChannel
# takes 50 ms (rtc-emulator --latency=50ms). A node that waited for one call
# at a time would make 20 creates/s; the target is >= 500/s, so the node must
# keep dozens of calls in flight.
#
# Runs loadgen with the mix "create" only (no invitees, no limit on hosted
# meetings), flat out, for each concurrency in CONCURRENCY (devices x 1 in
# flight): creates/s and latency against the ideal concurrency / 50 ms.
#
# Writes bench/results/create_latency-<date>.{json,md,png}.
#
# The stock rtc-emulator is built with cpp-httplib's defaults: a listen
# backlog of 5 and 5 requests per keep-alive connection, so the node's curl
# pool reconnects every 5 calls and bursts of connects overflow the backlog
# (the kernel drops the SYN; the client retries after 1 s), and it does not
# set TCP_NODELAY (every answer waits 40 ms for curl's delayed ACK, on top of
# --latency). bench/lib.sh runs the emulator with bench/net_preload.so, which
# fixes both (EMULATOR_BACKLOG=4096, EMULATOR_NODELAY=1 by default);
# EMULATOR_BACKLOG=0 EMULATOR_NODELAY=0 measures with the emulator as built.
#
# Environment: LATENCY (50ms), CONCURRENCY ("25 100 400"), DURATION (20s),
# WARMUP (3s), EMULATOR_THREADS (512: the emulator holds one thread per slow
# answer, so it must not be what limits).
source "$(dirname "$0")/lib.sh"

LATENCY=${LATENCY:-50ms}
CONCURRENCY=${CONCURRENCY:-25 100 400}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
EMULATOR_THREADS=${EMULATOR_THREADS:-512}
result_paths create_latency
run=$bench_run
lat_ms=${LATENCY%ms}

rows='[]'
for c in $CONCURRENCY; do
  start_broker
  start_emulator --latency="$LATENCY" --threads="$EMULATOR_THREADS"
  start_node "$run/create-$c.db" --db-sync=full
  say "creates, $c in flight, CreateChannel +$LATENCY (load $(loadavg1))"
  out=$run/create-$c.json
  run_loadgen "$out" --mode=node --devices="$c" --inflight=1 --mix=create --invitees=0 \
    --max-hosted=0 --duration="$DURATION" --warmup="$WARMUP" --timeout=30s \
    --on-ready="$(cpu_hook "$run/cpu0" "$NODE_PID" "$BROKER_PID" "$EMULATOR_PID")" \
    --on-done="$(cpu_hook "$run/cpu1" "$NODE_PID" "$BROKER_PID" "$EMULATOR_PID")" \
    --label="create, $c in flight" >"$out.txt"
  cat "$out.txt" >&2
  rows=$(jq --argjson c "$c" --slurpfile r "$out" --argjson lat "$lat_ms" \
    --arg node "$(cpu_share "$run/cpu0" "$run/cpu1" 1)" \
    --arg broker "$(cpu_share "$run/cpu0" "$run/cpu1" 2)" \
    --arg emu "$(cpu_share "$run/cpu0" "$run/cpu1" 3)" \
    '. + [{in_flight: $c, creates_per_s: $r[0].commands.create.ok_throughput,
           ideal_per_s: ($c * 1000 / $lat), latency_ms: $r[0].commands.create.latency_ms,
           errors: $r[0].errors, load_start: $r[0].host.loadavg_measure_start[0],
           load_end: $r[0].host.loadavg_end[0],
           cpu_percent: {node: ($node|tonumber), broker: ($broker|tonumber), emulator: ($emu|tonumber)},
           run: $r[0]}]' <<<"$rows")
  stop_node
  stop_emulator
  stop_broker
done

best=$(jq '[.[].creates_per_s] | max' <<<"$rows")
jq -n --argjson machine "$(machine_json)" --argjson rows "$rows" --arg latency "$LATENCY" \
  --argjson best "$best" --arg emulator "$EMULATOR" --argjson backlog "$EMULATOR_BACKLOG" --argjson enodelay "$EMULATOR_NODELAY" \
  '{bench: "create_latency", machine: $machine, rtc_latency: $latency, emulator: $emulator, emulator_backlog: $backlog, emulator_nodelay: ($enodelay == 1), runs: $rows,
    figures: {creates_per_s: $best}, targets: {creates_per_s_min: 500}}' >"$RESULT_JSON"

{
  echo "# Creates with a slow RTC OpenAPI ($bench_stamp)"
  echo
  echo "Machine: $(nproc) vCPU, shared; load average at start $(jq -r .machine.loadavg_at_start "$RESULT_JSON")."
  echo "Every CreateChannel answer is delayed by $LATENCY (rtc-emulator --latency); mix \`create\` only, flat out, $DURATION after $WARMUP warmup, --db-sync=full."
  echo "Emulator through bench/net_preload.so: listen backlog $EMULATOR_BACKLOG (0: as built, cpp-httplib's 5), TCP_NODELAY $EMULATOR_NODELAY (0: as built)."
  echo
  echo "| creates in flight | creates/s | ideal (in flight / $LATENCY) | p50 ms | p99 ms | errors | load | CPU % node / broker / emulator |"
  echo "|---|---|---|---|---|---|---|---|"
  jq -r '.runs[] | "| \(.in_flight) | \(.creates_per_s | floor) | \(.ideal_per_s | floor) | \(.latency_ms.p50) | \(.latency_ms.p99) | \(.errors | to_entries | map("\(.key): \(.value)") | join(", ")) | \(.load_start) → \(.load_end) | \(.cpu_percent.node) / \(.cpu_percent.broker) / \(.cpu_percent.emulator) |"' "$RESULT_JSON"
  echo
  echo "- best: **$(printf '%.0f' "$best") creates/s** (target ≥ 500: $(verdict "$best" '>=' 500))"
} >"$RESULT_MD"

if command -v gnuplot >/dev/null; then
  jq -r '.runs[] | "\(.in_flight) \(.creates_per_s) \(.ideal_per_s) \(.latency_ms.p50) \(.latency_ms.p99)"' \
    "$RESULT_JSON" >"$run/create.dat"
  gnuplot <<EOF
set terminal pngcairo size 800,500 noenhanced
set output "$RESULT_PNG_PREFIX.png"
set title "meeting.create with CreateChannel +$LATENCY ($(nproc) vCPU, shared)"
set xlabel "creates in flight"
set ylabel "creates / s"
set y2label "latency ms"
set y2tics
set logscale x
set yrange [0:*]
set y2range [0:*]
set key top left
plot "$run/create.dat" using 1:2 with linespoints lw 2 title "creates/s", \
     "" using 1:3 with lines dt 3 title "ideal (in flight / latency)", \
     500 with lines dt 2 title "target 500/s", \
     "" using 1:4 axes x1y2 with linespoints title "p50 ms", \
     "" using 1:5 axes x1y2 with linespoints title "p99 ms"
EOF
fi
cat "$RESULT_MD"
echo "results: $RESULT_JSON $RESULT_MD" >&2
