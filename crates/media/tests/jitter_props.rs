//! Property tests of the jitter buffer's invariants, for any arrival order, duplication and loss
//! pattern within a bounded network delay:
//!
//! * frames come out in increasing sequence order, never twice;
//! * no frame is handed out more than `max_delay` after it arrived;
//! * every packet is accounted for exactly once (played, late, duplicate, dropped, or still held);
//! * a packet reported late really was behind the playout cursor;
//! * without mid-spurt adaptation, every packet that arrived before its playout deadline (i.e.
//!   was accepted as `Buffered`) is played;
//! * with a target delay covering the network's delay spread, nothing at all is late.

use std::time::{Duration, Instant};

use media::jitter::{Inserted, JitterBuffer, JitterConfig, JitterPacket, Playout};
use proptest::prelude::*;

const FRAME_MS: u64 = 20;

#[derive(Clone, Debug)]
struct Sent {
    lost: bool,
    /// Network delay above the 10 ms base, µs.
    jitter_us: u64,
    /// A second copy arrives this much after the first.
    duplicate_after_us: Option<u64>,
}

#[derive(Clone, Debug)]
struct Case {
    packets: Vec<Sent>,
    seq_start: u16,
    ts_start: u32,
    pop_phase_us: u64,
    max_jitter_ms: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (0u64..=120).prop_flat_map(|max_jitter_ms| {
        let sent = (
            prop::bool::weighted(0.1),
            0..=max_jitter_ms * 1000,
            prop::option::weighted(0.05, 0u64..150_000),
        )
            .prop_map(|(lost, jitter_us, duplicate_after_us)| Sent {
                lost,
                jitter_us,
                duplicate_after_us,
            });
        (
            prop::collection::vec(sent, 10..150),
            any::<u16>(),
            any::<u32>(),
            0u64..20_000,
        )
            .prop_map(move |(packets, seq_start, ts_start, pop_phase_us)| Case {
                packets,
                seq_start,
                ts_start,
                pop_phase_us,
                max_jitter_ms,
            })
    })
}

/// What a run produced.
struct Run {
    /// (pop time since t0, index) of every frame played.
    frames: Vec<(Duration, u32)>,
    /// Indices whose (first) insert returned `Buffered`.
    buffered: Vec<u32>,
    /// Arrival time since t0 of each index's first copy.
    arrival: Vec<Option<Duration>>,
    stats: media::jitter::JitterStats,
    held_at_end: usize,
}

fn run(case: &Case, config: JitterConfig) -> Result<Run, TestCaseError> {
    let t0 = Instant::now();
    let frame = Duration::from_millis(FRAME_MS);
    let mut events: Vec<(Duration, u32)> = Vec::new();
    let mut arrival = vec![None; case.packets.len()];
    for (i, p) in case.packets.iter().enumerate() {
        if p.lost {
            continue;
        }
        let at = frame * i as u32 + Duration::from_micros(10_000 + p.jitter_us);
        arrival[i] = Some(at);
        events.push((at, i as u32));
        if let Some(extra) = p.duplicate_after_us {
            events.push((at + Duration::from_micros(extra), i as u32));
        }
    }
    events.sort();
    let last = events.last().map_or(Duration::ZERO, |e| e.0);
    let end = last + config.max_delay + frame * 20;

    let max_delay = config.max_delay;
    let mut jb =
        JitterBuffer::<u32>::new(config).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut next = 0;
    let mut frames = Vec::new();
    let mut buffered = Vec::new();
    let mut seen = vec![false; case.packets.len()];
    let mut k = 0u32;
    loop {
        let now_rel = Duration::from_micros(case.pop_phase_us) + frame * k;
        if now_rel > end {
            break;
        }
        let now = t0 + now_rel;
        while let Some(&(at, i)) = events.get(next) {
            if at > now_rel {
                break;
            }
            let seq = case.seq_start.wrapping_add(i as u16);
            let packet = JitterPacket::new(seq, case.ts_start.wrapping_add(i * 160), 7, i, t0 + at);
            let cursor = jb.next_seq();
            let result = jb.insert(packet, t0 + at);
            if result == Inserted::Late {
                let cursor = cursor.ok_or_else(|| TestCaseError::fail("late without a cursor"))?;
                prop_assert!(
                    (cursor.wrapping_sub(seq) as i16) > 0,
                    "packet {i} reported late but cursor {cursor} is not past seq {seq}"
                );
            }
            if !seen[i as usize] {
                seen[i as usize] = true;
                if result == Inserted::Buffered {
                    buffered.push(i);
                }
            } else {
                prop_assert!(result != Inserted::Buffered, "copy of {i} buffered twice");
            }
            next += 1;
        }
        if let Playout::Frame(p) = jb.pop(now) {
            prop_assert!(
                now - p.arrival <= max_delay,
                "{} waited {:?}",
                p.payload,
                now - p.arrival
            );
            frames.push((now_rel, p.payload));
        }
        k += 1;
    }
    Ok(Run {
        frames,
        buffered,
        arrival,
        stats: jb.stats(),
        held_at_end: jb.buffered(),
    })
}

fn check_common(r: &Run) -> Result<(), TestCaseError> {
    for w in r.frames.windows(2) {
        prop_assert!(w[0].1 < w[1].1, "out of order or twice: {:?}", w);
    }
    let s = &r.stats;
    prop_assert_eq!(s.played as usize, r.frames.len());
    prop_assert_eq!(
        s.received,
        s.played
            + s.late
            + s.duplicates
            + s.overflow
            + s.shed
            + s.accelerated
            + s.flushed
            + s.stray
            + r.held_at_end as u64,
        "accounting: {:?}",
        s
    );
    prop_assert!(s.target_delay >= Duration::from_millis(20));
    prop_assert!(s.target_delay <= Duration::from_millis(500));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn adaptive_buffer_keeps_order_and_accounts_for_everything(case in case()) {
        let r = run(&case, JitterConfig::default())?;
        check_common(&r)?;
    }

    #[test]
    fn without_adaptation_every_packet_on_time_is_played(case in case()) {
        let config = JitterConfig { adapt_in_talkspurt: false, ..JitterConfig::default() };
        let r = run(&case, config)?;
        check_common(&r)?;
        let played: Vec<u32> = r.frames.iter().map(|f| f.1).collect();
        let mut buffered = r.buffered.clone();
        buffered.sort_unstable();
        prop_assert_eq!(&played, &buffered);
        prop_assert_eq!((r.stats.shed, r.stats.overflow), (0, 0));
    }

    #[test]
    fn target_covering_the_delay_spread_loses_nothing(case in case()) {
        // Margin = target − frame ≥ the largest jitter (plus a histogram bucket).
        let min_delay = Duration::from_millis(FRAME_MS + case.max_jitter_ms + 2);
        let config = JitterConfig {
            min_delay,
            initial_delay: min_delay,
            max_delay: min_delay * 2 + Duration::from_millis(FRAME_MS),
            adapt_in_talkspurt: false,
            ..JitterConfig::default()
        };
        let r = run(&case, config)?;
        check_common(&r)?;
        prop_assert_eq!(r.stats.late, 0);
        prop_assert_eq!(r.stats.shed, 0);
        let arrived = r.arrival.iter().filter(|a| a.is_some()).count();
        prop_assert_eq!(r.frames.len(), arrived);
    }
}

/// A harsher stream: DTX silences (timestamp jumps with a marker), comfort-noise packets, an
/// SSRC switch, and a small buffer that overflows. Order is checked per source: when the new
/// source's first packet is the first one the buffer ever sees and the old source's stragglers
/// then confirm themselves, the buffer may switch to the old one (it cannot tell them apart).
#[derive(Clone, Debug)]
struct Chaos {
    packets: Vec<(Sent, Option<u32>, bool)>, // (network, silence frames before, comfort noise)
    switch_at: Option<usize>,
    max_packets: usize,
    pop_phase_us: u64,
}

fn chaos() -> impl Strategy<Value = Chaos> {
    let sent = (
        prop::bool::weighted(0.1),
        0u64..=150_000,
        prop::option::weighted(0.05, 0u64..150_000),
    )
        .prop_map(|(lost, jitter_us, duplicate_after_us)| Sent {
            lost,
            jitter_us,
            duplicate_after_us,
        });
    let packet = (
        sent,
        prop::option::weighted(0.05, 1u32..50),
        prop::bool::weighted(0.05),
    );
    (
        prop::collection::vec(packet, 10..200),
        prop::option::of(0usize..200),
        2usize..=64,
        0u64..20_000,
    )
        .prop_map(|(packets, switch_at, max_packets, pop_phase_us)| Chaos {
            packets,
            switch_at,
            max_packets,
            pop_phase_us,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chaos_keeps_order_bounds_and_accounting(case in chaos()) {
        let t0 = Instant::now();
        let frame = Duration::from_millis(FRAME_MS);
        let config = JitterConfig { max_packets: case.max_packets, ..JitterConfig::default() };
        let max_delay = config.max_delay;
        let mut jb = JitterBuffer::<u32>::new(config).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut events: Vec<(Duration, u32)> = Vec::new();
        let mut packets = Vec::new();
        let mut send = Duration::ZERO;
        for (i, (net, silence, cn)) in case.packets.iter().enumerate() {
            let i = i as u32;
            if let Some(frames) = silence {
                send += frame * *frames;
            }
            let second = case.switch_at.is_some_and(|m| i as usize >= m);
            let (ssrc, seq0, ts0) = if second { (9, 40_000u16, 123_456u32) } else { (7, 65_530u16, u32::MAX - 1000) };
            let ticks = (send.as_millis() as u32) * 8;
            let mut p = JitterPacket::new(seq0.wrapping_add(i as u16), ts0.wrapping_add(ticks), ssrc, i, t0);
            p.marker = silence.is_some();
            p.comfort_noise = *cn;
            packets.push(p);
            if !net.lost {
                let at = send + Duration::from_micros(10_000 + net.jitter_us);
                events.push((at, i));
                if let Some(extra) = net.duplicate_after_us {
                    events.push((at + Duration::from_micros(extra), i));
                }
            }
            send += frame;
        }
        events.sort();
        let end = events.last().map_or(Duration::ZERO, |e| e.0) + max_delay + frame * 20;
        let mut next = 0;
        // (ssrc, index) of the last frame, and how often the output switched source.
        let mut last_played: Option<(u32, u32)> = None;
        let mut output_switches = 0;
        let mut k = 0u32;
        loop {
            let now_rel = Duration::from_micros(case.pop_phase_us) + frame * k;
            if now_rel > end {
                break;
            }
            let now = t0 + now_rel;
            while let Some(&(at, i)) = events.get(next) {
                if at > now_rel {
                    break;
                }
                let mut p = packets[i as usize].clone();
                p.arrival = t0 + at;
                jb.insert(p, t0 + at);
                next += 1;
            }
            if let Playout::Frame(p) = jb.pop(now) {
                prop_assert!(now - p.arrival <= max_delay);
                match last_played {
                    Some((ssrc, i)) if ssrc == p.ssrc => {
                        prop_assert!(i < p.payload, "{} then {}", i, p.payload);
                    }
                    Some(_) => output_switches += 1,
                    None => {}
                }
                last_played = Some((p.ssrc, p.payload));
            }
            k += 1;
        }
        let s = jb.stats();
        prop_assert_eq!(
            s.received,
            s.played + s.late + s.duplicates + s.overflow + s.shed + s.accelerated
                + s.flushed + s.stray + jb.buffered() as u64,
            "accounting: {:?}", s
        );
        prop_assert!(jb.buffered() <= case.max_packets);
        // In order within each source; the output changes source only when the buffer did.
        prop_assert!(output_switches <= s.ssrc_changes);
        if case.switch_at.is_none_or(|m| m >= case.packets.len()) {
            prop_assert_eq!(s.ssrc_changes, 0);
        }
    }
}
