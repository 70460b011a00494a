//! The sans-IO SIP node: what Switchboard does with each message, with no sockets and no clock.
//!
//! Datagrams (or framed TCP messages) go in with their source and `now`; messages to transmit
//! and the next wake-up come out. The daemon is a thin shell: it reads sockets, calls
//! [`Engine::handle_inbound`], writes whatever [`Engine::poll_transmit`] returns, and sleeps until
//! [`Engine::poll_timeout`]. Because nothing here reads the clock or touches a socket, the whole
//! node can be driven from tests on a virtual clock.
//!
//! What it does today (RFC 3261 as a UAS and registrar):
//! - parses each message once ([`sip_msg`]); a malformed request whose Via is readable gets a
//!   `400` naming the problem, anything else unparseable is dropped and counted;
//! - stamps `received`/`rport` on the top Via (RFC 3581) and answers where the request came from;
//! - matches retransmissions to server transactions ([`sip_core`]) so they get the same answer;
//! - answers OPTIONS, REGISTER (through [`registrar`]), CANCEL; rejects with the right code:
//!   `483` for Max-Forwards 0, `482` for loops and merged requests, `416` for unsupported URI
//!   schemes, `420` for unsupported `Require` options, `501` for unknown methods, `503` while
//!   shutting down.

mod calls;
pub mod media;
mod messages;
mod notice;
mod register;
mod uas;
mod wire;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

pub use calls::{Phase, ENDED_CALLS_KEPT};
pub use media::{MediaControl, MediaEvent, MediaPorts, MediaUnavailable, RemoteMedia, Side};
pub use messages::{MessageDirection, MessageNotice};
pub use notice::{
    ActionError, AgentState, CallNotice, CallSnapshot, CallerNames, Notice, TransferTarget,
};
pub use routing::{CallRecord, EndReason};
pub use wire::Wire;

/// The default session interval (RFC 4028): offered to agents, and how long a leg without
/// timer support may go without in-dialog requests before it is probed with OPTIONS (see the
/// `calls` module). `[sip] session_expires` sets it.
pub const SESSION_EXPIRES: Duration = Duration::from_secs(30 * 60);

/// How a message travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// Whether the transport retransmits for us (RFC 3261 §17: no Timer A/E/G on TCP).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    /// The Via transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// One TCP connection, named by the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(pub u64);

/// A message as received: the bytes and where they came from.
#[derive(Clone, Debug)]
pub struct Inbound {
    pub transport: Transport,
    /// The local address it arrived on (a listen address).
    pub local: SocketAddr,
    /// The peer's address as seen on the socket.
    pub peer: SocketAddr,
    /// The TCP connection it came on.
    pub conn: Option<ConnId>,
    pub data: Bytes,
}

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub transport: Transport,
    /// The local address to send from (the socket the request arrived on).
    pub local: SocketAddr,
    pub dest: SocketAddr,
    /// For TCP, the connection to write to.
    pub conn: Option<ConnId>,
    pub data: Bytes,
}

/// Counters of what the node did. Plain integers: the node has one owner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub received: u64,
    /// Messages that could not be parsed far enough to answer; dropped.
    pub dropped_unparseable: u64,
    /// Responses that matched no client transaction (we send no requests yet); dropped.
    pub dropped_stray_responses: u64,
    /// Requests answered with 400 because they were malformed.
    pub bad_requests: u64,
    /// Request retransmissions absorbed by a server transaction.
    pub retransmissions: u64,
    pub responses_sent: u64,
    pub registrations: u64,
    pub auth_failures: u64,
    /// Inbound INVITEs that became calls.
    pub calls_started: u64,
    /// INVITEs refused at once (403, 404).
    pub calls_refused: u64,
    pub calls_answered: u64,
    /// Calls that ended without an answer (480, voicemail not available, errors).
    pub calls_failed: u64,
    /// Calls the caller cancelled before an answer.
    pub calls_cancelled: u64,
}

/// Static facts about this node that the request rules need.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Registrar domain and digest realm.
    pub domain: String,
    /// `Server` header value.
    pub user_agent: String,
    /// Addresses we listen on, for loop detection.
    pub listen: Vec<SocketAddr>,
    /// Every listen address with its transport: agent legs go out from the one that matches
    /// the agent's registration (transport and IP family), which is also our Contact there.
    pub sockets: Vec<(Transport, SocketAddr)>,
    /// The configuration calls are routed with; a call keeps the one it started with.
    pub routing: Arc<config::Config>,
    /// See [`SESSION_EXPIRES`].
    pub session_expires: Duration,
    pub timers: sip_core::TimerConfig,
}

impl NodeConfig {
    /// The listen address to reach `dest` over `transport` from: same transport, same IP
    /// family, the first configured.
    pub fn local_for(&self, transport: Transport, dest: SocketAddr) -> Option<SocketAddr> {
        self.sockets
            .iter()
            .find(|(t, a)| *t == transport && a.is_ipv4() == dest.is_ipv4())
            .map(|(_, a)| *a)
    }

    pub fn from_config(cfg: &config::Config) -> NodeConfig {
        NodeConfig {
            domain: cfg.sip.domain.to_string(),
            user_agent: cfg.sip.user_agent.clone(),
            listen: cfg.sip.listen.iter().map(|l| l.addr).collect(),
            sockets: cfg
                .sip
                .listen
                .iter()
                .map(|l| {
                    let transport = match l.transport {
                        config::Transport::Udp => Transport::Udp,
                        config::Transport::Tcp => Transport::Tcp,
                    };
                    (transport, l.addr)
                })
                .collect(),
            routing: Arc::new(cfg.clone()),
            session_expires: cfg.sip.session_expires,
            timers: sip_core::TimerConfig {
                t1: cfg.sip.t1,
                t2: cfg.sip.t2,
                t4: cfg.sip.t4,
            },
        }
    }
}

/// The node. One owner (the daemon's engine task) drives it.
pub struct Engine {
    config: NodeConfig,
    transactions: sip_core::TransactionTable<Wire>,
    registrar: registrar::Registrar,
    merged: uas::MergedRequests,
    outbox: VecDeque<Transmit>,
    stats: Stats,
    draining: bool,
    tag_seed: u64,
    tag_counter: u64,
    calls: calls::Calls,
    /// A monotonic instant and the wall-clock time at it, set by the daemon (business hours).
    wall_anchor: Option<(Instant, SystemTime)>,
    /// The relay that anchors call media; `None` passes SDP through (see [`media`]).
    media: Option<Box<dyn MediaControl>>,
    /// `[media] codecs` as SDP codecs.
    codecs: Vec<::media::sdp::Codec>,
    /// Call notices for the API; `None` until [`Engine::enable_notices`].
    notices: Option<VecDeque<Notice>>,
    /// Caller names from the CRM directory.
    names: Option<Box<dyn CallerNames>>,
    /// Customer messages for the API; `None` until [`Engine::enable_notices`].
    message_notices: Option<VecDeque<MessageNotice>>,
}

impl Engine {
    pub fn new(config: NodeConfig, registrar: registrar::Registrar, tag_seed: u64) -> Engine {
        let codecs = media::supported_codecs(&config.routing);
        Engine {
            transactions: sip_core::TransactionTable::new(config.timers),
            config,
            registrar,
            merged: uas::MergedRequests::default(),
            outbox: VecDeque::new(),
            stats: Stats::default(),
            draining: false,
            tag_seed,
            tag_counter: 0,
            codecs,
            calls: calls::Calls::default(),
            wall_anchor: None,
            media: None,
            notices: None,
            names: None,
            message_notices: None,
        }
    }

    /// Names callers from a directory (the CRM's contacts) from now on.
    pub fn set_caller_names(&mut self, names: Box<dyn CallerNames>) {
        self.names = Some(names);
    }

    /// Starts queueing [`Notice`]s about calls; drain them with [`Engine::poll_notice`].
    pub fn enable_notices(&mut self) {
        self.notices.get_or_insert_with(VecDeque::new);
        self.message_notices.get_or_insert_with(VecDeque::new);
    }

    /// The next call notice, oldest first.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.as_mut()?.pop_front()
    }

    /// Anchors the media of every call from now on through `media` (see [`media`]).
    pub fn set_media(&mut self, media: Box<dyn MediaControl>) {
        self.media = Some(media);
    }

    /// Tells the node the wall-clock time at `now` (it never reads a clock): business hours
    /// are evaluated with it. Without it, wall time counts from the Unix epoch.
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.wall_anchor = Some((now, wall));
    }

    fn wall(&self, now: Instant) -> SystemTime {
        match self.wall_anchor {
            Some((at, wall)) if now >= at => wall + (now - at),
            Some((at, wall)) => wall - (at - now),
            None => SystemTime::UNIX_EPOCH,
        }
    }

    /// Builds the node from the validated config. `secret` keys the digest nonces.
    pub fn from_config(
        cfg: &config::Config,
        secret: [u8; 32],
        tag_seed: u64,
    ) -> Result<Engine, registrar::Error> {
        let registrar = register::registrar_from_config(cfg, secret)?;
        Ok(Engine::new(
            NodeConfig::from_config(cfg),
            registrar,
            tag_seed,
        ))
    }

    /// Applies a reloaded config (SIGHUP): users, passwords, registrar limits, timers and the
    /// names INVITEs may reach. Bindings, transactions in progress and nonces already issued
    /// are kept. On error nothing changes. Listen addresses are the daemon's business.
    pub fn reconfigure(&mut self, cfg: &config::Config) -> Result<(), registrar::Error> {
        let (rc, users) = register::registrar_settings(cfg);
        self.registrar.reconfigure(rc, users)?;
        self.config = NodeConfig::from_config(cfg);
        self.codecs = media::supported_codecs(cfg);
        self.calls
            .presence
            .retain(|u| cfg.user(u.as_str()).is_some());
        Ok(())
    }

    /// Feeds one received message.
    pub fn handle_inbound(&mut self, inbound: Inbound, now: Instant) {
        self.stats.received += 1;
        match sip_msg::parse(inbound.data.clone()) {
            Ok(sip_msg::Message::Request(req)) => self.on_request(req, &inbound, now),
            Ok(sip_msg::Message::Response(resp)) => self.on_response(resp, &inbound, now),
            Err(e) => self.on_parse_error(e, &inbound, now),
        }
        self.drain_transactions(now);
    }

    /// The transport could not reach `dest` (a TCP connect failed or the connection broke):
    /// every client transaction bound there fails at once (RFC 3261 §17.1.4), so a dead agent
    /// is dropped from the fork now instead of after Timer B.
    pub fn on_unreachable(&mut self, transport: Transport, dest: SocketAddr, now: Instant) {
        let failed: Vec<sip_core::TxId> = self
            .calls
            .client_ids()
            .filter(|id| {
                self.transactions
                    .request(*id)
                    .is_some_and(|w| w.to.transport == transport && w.to.dest == dest)
            })
            .collect();
        for id in failed {
            let _ = self.transactions.on_transport_error(id, now);
        }
        self.drain_transactions(now);
    }

    /// Fires every timer due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.transactions.handle_timeout(now);
        if self.registrar.poll_timeout().is_some_and(|t| t <= now) {
            self.registrar.expire(now);
        }
        self.merged.expire(now);
        self.drain_transactions(now);
        self.handle_call_timeouts(now);
        self.drain_transactions(now);
    }

    /// The next message to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// When to call [`Engine::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.transactions.poll_timeout(),
            self.registrar.poll_timeout(),
            self.merged.poll_timeout(),
            self.calls.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Stops taking new requests: from now on they get `503 Service Unavailable`; transactions
    /// in progress go on.
    pub fn begin_shutdown(&mut self) {
        self.draining = true;
    }

    /// Whether no transaction still waits for a final response or an ACK, and no call rings or
    /// is bridged.
    pub fn is_idle(&self) -> bool {
        self.transactions.active_count() == 0 && self.calls.active() == 0
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn registrar(&self) -> &registrar::Registrar {
        &self.registrar
    }

    fn drain_transactions(&mut self, now: Instant) {
        use sip_core::{Output, TuEvent};
        while let Some((id, output)) = self.transactions.poll() {
            match output {
                Output::Send(wire) => {
                    if wire.data.is_empty() {
                        continue;
                    }
                    if wire.data.starts_with(b"SIP/2.0 ") {
                        self.stats.responses_sent += 1;
                    }
                    self.outbox.push_back(wire.into_transmit());
                }
                Output::ToTu(TuEvent::Response { status, msg }) => {
                    self.on_client_response(id, status, msg, now)
                }
                // Timer C is not used; an ACK passed up by an Accepted server transaction
                // shares the branch of its INVITE, which no well-behaved UA does for a 2xx.
                Output::ToTu(TuEvent::Ack(_)) | Output::ToTu(TuEvent::CancelDue) => {}
                Output::Timeout(_) | Output::TransportError => self.on_client_failure(id, now),
                Output::Terminated => self.on_tx_terminated(id, now),
            }
        }
    }

    /// A fresh 64-bit value from the node's deterministic sequence (routing seeds).
    fn next_random(&mut self) -> u64 {
        self.tag_counter += 1;
        (self.tag_seed ^ self.tag_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15)).rotate_left(29)
    }

    fn next_tag(&mut self) -> String {
        self.tag_counter += 1;
        let mixed =
            (self.tag_seed ^ self.tag_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15)).rotate_left(17);
        format!("{mixed:016x}")
    }
}

#[cfg(test)]
mod call_tests;
#[cfg(test)]
mod tests;
