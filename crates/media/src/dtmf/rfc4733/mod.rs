//! RFC 4733 telephone-events: the 4-byte payload, the receiver that turns a stream of event
//! packets into one start and one end per key press, and the sender that produces the packets
//! for a digit.
//!
//! # Payload (§2.3)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     event     |E|R| volume    |          duration             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Every packet of one event carries the event's start time as its RTP timestamp and the time
//! elapsed since then as `duration`, in the payload type's clock units (8 kHz for
//! `telephone-event/8000`, 48 kHz next to Opus). The first packet has the RTP marker bit; the
//! last one has `E` set and is sent three times. An event longer than `0xFFFF` units is split
//! into segments (§2.5.1.3): the next segment's timestamp is the previous one plus `0xFFFF`,
//! without the marker bit.
//!
//! Events 0–15 are the DTMF keys (§3.2, table 7): `0`–`9`, `*` (10), `#` (11), `A`–`D`
//! (12–15). Other events (flash, fax tones) are parsed but never turned into digits.

mod receiver;
mod sender;

pub use receiver::{DtmfEvent, EventReceiver, Events, ReceiverStats};
pub use sender::{EventSender, OutgoingEvent, SendParams};

/// The telephone-event payload is exactly this long (one event; RFC 4733 §2.3).
pub const PAYLOAD_LEN: usize = 4;

/// The largest volume the 6-bit field holds: −63 dBm0.
pub const MAX_VOLUME: u8 = 0x3F;

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TelephoneEvent {
    /// The event code: 0–15 are DTMF keys (see [`digit_of`]).
    pub event: u8,
    /// The `E` bit: this packet ends the event (or its last segment).
    pub end: bool,
    /// The power level of the tone as −dBm0, 0–63 (only the low 6 bits are written).
    pub volume: u8,
    /// Time since the event (segment) started, in RTP timestamp units.
    pub duration: u16,
}

/// A telephone-event payload shorter than [`PAYLOAD_LEN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("telephone-event payload is {0} bytes, needs 4")]
pub struct TruncatedPayload(pub usize);

impl TelephoneEvent {
    /// Parses the first event of a payload.
    ///
    /// Bytes after the first four are ignored: RFC 4733 only puts several events in one packet
    /// through RFC 2198 redundancy, which has its own payload type, and some senders pad. The
    /// reserved bit is ignored as §2.3 asks.
    pub fn parse(payload: &[u8]) -> Result<Self, TruncatedPayload> {
        let Some(&[event, flags, d0, d1]) = payload.first_chunk::<PAYLOAD_LEN>() else {
            return Err(TruncatedPayload(payload.len()));
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & MAX_VOLUME,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Writes the payload; the reserved bit is zero and `volume` is cut to its 6 bits.
    pub fn write(&self, out: &mut [u8; PAYLOAD_LEN]) {
        out[0] = self.event;
        out[1] = (u8::from(self.end) << 7) | (self.volume & MAX_VOLUME);
        out[2..4].copy_from_slice(&self.duration.to_be_bytes());
    }

    /// The payload as bytes.
    pub fn to_bytes(&self) -> [u8; PAYLOAD_LEN] {
        let mut out = [0; PAYLOAD_LEN];
        self.write(&mut out);
        out
    }

    /// The DTMF key this event stands for, if it is one.
    pub fn digit(&self) -> Option<char> {
        digit_of(self.event)
    }
}

/// The DTMF key of an event code (RFC 4733 §3.2): 0–9, `*`, `#`, `A`–`D`; `None` above 15.
pub fn digit_of(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + (event - 12))),
        _ => None,
    }
}

/// The event code of a DTMF key; `a`–`d` are accepted for `A`–`D`.
pub fn event_of(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_example_layout() {
        // Digit 5, end, volume 10 (−10 dBm0), 800 units (100 ms at 8 kHz).
        let ev = TelephoneEvent::parse(&[0x05, 0x8A, 0x03, 0x20]).expect("4 bytes");
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(ev.to_bytes(), [0x05, 0x8A, 0x03, 0x20]);
    }

    #[test]
    fn reserved_bit_is_ignored_and_not_written() {
        let ev = TelephoneEvent::parse(&[11, 0x40 | 0x07, 0, 160]).expect("4 bytes");
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 11,
                end: false,
                volume: 7,
                duration: 160
            }
        );
        assert_eq!(ev.to_bytes(), [11, 0x07, 0, 160]);
    }

    #[test]
    fn short_payloads_are_refused_and_long_ones_read_first_event() {
        for len in 0..PAYLOAD_LEN {
            assert_eq!(
                TelephoneEvent::parse(&[0; 3][..len]),
                Err(TruncatedPayload(len))
            );
        }
        let ev = TelephoneEvent::parse(&[1, 0, 0, 80, 0xFF, 0xFF]).expect("long payload");
        assert_eq!(ev.event, 1);
        assert_eq!(ev.duration, 80);
    }

    #[test]
    fn digits_map_both_ways_for_the_sixteen_keys() {
        let keys = "0123456789*#ABCD";
        for (code, key) in keys.chars().enumerate() {
            assert_eq!(digit_of(code as u8), Some(key));
            assert_eq!(event_of(key), Some(code as u8));
        }
        assert_eq!(event_of('c'), Some(14));
        assert_eq!(digit_of(16), None, "flash is not a digit");
        assert_eq!(event_of('E'), None);
        assert_eq!(event_of('!'), None);
    }
}
