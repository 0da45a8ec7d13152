# Sourced by the scripts that need a running stack (demo, e2e-app, wine-e2e, fuzz-api,
# bench-app): the one place that starts "PostgreSQL + server + user + agent (+ paper
# terminal)" — through the `companion-stack` binary (crates/testkit), which the Rust
# end-to-end tests use as a library.
#
#   stack_up WORK_DIR [companion-stack up options...]
#       starts it in the background, waits for its JSON line and sets
#       STACK_PID DATABASE_URL SERVER TOKEN USER_ID CONN_ID AGENT_ID AGENT_KEY
#       BRIDGE_PORT BRIDGE_TOKEN JWT_SECRET SERVER_LOG (and OTHER_USER_ID, OTHER_CONN_ID
#       with --other-user). Build it first: cargo build -p companion-testkit --bin companion-stack
#   stack_down
#       stops the server, the paper terminal and the cluster (call it from the EXIT trap).
#   free_port
#       a free port on 127.0.0.1.

# A random port below the kernel's ephemeral range (32768-60999, where outgoing
# connections take their source ports) that can be bound now; else one the kernel picks.
free_port() {
  python3 - <<'PY'
import random, socket
for _ in range(64):
    p = random.randrange(20000, 32768)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
else:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

STACK_PID=""
stack_up() {
  local work=$1; shift
  local bin=${STACK_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/companion-stack}
  [ -x "$bin" ] || { echo "companion-stack not built: cargo build -p companion-testkit --bin companion-stack" >&2; return 1; }
  mkdir -p "$work"
  "$bin" up --work-dir "$work" "$@" >"$work/stack.json" 2>"$work/stack.err" &
  STACK_PID=$!
  local _
  for _ in $(seq 1 600); do
    if [ -s "$work/stack.json" ] && [ "$(tail -c1 "$work/stack.json" | od -An -c | tr -d ' ')" = '\n' ]; then break; fi
    kill -0 "$STACK_PID" 2>/dev/null || { cat "$work/stack.err" >&2; STACK_PID=""; return 1; }
    sleep 0.1
  done
  [ -s "$work/stack.json" ] || { cat "$work/stack.err" >&2; echo "companion-stack did not come up" >&2; return 1; }
  eval "$(python3 - "$work/stack.json" <<'PY'
import json, shlex, sys
s = json.load(open(sys.argv[1]))
o = s.get("other_user") or {}
for var, val in [("DATABASE_URL", s["database_url"]), ("SERVER", s["server_url"]),
                 ("TOKEN", s["token"]), ("USER_ID", s["user_id"]),
                 ("CONN_ID", s["broker_connection_id"]), ("AGENT_ID", s["agent_id"]),
                 ("AGENT_KEY", s["agent_key"]), ("BRIDGE_PORT", s["bridge_port"]),
                 ("BRIDGE_TOKEN", s["bridge_token"]), ("JWT_SECRET", s["jwt_secret"]),
                 ("SERVER_LOG", s["server_log"]), ("OTHER_USER_ID", o.get("user_id", "")),
                 ("OTHER_CONN_ID", o.get("broker_connection_id", ""))]:
    print("%s=%s" % (var, shlex.quote(str(val))))
PY
)"
}

stack_down() {
  if [ -n "$STACK_PID" ]; then
    kill -TERM "$STACK_PID" 2>/dev/null
    wait "$STACK_PID" 2>/dev/null
    STACK_PID=""
  fi
  return 0
}
