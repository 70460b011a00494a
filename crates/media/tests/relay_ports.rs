//! The RTP port allocator on loopback: even pairs, exhaustion, busy ports skipped, no leaks.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use media::ports::{PortAllocator, PortError};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A range of `pairs` pairs where nothing is bound right now (ports picked by the OS, then
/// released, so the test does not depend on fixed numbers being free).
fn free_range(pairs: u16) -> std::ops::RangeInclusive<u16> {
    for _ in 0..50 {
        let probe = UdpSocket::bind((LOCAL, 0)).expect("bind probe");
        let port = probe.local_addr().expect("addr").port() & !1;
        drop(probe);
        let Some(end) = port.checked_add(2 * pairs - 1) else {
            continue;
        };
        let all_free = (port..=end).all(|p| UdpSocket::bind((LOCAL, p)).is_ok());
        if all_free {
            return port..=end;
        }
    }
    panic!("no free port range on loopback");
}

#[test]
fn allocates_bound_even_pairs_until_exhausted() {
    let range = free_range(4);
    let alloc = PortAllocator::new(LOCAL, range.clone()).expect("valid range");
    let pairs: Vec<_> = (0..4)
        .map(|_| alloc.allocate().expect("a free pair"))
        .collect();
    let mut seen = HashSet::new();
    for pair in &pairs {
        let port = pair.rtp_port();
        assert_eq!(port % 2, 0);
        assert!(range.contains(&port) && range.contains(&(port + 1)));
        assert!(seen.insert(port), "port {port} handed out twice");
        assert_eq!(pair.rtp.local_addr().expect("addr").port(), port);
        assert_eq!(pair.rtcp.local_addr().expect("addr").port(), port + 1);
    }
    assert!(matches!(
        alloc.allocate(),
        Err(PortError::Exhausted { leased: 4, .. })
    ));
    drop(pairs);
    assert_eq!(alloc.leased(), 0);
    assert_eq!(alloc.free(), 4);
}

#[test]
fn a_busy_pair_is_skipped_and_kept_for_later() {
    let range = free_range(3);
    let start = *range.start();
    // Someone else holds the RTCP port of the first pair.
    let squatter = UdpSocket::bind((LOCAL, start + 1)).expect("bind squatter");
    let alloc = PortAllocator::new(LOCAL, range).expect("valid range");
    let first = alloc.allocate().expect("the second pair");
    assert_eq!(first.rtp_port(), start + 2);
    // The RTP port of the skipped pair was not left bound.
    assert!(UdpSocket::bind((LOCAL, start)).is_ok());
    let second = alloc.allocate().expect("the third pair");
    assert_eq!(second.rtp_port(), start + 4);
    let err = alloc.allocate();
    assert!(matches!(
        err,
        Err(PortError::Exhausted {
            leased: 2,
            last_bind_error: Some(_)
        })
    ));
    drop(squatter);
    let third = alloc.allocate().expect("the first pair, now free");
    assert_eq!(third.rtp_port(), start);
}

#[test]
fn no_leak_over_many_cycles() {
    let range = free_range(8);
    let alloc = PortAllocator::new(LOCAL, range).expect("valid range");
    let mut held = Vec::new();
    for round in 0..2000usize {
        // Hold up to 8, releasing in a shifting order.
        if held.len() == 8 || (round % 3 == 0 && !held.is_empty()) {
            held.remove(round % held.len());
        }
        let lease = alloc.lease().expect("a free pair");
        assert!(
            held.iter()
                .all(|h: &media::ports::PortLease| h.rtp_port() != lease.rtp_port()),
            "pair leased twice"
        );
        held.push(lease);
        assert_eq!(alloc.leased(), held.len());
        assert_eq!(alloc.free() + alloc.leased(), 8);
    }
    // Binding cycles too: every pair can still be bound after churn.
    held.clear();
    for _ in 0..200 {
        let pair = alloc.allocate().expect("bindable pair");
        drop(pair);
    }
    assert_eq!(alloc.leased(), 0);
    let all: Vec<_> = (0..8).map(|_| alloc.allocate().expect("pair")).collect();
    assert_eq!(all.len(), 8);
}
