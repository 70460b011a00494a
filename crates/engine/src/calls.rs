//! The B2BUA: inbound INVITEs become calls whose caller leg and agent legs are separate dialogs
//! owned here, with [`routing::CallRouting`] deciding who rings.
//!
//! # Where the state lives
//!
//! [`Calls`] (one per engine) holds every call by [`CallKey`], the dialog index
//! `(Call-ID, local tag, remote tag) → (call, leg)` used to route in-dialog requests and ACKs,
//! the server INVITE transaction of each caller (so a CANCEL finds its call), and what each of
//! our client transactions is for ([`ClientKind`]). Calls wake up through one heap of
//! `(deadline, call)`; stale entries are skipped.
//!
//! # Rules worth knowing
//!
//! - **Caller identity**: a request counts as coming from user `u` when its From user is `u`
//!   and `u` has a registered binding whose REGISTER came from the same IP address. Otherwise
//!   the source is the address alone (trunk ACL). Simple on purpose: digest-authenticated
//!   INVITEs can replace it.
//! - **Agent legs** are sent where the agent's REGISTER came from (`Binding::received`), so
//!   phones behind NAT are reached. Only UDP bindings are rung; a binding over another
//!   transport counts as a transport error at once (the daemon opens no connections yet).
//! - **CANCEL before a provisional** (RFC 3261 §9.1): not sent; remembered, and sent when the
//!   first provisional (100 included) arrives. If none ever does, Timer B ends the INVITE.
//! - **2xx**: every 2xx from an agent is ACKed by us (RFC 6026: the TU's job), retransmissions
//!   included. Our 2xx to the caller (and to any re-INVITE we relay) is retransmitted from T1,
//!   doubling up to T2, until the ACK with its CSeq arrives on that leg; after 64·T1 without
//!   ACK the call is torn down with BYE (RFC 3261 §13.3.1.4).
//! - **Session timers** (RFC 4028), per leg, so that a vanished party cannot keep a call up:
//!   - agent legs: our INVITE offers `Supported: timer`, `Session-Expires:
//!     [`crate::NodeConfig::session_expires`]` (no refresher: the agent chooses, §7.1) and
//!     `Min-SE: 90`. The 2xx's `refresher=uac` (or no refresher) makes us the refresher,
//!     `refresher=uas` the agent. An agent that answers a 422 is a failed branch (logged; no
//!     retry with a larger interval).
//!   - the caller leg: a `Session-Expires` below 90 s gets `422` with `Min-SE: 90` before
//!     routing. A caller with `Supported: timer` gets `Session-Expires: N;refresher=uac` (its
//!     own N, or ours when it offered none; `uas` when it asked for that) and `Require: timer`
//!     in our 2xx.
//!   - refreshing a leg is a re-INVITE carrying the last SDP we sent on it (every UA supports
//!     re-INVITE; the same SDP version changes nothing in the media), sent every N/2 (§10).
//!     Its 2xx is ACKed and restarts the timer; 408, 481 or no answer at all ends the call with
//!     BYE on both legs; other failures (491 glare, 5xx) are retried after 4 s until the
//!     session would have expired.
//!   - being refreshed: a re-INVITE (relayed to the other leg as ever) or a body-less UPDATE
//!     (answered 200 here, never relayed; UPDATE with an offer gets 488, and UPDATE is not in
//!     our `Allow`) restarts that leg's timer. No refresh by `N - min(32 s, N/3)`: BYE to both.
//!   - a leg without timer support (an agent's 2xx without `Session-Expires`, a caller without
//!     `Supported: timer`) falls back to the liveness probe: an in-dialog OPTIONS once no
//!     in-dialog request was seen on the call for `session_expires`; a 408, 481 or timeout
//!     tears both legs down with BYE.
//! - **Voicemail** is not available until the media work lands: the caller gets
//!   `480 Voicemail Not Available Yet`. **IVR** steps are not run yet: the menu's `no_input`
//!   route is taken at once, with a warning.
//! - **re-INVITE** (hold/unhold) on a bridged call is forwarded to the other leg with its SDP;
//!   its final response is relayed back. Our ACKs are our own on each leg (an offerless
//!   re-INVITE whose answer comes in the ACK is not relayed).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use config::UserId;
use routing::{
    AgentPresence, BranchId, CallRecord, CallRouting, CallSetup, CancelReason, ContactRef,
    EndReason, Output,
};
use sip_core::{TransactionKey, TxId, TxMethod};
use sip_msg::{HeaderName, Method, Request, Response, Uri};
use tracing::{debug, info, warn};

use crate::media::{CallMedia, MediaEvent, MediaPorts, OfferError, RemoteMedia, Side};
use crate::notice::{ActionError, AgentState, CallNotice, CallSnapshot, Notice, TransferTarget};
use crate::uas::{reason_phrase, ALLOW, BRANCH_PREFIX};
use crate::wire::{Destination, Wire};
use crate::{Engine, Inbound, Transport};

/// Ended call records kept for the API.
pub const ENDED_CALLS_KEPT: usize = 1000;

/// The engine's handle of a call in its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(u64);

/// One side of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    Caller,
    Agent(BranchId),
}

/// Where a call stands, from the SIP side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The caller waits for a final response while agents ring.
    Routing,
    /// The caller is answered and bridged to this branch.
    Bridged(BranchId),
    /// Final response or BYE sent; only lingering transactions remain.
    Ended,
}

type DialogKey = (Bytes, Bytes, Bytes);

/// All calls of the node, and the indexes that lead to them.
#[derive(Default)]
pub struct Calls {
    calls: HashMap<CallKey, Call>,
    by_id: HashMap<routing::CallId, CallKey>,
    dialogs: HashMap<DialogKey, (CallKey, Leg)>,
    by_server_tx: HashMap<TxId, CallKey>,
    clients: HashMap<TxId, ClientTx>,
    wakeups: BinaryHeap<Reverse<(Instant, CallKey)>>,
    ended: VecDeque<CallRecord>,
    pub(crate) presence: AgentPresence,
    next_key: u64,
}

impl Calls {
    /// The client transactions the calls are waiting on.
    pub(crate) fn client_ids(&self) -> impl Iterator<Item = TxId> + '_ {
        self.clients.keys().copied()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wakeups.peek().map(|Reverse((at, _))| *at)
    }

    /// Calls still ringing or bridged.
    pub fn active(&self) -> usize {
        self.calls
            .values()
            .filter(|c| c.phase != Phase::Ended)
            .count()
    }
}

/// What one of our client transactions is for.
struct ClientTx {
    call: CallKey,
    leg: Leg,
    kind: ClientKind,
}

enum ClientKind {
    Invite,
    Cancel,
    Bye,
    /// A re-INVITE relayed from `from`, whose server transaction waits for the answer.
    ReInvite {
        from: Leg,
        server_tx: TxId,
        request: Box<Request>,
        answered: bool,
    },
    Probe,
    /// A session refresh we send (RFC 4028), a re-INVITE.
    Refresh,
    /// Anything whose answer changes nothing (the NOTIFY ending a REFER).
    Notice,
}

/// `Min-SE` we demand and announce (RFC 4028 §4).
const MIN_SE: u64 = 90;
/// Wait before re-sending a refresh that failed without ending the dialog (491, 5xx).
const REFRESH_RETRY: Duration = Duration::from_secs(4);

/// One leg's negotiated session timer (RFC 4028).
#[derive(Clone, Copy, Debug)]
struct SessionTimer {
    interval: Duration,
    /// We send the refreshes; otherwise the peer does and we watch for them.
    we_refresh: bool,
    /// The next refresh to send (we refresh), or when the session expires (they refresh).
    due: Instant,
    /// The last successful refresh (or the answer).
    refreshed: Instant,
}

impl SessionTimer {
    fn new(interval: Duration, we_refresh: bool, now: Instant) -> SessionTimer {
        let mut t = SessionTimer {
            interval,
            we_refresh,
            due: now,
            refreshed: now,
        };
        t.restart(now);
        t
    }

    /// A refresh succeeded at `now` (RFC 4028 §10: refresh at N/2, expire at N - min(32, N/3)).
    fn restart(&mut self, now: Instant) {
        self.refreshed = now;
        self.due = if self.we_refresh {
            now + self.interval / 2
        } else {
            now + self.expiry()
        };
    }

    fn expiry(&self) -> Duration {
        self.interval - (self.interval / 3).min(Duration::from_secs(32))
    }

    /// The `refresher` parameter as seen in a transaction whose UAC is the peer.
    fn refresher_when_peer_asks(&self) -> &'static str {
        if self.we_refresh {
            "uas"
        } else {
            "uac"
        }
    }
}

/// Who a `Session-Expires` names as refresher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refresher {
    Uac,
    Uas,
}

/// A `Session-Expires` header (RFC 4028 §4): delta-seconds and the `refresher` parameter.
fn session_expires_of(headers: &sip_msg::Headers) -> Option<(u64, Option<Refresher>)> {
    let v = headers.get(&HeaderName::SessionExpires).map(|v| text(v))?;
    let mut parts = v.split(';');
    let secs = parts.next()?.trim().parse::<u64>().ok()?;
    let refresher = parts.find_map(|p| {
        let (k, val) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("refresher") {
            return None;
        }
        match val.trim().to_ascii_lowercase().as_str() {
            "uac" => Some(Refresher::Uac),
            "uas" => Some(Refresher::Uas),
            _ => None,
        }
    });
    Some((secs, refresher))
}

/// Whether `Supported` (or `Require`) lists the `timer` option tag.
fn supports_timer(headers: &sip_msg::Headers) -> bool {
    [HeaderName::Supported, HeaderName::Require]
        .iter()
        .flat_map(|n| headers.get_all(n))
        .flat_map(sip_msg::split_list)
        .any(|t| t.as_ref().trim_ascii().eq_ignore_ascii_case(b"timer"))
}

fn min_se_header() -> HeaderName {
    HeaderName::from_static("Min-SE")
}

struct Call {
    id: routing::CallId,
    routing: CallRouting,
    line: String,
    /// For `X-Switchboard-IVR-Branch` / `-Path` once the IVR runs.
    ivr_branch: Option<String>,
    ivr_path: Option<String>,
    caller: CallerLeg,
    agents: HashMap<BranchId, AgentLeg>,
    /// The caller leg's session timer, negotiated on its INVITE: interval and whether we
    /// refresh. None: the caller does not support timers (the leg is probed).
    caller_session: Option<(Duration, bool)>,
    phase: Phase,
    /// The provisional response that made routing say `Ringing`.
    last_provisional: Option<Response>,
    retx: Vec<Retx>,
    probe_at: Option<Instant>,
    scheduled: Option<Instant>,
    live_invites: u32,
    /// The anchored media, when the engine has a relay (see [`crate::media`]).
    media: Option<CallMedia>,
    /// We answered the caller ourselves (an IVR): its dialog exists while routing goes on.
    caller_answered: bool,
    /// The IVR menu the caller is in.
    ivr: Option<ivr::IvrSession>,
    /// The caller is leaving a voicemail.
    voicemail: Option<VoicemailState>,
}

/// Where a voicemail stands: the greeting plays, then the tone with the recording.
struct VoicemailState {
    path: std::path::PathBuf,
    recording: bool,
}

impl Call {
    fn timer_mut(&mut self, leg: Leg) -> Option<&mut SessionTimer> {
        match leg {
            Leg::Caller => self.caller.timer.as_mut(),
            Leg::Agent(b) => self.agents.get_mut(&b)?.timer.as_mut(),
        }
    }

    fn timer(&self, leg: Leg) -> Option<&SessionTimer> {
        match leg {
            Leg::Caller => self.caller.timer.as_ref(),
            Leg::Agent(b) => self.agents.get(&b)?.timer.as_ref(),
        }
    }

    fn set_sdp(&mut self, leg: Leg, sdp: (Option<Bytes>, Bytes)) {
        match leg {
            Leg::Caller => self.caller.sdp = Some(sdp),
            Leg::Agent(b) => {
                if let Some(a) = self.agents.get_mut(&b) {
                    a.sdp = Some(sdp);
                }
            }
        }
    }

    /// The legs with an established dialog: both when bridged, the caller alone while an
    /// IVR we answered (or the ringing after it) runs.
    fn live_legs(&self) -> impl Iterator<Item = Leg> {
        let legs = match self.phase {
            Phase::Bridged(w) => [Some(Leg::Caller), Some(Leg::Agent(w))],
            Phase::Routing if self.caller_answered => [Some(Leg::Caller), None],
            _ => [None, None],
        };
        legs.into_iter().flatten()
    }
}

struct CallerLeg {
    server_tx: TxId,
    invite: Request,
    dest: Destination,
    tag: String,
    max_forwards: u8,
    dialog: Option<Dialog>,
    timer: Option<SessionTimer>,
    /// The last SDP we sent on this leg (what a refresh re-INVITE offers again).
    sdp: Option<(Option<Bytes>, Bytes)>,
}

struct AgentLeg {
    user: UserId,
    invite: Arc<Request>,
    invite_tx: Option<TxId>,
    dest: Destination,
    provisional: bool,
    cancel_pending: Option<CancelReason>,
    cancel_sent: bool,
    dialog: Option<Dialog>,
    answer: Option<Response>,
    timer: Option<SessionTimer>,
    /// The last SDP we sent on this leg.
    sdp: Option<(Option<Bytes>, Bytes)>,
}

/// One dialog of ours (RFC 3261 §12), enough to send requests in it.
struct Dialog {
    call_id: Bytes,
    local_tag: Bytes,
    remote_tag: Bytes,
    /// Our From value in requests we send, tag included.
    local: Bytes,
    /// Their To value in requests we send, tag included.
    remote: Bytes,
    target: Uri,
    routes: Vec<Bytes>,
    cseq: u32,
    dest: Destination,
}

impl Dialog {
    fn key(&self) -> DialogKey {
        (
            self.call_id.clone(),
            self.local_tag.clone(),
            self.remote_tag.clone(),
        )
    }
}

/// A 2xx we retransmit until its ACK.
struct Retx {
    leg: Leg,
    cseq: u32,
    wire: Wire,
    interval: Duration,
    next: Instant,
    give_up: Instant,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The contacts routing may ring for `user`: registered binding URIs.
fn contacts_of(registrar: &registrar::Registrar, user: &UserId, now: Instant) -> Vec<ContactRef> {
    registrar
        .lookup(user.as_str(), now)
        .into_iter()
        .map(|b| ContactRef::new(b.uri.clone()))
        .collect()
}

macro_rules! directory {
    ($self:ident, $now:expr) => {{
        let registrar = &$self.registrar;
        let now = $now;
        $self
            .calls
            .presence
            .with_contacts(move |u: &UserId| contacts_of(registrar, u, now))
    }};
}

impl Engine {
    // -----------------------------------------------------------------------------------------
    // Accessors

    /// Records of the calls in progress (and those lingering until their last transaction).
    pub fn calls(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls.calls.values().map(|c| c.routing.record())
    }

    /// One call's record, in progress or among the last [`ENDED_CALLS_KEPT`] ended.
    pub fn call(&self, id: &str) -> Option<&CallRecord> {
        let live = self
            .calls
            .by_id
            .get(&routing::CallId::new(id))
            .and_then(|k| self.calls.calls.get(k))
            .map(|c| c.routing.record());
        live.or_else(|| self.calls.ended.iter().find(|r| r.id.as_str() == id))
    }

    /// Where a call stands on the SIP side.
    pub fn call_phase(&self, id: &str) -> Option<Phase> {
        self.calls
            .by_id
            .get(&routing::CallId::new(id))
            .and_then(|k| self.calls.calls.get(k))
            .map(|c| c.phase)
    }

    /// Availability and last call end per agent.
    pub fn presence(&self) -> &AgentPresence {
        &self.calls.presence
    }

    // -----------------------------------------------------------------------------------------
    // Inbound INVITE

    pub(crate) fn on_invite(
        &mut self,
        req: &Request,
        key: &TransactionKey,
        to: Destination,
        inbound: &Inbound,
        now: Instant,
    ) {
        let reliable = to.transport.is_reliable();
        let server_tx = match self.transactions.insert_server_invite(
            key.clone(),
            Wire::new(to, Bytes::new()),
            reliable,
            now,
        ) {
            Ok(id) => id,
            Err(e) => {
                debug!(error = %e, "INVITE without a transaction");
                return;
            }
        };
        let trying = Response::for_request(req, 100, "Trying");
        let _ =
            self.transactions
                .send_response(server_tx, 100, Wire::new(to, trying.to_bytes()), now);
        let tag = self.next_tag();
        let offered = session_expires_of(&req.headers);
        if let Some((secs, _)) = offered.filter(|(secs, _)| *secs < MIN_SE) {
            // RFC 4028 §8.1: too small an interval is refused before anything else happens.
            info!(secs, "INVITE with too small a Session-Expires: 422");
            self.stats.calls_refused += 1;
            let mut resp = Response::for_request(req, 422, "Session Interval Too Small");
            resp.set_to_tag(&tag);
            resp.headers
                .push(HeaderName::Server, self.config.user_agent.clone());
            resp.headers.push(min_se_header(), MIN_SE.to_string());
            let _ = self.transactions.send_response(
                server_tx,
                422,
                Wire::new(to, resp.to_bytes()),
                now,
            );
            return;
        }
        // The caller's timer (RFC 4028 §9): its interval (or ours) and its choice of refresher,
        // the caller by default. Without `Supported: timer` the leg is probed instead.
        let caller_session = supports_timer(&req.headers).then(|| match offered {
            Some((secs, refresher)) => {
                (Duration::from_secs(secs), refresher == Some(Refresher::Uas))
            }
            None => (self.config.session_expires, false),
        });

        let dialled = req
            .uri
            .user_unescaped()
            .map(|u| text(&u))
            .unwrap_or_default();
        let from = req.headers.from().ok();
        let from_user = from
            .as_ref()
            .and_then(|f| f.uri.user_unescaped())
            .map(|u| text(&u));
        let known_user = from_user.as_deref().filter(|u| {
            self.config.routing.user(u).is_some()
                && self
                    .registrar
                    .lookup(u, now)
                    .iter()
                    .any(|b| b.received.ip().to_canonical() == inbound.peer.ip().to_canonical())
        });
        let source = routing::Source {
            addr: inbound.peer.ip(),
            user: known_user,
        };
        let cfg = self.config.routing.clone();
        let decision = routing::decide(&cfg, &dialled, source, self.wall(now));
        let final_status = decision.status();
        let target = decision.target();
        let (Some(target), None) = (target, final_status) else {
            let status = final_status.unwrap_or(404);
            info!(status, "inbound INVITE refused");
            self.stats.calls_refused += 1;
            self.final_to(req, server_tx, to, &tag, status, reason_phrase(status), now);
            return;
        };
        let id = routing::CallId::new(self.next_tag());
        let setup = CallSetup {
            id: id.clone(),
            now,
            wall: self.wall(now),
            seed: self.next_random(),
        };
        let line = match &target {
            routing::Target::Line { number, .. } => number.to_string(),
            routing::Target::User(_) | routing::Target::Team(_) => dialled.clone(),
        };
        let media = match self.anchor(req, id.as_str()) {
            Ok(m) => m,
            Err((status, why)) => {
                self.stats.calls_refused += 1;
                self.final_to(req, server_tx, to, &tag, status, why, now);
                return;
            }
        };
        let routing = match CallRouting::new(cfg, target, setup) {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "call routing refused a decided target");
                self.final_to(req, server_tx, to, &tag, 500, "Server Internal Error", now);
                return;
            }
        };
        let max_forwards = req.headers.max_forwards().ok().flatten().unwrap_or(70);
        self.calls.next_key += 1;
        let ck = CallKey(self.calls.next_key);
        info!(call = %id, line = %line, "inbound call");
        self.stats.calls_started += 1;
        self.calls.calls.insert(
            ck,
            Call {
                id: id.clone(),
                routing,
                line,
                ivr_branch: None,
                ivr_path: None,
                caller: CallerLeg {
                    server_tx,
                    invite: req.clone(),
                    dest: to,
                    tag,
                    max_forwards,
                    dialog: None,
                    timer: None,
                    sdp: None,
                },
                agents: HashMap::new(),
                caller_session,
                phase: Phase::Routing,
                last_provisional: None,
                retx: Vec::new(),
                probe_at: None,
                scheduled: None,
                live_invites: 0,
                media,
                caller_answered: false,
                ivr: None,
                voicemail: None,
            },
        );
        self.calls.by_id.insert(id, ck);
        self.calls.by_server_tx.insert(server_tx, ck);
        {
            let dir = directory!(self, now);
            if let Some(call) = self.calls.calls.get_mut(&ck) {
                call.routing.start(now, &dir);
            }
        }
        self.run_outputs(ck, now);
    }

    /// A final response on a server INVITE transaction that has no call.
    #[allow(clippy::too_many_arguments)]
    fn final_to(
        &mut self,
        req: &Request,
        server_tx: TxId,
        to: Destination,
        tag: &str,
        status: u16,
        reason: &str,
        now: Instant,
    ) {
        let mut resp = Response::for_request(req, status, reason);
        resp.set_to_tag(tag);
        resp.headers
            .push(HeaderName::Server, self.config.user_agent.clone());
        let _ =
            self.transactions
                .send_response(server_tx, status, Wire::new(to, resp.to_bytes()), now);
    }

    /// A CANCEL matched the INVITE server transaction `invite_tx` (already answered 200).
    pub(crate) fn on_caller_cancel(&mut self, invite_tx: TxId, now: Instant) {
        let Some(&ck) = self.calls.by_server_tx.get(&invite_tx) else {
            return;
        };
        if let Some(call) = self.calls.calls.get_mut(&ck) {
            if call.phase == Phase::Routing {
                info!(call = %call.id, "caller cancelled");
                call.routing.on_caller_cancel(now);
            }
        }
        self.run_outputs(ck, now);
    }

    // -----------------------------------------------------------------------------------------
    // Routing outputs

    fn run_outputs(&mut self, ck: CallKey, now: Instant) {
        while let Some(out) = self.calls.calls.get_mut(&ck).and_then(|c| c.routing.poll()) {
            self.apply(ck, out, now);
        }
        self.settle_call(ck, now);
    }

    fn apply(&mut self, ck: CallKey, out: Output, now: Instant) {
        match out {
            Output::Ring {
                branch,
                user,
                contact,
            } => self.ring(ck, branch, user, &contact, now),
            Output::Cancel { branch, reason } => self.cancel_branch(ck, branch, reason, now),
            // The ACK went out when the 2xx arrived.
            Output::AckAndBye { branch } => {
                self.send_in_dialog(ck, Leg::Agent(branch), Method::Bye, None, now);
            }
            Output::Ringing => self.relay_ringing(ck, now),
            Output::Answered { branch, user } => self.answer_caller(ck, branch, &user, now),
            Output::RunIvr(ivr) if self.can_run_ivr(ck) => self.run_ivr(ck, ivr, now),
            Output::RunIvr(ivr) => {
                let route = self
                    .config
                    .routing
                    .ivr(ivr.as_str())
                    .map(|i| i.no_input.clone());
                warn!(ivr = %ivr, "IVR without anchored media: taking its no_input route");
                let dir = directory!(self, now);
                if let (Some(call), Some(route)) = (self.calls.calls.get_mut(&ck), route) {
                    if let Err(e) = call.routing.on_ivr_result(route, now, &dir) {
                        warn!(error = %e, "IVR result refused");
                    }
                }
            }
            Output::Voicemail if self.can_run_ivr(ck) => self.start_voicemail(ck, now),
            Output::Voicemail => {
                warn!("voicemail without anchored media: 480");
                self.reject_caller(ck, 480, "Temporarily Unavailable", now);
            }
            Output::Reject(status) => self.reject_caller(ck, status, reason_phrase(status), now),
            Output::Event(event) => {
                debug!(?event, "call event");
                let notice = match event {
                    routing::TimelineEvent::Routed { .. } => Some(CallNotice::Created),
                    routing::TimelineEvent::AgentRung { user, .. } => {
                        Some(CallNotice::Ringing { agent: user })
                    }
                    routing::TimelineEvent::Declined { user, .. } => {
                        Some(CallNotice::Declined { agent: user })
                    }
                    routing::TimelineEvent::Answered { user, .. } => {
                        Some(CallNotice::Answered { agent: user })
                    }
                    routing::TimelineEvent::Ended { .. } => Some(CallNotice::Ended),
                    _ => None,
                };
                if let Some(n) = notice {
                    self.notify(ck, n);
                }
            }
        }
    }

    fn ring(
        &mut self,
        ck: CallKey,
        branch: BranchId,
        user: UserId,
        contact: &ContactRef,
        now: Instant,
    ) {
        let binding = self
            .registrar
            .lookup(user.as_str(), now)
            .into_iter()
            .find(|b| &*b.uri == contact.as_str());
        let target = Uri::parse(Bytes::from(contact.as_str().to_owned())).ok();
        let (Some(binding), Some(target)) = (binding, target) else {
            debug!(%contact, "contact gone or unusable");
            return self.branch_unreachable(ck, branch, now);
        };
        // The phone is reached where and how it registered from (a NATed phone only answers
        // there; a TCP phone on the connection it keeps open).
        let transport = if binding.transport.eq_ignore_ascii_case("tcp") {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let Some(local) = self.config.local_for(transport, binding.received) else {
            debug!(%contact, transport = transport.as_str(), "no listen address to reach the contact from");
            return self.branch_unreachable(ck, branch, now);
        };
        let dest = Destination {
            transport,
            local,
            dest: binding.received,
            conn: None,
        };
        let tx_branch = self.new_branch();
        let from_tag = self.next_tag();
        let call_id = format!("{}@switchboard", self.next_tag());
        let domain = self.config.domain.clone();
        let user_agent = self.config.user_agent.clone();
        let session_expires = self.config.session_expires;
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        let caller_from = call.caller.invite.headers.from().ok();
        let number = caller_from
            .as_ref()
            .and_then(|f| f.uri.user_unescaped())
            .map(|u| text(&u))
            .unwrap_or_else(|| "anonymous".into());
        let display = self
            .names
            .as_ref()
            .and_then(|n| n.name(&number))
            .or_else(|| {
                caller_from
                    .as_ref()
                    .and_then(|f| f.display.as_ref())
                    .map(|d| text(d))
            })
            .map(|d| d.replace(['"', '\\'], ""));
        let mut req = Request::new(Method::Invite, target);
        req.headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {local};branch={tx_branch};rport",
                transport.as_str()
            ),
        );
        req.headers.push(
            HeaderName::MaxForwards,
            call.caller.max_forwards.saturating_sub(1).to_string(),
        );
        let from_uri = match sip_msg::Host::parse(&Bytes::from(domain.clone())) {
            Ok(host) => text(Uri::sip(Some(&number), host, None).raw()),
            Err(_) => format!("sip:{number}@{domain}"),
        };
        let from = match display {
            Some(d) if !d.is_empty() => format!("\"{d}\" <{from_uri}>;tag={from_tag}"),
            _ => format!("<{from_uri}>;tag={from_tag}"),
        };
        req.headers.push(HeaderName::From, from);
        req.headers
            .push(HeaderName::To, format!("<sip:{user}@{domain}>"));
        req.headers.push(HeaderName::CallId, call_id);
        req.headers.push(HeaderName::CSeq, "1 INVITE");
        req.headers
            .push(HeaderName::Contact, contact_uri(local, transport));
        req.headers.push(HeaderName::Allow, ALLOW);
        // RFC 4028 §7.1: offer our interval and let the agent pick the refresher.
        req.headers.push(HeaderName::Supported, "timer");
        req.headers.push(
            HeaderName::SessionExpires,
            session_expires.as_secs().to_string(),
        );
        req.headers.push(min_se_header(), MIN_SE.to_string());
        req.headers.push(HeaderName::UserAgent, user_agent);
        req.headers.push(
            HeaderName::from_static("X-Switchboard-Call"),
            call.id.to_string(),
        );
        req.headers.push(
            HeaderName::from_static("X-Switchboard-Line"),
            call.line.clone(),
        );
        if let Some(b) = &call.ivr_branch {
            req.headers.push(
                HeaderName::from_static("X-Switchboard-IVR-Branch"),
                b.clone(),
            );
        }
        if let Some(p) = &call.ivr_path {
            req.headers
                .push(HeaderName::from_static("X-Switchboard-IVR-Path"), p.clone());
        }
        let mut body = call.caller.invite.body.clone();
        if let Some(m) = call.media.as_mut() {
            body = m.agent_offer_body();
        }
        let mut sdp = None;
        if !body.is_empty() {
            let ct = if call.media.is_some() {
                Bytes::from_static(b"application/sdp")
            } else {
                call.caller
                    .invite
                    .headers
                    .get(&HeaderName::ContentType)
                    .cloned()
                    .unwrap_or_else(|| Bytes::from_static(b"application/sdp"))
            };
            sdp = Some((Some(ct.clone()), body.clone()));
            req.set_body(ct, body);
        }
        let invite = Arc::new(req);
        let wire = Wire {
            to: dest,
            data: invite.to_bytes(),
            invite: Some(invite.clone()),
        };
        let key = match TransactionKey::client(&tx_branch, TxMethod::Invite) {
            Ok(k) => k,
            Err(_) => return self.branch_unreachable(ck, branch, now),
        };
        call.agents.insert(
            branch,
            AgentLeg {
                user: user.clone(),
                invite,
                invite_tx: None,
                dest,
                provisional: false,
                cancel_pending: None,
                cancel_sent: false,
                dialog: None,
                answer: None,
                timer: None,
                sdp,
            },
        );
        match self
            .transactions
            .insert_client_invite(key, wire, transport.is_reliable(), now)
        {
            Ok(id) => {
                call.live_invites += 1;
                if let Some(agent) = call.agents.get_mut(&branch) {
                    agent.invite_tx = Some(id);
                }
                info!(call = %call.id, %user, %contact, "ringing agent");
                self.calls.clients.insert(
                    id,
                    ClientTx {
                        call: ck,
                        leg: Leg::Agent(branch),
                        kind: ClientKind::Invite,
                    },
                );
            }
            Err(e) => {
                debug!(error = %e, "no client transaction for the INVITE");
                self.branch_unreachable(ck, branch, now);
            }
        }
    }

    fn branch_unreachable(&mut self, ck: CallKey, branch: BranchId, now: Instant) {
        let dir = directory!(self, now);
        if let Some(call) = self.calls.calls.get_mut(&ck) {
            call.routing.on_transport_error(branch, now, &dir);
        }
    }

    fn cancel_branch(&mut self, ck: CallKey, branch: BranchId, reason: CancelReason, now: Instant) {
        let Some(agent) = self
            .calls
            .calls
            .get_mut(&ck)
            .and_then(|c| c.agents.get_mut(&branch))
        else {
            return;
        };
        if agent.cancel_sent || agent.invite_tx.is_none() {
            return;
        }
        if !agent.provisional {
            // RFC 3261 §9.1: not before a provisional response; sent when one arrives.
            agent.cancel_pending = Some(reason);
            return;
        }
        self.send_cancel(ck, branch, reason, now);
    }

    fn send_cancel(&mut self, ck: CallKey, branch: BranchId, reason: CancelReason, now: Instant) {
        let Some(agent) = self
            .calls
            .calls
            .get_mut(&ck)
            .and_then(|c| c.agents.get_mut(&branch))
        else {
            return;
        };
        let Some(invite_tx) = agent.invite_tx else {
            return;
        };
        agent.cancel_sent = true;
        agent.cancel_pending = None;
        let invite = agent.invite.clone();
        let h = &invite.headers;
        let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
        if let Some(via) = h.get(&HeaderName::Via) {
            cancel.headers.push(HeaderName::Via, via.clone());
        }
        cancel.headers.push(HeaderName::MaxForwards, "70");
        for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(v) = h.get(&name) {
                cancel.headers.push(name, v.clone());
            }
        }
        let seq = h.cseq().map(|c| c.seq).unwrap_or(1);
        cancel
            .headers
            .push(HeaderName::CSeq, format!("{seq} CANCEL"));
        for route in h.get_all(&HeaderName::Route) {
            cancel.headers.push(HeaderName::Route, route.clone());
        }
        let why = match reason {
            CancelReason::AnsweredElsewhere => {
                "SIP;cause=200;text=\"Call completed elsewhere\"".to_string()
            }
            CancelReason::Timeout => "SIP;cause=480;text=\"No answer\"".into(),
            CancelReason::CallerCancelled => "SIP;cause=487;text=\"Caller cancelled\"".into(),
            CancelReason::Declined => "SIP;cause=603;text=\"Declined\"".into(),
            CancelReason::CallEnded => "SIP;cause=487;text=\"Call ended\"".into(),
        };
        cancel.headers.push(HeaderName::Reason, why);
        let dest = self.transactions.request(invite_tx).map(|w| w.to);
        let Some(dest) = dest else { return };
        let branch_param = self
            .transactions
            .key(invite_tx)
            .and_then(|k| k.branch().map(str::to_owned));
        let Some(key) =
            branch_param.and_then(|b| TransactionKey::client(&b, TxMethod::Cancel).ok())
        else {
            return;
        };
        let wire = Wire::new(dest, cancel.to_bytes());
        if let Ok(id) = self
            .transactions
            .insert_client_non_invite(key, wire, false, now)
        {
            self.calls.clients.insert(
                id,
                ClientTx {
                    call: ck,
                    leg: Leg::Agent(branch),
                    kind: ClientKind::Cancel,
                },
            );
        }
        let _ = self.transactions.cancel_sent(invite_tx, now);
    }

    fn relay_ringing(&mut self, ck: CallKey, now: Instant) {
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        if call.caller_answered {
            // The caller already has our 200 (the IVR answered): nothing to relay.
            call.last_provisional = None;
            return;
        }
        let prov = call.last_provisional.take();
        let (status, body) = match prov {
            Some(p) if p.status == 183 && !p.body.is_empty() => {
                let ct = p.headers.get(&HeaderName::ContentType).cloned();
                match self.agent_answered_media(ck, &p.body) {
                    Some(Some(ours)) => (183, Some((None, ours))),
                    // Early media we cannot anchor is not passed on.
                    Some(None) => (180, None),
                    None => (183, Some((ct, p.body))),
                }
            }
            _ => (180, None),
        };
        self.caller_response(ck, status, reason(status), body, now);
    }

    fn answer_caller(&mut self, ck: CallKey, branch: BranchId, user: &UserId, now: Instant) {
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        if call.phase != Phase::Routing {
            return;
        }
        let caller_answered = call.caller_answered;
        let body = call
            .agents
            .get(&branch)
            .and_then(|a| a.answer.as_ref())
            .map(|r| {
                (
                    r.headers.get(&HeaderName::ContentType).cloned(),
                    r.body.clone(),
                )
            })
            .filter(|(_, b)| !b.is_empty());
        let body = match &body {
            Some((_, agent_sdp)) => match self.agent_answered_media(ck, agent_sdp) {
                Some(Some(ours)) => Some((None, ours)),
                Some(None) => {
                    warn!("agent's answer has no codec we offered: media not anchored");
                    None
                }
                None => body,
            },
            None => body,
        };
        if let Some(media) = self.media.as_mut() {
            if let Some(call) = self.calls.calls.get(&ck) {
                if call.media.is_some() {
                    media.set_paused(call.id.as_str(), false);
                }
            }
        }
        let session_expires = self.config.session_expires;
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        call.phase = Phase::Bridged(branch);
        info!(call = %call.id, agent = %user, "answered");
        self.stats.calls_answered += 1;
        if caller_answered {
            // The caller was answered by the IVR (or is being transferred): the agent's leg
            // joins its media, and the caller's dialog, timer and SDP stay as they are.
            if let Some(relay) = self.media.as_mut() {
                relay.stop_playback(call.id.as_str(), Side::Caller);
            }
            let agent_timer = call.agents.get(&branch).and_then(|a| a.timer.as_ref());
            call.probe_at = (call.caller.timer.is_none() || agent_timer.is_none())
                .then(|| now + session_expires);
            return;
        }
        self.accept_caller(ck, body, now);
    }

    /// Answers the caller's INVITE with 200 and `body`: its dialog (the UAS side, RFC 3261
    /// §12.1.1), session timer or probe, and 2xx retransmission until its ACK.
    fn accept_caller(&mut self, ck: CallKey, body: Option<(Option<Bytes>, Bytes)>, now: Instant) {
        let session_expires = self.config.session_expires;
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        call.caller_answered = true;
        call.caller.timer = call
            .caller_session
            .map(|(interval, we_refresh)| SessionTimer::new(interval, we_refresh, now));
        call.caller.sdp = body.clone();
        let agent_timer = match call.phase {
            Phase::Bridged(b) => call.agents.get(&b).map(|a| a.timer.is_some()),
            _ => None,
        };
        // Legs without timers fall back to the OPTIONS probe.
        call.probe_at = (call.caller.timer.is_none() || agent_timer == Some(false))
            .then(|| now + session_expires);
        let inv = &call.caller.invite;
        let remote_tag = inv
            .headers
            .from()
            .ok()
            .and_then(|f| f.tag().cloned())
            .unwrap_or_default();
        let target = inv
            .headers
            .contacts()
            .ok()
            .and_then(|c| match c {
                sip_msg::Contacts::List(l) => l.into_iter().next().map(|na| na.uri),
                sip_msg::Contacts::Star => None,
            })
            .or_else(|| inv.headers.from().ok().map(|f| f.uri));
        let to_value = inv
            .headers
            .get(&HeaderName::To)
            .cloned()
            .unwrap_or_default();
        if let (Some(target), Ok(call_id)) = (target, inv.headers.call_id()) {
            let mut local = to_value.to_vec();
            local.extend_from_slice(b";tag=");
            local.extend_from_slice(call.caller.tag.as_bytes());
            let dialog = Dialog {
                call_id: call_id.clone(),
                local_tag: Bytes::from(call.caller.tag.clone()),
                remote_tag,
                local: Bytes::from(local),
                remote: inv
                    .headers
                    .get(&HeaderName::From)
                    .cloned()
                    .unwrap_or_default(),
                target,
                routes: inv
                    .headers
                    .get_all(&HeaderName::RecordRoute)
                    .cloned()
                    .collect(),
                cseq: 0,
                dest: call.caller.dest,
            };
            self.calls.dialogs.insert(dialog.key(), (ck, Leg::Caller));
            call.caller.dialog = Some(dialog);
        }
        let cseq = inv.headers.cseq().map(|c| c.seq).unwrap_or(1);
        if let Some(wire) = self.caller_response(ck, 200, "OK", body, now) {
            self.start_retx(ck, Leg::Caller, cseq, wire, now);
        }
    }

    fn start_retx(&mut self, ck: CallKey, leg: Leg, cseq: u32, wire: Wire, now: Instant) {
        if wire.to.transport.is_reliable() {
            return;
        }
        let t1 = self.transactions.config().t1;
        if let Some(call) = self.calls.calls.get_mut(&ck) {
            call.retx.push(Retx {
                leg,
                cseq,
                wire,
                interval: t1,
                next: now + t1,
                give_up: now + t1 * 64,
            });
        }
    }

    fn reject_caller(&mut self, ck: CallKey, status: u16, why: &str, now: Instant) {
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        match call.phase {
            Phase::Routing if call.caller_answered => {
                info!(call = %call.id, status, "routing ended after the IVR answered: hanging up");
                self.teardown(ck, EndReason::NoAnswer, None, now);
            }
            Phase::Routing => {
                call.phase = Phase::Ended;
                info!(call = %call.id, status, "call not answered");
                if status == 487 {
                    self.stats.calls_cancelled += 1;
                } else {
                    self.stats.calls_failed += 1;
                }
                self.caller_response(ck, status, why, None, now);
            }
            // Routing ended after an answer (an IVR later): hang the caller up.
            Phase::Bridged(_) => self.teardown(ck, EndReason::Dropped, None, now),
            Phase::Ended => {}
        }
    }

    /// A response to the caller's INVITE through its server transaction; returns what was
    /// sent.
    fn caller_response(
        &mut self,
        ck: CallKey,
        status: u16,
        why: &str,
        body: Option<(Option<Bytes>, Bytes)>,
        now: Instant,
    ) -> Option<Wire> {
        let call = self.calls.calls.get(&ck)?;
        let mut resp = Response::for_request(&call.caller.invite, status, why);
        resp.set_to_tag(&call.caller.tag);
        resp.headers
            .push(HeaderName::Server, self.config.user_agent.clone());
        if (101..300).contains(&status) {
            let dest = call.caller.dest;
            resp.headers
                .push(HeaderName::Contact, contact_uri(dest.local, dest.transport));
        }
        if (200..300).contains(&status) {
            resp.headers.push(HeaderName::Allow, ALLOW);
            resp.headers.push(HeaderName::Supported, "timer");
            if let Some((interval, we_refresh)) = call.caller_session {
                let who = if we_refresh { "uas" } else { "uac" };
                resp.headers.push(
                    HeaderName::SessionExpires,
                    format!("{};refresher={who}", interval.as_secs()),
                );
                resp.headers.push(HeaderName::Require, "timer");
            }
        }
        if let Some((ct, body)) = body {
            let ct = ct.unwrap_or_else(|| Bytes::from_static(b"application/sdp"));
            resp.set_body(ct, body);
        }
        let wire = Wire::new(call.caller.dest, resp.to_bytes());
        let server_tx = call.caller.server_tx;
        if let Err(e) = self
            .transactions
            .send_response(server_tx, status, wire.clone(), now)
        {
            debug!(error = %e, "caller's INVITE transaction gone");
            return None;
        }
        Some(wire)
    }

    // -----------------------------------------------------------------------------------------
    // In-dialog requests we send

    /// Builds a request in `leg`'s dialog. `cseq: None` takes the next number.
    fn dialog_request(
        &mut self,
        ck: CallKey,
        leg: Leg,
        method: Method,
        cseq: Option<u32>,
    ) -> Option<(Request, Destination, String)> {
        let branch = self.new_branch();
        let user_agent = self.config.user_agent.clone();
        let call = self.calls.calls.get_mut(&ck)?;
        let dialog = match leg {
            Leg::Caller => call.caller.dialog.as_mut()?,
            Leg::Agent(b) => call.agents.get_mut(&b)?.dialog.as_mut()?,
        };
        let seq = match cseq {
            Some(s) => s,
            None => {
                dialog.cseq += 1;
                dialog.cseq
            }
        };
        let local = dialog.dest.local;
        let mut req = Request::new(method.clone(), dialog.target.clone());
        req.headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {local};branch={branch};rport",
                dialog.dest.transport.as_str()
            ),
        );
        req.headers.push(HeaderName::MaxForwards, "70");
        for r in &dialog.routes {
            req.headers.push(HeaderName::Route, r.clone());
        }
        req.headers.push(HeaderName::From, dialog.local.clone());
        req.headers.push(HeaderName::To, dialog.remote.clone());
        req.headers.push(HeaderName::CallId, dialog.call_id.clone());
        req.headers
            .push(HeaderName::CSeq, format!("{seq} {}", method.as_str()));
        if method == Method::Invite {
            req.headers.push(
                HeaderName::Contact,
                contact_uri(local, dialog.dest.transport),
            );
        }
        req.headers.push(HeaderName::UserAgent, user_agent);
        Some((req, dialog.dest, branch))
    }

    /// Sends a request in `leg`'s dialog through a client transaction. BYE and OPTIONS are
    /// recorded as [`ClientKind::Bye`] / [`ClientKind::Probe`]; the caller of an INVITE records
    /// what it is for.
    fn send_in_dialog(
        &mut self,
        ck: CallKey,
        leg: Leg,
        method: Method,
        body: Option<(Option<Bytes>, Bytes)>,
        now: Instant,
    ) -> Option<TxId> {
        self.send_in_dialog_with(ck, leg, method, body, Vec::new(), now)
    }

    /// [`Self::send_in_dialog`] with extra headers.
    fn send_in_dialog_with(
        &mut self,
        ck: CallKey,
        leg: Leg,
        method: Method,
        body: Option<(Option<Bytes>, Bytes)>,
        extra: Vec<(HeaderName, String)>,
        now: Instant,
    ) -> Option<TxId> {
        let (mut req, dest, branch) = self.dialog_request(ck, leg, method.clone(), None)?;
        for (name, value) in extra {
            req.headers.push(name, value);
        }
        if let Some((ct, body)) = body {
            req.set_body(
                ct.unwrap_or_else(|| Bytes::from_static(b"application/sdp")),
                body,
            );
        }
        let reliable = dest.transport.is_reliable();
        let (id, kind) = if method == Method::Invite {
            let key = TransactionKey::client(&branch, TxMethod::Invite).ok()?;
            let req = Arc::new(req);
            let wire = Wire {
                to: dest,
                data: req.to_bytes(),
                invite: Some(req),
            };
            let id = self
                .transactions
                .insert_client_invite(key, wire, reliable, now)
                .ok()?;
            (id, None)
        } else {
            let key = TransactionKey::client(&branch, TxMethod::from_name(method.as_str())).ok()?;
            let wire = Wire::new(dest, req.to_bytes());
            let id = self
                .transactions
                .insert_client_non_invite(key, wire, reliable, now)
                .ok()?;
            let kind = match method {
                Method::Bye => ClientKind::Bye,
                Method::Options => ClientKind::Probe,
                _ => ClientKind::Notice,
            };
            (id, Some(kind))
        };
        if let Some(kind) = kind {
            self.calls.clients.insert(
                id,
                ClientTx {
                    call: ck,
                    leg,
                    kind,
                },
            );
        }
        Some(id)
    }

    /// ACKs a 2xx in `leg`'s dialog (no transaction: RFC 3261 §13.2.2.4).
    fn send_ack(&mut self, ck: CallKey, leg: Leg, cseq: u32) {
        if let Some((req, dest, _)) = self.dialog_request(ck, leg, Method::Ack, Some(cseq)) {
            self.outbox
                .push_back(Wire::new(dest, req.to_bytes()).into_transmit());
        }
    }

    /// Ends an answered call: BYE to every live leg but `except` (the one that hung up). A
    /// caller answered by the IVR is hung up too, and its ringing branches cancelled.
    fn teardown(&mut self, ck: CallKey, reason: EndReason, except: Option<Leg>, now: Instant) {
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        let legs: Vec<Leg> = call.live_legs().collect();
        if legs.is_empty() {
            return;
        }
        let winner = match call.phase {
            Phase::Bridged(w) => Some(w),
            _ => None,
        };
        call.phase = Phase::Ended;
        call.ivr = None;
        call.retx.clear();
        call.probe_at = None;
        call.caller.timer = None;
        for agent in call.agents.values_mut() {
            agent.timer = None;
        }
        call.routing.on_call_ended(reason, now);
        let agent = winner
            .and_then(|w| call.agents.get(&w))
            .map(|a| a.user.clone());
        info!(call = %call.id, ?reason, "call ended");
        if let Some(user) = agent {
            self.calls.presence.call_ended(&user, now);
        }
        for leg in legs {
            if Some(leg) != except {
                self.send_in_dialog(ck, leg, Method::Bye, None, now);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Responses to our requests

    /// A response from the network: hands it to its client transaction.
    pub(crate) fn on_response(&mut self, resp: Response, inbound: &Inbound, now: Instant) {
        let key = resp.headers.top_via().ok().and_then(|via| {
            let branch = via.branch()?;
            let method = resp.headers.cseq().ok()?.method;
            TransactionKey::client(
                std::str::from_utf8(branch).ok()?,
                TxMethod::from_name(method.as_str()),
            )
            .ok()
        });
        let Some(id) = key.and_then(|k| self.transactions.lookup(&k)) else {
            self.stats.dropped_stray_responses += 1;
            return;
        };
        let to = Destination {
            transport: inbound.transport,
            local: inbound.local,
            dest: inbound.peer,
            conn: inbound.conn,
        };
        let status = resp.status;
        if let Err(e) =
            self.transactions
                .on_response(id, status, Wire::new(to, inbound.data.clone()), now)
        {
            debug!(error = %e, "response for a transaction that cannot take it");
        }
    }

    /// A response a client transaction passed up.
    pub(crate) fn on_client_response(&mut self, id: TxId, status: u16, msg: Wire, now: Instant) {
        let Some(tx) = self.calls.clients.get(&id) else {
            return;
        };
        let (ck, leg) = (tx.call, tx.leg);
        let Ok(sip_msg::Message::Response(resp)) = sip_msg::parse(msg.data) else {
            return;
        };
        match (&tx.kind, leg) {
            (ClientKind::Invite, Leg::Agent(branch)) => {
                self.on_agent_response(ck, branch, status, resp, now)
            }
            (ClientKind::ReInvite { .. }, _) => self.on_reinvite_response(id, status, resp, now),
            (ClientKind::Probe, _) if matches!(status, 408 | 481) => {
                self.teardown(ck, EndReason::Dropped, None, now);
            }
            (ClientKind::Refresh, _) => self.on_refresh_response(ck, leg, status, &resp, now),
            _ => {}
        }
        self.run_outputs(ck, now);
    }

    /// The answer to a session refresh we sent on `leg`.
    fn on_refresh_response(
        &mut self,
        ck: CallKey,
        leg: Leg,
        status: u16,
        resp: &Response,
        now: Instant,
    ) {
        match status {
            100..=199 => {}
            200..=299 => {
                let cseq = resp.headers.cseq().map(|c| c.seq).unwrap_or(1);
                self.send_ack(ck, leg, cseq);
                self.refreshed(ck, leg, &resp.headers, now);
            }
            408 | 481 => {
                info!(status, ?leg, "session refresh refused: ending the call");
                self.teardown(ck, EndReason::Dropped, None, now);
            }
            _ => {
                let Some(call) = self.calls.calls.get_mut(&ck) else {
                    return;
                };
                let Some(t) = call.timer_mut(leg) else {
                    return;
                };
                if now + REFRESH_RETRY >= t.refreshed + t.expiry() {
                    info!(
                        status,
                        ?leg,
                        "session refresh failed and the session expires"
                    );
                    self.teardown(ck, EndReason::Dropped, None, now);
                } else {
                    debug!(status, ?leg, "session refresh failed: retrying");
                    t.due = now + REFRESH_RETRY;
                }
            }
        }
    }

    /// `leg`'s session was refreshed at `now` (by either side); a `Session-Expires` in
    /// `headers` may carry a new interval.
    fn refreshed(&mut self, ck: CallKey, leg: Leg, headers: &sip_msg::Headers, now: Instant) {
        let Some(t) = self.calls.calls.get_mut(&ck).and_then(|c| c.timer_mut(leg)) else {
            return;
        };
        if let Some((secs, _)) = session_expires_of(headers) {
            t.interval = Duration::from_secs(secs.max(MIN_SE));
        }
        t.restart(now);
    }

    fn on_agent_response(
        &mut self,
        ck: CallKey,
        branch: BranchId,
        status: u16,
        resp: Response,
        now: Instant,
    ) {
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        let Some(agent) = call.agents.get_mut(&branch) else {
            return;
        };
        match status {
            100..=199 => {
                agent.provisional = true;
                let pending = agent.cancel_pending;
                call.last_provisional = Some(resp);
                call.routing.on_provisional(branch, status, now);
                if let Some(reason) = pending {
                    self.send_cancel(ck, branch, reason, now);
                }
            }
            200..=299 => {
                if agent.dialog.is_none() {
                    let req = &agent.invite;
                    let remote_tag = resp.headers.to().ok().and_then(|t| t.tag().cloned());
                    let target = resp
                        .headers
                        .contacts()
                        .ok()
                        .and_then(|c| match c {
                            sip_msg::Contacts::List(l) => l.into_iter().next().map(|na| na.uri),
                            sip_msg::Contacts::Star => None,
                        })
                        .unwrap_or_else(|| req.uri.clone());
                    let local_tag = req.headers.from().ok().and_then(|f| f.tag().cloned());
                    let dest = agent.dest;
                    if let (Some(remote_tag), Some(local_tag), Ok(call_id)) =
                        (remote_tag, local_tag, req.headers.call_id())
                    {
                        let mut routes: Vec<Bytes> = resp
                            .headers
                            .get_all(&HeaderName::RecordRoute)
                            .cloned()
                            .collect();
                        routes.reverse();
                        let dialog = Dialog {
                            call_id: call_id.clone(),
                            local_tag,
                            remote_tag,
                            local: req
                                .headers
                                .get(&HeaderName::From)
                                .cloned()
                                .unwrap_or_default(),
                            remote: resp
                                .headers
                                .get(&HeaderName::To)
                                .cloned()
                                .unwrap_or_default(),
                            target,
                            routes,
                            cseq: 1,
                            dest,
                        };
                        self.calls
                            .dialogs
                            .insert(dialog.key(), (ck, Leg::Agent(branch)));
                        agent.dialog = Some(dialog);
                    }
                }
                if agent.answer.is_none() {
                    // RFC 4028 §7.2: the agent chose the refresher; no Session-Expires means
                    // no timer support (the leg is probed).
                    agent.timer = session_expires_of(&resp.headers).map(|(secs, refresher)| {
                        let interval = Duration::from_secs(secs.max(MIN_SE));
                        SessionTimer::new(interval, refresher != Some(Refresher::Uas), now)
                    });
                    agent.answer = Some(resp);
                }
                self.send_ack(ck, Leg::Agent(branch), 1);
                if let Some(call) = self.calls.calls.get_mut(&ck) {
                    call.routing.on_answer(branch, now);
                }
            }
            _ => {
                if status == 422 {
                    warn!(
                        call = %call.id,
                        min_se = ?resp.headers.get(&min_se_header()).map(|v| text(v)),
                        "agent refused our session interval (422): branch failed"
                    );
                }
                let dir = directory!(self, now);
                if let Some(call) = self.calls.calls.get_mut(&ck) {
                    call.routing.on_failure(branch, status, now, &dir);
                }
            }
        }
    }

    fn on_reinvite_response(&mut self, id: TxId, status: u16, resp: Response, now: Instant) {
        if status < 200 {
            return;
        }
        let Some(tx) = self.calls.clients.get_mut(&id) else {
            return;
        };
        let (ck, leg) = (tx.call, tx.leg);
        let ClientKind::ReInvite {
            from,
            server_tx,
            request,
            answered,
        } = &mut tx.kind
        else {
            return;
        };
        let first = !*answered;
        *answered = true;
        let (from, server_tx, request) = (*from, *server_tx, request.clone());
        if (200..300).contains(&status) {
            let cseq = resp.headers.cseq().map(|c| c.seq).unwrap_or(1);
            self.send_ack(ck, leg, cseq);
            // The relayed re-INVITE refreshed that leg's session too.
            self.refreshed(ck, leg, &resp.headers, now);
        }
        if !first {
            return;
        }
        let why = text(&resp.reason);
        let mut out = Response::for_request(&request, status, &why);
        out.headers
            .push(HeaderName::Server, self.config.user_agent.clone());
        let dest = self.calls.calls.get(&ck).and_then(|c| match from {
            Leg::Caller => c.caller.dialog.as_ref().map(|d| d.dest),
            Leg::Agent(b) => c.agents.get(&b)?.dialog.as_ref().map(|d| d.dest),
        });
        let Some(dest) = dest else { return };
        if (200..300).contains(&status) {
            out.headers.push(
                HeaderName::Contact,
                format!("<sip:switchboard@{}>", dest.local),
            );
            if let Some(t) = self.calls.calls.get(&ck).and_then(|c| c.timer(from)) {
                // RFC 4028 §9: a 2xx to a session refresh states the session.
                out.headers.push(
                    HeaderName::SessionExpires,
                    format!(
                        "{};refresher={}",
                        t.interval.as_secs(),
                        t.refresher_when_peer_asks()
                    ),
                );
                out.headers.push(HeaderName::Require, "timer");
            }
        }
        if !resp.body.is_empty() {
            let mut ct = resp
                .headers
                .get(&HeaderName::ContentType)
                .cloned()
                .unwrap_or_else(|| Bytes::from_static(b"application/sdp"));
            let mut body = resp.body.clone();
            if (200..300).contains(&status) {
                if let Some(ours) = self.reanswer_media(ck, leg, &resp.body) {
                    ct = Bytes::from_static(b"application/sdp");
                    body = ours;
                }
                if let Some(call) = self.calls.calls.get_mut(&ck) {
                    call.set_sdp(from, (Some(ct.clone()), body.clone()));
                }
            }
            out.set_body(ct, body);
        }
        // The response goes where the re-INVITE's Via says (the server transaction's).
        let to = self
            .transactions
            .request(server_tx)
            .map(|w| w.to)
            .unwrap_or(dest);
        let wire = Wire::new(to, out.to_bytes());
        if self
            .transactions
            .send_response(server_tx, status, wire.clone(), now)
            .is_ok()
            && (200..300).contains(&status)
        {
            let cseq = request.headers.cseq().map(|c| c.seq).unwrap_or(1);
            self.start_retx(ck, from, cseq, wire, now);
        }
    }

    /// A client transaction ended without a final response (Timer B/F, transport error).
    pub(crate) fn on_client_failure(&mut self, id: TxId, now: Instant) {
        let Some(tx) = self.calls.clients.get(&id) else {
            return;
        };
        let (ck, leg) = (tx.call, tx.leg);
        match (&tx.kind, leg) {
            (ClientKind::Invite, Leg::Agent(branch)) => {
                let dir = directory!(self, now);
                if let Some(call) = self.calls.calls.get_mut(&ck) {
                    call.routing.on_transport_error(branch, now, &dir);
                }
            }
            (ClientKind::ReInvite { .. }, _) => {
                let resp = Response::new(408, "Request Timeout");
                self.on_reinvite_response(id, 408, resp, now);
            }
            (ClientKind::Probe, _) | (ClientKind::Refresh, _) => {
                self.teardown(ck, EndReason::Dropped, None, now)
            }
            _ => {}
        }
        self.run_outputs(ck, now);
    }

    /// A transaction reached Terminated: forget what it was for.
    pub(crate) fn on_tx_terminated(&mut self, id: TxId, now: Instant) {
        if let Some(ck) = self.calls.by_server_tx.remove(&id) {
            self.settle_call(ck, now);
        }
        let Some(tx) = self.calls.clients.remove(&id) else {
            return;
        };
        if let (ClientKind::Invite, Leg::Agent(branch)) = (&tx.kind, tx.leg) {
            if let Some(call) = self.calls.calls.get_mut(&tx.call) {
                call.live_invites = call.live_invites.saturating_sub(1);
                if let Some(agent) = call.agents.get_mut(&branch) {
                    agent.invite_tx = None;
                }
            }
        }
        self.settle_call(tx.call, now);
    }

    // -----------------------------------------------------------------------------------------
    // In-dialog requests we receive

    /// Routes a request with a To tag through the dialog table. Returns false when it is not
    /// ours to handle (the caller answers it as before).
    pub(crate) fn on_in_dialog(
        &mut self,
        req: &Request,
        key: &TransactionKey,
        to: Destination,
        now: Instant,
    ) -> bool {
        let Some(found) = self.find_dialog(req) else {
            if req.method == Method::Invite {
                self.respond(req, key, to, 481, reason_phrase(481), now);
                return true;
            }
            return false;
        };
        let (ck, leg) = found;
        let session = self.config.session_expires;
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return false;
        };
        if let (Phase::Bridged(_), Some(at)) = (call.phase, call.probe_at.as_mut()) {
            *at = now + session;
        }
        let phase = call.phase;
        // The caller of a call we answered ourselves (IVR, or ringing after it).
        let answered_caller = phase == Phase::Routing && call.caller_answered && leg == Leg::Caller;
        if answered_caller {
            if let Some(at) = call.probe_at.as_mut() {
                *at = now + session;
            }
        }
        let bridged_other = match (phase, leg) {
            (Phase::Bridged(w), Leg::Caller) => Some(Leg::Agent(w)),
            (Phase::Bridged(w), Leg::Agent(b)) if b == w => Some(Leg::Caller),
            _ => None,
        };
        if (bridged_other.is_some() || answered_caller) && req.method == Method::Invite {
            // A re-INVITE from the peer refreshes its leg's session (RFC 4028 §10).
            self.refreshed(ck, leg, &req.headers, now);
        }
        match req.method {
            Method::Bye => {
                self.respond(req, key, to, 200, "OK", now);
                if answered_caller {
                    self.teardown(ck, EndReason::CallerHungUp, Some(leg), now);
                    self.run_outputs(ck, now);
                } else if bridged_other.is_some() {
                    let reason = match leg {
                        Leg::Caller => EndReason::CallerHungUp,
                        Leg::Agent(_) => EndReason::AgentHungUp,
                    };
                    self.teardown(ck, reason, Some(leg), now);
                }
                self.settle_call(ck, now);
                true
            }
            Method::Invite if answered_caller => {
                self.reinvite_while_answered(req, key, to, ck, now);
                self.settle_call(ck, now);
                true
            }
            Method::Refer => {
                self.on_refer(req, key, to, ck, leg, now);
                self.settle_call(ck, now);
                true
            }
            Method::Info => {
                self.on_info(
                    req,
                    key,
                    to,
                    ck,
                    leg,
                    bridged_other.is_some() || answered_caller,
                    now,
                );
                self.settle_call(ck, now);
                true
            }
            Method::Invite => {
                let Some(other) = bridged_other else {
                    self.respond(req, key, to, 481, reason_phrase(481), now);
                    return true;
                };
                let reliable = to.transport.is_reliable();
                let Ok(server_tx) = self.transactions.insert_server_invite(
                    key.clone(),
                    Wire::new(to, Bytes::new()),
                    reliable,
                    now,
                ) else {
                    return true;
                };
                let trying = Response::for_request(req, 100, "Trying");
                let _ = self.transactions.send_response(
                    server_tx,
                    100,
                    Wire::new(to, trying.to_bytes()),
                    now,
                );
                let mut body = (!req.body.is_empty()).then(|| {
                    (
                        req.headers.get(&HeaderName::ContentType).cloned(),
                        req.body.clone(),
                    )
                });
                if let Some((_, offer)) = &body {
                    if let Some(ours) = self.reoffer_media(ck, leg, offer) {
                        body = Some((None, ours));
                    }
                }
                let mut extra = Vec::new();
                if let Some(call) = self.calls.calls.get_mut(&ck) {
                    if let Some(b) = &body {
                        call.set_sdp(other, b.clone());
                    }
                    // The relayed re-INVITE refreshes the other leg's session as well.
                    if let Some(t) = call.timer(other) {
                        let who = if t.we_refresh { "uac" } else { "uas" };
                        extra.push((HeaderName::Supported, "timer".to_string()));
                        extra.push((
                            HeaderName::SessionExpires,
                            format!("{};refresher={who}", t.interval.as_secs()),
                        ));
                    }
                }
                match self.send_in_dialog_with(ck, other, Method::Invite, body, extra, now) {
                    Some(id) => {
                        self.calls.clients.insert(
                            id,
                            ClientTx {
                                call: ck,
                                leg: other,
                                kind: ClientKind::ReInvite {
                                    from: leg,
                                    server_tx,
                                    request: Box::new(req.clone()),
                                    answered: false,
                                },
                            },
                        );
                    }
                    None => {
                        let mut resp = Response::for_request(req, 500, "Server Internal Error");
                        resp.headers.push(HeaderName::RetryAfter, "1");
                        let _ = self.transactions.send_response(
                            server_tx,
                            500,
                            Wire::new(to, resp.to_bytes()),
                            now,
                        );
                    }
                }
                self.settle_call(ck, now);
                true
            }
            Method::Update => {
                if bridged_other.is_none() {
                    self.respond(req, key, to, 481, reason_phrase(481), now);
                    return true;
                }
                if !req.body.is_empty() {
                    // Only session refreshes are taken by UPDATE; offers come by re-INVITE.
                    self.respond(req, key, to, 488, "Not Acceptable Here", now);
                    return true;
                }
                // A pure session refresh (RFC 4028 §10): answered here, not relayed.
                self.refreshed(ck, leg, &req.headers, now);
                let timer = self
                    .calls
                    .calls
                    .get(&ck)
                    .and_then(|c| c.timer(leg))
                    .copied();
                let contact = contact_uri(to.local, to.transport);
                self.respond_with(req, key, to, 200, "OK", now, |resp| {
                    resp.headers.push(HeaderName::Contact, contact);
                    if let Some(t) = timer {
                        resp.headers.push(
                            HeaderName::SessionExpires,
                            format!(
                                "{};refresher={}",
                                t.interval.as_secs(),
                                t.refresher_when_peer_asks()
                            ),
                        );
                        resp.headers.push(HeaderName::Require, "timer");
                    }
                });
                self.settle_call(ck, now);
                true
            }
            _ => false,
        }
    }

    /// An ACK outside any transaction: the ACK of a 2xx we sent, which stops its
    /// retransmission.
    pub(crate) fn on_dialog_ack(&mut self, req: &Request, now: Instant) {
        let Some((ck, leg)) = self.find_dialog(req) else {
            debug!("ACK outside any transaction or dialog, absorbed");
            return;
        };
        let cseq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        if let Some(call) = self.calls.calls.get_mut(&ck) {
            call.retx.retain(|r| !(r.leg == leg && r.cseq == cseq));
        }
        if leg == Leg::Caller && !req.body.is_empty() {
            self.caller_late_answer(ck, &req.body);
        }
        self.settle_call(ck, now);
    }

    fn find_dialog(&self, req: &Request) -> Option<(CallKey, Leg)> {
        let call_id = req.headers.call_id().ok()?.clone();
        let local = req.headers.to().ok()?.tag()?.clone();
        let remote = req.headers.from().ok()?.tag()?.clone();
        self.calls.dialogs.get(&(call_id, local, remote)).copied()
    }

    // -----------------------------------------------------------------------------------------
    // Timers and bookkeeping

    /// Fires every call timer due at `now`.
    pub(crate) fn handle_call_timeouts(&mut self, now: Instant) {
        while let Some(&Reverse((at, ck))) = self.calls.wakeups.peek() {
            if at > now {
                break;
            }
            self.calls.wakeups.pop();
            let Some(call) = self.calls.calls.get_mut(&ck) else {
                continue;
            };
            if call.scheduled != Some(at) {
                continue;
            }
            call.scheduled = None;
            if call.routing.poll_timeout().is_some_and(|t| t <= now) {
                let dir = directory!(self, now);
                if let Some(call) = self.calls.calls.get_mut(&ck) {
                    call.routing.handle_timeout(now, &dir);
                }
            }
            if let Some(session) = self.calls.calls.get_mut(&ck).and_then(|c| c.ivr.as_mut()) {
                if session.poll_timeout().is_some_and(|t| t <= now) {
                    session.handle_timeout(now);
                    self.drain_ivr(ck, now);
                }
            }
            self.fire_retx(ck, now);
            self.fire_session_timers(ck, now);
            self.fire_probe(ck, now);
            self.run_outputs(ck, now);
        }
    }

    fn fire_retx(&mut self, ck: CallKey, now: Instant) {
        let t2 = self.transactions.config().t2;
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        let mut expired = false;
        for r in call
            .retx
            .iter_mut()
            .filter(|r| r.next <= now || r.give_up <= now)
        {
            if now >= r.give_up {
                expired = true;
                continue;
            }
            self.outbox.push_back(r.wire.clone().into_transmit());
            self.stats.responses_sent += 1;
            r.interval = (r.interval * 2).min(t2);
            r.next = now + r.interval;
        }
        if expired {
            call.retx.retain(|r| now < r.give_up);
            warn!(call = %call.id, "no ACK for our 2xx: ending the call");
            self.teardown(ck, EndReason::Dropped, None, now);
        }
    }

    fn fire_probe(&mut self, ck: CallKey, now: Instant) {
        let session = self.config.session_expires;
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        if call.probe_at.is_none_or(|t| t > now) {
            return;
        }
        call.probe_at = Some(now + session);
        let legs: Vec<Leg> = call
            .live_legs()
            .filter(|l| call.timer(*l).is_none())
            .collect();
        debug!(call = %call.id, ?legs, "session check: OPTIONS on the legs without timers");
        for leg in legs {
            self.send_in_dialog(ck, leg, Method::Options, None, now);
        }
    }

    /// RFC 4028 §10 on each bridged leg: refresh the ones we refresh at N/2, hang up when the
    /// peer's refresh is overdue.
    fn fire_session_timers(&mut self, ck: CallKey, now: Instant) {
        let legs: Vec<Leg> = match self.calls.calls.get(&ck) {
            Some(c) => c.live_legs().collect(),
            None => return,
        };
        for leg in legs {
            let Some(call) = self.calls.calls.get_mut(&ck) else {
                return;
            };
            let Some(t) = call.timer_mut(leg).filter(|t| t.due <= now) else {
                continue;
            };
            if !t.we_refresh {
                info!(call = %call.id, ?leg, "session expired without refresh: ending the call");
                self.teardown(ck, EndReason::Dropped, None, now);
                return;
            }
            // The next attempt, unless the answer restarts it first.
            t.due = now + t.interval / 2;
            let extra = vec![
                (HeaderName::Supported, "timer".to_string()),
                (
                    HeaderName::SessionExpires,
                    format!("{};refresher=uac", t.interval.as_secs()),
                ),
                (min_se_header(), MIN_SE.to_string()),
            ];
            let sdp = match leg {
                Leg::Caller => call.caller.sdp.clone(),
                Leg::Agent(b) => call.agents.get(&b).and_then(|a| a.sdp.clone()),
            };
            debug!(call = %call.id, ?leg, "session refresh");
            if let Some(id) = self.send_in_dialog_with(ck, leg, Method::Invite, sdp, extra, now) {
                self.calls.clients.insert(
                    id,
                    ClientTx {
                        call: ck,
                        leg,
                        kind: ClientKind::Refresh,
                    },
                );
            }
        }
    }

    /// Re-arms the call's wake-up, and drops the call once nothing of it is left.
    fn settle_call(&mut self, ck: CallKey, now: Instant) {
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        if call.phase == Phase::Ended {
            if let (Some(m), Some(relay)) = (call.media.as_mut(), self.media.as_mut()) {
                if !m.closed {
                    m.closed = true;
                    relay.close(call.id.as_str());
                }
            }
        }
        if call.phase == Phase::Ended && call.live_invites == 0 && call.routing.is_done() {
            let _ = now;
            if let Some(call) = self.calls.calls.remove(&ck) {
                self.drop_call(call);
            }
            return;
        }
        let timers = call
            .live_legs()
            .filter_map(|l| call.timer(l).map(|t| t.due))
            .min();
        let ivr = call.ivr.as_ref().and_then(|i| i.poll_timeout());
        let next = [
            call.routing.poll_timeout(),
            call.retx.iter().map(|r| r.next.min(r.give_up)).min(),
            call.probe_at,
            timers,
            ivr,
        ]
        .into_iter()
        .flatten()
        .min();
        if next != call.scheduled {
            call.scheduled = next;
            if let Some(at) = next {
                self.calls.wakeups.push(Reverse((at, ck)));
            }
        }
    }

    fn drop_call(&mut self, call: Call) {
        if let Some(d) = &call.caller.dialog {
            self.calls.dialogs.remove(&d.key());
        }
        for agent in call.agents.values() {
            if let Some(d) = &agent.dialog {
                self.calls.dialogs.remove(&d.key());
            }
        }
        self.calls.by_id.remove(&call.id);
        self.calls.by_server_tx.remove(&call.caller.server_tx);
        if self.calls.ended.len() >= ENDED_CALLS_KEPT {
            self.calls.ended.pop_front();
        }
        self.calls.ended.push_back(call.routing.into_record());
    }

    // -----------------------------------------------------------------------------------------
    // Media anchoring (see crate::media)

    /// Anchors a new call's media: ports from the relay, the caller's offer taken. `Ok(None)`
    /// without a relay. Errors carry the status to refuse the INVITE with.
    fn anchor(
        &mut self,
        req: &Request,
        call_id: &str,
    ) -> Result<Option<CallMedia>, (u16, &'static str)> {
        if self.media.is_none() {
            return Ok(None);
        }
        let session_id = self.next_random() >> 2;
        let Some(relay) = self.media.as_mut() else {
            return Ok(None);
        };
        let offer = if req.body.is_empty() {
            None
        } else {
            match media::sdp::Sdp::parse(req.body.clone()) {
                Ok(sdp) => Some(sdp),
                Err(e) => {
                    info!(error = %e, "INVITE with unusable SDP: 488");
                    return Err((488, "Not Acceptable Here"));
                }
            }
        };
        // Refuse before reserving ports.
        let mut media = match &offer {
            Some(offer) => match CallMedia::from_offer(offer, &self.codecs, MediaPorts::UNBOUND, 0)
            {
                Ok(m) => m,
                Err(e @ (OfferError::Unusable | OfferError::NoCommonCodec)) => {
                    info!(?e, "INVITE offer cannot be anchored: 488");
                    return Err((488, "Not Acceptable Here"));
                }
            },
            None => CallMedia::without_offer(&self.codecs, MediaPorts::UNBOUND, 0),
        };
        let ports = match relay.open(call_id) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "no media ports for a new call: 503");
                return Err((503, "Service Unavailable"));
            }
        };
        media.anchor_at(ports, session_id);
        relay.set_paused(call_id, true);
        relay.update(call_id, Side::Caller, media.caller_remote());
        Ok(Some(media))
    }

    /// An agent's SDP answer (183 or 2xx) on an anchored call: tells the relay, and returns
    /// our description for the caller. `None`: the call is not anchored; `Some(None)`: the
    /// answer is unusable.
    fn agent_answered_media(&mut self, ck: CallKey, answer: &Bytes) -> Option<Option<Bytes>> {
        let call = self.calls.calls.get_mut(&ck)?;
        let m = call.media.as_mut()?;
        let relay = self.media.as_mut()?;
        let Ok(sdp) = media::sdp::Sdp::parse(answer.clone()) else {
            return Some(None);
        };
        let Some((caller, agent)) = m.on_agent_answer(&sdp) else {
            return Some(None);
        };
        relay.update(call.id.as_str(), Side::Caller, caller);
        relay.update(call.id.as_str(), Side::Agent, agent);
        Some(Some(m.caller_answer_body(sdp.direction())))
    }

    /// A re-INVITE offer from `leg`: the relay learns its new address and hold state; returns
    /// the offer to relay to the other leg.
    fn reoffer_media(&mut self, ck: CallKey, leg: Leg, offer: &Bytes) -> Option<Bytes> {
        let call = self.calls.calls.get_mut(&ck)?;
        let m = call.media.as_mut()?;
        let relay = self.media.as_mut()?;
        let sdp = media::sdp::Sdp::parse(offer.clone()).ok()?;
        let side = side_of(leg);
        let (body, remote): (Bytes, RemoteMedia) = m.on_reoffer(side, &sdp);
        let hold = crate::media::is_hold(&sdp);
        info!(call = %call.id, ?side, hold, "re-INVITE offer");
        relay.update(call.id.as_str(), side, remote);
        relay.set_paused(call.id.as_str(), hold);
        Some(body)
    }

    /// The answer from `leg` to a re-INVITE we relayed to it; returns the answer for the
    /// other leg.
    fn reanswer_media(&mut self, ck: CallKey, leg: Leg, answer: &Bytes) -> Option<Bytes> {
        let call = self.calls.calls.get_mut(&ck)?;
        let m = call.media.as_mut()?;
        let relay = self.media.as_mut()?;
        let sdp = media::sdp::Sdp::parse(answer.clone()).ok()?;
        let side = side_of(leg);
        let (body, remote) = m.on_reanswer(side, &sdp);
        relay.update(call.id.as_str(), side, remote);
        Some(body)
    }

    /// The caller's answer in its ACK, after an INVITE without an offer.
    fn caller_late_answer(&mut self, ck: CallKey, answer: &Bytes) {
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        let (Some(m), Some(relay)) = (call.media.as_mut(), self.media.as_mut()) else {
            return;
        };
        let Ok(sdp) = media::sdp::Sdp::parse(answer.clone()) else {
            debug!("unparseable SDP in the caller's ACK");
            return;
        };
        if let Some(remote) = m.on_caller_late_answer(&sdp) {
            relay.update(call.id.as_str(), Side::Caller, remote);
        }
    }

    /// Something the relay reports about call `call_id`.
    pub fn on_media_event(&mut self, call_id: &str, event: MediaEvent, now: Instant) {
        let Some(&ck) = self.calls.by_id.get(&routing::CallId::new(call_id)) else {
            return;
        };
        match event {
            MediaEvent::Timeout => {
                if let Some(call) = self.calls.calls.get(&ck) {
                    info!(call = %call.id, "no media for the media timeout: ending the call");
                }
                self.teardown(ck, EndReason::Dropped, None, now);
            }
            MediaEvent::Dtmf { side, digit } => {
                debug!(call = %call_id, ?side, "DTMF key");
                if side == Side::Caller {
                    self.ivr_digit(ck, digit, now);
                }
            }
            MediaEvent::PlaybackDone { side: Side::Caller }
                if self
                    .calls
                    .calls
                    .get(&ck)
                    .is_some_and(|c| c.voicemail.as_ref().is_some_and(|v| !v.recording)) =>
            {
                self.voicemail_tone(ck);
            }
            MediaEvent::RecordingDone { side, duration_ms } => {
                info!(call = %call_id, ?side, duration_ms, "voicemail recorded");
                if let Some(call) = self.calls.calls.get(&ck) {
                    if call.voicemail.is_some() && call.phase != Phase::Ended {
                        self.teardown(ck, EndReason::CallerHungUp, None, now);
                    }
                }
            }
            MediaEvent::RecordingFailed { side } => {
                warn!(call = %call_id, ?side, "voicemail could not be recorded");
                if let Some(call) = self.calls.calls.get_mut(&ck) {
                    if let Some(v) = call.voicemail.as_mut() {
                        v.recording = false;
                    }
                    if call.phase != Phase::Ended {
                        self.teardown(ck, EndReason::Dropped, None, now);
                    }
                }
            }
            MediaEvent::PlaybackDone { side } => {
                debug!(call = %call_id, ?side, "playback done");
                if let Some(session) = self.calls.calls.get_mut(&ck).and_then(|c| c.ivr.as_mut()) {
                    if side == Side::Caller {
                        session.prompt_finished(now);
                        self.drain_ivr(ck, now);
                    }
                }
            }
        }
        self.run_outputs(ck, now);
        self.drain_transactions(now);
    }

    // -----------------------------------------------------------------------------------------
    // IVR (see the ivr crate): we answer, play, collect keys, and hand the route to routing

    /// A re-INVITE from a caller we answered ourselves: its offer updates the relay, and it
    /// gets our description again (nothing changes on our side).
    fn reinvite_while_answered(
        &mut self,
        req: &Request,
        key: &TransactionKey,
        to: Destination,
        ck: CallKey,
        now: Instant,
    ) {
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        if let (Some(m), Some(relay)) = (call.media.as_mut(), self.media.as_mut()) {
            if let Ok(offer) = media::sdp::Sdp::parse(req.body.clone()) {
                let (_, remote) = m.on_reoffer(Side::Caller, &offer);
                relay.update(call.id.as_str(), Side::Caller, remote);
            }
        }
        let body = call.caller.sdp.clone();
        let timer = call.caller.timer;
        let contact = contact_uri(to.local, to.transport);
        self.respond_with(req, key, to, 200, "OK", now, |resp| {
            resp.headers.push(HeaderName::Contact, contact);
            if let Some(t) = timer {
                resp.headers.push(
                    HeaderName::SessionExpires,
                    format!(
                        "{};refresher={}",
                        t.interval.as_secs(),
                        t.refresher_when_peer_asks()
                    ),
                );
                resp.headers.push(HeaderName::Require, "timer");
            }
            if let Some((ct, body)) = body {
                resp.set_body(
                    ct.unwrap_or_else(|| Bytes::from_static(b"application/sdp")),
                    body,
                );
            }
        });
    }

    /// INFO in a call: DTMF (`application/dtmf-relay`, `application/dtmf`) goes to the IVR, or
    /// to the other leg as RFC 4733 when bridged; other bodies get 415 (RFC 6086 §4.2.2).
    #[allow(clippy::too_many_arguments)]
    fn on_info(
        &mut self,
        req: &Request,
        key: &TransactionKey,
        to: Destination,
        ck: CallKey,
        leg: Leg,
        live: bool,
        now: Instant,
    ) {
        if !live {
            self.respond(req, key, to, 481, reason_phrase(481), now);
            return;
        }
        let ct = req
            .headers
            .get(&HeaderName::ContentType)
            .map(|v| text(v))
            .unwrap_or_default();
        let Some(key_pressed) = media::dtmf::info::parse_info(&ct, &req.body) else {
            if req.body.is_empty() {
                self.respond(req, key, to, 200, "OK", now);
            } else {
                self.respond_with(req, key, to, 415, "Unsupported Media Type", now, |resp| {
                    resp.headers.push(
                        HeaderName::Accept,
                        "application/dtmf-relay, application/dtmf",
                    );
                });
            }
            return;
        };
        self.respond(req, key, to, 200, "OK", now);
        let digit = key_pressed.digit;
        let in_ivr = self.calls.calls.get(&ck).is_some_and(|c| c.ivr.is_some());
        if in_ivr && leg == Leg::Caller {
            self.ivr_digit(ck, digit, now);
            self.run_outputs(ck, now);
            return;
        }
        let Some(call) = self.calls.calls.get(&ck) else {
            return;
        };
        if let (Phase::Bridged(_), Some(relay)) = (call.phase, self.media.as_mut()) {
            let other = match leg {
                Leg::Caller => Side::Agent,
                Leg::Agent(_) => Side::Caller,
            };
            relay.send_dtmf(call.id.as_str(), other, &digit.to_string());
        }
    }

    /// The `voicemail` route: answer (if the IVR has not), the greeting, then the tone and
    /// the recording (`[voicemail]`); the call ends when the recording does.
    fn start_voicemail(&mut self, ck: CallKey, now: Instant) {
        let vm = self.config.routing.voicemail.clone();
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        call.ivr = None;
        if !call.caller_answered {
            let body = call
                .media
                .as_mut()
                .map(|m| m.caller_answer_body(media::sdp::Direction::SendRecv));
            if let (Some(m), Some(relay)) = (call.media.as_mut(), self.media.as_mut()) {
                m.fix_caller_codec();
                relay.update(call.id.as_str(), Side::Caller, m.caller_remote());
            }
            self.accept_caller(ck, body.map(|b| (None, b)), now);
        }
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        let file = format!("{}.wav", call.id.as_str().replace(['/', '\\', '.'], "_"));
        call.voicemail = Some(VoicemailState {
            path: vm.dir.join(file),
            recording: false,
        });
        info!(call = %call.id, "voicemail");
        match (&vm.greeting, self.media.as_mut()) {
            (Some(greeting), Some(relay)) => {
                relay.play(
                    call.id.as_str(),
                    Side::Caller,
                    &greeting.to_string_lossy(),
                    false,
                );
            }
            _ => self.voicemail_tone(ck),
        }
    }

    /// After the greeting: the tone, and the recording starts under it.
    fn voicemail_tone(&mut self, ck: CallKey) {
        let max = self.config.routing.voicemail.max_length;
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        let (Some(v), Some(relay)) = (call.voicemail.as_mut(), self.media.as_mut()) else {
            return;
        };
        v.recording = true;
        relay.play(call.id.as_str(), Side::Caller, crate::media::BEEP, false);
        relay.record(call.id.as_str(), Side::Caller, &v.path, max);
    }

    fn can_run_ivr(&self, ck: CallKey) -> bool {
        self.media.is_some()
            && self
                .calls
                .calls
                .get(&ck)
                .is_some_and(|c| c.media.is_some() && c.phase == Phase::Routing)
    }

    fn run_ivr(&mut self, ck: CallKey, menu: config::IvrId, now: Instant) {
        let cfg = self.config.routing.clone();
        let session = match ivr::IvrSession::new(cfg, menu.clone(), now) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "IVR cannot start: hanging up");
                let dir = directory!(self, now);
                if let Some(call) = self.calls.calls.get_mut(&ck) {
                    let _ = call.routing.on_ivr_result(config::Route::Hangup, now, &dir);
                }
                return;
            }
        };
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        if !call.caller_answered {
            let body = call
                .media
                .as_mut()
                .map(|m| m.caller_answer_body(media::sdp::Direction::SendRecv));
            if let (Some(m), Some(relay)) = (call.media.as_mut(), self.media.as_mut()) {
                m.fix_caller_codec();
                relay.update(call.id.as_str(), Side::Caller, m.caller_remote());
            }
            info!(call = %call.id, ivr = %menu, "IVR answers the call");
            self.accept_caller(ck, body.map(|b| (None, b)), now);
        }
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return;
        };
        let mut session = session;
        session.start(now);
        call.ivr = Some(session);
        self.drain_ivr(ck, now);
    }

    /// A key from the caller (RFC 4733, in-band or SIP INFO).
    fn ivr_digit(&mut self, ck: CallKey, digit: char, now: Instant) {
        let Ok(key) = config::Dtmf::try_from(digit) else {
            return;
        };
        let Some(session) = self.calls.calls.get_mut(&ck).and_then(|c| c.ivr.as_mut()) else {
            return;
        };
        session.digit(key, now);
        self.drain_ivr(ck, now);
    }

    /// Acts on what the IVR session asks; its final output goes to routing.
    fn drain_ivr(&mut self, ck: CallKey, now: Instant) {
        loop {
            let Some(call) = self.calls.calls.get_mut(&ck) else {
                return;
            };
            let Some(out) = call.ivr.as_mut().and_then(|s| s.poll()) else {
                return;
            };
            let id = call.id.clone();
            match out {
                ivr::IvrOutput::Play { file, .. } => {
                    if let Some(relay) = self.media.as_mut() {
                        relay.play(id.as_str(), Side::Caller, &file.to_string_lossy(), false);
                    }
                }
                ivr::IvrOutput::StopPrompt => {
                    if let Some(relay) = self.media.as_mut() {
                        relay.stop_playback(id.as_str(), Side::Caller);
                    }
                }
                ivr::IvrOutput::Event(event) => {
                    info!(call = %id, ?event, "IVR");
                    if let ivr::IvrEvent::Choice { menu, digit, label } = event {
                        self.notify(
                            ck,
                            CallNotice::IvrChoice {
                                menu: menu.to_string(),
                                digit: digit.to_string(),
                                label: Some(label),
                            },
                        );
                    }
                }
                out => {
                    let (Some(route), Some(branch)) = (out.final_route(), out.branch().cloned())
                    else {
                        continue;
                    };
                    call.ivr = None;
                    if !branch.path.is_empty() {
                        call.ivr_path = Some(branch.path.clone());
                    }
                    if branch.label.is_some() {
                        call.ivr_branch = branch.label.clone();
                    }
                    info!(
                        call = %id,
                        route = %route,
                        path = %branch.path,
                        branch = branch.label.as_deref().unwrap_or(""),
                        "IVR done"
                    );
                    if let Some(relay) = self.media.as_mut() {
                        relay.stop_playback(id.as_str(), Side::Caller);
                    }
                    let dir = directory!(self, now);
                    if let Some(call) = self.calls.calls.get_mut(&ck) {
                        if let Err(e) = call.routing.on_ivr_result(route, now, &dir) {
                            warn!(error = %e, "IVR result refused");
                        }
                    }
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Notices and agent actions (the HTTP API's side)

    fn notify(&mut self, ck: CallKey, event: CallNotice) {
        if self.notices.is_none() {
            return;
        }
        let Some(call) = self.snapshot(ck) else {
            return;
        };
        if let Some(q) = self.notices.as_mut() {
            q.push_back(Notice { event, call });
        }
    }

    fn snapshot(&self, ck: CallKey) -> Option<CallSnapshot> {
        let call = self.calls.calls.get(&ck)?;
        let record = call.routing.record().clone();
        let agents = record
            .agents_rung
            .iter()
            .map(|u| {
                let state = if record.answered_by.as_ref() == Some(u) {
                    AgentState::Answered
                } else if record.declined_by.contains(u) {
                    AgentState::Declined
                } else if call.agents.values().any(|a| {
                    &a.user == u && a.invite_tx.is_some() && !a.cancel_sent && a.answer.is_none()
                }) || (record.ended_at.is_none()
                    && !call.agents.values().any(|a| &a.user == u))
                {
                    // Rung just now (the notice comes before the INVITEs go out), or ringing.
                    AgentState::Ringing
                } else {
                    AgentState::Done
                };
                (u.clone(), state)
            })
            .collect();
        let from = call.caller.invite.headers.from().ok();
        let caller_number = from
            .as_ref()
            .and_then(|f| f.uri.user_unescaped())
            .map(|u| text(&u))
            .unwrap_or_else(|| "anonymous".into());
        let caller_name = self
            .names
            .as_ref()
            .and_then(|n| n.name(&caller_number))
            .or_else(|| {
                from.as_ref()
                    .and_then(|f| f.display.as_ref())
                    .map(|d| text(d).trim_matches('"').to_string())
            })
            .filter(|d| !d.is_empty());
        let state = match call.phase {
            Phase::Ended => "ended",
            Phase::Bridged(_) => "answered",
            Phase::Routing if call.ivr.is_some() || call.voicemail.is_some() => "ivr",
            Phase::Routing => "ringing",
        };
        let state = if record.ended_at.is_some() {
            "ended"
        } else {
            state
        };
        Some(CallSnapshot {
            id: call.id.to_string(),
            state,
            line_name: self.config.routing.line(&call.line).map(|l| l.name.clone()),
            line: call.line.clone(),
            caller_number,
            caller_name,
            ivr_path: call.ivr_path.clone(),
            ivr_branch: call.ivr_branch.clone(),
            voicemail: call
                .voicemail
                .as_ref()
                .filter(|v| v.recording)
                .map(|v| v.path.to_string_lossy().into_owned()),
            agents,
            record,
        })
    }

    /// The call as the API shows it, while the engine still holds it.
    pub fn call_snapshot(&self, id: &str) -> Option<CallSnapshot> {
        let ck = *self.calls.by_id.get(&routing::CallId::new(id))?;
        self.snapshot(ck)
    }

    fn live_call(&self, id: &str) -> Result<CallKey, ActionError> {
        let ck = *self
            .calls
            .by_id
            .get(&routing::CallId::new(id))
            .ok_or(ActionError::UnknownCall)?;
        match self.calls.calls.get(&ck) {
            Some(c) if c.phase != Phase::Ended => Ok(ck),
            _ => Err(ActionError::Ended),
        }
    }

    /// The agent declines the call (from their application): their ringing devices are
    /// cancelled and they are never rung again for it.
    pub fn decline(&mut self, id: &str, agent: &str, now: Instant) -> Result<(), ActionError> {
        let ck = self.live_call(id)?;
        let user: UserId = agent.parse().map_err(|_| ActionError::UnknownAgent)?;
        let dir = directory!(self, now);
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return Err(ActionError::UnknownCall);
        };
        if !matches!(call.phase, Phase::Routing) {
            return Err(ActionError::WrongState("the call is already answered"));
        }
        info!(call = %call.id, agent, "declined by the agent's application");
        call.routing.decline(&user, now, &dir);
        self.run_outputs(ck, now);
        self.drain_transactions(now);
        Ok(())
    }

    /// Ends the call from the API: BYE on answered legs, or the caller gets `480` while it
    /// still rings.
    pub fn hangup(&mut self, id: &str, now: Instant) -> Result<(), ActionError> {
        let ck = self.live_call(id)?;
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return Err(ActionError::UnknownCall);
        };
        info!(call = %call.id, "hung up by the API");
        if call.live_legs().next().is_some() {
            self.teardown(ck, EndReason::AgentHungUp, None, now);
        } else {
            call.routing.on_call_ended(EndReason::Dropped, now);
            self.reject_caller(ck, 480, "Temporarily Unavailable", now);
        }
        self.run_outputs(ck, now);
        self.drain_transactions(now);
        Ok(())
    }

    /// Puts the caller on hold (our re-INVITE with `a=sendonly`, hold music from the relay,
    /// media timeout paused) or takes it off hold.
    pub fn hold(&mut self, id: &str, hold: bool, now: Instant) -> Result<(), ActionError> {
        let ck = self.live_call(id)?;
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return Err(ActionError::UnknownCall);
        };
        if !matches!(call.phase, Phase::Bridged(_)) {
            return Err(ActionError::WrongState("only an answered call can be held"));
        }
        let (Some(m), Some(relay)) = (call.media.as_mut(), self.media.as_mut()) else {
            return Err(ActionError::WrongState("the call's media is not anchored"));
        };
        let direction = if hold {
            media::sdp::Direction::SendOnly
        } else {
            media::sdp::Direction::SendRecv
        };
        let body = m.caller_answer_body(direction);
        let id = call.id.to_string();
        if hold {
            relay.play(&id, Side::Caller, crate::media::HOLD_MUSIC, true);
        } else {
            relay.stop_playback(&id, Side::Caller);
        }
        relay.set_paused(&id, hold);
        call.caller.sdp = Some((None, body.clone()));
        info!(call = %id, hold, "hold from the API");
        if let Some(tx) =
            self.send_in_dialog(ck, Leg::Caller, Method::Invite, Some((None, body)), now)
        {
            self.calls.clients.insert(
                tx,
                ClientTx {
                    call: ck,
                    leg: Leg::Caller,
                    kind: ClientKind::Refresh,
                },
            );
        }
        self.settle_call(ck, now);
        self.drain_transactions(now);
        Ok(())
    }

    /// Sends keys to the caller's side as RFC 4733 events (the agent's keypad).
    pub fn send_dtmf(&mut self, id: &str, digits: &str, now: Instant) -> Result<(), ActionError> {
        let _ = now;
        let ck = self.live_call(id)?;
        if digits.is_empty()
            || !digits
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
        {
            return Err(ActionError::BadInput("digits are 0-9, *, # and A-D"));
        }
        let Some(call) = self.calls.calls.get(&ck) else {
            return Err(ActionError::UnknownCall);
        };
        if !matches!(call.phase, Phase::Bridged(_)) {
            return Err(ActionError::WrongState("only an answered call takes keys"));
        }
        let Some(relay) = self.media.as_mut() else {
            return Err(ActionError::WrongState("the call's media is not anchored"));
        };
        relay.send_dtmf(call.id.as_str(), Side::Caller, digits);
        Ok(())
    }

    /// Blind transfer of an answered call (the API's transfer, or the agent's REFER): the
    /// agent's leg is hung up, the caller hears hold music while the target rings, and the
    /// call goes on under the same id, with its IVR branch and path.
    pub fn transfer(
        &mut self,
        id: &str,
        to: TransferTarget,
        now: Instant,
    ) -> Result<(), ActionError> {
        let ck = self.live_call(id)?;
        let cfg = self.config.routing.clone();
        let target = match &to {
            TransferTarget::User(u) => {
                let user: UserId = u.parse().map_err(|_| ActionError::UnknownAgent)?;
                if cfg.user(user.as_str()).is_none() {
                    return Err(ActionError::UnknownAgent);
                }
                routing::Target::User(user)
            }
            TransferTarget::Team(t) => {
                let team = cfg.team(t).ok_or(ActionError::BadInput("no such team"))?;
                routing::Target::Team(team.id.clone())
            }
            TransferTarget::Line(n) => {
                let line = cfg.line(n).ok_or(ActionError::BadInput(
                    "transfers go to users, teams and our own lines",
                ))?;
                routing::Target::Line {
                    number: line.number.clone(),
                    open: true,
                }
            }
        };
        let Some(call) = self.calls.calls.get(&ck) else {
            return Err(ActionError::UnknownCall);
        };
        let Phase::Bridged(winner) = call.phase else {
            return Err(ActionError::WrongState(
                "only an answered call can be transferred",
            ));
        };
        let setup = CallSetup {
            id: call.id.clone(),
            now,
            wall: self.wall(now),
            seed: self.next_random(),
        };
        let routing = CallRouting::new(cfg, target, setup).map_err(|e| {
            warn!(error = %e, "transfer target refused");
            ActionError::BadInput("the transfer target cannot be routed")
        })?;
        // The agent who transferred is done with the call.
        self.send_in_dialog(ck, Leg::Agent(winner), Method::Bye, None, now);
        let Some(call) = self.calls.calls.get_mut(&ck) else {
            return Err(ActionError::UnknownCall);
        };
        info!(call = %call.id, target = ?to, "blind transfer");
        let old = std::mem::take(&mut call.agents);
        let former = old.get(&winner).map(|a| a.user.clone());
        for agent in old.values() {
            if let Some(d) = &agent.dialog {
                self.calls.dialogs.remove(&d.key());
            }
        }
        call.retx.retain(|r| r.leg == Leg::Caller);
        call.routing = routing;
        call.phase = Phase::Routing;
        call.last_provisional = None;
        let agent_timer = false;
        call.probe_at =
            (call.caller.timer.is_none() || agent_timer).then(|| now + self.config.session_expires);
        let call_id = call.id.to_string();
        if let Some(user) = former {
            self.calls.presence.call_ended(&user, now);
        }
        if let Some(relay) = self.media.as_mut() {
            relay.set_paused(&call_id, true);
            relay.play(&call_id, Side::Caller, crate::media::HOLD_MUSIC, true);
        }
        {
            let dir = directory!(self, now);
            if let Some(call) = self.calls.calls.get_mut(&ck) {
                call.routing.start(now, &dir);
            }
        }
        self.run_outputs(ck, now);
        self.drain_transactions(now);
        Ok(())
    }

    /// REFER from the bridged agent (a blind transfer from the phone, RFC 3515): 202, a final
    /// NOTIFY, then [`Engine::transfer`] to the Refer-To user, team or line.
    fn on_refer(
        &mut self,
        req: &Request,
        key: &TransactionKey,
        to: Destination,
        ck: CallKey,
        leg: Leg,
        now: Instant,
    ) {
        let bridged_agent = matches!(
            (self.calls.calls.get(&ck).map(|c| c.phase), leg),
            (Some(Phase::Bridged(w)), Leg::Agent(b)) if w == b
        );
        if !bridged_agent {
            self.respond(req, key, to, 403, "Forbidden", now);
            return;
        }
        let refer_to = req
            .headers
            .get(&HeaderName::from_static("Refer-To"))
            .or_else(|| req.headers.get(&HeaderName::from_static("r")))
            .map(|v| text(v))
            .unwrap_or_default();
        let uri = refer_to
            .trim()
            .trim_start_matches('<')
            .split(['>', ';'])
            .next()
            .unwrap_or("")
            .to_string();
        let user = Uri::parse(Bytes::from(uri))
            .ok()
            .and_then(|u| u.user_unescaped().map(|u| text(&u)))
            .unwrap_or_default();
        let cfg = self.config.routing.clone();
        let target = if cfg.user(&user).is_some() {
            TransferTarget::User(user)
        } else if cfg.team(&user).is_some() {
            TransferTarget::Team(user)
        } else if cfg.line(&user).is_some() {
            TransferTarget::Line(user)
        } else {
            info!(refer_to = %refer_to, "REFER to nobody we route to: 403");
            self.respond(req, key, to, 403, "Forbidden", now);
            return;
        };
        self.respond(req, key, to, 202, "Accepted", now);
        let sipfrag = (
            Some(Bytes::from_static(b"message/sipfrag;version=2.0")),
            Bytes::from_static(b"SIP/2.0 200 OK\r\n"),
        );
        let extra = vec![
            (HeaderName::from_static("Event"), "refer".to_string()),
            (
                HeaderName::from_static("Subscription-State"),
                "terminated;reason=noresource".to_string(),
            ),
        ];
        self.send_in_dialog_with(ck, leg, Method::Notify, Some(sipfrag), extra, now);
        let id = match self.calls.calls.get(&ck) {
            Some(c) => c.id.to_string(),
            None => return,
        };
        if let Err(e) = self.transfer(&id, target, now) {
            warn!(error = %e, "REFER accepted but the transfer failed");
        }
    }

    /// Remote answer: asks each of `agent`'s ringing phones to pick up, with an out-of-dialog
    /// `NOTIFY` carrying `Event: talk` (the BroadWorks convention that Yealink, Polycom,
    /// Snom and others implement when allowed). A phone that does not support it answers 489
    /// and keeps ringing: the agent answers by hand.
    pub fn accept(&mut self, id: &str, agent: &str, now: Instant) -> Result<(), ActionError> {
        let ck = self.live_call(id)?;
        let Some(call) = self.calls.calls.get(&ck) else {
            return Err(ActionError::UnknownCall);
        };
        if call.phase != Phase::Routing {
            return Err(ActionError::WrongState("the call is no longer ringing"));
        }
        let ringing: Vec<(Uri, Destination, Bytes)> = call
            .agents
            .values()
            .filter(|a| {
                a.user.as_str() == agent
                    && a.invite_tx.is_some()
                    && !a.cancel_sent
                    && a.answer.is_none()
            })
            .map(|a| {
                let to = a
                    .invite
                    .headers
                    .get(&HeaderName::To)
                    .cloned()
                    .unwrap_or_default();
                (a.invite.uri.clone(), a.dest, to)
            })
            .collect();
        if ringing.is_empty() {
            return Err(ActionError::WrongState(
                "that agent's phones are not ringing",
            ));
        }
        info!(call = %call.id, agent, phones = ringing.len(), "remote answer requested");
        let from = format!("<sip:switchboard@{}>", self.config.domain);
        for (target, dest, to) in ringing {
            self.send_out_of_dialog(
                Method::Notify,
                target,
                dest,
                from.clone(),
                text(&to),
                None,
                &[
                    ("Event", "talk".to_string()),
                    ("Subscription-State", "terminated".to_string()),
                ],
                now,
            );
        }
        self.drain_transactions(now);
        Ok(())
    }

    /// Available or away: routing skips an away agent.
    pub fn set_availability(&mut self, user: &str, available: bool) -> Result<(), ActionError> {
        let user: UserId = user.parse().map_err(|_| ActionError::UnknownAgent)?;
        if self.config.routing.user(user.as_str()).is_none() {
            return Err(ActionError::UnknownAgent);
        }
        let availability = if available {
            routing::Availability::Available
        } else {
            routing::Availability::Away
        };
        self.calls.presence.set_availability(&user, availability);
        Ok(())
    }

    fn new_branch(&mut self) -> String {
        format!("{BRANCH_PREFIX}{}", self.next_tag())
    }
}

fn side_of(leg: Leg) -> Side {
    match leg {
        Leg::Caller => Side::Caller,
        Leg::Agent(_) => Side::Agent,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        180 => "Ringing",
        183 => "Session Progress",
        other => reason_phrase(other),
    }
}

/// Our Contact on a leg: the listen address the leg uses, with `transport=tcp` when it is TCP so
/// the peer's in-dialog requests come back the same way (RFC 3261 §8.1.1.8).
fn contact_uri(local: std::net::SocketAddr, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("<sip:switchboard@{local}>"),
        Transport::Tcp => format!("<sip:switchboard@{local};transport=tcp>"),
    }
}
