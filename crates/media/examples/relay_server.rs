//! Switchboard's RTP relay as a stand-alone process, for the relay load benchmark
//! (`benches/load/relay/relay.sh`).
//!
//! It opens `--calls` sessions on one [`RelayHandle`] (one tokio task on a current-thread
//! runtime, so the whole relay runs on one core, as the benchmark pins it), with port pairs from
//! `--ports`, and points every session's legs at the load generator: leg A's SDP address is
//! `--remote-a`, leg B's is `--remote-b` (the generator sends all calls' A sides from one socket
//! and all B sides from another; the relay still has two port pairs per call and judges every
//! packet per session, so its per-packet work is what a real call costs).
//!
//! Output on stdout, one JSON object per line: `{"call":i,"a":A,"b":B}` for every session (A
//! and B are the relay's RTP ports that the generator's A and B sides send to), then
//! `{"ready":N,"pid":P}`. On SIGTERM/SIGINT, or after `--max-seconds`, it prints the summed
//! counters of every session (`{"done":...}`) and exits: the benchmark reads them to check
//! that the relay itself dropped nothing.
//!
//! ```text
//! relay_server --calls 1000 --ports 12000-31999 \
//!     --remote-a 127.0.0.1:40000 --remote-b 127.0.0.1:40002 [--ip 127.0.0.1] [--max-seconds 900]
//! ```

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use media::ports::PortAllocator;
use media::relay::io::{OpenSession, RelayHandle, RelayIoConfig, SessionId};
use media::relay::{LegConfig, RelayConfig};

/// Set by the signal handler; polled by the main loop.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
}

struct Args {
    calls: usize,
    ip: IpAddr,
    ports: (u16, u16),
    remote_a: SocketAddr,
    remote_b: SocketAddr,
    max_seconds: u64,
}

const USAGE: &str = "usage: relay_server --calls N --ports LO-HI --remote-a IP:PORT \
                     --remote-b IP:PORT [--ip IP] [--max-seconds S]";

fn parse_args() -> Result<Args, String> {
    let mut calls = None;
    let mut ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut ports = None;
    let mut remote_a = None;
    let mut remote_b = None;
    let mut max_seconds = 900;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--calls" => calls = Some(parse(&value()?, "--calls")?),
            "--ip" => ip = parse(&value()?, "--ip")?,
            "--ports" => {
                let v = value()?;
                let (lo, hi) = v
                    .split_once('-')
                    .ok_or_else(|| format!("--ports wants LO-HI, not {v}"))?;
                ports = Some((parse(lo, "--ports")?, parse(hi, "--ports")?));
            }
            "--remote-a" => remote_a = Some(parse(&value()?, "--remote-a")?),
            "--remote-b" => remote_b = Some(parse(&value()?, "--remote-b")?),
            "--max-seconds" => max_seconds = parse(&value()?, "--max-seconds")?,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let missing = |name: &str| format!("{name} is required\n{USAGE}");
    Ok(Args {
        calls: calls.ok_or_else(|| missing("--calls"))?,
        ip,
        ports: ports.ok_or_else(|| missing("--ports"))?,
        remote_a: remote_a.ok_or_else(|| missing("--remote-a"))?,
        remote_b: remote_b.ok_or_else(|| missing("--remote-b"))?,
        max_seconds,
    })
}

fn parse<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: cannot parse {text:?}"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe; the handler
    // pointer stays valid for the life of the process.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay_server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let started = Instant::now();
    let ports = PortAllocator::new(args.ip, args.ports.0..=args.ports.1)
        .map_err(|e| format!("port range: {e}"))?;
    let (relay, mut events) =
        RelayHandle::spawn(RelayIoConfig::default()).map_err(|e| format!("relay: {e}"))?;
    // Latching events are informational here; drain them so the channel never backs up.
    let event_count = tokio::spawn(async move {
        let mut n = 0u64;
        while events.recv().await.is_some() {
            n += 1;
        }
        n
    });

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut ids: Vec<SessionId> = Vec::with_capacity(args.calls);
    // A long media timeout: the benchmark sets calls up, then may wait before traffic starts.
    let config = RelayConfig {
        latch_any_first: true,
        media_timeout: Duration::from_secs(3600),
    };
    for call in 0..args.calls {
        let a = ports
            .allocate()
            .map_err(|e| format!("call {call}, leg A: {e}"))?;
        let b = ports
            .allocate()
            .map_err(|e| format!("call {call}, leg B: {e}"))?;
        let (a_port, b_port) = (a.rtp_port(), b.rtp_port());
        let id = relay
            .open(OpenSession::new(
                a,
                b,
                LegConfig::new(Some(args.remote_a), false, 8000),
                LegConfig::new(Some(args.remote_b), false, 8000),
                config,
            ))
            .await
            .map_err(|e| format!("open call {call}: {e}"))?;
        ids.push(id);
        writeln!(out, "{{\"call\":{call},\"a\":{a_port},\"b\":{b_port}}}")
            .map_err(|e| e.to_string())?;
    }
    writeln!(
        out,
        "{{\"ready\":{},\"pid\":{},\"setup_ms\":{}}}",
        ids.len(),
        std::process::id(),
        started.elapsed().as_millis()
    )
    .map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;

    let deadline = started + Duration::from_secs(args.max_seconds);
    while !STOP.load(Ordering::Relaxed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut total = Totals::default();
    for id in &ids {
        if let Some(stats) = relay.close(*id).await {
            total.add(&stats);
        }
    }
    drop(relay);
    let events = event_count.await.unwrap_or(0);
    writeln!(
        out,
        "{{\"done\":{},\"a_packets\":{},\"b_packets\":{},\"strangers\":{},\"invalid\":{},\
         \"no_destination\":{},\"send_dropped\":{},\"send_errors\":{},\"events\":{}}}",
        ids.len(),
        total.a_packets,
        total.b_packets,
        total.strangers,
        total.invalid,
        total.no_destination,
        total.send_dropped,
        total.send_errors,
        events
    )
    .map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())
}

/// Counters summed over every session.
#[derive(Default)]
struct Totals {
    a_packets: u64,
    b_packets: u64,
    strangers: u64,
    invalid: u64,
    no_destination: u64,
    send_dropped: u64,
    send_errors: u64,
}

impl Totals {
    fn add(&mut self, s: &media::relay::io::SessionStats) {
        self.a_packets += s.a.packets;
        self.b_packets += s.b.packets;
        for leg in [&s.a, &s.b] {
            self.strangers += leg.strangers;
            self.invalid += leg.invalid;
            self.no_destination += leg.no_destination;
        }
        self.send_dropped += s.send_dropped;
        self.send_errors += s.send_errors;
    }
}
