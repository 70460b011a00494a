#!/usr/bin/env bash
# Runs every sipp scenario of tests/sipp/ against Kamailio configured as a
# reference registrar (benches/load/kamailio-registrar.cfg), over UDP and TCP,
# IPv4 and (for a few) IPv6, and also runs each check the wrong way round to
# show that it fails when it should (exit 1).
#
# Why: the scenarios are Switchboard's end-to-end tests. Before blaming
# Switchboard for a failure, you want to know that the scenario itself passes
# against a known-good registrar. Run it after editing a scenario:
#
#   tests/sipp/run-against-kamailio.sh            # all cases
#   KEEP=1 tests/sipp/run-against-kamailio.sh     # keep the work dir (logs)
#   KAMAILIO_AUTH=db tests/sipp/run-against-kamailio.sh   # auth_db instead of the hash table
#
# Loopback only (127.0.0.1-3, ::1), every process bounded in time and stopped
# on exit. Installs sip-tester and kamailio with apt-get when missing (root).
# Ends with "N passed, N failed"; exits 1 if any case failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CFG="$ROOT/benches/load/kamailio-registrar.cfg"
PORT=${PORT:-5170}          # main registrar: min_expires 60, 10 auth failures → 403
LENIENT_PORT=$((PORT + 1))  # second registrar: min_expires 1, no practical rate limit

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
need kamailio kamailio
need ss iproute2

WORK=$(mktemp -d /tmp/sipp-vs-kamailio.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- users: one per role and transport, so that the cases do not share state
USERS=()
for t in u1 t1 v6u1 v6t1; do
    for role in ok wp brief unreg multi expiry rl; do USERS+=("${role}_$t"); done
done
mkdir -p "$WORK/db"
printf 'id(int,auto) table_name(string) table_version(int) \n0:subscriber:7\n0:location:9\n' >"$WORK/db/version"
{
    echo 'id(int,auto) username(string) domain(string) password(string) '
    i=1
    for u in "${USERS[@]}"; do echo "$i:$u:127.0.0.1:pw-$u"; i=$((i + 1)); done
} >"$WORK/db/subscriber"
csv() { # csv NAME USER PASSWORD → path of a one-line injection file
    printf 'SEQUENTIAL\n%s;%s;\n' "$2" "$3" >"$WORK/$1.csv"
    echo "$WORK/$1.csv"
}

# ---- the two registrars
AUTH_DEFINES=()
[ "${KAMAILIO_AUTH:-htable}" = db ] && AUTH_DEFINES=(-A WITH_AUTH_DB)
start_kamailio() { # start_kamailio PORT NAME [-A DEFINE]...
    local port=$1 name=$2
    shift 2
    if ss -lnu | grep -q "127.0.0.1:$port " || ss -lnt | grep -q "127.0.0.1:$port "; then
        echo "error: 127.0.0.1:$port is already in use (PORT=N picks other ports)" >&2
        exit 2
    fi
    timeout 600 kamailio -f "$CFG" -DD -E -m 64 -M 8 -A WITH_TCP -A WITH_IPV6 \
        -A "SB_PORT=$port" -A "SB_DB_URL=\"text://$WORK/db\"" "${AUTH_DEFINES[@]}" "$@" \
        >"$WORK/kamailio-$name.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do
        if ss -lnu | grep -q "127.0.0.1:$port " && ss -lnt | grep -q "127.0.0.1:$port "; then
            return 0
        fi
        sleep 0.1
    done
    echo "kamailio ($name) did not start:" >&2
    tail -20 "$WORK/kamailio-$name.log" >&2
    exit 2
}
start_kamailio "$PORT" main
start_kamailio "$LENIENT_PORT" lenient -A SB_MIN_EXPIRES=1 -A SB_MAX_AUTH_FAILS=100000

# ---- running one case
PASSED=0
FAILED=0
LOCAL_PORT=16100  # fresh local ports (16000-16099: pinned with @lport)
# run EXPECT LABEL SCENARIO TRANSPORT CSV [sipp options...]
#   EXPECT: pass (exit 0 wanted) or fail (exit 1 wanted: the check must bite)
#   options understood here: @lenient (the second registrar), @v6 (IPv6),
#   @src=IP (another loopback source address), @lport=N (this local port,
#   hence this contact, instead of a fresh one); the rest goes to sipp.
run() {
    local expect=$1 label=$2 scen=$3 transport=$4 csvfile=$5
    shift 5
    local port=$PORT remote=127.0.0.1 local_ip=127.0.0.1 timeout_s=10
    local args=()
    LOCAL_PORT=$((LOCAL_PORT + 1))
    local lport=$LOCAL_PORT
    for a in "$@"; do
        case "$a" in
        @lenient) port=$LENIENT_PORT ;;
        @v6) remote='[::1]' local_ip='::1' ;;
        @src=*) local_ip=${a#@src=} ;;
        @timeout=*) timeout_s=${a#@timeout=} ;;
        @lport=*) lport=${a#@lport=} ;;
        *) args+=("$a") ;;
        esac
    done
    local file
    file=$(printf '%s' "$label" | tr -c 'A-Za-z0-9_.-' '_')
    local log="$WORK/$file.err"
    local rc=0
    timeout $((timeout_s + 10)) sipp "$remote:$port" -sf "$HERE/$scen.xml" -m 1 -t "$transport" \
        -i "$local_ip" -p "$lport" -inf "$csvfile" -timeout "${timeout_s}s" -timeout_error \
        -nostdin -trace_err -error_file "$log" "${args[@]}" >"$WORK/$file.out" 2>&1 || rc=$?
    local want=0
    [ "$expect" = fail ] && want=1
    # an expected failure must be a failed check that sipp reported, not any error
    if [ "$rc" = "$want" ] && { [ "$want" = 0 ] || [ -s "$log" ]; }; then
        PASSED=$((PASSED + 1))
        printf 'ok    %-44s (exit %s)\n' "$label" "$rc"
    else
        FAILED=$((FAILED + 1))
        printf 'FAIL  %-44s (exit %s, wanted %s)\n' "$label" "$rc" "$want"
        [ -f "$log" ] && head -c 2000 "$log" | sed 's/^/      /'
        echo
    fi
}
check() { # check LABEL COMMAND...: a plain assertion in the same tally
    local label=$1
    shift
    if "$@"; then
        PASSED=$((PASSED + 1))
        printf 'ok    %-44s\n' "$label"
    else
        FAILED=$((FAILED + 1))
        printf 'FAIL  %-44s\n' "$label"
    fi
}

cases_for() { # cases_for TRANSPORT TAG PINNED_PORT_BASE [@v6]
    local t=$1 tag=$2 pin=$3
    shift 3
    local v6=("$@")
    local u

    run pass "$tag/options" options "$t" "$(csv x "ok_$tag" x)" "${v6[@]}"
    run pass "$tag/unknown_method" unknown_method "$t" "$WORK/x.csv" "${v6[@]}"
    run pass "$tag/bad_scheme" bad_scheme "$t" "$WORK/x.csv" "${v6[@]}"
    run pass "$tag/max_forwards_zero" max_forwards_zero "$t" "$WORK/x.csv" "${v6[@]}"
    run pass "$tag/malformed" malformed "$t" "$WORK/x.csv" "${v6[@]}"

    u=ok_$tag
    run pass "$tag/register_ok" register_ok "$t" "$(csv ok "$u" "pw-$u")" @lport="$pin" "${v6[@]}"
    run pass "$tag/register_ok again, still 1 binding" register_ok "$t" "$WORK/ok.csv" @lport="$pin" \
        -set expected_count 1 "${v6[@]}"
    run fail "$tag/register_ok again, 2 bindings expected" register_ok "$t" "$WORK/ok.csv" @lport="$pin" \
        -set expected_count 2 "${v6[@]}"
    run pass "$tag/register_ok from another port, 2 bindings" register_ok "$t" "$WORK/ok.csv" \
        -set expected_count 2 "${v6[@]}"
    run fail "$tag/register_ok, wrong password" register_ok "$t" "$(csv okbad "$u" nope)" "${v6[@]}"

    u=wp_$tag
    run pass "$tag/register_wrong_password" register_wrong_password "$t" "$(csv wp "$u" nope)" \
        -trace_logs -log_file "$WORK/wp-$tag-wrong.log" "${v6[@]}"
    run pass "$tag/register_wrong_password, unknown user" register_wrong_password "$t" \
        "$(csv wpu "nobody_$tag" nope)" -trace_logs -log_file "$WORK/wp-$tag-unknown.log" "${v6[@]}"
    check "$tag/wrong password and unknown user alike" \
        cmp -s "$WORK/wp-$tag-wrong.log" "$WORK/wp-$tag-unknown.log"
    run fail "$tag/register_wrong_password, right password" register_wrong_password "$t" \
        "$(csv wpok "$u" "pw-$u")" "${v6[@]}"

    u=brief_$tag
    run pass "$tag/register_expires_brief" register_expires_brief "$t" "$(csv brief "$u" "pw-$u")" \
        -set min_expires 60 "${v6[@]}"
    run fail "$tag/register_expires_brief, min 61 expected" register_expires_brief "$t" "$WORK/brief.csv" \
        -set min_expires 61 "${v6[@]}"
    run fail "$tag/register_expires_brief, Expires 60 is fine" register_expires_brief "$t" "$WORK/brief.csv" \
        -set expires 60 "${v6[@]}"

    u=unreg_$tag
    run pass "$tag/register_unregister" register_unregister "$t" "$(csv unreg "$u" "pw-$u")" \
        -set expected_count 0 "${v6[@]}"
    run pass "$tag/register_ok (second device)" register_ok "$t" "$WORK/unreg.csv" -set contact_user other "${v6[@]}"
    run pass "$tag/register_unregister, 1 left" register_unregister "$t" "$WORK/unreg.csv" \
        -set expected_count 1 "${v6[@]}"
    run fail "$tag/register_unregister, 0 left expected" register_unregister "$t" "$WORK/unreg.csv" \
        -set expected_count 0 "${v6[@]}"
    run pass "$tag/register_query, 1 binding" register_query "$t" "$WORK/unreg.csv" -set expected_count 1 "${v6[@]}"
    run pass "$tag/register_star" register_star "$t" "$WORK/unreg.csv" "${v6[@]}"
    run pass "$tag/register_query, 0 binding" register_query "$t" "$WORK/unreg.csv" -set expected_count 0 "${v6[@]}"
    run fail "$tag/register_query, 1 binding expected" register_query "$t" "$WORK/unreg.csv" \
        -set expected_count 1 "${v6[@]}"

    u=multi_$tag
    csv multi "$u" "pw-$u" >/dev/null
    for i in 1 2 3 4 5; do
        run pass "$tag/register_multi dev$i" register_multi "$t" "$WORK/multi.csv" @lport=$((pin + i)) \
            -set contact_user "dev$i" -set expected_count "$i" "${v6[@]}"
    done
    run fail "$tag/register_multi, wrong count" register_multi "$t" "$WORK/multi.csv" @lport=$((pin + 5)) \
        -set contact_user dev5 -set expected_count 4 "${v6[@]}"
    run pass "$tag/register_over_limit dev6" register_over_limit "$t" "$WORK/multi.csv" \
        -set contact_user dev6 "${v6[@]}"
    run pass "$tag/register_over_limit dev6, 503" register_over_limit "$t" "$WORK/multi.csv" \
        -set contact_user dev6 -set reject_code 503 "${v6[@]}"
    run fail "$tag/register_over_limit dev6, 403 expected" register_over_limit "$t" "$WORK/multi.csv" \
        -set contact_user dev6 -set reject_code 403 "${v6[@]}"
    run fail "$tag/register_over_limit dev1 (a refresh, not over)" register_over_limit "$t" "$WORK/multi.csv" \
        @lport=$((pin + 1)) -set contact_user dev1 "${v6[@]}"
    run pass "$tag/register_query, 5 bindings" register_query "$t" "$WORK/multi.csv" -set expected_count 5 "${v6[@]}"

    u=expiry_$tag
    run pass "$tag/register_expiry (2 s)" register_expiry "$t" "$(csv expiry "$u" "pw-$u")" @lenient "${v6[@]}"
    run fail "$tag/register_expiry, no wait" register_expiry "$t" "$WORK/expiry.csv" @lenient \
        -set wait_ms 100 "${v6[@]}"
}

echo "== UDP, IPv4"
cases_for u1 u1 16000
echo "== TCP, IPv4"
cases_for t1 t1 16010
echo "== UDP, IPv6"
cases_for u1 v6u1 16020 @v6
echo "== TCP, IPv6"
cases_for t1 v6t1 16030 @v6

echo "== rate limiting (each from its own loopback address)"
run pass "u1/register_rate_limit" register_rate_limit u1 "$(csv rl rl_u1 nope)" @src=127.0.0.2
run pass "t1/register_rate_limit" register_rate_limit t1 "$(csv rl2 rl_t1 nope)" @src=127.0.0.3
run fail "u1/register_rate_limit, no limit" register_rate_limit u1 "$WORK/rl.csv" @lenient \
    -set max_attempts 3

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
