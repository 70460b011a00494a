//! Switchboard's media engine: the jitter buffer, RTP statistics, SDP offer/answer rewriting and
//! the RTP relay.
//!
//! The protocol logic is sans-IO: [`jitter`], [`rtp_stats`], [`sdp`] and the relay's decision
//! machine ([`relay::RelaySession`]) take the time an input happened (`arrival` on a packet,
//! `now` on a call) and never read the clock, so a test can replay an hour of traffic in
//! milliseconds and get the same answer every time. Two modules own I/O and say so: [`ports`]
//! binds the RTP/RTCP socket pairs, and `relay::io` is the thin tokio shell that moves packets
//! between those sockets and the relay machines.
//!
//! # Jitter buffer ([`jitter`])
//!
//! The contract, for one received RTP stream that is being decoded (IVR, transcoding, recording):
//!
//! * **In:** [`jitter::JitterBuffer::insert`] every packet as it arrives, in arrival order, with
//!   its receive time. Each packet carries exactly one frame of `frame_samples` RTP timestamp
//!   units (the codec's packet time, 20 ms by default). Insert never fails: late, duplicate,
//!   overflowing and stray packets are dropped and counted.
//! * **Out:** call [`jitter::JitterBuffer::pop`] once per frame period with the playout time; it
//!   returns exactly one [`jitter::Playout`]: a frame to decode, an order to conceal a lost frame
//!   (with the next packet when it is already here, so Opus in-band FEC can rebuild the lost one),
//!   comfort noise or silence during the sender's DTX pauses, or `Empty` while a stream buffers.
//! * **Guarantees:** frames come out in increasing sequence order, never twice; a frame is never
//!   handed out more than `max_delay` after it arrived; memory is fixed at construction
//!   (`max_packets` slots, no allocation per packet).
//! * **Never:** reads the clock, decodes audio, or blocks. Delay adaptation is done by dropping
//!   or inserting whole frames (see the [`jitter`] module docs); the caller's decoder only has to
//!   understand "decode", "conceal" and "comfort noise".
//!
//! # Receive statistics ([`rtp_stats`])
//!
//! [`rtp_stats::RtpReceiveStats`] is RFC 3550 Appendix A.1, A.3 and A.8 as a small struct: feed
//! it each packet's sequence number, timestamp and arrival time; read the extended highest
//! sequence number, cumulative and fractional loss, and interarrival jitter for RTCP reports. The
//! relay keeps one per leg; the jitter buffer does not depend on it.

pub mod jitter;
pub mod ports;
pub mod relay;
pub mod rtp_stats;
pub mod sdp;

mod error;

pub use error::Error;
