//! Sans-IO SIP registrar: location table, digest authentication, expiry.
//!
//! # Contract
//!
//! - **In**: typed values the daemon extracted from a REGISTER ([`RegisterRequest`], borrowed
//!   from the parsed message) and the current time `now`.
//! - **Out**: a [`RegisterOutcome`] that the daemon turns into a response
//!   ([`RegisterOutcome::status`], [`RegisterOutcome::reason`], plus the variant's headers).
//! - **Timers**: after any call, sleep until [`Registrar::poll_timeout`] (the next binding
//!   expiry) and call [`Registrar::expire`] then; it returns the lapsed bindings.
//! - **Routing**: [`Registrar::lookup`] gives a user's live bindings, with the address each
//!   REGISTER came from (`received`) to reach phones behind NAT.
//! - **Never**: sockets, tasks, reading the clock, OS randomness (the 32-byte nonce secret is
//!   passed in), logging, or panicking on input. It does not depend on `sip-msg`.
//!
//! # Example
//!
//! ```
//! use std::time::Instant;
//! use registrar::*;
//!
//! let users = [UserCredential::new("alice", "secret")];
//! let mut reg = Registrar::new(RegistrarConfig::new("example.com"), users, [9; 32])?;
//! let now = Instant::now(); // the daemon reads the clock; the registrar never does
//! let contacts = [ContactIn {
//!     uri: "sip:alice@192.0.2.10:5062",
//!     expires: None,
//!     q: None,
//!     instance: None,
//!     reg_id: None,
//!     raw: "<sip:alice@192.0.2.10:5062>",
//! }];
//! let mut req = RegisterRequest {
//!     aor_user: "alice",
//!     request_uri: "sip:example.com",
//!     authorization: &[],
//!     source_ip: "192.0.2.10".parse()?,
//!     call_id: "a84b4c76e66710",
//!     cseq: 1,
//!     contacts: ContactsIn::List(&contacts),
//!     expires_header: None,
//!     transport: "udp",
//!     received: "192.0.2.10:5062".parse()?,
//!     user_agent: None,
//! };
//! let RegisterOutcome::Challenge { headers } = reg.handle_register(&req, now) else {
//!     unreachable!("the first REGISTER is challenged");
//! };
//! // The phone's side, as our test UA does it.
//! let auth = build_authorization(
//!     &headers[0], "alice", "secret", "REGISTER", "sip:example.com", 1, "0a4f113b",
//! )?;
//! let auths = [auth.as_str()];
//! req.authorization = &auths;
//! req.cseq = 2;
//! let out = reg.handle_register(&req, now);
//! assert_eq!(out.status(), 200);
//! assert_eq!(reg.lookup("alice", now).len(), 1);
//! assert_eq!(reg.poll_timeout(), Some(now + std::time::Duration::from_secs(3600)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Decisions
//!
//! - **Digest** (RFC 7616, RFC 8760): one `WWW-Authenticate` per configured algorithm
//!   (default SHA-256 then MD5), all with the same nonce, `qop="auth"`, no `opaque` (the
//!   nonce is self-authenticating). `-sess` variants are verified if configured; `userhash`,
//!   `auth-int` and `SHA-512-256` are not supported.
//! - **qop=auth is required.** The RFC 2069 form (no qop) has no nonce count, hence no replay
//!   protection; credentials without it fail. Every phone of the last fifteen years sends it.
//!   The client helpers still produce the RFC 2069 form when a foreign server asks for it.
//! - **Nonces are stateless**: 64 hex digits = issue time (ms) ‖ 64 random bits ‖ truncated
//!   HMAC-SHA256 under the secret, checked in constant time (see `nonce.rs`). A nonce older
//!   than `nonce_lifetime`, signed with another secret (a previous run) or forgotten by the
//!   replay table gets a `stale=true` challenge **if the response was right**, so the phone
//!   retries without prompting; a wrong response is a failure.
//! - **Replay**: `nc` must strictly increase per nonce; a bounded table keeps the highest
//!   `nc` of each nonce used. A replayed `nc` is a failed authentication.
//! - **No user enumeration**: an unknown user is verified against a dummy HA1 derived from
//!   the secret, so it costs the same hashes and gets the same fresh 401 as a wrong password.
//!   Only a *correct* response for another user than the AOR gets 403.
//! - **Failures** (wrong response, unknown user, replay, bad `uri`, missing qop) count per
//!   source (IPv4 address or IPv6 /64). At `failure_limit` within `failure_window` the source
//!   gets `RateLimited` (403 "Too Many Failed Attempts", no digest computed) until the window
//!   ends. A malformed `Authorization` is a 400 and not counted; no credentials is a plain 401.
//! - **Status codes**: `Contact: *` with other contacts or a non-zero `Expires` → 400;
//!   expiry below `min_expires` (and below one hour, RFC 3261 §10.3) → 423 with
//!   `Min-Expires`; above `max_expires` → shortened; same Call-ID with a CSeq not above the
//!   stored one → 500 (RFC 3261 §10.3: the request fails, and failed updates are 500s);
//!   too many contacts → 403 "Too Many Contacts", nothing changed (or, with
//!   [`ContactOverflow::EvictOldest`], the least recently refreshed bindings make room). A
//!   403 rather than Kamailio's 503 because a 503 invites the phone to retry or fail over.
//! - **Bindings** are identified by `+sip.instance` (+ `reg-id`) when both sides carry one
//!   (RFC 5626/5627: a rebooted phone replaces its old binding), else by RFC 3261 §19.1.4
//!   URI equality. The 200 lists all current bindings with their remaining `expires`.
//! - **`AuthMode::None`** skips authentication (benchmarks); the AOR must still be a
//!   configured user (404 otherwise), which keeps the table bounded.
//! - **Storage** sits behind [`LocationStore`]: per-AOR read and atomic read-modify-write,
//!   sweep, next expiry; [`MemoryStore`] is the in-process implementation.

mod config;
mod digest;
mod error;
mod nonce;
mod ratelimit;
mod registrar;
mod store;
mod uri;

#[cfg(test)]
mod tests;

pub use config::{Algorithm, AuthMode, ContactOverflow, RegistrarConfig, UserCredential};
pub use digest::{
    build_authorization, digest_response, parse_authorization, parse_challenge, DigestChallenge,
    DigestCredentials,
};
pub use error::Error;
pub use registrar::{
    BindingView, ContactIn, ContactsIn, RegisterOutcome, RegisterRequest, Registrar, RegistrarStats,
};
pub use store::{Binding, LocationStore, MemoryStore};
pub use uri::uri_eq;
