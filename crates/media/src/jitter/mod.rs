//! Adaptive jitter buffer, in the spirit of WebRTC NetEQ, without the DSP.
//!
//! # Model
//!
//! The caller pulls one frame per frame period (`pop(now)`); the buffer keeps a *playout cursor*,
//! the sequence number and timestamp of the next frame due. Each pop moves the cursor by at most
//! one frame, except for the deliberate drops described below. A packet behind the cursor is late
//! and dropped; a packet at or ahead of it is kept until the cursor reaches it.
//!
//! Every pop returns one [`Playout`]:
//!
//! | situation at the cursor | output |
//! |---|---|
//! | no stream yet, or a stream (or a new SSRC) still buffering | `Empty` |
//! | the packet is here | `Frame(packet)` |
//! | the packet is missing, a later one is here | `Conceal { fec_from }`: the next packet if it is the very next sequence number (Opus LBRR rebuilds the lost frame from it), else `None` (PLC). The cursor moves on: the missing packet is lost. |
//! | nothing is buffered, mid talk spurt | `Conceal { fec_from: None }` for up to `max_plc_frames`, then `Silence`; the cursor *waits* (see stalls) |
//! | the last played packet was comfort noise (the caller flags RFC 3389 / codec CN payloads) and nothing is buffered | `ComfortNoise` |
//! | between talk spurts, while the next spurt waits for its playout time | `Silence` (or `ComfortNoise` after CN) |
//!
//! **Stalls.** When the buffer runs dry mid spurt the packet may be late rather than lost (a delay
//! spike), so the cursor waits and counts the frames concealed meanwhile as a *debt*. If the
//! missing packet then arrives it is played, and the buffer's delay has grown by the stall: that
//! is how the delay increases quickly on a spike, without losing the burst that follows it. If a
//! later packet arrives instead, the missing ones are skipped against the debt (they were already
//! concealed), so a plain loss costs no extra delay.
//!
//! **Talk spurts.** A packet whose timestamp jumps beyond what its sequence number explains
//! starts a new talk spurt (the sender was in DTX); so does a marker-bit packet while the buffer is
//! starving. A new spurt is re-anchored: it starts at the first pop at or after
//! `nominal_arrival + margin`, where `nominal_arrival` is when the packet would have arrived with
//! the fastest transit of the last `baseline_window`, and `margin = target_delay - frame`. This is
//! where target changes are applied for free: silence gets shorter or longer, speech is untouched.
//!
//! **Continuous speech** (G.711 without VAD never pauses). With `adapt_in_talkspurt`, at most once
//! per `adapt_interval` (200 ms: the delay decreases slowly) the buffer compares how late it plays
//! the cursor packet, relative to its nominal arrival, with the margin:
//! * more than a frame too late (1.05 frames: the pop grid alone accounts for up to one), the next
//!   packet already here, and every packet of the last 0.5–1 s waited at least a frame (so the
//!   drop would not have made any of them late): the cursor frame is dropped (`accelerated`);
//!   a comfort-noise frame is dropped from exactly one frame too late;
//! * more than half a frame too early: one concealment frame is inserted (`inserted`), or comfort
//!   noise if the cursor packet is CN.
//!
//! Between −½ and +1 frame nothing happens, so the buffer does not oscillate. The caller sees a
//! dropped frame as a sequence gap between two `Frame`s and needs no special handling. A
//! time-stretching decoder could do better; this one keeps the decoder contract minimal.
//!
//! # Target delay
//!
//! `target = clamp(frame + quantile(relative delay), min_delay, max_delay)`, where relative delay
//! is arrival-vs-timestamp transit above the fastest packet of a sliding window, and the quantile
//! (default 95th, 2.048 ms buckets) comes from a histogram whose samples fade by `forget_factor`
//! per packet (see `estimator.rs`). Late packets count too: they are the evidence that the
//! target was too small. Until 50 packets have been seen the target is at least
//! `initial_delay`; it never exceeds what `max_packets` frames can hold.
//!
//! # Limits
//!
//! * One packet carries one frame of `frame_samples`; a longer packet looks like a DTX gap.
//! * Under DTX without comfort-noise packets, the end of each talk spurt costs up to
//!   `max_plc_frames` of concealment before silence: until the next packet comes, a pause and a
//!   loss look the same. Flag CN payloads to avoid it.
//! * If the very first packet a buffer sees comes from a new SSRC and the old SSRC's stragglers
//!   then arrive in pairs, the buffer may switch to the old source: it cannot tell them apart.
//!
//! # Robustness
//!
//! * Sequence numbers and timestamps are widened to 64 bits against the highest seen, so the
//!   u16 and u32 wraps are invisible.
//! * A duplicate (still buffered, or already played) is dropped and counted, never output twice.
//! * A packet of a new SSRC, or a sequence jump of [`MAX_DROPOUT`] or more ahead ([`MAX_MISORDER`]
//!   behind), is held. When a second packet of that source arrives within 16 sequence numbers of
//!   it (RFC 3550 A.1's probation, relaxed for reordering), the buffer flushes and restarts on both
//!   (`ssrc_changes` or `resyncs`). A held packet never confirmed within `max_delay` is dropped
//!   (`stray`). So a single stray packet cannot flip the stream, and after a switch the old
//!   SSRC's stragglers, arriving within `max_delay`, are dropped as late.
//! * Memory is fixed: at most `max_packets` are held (default: 2 × `max_delay` worth); on overflow
//!   the oldest is dropped (`overflow`). A packet is never handed out more than `max_delay` after it
//!   arrived: older ones are dropped at pop time (`shed`).

mod estimator;
mod ring;
pub mod trace;

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::Error;
use estimator::{DelayEstimator, RecentMin};
use ring::{Entry, Ring};

/// A forward jump of this many packets or more is a restart candidate, not a loss (RFC 3550 A.1).
pub const MAX_DROPOUT: i64 = 3000;
/// A packet this far behind the highest is a restart candidate, not a reordering (RFC 3550 A.1).
pub const MAX_MISORDER: i64 = 100;

/// Two packets of a new source (or after a jump) confirm it when this close in sequence.
const PROBATION_REORDER: u16 = 16;
/// Packets seen before the target may go below `initial_delay`.
const WARMUP_PACKETS: u64 = 50;
/// Histogram resolution of the relative delay: 2^11 µs = 2.048 ms.
const BUCKET_SHIFT: u32 = 11;
/// Frames per block of the recent-slack minimum (the window is one to two blocks: 0.5–1 s).
const SLACK_BLOCK_FRAMES: u32 = 25;
/// Drop an audio frame when playing this many frames later than the margin requires.
const DROP_AT_FRAMES: f64 = 1.05;
/// Longest accepted `max_delay`: keeps the histogram and the ring small.
const MAX_MAX_DELAY: Duration = Duration::from_secs(5);

/// One received RTP packet carrying one frame, as the caller hands it to the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JitterPacket<P = Bytes> {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// RTP synchronisation source.
    pub ssrc: u32,
    /// RTP marker bit (first packet of a talk spurt for audio).
    pub marker: bool,
    /// The caller recognised a comfort-noise payload (RFC 3389 CN, or a codec's DTX frame).
    pub comfort_noise: bool,
    /// The payload, untouched.
    pub payload: P,
    /// When the packet was received.
    pub arrival: Instant,
}

impl<P> JitterPacket<P> {
    /// A packet without marker bit or comfort-noise flag.
    pub fn new(seq: u16, timestamp: u32, ssrc: u32, payload: P, arrival: Instant) -> Self {
        Self {
            seq,
            timestamp,
            ssrc,
            marker: false,
            comfort_noise: false,
            payload,
            arrival,
        }
    }

    /// Sets the marker bit.
    pub fn with_marker(mut self, marker: bool) -> Self {
        self.marker = marker;
        self
    }

    /// Flags the payload as comfort noise.
    pub fn with_comfort_noise(mut self, comfort_noise: bool) -> Self {
        self.comfort_noise = comfort_noise;
        self
    }
}

/// What to play for one frame period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playout<P = Bytes> {
    /// Decode this packet.
    Frame(JitterPacket<P>),
    /// The frame at the cursor is lost (or late): conceal it. `fec_from` is the packet that
    /// follows it, when already buffered: decode its in-band FEC for the lost frame, else run PLC.
    /// The packet stays buffered and comes out as a `Frame` next.
    Conceal {
        /// The next packet, for in-band FEC.
        fec_from: Option<JitterPacket<P>>,
    },
    /// The sender is in DTX after a comfort-noise packet: keep generating comfort noise.
    ComfortNoise,
    /// Between talk spurts, or after `max_plc_frames` of concealment: play silence.
    Silence,
    /// Nothing to play yet: no stream, or the stream is buffering up to its target delay.
    Empty,
}

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Buffered: it will be played when the cursor reaches it (or dropped and counted if the
    /// buffer has to shed it).
    Buffered,
    /// Its frame was already played or concealed: dropped.
    Late,
    /// Already received: dropped.
    Duplicate,
    /// A packet of a new SSRC, or a large sequence jump: held until a second packet of that
    /// source, close in sequence, confirms the change (else dropped as `stray`).
    Held,
    /// That confirmation: the buffer was reset and both packets buffered.
    Restarted,
}

/// Jitter buffer settings. Times are wall-clock; `frame_samples` is in RTP timestamp units.
#[derive(Clone, Debug, PartialEq)]
pub struct JitterConfig {
    /// RTP clock rate in Hz (8000 for G.711, 48000 for Opus).
    pub clock_rate: u32,
    /// RTP timestamp units per frame, which is also per packet (160 = 20 ms at 8 kHz).
    pub frame_samples: u32,
    /// Lowest target delay (default 20 ms).
    pub min_delay: Duration,
    /// Highest target delay, and the longest a packet may wait in the buffer (default 500 ms).
    pub max_delay: Duration,
    /// Target floor until 50 packets have been seen (default 60 ms).
    pub initial_delay: Duration,
    /// Most packets held; 0 means 2 × `max_delay` worth of frames.
    pub max_packets: usize,
    /// Quantile of the relative delay the target covers (default 0.95).
    pub quantile: f64,
    /// Per-packet fading of older delay samples (default 0.9993: half-life ≈ 1000 packets, 20 s).
    pub forget_factor: f64,
    /// Window for the fastest-transit baseline (default 2 s).
    pub baseline_window: Duration,
    /// Concealment frames output while starving before switching to silence (default 3: 60 ms,
    /// where G.711 Appendix I PLC has faded to zero anyway).
    pub max_plc_frames: u32,
    /// Drop or insert frames mid talk spurt to follow the target (default true).
    pub adapt_in_talkspurt: bool,
    /// Least time between two such adjustments (default 200 ms).
    pub adapt_interval: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self::new(8000, 160)
    }
}

impl JitterConfig {
    /// Defaults for a codec with this clock rate and frame size.
    pub fn new(clock_rate: u32, frame_samples: u32) -> Self {
        Self {
            clock_rate,
            frame_samples,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
            initial_delay: Duration::from_millis(60),
            max_packets: 0,
            quantile: 0.95,
            forget_factor: 0.9993,
            baseline_window: Duration::from_secs(2),
            max_plc_frames: 3,
            adapt_in_talkspurt: true,
            adapt_interval: Duration::from_millis(200),
        }
    }

    /// G.711 at 8 kHz, 20 ms frames.
    pub fn narrowband() -> Self {
        Self::new(8000, 160)
    }

    /// Opus at 48 kHz, 20 ms frames.
    pub fn opus() -> Self {
        Self::new(48_000, 960)
    }

    /// Wall-clock duration of one frame.
    pub fn frame_duration(&self) -> Duration {
        if self.clock_rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(
            u64::from(self.frame_samples) * 1_000_000_000 / u64::from(self.clock_rate),
        )
    }

    fn effective_max_packets(&self) -> usize {
        if self.max_packets > 0 {
            return self.max_packets;
        }
        let frame = self.frame_duration().as_micros().max(1);
        let frames = (2 * self.max_delay.as_micros()).div_ceil(frame);
        usize::try_from(frames).unwrap_or(usize::MAX).max(2)
    }

    fn validate(&self) -> Result<(), Error> {
        if self.clock_rate == 0 {
            return Err(Error::Config("clock_rate must be positive"));
        }
        if self.frame_samples == 0 {
            return Err(Error::Config("frame_samples must be positive"));
        }
        let frame = self.frame_duration();
        if frame < Duration::from_micros(100) || frame > Duration::from_secs(1) {
            return Err(Error::Config(
                "frame duration must be within 100 µs ..= 1 s",
            ));
        }
        if self.min_delay > self.max_delay {
            return Err(Error::Config("min_delay exceeds max_delay"));
        }
        if self.max_delay < frame || self.max_delay > MAX_MAX_DELAY {
            return Err(Error::Config("max_delay must be within one frame ..= 5 s"));
        }
        if !(self.quantile > 0.0 && self.quantile <= 1.0) {
            return Err(Error::Config("quantile must be within (0, 1]"));
        }
        if !(self.forget_factor > 0.0 && self.forget_factor < 1.0) {
            return Err(Error::Config("forget_factor must be within (0, 1)"));
        }
        if self.baseline_window.is_zero() {
            return Err(Error::Config("baseline_window must be positive"));
        }
        let max_packets = self.effective_max_packets();
        // The ring must stay well inside the ±2^15 window of sequence number widening.
        if !(2..=8192).contains(&max_packets) {
            return Err(Error::Config("max_packets must be within 2 ..= 8192"));
        }
        Ok(())
    }
}

/// Counters since construction, plus the current delay figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets passed to `insert`.
    pub received: u64,
    /// `Frame` outputs.
    pub played: u64,
    /// `Conceal` outputs, whatever the reason (loss, stall, insertion).
    pub concealed: u64,
    /// Sequence numbers the cursor passed without their packet (lost or too late).
    pub lost: u64,
    /// `Conceal` outputs that offered the next packet for FEC.
    pub fec_offers: u64,
    /// Packets that arrived after their frame was played or concealed.
    pub late: u64,
    /// Packets received twice (the copy dropped).
    pub duplicates: u64,
    /// Packets dropped because `max_packets` were held or the sequence window moved past them.
    pub overflow: u64,
    /// Packets dropped at pop time for having waited longer than `max_delay`.
    pub shed: u64,
    /// Frames dropped to reduce the delay.
    pub accelerated: u64,
    /// Concealment (or comfort-noise) frames inserted to increase the delay.
    pub inserted: u64,
    /// `Conceal` outputs while starving mid spurt (the cursor waited).
    pub stalled: u64,
    /// `ComfortNoise` outputs.
    pub comfort_noise: u64,
    /// `Silence` outputs.
    pub silence: u64,
    /// `Empty` outputs.
    pub empty: u64,
    /// Streams replaced by a new SSRC.
    pub ssrc_changes: u64,
    /// Restarts confirmed after a large sequence jump.
    pub resyncs: u64,
    /// Packets dropped by those resets.
    pub flushed: u64,
    /// New-SSRC or large-jump packets not confirmed by a second one (within `max_delay`).
    pub stray: u64,
    /// Current target delay.
    pub target_delay: Duration,
    /// Frames currently buffered, as a duration.
    pub buffer_level: Duration,
}

/// Where the cursor is in the talk-spurt cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the head packet's playout time. `first`: nothing played yet in this stream.
    Buffering { first: bool },
    /// Playing; `debt` counts frames output while starving at the cursor.
    Playing { debt: u32 },
}

/// The current sender's stream (one SSRC, one sequence space).
#[derive(Clone, Debug)]
struct Stream {
    ssrc: u32,
    /// Widened timestamp of the stream's first packet: origin of its µs timeline.
    base_ts: u64,
    /// Cursor: next sequence number and timestamp due.
    next_seq: u64,
    next_ts: u64,
    highest_seq: u64,
    highest_ts: u64,
    /// Something left the buffer since the stream started (no back-filling before it then).
    consumed_any: bool,
    last_cn: bool,
    /// Frames since the last mid-spurt adjustment.
    since_adjust: u32,
    phase: Phase,
}

/// Why packets leave the buffer without being played.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DropReason {
    Overflow,
    Shed,
}

/// Sans-IO adaptive jitter buffer for one received stream. See the module docs.
#[derive(Clone, Debug)]
pub struct JitterBuffer<P = Bytes> {
    config: JitterConfig,
    frame_us: i64,
    frame_ticks: u64,
    us_per_tick: f64,
    min_delay_us: i64,
    max_delay_us: i64,
    /// `max_delay`, or less if `max_packets` frames cannot hold that much (never below min).
    max_target_us: i64,
    initial_delay_us: i64,
    max_packets: usize,
    adapt_every: u32,
    epoch: Option<Instant>,
    ring: Ring<P>,
    estimator: DelayEstimator,
    target_us: i64,
    /// Least slack (wait before playout, or minus lateness) of recent packets.
    slack: RecentMin,
    stream: Option<Stream>,
    /// A new-SSRC or large-jump packet waiting for confirmation, and when it came (µs).
    stash: Option<(JitterPacket<P>, i64)>,
    /// The SSRC replaced last, and until when (µs) its stragglers are dropped as late.
    previous_ssrc: Option<(u32, i64)>,
    stats: JitterStats,
}

impl<P: Clone> JitterBuffer<P> {
    /// A buffer with this configuration; all memory is allocated here.
    pub fn new(config: JitterConfig) -> Result<Self, Error> {
        config.validate()?;
        let frame = config.frame_duration();
        let frame_us = micros(frame);
        let max_packets = config.effective_max_packets();
        let estimator = DelayEstimator::new(
            micros(config.baseline_window),
            BUCKET_SHIFT,
            micros(config.max_delay),
            config.quantile,
            config.forget_factor,
        );
        let adapt_every = config
            .adapt_interval
            .as_micros()
            .div_ceil(frame.as_micros().max(1));
        let mut jb = Self {
            frame_us,
            frame_ticks: u64::from(config.frame_samples),
            us_per_tick: 1e6 / f64::from(config.clock_rate),
            min_delay_us: micros(config.min_delay),
            max_delay_us: micros(config.max_delay),
            max_target_us: micros(config.max_delay)
                .min(frame_us.saturating_mul(i64::try_from(max_packets).unwrap_or(i64::MAX)))
                .max(micros(config.min_delay)),
            initial_delay_us: micros(config.initial_delay),
            max_packets,
            adapt_every: u32::try_from(adapt_every).unwrap_or(u32::MAX),
            epoch: None,
            // One spare slot so a full buffer still has room for the packet that overflows it.
            ring: Ring::new(max_packets + 1),
            estimator,
            target_us: 0,
            slack: RecentMin::new(SLACK_BLOCK_FRAMES),
            stream: None,
            stash: None,
            previous_ssrc: None,
            stats: JitterStats::default(),
            config,
        };
        jb.update_target();
        Ok(jb)
    }

    /// The configuration in force.
    pub fn config(&self) -> &JitterConfig {
        &self.config
    }

    /// Counters and current delay figures.
    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats;
        s.target_delay = self.target_delay();
        s.buffer_level = self.buffer_level();
        s
    }

    /// The delay the buffer currently aims for: within `min_delay..=max_delay`, and no more than
    /// `max_packets` frames.
    pub fn target_delay(&self) -> Duration {
        Duration::from_micros(self.target_us.max(0) as u64)
    }

    /// Buffered frames as a duration.
    pub fn buffer_level(&self) -> Duration {
        let frame = self.config.frame_duration();
        frame * u32::try_from(self.ring.held()).unwrap_or(u32::MAX)
    }

    /// Packets currently buffered.
    pub fn buffered(&self) -> usize {
        self.ring.held()
    }

    /// Sequence number of the next frame due (the cursor): a packet behind it is late.
    pub fn next_seq(&self) -> Option<u16> {
        // Truncation back to the wire's 16 bits is the point.
        self.stream.as_ref().map(|s| s.next_seq as u16)
    }

    /// Forgets the stream and everything buffered (the delay histogram is kept).
    pub fn reset(&mut self) {
        self.stats.flushed += self.ring.clear() as u64;
        if self.stash.take().is_some() {
            self.stats.flushed += 1;
        }
        self.stream = None;
        self.estimator.reset_baseline();
        self.slack = RecentMin::new(SLACK_BLOCK_FRAMES);
    }

    /// Takes a received packet. Never fails: see [`Inserted`] for what happened to it.
    pub fn insert(&mut self, packet: JitterPacket<P>, now: Instant) -> Inserted {
        self.stats.received += 1;
        let epoch = *self.epoch.get_or_insert(packet.arrival);
        // Only probation and SSRC switches need the current time: compute it lazily.
        let now_us = || signed_micros(epoch, now);
        if self.stash.is_some() {
            self.expire_stash(now_us());
        }
        let Some(stream) = &self.stream else {
            self.start_stream(packet);
            return Inserted::Buffered;
        };
        if packet.ssrc != stream.ssrc {
            let now_us = now_us();
            if let Some((old, until)) = self.previous_ssrc {
                if old == packet.ssrc && now_us < until {
                    self.stats.late += 1;
                    return Inserted::Late;
                }
            }
            return self.probation(packet, now_us);
        }
        let seq = widen_seq(packet.seq, stream.highest_seq);
        let delta = seq as i64 - stream.highest_seq as i64;
        if !(-MAX_MISORDER..MAX_DROPOUT).contains(&delta) {
            return self.probation(packet, now_us());
        }
        // The current sequence goes on: a held jump of this SSRC was a stray (RFC 3550 A.1).
        // A held packet of another SSRC stays: old stragglers may interleave with a new source.
        if self
            .stash
            .as_ref()
            .is_some_and(|(p, _)| p.ssrc == packet.ssrc)
        {
            self.stash = None;
            self.stats.stray += 1;
        }
        let ts = widen_ts(packet.timestamp, stream.highest_ts);
        self.accept(packet, seq, ts)
    }

    /// Returns what to play for the frame period starting at `now`. Call once per frame.
    pub fn pop(&mut self, now: Instant) -> Playout<P> {
        let Some(epoch) = self.epoch else {
            self.stats.empty += 1;
            return Playout::Empty;
        };
        let now_us = signed_micros(epoch, now);
        if self.stash.is_some() {
            self.expire_stash(now_us);
        }
        let Some(stream) = &self.stream else {
            self.stats.empty += 1;
            return Playout::Empty;
        };
        match stream.phase {
            Phase::Buffering { first } => {
                self.shed_expired(now_us);
                self.pop_buffering(now_us, first)
            }
            Phase::Playing { .. } => self.pop_playing(now_us),
        }
    }

    // ---- insert path ----

    /// Drops a held packet nobody confirmed within `max_delay`.
    fn expire_stash(&mut self, now_us: i64) {
        if self
            .stash
            .as_ref()
            .is_some_and(|(_, at)| now_us - at > self.max_delay_us)
        {
            self.stash = None;
            self.stats.stray += 1;
        }
    }

    fn start_stream(&mut self, packet: JitterPacket<P>) {
        // Start one cycle up so reordered packets before the first still widen without underflow.
        let seq = (1u64 << 16) + u64::from(packet.seq);
        let ts = (1u64 << 32) + u64::from(packet.timestamp);
        self.stream = Some(Stream {
            ssrc: packet.ssrc,
            base_ts: ts,
            next_seq: seq,
            next_ts: ts,
            highest_seq: seq,
            highest_ts: ts,
            consumed_any: false,
            last_cn: false,
            since_adjust: 0,
            phase: Phase::Buffering { first: true },
        });
        self.accept(packet, seq, ts);
    }

    /// A packet from another SSRC, or far outside the sequence window: hold it until a second
    /// packet of the same source, close to it in sequence, confirms a new source or a restart
    /// (RFC 3550 A.1's rule, also applied to SSRC changes so a straggler cannot flip the stream).
    fn probation(&mut self, packet: JitterPacket<P>, now_us: i64) -> Inserted {
        let confirms = self.stash.as_ref().is_some_and(|(p, _)| {
            let d = packet.seq.wrapping_sub(p.seq) as i16;
            p.ssrc == packet.ssrc && d != 0 && d.unsigned_abs() <= PROBATION_REORDER
        });
        if !confirms {
            if self.stash.replace((packet, now_us)).is_some() {
                self.stats.stray += 1;
            }
            return Inserted::Held;
        }
        let Some((first, _)) = self.stash.take() else {
            return Inserted::Held;
        };
        match self.stream.as_ref().map(|s| s.ssrc) {
            Some(old) if old != packet.ssrc => {
                self.previous_ssrc = Some((old, now_us + self.max_delay_us));
                self.stats.ssrc_changes += 1;
            }
            _ => self.stats.resyncs += 1,
        }
        self.reset();
        self.start_stream(first);
        if let Some(s) = &self.stream {
            let seq = widen_seq(packet.seq, s.highest_seq);
            let ts = widen_ts(packet.timestamp, s.highest_ts);
            self.accept(packet, seq, ts);
        }
        Inserted::Restarted
    }

    fn accept(&mut self, packet: JitterPacket<P>, seq: u64, ts: u64) -> Inserted {
        let (Some(epoch), Some(s)) = (self.epoch, &self.stream) else {
            return Inserted::Late;
        };
        let arrival_us = signed_micros(epoch, packet.arrival);
        let ts_us = ts_to_us(ts, s.base_ts, self.us_per_tick);
        let cap = self.ring.capacity();
        if seq < s.next_seq {
            if self.ring.was_consumed(seq) {
                self.stats.duplicates += 1;
                return Inserted::Duplicate;
            }
            let back_fill = s.phase == (Phase::Buffering { first: true })
                && !s.consumed_any
                && s.highest_seq - seq < cap - 1;
            if !back_fill {
                // Late packets still tell how late the network is.
                self.estimator.observe(arrival_us, ts_us);
                self.update_target();
                self.slack.push(-1);
                self.stats.late += 1;
                return Inserted::Late;
            }
        }
        if self.ring.get(seq).is_some() {
            self.stats.duplicates += 1;
            return Inserted::Duplicate;
        }
        self.estimator.observe(arrival_us, ts_us);
        self.update_target();
        let Some(s) = &mut self.stream else {
            return Inserted::Late;
        };
        if seq < s.next_seq {
            s.next_seq = seq;
            s.next_ts = ts;
        }
        if seq > s.highest_seq {
            s.highest_seq = seq;
            s.highest_ts = ts;
        }
        let (next_seq, highest) = (s.next_seq, s.highest_seq);
        if seq >= next_seq + cap {
            self.advance_floor(seq + 1 - cap, DropReason::Overflow);
        }
        if self.ring.held() >= self.max_packets {
            let floor = self.stream.as_ref().map_or(next_seq, |s| s.next_seq);
            if let Some(oldest) = self.ring.first_held(floor, highest) {
                self.advance_floor(oldest + 1, DropReason::Overflow);
            }
        }
        let entry = Entry {
            packet,
            seq,
            ts,
            arrival_us,
        };
        if self.ring.put(entry).is_some() {
            // Unreachable by the window arithmetic above; counted rather than lost silently.
            self.stats.overflow += 1;
        }
        Inserted::Buffered
    }

    fn update_target(&mut self) {
        let mut target = self.frame_us + self.estimator.margin_us();
        if self.estimator.observed() < WARMUP_PACKETS {
            target = target.max(self.initial_delay_us);
        }
        self.target_us = target.clamp(self.min_delay_us, self.max_target_us);
    }

    /// Moves the cursor to `to`, dropping what is buffered below it (counted as `why`) and
    /// counting the holes as lost.
    fn advance_floor(&mut self, to: u64, why: DropReason) {
        let Some(s) = &mut self.stream else {
            return;
        };
        if to <= s.next_seq {
            return;
        }
        let span = to - s.next_seq;
        let mut dropped = 0;
        if self.ring.held() > 0 {
            let end = to.min(s.next_seq + self.ring.capacity());
            for seq in s.next_seq..end {
                if self.ring.take(seq).is_some() {
                    dropped += 1;
                }
            }
        }
        match why {
            DropReason::Overflow => self.stats.overflow += dropped,
            DropReason::Shed => self.stats.shed += dropped,
        }
        self.stats.lost += span - dropped;
        s.next_seq = to;
        s.next_ts += span * self.frame_ticks;
        s.consumed_any = true;
        if let Phase::Playing { debt } = &mut s.phase {
            *debt = debt.saturating_sub(u32::try_from(span).unwrap_or(u32::MAX));
        }
    }

    // ---- pop path ----

    /// Drops buffered packets, oldest sequence first, that waited longer than `max_delay`.
    fn shed_expired(&mut self, now_us: i64) {
        loop {
            let Some(s) = &self.stream else {
                return;
            };
            let Some(seq) = self.ring.first_held(s.next_seq, s.highest_seq) else {
                return;
            };
            match self.ring.get(seq) {
                Some(e) if now_us - e.arrival_us > self.max_delay_us => {
                    self.advance_floor(seq + 1, DropReason::Shed);
                }
                _ => return,
            }
        }
    }

    fn pop_buffering(&mut self, now_us: i64, first: bool) -> Playout<P> {
        let margin = self.margin_us();
        let Some(s) = &self.stream else {
            return self.idle(first);
        };
        let Some(head) = self.ring.first_held(s.next_seq, s.highest_seq) else {
            return self.idle(first);
        };
        let Some(e) = self.ring.get(head) else {
            return self.idle(first);
        };
        let ts_us = ts_to_us(e.ts, s.base_ts, self.us_per_tick);
        let ready_at = nominal(self.estimator.min_transit(), ts_us, e.arrival_us) + margin;
        if now_us < ready_at {
            return self.idle(first);
        }
        let head_ts = e.ts;
        if let Some(s) = &mut self.stream {
            self.stats.lost += head - s.next_seq;
            s.next_seq = head;
            s.next_ts = head_ts;
            s.phase = Phase::Playing { debt: 0 };
            s.since_adjust = 0;
        }
        self.emit(head, now_us)
    }

    fn pop_playing(&mut self, now_us: i64) -> Playout<P> {
        let half_frame = self.frame_ticks / 2;
        // Each pass either returns or moves the cursor forward, so this ends within the window.
        loop {
            self.shed_expired(now_us);
            let margin = self.margin_us();
            let min_transit = self.estimator.min_transit();
            let Some(s) = &mut self.stream else {
                return self.idle(false);
            };
            let debt = match s.phase {
                Phase::Playing { debt } => debt,
                Phase::Buffering { first } => return self.pop_buffering(now_us, first),
            };
            if let Some(e) = self.ring.get(s.next_seq) {
                if e.ts > s.next_ts + half_frame || (e.packet.marker && debt > 0) {
                    s.phase = Phase::Buffering { first: false };
                    return self.pop_buffering(now_us, false);
                }
                if self.config.adapt_in_talkspurt && s.since_adjust >= self.adapt_every {
                    let ts_us = ts_to_us(e.ts, s.base_ts, self.us_per_tick);
                    let excess = now_us - nominal(min_transit, ts_us, e.arrival_us) - margin;
                    let cn = e.packet.comfort_noise;
                    let drop_at = if cn {
                        self.frame_us
                    } else {
                        (self.frame_us as f64 * DROP_AT_FRAMES) as i64
                    };
                    let headroom = self.slack.min() >= self.frame_us;
                    let next_here = self
                        .ring
                        .get(s.next_seq + 1)
                        .is_some_and(|n| n.ts <= e.ts + self.frame_ticks + half_frame);
                    if excess >= drop_at && next_here && headroom {
                        let ts = e.ts;
                        self.ring.take(s.next_seq);
                        s.next_seq += 1;
                        s.next_ts = ts + self.frame_ticks;
                        s.since_adjust = 0;
                        s.consumed_any = true;
                        self.stats.accelerated += 1;
                        continue;
                    }
                    if excess < -self.frame_us / 2 {
                        s.since_adjust = 0;
                        self.stats.inserted += 1;
                        if cn {
                            self.stats.comfort_noise += 1;
                            return Playout::ComfortNoise;
                        }
                        self.stats.concealed += 1;
                        return Playout::Conceal { fec_from: None };
                    }
                }
                let seq = s.next_seq;
                return self.emit(seq, now_us);
            }
            if let Some(h) = self.ring.first_held(s.next_seq + 1, s.highest_seq) {
                let Some(he) = self.ring.get(h) else {
                    return self.idle(false);
                };
                let gap = h - s.next_seq;
                let expected_ts = s.next_ts + gap * self.frame_ticks;
                if he.ts > expected_ts + half_frame || (he.packet.marker && debt > 0) {
                    // Silence lies between: the missing packets ended the previous spurt.
                    self.stats.lost += gap;
                    s.next_seq = h;
                    s.next_ts = he.ts;
                    s.phase = Phase::Buffering { first: false };
                    return self.pop_buffering(now_us, false);
                }
                let skip = u64::from(debt).min(gap);
                if skip > 0 {
                    // Those frames were already concealed while the buffer starved.
                    self.stats.lost += skip;
                    s.next_seq += skip;
                    s.next_ts += skip * self.frame_ticks;
                    // skip <= debt, which is a u32.
                    s.phase = Phase::Playing {
                        debt: debt - skip as u32,
                    };
                    if s.next_seq == h {
                        continue;
                    }
                }
                let fec_from = (h == s.next_seq + 1).then(|| he.packet.clone());
                self.stats.lost += 1;
                self.stats.concealed += 1;
                if fec_from.is_some() {
                    self.stats.fec_offers += 1;
                }
                s.next_seq += 1;
                s.next_ts += self.frame_ticks;
                s.since_adjust = s.since_adjust.saturating_add(1);
                s.consumed_any = true;
                return Playout::Conceal { fec_from };
            }
            // Nothing buffered: the packet is late, lost, or the sender went quiet. Wait.
            let debt = debt.saturating_add(1);
            s.phase = Phase::Playing { debt };
            if s.last_cn {
                self.stats.comfort_noise += 1;
                return Playout::ComfortNoise;
            }
            if debt <= self.config.max_plc_frames {
                self.stats.concealed += 1;
                self.stats.stalled += 1;
                return Playout::Conceal { fec_from: None };
            }
            self.stats.silence += 1;
            return Playout::Silence;
        }
    }

    /// Plays the packet at `seq` (the cursor) and moves the cursor past it.
    fn emit(&mut self, seq: u64, now_us: i64) -> Playout<P> {
        let Some(e) = self.ring.take(seq) else {
            return self.idle(false);
        };
        self.slack.push(now_us - e.arrival_us);
        if let Some(s) = &mut self.stream {
            s.next_seq = seq + 1;
            s.next_ts = e.ts + self.frame_ticks;
            s.last_cn = e.packet.comfort_noise;
            s.consumed_any = true;
            s.since_adjust = s.since_adjust.saturating_add(1);
            s.phase = Phase::Playing { debt: 0 };
        }
        self.stats.played += 1;
        Playout::Frame(e.packet)
    }

    /// Output when there is nothing to play: `Empty` before the first frame of a stream,
    /// comfort noise after a CN packet, silence otherwise.
    fn idle(&mut self, first: bool) -> Playout<P> {
        if first {
            self.stats.empty += 1;
            return Playout::Empty;
        }
        if self.stream.as_ref().is_some_and(|s| s.last_cn) {
            self.stats.comfort_noise += 1;
            return Playout::ComfortNoise;
        }
        self.stats.silence += 1;
        Playout::Silence
    }

    // ---- time ----

    fn margin_us(&self) -> i64 {
        (self.target_us - self.frame_us).max(0)
    }
}

/// Timestamp as µs since the stream's first packet.
fn ts_to_us(ts: u64, base_ts: u64, us_per_tick: f64) -> i64 {
    // Within 1 µs for any realistic stream length (f64 has 53 bits of mantissa); truncation,
    // not rounding, because `f64::round` is a library call on baseline x86-64.
    ((ts as i64 - base_ts as i64) as f64 * us_per_tick) as i64
}

/// When a packet would have arrived with the fastest transit of the window (µs); a packet's own
/// arrival when no baseline exists.
fn nominal(min_transit: Option<i64>, ts_us: i64, fallback_arrival_us: i64) -> i64 {
    match min_transit {
        Some(t) => t + ts_us,
        None => fallback_arrival_us,
    }
}

/// Widens a 16-bit sequence number to the value nearest `reference`.
fn widen_seq(seq: u16, reference: u64) -> u64 {
    // The cast to u16 keeps the low bits; the i16 reading picks the nearest wrap.
    let delta = seq.wrapping_sub(reference as u16) as i16;
    reference.wrapping_add_signed(i64::from(delta))
}

/// Widens a 32-bit timestamp to the value nearest `reference`.
fn widen_ts(ts: u32, reference: u64) -> u64 {
    let delta = ts.wrapping_sub(reference as u32) as i32;
    reference.wrapping_add_signed(i64::from(delta))
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// `t - epoch` in µs, negative when `t` is earlier.
fn signed_micros(epoch: Instant, t: Instant) -> i64 {
    match t.checked_duration_since(epoch) {
        Some(d) => micros(d),
        None => -micros(epoch.saturating_duration_since(t)),
    }
}

#[cfg(test)]
mod tests;
