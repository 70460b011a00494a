//! The routing decision and a 3-way fork: first the pure machine (`routing`), then a whole call
//! through the sans-IO node (`engine`): INVITE in, three INVITEs out, 180 and 200 from one
//! agent, CANCELs to the two others with their 200/487 and ACKs, the caller answered and ACKed,
//! BYE both ways. No sockets: this is the CPU cost per call behind the sipp fork rate.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use engine::{Engine, Inbound, Transmit, Transport};
use routing::{decide, AgentPresence, CallId, CallRouting, CallSetup, ContactRef, Output, Source};

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
domain = "127.0.0.1"
auth = "none"
[[trunks]]
name = "carrier"
from = ["127.0.0.1/32"]
[[users]]
id = "agent1"
[[users]]
id = "agent2"
[[users]]
id = "agent3"
[[teams]]
id = "support"
members = ["agent1", "agent2", "agent3"]
[[numbers]]
number = "+33100000001"
steps = ["team:support"]
"#;

fn config() -> Arc<config::Config> {
    let Ok(loaded) = config::parse_str(CONFIG, Path::new("bench.toml")) else {
        unreachable!("valid config")
    };
    Arc::new(loaded.config)
}

fn routing_machine(c: &mut Criterion) {
    let config = config();
    let source = Source {
        addr: [127, 0, 0, 1].into(),
        user: None,
    };
    let wall = SystemTime::now();
    c.bench_function("routing_decide", |b| {
        b.iter(|| black_box(decide(&config, black_box("+33100000001"), source, wall)).status())
    });
    let presence = AgentPresence::new();
    let dir = presence.with_contacts(|u| vec![ContactRef::from(format!("sip:{u}@192.0.2.1"))]);
    let mut n = 0u64;
    c.bench_function("routing_fork_3_first_answer_wins", |b| {
        b.iter(|| {
            n += 1;
            let now = Instant::now();
            let Some(target) = decide(&config, "+33100000001", source, wall).target() else {
                unreachable!("routed")
            };
            let setup = CallSetup {
                id: CallId::new("bench"),
                now,
                wall,
                seed: n,
            };
            let Ok(mut call) = CallRouting::new(config.clone(), target, setup) else {
                unreachable!("valid")
            };
            call.start(now, &dir);
            let rung: Vec<_> = std::iter::from_fn(|| call.poll())
                .filter_map(|o| match o {
                    Output::Ring { branch, .. } => Some(branch),
                    _ => None,
                })
                .collect();
            call.on_provisional(rung[0], 180, now);
            call.on_answer(rung[1], now);
            for _ in std::iter::from_fn(|| call.poll()) {}
            call.on_failure(rung[0], 487, now, &dir);
            call.on_failure(rung[2], 487, now, &dir);
            black_box(std::iter::from_fn(|| call.poll()).count())
        })
    });
}

const LOCAL: &str = "127.0.0.1:5060";
const CALLER: &str = "127.0.0.1:40000";

fn agent_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 41000 + i as u16))
}

fn inbound(peer: SocketAddr, data: impl Into<Bytes>) -> Inbound {
    let Ok(local) = LOCAL.parse() else {
        unreachable!("literal")
    };
    Inbound {
        transport: Transport::Udp,
        local,
        peer,
        conn: None,
        data: data.into(),
    }
}

fn caller() -> SocketAddr {
    let Ok(a) = CALLER.parse() else {
        unreachable!("literal")
    };
    a
}

fn parse_request(t: &Transmit) -> sip_msg::Request {
    match sip_msg::parse(t.data.clone()) {
        Ok(sip_msg::Message::Request(r)) => r,
        other => unreachable!("the engine sent a request: {other:?}"),
    }
}

fn respond(req: &sip_msg::Request, status: u16, reason: &str, tag: &str, sdp: bool) -> Bytes {
    let mut resp = sip_msg::Response::for_request(req, status, reason);
    resp.set_to_tag(tag);
    if sdp {
        resp.headers
            .push(sip_msg::HeaderName::Contact, "<sip:agent@127.0.0.1:41001>");
        resp.set_body("application/sdp", Bytes::from_static(SDP));
    }
    resp.to_bytes()
}

const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n";

fn invite(n: u64) -> String {
    let sdp = std::str::from_utf8(SDP).unwrap_or_default();
    format!(
        "INVITE sip:+33100000001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-c{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: \"Jeanne\" <sip:+33612345678@127.0.0.1>;tag=caller{n}\r\nTo: <sip:+33100000001@127.0.0.1>\r\n\
         Call-ID: bench-{n}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:+33612345678@{CALLER}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        SDP.len()
    )
}

/// One whole call through the engine; returns how many messages it sent.
fn one_call(engine: &mut Engine, n: u64, now: Instant) -> usize {
    let mut sent = 0;
    let mut out = |engine: &mut Engine| -> Vec<Transmit> {
        let v: Vec<Transmit> = std::iter::from_fn(|| engine.poll_transmit()).collect();
        sent += v.len();
        v
    };
    engine.handle_inbound(inbound(caller(), invite(n)), now);
    let invites: Vec<(SocketAddr, sip_msg::Request)> = out(engine)
        .into_iter()
        .filter(|t| t.dest != caller())
        .map(|t| (t.dest, parse_request(&t)))
        .collect();
    assert_eq!(invites.len(), 3, "three agents rung; {:?}", engine.stats());
    for (dest, req) in &invites {
        engine.handle_inbound(
            inbound(*dest, respond(req, 180, "Ringing", "a", false)),
            now,
        );
    }
    let (win_addr, win_req) = &invites[0];
    engine.handle_inbound(
        inbound(*win_addr, respond(win_req, 200, "OK", "a", true)),
        now,
    );
    // ACK to the winner, CANCEL to the others, 180 and 200 to the caller.
    let burst = out(engine);
    let mut caller_ok = None;
    for t in &burst {
        if t.dest == caller() && t.data.starts_with(b"SIP/2.0 200") {
            caller_ok = Some(t.data.clone());
        }
        if t.dest != caller() && t.data.starts_with(b"CANCEL") {
            let cancel = parse_request(t);
            engine.handle_inbound(
                inbound(t.dest, respond(&cancel, 200, "OK", "a", false)),
                now,
            );
            let inv = invites.iter().find(|(d, _)| *d == t.dest).map(|(_, r)| r);
            if let Some(inv) = inv {
                engine.handle_inbound(
                    inbound(t.dest, respond(inv, 487, "Request Terminated", "a", false)),
                    now,
                );
            }
        }
    }
    let Some(ok) = caller_ok else {
        unreachable!("caller answered")
    };
    let text = String::from_utf8_lossy(&ok);
    let to = text
        .lines()
        .find(|l| l.starts_with("To:"))
        .unwrap_or_default()
        .to_string();
    let ack = format!(
        "ACK sip:+33100000001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-a{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: \"Jeanne\" <sip:+33612345678@127.0.0.1>;tag=caller{n}\r\n{to}\r\n\
         Call-ID: bench-{n}@127.0.0.1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    engine.handle_inbound(inbound(caller(), ack), now);
    let bye = format!(
        "BYE sip:switchboard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-b{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: \"Jeanne\" <sip:+33612345678@127.0.0.1>;tag=caller{n}\r\n{to}\r\n\
         Call-ID: bench-{n}@127.0.0.1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    engine.handle_inbound(inbound(caller(), bye), now);
    for t in out(engine) {
        if t.dest != caller() && t.data.starts_with(b"BYE") {
            let bye = parse_request(&t);
            engine.handle_inbound(inbound(t.dest, respond(&bye, 200, "OK", "a", false)), now);
        }
    }
    out(engine);
    sent
}

fn engine_fork(c: &mut Criterion) {
    let Ok(mut engine) = Engine::from_config(&config(), [3; 32], 9) else {
        unreachable!("valid")
    };
    let mut now = Instant::now();
    engine.set_wall_clock(now, SystemTime::now());
    for i in 1..=3 {
        let reg = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK-r{i};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:agent{i}@127.0.0.1>;tag=r{i}\r\nTo: <sip:agent{i}@127.0.0.1>\r\nCall-ID: reg{i}\r\n\
             CSeq: 1 REGISTER\r\nContact: <sip:agent{i}@{a}>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
            a = agent_addr(i)
        );
        engine.handle_inbound(inbound(agent_addr(i), reg), now);
        while engine.poll_transmit().is_some() {}
    }
    // A warm-up call checks the flow, then the bench.
    assert!(one_call(&mut engine, 0, now) >= 10);
    let mut n = 0u64;
    c.bench_function("engine_call_fork_3_answer_bye", |b| {
        b.iter(|| {
            n += 1;
            now += Duration::from_micros(100);
            engine.handle_timeout(now);
            black_box(one_call(&mut engine, n, now))
        })
    });
}

criterion_group!(benches, routing_machine, engine_fork);
criterion_main!(benches);
