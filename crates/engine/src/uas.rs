//! The user-agent-server rules every request goes through before its method handler:
//! retransmission matching, RFC 3581 Via stamping, and the checks of RFC 3261 §8.2 and §16.3
//! that decide whether a request is answered with an error instead.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_msg::{HeaderName, Method, Request, Response};
use tracing::debug;

use crate::wire::{Destination, Wire};
use crate::{Engine, Inbound};

/// The methods we answer, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, MESSAGE";
/// The extensions we support, which a UAC may `Require`: session timers (RFC 4028).
const SUPPORTED: &[&str] = &["timer"];
/// Our Via branches start with this, after the RFC 3261 magic cookie: a Via of ours in an
/// incoming request means it looped back.
pub const BRANCH_PREFIX: &str = "z9hG4bKsb";

/// How long a request without To tag is remembered for merged-request detection (RFC 3261
/// §8.2.2.2): the lifetime of a server transaction over UDP.
const MERGE_WINDOW: Duration = Duration::from_secs(32);
/// Upper bound on remembered requests; past it the oldest window is dropped early.
const MERGE_CAPACITY: usize = 200_000;

/// Requests without To tag seen recently, keyed by From tag, Call-ID and CSeq; the value is the
/// top Via branch they came with. The same key with another branch is a merged request: the
/// same request reached us twice over different paths (a forking proxy upstream).
#[derive(Default)]
pub struct MergedRequests {
    current: HashMap<(Bytes, Bytes, u32), Bytes>,
    previous: HashMap<(Bytes, Bytes, u32), Bytes>,
    rotate_at: Option<Instant>,
}

impl MergedRequests {
    /// Records the request; returns true when it is a merged copy of one seen before.
    fn check(&mut self, key: (Bytes, Bytes, u32), branch: &Bytes, now: Instant) -> bool {
        if self.rotate_at.is_none() {
            self.rotate_at = Some(now + MERGE_WINDOW);
        }
        if let Some(seen) = self.current.get(&key).or_else(|| self.previous.get(&key)) {
            return seen != branch;
        }
        if self.current.len() >= MERGE_CAPACITY {
            self.rotate(now);
        }
        self.current.insert(key, branch.clone());
        false
    }

    /// Early rotation when the current generation is full.
    fn rotate(&mut self, now: Instant) {
        self.previous = std::mem::take(&mut self.current);
        self.rotate_at = Some(now + MERGE_WINDOW);
    }

    /// Two generations: an entry lives between one and two windows. A late call catches up on
    /// every rotation it missed.
    pub fn expire(&mut self, now: Instant) {
        while let Some(due) = self.rotate_at.filter(|t| *t <= now) {
            self.previous = std::mem::take(&mut self.current);
            self.rotate_at = (!self.previous.is_empty()).then_some(due + MERGE_WINDOW);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.rotate_at
    }
}

/// Where to send responses to a request that came from `inbound` (RFC 3261 §18.2.2, RFC 3581
/// §4): the same TCP connection; over UDP the address the stamped top Via names (`received`
/// and `rport` when the client asked for it, else the Via port).
pub fn response_destination(inbound: &Inbound, stamped_via: &sip_msg::Via) -> Destination {
    let dest = match inbound.transport.is_reliable() {
        true => inbound.peer,
        false => stamped_via.response_target().unwrap_or(inbound.peer),
    };
    Destination {
        transport: inbound.transport,
        local: inbound.local,
        dest,
        conn: inbound.conn,
    }
}

impl Engine {
    pub(crate) fn on_parse_error(
        &mut self,
        error: sip_msg::ParseError,
        inbound: &Inbound,
        now: Instant,
    ) {
        let status = error.status_code();
        let reason = error.to_string();
        let Some(partial) = error.into_partial_request() else {
            self.stats.dropped_unparseable += 1;
            debug!(peer = %inbound.peer, %reason, "dropped unparseable message");
            return;
        };
        if partial.method == Method::Ack {
            // An ACK is never answered.
            self.stats.dropped_unparseable += 1;
            return;
        }
        let Some(mut response) = partial.response(status, &reason) else {
            self.stats.dropped_unparseable += 1;
            debug!(peer = %inbound.peer, %reason, "dropped malformed request without usable Via");
            return;
        };
        let Some(via) = stamp_via(&mut response.headers, inbound) else {
            self.stats.dropped_unparseable += 1;
            return;
        };
        self.stats.bad_requests += 1;
        debug!(peer = %inbound.peer, status, %reason, "rejected malformed request");
        let to = response_destination(inbound, &via);
        let tag = self.next_tag();
        response.set_to_tag(&tag);
        self.push_stateless(response, to);
        let _ = now;
    }

    pub(crate) fn on_request(&mut self, mut req: Request, inbound: &Inbound, now: Instant) {
        let Some(via) = stamp_via(&mut req.headers, inbound) else {
            self.stats.dropped_unparseable += 1;
            return;
        };
        let to = response_destination(inbound, &via);
        let key = crate::register::transaction_key(&req, &via);

        if let Some(id) = self.transactions.lookup(&key) {
            // A retransmission (or the ACK of a non-2xx final response): the transaction
            // answers it with the response it already sent, or absorbs it.
            let msg = Wire::new(to, Bytes::new());
            let fed = if req.method == Method::Ack {
                self.transactions.on_ack(id, msg, now)
            } else {
                self.stats.retransmissions += 1;
                self.transactions.on_request(id, msg, now)
            };
            if let Err(e) = fed {
                debug!(error = %e, "request matched a transaction that could not take it");
            }
            return;
        }
        match req.method {
            Method::Ack => {
                // The ACK of a 2xx goes to its dialog.
                self.on_dialog_ack(&req, now);
                return;
            }
            Method::Cancel => {
                let invite = key
                    .invite_for_cancel()
                    .and_then(|k| self.transactions.lookup(&k));
                // 200 when the INVITE is known (§9.2); a call still ringing then ends with 487.
                let status = if invite.is_some() { 200 } else { 481 };
                self.respond(&req, &key, to, status, reason_phrase(status), now);
                if let Some(id) = invite {
                    self.on_caller_cancel(id, now);
                }
                return;
            }
            _ => {}
        }

        if let Some((status, reason)) = self.reject_reason(&req, &via, now) {
            let extra = self.rejection_headers(&req, status);
            self.respond_with(&req, &key, to, status, &reason, now, |resp| {
                for (name, value) in extra {
                    resp.headers.push(name, value);
                }
            });
            return;
        }

        let in_dialog = req.headers.to().is_ok_and(|t| t.tag().is_some());
        if in_dialog && self.on_in_dialog(&req, &key, to, now) {
            return;
        }

        match req.method {
            Method::Options => {
                let accept = "application/sdp";
                self.respond_with(&req, &key, to, 200, "OK", now, |resp| {
                    resp.headers.push(HeaderName::Allow, ALLOW);
                    resp.headers.push(HeaderName::Accept, accept);
                });
            }
            Method::Register => self.on_register(&req, &key, to, inbound, now),
            Method::Invite => self.on_invite(&req, &key, to, inbound, now),
            Method::Bye | Method::Info | Method::Update | Method::Prack => {
                self.respond(&req, &key, to, 481, "Call/Transaction Does Not Exist", now);
            }
            Method::Message => self.on_message(&req, &key, to, inbound, now),
            Method::Refer | Method::Subscribe | Method::Notify | Method::Publish => {
                self.respond_with(&req, &key, to, 405, "Method Not Allowed", now, |resp| {
                    resp.headers.push(HeaderName::Allow, ALLOW);
                });
            }
            Method::Other(_) | Method::Ack | Method::Cancel => {
                self.respond_with(&req, &key, to, 501, "Not Implemented", now, |resp| {
                    resp.headers.push(HeaderName::Allow, ALLOW);
                });
            }
        }
    }

    /// The first rule of RFC 3261 §8.2 / §16.3 the request breaks, as a status and reason.
    fn reject_reason(
        &mut self,
        req: &Request,
        via: &sip_msg::Via,
        now: Instant,
    ) -> Option<(u16, String)> {
        if self.draining {
            return Some((503, "Service Unavailable (shutting down)".into()));
        }
        match req.headers.max_forwards() {
            Ok(Some(0)) if req.method != Method::Register => {
                return Some((483, "Too Many Hops".into()))
            }
            Ok(_) => {}
            Err(e) => return Some((400, e.to_string())),
        }
        if self.is_loop(req) {
            return Some((482, "Loop Detected".into()));
        }
        if !matches!(
            req.uri.scheme(),
            sip_msg::Scheme::Sip | sip_msg::Scheme::Sips | sip_msg::Scheme::Tel
        ) {
            return Some((416, "Unsupported URI Scheme".into()));
        }
        if let Some(unsupported) = unsupported_requirements(req) {
            let _ = unsupported;
            return Some((420, "Bad Extension".into()));
        }
        // Merged requests (§8.2.2.2): only requests outside a dialog, identified without To tag.
        // Not REGISTER: nothing forks it on its way to the registrar of its domain, and
        // remembering every REGISTER for 32 s at registration-storm rates would cost memory
        // for no protection.
        if req.method == Method::Register {
            return None;
        }
        if let (Ok(from), Ok(to), Ok(call_id), Ok(cseq)) = (
            req.headers.from(),
            req.headers.to(),
            req.headers.call_id(),
            req.headers.cseq(),
        ) {
            if to.tag().is_none() {
                if let (Some(from_tag), Some(branch)) = (from.tag(), via.branch()) {
                    let key = (from_tag.clone(), call_id.clone(), cseq.seq);
                    if self.merged.check(key, branch, now) {
                        return Some((482, "Loop Detected (merged request)".into()));
                    }
                }
            }
        }
        None
    }

    fn rejection_headers(&self, req: &Request, status: u16) -> Vec<(HeaderName, String)> {
        match status {
            420 => vec![(
                HeaderName::Unsupported,
                unsupported_requirements(req).unwrap_or_default(),
            )],
            503 => vec![(HeaderName::RetryAfter, "5".into())],
            _ => Vec::new(),
        }
    }

    /// A Via we put there (our branch prefix and one of our listen addresses) means the request
    /// came back to us.
    fn is_loop(&self, req: &Request) -> bool {
        req.headers.vias().is_ok_and(|vias| {
            vias.iter().any(|via| {
                via.branch()
                    .is_some_and(|b| b.starts_with(BRANCH_PREFIX.as_bytes()))
                    && self.config.listen.iter().any(|l| {
                        via.host.ip() == Some(l.ip()) && via.port.unwrap_or(5060) == l.port()
                    })
            })
        })
    }

    pub(crate) fn respond(
        &mut self,
        req: &Request,
        key: &sip_core::TransactionKey,
        to: Destination,
        status: u16,
        reason: &str,
        now: Instant,
    ) {
        self.respond_with(req, key, to, status, reason, now, |_| {});
    }

    /// Answers `req` through a new server transaction, so that retransmissions of the request
    /// get the same response and, for INVITE, the response is retransmitted until ACKed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn respond_with(
        &mut self,
        req: &Request,
        key: &sip_core::TransactionKey,
        to: Destination,
        status: u16,
        reason: &str,
        now: Instant,
        fill: impl FnOnce(&mut Response),
    ) {
        let mut resp = Response::for_request(req, status, reason);
        if status > 100 {
            let tag = self.next_tag();
            resp.set_to_tag(&tag);
        }
        resp.headers
            .push(HeaderName::Server, self.config.user_agent.clone());
        fill(&mut resp);
        let wire = Wire::new(to, resp.to_bytes());
        let request = Wire::new(to, Bytes::new());
        let reliable = to.transport.is_reliable();
        let inserted = if req.method == Method::Invite {
            self.transactions
                .insert_server_invite(key.clone(), request, reliable, now)
        } else {
            self.transactions
                .insert_server_non_invite(key.clone(), request, reliable, now)
        };
        let sent = inserted.and_then(|id| {
            self.transactions
                .send_response(id, status, wire.clone(), now)
        });
        if let Err(e) = sent {
            // Only a key clash can land here, and lookup() ran first: answer without state.
            debug!(error = %e, "no server transaction for the response; sent statelessly");
            self.stats.responses_sent += 1;
            self.outbox.push_back(wire.into_transmit());
        }
    }

    /// Sends a response outside any transaction (answers to requests too broken to match).
    fn push_stateless(&mut self, resp: Response, to: Destination) {
        self.stats.responses_sent += 1;
        self.outbox
            .push_back(Wire::new(to, resp.to_bytes()).into_transmit());
    }
}

/// RFC 3581 §4 / RFC 3261 §18.2.1: note where the request really came from on its top Via, so
/// the responses (which copy the Via) tell the client its public address. Returns the stamped
/// Via, or None when the request has no usable Via.
fn stamp_via(headers: &mut sip_msg::Headers, inbound: &Inbound) -> Option<sip_msg::Via> {
    headers.stamp_top_via(inbound.peer).ok()?;
    headers.top_via().ok()
}

/// The option tags of `Require` we don't support, comma-separated; None when all are fine.
fn unsupported_requirements(req: &Request) -> Option<String> {
    let unsupported: Vec<String> = req
        .headers
        .get_all(&HeaderName::Require)
        .flat_map(sip_msg::split_list)
        .map(|t| String::from_utf8_lossy(t.as_ref()).trim().to_string())
        .filter(|t| !t.is_empty() && !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .collect();
    (!unsupported.is_empty()).then(|| unsupported.join(", "))
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        _ => match status / 100 {
            1 => "Trying",
            2 => "OK",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}
