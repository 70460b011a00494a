//! Behaviour tests, driven with a virtual clock: arrivals are computed, pops happen every 20 ms.

use super::*;

const SSRC: u32 = 0x5EED;
const FRAME: Duration = Duration::from_millis(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Compact view of an output, payload = packet index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    F(u32),
    C(Option<u32>),
    Cn,
    S,
    E,
}

fn out(p: Playout<u32>) -> Out {
    match p {
        Playout::Frame(p) => Out::F(p.payload),
        Playout::Conceal { fec_from } => Out::C(fec_from.map(|p| p.payload)),
        Playout::ComfortNoise => Out::Cn,
        Playout::Silence => Out::S,
        Playout::Empty => Out::E,
    }
}

/// Packet `i` of a 20 ms stream: seq i, ts 160·i, sent at i·20 ms, arriving `delay` later.
fn pkt(t0: Instant, i: u32, delay: Duration) -> JitterPacket<u32> {
    JitterPacket::new(i as u16, i * 160, SSRC, i, t0 + FRAME * i + delay)
}

/// Default settings without mid-spurt adaptation: every frame that can be played is played.
fn steady() -> JitterConfig {
    JitterConfig {
        adapt_in_talkspurt: false,
        ..JitterConfig::default()
    }
}

/// A fixed-delay buffer: target pinned to `delay`, no mid-spurt adaptation.
fn fixed(delay: Duration) -> JitterBuffer<u32> {
    let cfg = JitterConfig {
        min_delay: delay,
        max_delay: delay.max(ms(200)),
        initial_delay: delay,
        adapt_in_talkspurt: false,
        ..JitterConfig::default()
    };
    JitterBuffer::new(cfg).expect("valid config")
}

/// Inserts packets in arrival order and pops every 20 ms from `t0 + phase`, `pops` times.
/// Returns (pop time since t0, output).
fn drive(
    jb: &mut JitterBuffer<u32>,
    t0: Instant,
    mut packets: Vec<JitterPacket<u32>>,
    phase: Duration,
    pops: u32,
) -> Vec<(Duration, Out)> {
    packets.sort_by_key(|p| p.arrival);
    let mut it = packets.into_iter().peekable();
    let mut outs = Vec::new();
    for k in 0..pops {
        let now = t0 + phase + FRAME * k;
        while let Some(p) = it.next_if(|p| p.arrival <= now) {
            let at = p.arrival;
            jb.insert(p, at);
        }
        outs.push((now - t0, out(jb.pop(now))));
    }
    outs
}

fn frames(outs: &[(Duration, Out)]) -> Vec<u32> {
    outs.iter()
        .filter_map(|(_, o)| match o {
            Out::F(i) => Some(*i),
            _ => None,
        })
        .collect()
}

/// Concealment outputs before frame `last` was played (the stream's own end is not counted).
fn concealed_before(outs: &[(Duration, Out)], last: u32) -> usize {
    outs.iter()
        .take_while(|(_, o)| *o != Out::F(last))
        .filter(|(_, o)| matches!(o, Out::C(_)))
        .count()
}

fn count(outs: &[(Duration, Out)], want: Out) -> usize {
    outs.iter().filter(|(_, o)| *o == want).count()
}

#[test]
fn pop_before_any_packet_is_empty() {
    let mut jb = JitterBuffer::<u32>::new(JitterConfig::default()).expect("config");
    let t0 = Instant::now();
    assert_eq!(out(jb.pop(t0)), Out::E);
    assert_eq!(jb.stats().empty, 1);
    assert_eq!(jb.next_seq(), None);
}

#[test]
fn in_order_stream_buffers_then_plays_every_frame_once() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(steady()).expect("config");
    let packets = (0..50).map(|i| pkt(t0, i, ms(30))).collect();
    let outs = drive(&mut jb, t0, packets, ms(5), 70);
    assert_eq!(frames(&outs), (0..50).collect::<Vec<_>>());
    // Buffering first (initial_delay 60 ms = 40 ms margin + a frame), then no gap.
    let first = outs
        .iter()
        .position(|(_, o)| *o == Out::F(0))
        .expect("played");
    assert!(outs[..first].iter().all(|(_, o)| *o == Out::E));
    let (at, _) = outs[first];
    assert!(at >= ms(30 + 40), "first frame at {at:?}");
    assert!(outs[first..first + 50]
        .iter()
        .all(|(_, o)| matches!(o, Out::F(_))));
    // The sender stopped: 3 frames of PLC (the cursor waits), then silence.
    let tail: Vec<Out> = outs[first + 50..].iter().map(|(_, o)| *o).collect();
    assert_eq!(
        &tail[..4],
        &[Out::C(None), Out::C(None), Out::C(None), Out::S]
    );
    let st = jb.stats();
    assert_eq!((st.played, st.lost, st.late, st.duplicates), (50, 0, 0, 0));
    assert_eq!(st.stalled, 3);
    assert_eq!(st.buffer_level, Duration::ZERO);
}

#[test]
fn warm_up_delay_is_dropped_once_the_network_is_known() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::default()).expect("config");
    let packets = (0..200).map(|i| pkt(t0, i, ms(30))).collect();
    let outs = drive(&mut jb, t0, packets, ms(5), 210);
    let played_at = |i| outs.iter().find(|(_, o)| *o == Out::F(i)).map(|(t, _)| *t);
    let wait = |i: u32| played_at(i).map(|t| t - (FRAME * i + ms(30)));
    // 60 ms initial target (40 ms margin) for the first packets...
    assert!(wait(0) >= Some(ms(40)), "{:?}", wait(0));
    // ...then a calm network: the target falls to one frame plus one 2.048 ms bucket and the buffer
    // drops frames, one per adapt_interval, until it plays within a frame of arrival.
    let st = jb.stats();
    assert_eq!(st.target_delay, FRAME + Duration::from_micros(2048));
    assert_eq!(st.accelerated, 2);
    assert!(wait(199) < Some(FRAME), "{:?}", wait(199));
    assert_eq!(frames(&outs).len(), 198);
    assert_eq!((st.lost, st.late), (0, 0));
    assert_eq!(concealed_before(&outs, 199), 0);
}

#[test]
fn reordered_packets_play_in_order() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(60));
    // Every odd packet overtakes the even one before it by 10 ms.
    let packets = (0..40)
        .map(|i| pkt(t0, i, if i % 2 == 0 { ms(35) } else { ms(5) }))
        .collect();
    let outs = drive(&mut jb, t0, packets, ms(3), 60);
    assert_eq!(frames(&outs), (0..40).collect::<Vec<_>>());
    assert_eq!(jb.stats().late, 0);
    assert_eq!(jb.stats().lost, 0);
}

#[test]
fn back_fill_before_first_frame() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(60));
    // Packet 1 arrives first; packet 0 arrives 15 ms later, before playout starts.
    let mut packets: Vec<_> = (1..10).map(|i| pkt(t0, i, ms(5))).collect();
    packets.push(pkt(t0, 0, ms(40)));
    let outs = drive(&mut jb, t0, packets, ms(1), 20);
    assert_eq!(frames(&outs), (0..10).collect::<Vec<_>>());
    assert_eq!(jb.stats().late, 0);
}

#[test]
fn duplicates_are_dropped_and_never_output_twice() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(40));
    let mut packets: Vec<_> = (0..30).map(|i| pkt(t0, i, ms(10))).collect();
    // A copy right behind each of the first ten (still buffered)...
    packets.extend((0..10).map(|i| pkt(t0, i, ms(11))));
    // ...and a copy of packet 5 long after it was played.
    packets.push(pkt(t0, 5, ms(300)));
    let outs = drive(&mut jb, t0, packets, ms(2), 40);
    assert_eq!(frames(&outs), (0..30).collect::<Vec<_>>());
    let st = jb.stats();
    assert_eq!(st.duplicates, 11);
    assert_eq!(st.late, 0);
}

#[test]
fn insert_reports_what_happened() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(20));
    assert_eq!(jb.insert(pkt(t0, 0, ms(0)), t0), Inserted::Buffered);
    assert_eq!(jb.insert(pkt(t0, 0, ms(0)), t0), Inserted::Duplicate);
    assert_eq!(jb.insert(pkt(t0, 2, ms(0)), t0), Inserted::Buffered);
    let now = t0 + ms(45);
    assert_eq!(out(jb.pop(now)), Out::F(0));
    assert_eq!(out(jb.pop(now + FRAME)), Out::C(Some(2)));
    assert_eq!(jb.next_seq(), Some(2));
    assert_eq!(jb.insert(pkt(t0, 1, ms(50)), now + FRAME), Inserted::Late);
    assert_eq!(
        jb.insert(pkt(t0, 0, ms(50)), now + FRAME),
        Inserted::Duplicate
    );
    assert_eq!(out(jb.pop(now + FRAME * 2)), Out::F(2));
}

#[test]
fn late_packet_is_dropped_and_counted() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(40));
    let packets = (0..20)
        .map(|i| pkt(t0, i, if i == 10 { ms(200) } else { ms(0) }))
        .collect();
    let outs = drive(&mut jb, t0, packets, ms(1), 30);
    let f = frames(&outs);
    assert!(!f.contains(&10));
    assert_eq!(f.len(), 19);
    // Its turn came while 11 was buffered: conceal with FEC from 11, then play 11.
    let at = outs
        .iter()
        .position(|(_, o)| *o == Out::C(Some(11)))
        .expect("fec offer");
    assert_eq!(outs[at + 1].1, Out::F(11));
    let st = jb.stats();
    // One concealment for packet 10, three more once the stream ends.
    assert_eq!(
        (st.late, st.lost, st.fec_offers, st.concealed),
        (1, 1, 1, 4)
    );
    assert_eq!(st.stalled, 3);
}

#[test]
fn consecutive_losses_conceal_with_plc_then_fec() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(80));
    let packets = (0..20)
        .filter(|i| !(7..=9).contains(i))
        .map(|i| pkt(t0, i, ms(0)))
        .collect();
    let outs = drive(&mut jb, t0, packets, ms(1), 30);
    let seq: Vec<Out> = outs.iter().map(|(_, o)| *o).collect();
    let at = seq.iter().position(|o| *o == Out::F(6)).expect("6 played");
    assert_eq!(
        &seq[at..at + 5],
        &[
            Out::F(6),
            Out::C(None),
            Out::C(None),
            Out::C(Some(10)),
            Out::F(10)
        ]
    );
    assert_eq!(jb.stats().lost, 3);
    assert_eq!(jb.stats().fec_offers, 1);
}

#[test]
fn stall_absorbs_a_delay_spike_then_catches_up() {
    let t0 = Instant::now();
    let cfg = JitterConfig {
        initial_delay: ms(20),
        ..JitterConfig::default()
    };
    let mut jb = JitterBuffer::new(cfg).expect("config");
    // 150 ms spike on packet 100, decaying by 10 ms per packet: 100..114 arrive bunched (FIFO).
    let packets = (0..400)
        .map(|i| {
            let spike = if (100..115).contains(&i) {
                150 - 10 * (i as u64 - 100)
            } else {
                0
            };
            pkt(t0, i, ms(10 + spike))
        })
        .collect();
    let outs = drive(&mut jb, t0, packets, ms(7), 430);
    let f = frames(&outs);
    let st = jb.stats();
    // Nothing lost to the spike: the cursor waited for packet 100.
    assert_eq!(st.late, 0);
    assert_eq!(st.lost, 0);
    assert!(st.stalled > 0);
    // It then dropped frames to come back to its target, never two in a row.
    assert!(st.accelerated >= 3, "{st:?}");
    assert_eq!(f.len() as u64 + st.accelerated, 400);
    assert!(f.windows(2).all(|w| w[0] < w[1] && w[1] - w[0] <= 2));
    // Back near the target at the end: the last frame played within 2 frames of its arrival.
    let last = outs
        .iter()
        .find(|(_, o)| *o == Out::F(399))
        .expect("played")
        .0;
    assert!(last <= FRAME * 399 + ms(10) + FRAME * 2, "{last:?}");
}

#[test]
fn starving_conceals_then_goes_silent() {
    let t0 = Instant::now();
    let cfg = JitterConfig {
        max_plc_frames: 2,
        ..JitterConfig::default()
    };
    let mut jb = JitterBuffer::new(cfg).expect("config");
    let packets = (0..10).map(|i| pkt(t0, i, ms(0))).collect();
    let outs = drive(&mut jb, t0, packets, ms(1), 25);
    let tail: Vec<Out> = outs
        .iter()
        .map(|(_, o)| *o)
        .skip_while(|o| *o != Out::F(9))
        .collect();
    assert_eq!(
        &tail[..5],
        &[Out::F(9), Out::C(None), Out::C(None), Out::S, Out::S]
    );
    assert_eq!(jb.stats().concealed, 2);
}

/// Two talk spurts: 0..=29, then (after `gap` of DTX) 30..60 with the marker on 30.
fn two_spurts(t0: Instant, gap: Duration, delay2: Duration) -> Vec<JitterPacket<u32>> {
    let gap_ticks = (gap.as_millis() as u32) * 8;
    (0..60)
        .map(|i| {
            if i < 30 {
                pkt(t0, i, ms(5))
            } else {
                let mut p = pkt(t0, i, gap + delay2);
                p.timestamp += gap_ticks;
                p.marker = i == 30;
                p
            }
        })
        .collect()
}

#[test]
fn dtx_gap_plays_silence_not_a_concealment_storm() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(steady()).expect("config");
    let outs = drive(&mut jb, t0, two_spurts(t0, ms(1000), ms(5)), ms(2), 120);
    assert_eq!(frames(&outs), (0..60).collect::<Vec<_>>());
    let st = jb.stats();
    assert_eq!(st.lost, 0);
    // One second of silence cost 3 PLC frames (unknown yet whether DTX or loss), then silence.
    assert_eq!(concealed_before(&outs, 59), 3);
    assert!(count(&outs, Out::S) >= 45);
}

#[test]
fn comfort_noise_packet_switches_to_comfort_noise() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(steady()).expect("config");
    let mut packets = two_spurts(t0, ms(600), ms(5));
    packets[29].comfort_noise = true;
    let outs = drive(&mut jb, t0, packets, ms(2), 100);
    assert_eq!(frames(&outs).len(), 60);
    let st = jb.stats();
    assert_eq!(concealed_before(&outs, 59), 0);
    assert!(st.comfort_noise >= 25, "{st:?}");
    assert_eq!(st.lost, 0);
}

#[test]
fn lost_spurt_end_before_dtx_is_not_concealed_late() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(steady()).expect("config");
    let mut packets = two_spurts(t0, ms(600), ms(5));
    // The last two packets of spurt 1 and the first of spurt 2 are lost.
    packets.retain(|p| !(28..=30).contains(&p.payload));
    let outs = drive(&mut jb, t0, packets, ms(2), 100);
    let f = frames(&outs);
    assert_eq!(f.len(), 57);
    assert!(f.windows(2).all(|w| w[0] < w[1]));
    // The buffer found out at spurt 2 that 28..=30 were gone: counted lost, not concealed then.
    let st = jb.stats();
    assert_eq!(st.lost, 3);
    assert_eq!(
        concealed_before(&outs, 59),
        3,
        "only the starving PLC frames"
    );
    assert_eq!(st.fec_offers, 0);
}

#[test]
fn talk_spurt_start_applies_the_current_target() {
    let t0 = Instant::now();
    let cfg = JitterConfig {
        adapt_in_talkspurt: false,
        ..JitterConfig::default()
    };
    let mut jb = JitterBuffer::new(cfg).expect("config");
    // Spurt 1: every third packet 90 ms late: the 95th percentile climbs to ~90 ms.
    let mut packets: Vec<_> = (0..200)
        .map(|i| pkt(t0, i, if i % 3 == 0 { ms(100) } else { ms(10) }))
        .collect();
    // Spurt 2 after 1 s of DTX, every packet at the fastest transit (10 ms).
    for i in 200..230 {
        let mut p = pkt(t0, i, ms(1000 + 10));
        p.timestamp += 8000;
        p.marker = i == 200;
        packets.push(p);
    }
    let outs = drive(&mut jb, t0, packets, ms(3), 330);
    let margin = jb.target_delay() - FRAME;
    assert!(margin >= ms(80), "target {:?}", jb.target_delay());
    let arrival = FRAME * 200 + ms(1010);
    let played = outs
        .iter()
        .find(|(_, o)| *o == Out::F(200))
        .expect("played")
        .0;
    // Started at the first pop at or after arrival + margin: waited the margin, not more.
    assert!(
        played >= arrival + margin && played < arrival + margin + FRAME,
        "{played:?}"
    );
}

#[test]
fn sustained_jitter_raises_the_delay_until_nothing_is_late() {
    let t0 = Instant::now();
    let cfg = JitterConfig {
        initial_delay: ms(20),
        ..JitterConfig::default()
    };
    let mut jb = JitterBuffer::new(cfg).expect("config");
    // 10 s of a stream where every 4th packet is 50 ms late and overtaken by the next one.
    let packets = (0..500)
        .map(|i| pkt(t0, i, if i % 4 == 1 { ms(60) } else { ms(10) }))
        .collect();
    let mut late_at_5s = 0;
    let mut packets: Vec<JitterPacket<u32>> = packets;
    packets.sort_by_key(|p| p.arrival);
    let mut it = packets.into_iter().peekable();
    for k in 0..520u32 {
        let now = t0 + ms(4) + FRAME * k;
        while let Some(p) = it.next_if(|p| p.arrival <= now) {
            let at = p.arrival;
            jb.insert(p, at);
        }
        jb.pop(now);
        if k == 250 {
            late_at_5s = jb.stats().late + jb.stats().lost;
        }
    }
    let st = jb.stats();
    assert_eq!(
        st.late + st.lost,
        late_at_5s,
        "still losing after adapting: {st:?}"
    );
    assert!(jb.target_delay() >= ms(60), "{:?}", jb.target_delay());
    assert!(st.inserted > 0, "{st:?}");
}

#[test]
fn sequence_and_timestamp_wrap_are_seamless() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(40));
    let packets = (0..100u32)
        .map(|i| {
            let mut p = pkt(t0, i, ms(3 + u64::from(i % 3) * 7));
            p.seq = 65_500u16.wrapping_add(i as u16);
            p.timestamp = (u32::MAX - 4000).wrapping_add(i * 160);
            p
        })
        .collect();
    let outs = drive(&mut jb, t0, packets, ms(1), 110);
    assert_eq!(frames(&outs), (0..100).collect::<Vec<_>>());
    let st = jb.stats();
    assert_eq!((st.lost, st.late, st.resyncs, st.stray), (0, 0, 0, 0));
}

#[test]
fn ssrc_change_resets_and_strays_are_dropped() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(60));
    let mut packets: Vec<_> = (0..20).map(|i| pkt(t0, i, ms(5))).collect();
    for i in 20..40 {
        let mut p = pkt(t0, i, ms(5));
        p.ssrc = 0xB;
        p.seq = 9000 + i as u16;
        p.timestamp = 777_000 + i * 160;
        packets.push(p);
    }
    // A straggler of the old SSRC right after the switch.
    packets.push(pkt(t0, 19, ms(50)));
    let outs = drive(&mut jb, t0, packets, ms(1), 60);
    let st = jb.stats();
    assert_eq!(st.ssrc_changes, 1);
    // What the old stream still held was flushed; the new one played whole.
    let f = frames(&outs);
    assert_eq!(f.len() as u64 + st.flushed, 40);
    assert!(f.ends_with(&(20..40).collect::<Vec<_>>()));
    assert_eq!(st.late, 1);
    // The new stream buffered afresh (Empty again) after the switch.
    let switch = outs
        .iter()
        .position(|(_, o)| *o == Out::F(20))
        .expect("new stream");
    assert_eq!(outs[switch - 1].1, Out::E);
}

#[test]
fn switching_back_after_the_grace_period_is_a_new_change() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(20));
    let a = |i: u32| pkt(t0, i, ms(0));
    let b = |i: u32| {
        let mut p = pkt(t0, i, ms(0));
        p.ssrc = 0xB;
        p
    };
    assert_eq!(jb.insert(a(0), t0), Inserted::Buffered);
    assert_eq!(jb.insert(b(1), t0 + FRAME), Inserted::Held);
    // A straggler of the current source does not cancel the probation of the new one.
    assert_eq!(jb.insert(a(1), t0 + FRAME), Inserted::Buffered);
    assert_eq!(jb.insert(b(2), t0 + FRAME * 2), Inserted::Restarted);
    assert_eq!(jb.insert(a(2), t0 + FRAME * 2), Inserted::Late);
    assert_eq!(jb.insert(a(40), t0 + FRAME * 40), Inserted::Held);
    assert_eq!(jb.insert(a(41), t0 + FRAME * 41), Inserted::Restarted);
    assert_eq!(jb.stats().ssrc_changes, 2);
    assert_eq!(jb.stats().flushed, 2 + 2);
}

#[test]
fn lone_packet_of_another_ssrc_does_not_flip_the_stream() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(40));
    let mut packets: Vec<_> = (0..30).map(|i| pkt(t0, i, ms(5))).collect();
    // One packet of a foreign source mid-stream (a misrouted or straggling packet).
    let mut foreign = pkt(t0, 10, ms(6));
    foreign.ssrc = 0xF0;
    foreign.payload = 1000;
    packets.push(foreign);
    let outs = drive(&mut jb, t0, packets, ms(1), 40);
    assert_eq!(frames(&outs), (0..30).collect::<Vec<_>>());
    let st = jb.stats();
    // Held, then dropped once older than max_delay (noticed on a later insert).
    assert_eq!((st.ssrc_changes, st.stray), (0, 1));
}

#[test]
fn new_source_seen_first_is_not_flipped_by_an_older_straggler() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(40));
    // Old source A's last packet (index 1) arrives after new source B's first (index 2).
    let mut packets = vec![pkt(t0, 1, ms(70))];
    for i in 2..20 {
        let mut p = pkt(t0, i, ms(0));
        p.ssrc = 0xB;
        packets.push(p);
    }
    let outs = drive(&mut jb, t0, packets, ms(1), 30);
    assert_eq!(frames(&outs), (2..20).collect::<Vec<_>>());
    let st = jb.stats();
    assert_eq!((st.ssrc_changes, st.stray), (0, 1));
}

#[test]
fn single_large_jump_is_dropped_two_resync() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(20));
    for i in 0..5 {
        jb.insert(pkt(t0, i, ms(0)), t0 + FRAME * i);
    }
    let mut stray = pkt(t0, 5, ms(0));
    stray.seq = 30_000;
    assert_eq!(jb.insert(stray, t0 + FRAME * 5), Inserted::Held);
    assert_eq!(
        jb.insert(pkt(t0, 6, ms(0)), t0 + FRAME * 6),
        Inserted::Buffered
    );
    assert_eq!(jb.stats().stray, 1);
    // Sender restart: two sequential packets far away, with a new timestamp base.
    let restart = |i: u32, seq: u16| {
        let mut p = pkt(t0, i, ms(0));
        p.seq = seq;
        p.timestamp = 5_000_000 + i * 160;
        p
    };
    assert_eq!(
        jb.insert(restart(7, 40_000), t0 + FRAME * 7),
        Inserted::Held
    );
    assert_eq!(
        jb.insert(restart(8, 40_001), t0 + FRAME * 8),
        Inserted::Restarted
    );
    let st = jb.stats();
    assert_eq!(st.resyncs, 1);
    assert_eq!(st.flushed, 6);
    assert_eq!(jb.buffered(), 2);
    let now = t0 + FRAME * 9;
    assert_eq!(out(jb.pop(now)), Out::F(7));
    assert_eq!(out(jb.pop(now + FRAME)), Out::F(8));
}

#[test]
fn overflow_drops_the_oldest() {
    let t0 = Instant::now();
    let cfg = JitterConfig {
        max_packets: 8,
        adapt_in_talkspurt: false,
        ..JitterConfig::default()
    };
    let mut jb = JitterBuffer::new(cfg).expect("config");
    // The caller stops popping for 20 frames (but within max_delay).
    for i in 0..20 {
        assert_eq!(
            jb.insert(pkt(t0, i, ms(0)), t0 + FRAME * i),
            Inserted::Buffered
        );
    }
    let st = jb.stats();
    assert_eq!(st.overflow, 12);
    assert_eq!(jb.buffered(), 8);
    assert_eq!(st.buffer_level, FRAME * 8);
    let now = t0 + FRAME * 20;
    let played: Vec<Out> = (0..8).map(|k| out(jb.pop(now + FRAME * k))).collect();
    assert_eq!(played, (12..20).map(Out::F).collect::<Vec<_>>());
}

#[test]
fn far_ahead_packet_moves_the_window() {
    let t0 = Instant::now();
    let mut jb = fixed(ms(20));
    let cap = jb.ring.capacity() as u32;
    jb.insert(pkt(t0, 0, ms(0)), t0);
    // Within MAX_DROPOUT but beyond the ring: the window slides, packet 0 is dropped.
    let far = cap + 10;
    assert_eq!(
        jb.insert(pkt(t0, far, ms(0)), t0 + FRAME),
        Inserted::Buffered
    );
    let st = jb.stats();
    assert_eq!(st.overflow, 1);
    assert!(st.lost > 0);
    assert_eq!(out(jb.pop(t0 + FRAME * far + ms(5))), Out::F(far));
}

#[test]
fn nothing_older_than_max_delay_is_played() {
    let t0 = Instant::now();
    let cfg = JitterConfig {
        max_delay: ms(100),
        adapt_in_talkspurt: false,
        ..JitterConfig::default()
    };
    let mut jb = JitterBuffer::new(cfg).expect("config");
    for i in 0..10 {
        jb.insert(pkt(t0, i, ms(0)), t0 + FRAME * i);
    }
    // The caller wakes up late: packets 0..=4 waited more than 100 ms.
    let now = t0 + FRAME * 9 + ms(5);
    assert_eq!(out(jb.pop(now)), Out::F(5));
    let st = jb.stats();
    assert_eq!(st.shed, 5);
    let mut k = 1;
    while let Playout::Frame(p) = jb.pop(now + FRAME * k) {
        assert!(now + FRAME * k - p.arrival <= ms(100));
        k += 1;
    }
    assert_eq!(jb.stats().played, 5);
}

#[test]
fn target_follows_jitter_and_stays_clamped() {
    let t0 = Instant::now();
    let cfg = JitterConfig {
        min_delay: ms(30),
        max_delay: ms(150),
        forget_factor: 0.99,
        ..JitterConfig::default()
    };
    let mut jb = JitterBuffer::new(cfg).expect("config");
    let mut i = 0u32;
    let mut feed = |jb: &mut JitterBuffer<u32>, n: u32, jitter: &dyn Fn(u32) -> u64| {
        for _ in 0..n {
            let p = pkt(t0, i, ms(jitter(i)));
            let at = p.arrival;
            jb.insert(p, at);
            jb.pop(at);
            i += 1;
        }
    };
    assert_eq!(jb.target_delay(), ms(60), "initial delay during warm-up");
    feed(&mut jb, 300, &|_| 5);
    assert_eq!(jb.target_delay(), ms(30), "clamped to min_delay");
    feed(&mut jb, 300, &|i| u64::from(i % 5) * 20);
    let t = jb.target_delay();
    assert!(t >= ms(90) && t <= ms(110), "{t:?}");
    feed(&mut jb, 300, &|i| if i % 2 == 0 { 400 } else { 0 });
    assert_eq!(jb.target_delay(), ms(150), "clamped to max_delay");
    feed(&mut jb, 1000, &|_| 5);
    assert_eq!(jb.target_delay(), ms(30), "forgets old jitter");
}

#[test]
fn opus_clock_and_frame_size() {
    let t0 = Instant::now();
    let cfg = JitterConfig {
        adapt_in_talkspurt: false,
        ..JitterConfig::opus()
    };
    let mut jb = JitterBuffer::new(cfg).expect("config");
    assert_eq!(jb.config().frame_duration(), FRAME);
    let packets = (0..50u32)
        .map(|i| {
            let mut p = pkt(t0, i, ms(u64::from(i % 4) * 5));
            p.timestamp = i * 960;
            p
        })
        .collect();
    let outs = drive(&mut jb, t0, packets, ms(1), 60);
    assert_eq!(frames(&outs), (0..50).collect::<Vec<_>>());
}

#[test]
fn same_input_same_output() {
    let run = || {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default()).expect("config");
        let packets = (0..300)
            .filter(|i| i % 17 != 3)
            .map(|i| pkt(t0, i, ms(u64::from((i * 7919) % 90))))
            .collect();
        let outs: Vec<Out> = drive(&mut jb, t0, packets, ms(9), 330)
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        (outs, jb.stats())
    };
    assert_eq!(run(), run());
}

#[test]
fn config_is_validated() {
    let bad = |f: &dyn Fn(&mut JitterConfig)| {
        let mut c = JitterConfig::default();
        f(&mut c);
        JitterBuffer::<u32>::new(c).err()
    };
    assert!(bad(&|_| {}).is_none());
    assert!(matches!(bad(&|c| c.clock_rate = 0), Some(Error::Config(_))));
    assert!(bad(&|c| c.frame_samples = 0).is_some());
    assert!(bad(&|c| c.min_delay = ms(600)).is_some());
    assert!(bad(&|c| c.max_delay = ms(10)).is_some());
    assert!(bad(&|c| c.max_delay = Duration::from_secs(60)).is_some());
    assert!(bad(&|c| c.quantile = 0.0).is_some());
    assert!(bad(&|c| c.quantile = f64::NAN).is_some());
    assert!(bad(&|c| c.forget_factor = 1.0).is_some());
    assert!(bad(&|c| c.baseline_window = Duration::ZERO).is_some());
    assert!(bad(&|c| c.max_packets = 1).is_some());
    assert!(bad(&|c| c.max_packets = 100_000).is_some());
    assert_eq!(JitterConfig::default().effective_max_packets(), 50);
}

#[test]
fn widening_handles_wraps() {
    let r = (1u64 << 16) + 65_535;
    assert_eq!(widen_seq(0, r), r + 1);
    assert_eq!(widen_seq(65_534, r), r - 1);
    let r = (1u64 << 32) + u64::from(u32::MAX - 10);
    assert_eq!(widen_ts(5, r), r + 16);
    assert_eq!(widen_ts(u32::MAX - 20, r), r - 10);
}
