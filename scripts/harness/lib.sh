# shellcheck shell=bash
# Shared helpers for the almanac test-server harness.
# Sourced by scripts/harness/{up,down} and scripts/harness/svc/*.

HARNESS_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HARNESS_SCRIPTS/../.." && pwd)"
HARNESS_VENV="$REPO_ROOT/.harness/venv"
HARNESS_READY_TIMEOUT="${HARNESS_READY_TIMEOUT:-60}"

log() { echo "[harness] $*" >&2; }
die() { echo "[harness] ERROR: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# default_statedir: <repo>/.harness/state unless ALMANAC_HARNESS_DIR is set.
default_statedir() { echo "${ALMANAC_HARNESS_DIR:-$REPO_ROOT/.harness/state}"; }

# abs_dir DIR: create DIR and print its absolute path.
abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

# apt_install PKG...: install Debian packages unless all are installed already.
apt_install() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$p")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  # Serialise concurrent installs (up may run services in parallel).
  (
    flock 9
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
      log "install failed; running apt-get update and retrying"
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update >&2
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
    fi
  ) 9>"/tmp/almanac-harness-apt.lock"
}

# venv_install MODULE... -- PIPSPEC...: make sure the shared venv exists and
# that every python MODULE imports in it; otherwise pip install PIPSPEC....
venv_install() {
  local mods=() specs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do mods+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  specs=("$@")
  (
    flock 9
    if [ ! -x "$HARNESS_VENV/bin/python" ]; then
      log "creating venv $HARNESS_VENV"
      mkdir -p "$(dirname "$HARNESS_VENV")"
      python3 -m venv "$HARNESS_VENV" >&2 || {
        apt_install python3-venv
        python3 -m venv "$HARNESS_VENV" >&2
      }
    fi
    local code="" m
    for m in "${mods[@]}"; do code+="import $m;"; done
    if ! "$HARNESS_VENV/bin/python" -c "$code" 2>/dev/null; then
      log "pip install ${specs[*]}"
      "$HARNESS_VENV/bin/python" -m pip install -q --disable-pip-version-check "${specs[@]}" >&2
    fi
  ) 9>"/tmp/almanac-harness-venv.lock"
}

# free_port: print a currently free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_bg NAME STATEDIR CMD...: start CMD detached (own session), log to
# STATEDIR/NAME.log, record its PID in STATEDIR/NAME.pid.
start_bg() {
  local name="$1" statedir="$2"; shift 2
  local logf="$statedir/$name.log"
  : >"$logf"
  # The tag lets stop_pid make sure a recorded PID is still our server
  # (and not an unrelated process that reused the PID).
  ALMANAC_HARNESS_TAG="$(harness_tag "$name" "$statedir")" \
    setsid nohup "$@" >>"$logf" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$statedir/$name.pid"
  log "$name started, pid $pid (log $logf)"
}

harness_tag() { echo "$1@$(cd "$2" && pwd)"; }

# pid_is_ours PID NAME STATEDIR: PID runs with our ALMANAC_HARNESS_TAG.
pid_is_ours() {
  local tag; tag="ALMANAC_HARNESS_TAG=$(harness_tag "$2" "$3")"
  [ -r "/proc/$1/environ" ] || return 0  # cannot check (not Linux/not permitted): trust the pid file
  grep -qxF "$tag" < <(tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null)
}

# pid_alive PID
pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# fail_start NAME STATEDIR MSG: print log tail, stop the process, exit 1.
fail_start() {
  local name="$1" statedir="$2" msg="$3"
  echo "[harness] ERROR: $name: $msg; last log lines:" >&2
  tail -n 40 "$statedir/$name.log" >&2 2>/dev/null || true
  stop_pid "$name" "$statedir" || true
  exit 1
}

# wait_until NAME STATEDIR DESC CMD...: poll CMD until it succeeds, the server
# died, or HARNESS_READY_TIMEOUT seconds passed.
wait_until() {
  local name="$1" statedir="$2" desc="$3"; shift 3
  local pid deadline=$((SECONDS + HARNESS_READY_TIMEOUT))
  pid="$(cat "$statedir/$name.pid" 2>/dev/null || true)"
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! pid_alive "$pid"; then fail_start "$name" "$statedir" "process $pid exited while waiting for $desc"; fi
    if [ "$SECONDS" -ge "$deadline" ]; then fail_start "$name" "$statedir" "timeout (${HARNESS_READY_TIMEOUT}s) waiting for $desc"; fi
    sleep 0.3
  done
}

# http_ok URL [SUBSTRING]: succeed when URL answers 2xx (and body contains SUBSTRING).
http_ok() {
  python3 - "$@" <<'PY'
import sys, urllib.request
url = sys.argv[1]; want = sys.argv[2] if len(sys.argv) > 2 else None
try:
    with urllib.request.urlopen(url, timeout=2) as r:
        body = r.read().decode("utf-8", "replace")
        ok = 200 <= r.status < 300 and (want is None or want in body)
except Exception:
    ok = False
sys.exit(0 if ok else 1)
PY
}

# http_answers URL: succeed when URL answers any HTTP status.
http_answers() {
  python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2).read()
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
PY
}

# tcp_banner HOST PORT PREFIX [tls]: succeed when the port sends a line starting with PREFIX.
tcp_banner() {
  python3 - "$@" <<'PY'
import socket, ssl, sys
host, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
use_tls = len(sys.argv) > 4 and sys.argv[4] == "tls"
try:
    s = socket.create_connection((host, port), timeout=2)
    if use_tls:
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s)
    data = s.recv(512).decode("ascii", "replace")
    try:
        s.sendall(b"QUIT\r\n"); s.recv(512)
    except Exception:
        pass
    s.close()
    sys.exit(0 if data.startswith(prefix) else 1)
except Exception:
    sys.exit(1)
PY
}

wait_http() { local name="$1" statedir="$2" url="$3"; shift 3; wait_until "$name" "$statedir" "$url" http_ok "$url" "$@"; }
wait_http_any() { wait_until "$1" "$2" "$3" http_answers "$3"; }
wait_tcp() { local name="$1" statedir="$2" host="$3" port="$4" prefix="${5:-}" tls="${6:-}"; wait_until "$name" "$statedir" "$host:$port" tcp_banner "$host" "$port" "$prefix" $tls; }

# write_env NAME STATEDIR KEY=VALUE...: write STATEDIR/NAME.env and print it.
write_env() {
  local name="$1" statedir="$2"; shift 2
  local f="$statedir/$name.env" kv
  : >"$f.tmp"
  for kv in "$@"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}" >>"$f.tmp"
  done
  mv "$f.tmp" "$f"
  cat "$f"
}

# stop_pid NAME STATEDIR: TERM the recorded PID, wait up to 10 s, then KILL.
stop_pid() {
  local name="$1" statedir="$2"
  local pidf="$statedir/$name.pid" pid i
  [ -f "$pidf" ] || { log "$name: no pid file"; return 0; }
  pid="$(cat "$pidf")"
  if pid_alive "$pid" && ! pid_is_ours "$pid" "$name" "$statedir"; then
    log "$name: pid $pid is not our server any more (stale pid file); not killing it"
  elif pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
      log "$name: pid $pid still alive after 10s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 20); do pid_alive "$pid" || break; sleep 0.1; done
    fi
    log "$name: stopped pid $pid"
  fi
  rm -f "$pidf"
}

# stop_if_running NAME STATEDIR: a start over a live recorded instance restarts it.
stop_if_running() {
  local pidf="$2/$1.pid"
  if [ -f "$pidf" ]; then
    log "$1: stopping previous instance recorded in $pidf"
    stop_pid "$1" "$2"
  fi
  rm -f "$2/$1.env"
}

# svc_main NAME "$@": dispatch install/start/stop to svc_install/svc_start/stop_pid.
svc_main() {
  local name="$1"; shift
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    install) svc_install ;;
    start)
      [ $# -ge 1 ] || die "usage: $0 start <statedir>"
      local sd; sd="$(abs_dir "$1")"
      stop_if_running "$name" "$sd"
      svc_start "$sd" ;;
    stop)
      [ $# -ge 1 ] || die "usage: $0 stop <statedir>"
      stop_pid "$name" "$1"
      rm -f "$1/$name.env" ;;
    *) die "usage: $0 install | start <statedir> | stop <statedir>" ;;
  esac
}
