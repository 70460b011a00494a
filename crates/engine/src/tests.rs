//! The node on a virtual clock: messages in, transmissions out, no sockets. Each test states one
//! rule of RFC 3261 (or RFC 3581) as the engine applies it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{Engine, Inbound, Transmit, Transport};

const PEER: &str = "192.0.2.7:40000";
const LOCAL: &str = "127.0.0.1:5060";

fn engine(extra: &str) -> Engine {
    let text = format!(
        "[sip]\nlisten = [\"udp:{LOCAL}\", \"tcp:{LOCAL}\"]\ndomain = \"127.0.0.1\"\n{extra}\n\n\
         [[users]]\nid = \"alice\"\npassword = \"alice-pw\"\n"
    );
    let loaded = config::parse_str(&text, Path::new("test.toml")).expect("valid config");
    Engine::from_config(&loaded.config, [9; 32], 7).expect("registrar")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn udp(data: &str) -> Inbound {
    Inbound {
        transport: Transport::Udp,
        local: addr(LOCAL),
        peer: addr(PEER),
        conn: None,
        data: Bytes::from(data.to_string()),
    }
}

fn request(method: &str, branch: &str, extra: &str) -> String {
    format!(
        "{method} sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=f1\r\nTo: <sip:alice@127.0.0.1>\r\n\
         Call-ID: call-{branch}\r\nCSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

fn drain(engine: &mut Engine) -> Vec<Transmit> {
    std::iter::from_fn(|| engine.poll_transmit()).collect()
}

fn text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.data).into_owned()
}

fn status(t: &Transmit) -> u16 {
    text(t).get(8..11).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn options_is_answered_where_it_came_from_with_rport_and_received() {
    let mut e = engine("");
    let now = Instant::now();
    e.handle_inbound(udp(&request("OPTIONS", "a", "")), now);
    let out = drain(&mut e);
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), 200);
    // RFC 3581: rport asked → the source port, received → the source IP.
    assert_eq!(out[0].dest, addr(PEER));
    let t = text(&out[0]);
    assert!(t.contains("received=192.0.2.7"), "{t}");
    assert!(t.contains("rport=40000"), "{t}");
    assert!(
        t.contains("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"),
        "{t}"
    );
}

#[test]
fn without_rport_the_answer_goes_to_the_via_port() {
    let mut e = engine("");
    let req = request("OPTIONS", "b", "").replace(";rport", "");
    e.handle_inbound(udp(&req), Instant::now());
    let out = drain(&mut e);
    assert_eq!(out[0].dest, addr("192.0.2.7:5062"));
}

#[test]
fn retransmission_gets_the_same_bytes_and_no_new_transaction() {
    let mut e = engine("");
    let now = Instant::now();
    let req = request("OPTIONS", "c", "");
    e.handle_inbound(udp(&req), now);
    let first = drain(&mut e);
    e.handle_inbound(udp(&req), now + Duration::from_millis(500));
    let again = drain(&mut e);
    assert_eq!(first, again);
    assert_eq!(e.stats().retransmissions, 1);
}

#[test]
fn invite_error_is_retransmitted_until_ack_then_absorbed() {
    let mut e = engine("");
    let mut now = Instant::now();
    let req = request("INVITE", "d", "");
    e.handle_inbound(udp(&req), now);
    let mut first = drain(&mut e);
    // 100 Trying at once, then the final answer: no trunk allows this source.
    assert_eq!(status(&first[0]), 100);
    first.remove(0);
    assert_eq!(status(&first[0]), 403);
    // Timer G: the 404 goes again after T1, then 2·T1 …
    now += Duration::from_millis(500);
    e.handle_timeout(now);
    assert_eq!(drain(&mut e), first);
    now += Duration::from_millis(1000);
    e.handle_timeout(now);
    assert_eq!(drain(&mut e), first);
    // The ACK (same branch, RFC 3261 §17.1.1.3) stops it.
    let to = text(&first[0])
        .lines()
        .find(|l| l.starts_with("To:"))
        .expect("To")
        .to_string();
    let ack = request("ACK", "d", "").replace("To: <sip:alice@127.0.0.1>", &to);
    e.handle_inbound(udp(&ack), now);
    assert!(drain(&mut e).is_empty(), "an ACK is never answered");
    for _ in 0..10 {
        now += Duration::from_secs(4);
        e.handle_timeout(now);
        assert!(drain(&mut e).is_empty(), "no retransmission after the ACK");
    }
}

#[test]
fn invite_error_without_ack_stops_at_timer_h() {
    let mut e = engine("");
    let mut now = Instant::now();
    e.handle_inbound(udp(&request("INVITE", "e", "")), now);
    // The 100 Trying is sent once and not retransmitted: count the final response only.
    let mut sent = drain(&mut e).iter().filter(|t| status(t) != 100).count();
    while let Some(next) = e.poll_timeout() {
        if next > now + Duration::from_secs(60) {
            break;
        }
        now = next;
        e.handle_timeout(now);
        sent += drain(&mut e).len();
    }
    // Sent at 0, then G at 0.5, 1.5, 3.5, 7.5, 11.5 … until H at 32 s (T2 caps G at 4 s).
    assert_eq!(sent, 11, "RFC 3261 Figure 7 with T1 = 500 ms, T2 = 4 s");
    assert!(e.is_idle());
}

#[test]
fn malformed_request_gets_400_with_the_reason() {
    let mut e = engine("");
    let req = request("OPTIONS", "f", "").replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS");
    e.handle_inbound(udp(&req), Instant::now());
    let out = drain(&mut e);
    assert_eq!(out.len(), 1);
    let t = text(&out[0]);
    assert!(t.starts_with("SIP/2.0 400 Bad CSeq\r\n"), "{t}");
    assert!(t.contains("received=192.0.2.7"), "{t}");
    assert_eq!(e.stats().bad_requests, 1);
}

#[test]
fn unparseable_bytes_are_dropped_and_counted() {
    let mut e = engine("");
    e.handle_inbound(udp("\u{1}\u{2} hello"), Instant::now());
    e.handle_inbound(udp("OPTIONS sip:x SIP/2.0\r\n\r\n"), Instant::now());
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.stats().dropped_unparseable, 2);
}

#[test]
fn other_sip_version_gets_505() {
    let mut e = engine("");
    let req = request("OPTIONS", "g", "").replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1);
    e.handle_inbound(udp(&req), Instant::now());
    let out = drain(&mut e);
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), 505);
}

#[test]
fn rule_table() {
    // (what, request, expected status)
    let cases: Vec<(&str, String, u16)> = vec![
        ("unknown method", request("FOO", "h1", ""), 501),
        (
            "Max-Forwards 0",
            request("MESSAGE", "h2", "").replace("Max-Forwards: 70", "Max-Forwards: 0"),
            483,
        ),
        (
            "im: scheme",
            request("OPTIONS", "h3", "").replacen("sip:127.0.0.1 SIP", "im:alice@127.0.0.1 SIP", 1),
            416,
        ),
        (
            "unsupported Require",
            request("OPTIONS", "h4", "Require: 100rel, foo\r\n"),
            420,
        ),
        ("CANCEL without INVITE", request("CANCEL", "h5", ""), 481),
        ("BYE outside a dialog", request("BYE", "h6", ""), 481),
        ("MESSAGE to no line", request("MESSAGE", "h7", ""), 404),
        (
            "INVITE to a user from no trunk",
            request("INVITE", "h8", "").replacen("sip:127.0.0.1 SIP", "sip:alice@127.0.0.1 SIP", 1),
            403,
        ),
        (
            "INVITE to nobody from no trunk: 403 first",
            request("INVITE", "h9", "").replacen("sip:127.0.0.1 SIP", "sip:zed@127.0.0.1 SIP", 1),
            403,
        ),
        (
            "REGISTER without credentials",
            request("REGISTER", "h10", "Contact: <sip:alice@10.0.0.1>\r\n"),
            401,
        ),
        (
            "our own Via below the top",
            request("OPTIONS", "h11", "").replacen(
                "Max-Forwards",
                "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsb1234\r\nMax-Forwards",
                1,
            ),
            482,
        ),
    ];
    for (what, req, expected) in cases {
        let mut e = engine("");
        e.handle_inbound(udp(&req), Instant::now());
        // An INVITE also gets its 100 Trying first.
        let out: Vec<Transmit> = drain(&mut e)
            .into_iter()
            .filter(|t| status(t) != 100)
            .collect();
        assert_eq!(out.len(), 1, "{what}");
        assert_eq!(status(&out[0]), expected, "{what}: {}", text(&out[0]));
    }
}

#[test]
fn unsupported_require_is_listed_in_unsupported() {
    let mut e = engine("");
    e.handle_inbound(
        udp(&request("OPTIONS", "i", "Require: foo\r\n")),
        Instant::now(),
    );
    let t = text(&drain(&mut e)[0]);
    assert!(t.contains("Unsupported: foo"), "{t}");
}

#[test]
fn merged_request_is_482() {
    let mut e = engine("");
    let now = Instant::now();
    e.handle_inbound(udp(&request("OPTIONS", "j1", "")), now);
    assert_eq!(status(&drain(&mut e)[0]), 200);
    // Same From tag, Call-ID and CSeq, another branch: the same request by another path.
    let merged = request("OPTIONS", "j2", "").replace("call-j2", "call-j1");
    e.handle_inbound(udp(&merged), now);
    assert_eq!(status(&drain(&mut e)[0]), 482);
    // Long after, the memory has expired: the same tuple is a new request again.
    let later = now + Duration::from_secs(70);
    e.handle_timeout(later);
    let fresh = request("OPTIONS", "j3", "").replace("call-j3", "call-j1");
    e.handle_inbound(udp(&fresh), later);
    assert_eq!(status(&drain(&mut e)[0]), 200);
}

#[test]
fn shutdown_refuses_new_requests_but_keeps_transactions() {
    let mut e = engine("");
    let now = Instant::now();
    let invite = request("INVITE", "k", "");
    e.handle_inbound(udp(&invite), now);
    let first = drain(&mut e);
    assert!(!e.is_idle(), "the 404 waits for its ACK");
    e.begin_shutdown();
    e.handle_inbound(udp(&request("OPTIONS", "k2", "")), now);
    let refused = drain(&mut e);
    assert_eq!(status(&refused[0]), 503);
    assert!(text(&refused[0]).contains("Retry-After:"));
    // The transaction in progress still answers its retransmissions (with its final answer).
    e.handle_inbound(udp(&invite), now);
    assert_eq!(drain(&mut e), first[1..]);
}

#[test]
fn tcp_answers_go_back_on_the_connection() {
    let mut e = engine("");
    let req = request("OPTIONS", "l", "").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let inbound = Inbound {
        transport: Transport::Tcp,
        conn: Some(crate::ConnId(42)),
        ..udp(&req)
    };
    e.handle_inbound(inbound, Instant::now());
    let out = drain(&mut e);
    assert_eq!(out[0].conn, Some(crate::ConnId(42)));
    assert_eq!(out[0].transport, Transport::Tcp);
    assert_eq!(out[0].dest, addr(PEER));
}

#[test]
fn register_digest_round_trip_through_the_engine() {
    let mut e = engine("digest_algorithms = [\"MD5\"]");
    let now = Instant::now();
    let contact = "Contact: <sip:alice@10.0.0.1:5062>\r\n";
    e.handle_inbound(udp(&request("REGISTER", "m1", contact)), now);
    let challenge = text(&drain(&mut e)[0]);
    let offer = challenge
        .lines()
        .find_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .expect("challenge")
        .to_string();
    let auth = registrar::build_authorization(
        &offer,
        "alice",
        "alice-pw",
        "REGISTER",
        "sip:127.0.0.1",
        1,
        "abc",
    )
    .expect("authorization");
    let second = request(
        "REGISTER",
        "m2",
        &format!("{contact}Authorization: {auth}\r\n"),
    )
    .replace("CSeq: 1", "CSeq: 2");
    e.handle_inbound(udp(&second), now);
    let ok = text(&drain(&mut e)[0]);
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert!(
        ok.contains("Contact: <sip:alice@10.0.0.1:5062>;expires=3600"),
        "{ok}"
    );
    assert_eq!(e.registrar().lookup("alice", now).len(), 1);
    assert_eq!(e.stats().registrations, 1);
    // The binding expires on the virtual clock.
    let later = now + Duration::from_secs(3601);
    e.handle_timeout(later);
    assert!(e.registrar().lookup("alice", later).is_empty());
}
