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
//!
//! # Media work beyond forwarding ([`bridge`], [`transcode`], [`player`], [`stream`])
//!
//! * [`bridge::MediaBridge`]: per call, what the relay does besides forwarding: payload-type
//!   renumbering, PCMA ↔ PCMU by table, G.711 ↔ Opus transcoding, prompts, DTMF detection
//!   (RFC 4733 and in-band) and relaying, DTMF sending. Sans-IO; `relay::io` gives a session
//!   one only when asked ([`relay::io::LegMedia`], `play`, `send_dtmf`), so plain calls keep
//!   the plain path.
//! * [`transcode::Transcode`]: one direction of a transcoded call: RTP in, jitter buffer, decode
//!   (Opus FEC/PLC on loss), resample if needed, encode, RTP out with its own numbering, on a
//!   20 ms tick.
//! * [`player::Prompt`] / [`player::Player`]: a WAV encoded once per codec, shared as `Arc`,
//!   and its paced playback into one leg (20 ms, bounded catch-up, looping for hold music).
//! * [`record::Recorder`]: one leg's audio into a WAV file (voicemail): jitter buffer, decode
//!   (Opus FEC/PLC, G.711 repetition), one 16-bit frame per 20 ms tick (8 kHz for G.711, 16 kHz
//!   for Opus), handed to one writer thread shared by all recordings through a bounded queue
//!   that drops and counts, never blocks; written to `path.tmp`, renamed to `path` when done.
//!   `relay::io` runs one per leg on request (`RelayHandle::record`).
//! * [`stream`]: the codecs we process, the RTP header writer, and [`stream::OutStream`], which
//!   splices forwarded and generated packets into one SSRC with continuous numbering.

pub mod bridge;
pub mod dtmf;
pub mod jitter;
pub mod player;
pub mod ports;
pub mod record;
pub mod relay;
pub mod rtp_stats;
pub mod sdp;
pub mod stream;
pub mod transcode;

mod error;

pub use error::Error;
