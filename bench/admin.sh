#!/usr/bin/env bash
# The admin API and web UI at 100,000 devices, with phoneboot's defaults: p50 and p99 of the
# device list (first page, a page deep in the cursor chain, a search) through the API and as
# the UI's page. Each request is timed by curl (time_total) on loopback.
#   bench/admin.sh [DEVICES] [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/phones.sh
devices=${1:-100000}
requests=${2:-30}
cargo build --release --locked -q -p phoneboot
pb=$PWD/target/release/phoneboot
work=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

make_phone_db "$pb" "$work/db" "$devices" "$work"
echo "a long enough password" | "$pb" admin user add bench --role admin --password-stdin --database "$work/db" 2>/dev/null
token=$("$pb" admin token add --user bench --label bench --database "$work/db" 2>/dev/null)
mkdir "$work/tftp"
"$pb" serve --database "$work/db" --root "$work/tftp" --tftp-listen 127.0.0.1:0 \
    --http-listen off --https-listen off --https-mutual-listen off \
    --admin-listen 127.0.0.1:16991 >"$work/log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:16991/healthz >/dev/null && break; sleep 0.2; done
# A browser session for the UI pages.
curl -s -c "$work/cookies" -H 'Content-Type: application/json' \
    -d '{"name":"bench","password":"a long enough password"}' http://127.0.0.1:16991/api/v1/session >/dev/null
deep=$(curl -s -H "Authorization: Bearer $token" \
    "http://127.0.0.1:16991/api/v1/devices?limit=1000&cursor=$(python3 -c 'print("0:sep00cc0000c350".encode().hex())')" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["next"])')

measure() {
    local label=$1; shift
    local times=()
    for _ in $(seq "$requests"); do
        times+=("$(curl -s -o /dev/null -w '%{time_total}' "$@")")
    done
    printf '%s\n' "${times[@]}" | python3 -c '
import sys
t = sorted(float(x) * 1000 for x in sys.stdin)
p = lambda q: t[min(len(t) - 1, int(q * len(t)))]
print(f"{sys.argv[1]:<44} p50 {p(0.5):8.1f} ms   p99 {p(0.99):8.1f} ms")' "$label"
}
api=(-H "Authorization: Bearer $token")
echo "phoneboot admin at $devices devices, $requests requests each ($(date -u +%F), $(nproc) cores)"
measure "API list, first page (100)" "${api[@]}" "http://127.0.0.1:16991/api/v1/devices"
measure "API list, page at device 50,000" "${api[@]}" "http://127.0.0.1:16991/api/v1/devices?cursor=$deep"
measure "API search by DN (q=450123)" "${api[@]}" "http://127.0.0.1:16991/api/v1/devices?q=450123"
measure "UI device list, first page (50)" -b "$work/cookies" "http://127.0.0.1:16991/ui/devices"
measure "UI device search by MAC (q=00CC0000C350)" -b "$work/cookies" "http://127.0.0.1:16991/ui/devices?q=00CC0000C350"
measure "API get one device" "${api[@]}" "http://127.0.0.1:16991/api/v1/devices/SEP00CC0000C350"
