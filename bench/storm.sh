#!/usr/bin/env bash
# Boot storm, side by side: 10,000 emulated phones (phoneboot storm) against phoneboot and
# against tftpd-hpa and dnsmasq serving the same files, one run, one client. Plus the storm
# tool's own ceiling against its minimal in-process responder.
#
# Every server runs with its own defaults, as shipped: phoneboot's Maximum Serving Count 200
# with its queue, dnsmasq's tftp-max 50, tftpd-hpa forking per request. A labelled row shows
# phoneboot tuned (--max-serving-count 1000), and one shows phoneboot's defaults while
# `phoneboot flood` sends 2,000 half-open requests and 3,500 malformed datagrams from the
# phones' own address during the storm.
#
#   sudo bench/storm.sh              # 10,000 phones, concurrency 1000
#   sudo PHONES=2000 bench/storm.sh
#
# The files: a device database of PHONES phones (8841 SIP, 7965 and 7941 SCCP, one line each);
# phoneboot serves it from the database, and `phoneboot build --out` writes the very same files
# into the folder the peers (and phoneboot with --database off) serve. Every phone boots as its
# model does over TFTP (CTL/ITL probes, SEP<MAC>.cnf.xml, dial plan/softkeys, RingList.xml):
# HTTP is off, since the peers have none. Needs root (dnsmasq's TFTP port is 69); installs
# tftpd-hpa and dnsmasq with apt-get when missing; stops every server it starts by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
PHONES=${PHONES:-10000}
CONCURRENCY=${CONCURRENCY:-1000}
[ "$(id -u)" -eq 0 ] || { echo "run as root (dnsmasq serves TFTP on port 69)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
if ! command -v in.tftpd >/dev/null || ! command -v dnsmasq >/dev/null; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends tftpd-hpa dnsmasq-base >/dev/null
fi
cargo build --release -q -p phoneboot
PB=$PWD/target/release/phoneboot
WORK=$(mktemp -d /tmp/phoneboot-storm.XXXXXX)
ROOT=$WORK/root
mkdir -p "$ROOT"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== $PHONES phones"
. bench/lib/phones.sh
make_phone_db "$PB" "$WORK/db" "$PHONES" "$WORK"
"$PB" build --out "$ROOT" --database "$WORK/db"
chmod -R a+rX "$WORK"

start() { # name command...
    local name=$1; shift
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
}
mkdir -p "$WORK/empty"
start phoneboot "$PB" serve --database "$WORK/db" --root "$WORK/empty" --tftp-listen 127.0.0.1:16900 \
    --http-listen off --admin-listen off
start phoneboot-files "$PB" serve --database off --root "$ROOT" --tftp-listen 127.0.0.4:16903 \
    --http-listen off --admin-listen off
start phoneboot-tuned "$PB" serve --database "$WORK/db" --root "$WORK/empty" --tftp-listen 127.0.0.5:16905 \
    --http-listen off --admin-listen off --max-serving-count 1000
start phoneboot-flooded "$PB" serve --database "$WORK/db" --root "$WORK/empty" --tftp-listen 127.0.0.6:16906 \
    --http-listen off --admin-listen off
start tftpd-hpa in.tftpd --foreground --listen --address 127.0.0.2:16901 --secure --user nobody "$ROOT"
start dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --enable-tftp \
    --tftp-root="$ROOT" --listen-address=127.0.0.1 --bind-interfaces \
    --pid-file="$WORK/dnsmasq.pid" --log-facility="$WORK/dnsmasq.syslog"
sleep 1.5

declare -A ADDR=([phoneboot]=127.0.0.1:16900 [phoneboot-files]=127.0.0.4:16903 [phoneboot-tuned]=127.0.0.5:16905
    [phoneboot-flooded]=127.0.0.6:16906 [tftpd-hpa]=127.0.0.2:16901 [dnsmasq]=127.0.0.1:69)
declare -A LABEL=([phoneboot]="phoneboot, defaults, files built from the database"
    [phoneboot-files]="phoneboot, defaults, the same files from disk (--database off)"
    [phoneboot-tuned]="phoneboot, tuned: --max-serving-count 1000"
    [phoneboot-flooded]="phoneboot, defaults, flooded meanwhile (phoneboot flood)"
    [tftpd-hpa]="tftpd-hpa, defaults" [dnsmasq]="dnsmasq, defaults (tftp-max 50)"
    [responder]="storm tool's own ceiling (in-process responder)")
declare -A RESULT
storm() { # name args...
    local name=$1; shift
    # Phones back after a power cut run the load their files name: none fetches firmware.
    "$PB" storm --machine --phones "$PHONES" --from-database "$WORK/db" --http never \
        --running-load configured --concurrency "$CONCURRENCY" "$@" \
        > "$WORK/$name.storm" 2>"$WORK/$name.storm.err" || true
    RESULT[$name]=$WORK/$name.storm
}
for s in phoneboot phoneboot-files phoneboot-tuned tftpd-hpa dnsmasq; do
    echo "== storm against $s (${ADDR[$s]})"
    storm "$s" --server "${ADDR[$s]}"
    tr '\n' ' ' < "${RESULT[$s]}"; echo
done
echo "== storm against phoneboot-flooded (${ADDR[phoneboot-flooded]}), flooded from the phones' address"
# Ports outside the system's ephemeral range: a request spoofed with a phone's own address
# and port is the phone's, for any server.
"$PB" flood --server "${ADDR[phoneboot-flooded]}" --name XMLDefault.cnf.xml --name SEP00CC00000001.cnf.xml \
    --first-port 20000 --over-ms 3000 > "$WORK/flood.out" &
FLOOD=$!
storm phoneboot-flooded --server "${ADDR[phoneboot-flooded]}"
wait "$FLOOD"
tr '\n' ' ' < "${RESULT[phoneboot-flooded]}"; tr '\n' ' ' < "$WORK/flood.out"; echo
echo "== storm against the in-process responder (the tool's ceiling)"
storm responder --responder
tr '\n' ' ' < "${RESULT[responder]}"; echo

get() { awk -v k="$2" '$1 == k {print $2}' "${RESULT[$1]}"; }
base=$(get phoneboot requests_per_s)
echo
echo "| server | booted | failed | busy answers | storm time (s) | requests/s | boot p50 / p95 / p99 / max (ms) | phoneboot ÷ server (requests/s) |"
echo "|---|---|---|---|---|---|---|---|"
for s in phoneboot phoneboot-files phoneboot-tuned phoneboot-flooded tftpd-hpa dnsmasq responder; do
    rps=$(get "$s" requests_per_s)
    ratio=$(awk -v a="$base" -v b="$rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    reasons=$(awk '$1 == "failed_reason" {$1 = ""; printf "%s;", $0}' "${RESULT[$s]}")
    printf "| %s | %s | %s%s | %s | %s | %s | %s / %s / %s / %s | %s |\n" "${LABEL[$s]}" "$(get "$s" booted)" \
        "$(get "$s" failed)" "${reasons:+ (${reasons%;})}" "$(get "$s" busy)" "$(get "$s" elapsed_s)" "$rps" "$(get "$s" p50_ms)" \
        "$(get "$s" p95_ms)" "$(get "$s" p99_ms)" "$(get "$s" max_ms)" "$ratio"
done
echo
echo "tftpd-hpa $(dpkg-query -W -f='${Version}' tftpd-hpa 2>/dev/null || echo '?'), dnsmasq $(dnsmasq --version | head -1 | awk '{print $3}'); $(nproc) cores; $(date -u +%F)"
