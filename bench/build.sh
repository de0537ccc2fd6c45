#!/usr/bin/env bash
# The configuration builder at scale: a generated database of N phones (default 100,000),
# then the time of a full build, the bytes built, the builder's peak RSS, a serving node's
# memory with the database loaded, and the time to the first byte of one configuration file
# on an idle server (TFTP and HTTP).
#
#   cargo build --release && bench/build.sh            # N=100000
#   N=20000 bench/build.sh
#
# Targets (issue 3, 2-core machine): full build <= 2 s, peak RSS <= 512 MB with 100,000
# devices loaded, first byte <= 1 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
BIN=${BIN:-target/release/phoneboot}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

echo "== database of $N phones (in $work)"
"$BIN" init --example --database "$work/db" > /dev/null
python3 - "$N" > "$work/phones.csv" <<'PY'
import sys
n = int(sys.argv[1])
models = [("8841", "SIP"), ("8851", "SIP"), ("7841", "SIP"), ("7941", "SCCP"), ("7965", "SCCP")]
print("mac,model,protocol,pool,description,dial_plan,softkeys,line1_dn,line1_display_name,"
      "line1_auth_name,line1_auth_password,line1_voicemail,line2_dn,line2_display_name")
for i in range(n):
    model, proto = models[i % len(models)]
    sip = proto == "SIP"
    dn = 200000 + i
    second = f"{dn + 500000},Shared {i}" if i % 3 == 0 else ","
    print(f"00AA{i:08X},{model},{proto},Default,Desk {i} & co,"
          f"{'Standard' if sip else ''},{'Standard' if sip else ''},"
          f"{dn},User {i},user{i},pw{i},8000,{second}")
PY
/usr/bin/time -f "import: %e s wall, peak RSS %M KiB" "$BIN" import "$work/phones.csv" --database "$work/db"
ls -l "$work/db" | awk '{printf "database file: %.1f MB\n", $5/1e6}'

echo "== full build, nothing written (render every file)"
/usr/bin/time -f "build --check: %e s wall, %U s user, peak RSS %M KiB" \
    "$BIN" build --check --database "$work/db"
echo "== full build written to disk"
/usr/bin/time -f "build --out: %e s wall, %U s user, peak RSS %M KiB" \
    "$BIN" build --out "$work/out" --database "$work/db"
du -sb "$work/out" | awk '{printf "on disk: %.1f MB\n", $1/1e6}'
rm -rf "$work/out"

echo "== serving node with the database loaded"
mkdir -p "$work/root"
"$BIN" serve --database "$work/db" --root "$work/root" --tftp-listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --admin-listen off > "$work/log" 2>&1 &
server_pid=$!
for _ in $(seq 600); do
    grep -q "built every configuration file" "$work/log" && break
    sleep 0.1
done
grep -E "device database open|built every" "$work/log" | sed 's/\x1b\[[0-9;]*m//g'
tftp=$(sed -n 's/.*TFTP listening on udp \(.*\)/\1/p' "$work/log" | head -1 | sed 's/\x1b\[[0-9;]*m//g')
http=$(sed -n 's/.*HTTP listening on tcp \(.*\)/\1/p' "$work/log" | head -1 | sed 's/\x1b\[[0-9;]*m//g')
grep -E "VmHWM|VmRSS" "/proc/$server_pid/status" | sed 's/^/server /'

echo "== time to first byte of one file, idle server (median of 51)"
name=$(printf "SEP00AA%08X.cnf.xml" $((N / 2)))
ttfb() {
    for _ in $(seq 51); do curl -s -o /dev/null -w '%{time_starttransfer}\n' "$1"; done \
        | sort -n | awk '{a[NR]=$1} END {printf "%.3f ms (min %.3f, max %.3f)\n", a[int((NR+1)/2)]*1000, a[1]*1000, a[NR]*1000}'
}
# curl does not time TFTP's first byte: a read request from a plain UDP socket does.
tftp_ttfb() {
    python3 - "$tftp" "$1" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
name = sys.argv[2]
samples = []
for _ in range(51):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    rrq = b"\x00\x01" + name.encode() + b"\x00octet\x00"
    t0 = time.perf_counter()
    s.sendto(rrq, (host, int(port)))
    data, peer = s.recvfrom(1024)
    t1 = time.perf_counter()
    assert data[:2] == b"\x00\x03", data[:40]
    # Finish politely: ACK every block until the last.
    while True:
        s.sendto(b"\x00\x04" + data[2:4], peer)
        if len(data) < 516:
            break
        data, _ = s.recvfrom(1024)
    s.close()
    samples.append((t1 - t0) * 1000)
samples.sort()
print(f"{samples[25]:.3f} ms (min {samples[0]:.3f}, max {samples[-1]:.3f})")
PY
}
echo -n "TFTP $name: "; tftp_ttfb "$name"
echo -n "HTTP $name: "; ttfb "http://$http/$name"
echo "0123456789abcdef" > "$work/root/small.bin"
echo -n "TFTP a 16-byte disk file, for comparison: "; tftp_ttfb small.bin
grep -E "VmHWM|VmRSS" "/proc/$server_pid/status" | sed 's/^/server after requests /'
