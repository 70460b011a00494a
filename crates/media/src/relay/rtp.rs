//! A zero-cost RTP/RTCP header reader: bounds checks on a borrowed slice, no copies.
//!
//! Why our own rather than `rtp-rs` or `rtp-types`: the relay needs five fields and a validity
//! check, nothing else; `benches/relay.rs` measures the three readers side by side on the same
//! packets (see the numbers in the module docs of [`crate::relay`]). This reader checks exactly
//! what RFC 3550 §5.1 lets a receiver check without state: version 2, the fixed 12 bytes, the
//! CSRC list and the header extension (§5.3.1) within the packet, and the padding count (§5.1,
//! `P` bit) within the payload.

/// Why a datagram is not an RTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderError {
    /// Shorter than the 12-byte fixed header.
    TooShort,
    /// Version field is not 2.
    Version,
    /// CSRC list or header extension runs past the end of the packet.
    Truncated,
    /// The padding count is zero or larger than the payload.
    Padding,
}

/// The fixed header of one RTP packet, borrowed from the datagram.
#[derive(Clone, Copy, Debug)]
pub struct RtpHeader<'a> {
    packet: &'a [u8],
    payload_start: usize,
    payload_end: usize,
}

impl<'a> RtpHeader<'a> {
    /// Checks the header; see the module docs for what is checked.
    #[inline]
    pub fn parse(packet: &'a [u8]) -> Result<RtpHeader<'a>, HeaderError> {
        let Some(&[b0, ..]) = packet.get(..12) else {
            return Err(HeaderError::TooShort);
        };
        if b0 >> 6 != 2 {
            return Err(HeaderError::Version);
        }
        let csrc_count = usize::from(b0 & 0x0f);
        let mut start = 12 + 4 * csrc_count;
        if b0 & 0x10 != 0 {
            // Extension: 16-bit profile id, 16-bit length in 32-bit words, then the words.
            let Some(&[_, _, hi, lo]) = packet.get(start..start + 4) else {
                return Err(HeaderError::Truncated);
            };
            start += 4 + 4 * usize::from(u16::from_be_bytes([hi, lo]));
        }
        if start > packet.len() {
            return Err(HeaderError::Truncated);
        }
        let mut end = packet.len();
        if b0 & 0x20 != 0 {
            let pad = usize::from(packet[end - 1]);
            if pad == 0 || pad > end - start {
                return Err(HeaderError::Padding);
            }
            end -= pad;
        }
        Ok(RtpHeader {
            packet,
            payload_start: start,
            payload_end: end,
        })
    }

    /// Marker bit.
    #[inline]
    pub fn marker(&self) -> bool {
        self.packet[1] & 0x80 != 0
    }

    /// Payload type.
    #[inline]
    pub fn payload_type(&self) -> u8 {
        self.packet[1] & 0x7f
    }

    /// Sequence number.
    #[inline]
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.packet[2], self.packet[3]])
    }

    /// RTP timestamp.
    #[inline]
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([
            self.packet[4],
            self.packet[5],
            self.packet[6],
            self.packet[7],
        ])
    }

    /// Synchronization source.
    #[inline]
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([
            self.packet[8],
            self.packet[9],
            self.packet[10],
            self.packet[11],
        ])
    }

    /// The payload (after CSRCs and extension, before padding).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.packet[self.payload_start..self.payload_end]
    }
}

/// RFC 5761 §4: on a multiplexed port, a second byte in 192..=223 (RTCP packet types 192-223)
/// is RTCP; RTP payload types 64-95 are not to be used with rtcp-mux for this reason.
#[inline]
pub fn is_rtcp(packet: &[u8]) -> bool {
    matches!(packet.get(1), Some(192..=223))
}

/// The first RTCP packet's header is sane (RFC 3550 §6.4.1 checks a receiver can do): version
/// 2, at least the 8-byte common header with SSRC, and its length field within the datagram.
#[inline]
pub fn check_rtcp(packet: &[u8]) -> Result<(), HeaderError> {
    let Some(&[b0, _, hi, lo, ..]) = packet.get(..8) else {
        return Err(HeaderError::TooShort);
    };
    if b0 >> 6 != 2 {
        return Err(HeaderError::Version);
    }
    let len = 4 * (usize::from(u16::from_be_bytes([hi, lo])) + 1);
    if len > packet.len() {
        return Err(HeaderError::Truncated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(b0: u8, extra: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            b0, 0x88, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xde, 0xad, 0xbe, 0xef,
        ];
        p.extend_from_slice(extra);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn fields() {
        let p = packet(0x80, &[], b"abc");
        let h = RtpHeader::parse(&p).expect("valid");
        assert!(h.marker());
        assert_eq!(h.payload_type(), 8);
        assert_eq!(h.sequence(), 0x1234);
        assert_eq!(h.timestamp(), 320);
        assert_eq!(h.ssrc(), 0xdead_beef);
        assert_eq!(h.payload(), b"abc");
    }

    #[test]
    fn csrc_extension_padding() {
        // 1 CSRC, extension of 1 word, 2 bytes of padding.
        let extra = [1, 2, 3, 4, 0xbe, 0xde, 0, 1, 9, 9, 9, 9];
        let p = packet(0x80 | 0x20 | 0x10 | 1, &extra, &[7, 7, 0, 2]);
        let h = RtpHeader::parse(&p).expect("valid");
        assert_eq!(h.payload(), &[7, 7]);
    }

    #[test]
    fn rejects() {
        assert_eq!(
            RtpHeader::parse(&[0x80; 11]).err(),
            Some(HeaderError::TooShort)
        );
        assert_eq!(
            RtpHeader::parse(&packet(0x40, &[], b"x")).err(),
            Some(HeaderError::Version)
        );
        assert_eq!(
            RtpHeader::parse(&packet(0x82, &[0; 4], b"")).err(),
            Some(HeaderError::Truncated)
        );
        assert_eq!(
            RtpHeader::parse(&packet(0x90, &[0xbe, 0xde, 0, 2, 0, 0, 0, 0], b"")).err(),
            Some(HeaderError::Truncated)
        );
        assert_eq!(
            RtpHeader::parse(&packet(0xa0, &[], &[1, 5])).err(),
            Some(HeaderError::Padding)
        );
        assert_eq!(
            RtpHeader::parse(&packet(0xa0, &[], &[1, 0])).err(),
            Some(HeaderError::Padding)
        );
    }

    #[test]
    fn rtcp_demux_and_check() {
        let sr = [0x80, 200, 0, 1, 0, 0, 0, 1];
        assert!(is_rtcp(&sr));
        assert_eq!(check_rtcp(&sr), Ok(()));
        assert_eq!(
            check_rtcp(&[0x80, 200, 0, 6, 0, 0, 0, 1]),
            Err(HeaderError::Truncated)
        );
        assert!(!is_rtcp(&packet(0x80, &[], b"")));
    }
}
