//! REGISTER processing (RFC 3261 §10.3) over digest authentication and a [`LocationStore`].
//!
//! The steps, in RFC order: rate limit → authenticate (step 4) → the authenticated user must
//! be the AOR (step 5) → `Contact: *` rules (step 6) → per-contact expiry, 423, Call-ID/CSeq
//! ordering and the contact cap (step 7) → commit all or nothing → list every current
//! binding (step 8). Validation happens before any change, so a failed REGISTER leaves the
//! AOR as it was (apart from lapsed bindings, which are dropped as they are met).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::config::{
    Algorithm, AuthMode, ContactOverflow, HashKind, RegistrarConfig, UserCredential,
};
use crate::digest::{
    hash, parse_authorization, parse_nc, push_quoted, DigestCredentials, HexDigest,
};
use crate::nonce::{NcCheck, NonceCodec, NonceTracker};
use crate::ratelimit::RateLimiter;
use crate::store::{Binding, LocationStore, MemoryStore};
use crate::uri::uri_eq;
use crate::Error;

/// The method covered by the digest `A2` of a REGISTER.
const METHOD: &[u8] = b"REGISTER";

/// RFC 3261 §10.3 step 7: 423 is only allowed for intervals below one hour.
const ONE_HOUR: u32 = 3600;

/// What the daemon extracted from a REGISTER. Borrowed: building one allocates nothing.
/// Its `Debug` output omits the credentials.
#[derive(Clone)]
pub struct RegisterRequest<'a> {
    /// User part of the To URI: the AOR being registered.
    pub aor_user: &'a str,
    /// The Request-URI as text, for the digest `uri` check.
    pub request_uri: &'a str,
    /// Every `Authorization` header value, in order (none on a first attempt).
    pub authorization: &'a [&'a str],
    /// Source address counted by the failed-authentication limiter.
    pub source_ip: IpAddr,
    /// Call-ID.
    pub call_id: &'a str,
    /// CSeq number.
    pub cseq: u32,
    /// The Contact header fields.
    pub contacts: ContactsIn<'a>,
    /// The `Expires` header, if present.
    pub expires_header: Option<u32>,
    /// Transport the request arrived on (`udp`, `tcp`, `tls`, `ws`, …).
    pub transport: &'a str,
    /// Where the request came from: stored with the binding to reach the phone behind NAT.
    pub received: SocketAddr,
    /// `User-Agent`, if present.
    pub user_agent: Option<&'a str>,
}

impl fmt::Debug for RegisterRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("aor_user", &self.aor_user)
            .field("request_uri", &self.request_uri)
            .field(
                "authorization",
                &format_args!("<{} redacted>", self.authorization.len()),
            )
            .field("source_ip", &self.source_ip)
            .field("call_id", &self.call_id)
            .field("cseq", &self.cseq)
            .field("contacts", &self.contacts)
            .field("expires_header", &self.expires_header)
            .field("transport", &self.transport)
            .field("received", &self.received)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// The Contact header fields of a REGISTER.
#[derive(Debug, Clone, Copy)]
pub enum ContactsIn<'a> {
    /// No Contact: a query (an empty list is one too).
    None,
    /// A single `Contact: *`. A list holding only `*` is treated the same; a `*` among other
    /// contacts is refused with 400.
    Star,
    /// Ordinary contacts.
    List(&'a [ContactIn<'a>]),
}

/// One Contact header field value.
#[derive(Debug, Clone, Copy)]
pub struct ContactIn<'a> {
    /// The URI, without angle brackets.
    pub uri: &'a str,
    /// `;expires=` parameter.
    pub expires: Option<u32>,
    /// `;q=` parameter.
    pub q: Option<f32>,
    /// `;+sip.instance=` value, quoted or not (`"<urn:uuid:…>"`).
    pub instance: Option<&'a str>,
    /// `;reg-id=` parameter (RFC 5626).
    pub reg_id: Option<u32>,
    /// The whole header field value as received.
    pub raw: &'a str,
}

/// A current binding as listed in a 200 response.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingView {
    /// Contact URI.
    pub uri: Arc<str>,
    /// Seconds left, rounded up.
    pub expires: u32,
    /// `q`, if registered with one.
    pub q: Option<f32>,
    /// `+sip.instance`, so an RFC 5626 UA recognises its binding.
    pub instance: Option<String>,
    /// `reg-id`.
    pub reg_id: Option<u32>,
}

impl fmt::Display for BindingView {
    /// The Contact header value: `<uri>;expires=N[;q=…][;+sip.instance="…"][;reg-id=N]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>;expires={}", self.uri, self.expires)?;
        if let Some(q) = self.q {
            let text = format!("{q:.3}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            write!(f, ";q={text}")?;
        }
        if let Some(instance) = &self.instance {
            write!(f, ";+sip.instance=\"{instance}\"")?;
        }
        if let Some(reg_id) = self.reg_id {
            write!(f, ";reg-id={reg_id}")?;
        }
        Ok(())
    }
}

/// What to answer. [`RegisterOutcome::status`] and [`RegisterOutcome::reason`] give the
/// status line; the variant's data gives the headers.
#[derive(Debug, Clone, PartialEq)]
pub enum RegisterOutcome {
    /// 200: one `Contact` per current binding (all of them, not only this request's).
    Ok {
        /// Current bindings, highest `q` first, then most recently refreshed.
        bindings: Vec<BindingView>,
    },
    /// 401: one `WWW-Authenticate` per value, in preference order.
    Challenge {
        /// Header values.
        headers: Vec<String>,
    },
    /// 423 with `Min-Expires: min_expires`.
    IntervalTooBrief {
        /// Value of `Min-Expires`.
        min_expires: u32,
    },
    /// 403: authenticated as someone else than the AOR.
    Forbidden,
    /// 404: `AuthMode::None` and the AOR is not a configured user.
    NotFound,
    /// 403 "Too Many Contacts": the AOR would exceed `max_contacts` (policy `Reject`), or
    /// the request alone lists more. Nothing was changed.
    TooManyContacts,
    /// 403 "Too Many Failed Attempts": the source is over the failure limit; no digest was
    /// computed. A 403 (not 503) so that phones stop instead of failing over and retrying.
    RateLimited,
    /// 400 with this reason phrase.
    BadRequest(&'static str),
    /// 500: a binding has the same Call-ID and a CSeq not lower than this request's
    /// (RFC 3261 §10.3 steps 6 and 7: "the update MUST be aborted and the request fails";
    /// a failed update is a 500 per step 7's last paragraph). Nothing was changed.
    OutOfOrder,
}

impl RegisterOutcome {
    /// The response status code.
    pub fn status(&self) -> u16 {
        match self {
            RegisterOutcome::Ok { .. } => 200,
            RegisterOutcome::Challenge { .. } => 401,
            RegisterOutcome::IntervalTooBrief { .. } => 423,
            RegisterOutcome::Forbidden
            | RegisterOutcome::TooManyContacts
            | RegisterOutcome::RateLimited => 403,
            RegisterOutcome::NotFound => 404,
            RegisterOutcome::BadRequest(_) => 400,
            RegisterOutcome::OutOfOrder => 500,
        }
    }

    /// The reason phrase.
    pub fn reason(&self) -> &'static str {
        match self {
            RegisterOutcome::Ok { .. } => "OK",
            RegisterOutcome::Challenge { .. } => "Unauthorized",
            RegisterOutcome::IntervalTooBrief { .. } => "Interval Too Brief",
            RegisterOutcome::Forbidden => "Forbidden",
            RegisterOutcome::NotFound => "Not Found",
            RegisterOutcome::TooManyContacts => "Too Many Contacts",
            RegisterOutcome::RateLimited => "Too Many Failed Attempts",
            RegisterOutcome::BadRequest(reason) => reason,
            RegisterOutcome::OutOfOrder => "Out Of Order CSeq",
        }
    }
}

/// Sizes of the registrar's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarStats {
    /// Stored bindings (lapsed ones not yet swept included).
    pub bindings: usize,
    /// Nonces remembered for replay protection.
    pub tracked_nonces: usize,
    /// Sources with an open failure window.
    pub tracked_sources: usize,
}

/// Precomputed `H(user:realm:password)` for both hash functions.
#[derive(Clone, Copy)]
struct Ha1 {
    md5: HexDigest,
    sha256: HexDigest,
}

impl Ha1 {
    fn get(&self, kind: HashKind) -> HexDigest {
        match kind {
            HashKind::Md5 => self.md5,
            HashKind::Sha256 => self.sha256,
        }
    }
}

/// Result of checking credentials.
enum Verdict {
    Ok,
    /// Correct response, but the nonce is expired, not ours (e.g. a previous run's) or
    /// forgotten: challenge again with `stale=true`, not counted as a failure.
    Stale,
    /// Counted by the limiter; answered with a fresh challenge.
    Failed,
}

/// The registrar: users, nonces, limiter and location table. See the crate documentation.
pub struct Registrar<S: LocationStore = MemoryStore> {
    config: RegistrarConfig,
    users: HashMap<String, Ha1>,
    /// Stands in for unknown users so that they cost the same work as known ones.
    dummy: Ha1,
    codec: NonceCodec,
    tracker: NonceTracker,
    limiter: RateLimiter,
    store: S,
    /// The first `now` seen: nonce timestamps count from it.
    epoch: Option<Instant>,
}

impl<S: LocationStore> fmt::Debug for Registrar<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrar")
            .field("realm", &self.config.realm)
            .field("users", &self.users.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Registrar<MemoryStore> {
    /// A registrar with an in-memory location table. `secret` keys the nonces; the daemon
    /// draws it at random at start-up (nonces of a previous run then fail their MAC and
    /// get a `stale=true` challenge).
    pub fn new(
        config: RegistrarConfig,
        users: impl IntoIterator<Item = UserCredential>,
        secret: [u8; 32],
    ) -> Result<Self, Error> {
        Self::with_store(config, users, secret, MemoryStore::new())
    }
}

impl<S: LocationStore> Registrar<S> {
    /// A registrar over another [`LocationStore`].
    pub fn with_store(
        config: RegistrarConfig,
        users: impl IntoIterator<Item = UserCredential>,
        secret: [u8; 32],
        store: S,
    ) -> Result<Self, Error> {
        config.validate()?;
        let users = hash_users(&config.realm, users)?;
        let codec = NonceCodec::new(&secret)?;
        let seed = HexDigest::from_bytes(&codec.derive(b"dummy ha1"));
        let dummy = Ha1 {
            md5: seed.truncated(32),
            sha256: seed,
        };
        Ok(Self {
            tracker: NonceTracker::new(config.max_tracked_nonces),
            limiter: RateLimiter::new(
                config.failure_limit,
                config.failure_window,
                config.max_tracked_sources,
            ),
            config,
            users,
            dummy,
            codec,
            store,
            epoch: None,
        })
    }

    /// Replaces configuration and users (SIGHUP). Bindings, issued nonces and failure
    /// counters are kept; bindings of removed users lapse on their own. On error nothing
    /// changes.
    pub fn reconfigure(
        &mut self,
        config: RegistrarConfig,
        users: impl IntoIterator<Item = UserCredential>,
    ) -> Result<(), Error> {
        config.validate()?;
        let users = hash_users(&config.realm, users)?;
        self.limiter.reconfigure(
            config.failure_limit,
            config.failure_window,
            config.max_tracked_sources,
        );
        self.tracker.set_cap(config.max_tracked_nonces);
        self.config = config;
        self.users = users;
        Ok(())
    }

    /// Processes one REGISTER at `now`.
    pub fn handle_register(&mut self, req: &RegisterRequest<'_>, now: Instant) -> RegisterOutcome {
        let epoch = *self.epoch.get_or_insert(now);
        let now_ms = millis_between(epoch, now);
        match self.config.auth {
            AuthMode::Digest => {
                if let Err(outcome) = self.authenticate(req, now, now_ms) {
                    return outcome;
                }
            }
            AuthMode::None => {
                if !self.users.contains_key(req.aor_user) {
                    return RegisterOutcome::NotFound;
                }
            }
        }
        self.apply(req, now)
    }

    /// The live bindings of `user`, highest `q` first, then most recently refreshed.
    pub fn lookup(&self, user: &str, now: Instant) -> Vec<Binding> {
        let mut out: Vec<Binding> = self.store.lookup(user, |bs| {
            bs.iter().filter(|b| !b.is_expired(now)).cloned().collect()
        });
        out.sort_unstable_by(binding_order);
        out
    }

    /// Removes lapsed bindings and returns them as `(user, binding)`; also trims the nonce
    /// and limiter tables. Call when [`Registrar::poll_timeout`] is reached.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Binding)> {
        if let Some(epoch) = self.epoch {
            let lifetime = duration_millis(self.config.nonce_lifetime);
            // A nonce is expired once its age reaches the lifetime (see `verify`).
            if let Some(expired_up_to) = millis_between(epoch, now).checked_sub(lifetime) {
                self.tracker.prune(expired_up_to.saturating_add(1));
            }
        }
        self.limiter.prune(now);
        self.store.expire(now)
    }

    /// When the next binding lapses.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.store.next_expiry()
    }

    /// Stored bindings (lapsed ones not yet swept included).
    pub fn binding_count(&self) -> usize {
        self.store.binding_count()
    }

    /// Table sizes, for metrics.
    pub fn stats(&self) -> RegistrarStats {
        RegistrarStats {
            bindings: self.store.binding_count(),
            tracked_nonces: self.tracker.len(),
            tracked_sources: self.limiter.len(),
        }
    }

    /// Whether `id` is a configured user.
    pub fn user_exists(&self, id: &str) -> bool {
        self.users.contains_key(id)
    }

    /// The configuration in force.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// The location table.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Step 4 (and 5): `Ok` when the credentials are valid for the AOR user.
    fn authenticate(
        &mut self,
        req: &RegisterRequest<'_>,
        now: Instant,
        now_ms: u64,
    ) -> Result<(), RegisterOutcome> {
        if self.limiter.is_blocked(req.source_ip, now) {
            return Err(RegisterOutcome::RateLimited);
        }
        let mut malformed = false;
        let mut chosen = None;
        for value in req.authorization {
            match parse_authorization(value) {
                Ok(c) => {
                    if *c.realm != *self.config.realm {
                        continue;
                    }
                    let alg = match c.algorithm.as_deref() {
                        None => Some(Algorithm::Md5),
                        Some(name) => Algorithm::from_name(name),
                    };
                    if let Some(alg) = alg.filter(|a| self.config.algorithms.contains(a)) {
                        chosen = Some((c, alg));
                        break;
                    }
                }
                Err(Error::NotDigest) => {}
                Err(_) => malformed = true,
            }
        }
        let Some((creds, alg)) = chosen else {
            return Err(if malformed {
                RegisterOutcome::BadRequest("Malformed Authorization")
            } else {
                self.challenge(now_ms, false)
            });
        };
        match self.verify(&creds, alg, req.request_uri, now_ms) {
            Verdict::Ok if *creds.username == *req.aor_user => Ok(()),
            Verdict::Ok => Err(RegisterOutcome::Forbidden),
            Verdict::Stale => Err(self.challenge(now_ms, true)),
            Verdict::Failed => {
                self.limiter.record_failure(req.source_ip, now);
                Err(self.challenge(now_ms, false))
            }
        }
    }

    /// Checks one set of credentials. Known and unknown users take the same path up to the
    /// final comparison: an unknown user is verified against a dummy HA1.
    fn verify(
        &mut self,
        c: &DigestCredentials<'_>,
        alg: Algorithm,
        request_uri: &str,
        now_ms: u64,
    ) -> Verdict {
        // We only offer qop="auth": it carries the nonce count that replay protection needs.
        let qop_auth = c
            .qop
            .as_deref()
            .is_some_and(|q| q.eq_ignore_ascii_case("auth"));
        let (true, Some(qop), Some(nc_text), Some(cnonce)) = (
            qop_auth,
            c.qop.as_deref(),
            c.nc.as_deref(),
            c.cnonce.as_deref(),
        ) else {
            return Verdict::Failed;
        };
        let Some(nc) = parse_nc(nc_text) else {
            return Verdict::Failed;
        };
        if c.userhash || !uri_eq(&c.uri, request_uri) {
            return Verdict::Failed;
        }

        let known = self.users.get(&*c.username).copied();
        let kind = alg.hash();
        let mut ha1 = known.unwrap_or(self.dummy).get(kind);
        if alg.is_sess() {
            ha1 = hash(
                kind,
                &[ha1.as_bytes(), c.nonce.as_bytes(), cnonce.as_bytes()],
            );
        }
        let ha2 = hash(kind, &[METHOD, c.uri.as_bytes()]);
        let expected = hash(
            kind,
            &[
                ha1.as_bytes(),
                c.nonce.as_bytes(),
                nc_text.as_bytes(),
                cnonce.as_bytes(),
                qop.as_bytes(),
                ha2.as_bytes(),
            ],
        );
        // Non-short-circuit `&`: both sides are always evaluated.
        if !(response_matches(&expected, &c.response) & known.is_some()) {
            return Verdict::Failed;
        }

        let Some(key) = self.codec.verify(&c.nonce) else {
            return Verdict::Stale;
        };
        if now_ms.saturating_sub(key.issued_ms) >= duration_millis(self.config.nonce_lifetime) {
            return Verdict::Stale;
        }
        match self.tracker.check(key, nc) {
            NcCheck::Fresh => {
                self.tracker.record(key, nc);
                Verdict::Ok
            }
            NcCheck::Replay => Verdict::Failed,
            NcCheck::Forgotten => Verdict::Stale,
        }
    }

    /// A 401 with a fresh nonce, one challenge per configured algorithm.
    fn challenge(&mut self, now_ms: u64, stale: bool) -> RegisterOutcome {
        let nonce = self.codec.issue(now_ms);
        let headers = self
            .config
            .algorithms
            .iter()
            .map(|alg| {
                let mut h = String::with_capacity(64 + self.config.realm.len() + 64);
                h.push_str("Digest realm=");
                push_quoted(&mut h, &self.config.realm);
                h.push_str(", nonce=\"");
                h.push_str(nonce.as_str());
                h.push_str("\", algorithm=");
                h.push_str(alg.name());
                h.push_str(", qop=\"auth\"");
                if stale {
                    h.push_str(", stale=true");
                }
                h
            })
            .collect();
        RegisterOutcome::Challenge { headers }
    }

    /// Steps 6 to 8 for an authorised AOR.
    fn apply(&mut self, req: &RegisterRequest<'_>, now: Instant) -> RegisterOutcome {
        match req.contacts {
            ContactsIn::None => self.query(req.aor_user, now),
            ContactsIn::List([]) => self.query(req.aor_user, now),
            ContactsIn::Star => self.remove_all(req, now),
            ContactsIn::List([only]) if only.uri.trim() == "*" => self.remove_all(req, now),
            ContactsIn::List(contacts) => self.register(req, contacts, now),
        }
    }

    fn query(&self, aor: &str, now: Instant) -> RegisterOutcome {
        let bindings = self.store.lookup(aor, |bs| views(bs, now));
        RegisterOutcome::Ok { bindings }
    }

    /// `Contact: *`: remove every binding, unless one is newer than this request.
    fn remove_all(&mut self, req: &RegisterRequest<'_>, now: Instant) -> RegisterOutcome {
        if req.expires_header != Some(0) {
            return RegisterOutcome::BadRequest("Contact * Requires Expires 0");
        }
        self.store.update(req.aor_user, |bs| {
            bs.retain(|b| !b.is_expired(now));
            if bs.iter().any(|b| out_of_order(b, req)) {
                return RegisterOutcome::OutOfOrder;
            }
            bs.clear();
            RegisterOutcome::Ok {
                bindings: Vec::new(),
            }
        })
    }

    /// Adds, refreshes and removes the listed contacts, all or nothing.
    fn register(
        &mut self,
        req: &RegisterRequest<'_>,
        contacts: &[ContactIn<'_>],
        now: Instant,
    ) -> RegisterOutcome {
        let cfg = &self.config;
        if contacts.len() > cfg.max_contacts {
            return RegisterOutcome::TooManyContacts;
        }
        let default_expires = cfg.effective_default_expires();
        let requested =
            |c: &ContactIn<'_>| c.expires.or(req.expires_header).unwrap_or(default_expires);
        for c in contacts {
            let uri = c.uri.trim();
            if uri == "*" {
                return RegisterOutcome::BadRequest("Contact * Must Be Alone");
            }
            if uri.is_empty() {
                return RegisterOutcome::BadRequest("Empty Contact URI");
            }
            if c.q.is_some_and(|q| !(0.0..=1.0).contains(&q)) {
                return RegisterOutcome::BadRequest("Bad q-value");
            }
            let e = requested(c);
            if e > 0 && e < cfg.min_expires && e < ONE_HOUR {
                return RegisterOutcome::IntervalTooBrief {
                    min_expires: cfg.min_expires,
                };
            }
        }
        let max_expires = cfg.max_expires;
        let expires_of = |c: &ContactIn<'_>| requested(c).min(max_expires);
        let max_contacts = cfg.max_contacts;
        let policy = cfg.on_too_many_contacts;

        self.store.update(req.aor_user, |bs| {
            bs.retain(|b| !b.is_expired(now));
            let live = bs.len();

            // Pass 1, no changes: ordering, and how many bindings the commit would leave.
            let mut remaining = 0usize;
            for b in bs.iter() {
                match last_match(contacts, b) {
                    Some(i) => {
                        if out_of_order(b, req) {
                            return RegisterOutcome::OutOfOrder;
                        }
                        remaining += usize::from(expires_of(&contacts[i]) > 0);
                    }
                    None => remaining += 1,
                }
            }
            for i in 0..contacts.len() {
                if is_new(contacts, i, bs) && expires_of(&contacts[i]) > 0 {
                    remaining += 1;
                }
            }
            let excess = remaining.saturating_sub(max_contacts);
            if excess > 0 && policy == ContactOverflow::Reject {
                return RegisterOutcome::TooManyContacts;
            }

            // Pass 2, infallible. Eviction first: it only marks bindings no contact names
            // (there are at least `excess` of them, since the request has at most
            // `max_contacts` contacts), so it cannot disturb the matching below.
            for _ in 0..excess {
                let oldest = bs
                    .iter_mut()
                    .filter(|b| !b.is_expired(now) && last_match(contacts, b).is_none())
                    .min_by_key(|b| b.refreshed_at);
                if let Some(b) = oldest {
                    b.expires_at = now;
                }
            }
            for i in 0..contacts.len() {
                let e = expires_of(&contacts[i]);
                if e > 0 && is_new(contacts, i, &bs[..live]) {
                    bs.push(new_binding(&contacts[i], req, e, now));
                }
            }
            for b in bs.iter_mut().take(live) {
                if let Some(i) = last_match(contacts, b) {
                    match expires_of(&contacts[i]) {
                        0 => b.expires_at = now,
                        e => refresh(b, &contacts[i], req, e, now),
                    }
                }
            }
            bs.retain(|b| !b.is_expired(now));
            bs.sort_unstable_by(binding_order);
            RegisterOutcome::Ok {
                bindings: views(bs, now),
            }
        })
    }
}

/// Users to HA1s for `realm`.
fn hash_users(
    realm: &str,
    users: impl IntoIterator<Item = UserCredential>,
) -> Result<HashMap<String, Ha1>, Error> {
    let mut out = HashMap::new();
    for u in users {
        if u.id.is_empty() {
            return Err(Error::Config("user id is empty"));
        }
        let parts: [&[u8]; 3] = [u.id.as_bytes(), realm.as_bytes(), u.password.as_bytes()];
        let ha1 = Ha1 {
            md5: hash(HashKind::Md5, &parts),
            sha256: hash(HashKind::Sha256, &parts),
        };
        if out.insert(u.id.clone(), ha1).is_some() {
            return Err(Error::DuplicateUser(u.id));
        }
    }
    Ok(out)
}

/// Compares a client's hex response with ours in constant time (hex case ignored).
fn response_matches(expected: &HexDigest, given: &str) -> bool {
    let expected = expected.as_bytes();
    if given.len() != expected.len() {
        return false;
    }
    let mut lower = [0u8; 64];
    for (dst, src) in lower.iter_mut().zip(given.bytes()) {
        *dst = src.to_ascii_lowercase();
    }
    bool::from(lower[..expected.len()].ct_eq(expected))
}

/// RFC 3261 §10.3: same Call-ID and a CSeq not above the stored one.
fn out_of_order(b: &Binding, req: &RegisterRequest<'_>) -> bool {
    b.call_id == req.call_id && req.cseq <= b.cseq
}

/// `+sip.instance` without quotes; empty counts as absent.
fn instance_of<'a>(c: &ContactIn<'a>) -> Option<&'a str> {
    c.instance
        .map(|i| i.trim().trim_matches('"'))
        .filter(|i| !i.is_empty())
}

/// Binding identity: instance (+reg-id) when both sides have one (RFC 5626/5627), else the
/// contact URI per RFC 3261 §19.1.4.
fn same_key(
    (uri_a, inst_a, reg_a): (&str, Option<&str>, Option<u32>),
    (uri_b, inst_b, reg_b): (&str, Option<&str>, Option<u32>),
) -> bool {
    match (inst_a, inst_b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b) && reg_a == reg_b,
        _ => uri_eq(uri_a, uri_b),
    }
}

fn contact_key<'a>(c: &ContactIn<'a>) -> (&'a str, Option<&'a str>, Option<u32>) {
    (c.uri.trim(), instance_of(c), c.reg_id)
}

fn binding_key(b: &Binding) -> (&str, Option<&str>, Option<u32>) {
    (&b.uri, b.instance.as_deref(), b.reg_id)
}

/// The last contact of the request naming binding `b` (the last one wins).
fn last_match(contacts: &[ContactIn<'_>], b: &Binding) -> Option<usize> {
    contacts
        .iter()
        .rposition(|c| same_key(contact_key(c), binding_key(b)))
}

/// Whether contact `i` creates a binding: no live binding matches it and no later contact
/// that also creates one names it (so a repeated new contact is added once, last wins).
fn is_new(contacts: &[ContactIn<'_>], i: usize, live: &[Binding]) -> bool {
    let unmatched = |c: &ContactIn<'_>| {
        !live
            .iter()
            .any(|b| same_key(contact_key(c), binding_key(b)))
    };
    unmatched(&contacts[i])
        && !contacts[i + 1..].iter().any(|later| {
            unmatched(later) && same_key(contact_key(later), contact_key(&contacts[i]))
        })
}

fn new_binding(
    c: &ContactIn<'_>,
    req: &RegisterRequest<'_>,
    expires: u32,
    now: Instant,
) -> Binding {
    Binding {
        uri: Arc::from(c.uri.trim()),
        contact_raw: c.raw.to_owned(),
        received: req.received,
        transport: req.transport.to_owned(),
        call_id: req.call_id.to_owned(),
        cseq: req.cseq,
        expires_at: add_secs(now, expires),
        registered_at: now,
        refreshed_at: now,
        q: c.q,
        instance: instance_of(c).map(str::to_owned),
        reg_id: c.reg_id,
        user_agent: req.user_agent.map(str::to_owned),
    }
}

/// Updates a binding in place, reusing its string buffers.
fn refresh(
    b: &mut Binding,
    c: &ContactIn<'_>,
    req: &RegisterRequest<'_>,
    expires: u32,
    now: Instant,
) {
    let uri = c.uri.trim();
    if *b.uri != *uri {
        b.uri = Arc::from(uri);
    }
    assign(&mut b.contact_raw, c.raw);
    b.received = req.received;
    assign(&mut b.transport, req.transport);
    assign(&mut b.call_id, req.call_id);
    b.cseq = req.cseq;
    b.expires_at = add_secs(now, expires);
    b.refreshed_at = now;
    b.q = c.q;
    assign_opt(&mut b.instance, instance_of(c));
    b.reg_id = c.reg_id;
    assign_opt(&mut b.user_agent, req.user_agent);
}

fn assign(dst: &mut String, src: &str) {
    if dst != src {
        dst.clear();
        dst.push_str(src);
    }
}

fn assign_opt(dst: &mut Option<String>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => assign(d, s),
        (_, s) => *dst = s.map(str::to_owned),
    }
}

/// Highest `q` first, then most recently refreshed.
fn binding_order(a: &Binding, b: &Binding) -> std::cmp::Ordering {
    b.priority()
        .total_cmp(&a.priority())
        .then(b.refreshed_at.cmp(&a.refreshed_at))
}

/// The live bindings as listed in a 200, in [`binding_order`].
fn views(bs: &[Binding], now: Instant) -> Vec<BindingView> {
    let mut live: Vec<&Binding> = bs.iter().filter(|b| !b.is_expired(now)).collect();
    live.sort_unstable_by(|a, b| binding_order(a, b));
    live.into_iter()
        .map(|b| {
            let left = b.expires_in(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            BindingView {
                uri: Arc::clone(&b.uri),
                expires: u32::try_from(secs).unwrap_or(u32::MAX),
                q: b.q,
                instance: b.instance.clone(),
                reg_id: b.reg_id,
            }
        })
        .collect()
}

/// `now + secs`; an unrepresentable instant (impossible with validated configs) yields
/// `now`, i.e. an already lapsed binding, rather than a panic.
fn add_secs(now: Instant, secs: u32) -> Instant {
    now.checked_add(Duration::from_secs(u64::from(secs)))
        .unwrap_or(now)
}

fn millis_between(epoch: Instant, now: Instant) -> u64 {
    duration_millis(now.saturating_duration_since(epoch))
}

fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
