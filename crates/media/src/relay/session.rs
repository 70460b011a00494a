//! One anchored call: two legs, latching, forwarding verdicts, statistics, media timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::rtp::{check_rtcp, is_rtcp, HeaderError, RtpHeader};
use crate::rtp_stats::RtpReceiveStats;

/// One side of the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The caller's side.
    A,
    /// The callee's side.
    B,
}

impl Leg {
    /// The other leg.
    #[inline]
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    #[inline]
    fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// Per-session settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayConfig {
    /// Latch on the first packet of a leg from any address, not only the SDP one (symmetric
    /// RTP for phones behind NAT, whose SDP shows their private address).
    pub latch_any_first: bool,
    /// No RTP on either leg for this long (outside hold) raises [`RelayEvent::MediaTimeout`].
    pub media_timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            latch_any_first: true,
            media_timeout: Duration::from_secs(60),
        }
    }
}

/// What one leg expects, from its SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegConfig {
    /// Where the SDP says the phone receives RTP (and so, with symmetric RTP, sends from).
    /// `None` while unknown (no answer yet) or when the SDP holds no usable address.
    pub remote: Option<SocketAddr>,
    /// RTCP address from the SDP: `a=rtcp` or RTP port + 1; equal to `remote` with rtcp-mux.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP clock rate of the negotiated codec, for jitter in RFC 3550 units.
    pub clock_rate: u32,
}

impl LegConfig {
    /// A leg whose phone announced `remote`, with RTCP on the next port or multiplexed.
    pub fn new(remote: Option<SocketAddr>, rtcp_mux: bool, clock_rate: u32) -> LegConfig {
        let remote_rtcp = remote.map(|a| {
            if rtcp_mux {
                a
            } else {
                SocketAddr::new(a.ip(), a.port().wrapping_add(1))
            }
        });
        LegConfig {
            remote,
            remote_rtcp,
            clock_rate,
        }
    }
}

/// What to do with a received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the datagram unchanged to `to`, from the socket of `from_leg` (the other leg's
    /// socket: that is the address the far phone was told to expect).
    Forward {
        /// Destination.
        to: SocketAddr,
        /// The leg whose local socket sends it.
        from_leg: Leg,
    },
    /// Do not forward.
    Drop(DropReason),
}

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a valid RTP (or RTCP) packet.
    Invalid(HeaderError),
    /// From an address other than the one the leg latched to (or, before latching and without
    /// `latch_any_first`, other than the SDP one).
    Stranger,
    /// The other leg's address is not known yet.
    NoDestination,
}

/// Something the owner must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// No RTP for the media timeout (outside hold): end the call.
    MediaTimeout,
    /// A leg latched to the address its packets come from.
    Latched {
        /// The leg.
        leg: Leg,
        /// The address it latched to.
        addr: SocketAddr,
    },
    /// A DTMF key from a leg's phone (RFC 4733 event or in-band tone): one with `end: false`
    /// when the key goes down, one with `end: true` when it goes up. Raised by the media
    /// bridge ([`crate::bridge`]), never by [`RelaySession`].
    Dtmf {
        /// The leg whose phone pressed the key.
        leg: Leg,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
        /// Released (`true`) or pressed (`false`).
        end: bool,
    },
    /// The last packet of a prompt that was not looped went out to the leg (not raised after
    /// a stop). Raised by the media bridge.
    PlaybackDone {
        /// The leg the prompt played into.
        leg: Leg,
    },
    /// A recording of what the leg's phone sent is complete at the path given to `record`: it
    /// reached its `max`, was stopped, or the session closed (then this comes after the close).
    /// Raised by the I/O shell once the file is in place, never before.
    RecordingDone {
        /// The leg that was recorded.
        leg: Leg,
        /// Length of the recording.
        duration_ms: u32,
    },
    /// A recording could not be written (disk full, directory removed...): nothing is at its
    /// path. Raised by the I/O shell instead of `RecordingDone`.
    RecordingFailed {
        /// The leg that was recorded.
        leg: Leg,
        /// What the file system said.
        error: std::io::ErrorKind,
    },
}

/// Counters of one leg: what its phone sent us.
#[derive(Clone, Debug)]
pub struct LegStats {
    /// RTP packets accepted (forwarded or not for lack of a destination).
    pub packets: u64,
    /// Their bytes (whole datagrams).
    pub bytes: u64,
    /// RTCP packets accepted.
    pub rtcp_packets: u64,
    /// Datagrams dropped because they came from a stranger.
    pub strangers: u64,
    /// Datagrams dropped as invalid RTP/RTCP.
    pub invalid: u64,
    /// Accepted packets with nowhere to go yet.
    pub no_destination: u64,
    /// Times the SSRC changed after the first packet.
    pub ssrc_changes: u64,
    /// The current SSRC, once a packet arrived.
    pub ssrc: Option<u32>,
    /// RFC 3550 receive statistics of the current SSRC (loss, jitter).
    pub rtp: RtpReceiveStats,
}

impl LegStats {
    fn new(clock_rate: u32) -> LegStats {
        LegStats {
            packets: 0,
            bytes: 0,
            rtcp_packets: 0,
            strangers: 0,
            invalid: 0,
            no_destination: 0,
            ssrc_changes: 0,
            ssrc: None,
            rtp: stats_for(clock_rate),
        }
    }
}

fn stats_for(clock_rate: u32) -> RtpReceiveStats {
    // The signalling vouched for the source: count from the first packet.
    RtpReceiveStats::new(clock_rate).with_min_sequential(1)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Latch {
    /// Waiting for the first acceptable packet.
    Open,
    /// Bound to this source address.
    Latched(SocketAddr),
}

#[derive(Clone, Debug)]
struct LegState {
    config: LegConfig,
    rtp: Latch,
    rtcp: Latch,
    stats: LegStats,
}

impl LegState {
    fn new(config: LegConfig) -> LegState {
        LegState {
            config,
            rtp: Latch::Open,
            rtcp: Latch::Open,
            stats: LegStats::new(config.clock_rate),
        }
    }
}

/// Pending events; at most one of each kind per leg, so a fixed array (no allocation).
#[derive(Clone, Copy, Debug, Default)]
struct Pending {
    timeout: bool,
    latched: [Option<SocketAddr>; 2],
}

/// The sans-IO relay of one call. See the [module docs](crate::relay) for the loop.
#[derive(Clone, Debug)]
pub struct RelaySession {
    config: RelayConfig,
    legs: [LegState; 2],
    /// Last accepted RTP on either leg (or creation / end of hold).
    last_media: Instant,
    hold: bool,
    /// The timeout fired; it does not fire again until media resumes.
    timed_out: bool,
    pending: Pending,
}

impl RelaySession {
    /// A session created at `now` (the media timeout counts from here).
    pub fn new(config: RelayConfig, a: LegConfig, b: LegConfig, now: Instant) -> RelaySession {
        RelaySession {
            config,
            legs: [LegState::new(a), LegState::new(b)],
            last_media: now,
            hold: false,
            timed_out: false,
            pending: Pending::default(),
        }
    }

    /// A datagram arrived on `leg`'s RTP socket from `src`. RTCP multiplexed on the port
    /// (RFC 5761) is recognised and forwarded like RTP, without RTP statistics.
    #[inline]
    pub fn on_packet(&mut self, leg: Leg, src: SocketAddr, packet: &[u8], now: Instant) -> Verdict {
        if is_rtcp(packet) {
            return self.on_rtcp_muxed(leg, src, packet);
        }
        let header = match RtpHeader::parse(packet) {
            Ok(h) => h,
            Err(e) => {
                self.legs[leg.index()].stats.invalid += 1;
                return Verdict::Drop(DropReason::Invalid(e));
            }
        };
        let latch_any = self.config.latch_any_first;
        let state = &mut self.legs[leg.index()];
        match accept(&mut state.rtp, state.config.remote, src, latch_any) {
            Accept::Known => {}
            Accept::Latched => self.pending.latched[leg.index()] = Some(src),
            Accept::Stranger => {
                state.stats.strangers += 1;
                return Verdict::Drop(DropReason::Stranger);
            }
        }
        let stats = &mut state.stats;
        stats.packets += 1;
        stats.bytes += packet.len() as u64;
        let ssrc = header.ssrc();
        match stats.ssrc {
            Some(old) if old != ssrc => {
                stats.ssrc_changes += 1;
                stats.rtp = stats_for(state.config.clock_rate);
            }
            _ => {}
        }
        stats.ssrc = Some(ssrc);
        stats.rtp.update(header.sequence(), header.timestamp(), now);
        self.last_media = now;
        self.timed_out = false;

        let other = &self.legs[leg.other().index()];
        let to = match other.rtp {
            Latch::Latched(addr) => Some(addr),
            Latch::Open => other.config.remote,
        };
        match to {
            Some(to) => Verdict::Forward {
                to,
                from_leg: leg.other(),
            },
            None => {
                self.legs[leg.index()].stats.no_destination += 1;
                Verdict::Drop(DropReason::NoDestination)
            }
        }
    }

    /// A datagram arrived on `leg`'s RTCP socket (no rtcp-mux) from `src`. Latches separately
    /// from RTP; forwarded to the other leg's RTCP address (its latched RTCP source, else its
    /// SDP RTCP address), from the other leg's RTCP socket.
    pub fn on_rtcp(&mut self, leg: Leg, src: SocketAddr, packet: &[u8]) -> Verdict {
        if let Err(e) = check_rtcp(packet) {
            self.legs[leg.index()].stats.invalid += 1;
            return Verdict::Drop(DropReason::Invalid(e));
        }
        let latch_any = self.config.latch_any_first;
        let state = &mut self.legs[leg.index()];
        if accept(&mut state.rtcp, state.config.remote_rtcp, src, latch_any) == Accept::Stranger {
            state.stats.strangers += 1;
            return Verdict::Drop(DropReason::Stranger);
        }
        state.stats.rtcp_packets += 1;
        let other = &self.legs[leg.other().index()];
        let to = match other.rtcp {
            Latch::Latched(addr) => Some(addr),
            Latch::Open => other.config.remote_rtcp,
        };
        self.verdict_to(leg, to)
    }

    fn on_rtcp_muxed(&mut self, leg: Leg, src: SocketAddr, packet: &[u8]) -> Verdict {
        if let Err(e) = check_rtcp(packet) {
            self.legs[leg.index()].stats.invalid += 1;
            return Verdict::Drop(DropReason::Invalid(e));
        }
        let latch_any = self.config.latch_any_first;
        let state = &mut self.legs[leg.index()];
        // A valid RTCP packet from the right source may latch the leg too (issue 5).
        match accept(&mut state.rtp, state.config.remote, src, latch_any) {
            Accept::Known => {}
            Accept::Latched => self.pending.latched[leg.index()] = Some(src),
            Accept::Stranger => {
                state.stats.strangers += 1;
                return Verdict::Drop(DropReason::Stranger);
            }
        }
        state.stats.rtcp_packets += 1;
        let other = &self.legs[leg.other().index()];
        let to = match other.rtp {
            Latch::Latched(addr) => Some(addr),
            Latch::Open => other.config.remote_rtcp,
        };
        self.verdict_to(leg, to)
    }

    fn verdict_to(&mut self, leg: Leg, to: Option<SocketAddr>) -> Verdict {
        match to {
            Some(to) => Verdict::Forward {
                to,
                from_leg: leg.other(),
            },
            None => {
                self.legs[leg.index()].stats.no_destination += 1;
                Verdict::Drop(DropReason::NoDestination)
            }
        }
    }

    /// New SDP for a leg (re-INVITE): its expected address changes and latching starts over.
    pub fn set_remote(&mut self, leg: Leg, config: LegConfig) {
        let state = &mut self.legs[leg.index()];
        if state.config.clock_rate != config.clock_rate {
            state.stats.rtp = stats_for(config.clock_rate);
            state.stats.ssrc = None;
        }
        state.config = config;
        state.rtp = Latch::Open;
        state.rtcp = Latch::Open;
    }

    /// Hold pauses the media timeout (a held phone may send nothing); resuming restarts it
    /// from `now`.
    pub fn set_hold(&mut self, hold: bool, now: Instant) {
        if self.hold && !hold {
            self.last_media = now;
            self.timed_out = false;
        }
        self.hold = hold;
    }

    /// Whether the session is on hold.
    pub fn is_held(&self) -> bool {
        self.hold
    }

    /// When [`RelaySession::handle_timeout`] next needs calling, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.hold && !self.timed_out).then(|| self.last_media + self.config.media_timeout)
    }

    /// Fires the media timeout if it is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout() {
            if now >= deadline {
                self.timed_out = true;
                self.pending.timeout = true;
            }
        }
    }

    /// The next event to act on; drain until `None` after each `on_packet`/`handle_timeout`.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        for leg in [Leg::A, Leg::B] {
            if let Some(addr) = self.pending.latched[leg.index()].take() {
                return Some(RelayEvent::Latched { leg, addr });
            }
        }
        if std::mem::take(&mut self.pending.timeout) {
            return Some(RelayEvent::MediaTimeout);
        }
        None
    }

    /// The counters of what `leg`'s phone sent.
    pub fn stats(&self, leg: Leg) -> &LegStats {
        &self.legs[leg.index()].stats
    }

    /// Where packets for `leg`'s phone go: its latched source, else its SDP address.
    pub fn destination(&self, leg: Leg) -> Option<SocketAddr> {
        let state = &self.legs[leg.index()];
        match state.rtp {
            Latch::Latched(addr) => Some(addr),
            Latch::Open => state.config.remote,
        }
    }

    /// The RTP clock rate `leg`'s SDP announced.
    pub fn clock_rate(&self, leg: Leg) -> u32 {
        self.legs[leg.index()].config.clock_rate
    }

    /// The address `leg` latched to, if it did.
    pub fn latched(&self, leg: Leg) -> Option<SocketAddr> {
        match self.legs[leg.index()].rtp {
            Latch::Latched(addr) => Some(addr),
            Latch::Open => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accept {
    /// From the latched source.
    Known,
    /// Accepted, and the socket latched to it just now.
    Latched,
    /// Refused.
    Stranger,
}

/// Latching rule for one socket of one leg: accept the datagram from `src`, latching if open.
#[inline]
fn accept(latch: &mut Latch, expected: Option<SocketAddr>, src: SocketAddr, any: bool) -> Accept {
    match *latch {
        Latch::Latched(addr) if addr == src => Accept::Known,
        Latch::Latched(_) => Accept::Stranger,
        Latch::Open if any || expected == Some(src) => {
            *latch = Latch::Latched(src);
            Accept::Latched
        }
        Latch::Open => Accept::Stranger,
    }
}
