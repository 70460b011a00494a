//! Cost of DTMF handling per call: in-band detection per 20 ms frame of 8 kHz audio (the
//! price of `detect_inband_dtmf` on a G.711 leg), and the RFC 4733 receiver and sender per
//! packet.
//!
//! The audio is a mix of keys, pauses and noise, fed in 160-sample frames as a leg would. On
//! Linux the thread's CPU time is read from `/proc/thread-self/schedstat` as well as the wall
//! clock, so the figure stays meaningful on a busy machine.
//!
//! ```text
//! cargo run -p media --example dtmf_speed --release
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use media::dtmf::goertzel::{InbandDetector, DBM0_PEAK, SAMPLE_RATE};
use media::dtmf::rfc4733::{EventReceiver, EventSender, SendParams};

const FRAME: usize = 160;
const FRAMES: usize = 2_000_000;

/// Nanoseconds this thread has run on a CPU (Linux), if available.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Ten seconds of audio: keys of 80 ms every 200 ms at −15 dBm0 over low noise.
fn audio() -> Vec<i16> {
    let keys = [
        (697.0, 1209.0),
        (770.0, 1336.0),
        (852.0, 1477.0),
        (941.0, 1633.0),
    ];
    let amp = f64::from(DBM0_PEAK) * 10f64.powf(-15.0 / 20.0);
    let mut noise: u32 = 1;
    (0..10 * SAMPLE_RATE as usize)
        .map(|n| {
            noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let hiss = f64::from((noise >> 16) as u16 as i16) / 200.0;
            let (lo, hi) = keys[(n / 1600) % keys.len()];
            let on = n % 1600 < 640;
            let t = n as f64 / f64::from(SAMPLE_RATE);
            let tone = if on {
                amp * ((2.0 * std::f64::consts::PI * lo * t).sin()
                    + (2.0 * std::f64::consts::PI * hi * t).sin())
            } else {
                0.0
            };
            (tone + hiss) as i16
        })
        .collect()
}

/// (wall, CPU) time per iteration of `f`, run `n` times.
fn measure(n: usize, mut f: impl FnMut(usize)) -> (f64, Option<f64>) {
    let cpu_started = cpu_ns();
    let started = Instant::now();
    for i in 0..n {
        f(i);
    }
    let wall = started.elapsed();
    let cpu = cpu_ns()
        .zip(cpu_started)
        .map(|(b, a)| Duration::from_nanos(b.saturating_sub(a)));
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    (per(wall), cpu.map(per))
}

fn report(name: &str, (wall, cpu): (f64, Option<f64>)) {
    match cpu {
        Some(cpu) => println!("{name:28} wall {wall:7.1} ns   cpu {cpu:7.1} ns"),
        None => println!("{name:28} wall {wall:7.1} ns"),
    }
}

fn main() {
    let pcm = audio();
    let frames: Vec<&[i16]> = pcm.chunks_exact(FRAME).collect();
    let mut detector = InbandDetector::new();
    let mut found = 0u64;
    let inband = measure(FRAMES, |i| {
        detector.process(black_box(frames[i % frames.len()]));
        while detector.poll().is_some() {
            found += 1;
        }
    });
    report("in-band, per 20 ms frame", inband);
    println!(
        "  {} keys found in {} s of audio; one core handles {:.0} such legs in real time",
        found,
        FRAMES / 50,
        20e6 / inband.1.unwrap_or(inband.0)
    );

    // One 100 ms key as a phone sends it (7 packets), replayed with moving timestamps.
    let mut sender = EventSender::new('5', 0, SendParams::default()).expect("valid");
    let packets: Vec<_> = std::iter::from_fn(|| sender.next_packet()).collect();
    let mut receiver = EventReceiver::new();
    let mut events = 0u64;
    let rx = measure(FRAMES, |i| {
        let p = &packets[i % packets.len()];
        let ts = p.timestamp.wrapping_add((i / packets.len()) as u32 * 1600);
        events += receiver
            .handle_packet(ts, p.marker, black_box(&p.payload), 8000)
            .count() as u64;
    });
    report("RFC 4733 receive, per packet", rx);
    let tx = measure(FRAMES / 10, |i| {
        let mut s = EventSender::new('#', i as u32, SendParams::default()).expect("valid");
        while let Some(p) = s.next_packet() {
            black_box(p);
        }
    });
    report("RFC 4733 send, per key (7 pkts)", tx);
    black_box(events);
}
