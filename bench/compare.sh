#!/usr/bin/env bash
# Side-by-side TFTP benchmark on loopback: phoneboot against tftpd-hpa, atftpd and dnsmasq,
# all serving the same files, all measured in one run with the same client.
#
#   bench/compare.sh            # full run: 100 MiB file, 5000 x 4 KiB at concurrency 100 and 500
#   bench/compare.sh --quick    # smoke run: 20 MiB, 1000 transfers
#
# Needs root (dnsmasq's TFTP port is fixed at 69; each server runs in its own cgroup so that
# forked children are counted). Installs the peers with apt-get when missing. Every server it
# starts is stopped by PID on exit.
#
# The client is `phoneboot load` (our Rust client engine); it reports its own CPU time, so the
# "client ceiling" row says how many transfers per second it could drive if the server cost
# nothing. A windowed download receives with UDP GRO (as any Linux host may ask): datagrams a
# server sends with segmentation offload (phoneboot) reach it in runs, those of the others one
# by one; the server-CPU rows compare the servers independently of the client. Throughput and rates: higher is better; ratio = phoneboot / peer (> 1: phoneboot is
# better). CPU per transfer: lower is better; ratio = phoneboot / peer (< 1: phoneboot is better).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
BIG_MIB=100; COUNT=5000
[ $QUICK = 1 ] && { BIG_MIB=20; COUNT=1000; }

[ "$(id -u)" -eq 0 ] || { echo "run as root (dnsmasq serves TFTP on port 69; cgroups)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/phoneboot-bench.XXXXXX)
ROOT=$WORK/root
PEERS=$WORK/peers
mkdir -p "$ROOT" "$PEERS"
PIDS=()
CGROUPS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for cg in "${CGROUPS[@]}"; do rmdir "$cg" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- peers -------------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
need_apt=0
command -v in.tftpd >/dev/null || need_apt=1
command -v dnsmasq >/dev/null || need_apt=1
command -v iperf3 >/dev/null || need_apt=1
if [ $need_apt = 1 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends tftpd-hpa dnsmasq-base iperf3 >/dev/null
    # The package starts its own tftpd on port 69, which dnsmasq needs here.
    { systemctl stop tftpd-hpa || service tftpd-hpa stop; } >/dev/null 2>&1 || true
fi
# atftpd conflicts with tftpd-hpa as a package (both provide tftpd): unpack its binary instead.
ATFTPD=$(command -v atftpd || true)
if [ -z "$ATFTPD" ]; then
    (cd "$PEERS" && apt-get download atftpd >/dev/null 2>&1 && dpkg -x atftpd_*.deb x)
    ATFTPD=$PEERS/x/usr/sbin/atftpd
fi
HPA_VERSION=$(dpkg-query -W -f='${Version}' tftpd-hpa 2>/dev/null || echo '?')
DNSMASQ_VERSION=$(dnsmasq --version | head -1 | awk '{print $3}')
ATFTPD_VERSION=$(apt-cache policy atftpd 2>/dev/null | awk '/Candidate/ {print $2}')

cargo build --release -q -p phoneboot
PB=$PWD/target/release/phoneboot

# --- files -------------------------------------------------------------------------------
head -c $((BIG_MIB << 20)) /dev/urandom > "$ROOT/big.bin"
head -c 4096 /dev/urandom > "$ROOT/cfg4k.xml"
chmod 755 "$WORK" "$ROOT"; chmod 644 "$ROOT"/*

# --- servers, each in its own cgroup -------------------------------------------------------
declare -A ADDR CG
start() { # name addr command...
    local name=$1 addr=$2; shift 2
    local cpu=/sys/fs/cgroup/cpuacct/pb-bench-$name mem=/sys/fs/cgroup/memory/pb-bench-$name
    mkdir -p "$cpu" "$mem"; CGROUPS+=("$cpu" "$mem")
    sh -c 'echo $$ > "$1/cgroup.procs"; echo $$ > "$2/cgroup.procs"; shift 2; exec "$@"' \
        _ "$cpu" "$mem" "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    ADDR[$name]=$addr
    CG[$name]=$name
}
# Every server as shipped: its own defaults. phoneboot: Maximum Serving Count 200 and its
# queue, blksize capped at 1468 (the Ethernet MTU). A labelled column shows phoneboot tuned.
start phoneboot 127.0.0.1:16900 "$PB" serve --root "$ROOT" --database "$WORK/phoneboot.db" --tftp-listen 127.0.0.1:16900 \
    --admin-listen off --http-listen off
start phoneboot-tuned 127.0.0.4:16903 "$PB" serve --root "$ROOT" --database "$WORK/phoneboot-tuned.db" \
    --tftp-listen 127.0.0.4:16903 --admin-listen off --http-listen off \
    --max-serving-count 1000 --max-blksize 65464 --max-windowsize 64
start tftpd-hpa 127.0.0.2:16901 in.tftpd --foreground --listen --address 127.0.0.2:16901 \
    --secure --user nobody "$ROOT"
start atftpd 127.0.0.3:16902 "$ATFTPD" --daemon --no-fork --port 16902 --bind-address 127.0.0.3 \
    --logfile /dev/null "$ROOT"
start dnsmasq 127.0.0.1:69 dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
    --enable-tftp --tftp-root="$ROOT" --listen-address=127.0.0.1 --bind-interfaces \
    --pid-file="$WORK/dnsmasq.pid" --log-facility="$WORK/dnsmasq.syslog"
SERVERS=(phoneboot phoneboot-tuned tftpd-hpa atftpd dnsmasq)
sleep 1
for s in "${SERVERS[@]}"; do
    "$PB" get "${ADDR[$s]}" cfg4k.xml -o /dev/null --retries 2 >/dev/null 2>&1 \
        || { echo "$s did not answer; its log:" >&2; cat "$WORK/$s.log" >&2; exit 1; }
done

cpu_ns() { cat "/sys/fs/cgroup/cpuacct/pb-bench-$1/cpuacct.usage"; }

# Peak RSS: sum of VmRSS over the cgroup's processes, sampled every 20 ms, for the whole run
# ($PEAK_DIR/<server>) and for the phase in progress ($PEAK_DIR/phase-<server>, reset by
# phase_start).
PEAK_DIR=$WORK/peak; mkdir -p "$PEAK_DIR"
(
    while :; do
        for s in "${SERVERS[@]}"; do
            total=0
            while read -r pid; do
                kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
                total=$((total + ${kb:-0}))
            done < "/sys/fs/cgroup/memory/pb-bench-$s/cgroup.procs"
            for f in "$PEAK_DIR/$s" "$PEAK_DIR/phase-$s"; do
                prev=$(cat "$f" 2>/dev/null || echo 0)
                [ "$total" -gt "$prev" ] && echo "$total" > "$f"
            done
        done
        sleep 0.02
    done
) &
PIDS+=($!)

# --- measurements ------------------------------------------------------------------------
declare -A RESULT
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

big_row() { # key blksize windowsize
    # Best of three, the servers interleaved round-robin: a slow phase of this shared VM then
    # hits every server alike instead of one of them.
    local key=$1 blk=$2 win=$3 s out opts rep secs before after cpu
    declare -A best=() bestcpu=()
    for rep in 1 2 3; do
        for s in "${SERVERS[@]}"; do
            if [ -n "$win" ] && { [ "$s" = tftpd-hpa ] || [ "$s" = dnsmasq ]; }; then
                continue   # tftpd-hpa 5.2 and dnsmasq have no windowsize
            fi
            opts=(--blksize "$blk" --tsize)
            [ -n "$win" ] && opts+=(--windowsize "$win")
            before=$(cpu_ns "$s")
            out=$("$PB" load "${ADDR[$s]}" big.bin -n 1 -c 1 --machine --expect-size $((BIG_MIB << 20)) \
                  --timeout-ms 2000 "${opts[@]}")
            after=$(cpu_ns "$s")
            [ "$(field failed "$out")" = 0 ] || continue
            secs=$(field seconds "$out")
            if [ -z "${best[$s]:-}" ] || awk -v a="$secs" -v b="${best[$s]}" 'BEGIN {exit !(a < b)}'; then
                best[$s]=$secs
            fi
            cpu=$(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.0f", (a-b)/1e6}')
            if [ -z "${bestcpu[$s]:-}" ] || [ "$cpu" -lt "${bestcpu[$s]}" ]; then bestcpu[$s]=$cpu; fi
        done
    done
    for s in "${SERVERS[@]}"; do
        if [ -n "$win" ] && { [ "$s" = tftpd-hpa ] || [ "$s" = dnsmasq ]; }; then
            RESULT[$key,$s]="n/a"
        elif [ -z "${best[$s]:-}" ]; then
            RESULT[$key,$s]="fail"
        else
            RESULT[$key,$s]=$(awk -v mib="$BIG_MIB" -v s="${best[$s]}" 'BEGIN {printf "%.1f", mib*1.048576/s}')
        fi
        RESULT[$key-cpu,$s]=${bestcpu[$s]:-${RESULT[$key,$s]}}
    done
}

small_row() { # key concurrency
    # Best of three, interleaved like big_row: the highest rate and the lowest CPU per
    # transfer each server reached; failures are summed over the three runs.
    local key=$1 conc=$2 s out before after rep rate cpu client
    for s in "${SERVERS[@]}"; do RESULT[$key,$s]=0; RESULT[$key-fail,$s]=0; RESULT[$key-cpu,$s]=""; done
    for rep in 1 2 3; do
        for s in "${SERVERS[@]}"; do
            before=$(cpu_ns "$s")
            out=$("$PB" load "${ADDR[$s]}" cfg4k.xml -n "$COUNT" -c "$conc" --machine --expect-size 4096 \
                  --blksize 1468 --tsize --timeout-ms 1000 --retries 5)
            after=$(cpu_ns "$s")
            rate=$(field rate "$out")
            cpu=$(awk -v a="$after" -v b="$before" -v n="$COUNT" 'BEGIN {printf "%.1f", (a-b)/1000/n}')
            client=$(awk -v c="$(field client_cpu_s "$out")" -v n="$COUNT" 'BEGIN {printf "%.1f", c*1e6/n}')
            RESULT[$key-fail,$s]=$(( ${RESULT[$key-fail,$s]} + $(field failed "$out") ))
            if awk -v a="$rate" -v b="${RESULT[$key,$s]}" 'BEGIN {exit !(a > b)}'; then RESULT[$key,$s]=$rate; fi
            if [ -z "${RESULT[$key-cpu,$s]}" ] || awk -v a="$cpu" -v b="${RESULT[$key-cpu,$s]}" 'BEGIN {exit !(a < b)}'; then
                RESULT[$key-cpu,$s]=$cpu
            fi
            if [ "$s" = phoneboot ]; then RESULT[$key-client,$s]=$client; fi
        done
    done
}

phase_start() { rm -f "$PEAK_DIR"/phase-*; sleep 0.1; }
parallel_big() { # key clients: that many clients fetch the big file at once, lock-step 1428
    local key=$1 n=$2 s out
    for s in "${SERVERS[@]}"; do
        phase_start
        out=$("$PB" load "${ADDR[$s]}" big.bin -n "$n" -c "$n" --machine --expect-size $((BIG_MIB << 20)) \
              --timeout-ms 2000 --blksize 1428 --tsize)
        phase_peak_one "$key" "$s"
        # A server that failed a transfer did not hold the whole load: its memory says nothing.
        [ "$(field failed "$out")" = 0 ] || RESULT[$key,$s]="fail ($(field failed "$out") of $n)"
    done
}
phase_peak_one() { # key server
    sleep 0.1
    RESULT[$1,$2]=$(( $(cat "$PEAK_DIR/phase-$2" 2>/dev/null || echo 0) / 1024 ))
}

echo "phoneboot benchmark: loopback, $(nproc) cores, $(date -u +%Y-%m-%d)" >&2
echo "measuring ${BIG_MIB} MiB transfers..." >&2
big_row "big-512" 512 ""
big_row "big-1428" 1428 ""
big_row "big-65464" 65464 ""
big_row "big-1428-w16" 1428 16
big_row "big-1428-w64" 1428 64
# The loopback's UDP limit for 1428-byte datagrams, by iperf3 in the same run: what its
# receiver got (sent at full speed, one datagram per send and per receive).
echo "measuring the loopback UDP limit (iperf3)..." >&2
iperf3 -s -B 127.0.0.9 -p 5299 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
IPERF_MBPS=$(iperf3 -c 127.0.0.9 -B 127.0.0.9 -p 5299 -u -b 0 -l 1428 -t 3 -f m 2>/dev/null \
    | awk '/receiver/ {for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") print $(i-1)}' | tail -1)
IPERF_MBS=$(awk -v m="${IPERF_MBPS:-0}" 'BEGIN {printf "%.1f", m/8}')

echo "measuring 10 clients fetching ${BIG_MIB} MiB at once..." >&2
parallel_big "rss-10" 10
echo "measuring ${COUNT} x 4 KiB..." >&2
small_row "small-100" 100
small_row "small-500" 500

# --- report ------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "-" }'; }
printf '\n| row | phoneboot (defaults) | phoneboot, tuned | tftpd-hpa %s | atftpd %s | dnsmasq %s | ratio (defaults) vs hpa / atftpd / dnsmasq |\n' \
    "$HPA_VERSION" "$ATFTPD_VERSION" "$DNSMASQ_VERSION"
printf '|---|---|---|---|---|---|---|\n'
row() { # label key unit
    local label=$1 key=$2 unit=$3 pb=${RESULT[$2,phoneboot]}
    printf '| %s | %s | %s | %s | %s | %s | %s / %s / %s |\n' "$label ($unit)" "$pb" "${RESULT[$key,phoneboot-tuned]}" \
        "${RESULT[$key,tftpd-hpa]}" "${RESULT[$key,atftpd]}" "${RESULT[$key,dnsmasq]}" \
        "$(ratio "$pb" "${RESULT[$key,tftpd-hpa]}")" "$(ratio "$pb" "${RESULT[$key,atftpd]}")" \
        "$(ratio "$pb" "${RESULT[$key,dnsmasq]}")"
}
row "${BIG_MIB} MiB, blksize 512" big-512 "MB/s"
row "${BIG_MIB} MiB, blksize 1428" big-1428 "MB/s"
row "${BIG_MIB} MiB, blksize 65464" big-65464 "MB/s"
row "${BIG_MIB} MiB, blksize 1428, windowsize 16" big-1428-w16 "MB/s"
row "${BIG_MIB} MiB, blksize 1428, windowsize 64" big-1428-w64 "MB/s"
row "server CPU per ${BIG_MIB} MiB, blksize 1428" big-1428-cpu "ms, lower is better"
row "server CPU per ${BIG_MIB} MiB, blksize 1428, windowsize 64" big-1428-w64-cpu "ms, lower is better"
printf '| loopback UDP limit, 1428-byte datagrams (iperf3 -u -b 0, received) | %s MB/s: windowsize 64 reaches %s of it | | | | | |\n' \
    "$IPERF_MBS" "$(ratio "${RESULT[big-1428-w64,phoneboot]}" "$IPERF_MBS")"
row "${COUNT} x 4 KiB, concurrency 100" small-100 "transfers/s"
row "${COUNT} x 4 KiB, concurrency 500" small-500 "transfers/s"
row "server CPU per 4 KiB transfer, c=100" small-100-cpu "µs, lower is better"
row "server CPU per 4 KiB transfer, c=500" small-500-cpu "µs, lower is better"
for s in "${SERVERS[@]}"; do RESULT[peak,$s]=$(( $(cat "$PEAK_DIR/$s" 2>/dev/null || echo 0) / 1024 )); done
row "peak RSS while 10 clients fetch ${BIG_MIB} MiB at once" rss-10 "MiB, lower is better"
row "peak RSS over the whole run, all processes" peak "MiB, lower is better"
printf '| failed transfers, 3 runs (c=100 / c=500) | %s / %s | %s / %s | %s / %s | %s / %s | %s / %s | |\n' \
    "${RESULT[small-100-fail,phoneboot]}" "${RESULT[small-500-fail,phoneboot]}" \
    "${RESULT[small-100-fail,phoneboot-tuned]}" "${RESULT[small-500-fail,phoneboot-tuned]}" \
    "${RESULT[small-100-fail,tftpd-hpa]}" "${RESULT[small-500-fail,tftpd-hpa]}" \
    "${RESULT[small-100-fail,atftpd]}" "${RESULT[small-500-fail,atftpd]}" \
    "${RESULT[small-100-fail,dnsmasq]}" "${RESULT[small-500-fail,dnsmasq]}"
printf '| client CPU per transfer (c=100, vs phoneboot) | %s µs: client ceiling ≈ %s transfers/s per core | | | | | |\n' \
    "${RESULT[small-100-client,phoneboot]}" \
    "$(awk -v c="${RESULT[small-100-client,phoneboot]}" 'BEGIN { if (c > 0) printf "%.0f", 1e6/c; else print "-" }')"
