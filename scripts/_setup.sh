# Sourced by scripts/test and scripts/demo: make sure uv exists, then sync the locked env.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv with pip" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
export UV_PYTHON="${UV_PYTHON:-3.11}"

# -- services ----------------------------------------------------------------------------------
# ensure_services: PostgreSQL and Redis for the tests on real services and scripts/cluster.
# Uses CREATIVE_POSTGRES_URL / CREATIVE_REDIS_URL when set, else the machine's servers on
# 127.0.0.1:5432 (trust auth, user postgres) and 127.0.0.1:6379. When one does not answer,
# installs Debian's postgresql / redis-server (when apt is available) and starts a throwaway
# instance on a free port, stopped when the calling script exits. Never skip a test for want
# of a server: the tests fail with a clear message when none could be had.
_CREATIVE_SERVICE_DIRS=()

_port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_apt_install() {
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's $*" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null) || true
  fi
}

_stop_services() {
  local dir
  for dir in "${_CREATIVE_SERVICE_DIRS[@]}"; do
    if [ -f "$dir/PG_VERSION" ]; then
      _as_postgres "$_PG_BIN/pg_ctl" -D "$dir" -m immediate stop >/dev/null 2>&1 || true
    elif [ -f "$dir/redis.pid" ]; then
      kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    fi
    rm -rf "$dir" "$dir.initdb.log"
  done
}

_as_postgres() {
  # initdb and postgres refuse to run as root: use Debian's postgres user then.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

_start_postgres() {
  _PG_BIN="$(dirname "$(command -v initdb 2>/dev/null || true)")"
  if [ ! -x "$_PG_BIN/initdb" ]; then
    _PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  fi
  if [ ! -x "$_PG_BIN/initdb" ]; then
    _apt_install postgresql
    _PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  fi
  [ -x "$_PG_BIN/initdb" ] || { echo "no PostgreSQL found and none could be installed" >&2; return 1; }
  local dir port
  dir="$(mktemp -d /tmp/creative-postgres-XXXXXX)" port="$(_free_port)"
  _CREATIVE_SERVICE_DIRS+=("$dir")
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  _as_postgres "$_PG_BIN/initdb" -D "$dir" -U postgres --auth=trust >"$dir.initdb.log" 2>&1
  _as_postgres "$_PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
  echo "started a throwaway PostgreSQL on 127.0.0.1:$port" >&2
  CREATIVE_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

_start_redis() {
  command -v redis-server >/dev/null 2>&1 || _apt_install redis-server
  command -v redis-server >/dev/null 2>&1 || { echo "no redis-server found and none could be installed" >&2; return 1; }
  local dir port
  dir="$(mktemp -d /tmp/creative-redis-XXXXXX)" port="$(_free_port)"
  _CREATIVE_SERVICE_DIRS+=("$dir")
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for _ in $(seq 50); do _port_open 127.0.0.1 "$port" && break; sleep 0.1; done
  echo "started a throwaway Redis on 127.0.0.1:$port" >&2
  CREATIVE_REDIS_URL="redis://127.0.0.1:$port/0"
}

ensure_services() {
  trap _stop_services EXIT
  if [ -z "${CREATIVE_POSTGRES_URL:-}" ]; then
    if _port_open 127.0.0.1 5432; then
      CREATIVE_POSTGRES_URL="postgresql://postgres@127.0.0.1:5432/postgres"
    else
      _start_postgres || true
    fi
  fi
  if [ -z "${CREATIVE_REDIS_URL:-}" ]; then
    if _port_open 127.0.0.1 6379; then
      CREATIVE_REDIS_URL="redis://127.0.0.1:6379/0"
    else
      _start_redis || true
    fi
  fi
  export CREATIVE_POSTGRES_URL="${CREATIVE_POSTGRES_URL:-}" CREATIVE_REDIS_URL="${CREATIVE_REDIS_URL:-}"
}
