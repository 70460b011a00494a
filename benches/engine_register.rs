//! A REGISTER refresh through the whole sans-IO node: parse, RFC 3581 Via stamping, a new server
//! transaction, digest verification, the binding update, the 200 printed, and the timers that
//! retire old transactions. This is the per-message cost behind the sipp REGISTER rate.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use engine::{Engine, Inbound, Transport};

const LOCAL: &str = "127.0.0.1:5060";
const PEER: &str = "127.0.0.1:40000";

fn engine(auth: &str, algorithms: &str) -> Engine {
    let text = format!(
        "[sip]\nlisten = [\"udp:{LOCAL}\"]\ndomain = \"127.0.0.1\"\nauth = \"{auth}\"\n\
         digest_algorithms = [{algorithms}]\n\n[[users]]\nid = \"alice\"\nname = \"Alice\"\npassword = \"alice-pw\"\n"
    );
    let Ok(loaded) = config::parse_str(&text, Path::new("bench.toml")) else {
        unreachable!("valid config")
    };
    let Ok(engine) = Engine::from_config(&loaded.config, [7; 32], 1) else {
        unreachable!("valid registrar")
    };
    engine
}

fn register(cseq: u32, authorization: Option<&str>) -> Bytes {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    Bytes::from(format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-bench-{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=bench-from\r\n\
         To: <sip:alice@127.0.0.1>\r\n\
         Call-ID: bench-call@127.0.0.1\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:alice@127.0.0.1:40000;transport=udp>\r\n\
         Expires: 3600\r\n\
         User-Agent: bench\r\n\
         {auth}Content-Length: 0\r\n\r\n"
    ))
}

fn inbound(data: Bytes) -> Inbound {
    let (Ok(local), Ok(peer)) = (LOCAL.parse::<SocketAddr>(), PEER.parse::<SocketAddr>()) else {
        unreachable!("literal addresses")
    };
    Inbound {
        transport: Transport::Udp,
        local,
        peer,
        conn: None,
        data,
    }
}

fn challenge(engine: &mut Engine, now: Instant) -> String {
    engine.handle_inbound(inbound(register(1, None)), now);
    let Some(t) = engine.poll_transmit() else {
        unreachable!("a 401")
    };
    let text = String::from_utf8_lossy(&t.data).into_owned();
    let Some(line) = text.lines().find(|l| l.starts_with("WWW-Authenticate:")) else {
        unreachable!("a challenge")
    };
    line["WWW-Authenticate:".len()..].trim().to_string()
}

fn digest(c: &mut Criterion, name: &str, algorithm: &str) {
    let mut engine = engine("digest", algorithm);
    let mut now = Instant::now();
    let challenge = challenge(&mut engine, now);
    // One authenticated refresh first: the bench must measure 200s, not rejections.
    let Ok(auth) = registrar::build_authorization(
        &challenge,
        "alice",
        "alice-pw",
        "REGISTER",
        "sip:127.0.0.1",
        1,
        "0a4f113b",
    ) else {
        unreachable!("answerable challenge")
    };
    engine.handle_inbound(inbound(register(2, Some(&auth))), now);
    let answer = engine.poll_transmit().map(|t| t.data);
    assert!(
        answer
            .as_ref()
            .is_some_and(|d| d.starts_with(b"SIP/2.0 200")),
        "{answer:?}"
    );
    let mut nc = 2u32;
    c.bench_function(name, |b| {
        b.iter_batched(
            || {
                nc += 1;
                let Ok(auth) = registrar::build_authorization(
                    &challenge,
                    "alice",
                    "alice-pw",
                    "REGISTER",
                    "sip:127.0.0.1",
                    nc,
                    "0a4f113b",
                ) else {
                    unreachable!("answerable challenge")
                };
                inbound(register(nc + 1, Some(&auth)))
            },
            |msg| {
                now += Duration::from_micros(10);
                engine.handle_inbound(msg, now);
                engine.handle_timeout(now);
                black_box(engine.poll_transmit())
            },
            BatchSize::SmallInput,
        )
    });
}

fn benches(c: &mut Criterion) {
    digest(c, "engine_register_digest_md5", "\"MD5\"");
    digest(c, "engine_register_digest_sha256", "\"SHA-256\"");

    let mut engine = engine("none", "\"MD5\"");
    let mut now = Instant::now();
    let mut cseq = 0u32;
    c.bench_function("engine_register_no_auth", |b| {
        b.iter_batched(
            || {
                cseq += 1;
                inbound(register(cseq, None))
            },
            |msg| {
                now += Duration::from_micros(10);
                engine.handle_inbound(msg, now);
                engine.handle_timeout(now);
                black_box(engine.poll_transmit())
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(engine_register, benches);
criterion_main!(engine_register);
