# Shared by the storm benchmarks: a device database of PHONES phones (8841 SIP, 7965 and
# 7941 SCCP, one line each), made with `phoneboot init --example` and `phoneboot import`,
# without the example's own devices (they would be booted too).
#   make_phone_db PHONEBOOT DATABASE PHONES WORKDIR
make_phone_db() {
    local pb=$1 db=$2 phones=$3 work=$4
    "$pb" init --example --database "$db" >/dev/null
    python3 - "$phones" > "$work/phones.csv" <<'PY'
import sys
models = [("8841", "SIP"), ("7965", "SCCP"), ("7941", "SCCP")]
print("mac,model,protocol,pool,dial_plan,softkeys,line1_dn,line1_display_name")
for i in range(int(sys.argv[1])):
    model, proto = models[i % 3]
    sip = "Standard" if proto == "SIP" else ""
    print(f"00CC{i:08X},{model},{proto},Default,{sip},{sip},{400000 + i},Phone {i}")
PY
    "$pb" import "$work/phones.csv" --database "$db" >/dev/null
    for d in SEP001122334401 SEP001122334402 SEP001122334403 SEP001122334404 BOBSOFTPHONE TABALICE SEP001122334407; do
        "$pb" device remove "$d" --database "$db" >/dev/null
    done
}
