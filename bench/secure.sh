#!/usr/bin/env bash
# A secure cluster's boot storm against the same storm unsigned, in one run, with phoneboot's
# defaults: PHONES emulated phones (`phoneboot storm`) boot from a database served plain, then
# from a copy of it with signing keys (`phoneboot security init`), where every phone holds a
# trust list (--secure: it takes the first ITL it is given), asks for NAME.sgn before NAME
# and checks each signature. Also: how long the full build takes with and without signing
# every file (the server signs ahead, so a storm finds its signatures made).
#
#   bench/secure.sh                  # 10,000 phones, concurrency 1000
#   PHONES=100000 bench/secure.sh    # the full build of 100,000 devices, signed
#   ROUNDS=5 bench/secure.sh         # each storm 5 times (default 3)
#
# Each storm runs ROUNDS times, the three kinds interleaved (a slow phase of the VM then hits
# every kind alike); the table shows, per kind, the round of median server CPU.
#
# Loopback only; stops every server it starts by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
PHONES=${PHONES:-10000}
CONCURRENCY=${CONCURRENCY:-1000}
ROUNDS=${ROUNDS:-3}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a whole number of at least 1, not '$ROUNDS'" >&2; exit 1; }
STORM_PHONES=${STORM_PHONES:-$(( PHONES < 10000 ? PHONES : 10000 ))}
cargo build --release -q -p phoneboot
PB=$PWD/target/release/phoneboot
WORK=$(mktemp -d /tmp/phoneboot-secure.XXXXXX)
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
make_phone_db "$PB" "$WORK/plain.db" "$PHONES" "$WORK"
cp "$WORK/plain.db" "$WORK/signed.db"
"$PB" security init --database "$WORK/signed.db" >/dev/null
mkdir -p "$WORK/empty"

declare -A PID
serve() { # name address
    "$PB" serve --database "$WORK/$1.db" --root "$WORK/empty" --tftp-listen "$2" --http-listen off \
        --https-listen off --https-mutual-listen off --admin-listen off >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    PID[$1]=$!
    # Ready when the full build (and, with keys, the signing of every file) is done.
    for _ in $(seq 1 6000); do
        grep -q "built every configuration file" "$WORK/$1.log" && return
        sleep 0.1
    done
    echo "$1 never finished its build" >&2; exit 1
}
took() { sed -n 's/.*built every configuration file.*took_ms=\([0-9]*\).*/\1/p' "$WORK/$1.log" | head -1; }
serve plain 127.0.0.1:16910
serve signed 127.0.0.1:16911
echo "full build, $PHONES devices: unsigned $(took plain) ms, signing every file $(took signed) ms"

# The server's CPU time (user + system, ms) from /proc: what the storm cost the server, apart
# from the storm tool's own work (which, for --secure, includes checking every signature).
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }
declare -A RESULT CPU
storm() { # name round address args...
    local name=$1 round=$2 addr=$3; shift 3
    local before; before=$(cpu_ms "${PID[$name]}")
    local out=$WORK/$name.$round.storm
    "$PB" storm --machine --phones "$STORM_PHONES" --from-database "$WORK/$name.db" --http never \
        --running-load configured --concurrency "$CONCURRENCY" --server "$addr" "$@" \
        > "$out" 2>"$out.err" || true
    local after; after=$(cpu_ms "${PID[$name]}")
    [ -n "$after" ] || { echo "the $name server is gone; its log:" >&2; cat "$WORK/$name.log" >&2; exit 1; }
    echo "$(( after - before )) $out" >> "$WORK/$name.runs"
    echo "$name, round $round: $(tr '\n' ' ' < "$out")server_cpu_ms $(( after - before ))"
}
PID[signed-plain]=${PID[signed]}
cp "$WORK/signed.db" "$WORK/signed-plain.db"
echo "== storms: unsigned; signed cluster, phones asking for the plain files (they fetch the ITL,"
echo "   nothing signed); signed, phones checking every signature. $ROUNDS rounds, interleaved"
for round in $(seq 1 "$ROUNDS"); do
    storm plain "$round" 127.0.0.1:16910
    storm signed-plain "$round" 127.0.0.1:16911
    storm signed "$round" 127.0.0.1:16911 --secure
done
for s in plain signed-plain signed; do
    median=$(sort -n "$WORK/$s.runs" | sed -n "$(( (ROUNDS + 1) / 2 ))p")
    CPU[$s]=${median%% *}
    RESULT[$s]=${median#* }
done

get() { awk -v k="$2" '$1 == k {print $2}' "${RESULT[$1]}"; }
echo
echo "| cluster | booted | failed | busy | storm time (s) | boot p50 / p95 / p99 / max (ms) | server CPU (ms) | server CPU ÷ unsigned | storm time ÷ unsigned |"
echo "|---|---|---|---|---|---|---|---|---|"
declare -A NAME=([plain]="unsigned cluster, phones without a trust list"
    [signed-plain]="signed cluster, phones asking for plain files (the ITL fetched)"
    [signed]="signed cluster, phones asking for .sgn and checking each signature")
for s in plain signed-plain signed; do
    ratio=$(awk -v a="$(get "$s" elapsed_s)" -v b="$(get plain elapsed_s)" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    cpu_ratio=$(awk -v a="${CPU[$s]}" -v b="${CPU[plain]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf "| %s | %s | %s | %s | %s | %s / %s / %s / %s | %s | %s | %s |\n" \
        "${NAME[$s]}" \
        "$(get "$s" booted)" "$(get "$s" failed)" "$(get "$s" busy)" "$(get "$s" elapsed_s)" \
        "$(get "$s" p50_ms)" "$(get "$s" p95_ms)" "$(get "$s" p99_ms)" "$(get "$s" max_ms)" \
        "${CPU[$s]}" "$cpu_ratio" "$ratio"
done
sgn=$(awk -v a="${CPU[signed]}" -v b="${CPU[signed-plain]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
echo
echo "asking for .sgn instead of the plain files, same cluster: server CPU ${sgn}x (medians of $ROUNDS rounds)"
echo "$(nproc) cores; $(date -u +%F)"
