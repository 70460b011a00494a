//! The relay task on loopback: two UDP "phones" talk through it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use media::ports::PortAllocator;
use media::relay::io::{OpenSession, RelayHandle, RelayIoConfig};
use media::relay::{Leg, LegConfig, RelayConfig, RelayEvent};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Bound on every wait, so a broken relay fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    // A payload that differs per packet, to check it arrives unchanged.
    p.extend((0..160u16).map(|i| (i as u8) ^ (seq as u8)));
    p
}

async fn recv(sock: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 2048];
    let (n, from) = timeout(PATIENCE, sock.recv_from(&mut buf))
        .await
        .expect("packet within the test's patience")
        .expect("recv");
    buf.truncate(n);
    (buf, from)
}

fn allocator() -> PortAllocator {
    // Any even range; pairs that are busy on this machine are skipped by the allocator.
    PortAllocator::new(LOCAL, 41000..=41999).expect("valid range")
}

#[tokio::test]
async fn two_phones_exchange_500_packets_each_way() {
    let ports = allocator();
    let (relay, mut events) = RelayHandle::spawn(RelayIoConfig::default()).expect("spawn");
    let phone_a = UdpSocket::bind((LOCAL, 0)).await.expect("bind a");
    let phone_b = UdpSocket::bind((LOCAL, 0)).await.expect("bind b");
    // Phone A is "behind NAT": its SDP announces another port than the one it sends from.
    let a_sdp = SocketAddr::new(LOCAL, 9);
    let b_addr = phone_b.local_addr().expect("addr");
    let a_pair = ports.allocate().expect("pair for A");
    let b_pair = ports.allocate().expect("pair for B");
    let relay_for_a = SocketAddr::new(LOCAL, a_pair.rtp_port());
    let relay_for_b = SocketAddr::new(LOCAL, b_pair.rtp_port());
    let id = relay
        .open(OpenSession::new(
            a_pair,
            b_pair,
            LegConfig::new(Some(a_sdp), false, 8000),
            LegConfig::new(Some(b_addr), false, 8000),
            RelayConfig {
                latch_any_first: true,
                media_timeout: Duration::from_millis(300),
            },
        ))
        .await
        .expect("open");
    assert_eq!(ports.leased(), 2);

    for seq in 0..500u16 {
        phone_a
            .send_to(&rtp(seq, 0xaaaa), relay_for_a)
            .await
            .expect("send a");
        phone_b
            .send_to(&rtp(seq, 0xbbbb), relay_for_b)
            .await
            .expect("send b");
        let (at_b, from) = recv(&phone_b).await;
        assert_eq!(at_b, rtp(seq, 0xaaaa), "A→B packet {seq}");
        assert_eq!(from, relay_for_b, "B hears the relay's B-side address");
        let (at_a, from) = recv(&phone_a).await;
        assert_eq!(at_a, rtp(seq, 0xbbbb), "B→A packet {seq}");
        assert_eq!(from, relay_for_a);
    }

    // A stranger writes to A's relay port: dropped, counted, not delivered.
    let stranger = UdpSocket::bind((LOCAL, 0)).await.expect("bind stranger");
    stranger
        .send_to(&rtp(7, 0xdead), relay_for_a)
        .await
        .expect("send stranger");
    // A marker packet from A after it: B sees the marker, never the stranger's packet.
    phone_a
        .send_to(&rtp(500, 0xaaaa), relay_for_a)
        .await
        .expect("send a");
    let (next, _) = recv(&phone_b).await;
    assert_eq!(next, rtp(500, 0xaaaa));

    let stats = relay.stats(id).await.expect("stats");
    assert_eq!(stats.a.packets, 501);
    assert_eq!(stats.b.packets, 500);
    assert_eq!(stats.a.bytes, 501 * 172);
    assert_eq!(stats.a.strangers, 1);
    assert_eq!(stats.a.rtp.cumulative_lost(), 0);
    assert_eq!(stats.latched[0], Some(phone_a.local_addr().expect("addr")));
    assert_eq!(stats.latched[1], Some(b_addr));
    assert_eq!(stats.send_dropped + stats.send_errors, 0);

    // Latched events came first; then silence → media timeout.
    let mut latched = Vec::new();
    let timed_out = loop {
        let (ev_id, ev) = timeout(PATIENCE, events.recv())
            .await
            .expect("event within the test's patience")
            .expect("relay alive");
        assert_eq!(ev_id, id);
        match ev {
            RelayEvent::Latched { leg, addr } => latched.push((leg, addr)),
            RelayEvent::MediaTimeout => break true,
            other => panic!("no media work was asked for, got {other:?}"),
        }
    };
    assert!(timed_out);
    latched.sort_by_key(|(leg, _)| *leg == Leg::B);
    assert_eq!(
        latched,
        [
            (Leg::A, phone_a.local_addr().expect("addr")),
            (Leg::B, b_addr)
        ]
    );

    let last = relay.close(id).await.expect("closed session's stats");
    assert_eq!(last.a.packets, 501);
    assert_eq!(ports.leased(), 0, "ports return on close");
    assert!(relay.stats(id).await.is_none());
}

#[tokio::test]
async fn hold_pauses_the_media_timeout() {
    let ports = allocator();
    let (relay, mut events) = RelayHandle::spawn(RelayIoConfig::default()).expect("spawn");
    let open = |a, b| {
        OpenSession::new(
            a,
            b,
            LegConfig::new(None, true, 8000),
            LegConfig::new(None, true, 8000),
            RelayConfig {
                latch_any_first: true,
                media_timeout: Duration::from_millis(100),
            },
        )
    };
    let held = relay
        .open(open(
            ports.allocate().expect("pair"),
            ports.allocate().expect("pair"),
        ))
        .await
        .expect("open");
    relay.set_hold(held, true).await.expect("hold");
    let silent = relay
        .open(open(
            ports.allocate().expect("pair"),
            ports.allocate().expect("pair"),
        ))
        .await
        .expect("open");
    // Only the session not on hold times out.
    let (id, ev) = timeout(PATIENCE, events.recv())
        .await
        .expect("timeout event")
        .expect("relay alive");
    assert_eq!((id, ev), (silent, RelayEvent::MediaTimeout));
    relay.close(silent).await.expect("close");
    // Resuming re-arms the held one.
    relay.set_hold(held, false).await.expect("resume");
    let (id, ev) = timeout(PATIENCE, events.recv())
        .await
        .expect("timeout event")
        .expect("relay alive");
    assert_eq!((id, ev), (held, RelayEvent::MediaTimeout));
    relay.close(held).await.expect("close");
    assert_eq!(ports.leased(), 0);
}

/// Asks for a larger receive buffer, so a test's burst cannot overflow the kernel's default one
/// (a datagram costs more than its length there).
fn roomy(socket: &impl std::os::fd::AsRawFd) {
    let bytes: libc::c_int = 1 << 20;
    // SAFETY: the fd is open for the call; the option value is a c_int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUF");
}

#[tokio::test]
async fn a_burst_queued_before_the_relay_reads_is_forwarded_whole_and_in_order() {
    const BURST: u16 = 200;
    let ports = allocator();
    let (relay, _events) = RelayHandle::spawn(RelayIoConfig::default()).expect("spawn");
    // A blocking std socket: sending never yields, so on this single-threaded runtime the relay
    // task cannot read before the whole burst waits in its socket (several `recvmmsg` batches
    // and `sendmmsg` flushes, more than one epoll round's budget for the socket).
    let phone_a = std::net::UdpSocket::bind((LOCAL, 0)).expect("bind a");
    let phone_b = UdpSocket::bind((LOCAL, 0)).await.expect("bind b");
    roomy(&phone_b);
    let a_pair = ports.allocate().expect("pair for A");
    let b_pair = ports.allocate().expect("pair for B");
    roomy(&a_pair.rtp);
    let relay_for_a = SocketAddr::new(LOCAL, a_pair.rtp_port());
    let relay_for_b = SocketAddr::new(LOCAL, b_pair.rtp_port());
    let id = relay
        .open(OpenSession::new(
            a_pair,
            b_pair,
            LegConfig::new(Some(phone_a.local_addr().expect("addr")), false, 8000),
            LegConfig::new(Some(phone_b.local_addr().expect("addr")), false, 8000),
            RelayConfig {
                latch_any_first: false,
                media_timeout: Duration::from_secs(60),
            },
        ))
        .await
        .expect("open");

    for seq in 0..BURST {
        phone_a
            .send_to(&rtp(seq, 0xaaaa), relay_for_a)
            .expect("send a");
    }
    for seq in 0..BURST {
        let (at_b, from) = recv(&phone_b).await;
        assert_eq!(
            at_b,
            rtp(seq, 0xaaaa),
            "packet {seq} of the burst, in order"
        );
        assert_eq!(from, relay_for_b);
    }

    let stats = relay.close(id).await.expect("stats");
    assert_eq!(stats.a.packets, u64::from(BURST));
    assert_eq!(stats.a.rtp.cumulative_lost(), 0);
    assert_eq!(stats.send_dropped + stats.send_errors, 0);
    assert_eq!(ports.leased(), 0);
}
