//! CPU cost of the relay's media work, measured as CPU time of the thread doing it (from
//! `/proc/thread-self/schedstat`), so the figures stay meaningful on a shared machine where
//! wall-clock benches (`benches/relay.rs`, group `media`) are inflated by waiting for a core.
//!
//! ```text
//! cargo run -p media --example media_speed --release              # sans-IO costs
//! cargo run -p media --example media_speed --release -- loopback transcode 100 10
//! cargo run -p media --example media_speed --release -- loopback ivr 300 10
//! ```
//!
//! * Sans-IO: one 20 ms frame through each direction of a transcoded call ([`Transcode`], 8 and
//!   48 kHz Opus), a whole transcoded call through [`MediaBridge`] (a PCMA packet in from A, an
//!   Opus packet in from B, both transcoded packets out), one prompt packet ([`Player`]), and a
//!   packet forwarded through a bridge. Recorded speech, 20 ms of virtual time per frame.
//! * Loopback: `calls` sessions on one [`RelayHandle`] (its task alone on a current-thread
//!   runtime thread), phones on another thread sending every 20 ms for `seconds`. `transcode`:
//!   phone A sends PCMA, phone B Opus. `ivr`: a looped prompt plays into A while A sends PCMA
//!   with in-band DTMF detection on and B has no address (the IVR phase). Reported: the relay
//!   thread's CPU per call and per core (sockets, epoll, ticks included), and packet counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codec::{pre_encode, PromptCodec, SampleRate};
use media::bridge::{LegMedia, MediaBridge};
use media::player::{Player, PlayerConfig, Prompt};
use media::ports::PortAllocator;
use media::relay::io::{OpenSession, RelayHandle, RelayIoConfig};
use media::relay::{Leg, LegConfig, RelayConfig};
use media::sdp::Codec;
use media::stream::{write_rtp, AudioCodec, RtpFields};
use media::transcode::{Transcode, TranscodeConfig};

const FRAME: Duration = Duration::from_millis(20);
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Counts live heap bytes, to report what a bridge costs in memory.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes `make` leaves allocated in what it returns.
fn heap_of<T>(make: impl FnOnce() -> T) -> (usize, T) {
    let before = LIVE.load(Ordering::Relaxed);
    let value = make();
    (LIVE.load(Ordering::Relaxed) - before, value)
}

/// Nanoseconds this thread has run on a CPU (Linux).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn speech() -> Vec<i16> {
    codec::parse_wav(include_bytes!("../../codec/testdata/speech48k.wav"))
        .map(|w| w.samples)
        .expect("committed speech sample")
}

/// 20 ms RTP packets of the speech sample, numbered from 0.
fn packets(codec: PromptCodec, pt: u8, ticks: u32, ssrc: u32) -> Vec<Vec<u8>> {
    let frames = pre_encode(&speech(), SampleRate::Hz48000, codec).expect("encode");
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut p = vec![0u8; 12 + f.len()];
            let fields = RtpFields {
                marker: i == 0,
                payload_type: pt,
                seq: i as u16,
                timestamp: i as u32 * ticks,
                ssrc,
            };
            write_rtp(&mut p, fields, f).expect("sized");
            p
        })
        .collect()
}

fn pcma_packets(ssrc: u32) -> Vec<Vec<u8>> {
    packets(PromptCodec::Pcma, 8, 160, ssrc)
}

fn opus_packets(ssrc: u32) -> Vec<Vec<u8>> {
    let codec = PromptCodec::Opus {
        bitrate_bps: 32_000,
        fec: true,
    };
    packets(codec, 111, 960, ssrc)
}

/// The `n`th packet of an endless stream cycling through `recorded`.
fn nth(recorded: &[Vec<u8>], n: u64, ticks: u32) -> Vec<u8> {
    let mut p = recorded[(n % recorded.len() as u64) as usize].clone();
    p[1] &= 0x7f;
    p[2..4].copy_from_slice(&(n as u16).to_be_bytes());
    p[4..8].copy_from_slice(&(n as u32).wrapping_mul(ticks).to_be_bytes());
    p
}

/// CPU ns per iteration of `f` over `iters` iterations (best of 3 runs).
fn measure(iters: u64, mut f: impl FnMut(u64)) -> f64 {
    (0..3)
        .map(|run| {
            let start = cpu_ns();
            for i in 0..iters {
                f(run * iters + i);
            }
            (cpu_ns() - start) as f64 / iters as f64
        })
        .fold(f64::MAX, f64::min)
}

fn sans_io() {
    let t0 = Instant::now();
    let frames = 3000u64;
    let pcma = pcma_packets(1);
    let opus = opus_packets(2);
    let mut out = vec![0u8; 1500];
    let mut direction = |from, to, rate, complexity, recorded: &[Vec<u8>], ticks| {
        let mut cfg = TranscodeConfig::new(from, to, 96, 9);
        cfg.opus_rate = rate;
        cfg.opus_complexity = complexity;
        let mut t = Transcode::new(&cfg, t0).expect("transcode");
        let pre: Vec<Vec<u8>> = (0..frames * 3).map(|n| nth(recorded, n, ticks)).collect();
        let ns = measure(frames, |n| {
            let now = t0 + FRAME * n as u32;
            t.on_packet(&pre[n as usize], now);
            black_box(t.poll(now, &mut out));
        });
        (ns, t.stats().sent)
    };
    println!("per 20 ms frame, CPU time of this thread, best of 3 × {frames} frames:");
    let settings = [
        (SampleRate::Hz8000, None),
        (SampleRate::Hz48000, None),
        (SampleRate::Hz8000, Some(5)),
        (SampleRate::Hz48000, Some(5)),
    ];
    for (rate, complexity) in settings {
        let (up, sent_up) = direction(
            AudioCodec::Pcma,
            AudioCodec::Opus,
            rate,
            complexity,
            &pcma,
            160,
        );
        let (down, sent_down) = direction(
            AudioCodec::Opus,
            AudioCodec::Pcma,
            rate,
            complexity,
            &opus,
            960,
        );
        println!(
            "  Opus at {} Hz, complexity {}: PCMA→Opus {:.1} µs ({sent_up} sent), Opus→PCMA {:.1} µs \
             ({sent_down} sent) → {:.0} transcoded calls per core (both directions per call)",
            rate.hz(),
            complexity.map_or("default (9)".to_string(), |c| c.to_string()),
            up / 1e3,
            down / 1e3,
            20e6 / (up + down)
        );
    }

    // Reference: the codec crate's own transcoder on the same frames (no RTP, no buffer).
    let mut reference =
        codec::Transcoder::new(&codec::TranscoderConfig::narrowband(codec::G711Law::Alaw))
            .expect("transcoder");
    let payload = |p: &[u8]| p[12..].to_vec();
    let (pa, po): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (
        pcma.iter().map(|p| payload(p)).collect(),
        opus.iter().map(|p| payload(p)).collect(),
    );
    let ns = measure(frames, |n| {
        let i = (n % pa.len() as u64) as usize;
        black_box(reference.g711_to_opus(&pa[i], &mut out).ok());
        black_box(reference.opus_to_g711(&po[i % po.len()], &mut out).ok());
    });
    println!(
        "  reference, codec::Transcoder alone (8 kHz, both directions): {:.1} µs",
        ns / 1e3
    );

    // A whole call through the bridge: both packets in, both transcoded packets out.
    let media = |codec: Codec| LegMedia {
        codec: Some(codec),
        telephone_event: Some(101),
        detect_inband_dtmf: false,
    };
    let mut bridge = MediaBridge::new(
        media(Codec::new(8, "PCMA", 8000, 1)),
        media(Codec::new(111, "opus", 48_000, 2)),
        [8000, 48_000],
        1,
        t0,
    )
    .expect("bridge");
    let pre: Vec<(Vec<u8>, Vec<u8>)> = (0..frames * 3)
        .map(|n| (nth(&pcma, n, 160), nth(&opus, n, 960)))
        .collect();
    let mut sent = 0u64;
    let ns = measure(frames, |n| {
        let now = t0 + FRAME * n as u32;
        let (mut a, mut b) = pre[n as usize].clone();
        black_box(bridge.on_rtp(Leg::A, &mut a, true, now));
        black_box(bridge.on_rtp(Leg::B, &mut b, true, now));
        while bridge.poll_transmit(now, &mut out).is_some() {
            sent += 1;
        }
    });
    println!(
        "  whole call through MediaBridge (8 kHz Opus): {:.1} µs per 20 ms → {:.0} calls per core \
         ({sent} packets out)",
        ns / 1e3,
        20e6 / ns
    );

    // Prompt packets.
    let prompt = Arc::new(Prompt::from_samples(&speech(), SampleRate::Hz48000).expect("prompt"));
    for codec in [AudioCodec::Pcma, AudioCodec::Opus] {
        let cfg = PlayerConfig {
            looped: true,
            ..PlayerConfig::new(codec, 7)
        };
        let mut player = Player::new(prompt.clone(), cfg, t0);
        let ns = measure(1_000_000, |n| {
            black_box(player.poll(t0 + FRAME * n as u32, &mut out));
        });
        println!("  prompt packet ({codec:?}): {ns:.0} ns");
    }
    println!(
        "  prompt memory: {} KiB for 2 s in PCMA + PCMU + Opus",
        prompt.memory() / 1024
    );

    // Forwarding through a bridge (payload type renumbered, spliced stream).
    let opus_leg = |pt| LegMedia {
        codec: Some(Codec::new(pt, "opus", 48_000, 2)),
        telephone_event: Some(101),
        detect_inband_dtmf: false,
    };
    let mut bridge =
        MediaBridge::new(opus_leg(111), opus_leg(96), [48_000; 2], 1, t0).expect("bridge");
    let mut p = nth(&opus, 0, 960);
    let ns = measure(1_000_000, |n| {
        p[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        p[1] = 111;
        black_box(bridge.on_rtp(Leg::A, &mut p, true, t0 + FRAME * n as u32));
    });
    println!("  packet forwarded through a bridge: {ns:.0} ns");

    let (plain, _b) = heap_of(|| {
        MediaBridge::new(opus_leg(111), opus_leg(96), [48_000; 2], 1, t0).expect("bridge")
    });
    let (transcoded, _t) = heap_of(|| {
        MediaBridge::new(
            media(Codec::new(8, "PCMA", 8000, 1)),
            media(Codec::new(111, "opus", 48_000, 2)),
            [8000, 48_000],
            1,
            t0,
        )
        .expect("bridge")
    });
    println!(
        "  memory of a bridge: {} B forwarding (+ {} B struct), {} KiB transcoding both ways",
        plain,
        std::mem::size_of::<MediaBridge>(),
        transcoded / 1024
    );
}

fn loopback(kind: &str, calls: usize, seconds: u64) {
    let transcode = match kind {
        "transcode" => true,
        "ivr" => false,
        other => panic!("unknown kind {other:?}: transcode or ivr"),
    };
    let ports = PortAllocator::new(LOCAL, 30000..=39999).expect("range");
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (cpu_tx, cpu_rx) = std::sync::mpsc::channel();
    let relay_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let (relay, mut events) = RelayHandle::spawn(RelayIoConfig::default()).expect("spawn");
            tokio::spawn(async move { while events.recv().await.is_some() {} });
            handle_tx.send(relay).expect("main waits");
            let start = cpu_ns();
            let _ = stop_rx.await;
            cpu_tx.send(cpu_ns() - start).expect("main waits");
        });
    });
    let relay = handle_rx.recv().expect("relay handle");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let prompt = Arc::new(Prompt::from_samples(&speech(), SampleRate::Hz48000).expect("prompt"));
    let mut phones = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..calls {
        let a = UdpSocket::bind((LOCAL, 0)).expect("bind");
        let b = UdpSocket::bind((LOCAL, 0)).expect("bind");
        a.set_nonblocking(true).expect("nonblocking");
        b.set_nonblocking(true).expect("nonblocking");
        let (pa, pb) = (
            ports.allocate().expect("ports"),
            ports.allocate().expect("ports"),
        );
        let to_a = SocketAddr::new(LOCAL, pa.rtp_port());
        let to_b = SocketAddr::new(LOCAL, pb.rtp_port());
        let b_addr = transcode.then(|| b.local_addr().expect("addr"));
        let mut open = OpenSession::new(
            pa,
            pb,
            LegConfig::new(Some(a.local_addr().expect("addr")), false, 8000),
            LegConfig::new(b_addr, false, 48_000),
            RelayConfig::default(),
        );
        open.a_media = LegMedia {
            codec: Some(Codec::new(8, "PCMA", 8000, 1)),
            telephone_event: Some(101),
            detect_inband_dtmf: !transcode,
        };
        if transcode {
            open.b_media = LegMedia {
                codec: Some(Codec::new(111, "opus", 48_000, 2)),
                telephone_event: Some(101),
                detect_inband_dtmf: false,
            };
        }
        let id = rt.block_on(relay.open(open)).expect("open");
        if !transcode {
            rt.block_on(relay.play(id, Leg::A, prompt.clone(), true))
                .expect("play");
        }
        phones.push((a, b, to_a, to_b));
        ids.push(id);
    }
    let pcma = pcma_packets(0xa);
    let opus = opus_packets(0xb);
    let (mut sent, mut got_a, mut got_b) = (0u64, 0u64, 0u64);
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    let mut next = start;
    let ticks = seconds * 50;
    for n in 0..ticks {
        next += FRAME;
        let a_packet = nth(&pcma, n, 160);
        let b_packet = nth(&opus, n, 960);
        for (a, b, to_a, to_b) in &phones {
            sent += u64::from(a.send_to(&a_packet, to_a).is_ok());
            if transcode {
                sent += u64::from(b.send_to(&b_packet, to_b).is_ok());
            }
        }
        // Receive until the next tick.
        loop {
            let mut idle = true;
            for (a, b, _, _) in &phones {
                while a.recv_from(&mut buf).is_ok() {
                    got_a += 1;
                    idle = false;
                }
                while b.recv_from(&mut buf).is_ok() {
                    got_b += 1;
                    idle = false;
                }
            }
            if Instant::now() >= next {
                break;
            }
            if idle {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
    }
    let wall = start.elapsed();
    stop_tx.send(()).expect("relay thread alive");
    // Counters of the first call, to see where packets went.
    if let Some(stats) = ids.first().and_then(|&id| rt.block_on(relay.stats(id))) {
        if let Some(m) = stats.media {
            for (dir, t) in ["A→B", "B→A"].iter().zip(m.transcode) {
                if let Some(t) = t {
                    println!("  call 0 {dir}: {t:?}");
                }
            }
            println!("  call 0 out: {:?}, replaced {}", m.out, m.replaced);
        }
        println!(
            "  call 0 send dropped {} errors {}, A in {} B in {}",
            stats.send_dropped, stats.send_errors, stats.a.packets, stats.b.packets
        );
    }
    let cpu = Duration::from_nanos(cpu_rx.recv().expect("cpu"));
    relay_thread.join().expect("relay thread");
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    println!(
        "{kind}: {calls} calls for {wall:.1?}: relay thread CPU {cpu:.2?} = {:.1} % of a core \
         → {:.0} µs per call per 20 ms → {:.0} calls per core",
        share * 100.0,
        cpu.as_secs_f64() * 1e6 / (calls as f64 * ticks as f64),
        calls as f64 / share
    );
    println!(
        "  phones sent {sent}, A received {got_a} ({:.1} per call per s), B received {got_b}",
        got_a as f64 / calls as f64 / wall.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("loopback") => {
            let kind = args.get(1).map_or("transcode", String::as_str);
            let calls = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
            let seconds = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
            loopback(kind, calls, seconds);
        }
        _ => sans_io(),
    }
}
