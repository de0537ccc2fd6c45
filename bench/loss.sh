#!/usr/bin/env bash
# Loss recovery, side by side: 20 x 1 MiB lock-step transfers (blksize 512, no options, as a
# phone's TFTP client asks) through the same impaired path (`phoneboot impair`: 10 % loss
# each way, 2 ms delay; the kernel here has no netem) in front of phoneboot and tftpd-hpa,
# each with its defaults, one run, one client (`phoneboot load`, whose own timer is 1 s, so
# the server's timer is what recovers a lost DATA).
#
#   sudo bench/loss.sh                # needs in.tftpd (installed with apt-get when missing)
#   COUNT=5 LOSS=0.05 bench/loss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-20}
LOSS=${LOSS:-0.1}
if ! command -v in.tftpd >/dev/null; then
    [ "$(id -u)" -eq 0 ] || { echo "in.tftpd is missing: run as root to install tftpd-hpa" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tftpd-hpa >/dev/null
fi
cargo build --release -q -p phoneboot
PB=$PWD/target/release/phoneboot
WORK=$(mktemp -d /tmp/phoneboot-loss.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/root"
head -c $((1 << 20)) /dev/urandom > "$WORK/root/big.bin"
chmod -R a+rX "$WORK"
"$PB" serve --database off --root "$WORK/root" --tftp-listen 127.0.0.1:16910 --http-listen off \
    --admin-listen off >"$WORK/phoneboot.log" 2>&1 &
PIDS+=($!)
USER_OPT=(); [ "$(id -u)" -eq 0 ] && USER_OPT=(--user nobody)
in.tftpd --foreground --listen --address 127.0.0.2:16911 --secure "${USER_OPT[@]}" "$WORK/root" \
    >"$WORK/hpa.log" 2>&1 &
PIDS+=($!)
sleep 1
path() { # name server listen
    "$PB" impair --server "$2" --listen "$3" --loss "$LOSS" --duplicate 0 --reorder 0 --delay-ms 2 \
        >"$WORK/$1.path" 2>&1 &
    PIDS+=($!)
}
path phoneboot 127.0.0.1:16910 127.0.0.1:16920
path tftpd-hpa 127.0.0.2:16911 127.0.0.1:16921
sleep 0.5
declare -A SECS FAILED
for s in phoneboot tftpd-hpa; do
    port=$([ $s = phoneboot ] && echo 16920 || echo 16921)
    echo "== $COUNT x 1 MiB through a ${LOSS} loss path to $s" >&2
    out=$("$PB" load "127.0.0.1:$port" big.bin -n "$COUNT" -c "$COUNT" --machine --expect-size $((1 << 20)) \
          --timeout-ms 1000 --retries 30)
    SECS[$s]=$(sed -n 's/.*\bseconds=\([^ ]*\).*/\1/p' <<<"$out")
    FAILED[$s]=$(sed -n 's/.*\bfailed=\([^ ]*\).*/\1/p' <<<"$out")
done
ratio=$(awk -v a="${SECS[tftpd-hpa]}" -v b="${SECS[phoneboot]}" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }')
echo
echo "| server | $COUNT x 1 MiB, blksize 512, loss $LOSS each way, 2 ms delay (s) | failed | tftpd-hpa ÷ server (time) |"
echo "|---|---|---|---|"
echo "| phoneboot (defaults) | ${SECS[phoneboot]} | ${FAILED[phoneboot]} | $ratio |"
echo "| tftpd-hpa (defaults) | ${SECS[tftpd-hpa]} | ${FAILED[tftpd-hpa]} | 1.0 |"
echo
echo "tftpd-hpa $(dpkg-query -W -f='${Version}' tftpd-hpa 2>/dev/null || echo '?'); $(nproc) cores; $(date -u +%F)"
