#!/usr/bin/env bash
# REGISTER load benchmark: the highest registration rate a registrar sustains
# with digest authentication (MD5, qop=auth) and no failure at all.
#
# One sipp "call" is one registration as a phone does it:
#   REGISTER -> 401 challenge -> REGISTER with digest -> 200
# i.e. 2 SIP requests (and 2 responses) per registration. Rates below are in
# registrations per second (the REGISTER request rate is twice that).
#
# sipp (UAC, UDP, one socket) cycles through N users (user0000..) from a
# generated CSV and steps the rate up (500, 1000, 2000, ... per second, each
# step STEP seconds, bounded with -m, -l, -timeout), then bisects between the
# last good and the first bad rate. A step is good when every call succeeded:
# 0 failed calls, 0 unexpected messages, every call created, and sipp reached
# at least 95% of the asked rate. For each step it also records the response
# time of the whole registration (first REGISTER to 200: mean/p50/p95/p99) and
# the CPU used by sipp, by the server, by everything else, and left idle: on a
# 2-core machine sipp (one thread) or the machine itself can be the
# bottleneck, and the CPU columns tell which one was.
#
# Targets (all on loopback):
#   kamailio     Kamailio as registrar (kamailio-registrar.cfg: usrloc in
#                memory, passwords from a db_text table built from the same
#                CSV, held in a hash table or queried by auth_db) on 127.0.0.1:5070
#   switchboard  Switchboard (`switchboard run --config FILE`) on 127.0.0.1:5080,
#                with switchboard-bench.toml plus [[users]] generated from the CSV
#   both         kamailio then switchboard, and a summary with the ratio
#   trivial      Kamailio answering a fixed 401 then 200, no registrar at all:
#                the ceiling of sipp + loopback here (add it with --calibrate)
#
# Usage:
#   benches/load/register.sh [--target kamailio|switchboard|both|trivial]
#       [--switchboard-bin target/release/switchboard] [--users 10000]
#       [--rates "500 1000 2000 4000 8000 16000"] [--step 10] [--refine 2]
#       [--calibrate] [--kamailio-auth htable|db] [--out summary.md] [--keep]
#
#   --calibrate        run the trivial target first (sipp's ceiling here)
#   --kamailio-auth    htable (default): passwords loaded once into a hash
#                      table; db: auth_db querying db_text on every digest
#                      (db_text scans 10 000 rows under a lock: the bottleneck)
#
# Needs root on Debian 12 only to install sip-tester/kamailio when missing.
# Every process it starts is stopped on exit; every run is bounded in time.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

TARGET=kamailio
SB_BIN="$ROOT/target/release/switchboard"
NUSERS=10000
RATES="500 1000 2000 4000 8000 16000"
STEP=10
REFINE=2
CALIBRATE=
OUT=
KEEP=
KAM_PORT=5070
TRIVIAL_PORT=5071
SB_PORT=5080
SIPP_PORT=15070
MIN_RATIO=0.95    # a step must reach this share of the asked rate
KAM_AUTH=htable   # Kamailio's password lookup: htable (hash table) or db (auth_db on db_text)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --target) TARGET=$2; shift 2 ;;
    --switchboard-bin) SB_BIN=$2; shift 2 ;;
    --users) NUSERS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --step) STEP=$2; shift 2 ;;
    --refine) REFINE=$2; shift 2 ;;
    --calibrate) CALIBRATE=1; shift ;;
    --kamailio-auth) KAM_AUTH=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$TARGET" in
kamailio) TARGETS=(kamailio) ;;
switchboard) TARGETS=(switchboard) ;;
both) TARGETS=(kamailio switchboard) ;;
trivial) TARGETS=(trivial) ;;
*) echo "--target must be kamailio, switchboard, both or trivial" >&2; exit 2 ;;
esac
case "$KAM_AUTH" in
htable) KAM_DEFINES=() ;;
db) KAM_DEFINES=(-A WITH_AUTH_DB) ;;
*) echo "--kamailio-auth must be htable or db" >&2; exit 2 ;;
esac
if [ -n "$CALIBRATE" ] && [ "$TARGET" != trivial ]; then TARGETS=(trivial "${TARGETS[@]}"); fi

# ------------------------------------------------------------------ tools
need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2 (for $1)" >&2
    if [ "$(id -u)" != 0 ]; then
        echo "error: $1 is missing and we are not root: apt-get install -y $2" >&2
        exit 2
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
}
need sipp sip-tester
need ss iproute2
need ps procps
for t in "${TARGETS[@]}"; do
    case "$t" in kamailio | trivial) need kamailio kamailio ;; esac
done
if [[ " ${TARGETS[*]} " == *" switchboard "* ]] && [ ! -x "$SB_BIN" ]; then
    echo "error: no Switchboard binary at $SB_BIN (cargo build --release, or --switchboard-bin PATH)" >&2
    exit 2
fi

# ------------------------------------------------------------ work dir, cleanup
WORK=$(mktemp -d /tmp/register-bench.XXXXXX)
SERVER_PID=
cleanup() {
    stop_server
    if [ -n "$KEEP" ]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Longest a server may live: every step, with margins, for the worst case.
NSTEPS=$(($(wc -w <<<"$RATES") + REFINE + 2))
SERVER_MAX_S=$((NSTEPS * (STEP + 40) + 60))

# --------------------------------------------------------------- the users
CSV="$WORK/users.csv"
{
    echo SEQUENTIAL
    for ((i = 0; i < NUSERS; i++)); do printf 'user%04d;pw-%04d-%d;\n' "$i" "$i" $(((i * 7919) % 100003)); done
} >"$CSV"

# ----------------------------------------------------------------- servers
wait_udp() { # wait_udp PORT NAME LOG
    for _ in $(seq 100); do
        ss -lnu | grep -q "127.0.0.1:$1 " && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "error: $2 is not listening on udp 127.0.0.1:$1; its log:" >&2
    tail -20 "$3" >&2
    exit 1
}
port_free() { # port_free PORT NAME
    if ss -lnu | grep -q "127.0.0.1:$1 "; then
        echo "error: udp 127.0.0.1:$1 is already in use; stop what listens there ($2 needs it)" >&2
        exit 1
    fi
}

start_kamailio() { # start_kamailio NAME PORT [-A DEFINE]...
    local name=$1 port=$2
    shift 2
    port_free "$port" "$name"
    local db="$WORK/kamailio-db"
    if [ ! -d "$db" ]; then
        mkdir -p "$db"
        printf 'id(int,auto) table_name(string) table_version(int) \n0:subscriber:7\n0:location:9\n' >"$db/version"
        {
            echo 'id(int,auto) username(string) domain(string) password(string) '
            awk -F';' 'NR > 1 { printf "%d:%s:127.0.0.1:%s\n", NR - 1, $1, $2 }' "$CSV"
        } >"$db/subscriber"
    fi
    # -m 256 -M 16: shared memory for 10 000 bindings and nonces, 16 MB per process
    timeout "$SERVER_MAX_S" kamailio -f "$HERE/kamailio-registrar.cfg" -DD -E -m 256 -M 16 \
        -A "SB_PORT=$port" -A "SB_DB_URL=\"text://$db\"" -A SB_CHILDREN=4 "$@" \
        >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    wait_udp "$port" "$name" "$WORK/$name.log"
}

start_switchboard() {
    port_free "$SB_PORT" switchboard
    local cfg="$WORK/switchboard.toml"
    {
        sed "s/127.0.0.1:5080/127.0.0.1:$SB_PORT/" "$HERE/switchboard-bench.toml"
        echo
        echo "# ---- generated by register.sh from $CSV"
        awk -F';' 'NR > 1 { printf "\n[[users]]\nid = \"%s\"\nname = \"Bench %s\"\npassword = \"%s\"\n", $1, $1, $2 }' "$CSV"
    } >"$cfg"
    (cd "$WORK" && exec timeout "$SERVER_MAX_S" "$SB_BIN" run --config "$cfg") >"$WORK/switchboard.log" 2>&1 &
    SERVER_PID=$!
    wait_udp "$SB_PORT" switchboard "$WORK/switchboard.log"
}

# CPU ticks (user + system) of a process tree: the server and its workers.
tree_ticks() { # tree_ticks PID
    local pids
    pids=$(ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            keep[root] = 1
            do { changed = 0
                 for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 }
            } while (changed)
            for (p in keep) print p
        }')
    local total=0 p t
    for p in $pids; do
        # fields after the command name: utime and stime are the 12th and 13th
        t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
        total=$((total + ${t:-0}))
    done
    echo "$total"
}
HZ=$(getconf CLK_TCK)
now() { date +%s.%N; }
# whole-machine CPU ticks: "busy idle" (all cores; softirq, where loopback
# packets are processed, counts as busy)
machine_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat
}

# --------------------------------------------------------------- one step
# run_sipp DIR PORT RATE CALLS → exit code of sipp; leaves stat.csv, *_rtt.csv, time.txt
run_sipp() {
    local dir=$1 port=$2 rate=$3 calls=$4
    mkdir -p "$dir"
    local limit=$((rate * 2 > 200 ? rate * 2 : 200)) # at most 2 s worth of calls in flight
    local budget=$((calls / rate + 20))
    local rc=0
    (
        cd "$dir"
        TIMEFORMAT='%U %S'
        {
            time timeout $((budget + 15)) sipp "127.0.0.1:$port" -sf "$HERE/register-load.xml" \
                -inf "$CSV" -t u1 -i 127.0.0.1 -p "$SIPP_PORT" \
                -r "$rate" -rp 1000 -m "$calls" -l "$limit" \
                -timeout "${budget}s" -timeout_error -recv_timeout 5000 -max_retrans 5 \
                -buff_size 4194304 -nostdin \
                -trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 500 \
                >sipp.out 2>&1
        } 2>time.txt
    ) || rc=$?
    return "$rc"
}

# column NAME FILE: the value of the last line of sipp's statistics CSV
stat_col() {
    awk -F';' -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
                            END { if (c) print $c; else print "" }' "$2"
}

# percentiles of the response times in the rtt dump: sipp counts whole
# milliseconds, so "<1" is a registration done within the same millisecond
percentiles() { # percentiles DIR → "mean p50 p95 p99 max"
    cat "$1"/*_rtt.csv 2>/dev/null | awk -F';' '$3 == "reg" { print $2 }' | sort -n |
        awk 'function at(q,   i) { i = int(NR * q); if (i < 1) i = 1; return ms(v[i]) }
             function ms(x) { return x < 1 ? "<1" : sprintf("%d", x) }
             { v[NR] = $1; sum += $1 }
             END { if (NR == 0) print "- - - - -"
                   else print sprintf("%.2f", sum / NR), at(0.50), at(0.95), at(0.99), ms(v[NR]) }'
}

# step NAME PORT RATE: runs one rate, prints a line, sets STEP_OK and STEP_LINE
step() {
    local name=$1 port=$2 rate=$3
    local calls=$((rate * STEP))
    local dir="$WORK/$name/r$rate"
    local t0 t1 s0 s1 rc=0
    local m0 m1
    s0=$(tree_ticks "$SERVER_PID")
    m0=$(machine_ticks)
    t0=$(now)
    run_sipp "$dir" "$port" "$rate" "$calls" || rc=$?
    t1=$(now)
    m1=$(machine_ticks)
    s1=$(tree_ticks "$SERVER_PID")
    local st="$dir/stat.csv"
    local created ok failed unexp retrans achieved
    created=$(stat_col 'TotalCallCreated' "$st")
    ok=$(stat_col 'SuccessfulCall(C)' "$st")
    failed=$(stat_col 'FailedCall(C)' "$st")
    unexp=$(stat_col 'FailedUnexpectedMessage(C)' "$st")
    retrans=$(stat_col 'Retransmissions(C)' "$st")
    achieved=$(stat_col 'CallRate(C)' "$st")
    local wall sipp_cpu srv_cpu
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    sipp_cpu=$(awk -v w="$wall" '{ printf "%.0f", ($1 + $2) / w * 100 }' "$dir/time.txt" 2>/dev/null || echo "?")
    srv_cpu=$(awk -v a="$s0" -v b="$s1" -v hz="$HZ" -v w="$wall" 'BEGIN { printf "%.0f", (b - a) / hz / w * 100 }')
    # idle: what nobody used; other: busy time that was neither sipp nor the
    # server (kernel softirq for loopback, and anything else running here)
    local idle other
    read -r idle other < <(awk -v m0="$m0" -v m1="$m1" -v hz="$HZ" -v w="$wall" -v sp="$sipp_cpu" -v sv="$srv_cpu" 'BEGIN {
        split(m0, a, " "); split(m1, b, " ")
        busy = (b[1] - a[1]) / hz / w * 100; idle = (b[2] - a[2]) / hz / w * 100
        other = busy - sp - sv; if (other < 0) other = 0
        printf "%.0f %.0f\n", idle, other }')
    local avg p50 p95 p99 max
    read -r avg p50 p95 p99 max < <(percentiles "$dir")
    STEP_OK=0
    local why=""
    if [ "$rc" != 0 ]; then why="sipp exit $rc"; fi
    if [ "${failed:-1}" != 0 ]; then why="${why:+$why, }$failed failed"; fi
    if [ "${unexp:-1}" != 0 ]; then why="${why:+$why, }$unexp unexpected"; fi
    if [ "${created:-0}" != "$calls" ] || [ "${ok:-0}" != "$calls" ]; then why="${why:+$why, }${ok:-0}/$calls done"; fi
    if awk -v a="${achieved:-0}" -v r="$rate" -v m="$MIN_RATIO" 'BEGIN { exit !(a < r * m) }'; then
        why="${why:+$why, }rate ${achieved:-0}/s"
    fi
    [ -z "$why" ] && STEP_OK=1
    STEP_LINE=$(printf '%-11s %7s %9.0f %7s %6s %6s %7s %8s %5s %5s %5s %6s %6s%% %6s%% %6s%% %6s%%  %s' \
        "$name" "$rate" "${achieved:-0}" "${ok:-0}" "${failed:--}" "${unexp:--}" "${retrans:--}" \
        "$avg" "$p50" "$p95" "$p99" "$max" "$sipp_cpu" "$srv_cpu" "$other" "$idle" "${why:-ok}")
    echo "$STEP_LINE"
    echo "$STEP_LINE" >>"$WORK/$name.steps"
}

HEADER=$(printf '%-11s %7s %9s %7s %6s %6s %7s %8s %5s %5s %5s %6s %7s %7s %7s %7s  %s' \
    target rate/s achieved/s ok failed unexp retrans avg_ms p50 p95 p99 max_ms sipp srv other idle verdict)

# bench NAME PORT: warm-up, stepping, bisection; sets BEST[NAME] and BEST_LINE[NAME]
declare -A BEST BEST_LINE CAPPED
bench() {
    local name=$1 port=$2
    local best=0 best_line="" bad=""
    echo "== $name: smoke test (1 registration)"
    if ! run_sipp "$WORK/$name/smoke" "$port" 1 1; then
        echo "error: $name does not answer REGISTER -> 401 -> REGISTER -> 200; sipp said:" >&2
        tail -30 "$WORK/$name/smoke/sipp.out" >&2
        BEST[$name]=0
        BEST_LINE[$name]="(smoke test failed)"
        return 0
    fi
    echo "== $name: warm-up (all $NUSERS users once, not measured)"
    run_sipp "$WORK/$name/warmup" "$port" 500 "$NUSERS" || true
    echo "$HEADER"
    local rate
    for rate in $RATES; do
        sleep 2 # let the server drain
        step "$name" "$port" "$rate"
        if [ "$STEP_OK" = 1 ]; then
            best=$rate
            best_line=$STEP_LINE
        else
            bad=$rate
            break
        fi
    done
    # bisect between the last good and the first bad rate
    local i lo=$best hi
    if [ -n "$bad" ]; then
        hi=$bad
        for ((i = 0; i < REFINE; i++)); do
            rate=$(((lo + hi) / 2 / 100 * 100))
            if [ "$rate" -le "$lo" ] || [ "$rate" -ge "$hi" ]; then break; fi
            sleep 2
            step "$name" "$port" "$rate"
            if [ "$STEP_OK" = 1 ]; then
                lo=$rate
                best=$rate
                best_line=$STEP_LINE
            else
                hi=$rate
            fi
        done
    fi
    BEST[$name]=$best
    BEST_LINE[$name]=${best_line:-"$name: no rate passed (the lowest tried was ${RATES%% *}/s)"}
    [ -z "$bad" ] && [ "$best" != 0 ] && CAPPED[$name]=1
    return 0
}

# ------------------------------------------------------------------- main
echo "register bench: ${TARGETS[*]} (kamailio auth: $KAM_AUTH); $NUSERS users; rates $RATES /s, ${STEP} s each; work dir $WORK"
echo "machine: $(nproc) cores; sipp $(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1); kamailio $(kamailio -v 2>/dev/null | head -1 | awk '{print $3}')"
for t in "${TARGETS[@]}"; do
    case "$t" in
    kamailio) start_kamailio kamailio "$KAM_PORT" "${KAM_DEFINES[@]}"; bench kamailio "$KAM_PORT" ;;
    trivial) start_kamailio trivial "$TRIVIAL_PORT" -A WITH_TRIVIAL; bench trivial "$TRIVIAL_PORT" ;;
    switchboard) start_switchboard; bench switchboard "$SB_PORT" ;;
    esac
    stop_server
done

{
    echo
    echo "## REGISTER load: highest rate with no failure"
    echo
    echo "Registrations/s (each = 2 REGISTER + 401 + 200, MD5 digest), UDP on loopback,"
    echo "$NUSERS users, ${STEP} s per step, $(nproc) cores shared by sipp and the server;"
    echo "Kamailio's password lookup: $KAM_AUTH."
    echo
    echo '```'
    echo "$HEADER"
    for t in "${TARGETS[@]}"; do echo "${BEST_LINE[$t]}"; done
    echo '```'
    for t in "${TARGETS[@]}"; do
        if [ -n "${CAPPED[$t]:-}" ]; then
            echo "$t passed every rate tried: its limit is above ${BEST[$t]}/s (raise --rates)."
        fi
    done
    if [[ " ${TARGETS[*]} " == *" kamailio "* && " ${TARGETS[*]} " == *" switchboard "* ]]; then
        awk -v s="${BEST[switchboard]}" -v k="${BEST[kamailio]}" 'BEGIN {
            if (k > 0) printf "\nswitchboard/kamailio = %d/%d = %.2f\n", s, k, s / k
            else print "\nswitchboard/kamailio: kamailio passed no rate" }'
    fi
    echo
    echo "sipp, srv, other, idle: CPU over the step in percent of one core ($(nproc) cores ="
    echo "$(($(nproc) * 100))%): sipp; the server's processes; everything else that was busy (kernel"
    echo "softirq for loopback packets, other programs: a large 'other' means a noisy run);"
    echo "idle. sipp is one thread: near 100% it is the bottleneck and the rate measures"
    echo "sipp, not the server; near 0% idle the machine is the limit."
    echo "Times: whole registration (REGISTER to 200, two round trips), sipp counts whole ms."
} | tee "$WORK/summary.md"
if [ -n "$OUT" ]; then cp "$WORK/summary.md" "$OUT"; fi
