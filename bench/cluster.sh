#!/usr/bin/env bash
# The cluster at scale: a PostgreSQL of its own (Debian's postgresql; initdb in a temporary
# directory), N phones (default 100,000), then
#   - a serving node's memory with the database loaded and its copy of it written,
#   - change-to-servable latency over 1,000 changes, on the writing node and on another node
#     (cargo bench -p phoneboot-server --bench change_latency, which starts its own servers).
#
#   cargo build --release && bench/cluster.sh          # N=100000
#
# Targets (issue 11, 2-core machine): same node p99 <= 10 ms, across nodes p99 <= 100 ms,
# memory per node with 100,000 devices <= 256 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
BIN=${BIN:-target/release/phoneboot}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "this needs PostgreSQL's server: apt-get install postgresql" >&2; exit 1; }
# PostgreSQL refuses to run as root: as root, it runs as the package's postgres user.
as_pg() { if [ "$(id -u)" -eq 0 ]; then setpriv --reuid postgres --regid postgres --init-groups "$@"; else "$@"; fi; }

work=$(mktemp -d /tmp/phoneboot-cluster-XXXXXX)
chmod 755 "$work"
mkdir "$work/pg"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$work/pg"
pg_pid= server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    # The postmaster, by the PID it wrote (the shell that started it is not it, as root).
    if [ -f "$work/pg/postmaster.pid" ]; then
        pg_pid=$(head -1 "$work/pg/postmaster.pid")
        kill -INT "$pg_pid" 2>/dev/null
        while kill -0 "$pg_pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PGBIN/initdb" -D "$work/pg" -U postgres --auth=trust -E UTF8 --locale=C --no-sync > /dev/null
as_pg "$PGBIN/postgres" -D "$work/pg" -p "$port" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$work/pg" > "$work/pg.log" 2>&1 &
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; do sleep 0.1; done
"$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres bench
URL="postgres://postgres@127.0.0.1:$port/bench"
echo "== PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, $N phones"
"$BIN" init --example --database "$URL" > /dev/null
python3 - "$N" > "$work/phones.csv" <<'PY'
import sys
n = int(sys.argv[1])
models = [("8841", "SIP"), ("8851", "SIP"), ("7841", "SIP"), ("7941", "SCCP"), ("7965", "SCCP")]
print("mac,model,protocol,pool,description,line1_dn,line1_display_name")
for i in range(n):
    model, proto = models[i % len(models)]
    print(f"00AB{i:08X},{model},{proto},Default,Desk {i},{300000 + i},User {i}")
PY
/usr/bin/time -f "import into PostgreSQL: %e s wall, peak RSS %M KiB" \
    "$BIN" import "$work/phones.csv" --database "$URL"

echo "== one serving node on PostgreSQL, default settings"
mkdir -p "$work/root"
"$BIN" serve --database "$URL" --root "$work/root" --state-dir "$work/state" \
    --tftp-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --admin-listen off > "$work/log" 2>&1 &
server_pid=$!
for _ in $(seq 1200); do
    grep -q "built every configuration file" "$work/log" && [ -f "$work/state/replica.version" ] && break
    sleep 0.1
done
sleep 1
grep -E "device database open|built every|copy of the database written" "$work/log" | sed 's/\x1b\[[0-9;]*m//g'
grep -E "VmHWM|VmRSS" "/proc/$server_pid/status" | sed 's/^/node /'
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=

echo "== change-to-servable latency"
cargo bench -q -p phoneboot-server --bench change_latency 2>/dev/null
