//! RFC 4733 telephone-events: payload round trips, the receiver on the packet sequences real
//! networks produce, and the sender feeding the receiver through loss, reordering and
//! timestamp wrap.

use media::dtmf::rfc4733::{
    DtmfEvent, EventReceiver, EventSender, OutgoingEvent, SendParams, TelephoneEvent,
};
use proptest::prelude::*;

const RATE: u32 = 8000;

/// One received packet: RTP timestamp, marker, payload.
type Packet = (u32, bool, [u8; 4]);

fn pkt(ts: u32, marker: bool, event: u8, end: bool, duration: u16) -> Packet {
    (
        ts,
        marker,
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes(),
    )
}

/// The packets a compliant phone sends for one press: an update every 20 ms, three ends.
fn press(ts: u32, event: u8, duration: u16) -> Vec<Packet> {
    let mut out: Vec<Packet> = (1..)
        .map(|k| k * 160)
        .take_while(|&d| d < duration)
        .enumerate()
        .map(|(i, d)| pkt(ts, i == 0, event, false, d))
        .collect();
    for _ in 0..3 {
        out.push(pkt(ts, out.is_empty(), event, true, duration));
    }
    out
}

fn receive(rx: &mut EventReceiver, packets: &[Packet], rate: u32) -> Vec<DtmfEvent> {
    let mut out = Vec::new();
    for (ts, marker, payload) in packets {
        out.extend(rx.handle_packet(*ts, *marker, payload, rate));
    }
    out
}

fn start(digit: char) -> DtmfEvent {
    DtmfEvent::Start { digit }
}

fn end(digit: char, duration_ms: u32) -> DtmfEvent {
    DtmfEvent::End { digit, duration_ms }
}

/// Digits of the `Start`s, checking each `Start` is followed by its own `End` before the next.
fn digits(events: &[DtmfEvent]) -> String {
    let mut open: Option<char> = None;
    let mut out = String::new();
    for ev in events {
        match *ev {
            DtmfEvent::Start { digit } => {
                assert_eq!(open, None, "Start before the previous End: {events:?}");
                open = Some(digit);
                out.push(digit);
            }
            DtmfEvent::End { digit, .. } => {
                assert_eq!(open, Some(digit), "End without its Start: {events:?}");
                open = None;
            }
        }
    }
    assert_eq!(open, None, "unfinished event: {events:?}");
    out
}

#[test]
fn normal_press_with_three_end_retransmissions() {
    let mut rx = EventReceiver::new();
    let got = receive(&mut rx, &press(16_000, 5, 1600), RATE);
    assert_eq!(got, [start('5'), end('5', 200)]);
    assert_eq!(rx.stats().stale, 2, "the two end retransmissions");
}

#[test]
fn lost_start_packets() {
    let mut rx = EventReceiver::new();
    let packets = press(16_000, 3, 1600);
    let got = receive(&mut rx, &packets[4..], RATE);
    assert_eq!(got, [start('3'), end('3', 200)]);
}

#[test]
fn all_end_packets_lost_then_a_new_digit() {
    let mut rx = EventReceiver::new();
    let first = press(16_000, 1, 800);
    let mut packets = first[..first.len() - 3].to_vec();
    packets.extend(press(17_600, 2, 800));
    let got = receive(&mut rx, &packets, RATE);
    // The first press is cut at the last update seen: 640 units.
    assert_eq!(got, [start('1'), end('1', 80), start('2'), end('2', 100)]);
    assert_eq!(rx.stats().ends_inferred, 1);
}

#[test]
fn same_digit_twice_in_a_row() {
    let mut rx = EventReceiver::new();
    let mut packets = press(0, 7, 800);
    packets.extend(press(1600, 7, 800));
    let got = receive(&mut rx, &packets, RATE);
    assert_eq!(got, [start('7'), end('7', 100), start('7'), end('7', 100)]);
}

#[test]
fn reordered_packets_within_and_across_events() {
    let mut rx = EventReceiver::new();
    let mut packets = press(0, 4, 800);
    packets.extend(press(2400, 6, 800));
    // Swap the marker packet with the next, and the last end of '4' with the first of '6'.
    packets.swap(0, 1);
    let boundary = packets
        .iter()
        .position(|p| p.0 == 2400)
        .expect("second press");
    packets.swap(boundary - 1, boundary);
    let got = receive(&mut rx, &packets, RATE);
    assert_eq!(got, [start('4'), end('4', 100), start('6'), end('6', 100)]);
}

#[test]
fn timestamp_wrap_between_and_within_events() {
    let mut rx = EventReceiver::new();
    let mut packets = press(u32::MAX - 1000, 8, 800);
    packets.extend(press(u32::MAX - 100, 9, 800)); // its segment spans the wrap
    packets.extend(press(2000, 0, 800));
    let got = receive(&mut rx, &packets, RATE);
    assert_eq!(digits(&got), "890");
}

#[test]
fn flush_ends_a_press_whose_end_never_came() {
    let mut rx = EventReceiver::new();
    let packets = press(0, 10, 800);
    let got = receive(&mut rx, &packets[..2], RATE);
    assert_eq!(got, [start('*')]);
    assert!(rx.is_active());
    assert_eq!(rx.flush(), Some(end('*', 40)));
    // The ends then arriving late change nothing.
    assert!(receive(&mut rx, &packets[2..], RATE).is_empty());
}

#[test]
fn long_press_at_48_khz_survives_segmenting() {
    let params = SendParams {
        duration_ms: 3000,
        clock_rate: 48_000,
        ..SendParams::default()
    };
    let mut tx = EventSender::new('B', 123, params).expect("valid");
    let packets: Vec<Packet> = std::iter::from_fn(|| tx.next_packet())
        .map(|p| (p.timestamp, p.marker, p.payload))
        .collect();
    let mut rx = EventReceiver::new();
    assert_eq!(
        receive(&mut rx, &packets, 48_000),
        [start('B'), end('B', 3000)]
    );
    assert_eq!(rx.stats().segments, 2);
}

// ---- property tests ----

proptest! {
    #[test]
    fn payload_write_then_parse_is_identity(
        event: u8, end: bool, volume in 0u8..=63, duration: u16,
    ) {
        let te = TelephoneEvent { event, end, volume, duration };
        let mut buf = [0u8; 4];
        te.write(&mut buf);
        prop_assert_eq!(TelephoneEvent::parse(&buf), Ok(te));
    }

    #[test]
    fn payload_parse_then_write_keeps_all_but_the_reserved_bit(bytes: [u8; 4]) {
        let te = TelephoneEvent::parse(&bytes).expect("4 bytes");
        let mut expected = bytes;
        expected[1] &= !0x40;
        prop_assert_eq!(te.to_bytes(), expected);
    }

    #[test]
    fn receiver_never_panics_on_arbitrary_packets(
        packets in prop::collection::vec((any::<u32>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..8), 0u32..100_000), 0..64),
    ) {
        let mut rx = EventReceiver::new();
        let mut starts = 0i64;
        let mut ends = 0i64;
        for (ts, marker, payload, rate) in &packets {
            for ev in rx.handle_packet(*ts, *marker, payload, *rate) {
                match ev {
                    DtmfEvent::Start { .. } => starts += 1,
                    DtmfEvent::End { .. } => ends += 1,
                }
                prop_assert!(starts - ends == 0 || starts - ends == 1);
            }
        }
        ends += i64::from(rx.flush().is_some());
        prop_assert_eq!(starts, ends);
    }
}

/// What a call sends: digits with their durations, the gap before each, the sender's settings.
#[derive(Clone, Debug)]
struct Dialled {
    keys: Vec<(char, u32, u32)>,
    ptime_ms: u32,
    clock_rate: u32,
    ts_start: u32,
}

fn dialled() -> impl Strategy<Value = Dialled> {
    let key = prop::sample::select("0123456789*#ABCD".chars().collect::<Vec<_>>());
    (
        prop::collection::vec((key, 40u32..1500, 0u32..6), 1..12),
        prop::sample::select(vec![10u32, 20, 30]),
        prop::sample::select(vec![8000u32, 16_000, 48_000]),
        any::<u32>(),
    )
        .prop_map(|(keys, ptime_ms, clock_rate, ts_start)| Dialled {
            keys,
            ptime_ms,
            clock_rate,
            ts_start,
        })
}

/// The packets of the whole call, grouped per press, with the RTP timestamp advancing one
/// packet time per tick whether audio or events are sent.
fn transmit(d: &Dialled) -> Vec<Vec<OutgoingEvent>> {
    let step = d.ptime_ms * d.clock_rate / 1000;
    let mut ts = d.ts_start;
    let mut presses = Vec::new();
    for &(key, duration_ms, gap_ticks) in &d.keys {
        ts = ts.wrapping_add(step * gap_ticks);
        let params = SendParams {
            duration_ms,
            volume: 10,
            ptime_ms: d.ptime_ms,
            clock_rate: d.clock_rate,
        };
        let mut tx = EventSender::new(key, ts, params).expect("valid");
        let packets: Vec<_> = std::iter::from_fn(|| tx.next_packet()).collect();
        ts = ts.wrapping_add(step * packets.len() as u32);
        presses.push(packets);
    }
    presses
}

fn expected(d: &Dialled) -> String {
    d.keys.iter().map(|k| k.0).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn sender_to_receiver_yields_the_keys_and_durations(d in dialled()) {
        let mut rx = EventReceiver::new();
        let mut got = Vec::new();
        for p in transmit(&d).concat() {
            got.extend(rx.handle_packet(p.timestamp, p.marker, &p.payload, d.clock_rate));
        }
        prop_assert!(!rx.is_active());
        prop_assert_eq!(digits(&got), expected(&d));
        let durations: Vec<u32> = got
            .iter()
            .filter_map(|e| match e { DtmfEvent::End { duration_ms, .. } => Some(*duration_ms), _ => None })
            .collect();
        let sent: Vec<u32> = d.keys.iter().map(|k| k.1).collect();
        prop_assert_eq!(durations, sent);
        prop_assert_eq!(rx.stats().ends_inferred, 0);
    }

    #[test]
    fn loss_only_drops_presses_with_no_packet_left(
        d in dialled(),
        losses in prop::collection::vec(prop::bool::weighted(0.3), 512),
    ) {
        let mut rx = EventReceiver::new();
        let mut got = Vec::new();
        let mut want = String::new();
        let mut i = 0;
        for (press, &(key, _, _)) in transmit(&d).iter().zip(&d.keys) {
            let mut delivered = false;
            for p in press {
                let lost = losses[i % losses.len()];
                i += 1;
                if !lost {
                    delivered = true;
                    got.extend(rx.handle_packet(p.timestamp, p.marker, &p.payload, d.clock_rate));
                }
            }
            if delivered {
                want.push(key);
            }
        }
        got.extend(rx.flush());
        prop_assert_eq!(digits(&got), want);
    }

    #[test]
    fn adjacent_reordering_keeps_the_keys(
        d in dialled(),
        swaps in prop::collection::vec(prop::bool::weighted(0.25), 512),
    ) {
        let mut packets = transmit(&d).concat();
        let mut i = 0;
        while i + 1 < packets.len() {
            if swaps[i % swaps.len()] {
                packets.swap(i, i + 1);
                i += 1;
            }
            i += 1;
        }
        let mut rx = EventReceiver::new();
        let mut got = Vec::new();
        for p in &packets {
            got.extend(rx.handle_packet(p.timestamp, p.marker, &p.payload, d.clock_rate));
        }
        got.extend(rx.flush());
        prop_assert_eq!(digits(&got), expected(&d));
    }
}
