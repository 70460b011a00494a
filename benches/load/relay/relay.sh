#!/usr/bin/env bash
# RTP relay load benchmark: Switchboard's relay (crates/media, `relay_server` example) against
# rtpengine (Debian's rtpengine-daemon, userspace only), on loopback, one core each.
#
# For each target it sets up --calls calls (two relay ports per call), then the generator
# (`relay_load` example) sends bidirectional 172-byte RTP (12-byte header + 160 bytes of PCMA,
# round-robin over the calls) and counts what comes back:
#   1. fixed common rates (--fixed, packets/s both directions together): relay CPU% and CPU
#      microseconds per forwarded packet, the robust comparison on a noisy machine;
#   2. a search for the highest rate forwarded with < 0.1 % loss: up by --factor from
#      --start, a failing rate retried once, then --refine bisections;
#   3. memory: relay RSS with each of --mem-calls calls, after setup and after 3 s of
#      traffic at 20 000 packets/s; per call = (RSS(n) - RSS(0)) / n.
#
# The relay (Switchboard's whole process, or rtpengine with all its threads) is pinned to
# core --relay-core, the generator to --gen-core (taskset). Each measured process runs in its
# own session whose autogroup gets nice -20, so the compilers of other people sharing the
# machine do not take their core (they still may pause the whole VM: see stall_ms).
#
# Targets:
#   switchboard   relay_server: one tokio task (current-thread runtime), one epoll set
#   rtpengine     rtpengine --table=-1 (no kernel module) --num-threads=1
#   rtpengine-mt  the same with rtpengine's default worker threads (4 on this machine),
#                 all on the same single core
# rtpengine calls are set up by the generator over the ng protocol (offer/answer).
#
# Usage:
#   benches/load/relay/relay.sh [--targets "switchboard rtpengine rtpengine-mt"] [--runs 1]
#       [--calls 1000] [--fixed 20000,150000] [--fixed-secs 10] [--start 40000]
#       [--factor 1.3] [--step 4] [--refine 2] [--max 1000000] [--mem-calls "0 1000 5000"]
#       [--relay-core 0] [--gen-core 1] [--no-build] [--bin-dir DIR] [--out FILE] [--keep]
#
#   --mem-calls  "" skips the memory part; counts above what the open-file limit allows
#                (4 sockets per call) are lowered to fit, with a note
#   --bin-dir    where relay_server and relay_load are (default: the release examples of
#                $CARGO_TARGET_DIR, or target/ of the workspace), built unless --no-build
#   --out        also write the summary (Markdown) to FILE
#   --keep       keep the work directory (every step's rows, server output, rtpengine log)
#
# Needs root on Debian 12 to install rtpengine-daemon when missing. Uses 127.0.0.1 only:
# relay ports 12000-31999, generator 32000 and 32002, rtpengine ng 32010. Every process it
# starts is stopped on exit, and each is bounded in time by itself.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)

TARGETS="switchboard rtpengine rtpengine-mt"
RUNS=1
CALLS=1000
FIXED=20000,150000
FIXED_SECS=10
START=40000
FACTOR=1.3
STEP=4
REFINE=2
MAX=1000000
MEM_CALLS="0 1000 5000"
RELAY_CORE=0
GEN_CORE=1
BUILD=1
BIN_DIR=
OUT=
KEEP=
PORTS=12000-31999
GEN_A=127.0.0.1:32000
GEN_B=127.0.0.1:32002
NG=127.0.0.1:32010
MEM_RATE=20000

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --targets) TARGETS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --calls) CALLS=$2; shift 2 ;;
    --fixed) FIXED=$2; shift 2 ;;
    --fixed-secs) FIXED_SECS=$2; shift 2 ;;
    --start) START=$2; shift 2 ;;
    --factor) FACTOR=$2; shift 2 ;;
    --step) STEP=$2; shift 2 ;;
    --refine) REFINE=$2; shift 2 ;;
    --max) MAX=$2; shift 2 ;;
    --mem-calls) MEM_CALLS=$2; shift 2 ;;
    --relay-core) RELAY_CORE=$2; shift 2 ;;
    --gen-core) GEN_CORE=$2; shift 2 ;;
    --no-build) BUILD=; shift ;;
    --bin-dir) BIN_DIR=$2; shift 2 ;;
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
posint --runs "$RUNS"
posint --calls "$CALLS"
posint --fixed-secs "$FIXED_SECS"
posint --start "$START"
posint --step "$STEP"
posint --refine "$REFINE" 0
posint --max "$MAX"
posint --relay-core "$RELAY_CORE" 0
posint --gen-core "$GEN_CORE" 0
for n in $MEM_CALLS; do posint --mem-calls "$n" 0; done
for r in ${FIXED//,/ }; do posint --fixed "$r"; done
for t in $TARGETS; do
    case "$t" in switchboard | rtpengine | rtpengine-mt) ;;
    *) echo "unknown target $t (switchboard, rtpengine, rtpengine-mt)" >&2; exit 2 ;;
    esac
done
[ "$RELAY_CORE" != "$GEN_CORE" ] || { echo "--relay-core and --gen-core must differ" >&2; exit 2; }
[ "$(nproc)" -ge 2 ] || { echo "needs at least 2 cores" >&2; exit 2; }

# ------------------------------------------------------------------ tools

if ! command -v rtpengine >/dev/null; then
    echo "== installing rtpengine-daemon (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The package's service is not wanted (and not started inside containers).
    apt-get install -y -qq --no-install-recommends rtpengine-daemon >/dev/null
fi
RTPENGINE_VERSION=$(dpkg-query -W -f '${Version}' rtpengine-daemon 2>/dev/null || echo unknown)

if [ -z "$BIN_DIR" ]; then
    BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples"
fi
if [ -n "$BUILD" ]; then
    echo "== building relay_server and relay_load (release)"
    (cd "$ROOT" && cargo build --release -q -p media --example relay_server --example relay_load)
fi
SERVER_BIN="$BIN_DIR/relay_server"
LOAD_BIN="$BIN_DIR/relay_load"
for b in "$SERVER_BIN" "$LOAD_BIN"; do
    [ -x "$b" ] || { echo "missing $b (build it, or give --bin-dir)" >&2; exit 2; }
done

# Every call holds 4 sockets (RTP + RTCP per leg) in either relay.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
MAX_MEM_CALLS=$(((FD_LIMIT - 256) / 4 / 100 * 100))
MEM_LIST=
for n in $MEM_CALLS; do
    if [ "$n" -gt "$MAX_MEM_CALLS" ]; then
        echo "note: --mem-calls $n lowered to $MAX_MEM_CALLS (open files limit $FD_LIMIT, 4 sockets per call)"
        n=$MAX_MEM_CALLS
    fi
    MEM_LIST="$MEM_LIST $n"
done
[ "$CALLS" -le "$MAX_MEM_CALLS" ] || { echo "--calls $CALLS needs more than $FD_LIMIT open files" >&2; exit 2; }

WORK=$(mktemp -d /tmp/relaybench.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$KEEP" ]; then
        echo "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The session of `pid` (each measured process is started with setsid) gets nice -20 against
# the other sessions on the machine; best effort. It waits until the process leads its own
# session: before that, the write would boost this script's session instead.
boost() {
    local i sid
    for i in $(seq 200); do
        sid=$(awk '{ sub(/.*\) /, ""); print $4 }' "/proc/$1/stat" 2>/dev/null) || return 0
        if [ "$sid" = "$1" ]; then
            echo -20 >"/proc/$1/autogroup" 2>/dev/null || true
            return 0
        fi
        sleep 0.01
    done
    echo "note: could not boost pid $1 (not a session leader)" >&2
}

slab_kib() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }

forget() { # forget PID: drop it from the cleanup list
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# ------------------------------------------------------------------ targets

TARGET_PID=
STOP_PID=

start_switchboard() { # start_switchboard CALLS TAG
    local out="$WORK/$2.server"
    setsid taskset -c "$RELAY_CORE" "$SERVER_BIN" --calls "$1" --ports "$PORTS" \
        --remote-a "$GEN_A" --remote-b "$GEN_B" --max-seconds 900 >"$out" 2>"$out.err" &
    STOP_PID=$!
    PIDS+=("$STOP_PID")
    TARGET_PID=$STOP_PID
    boost "$TARGET_PID"
    local i
    for i in $(seq 600); do
        grep -q '"ready"' "$out" 2>/dev/null && return 0
        kill -0 "$STOP_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "relay_server did not get ready:" >&2
    cat "$out.err" >&2
    exit 1
}

start_rtpengine() { # start_rtpengine THREADS TAG   (THREADS empty: rtpengine's default)
    local log="$WORK/$2.rtpengine.log" pidfile="$WORK/$2.rtpengine.pid"
    local threads=()
    [ -z "$1" ] || threads=(--num-threads="$1")
    # --delete-delay=0: deleted calls give their ports back at once (the search re-creates
    # calls after a failed step); long timeouts: calls wait idle while others are measured.
    setsid timeout 900 taskset -c "$RELAY_CORE" rtpengine --config-file=none --table=-1 \
        --interface=127.0.0.1 --listen-ng="$NG" --foreground --log-stderr --log-level=4 \
        "${threads[@]}" --port-min="${PORTS%-*}" --port-max="${PORTS#*-}" \
        --timeout=3600 --silent-timeout=3600 --delete-delay=0 --pidfile="$pidfile" 2>"$log" &
    STOP_PID=$!
    PIDS+=("$STOP_PID")
    local i
    TARGET_PID=
    for i in $(seq 100); do
        if [ -s "$pidfile" ]; then
            TARGET_PID=$(cat "$pidfile")
            break
        fi
        kill -0 "$STOP_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$TARGET_PID" ] || { echo "rtpengine did not start:" >&2; cat "$log" >&2; exit 1; }
    boost "$STOP_PID" # timeout leads the session rtpengine is in
}

start_target() { # start_target TARGET CALLS TAG
    case "$1" in
    switchboard) start_switchboard "$2" "$3" ;;
    rtpengine) start_rtpengine 1 "$3" ;;
    rtpengine-mt) start_rtpengine "" "$3" ;;
    esac
}

stop_target() {
    kill -TERM "$STOP_PID" 2>/dev/null || true
    local i
    for i in $(seq 100); do
        kill -0 "$STOP_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$STOP_PID" 2>/dev/null || true
    wait "$STOP_PID" 2>/dev/null || true
    forget "$STOP_PID"
}

run_load() { # run_load KIND TARGET CALLS TAG [relay_load options...]; rows to stdout and $WORK/TAG.load
    local kind=$1 target=$2 calls=$3 tag=$4
    shift 4
    local where=()
    case "$target" in
    switchboard) where=(--map "$WORK/$tag.server") ;;
    *) where=(--rtpengine "$NG") ;;
    esac
    setsid taskset -c "$GEN_CORE" "$LOAD_BIN" --label "$target" "${where[@]}" --calls "$calls" \
        --gen-a "$GEN_A" --gen-b "$GEN_B" --target-pid "$TARGET_PID" \
        --relay-core "$RELAY_CORE" "$@" >"$WORK/$tag.load" 2>&1 &
    local gen=$!
    PIDS+=("$gen")
    boost "$gen"
    local rc=0
    wait "$gen" || rc=$?
    forget "$gen"
    sed 's/^/    /' "$WORK/$tag.load"
    if [ "$rc" -ne 0 ]; then
        echo "relay_load failed ($rc)" >&2
        return 1
    fi
    grep '^SUMMARY ' "$WORK/$tag.load" | sed "s/^SUMMARY /SUMMARY kind=$kind run=$RUN /" >>"$WORK/summary.txt"
}

# ------------------------------------------------------------------ runs

: >"$WORK/summary.txt"
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r)"
echo "== rtpengine $RTPENGINE_VERSION; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for RUN in $(seq "$RUNS"); do
    for target in $TARGETS; do
        echo "== run $RUN: $target, $CALLS calls, relay on core $RELAY_CORE, generator on core $GEN_CORE (load $(cut -d' ' -f1 /proc/loadavg))"
        tag="r$RUN-$target"
        start_target "$target" "$CALLS" "$tag"
        status=0
        run_load rate "$target" "$CALLS" "$tag" --fixed "$FIXED" --fixed-secs "$FIXED_SECS" \
            --search --start "$START" --factor "$FACTOR" --step-secs "$STEP" \
            --refine "$REFINE" --max "$MAX" || status=$?
        stop_target
        if [ "$target" = switchboard ]; then
            echo "    relay_server counters: $(grep '"done"' "$WORK/$tag.server" || echo none)"
        fi
        [ "$status" -eq 0 ] || exit 1
    done
    for target in $TARGETS; do
        [ "$target" != rtpengine-mt ] || continue # same memory as rtpengine
        for n in $MEM_LIST; do
            echo "== run $RUN: memory, $target, $n calls"
            tag="r$RUN-mem-$target-$n"
            slab_before=$(slab_kib)
            start_target "$target" "$n" "$tag"
            status=0
            run_load mem "$target" "$n" "$tag" --fixed "$MEM_RATE" --fixed-secs 3 || status=$?
            slab_after=$(slab_kib)
            stop_target
            [ "$status" -eq 0 ] || exit 1
            # Kernel memory (sockets, epoll entries) is not in RSS; the slab delta shows it,
            # blurred by whatever else the machine does meanwhile.
            sed -i "\$s/\$/ slab_delta_kib=$((slab_after - slab_before))/" "$WORK/summary.txt"
        done
    done
done

# ------------------------------------------------------------------ summary

kv() { # kv KEY < SUMMARY line
    sed -n "s/.* $1=\([^ ]*\).*/\1/p"
}
line_of() { # line_of KIND RUN TARGET CALLS
    grep "^SUMMARY kind=$1 run=$2 target=$3 calls=$4 " "$WORK/summary.txt" | tail -1 || true
}
{
    echo
    echo "### Relay load, $(date -u '+%Y-%m-%d'): $CALLS calls, relay pinned to one core"
    echo
    echo "rtpengine $RTPENGINE_VERSION (userspace, --table=-1). Packets/s count both directions."
    echo "us/pkt = relay process CPU time per forwarded packet."
    echo
    header="| run | target | max pps, < 0.1 % loss | stopped by | CPU % at max"
    sep="|---|---|---|---|---"
    for r in ${FIXED//,/ }; do
        header="$header | CPU % at $r | us/pkt at $r"
        sep="$sep|---|---"
    done
    echo "$header |"
    echo "$sep|"
    for RUN in $(seq "$RUNS"); do
        for target in $TARGETS; do
            l=$(line_of rate "$RUN" "$target" "$CALLS")
            [ -n "$l" ] || continue
            # Not pushed to loss (the generator or --max stopped it): a lower bound.
            bound=
            case "$(kv limit <<<"$l")" in generator | max) bound="≥ " ;; esac
            row="| $RUN | $target | $bound$(kv max_pps <<<"$l") | $(kv limit <<<"$l") | $(kv max_relay_cpu_pct <<<"$l")"
            for r in ${FIXED//,/ }; do
                row="$row | $(kv "at${r}_relay_cpu_pct" <<<"$l") | $(kv "at${r}_us_per_pkt" <<<"$l")"
            done
            echo "$row |"
        done
    done
    for RUN in $(seq "$RUNS"); do
        sb=$(line_of rate "$RUN" switchboard "$CALLS")
        for other in rtpengine rtpengine-mt; do
            re=$(line_of rate "$RUN" "$other" "$CALLS")
            [ -n "$sb" ] && [ -n "$re" ] || continue
            ratios=$(awk -v a="$(kv max_pps <<<"$sb")" -v b="$(kv max_pps <<<"$re")" \
                -v la="$(kv limit <<<"$sb")" -v lb="$(kv limit <<<"$re")" \
                'BEGIN {
                    if (a + 0 > 0 && b + 0 > 0) {
                        # A side not pushed to loss only gives a lower bound of its rate.
                        note = ""
                        if (la != "relay" && lb != "relay") note = " (both lower bounds)"
                        else if (la != "relay") note = " (at least)"
                        else if (lb != "relay") note = " (at most)"
                        printf "max pps %.2f%s", a / b, note
                    } else printf "max pps -"
                }')
            for r in ${FIXED//,/ }; do
                ratios="$ratios, $(awk -v a="$(kv "at${r}_us_per_pkt" <<<"$sb")" -v b="$(kv "at${r}_us_per_pkt" <<<"$re")" -v r="$r" \
                    'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "CPU per packet at %s: %.2fx less", r, b / a; else printf "-" }')"
            done
            echo
            echo "Run $RUN, Switchboard / $other: $ratios"
        done
    done
    if [ -n "${MEM_LIST// /}" ]; then
        echo
        echo "| run | target | calls | RSS after setup, KiB | RSS after traffic, KiB | RSS per call, KiB (setup / traffic) | kernel slab per call, KiB |"
        echo "|---|---|---|---|---|---|---|"
        for RUN in $(seq "$RUNS"); do
            for target in $TARGETS; do
                [ "$target" != rtpengine-mt ] || continue
                base=$(line_of mem "$RUN" "$target" 0)
                b_setup=$(kv rss_setup_kib <<<"$base")
                b_traffic=$(kv rss_traffic_kib <<<"$base")
                b_slab=$(kv slab_delta_kib <<<"$base")
                for n in $MEM_LIST; do
                    l=$(line_of mem "$RUN" "$target" "$n")
                    [ -n "$l" ] || continue
                    s=$(kv rss_setup_kib <<<"$l")
                    t=$(kv rss_traffic_kib <<<"$l")
                    per=$(awk -v n="$n" -v s="$s" -v t="$t" -v bs="$b_setup" -v bt="$b_traffic" \
                        'BEGIN { if (n > 0 && bs != "" && bt != "") printf "%.1f / %.1f", (s - bs) / n, (t - bt) / n; else printf "-" }')
                    slab=$(awk -v n="$n" -v d="$(kv slab_delta_kib <<<"$l")" -v b="$b_slab" \
                        'BEGIN { if (n > 0 && d != "" && b != "") printf "%.1f", (d - b) / n; else printf "-" }')
                    echo "| $RUN | $target | $n | $s | ${t:--} | $per | $slab |"
                done
            done
        done
    fi
} | tee "$WORK/summary.md"
[ -z "$OUT" ] || cp "$WORK/summary.md" "$OUT"
