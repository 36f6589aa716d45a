#!/usr/bin/env bash
# LocalStack (S3 only) on this machine without Docker ("host mode").
#
#   localstack/run-host.sh [start]   install if needed, start in the background,
#                                    wait for health, create the bucket, print env
#   localstack/run-host.sh stop      stop the LocalStack this script started
#   localstack/run-host.sh status    say whether it answers
#   localstack/run-host.sh env       print the variables to export
#
# Settings (environment):
#   TABLELOG_LOCALSTACK_HOME    venv, data, log, pid   (default .tools/localstack in the
#                               repository, an ignored folder; make clean removes it)
#   TABLELOG_LOCALSTACK_PYTHON  python (3.13+) to build the venv with (default: the
#                               newest ~/.pyenv/versions/3.13*, else `pyenv which
#                               python3.13`, else python3.13 on PATH).
#                               Not 3.12: localstack-core 2026.3.0 declares
#                               Requires-Python >=3.10 but imports warnings.deprecated
#                               (3.13+), so on 3.12 its runtime finds no components
#                               and exits at once.
#   TABLELOG_LOCALSTACK_PORT    gateway port on 127.0.0.1 (default 4566)
#   TABLELOG_BUCKET             bucket to create       (default tablelog-team)
#   TABLELOG_LOCALSTACK_TIMEOUT seconds to wait for health (default 180)
set -euo pipefail

LS_HOME="${TABLELOG_LOCALSTACK_HOME:-$(cd "$(dirname "$0")/.." && pwd)/.tools/localstack}"
PORT="${TABLELOG_LOCALSTACK_PORT:-4566}"
BUCKET="${TABLELOG_BUCKET:-tablelog-team}"
TIMEOUT="${TABLELOG_LOCALSTACK_TIMEOUT:-180}"
URL="http://127.0.0.1:${PORT}"
VENV="$LS_HOME/venv"
PIDFILE="$LS_HOME/localstack.pid"
LOG="$LS_HOME/localstack.log"
# Pinned: localstack-core 2026.3.0 needs these upper bounds to import.
SPEC=(
  "localstack-core[runtime]==2026.3.0"
  "cbor2<6"
  "pyopenssl>=25,<26"
  "cryptography>=45,<47"
  "service_identity<26.1"
)

say() { printf '%s\n' "run-host.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

find_python() {
  if [[ -n "${TABLELOG_LOCALSTACK_PYTHON:-}" ]]; then
    printf '%s\n' "$TABLELOG_LOCALSTACK_PYTHON"; return 0
  fi
  local minor cand
  for minor in 3.13; do
    # newest patch release first
    for cand in $(ls -d "$HOME"/.pyenv/versions/"$minor"*/bin/python 2>/dev/null | sort -V -r); do
      [[ -x "$cand" ]] && { printf '%s\n' "$cand"; return 0; }
    done
    if command -v pyenv >/dev/null 2>&1; then
      cand="$(pyenv which "python$minor" 2>/dev/null || true)"
      [[ -n "$cand" && -x "$cand" ]] && { printf '%s\n' "$cand"; return 0; }
    fi
    cand="$(command -v "python$minor" 2>/dev/null || true)"
    [[ -n "$cand" ]] && { printf '%s\n' "$cand"; return 0; }
  done
  return 1
}

health() {
  # prints the health JSON, fails when nothing answers
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 2 "$URL/_localstack/health"
  else
    python3 - "$URL/_localstack/health" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())
PY
  fi
}

s3_ready() {
  local h
  h="$(health 2>/dev/null)" || return 1
  [[ "$h" =~ \"s3\":\ *\"(running|available)\" ]]
}

print_env() {
  cat <<ENV
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=$URL
export TABLELOG_LOCALSTACK_URL=$URL
export TABLELOG_BUCKET=$BUCKET
ENV
}

install() {
  local stamp="$VENV/.tablelog-spec" want py
  py="$(find_python)" || die "no python 3.13 found (pyenv install 3.13, or set TABLELOG_LOCALSTACK_PYTHON)"
  want="$(printf '%s\n' "$py" "${SPEC[@]}")"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 13))' \
    || die "$py is $("$py" --version 2>&1); localstack-core 2026.3.0 needs python 3.13+ (it imports warnings.deprecated)"
  say "building $VENV with $py ($("$py" --version 2>&1))"
  mkdir -p "$LS_HOME"
  "$py" -m venv --clear "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  say "installing ${SPEC[*]}"
  "$VENV/bin/python" -m pip install --quiet "${SPEC[@]}"
  printf '%s\n' "$want" >"$stamp"
}

create_bucket() {
  "$VENV/bin/python" - "$URL" "$BUCKET" <<'PY'
import sys, boto3
from botocore.exceptions import ClientError
url, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
try:
    s3.create_bucket(Bucket=bucket)
    print(f"created bucket s3://{bucket}", file=sys.stderr)
except ClientError as e:
    if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
        raise
    print(f"bucket s3://{bucket} already there", file=sys.stderr)
PY
}

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

start() {
  if s3_ready; then
    say "LocalStack S3 already answers on $URL"
    create_bucket
    print_env
    return 0
  fi
  running_pid >/dev/null && die "LocalStack (pid $(cat "$PIDFILE")) runs but S3 does not answer on $URL; see $LOG or run: $0 stop"
  install
  mkdir -p "$LS_HOME/data" "$LS_HOME/tmp"
  say "starting LocalStack on $URL (log: $LOG)"
  local t0=$SECONDS
  # setsid: own process group so that stop can end LocalStack and its children
  SERVICES=s3 \
  EAGER_SERVICE_LOADING=1 \
  GATEWAY_LISTEN="127.0.0.1:$PORT" \
  LOCALSTACK_HOST="127.0.0.1:$PORT" \
  FILESYSTEM_ROOT="$LS_HOME/data" \
  TMPDIR="$LS_HOME/tmp" \
  SKIP_SSL_CERT_DOWNLOAD=1 \
  DISABLE_EVENTS=1 \
  LOCALSTACK_TELEMETRY_DISABLED=1 \
    setsid "$VENV/bin/python" -m localstack.runtime.main >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  until s3_ready; do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      tail -n 40 "$LOG" >&2 || true
      die "LocalStack exited before it was healthy (log above, full log: $LOG)"
    fi
    if (( SECONDS - t0 > TIMEOUT )); then
      tail -n 40 "$LOG" >&2 || true
      die "LocalStack not healthy on $URL after ${TIMEOUT}s (log: $LOG); stop it with: $0 stop"
    fi
    sleep 0.5
  done
  say "healthy after $(( SECONDS - t0 ))s (pid $(cat "$PIDFILE"))"
  create_bucket
  say "export these to use it (or: eval \"\$($0 env)\"):"
  print_env
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    say "no LocalStack started by this script is running"
    rm -f "$PIDFILE"; return 0
  fi
  say "stopping LocalStack (process group $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after 10s; SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status)
    if s3_ready; then say "S3 answers on $URL"; health; echo; else say "nothing healthy on $URL"; exit 1; fi ;;
  env) print_env ;;
  install) install ;;
  *) die "usage: $0 [start|stop|status|env|install]" ;;
esac
