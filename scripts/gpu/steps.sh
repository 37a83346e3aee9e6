# Sourced by scripts/gpu/device-run.sh: bounded steps and background servers, each recorded as one JSON line in
# $STEPS. The caller sets W (work folder), L (logs folder), STEPS and DEADLINE_AT (epoch seconds after which no step
# starts and running ones are cut). Background processes are waited for by explicit PID only: a bare `wait` would
# also wait for any process substitution of the caller and hang.

T0=$(date +%s)
SERVER_PID=

el() { echo "[t+$(($(date +%s) - T0))s] $*"; }

# The last non-blank line of a log (progress lines end in \r), cut to 200 characters.
last_line() { tr '\r' '\n' <"$1" | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c1-200; }

# record NAME STATUS RC SECONDS NOTE
record() {
  local note
  note=$(printf '%s' "$5" | tr -cd '[:print:]' | tr '"\\' "''")
  printf '{"step": "%s", "status": "%s", "rc": %d, "seconds": %d, "note": "%s"}\n' "$1" "$2" "$3" "$4" "$note" \
    >>"$STEPS"
  [ "$2" = ok ] || el "$1: $2${note:+ ($note)}"
}

skip() { record "$1" skipped 0 0 "$2"; }

# Seconds left before the deadline (at most $1).
time_left() {
  local left=$((DEADLINE_AT - $(date +%s)))
  [ "$left" -lt "$1" ] || left=$1
  echo "$left"
}

# step NAME LIMIT COMMAND...: runs COMMAND (an executable, not a shell function) with its output in $L/NAME.log,
# killed after LIMIT seconds or at the deadline, whichever comes first; prints the log's last lines and records the
# outcome. Returns COMMAND's exit status.
step() {
  local name=$1 limit; limit=$(time_left "$2"); shift 2
  if [ "$limit" -le 5 ]; then
    skip "$name" "no time left before the deadline"
    return 1
  fi
  el "== $name (at most ${limit}s)"
  local start rc status=ok
  start=$(date +%s)
  timeout -k 5 "$limit" "$@" </dev/null >"$L/$name.log" 2>&1
  rc=$?
  tr '\r' '\n' <"$L/$name.log" | grep -v '^[[:space:]]*$' | tail -n 12 | cut -c1-240
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    status=timeout
  elif [ $rc -ne 0 ]; then
    status=failed
  fi
  record "$name" "$status" "$rc" $(($(date +%s) - start)) "$(last_line "$L/$name.log")"
  return $rc
}

# start_server NAME PATTERN LIMIT COMMAND...: starts COMMAND in the background (output in $L/NAME.log, PID in
# SERVER_PID) and waits until its log has a line matching PATTERN; fails if it exits or LIMIT seconds pass first.
start_server() {
  local name=$1 pattern=$2 limit; limit=$(time_left "$3"); shift 3
  if [ "$limit" -le 5 ]; then
    skip "$name" "no time left before the deadline"
    return 1
  fi
  el "== $name (ready within ${limit}s)"
  local start
  start=$(date +%s)
  "$@" </dev/null >"$L/$name.log" 2>&1 &
  SERVER_PID=$!
  until grep -q "$pattern" "$L/$name.log"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID"
      record "$name" failed $? $(($(date +%s) - start)) "exited: $(last_line "$L/$name.log")"
      SERVER_PID=
      tail -n 20 "$L/$name.log"
      return 1
    fi
    if [ $(($(date +%s) - start)) -ge "$limit" ]; then
      stop_server
      record "$name" timeout 124 "$limit" "not ready: $(last_line "$L/$name.log")"
      return 1
    fi
    sleep 0.5
  done
  grep -E "$pattern|WARN|ERROR|FAILED" "$L/$name.log" | head -n 30 | cut -c1-240
  record "$name" ok 0 $(($(date +%s) - start)) ""
}

# Stops the server started last: SIGTERM, up to 30 s to drain, then SIGKILL.
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  local i
  for i in $(seq 60); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}
