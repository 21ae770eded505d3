# Shared by scripts/serve.sh and test/api/run.sh (source it from the repository root): installs what
# the API and the page need on Debian 12, builds the page, loads the demo database, starts the API.
#   api_install_deps [test]  Debian packages: the extension's build deps, FastAPI, uvicorn, psycopg 3 and
#                       its pool, Node.js and npm when no node is present; with "test" also pytest and Chromium
#   web_build           npm ci (when package-lock.json changed) and npm run build into web/dist
#   load_demo_db [LOG]  the demo database (scripts/demo-db.sh)
#   api_start PORT MODEL [LOG]   uvicorn on 127.0.0.1:PORT in the background; waits for /healthz
#   api_stop            stops the API started by api_start

API_ROOT=$(pwd)
source scripts/demo-db.sh  # load_demo_db

# api_install_deps [test]: what the API and the page need (scripts/install-deps.sh build api), and with
# "test" what their tests need too (pytest, Chromium).
api_install_deps() {
  bash scripts/install-deps.sh build api "$@"
}

web_build() {
  (
    cd "$API_ROOT/web" || exit 1
    # npm ci only when the lock file changed since the last install (a copy is kept as a stamp).
    if ! cmp -s package-lock.json node_modules/.custseg-lock.json 2>/dev/null; then
      # swagger-ui-dist pulls in @scarf/scarf, whose install script reports the install to scarf.sh:
      # turned off here and by "scarfSettings" in package.json.
      SCARF_ANALYTICS=false npm ci --no-audit --no-fund --loglevel=error >/dev/null || exit 1
      cp package-lock.json node_modules/.custseg-lock.json
    fi
    npm run build --silent >/dev/null || exit 1
  )
}

api_start() {
  local port=$1 model=$2 log=${3:-/dev/null}
  CUSTSEG_MODEL=$model /usr/bin/python3 -m uvicorn custseg_api.main:app --app-dir "$API_ROOT/api" \
    --host 127.0.0.1 --port "$port" --no-access-log >"$log" 2>&1 &
  CUSTSEG_API_PID=$!
  local i
  for ((i = 0; i < 150; i++)); do
    # Ours answers only while it runs: a port taken by another server makes uvicorn exit at once.
    kill -0 "$CUSTSEG_API_PID" 2>/dev/null || break
    if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then
      sleep 0.3
      kill -0 "$CUSTSEG_API_PID" 2>/dev/null && return 0
      break
    fi
    sleep 0.2
  done
  echo "custseg: the API did not start on port $port" >&2
  cat "$log" >&2
  return 1
}

api_stop() {
  if [[ -n "${CUSTSEG_API_PID:-}" ]]; then
    kill "$CUSTSEG_API_PID" 2>/dev/null && wait "$CUSTSEG_API_PID" 2>/dev/null
    unset CUSTSEG_API_PID
  fi
  return 0
}
