//! The RTP streams the relay sends itself: codec identities, a header writer, and the
//! per-leg stream that splices forwarded and generated packets into one.
//!
//! Why a splicer ([`OutStream`]): a phone hears, one after the other, the far phone's packets
//! (forwarded), a prompt (a [`crate::player::Player`] with its own SSRC), transcoded audio (a
//! [`crate::transcode::Transcode`] with its own SSRC) and DTMF events we generate. Each source
//! numbers its packets in its own space. Many phones reset or mute on an SSRC change, and a
//! sequence number jumping backwards looks like a flood of late packets. The splicer keeps the
//! first source's SSRC and numbering as they are (so a call that never switches is forwarded
//! bit for bit) and shifts every later source's sequence numbers and timestamps so that they
//! continue where the previous source stopped, with the marker bit on the first packet after a
//! switch (RFC 3551 §4.1: the start of a talk spurt). Timestamps advance by the wall-clock time
//! between the two sources, so the phone's jitter buffer sees a pause, not a compression.
//!
//! Sans-IO: `now` is passed in; no allocation.

use std::time::Instant;

use codec::G711Law;

use crate::relay::rtp::RtpHeader;
use crate::sdp::Codec;

/// Length of the RTP fixed header written by this crate (no CSRC, no extension).
pub const RTP_HEADER_LEN: usize = 12;

/// The audio codecs the relay can decode, encode and play prompts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// G.711 A-law (PCMA/8000).
    Pcma,
    /// G.711 µ-law (PCMU/8000).
    Pcmu,
    /// Opus (opus/48000/2, RFC 7587), sent mono.
    Opus,
}

impl AudioCodec {
    /// The codec an SDP `rtpmap` (or static payload type) names, if we can process it.
    pub fn from_sdp(codec: &Codec) -> Option<AudioCodec> {
        let name = &codec.name;
        if name.eq_ignore_ascii_case(b"PCMA") && codec.clock_rate == 8000 {
            Some(AudioCodec::Pcma)
        } else if name.eq_ignore_ascii_case(b"PCMU") && codec.clock_rate == 8000 {
            Some(AudioCodec::Pcmu)
        } else if name.eq_ignore_ascii_case(b"opus") && codec.clock_rate == 48_000 {
            Some(AudioCodec::Opus)
        } else {
            None
        }
    }

    /// RTP clock rate: 8 kHz for G.711, always 48 kHz for Opus (RFC 7587 §4.1).
    pub const fn clock_rate(self) -> u32 {
        match self {
            AudioCodec::Pcma | AudioCodec::Pcmu => 8000,
            AudioCodec::Opus => 48_000,
        }
    }

    /// RTP timestamp units in one 20 ms frame.
    pub const fn frame_ticks(self) -> u32 {
        self.clock_rate() / 50
    }

    /// The RFC 3551 static payload type (8 for PCMA, 0 for PCMU); Opus has none.
    pub const fn static_payload_type(self) -> Option<u8> {
        match self {
            AudioCodec::Pcma => Some(8),
            AudioCodec::Pcmu => Some(0),
            AudioCodec::Opus => None,
        }
    }

    /// The companding law, for G.711.
    pub const fn law(self) -> Option<G711Law> {
        match self {
            AudioCodec::Pcma => Some(G711Law::Alaw),
            AudioCodec::Pcmu => Some(G711Law::Ulaw),
            AudioCodec::Opus => None,
        }
    }
}

/// The header fields of a packet we generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpFields {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits; the top bit is ignored).
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// SSRC.
    pub ssrc: u32,
}

/// Writes a version-2 RTP header followed by `payload` into `out`; returns the packet length,
/// or `None` when `out` is too small (nothing useful is written then).
#[inline]
pub fn write_rtp(out: &mut [u8], fields: RtpFields, payload: &[u8]) -> Option<usize> {
    let len = RTP_HEADER_LEN + payload.len();
    let out = out.get_mut(..len)?;
    out[0] = 0x80;
    out[1] = (u8::from(fields.marker) << 7) | (fields.payload_type & 0x7f);
    out[2..4].copy_from_slice(&fields.seq.to_be_bytes());
    out[4..8].copy_from_slice(&fields.timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&fields.ssrc.to_be_bytes());
    out[RTP_HEADER_LEN..].copy_from_slice(payload);
    Some(len)
}

/// One generated stream's numbering: SSRC, next sequence number, current timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpNumbering {
    /// The stream's SSRC.
    pub ssrc: u32,
    /// Sequence number of the next packet.
    pub seq: u16,
    /// Timestamp of the next frame.
    pub timestamp: u32,
}

impl RtpNumbering {
    /// Header fields for the next packet; the sequence number moves on, the timestamp does not
    /// (several packets may share one, as RFC 4733 events do).
    #[inline]
    pub fn next(&mut self, payload_type: u8, marker: bool) -> RtpFields {
        let fields = RtpFields {
            marker,
            payload_type,
            seq: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        };
        self.seq = self.seq.wrapping_add(1);
        fields
    }

    /// Moves the timestamp on by `ticks` (one frame, or a gap).
    #[inline]
    pub fn advance(&mut self, ticks: u32) {
        self.timestamp = self.timestamp.wrapping_add(ticks);
    }
}

/// How the current source's numbers map onto the stream the phone sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SourceMap {
    ssrc: u32,
    seq_offset: u16,
    ts_offset: u32,
    /// Set the marker bit on the next packet of this source (the first after a switch).
    mark: bool,
}

/// What the phone has been sent so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sent {
    ssrc: u32,
    /// Sequence number after the highest sent.
    next_seq: u16,
    /// Timestamp of the highest packet sent, and when it went.
    timestamp: u32,
    at: Instant,
}

/// Counters of one [`OutStream`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutStreamStats {
    /// Packets stamped.
    pub packets: u64,
    /// Source switches (each one marked).
    pub switches: u64,
}

/// The stream one phone receives from the relay, spliced from successive sources. See the
/// module docs.
#[derive(Clone, Debug)]
pub struct OutStream {
    clock_rate: u32,
    source: Option<SourceMap>,
    sent: Option<Sent>,
    stats: OutStreamStats,
}

impl OutStream {
    /// A stream whose RTP clock runs at `clock_rate` Hz (that of the leg's codec).
    pub fn new(clock_rate: u32) -> OutStream {
        OutStream {
            clock_rate: clock_rate.max(1),
            source: None,
            sent: None,
            stats: OutStreamStats::default(),
        }
    }

    /// The leg's codec changed (re-INVITE): timestamps of later switches use the new clock.
    pub fn set_clock_rate(&mut self, clock_rate: u32) {
        self.clock_rate = clock_rate.max(1);
    }

    /// Counters.
    pub fn stats(&self) -> OutStreamStats {
        self.stats
    }

    /// The SSRC the phone sees, once something was sent.
    pub fn ssrc(&self) -> Option<u32> {
        self.sent.map(|s| s.ssrc)
    }

    /// Rewrites SSRC, sequence number, timestamp and marker of an RTP packet in place, just
    /// before it is sent to the phone at `now`. Returns `false` (packet untouched) if it is not
    /// RTP.
    #[inline]
    pub fn stamp(&mut self, packet: &mut [u8], now: Instant) -> bool {
        let Ok(header) = RtpHeader::parse(packet) else {
            return false;
        };
        let (ssrc, seq, ts) = (header.ssrc(), header.sequence(), header.timestamp());
        let map = match self.source {
            Some(map) if map.ssrc == ssrc => map,
            _ => self.switch_to(ssrc, seq, ts, now),
        };
        let out_seq = seq.wrapping_add(map.seq_offset);
        let out_ts = ts.wrapping_add(map.ts_offset);
        let out_ssrc = self.sent.map_or(ssrc, |s| s.ssrc);
        if map.mark {
            packet[1] |= 0x80;
            if let Some(m) = &mut self.source {
                m.mark = false;
            }
        }
        packet[2..4].copy_from_slice(&out_seq.to_be_bytes());
        packet[4..8].copy_from_slice(&out_ts.to_be_bytes());
        packet[8..12].copy_from_slice(&out_ssrc.to_be_bytes());
        self.stats.packets += 1;
        match &mut self.sent {
            // A reordered packet does not move the high-water mark back.
            Some(sent) if (out_seq.wrapping_sub(sent.next_seq) as i16) < 0 => {}
            Some(sent) => {
                sent.next_seq = out_seq.wrapping_add(1);
                sent.timestamp = out_ts;
                sent.at = now;
            }
            None => {
                self.sent = Some(Sent {
                    ssrc: out_ssrc,
                    next_seq: out_seq.wrapping_add(1),
                    timestamp: out_ts,
                    at: now,
                })
            }
        }
        true
    }

    /// A packet of a new source: map it to continue the stream.
    fn switch_to(&mut self, ssrc: u32, seq: u16, ts: u32, now: Instant) -> SourceMap {
        let map = match self.sent {
            // The first source is passed through as it is.
            None => SourceMap {
                ssrc,
                seq_offset: 0,
                ts_offset: 0,
                mark: false,
            },
            Some(sent) => {
                let elapsed = now.saturating_duration_since(sent.at);
                let ticks = elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000;
                // At least one 20 ms frame after the last one, which it still covered.
                let ticks = ticks.max(u128::from(self.clock_rate / 50));
                let ticks = u32::try_from(ticks).unwrap_or(u32::MAX);
                self.stats.switches += 1;
                SourceMap {
                    ssrc,
                    seq_offset: sent.next_seq.wrapping_sub(seq),
                    ts_offset: sent.timestamp.wrapping_add(ticks).wrapping_sub(ts),
                    mark: true,
                }
            }
        };
        self.source = Some(map);
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn packet(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        let n = write_rtp(
            &mut p,
            RtpFields {
                marker: false,
                payload_type: 8,
                seq,
                timestamp: ts,
                ssrc,
            },
            &[1; 8],
        );
        assert_eq!(n, Some(20));
        p
    }

    fn fields(p: &[u8]) -> (bool, u16, u32, u32) {
        let h = RtpHeader::parse(p).expect("valid");
        (h.marker(), h.sequence(), h.timestamp(), h.ssrc())
    }

    #[test]
    fn first_source_passes_unchanged_then_switches_continue_it() {
        let t0 = Instant::now();
        let mut out = OutStream::new(8000);
        for i in 0..3u16 {
            let mut p = packet(100 + i, 1000 + 160 * u32::from(i), 0xaaaa);
            let want = p.clone();
            let at = t0 + Duration::from_millis(20 * u64::from(i));
            assert!(out.stamp(&mut p, at));
            assert_eq!(p, want, "first source is untouched");
        }
        // A prompt starts 100 ms after the last forwarded packet (at 40 ms).
        let at = t0 + Duration::from_millis(140);
        let mut p = packet(7, 0, 0xbbbb);
        out.stamp(&mut p, at);
        assert_eq!(fields(&p), (true, 103, 1320 + 800, 0xaaaa));
        let mut p = packet(8, 160, 0xbbbb);
        out.stamp(&mut p, at + Duration::from_millis(20));
        assert_eq!(fields(&p), (false, 104, 2280, 0xaaaa));
        // Back to the first source immediately: at least one frame later, marked.
        let mut p = packet(103, 1480, 0xaaaa);
        out.stamp(&mut p, at + Duration::from_millis(20));
        assert_eq!(fields(&p), (true, 105, 2440, 0xaaaa));
        let mut p = packet(104, 1640, 0xaaaa);
        out.stamp(&mut p, at + Duration::from_millis(40));
        assert_eq!(fields(&p), (false, 106, 2600, 0xaaaa));
        assert_eq!(
            out.stats(),
            OutStreamStats {
                packets: 7,
                switches: 2
            }
        );
    }

    #[test]
    fn reordered_packet_keeps_its_place_and_wraps() {
        let t0 = Instant::now();
        let mut out = OutStream::new(8000);
        out.stamp(&mut packet(65535, u32::MAX - 159, 1), t0);
        let mut p = packet(2, 320, 9);
        out.stamp(&mut p, t0 + Duration::from_millis(20));
        assert_eq!(fields(&p), (true, 0, 0, 1));
        let mut late = packet(1, 160, 9);
        out.stamp(&mut late, t0 + Duration::from_millis(25));
        assert_eq!(fields(&late), (false, 65535, u32::MAX - 159, 1));
        let mut p = packet(3, 480, 9);
        out.stamp(&mut p, t0 + Duration::from_millis(40));
        assert_eq!(fields(&p), (false, 1, 160, 1));
    }

    #[test]
    fn not_rtp_is_left_alone() {
        let mut out = OutStream::new(8000);
        let mut junk = [0u8; 5];
        assert!(!out.stamp(&mut junk, Instant::now()));
        assert_eq!(out.ssrc(), None);
    }

    #[test]
    fn codecs_from_sdp() {
        assert_eq!(
            AudioCodec::from_sdp(&Codec::new(8, "PCMA", 8000, 1)),
            Some(AudioCodec::Pcma)
        );
        assert_eq!(
            AudioCodec::from_sdp(&Codec::new(111, "OPUS", 48_000, 2)),
            Some(AudioCodec::Opus)
        );
        assert_eq!(AudioCodec::from_sdp(&Codec::new(9, "G722", 8000, 1)), None);
        assert_eq!(AudioCodec::Opus.frame_ticks(), 960);
        assert_eq!(AudioCodec::Pcmu.static_payload_type(), Some(0));
        assert_eq!(write_rtp(&mut [0u8; 11], packet_fields(), &[]), None);
    }

    fn packet_fields() -> RtpFields {
        RtpFields {
            marker: true,
            payload_type: 0,
            seq: 0,
            timestamp: 0,
            ssrc: 0,
        }
    }
}
