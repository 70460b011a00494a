//! The RTP relay that anchors every call's media: a sans-IO core and a tokio I/O shell.
//!
//! # Core ([`RelaySession`])
//!
//! One session per call, two legs ([`Leg::A`], [`Leg::B`]), each with a local port pair (the
//! address we wrote into that leg's SDP) and the phone's address from its SDP ([`LegConfig`]).
//!
//! * **In:** [`RelaySession::on_packet`] for every datagram read on a leg's RTP socket (RTCP
//!   multiplexed on it is recognised, RFC 5761), [`RelaySession::on_rtcp`] for the RTCP socket,
//!   with the source address and `now`; [`RelaySession::handle_timeout`] when
//!   [`RelaySession::poll_timeout`] is due; hold and re-INVITEs through `set_hold`/`set_remote`.
//! * **Out:** a [`Verdict`] per datagram: forward it unchanged to an address from the other
//!   leg's socket, or drop it with a reason. Then drain [`RelaySession::poll_event`]
//!   ([`RelayEvent::MediaTimeout`] ends the call; `Latched` is informational).
//! * **Latching** (symmetric RTP): a leg accepts its first packet from the SDP address, or, with
//!   [`RelayConfig::latch_any_first`], from any address (phones behind NAT announce private
//!   addresses); from then on only that source is accepted, others are dropped and counted as
//!   strangers. Packets to a leg go to its latched source, or to its SDP address before it
//!   latched.
//! * **Hot path:** header check ([`rtp::RtpHeader`]), latch compare, SSRC and RFC 3550
//!   sequence/jitter bookkeeping ([`crate::rtp_stats`]), destination pick. No allocation, no
//!   copy, payload untouched.
//! * **Never:** reads the clock, touches sockets, re-encodes, or looks inside the payload.
//!
//! # I/O shell ([`io`], Linux)
//!
//! One tokio task serves every session: an epoll set holds all legs' sockets, so a wake-up
//! costs O(ready sockets), not O(sessions); datagrams are read in batches (`recvmmsg`, bounded
//! per socket per round), judged by the core and sent in batches (`sendmmsg`, UDP GSO) without
//! waiting (a full socket buffer drops and counts: late audio is worthless). Sessions come and
//! go through a bounded command channel ([`io::RelayHandle`]).

pub mod rtp;

mod session;

#[cfg(target_os = "linux")]
mod batch;

#[cfg(target_os = "linux")]
pub mod io;

pub use session::{
    DropReason, Leg, LegConfig, LegStats, RelayConfig, RelayEvent, RelaySession, Verdict,
};
