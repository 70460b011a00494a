//! RFC 3550 receive statistics for one RTP source, as the RFC's own appendix computes them.
//!
//! * A.1: sequence number validation with probation, 16-bit wrap counting (cycles), and the
//!   "two sequential packets after a large jump mean the sender restarted" rule.
//! * A.3: expected / cumulative lost / fraction lost over the interval since the last report.
//! * A.8: interarrival jitter, `J += (|D| - J) / 16`, kept scaled by 16 in integers as the RFC
//!   does, so the numbers match other stacks' RTCP reports bit for bit.
//!
//! Why a separate module from the jitter buffer: the relay keeps one of these per leg for RTCP and
//! for call quality records, on packets it never decodes. It shares nothing with [`crate::jitter`]
//! so either can change alone.
//!
//! Sans-IO: arrival times are passed in; the first packet's arrival is the epoch from which
//! arrival times are converted to RTP timestamp units (only differences matter to A.8).

use std::time::{Duration, Instant};

/// RFC 3550 A.1: a jump of this many packets or more is not a plain loss.
pub const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: a packet this far behind the highest is a restart candidate, not a reordering.
pub const MAX_MISORDER: u16 = 100;
/// RFC 3550 A.1: sequential packets needed before a new source is believed.
pub const MIN_SEQUENTIAL: u16 = 2;

const RTP_SEQ_MOD: u64 = 1 << 16;

/// What [`RtpReceiveStats::update`] made of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqStatus {
    /// Counted: in order, with a gap, a duplicate or a reordering.
    Counted,
    /// The source is still on probation (A.1); the packet is not counted.
    Probation,
    /// A very large jump; not counted. If the next packet follows it, the source restarted.
    Jump,
    /// Second packet after a large jump: the statistics restarted from this packet (A.1 re-sync).
    Restarted,
}

/// One RTCP reception report block's worth of numbers (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceptionReport {
    /// Lost share since the previous report, in 1/256 (A.3).
    pub fraction_lost: u8,
    /// Cumulative packets lost, clamped to the 24-bit signed field (duplicates can make it
    /// negative).
    pub cumulative_lost: i32,
    /// Cycles count in the high 16 bits, highest sequence number in the low 16 bits.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units (A.8).
    pub jitter: u32,
}

/// Receive statistics for one source (one SSRC on one leg).
#[derive(Clone, Debug)]
pub struct RtpReceiveStats {
    clock_rate: u32,
    min_sequential: u16,
    started: bool,
    probation: u16,
    max_seq: u16,
    /// Shifted count of sequence number cycles (A.1 keeps `cycles` in units of 2^16 too).
    cycles: u64,
    base_seq: u64,
    /// A.1 `bad_seq`: `RTP_SEQ_MOD + 1` means "none".
    bad_seq: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    epoch: Option<Instant>,
    /// A.8 `transit` of the previous counted packet, wrapping RTP units.
    transit: Option<u32>,
    /// A.8 jitter scaled by 16.
    jitter_q4: u64,
}

impl RtpReceiveStats {
    /// Statistics for a source with this RTP clock rate (8000 for G.711, 48000 for Opus),
    /// with the RFC's probation of [`MIN_SEQUENTIAL`] packets.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            min_sequential: MIN_SEQUENTIAL,
            started: false,
            probation: 0,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD as u32 + 1,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            epoch: None,
            transit: None,
            jitter_q4: 0,
        }
    }

    /// Changes the probation length. `0` or `1` counts the very first packet (a source the
    /// signalling already vouched for, as on a B2BUA leg).
    pub fn with_min_sequential(mut self, packets: u16) -> Self {
        self.min_sequential = packets;
        self
    }

    /// Feeds one received packet (RFC 3550 A.1 `update_seq`, then A.8 for counted packets).
    pub fn update(&mut self, seq: u16, timestamp: u32, arrival: Instant) -> SeqStatus {
        let status = self.update_seq(seq);
        if matches!(status, SeqStatus::Counted | SeqStatus::Restarted) {
            if status == SeqStatus::Restarted {
                // The sender's timestamp base changed with its sequence numbers.
                self.transit = None;
            }
            self.update_jitter(timestamp, arrival);
        }
        status
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u64::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD as u32 + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    fn update_seq(&mut self, seq: u16) -> SeqStatus {
        if !self.started {
            self.started = true;
            self.init_seq(seq);
            if self.min_sequential <= 1 {
                self.received = 1;
                return SeqStatus::Counted;
            }
            self.max_seq = seq.wrapping_sub(1);
            self.probation = self.min_sequential;
        }
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqStatus::Counted;
                }
            } else {
                self.probation = self.min_sequential - 1;
                self.max_seq = seq;
            }
            return SeqStatus::Probation;
        }
        let mut status = SeqStatus::Counted;
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += RTP_SEQ_MOD;
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD as u32 - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                self.init_seq(seq);
                status = SeqStatus::Restarted;
            } else {
                self.bad_seq = u32::from(seq.wrapping_add(1));
                return SeqStatus::Jump;
            }
        }
        // else: duplicate or reordered packet, counted as received (A.1).
        self.received += 1;
        status
    }

    fn update_jitter(&mut self, timestamp: u32, arrival: Instant) {
        let epoch = *self.epoch.get_or_insert(arrival);
        let arrival_units = self.to_rtp_units(epoch, arrival);
        let transit = arrival_units.wrapping_sub(timestamp);
        if let Some(prev) = self.transit {
            // Wrapping difference read as signed, then |D| (A.8 uses int arithmetic).
            let d = u64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            // J += |D| - (J + 8) / 16, with J scaled by 16. Never negative: J - (J + 8) / 16 >= 0.
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// Arrival time in RTP units since `epoch`, wrapping like an RTP timestamp.
    fn to_rtp_units(&self, epoch: Instant, arrival: Instant) -> u32 {
        let (magnitude, negative) = match arrival.checked_duration_since(epoch) {
            Some(d) => (d, false),
            None => (epoch.saturating_duration_since(arrival), true),
        };
        let units = magnitude.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000;
        // Truncation to 32 bits is the wrap an RTP timestamp has.
        let units = units as u32;
        if negative {
            units.wrapping_neg()
        } else {
            units
        }
    }

    /// Packets counted (A.1 `received`: duplicates included, probation packets not).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether probation is over and the numbers mean something.
    pub fn is_valid(&self) -> bool {
        self.started && self.probation == 0
    }

    /// Extended highest sequence number, widened to 64 bits (never wraps).
    pub fn extended_highest_seq_u64(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }

    /// Extended highest sequence number as the RTCP field carries it (wraps after 2^32).
    pub fn extended_highest_seq(&self) -> u32 {
        // The wire field is the low 32 bits (RFC 3550 §6.4.1).
        self.extended_highest_seq_u64() as u32
    }

    /// Packets expected since the base sequence number (A.3).
    pub fn expected(&self) -> u64 {
        if !self.is_valid() {
            return 0;
        }
        self.extended_highest_seq_u64() + 1 - self.base_seq
    }

    /// Packets lost since the start, unclamped (negative when duplicates outnumber losses).
    pub fn cumulative_lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in RTP timestamp units (A.8: the scaled estimate shifted back).
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX)
    }

    /// Interarrival jitter as a duration.
    pub fn jitter_duration(&self) -> Duration {
        if self.clock_rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(u64::from(self.jitter()) * 1_000_000_000 / u64::from(self.clock_rate))
    }

    /// Fraction lost since the previous call (A.3), then the numbers of a report block.
    /// Call once per RTCP report: it moves the interval start.
    pub fn report(&mut self) -> ReceptionReport {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            // lost_interval <= expected_interval, so the quotient is at most 256 (everything
            // lost): clamp that one case to the 8-bit field, as every stack does.
            (((lost_interval as u64) << 8) / expected_interval).min(255) as u8
        };
        ReceptionReport {
            fraction_lost,
            cumulative_lost: clamp_24(self.cumulative_lost()),
            extended_highest_seq: self.extended_highest_seq(),
            jitter: self.jitter(),
        }
    }
}

/// The report block's cumulative-lost field is 24-bit signed (RFC 3550 §6.4.1, A.3).
fn clamp_24(lost: i64) -> i32 {
    lost.clamp(-0x80_0000, 0x7F_FFFF) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds `seqs` 20 ms apart with in-step timestamps (160 units at 8 kHz).
    fn feed(stats: &mut RtpReceiveStats, t0: Instant, seqs: impl IntoIterator<Item = u16>) {
        for (i, seq) in seqs.into_iter().enumerate() {
            let ts = u32::from(seq).wrapping_mul(160);
            stats.update(seq, ts, t0 + 20 * MS * i as u32);
        }
    }

    #[test]
    fn probation_ignores_first_packet_then_counts() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000);
        assert_eq!(s.update(10, 0, t0), SeqStatus::Probation);
        assert!(!s.is_valid());
        assert_eq!(s.expected(), 0);
        assert_eq!(s.update(11, 160, t0 + 20 * MS), SeqStatus::Counted);
        assert!(s.is_valid());
        assert_eq!(s.received(), 1);
        assert_eq!(s.extended_highest_seq(), 11);
        assert_eq!(s.expected(), 1);
    }

    #[test]
    fn probation_restarts_on_out_of_sequence_packet() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000);
        assert_eq!(s.update(10, 0, t0), SeqStatus::Probation);
        assert_eq!(s.update(50, 0, t0), SeqStatus::Probation);
        assert_eq!(s.update(51, 0, t0), SeqStatus::Counted);
        assert_eq!(s.expected(), 1);
    }

    #[test]
    fn no_probation_counts_first_packet() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        assert_eq!(s.update(0, 0, t0), SeqStatus::Counted);
        assert_eq!(s.extended_highest_seq(), 0);
        assert_eq!(s.expected(), 1);
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn wrap_counts_cycles() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        feed(&mut s, t0, [65533, 65534, 65535, 0, 1, 2]);
        assert_eq!(s.extended_highest_seq(), (1 << 16) | 2);
        assert_eq!(s.expected(), 6);
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn reordered_packet_across_wrap_is_not_a_new_cycle() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        feed(&mut s, t0, [65534, 0, 65535, 1]);
        assert_eq!(s.extended_highest_seq(), (1 << 16) | 1);
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn loss_and_fraction_lost_per_interval() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        // 100 expected (1..=100), 10 lost (every tenth).
        feed(&mut s, t0, (1..=100).filter(|n| n % 10 != 0));
        // 100 isn't received: highest is 99, so expected 99 and lost 9.
        let r = s.report();
        assert_eq!(r.extended_highest_seq, 99);
        assert_eq!(r.cumulative_lost, 9);
        assert_eq!(r.fraction_lost, (9 * 256 / 99) as u8);
        // Next interval: no loss.
        feed(&mut s, t0 + Duration::from_secs(3), 100..=150);
        let r = s.report();
        assert_eq!(r.fraction_lost, 0);
        assert_eq!(r.cumulative_lost, 9);
        // Nothing new: fraction stays 0 (expected_interval == 0).
        assert_eq!(s.report().fraction_lost, 0);
    }

    #[test]
    fn total_loss_in_interval_saturates_fraction() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        feed(&mut s, t0, [1, 2]);
        s.report();
        // 2 received since, 2000 expected: fraction = 1998*256/2000 = 255 (floor).
        feed(&mut s, t0 + Duration::from_secs(1), [1000, 2002]);
        let r = s.report();
        assert_eq!(r.fraction_lost, (1998 * 256 / 2000) as u8);
    }

    #[test]
    fn duplicates_make_loss_negative_and_fraction_zero() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        feed(&mut s, t0, [1, 2, 2, 3, 3, 3]);
        let r = s.report();
        assert_eq!(r.cumulative_lost, -3);
        assert_eq!(r.fraction_lost, 0);
    }

    #[test]
    fn single_large_jump_is_ignored() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        feed(&mut s, t0, [1, 2, 3]);
        assert_eq!(s.update(40_000, 0, t0), SeqStatus::Jump);
        assert_eq!(s.update(4, 640, t0), SeqStatus::Counted);
        assert_eq!(s.extended_highest_seq(), 4);
        assert_eq!(s.received(), 4);
    }

    #[test]
    fn two_sequential_packets_after_jump_restart() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        feed(&mut s, t0, [1, 2, 3]);
        assert_eq!(s.update(40_000, 0, t0), SeqStatus::Jump);
        assert_eq!(s.update(40_001, 160, t0 + 20 * MS), SeqStatus::Restarted);
        assert_eq!(s.extended_highest_seq(), 40_001);
        assert_eq!(s.expected(), 1);
        assert_eq!(s.received(), 1);
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn packet_far_behind_is_a_jump_candidate() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        feed(&mut s, t0, 1000..1010);
        // 200 behind: more than MAX_MISORDER, so A.1 treats it as a possible restart.
        assert_eq!(s.update(809, 0, t0), SeqStatus::Jump);
        // 50 behind: a reordering, counted.
        assert_eq!(s.update(959, 0, t0), SeqStatus::Counted);
    }

    #[test]
    fn constant_transit_gives_zero_jitter() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        feed(&mut s, t0, 0..500);
        assert_eq!(s.jitter(), 0);
        assert_eq!(s.report().jitter, 0);
    }

    #[test]
    fn alternating_delay_converges_to_the_difference() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        // Every other packet 10 ms late: |D| = 80 units on every packet, so J -> 80 (A.8's
        // integer rounding settles a few units below).
        for i in 0..2000u32 {
            let late = if i % 2 == 1 { 10 * MS } else { Duration::ZERO };
            s.update(i as u16, i * 160, t0 + 20 * MS * i + late);
        }
        let j = s.jitter();
        assert!((72..=80).contains(&j), "jitter {j}");
        let d = s.jitter_duration();
        assert!(d >= 9 * MS && d <= 10 * MS, "{d:?}");
    }

    #[test]
    fn jitter_survives_timestamp_wrap() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        let ts0 = u32::MAX - 160 * 10;
        for i in 0..100u32 {
            s.update(i as u16, ts0.wrapping_add(i * 160), t0 + 20 * MS * i);
        }
        assert_eq!(s.jitter(), 0);
    }

    #[test]
    fn restart_resets_transit_so_jitter_does_not_jump() {
        let t0 = Instant::now();
        let mut s = RtpReceiveStats::new(8000).with_min_sequential(0);
        feed(&mut s, t0, 0..50);
        let t1 = t0 + Duration::from_secs(1);
        // New sender: different sequence and timestamp bases.
        s.update(30_000, 7_777_777, t1);
        s.update(30_001, 7_777_777 + 160, t1 + 20 * MS);
        s.update(30_002, 7_777_777 + 320, t1 + 40 * MS);
        assert_eq!(s.jitter(), 0);
    }

    #[test]
    fn cumulative_lost_clamps_to_24_bits() {
        assert_eq!(clamp_24(10), 10);
        assert_eq!(clamp_24(1 << 30), 0x7F_FFFF);
        assert_eq!(clamp_24(-(1 << 30)), -0x80_0000);
    }
}
