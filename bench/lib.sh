# bench/lib.sh: what the bench scripts share. Sourced, not run.
#
# Starts the bundled broker (config/mosquitto-demo.conf + the project's ACL,
# as tools/dev does, plus the echo peer's topics), the RTC emulator and
# meetingd on free loopback ports, runs loadgen, samples /proc, and writes
# results under bench/results/. Everything a script starts is stopped on exit.
#
# Environment:
#   BUILD_DIR   where the binaries are (default: build-bench/, then build/)
#   RESULTS_DIR default bench/results
#   BENCH_TAG   a word added to the result file names (e.g. nodelay)
#   BENCH_KEEP  1: keep the run directory (logs, databases) in /tmp
#   BROKER_NODELAY  1 (default): the broker sets TCP_NODELAY on its sockets
#               (set_tcp_nodelay true, which config/mosquitto-demo.conf lacks);
#               0: the demo configuration as it is (every message that follows
#               another within an RTT waits up to 40 ms for a delayed ACK)
#   NODE_ARGS   extra meetingd options for every node started (e.g.
#               --caf#scheduler.policy=sharing)
#   EMULATOR    the rtc-emulator binary (default: BUILD_DIR's)
#   NODE_PRELOAD libraries preloaded into meetingd (e.g. another malloc)
#   NODE_NODELAY 1: run meetingd with bench/net_preload.so setting TCP_NODELAY
#               on its sockets (Paho does not). Default 0: the node as built.
#   EMULATOR_BACKLOG N (default 4096): run the emulator with
#               bench/net_preload.so raising its listen backlog to N
#               (cpp-httplib's is 5: bursts of reconnects lose SYNs, 1 s each).
#   EMULATOR_NODELAY 1 (default): the same shim sets TCP_NODELAY on the
#               connections the emulator accepts (cpp-httplib does not: each
#               answer waits 40 ms for curl's delayed ACK). The emulator
#               stands in for Aliyun's service; its artefacts are not the
#               node's. EMULATOR_BACKLOG=0 EMULATOR_NODELAY=0: as built.
#   PG_BIN      PostgreSQL's bin directory for start_pg (default: the highest
#               /usr/lib/postgresql/*/bin)
#   PG_SHARED_BUFFERS  the throwaway server's shared_buffers (default 256MB)
#   PG_ARGS     extra server settings for start_pg, as postgres options
#               (e.g. "-c synchronous_commit=off" to see what durability costs)
#   BENCH_NODE_IDS  the node ids that get a broker login at start_broker
#               (default: bench-node); several nodes on one PostgreSQL
#               (bench/cluster.sh) list each, and start each with
#               NODE_ID=<id> start_node ...
set -euo pipefail

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${BUILD_DIR:-}" ]; then
  if [ -x "$bench_root/build-bench/tools/loadgen/loadgen" ]; then
    BUILD_DIR=$bench_root/build-bench
  else
    BUILD_DIR=$bench_root/build
  fi
fi
LOADGEN=$BUILD_DIR/tools/loadgen/loadgen
MEETINGD=${MEETINGD:-$BUILD_DIR/actors/meetingd}
EMULATOR=${EMULATOR:-$BUILD_DIR/tools/rtc_emulator/rtc-emulator}
STORE_BENCH=$BUILD_DIR/bench/store_bench
MEETCTL=$BUILD_DIR/tools/meetctl/meetctl
PRELOAD_SO=$BUILD_DIR/bench/net_preload.so
FSYNC_FLOOR=$BUILD_DIR/bench/fsync_floor
MQTT_FLOOR=$BUILD_DIR/bench/mqtt_floor
BROKER_NODELAY=${BROKER_NODELAY:-1}
NODE_NODELAY=${NODE_NODELAY:-0}
EMULATOR_BACKLOG=${EMULATOR_BACKLOG:-4096}
EMULATOR_NODELAY=${EMULATOR_NODELAY:-1}
RESULTS_DIR=${RESULTS_DIR:-$bench_root/bench/results}
mkdir -p "$RESULTS_DIR"

for bin in "$LOADGEN" "$MEETINGD" "$EMULATOR"; do
  if [ ! -x "$bin" ]; then
    echo "bench: $bin is missing; build with:" >&2
    echo "  cmake -S $bench_root -B $bench_root/build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo" >&2
    echo "  ninja -C $bench_root/build-bench loadgen meetingd rtc-emulator store_bench net_preload meetctl fsync_floor" >&2
    exit 1
  fi
done

# Not secrets: the emulator checks signatures with this pair, and loadgen
# signs its login tickets with the ticket secret.
export RTC_ACCESS_KEY_ID=bench-access-key-id
export RTC_ACCESS_KEY_SECRET=bench-access-key-secret
export LOGIN_TICKET_SECRET=bench-ticket-secret
BENCH_NODE_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# The node's login (tools/broker-logins add node bench-node), also the echo peer's.
BENCH_NODE_USER='GID_MEETING_UP@@@bench-node'
BENCH_NODE_IDS=${BENCH_NODE_IDS:-bench-node}
BENCH_CONSOLE=bench-console

bench_run=$(mktemp -d /tmp/meetingd-bench-XXXXXX)
bench_stamp=$(date +%Y%m%d-%H%M%S)
bench_pids=()
BROKER_PID= EMULATOR_PID= NODE_PID=
NODE_PIDS=() # every node start_node started and stop_node has not stopped
MQTT_PORT= RTC_PORT=

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

bench_cleanup() {
  # The node first (it drains through the broker), then the others.
  local i pid
  for ((i = ${#bench_pids[@]} - 1; i >= 0; i--)); do
    pid=${bench_pids[$i]}
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # PostgreSQL after the node (which writes its clean shutdown there).
  [ -z "${PG_DATA:-}" ] || stop_pg immediate
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "bench: kept $bench_run" >&2
  else
    rm -rf "$bench_run"
  fi
}
trap bench_cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local p=$((20000 + RANDOM % 20000))
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

wait_for() { # wait_for <seconds> <command...>
  local deadline=$((SECONDS + $1)); shift
  until "$@" 2>/dev/null; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

forget_pid() { # forget_pid <pid>: it was stopped on purpose
  local keep=() p
  for p in "${bench_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  bench_pids=("${keep[@]}")
}

# -- processes ----------------------------------------------------------------------

# start_broker [extra config lines...]: the bundled broker as tools/dev starts
# it, plus the echo peer's topics in the ACL (loadgen --mode echo).
start_broker() {
  local attempt
  for attempt in 1 2 3 4 5; do
    start_broker_once "$@" && return 0
  done
  echo "bench: mosquitto did not start" >&2
  exit 1
}

start_broker_once() {
  MQTT_PORT=$(free_port)
  local dir=$bench_run/broker-$MQTT_PORT
  mkdir -p "$dir"
  cp "$bench_root/config/mosquitto.acl" "$dir/acl"
  local id
  for id in $BENCH_NODE_IDS; do # one login per node, the same password
    "$bench_root/tools/broker-logins" --passwd "$dir/passwd" --acl "$dir/acl" \
      add node "$id" --password-stdin <<<"$BENCH_NODE_PASSWORD" >/dev/null
  done
  {
    echo
    echo "# loadgen --mode echo: devices publish on bench/echo/<client id> and read"
    echo "# bench/reply/<client id>; the echo peer logs in as the node's user."
    echo "pattern write bench/echo/%c"
    echo "pattern read bench/reply/%c"
    echo "user $BENCH_NODE_USER"
    echo "topic read bench/echo/+"
    echo "topic write bench/reply/+"
  } >>"$dir/acl"
  {
    cat "$bench_root/config/mosquitto-demo.conf"
    echo "listener $MQTT_PORT 127.0.0.1"
    echo "password_file $dir/passwd"
    echo "acl_file $dir/acl"
    [ "$(id -u)" -eq 0 ] && echo "user root"
    [ "$BROKER_NODELAY" = 1 ] && echo "set_tcp_nodelay true"
    local line
    for line in "$@"; do echo "$line"; done
  } >"$dir/mosquitto.conf"
  mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
  BROKER_PID=$!
  if ! wait_for 10 bash -c "kill -0 $BROKER_PID && grep -q 'Opening ipv4 listen socket' '$dir/mosquitto.log' && exec 3<>/dev/tcp/127.0.0.1/$MQTT_PORT"; then
    cat "$dir/mosquitto.log" >&2
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    return 1
  fi
  if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    cat "$dir/mosquitto.log" >&2
    return 1
  fi
  bench_pids+=("$BROKER_PID")
}

stop_broker() {
  [ -n "$BROKER_PID" ] || return 0
  kill "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  forget_pid "$BROKER_PID"
  BROKER_PID=
}

# start_emulator [rtc-emulator options...]
start_emulator() {
  local attempt log
  for attempt in 1 2 3 4 5; do
    RTC_PORT=$(free_port)
    log=$bench_run/rtc-emulator-$RTC_PORT.log
    local preload=
    if [ "$EMULATOR_BACKLOG" != 0 ] || [ "$EMULATOR_NODELAY" = 1 ]; then
      [ -f "$PRELOAD_SO" ] || { echo "bench: $PRELOAD_SO is missing (ninja net_preload)" >&2; exit 1; }
      preload=$PRELOAD_SO
    fi
    LD_PRELOAD=$preload NET_PRELOAD_BACKLOG=$EMULATOR_BACKLOG NET_PRELOAD_NODELAY=$EMULATOR_NODELAY \
      "$EMULATOR" --listen="127.0.0.1:$RTC_PORT" --log-level=warn "$@" >"$log" 2>&1 &
    EMULATOR_PID=$!
    if wait_for 10 bash -c "kill -0 $EMULATOR_PID && grep -q 'listening on' '$log'"; then
      bench_pids+=("$EMULATOR_PID")
      return 0
    fi
    cat "$log" >&2
    kill "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
  done
  echo "bench: rtc-emulator did not start" >&2
  exit 1
}

stop_emulator() {
  [ -n "$EMULATOR_PID" ] || return 0
  kill "$EMULATOR_PID" 2>/dev/null || true
  wait "$EMULATOR_PID" 2>/dev/null || true
  forget_pid "$EMULATOR_PID"
  EMULATOR_PID=
}

# -- PostgreSQL --------------------------------------------------------------------

# start_pg: a throwaway PostgreSQL cluster for this run (initdb -A trust, role
# meetingd, a superuser), on a free loopback port, its socket and data under
# the run directory; stopped on exit. Durability as in production: fsync and
# synchronous_commit on (PostgreSQL's defaults); shared_buffers
# $PG_SHARED_BUFFERS. As root, initdb and postgres run as the postgres user
# (PostgreSQL refuses root). Sets PG_PORT, PG_DATA, PG_LOG.
PG_SHARED_BUFFERS=${PG_SHARED_BUFFERS:-256MB}
PG_PORT= PG_DATA= PG_LOG=

pg_as() { # runs a PostgreSQL server program as the user it must run as
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

find_pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  local d best=
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && best=$d
  done
  [ -n "$best" ] || { echo "bench: no PostgreSQL in /usr/lib/postgresql/*/bin; set PG_BIN" >&2; exit 1; }
  echo "$best"
}

start_pg() {
  PG_BIN=$(find_pg_bin)
  local dir=$bench_run/pg attempt
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chmod 711 "$bench_run" # the postgres user passes through to its own directory
    chown postgres: "$dir"
  fi
  PG_LOG=$dir/postgres.log
  # --no-sync: initdb's own files only; the server fsyncs everything it writes.
  if ! pg_as "$PG_BIN/initdb" -D "$dir/data" -A trust -U meetingd -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    echo "bench: initdb failed" >&2
    exit 1
  fi
  PG_DATA=$dir/data
  for attempt in 1 2 3 4 5; do
    PG_PORT=$(free_port)
    if pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
        -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c shared_buffers=$PG_SHARED_BUFFERS ${PG_ARGS:-}" \
        start >"$dir/pg_ctl.log" 2>&1; then
      return 0
    fi
    tail -n 5 "$PG_LOG" >&2 || true
  done
  echo "bench: PostgreSQL did not start (log: $PG_LOG)" >&2
  exit 1
}

# stop_pg [fast|immediate]: immediate skips the shutdown checkpoint (for data
# about to be deleted).
stop_pg() {
  [ -n "${PG_DATA:-}" ] || return 0
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -w -t 60 stop >/dev/null 2>&1 || true
  PG_DATA=
}

# pg_pids: the server's processes (postmaster, its backends and helpers), joined
# by commas (for cpu_hook).
pg_pids() {
  local pm
  pm=$(head -n 1 "$PG_DATA/postmaster.pid")
  { echo "$pm"; pgrep -P "$pm"; } | paste -sd,
}

# pg_uri <database>: what --db takes.
pg_uri() { echo "postgresql://meetingd@127.0.0.1:$PG_PORT/$1"; }

# pg_sql <database> <sql>: runs sql; rows unaligned, | between columns.
pg_sql() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h 127.0.0.1 -p "$PG_PORT" -U meetingd -d "$1" -c "$2"
}

# create_pg_db <name>: a new, empty database; prints its URI.
create_pg_db() {
  pg_sql postgres "CREATE DATABASE \"$1\"" >/dev/null
  pg_uri "$1"
}

# pg_settings_json: the server's version and the settings that decide what a
# commit costs and how much it caches, as JSON (values with their units).
pg_settings_json() {
  local rows
  rows=$(pg_sql postgres "SELECT name, CASE WHEN unit = '8kB' THEN pg_size_pretty(setting::bigint * 8192)
                                 ELSE setting || coalesce(unit, '') END FROM pg_settings
    WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'full_page_writes',
                   'wal_sync_method', 'shared_buffers', 'wal_level', 'max_wal_size',
                   'checkpoint_timeout', 'work_mem', 'jit', 'wal_buffers', 'commit_delay',
                   'lc_collate')
    ORDER BY name")
  jq -Rn --arg fs "$(df -T "$PG_DATA" 2>/dev/null | awk 'NR == 2 {print $2}')" \
    '[inputs | split("|") | {key: .[0], value: .[1]}] | from_entries | . + {data_filesystem: $fs}' <<<"$rows"
}

# start_node <db> [meetingd options...]: starts meetingd and waits for
# lmq.ready. Sets NODE_PID, NODE_LOG, NODE_HTTP_PORT (its /metrics) and NODE_READY_MS (exec to lmq.ready, as
# seen from here: the log is polled every 5 ms), and adds NODE_PID to
# NODE_PIDS. NODE_ID=<id> start_node ...: another node id than bench-node
# (it needs a broker login: list it in BENCH_NODE_IDS before start_broker).
start_node() {
  local db=$1; shift
  local node_id=${NODE_ID:-bench-node}
  NODE_LOG=$bench_run/meetingd-$(date +%s%N).log
  local t0 t1
  local preload=${NODE_PRELOAD:-}
  if [ "$NODE_NODELAY" = 1 ]; then
    [ -f "$PRELOAD_SO" ] || { echo "bench: $PRELOAD_SO is missing (ninja net_preload)" >&2; exit 1; }
    preload="$preload${preload:+ }$PRELOAD_SO"
  fi
  NODE_HTTP_PORT=$(free_port)
  t0=$(date +%s%N)
  LD_PRELOAD=$preload NET_PRELOAD_NODELAY=$NODE_NODELAY MQTT_USERNAME="GID_MEETING_UP@@@$node_id" MQTT_PASSWORD=$BENCH_NODE_PASSWORD \
    "$MEETINGD" --broker="tcp://127.0.0.1:$MQTT_PORT" \
    --rtc-endpoint="http://127.0.0.1:$RTC_PORT" --db="$db" --app-id=g10dhbxp \
    --node-id="$node_id" --admins="$BENCH_CONSOLE" --pbkdf2-iterations=1000 \
    --rate-limit=0 --max-meetings-per-user=0 --max-creates-per-minute=0 --log-level=info \
    --http="127.0.0.1:$NODE_HTTP_PORT" "$@" ${NODE_ARGS:-} >"$NODE_LOG" 2>&1 &
  NODE_PID=$!
  bench_pids+=("$NODE_PID")
  NODE_PIDS+=("$NODE_PID")
  local deadline=$((SECONDS + ${NODE_START_TIMEOUT:-120}))
  until grep -q "lmq.ready" "$NODE_LOG" 2>/dev/null; do
    if ! kill -0 "$NODE_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "bench: meetingd did not become ready:" >&2
      tail -n 20 "$NODE_LOG" >&2
      exit 1
    fi
    sleep 0.005
  done
  t1=$(date +%s%N)
  NODE_READY_MS=$(( (t1 - t0) / 1000000 ))
}

# stop_node [pid]: SIGTERM, wait for the clean exit. Without a pid: the node
# start_node started last (NODE_PID).
stop_node() {
  local pid=${1:-$NODE_PID}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_node "$pid"
}

# forget_node <pid>: the node is gone (stopped, or killed on purpose).
forget_node() {
  local keep=() p
  forget_pid "$1"
  for p in "${NODE_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  NODE_PIDS=("${keep[@]}")
  [ "$NODE_PID" != "$1" ] || NODE_PID=
}

# node_log_field <field>: the value of field=... in the last node.started line.
node_log_field() {
  grep "node.started" "$NODE_LOG" | tail -n 1 | grep -oE "$1=[^ ]+" | head -n 1 | cut -d= -f2 | tr -d '"'
}

# node_failures_json: the node's 500s so far (cmd.failed lines), as JSON.
node_failures_json() {
  local n first
  n=$(grep -c "cmd.failed" "$NODE_LOG" || true)
  first=$(grep -m 3 "cmd.failed" "$NODE_LOG" | cut -c1-300 || true)
  jq -n --argjson n "${n:-0}" --arg first "$first" '{internal_errors: $n, first: ($first | split("\n"))}'
}

# -- measurements -------------------------------------------------------------------

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# cpu_ticks <pid>: utime + stime in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

loadavg1() { cut -d' ' -f1 /proc/loadavg; }

# run_loadgen <json out> [loadgen options...]: against the current broker.
run_loadgen() {
  local out=$1; shift
  "$LOADGEN" --broker="tcp://127.0.0.1:$MQTT_PORT" --console="$BENCH_CONSOLE" \
    --json="$out" "$@"
}

# cpu_hook <file> <pid...>: a shell command (for loadgen --on-ready/--on-done)
# that records the time and the CPU ticks of these processes. A pid list
# joined by commas (pg_pids) is one line: the sum of its processes' ticks.
cpu_hook() {
  local file=$1; shift
  local cmd="{ date +%s%N"
  local pid
  for pid in "$@"; do
    if [[ $pid == *,* ]]; then
      cmd+="; cat $(sed 's|\([0-9]*\)|/proc/\1/stat|g; s|,| |g' <<<"$pid") 2>/dev/null | awk '{s += \$14 + \$15} END {print s + 0}'"
    else
      cmd+="; awk '{print \$14 + \$15}' /proc/$pid/stat"
    fi
  done
  cmd+="; } > $file"
  echo "$cmd"
}

# cpu_share <start file> <end file> <index>: CPU used by the index-th process
# between the two samples, in percent of one CPU.
cpu_share() {
  local t0 t1 c0 c1
  t0=$(sed -n 1p "$1"); t1=$(sed -n 1p "$2")
  c0=$(sed -n "$(($3 + 1))p" "$1"); c1=$(sed -n "$(($3 + 1))p" "$2")
  awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$CLK_TCK" \
    'BEGIN { printf "%.1f", 100 * (c1 - c0) / hz / ((t1 - t0) / 1e9) }'
}

# node_hook <file> <pid> <http port>: a shell command (for loadgen
# --on-ready/--on-done, beside cpu_hook's) that records, one per line as
# cpu_hook does (cpu_share reads it): the time; the context switches of all
# the node's threads so far (voluntary + nonvoluntary, /proc/<pid>/task/*/
# status); its store commits so far and their total time in seconds
# (meetingd_store_commit_duration_seconds _count and _sum on its /metrics
# page; empty lines if the page did not answer).
node_hook() {
  local file=$1 pid=$2 port=$3
  local cmd="{ date +%s%N"
  cmd+="; cat /proc/$pid/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ {s += \$2} END {print s + 0}'"
  cmd+="; curl -fsS --max-time 2 http://127.0.0.1:$port/metrics 2>/dev/null | awk '\$1 == \"meetingd_store_commit_duration_seconds_count\" {c = \$2} \$1 == \"meetingd_store_commit_duration_seconds_sum\" {s = \$2} END {print c; print s}'"
  cmd+="; } > $file"
  echo "$cmd"
}

# sample_delta <start file> <end file> <index>: how much the index-th value
# of two cpu_hook or node_hook samples grew (empty if either lacks it).
sample_delta() {
  local v0 v1
  v0=$(sed -n "$(($3 + 1))p" "$1"); v1=$(sed -n "$(($3 + 1))p" "$2")
  [ -n "$v0" ] && [ -n "$v1" ] || return 0
  awk -v v0="$v0" -v v1="$v1" 'BEGIN { printf "%.6f", v1 - v0 }'
}

# sample_seconds <start file> <end file>: the seconds between two samples.
sample_seconds() {
  awk -v t0="$(sed -n 1p "$1")" -v t1="$(sed -n 1p "$2")" 'BEGIN { printf "%.3f", (t1 - t0) / 1e9 }'
}

# wal_frames_per_commit <database>-wal: the frames (pages) SQLite wrote per
# commit, over the commits whose frames are all still in the log: the
# current cycle's (from the start of the file) and the complete ones left of
# earlier cycles behind it (a checkpoint restarts the log at its start with
# new salts; frames of a cycle share its salts, and a commit's last frame
# holds the database's size). Empty if there are none. Read it while the
# node runs: the node removes its log when it stops.
wal_frames_per_commit() {
  local wal=$1 hdr ps
  [ -s "$wal" ] || return 0
  hdr=$(od -An -v -tx1 -N32 "$wal" | tr -d ' \n')
  [ "${#hdr}" -eq 64 ] || return 0
  ps=$((16#${hdr:16:8}))
  [ "$ps" -ne 1 ] || ps=65536
  # One line per frame, its 24-byte header: page number, the database's size
  # after the commit (0 but in a commit's last frame), salt-1, salt-2,
  # checksums. A cycle's first commit behind the current one lost its start.
  od -An -v -tx1 -j32 -w$((ps + 24)) "$wal" | cut -c1-72 | awk '
    { salt = $9 $10 $11 $12 $13 $14 $15 $16
      if (salt != last) { partial = NR > 1; n = 0; last = salt }
      n++
      if ($5 $6 $7 $8 != "00000000") { if (!partial) { frames += n; commits++ }; partial = 0; n = 0 } }
    END { if (commits > 0) printf "%.2f\n", frames / commits }' || true
}

machine_json() {
  jq -n --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    --arg kernel "$(uname -r)" --argjson nproc "$(nproc)" \
    --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --arg mem "$(awk '/MemTotal/ {print $2}' /proc/meminfo)" \
    --arg commit "$(git -C "$bench_root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --arg enl "$EMULATOR_NODELAY" --arg nargs "${NODE_ARGS:-}" --arg bnd "$BROKER_NODELAY" --arg nnd "$NODE_NODELAY" --arg eb "$EMULATOR_BACKLOG" \
    --arg dirty "$(git -C "$bench_root" status --porcelain 2>/dev/null | grep -q . && echo yes || echo no)" \
    '{cpu: $cpu, nproc: $nproc, kernel: $kernel, mem_kib: ($mem | tonumber),
      loadavg_at_start: $load, commit: $commit, uncommitted_changes: $dirty,
      shared_machine: true, broker_tcp_nodelay: ($bnd == "1"),
      node_tcp_nodelay_preload: ($nnd == "1"), emulator_backlog_preload: ($eb | tonumber),
      emulator_tcp_nodelay_preload: ($enl == "1"),
      node_args: $nargs}'
}

# result_paths <name>: sets RESULT_JSON, RESULT_MD and RESULT_PNG_PREFIX
# (bench/results/<name>[-<BENCH_TAG>]-<date>.*).
result_paths() {
  local base=$RESULTS_DIR/$1${BENCH_TAG:+-$BENCH_TAG}-$bench_stamp
  RESULT_JSON=$base.json
  RESULT_MD=$base.md
  RESULT_PNG_PREFIX=$base
}

# verdict <value> <op> <target>: "met" or "not met".
verdict() {
  awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
    ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "met" : "NOT met" }'
}
