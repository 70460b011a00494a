//! Turns received telephone-event packets into key presses: one [`DtmfEvent::Start`] and one
//! [`DtmfEvent::End`] per event, however many packets the sender repeated, lost or reordered.
//!
//! # Rules
//!
//! An event is identified by its RTP timestamp (RFC 4733 §2.5.2.1), compared with wrapping
//! arithmetic so the 32-bit wrap is invisible. For each packet, against the event in progress:
//!
//! | packet | result |
//! |---|---|
//! | newer timestamp | a new event: `Start`, after an `End` for the previous event if its end packets never came (`ends_inferred`). The marker bit is not needed, so losing the first packets still starts the event. |
//! | newer timestamp, same event, no marker, `0xFFFF` (minus up to ¼ s) after the current segment | the next segment of a long event (§2.5.1.3): no new `Start`, the duration keeps counting |
//! | same timestamp, event not ended | the duration grows; the first `E` packet gives `End` |
//! | same timestamp, event ended | stale: the end retransmissions, or a late packet |
//! | older timestamp | stale: a late packet of an event already superseded |
//!
//! A packet that both starts and ends an event (every earlier packet lost) yields `Start` then
//! `End`. The duration in `End` is the largest one seen, so it is short by whatever was lost at
//! the tail. Durations that wrap past `0xFFFF` without a new segment (non-compliant senders) are
//! extended like RTP sequence numbers.
//!
//! # What the caller must do
//!
//! * Feed only packets of the telephone-event payload type, with that payload type's clock rate.
//! * An event whose end packets were all lost ends when the next event begins. When no event
//!   packet has arrived for a while ([`EventReceiver::is_active`] says one is open; 3 packet
//!   times plus the jitter allowance is a good wait, or when audio resumes), call
//!   [`EventReceiver::flush`]. The receiver itself never reads a clock.
//! * Call [`EventReceiver::reset`] when the SSRC changes: the new source's timestamps are
//!   unrelated to the old ones. (A marker packet more than `0x20000` units behind the current
//!   event is also taken as a restarted timeline, so a missed reset only risks one event.)
//!
//! Non-DTMF events (flash, fax tones) are tracked, so they still close a DTMF event whose end was
//! lost, but produce no output.

use super::{digit_of, TelephoneEvent};

/// One key press as seen by the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DtmfEvent {
    /// A key went down. Emitted once per event.
    Start {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
    /// The key went up (or its end was inferred). Emitted once per event, after its `Start`.
    End {
        /// Same as in the `Start`.
        digit: char,
        /// The event's duration, rounded to the millisecond.
        duration_ms: u32,
    },
}

/// The events one packet produced, in order (at most three: the end of an event whose end was
/// lost, then the start and end of the new one). Allocation-free.
#[derive(Clone, Debug, Default)]
#[must_use = "the events of a packet are only returned once"]
pub struct Events {
    items: [Option<DtmfEvent>; 3],
    next: usize,
    len: usize,
}

impl Events {
    fn push(&mut self, event: DtmfEvent) {
        // At most three pushes per packet, by the rules above; a fourth would be a logic error
        // and is dropped rather than panicking on network input.
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(event);
            self.len += 1;
        }
    }

    fn extend_from(&mut self, event: Option<DtmfEvent>) {
        if let Some(event) = event {
            self.push(event);
        }
    }

    /// Whether the packet produced nothing.
    pub fn is_empty(&self) -> bool {
        self.next >= self.len
    }
}

impl Iterator for Events {
    type Item = DtmfEvent;

    fn next(&mut self) -> Option<DtmfEvent> {
        if self.next >= self.len {
            return None;
        }
        let event = self.items[self.next].take();
        self.next += 1;
        event
    }
}

/// Counters, for call quality records and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Every packet handed to [`EventReceiver::handle_packet`].
    pub packets: u64,
    /// Payload shorter than 4 bytes, or a zero clock rate.
    pub malformed: u64,
    /// Packets that changed nothing: end retransmissions, duplicates, late packets.
    pub stale: u64,
    /// Events ended without an end packet (by the next event, a flush or a reset).
    pub ends_inferred: u64,
    /// Long-event segments joined to the event before them.
    pub segments: u64,
}

/// A marker packet this far behind the current event means the sender's timeline restarted.
const RESTART_DISTANCE: u32 = 0x2_0000;

/// The event being received (or the last one, once ended: its timestamp still marks late
/// packets as stale).
#[derive(Clone, Copy, Debug)]
struct Current {
    event: u8,
    /// RTP timestamp of the first segment.
    start_ts: u32,
    /// RTP timestamp of the segment being received.
    segment_ts: u32,
    /// Largest duration seen in this segment, extended past 16 bits if the sender wrapped it.
    segment_duration: u32,
    clock_rate: u32,
    ended: bool,
}

impl Current {
    fn total_duration_ms(&self) -> u32 {
        let units = u64::from(self.segment_ts.wrapping_sub(self.start_ts))
            + u64::from(self.segment_duration);
        let rate = u64::from(self.clock_rate.max(1));
        u32::try_from((units * 1000 + rate / 2) / rate).unwrap_or(u32::MAX)
    }

    /// Takes the largest duration, reading a 16-bit value near the extended one.
    fn extend_duration(&mut self, raw: u16) {
        let seen = self.segment_duration;
        let mut candidate = (seen & !0xFFFF) | u32::from(raw);
        if candidate.saturating_add(0x8000) < seen {
            candidate = candidate.saturating_add(0x1_0000);
        } else if candidate > seen.saturating_add(0x8000) && candidate >= 0x1_0000 {
            candidate -= 0x1_0000;
        }
        self.segment_duration = seen.max(candidate);
    }

    fn end(&mut self) -> Option<DtmfEvent> {
        self.ended = true;
        digit_of(self.event).map(|digit| DtmfEvent::End {
            digit,
            duration_ms: self.total_duration_ms(),
        })
    }
}

/// Receives one RTP source's telephone-events. See the module docs for the rules.
#[derive(Clone, Debug, Default)]
pub struct EventReceiver {
    current: Option<Current>,
    stats: ReceiverStats,
}

impl EventReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles one telephone-event packet: its RTP timestamp and marker bit, its payload (after
    /// the RTP header and any padding), and the payload type's clock rate. Malformed packets are
    /// counted and produce nothing.
    pub fn handle_packet(
        &mut self,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        clock_rate: u32,
    ) -> Events {
        self.stats.packets += 1;
        let mut out = Events::default();
        let Ok(te) = TelephoneEvent::parse(payload) else {
            self.stats.malformed += 1;
            return out;
        };
        if clock_rate == 0 {
            self.stats.malformed += 1;
            return out;
        }
        let Some(cur) = self.current.as_mut() else {
            self.begin(timestamp, te, clock_rate, &mut out);
            return out;
        };
        cur.clock_rate = clock_rate;
        let delta = timestamp.wrapping_sub(cur.segment_ts) as i32;
        if delta == 0 {
            if cur.ended || te.event != cur.event {
                self.stats.stale += 1;
                return out;
            }
            cur.extend_duration(te.duration);
            if te.end {
                out.extend_from(cur.end());
            }
            return out;
        }
        if delta < 0 && !(marker && delta.unsigned_abs() > RESTART_DISTANCE) {
            self.stats.stale += 1;
            return out;
        }
        if delta > 0 && continues_segment(cur, &te, marker, delta.unsigned_abs()) {
            self.stats.segments += 1;
            cur.segment_ts = timestamp;
            cur.segment_duration = u32::from(te.duration);
            if te.end {
                out.extend_from(cur.end());
            }
            return out;
        }
        if !cur.ended {
            self.stats.ends_inferred += 1;
            out.extend_from(cur.end());
        }
        self.begin(timestamp, te, clock_rate, &mut out);
        out
    }

    /// Ends the event in progress, if its end packets never came. Returns its `End` (`None` if
    /// nothing was open, or the open event is not a DTMF key).
    pub fn flush(&mut self) -> Option<DtmfEvent> {
        let cur = self.current.as_mut().filter(|c| !c.ended)?;
        self.stats.ends_inferred += 1;
        cur.end()
    }

    /// Flushes, then forgets the timeline: the next packet starts an event whatever its
    /// timestamp. For an SSRC change.
    pub fn reset(&mut self) -> Option<DtmfEvent> {
        let end = self.flush();
        self.current = None;
        end
    }

    /// Whether an event has started and not ended: the caller should arrange a [`flush`] if
    /// no packet comes.
    ///
    /// [`flush`]: EventReceiver::flush
    pub fn is_active(&self) -> bool {
        self.current.is_some_and(|c| !c.ended)
    }

    /// The counters so far.
    pub fn stats(&self) -> ReceiverStats {
        self.stats
    }

    fn begin(&mut self, timestamp: u32, te: TelephoneEvent, clock_rate: u32, out: &mut Events) {
        let mut cur = Current {
            event: te.event,
            start_ts: timestamp,
            segment_ts: timestamp,
            segment_duration: u32::from(te.duration),
            clock_rate,
            ended: false,
        };
        if let Some(digit) = digit_of(te.event) {
            out.push(DtmfEvent::Start { digit });
        }
        if te.end {
            out.extend_from(cur.end());
        }
        self.current = Some(cur);
    }
}

/// Whether a newer-timestamp packet is the next segment of the current long event rather than
/// a new press: same event, still open, no marker, and starting where a full segment ends.
fn continues_segment(cur: &Current, te: &TelephoneEvent, marker: bool, delta: u32) -> bool {
    const FULL: u32 = 0xFFFF;
    // Senders may cut a segment a little before 0xFFFF (at a multiple of their packet time);
    // a quarter second covers that without confusing a re-press of the same key.
    let slack = (cur.clock_rate / 4).min(FULL);
    !cur.ended
        && !marker
        && te.event == cur.event
        && delta <= FULL
        && delta >= FULL - slack
        && delta >= cur.segment_duration.min(FULL)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 8000;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    /// Feeds `(timestamp, marker, event, end, duration)` packets, collects everything out.
    fn feed(rx: &mut EventReceiver, packets: &[(u32, bool, u8, bool, u16)]) -> Vec<DtmfEvent> {
        let mut out = Vec::new();
        for &(ts, m, ev, end, d) in packets {
            out.extend(rx.handle_packet(ts, m, &payload(ev, end, d), RATE));
        }
        out
    }

    fn start(digit: char) -> DtmfEvent {
        DtmfEvent::Start { digit }
    }

    fn end(digit: char, duration_ms: u32) -> DtmfEvent {
        DtmfEvent::End { digit, duration_ms }
    }

    #[test]
    fn one_press_with_three_end_packets_is_one_start_and_one_end() {
        let mut rx = EventReceiver::new();
        let got = feed(
            &mut rx,
            &[
                (1000, true, 1, false, 160),
                (1000, false, 1, false, 320),
                (1000, false, 1, false, 480),
                (1000, false, 1, true, 640),
                (1000, false, 1, true, 640),
                (1000, false, 1, true, 640),
            ],
        );
        assert_eq!(got, [start('1'), end('1', 80)]);
        assert_eq!(rx.stats().stale, 2);
        assert!(!rx.is_active());
    }

    #[test]
    fn first_packets_lost_still_start() {
        let mut rx = EventReceiver::new();
        let got = feed(
            &mut rx,
            &[(50, false, 11, false, 480), (50, false, 11, true, 800)],
        );
        assert_eq!(got, [start('#'), end('#', 100)]);
    }

    #[test]
    fn only_an_end_packet_gives_start_then_end() {
        let mut rx = EventReceiver::new();
        let got = feed(&mut rx, &[(50, false, 12, true, 800)]);
        assert_eq!(got, [start('A'), end('A', 100)]);
    }

    #[test]
    fn lost_end_is_inferred_by_the_next_event_or_a_flush() {
        let mut rx = EventReceiver::new();
        let got = feed(
            &mut rx,
            &[(0, true, 4, false, 160), (0, false, 4, false, 320)],
        );
        assert_eq!(got, [start('4')]);
        assert!(rx.is_active());
        let got = feed(&mut rx, &[(4000, true, 7, false, 160)]);
        assert_eq!(got, [end('4', 40), start('7')]);
        assert_eq!(rx.flush(), Some(end('7', 20)));
        assert_eq!(rx.flush(), None, "flush ends once");
        assert_eq!(rx.stats().ends_inferred, 2);
        // A straggler of the flushed event changes nothing.
        assert!(feed(&mut rx, &[(4000, false, 7, true, 800)]).is_empty());
    }

    #[test]
    fn late_packet_of_an_earlier_event_is_stale() {
        let mut rx = EventReceiver::new();
        let got = feed(
            &mut rx,
            &[
                (100, true, 2, true, 400),
                (900, true, 3, false, 160),
                (100, false, 2, true, 400),
            ],
        );
        assert_eq!(got, [start('2'), end('2', 50), start('3')]);
        assert_eq!(rx.stats().stale, 1);
    }

    #[test]
    fn timestamp_wrap_is_a_newer_event() {
        let mut rx = EventReceiver::new();
        let got = feed(
            &mut rx,
            &[
                (u32::MAX - 100, true, 9, true, 800),
                (700, true, 9, false, 160),
                (700, false, 9, true, 800),
                (u32::MAX - 100, false, 9, true, 800),
            ],
        );
        assert_eq!(got, [start('9'), end('9', 100), start('9'), end('9', 100)]);
    }

    #[test]
    fn long_event_segments_are_one_press() {
        let mut rx = EventReceiver::new();
        let got = feed(
            &mut rx,
            &[
                (10, true, 0, false, 160),
                (10, false, 0, false, 0xFF00),
                (10, false, 0, false, 0xFFFF),
                (10 + 0xFFFF, false, 0, false, 160),
                (10 + 0xFFFF, false, 0, true, 8000),
            ],
        );
        // 0xFFFF + 8000 units at 8 kHz = 9191.9 ms.
        assert_eq!(got, [start('0'), end('0', 9192)]);
        assert_eq!(rx.stats().segments, 1);
    }

    #[test]
    fn same_key_after_lost_end_with_marker_is_a_new_press() {
        let mut rx = EventReceiver::new();
        let got = feed(
            &mut rx,
            &[(0, true, 5, false, 0xFFF0), (0xFFFF, true, 5, false, 160)],
        );
        assert_eq!(got, [start('5'), end('5', 8190), start('5')]);
    }

    #[test]
    fn wrapped_duration_is_extended() {
        let mut rx = EventReceiver::new();
        let got = feed(
            &mut rx,
            &[
                (0, true, 6, false, 0xFFC0),
                (0, false, 6, false, 0x0100),
                (0, false, 6, true, 0x0200),
            ],
        );
        // 0x1_0200 units = 66 048 units = 8256 ms.
        assert_eq!(got, [start('6'), end('6', 8256)]);
    }

    #[test]
    fn non_dtmf_events_are_silent_but_close_an_open_digit() {
        let mut rx = EventReceiver::new();
        let got = feed(
            &mut rx,
            &[(0, true, 8, false, 160), (800, true, 16, true, 800)],
        );
        assert_eq!(got, [start('8'), end('8', 20)]);
    }

    #[test]
    fn malformed_packets_are_counted() {
        let mut rx = EventReceiver::new();
        assert!(rx.handle_packet(0, true, &[1, 2, 3], RATE).is_empty());
        assert!(rx
            .handle_packet(0, true, &payload(1, false, 160), 0)
            .is_empty());
        assert_eq!(rx.stats().malformed, 2);
        assert!(!rx.is_active());
    }

    #[test]
    fn restarted_timeline_is_followed_on_a_marker_or_after_reset() {
        let mut rx = EventReceiver::new();
        let got = feed(
            &mut rx,
            &[
                (3_000_000, true, 1, true, 800),
                (5, false, 2, false, 160),
                (5, true, 2, false, 160),
            ],
        );
        assert_eq!(got, [start('1'), end('1', 100), start('2')]);
        assert_eq!(rx.reset(), Some(end('2', 20)));
        let got = feed(&mut rx, &[(1, false, 3, true, 160)]);
        assert_eq!(got, [start('3'), end('3', 20)]);
    }
}
