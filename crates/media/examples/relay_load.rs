//! Load generator for the RTP relay benchmark (`benches/load/relay/relay.sh`): drives either
//! Switchboard's relay (`relay_server` example) or rtpengine with bidirectional G.711-sized RTP
//! on loopback and measures loss, packets/s and the relay's CPU.
//!
//! # Calls
//!
//! `--calls K` calls, each with two relay ports: the generator's A side sends to the relay's
//! A port of every call, its B side to the B port, and each side receives what the relay
//! forwards from the other. For Switchboard the port map comes from `relay_server`'s output
//! (`--map FILE`); for rtpengine the generator sets the calls up itself over the ng control
//! protocol (`--rtpengine IP:PORT`: bencoded `offer` with the A side's SDP, `answer` with the B
//! side's; the ports in the returned SDPs are the relay's).
//!
//! All A sides share one socket and all B sides another (`--gen-a`, `--gen-b`): the relay still
//! has its own sockets per call and leg, so its work per packet is unchanged, while the
//! generator can batch (`sendmmsg`/`recvmmsg`) and stays cheaper per packet than the relay it
//! measures. Every stream has its own SSRC and sequence; a received packet is checked against
//! the port it must come from.
//!
//! # Steps
//!
//! A step sends at a fixed total rate (both directions together, round-robin over the calls,
//! 172-byte datagrams: 12-byte RTP header + 160 bytes of PCMA payload) for a few seconds, then
//! waits up to 0.5 s for stragglers. The payload carries the step's tag, so late packets of a
//! previous step are never counted. Per step: sent, received, lost, the relay's CPU (utime +
//! stime of its process, all threads, from `/proc/PID/stat`, over the sending time), the busy
//! share of the relay's core (`/proc/stat`, which includes softirq work), the generator's own
//! CPU, and where the kernel dropped datagrams: full receive buffers of the relay's sockets or
//! of the generator's (`/proc/net/udp`), or elsewhere (UDP errors, backlog drops), which says
//! who was too slow.
//!
//! Pauses: on a busy shared machine the whole VM is sometimes stopped for 100-500 ms. The
//! generator then sends what it owes in a burst of at most 0.25 s of traffic and skips the
//! rest; a step that skipped more than 5 % after pauses is run again (`PAUSED`), up to four
//! runs. The time lost in pauses is shown per step.
//!
//! `--fixed PPS[,PPS...]` runs one step at each common rate (the CPU-per-packet comparison);
//! `--search` raises the rate by `--factor` from `--start` until a step loses ≥ `--loss-limit`
//! (0.1 %) or the generator cannot keep up, retries a failing rate once (the machine is
//! shared), then bisects `--refine` times. RSS of the relay (`/proc/PID/status`) is read after
//! setup and after traffic. Human-readable rows go to stdout, then one `SUMMARY key=value ...`
//! line.
//!
//! ```text
//! relay_load --label switchboard --map map.jsonl --target-pid PID --relay-core 0 \
//!     --calls 1000 --fixed 20000 --search
//! relay_load --label rtpengine --rtpengine 127.0.0.1:22230 --target-pid PID --calls 1000 ...
//! ```

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// RTP header + 20 ms of G.711 at 8 kHz.
const PACKET_LEN: usize = 12 + 160;
/// Receive buffer per datagram (anything longer is not ours).
const RECV_LEN: usize = 256;
/// Datagrams per `sendmmsg`/`recvmmsg`.
const MAX_BATCH: usize = 64;
/// SSRC of stream 0; stream `k` is `SSRC_BASE + k`.
const SSRC_BASE: u32 = 0x5b00_0000;
/// After sending stops, how long a step waits for stragglers.
const DRAIN: Duration = Duration::from_millis(500);
/// The generator may fall behind by this much traffic (in seconds) and catch up; beyond, it
/// skips. Generous because this VM is paused for up to 100 ms at a time when its host
/// throttles it (the relay is paused too, so a catch-up burst is what it would have seen).
const CATCH_UP: f64 = 0.25;
/// A step must send at least this share of the asked rate, or the generator was the limit.
const MIN_ACHIEVED: f64 = 0.99;
/// A gap this long between two rounds of the sending loop means the generator was not running
/// (the VM paused, or the core was taken), not that it was too slow.
const PAUSE_GAP: Duration = Duration::from_millis(20);
/// A step that had to skip more than this share of its packets after pauses proves nothing
/// about the rate: it is run again.
const MAX_PAUSE_SKIPPED: f64 = 0.05;
/// Runs of one rate before giving up on pauses.
const MAX_TRIES: u32 = 4;
/// Packets sent per round of the sending loop at most (about a millisecond of work), so a
/// round is short and a long gap between rounds is a pause, not our own catching up.
const ROUND_SEND: u64 = 8 * MAX_BATCH as u64;

// ------------------------------------------------------------------------------------------
// Arguments

enum Target {
    /// Port map printed by `relay_server`.
    Map(String),
    /// rtpengine's ng control address.
    Rtpengine(SocketAddr),
}

struct Args {
    label: String,
    target: Target,
    calls: usize,
    relay_ip: Ipv4Addr,
    gen_a: SocketAddrV4,
    gen_b: SocketAddrV4,
    target_pid: Option<i32>,
    relay_core: Option<usize>,
    warmup_pps: f64,
    fixed: Vec<f64>,
    fixed_secs: f64,
    search: bool,
    start: f64,
    factor: f64,
    max: f64,
    step_secs: f64,
    refine: u32,
    loss_limit: f64,
}

const USAGE: &str = "usage: relay_load (--map FILE | --rtpengine IP:PORT) --calls K \
[--label NAME] [--relay-ip IP] [--gen-a IP:PORT] [--gen-b IP:PORT] [--target-pid PID] \
[--relay-core N] [--warmup PPS] [--fixed PPS[,PPS...]] [--fixed-secs S] [--search] [--start PPS] \
[--factor F] [--max PPS] [--step-secs S] [--refine N] [--loss-limit FRACTION]";

fn parse_args() -> Result<Args, String> {
    let mut target = None;
    let mut args = Args {
        label: "relay".into(),
        target: Target::Map(String::new()),
        calls: 0,
        relay_ip: Ipv4Addr::LOCALHOST,
        gen_a: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000),
        gen_b: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40002),
        target_pid: None,
        relay_core: None,
        warmup_pps: 5000.0,
        fixed: Vec::new(),
        fixed_secs: 10.0,
        search: false,
        start: 20000.0,
        factor: 1.25,
        max: 1_000_000.0,
        step_secs: 4.0,
        refine: 2,
        loss_limit: 0.001,
    };
    let mut calls = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--search" {
            args.search = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--label" => args.label = value,
            "--map" => target = Some(Target::Map(value)),
            "--rtpengine" => target = Some(Target::Rtpengine(parse(&value, &flag)?)),
            "--calls" => calls = Some(parse(&value, &flag)?),
            "--relay-ip" => args.relay_ip = parse(&value, &flag)?,
            "--gen-a" => args.gen_a = parse(&value, &flag)?,
            "--gen-b" => args.gen_b = parse(&value, &flag)?,
            "--target-pid" => args.target_pid = Some(parse(&value, &flag)?),
            "--relay-core" => args.relay_core = Some(parse(&value, &flag)?),
            "--warmup" => args.warmup_pps = parse(&value, &flag)?,
            "--fixed" => {
                args.fixed = value
                    .split(',')
                    .map(|r| parse(r.trim(), &flag))
                    .collect::<Result<_, _>>()?;
            }
            "--fixed-secs" => args.fixed_secs = parse(&value, &flag)?,
            "--start" => args.start = parse(&value, &flag)?,
            "--factor" => args.factor = parse(&value, &flag)?,
            "--max" => args.max = parse(&value, &flag)?,
            "--step-secs" => args.step_secs = parse(&value, &flag)?,
            "--refine" => args.refine = parse(&value, &flag)?,
            "--loss-limit" => args.loss_limit = parse(&value, &flag)?,
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    args.target = target.ok_or_else(|| format!("--map or --rtpengine is required\n{USAGE}"))?;
    args.calls = calls.ok_or_else(|| format!("--calls is required\n{USAGE}"))?;
    let positive = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(format!("{name} must be positive"))
        }
    };
    positive("--warmup", args.warmup_pps)?;
    positive("--fixed-secs", args.fixed_secs)?;
    positive("--start", args.start)?;
    positive("--max", args.max)?;
    positive("--step-secs", args.step_secs)?;
    positive("--loss-limit", args.loss_limit)?;
    if args.factor <= 1.0 || !args.factor.is_finite() {
        return Err("--factor must be > 1".into());
    }
    for &rate in &args.fixed {
        positive("--fixed", rate)?;
    }
    if args.calls > (1 << 23) {
        return Err("--calls is too large".into());
    }
    Ok(args)
}

fn parse<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: cannot parse {text:?}"))
}

// ------------------------------------------------------------------------------------------
// Main

fn main() -> ExitCode {
    match parse_args().and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay_load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where the generator's A and B sides send for one call (the relay's RTP ports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CallPorts {
    a: SocketAddrV4,
    b: SocketAddrV4,
}

fn run(args: &Args) -> Result<(), String> {
    let setup_started = Instant::now();
    let (calls, rtpengine) = match &args.target {
        Target::Map(path) => (read_map(path, args.relay_ip, args.calls)?, None),
        Target::Rtpengine(ng) => {
            let mut engine = RtpengineCalls::connect(*ng, args.gen_a, args.gen_b)?;
            (engine.set_up(args.calls)?, Some(engine))
        }
    };
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let rss_setup = args.target_pid.and_then(rss_kib);
    println!(
        "# {}: {} calls set up in {:.2} s, relay RSS {} KiB",
        args.label,
        calls.len(),
        setup_secs,
        show(rss_setup)
    );
    let mut summary = vec![
        ("target".to_string(), args.label.clone()),
        ("calls".to_string(), calls.len().to_string()),
        ("rss_setup_kib".to_string(), show(rss_setup)),
    ];
    if calls.is_empty() {
        let rss_now = args.target_pid.and_then(rss_kib);
        summary.push(("rss_traffic_kib".into(), show(rss_now)));
        println!("SUMMARY {}", format_summary(&summary));
        return Ok(());
    }

    let mut rig = Rig {
        probes: Probes::new(args, &calls),
        generator: Generator::new(args.gen_a, args.gen_b, calls)?,
        rtpengine,
        args,
    };
    println!("{}", Step::HEADER);
    rig.warm_up();

    for &rate in &args.fixed {
        let (s, _) = attempt(&mut rig, rate, args.fixed_secs, "fixed", false)?;
        let key = |what: &str| format!("at{rate:.0}_{what}");
        summary.extend([
            (key("achieved"), format!("{:.0}", s.achieved())),
            (key("loss_pct"), format!("{:.4}", s.loss() * 100.0)),
            (key("relay_cpu_pct"), opt(s.relay_cpu(), 1)),
            (key("us_per_pkt"), opt(s.relay_us_per_packet(), 3)),
            (key("core_pct"), opt(s.core_busy(), 1)),
            (key("core_us_per_pkt"), opt(s.core_us_per_packet(), 3)),
            (key("gen_cpu_pct"), opt(s.gen_cpu(), 1)),
        ]);
    }

    if args.search {
        let found = search(&mut rig)?;
        let best = found.best;
        summary.extend([
            ("max_pps".into(), opt(best.map(|s| s.rate), 0)),
            ("max_achieved".into(), opt(best.map(|s| s.achieved()), 0)),
            (
                "max_relay_cpu_pct".into(),
                opt(best.and_then(|s| s.relay_cpu()), 1),
            ),
            (
                "max_us_per_pkt".into(),
                opt(best.and_then(|s| s.relay_us_per_packet()), 3),
            ),
            (
                "max_core_pct".into(),
                opt(best.and_then(|s| s.core_busy()), 1),
            ),
            (
                "max_gen_cpu_pct".into(),
                opt(best.and_then(|s| s.gen_cpu()), 1),
            ),
            ("first_fail_pps".into(), opt(found.first_fail, 0)),
            ("limit".into(), found.limit.to_string()),
        ]);
    }

    let rss_traffic = args.target_pid.and_then(rss_kib);
    summary.push(("rss_traffic_kib".into(), show(rss_traffic)));
    let tally = &rig.generator.tally;
    summary.push(("misrouted".into(), tally.misrouted.to_string()));
    summary.push(("stale".into(), tally.stale.to_string()));
    println!("SUMMARY {}", format_summary(&summary));
    Ok(())
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

fn format_summary(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The generator, its probes, and (for rtpengine) the control connection.
struct Rig<'a> {
    args: &'a Args,
    generator: Generator,
    probes: Probes,
    rtpengine: Option<RtpengineCalls>,
}

impl Rig<'_> {
    /// One second at the warm-up rate: latches every leg and warms caches; not counted.
    fn warm_up(&mut self) {
        let s = self.generator.step(self.args.warmup_pps, 1.0, &self.probes);
        println!("{}", s.row("warmup", self.args.loss_limit));
    }

    /// Runs and prints one step. When searching, rtpengine gets fresh calls after a failed
    /// step: it stops reading a socket for good once its queue overflowed a few times (a
    /// flood guard), so the next step would measure dead streams, not the relay.
    fn step(&mut self, rate: f64, secs: f64, phase: &str) -> Result<Step, String> {
        let s = self.generator.step(rate, secs, &self.probes);
        println!("{}", s.row(phase, self.args.loss_limit));
        if self.args.search && s.verdict(self.args.loss_limit) != Verdict::Pass {
            if let Some(engine) = self.rtpengine.as_mut() {
                engine.tear_down()?;
                let calls = engine.set_up(self.args.calls)?;
                self.probes = Probes::new(self.args, &calls);
                self.generator.replace_calls(calls);
                println!("# fresh rtpengine calls after a failed step");
                self.warm_up();
            }
        }
        Ok(s)
    }
}

/// What the search found.
struct Found {
    /// The highest passing step.
    best: Option<Step>,
    /// The lowest rate that failed (twice, or paused every time).
    first_fail: Option<f64>,
    /// What stopped the search: `relay` (loss), `generator` (could not send the rate),
    /// `paused` (the machine kept pausing the generator), `max` (none: the highest rate
    /// passed).
    limit: &'static str,
}

/// Tries a rate until it has a verdict: a step spoilt by pauses is run again (up to
/// [`MAX_TRIES`] runs in all), and with `retry_failure` a failing rate gets a second chance (a
/// passing retry means the first failure was noise from another program on the machine).
fn attempt(
    rig: &mut Rig<'_>,
    rate: f64,
    secs: f64,
    phase: &str,
    retry_failure: bool,
) -> Result<(Step, Verdict), String> {
    let limit = rig.args.loss_limit;
    let mut failures = 0;
    let mut tries = 0;
    loop {
        tries += 1;
        let label = if tries == 1 { phase } else { "retry" };
        let step = rig.step(rate, secs, label)?;
        let verdict = step.verdict(limit);
        let again = match verdict {
            Verdict::Pass => false,
            Verdict::Paused => true,
            Verdict::Loss | Verdict::Generator => {
                failures += 1;
                retry_failure && failures < 2
            }
        };
        if !again || tries >= MAX_TRIES {
            return Ok((step, verdict));
        }
    }
}

fn search(rig: &mut Rig<'_>) -> Result<Found, String> {
    let args = rig.args;
    let mut found = Found {
        best: None,
        first_fail: None,
        limit: "max",
    };
    let record = |found: &mut Found, rate: f64, step: Step, verdict: Verdict| {
        found.limit = match verdict {
            Verdict::Pass => {
                found.best = Some(step);
                return;
            }
            Verdict::Loss => "relay",
            Verdict::Generator => "generator",
            Verdict::Paused => "paused",
        };
        found.first_fail = Some(rate);
    };
    let mut rate = args.start;
    while rate <= args.max {
        let (step, verdict) = attempt(rig, rate, args.step_secs, "search", true)?;
        record(&mut found, rate, step, verdict);
        if verdict != Verdict::Pass {
            break;
        }
        rate = (rate * args.factor).round();
    }
    for _ in 0..args.refine {
        let (Some(good), Some(bad)) = (found.best.map(|s| s.rate), found.first_fail) else {
            break;
        };
        if bad - good < 0.02 * good {
            break;
        }
        let mid = ((good + bad) / 2.0).round();
        let (step, verdict) = attempt(rig, mid, args.step_secs, "search", true)?;
        record(&mut found, mid, step, verdict);
    }
    Ok(found)
}

// ------------------------------------------------------------------------------------------
// Setup: Switchboard's port map

fn read_map(path: &str, ip: Ipv4Addr, want: usize) -> Result<Vec<CallPorts>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut calls = Vec::new();
    for line in text.lines() {
        if json_int(line, "call").is_none() {
            continue;
        }
        let port = |key| {
            json_int(line, key)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("{path}: no port {key:?} in {line:?}"))
        };
        calls.push(CallPorts {
            a: SocketAddrV4::new(ip, port("a")?),
            b: SocketAddrV4::new(ip, port("b")?),
        });
    }
    if calls.len() < want {
        return Err(format!(
            "{path}: {} calls in the map, {want} wanted",
            calls.len()
        ));
    }
    calls.truncate(want);
    Ok(calls)
}

/// The unsigned integer after `"key":` in a flat JSON object line.
fn json_int(line: &str, key: &str) -> Option<u64> {
    let pattern = format!("\"{key}\":");
    let start = line.find(&pattern)? + pattern.len();
    let digits: String = line[start..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

// ------------------------------------------------------------------------------------------
// Setup: rtpengine over the ng protocol (bencode over UDP)

/// A bencode value (BitTorrent's encoding, which rtpengine's ng protocol uses).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bencode {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Bencode>),
    /// Keys in the order given; [`Bencode::encode`] sorts them as the format requires.
    Dict(Vec<(Vec<u8>, Bencode)>),
}

impl Bencode {
    fn text(s: &str) -> Bencode {
        Bencode::Bytes(s.as_bytes().to_vec())
    }

    fn dict(pairs: &[(&str, Bencode)]) -> Bencode {
        Bencode::Dict(
            pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
                .collect(),
        )
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Bencode::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Bencode::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Bencode::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode(out);
                }
                out.push(b'e');
            }
            Bencode::Dict(pairs) => {
                let mut sorted: Vec<_> = pairs.iter().collect();
                sorted.sort_by(|x, y| x.0.cmp(&y.0));
                out.push(b'd');
                for (k, v) in sorted {
                    Bencode::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decodes exactly one value filling all of `input`.
    fn decode(input: &[u8]) -> Result<Bencode, String> {
        let (value, used) = Bencode::decode_at(input, 0, 0)?;
        if used != input.len() {
            return Err(format!("{} trailing bytes", input.len() - used));
        }
        Ok(value)
    }

    fn decode_at(input: &[u8], pos: usize, depth: u32) -> Result<(Bencode, usize), String> {
        if depth > 32 {
            return Err("nested too deeply".into());
        }
        let at = |p: usize| input.get(p).copied().ok_or_else(|| "truncated".to_string());
        match at(pos)? {
            b'i' => {
                let end = find(input, pos + 1, b'e')?;
                let text = std::str::from_utf8(&input[pos + 1..end]).map_err(|e| e.to_string())?;
                let n = text.parse().map_err(|_| format!("bad integer {text:?}"))?;
                Ok((Bencode::Int(n), end + 1))
            }
            b'l' => {
                let mut items = Vec::new();
                let mut p = pos + 1;
                while at(p)? != b'e' {
                    let (item, next) = Bencode::decode_at(input, p, depth + 1)?;
                    items.push(item);
                    p = next;
                }
                Ok((Bencode::List(items), p + 1))
            }
            b'd' => {
                let mut pairs = Vec::new();
                let mut p = pos + 1;
                while at(p)? != b'e' {
                    let (key, next) = Bencode::decode_at(input, p, depth + 1)?;
                    let Bencode::Bytes(key) = key else {
                        return Err("dictionary key is not a string".into());
                    };
                    let (value, next) = Bencode::decode_at(input, next, depth + 1)?;
                    pairs.push((key, value));
                    p = next;
                }
                Ok((Bencode::Dict(pairs), p + 1))
            }
            b'0'..=b'9' => {
                let colon = find(input, pos, b':')?;
                let text = std::str::from_utf8(&input[pos..colon]).map_err(|e| e.to_string())?;
                let len: usize = text.parse().map_err(|_| format!("bad length {text:?}"))?;
                let end = colon
                    .checked_add(1 + len)
                    .filter(|&e| e <= input.len())
                    .ok_or("string runs past the end")?;
                Ok((Bencode::Bytes(input[colon + 1..end].to_vec()), end))
            }
            other => Err(format!("unexpected byte {other:#04x} at {pos}")),
        }
    }

    fn get(&self, key: &str) -> Option<&Bencode> {
        match self {
            Bencode::Dict(pairs) => pairs
                .iter()
                .find(|(k, _)| k == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_text(&self) -> Option<&str> {
        match self {
            Bencode::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

fn find(input: &[u8], from: usize, byte: u8) -> Result<usize, String> {
    input
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == byte))
        .map(|i| from + i)
        .ok_or_else(|| format!("no {:?} after {from}", byte as char))
}

/// A blocking ng client: `cookie SP bencoded-dict` out, the same cookie back.
struct NgClient {
    socket: UdpSocket,
    server: SocketAddr,
    next_cookie: u64,
}

impl NgClient {
    fn new(server: SocketAddr) -> Result<NgClient, String> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        Ok(NgClient {
            socket,
            server,
            next_cookie: 0,
        })
    }

    fn request(&mut self, message: &Bencode) -> Result<Bencode, String> {
        self.next_cookie += 1;
        let cookie = format!("{}_{}", std::process::id(), self.next_cookie);
        let mut datagram = format!("{cookie} ").into_bytes();
        message.encode(&mut datagram);
        let mut buf = vec![0u8; 65536];
        for _ in 0..3 {
            self.socket
                .send_to(&datagram, self.server)
                .map_err(|e| format!("ng send: {e}"))?;
            let give_up = Instant::now() + Duration::from_secs(2);
            while Instant::now() < give_up {
                let n = match self.socket.recv_from(&mut buf) {
                    Ok((n, _)) => n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        break
                    }
                    Err(e) => return Err(format!("ng receive: {e}")),
                };
                let reply = &buf[..n];
                let Some(space) = reply.iter().position(|&b| b == b' ') else {
                    continue;
                };
                if &reply[..space] != cookie.as_bytes() {
                    continue; // an answer to an earlier, retried request
                }
                let value = Bencode::decode(&reply[space + 1..])?;
                return match value.get("result").and_then(Bencode::as_text) {
                    Some("ok") | Some("pong") => Ok(value),
                    other => Err(format!(
                        "ng {:?}: result {other:?}, reason {:?}",
                        message.get("command").and_then(Bencode::as_text),
                        value.get("error-reason").and_then(Bencode::as_text)
                    )),
                };
            }
        }
        Err(format!("ng: no answer from {}", self.server))
    }
}

fn sdp_for(addr: SocketAddrV4, session: u64) -> String {
    format!(
        "v=0\r\no=- {session} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n",
        ip = addr.ip(),
        port = addr.port()
    )
}

/// The audio address of an SDP: the first `m=audio` port, with the `c=` line of that media
/// section, or else the session's.
fn sdp_audio_addr(sdp: &str) -> Option<SocketAddrV4> {
    let mut session_ip = None;
    let mut media_ip = None;
    let mut port = None;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(rest) = line.strip_prefix("c=IN IP4 ") {
            let ip = rest.split('/').next()?.trim().parse().ok();
            if port.is_some() {
                media_ip = ip;
            } else {
                session_ip = ip;
            }
        } else if line.starts_with("m=") {
            if port.is_some() {
                break; // the next media section
            }
            if let Some(rest) = line.strip_prefix("m=audio ") {
                port = rest.split_whitespace().next()?.parse().ok();
            }
        }
    }
    Some(SocketAddrV4::new(media_ip.or(session_ip)?, port?))
}

/// rtpengine's calls for this run, set up and torn down over ng.
struct RtpengineCalls {
    client: NgClient,
    gen_a: SocketAddrV4,
    gen_b: SocketAddrV4,
    /// Bumped for every set of calls, so call-ids never repeat.
    generation: u32,
    /// Calls of the current generation.
    live: usize,
}

impl RtpengineCalls {
    /// Connects, waiting up to 15 s for rtpengine to answer a ping (it may still be starting).
    fn connect(
        ng: SocketAddr,
        gen_a: SocketAddrV4,
        gen_b: SocketAddrV4,
    ) -> Result<RtpengineCalls, String> {
        let mut client = NgClient::new(ng)?;
        let ping = Bencode::dict(&[("command", Bencode::text("ping"))]);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match client.request(&ping) {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        Ok(RtpengineCalls {
            client,
            gen_a,
            gen_b,
            generation: 0,
            live: 0,
        })
    }

    fn call_id(&self, call: usize) -> Bencode {
        Bencode::text(&format!(
            "relaybench-{}-{}-{call}",
            std::process::id(),
            self.generation
        ))
    }

    /// Offer (A's SDP) and answer (B's SDP) for `calls` new calls; the rewritten SDPs give the
    /// ports each side must send to.
    fn set_up(&mut self, calls: usize) -> Result<Vec<CallPorts>, String> {
        self.generation += 1;
        let mut out = Vec::with_capacity(calls);
        for call in 0..calls {
            let call_id = self.call_id(call);
            let from_tag = Bencode::text(&format!("a{call}"));
            let offer = self.client.request(&Bencode::dict(&[
                ("command", Bencode::text("offer")),
                ("call-id", call_id.clone()),
                ("from-tag", from_tag.clone()),
                ("sdp", Bencode::text(&sdp_for(self.gen_a, call as u64))),
            ]))?;
            // The offer as rewritten for B: the port B must send to.
            let to_b = offer
                .get("sdp")
                .and_then(Bencode::as_text)
                .and_then(sdp_audio_addr)
                .ok_or("offer: no audio address in rtpengine's SDP")?;
            let answer = self.client.request(&Bencode::dict(&[
                ("command", Bencode::text("answer")),
                ("call-id", call_id),
                ("from-tag", from_tag),
                ("to-tag", Bencode::text(&format!("b{call}"))),
                ("sdp", Bencode::text(&sdp_for(self.gen_b, call as u64))),
            ]))?;
            let to_a = answer
                .get("sdp")
                .and_then(Bencode::as_text)
                .and_then(sdp_audio_addr)
                .ok_or("answer: no audio address in rtpengine's SDP")?;
            out.push(CallPorts { a: to_a, b: to_b });
            self.live = call + 1;
        }
        Ok(out)
    }

    /// Deletes the current generation's calls (their ports go back to rtpengine's pool).
    fn tear_down(&mut self) -> Result<(), String> {
        for call in 0..self.live {
            self.client.request(&Bencode::dict(&[
                ("command", Bencode::text("delete")),
                ("call-id", self.call_id(call)),
                ("from-tag", Bencode::text(&format!("a{call}"))),
            ]))?;
        }
        self.live = 0;
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// /proc probes

/// Reads the counters a step compares before and after.
struct Probes {
    target_pid: Option<i32>,
    relay_core: Option<usize>,
    /// `relay_port[p]`: a relay socket is bound on port `p` (for its kernel drop count).
    relay_port: Vec<bool>,
    gen_ports: [u16; 2],
    ticks_per_sec: f64,
}

#[derive(Clone, Copy, Debug)]
struct Snapshot {
    at: Instant,
    target_ticks: Option<u64>,
    core: Option<(u64, u64)>,
    self_ticks: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default)]
struct SocketDrops {
    /// On the relay's sockets (`/proc/net/udp`).
    relay: u64,
    /// On the generator's two sockets.
    generator: u64,
    /// UDP `InErrors` (which include `RcvbufErrors`) + `SndbufErrors` (`/proc/net/snmp`) and
    /// backlog drops (`/proc/net/softnet_stat`), machine-wide.
    kernel: u64,
}

impl Probes {
    fn new(args: &Args, calls: &[CallPorts]) -> Probes {
        let mut relay_port = vec![false; 65536];
        for c in calls {
            relay_port[usize::from(c.a.port())] = true;
            relay_port[usize::from(c.b.port())] = true;
        }
        // SAFETY: sysconf only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Probes {
            target_pid: args.target_pid,
            relay_core: args.relay_core,
            relay_port,
            gen_ports: [args.gen_a.port(), args.gen_b.port()],
            ticks_per_sec: if ticks > 0 { ticks as f64 } else { 100.0 },
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            target_ticks: self.target_pid.and_then(|p| process_ticks(&p.to_string())),
            core: self.relay_core.and_then(core_ticks),
            self_ticks: process_ticks("self"),
        }
    }

    /// Datagrams the kernel dropped on full receive buffers, per side, from `/proc/net/udp`.
    fn socket_drops(&self) -> Option<SocketDrops> {
        let text = std::fs::read_to_string("/proc/net/udp").ok()?;
        let mut drops = SocketDrops::default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(count)) = (fields.get(1), fields.last()) else {
                continue;
            };
            let Some(port) = local
                .split(':')
                .nth(1)
                .and_then(|p| u16::from_str_radix(p, 16).ok())
            else {
                continue;
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            if self.relay_port[usize::from(port)] {
                drops.relay += count;
            } else if self.gen_ports.contains(&port) {
                drops.generator += count;
            }
        }
        drops.kernel = udp_errors().unwrap_or(0) + backlog_drops().unwrap_or(0);
        Some(drops)
    }
}

/// UDP receive/send buffer errors and input errors, machine-wide.
fn udp_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let names: Vec<&str> = udp.next()?.split_whitespace().collect();
    let values: Vec<&str> = udp.next()?.split_whitespace().collect();
    let field = |name: &str| -> Option<u64> {
        let i = names.iter().position(|n| *n == name)?;
        values.get(i)?.parse().ok()
    };
    Some(field("InErrors")? + field("SndbufErrors").unwrap_or(0))
}

/// Packets dropped because a CPU's input backlog was full (second column, hex).
fn backlog_drops() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/net/softnet_stat").ok()?;
    let mut total = 0;
    for line in stat.lines() {
        let dropped = line.split_whitespace().nth(1)?;
        total += u64::from_str_radix(dropped, 16).ok()?;
    }
    Some(total)
}

/// utime + stime of a process (all its threads), in clock ticks.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (busy, total) ticks of one core from `/proc/stat`; busy includes irq and softirq.
fn core_ticks(core: usize) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{core}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ------------------------------------------------------------------------------------------
// One step's numbers

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    /// Lost at least the loss limit.
    Loss,
    /// The generator could not send the asked rate.
    Generator,
    /// Too much traffic skipped after pauses of the whole generator: no verdict on the relay.
    Paused,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    rate: f64,
    secs: f64,
    sent: u64,
    received: u64,
    /// Packets not sent because the generator fell more than [`CATCH_UP`] behind while it
    /// was running (too slow).
    skipped_slow: u64,
    /// Packets not sent because the generator was paused for longer than [`CATCH_UP`].
    skipped_paused: u64,
    /// Time lost in pauses (gaps of at least [`PAUSE_GAP`] between rounds).
    paused: Duration,
    before: Snapshot,
    after: Snapshot,
    drops_before: Option<SocketDrops>,
    drops_after: Option<SocketDrops>,
    ticks_per_sec: f64,
}

impl Step {
    const HEADER: &'static str = "phase     rate/s  achieved      sent  received    lost   loss%  \
                                  relay%  core%  gen%  us/pkt  relay_drop  gen_drop  udp_err  skipped  paused_ms  verdict";

    /// Packets/s sent over the step's nominal length.
    fn achieved(&self) -> f64 {
        self.sent as f64 / self.secs
    }

    fn loss(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        self.sent.saturating_sub(self.received) as f64 / self.sent as f64
    }

    fn wall(&self) -> f64 {
        (self.after.at - self.before.at).as_secs_f64()
    }

    /// CPU of the relay process over the sending time, % of one core.
    fn relay_cpu(&self) -> Option<f64> {
        let t = self.after.target_ticks? - self.before.target_ticks?;
        Some(t as f64 / self.ticks_per_sec / self.wall() * 100.0)
    }

    fn gen_cpu(&self) -> Option<f64> {
        let t = self.after.self_ticks? - self.before.self_ticks?;
        Some(t as f64 / self.ticks_per_sec / self.wall() * 100.0)
    }

    /// Busy share of the relay's core, softirq included.
    fn core_busy(&self) -> Option<f64> {
        let (b0, t0) = self.before.core?;
        let (b1, t1) = self.after.core?;
        let total = t1.checked_sub(t0).filter(|&t| t > 0)?;
        Some((b1 - b0) as f64 / total as f64 * 100.0)
    }

    /// Relay process CPU per forwarded packet, in microseconds.
    fn relay_us_per_packet(&self) -> Option<f64> {
        self.per_packet(self.relay_cpu()?)
    }

    fn core_us_per_packet(&self) -> Option<f64> {
        self.per_packet(self.core_busy()?)
    }

    fn per_packet(&self, percent: f64) -> Option<f64> {
        (self.received > 0).then(|| percent / 100.0 * self.wall() / self.received as f64 * 1e6)
    }

    /// Kernel drops during the step: relay sockets, generator sockets, machine-wide errors.
    fn drops(&self) -> [Option<u64>; 3] {
        match (self.drops_before, self.drops_after) {
            (Some(b), Some(a)) => [
                Some(a.relay.saturating_sub(b.relay)),
                Some(a.generator.saturating_sub(b.generator)),
                Some(a.kernel.saturating_sub(b.kernel)),
            ],
            _ => [None; 3],
        }
    }

    /// Loss first; then pauses (packets skipped after them are forgiven up to
    /// [`MAX_PAUSE_SKIPPED`]); then whether the generator kept the rate while it ran.
    fn verdict(&self, loss_limit: f64) -> Verdict {
        let nominal = self.rate * self.secs;
        if self.loss() >= loss_limit {
            Verdict::Loss
        } else if self.skipped_paused as f64 > MAX_PAUSE_SKIPPED * nominal {
            Verdict::Paused
        } else if ((self.sent + self.skipped_paused) as f64) < MIN_ACHIEVED * nominal {
            Verdict::Generator
        } else {
            Verdict::Pass
        }
    }

    fn row(&self, phase: &str, loss_limit: f64) -> String {
        let [relay_drop, gen_drop, kernel_err] = self.drops();
        let verdict = match self.verdict(loss_limit) {
            Verdict::Pass => "ok",
            Verdict::Loss => "LOSS",
            Verdict::Generator => "GEN-LIMIT",
            Verdict::Paused => "PAUSED",
        };
        format!(
            "{phase:<7} {:>8.0} {:>9.0} {:>9} {:>9} {:>7} {:>7.3} {:>7} {:>6} {:>5} {:>7} {:>11} {:>9} {:>8} {:>8} {:>10.0}  {verdict}",
            self.rate,
            self.achieved(),
            self.sent,
            self.received,
            self.sent.saturating_sub(self.received),
            self.loss() * 100.0,
            opt(self.relay_cpu(), 1),
            opt(self.core_busy(), 1),
            opt(self.gen_cpu(), 1),
            opt(self.relay_us_per_packet(), 3),
            show(relay_drop),
            show(gen_drop),
            show(kernel_err),
            self.skipped_slow + self.skipped_paused,
            self.paused.as_secs_f64() * 1e3,
        )
    }
}

// ------------------------------------------------------------------------------------------
// The generator

/// Buffers and headers for one `sendmmsg`/`recvmmsg` call. The headers point into the other
/// vectors' heap storage, which never moves: the vectors are filled once and never resized.
struct Batch {
    bufs: Vec<[u8; RECV_LEN]>,
    addrs: Vec<libc::sockaddr_in>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new() -> Batch {
        // SAFETY (zeroed): sockaddr_in, iovec and mmsghdr are plain C structs for which all
        // zero bytes is a valid value (null pointers, zero lengths).
        let zero_addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut batch = Batch {
            bufs: vec![[0u8; RECV_LEN]; MAX_BATCH],
            addrs: vec![zero_addr; MAX_BATCH],
            iovs: Vec::with_capacity(MAX_BATCH),
            msgs: Vec::with_capacity(MAX_BATCH),
        };
        for buf in batch.bufs.iter_mut() {
            batch.iovs.push(libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: RECV_LEN,
            });
        }
        for (addr, iov) in batch.addrs.iter_mut().zip(batch.iovs.iter_mut()) {
            // SAFETY: see above.
            let mut msg: libc::mmsghdr = unsafe { std::mem::zeroed() };
            msg.msg_hdr.msg_name = (addr as *mut libc::sockaddr_in).cast();
            msg.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
            batch.msgs.push(msg);
        }
        batch
    }
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: all-zero is a valid sockaddr_in; the fields that matter are set below.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
    sa
}

fn sockaddr_port(sa: &libc::sockaddr_in) -> u16 {
    u16::from_be(sa.sin_port)
}

struct Generator {
    /// `[0]` sends every call's A side (and receives what B sent), `[1]` the B side.
    sockets: [UdpSocket; 2],
    calls: Vec<CallPorts>,
    /// Per stream `2 * call + side`: next sequence number.
    seq: Vec<u16>,
    /// Next call each side sends for.
    cursor: [usize; 2],
    tx: Batch,
    rx: Batch,
    tally: Tally,
}

/// What came back, checked against where it must come from.
#[derive(Default)]
struct Tally {
    /// This step's tag, in the first four payload bytes.
    tag: u32,
    /// This step's packets, received where and from whom they should be.
    received: u64,
    /// Packets from a previous step (arrived late).
    stale: u64,
    /// Packets on the wrong side, from the wrong port, or not ours.
    misrouted: u64,
}

impl Tally {
    fn count(&mut self, calls: &[CallPorts], side: usize, packet: &[u8], from_port: u16) {
        if packet.len() != PACKET_LEN {
            self.misrouted += 1;
            return;
        }
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let tag = u32::from_be_bytes([packet[12], packet[13], packet[14], packet[15]]);
        let stream = ssrc.wrapping_sub(SSRC_BASE) as usize;
        let (call, sent_by) = (stream / 2, stream % 2);
        // What side 0 sends arrives on side 1, from the relay's B port, and vice versa.
        let expected_port = match calls.get(call) {
            Some(c) if sent_by == 0 => c.b.port(),
            Some(c) => c.a.port(),
            None if tag != self.tag => {
                self.stale += 1;
                return;
            }
            None => {
                self.misrouted += 1;
                return;
            }
        };
        if tag != self.tag {
            // Before the routing check: a late packet of a replaced call set would look
            // misrouted against the new port map.
            self.stale += 1;
        } else if sent_by == side || from_port != expected_port {
            self.misrouted += 1;
        } else {
            self.received += 1;
        }
    }
}

fn set_buffer(socket: &UdpSocket, option: libc::c_int, fallback: libc::c_int, bytes: i32) {
    for opt in [option, fallback] {
        // SAFETY: the fd is open for the call; the value is a valid c_int of the given size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&bytes as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

impl Generator {
    fn new(a: SocketAddrV4, b: SocketAddrV4, calls: Vec<CallPorts>) -> Result<Generator, String> {
        let bind = |addr: SocketAddrV4| -> Result<UdpSocket, String> {
            let s = UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            // Everything the relay forwards to one side lands in one socket: give it room
            // (the FORCE variants pass net.core.rmem_max when running as root).
            set_buffer(&s, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, 64 << 20);
            set_buffer(&s, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, 16 << 20);
            Ok(s)
        };
        let streams = calls.len() * 2;
        Ok(Generator {
            sockets: [bind(a)?, bind(b)?],
            calls,
            seq: vec![0; streams],
            cursor: [0, 0],
            tx: Batch::new(),
            rx: Batch::new(),
            tally: Tally::default(),
        })
    }

    /// New relay ports (rtpengine's fresh calls); sequence numbers start over.
    fn replace_calls(&mut self, calls: Vec<CallPorts>) {
        self.seq = vec![0; calls.len() * 2];
        self.cursor = [0, 0];
        self.calls = calls;
    }

    /// Sends `owed` packets, alternating sides so both directions get the same rate; stops
    /// early if a socket buffer is full (the generator is the limit then). Returns how many
    /// went out.
    fn send_owed(&mut self, mut owed: u64, sent: &mut [u64; 2]) -> u64 {
        let mut total = 0;
        while owed > 0 {
            let side = usize::from(sent[1] < sent[0]);
            let n = owed.min(MAX_BATCH as u64) as usize;
            let took = self.send(side, n.div_ceil(2).max(1)) as u64;
            if took == 0 {
                break;
            }
            sent[side] += took;
            total += took;
            owed = owed.saturating_sub(took);
        }
        total
    }

    /// Sends `n` (≤ [`MAX_BATCH`]) packets from `side` to the next calls; returns how many the
    /// kernel took.
    fn send(&mut self, side: usize, n: usize) -> usize {
        let k = self.calls.len();
        for j in 0..n {
            let call = (self.cursor[side] + j) % k;
            let stream = 2 * call + side;
            let seq = self.seq[stream];
            let buf = &mut self.tx.bufs[j];
            buf[0] = 0x80;
            buf[1] = 8; // PCMA
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            buf[4..8].copy_from_slice(&u32::from(seq).wrapping_mul(160).to_be_bytes());
            buf[8..12].copy_from_slice(&(SSRC_BASE + stream as u32).to_be_bytes());
            buf[12..16].copy_from_slice(&self.tally.tag.to_be_bytes());
            buf[16..PACKET_LEN].fill(0xd5); // A-law silence
            let to = if side == 0 {
                self.calls[call].a
            } else {
                self.calls[call].b
            };
            self.tx.addrs[j] = sockaddr(to);
            self.tx.iovs[j].iov_len = PACKET_LEN;
        }
        // SAFETY: the first `n` headers point at initialised buffers and addresses owned by
        // `self.tx`, which outlives the call.
        let rc = unsafe {
            libc::sendmmsg(
                self.sockets[side].as_raw_fd(),
                self.tx.msgs.as_mut_ptr(),
                n as u32,
                0,
            )
        };
        let sent = usize::try_from(rc).unwrap_or(0);
        for j in 0..sent {
            let stream = 2 * ((self.cursor[side] + j) % k) + side;
            self.seq[stream] = self.seq[stream].wrapping_add(1);
        }
        self.cursor[side] = (self.cursor[side] + sent) % k;
        sent
    }

    /// Reads everything waiting on both sockets; returns how many datagrams were read.
    fn receive(&mut self) -> u64 {
        let mut total = 0;
        for side in 0..2 {
            loop {
                for msg in self.rx.msgs.iter_mut() {
                    msg.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                }
                // SAFETY: every header points at a RECV_LEN buffer and a sockaddr_in owned by
                // `self.rx`; the kernel writes at most that much.
                let rc = unsafe {
                    libc::recvmmsg(
                        self.sockets[side].as_raw_fd(),
                        self.rx.msgs.as_mut_ptr(),
                        MAX_BATCH as u32,
                        libc::MSG_DONTWAIT,
                        std::ptr::null_mut(),
                    )
                };
                let Ok(n) = usize::try_from(rc) else { break };
                for j in 0..n {
                    let len = (self.rx.msgs[j].msg_len as usize).min(RECV_LEN);
                    let from = sockaddr_port(&self.rx.addrs[j]);
                    self.tally
                        .count(&self.calls, side, &self.rx.bufs[j][..len], from);
                }
                total += n as u64;
                if n < MAX_BATCH {
                    break;
                }
            }
        }
        total
    }

    /// Waits until a socket is readable or `timeout` passes.
    fn wait(&self, timeout: Duration) {
        let mut fds = [0, 1].map(|i| libc::pollfd {
            fd: self.sockets[i].as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `fds` and `ts` are valid for the call; a null sigmask keeps the current one.
        unsafe {
            libc::ppoll(fds.as_mut_ptr(), 2, &ts, std::ptr::null());
        }
    }

    /// Sends at `rate` packets/s (both sides together) for `secs`, then collects stragglers.
    fn step(&mut self, rate: f64, secs: f64, probes: &Probes) -> Step {
        self.tally.tag = self.tally.tag.wrapping_add(1);
        self.tally.received = 0;
        // Small batches at low rates keep the stream smooth; 0.2 ms of traffic per batch.
        let min_batch = ((rate * 0.0002) as u64).clamp(1, MAX_BATCH as u64);
        let catch_up = (rate * CATCH_UP).max(MAX_BATCH as f64) as u64;
        let mut sent = [0u64; 2];
        let mut skipped_slow = 0u64;
        let mut skipped_paused = 0u64;
        let mut paused = Duration::ZERO;
        let drops_before = probes.socket_drops();
        let before = probes.snapshot();
        let start = before.at;
        let mut last_round = start;
        loop {
            let now = Instant::now();
            let gap = now - last_round;
            last_round = now;
            if gap >= PAUSE_GAP {
                paused += gap;
            }
            let skipped = skipped_slow + skipped_paused;
            let elapsed = (now - start).as_secs_f64();
            if elapsed >= secs {
                break;
            }
            let due = ((elapsed * rate) as u64).saturating_sub(skipped);
            let done = sent[0] + sent[1];
            let mut owed = due.saturating_sub(done);
            if owed > catch_up {
                // Skip what is beyond a catch-up burst.
                if gap >= PAUSE_GAP {
                    skipped_paused += owed - catch_up;
                } else {
                    skipped_slow += owed - catch_up;
                }
                owed = catch_up;
            }
            let mut progressed = false;
            if owed >= min_batch {
                progressed = self.send_owed(owed.min(ROUND_SEND), &mut sent) > 0;
            }
            if self.receive() > 0 {
                progressed = true;
            }
            if !progressed {
                let next = (sent[0] + sent[1] + min_batch + skipped) as f64 / rate;
                let wait = (next - start.elapsed().as_secs_f64()).clamp(0.0, 0.001);
                self.wait(Duration::from_secs_f64(wait));
            }
        }
        // Top up to the step's full count: a pause just before the end would otherwise
        // leave the step short.
        let due = ((secs * rate) as u64).saturating_sub(skipped_slow + skipped_paused);
        let owed = due.saturating_sub(sent[0] + sent[1]).min(catch_up);
        self.send_owed(owed, &mut sent);
        let after = probes.snapshot();
        let total_sent = sent[0] + sent[1];
        let drain_until = Instant::now() + DRAIN;
        while self.tally.received < total_sent && Instant::now() < drain_until {
            if self.receive() == 0 {
                self.wait(Duration::from_millis(1));
            }
        }
        Step {
            rate,
            secs,
            sent: total_sent,
            received: self.tally.received,
            skipped_slow,
            skipped_paused,
            paused,
            before,
            after,
            drops_before,
            drops_after: probes.socket_drops(),
            ticks_per_sec: probes.ticks_per_sec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bencode_round_trips_and_sorts_keys() {
        let v = Bencode::dict(&[
            ("sdp", Bencode::text("v=0")),
            ("command", Bencode::text("offer")),
            (
                "flags",
                Bencode::List(vec![Bencode::text("x"), Bencode::Int(-3)]),
            ),
        ]);
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(
            out,
            b"d7:command5:offer5:flagsl1:xi-3ee3:sdp3:v=0e".to_vec()
        );
        let back = Bencode::decode(&out).expect("decodes");
        assert_eq!(
            back.get("command").and_then(Bencode::as_text),
            Some("offer")
        );
        assert_eq!(back.get("sdp").and_then(Bencode::as_text), Some("v=0"));
    }

    #[test]
    fn bencode_rejects_malformed_input() {
        for bad in [
            &b"d3:abc"[..],
            b"5:ab",
            b"i12",
            b"di1ei2ee",
            b"x",
            b"l",
            b"3:abcX",
            b"99999999999999999999999:a",
        ] {
            assert!(Bencode::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sdp_audio_address_prefers_media_level_connection() {
        let sdp = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 30000 RTP/AVP 8\r\n\
                   c=IN IP4 127.0.0.1\r\na=rtcp:30001\r\n";
        assert_eq!(
            sdp_audio_addr(sdp),
            Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 30000))
        );
        let session_only = "v=0\r\nc=IN IP4 127.0.0.2\r\nm=audio 4000 RTP/AVP 8\r\n";
        assert_eq!(
            sdp_audio_addr(session_only),
            Some(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 4000))
        );
        assert_eq!(sdp_audio_addr("v=0\r\nm=audio 4000 RTP/AVP 8\r\n"), None);
    }

    #[test]
    fn json_int_reads_flat_lines() {
        let line = r#"{"call":12,"a":12000,"b":12004}"#;
        assert_eq!(json_int(line, "call"), Some(12));
        assert_eq!(json_int(line, "b"), Some(12004));
        assert_eq!(json_int(line, "ready"), None);
    }
}
