//! End-to-end: the core SIP rules of the running daemon, by sipp scenarios and by raw messages
//! from our small UA (malformed bytes, retransmissions, TCP framing limits and keep-alives).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:{port}", "tcp:127.0.0.1:{port}"]
domain = "127.0.0.1"
tcp_max_connections = 4
tcp_idle_timeout = "2s"

# INVITEs are routed: a source no trunk allows gets 403 before any 404.
[[trunks]]
name = "local"
from = ["127.0.0.1/32"]

[[users]]
id = "alice"
name = "Alice Martin"
password = "alice-secret"
"#;

#[test]
fn sipp_core_answers_over_udp_and_tcp() {
    let daemon = Daemon::start(CONFIG);
    for transport in ["u1", "t1"] {
        for (scenario, what) in [
            ("options.xml", "OPTIONS → 200 with Allow and Accept"),
            ("unknown_method.xml", "unknown method → 501"),
            ("bad_scheme.xml", "im: Request-URI → 416"),
            ("max_forwards_zero.xml", "Max-Forwards: 0 → 483"),
            ("malformed.xml", "broken CSeq → 400"),
        ] {
            let out = sipp(scenario, daemon.addr(), transport, &[]);
            assert_sipp_ok(&out, &daemon, &format!("{what} ({transport})"));
        }
    }
}

#[test]
fn malformed_request_gets_400_naming_the_problem() {
    let daemon = Daemon::start(CONFIG);
    let mut ua = Ua::udp();
    let req = ua
        .request("OPTIONS", "sip:127.0.0.1", &[])
        .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    let resp = ua.transact(daemon.addr(), &req).expect("an answer");
    assert_eq!(status_code(&resp), 400, "{resp}");
    assert!(
        resp.lines()
            .next()
            .unwrap_or("")
            .to_lowercase()
            .contains("cseq"),
        "reason names CSeq: {resp}"
    );
}

#[test]
fn garbage_is_dropped_and_the_daemon_keeps_serving() {
    let daemon = Daemon::start(CONFIG);
    let mut ua = Ua::udp();
    for junk in [
        &b"\x00\x01\x02 not sip at all"[..],
        b"SIP/2.0 200 OK\r\n\r\n",
        b"INVITE\r\n\r\n",
        b"OPTIONS sip:x SIP/2.0\r\nVia: garbage\r\n\r\n",
        &[0xffu8; 1500][..],
    ] {
        ua.send_bytes(daemon.addr(), junk).expect("send");
    }
    // Nothing answers junk without a usable Via...
    assert_eq!(ua.recv(Duration::from_millis(300)), None);
    // ...and the daemon still answers a good request.
    let req = ua.request("OPTIONS", "sip:127.0.0.1", &[]);
    let resp = ua.transact(daemon.addr(), &req).expect("answer after junk");
    assert_eq!(status_code(&resp), 200, "{resp}");
}

#[test]
fn retransmitted_request_gets_the_same_response() {
    let daemon = Daemon::start(CONFIG);
    let mut ua = Ua::udp();
    let req = ua.request("OPTIONS", "sip:127.0.0.1", &[]);
    let first = ua.transact(daemon.addr(), &req).expect("first answer");
    let again = ua
        .transact(daemon.addr(), &req)
        .expect("answer to the retransmission");
    // Same transaction, same response: same To tag (a new transaction would draw a new one).
    assert_eq!(header(&first, "To"), header(&again, "To"));
    assert_eq!(first, again);
}

#[test]
fn via_gets_received_and_rport() {
    let daemon = Daemon::start(CONFIG);
    let mut ua = Ua::udp();
    // Claim another address in Via: the answer must still reach us (rport) and say where from.
    let req = ua
        .request("OPTIONS", "sip:127.0.0.1", &[])
        .replace(&format!("{};branch", ua.local), "192.0.2.9:5099;branch");
    let resp = ua.transact(daemon.addr(), &req).expect("answer via rport");
    let via = header(&resp, "Via").expect("Via");
    assert!(via.contains("received=127.0.0.1"), "{via}");
    assert!(via.contains(&format!("rport={}", ua.local.port())), "{via}");
}

#[test]
fn looped_request_gets_482() {
    let daemon = Daemon::start(CONFIG);
    let mut ua = Ua::udp();
    let ours = format!(
        "Via: SIP/2.0/UDP {};branch=z9hG4bKsbdeadbeef",
        daemon.addr()
    );
    let req = ua.request("OPTIONS", "sip:127.0.0.1", &[]);
    // Our Via goes below the UA's: the request passed through us before.
    let req = req.replacen("Max-Forwards", &format!("{ours}\r\nMax-Forwards"), 1);
    let resp = ua.transact(daemon.addr(), &req).expect("answer");
    assert_eq!(status_code(&resp), 482, "{resp}");
}

#[test]
fn tcp_keepalive_ping_gets_pong() {
    let daemon = Daemon::start(CONFIG);
    let mut stream = TcpStream::connect(daemon.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    stream.write_all(b"\r\n\r\n").expect("ping");
    let mut pong = [0u8; 2];
    stream.read_exact(&mut pong).expect("pong");
    assert_eq!(&pong, b"\r\n");
}

#[test]
fn tcp_oversized_message_closes_the_connection() {
    let daemon = Daemon::start(CONFIG);
    let mut stream = TcpStream::connect(daemon.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let head = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKbig\r\n\
                Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: big\r\nCSeq: 1 OPTIONS\r\n\
                Content-Length: 100000\r\n\r\n";
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&vec![b'x'; 100_000]);
    let mut buf = [0u8; 1024];
    // The daemon closes the connection instead of buffering 100 kB: read returns 0 (or a reset).
    let n = stream.read(&mut buf).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "expected close, got {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn tcp_idle_connection_is_closed() {
    let daemon = Daemon::start(CONFIG);
    let mut stream = TcpStream::connect(daemon.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    // tcp_idle_timeout is 2 s in this config; the read ends with the close.
    let n = stream.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
}

#[test]
fn tcp_connection_limit_holds_and_frees() {
    let daemon = Daemon::start(CONFIG);
    // tcp_max_connections = 4: hold four, the fifth is closed at once.
    let mut held: Vec<Ua> = (0..4).map(|_| Ua::tcp(daemon.addr())).collect();
    for ua in held.iter_mut() {
        let req = ua.request("OPTIONS", "sip:127.0.0.1", &[]);
        assert_eq!(
            ua.transact(daemon.addr(), &req).map(|r| status_code(&r)),
            Some(200)
        );
    }
    let mut fifth = Ua::tcp(daemon.addr());
    let req = fifth.request("OPTIONS", "sip:127.0.0.1", &[]);
    let _ = fifth.send_to(daemon.addr(), &req);
    assert_eq!(
        fifth.recv(Duration::from_secs(2)),
        None,
        "the fifth connection is refused"
    );
    drop(held);
    // Freed slots are reusable (the daemon notices the closes).
    let mut ok = false;
    for _ in 0..20 {
        let mut again = Ua::tcp(daemon.addr());
        let req = again.request("OPTIONS", "sip:127.0.0.1", &[]);
        if again.transact(daemon.addr(), &req).map(|r| status_code(&r)) == Some(200) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "a connection is accepted again once others closed");
}

#[test]
fn invite_to_nobody_is_404() {
    let daemon = Daemon::start(CONFIG);
    let mut ua = Ua::udp();
    let req = ua.request("INVITE", "sip:+33999999999@127.0.0.1", &[]);
    let resp = ua.transact(daemon.addr(), &req).expect("answer");
    assert_eq!(status_code(&resp), 404, "{resp}");
    // An INVITE's non-2xx final response is retransmitted until ACKed (Timer G): ACK it.
    let ack = format!(
        "ACK sip:+33999999999@127.0.0.1 SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        header(&req, "Via").unwrap_or_default(),
        header(&resp, "From").unwrap_or_default(),
        header(&resp, "To").unwrap_or_default(),
        ua.call_id
    );
    ua.send_to(daemon.addr(), &ack).expect("ACK");
    // After the ACK, no more retransmissions arrive (Timer G stopped).
    std::thread::sleep(Duration::from_millis(200));
    while ua.recv(Duration::from_millis(50)).is_some() {}
    assert_eq!(
        ua.recv(Duration::from_millis(1200)),
        None,
        "response retransmitted after ACK"
    );
}
