//! CPU cost of recording a leg (voicemail), measured as CPU time of the threads doing it
//! (`CLOCK_THREAD_CPUTIME_ID` for this thread, `/proc/self/task/*/schedstat` for the writer
//! thread once it is idle), so the figures stay meaningful on a shared machine.
//!
//! ```text
//! cargo run -p media --example record_speed --release                     # sans-IO + writer
//! cargo run -p media --example record_speed --release -- loopback 200 10  # calls, seconds
//! ```
//!
//! * Sans-IO: one 20 ms frame of recorded speech through a [`Recorder`] (packet in, jitter
//!   buffer, decode, frame out), for a PCMA and an Opus leg; then the same with every frame
//!   pushed into a [`RecordingSink`] of a running [`RecordWriter`], reporting this thread's cost
//!   and the writer thread's cost per frame (WAV to a scratch directory).
//! * Loopback: `calls` voicemail sessions on one [`RelayHandle`] (its task alone on a
//!   current-thread runtime thread), a PCMA phone per call sending every 20 ms, the agent leg
//!   absent; run once without and once with every caller recorded. Reported: the relay
//!   thread's CPU per call per 20 ms in both runs, their difference (what recording adds), and
//!   the writer thread's CPU per call per 20 ms.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use codec::{pre_encode, PromptCodec, SampleRate};
use media::bridge::LegMedia;
use media::ports::PortAllocator;
use media::record::{RecordConfig, RecordWriter, Recorder, TempFile};
use media::relay::io::{OpenSession, RelayHandle, RelayIoConfig};
use media::relay::{Leg, LegConfig, RelayConfig, RelayEvent};
use media::sdp::Codec;
use media::stream::{write_rtp, AudioCodec, RtpFields};

const FRAME: Duration = Duration::from_millis(20);
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WRITER_THREAD: &str = "record-writer";

/// Nanoseconds this thread has run on a CPU (exact, unlike schedstat for a running thread).
fn cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

fn schedstat(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU nanoseconds of this process's threads named `name`.
fn named_thread_ns(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .map(|t| schedstat(&t.path().join("schedstat").to_string_lossy()))
        .sum()
}

fn speech() -> Vec<i16> {
    codec::parse_wav(include_bytes!("../../codec/testdata/speech48k.wav"))
        .map(|w| w.samples)
        .expect("committed speech sample")
}

/// 20 ms RTP packets of the speech sample, numbered from 0.
fn packets(codec: PromptCodec, pt: u8, ticks: u32) -> Vec<Vec<u8>> {
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
                ssrc: 0x5eed,
            };
            write_rtp(&mut p, fields, f).expect("sized");
            p
        })
        .collect()
}

/// The `n`th packet of an endless stream cycling through `recorded`.
fn nth(recorded: &[Vec<u8>], n: u64, ticks: u32) -> Vec<u8> {
    let mut p = recorded[(n % recorded.len() as u64) as usize].clone();
    p[1] &= 0x7f;
    p[2..4].copy_from_slice(&(n as u16).to_be_bytes());
    p[4..8].copy_from_slice(&(n as u32).wrapping_mul(ticks).to_be_bytes());
    p
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("record-speed-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn sans_io() {
    let frames = 15_000u64;
    let streams = [
        (
            AudioCodec::Pcma,
            8u8,
            packets(PromptCodec::Pcma, 8, 160),
            160,
        ),
        (
            AudioCodec::Opus,
            111,
            packets(
                PromptCodec::Opus {
                    bitrate_bps: 32_000,
                    fec: true,
                },
                111,
                960,
            ),
            960,
        ),
    ];
    let dir = scratch_dir("sans-io");
    let writer = RecordWriter::spawn(1 << 16).expect("writer");
    println!("per 20 ms frame, CPU time, best of 3 × {frames} frames:");
    for (codec, pt, recorded, ticks) in &streams {
        let pre: Vec<Vec<u8>> = (0..frames).map(|n| nth(recorded, n, *ticks)).collect();
        let config = RecordConfig::new(*codec, *pt, Duration::from_secs(3600));
        // Recorder alone.
        let alone = (0..3)
            .map(|_| {
                let t0 = Instant::now();
                let mut r = Recorder::new(&config, t0).expect("recorder");
                let start = cpu_ns();
                for (n, p) in pre.iter().enumerate() {
                    let now = t0 + FRAME * n as u32;
                    r.on_packet(p, now);
                    while let Some(pcm) = r.poll(now) {
                        black_box(pcm);
                    }
                }
                (cpu_ns() - start) as f64 / frames as f64
            })
            .fold(f64::MAX, f64::min);
        // Recorder feeding the writer thread: this thread's cost, and the writer's.
        let (mut relay_side, mut writer_side) = (f64::MAX, f64::MAX);
        for run in 0..3 {
            let t0 = Instant::now();
            let mut r = Recorder::new(&config, t0).expect("recorder");
            let temp = TempFile::create(dir.join(format!("{codec:?}-{run}.wav"))).expect("file");
            let (done_tx, done) = mpsc::channel();
            let mut sink = writer.open(
                temp,
                r.sample_rate(),
                Box::new(move |result| {
                    let _ = done_tx.send(result);
                }),
            );
            let writer_before = named_thread_ns(WRITER_THREAD);
            let start = cpu_ns();
            for (n, p) in pre.iter().enumerate() {
                let now = t0 + FRAME * n as u32;
                r.on_packet(p, now);
                while let Some(pcm) = r.poll(now) {
                    sink.push(pcm);
                }
            }
            r.stop(t0 + FRAME * frames as u32);
            while let Some(pcm) = r.poll(t0 + FRAME * frames as u32) {
                sink.push(pcm);
            }
            let dropped = sink.dropped();
            relay_side = relay_side.min((cpu_ns() - start) as f64 / frames as f64);
            sink.finish();
            let saved = done
                .recv_timeout(Duration::from_secs(30))
                .expect("writer reports")
                .expect("saved");
            writer_side = writer_side
                .min((named_thread_ns(WRITER_THREAD) - writer_before) as f64 / frames as f64);
            assert_eq!(dropped, 0, "queue large enough for the benchmark");
            black_box(saved);
        }
        println!(
            "  {codec:?} leg at {} Hz: Recorder alone {:.2} µs; with the sink {:.2} µs on the \
             relay thread + {:.2} µs on the writer thread (WAV, sync and rename included)",
            media::record::record_rate(*codec).hz(),
            alone / 1e3,
            relay_side / 1e3,
            writer_side / 1e3,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `calls` voicemail sessions for `seconds`; returns (relay thread ns, writer thread ns,
/// recordings done).
fn loopback_run(calls: usize, seconds: u64, record: bool) -> (u64, u64, usize) {
    let dir = scratch_dir(if record { "loop-rec" } else { "loop-plain" });
    let ports = PortAllocator::new(LOCAL, 30000..=39999).expect("range");
    let (handle_tx, handle_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (cpu_tx, cpu_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let relay_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let (relay, mut events) = RelayHandle::spawn(RelayIoConfig::default()).expect("spawn");
            tokio::spawn(async move {
                while let Some((_, event)) = events.recv().await {
                    if matches!(event, RelayEvent::RecordingDone { .. }) {
                        let _ = done_tx.send(());
                    }
                }
            });
            handle_tx.send(relay).expect("main waits");
            let start = cpu_ns();
            let _ = stop_rx.await;
            cpu_tx.send(cpu_ns() - start).expect("main waits");
            // Keep the task serving the closes and the writer's reports.
            std::future::pending::<()>().await;
        });
    });
    let relay = handle_rx.recv().expect("relay handle");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut phones = Vec::new();
    let mut ids = Vec::new();
    for i in 0..calls {
        let a = UdpSocket::bind((LOCAL, 0)).expect("bind");
        a.set_nonblocking(true).expect("nonblocking");
        let (pa, pb) = (
            ports.allocate().expect("ports"),
            ports.allocate().expect("ports"),
        );
        let to_a = SocketAddr::new(LOCAL, pa.rtp_port());
        let mut open = OpenSession::new(
            pa,
            pb,
            LegConfig::new(Some(a.local_addr().expect("addr")), false, 8000),
            LegConfig::new(None, false, 8000),
            RelayConfig::default(),
        );
        open.a_media = LegMedia {
            codec: Some(Codec::new(8, "PCMA", 8000, 1)),
            telephone_event: Some(101),
            detect_inband_dtmf: false,
        };
        let id = rt.block_on(relay.open(open)).expect("open");
        if record {
            let path = dir.join(format!("{i}.wav"));
            rt.block_on(relay.record(id, Leg::A, path, Duration::from_secs(3600)))
                .expect("record");
        }
        phones.push((a, to_a));
        ids.push(id);
    }
    let pcma = packets(PromptCodec::Pcma, 8, 160);
    let writer_before = named_thread_ns(WRITER_THREAD);
    let start = Instant::now();
    let mut next = start;
    for n in 0..seconds * 50 {
        next += FRAME;
        let packet = nth(&pcma, n, 160);
        for (a, to) in &phones {
            let _ = a.send_to(&packet, to);
        }
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    stop_tx.send(()).expect("relay thread alive");
    let relay_ns = cpu_rx.recv().expect("cpu");
    let stats = ids
        .first()
        .and_then(|&id| rt.block_on(relay.stats(id)))
        .and_then(|s| s.media)
        .and_then(|m| m.recording[0]);
    if let Some(stats) = stats {
        println!("  call 0 recording: {stats:?}");
    }
    for id in ids {
        rt.block_on(relay.close(id));
    }
    let mut done = 0;
    if record {
        while done < calls && done_rx.recv_timeout(Duration::from_secs(30)).is_ok() {
            done += 1;
        }
    }
    let writer_ns = named_thread_ns(WRITER_THREAD) - writer_before;
    drop(relay_thread);
    let _ = std::fs::remove_dir_all(&dir);
    (relay_ns, writer_ns, done)
}

fn loopback(calls: usize, seconds: u64) {
    let ticks = (calls as u64 * seconds * 50) as f64;
    let (plain, _, _) = loopback_run(calls, seconds, false);
    let (recorded, writer, done) = loopback_run(calls, seconds, true);
    let per = |ns: u64| ns as f64 / ticks / 1e3;
    println!(
        "{calls} voicemail calls for {seconds} s: relay thread {:.2} µs per call per 20 ms \
         without recording, {:.2} µs with ({:+.2} µs for recording); writer thread {:.2} µs per \
         call per 20 ms; {done}/{calls} RecordingDone",
        per(plain),
        per(recorded),
        per(recorded) - per(plain),
        per(writer),
    );
    println!(
        "  → the relay thread's recording work alone would fit {:.0} recorded calls per core",
        20_000.0 / (per(recorded) - per(plain)).max(f64::MIN_POSITIVE)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("loopback") => {
            let calls = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
            let seconds = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
            loopback(calls, seconds);
        }
        _ => sans_io(),
    }
}
