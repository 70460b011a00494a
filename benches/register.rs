//! Criterion benches of the REGISTER hot paths: a digest-authenticated refresh (one SHA-256
//! or MD5 verification, one HMAC nonce check, one binding update) and an unauthenticated one.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use registrar::{
    build_authorization, AuthMode, ContactIn, ContactsIn, RegisterOutcome, RegisterRequest,
    Registrar, RegistrarConfig, UserCredential,
};

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const RURI: &str = "sip:example.com";
const CONTACT: &str = "sip:alice@192.0.2.10:5062;transport=udp";

fn contact() -> [ContactIn<'static>; 1] {
    [ContactIn {
        uri: CONTACT,
        expires: Some(3600),
        q: None,
        instance: None,
        reg_id: None,
        raw: "<sip:alice@192.0.2.10:5062;transport=udp>;expires=3600",
    }]
}

fn request<'a>(
    auth: &'a [&'a str],
    contacts: &'a [ContactIn<'a>],
    cseq: u32,
) -> RegisterRequest<'a> {
    RegisterRequest {
        aor_user: "alice",
        request_uri: RURI,
        authorization: auth,
        source_ip: IP,
        call_id: "bench-call",
        cseq,
        contacts: ContactsIn::List(contacts),
        expires_header: None,
        transport: "udp",
        received: SocketAddr::new(IP, 5062),
        user_agent: Some("bench/1.0"),
    }
}

fn users() -> Vec<UserCredential> {
    (0..1000)
        .map(|i| UserCredential::new(format!("user{i}"), "pw"))
        .chain([UserCredential::new("alice", "alice-pw")])
        .collect()
}

fn digest_refresh(c: &mut Criterion, name: &str, pick: usize) {
    let mut r = Registrar::new(RegistrarConfig::new("example.com"), users(), [7; 32])
        .expect("valid config");
    let now = Instant::now();
    let contacts = contact();
    let first = r.handle_register(&request(&[], &contacts, 1), now);
    let RegisterOutcome::Challenge { headers } = first else {
        panic!("expected a challenge");
    };
    let challenge = headers[pick].clone();
    let mut nc = 0u32;
    c.bench_function(name, |b| {
        b.iter_batched(
            || {
                nc += 1;
                let auth = build_authorization(
                    &challenge, "alice", "alice-pw", "REGISTER", RURI, nc, "0a4f113b",
                )
                .expect("answerable");
                (auth, nc + 1)
            },
            |(auth, cseq)| {
                let auths = [auth.as_str()];
                let out = r.handle_register(&request(&auths, &contacts, cseq), now);
                debug_assert_eq!(out.status(), 200);
                black_box(out)
            },
            BatchSize::SmallInput,
        )
    });
}

fn benches(c: &mut Criterion) {
    digest_refresh(c, "register_refresh_digest_sha256", 0);
    digest_refresh(c, "register_refresh_digest_md5", 1);

    let mut cfg = RegistrarConfig::new("example.com");
    cfg.auth = AuthMode::None;
    let mut r = Registrar::new(cfg, users(), [7; 32]).expect("valid config");
    let now = Instant::now();
    let contacts = contact();
    let mut cseq = 0u32;
    c.bench_function("register_refresh_no_auth", |b| {
        b.iter(|| {
            cseq += 1;
            black_box(r.handle_register(&request(&[], &contacts, cseq), now))
        })
    });
    c.bench_function("lookup_one_user", |b| {
        b.iter(|| black_box(r.lookup(black_box("alice"), now + Duration::from_secs(1))))
    });
}

criterion_group!(register, benches);
criterion_main!(register);
