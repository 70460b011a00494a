#!/usr/bin/env bash
# IVR load benchmark: how many calls one core keeps in an IVR menu at once,
# each with its prompt playing (pre-encoded PCMA, one packet every 20 ms) and
# DTMF detection running on the caller's audio.
#
# One sipp "call" is one caller in the menu:
#
#   caller (uac_ivr.xml) --INVITE (PCMA)--> Switchboard: ivr:bench answers (200 + SDP)
#   the relay plays the prompt to the caller; sipp (-rtp_echo) sends every packet
#   back, so the relay receives 50 packets/s of speech per call and runs the
#   in-band (Goertzel) detector on them; nobody presses a key; after the hold
#   (-d) the caller hangs up (BYE -> 200).
#
# For each number of calls K (--calls), in a fresh daemon: sipp starts K calls
# at K/--ramp calls/s (-l K -m K), the script waits until the daemon counts K
# active calls (/metrics), lets them settle (--settle), then measures over
# --window seconds while all K are held: CPU of the daemon's threads (`relay`,
# the main/signalling thread, the rest; /proc/PID/task/TID/stat), of sipp, of
# core 0 (where the daemon runs: other people's programs show up there), UDP
# datagrams and kernel drops (/proc/net/snmp, /proc/net/udp, softnet_stat).
# After the calls end it reads each call's "media closed" log line (packets
# that came back from the caller, packets lost), the RTP jitter and
# event-loop lag histograms (/metrics), sipp's statistics, warnings, errors
# and the IVR events (keys found in the audio by mistake).
#
# A step is clean when every call succeeded (sipp: 0 failed, 0 unexpected),
# all K calls were in the IVR during the whole window, every call's media
# closed, at most --max-loss % of the packets were lost other than at sipp's
# own sockets (sipp's drops are the caller's, counted apart), the mean RTP
# jitter per call (of the prompt as echoed back) stayed under --max-jitter ms
# (the relay keeps its 20 ms pace), the relay thread used less than
# --max-relay % of its core, the whole daemon less than --max-daemon %, and
# the daemon stayed up without a panic. The steps stop at the first that is
# not clean.
#
# The daemon runs on core --server-core, sipp on --sipp-core (taskset); each
# in its own session whose autogroup gets nice -20, so other people's builds
# on this machine do not take their core. --runs repeats the whole series.
#
# Usage:
#   benches/load/ivr/ivr.sh [--switchboard-bin target/release/switchboard]
#       [--calls "100 250 500 1000 2000 3000 4000"] [--runs 2] [--dtmf inband|rfc4733|both]
#       [--ramp 10] [--settle 3] [--window 20] [--no-echo] [--callers 4]
#       [--max-relay 90] [--max-daemon 95] [--max-loss 0.1] [--max-jitter 15]
#       [--server-core 0] [--sipp-core 1] [--out summary.md] [--keep]
#
#   --dtmf     inband (default): the caller offers PCMA only, the daemon runs
#              in-band detection on every call; rfc4733: the caller also
#              offers telephone-event/8000, in-band detection is off; both
#   --no-echo  sipp does not send the prompt back: the relay only sends, the
#              detector gets no audio (a playback-only measurement)
#   --ramp     seconds over which the K calls are started (rate K/ramp)
#   --callers  sipp processes sharing the K calls (each its own SIP and media
#              port): sipp echoes all its calls on one socket, whose default
#              receive buffer (~200 KB) overflows when the relay sends a burst
#   --keep     keep the work directory (daemon logs, sipp statistics, samples)
#
# Needs sipp (Debian sip-tester; as root it is installed when missing),
# python3 (to make the long prompt), curl, ss, taskset, setsid, timeout.
# Uses 127.0.0.1 only: SIP 5096 (daemon), 5196.. (sipp), API 18086, sipp's
# media ports 9000.., relay ports 40000-59999 (4 per call: 4999 calls at most).
# Every process it starts is stopped on exit; every wait is bounded.
#
# (for shellcheck: sample() sets A_*, B_*, R0_*, R1_* by name; ROW is our format)
# shellcheck disable=SC2154,SC2059
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)

SB_BIN="$ROOT/target/release/switchboard"
CALLS="100 250 500 1000 2000 3000 4000"
RUNS=2
DTMF=inband
RAMP_S=10
SETTLE_S=3
WINDOW_S=20
ECHO=1
MAX_RELAY=90
MAX_DAEMON=95
MAX_LOSS=0.1
MAX_JITTER=15
SERVER_CORE=0
SIPP_CORE=1
CALLERS=4
OUT=
KEEP=
NUMBER=+33100000006
SIP_PORT=5096
SIPP_PORT=5196
API_PORT=18086
MEDIA_PORT=9000
# away from the end-to-end tests' daemons (20000-27999) and the relay
# benchmark (12000-32010); inside the kernel's ephemeral range, whose picks
# avoid ports in use (and the daemon skips a pair it cannot bind)
RTP_LOW=40000
RTP_HIGH=59999
PACKETS_PER_S=50 # one PCMA packet every 20 ms

usage() { sed -n '2,/^# (for shellcheck/p' "$0" | sed '$d; s/^# \{0,1\}//; s/^#$//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --switchboard-bin) SB_BIN=$2; shift 2 ;;
    --calls) CALLS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --dtmf) DTMF=$2; shift 2 ;;
    --ramp) RAMP_S=$2; shift 2 ;;
    --settle) SETTLE_S=$2; shift 2 ;;
    --window) WINDOW_S=$2; shift 2 ;;
    --no-echo) ECHO=; shift ;;
    --callers) CALLERS=$2; shift 2 ;;
    --max-relay) MAX_RELAY=$2; shift 2 ;;
    --max-daemon) MAX_DAEMON=$2; shift 2 ;;
    --max-loss) MAX_LOSS=$2; shift 2 ;;
    --max-jitter) MAX_JITTER=$2; shift 2 ;;
    --server-core) SERVER_CORE=$2; shift 2 ;;
    --sipp-core) SIPP_CORE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
posint() { # posint NAME VALUE [MIN]
    if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt "${3:-1}" ]; then
        echo "$1 must be an integer >= ${3:-1}, not '$2'" >&2
        exit 2
    fi
}
number() { # number NAME VALUE
    [[ "$2" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "$1 must be a number, not '$2'" >&2; exit 2; }
}
[ -n "$CALLS" ] || { echo "--calls is empty" >&2; exit 2; }
for k in $CALLS; do posint --calls "$k"; done
posint --runs "$RUNS"
posint --ramp "$RAMP_S"
posint --settle "$SETTLE_S" 0
posint --window "$WINDOW_S"
posint --callers "$CALLERS"
posint --server-core "$SERVER_CORE" 0
posint --sipp-core "$SIPP_CORE" 0
number --max-relay "$MAX_RELAY"
number --max-daemon "$MAX_DAEMON"
number --max-loss "$MAX_LOSS"
number --max-jitter "$MAX_JITTER"
case "$DTMF" in
inband) VARIANTS=(inband) ;;
rfc4733) VARIANTS=(rfc4733) ;;
both) VARIANTS=(inband rfc4733) ;;
*) echo "--dtmf must be inband, rfc4733 or both" >&2; exit 2 ;;
esac
for k in $CALLS; do
    [ "$k" -ge "$CALLERS" ] || { echo "--calls $k is fewer than --callers $CALLERS" >&2; exit 2; }
    # two port pairs per call (caller leg, agent leg), and the smoke call's
    if [ $((4 * (k + 1))) -gt $((RTP_HIGH - RTP_LOW + 1)) ]; then
        echo "--calls $k needs $((4 * (k + 1))) relay ports; the range has $((RTP_HIGH - RTP_LOW + 1))" >&2
        exit 2
    fi
done

# The hold: the ramp, the settling, the window, and a margin for a ramp that
# ran late. The prompt is longer than the hold: it plays without a gap.
HOLD_S=$((RAMP_S + SETTLE_S + WINDOW_S + 10))
PROMPT_S=$((HOLD_S + 60))

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
need curl curl
need taskset util-linux
need setsid util-linux
command -v python3 >/dev/null || { echo "error: python3 is needed to make the long prompt" >&2; exit 2; }
if [ ! -x "$SB_BIN" ]; then
    echo "error: no Switchboard binary at $SB_BIN (cargo build --release -p daemon, or --switchboard-bin PATH)" >&2
    exit 2
fi
NCPU=$(nproc)
if [ "$SERVER_CORE" -ge "$NCPU" ] || [ "$SIPP_CORE" -ge "$NCPU" ]; then
    echo "error: this machine has cores 0-$((NCPU - 1))" >&2
    exit 2
fi
# every call holds four relay sockets in the daemon
need_fds=$((4 * $(tr ' ' '\n' <<<"$CALLS" | sort -n | tail -1) + 1000))
if [ "$(ulimit -n)" -lt "$need_fds" ]; then
    ulimit -n "$need_fds" 2>/dev/null || {
        echo "error: $need_fds open files needed (ulimit -n is $(ulimit -n), hard $(ulimit -Hn))" >&2
        exit 2
    }
fi

# ------------------------------------------------------------ work dir, cleanup
WORK=$(mktemp -d /tmp/ivr-bench.XXXXXX)
SERVER_PID= # the `timeout` session leader around the daemon
DAEMON_PID=
SIPP_PIDS=() # the callers of the current step
# Signals go only to processes of ours that still run: a pid is checked
# against its command name before any kill (pids are reused).
is_ours() { # is_ours PID NAME...
    local comm n
    [ -n "$1" ] || return 1
    comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
    for n in "${@:2}"; do [ "$comm" = "$n" ] && return 0; done
    return 1
}
# a sipp of ours: its pid runs sipp (or, for a moment after the start, the
# setsid/taskset that exec it)
sipp_alive() { is_ours "$1" sipp setsid taskset; }
stop_sipps() {
    local p left
    for p in "${SIPP_PIDS[@]}"; do sipp_alive "$p" && { kill -USR1 "$p" 2>/dev/null || true; }; done
    for _ in $(seq 20); do
        left=
        for p in "${SIPP_PIDS[@]}"; do sipp_alive "$p" && left=1; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    for p in "${SIPP_PIDS[@]}"; do sipp_alive "$p" && { kill -KILL "$p" 2>/dev/null || true; }; done
    for p in "${SIPP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    SIPP_PIDS=()
}
# SIGTERM to the daemon (it lets calls end), SIGKILL after 5 s; then `timeout`.
stop_server() { stop_server_ 2>/dev/null; }
stop_server_() {
    [ -n "$SERVER_PID" ] || return 0
    if is_ours "$DAEMON_PID" switchboard; then kill -TERM "$DAEMON_PID" 2>/dev/null || true; fi
    for _ in $(seq 50); do is_ours "$DAEMON_PID" switchboard || break; sleep 0.1; done
    if is_ours "$DAEMON_PID" switchboard; then kill -KILL "$DAEMON_PID" 2>/dev/null || true; fi
    for _ in $(seq 20); do is_ours "$SERVER_PID" timeout setsid taskset || break; sleep 0.1; done
    if is_ours "$SERVER_PID" timeout setsid taskset; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    DAEMON_PID=
}
cleanup() {
    stop_sipps
    stop_server
    if [ -n "$KEEP" ]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The session of PID (started with setsid) gets nice -20 against the other
# sessions on the machine (the kernel schedules by autogroup first); best effort.
boost() {
    local i sid
    for i in $(seq 200); do
        sid=$(awk '{ sub(/.*\) /, ""); print $4 }' "/proc/$1/stat" 2>/dev/null) || return 0
        if [ "$sid" = "$1" ]; then
            { echo -20 >"/proc/$1/autogroup"; } 2>/dev/null || true
            return 0
        fi
        sleep 0.01
    done
    echo "note: could not boost pid $1 (not a session leader)" >&2
}

# ------------------------------------------------------------ the prompt, the config
# A long prompt: the two example prompts one after the other, repeated.
python3 - "$ROOT/config/prompts/main.wav" "$ROOT/config/prompts/support.wav" \
    "$WORK/prompt-long.wav" "$PROMPT_S" <<'PY'
import sys, wave
*sources, out, seconds = sys.argv[1:]
clips, params = [], None
for path in sources:
    with wave.open(path) as w:
        p = (w.getnchannels(), w.getsampwidth(), w.getframerate())
        if params and p != params:
            sys.exit(f"{path}: {p} differs from {params}")
        params = p
        clips.append(w.readframes(w.getnframes()))
channels, width, rate = params
need = int(float(seconds) * rate) * width * channels
data = bytearray()
while len(data) < need:
    for c in clips:
        data += c
with wave.open(out, "wb") as w:
    w.setnchannels(channels)
    w.setsampwidth(width)
    w.setframerate(rate)
    w.writeframes(bytes(data))
PY
sed -e "s/@SIP_PORT@/$SIP_PORT/; s/@API_PORT@/$API_PORT/; s/@RTP_PORTS@/$RTP_LOW-$RTP_HIGH/" \
    -e "s/@MEDIA_TIMEOUT@/$((HOLD_S + 120))s/" "$HERE/switchboard-ivr.toml" >"$WORK/switchboard.toml"
if ! "$SB_BIN" check --config "$WORK/switchboard.toml" >"$WORK/check.out" 2>&1; then
    echo "error: switchboard check refused the benchmark configuration:" >&2
    cat "$WORK/check.out" >&2
    exit 1
fi
# The caller's scenario per variant: rfc4733 also offers telephone-event.
cp "$HERE/uac_ivr.xml" "$WORK/uac_inband.xml"
sed -e 's|^\( *\)m=audio \[media_port\] RTP/AVP 8$|\1m=audio [media_port] RTP/AVP 8 101|' \
    -e 's|^\( *\)a=rtpmap:8 PCMA/8000$|&\n\1a=rtpmap:101 telephone-event/8000\n\1a=fmtp:101 0-16|' \
    "$HERE/uac_ivr.xml" >"$WORK/uac_rfc4733.xml"
grep -q 'telephone-event' "$WORK/uac_rfc4733.xml" || { echo "error: could not write the rfc4733 scenario" >&2; exit 1; }

# ----------------------------------------------------------------- the daemon
listening() { ss -lnu | grep -q "127.0.0.1:$1 "; }
port_free() { # port_free PORT WHAT
    for _ in $(seq 50); do listening "$1" || return 0; sleep 0.1; done
    echo "error: udp 127.0.0.1:$1 is already in use; stop what listens there ($2 needs it)" >&2
    exit 1
}
metrics() { curl -s -m 5 "http://127.0.0.1:$API_PORT/metrics" || true; }
metric() { # metric NAME <<< METRICS: the value of an unlabelled sample
    awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print "" }'
}
STEP_BUDGET_S=$((HOLD_S + 3 * RAMP_S + 120))
start_server() { # start_server LOG
    port_free "$SIP_PORT" switchboard
    local i
    for ((i = 0; i < CALLERS; i++)); do port_free "$((MEDIA_PORT + 4 * i))" sipp; done
    (cd "$WORK" && exec setsid taskset -c "$SERVER_CORE" timeout "$STEP_BUDGET_S" \
        "$SB_BIN" run --config "$WORK/switchboard.toml") >"$1" 2>&1 &
    SERVER_PID=$!
    boost "$SERVER_PID"
    DAEMON_PID=
    for _ in $(seq 100); do
        DAEMON_PID=$(ps -o pid= --ppid "$SERVER_PID" 2>/dev/null | tr -d ' ' | head -1)
        [ -n "$DAEMON_PID" ] && listening "$SIP_PORT" && [ -n "$(metrics)" ] && return 0
        # (setsid and taskset exec `timeout` a moment after the start)
        is_ours "$SERVER_PID" timeout setsid taskset || break
        sleep 0.1
    done
    echo "error: switchboard did not start (SIP on udp 127.0.0.1:$SIP_PORT, API on $API_PORT); its log:" >&2
    tail -20 "$1" >&2
    exit 1
}

# ----------------------------------------------------------------- samples
HZ=$(getconf CLK_TCK)
now() { date +%s.%N; }
# utime + stime of one thread, or of a whole process (the thread group)
ticks_of() { # ticks_of STATFILE
    sed 's/^.*) //' "$1" 2>/dev/null | awk '{ print $12 + $13 } END { if (!NR) print 0 }'
}
relay_tid() { # relay_tid PID: the thread named `relay`
    local t
    for t in /proc/"$1"/task/*; do
        [ "$(cat "$t/comm" 2>/dev/null)" = relay ] && { basename "$t"; return 0; }
    done
    echo ""
}
core_ticks() { # core_ticks N → "busy idle steal" of core N (softirq and steal count as busy)
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6, $9 }' /proc/stat
}
core_pct() { # core_pct "busy idle steal" "busy idle steal" → "busy% steal%"
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
        busy = y[1] - x[1]; idle = y[2] - x[2]; t = busy + idle
        if (t <= 0) { print "? ?"; exit }
        printf "%.1f %.1f\n", busy / t * 100, (y[3] - x[3]) / t * 100 }'
}
udp_counters() { # → "InDatagrams InErrors OutDatagrams RcvbufErrors SndbufErrors"
    awk '$1 == "Udp:" && $2 ~ /^[0-9]/ { print $2, $4, $5, $6, $7 }' /proc/net/snmp
}
# (mawk has no strtonum)
HEX_AWK='function hex(s,   i, v) { v = 0; s = tolower(s)
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v }'
softnet_drops() { awk "$HEX_AWK"' { s += hex($2) } END { print s + 0 }' /proc/net/softnet_stat; }
# kernel drops on the sockets bound to local ports LOW..HIGH (last column of /proc/net/udp)
socket_drops() { # socket_drops LOW HIGH
    awk -v lo="$1" -v hi="$2" "$HEX_AWK"' NR > 1 { split($2, a, ":"); p = hex(a[2])
        if (p >= lo && p <= hi) s += $NF } END { print s + 0 }' /proc/net/udp
}
# sample NAME: everything measured at one instant, as shell variables NAME_*
sample() {
    local n=$1 tid
    tid=$(relay_tid "$DAEMON_PID")
    printf -v "${n}_t" '%s' "$(now)"
    printf -v "${n}_proc" '%s' "$(ticks_of "/proc/$DAEMON_PID/stat")"
    printf -v "${n}_main" '%s' "$(ticks_of "/proc/$DAEMON_PID/task/$DAEMON_PID/stat")"
    printf -v "${n}_relay" '%s' "$( [ -n "$tid" ] && ticks_of "/proc/$DAEMON_PID/task/$tid/stat" || echo 0)"
    local p st=0
    for p in "${SIPP_PIDS[@]}"; do st=$((st + $(ticks_of "/proc/$p/stat"))); done
    printf -v "${n}_sipp" '%s' "$st"
    printf -v "${n}_core" '%s' "$(core_ticks "$SERVER_CORE")"
    printf -v "${n}_score" '%s' "$(core_ticks "$SIPP_CORE")"
    printf -v "${n}_udp" '%s' "$(udp_counters)"
    printf -v "${n}_softnet" '%s' "$(softnet_drops)"
    printf -v "${n}_active" '%s' "$(metrics | metric switchboard_active_calls)"
}
pct() { # pct TICKS0 TICKS1 SECONDS → percent of one core
    awk -v a="$1" -v b="$2" -v s="$3" -v hz="$HZ" 'BEGIN { printf "%.1f", (b - a) / hz / s * 100 }'
}
# Histogram summary from /metrics before and after: "count mean p99bound"
histogram() { # histogram NAME BEFORE AFTER
    awk -v n="$1" '
        FNR == 1 { f++ }
        $1 ~ "^" n "_bucket" { match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5)
                               if (f == 1) b0[le] = $2; else { b1[le] = $2; order[++k] = le } }
        $1 == n "_sum" { if (f == 1) s0 = $2; else s1 = $2 }
        $1 == n "_count" { if (f == 1) c0 = $2; else c1 = $2 }
        END {
            c = c1 - c0
            if (c <= 0) { print 0, "-", "-"; exit }
            p = "-"
            for (i = 1; i <= k; i++) { le = order[i]; if (b1[le] - b0[le] >= 0.99 * c) { p = le; break } }
            printf "%d %.3g %s\n", c, (s1 - s0) / c, p
        }' "$2" "$3"
}
stat_col() { # stat_col NAME FILE: the last value of a column of sipp's statistics CSV
    [ -s "$2" ] || { echo ""; return 0; }
    awk -F';' -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
                            END { if (c) print $c; else print "" }' "$2"
}

# ------------------------------------------------------------ sipp
# start_sipp DIR NAME INDEX SCENARIO ARGS...: caller INDEX on --sipp-core, in
# its own session, on SIP port SIPP_PORT+INDEX and media port MEDIA_PORT+4*INDEX
# (-rtp_echo also uses the media port + 2)
start_sipp() {
    local dir=$1 name=$2 i=$3 scen=$4
    shift 4
    local echo_args=()
    [ -n "$ECHO" ] && echo_args=(-rtp_echo)
    (cd "$dir" && exec setsid taskset -c "$SIPP_CORE" sipp "127.0.0.1:$SIP_PORT" -sf "$scen" \
        -s "$NUMBER" -i 127.0.0.1 -p "$((SIPP_PORT + i))" -mi 127.0.0.1 -mp "$((MEDIA_PORT + 4 * i))" \
        "${echo_args[@]}" -nostdin -buff_size 4194304 -trace_stat -stf "$name.csv" -fd 1 \
        -trace_err -error_file "$name.err" "$@") >"$dir/$name.out" 2>&1 &
    SIPP_PIDS[i]=$!
    boost "$!"
}
sipps_running() {
    local p
    for p in "${SIPP_PIDS[@]}"; do sipp_alive "$p" && return 0; done
    return 1
}
# wait_sipps SECONDS: 0 when every caller ended by itself with exit code 0;
# stops those still running after SECONDS. SIPP_RCS: the exit codes.
wait_sipps() {
    local i p rc all=0
    for ((i = 0; i < $1 * 10; i++)); do sipps_running || break; sleep 0.1; done
    SIPP_RCS=()
    for p in "${SIPP_PIDS[@]}"; do
        if sipp_alive "$p"; then SIPP_RCS+=(124); all=124; continue; fi
        rc=0
        wait "$p" 2>/dev/null || rc=$?
        SIPP_RCS+=("$rc")
        [ "$rc" = 0 ] || all=$rc
    done
    stop_sipps
    return "$all"
}

# ------------------------------------------------------------ one step
# The "media closed" lines of the calls (one per call) after line FROM of LOG:
# "closed packets_sum packets_min lost_sum", packets from the caller.
media_closed() { # media_closed LOG FROM
    tail -n +"$(($2 + 1))" "$1" | grep 'media closed' |
        sed -n 's/.*caller_packets=\([0-9]*\).*caller_lost=\(-\{0,1\}[0-9]*\).*/\1 \2/p' |
        awk '{ n++; s += $1; if (n == 1 || $1 < m) m = $1; if ($2 > 0) l += $2 }
             END { printf "%d %d %d %d\n", n, s, (n ? m : 0), l }'
}
count_after() { # count_after LOG FROM PATTERN
    tail -n +"$(($2 + 1))" "$1" | grep -c -E "$3" || true
}

SUMMARY="$WORK/summary.txt"
ROW='%-3s %-7s %5s %6s %6s %6s %6s %6s %7s %6s %6s %5s %13s %11s %6s %6s %6s %6s %6s %7s %7s %4s %6s %s\n'
HEADER=$(printf "$ROW" run dtmf calls rate/s active relay% main% rest% daemon% core0% steal0 sipp% \
    us/20ms:r/d calls/core:r/d echo% lost sipdrp jit_ms jit99 lag99_s talkoff warn failed verdict)
: >"$SUMMARY"
declare -A BEST BEST_LINE

# run_step RUN VARIANT K: one fresh daemon, a smoke call, then K calls held
run_step() {
    local run=$1 variant=$2 k=$3
    local dir="$WORK/run$run/$variant/k$k" log rate scen rc=0 why=()
    mkdir -p "$dir"
    log="$dir/switchboard.log"
    scen="$WORK/uac_$variant.xml"
    rate=$(((k + RAMP_S - 1) / RAMP_S))

    start_server "$log"
    # Smoke: one call of 2 s; the daemon answers, media flows.
    start_sipp "$dir" smoke 0 "$scen" -m 1 -d 2000 -timeout 20s -timeout_error -recv_timeout 10000
    if ! wait_sipps 30; then
        stop_server
        printf "$ROW" "$run" "$variant" "$k" "$rate" - - - - - - - - - - - - - - - - - - - \
            "FAIL: the smoke call (one call before the load) failed" | tee -a "$SUMMARY"
        {
            echo "run $run $variant k=$k: the smoke call failed; sipp and the daemon said:"
            tail -5 "$dir/smoke.err" "$dir/smoke.out" 2>/dev/null | sed 's/^/    /'
            tail -20 "$log" | sed 's/^/    /'
        } >>"$WORK/details.txt"
        return 1
    fi
    for _ in $(seq 30); do grep -q 'media closed' "$log" && break; sleep 0.1; done

    local from before after
    from=$(wc -l <"$log")
    before="$dir/metrics.before"
    metrics >"$before"

    local t0 reached="" i ki
    sample R0
    t0=$(now)
    for ((i = 0; i < CALLERS; i++)); do
        ki=$((k / CALLERS + (i < k % CALLERS ? 1 : 0)))
        start_sipp "$dir" "caller$i" "$i" "$scen" -r "$(((ki + RAMP_S - 1) / RAMP_S))" -rp 1000 \
            -m "$ki" -l "$ki" -d "$((HOLD_S * 1000))" \
            -timeout "$((HOLD_S + 3 * RAMP_S + 60))s" -timeout_error -recv_timeout 20000
    done
    # wait until the daemon holds all K calls (bounded: 3x the ramp, plus 10 s)
    local deadline active
    deadline=$(awk -v t="$t0" -v r="$RAMP_S" 'BEGIN { printf "%d", t + 3 * r + 10 }')
    while [ "$(date +%s)" -lt "$deadline" ]; do
        active=$(metrics | metric switchboard_active_calls)
        if [ -n "$active" ] && [ "${active%.*}" -ge "$k" ]; then reached=1; break; fi
        sipps_running || break
        sleep 0.25
    done
    sample R1
    local ramp_s
    ramp_s=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    [ -n "$reached" ] || why+=("only ${active:-?} of $k calls up after ${ramp_s}s")
    sleep "$SETTLE_S"
    sample A
    sleep "$WINDOW_S"
    sample B
    local drops_relay drops_sipp
    drops_relay=$(socket_drops "$RTP_LOW" "$RTP_HIGH")
    drops_sipp=$(socket_drops "$MEDIA_PORT" "$((MEDIA_PORT + 4 * CALLERS - 1))")
    local drops_all udp_sockets rss
    drops_all=$(socket_drops 0 65535)
    udp_sockets=$(($(wc -l </proc/net/udp) - 1))
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status" 2>/dev/null || echo "?")
    {
        echo "ramp_s $ramp_s"
        for v in t proc main relay sipp core score udp softnet active; do
            eval "echo \"$v A=\$A_$v B=\$B_$v\""
        done
        echo "socket_drops relay=$drops_relay sipp=$drops_sipp all=$drops_all sockets=$udp_sockets"
        echo "rss_kib $rss"
    } >"$dir/samples.txt"

    # the calls end after the hold; then every call's media closes. The drops of
    # sipp's media socket are read while it lives (the counter goes with it).
    local i d
    for ((i = 0; i < (HOLD_S + 3 * RAMP_S + 70) * 2; i++)); do
        sipps_running || break
        d=$(socket_drops "$MEDIA_PORT" "$((MEDIA_PORT + 4 * CALLERS - 1))")
        [ "$d" -gt "$drops_sipp" ] && drops_sipp=$d
        sleep 0.5
    done
    wait_sipps 5 || rc=$?
    local closed=0
    for _ in $(seq 150); do
        read -r closed _ _ _ < <(media_closed "$log" "$from")
        [ "$closed" -ge "$k" ] && break
        is_ours "$DAEMON_PID" switchboard || break
        sleep 0.1
    done
    after="$dir/metrics.after"
    metrics >"$after"
    local alive=1
    is_ours "$DAEMON_PID" switchboard || alive=
    stop_server

    # --- figures
    local w relay main proc rest core sipp_pct us cpc udp_out ok failed unexp
    w=$(awk -v a="$A_t" -v b="$B_t" 'BEGIN { printf "%.3f", b - a }')
    relay=$(pct "$A_relay" "$B_relay" "$w")
    main=$(pct "$A_main" "$B_main" "$w")
    proc=$(pct "$A_proc" "$B_proc" "$w")
    # (the three are read a moment apart: a small negative remainder is noise)
    rest=$(awk -v p="$proc" -v r="$relay" -v m="$main" 'BEGIN { x = p - r - m; printf "%.1f", (x < 0 ? 0 : x) }')
    local core steal score ssteal
    read -r core steal < <(core_pct "$A_core" "$B_core")
    read -r score ssteal < <(core_pct "$A_score" "$B_score")
    sipp_pct=$(pct "$A_sipp" "$B_sipp" "$w")
    # CPU per call per 20 ms of audio, and calls per core at that cost
    us=$(awk -v p="$relay" -v k="$k" 'BEGIN { printf "%.2f", p / 100 * 20000 / k }')
    local us_d cpc_d
    us_d=$(awk -v p="$proc" -v k="$k" 'BEGIN { printf "%.2f", p / 100 * 20000 / k }')
    cpc=$(awk -v p="$relay" -v k="$k" 'BEGIN { printf "%d", (p > 0 ? k / (p / 100) : 0) }')
    cpc_d=$(awk -v p="$proc" -v k="$k" 'BEGIN { printf "%d", (p > 0 ? k / (p / 100) : 0) }')
    udp_out=$(awk -v a="$A_udp" -v b="$B_udp" -v w="$w" 'BEGIN { split(a, x, " "); split(b, y, " ")
        printf "%d", (y[3] - x[3]) / w }')
    # ours: the prompts (50/s a call) and sipp's echo of what reached it
    local udp_others
    udp_others=$(awk -v u="$udp_out" -v k="$k" -v r="$PACKETS_PER_S" -v e="$ECHO" 'BEGIN {
        x = u - k * r * (e != "" ? 2 : 1); printf "%d", (x < 0 ? 0 : x) }')
    local udp_err softnet
    udp_err=$(awk -v a="$A_udp" -v b="$B_udp" 'BEGIN { split(a, x, " "); split(b, y, " ")
        printf "in_errors=%d rcvbuf=%d sndbuf=%d", y[2] - x[2], y[4] - x[4], y[5] - x[5] }')
    softnet=$((B_softnet - A_softnet))

    # sipp's counters, summed over the callers
    sum_col() { # sum_col NAME
        local total=0 v c
        for ((c = 0; c < CALLERS; c++)); do
            v=$(stat_col "$1" "$dir/caller$c.csv")
            total=$((total + ${v:-0}))
        done
        echo "$total"
    }
    ok=$(sum_col 'SuccessfulCall(C)')
    failed=$(sum_col 'FailedCall(C)')
    unexp=$(sum_col 'FailedUnexpectedMessage(C)')
    local retrans
    retrans=$(sum_col 'Retransmissions(C)')
    # the signalling thread while the calls were set up (no SIP in the window)
    local ramp_w setup_main setup_relay setup_us
    ramp_w=$(awk -v a="$R0_t" -v b="$R1_t" 'BEGIN { printf "%.3f", b - a }')
    setup_main=$(pct "$R0_main" "$R1_main" "$ramp_w")
    setup_relay=$(pct "$R0_relay" "$R1_relay" "$ramp_w")
    setup_us=$(awk -v a="$R0_main" -v b="$R1_main" -v hz="$HZ" -v k="$k" 'BEGIN { printf "%.0f", (b - a) / hz / k * 1e6 }')

    local closed_n pk_sum pk_min lost echo_pct
    read -r closed_n pk_sum pk_min lost < <(media_closed "$log" "$from")
    # packets that came back per call, against 50/s over the hold
    echo_pct=$(awk -v s="$pk_sum" -v n="$closed_n" -v h="$HOLD_S" -v r="$PACKETS_PER_S" \
        'BEGIN { printf "%.1f", (n ? s / n / (h * r) * 100 : 0) }')
    # lost on the round trip; the share not dropped at sipp's own socket is the daemon's
    local loss_pct own_lost
    own_lost=$((lost > drops_sipp ? lost - drops_sipp : 0))
    loss_pct=$(awk -v l="$own_lost" -v s="$pk_sum" -v t="$lost" 'BEGIN { printf "%.4f", (s + t > 0 ? l / (s + t) * 100 : 0) }')
    local jit lag
    jit=$(histogram switchboard_rtp_jitter_ms "$before" "$after")
    lag=$(histogram switchboard_event_loop_lag_seconds "$before" "$after")
    local jit_mean jit_p99 lag_p99
    read -r _ jit_mean jit_p99 <<<"$jit"
    read -r _ _ lag_p99 <<<"$lag"
    local talkoff choices warns errs panics
    talkoff=$(count_after "$log" "$from" 'event=(Invalid|Choice) ')
    choices=$(count_after "$log" "$from" 'IVR done|event=(NoInput|EntryLimit)')
    warns=$(count_after "$log" "$from" ' WARN ')
    errs=$(count_after "$log" "$from" ' ERROR |panicked')
    panics=$(count_after "$log" "$from" 'panicked')

    # --- verdict
    [ "$rc" = 0 ] || why+=("sipp exit $rc")
    [ "${ok:-0}" = "$k" ] || why+=("${ok:-0} of $k calls succeeded")
    [ "${failed:-0}" = 0 ] || why+=("$failed failed calls")
    [ "${unexp:-0}" = 0 ] || why+=("$unexp unexpected messages")
    local a_act=${A_active%.*} b_act=${B_active%.*}
    { [ "${a_act:-0}" -ge "$k" ] && [ "${b_act:-0}" -ge "$k" ]; } ||
        why+=("active calls ${a_act:-?}/${b_act:-?} in the window, not $k")
    [ "$closed_n" -ge "$k" ] || why+=("media closed for $closed_n of $k calls")
    if [ -n "$ECHO" ]; then
        awk -v l="$loss_pct" -v m="$MAX_LOSS" 'BEGIN { exit !(l <= m) }' ||
            why+=("lost ${loss_pct}% of packets besides sipp's drops")
    fi
    if [ -n "$ECHO" ]; then
        awk -v j="$jit_mean" -v m="$MAX_JITTER" 'BEGIN { exit !(j != "-" && j + 0 <= m) }' ||
            why+=("mean jitter ${jit_mean} ms")
    fi
    awk -v r="$relay" -v m="$MAX_RELAY" 'BEGIN { exit !(r < m) }' || why+=("relay thread at ${relay}%")
    awk -v r="$proc" -v m="$MAX_DAEMON" 'BEGIN { exit !(r < m) }' || why+=("daemon at ${proc}% of its core")
    [ -n "$alive" ] || why+=("DAEMON DIED")
    [ "$panics" = 0 ] || why+=("$panics panics")
    [ "$choices" = 0 ] || why+=("$choices calls left the IVR")
    local verdict=ok
    [ ${#why[@]} -eq 0 ] || verdict="FAIL: $(IFS=';'; echo "${why[*]}")"

    local line
    line=$(printf "$ROW" "$run" "$variant" "$k" "$rate" "${b_act:-?}" "$relay" "$main" "$rest" "$proc" \
        "$core" "$steal" "$sipp_pct" "$us/$us_d" "$cpc/$cpc_d" "$echo_pct" "$lost" "$drops_sipp" \
        "$jit_mean" "$jit_p99" "$lag_p99" "$talkoff" "$warns" "${failed:-?}" "$verdict")
    echo "$line" | tee -a "$SUMMARY"
    {
        echo "run $run $variant k=$k rate=$rate ramp=${ramp_s}s window=${w}s hold=${HOLD_S}s"
        echo "  sipp ($CALLERS callers): ok=$ok failed=$failed unexpected=$unexp retrans=$retrans exit=${SIPP_RCS[*]}"
        echo "  ramp (${ramp_w}s): main thread ${setup_main}%, relay ${setup_relay}%: ${setup_us} us of the main thread per call set up"
        echo "  media closed: $closed_n calls, caller packets sum=$pk_sum min=$pk_min lost=$lost" \
            "(dropped at sipp's socket $drops_sipp; the rest ${own_lost} = ${loss_pct}%)"
        echo "  kernel (machine-wide, other programs included): udp out ${udp_out}/s (~${udp_others}/s not ours) $udp_err softnet_drops=$softnet;" \
            "socket drops at the window's end: relay=$drops_relay sipp=$drops_sipp all=$drops_all ($udp_sockets UDP sockets)"
        echo "  daemon RSS with $k calls: ${rss} KiB"
        echo "  core $SERVER_CORE (daemon) busy ${core}% (steal ${steal}%), core $SIPP_CORE (sipp) busy ${score}% (steal ${ssteal}%)"
        echo "  jitter per call (count mean p99-bound ms): $jit; event-loop lag (count mean p99-bound s): $lag"
        echo "  log: $warns WARN, $errs ERROR/panic, talk-off keys $talkoff, calls that left the IVR $choices"
        tail -n +"$((from + 1))" "$log" | grep -E ' WARN | ERROR |panicked' | sed 's/^[^ ]* *//' |
            sed -E 's/call=[^ ]+/call=…/g; s/[0-9a-f]{8,}/…/g' | sort | uniq -c | sort -rn | head -5 |
            sed 's/^/    /'
    } >>"$WORK/details.txt"
    if [ "$verdict" = ok ]; then
        BEST["$run $variant"]=$k
        BEST_LINE["$run $variant"]="$relay $proc $us $us_d $cpc $cpc_d"
        return 0
    fi
    return 1
}

# ------------------------------------------------------------------ main
echo "IVR load: calls ${CALLS}; hold ${HOLD_S}s (ramp ${RAMP_S}s, settle ${SETTLE_S}s, window ${WINDOW_S}s);" \
    "daemon on core $SERVER_CORE, sipp on core $SIPP_CORE; echo: $([ -n "$ECHO" ] && echo on || echo off); $(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1)"
echo "(CPU in % of one core over the window; us/call/20ms = relay/daemon CPU per call per 20 ms;"
echo " calls/core = calls per core at that cost, relay/daemon; echo% = packets back per call vs 50/s;"
echo " jit = RTP jitter per call, mean and p99 bound; lag_p99 = event-loop lag p99 bound, s)"
echo "$HEADER"
for run in $(seq "$RUNS"); do
    for variant in "${VARIANTS[@]}"; do
        for k in $CALLS; do
            run_step "$run" "$variant" "$k" || break
        done
    done
done

echo
echo "Details per step:"
cat "$WORK/details.txt"
echo
echo "Highest clean K per run (relay% daemon% us/call/20ms relay/daemon, calls/core relay/daemon):"
for run in $(seq "$RUNS"); do
    for variant in "${VARIANTS[@]}"; do
        key="$run $variant"
        if [ -n "${BEST[$key]:-}" ]; then
            read -r r p u ud c cd <<<"${BEST_LINE[$key]}"
            echo "run $run $variant: K=${BEST[$key]}  relay ${r}%  daemon ${p}%  ${u}/${ud} us  ${c}/${cd} calls per core"
        else
            echo "run $run $variant: no clean step"
        fi
    done
done
if [ -n "$OUT" ]; then
    { echo '```'; echo "$HEADER"; cat "$SUMMARY"; echo '```'; echo; echo '```'; cat "$WORK/details.txt"; echo '```'; } >"$OUT"
fi
