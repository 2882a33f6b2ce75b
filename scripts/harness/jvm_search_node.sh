# shellcheck shell=bash
# Shared body of the embedded search-engine services (svc/elasticsearch, svc/elasticsearch7,
# svc/elasticsearch-tiers, svc/opensearch-tiers): a node (or a small cluster of nodes) run
# from a Maven launcher project under tests/, with the same contract as svc/opensearch:
#
#   <svc> install            build the launcher project unless target/ is up to date
#   <svc> start <statedir>   start the node(s) on 127.0.0.1 with free ports, wait for the
#                            cluster; <statedir>/<svc>.pid holds one java PID per line,
#                            <statedir>/<svc>.log the first node's log (<svc>.<node>.log for
#                            the others), data under <statedir>/<svc>-home/ (wiped at each
#                            start: every start is an empty cluster); writes and prints
#                            <statedir>/<svc>.env (one export line)
#   <svc> stop <statedir>    TERM the recorded PIDs (KILL after 20 s); only PIDs that still
#                            run our launcher on this statedir's home are signalled
#
# The sourcing script sets, then calls search_node_main "$@":
#   NAME PROJECT MAIN_CLASS ENV_VAR HEAP TIMEOUT   (see svc/elasticsearch for an example)
#   NODES=(id ...)           one id per JVM; the first one serves the URL that is exported
#   JVM_EXTRA=(...)          extra JVM options (may be empty)
#   node_args ID             function printing that node's launcher settings, one key=value
#                            per line; HTTP_PORT[id] and TRANSPORT_PORT[id] of every node are
#                            set before any node is launched (for discovery.seed_hosts)
#   HEALTH_QUERY             query string for /_cluster/health that means "ready"
#   after_start URL          optional function run once the cluster is ready
set -euo pipefail

log() { echo "[harness] $NAME: $*" >&2; }
die() { echo "[harness] ERROR: $NAME: $*" >&2; exit 1; }

STAMP="$PROJECT/target/.almanac-built"
declare -A HTTP_PORT=() TRANSPORT_PORT=() NODE_PID=()

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Up to date when the stamp exists, the jars were copied, and no source is newer.
is_built() {
  [ -f "$STAMP" ] && [ -d "$PROJECT/target/lib" ] && [ -d "$PROJECT/target/classes" ] &&
    [ -z "$(find "$PROJECT/pom.xml" "$PROJECT/src" -newer "$STAMP" -print -quit)" ]
}

cmd_install() {
  command -v java >/dev/null || die "java not found (needs Java 17)"
  command -v mvn >/dev/null || die "mvn not found (needs Maven 3)"
  (
    flock 9
    if is_built; then log "build is up to date"; exit 0; fi
    log "building $PROJECT (the first build downloads jars from Maven Central)"
    cd "$PROJECT"
    rm -f "$STAMP"
    # Offline first: once ~/.m2 holds the jars the build needs no network.
    if ! mvn -o -q -B package >/dev/null 2>&1; then
      mvn -q -B package >&2 || die "maven build failed in $PROJECT"
    fi
    touch "$STAMP"
  ) 9>"/tmp/almanac-harness-$(basename "$PROJECT" -node)-build.lock"  # same lock as svc/opensearch
}

# service_home STATEDIR: every node's home is this directory or below it.
service_home() { echo "$1/$NAME-home"; }
node_home() { if [ "${#NODES[@]}" -eq 1 ]; then echo "$1/$NAME-home"; else echo "$1/$NAME-home/$2"; fi; }
node_log() { if [ "$2" = "${NODES[0]}" ]; then echo "$1/$NAME.log"; else echo "$1/$NAME.$2.log"; fi; }

# pid_is_ours PID HOME: PID is alive (not a zombie) and its command line has an argument that
# is HOME or lies below it (PIDs get reused; the launcher's first argument is its home).
pid_is_ours() {
  local pid="$1" home="$2" arg
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && return 1
  while IFS= read -r -d '' arg; do
    case "$arg" in "$home" | "$home"/*) return 0 ;; esac
  done <"/proc/$pid/cmdline" 2>/dev/null
  return 1
}

cmd_stop() {
  local statedir pidf home pid i alive
  statedir="$(cd "$1" 2>/dev/null && pwd)" || { log "no state dir $1"; return 0; }
  pidf="$statedir/$NAME.pid"
  [ -f "$pidf" ] || { log "no pid file in $statedir"; return 0; }
  home="$(service_home "$statedir")"
  local pids=()
  while read -r pid; do
    [ -n "$pid" ] || continue
    if pid_is_ours "$pid" "$home"; then
      pids+=("$pid")
      kill -TERM "$pid" 2>/dev/null || true
    else
      log "pid $pid is not running our node (stale pid file)"
    fi
  done <"$pidf"
  for i in $(seq 1 200); do
    alive=0
    for pid in ${pids[@]+"${pids[@]}"}; do pid_is_ours "$pid" "$home" && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in ${pids[@]+"${pids[@]}"}; do
    if pid_is_ours "$pid" "$home"; then
      log "pid $pid still alive after 20 s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do pid_is_ours "$pid" "$home" || break; sleep 0.1; done
    fi
    # The exited java stays a zombie until init reaps it; give that a moment so callers
    # checking `kill -0` right after stop see it gone.
    for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "stopped pid $pid"
  done
  rm -f "$pidf"
}

fail_start() {
  local statedir="$2" id
  echo "[harness] ERROR: $NAME: $1; last log lines:" >&2
  for id in "${NODES[@]}"; do
    echo "---- $(node_log "$statedir" "$id")" >&2
    tail -n 40 "$(node_log "$statedir" "$id")" >&2 2>/dev/null || true
  done
  cmd_stop "$statedir" || true
  exit 1
}

# launch_all STATEDIR: fresh free ports for every node, then start every JVM detached.
launch_all() {
  local statedir="$1" id home used=" " p
  for id in "${NODES[@]}"; do
    for p in HTTP TRANSPORT; do
      local port; port="$(free_port)"
      while [[ "$used" == *" $port "* ]]; do port="$(free_port)"; done
      used+="$port "
      if [ "$p" = HTTP ]; then HTTP_PORT[$id]=$port; else TRANSPORT_PORT[$id]=$port; fi
    done
  done
  URL="http://127.0.0.1:${HTTP_PORT[${NODES[0]}]}"
  : >"$statedir/$NAME.pid"
  for id in "${NODES[@]}"; do
    home="$(node_home "$statedir" "$id")"
    rm -rf "$home"
    mkdir -p "$home/tmp"
    local args=()
    mapfile -t args < <(node_args "$id")
    setsid nohup java \
      "-Xms$HEAP" "-Xmx$HEAP" -Xss1m \
      -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
      "-Djava.io.tmpdir=$home/tmp" \
      -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true \
      ${JVM_EXTRA[@]+"${JVM_EXTRA[@]}"} \
      -cp "$PROJECT/target/lib/*:$PROJECT/target/classes" \
      "$MAIN_CLASS" "$home" "${HTTP_PORT[$id]}" "${TRANSPORT_PORT[$id]}" \
      ${args[@]+"${args[@]}"} \
      >"$(node_log "$statedir" "$id")" 2>&1 </dev/null &
    # setsid does not fork here (a background job is no process-group leader): $! is java.
    NODE_PID[$id]=$!
    echo "${NODE_PID[$id]}" >>"$statedir/$NAME.pid"
    local what="node $id"
    [ "${#NODES[@]}" -eq 1 ] && what="node"
    log "started $what, pid ${NODE_PID[$id]}, http 127.0.0.1:${HTTP_PORT[$id]}, transport ${TRANSPORT_PORT[$id]} (log $(node_log "$statedir" "$id"))"
  done
}

cmd_start() {
  local statedir deadline code started attempt id dead
  mkdir -p "$1"
  statedir="$(cd "$1" && pwd)"

  cmd_install
  # A start over a live recorded instance restarts it.
  [ -f "$statedir/$NAME.pid" ] && cmd_stop "$statedir"
  rm -f "$statedir/$NAME.env"
  # Every start is a fresh, empty cluster: no indices or settings leak between test runs.
  rm -rf "$(service_home "$statedir")"

  started=$SECONDS
  deadline=$((SECONDS + TIMEOUT))
  attempt=1
  launch_all "$statedir"
  while :; do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
      "$URL/_cluster/health?$HEALTH_QUERY&timeout=5s" || true)"
    [ "$code" = 200 ] && break
    dead=""
    for id in "${NODES[@]}"; do
      pid_is_ours "${NODE_PID[$id]}" "$(service_home "$statedir")" || dead="$id"
    done
    if [ -n "$dead" ]; then
      # Another service may have taken a port between free_port and the bind: retry.
      if [ "$attempt" -lt 3 ] && grep -q 'Address already in use' "$(node_log "$statedir" "$dead")"; then
        log "port taken before node $dead bound it; retrying with new ports"
        attempt=$((attempt + 1))
        cmd_stop "$statedir"
        launch_all "$statedir"
        continue
      fi
      fail_start "$([ "${#NODES[@]}" -eq 1 ] && echo "the node" || echo "node $dead") (pid ${NODE_PID[$dead]}) exited before the cluster was ready" "$statedir"
    fi
    [ "$SECONDS" -ge "$deadline" ] && fail_start "not ready after ${TIMEOUT}s ($HEALTH_QUERY; last HTTP status ${code:-none})" "$statedir"
    sleep 0.5
  done
  log "ready ($HEALTH_QUERY) after $((SECONDS - started))s"

  if declare -F after_start >/dev/null; then
    after_start "$URL" || fail_start "post-start setup failed" "$statedir"
  fi

  echo "export $ENV_VAR=$URL" >"$statedir/$NAME.env.tmp"
  mv "$statedir/$NAME.env.tmp" "$statedir/$NAME.env"
  cat "$statedir/$NAME.env"
}

search_node_main() {
  case "${1:-}" in
    install) cmd_install ;;
    start) [ $# -ge 2 ] || die "usage: $0 start <statedir>"; cmd_start "$2" ;;
    stop) [ $# -ge 2 ] || die "usage: $0 stop <statedir>"; cmd_stop "$2" ;;
    *) die "usage: $0 install | start <statedir> | stop <statedir>" ;;
  esac
}
