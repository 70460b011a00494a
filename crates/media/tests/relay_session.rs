//! The sans-IO relay session: latching, forwarding, strangers, statistics, media timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::relay::rtp::HeaderError;
use media::relay::{DropReason, Leg, LegConfig, RelayConfig, RelayEvent, RelaySession, Verdict};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address literal")
}

fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

const PHONE_A: &str = "192.168.1.10:4000";
const PHONE_B: &str = "203.0.113.5:30000";
const TIMEOUT: Duration = Duration::from_secs(60);

fn session(latch_any_first: bool, now: Instant) -> RelaySession {
    RelaySession::new(
        RelayConfig {
            latch_any_first,
            media_timeout: TIMEOUT,
        },
        LegConfig::new(Some(addr(PHONE_A)), false, 8000),
        LegConfig::new(Some(addr(PHONE_B)), false, 8000),
        now,
    )
}

fn drain(s: &mut RelaySession) -> Vec<RelayEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn forwards_to_sdp_address_then_to_latched_source() {
    let mut now = Instant::now();
    let mut s = session(false, now);
    let v = s.on_packet(Leg::A, addr(PHONE_A), &rtp(1, 160, 7), now);
    assert_eq!(
        v,
        Verdict::Forward {
            to: addr(PHONE_B),
            from_leg: Leg::B
        }
    );
    assert_eq!(
        drain(&mut s),
        [RelayEvent::Latched {
            leg: Leg::A,
            addr: addr(PHONE_A)
        }]
    );
    now += Duration::from_millis(20);
    // B answers from its SDP address; its packets go to A's latched source.
    let v = s.on_packet(Leg::B, addr(PHONE_B), &rtp(100, 0, 9), now);
    assert_eq!(
        v,
        Verdict::Forward {
            to: addr(PHONE_A),
            from_leg: Leg::A
        }
    );
    assert_eq!(s.latched(Leg::B), Some(addr(PHONE_B)));
}

#[test]
fn strict_latching_drops_unexpected_sources() {
    let now = Instant::now();
    let mut s = session(false, now);
    let natted = addr("198.51.100.7:61000");
    assert_eq!(
        s.on_packet(Leg::A, natted, &rtp(1, 0, 7), now),
        Verdict::Drop(DropReason::Stranger)
    );
    assert_eq!(s.stats(Leg::A).strangers, 1);
    assert_eq!(s.latched(Leg::A), None);
}

#[test]
fn latch_any_first_then_strangers_are_dropped() {
    let mut now = Instant::now();
    let mut s = session(true, now);
    let natted = addr("198.51.100.7:61000");
    let v = s.on_packet(Leg::A, natted, &rtp(1, 0, 7), now);
    assert!(matches!(v, Verdict::Forward { .. }));
    assert_eq!(s.latched(Leg::A), Some(natted));
    now += Duration::from_millis(20);
    // Even the SDP address is a stranger now.
    for src in [addr(PHONE_A), addr("198.51.100.7:61001")] {
        assert_eq!(
            s.on_packet(Leg::A, src, &rtp(2, 160, 7), now),
            Verdict::Drop(DropReason::Stranger)
        );
    }
    assert_eq!(s.stats(Leg::A).strangers, 2);
    assert_eq!(s.stats(Leg::A).packets, 1);
    // B's media goes to where A really is.
    assert_eq!(
        s.on_packet(Leg::B, addr(PHONE_B), &rtp(1, 0, 9), now),
        Verdict::Forward {
            to: natted,
            from_leg: Leg::A
        }
    );
    // A re-INVITE with a new address starts latching over.
    s.set_remote(Leg::A, LegConfig::new(Some(addr(PHONE_A)), false, 8000));
    assert!(matches!(
        s.on_packet(Leg::A, addr(PHONE_A), &rtp(3, 320, 7), now),
        Verdict::Forward { .. }
    ));
    assert_eq!(s.latched(Leg::A), Some(addr(PHONE_A)));
}

#[test]
fn no_destination_before_the_other_side_is_known() {
    let now = Instant::now();
    let mut s = RelaySession::new(
        RelayConfig::default(),
        LegConfig::new(Some(addr(PHONE_A)), false, 8000),
        LegConfig::new(None, false, 8000),
        now,
    );
    assert_eq!(
        s.on_packet(Leg::A, addr(PHONE_A), &rtp(1, 0, 7), now),
        Verdict::Drop(DropReason::NoDestination)
    );
    assert_eq!(s.stats(Leg::A).no_destination, 1);
    assert_eq!(s.stats(Leg::A).packets, 1);
}

#[test]
fn invalid_packets_are_dropped_and_do_not_latch() {
    let now = Instant::now();
    let mut s = session(true, now);
    let mut bad = rtp(1, 0, 7);
    bad[0] = 0x40;
    assert_eq!(
        s.on_packet(Leg::A, addr(PHONE_A), &bad, now),
        Verdict::Drop(DropReason::Invalid(HeaderError::Version))
    );
    assert_eq!(
        s.on_packet(Leg::A, addr(PHONE_A), &[0x80, 0, 0], now),
        Verdict::Drop(DropReason::Invalid(HeaderError::TooShort))
    );
    assert_eq!(s.stats(Leg::A).invalid, 2);
    assert_eq!(s.latched(Leg::A), None);
}

#[test]
fn statistics_loss_jitter_and_ssrc_change() {
    let mut now = Instant::now();
    let mut s = session(false, now);
    // 50 packets, every 5th lost, perfectly paced: no jitter.
    for i in 0..50u16 {
        if i % 5 != 4 {
            let v = s.on_packet(Leg::A, addr(PHONE_A), &rtp(i, u32::from(i) * 160, 7), now);
            assert!(matches!(v, Verdict::Forward { .. }));
        }
        now += Duration::from_millis(20);
    }
    let st = s.stats(Leg::A);
    assert_eq!(st.packets, 40);
    assert_eq!(st.bytes, 40 * 172);
    assert_eq!(st.rtp.cumulative_lost(), 9);
    assert_eq!(st.rtp.jitter(), 0);
    assert_eq!(st.ssrc, Some(7));
    // A new SSRC (the phone restarted its stream) restarts the RFC 3550 statistics.
    s.on_packet(Leg::A, addr(PHONE_A), &rtp(5000, 99, 8), now);
    let st = s.stats(Leg::A);
    assert_eq!((st.ssrc_changes, st.ssrc), (1, Some(8)));
    assert_eq!(st.rtp.received(), 1);
    assert_eq!(st.rtp.cumulative_lost(), 0);
}

#[test]
fn rtcp_muxed_and_separate() {
    let now = Instant::now();
    let mut s = RelaySession::new(
        RelayConfig::default(),
        LegConfig::new(Some(addr(PHONE_A)), true, 8000),
        LegConfig::new(Some(addr(PHONE_B)), false, 8000),
        now,
    );
    let sr = [0x80, 200, 0, 1, 0, 0, 0, 7];
    // A multiplexes: its RTCP goes to B's RTCP port (RTP + 1).
    assert_eq!(
        s.on_packet(Leg::A, addr(PHONE_A), &sr, now),
        Verdict::Forward {
            to: addr("203.0.113.5:30001"),
            from_leg: Leg::B
        }
    );
    assert_eq!(s.stats(Leg::A).rtcp_packets, 1);
    assert_eq!(s.stats(Leg::A).packets, 0);
    // A valid RTCP latched A.
    assert_eq!(s.latched(Leg::A), Some(addr(PHONE_A)));
    // B's RTCP (separate socket) goes to A's multiplexed RTP address.
    assert_eq!(
        s.on_rtcp(Leg::B, addr("203.0.113.5:30001"), &sr),
        Verdict::Forward {
            to: addr(PHONE_A),
            from_leg: Leg::A
        }
    );
    assert_eq!(
        s.on_rtcp(Leg::B, addr("203.0.113.5:30001"), &sr[..6]),
        Verdict::Drop(DropReason::Invalid(HeaderError::TooShort))
    );
}

#[test]
fn media_timeout_fires_once_and_hold_pauses_it() {
    let mut now = Instant::now();
    let mut s = session(false, now);
    assert_eq!(s.poll_timeout(), Some(now + TIMEOUT));
    now += Duration::from_secs(30);
    s.on_packet(Leg::A, addr(PHONE_A), &rtp(1, 0, 7), now);
    drain(&mut s);
    // Activity moved the deadline.
    assert_eq!(s.poll_timeout(), Some(now + TIMEOUT));
    s.handle_timeout(now + TIMEOUT - Duration::from_millis(1));
    assert_eq!(drain(&mut s), []);

    // Hold: no deadline however long the silence.
    s.set_hold(true, now);
    assert_eq!(s.poll_timeout(), None);
    now += Duration::from_secs(3600);
    s.handle_timeout(now);
    assert_eq!(drain(&mut s), []);
    // Resume: the timeout counts from the resume.
    s.set_hold(false, now);
    assert_eq!(s.poll_timeout(), Some(now + TIMEOUT));
    now += TIMEOUT;
    s.handle_timeout(now);
    assert_eq!(drain(&mut s), [RelayEvent::MediaTimeout]);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(now + TIMEOUT);
    assert_eq!(drain(&mut s), []);
    // Media coming back re-arms it.
    s.on_packet(Leg::B, addr(PHONE_B), &rtp(1, 0, 9), now);
    assert_eq!(s.poll_timeout(), Some(now + TIMEOUT));
}
