//! Registrar behaviour, driven with a virtual clock.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::*;

const SECRET: [u8; 32] = [42; 32];
const REALM: &str = "example.com";
const RURI: &str = "sip:example.com";
const IP_A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const IP_B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

fn users() -> Vec<UserCredential> {
    vec![
        UserCredential::new("alice", "alice-pw"),
        UserCredential::new("bob", "bob-pw"),
    ]
}

fn digest_registrar(tweak: impl FnOnce(&mut RegistrarConfig)) -> Registrar {
    let mut cfg = RegistrarConfig::new(REALM);
    tweak(&mut cfg);
    Registrar::new(cfg, users(), SECRET).expect("valid config")
}

fn open_registrar(tweak: impl FnOnce(&mut RegistrarConfig)) -> Registrar {
    digest_registrar(|c| {
        c.auth = AuthMode::None;
        tweak(c);
    })
}

fn addr() -> SocketAddr {
    SocketAddr::new(IP_A, 5062)
}

fn contact(uri: &str) -> ContactIn<'_> {
    ContactIn {
        uri,
        expires: None,
        q: None,
        instance: None,
        reg_id: None,
        raw: uri,
    }
}

fn request<'a>(
    user: &'a str,
    call_id: &'a str,
    cseq: u32,
    contacts: ContactsIn<'a>,
) -> RegisterRequest<'a> {
    RegisterRequest {
        aor_user: user,
        request_uri: RURI,
        authorization: &[],
        source_ip: IP_A,
        call_id,
        cseq,
        contacts,
        expires_header: None,
        transport: "udp",
        received: addr(),
        user_agent: Some("test-phone/1.0"),
    }
}

fn challenge_headers(out: &RegisterOutcome) -> &[String] {
    match out {
        RegisterOutcome::Challenge { headers } => headers,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

fn ok_bindings(out: RegisterOutcome) -> Vec<BindingView> {
    match out {
        RegisterOutcome::Ok { bindings } => bindings,
        other => panic!("expected 200, got {other:?}"),
    }
}

fn is_stale(out: &RegisterOutcome) -> bool {
    challenge_headers(out)
        .iter()
        .all(|h| parse_challenge(h).expect("our challenge parses").stale)
}

/// A phone: keeps its Call-ID, CSeq, last challenge and nonce count.
struct Ua {
    user: &'static str,
    password: &'static str,
    call_id: &'static str,
    cseq: u32,
    nc: u32,
    ip: IpAddr,
    challenge: Option<String>,
    /// Which offered challenge to answer (0 = SHA-256, 1 = MD5 with the default config).
    pick: usize,
}

impl Ua {
    fn new(user: &'static str, password: &'static str) -> Self {
        Self {
            user,
            password,
            call_id: "ua-call-1",
            cseq: 0,
            nc: 0,
            ip: IP_A,
            challenge: None,
            pick: 0,
        }
    }

    /// The Authorization value for the next request, if a challenge is known.
    fn next_authorization(&mut self) -> Option<String> {
        let ch = self.challenge.as_ref()?;
        self.nc += 1;
        Some(
            build_authorization(
                ch,
                self.user,
                self.password,
                "REGISTER",
                RURI,
                self.nc,
                "0a4f113b",
            )
            .expect("our challenge is answerable"),
        )
    }

    /// Sends one REGISTER (with credentials if a challenge is known).
    fn send(
        &mut self,
        r: &mut Registrar,
        contacts: ContactsIn<'_>,
        expires: Option<u32>,
        now: Instant,
    ) -> RegisterOutcome {
        self.cseq += 1;
        let auth = self.next_authorization();
        let auths: Vec<&str> = auth.iter().map(String::as_str).collect();
        let mut req = request(self.user, self.call_id, self.cseq, contacts);
        req.authorization = &auths;
        req.source_ip = self.ip;
        req.received = SocketAddr::new(self.ip, 5062);
        req.expires_header = expires;
        r.handle_register(&req, now)
    }

    /// Sends a REGISTER and answers one 401 (initial or stale), like a phone does.
    fn register(
        &mut self,
        r: &mut Registrar,
        contacts: ContactsIn<'_>,
        expires: Option<u32>,
        now: Instant,
    ) -> RegisterOutcome {
        let out = self.send(r, contacts, expires, now);
        if let RegisterOutcome::Challenge { headers } = &out {
            self.challenge = Some(headers[self.pick].clone());
            self.nc = 0;
            return self.send(r, contacts, expires, now);
        }
        out
    }
}

// ---------------------------------------------------------------- digest authentication

#[test]
fn challenge_then_correct_sha256_response_registers() {
    let mut r = digest_registrar(|_| {});
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10:5062")];
    let mut ua = Ua::new("alice", "alice-pw");

    let first = ua.send(&mut r, ContactsIn::List(&c), None, now);
    assert_eq!(first.status(), 401);
    let headers = challenge_headers(&first);
    assert_eq!(headers.len(), 2, "one challenge per algorithm");
    let sha = parse_challenge(&headers[0]).expect("parses");
    let md5 = parse_challenge(&headers[1]).expect("parses");
    assert_eq!(sha.algorithm.as_deref(), Some("SHA-256"), "preferred first");
    assert_eq!(md5.algorithm.as_deref(), Some("MD5"));
    assert_eq!(sha.realm, REALM);
    assert_eq!(sha.qop.as_deref(), Some("auth"));
    assert_eq!(sha.nonce, md5.nonce);
    assert!(!sha.stale);
    assert_eq!(r.binding_count(), 0);

    let out = ua.register(&mut r, ContactsIn::List(&c), None, now);
    let bindings = ok_bindings(out);
    assert_eq!(bindings.len(), 1);
    assert_eq!(&*bindings[0].uri, "sip:alice@192.0.2.10:5062");
    assert_eq!(bindings[0].expires, 3600);

    let found = r.lookup("alice", now);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].received, addr());
    assert_eq!(found[0].transport, "udp");
    assert_eq!(found[0].call_id, "ua-call-1");
    assert_eq!(found[0].user_agent.as_deref(), Some("test-phone/1.0"));
    assert_eq!(found[0].expires_at, now + Duration::from_secs(3600));
}

#[test]
fn md5_response_registers_too() {
    let mut r = digest_registrar(|_| {});
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut ua = Ua::new("alice", "alice-pw");
    ua.pick = 1;
    let out = ua.register(&mut r, ContactsIn::List(&c), None, now);
    assert_eq!(out.status(), 200);
    assert!(ua
        .challenge
        .as_deref()
        .is_some_and(|c| c.contains("algorithm=MD5")));
}

#[test]
fn sess_algorithms_verify_when_configured() {
    let mut r =
        digest_registrar(|c| c.algorithms = vec![Algorithm::Sha256Sess, Algorithm::Md5Sess]);
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    for pick in [0, 1] {
        let mut ua = Ua::new("alice", "alice-pw");
        ua.call_id = if pick == 0 { "sess-a" } else { "sess-b" };
        ua.pick = pick;
        assert_eq!(
            ua.register(&mut r, ContactsIn::List(&c), None, now)
                .status(),
            200
        );
    }
}

#[test]
fn follow_up_registers_reuse_the_nonce_with_a_higher_nc() {
    let mut r = digest_registrar(|_| {});
    let mut now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut ua = Ua::new("alice", "alice-pw");
    assert_eq!(
        ua.register(&mut r, ContactsIn::List(&c), None, now)
            .status(),
        200
    );
    now += Duration::from_secs(60);
    // No new 401: the cached challenge with nc=2 is accepted directly.
    assert_eq!(
        ua.send(&mut r, ContactsIn::List(&c), None, now).status(),
        200
    );
    assert_eq!(ua.nc, 2);
}

#[test]
fn wrong_password_and_unknown_user_are_indistinguishable() {
    let mut r = digest_registrar(|c| c.failure_limit = 2);
    let now = Instant::now();
    let c = [contact("sip:x@192.0.2.10")];

    let mut wrong = Ua::new("alice", "not-the-password");
    let a = wrong.register(&mut r, ContactsIn::List(&c), None, now);
    let mut ghost = Ua::new("mallory", "whatever");
    let b = ghost.register(&mut r, ContactsIn::List(&c), None, now);

    // Same variant, same status, same headers apart from the fresh nonce.
    let strip_nonce = |out: &RegisterOutcome| -> Vec<String> {
        challenge_headers(out)
            .iter()
            .map(|h| {
                let nonce = parse_challenge(h).expect("parses").nonce.into_owned();
                h.replace(&nonce, "N")
            })
            .collect()
    };
    assert_eq!(a.status(), 401);
    assert_eq!(a.reason(), b.reason());
    assert_eq!(strip_nonce(&a), strip_nonce(&b));
    assert!(!is_stale(&a) && !is_stale(&b));
    // Both counted as failures: with a limit of 2 the source is now refused.
    let mut good = Ua::new("bob", "bob-pw");
    assert_eq!(
        good.register(&mut r, ContactsIn::List(&c), None, now),
        RegisterOutcome::RateLimited
    );
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn expired_nonce_with_right_password_gets_stale_true() {
    let mut r = digest_registrar(|_| {});
    let mut now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut ua = Ua::new("alice", "alice-pw");
    assert_eq!(
        ua.register(&mut r, ContactsIn::List(&c), None, now)
            .status(),
        200
    );

    now += Duration::from_secs(300);
    let out = ua.send(&mut r, ContactsIn::List(&c), None, now);
    assert_eq!(out.status(), 401);
    assert!(is_stale(&out));
    // The phone retries with the new nonce, no password prompt.
    ua.challenge = Some(challenge_headers(&out)[0].clone());
    ua.nc = 0;
    assert_eq!(
        ua.send(&mut r, ContactsIn::List(&c), None, now).status(),
        200
    );
}

#[test]
fn expired_nonce_with_wrong_password_is_a_plain_failure() {
    let mut r = digest_registrar(|c| c.failure_limit = 1);
    let mut now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut ua = Ua::new("alice", "alice-pw");
    assert_eq!(
        ua.register(&mut r, ContactsIn::List(&c), None, now)
            .status(),
        200
    );
    now += Duration::from_secs(301);
    ua.password = "wrong";
    let out = ua.send(&mut r, ContactsIn::List(&c), None, now);
    assert!(!is_stale(&out));
    assert_eq!(
        ua.send(&mut r, ContactsIn::List(&c), None, now),
        RegisterOutcome::RateLimited
    );
}

#[test]
fn replayed_nonce_count_is_a_failed_authentication() {
    let mut r = digest_registrar(|c| c.failure_limit = 1);
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut ua = Ua::new("alice", "alice-pw");
    let first = ua.send(&mut r, ContactsIn::List(&c), None, now);
    ua.challenge = Some(challenge_headers(&first)[0].clone());
    let captured = ua.next_authorization().expect("challenge known");
    let auths = [captured.as_str()];

    let mut req = request("alice", "ua-call-1", 2, ContactsIn::List(&c));
    req.authorization = &auths;
    assert_eq!(r.handle_register(&req, now).status(), 200);

    // Same credentials (same nonce, same nc) on a new CSeq: a replay.
    req.cseq = 3;
    let out = r.handle_register(&req, now);
    assert_eq!(out.status(), 401);
    assert!(!is_stale(&out));
    // It was counted.
    req.cseq = 4;
    assert_eq!(r.handle_register(&req, now), RegisterOutcome::RateLimited);
}

#[test]
fn forged_and_foreign_nonces_never_register() {
    let mut r = digest_registrar(|_| {});
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];

    // A nonce of our shape whose MAC is wrong, answered with the right password.
    let forged = format!(
        "Digest realm=\"{REALM}\", nonce=\"{}\", algorithm=SHA-256, qop=\"auth\"",
        "ab".repeat(32)
    );
    let mut ua = Ua::new("alice", "alice-pw");
    ua.challenge = Some(forged);
    let out = ua.send(&mut r, ContactsIn::List(&c), None, now);
    assert_eq!(out.status(), 401);
    assert!(is_stale(&out), "right password: retry with a real nonce");
    assert_eq!(r.binding_count(), 0);

    // A nonce from another secret (e.g. the previous run of the daemon).
    let mut other = Registrar::new(RegistrarConfig::new(REALM), users(), [1; 32]).expect("valid");
    let mut ua = Ua::new("alice", "alice-pw");
    let foreign = ua.send(&mut other, ContactsIn::List(&c), None, now);
    ua.challenge = Some(challenge_headers(&foreign)[0].clone());
    let out = ua.send(&mut r, ContactsIn::List(&c), None, now);
    assert!(is_stale(&out));
    assert_eq!(r.binding_count(), 0);

    // A forged nonce with a wrong password is a failure, not stale.
    let mut ua = Ua::new("alice", "guess");
    ua.challenge = Some(format!(
        "Digest realm=\"{REALM}\", nonce=\"garbage\", algorithm=MD5, qop=\"auth\""
    ));
    let out = ua.send(&mut r, ContactsIn::List(&c), None, now);
    assert!(!is_stale(&out));
}

#[test]
fn rate_limit_kicks_in_after_n_failures_and_lifts_after_the_window() {
    let mut r = digest_registrar(|c| {
        c.failure_limit = 3;
        c.failure_window = Duration::from_secs(60);
    });
    let mut now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut attacker = Ua::new("alice", "guess");
    let first = attacker.send(&mut r, ContactsIn::List(&c), None, now);
    attacker.challenge = Some(challenge_headers(&first)[0].clone());
    for _ in 0..3 {
        let out = attacker.send(&mut r, ContactsIn::List(&c), None, now);
        assert_eq!(out.status(), 401, "asking for a challenge is not a failure");
        now += Duration::from_secs(1);
    }
    // Even the right password from that source is refused now, and no challenge is issued.
    let mut victim = Ua::new("alice", "alice-pw");
    assert_eq!(
        victim.register(&mut r, ContactsIn::List(&c), None, now),
        RegisterOutcome::RateLimited
    );
    assert_eq!(RegisterOutcome::RateLimited.status(), 403);
    // Another source is unaffected.
    let mut elsewhere = Ua::new("alice", "alice-pw");
    elsewhere.ip = IP_B;
    assert_eq!(
        elsewhere
            .register(&mut r, ContactsIn::List(&c), None, now)
            .status(),
        200
    );

    // The window opened at the first failure; it ends 60 s later.
    now += Duration::from_secs(56);
    assert_eq!(
        victim.send(&mut r, ContactsIn::List(&c), None, now),
        RegisterOutcome::RateLimited
    );
    now += Duration::from_secs(1);
    assert_eq!(
        victim
            .register(&mut r, ContactsIn::List(&c), None, now)
            .status(),
        200
    );
}

#[test]
fn success_does_not_reset_failure_counters() {
    let mut r = digest_registrar(|c| c.failure_limit = 2);
    let now = Instant::now();
    let c = [contact("sip:a@192.0.2.10")];
    let mut guesser = Ua::new("bob", "guess");
    assert_eq!(
        guesser
            .register(&mut r, ContactsIn::List(&c), None, now)
            .status(),
        401
    );
    let mut alice = Ua::new("alice", "alice-pw");
    assert_eq!(
        alice
            .register(&mut r, ContactsIn::List(&c), None, now)
            .status(),
        200
    );
    // One more failure from the same source reaches the limit despite alice's success.
    guesser.challenge = None;
    assert_eq!(
        guesser
            .register(&mut r, ContactsIn::List(&c), None, now)
            .status(),
        401
    );
    assert_eq!(
        alice.send(&mut r, ContactsIn::List(&c), None, now),
        RegisterOutcome::RateLimited
    );
}

#[test]
fn authenticated_user_may_only_register_their_own_aor() {
    let mut r = digest_registrar(|_| {});
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut ua = Ua::new("alice", "alice-pw");
    let first = ua.send(&mut r, ContactsIn::List(&c), None, now);
    ua.challenge = Some(challenge_headers(&first)[0].clone());
    let auth = ua.next_authorization().expect("known");
    let auths = [auth.as_str()];
    let mut req = request("bob", "x", 1, ContactsIn::List(&c));
    req.authorization = &auths;
    assert_eq!(r.handle_register(&req, now), RegisterOutcome::Forbidden);
    assert_eq!(r.lookup("bob", now).len(), 0);
}

#[test]
fn malformed_authorization_is_400_and_not_counted() {
    let mut r = digest_registrar(|c| c.failure_limit = 1);
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let bad = ["Digest username=\"alice"];
    let mut req = request("alice", "x", 1, ContactsIn::List(&c));
    req.authorization = &bad;
    let out = r.handle_register(&req, now);
    assert_eq!(out, RegisterOutcome::BadRequest("Malformed Authorization"));
    assert_eq!(out.status(), 400);
    req.authorization = &[];
    req.cseq = 2;
    assert_eq!(
        r.handle_register(&req, now).status(),
        401,
        "not rate limited"
    );
}

#[test]
fn credentials_for_another_realm_or_scheme_are_ignored() {
    let mut r = digest_registrar(|c| c.failure_limit = 1);
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut ua = Ua::new("alice", "alice-pw");
    let first = ua.send(&mut r, ContactsIn::List(&c), None, now);
    ua.challenge = Some(challenge_headers(&first)[0].clone());
    let ours = ua.next_authorization().expect("known");
    let theirs = ours.replace("realm=\"example.com\"", "realm=\"proxy.example.net\"");

    // Only foreign credentials: a plain challenge, not a failure.
    let only_theirs = [theirs.as_str(), "Basic YWxpY2U6eA=="];
    let mut req = request("alice", "x", 1, ContactsIn::List(&c));
    req.authorization = &only_theirs;
    let out = r.handle_register(&req, now);
    assert!(!is_stale(&out));
    // Several headers: the one for our realm is used.
    let both = [theirs.as_str(), ours.as_str()];
    req.authorization = &both;
    req.cseq = 2;
    assert_eq!(r.handle_register(&req, now).status(), 200);
}

#[test]
fn unconfigured_algorithm_is_not_accepted() {
    let mut r = digest_registrar(|c| c.algorithms = vec![Algorithm::Sha256]);
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut ua = Ua::new("alice", "alice-pw");
    let first = ua.send(&mut r, ContactsIn::List(&c), None, now);
    let headers = challenge_headers(&first);
    assert_eq!(headers.len(), 1);
    // The phone insists on MD5 with our nonce.
    ua.challenge = Some(headers[0].replace("SHA-256", "MD5"));
    let out = ua.send(&mut r, ContactsIn::List(&c), None, now);
    assert_eq!(out.status(), 401);
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn responses_without_qop_or_for_another_uri_fail() {
    let mut r = digest_registrar(|_| {});
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut ua = Ua::new("alice", "alice-pw");
    let first = ua.send(&mut r, ContactsIn::List(&c), None, now);
    let header = challenge_headers(&first)[0].clone();

    // RFC 2069 style (no qop, no nc).
    ua.challenge = Some(header.replace(", qop=\"auth\"", ""));
    assert_eq!(
        ua.send(&mut r, ContactsIn::List(&c), None, now).status(),
        401
    );

    // Digest computed for another Request-URI.
    let auth = build_authorization(
        &header,
        "alice",
        "alice-pw",
        "REGISTER",
        "sip:evil.example",
        1,
        "c",
    )
    .expect("answerable");
    let auths = [auth.as_str()];
    let mut req = request("alice", "y", 1, ContactsIn::List(&c));
    req.authorization = &auths;
    assert_eq!(r.handle_register(&req, now).status(), 401);

    // An equivalent spelling of the Request-URI is fine (RFC 3261 URI equality).
    let auth = build_authorization(
        &header,
        "alice",
        "alice-pw",
        "REGISTER",
        "SIP:EXAMPLE.COM",
        1,
        "c",
    )
    .expect("answerable");
    let auths = [auth.as_str()];
    req.authorization = &auths;
    req.cseq = 2;
    assert_eq!(r.handle_register(&req, now).status(), 200);
    assert_eq!(r.binding_count(), 1);
}

#[test]
fn evicted_nonce_gets_stale_not_a_free_pass() {
    let mut r = digest_registrar(|c| c.max_tracked_nonces = 1);
    let now = Instant::now();
    let ca = [contact("sip:alice@192.0.2.10")];
    let cb = [contact("sip:bob@192.0.2.11")];
    let mut alice = Ua::new("alice", "alice-pw");
    let mut bob = Ua::new("bob", "bob-pw");
    bob.call_id = "bob-call";
    assert_eq!(
        alice
            .register(&mut r, ContactsIn::List(&ca), None, now)
            .status(),
        200
    );
    // Bob's nonce is newer; recording it evicts alice's.
    assert_eq!(
        bob.register(&mut r, ContactsIn::List(&cb), None, now)
            .status(),
        200
    );
    let out = alice.send(&mut r, ContactsIn::List(&ca), None, now);
    assert!(is_stale(&out));
    assert_eq!(
        alice
            .register(&mut r, ContactsIn::List(&ca), None, now)
            .status(),
        200
    );
}

#[test]
fn reconfigure_swaps_users_and_keeps_bindings() {
    let mut r = digest_registrar(|_| {});
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut ua = Ua::new("alice", "alice-pw");
    assert_eq!(
        ua.register(&mut r, ContactsIn::List(&c), None, now)
            .status(),
        200
    );
    r.reconfigure(
        RegistrarConfig::new(REALM),
        vec![UserCredential::new("alice", "new-pw")],
    )
    .expect("valid");
    assert!(!r.user_exists("bob"));
    assert_eq!(r.lookup("alice", now).len(), 1);
    assert_eq!(
        ua.send(&mut r, ContactsIn::List(&c), None, now).status(),
        401
    );
    ua.password = "new-pw";
    ua.challenge = None;
    assert_eq!(
        ua.register(&mut r, ContactsIn::List(&c), None, now)
            .status(),
        200
    );
    // A bad config changes nothing.
    let bad = r.reconfigure(
        RegistrarConfig::new(REALM),
        vec![UserCredential::new("x", "1"), UserCredential::new("x", "2")],
    );
    assert_eq!(bad, Err(Error::DuplicateUser("x".into())));
    assert!(r.user_exists("alice"));
}

// ---------------------------------------------------------------- bindings

#[test]
fn auth_none_skips_digest_but_needs_a_known_user() {
    let mut r = open_registrar(|_| {});
    let now = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let out = r.handle_register(&request("alice", "x", 1, ContactsIn::List(&c)), now);
    assert_eq!(out.status(), 200);
    let out = r.handle_register(&request("mallory", "x", 1, ContactsIn::List(&c)), now);
    assert_eq!(out, RegisterOutcome::NotFound);
    assert_eq!(out.status(), 404);
    assert!(r.user_exists("alice"));
    assert!(!r.user_exists("mallory"));
}

#[test]
fn bindings_expire_on_the_virtual_clock() {
    let mut r = open_registrar(|_| {});
    let t0 = Instant::now();
    let c = [ContactIn {
        expires: Some(120),
        ..contact("sip:alice@192.0.2.10")
    }];
    assert_eq!(r.poll_timeout(), None);
    r.handle_register(&request("alice", "x", 1, ContactsIn::List(&c)), t0);
    let due = t0 + Duration::from_secs(120);
    assert_eq!(r.poll_timeout(), Some(due));

    let later = t0 + Duration::from_secs(119);
    assert!(r.expire(later).is_empty());
    assert_eq!(r.lookup("alice", later).len(), 1);
    assert_eq!(
        r.lookup("alice", due).len(),
        0,
        "lookup hides lapsed bindings"
    );

    let gone = r.expire(due);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].0, "alice");
    assert_eq!(&*gone[0].1.uri, "sip:alice@192.0.2.10");
    assert_eq!(r.binding_count(), 0);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn expiry_sources_min_max_and_423() {
    let mut r = open_registrar(|_| {});
    let now = Instant::now();
    let mut cseq = 0;
    let mut send = |r: &mut Registrar, c: ContactIn<'_>, header: Option<u32>| {
        cseq += 1;
        let list = [c];
        let mut req = request("alice", "x", cseq, ContactsIn::List(&list));
        req.expires_header = header;
        r.handle_register(&req, now)
    };
    let base = contact("sip:alice@192.0.2.10");

    let too_brief = send(
        &mut r,
        ContactIn {
            expires: Some(30),
            ..base
        },
        None,
    );
    assert_eq!(
        too_brief,
        RegisterOutcome::IntervalTooBrief { min_expires: 60 }
    );
    assert_eq!(too_brief.status(), 423);
    assert_eq!(
        send(&mut r, base, Some(59)),
        RegisterOutcome::IntervalTooBrief { min_expires: 60 }
    );
    assert_eq!(r.binding_count(), 0);

    // Default, header, parameter over header, clamp to max.
    assert_eq!(ok_bindings(send(&mut r, base, None))[0].expires, 3600);
    assert_eq!(ok_bindings(send(&mut r, base, Some(600)))[0].expires, 600);
    let param = ContactIn {
        expires: Some(900),
        ..base
    };
    assert_eq!(ok_bindings(send(&mut r, param, Some(600)))[0].expires, 900);
    assert_eq!(
        ok_bindings(send(&mut r, base, Some(86_400)))[0].expires,
        3600
    );
    // Exactly the minimum is fine.
    assert_eq!(ok_bindings(send(&mut r, base, Some(60)))[0].expires, 60);
    // expires=0 removes that binding.
    let remove = ContactIn {
        expires: Some(0),
        ..base
    };
    assert!(ok_bindings(send(&mut r, remove, Some(3600))).is_empty());
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn no_423_at_or_above_one_hour() {
    let mut r = open_registrar(|c| {
        c.min_expires = 7200;
        c.max_expires = 86_400;
    });
    let now = Instant::now();
    let c = [ContactIn {
        expires: Some(3600),
        ..contact("sip:alice@192.0.2.10")
    }];
    let out = r.handle_register(&request("alice", "x", 1, ContactsIn::List(&c)), now);
    assert_eq!(ok_bindings(out)[0].expires, 3600);
    let c = [ContactIn {
        expires: Some(3599),
        ..contact("sip:alice@192.0.2.10")
    }];
    let out = r.handle_register(&request("alice", "x", 2, ContactsIn::List(&c)), now);
    assert_eq!(out, RegisterOutcome::IntervalTooBrief { min_expires: 7200 });
}

#[test]
fn several_devices_up_to_max_contacts_then_reject() {
    let mut r = open_registrar(|c| c.max_contacts = 2);
    let now = Instant::now();
    let desk = [contact("sip:alice@192.0.2.10")];
    let soft = [contact("sip:alice@192.0.2.20:5080;transport=tcp")];
    let mobile = [contact("sip:alice@203.0.113.5")];
    r.handle_register(&request("alice", "desk", 1, ContactsIn::List(&desk)), now);
    let out = r.handle_register(&request("alice", "soft", 1, ContactsIn::List(&soft)), now);
    assert_eq!(ok_bindings(out).len(), 2, "200 lists all bindings");

    let out = r.handle_register(
        &request("alice", "mobile", 1, ContactsIn::List(&mobile)),
        now,
    );
    assert_eq!(out, RegisterOutcome::TooManyContacts);
    assert_eq!((out.status(), out.reason()), (403, "Too Many Contacts"));
    assert_eq!(r.lookup("alice", now).len(), 2, "nothing changed");

    // Refreshing an existing device is still fine at the cap.
    let out = r.handle_register(&request("alice", "desk", 2, ContactsIn::List(&desk)), now);
    assert_eq!(ok_bindings(out).len(), 2);
    // A request listing more than the cap on its own is refused.
    let three = [desk[0], soft[0], mobile[0]];
    let out = r.handle_register(&request("alice", "desk", 3, ContactsIn::List(&three)), now);
    assert_eq!(out, RegisterOutcome::TooManyContacts);
}

#[test]
fn evict_oldest_policy_makes_room() {
    let mut r = open_registrar(|c| {
        c.max_contacts = 2;
        c.on_too_many_contacts = ContactOverflow::EvictOldest;
    });
    let t0 = Instant::now();
    let a = [contact("sip:alice@192.0.2.1")];
    let b = [contact("sip:alice@192.0.2.2")];
    let c = [contact("sip:alice@192.0.2.3")];
    r.handle_register(&request("alice", "a", 1, ContactsIn::List(&a)), t0);
    r.handle_register(
        &request("alice", "b", 1, ContactsIn::List(&b)),
        t0 + Duration::from_secs(1),
    );
    // `a` is refreshed, so `b` becomes the least recently refreshed.
    r.handle_register(
        &request("alice", "a", 2, ContactsIn::List(&a)),
        t0 + Duration::from_secs(2),
    );
    let now = t0 + Duration::from_secs(3);
    let out = r.handle_register(&request("alice", "c", 1, ContactsIn::List(&c)), now);
    let uris: Vec<String> = ok_bindings(out).iter().map(|v| v.uri.to_string()).collect();
    assert_eq!(uris, vec!["sip:alice@192.0.2.3", "sip:alice@192.0.2.1"]);
    assert_eq!(r.binding_count(), 2);
}

#[test]
fn star_removes_everything_only_alone_with_expires_zero() {
    let mut r = open_registrar(|_| {});
    let now = Instant::now();
    let two = [
        contact("sip:alice@192.0.2.1"),
        contact("sip:alice@192.0.2.2"),
    ];
    r.handle_register(&request("alice", "x", 1, ContactsIn::List(&two)), now);
    assert_eq!(r.binding_count(), 2);

    let mut star = request("alice", "x", 2, ContactsIn::Star);
    assert_eq!(r.handle_register(&star, now).status(), 400, "no Expires");
    star.expires_header = Some(3600);
    assert_eq!(
        r.handle_register(&star, now).status(),
        400,
        "non-zero Expires"
    );
    let lone = [contact("*")];
    let mut as_list = request("alice", "x", 2, ContactsIn::List(&lone));
    assert_eq!(
        r.handle_register(&as_list, now).status(),
        400,
        "list of one *: same rules"
    );
    as_list.expires_header = Some(0);
    as_list.call_id = "other";
    let mixed = [contact("*"), contact("sip:alice@192.0.2.3")];
    let mut req = request("alice", "x", 2, ContactsIn::List(&mixed));
    req.expires_header = Some(0);
    assert_eq!(
        r.handle_register(&req, now),
        RegisterOutcome::BadRequest("Contact * Must Be Alone")
    );
    assert_eq!(r.binding_count(), 2);

    // Same Call-ID, old CSeq: the whole removal fails.
    star.expires_header = Some(0);
    star.cseq = 1;
    assert_eq!(r.handle_register(&star, now), RegisterOutcome::OutOfOrder);
    assert_eq!(r.binding_count(), 2);

    star.cseq = 2;
    assert!(ok_bindings(r.handle_register(&star, now)).is_empty());
    assert_eq!(r.binding_count(), 0);
    assert_eq!(r.poll_timeout(), None);

    r.handle_register(&request("alice", "x", 3, ContactsIn::List(&two)), now);
    assert!(ok_bindings(r.handle_register(&as_list, now)).is_empty());
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn register_without_contact_is_a_query() {
    let mut r = open_registrar(|_| {});
    let t0 = Instant::now();
    let c = [contact("sip:alice@192.0.2.1")];
    r.handle_register(&request("alice", "x", 1, ContactsIn::List(&c)), t0);
    let later = t0 + Duration::from_millis(100_500);
    let out = r.handle_register(&request("alice", "q", 1, ContactsIn::None), later);
    let views = ok_bindings(out);
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].expires, 3500, "remaining time, rounded up");
    assert_eq!(views[0].to_string(), "<sip:alice@192.0.2.1>;expires=3500");
    let out = r.handle_register(&request("alice", "q", 2, ContactsIn::List(&[])), later);
    assert_eq!(ok_bindings(out).len(), 1);
    let out = r.handle_register(&request("bob", "q", 1, ContactsIn::None), later);
    assert!(ok_bindings(out).is_empty());
    assert_eq!(r.binding_count(), 1, "queries change nothing");
}

#[test]
fn cseq_must_increase_within_a_call_id() {
    let mut r = open_registrar(|_| {});
    let now = Instant::now();
    let c = [ContactIn {
        expires: Some(600),
        ..contact("sip:alice@192.0.2.1")
    }];
    r.handle_register(&request("alice", "call-1", 5, ContactsIn::List(&c)), now);
    let refresh = [contact("sip:alice@192.0.2.1")];
    for stale_cseq in [5, 4] {
        let out = r.handle_register(
            &request("alice", "call-1", stale_cseq, ContactsIn::List(&refresh)),
            now,
        );
        assert_eq!(out, RegisterOutcome::OutOfOrder);
        assert_eq!(out.status(), 500);
    }
    assert_eq!(
        r.lookup("alice", now)[0].expires_at,
        now + Duration::from_secs(600)
    );
    // Another Call-ID (a rebooted phone) may use any CSeq.
    let out = r.handle_register(
        &request("alice", "call-2", 1, ContactsIn::List(&refresh)),
        now,
    );
    assert_eq!(ok_bindings(out)[0].expires, 3600);
    let b = &r.lookup("alice", now)[0];
    assert_eq!((b.call_id.as_str(), b.cseq), ("call-2", 1));
}

#[test]
fn out_of_order_request_changes_nothing_even_for_new_contacts() {
    let mut r = open_registrar(|_| {});
    let now = Instant::now();
    let a = [contact("sip:alice@192.0.2.1")];
    r.handle_register(&request("alice", "call-1", 5, ContactsIn::List(&a)), now);
    let both = [
        contact("sip:alice@192.0.2.9"),
        contact("sip:alice@192.0.2.1"),
    ];
    let out = r.handle_register(&request("alice", "call-1", 3, ContactsIn::List(&both)), now);
    assert_eq!(out, RegisterOutcome::OutOfOrder);
    assert_eq!(r.binding_count(), 1, "all or nothing");
}

#[test]
fn instance_id_replaces_the_same_device() {
    let mut r = open_registrar(|_| {});
    let now = Instant::now();
    let inst = Some("\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"");
    let before = [ContactIn {
        instance: inst,
        ..contact("sip:alice@192.0.2.1:5060")
    }];
    r.handle_register(
        &request("alice", "boot-1", 1, ContactsIn::List(&before)),
        now,
    );
    // After a reboot: new port, new Call-ID, same instance (hex case differs).
    let after = [ContactIn {
        instance: Some("<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"),
        ..contact("sip:alice@192.0.2.1:40123")
    }];
    let out = r.handle_register(
        &request("alice", "boot-2", 1, ContactsIn::List(&after)),
        now,
    );
    let views = ok_bindings(out);
    assert_eq!(views.len(), 1);
    assert_eq!(&*views[0].uri, "sip:alice@192.0.2.1:40123");
    assert_eq!(
        views[0].to_string(),
        "<sip:alice@192.0.2.1:40123>;expires=3600;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000a95a0e128>\""
    );
    // RFC 5626: another reg-id of the same instance is another flow.
    let flow2 = [ContactIn {
        instance: inst,
        reg_id: Some(2),
        ..contact("sip:alice@192.0.2.1:40124")
    }];
    let out = r.handle_register(
        &request("alice", "boot-2", 2, ContactsIn::List(&flow2)),
        now,
    );
    assert_eq!(ok_bindings(out).len(), 2);
}

#[test]
fn uri_equality_decides_the_binding_without_instance() {
    let mut r = open_registrar(|_| {});
    let now = Instant::now();
    let a = [contact("sip:alice@PHONE.example.com;transport=UDP")];
    r.handle_register(&request("alice", "x", 1, ContactsIn::List(&a)), now);
    let same = [contact("SIP:alice@phone.example.com;transport=udp;ob")];
    r.handle_register(&request("alice", "x", 2, ContactsIn::List(&same)), now);
    assert_eq!(r.binding_count(), 1);
    let other_port = [contact("sip:alice@phone.example.com:5060")];
    r.handle_register(
        &request("alice", "x", 3, ContactsIn::List(&other_port)),
        now,
    );
    assert_eq!(r.binding_count(), 2);
}

#[test]
fn one_request_can_add_refresh_and_remove() {
    let mut r = open_registrar(|_| {});
    let now = Instant::now();
    let start = [
        contact("sip:alice@192.0.2.1"),
        contact("sip:alice@192.0.2.2"),
    ];
    r.handle_register(&request("alice", "x", 1, ContactsIn::List(&start)), now);
    let change = [
        ContactIn {
            expires: Some(0),
            ..contact("sip:alice@192.0.2.1")
        },
        ContactIn {
            expires: Some(120),
            ..contact("sip:alice@192.0.2.2")
        },
        contact("sip:alice@192.0.2.3"),
        // The same new contact twice: added once, the last one wins.
        ContactIn {
            expires: Some(300),
            ..contact("sip:alice@192.0.2.3")
        },
    ];
    let out = r.handle_register(&request("alice", "x", 2, ContactsIn::List(&change)), now);
    let mut got: Vec<(String, u32)> = ok_bindings(out)
        .iter()
        .map(|v| (v.uri.to_string(), v.expires))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("sip:alice@192.0.2.2".to_string(), 120),
            ("sip:alice@192.0.2.3".to_string(), 300)
        ]
    );
}

#[test]
fn removing_an_unknown_contact_is_harmless() {
    let mut r = open_registrar(|_| {});
    let now = Instant::now();
    let c = [ContactIn {
        expires: Some(0),
        ..contact("sip:alice@192.0.2.1")
    }];
    assert!(
        ok_bindings(r.handle_register(&request("alice", "x", 1, ContactsIn::List(&c)), now))
            .is_empty()
    );
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn lookup_orders_by_q_then_most_recent() {
    let mut r = open_registrar(|_| {});
    let t0 = Instant::now();
    let low = [ContactIn {
        q: Some(0.5),
        ..contact("sip:alice@192.0.2.1")
    }];
    let plain_old = [contact("sip:alice@192.0.2.2")];
    let plain_new = [contact("sip:alice@192.0.2.3")];
    r.handle_register(
        &request("alice", "a", 1, ContactsIn::List(&low)),
        t0 + Duration::from_secs(3),
    );
    r.handle_register(&request("alice", "b", 1, ContactsIn::List(&plain_old)), t0);
    r.handle_register(
        &request("alice", "c", 1, ContactsIn::List(&plain_new)),
        t0 + Duration::from_secs(1),
    );
    let now = t0 + Duration::from_secs(4);
    let uris: Vec<String> = r
        .lookup("alice", now)
        .iter()
        .map(|b| b.uri.to_string())
        .collect();
    assert_eq!(
        uris,
        vec![
            "sip:alice@192.0.2.3",
            "sip:alice@192.0.2.2",
            "sip:alice@192.0.2.1"
        ]
    );
    let views = ok_bindings(r.handle_register(&request("alice", "q", 1, ContactsIn::None), now));
    assert_eq!(
        views[2].to_string(),
        "<sip:alice@192.0.2.1>;expires=3599;q=0.5"
    );
}

#[test]
fn bad_contacts_are_400() {
    let mut r = open_registrar(|_| {});
    let now = Instant::now();
    let bad_q = [ContactIn {
        q: Some(1.5),
        ..contact("sip:alice@192.0.2.1")
    }];
    let nan_q = [ContactIn {
        q: Some(f32::NAN),
        ..contact("sip:alice@192.0.2.1")
    }];
    let empty = [contact("  ")];
    for c in [&bad_q[..], &nan_q[..], &empty[..]] {
        let out = r.handle_register(&request("alice", "x", 1, ContactsIn::List(c)), now);
        assert_eq!(out.status(), 400, "{out:?}");
    }
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn outcomes_map_to_status_lines() {
    let cases = [
        (RegisterOutcome::Ok { bindings: vec![] }, 200, "OK"),
        (
            RegisterOutcome::Challenge { headers: vec![] },
            401,
            "Unauthorized",
        ),
        (
            RegisterOutcome::IntervalTooBrief { min_expires: 60 },
            423,
            "Interval Too Brief",
        ),
        (RegisterOutcome::Forbidden, 403, "Forbidden"),
        (RegisterOutcome::NotFound, 404, "Not Found"),
        (RegisterOutcome::TooManyContacts, 403, "Too Many Contacts"),
        (
            RegisterOutcome::RateLimited,
            403,
            "Too Many Failed Attempts",
        ),
        (
            RegisterOutcome::BadRequest("Bad q-value"),
            400,
            "Bad q-value",
        ),
        (RegisterOutcome::OutOfOrder, 500, "Out Of Order CSeq"),
    ];
    for (o, code, reason) in cases {
        assert_eq!((o.status(), o.reason()), (code, reason));
    }
}

#[test]
fn expire_trims_the_nonce_and_limiter_tables() {
    let mut r = digest_registrar(|_| {});
    let t0 = Instant::now();
    let c = [contact("sip:alice@192.0.2.10")];
    let mut alice = Ua::new("alice", "alice-pw");
    assert_eq!(
        alice
            .register(&mut r, ContactsIn::List(&c), None, t0)
            .status(),
        200
    );
    let mut guesser = Ua::new("bob", "guess");
    guesser.ip = IP_B;
    assert_eq!(
        guesser
            .register(&mut r, ContactsIn::List(&c), None, t0)
            .status(),
        401
    );
    let s = r.stats();
    assert_eq!((s.bindings, s.tracked_nonces, s.tracked_sources), (1, 1, 1));
    // Within the nonce lifetime and failure window nothing is forgotten.
    r.expire(t0 + Duration::from_secs(59));
    assert_eq!(r.stats(), s);
    r.expire(t0 + Duration::from_secs(300));
    let s = r.stats();
    assert_eq!((s.bindings, s.tracked_nonces, s.tracked_sources), (1, 0, 0));
}

#[test]
fn debug_output_carries_no_credentials() {
    let auth = r#"Digest username="alice", realm="r", nonce="n", uri="u", response="0123abcd""#;
    let auths = [auth];
    let mut req = request("alice", "x", 1, ContactsIn::None);
    req.authorization = &auths;
    assert!(!format!("{req:?}").contains("0123abcd"));
    let creds = parse_authorization(auth).expect("parses");
    assert!(!format!("{creds:?}").contains("0123abcd"));
    let r = digest_registrar(|_| {});
    assert!(!format!("{r:?}").contains("alice-pw"));
}

#[test]
fn construction_rejects_bad_input() {
    let dup = vec![UserCredential::new("a", "1"), UserCredential::new("a", "2")];
    assert_eq!(
        Registrar::new(RegistrarConfig::new(REALM), dup, SECRET).err(),
        Some(Error::DuplicateUser("a".into()))
    );
    let empty = vec![UserCredential::new("", "1")];
    assert_eq!(
        Registrar::new(RegistrarConfig::new(REALM), empty, SECRET).err(),
        Some(Error::Config("user id is empty"))
    );
    assert!(Registrar::new(RegistrarConfig::new(""), users(), SECRET).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any user id, password, realm, cnonce and algorithm: the client helper's answer to our
    /// challenge always verifies.
    #[test]
    fn random_valid_credentials_always_verify(
        user in "[^\r\n]{1,24}",
        password in ".{0,24}",
        realm in "[a-zA-Z0-9.\"\\\\ -]{1,24}",
        cnonce in "[^\r\n]{1,24}",
        host in "[a-z]{1,10}",
        pick in 0usize..2,
    ) {
        let cfg = RegistrarConfig::new(realm.clone());
        let mut r = Registrar::new(cfg, vec![UserCredential::new(user.clone(), password.clone())], SECRET)
            .expect("valid");
        let now = Instant::now();
        let ruri = format!("sip:{host}");
        let c = [contact("sip:device@192.0.2.1")];
        let mut req = request(&user, "cid", 1, ContactsIn::List(&c));
        req.request_uri = &ruri;
        let first = r.handle_register(&req, now);
        let header = challenge_headers(&first)[pick].clone();
        let parsed = parse_challenge(&header).expect("parses");
        prop_assert_eq!(parsed.realm.as_ref(), realm.as_str());
        let auth = build_authorization(&header, &user, &password, "REGISTER", &ruri, 1, &cnonce)
            .expect("answerable");
        let auths = [auth.as_str()];
        req.authorization = &auths;
        req.cseq = 2;
        let out = r.handle_register(&req, now);
        prop_assert_eq!(out.status(), 200, "{:?}", out);
        prop_assert_eq!(r.lookup(&user, now).len(), 1);
    }

    /// Arbitrary Authorization values never panic the registrar, and never register.
    #[test]
    fn garbage_authorization_never_registers(values in proptest::collection::vec(".{0,200}", 0..4)) {
        let mut r = digest_registrar(|_| {});
        let now = Instant::now();
        let c = [contact("sip:alice@192.0.2.1")];
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut req = request("alice", "x", 1, ContactsIn::List(&c));
        req.authorization = &refs;
        let out = r.handle_register(&req, now);
        prop_assert_ne!(out.status(), 200);
        prop_assert_eq!(r.binding_count(), 0);
    }
}
