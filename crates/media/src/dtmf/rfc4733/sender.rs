//! Produces the telephone-event packets for one key press toward a phone: the agent's keypad,
//! or a SIP INFO digit relayed as RFC 4733.
//!
//! Sans-IO: the caller owns the 20 ms tick (or whatever its packet time is) and asks
//! [`EventSender::next_packet`] once per tick until it returns `None`. Per RFC 4733 §2.5.1:
//!
//! * every packet of the event carries the event's start timestamp (the timestamp the audio
//!   stream would have had at the first tick); only the first has the marker bit;
//! * each tick reports the time elapsed so far, one packet time more than the previous one; the
//!   first reports one packet time;
//! * the packet that reaches the full duration has `E` set, and is sent three times in total on
//!   consecutive ticks (the two retransmissions are identical);
//! * beyond `0xFFFF` units the event continues in a new segment whose timestamp is the previous
//!   one plus `0xFFFF`, without the marker (§2.5.1.3).
//!
//! While the sender runs, the caller sends no audio on that SSRC; its audio timestamps keep
//! advancing one packet time per tick, so the first audio packet after the event carries the
//! timestamp it would have had anyway.

use super::{event_of, TelephoneEvent, MAX_VOLUME, PAYLOAD_LEN};
use crate::Error;

/// Largest duration of one segment, in timestamp units.
const SEGMENT_MAX: u64 = 0xFFFF;

/// How many times the final packet is sent (RFC 4733 §2.5.1.4).
const END_PACKETS: u8 = 3;

/// How one key press is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendParams {
    /// How long the key is held. The last packet may be cut short to land on it exactly.
    pub duration_ms: u32,
    /// Tone power as −dBm0, 0–63 (10 is what most phones send).
    pub volume: u8,
    /// The interval between the caller's ticks.
    pub ptime_ms: u32,
    /// The telephone-event payload type's clock rate (8000, or 48000 next to Opus).
    pub clock_rate: u32,
}

impl Default for SendParams {
    /// 100 ms at −10 dBm0, 20 ms packets, 8 kHz clock.
    fn default() -> Self {
        Self {
            duration_ms: 100,
            volume: 10,
            ptime_ms: 20,
            clock_rate: 8000,
        }
    }
}

/// One packet to send: put `payload` in an RTP packet of the telephone-event payload type
/// with this timestamp and marker bit (and the stream's next sequence number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutgoingEvent {
    /// The 4-byte telephone-event payload.
    pub payload: [u8; PAYLOAD_LEN],
    /// Set on the first packet of the event only.
    pub marker: bool,
    /// The RTP timestamp: the event's start, or the start of its current segment.
    pub timestamp: u32,
}

/// The packet schedule of one key press. See the module docs.
#[derive(Clone, Debug)]
pub struct EventSender {
    event: u8,
    volume: u8,
    start_timestamp: u32,
    /// Full duration in timestamp units.
    total: u64,
    /// Timestamp units per tick.
    step: u64,
    ticks: u64,
    /// Offset of the current segment from the start.
    segment_offset: u64,
    /// The final packet, once reached, and how many times it has been sent.
    end: Option<(OutgoingEvent, u8)>,
}

impl EventSender {
    /// Prepares the packets for `digit` (`0`–`9`, `*`, `#`, `A`–`D`), starting at the RTP
    /// timestamp the stream has at the first tick.
    ///
    /// Refused: an unknown digit, a zero duration or packet time, a volume above 63, or a
    /// packet time shorter than one clock unit.
    pub fn new(digit: char, start_timestamp: u32, params: SendParams) -> Result<Self, Error> {
        let event = event_of(digit).ok_or(Error::Config("dtmf digit: use 0-9, *, #, A-D"))?;
        if params.duration_ms == 0 {
            return Err(Error::Config("dtmf duration_ms: must be positive"));
        }
        if params.volume > MAX_VOLUME {
            return Err(Error::Config("dtmf volume: must be 0-63 (-dBm0)"));
        }
        let step = u64::from(params.ptime_ms) * u64::from(params.clock_rate) / 1000;
        if step == 0 {
            return Err(Error::Config(
                "dtmf ptime_ms/clock_rate: packet time below one unit",
            ));
        }
        let total = u64::from(params.duration_ms) * u64::from(params.clock_rate) / 1000;
        Ok(Self {
            event,
            volume: params.volume,
            start_timestamp,
            total: total.max(1),
            step,
            ticks: 0,
            segment_offset: 0,
            end: None,
        })
    }

    /// The packet for this tick, or `None` once the last end retransmission has been given.
    pub fn next_packet(&mut self) -> Option<OutgoingEvent> {
        if let Some((packet, sent)) = self.end.as_mut() {
            if *sent >= END_PACKETS {
                return None;
            }
            *sent += 1;
            return Some(*packet);
        }
        self.ticks += 1;
        let elapsed = self.ticks.saturating_mul(self.step).min(self.total);
        let timestamp = self
            .start_timestamp
            .wrapping_add(self.segment_offset as u32);
        let marker = self.ticks == 1;
        let in_segment = elapsed - self.segment_offset;
        if in_segment > SEGMENT_MAX {
            // Close this segment at its maximum; the next tick continues in a new one.
            self.segment_offset += SEGMENT_MAX;
            return Some(self.packet(false, SEGMENT_MAX as u16, marker, timestamp));
        }
        let packet = self.packet(elapsed == self.total, in_segment as u16, marker, timestamp);
        if elapsed == self.total {
            self.end = Some((packet, 1));
        }
        Some(packet)
    }

    /// Whether every packet has been given.
    pub fn is_finished(&self) -> bool {
        matches!(self.end, Some((_, sent)) if sent >= END_PACKETS)
    }

    fn packet(&self, end: bool, duration: u16, marker: bool, timestamp: u32) -> OutgoingEvent {
        let te = TelephoneEvent {
            event: self.event,
            end,
            volume: self.volume,
            duration,
        };
        OutgoingEvent {
            payload: te.to_bytes(),
            marker,
            timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(sender: &mut EventSender) -> Vec<(TelephoneEvent, bool, u32)> {
        std::iter::from_fn(|| sender.next_packet())
            .map(|p| {
                let te = TelephoneEvent::parse(&p.payload).expect("4 bytes");
                (te, p.marker, p.timestamp)
            })
            .collect()
    }

    #[test]
    fn hundred_ms_is_five_updates_and_three_ends() {
        let mut s = EventSender::new('#', 4000, SendParams::default()).expect("valid");
        let got = drain(&mut s);
        let durations: Vec<u16> = got.iter().map(|(te, _, _)| te.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        let ends: Vec<bool> = got.iter().map(|(te, _, _)| te.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        let markers: Vec<bool> = got.iter().map(|(_, m, _)| *m).collect();
        assert_eq!(markers, [true, false, false, false, false, false, false]);
        assert!(got
            .iter()
            .all(|(te, _, ts)| *ts == 4000 && te.event == 11 && te.volume == 10));
        assert!(s.is_finished());
        assert_eq!(s.next_packet(), None);
    }

    #[test]
    fn duration_not_a_multiple_of_ptime_ends_exactly() {
        let params = SendParams {
            duration_ms: 50,
            ..SendParams::default()
        };
        let mut s = EventSender::new('1', 0, params).expect("valid");
        let durations: Vec<u16> = drain(&mut s).iter().map(|(te, _, _)| te.duration).collect();
        assert_eq!(durations, [160, 320, 400, 400, 400]);
    }

    #[test]
    fn long_press_at_48_khz_is_segmented() {
        // 2 s at 48 kHz = 96 000 units: one full segment, then 30 465 units in the second.
        let params = SendParams {
            duration_ms: 2000,
            clock_rate: 48_000,
            ..SendParams::default()
        };
        let mut s = EventSender::new('0', u32::MAX - 10, params).expect("valid");
        let got = drain(&mut s);
        let second = (u32::MAX - 10).wrapping_add(0xFFFF);
        let first_segment: Vec<_> = got
            .iter()
            .filter(|(_, _, ts)| *ts == u32::MAX - 10)
            .collect();
        let last = first_segment.last().expect("first segment");
        assert_eq!((last.0.duration, last.0.end), (0xFFFF, false));
        let tail: Vec<_> = got.iter().filter(|(_, _, ts)| *ts == second).collect();
        assert!(
            tail.iter().all(|(_, m, _)| !m),
            "no marker on a continuation"
        );
        assert_eq!(tail.iter().filter(|(te, _, _)| te.end).count(), 3);
        assert_eq!(
            tail.last().expect("tail").0.duration,
            (96_000 - 0xFFFF) as u16
        );
        assert_eq!(got.len(), first_segment.len() + tail.len());
    }

    #[test]
    fn bad_parameters_are_refused() {
        let ok = SendParams::default();
        assert!(EventSender::new('E', 0, ok).is_err());
        assert!(EventSender::new(
            '1',
            0,
            SendParams {
                duration_ms: 0,
                ..ok
            }
        )
        .is_err());
        assert!(EventSender::new('1', 0, SendParams { volume: 64, ..ok }).is_err());
        assert!(EventSender::new('1', 0, SendParams { ptime_ms: 0, ..ok }).is_err());
        assert!(EventSender::new(
            '1',
            0,
            SendParams {
                clock_rate: 0,
                ..ok
            }
        )
        .is_err());
        assert!(EventSender::new('d', 0, ok).is_ok());
    }
}
