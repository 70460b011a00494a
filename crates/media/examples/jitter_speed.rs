//! Rough cost of one `insert` + one `pop` (one 20 ms frame of one stream), steady and jittery.
//! The criterion bench in `benches/` is the reference; this is a quick check without it.
//!
//! On Linux the CPU time of the thread is read from `/proc/thread-self/schedstat` as well as the
//! wall clock, so the figure stays meaningful on a busy machine.
//!
//! ```text
//! cargo run -p media --example jitter_speed --release
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::jitter::{JitterBuffer, JitterConfig, JitterPacket};

const FRAMES: u32 = 5_000_000;
const FRAME: Duration = Duration::from_millis(20);

/// Network delay of packet `i` (µs) and whether it is lost, for a scenario.
fn network(i: u32, jittery: bool) -> (u64, bool) {
    if !jittery {
        return (30_000, false);
    }
    // Deterministic mix: 1 % loss, every 7th packet 45 ms late (reordered), small wobble.
    let h = i.wrapping_mul(2_654_435_761);
    let lost = h % 100 < 1;
    let late = if i % 7 == 3 { 45_000 } else { 0 };
    (30_000 + u64::from(h % 8_000) + late, lost)
}

/// Nanoseconds this thread has run on a CPU (Linux), if available.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// (wall, CPU) time of a run.
fn run(jittery: bool, with_buffer: bool) -> (Duration, Option<Duration>) {
    let mut jb = JitterBuffer::<Bytes>::new(JitterConfig::default()).expect("config");
    let payload = Bytes::from_static(&[0xD5; 160]);
    let t0 = Instant::now();
    // Packets arriving out of order are held back one step so inserts stay in arrival order.
    let mut pending: Option<(Instant, JitterPacket<Bytes>)> = None;
    let mut now = t0;
    let cpu_started = cpu_ns();
    let started = Instant::now();
    for i in 0..FRAMES {
        let (delay, lost) = network(i, jittery);
        let sent = t0 + FRAME * (i % 1_000_000) + FRAME * 1_000_000 * (i / 1_000_000);
        now += FRAME;
        if !lost {
            let arrival = sent + Duration::from_micros(delay);
            let p = JitterPacket::new(i as u16, i.wrapping_mul(160), 1, payload.clone(), arrival);
            if with_buffer {
                if let Some((at, q)) = pending.take() {
                    black_box(jb.insert(q, at));
                }
                pending = Some((arrival, p));
            } else {
                black_box(&p);
            }
        }
        if with_buffer {
            black_box(jb.pop(now));
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu_ns()
        .zip(cpu_started)
        .map(|(b, a)| Duration::from_nanos(b.saturating_sub(a)));
    if with_buffer {
        let s = jb.stats();
        eprintln!(
            "  played {} concealed {} late {} accelerated {} target {:?}",
            s.played, s.concealed, s.late, s.accelerated, s.target_delay
        );
    }
    (elapsed, cpu)
}

fn main() {
    for (name, jittery) in [("steady", false), ("jittery", true)] {
        let harness = run(jittery, false);
        let total = run(jittery, true);
        let per = |d: Duration| d.as_nanos() as f64 / f64::from(FRAMES);
        println!(
            "{name:8} wall: {:6.1} ns/frame (harness alone {:5.1}, net {:6.1})",
            per(total.0),
            per(harness.0),
            per(total.0) - per(harness.0)
        );
        if let (Some(t), Some(h)) = (total.1, harness.1) {
            println!(
                "{name:8} cpu:  {:6.1} ns/frame (harness alone {:5.1}, net {:6.1})",
                per(t),
                per(h),
                per(t) - per(h)
            );
        }
    }
}
