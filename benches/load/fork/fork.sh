#!/usr/bin/env bash
# Call-forking load benchmark: the highest call rate a server sustains through
# a 3-way parallel fork with no failure at all, and the INVITE->180 latency at
# a fixed rate.
#
# One sipp "call" is one inbound call that rings three agents at once:
#
#   caller (uac_fork.xml) --INVITE--> server --INVITE x3--> agent1 (uas_answer.xml)
#                                                           agent2 (uas_ring.xml)
#                                                           agent3 (uas_ring.xml)
#   all three ring (180); agent1 answers after --answer-ms (200); the server
#   CANCELs agent2 and agent3 (200 + 487 + ACK); the caller ACKs, holds the
#   call --hold-ms, then hangs up (BYE -> 200), all through the server.
#
# Four sipp processes on loopback (the caller and three UAS agents, each on
# its own UDP port, each serving any number of concurrent calls) and the
# server. The agents register first (register_noauth.xml, no digest, sent
# from the agent's own port), then each rate step runs STEP seconds, bounded
# with -m, -l and -timeout, then the rate is bisected between the last good
# and the first bad one. A step is good when every call succeeded on all four
# sipp processes: 0 failed calls, 0 unexpected messages, every call completed
# on the caller and on each agent, sipp reached 95% of the asked rate.
#
# Before the steps, one run at --latency-rate measures INVITE->180 (the time a
# caller waits for ringback: the server routes the number, forks, the first
# agent's 180 comes back) from sipp's message log, to the microsecond:
# p50/p95/p99/max. In the steps, sipp's own "ring" counter (whole ms) shows
# how the latency grows under load.
#
# For each step it records the CPU of the caller, of the three agents and of
# the server: on a 2-core machine the four sipp processes (one thread each)
# compete with the server, and the columns tell who was the limit.
#
# Targets (all UDP on loopback):
#   kamailio     Kamailio as a stateful forking proxy (kamailio-fork.cfg, tm,
#                record-route, registrar in memory) on 127.0.0.1:5090
#   switchboard  Switchboard (`switchboard run --config FILE`, B2BUA) on
#                127.0.0.1:5091 with switchboard-fork.toml
#   both         kamailio then switchboard, and a summary with the ratio
#
# Usage:
#   benches/load/fork/fork.sh [--target kamailio|switchboard|both]
#       [--rates "50 100 200 400 800 1600 3200 6400"] [--step 10] [--refine 3]
#       [--latency-rate 50] [--latency-secs 20]
#       [--answer-ms 100] [--hold-ms 1000]
#       [--kamailio-branches location|static] [--kamailio-children 4]
#       [--kamailio-shm 1024] [--kamailio-mem qm|fm|tlsf]
#       [--switchboard-bin target/release/switchboard] [--rtp-ports LOW-HIGH]
#       [--out summary.md] [--keep]
#
#   --answer-ms   how long agent1 rings before it answers (sipp -d of the agent)
#   --hold-ms     how long the caller stays on the line before BYE (0 is fine)
#   --kamailio-branches  location (default): the agents register and Kamailio
#                 looks them up, as Switchboard does; static: three fixed URIs
#   --kamailio-shm  Kamailio's shared memory in MB (its transactions live there)
#   --kamailio-mem  its memory manager (shared and private): tlsf (default here), fm, or qm
#                 (Kamailio's own default, with debug checks: 3x the CPU)
#   --refine      bisection steps between the last good and the first bad rate
#   --rtp-ports   Switchboard's [media] rtp_ports instead of the one in
#                 switchboard-fork.toml. Every call holds 2 port pairs (4 UDP
#                 sockets, 4 open files) from its INVITE to its end, so the
#                 range bounds the calls at once: about rate x (answer + hold
#                 + 0.05 s). The script raises `ulimit -n` to the hard limit and
#                 says at which rate the range, or the open-file limit, runs out.
#
# Besides the step table it records, for each step, the server's CPU per
# thread (Switchboard: the signalling thread "switchboard", "relay",
# "store-writer"; Kamailio: one line per process), its memory (PSS, summed
# over its processes, when the caller ends) and its warnings and errors
# (counted by message, from its log).
#
# Needs root on Debian 12 only to install sip-tester/kamailio when missing.
# Every process it starts is stopped on exit; every run is bounded in time.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)

TARGET=kamailio
SB_BIN="$ROOT/target/release/switchboard"
RATES="50 100 200 400 800 1600 3200 6400"
STEP=10
REFINE=3
LAT_RATE=50
LAT_SECS=20
ANSWER_MS=100
HOLD_MS=1000
KAM_BRANCHES=location
KAM_CHILDREN=4
KAM_SHM=1024 # MB
KAM_MEM=tlsf # Kamailio's memory manager (shm and pkg): tlsf, fm, or qm (its default, with debug checks: 3x the CPU)
OUT=
KEEP=
RTP_PORTS= # empty: the range in switchboard-fork.toml
NUMBER=+33100000001
KAM_PORT=5090
SB_PORT=5091
CALLER_PORT=5100
AGENT_PORTS=(5101 5102 5103) # agent1 answers, agent2 and agent3 ring
MIN_RATIO=0.95               # a step must reach this share of the asked rate
DRAIN_S=15                   # after the caller ends, how long the agents may take

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --target) TARGET=$2; shift 2 ;;
    --switchboard-bin) SB_BIN=$2; shift 2 ;;
    --rtp-ports) RTP_PORTS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --step) STEP=$2; shift 2 ;;
    --refine) REFINE=$2; shift 2 ;;
    --latency-rate) LAT_RATE=$2; shift 2 ;;
    --latency-secs) LAT_SECS=$2; shift 2 ;;
    --answer-ms) ANSWER_MS=$2; shift 2 ;;
    --hold-ms) HOLD_MS=$2; shift 2 ;;
    --kamailio-branches) KAM_BRANCHES=$2; shift 2 ;;
    --kamailio-children) KAM_CHILDREN=$2; shift 2 ;;
    --kamailio-shm) KAM_SHM=$2; shift 2 ;;
    --kamailio-mem) KAM_MEM=$2; shift 2 ;;
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
*) echo "--target must be kamailio, switchboard or both" >&2; exit 2 ;;
esac
case "$KAM_BRANCHES" in
location) KAM_DEFINES=() ;;
static) KAM_DEFINES=(-A WITH_STATIC_BRANCHES) ;;
*) echo "--kamailio-branches must be location or static" >&2; exit 2 ;;
esac
posint() { # posint NAME VALUE [MIN]
    if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt "${3:-1}" ]; then
        echo "$1 must be an integer >= ${3:-1}, not '$2'" >&2
        exit 2
    fi
}
for r in $RATES; do posint --rates "$r"; done
[ -n "$RATES" ] || { echo "--rates is empty" >&2; exit 2; }
posint --step "$STEP"
posint --refine "$REFINE" 0
posint --latency-rate "$LAT_RATE"
posint --latency-secs "$LAT_SECS"
posint --answer-ms "$ANSWER_MS" 0
posint --hold-ms "$HOLD_MS" 0
posint --kamailio-children "$KAM_CHILDREN"
posint --kamailio-shm "$KAM_SHM" 64
case "$KAM_MEM" in qm | fm | tlsf) ;; *) echo "--kamailio-mem must be qm, fm or tlsf" >&2; exit 2 ;; esac

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
if [[ " ${TARGETS[*]} " == *" kamailio "* ]]; then need kamailio kamailio; fi
if [[ " ${TARGETS[*]} " == *" switchboard "* ]] && [ ! -x "$SB_BIN" ]; then
    echo "error: no Switchboard binary at $SB_BIN (cargo build --release, or --switchboard-bin PATH)" >&2
    exit 2
fi

# ------------------------------------------------------------- media ports
# Switchboard anchors every call: 2 RTP/RTCP port pairs = 4 bound UDP sockets
# (4 open files) from the INVITE to the end of the call. The open-file limit
# is inherited by the daemon: raise it as far as allowed.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
[[ "$FD_LIMIT" =~ ^[0-9]+$ ]] || FD_LIMIT=1048576 # "unlimited"
MEDIA_NOTE=""
if [[ " ${TARGETS[*]} " == *" switchboard "* ]]; then
    [ -n "$RTP_PORTS" ] || RTP_PORTS=$(sed -n 's/^rtp_ports *= *"\([0-9]*-[0-9]*\)".*/\1/p' "$HERE/switchboard-fork.toml")
    if ! [[ "$RTP_PORTS" =~ ^([0-9]+)-([0-9]+)$ ]] || [ $((BASH_REMATCH[1] % 2)) != 0 ] ||
        [ "${BASH_REMATCH[2]}" -le "${BASH_REMATCH[1]}" ] || [ "${BASH_REMATCH[2]}" -gt 65535 ]; then
        echo "--rtp-ports must be LOW-HIGH with an even LOW below HIGH, not '$RTP_PORTS'" >&2
        exit 2
    fi
    RTP_LOW=${BASH_REMATCH[1]}
    RTP_HIGH=${BASH_REMATCH[2]}
    rtp_pairs=$(((RTP_HIGH - RTP_LOW + 1) / 2))
    # calls at once: ports, or open files (less ~100 for the daemon's own), / 4
    calls_ports=$((rtp_pairs / 2))
    calls_fds=$(((FD_LIMIT - 100) / 4))
    calls_max=$((calls_ports < calls_fds ? calls_ports : calls_fds))
    # a call lives its ring and hold times and a few round trips
    rate_max=$((calls_max * 1000 / (ANSWER_MS + HOLD_MS + 50)))
    MEDIA_NOTE="media ports $RTP_LOW-$RTP_HIGH ($rtp_pairs pairs: $calls_ports calls at once), open files $FD_LIMIT ($calls_fds calls);"
    MEDIA_NOTE+=" Switchboard runs out of $([ "$calls_ports" -le "$calls_fds" ] && echo ports || echo "open files (EMFILE)") above ~$rate_max calls/s"
    top_rate=$(tr ' ' '\n' <<<"$RATES" | sort -n | tail -1)
    if [ "$top_rate" -gt "$rate_max" ]; then
        MEDIA_NOTE+=" (below the highest rate asked, $top_rate)"
    fi
    read -r eph_low eph_high </proc/sys/net/ipv4/ip_local_port_range
    if [ "$RTP_HIGH" -ge "$eph_low" ] && [ "$RTP_LOW" -le "$eph_high" ]; then
        echo "warning: media ports $RTP_LOW-$RTP_HIGH overlap the ephemeral range $eph_low-$eph_high:" \
            "ports taken by other programs are skipped, at a cost" >&2
    fi
    for p in "$SB_PORT" "$CALLER_PORT" "${AGENT_PORTS[@]}"; do
        if [ "$p" -ge "$RTP_LOW" ] && [ "$p" -le "$RTP_HIGH" ]; then
            echo "--rtp-ports $RTP_PORTS holds the bench's SIP port $p" >&2
            exit 2
        fi
    done
fi

# ------------------------------------------------------------ work dir, cleanup
WORK=$(mktemp -d /tmp/fork-bench.XXXXXX)
SERVER_PID=
SIPP_RUNS=() # every sipp started, as DIR/NAME (see start_sipp), stopped on exit if still there
# Signals go only to processes of ours that still run: pids are reused (this
# machine wraps around 32768 within a run), so a pid is checked against its
# command name, and a sipp's against its exit record, before any kill.
is_ours() { # is_ours PID NAME...: PID runs one of these commands
    local comm n
    comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
    for n in "${@:2}"; do [ "$comm" = "$n" ] && return 0; done
    return 1
}
signal_sipp() { # signal_sipp SIGNAL DIR/NAME: to that sipp if it has not ended
    local pid
    [ -e "$2.rc" ] && return 0
    pid=$(cat "$2.pid" 2>/dev/null) || return 0
    if is_ours "$pid" sipp; then kill "-$1" "$pid" 2>/dev/null || true; fi
}
cleanup() {
    local r
    for r in "${SIPP_RUNS[@]}"; do signal_sipp TERM "$r"; done
    stop_server
    sleep 0.5
    for r in "${SIPP_RUNS[@]}"; do signal_sipp KILL "$r"; done
    if [ -n "$KEEP" ]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
# stop_server: SIGTERM to the server (through `timeout`, which passes it on),
# then SIGKILL to whatever is left of its process tree after 5 s (Switchboard
# lets calls in progress end on SIGTERM: after an overload there are many)
SERVER_COMMS=(timeout kamailio switchboard)
# (stderr to /dev/null: `timeout` dies of its child's SIGKILL, and bash would
# print a "Killed" notice for the job)
stop_server() { stop_server_ 2>/dev/null; }
stop_server_() {
    [ -n "$SERVER_PID" ] || return 0
    local pids="" p left
    if is_ours "$SERVER_PID" timeout; then
        pids=$(tree_pids "$SERVER_PID")
        kill "$SERVER_PID" 2>/dev/null || true
    fi
    for _ in $(seq 50); do
        left=""
        for p in $pids; do is_ours "$p" "${SERVER_COMMS[@]}" && left+=" $p"; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    # the server itself first; `timeout` then ends by itself
    for p in $pids; do
        [ "$p" != "$SERVER_PID" ] && is_ours "$p" "${SERVER_COMMS[@]}" && { kill -9 "$p" 2>/dev/null || true; }
    done
    for _ in $(seq 20); do is_ours "$SERVER_PID" timeout || break; sleep 0.1; done
    if is_ours "$SERVER_PID" timeout; then kill -9 "$SERVER_PID" 2>/dev/null || true; fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Longest a step may take: its calls, the ring and hold times, the drain.
step_budget() { # step_budget RATE CALLS → seconds the caller may run
    echo $((($2 + $1 - 1) / $1 + (ANSWER_MS + HOLD_MS) / 1000 + 20))
}
# Longest a server may live: every step, with margins, for the worst case.
NSTEPS=$(($(wc -w <<<"$RATES") + REFINE + 3))
SERVER_MAX_S=$((NSTEPS * (STEP + 20 + DRAIN_S + (ANSWER_MS + HOLD_MS) / 1000 + 15) + LAT_SECS + 120))

# ----------------------------------------------------------------- servers
# (filtered by ss and read to the end: with `grep -q` on the whole list, a long
# list, e.g. another benchmark's thousands of RTP sockets, kills ss with SIGPIPE
# and pipefail turns a match into a failure)
listening() { ss -Hlnu "sport = :$1" | grep "127.0.0.1:$1 " >/dev/null; }
# foreign_listener PORT PID...: a process other than the given ones (and their
# children) listening on udp 127.0.0.1:PORT, e.g. another benchmark started
# meanwhile (Kamailio binds with SO_REUSEADDR: a second one steals the traffic)
foreign_listener() {
    local port=$1 p allowed=" "
    shift
    for p in "$@"; do allowed+="$(tree_pids "$p" | tr '\n' ' ')"; done
    for p in $(ss -lnup | awk -v a="127.0.0.1:$port" '$4 == a' | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
        [[ "$allowed" == *" $p "* ]] || { echo "$p"; return 0; }
    done
    return 1
}
wait_udp() { # wait_udp PORT NAME LOG
    for _ in $(seq 300); do # 30 s: Kamailio fills its 1 GB of shared memory first
        listening "$1" && return 0
        is_ours "$SERVER_PID" timeout || break
        sleep 0.1
    done
    echo "error: $2 is not listening on udp 127.0.0.1:$1; its log:" >&2
    tail -20 "$3" >&2
    exit 1
}
port_free() { # port_free PORT NAME (a server just stopped may take a moment to let go)
    for _ in $(seq 50); do listening "$1" || return 0; sleep 0.1; done
    if listening "$1"; then
        echo "error: udp 127.0.0.1:$1 is already in use; stop what listens there ($2 needs it)" >&2
        exit 1
    fi
}

start_kamailio() {
    port_free "$KAM_PORT" kamailio
    local i defs=()
    for i in 1 2 3; do defs+=(-A "SB_AGENT${i}_URI=\"sip:agent$i@127.0.0.1:${AGENT_PORTS[i - 1]}\""); done
    # -m: shared memory for the transactions (tm keeps each one 5 s after its
    # final answer: at 1 400 calls/s, 256 MB ran out, "could not allocate
    # shared memory from shm pool"); -M 16: private memory per process
    timeout "$SERVER_MAX_S" kamailio -f "$HERE/kamailio-fork.cfg" -DD -E -x "$KAM_MEM" -X "$KAM_MEM" -m "$KAM_SHM" -M 16 \
        -A "SB_PORT=$KAM_PORT" -A "SB_NUMBER=\"$NUMBER\"" -A "SB_CHILDREN=$KAM_CHILDREN" \
        "${defs[@]}" "${KAM_DEFINES[@]}" >>"$WORK/kamailio.log" 2>&1 &
    SERVER_PID=$!
    wait_udp "$KAM_PORT" kamailio "$WORK/kamailio.log"
}

# (the servers append to their log: a restart after a failed step keeps its lines)
start_switchboard() {
    port_free "$SB_PORT" switchboard
    local cfg="$WORK/switchboard.toml"
    sed -e "s/127.0.0.1:5091/127.0.0.1:$SB_PORT/" \
        -e "s/^rtp_ports *=.*/rtp_ports = \"$RTP_LOW-$RTP_HIGH\"/" "$HERE/switchboard-fork.toml" >"$cfg"
    (cd "$WORK" && exec timeout "$SERVER_MAX_S" "$SB_BIN" run --config "$cfg") >>"$WORK/switchboard.log" 2>&1 &
    SERVER_PID=$!
    wait_udp "$SB_PORT" switchboard "$WORK/switchboard.log"
}

# a process and all its descendants, one pid a line
tree_pids() { # tree_pids PID
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            keep[root] = 1
            do { changed = 0
                 for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 }
            } while (changed)
            for (p in keep) print p
        }'
}
# CPU ticks (user + system) of a process tree: the server and its workers.
tree_ticks() { # tree_ticks PID
    local total=0 p t
    for p in $(tree_pids "$1"); do
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
# CPU ticks of every thread of a process tree: "tid name ticks" lines
thread_ticks() { # thread_ticks PID
    local p t comm
    for p in $(tree_pids "$1"); do
        for t in /proc/"$p"/task/*; do
            comm=$(tr ' ' '_' 2>/dev/null <"$t/comm") || continue
            sed 's/^.*) //' "$t/stat" 2>/dev/null |
                awk -v tid="${t##*/}" -v comm="$comm" '{ print tid, comm, $12 + $13 }' || true
        done
    done
}
# the busiest threads between two thread_ticks snapshots, in % of one core:
# "switchboard 61%, relay 9%, store-writer 2%" (at most 6, each >= 1%)
thread_pcts() { # thread_pcts BEFORE AFTER WALL
    awk -v hz="$HZ" -v w="$3" 'NR == FNR { t0[$1] = $3; next }
        { p = ($3 - ($1 in t0 ? t0[$1] : 0)) / hz / w * 100; if (p >= 0.5) printf "%.0f %s\n", p, $2 }' "$1" "$2" |
        sort -rn | head -6 | awk '{ printf "%s%s %d%%", (NR > 1 ? ", " : ""), $2, $1 }' || true
}
# memory of a process tree in MB: proportional set size, so that memory shared
# by Kamailio's processes counts once (VmRSS where smaps_rollup is missing)
tree_mem_mb() { # tree_mem_mb PID
    local p kb total=0
    for p in $(tree_pids "$1"); do
        kb=$(awk '$1 == "Pss:" { print $2; exit }' "/proc/$p/smaps_rollup" 2>/dev/null ||
            awk '$1 == "VmRSS:" { print $2 }' "/proc/$p/status" 2>/dev/null) || kb=0
        total=$((total + ${kb:-0}))
    done
    echo $((total / 1024))
}
# UDP datagrams dropped for a full receive buffer: "machine server" (the whole
# machine's RcvbufErrors, the server's SIP socket's own drop counter)
udp_drops() { # udp_drops PORT
    local all srv
    all=$(awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $6 }' /proc/net/snmp)
    srv=$(ss -Huanm "sport = :$1" 2>/dev/null | grep -o ',d[0-9]*)' | tr -dc '0-9\n' | head -1)
    echo "${all:-0} ${srv:-0}"
}
# the server's warnings and errors since line N of its log, counted by message
# (numbers, addresses and ids folded): "1234x WARN ... no media ports ...; ..."
log_digest() { # log_digest LOG FIRST-LINE
    tail -n "+$2" "$1" 2>/dev/null | grep -aE 'WARN|ERROR|CRIT|error|EMFILE|[Tt]oo many open files' |
        sed -E 's/\x1b\[[0-9;]*m//g; s/^[0-9T:.+-]+Z? +//; s/[0-9a-f]{8,}/#/g; s/[0-9]+/N/g' | cut -c1-150 |
        sort | uniq -c | sort -rn | head -3 | awk '{ n = $1; $1 = ""; printf "%s%dx%s", (NR > 1 ? "; " : ""), n, $0 }' || true
}

# ------------------------------------------------------------ sipp processes
# start_sipp DIR NAME ARGS...: sipp in the background in DIR; NAME.pid holds
# its pid, NAME.rc its exit code and NAME.cpu its user+system seconds (the
# subshell's `times` for its finished child) once it has ended.
start_sipp() {
    local dir=$1 name=$2
    shift 2
    mkdir -p "$dir"
    rm -f "$dir/$name.rc" "$dir/$name.cpu"
    (
        cd "$dir"
        rc=0
        sipp "$@" -nostdin -buff_size 4194304 -trace_stat -stf "$name.csv" -fd 1 \
            -trace_err -error_file "$name.err" >"$name.out" 2>&1 &
        echo $! >"$name.pid"
        wait $! || rc=$?
        # second line of `times`: children's user and system time, "0m1.234s 0m0.567s"
        # (not in a pipe: a forked `times` would report a new process's zeros)
        times >"$name.times"
        awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } printf "%.3f\n", s }' \
            "$name.times" >"$name.cpu"
        echo "$rc" >"$name.rc"
    ) 2>>"$dir/$name.shell.err" & # bash's "Killed" notices, when one had to be killed
    local sub=$!
    for _ in $(seq 50); do [ -s "$dir/$name.pid" ] && break; sleep 0.02; done
    SIPP_RUNS+=("$dir/$name")
    LAST_SUB=$sub
}
# wait_sipp DIR NAME SECONDS: wait for it to end; past SECONDS, ask it to quit
# (SIGUSR1 twice: stop now, write the final statistics), then kill it.
# Returns 0 when it ended by itself.
wait_sipp() {
    local dir=$1 name=$2 secs=$3 i
    for ((i = 0; i <= secs * 10; i++)); do
        [ -e "$dir/$name.rc" ] && return 0
        [ "$i" -lt $((secs * 10)) ] && sleep 0.1
    done
    signal_sipp USR1 "$dir/$name"
    sleep 0.2
    signal_sipp USR1 "$dir/$name"
    for ((i = 0; i < 30; i++)); do [ -e "$dir/$name.rc" ] && return 1; sleep 0.1; done
    signal_sipp KILL "$dir/$name"
    for ((i = 0; i < 20; i++)); do [ -e "$dir/$name.rc" ] && return 1; sleep 0.1; done
    return 1
}
agent_scenario() { # agent_scenario N → the scenario of agent N
    if [ "$1" = 1 ]; then echo "$HERE/uas_answer.xml"; else echo "$HERE/uas_ring.xml"; fi
}
# register_agents PORT: each agent registers from its own port, before its UAS starts
register_agents() {
    local port=$1 i dir="$WORK/$CUR/register"
    for i in 1 2 3; do
        start_sipp "$dir" "reg$i" "127.0.0.1:$port" -sf "$HERE/register_noauth.xml" -s "agent$i" \
            -i 127.0.0.1 -p "${AGENT_PORTS[i - 1]}" -m 1 -timeout 10s -timeout_error -recv_timeout 5000
        wait_sipp "$dir" "reg$i" 15 || true
        if [ "$(cat "$dir/reg$i.rc")" != 0 ]; then
            echo "error: $CUR did not answer agent$i's REGISTER with 200; sipp said:" >&2
            tail -20 "$dir/reg$i.out" "$dir/reg$i.err" 2>/dev/null >&2
            return 1
        fi
    done
}

# column NAME FILE: the value of the last line of sipp's statistics CSV
stat_col() {
    [ -s "$2" ] || { echo ""; return 0; }
    awk -F';' -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
                            END { if (c) print $c; else print "" }' "$2"
}
cpu_pct() { # cpu_pct FILE WALL → percent of one core
    awk -v w="$2" '{ printf "%.0f", $1 / w * 100 }' "$1" 2>/dev/null || echo "?"
}

# percentiles of sipp's "ring" counter (whole ms: "<1" is within the millisecond)
rtt_percentiles() { # rtt_percentiles DIR → "p50 p95 p99"
    cat "$1"/uac_fork_*_rtt.csv 2>/dev/null | awk -F';' '$3 == "ring" { print $2 }' | sort -n |
        awk 'function at(q,   i) { i = int(NR * q + 0.999999); if (i < 1) i = 1; return ms(v[i]) }
             function ms(x) { return x < 1 ? "<1" : sprintf("%d", x) }
             { v[NR] = $1 }
             END { if (NR == 0) print "- - -"; else print at(0.50), at(0.95), at(0.99) }'
}
# The call rate sipp really reached: calls started per second between the
# first and the last 180 (sipp's CallRate(C) divides by the whole run, the
# last calls' ring and hold times included).
achieved_rate() { # achieved_rate DIR → calls/s
    cat "$1"/uac_fork_*_rtt.csv 2>/dev/null | awk -F';' '$3 == "ring" { print $1 }' | sort -n |
        awk 'NR == 1 { first = $1 } { last = $1 }
             END { if (NR < 2 || last <= first) print 0; else printf "%.1f\n", (NR - 1) * 1000 / (last - first) }'
}
# INVITE->first 180 per call from sipp's short message log (microseconds)
ring_latencies() { # ring_latencies FILE → one latency in ms per call, sorted
    awk -F'\t' '
        $4 == "S" && $7 ~ /^INVITE / && !($5 in sent) { sent[$5] = $3 }
        $4 == "R" && $7 ~ /^SIP\/2\.0 180 / && !($5 in rang) { rang[$5] = $3 }
        END { for (c in rang) if (c in sent) printf "%.3f\n", (rang[c] - sent[c]) * 1000 }' "$1" | sort -n
}
exact_percentiles() { # exact_percentiles → "n mean p50 p95 p99 max" from sorted ms on stdin
    awk 'function at(q,   i) { i = int(NR * q + 0.999999); if (i < 1) i = 1; return v[i] }
         { v[NR] = $1; s += $1 }
         END { if (NR == 0) print "0 - - - - -"
               else printf "%d %.3f %.3f %.3f %.3f %.3f\n", NR, s / NR, at(0.50), at(0.95), at(0.99), v[NR] }'
}

# --------------------------------------------------------------- one run
# run_calls DIR PORT RATE CALLS [CALLER-EXTRA-ARGS...]: the three agents, then
# the caller; waits for all four. Sets RUN_OK, RUN_WHY, RUN_WALL, RUN_SRV_CPU
# (percent), RUN_IDLE, RUN_OTHER and fills DIR with each sipp's files.
run_calls() {
    local dir=$1 port=$2 rate=$3 calls=$4
    shift 4
    local budget limit recv i
    budget=$(step_budget "$rate" "$calls")
    # at most about twice the calls a steady state holds, and never below 200
    limit=$((rate * (ANSWER_MS + HOLD_MS + 500) / 500 + 200))
    recv=$((ANSWER_MS > HOLD_MS ? ANSWER_MS : HOLD_MS))
    recv=$((recv + 10000))
    mkdir -p "$dir"
    local s0 s1 m0 m1 t0 t1 log0
    log0=$(($(wc -l 2>/dev/null <"$WORK/$CUR.log" || echo 0) + 1))
    for i in 1 2 3; do
        start_sipp "$dir" "agent$i" -sf "$(agent_scenario "$i")" -s "agent$i" \
            -i 127.0.0.1 -p "${AGENT_PORTS[i - 1]}" -m "$calls" -d "$ANSWER_MS" \
            -timeout "$((budget + DRAIN_S + 5))s" -recv_timeout "$recv"
    done
    for i in 1 2 3; do
        for _ in $(seq 50); do listening "${AGENT_PORTS[i - 1]}" && break; sleep 0.1; done
    done
    # CPU is counted over the caller's life: the agents start before it and
    # idle after it (their last calls' timewait), the server only serves it
    s0=$(tree_ticks "$SERVER_PID")
    thread_ticks "$SERVER_PID" >"$dir/server.threads0"
    local d0 d1
    d0=$(udp_drops "$port")
    m0=$(machine_ticks)
    t0=$(now)
    start_sipp "$dir" caller "127.0.0.1:$port" -sf "$HERE/uac_fork.xml" -s "$NUMBER" \
        -i 127.0.0.1 -p "$CALLER_PORT" -r "$rate" -rp 1000 -m "$calls" -l "$limit" -d "$HOLD_MS" \
        -timeout "${budget}s" -timeout_error -recv_timeout "$recv" \
        -trace_rtt -rtt_freq 1 "$@"
    local stuck=""
    wait_sipp "$dir" caller "$((budget + 10))" || stuck="caller"
    t1=$(now)
    m1=$(machine_ticks)
    s1=$(tree_ticks "$SERVER_PID")
    thread_ticks "$SERVER_PID" >"$dir/server.threads1"
    RUN_MEM=$(tree_mem_mb "$SERVER_PID")
    # the agents share one deadline
    for ((i = 0; i < DRAIN_S * 10; i++)); do
        [ -e "$dir/agent1.rc" ] && [ -e "$dir/agent2.rc" ] && [ -e "$dir/agent3.rc" ] && break
        sleep 0.1
    done
    for i in 1 2 3; do
        wait_sipp "$dir" "agent$i" 0 || stuck="${stuck:+$stuck, }agent$i"
    done
    RUN_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    RUN_SRV_CPU=$(awk -v a="$s0" -v b="$s1" -v hz="$HZ" -v w="$RUN_WALL" 'BEGIN { printf "%.0f", (b - a) / hz / w * 100 }')
    RUN_THREADS=$(thread_pcts "$dir/server.threads0" "$dir/server.threads1" "$RUN_WALL")
    # after the agents' drain: every datagram of the step has been read or dropped
    d1=$(udp_drops "$port")
    RUN_DROPS=$(awk -v a="$d0" -v b="$d1" 'BEGIN { split(a, x, " "); split(b, y, " ")
        printf "udp drops %d (server socket %d)", y[1] - x[1], y[2] - x[2] }')
    RUN_LOG=$(log_digest "$WORK/$CUR.log" "$log0")
    local sipp_total
    sipp_total=$(cat "$dir"/caller.cpu "$dir"/agent?.cpu 2>/dev/null | awk -v w="$RUN_WALL" '{ s += $1 } END { printf "%.0f", s / w * 100 }')
    # idle: what nobody used; other: busy time that was neither sipp nor the
    # server (kernel softirq for loopback, and anything else running here)
    read -r RUN_IDLE RUN_OTHER < <(awk -v m0="$m0" -v m1="$m1" -v hz="$HZ" -v w="$RUN_WALL" -v sp="$sipp_total" -v sv="$RUN_SRV_CPU" 'BEGIN {
        split(m0, a, " "); split(m1, b, " ")
        busy = (b[1] - a[1]) / hz / w * 100; idle = (b[2] - a[2]) / hz / w * 100
        other = busy - sp - sv; if (other < 0) other = 0
        printf "%.0f %.0f\n", idle, other }')

    # the verdict: every call complete everywhere, nothing failed or unexpected
    local why="" n rc created ok failed unexp intruder
    [ -n "$stuck" ] && why="stopped: $stuck"
    if ! is_ours "$SERVER_PID" timeout; then
        # `timeout` exits with the server: it crashed or exited during the step
        why="SERVER DIED${why:+; $why}"
        echo "error: the server exited during the step; the end of its log:" >&2
        tail -5 "$WORK/$CUR.log" >&2 || true
    fi
    if intruder=$(foreign_listener "$port" "$SERVER_PID"); then
        echo "error: another process (pid $intruder: $(ps -o args= -p "$intruder" | cut -c1-120)) listens on" \
            "udp 127.0.0.1:$port too and takes part of the traffic; stop it and run again" >&2
        exit 1
    fi
    # one compact note per sipp in trouble: "agent2 4114/5000 ok, 886 failed, 886 unexp, exit 1"
    local note
    for n in caller agent1 agent2 agent3; do
        rc=$(cat "$dir/$n.rc" 2>/dev/null || echo "?")
        created=$(stat_col 'TotalCallCreated' "$dir/$n.csv")
        ok=$(stat_col 'SuccessfulCall(C)' "$dir/$n.csv")
        failed=$(stat_col 'FailedCall(C)' "$dir/$n.csv")
        unexp=$(stat_col 'FailedUnexpectedMessage(C)' "$dir/$n.csv")
        note=""
        if [ "${created:-0}" != "$calls" ] || [ "${ok:-0}" != "$calls" ]; then note=", ${ok:-0}/$calls ok"; fi
        [ "${failed:-1}" = 0 ] || note+=", ${failed:-?} failed"
        [ "${unexp:-1}" = 0 ] || note+=", ${unexp:-?} unexp"
        [ "$rc" = 0 ] || note+=", exit $rc"
        [ -z "$note" ] || why="${why:+$why; }$n${note#,}"
    done
    RUN_OK=0
    [ -z "$why" ] && RUN_OK=1
    RUN_WHY=${why:-ok}
}

# step NAME PORT RATE: one rate for STEP seconds; prints a line, sets STEP_OK and STEP_LINE
step() {
    local name=$1 port=$2 rate=$3
    local calls=$((rate * STEP))
    local dir="$WORK/$name/r$rate"
    run_calls "$dir" "$port" "$rate" "$calls"
    local st="$dir/caller.csv"
    local ok retrans achieved agents_retrans caller_cpu agents_cpu wall
    ok=$(stat_col 'SuccessfulCall(C)' "$st")
    retrans=$(stat_col 'Retransmissions(C)' "$st")
    achieved=$(achieved_rate "$dir")
    agents_retrans=0
    for n in agent1 agent2 agent3; do
        agents_retrans=$((agents_retrans + $(stat_col 'Retransmissions(C)' "$dir/$n.csv" | sed 's/^$/0/')))
    done
    wall=$RUN_WALL
    caller_cpu=$(cpu_pct "$dir/caller.cpu" "$wall")
    agents_cpu=$(cat "$dir"/agent?.cpu 2>/dev/null | awk -v w="$wall" '{ s += $1 } END { printf "%.0f", s / w * 100 }')
    local p50 p95 p99
    read -r p50 p95 p99 < <(rtt_percentiles "$dir")
    local why=$RUN_WHY
    if [ "$RUN_OK" = 1 ] && awk -v a="${achieved:-0}" -v r="$rate" -v m="$MIN_RATIO" 'BEGIN { exit !(a < r * m) }'; then
        why="rate ${achieved:-0}/s"
    fi
    STEP_OK=0
    [ "$why" = ok ] && STEP_OK=1
    STEP_LINE=$(printf '%-11s %6s %9.0f %7s %7s %6s %5s %5s %5s %6s%% %6s%% %6s%% %6s%% %6s%% %6s  %s' \
        "$name" "$rate" "${achieved:-0}" "${ok:-0}" "${retrans:--}" "$agents_retrans" \
        "$p50" "$p95" "$p99" "$caller_cpu" "$agents_cpu" "$RUN_SRV_CPU" "$RUN_OTHER" "$RUN_IDLE" "$RUN_MEM" "$why")
    STEP_DETAIL="$(printf '%-11s %6s' "$name" "$rate")  threads: ${RUN_THREADS:-?}; $RUN_DROPS${RUN_LOG:+; log: $RUN_LOG}"
    echo "$STEP_LINE"
    echo "    ${STEP_DETAIL#"$name"}"
    { echo "$STEP_LINE"; echo "$STEP_DETAIL"; } >>"$WORK/$name.steps"
    [ "$STEP_OK" = 1 ] || FAILS[$name]+="$STEP_DETAIL"$'\n'"$(printf '%-11s %6s' "" "")  verdict: $why"$'\n'
}

HEADER=$(printf '%-11s %6s %9s %7s %7s %6s %5s %5s %5s %7s %7s %7s %7s %7s %6s  %s' \
    target rate/s achieved/s ok retrans ag_ret p50 p95 p99 caller agents srv other idle mem_MB verdict)
declare -A FAILS
LAT_HEADER=$(printf '%-11s %6s %6s %9s %9s %9s %9s %9s %7s %7s %7s  %s' \
    target rate/s calls mean_ms p50_ms p95_ms p99_ms max_ms caller agents srv verdict)

# latency NAME PORT: INVITE->180 at LAT_RATE for LAT_SECS, from the message log
declare -A LAT_LINE LAT_DETAIL
latency() {
    local name=$1 port=$2
    local calls=$((LAT_RATE * LAT_SECS))
    local dir="$WORK/$name/latency"
    run_calls "$dir" "$port" "$LAT_RATE" "$calls" -trace_shortmsg -shortmessage_file caller_msgs.log
    local n mean p50 p95 p99 max
    read -r n mean p50 p95 p99 max < <(ring_latencies "$dir/caller_msgs.log" | exact_percentiles)
    LAT_LINE[$name]=$(printf '%-11s %6s %6s %9s %9s %9s %9s %9s %6s%% %6s%% %6s%%  %s' \
        "$name" "$LAT_RATE" "$n" "$mean" "$p50" "$p95" "$p99" "$max" \
        "$(cpu_pct "$dir/caller.cpu" "$RUN_WALL")" \
        "$(cat "$dir"/agent?.cpu 2>/dev/null | awk -v w="$RUN_WALL" '{ s += $1 } END { printf "%.0f", s / w * 100 }')" \
        "$RUN_SRV_CPU" "$RUN_WHY")
    LAT_DETAIL[$name]="$(printf '%-11s %6s' "$name" "$LAT_RATE")  threads: ${RUN_THREADS:-?}; mem ${RUN_MEM} MB${RUN_LOG:+; log: $RUN_LOG}"
    echo "$LAT_HEADER"
    echo "${LAT_LINE[$name]}"
    echo "    ${LAT_DETAIL[$name]#"$name"}"
}

# start_server NAME: start the server of that target
start_server() {
    case "$1" in
    kamailio) start_kamailio ;;
    switchboard) start_switchboard ;;
    esac
}
# fresh_server NAME PORT: restart the server and register the agents again
fresh_server() {
    stop_server
    start_server "$1"
    if [ "$1" = switchboard ] || [ "$KAM_BRANCHES" = location ]; then
        register_agents "$2"
    fi
}

# bench NAME PORT: registration, smoke test, latency, stepping, bisection;
# sets BEST[NAME] and BEST_LINE[NAME]
declare -A BEST BEST_LINE BEST_DETAIL CAPPED
bench() {
    local name=$1 port=$2
    CUR=$name
    BEST[$name]=0
    LAT_LINE[$name]="$(printf '%-11s' "$name") (not measured)"
    if [ "$name" = switchboard ] || [ "$KAM_BRANCHES" = location ]; then
        echo "== $name: registering agent1..3 (no digest)"
        if ! register_agents "$port"; then
            BEST_LINE[$name]="$(printf '%-11s' "$name") (the agents could not register)"
            return 0
        fi
    fi
    echo "== $name: smoke test (1 call)"
    run_calls "$WORK/$name/smoke" "$port" 1 1
    if [ "$RUN_OK" != 1 ]; then
        local got
        got=$(tr -d '\r' <"$WORK/$name/smoke/caller.err" 2>/dev/null | grep -ao "received 'SIP/2.0 [0-9]\{3\}.*" | head -1 || true)
        echo "error: one call through $name did not go INVITE -> 180 -> 200 -> ACK -> BYE -> 200 ($RUN_WHY)" >&2
        [ -n "$got" ] && echo "  the caller $got" >&2
        tail -5 "$WORK/$name/smoke/caller.err" 2>/dev/null >&2 || true
        BEST_LINE[$name]="$(printf '%-11s' "$name") (smoke test failed: ${got:-$RUN_WHY})"
        return 0
    fi
    echo "== $name: INVITE->180 latency at $LAT_RATE calls/s for $LAT_SECS s"
    latency "$name" "$port"
    local best=0 best_line="" bad="" rate
    echo "== $name: rate steps, $STEP s each"
    echo "$HEADER"
    for rate in $RATES; do
        sleep 2 # let the server drain
        step "$name" "$port" "$rate"
        if [ "$STEP_OK" = 1 ]; then
            best=$rate
            best_line=$STEP_LINE
            BEST_DETAIL[$name]=$STEP_DETAIL
        else
            bad=$rate
            break
        fi
    done
    # bisect between the last good and the first bad rate, to a multiple of 10
    local i lo=$best hi
    if [ -n "$bad" ]; then
        hi=$bad
        for ((i = 0; i < REFINE; i++)); do
            rate=$(((lo + hi) / 2 / 10 * 10))
            if [ "$rate" -le "$lo" ] || [ "$rate" -ge "$hi" ]; then break; fi
            sleep 2
            # a failed step leaves the server with transactions whose INVITEs
            # and CANCELs would reach the next step's agents: start afresh
            if ! fresh_server "$name" "$port"; then break; fi
            step "$name" "$port" "$rate"
            if [ "$STEP_OK" = 1 ]; then
                lo=$rate
                best=$rate
                best_line=$STEP_LINE
                BEST_DETAIL[$name]=$STEP_DETAIL
            else
                hi=$rate
            fi
        done
    fi
    BEST[$name]=$best
    BEST_LINE[$name]=${best_line:-"$(printf '%-11s' "$name") (no rate passed; the lowest was ${RATES%% *}/s)"}
    # every rate passed: the ceiling lies above the highest rate asked
    if [ -z "$bad" ] && [ "$best" -gt 0 ]; then
        CAPPED[$name]=1
        BEST_LINE[$name]+="  (highest rate asked: the limit is higher)"
    fi
}

# ------------------------------------------------------------------- main
echo "fork bench: ${TARGETS[*]}; number $NUMBER; agent1 answers after ${ANSWER_MS} ms, hold ${HOLD_MS} ms;" \
    "rates $RATES /s, ${STEP} s each; latency at ${LAT_RATE}/s; work dir $WORK"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg);" \
    "sipp $(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1); kamailio $(kamailio -v 2>/dev/null | head -1 | awk '{print $3}')" \
    "(branches: $KAM_BRANCHES, $KAM_CHILDREN children, $KAM_SHM MB $KAM_MEM)"
[ -z "$MEDIA_NOTE" ] || echo "switchboard: $MEDIA_NOTE"
for p in "$CALLER_PORT" "${AGENT_PORTS[@]}"; do port_free "$p" sipp; done
for t in "${TARGETS[@]}"; do
    case "$t" in
    kamailio) start_server kamailio; bench kamailio "$KAM_PORT" ;;
    switchboard) start_server switchboard; bench switchboard "$SB_PORT" ;;
    esac
    stop_server
done

{
    echo
    echo "## Call forking: highest rate with no failure, INVITE->180 latency"
    echo
    echo "sipp caller -> server -> 3 sipp agents ringing at once; agent1 answers after"
    echo "${ANSWER_MS} ms, the other two are cancelled; hold ${HOLD_MS} ms, BYE through the server."
    echo "UDP on loopback, ${STEP} s per step, $(nproc) cores shared by 4 sipp processes and the server."
    echo
    echo "INVITE->180 at ${LAT_RATE} calls/s (${LAT_SECS} s; from sipp's message log, in ms):"
    echo
    echo '```'
    echo "$LAT_HEADER"
    for t in "${TARGETS[@]}"; do echo "${LAT_LINE[$t]}"; done
    for t in "${TARGETS[@]}"; do [ -z "${LAT_DETAIL[$t]:-}" ] || echo "${LAT_DETAIL[$t]}"; done
    echo '```'
    echo
    echo "Highest rate (calls/s) with 0 failed calls and 0 unexpected messages everywhere:"
    echo
    echo '```'
    echo "$HEADER"
    for t in "${TARGETS[@]}"; do echo "${BEST_LINE[$t]}"; done
    echo
    for t in "${TARGETS[@]}"; do [ -z "${BEST_DETAIL[$t]:-}" ] || echo "${BEST_DETAIL[$t]}"; done
    echo '```'
    if [ -n "${FAILS[*]:-}" ]; then
        echo
        echo "Failed steps (server threads, the server's warnings and errors by message, verdict):"
        echo
        echo '```'
        for t in "${TARGETS[@]}"; do printf '%s' "${FAILS[$t]:-}"; done
        echo '```'
    fi
    if [[ " ${TARGETS[*]} " == *" kamailio "* && " ${TARGETS[*]} " == *" switchboard "* ]]; then
        awk -v s="${BEST[switchboard]}" -v k="${BEST[kamailio]}" \
            -v sc="${CAPPED[switchboard]:-}" -v kc="${CAPPED[kamailio]:-}" 'BEGIN {
            if (k == 0) { print "\nswitchboard/kamailio: kamailio passed no rate"; exit }
            # a capped rate is a lower bound of the real limit
            rel = (sc && !kc) ? ">=" : (kc && !sc) ? "<=" : (sc && kc) ? "?" : "="
            printf "\nswitchboard/kamailio %s %d/%d = %.2f", rel, s, k, s / k
            if (sc || kc) printf "  (a target passed every rate asked: add higher --rates)"
            printf "\n" }'
    fi
    echo
    echo "retrans, ag_ret: retransmissions by the caller and by the agents (a sign of"
    echo "late answers; a good step may have some). p50/p95/p99: sipp's INVITE->180"
    echo "counter in whole ms (<1: within the millisecond). caller, agents, srv, other,"
    echo "idle: CPU over the step in percent of one core ($(nproc) cores = $(($(nproc) * 100))%): the"
    echo "caller sipp; the three agent sipps together; the server's processes; all other"
    echo "busy time (kernel softirq for loopback, other programs: a large 'other' means"
    echo "a noisy run); idle. Each sipp is one thread: a sipp near 100% is the"
    echo "bottleneck and the rate measures sipp; near 0% idle the machine is the limit."
    echo "mem_MB: the server's memory (PSS, all its processes) when the caller ended."
    echo "threads: the server's busiest threads (Kamailio: processes) over the step;"
    echo "udp drops: datagrams dropped for a full receive buffer over the step, on the"
    echo "whole machine (sipp's sockets and the server's) and on the server's SIP socket."
    [ -z "$MEDIA_NOTE" ] || echo "switchboard: $MEDIA_NOTE."
} | tee "$WORK/summary.md"
if [ -n "$OUT" ]; then cp "$WORK/summary.md" "$OUT"; fi
