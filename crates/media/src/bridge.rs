//! What the relay does with a call's audio beyond forwarding it: transcoding, prompts, DTMF.
//!
//! The relay core ([`crate::relay::RelaySession`]) decides *whether* a datagram is accepted and
//! *where* it goes; a [`MediaBridge`] decides *what* goes there, for the calls that need more
//! than forwarding. The I/O shell (`relay::io`) gives a session a bridge only when it asks for
//! one (codecs, DTMF or playback), so a plain call never pays for it.
//!
//! # Per direction (packets from one leg's phone to the other leg)
//!
//! * Same codec on both legs, or a codec we do not process: forwarded, with the audio and
//!   telephone-event payload types renumbered when the legs numbered them differently.
//! * PCMA ↔ PCMU: forwarded, each byte re-encoded in place ([`crate::transcode::convert_g711`]).
//! * G.711 ↔ Opus: decoded and re-encoded by a [`Transcode`] on a 20 ms tick.
//!
//! # Per leg (what its phone hears)
//!
//! Sources take precedence in this order: a prompt ([`MediaBridge::play`]), then DTMF we send
//! ([`MediaBridge::send_dtmf`]), then the other leg's audio (forwarded or transcoded). Whatever a
//! higher source replaces is dropped and counted. Everything sent to a leg goes through its
//! [`OutStream`], so the phone sees one SSRC with continuous numbering across the switches.
//!
//! # DTMF in
//!
//! Telephone-event packets (the leg's negotiated payload type) go through an
//! [`EventReceiver`]: one `Dtmf { end: false }` and one `Dtmf { end: true }` per key, however
//! many packets carry it. They are relayed to the other leg: forwarded with its payload type
//! when the legs share a codec (so with the same timing), or, across a transcoder (the two
//! legs' RTP clocks differ), sent again by an [`EventSender`] once the key is released, with
//! the measured duration. A receiver whose end packets were all lost is closed after
//! [`EVENT_IDLE`] without packets.
//!
//! With `detect_inband_dtmf` on a G.711 leg, its audio is also decoded into an
//! [`InbandDetector`]; a key found there is reported as a start and an end at once (the
//! detector reports presses, not releases). In-band detection on a leg stops at its first
//! RFC 4733 packet: phones that send both would otherwise report each key twice.
//!
//! # Recording
//!
//! A leg can be recorded ([`MediaBridge::record`], voicemail): every packet its phone sends,
//! whatever the path does with it afterwards (forwarded, transcoded, replaced by a prompt, or
//! nowhere to go because the other leg does not exist), is also given to the leg's
//! [`Recorder`]; telephone-events never are. The recorder's frames go to its
//! [`RecordingSink`] on the bridge's ticks. A recording ends at its `max`, on
//! [`MediaBridge::stop_recording`], when the leg renegotiates another codec or payload type,
//! or when the bridge is dropped; the sink then has the writer finish the file. The bridge
//! raises no event for it: the writer reports when the file is in place (see `relay::io`).
//!
//! # Contract
//!
//! Sans-IO. In: [`MediaBridge::on_rtp`] for each accepted RTP packet (the core has checked it),
//! commands (`set_media`, `play`, `stop_playback`, `send_dtmf`, `record`, `stop_recording`).
//! Out: the returned forwarding decision (the packet rewritten in place), then
//! [`MediaBridge::poll_transmit`] until `None` (it also runs the recorders' ticks) and
//! [`MediaBridge::poll_event`] until `None`; sleep until [`MediaBridge::poll_timeout`].
//! Nothing allocates per packet; SSRCs come from a seeded generator, so tests are
//! deterministic.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dtmf::{DtmfEvent, EventReceiver, EventSender, InbandDetector, SendParams};
use crate::player::{Player, PlayerConfig, Prompt};
use crate::record::{RecordConfig, RecordError, RecordStats, Recorder, RecordingSink};
use crate::relay::rtp::RtpHeader;
use crate::relay::{Leg, RelayEvent};
use crate::sdp::Codec;
use crate::stream::{write_rtp, AudioCodec, OutStream, OutStreamStats, RtpNumbering};
use crate::transcode::{convert_g711, Transcode, TranscodeConfig, TranscodeError, TranscodeStats};

/// An open telephone-event with no packet for this long is closed (its end packets were lost).
pub const EVENT_IDLE: Duration = Duration::from_millis(250);
/// How long each key sent by [`MediaBridge::send_dtmf`] is held.
pub const DTMF_TONE: Duration = Duration::from_millis(100);
/// Pause between two keys sent by [`MediaBridge::send_dtmf`].
pub const DTMF_GAP: Duration = Duration::from_millis(60);
/// Bounds of a relayed key's duration (a stuck key is not replayed for minutes).
const RELAY_MIN_MS: u32 = 40;
const RELAY_MAX_MS: u32 = 2_000;
/// Keys queued for sending per leg; more are refused and counted.
const MAX_QUEUED_DIGITS: usize = 64;
/// Tick of the DTMF sender.
const TICK: Duration = Duration::from_millis(20);
/// Volume of the keys we send, −dBm0 (what most phones send).
const DTMF_VOLUME: u8 = 10;
/// RFC 3389 comfort noise, static payload type: goes to the transcoder's jitter buffer.
const PT_COMFORT_NOISE: u8 = 13;

/// What one leg negotiated, for the media work of the relay. All `None`/`false` (the
/// default) means plain forwarding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegMedia {
    /// The audio codec the leg's SDP settled on (its payload type is the leg's).
    pub codec: Option<Codec>,
    /// The leg's `telephone-event` payload type, if it negotiated RFC 4733.
    pub telephone_event: Option<u8>,
    /// Look for DTMF tones in the leg's audio (G.711 only).
    pub detect_inband_dtmf: bool,
}

/// How packets from one leg reach the other.
enum Path {
    /// Forward; renumber the audio payload type if `Some((from, to))`.
    Forward { audio_pt: Option<(u8, u8)> },
    /// PCMA ↔ PCMU by table.
    Table {
        from_pt: u8,
        to_pt: u8,
        from: codec::G711Law,
        to: codec::G711Law,
    },
    /// Decode and encode.
    Transcode {
        from_pt: u8,
        to_pt: u8,
        t: Box<Transcode>,
    },
}

/// DTMF we send into a leg.
struct DtmfOut {
    queue: VecDeque<(char, u32)>,
    sender: Option<EventSender>,
    numbering: RtpNumbering,
    due: Instant,
    /// Ticks of silence left before the next key.
    gap: u32,
}

impl DtmfOut {
    fn active(&self) -> bool {
        self.sender.is_some() || !self.queue.is_empty()
    }
}

/// A leg being recorded: the decoding half and the queue to the writer.
struct Recording {
    recorder: Recorder,
    sink: RecordingSink,
}

impl Recording {
    /// Hands every frame due at `now` to the writer.
    fn run(&mut self, now: Instant) {
        while let Some(pcm) = self.recorder.poll(now) {
            self.sink.push(pcm);
        }
    }

    fn stats(&self) -> RecordStats {
        RecordStats {
            queue_dropped: self.sink.dropped(),
            ..self.recorder.stats()
        }
    }
}

/// One leg's side of the bridge: what it negotiated, what it hears, what it sent us.
struct Side {
    media: LegMedia,
    codec: Option<AudioCodec>,
    /// RTP clock of the leg's audio (and of its telephone-events).
    clock_rate: u32,
    out: OutStream,
    player: Option<Player>,
    dtmf_out: DtmfOut,
    dtmf_in: EventReceiver,
    dtmf_in_ssrc: Option<u32>,
    last_event_at: Option<Instant>,
    inband: Option<InbandDetector>,
    /// The recording of what this leg's phone sends, if any.
    recording: Option<Box<Recording>>,
    /// Counters of the leg's last finished recording.
    recorded: Option<RecordStats>,
}

impl Side {
    fn new(media: LegMedia, fallback_clock: u32, ssrc: u32, now: Instant) -> Side {
        let codec = media.codec.as_ref().and_then(AudioCodec::from_sdp);
        let clock_rate = codec.map_or(fallback_clock, AudioCodec::clock_rate);
        let inband = media.detect_inband_dtmf && codec.and_then(AudioCodec::law).is_some();
        Side {
            media,
            codec,
            clock_rate,
            out: OutStream::new(clock_rate),
            player: None,
            dtmf_out: DtmfOut {
                queue: VecDeque::new(),
                sender: None,
                numbering: RtpNumbering {
                    ssrc,
                    seq: 0,
                    timestamp: 0,
                },
                due: now,
                gap: 0,
            },
            dtmf_in: EventReceiver::new(),
            dtmf_in_ssrc: None,
            last_event_at: None,
            inband: inband.then(InbandDetector::new),
            recording: None,
            recorded: None,
        }
    }

    fn audio_pt(&self) -> Option<u8> {
        self.media.codec.as_ref().map(|c| c.pt)
    }

    /// A prompt or our DTMF owns what this leg hears.
    fn overridden(&self) -> bool {
        self.player.is_some() || self.dtmf_out.active()
    }

    /// Ends the recording at `now`: what is still buffered is written, then the file finished.
    fn stop_recording(&mut self, now: Instant) {
        if let Some(mut recording) = self.recording.take() {
            recording.recorder.stop(now);
            recording.run(now);
            self.recorded = Some(recording.stats());
            // Dropping the sink has the writer finish the file.
        }
    }

    /// Runs the recording's ticks due at `now`; finishes it once it reached its `max`.
    fn run_recording(&mut self, now: Instant) {
        let Some(recording) = &mut self.recording else {
            return;
        };
        recording.run(now);
        if recording.recorder.is_finished() {
            self.stop_recording(now);
        }
    }
}

/// Counters of a bridge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Per source leg (index 0 = from A), the transcoder's counters when transcoding.
    pub transcode: [Option<TranscodeStats>; 2],
    /// Per destination leg, the spliced output stream.
    pub out: [OutStreamStats; 2],
    /// Packets for a leg dropped because a prompt or our DTMF replaced them.
    pub replaced: u64,
    /// Telephone-event packets not relayed (the other leg negotiated none).
    pub events_not_relayed: u64,
    /// DTMF keys sent into legs (relayed or from `send_dtmf`).
    pub digits_sent: u64,
    /// Keys refused: unknown character, no telephone-event on the leg, or queue full.
    pub digits_refused: u64,
    /// In-band keys detected.
    pub inband_digits: u64,
    /// Per leg (index 0 = A), the recording in progress, else the last one.
    pub recording: [Option<RecordStats>; 2],
}

/// The media work of one relayed call. See the module docs.
pub struct MediaBridge {
    sides: [Side; 2],
    /// Index = source leg.
    paths: [Path; 2],
    events: VecDeque<RelayEvent>,
    rng: u64,
    stats: BridgeStats,
}

impl std::fmt::Debug for MediaBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaBridge")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn index(leg: Leg) -> usize {
    match leg {
        Leg::A => 0,
        Leg::B => 1,
    }
}

impl MediaBridge {
    /// A bridge for legs that negotiated `a` and `b`. `clock_rates` are the legs' RTP clocks
    /// from their SDP, used when a leg's codec is not one we know. `seed` seeds the SSRCs of
    /// the streams we generate.
    pub fn new(
        a: LegMedia,
        b: LegMedia,
        clock_rates: [u32; 2],
        seed: u64,
        now: Instant,
    ) -> Result<MediaBridge, TranscodeError> {
        let mut rng = seed;
        let sa = Side::new(a, clock_rates[0], next_ssrc(&mut rng), now);
        let sb = Side::new(b, clock_rates[1], next_ssrc(&mut rng), now);
        let mut bridge = MediaBridge {
            sides: [sa, sb],
            paths: [
                Path::Forward { audio_pt: None },
                Path::Forward { audio_pt: None },
            ],
            events: VecDeque::with_capacity(8),
            rng,
            stats: BridgeStats::default(),
        };
        bridge.rebuild_paths(now)?;
        Ok(bridge)
    }

    /// New negotiation for one leg (answer, re-INVITE). Transcoders are built or dropped as
    /// the pair of codecs now requires. On error the leg keeps its new settings and the
    /// direction falls back to forwarding.
    pub fn set_media(
        &mut self,
        leg: Leg,
        media: LegMedia,
        now: Instant,
    ) -> Result<(), TranscodeError> {
        let fallback = self.sides[index(leg)].clock_rate;
        let ssrc = next_ssrc(&mut self.rng);
        let old = &mut self.sides[index(leg)];
        if old.media == media {
            return Ok(());
        }
        let mut side = Side::new(media, fallback, ssrc, now);
        // What the phone hears goes on: same output stream, same prompt, same queued keys.
        side.out = old.out.clone();
        side.out.set_clock_rate(side.clock_rate);
        side.player = old.player.take();
        side.dtmf_out.queue = std::mem::take(&mut old.dtmf_out.queue);
        side.dtmf_out.sender = old.dtmf_out.sender.take();
        side.dtmf_out.numbering = old.dtmf_out.numbering;
        side.dtmf_out.due = old.dtmf_out.due;
        if old.media.telephone_event == side.media.telephone_event {
            side.dtmf_in = std::mem::take(&mut old.dtmf_in);
            side.dtmf_in_ssrc = old.dtmf_in_ssrc;
            side.last_event_at = old.last_event_at;
        }
        // A recording goes on while the leg keeps its codec and payload type; the file has one
        // format, so another codec ends it.
        side.recorded = old.recorded;
        let same_audio = old.recording.as_ref().is_some_and(|r| {
            let (codec, pt) = r.recorder.codec();
            side.codec == Some(codec) && side.audio_pt() == Some(pt)
        });
        if same_audio {
            side.recording = old.recording.take();
        } else {
            old.stop_recording(now);
            side.recorded = old.recorded;
        }
        *old = side;
        self.rebuild_paths(now)
    }

    /// Plays `prompt` into `leg` in the leg's codec (PCMA when it is not one we know),
    /// replacing what the other leg sends it. A prompt already playing there is replaced.
    /// Raises [`RelayEvent::PlaybackDone`] after the last packet of a prompt that is not
    /// `looped`.
    pub fn play(&mut self, leg: Leg, prompt: Arc<Prompt>, looped: bool, now: Instant) {
        let ssrc = next_ssrc(&mut self.rng);
        let side = &mut self.sides[index(leg)];
        let (codec, payload_type) = match (side.codec, side.audio_pt()) {
            (Some(c), Some(pt)) => (c, pt),
            _ => (AudioCodec::Pcma, 8),
        };
        let seq = (self.rng >> 16) as u16;
        let config = PlayerConfig {
            codec,
            payload_type,
            ssrc,
            first_seq: seq,
            first_timestamp: (self.rng >> 32) as u32,
            looped,
        };
        let player = Player::new(prompt, config, now);
        if player.finished() {
            // An empty prompt has ended already.
            side.player = None;
            self.events.push_back(RelayEvent::PlaybackDone { leg });
        } else {
            side.player = Some(player);
        }
    }

    /// Stops the prompt playing into `leg`, without [`RelayEvent::PlaybackDone`].
    pub fn stop_playback(&mut self, leg: Leg) {
        self.sides[index(leg)].player = None;
    }

    /// Whether a prompt is playing into `leg`.
    pub fn is_playing(&self, leg: Leg) -> bool {
        self.sides[index(leg)].player.is_some()
    }

    /// How a recording of `leg` limited to `max` would be made: its negotiated codec and
    /// payload type. Refused when the leg has no codec we decode, or is being recorded.
    pub fn record_config(&self, leg: Leg, max: Duration) -> Result<RecordConfig, RecordError> {
        let side = &self.sides[index(leg)];
        if side.recording.is_some() {
            return Err(RecordError::Busy);
        }
        match (side.codec, side.audio_pt()) {
            (Some(codec), Some(pt)) => Ok(RecordConfig::new(codec, pt, max)),
            _ => Err(RecordError::NoCodec),
        }
    }

    /// Records what `leg`'s phone sends from now on (build `recorder` from
    /// [`MediaBridge::record_config`]), into `sink`. A recording already running on the leg is
    /// stopped first.
    pub fn record(&mut self, leg: Leg, recorder: Recorder, sink: RecordingSink, now: Instant) {
        let side = &mut self.sides[index(leg)];
        side.stop_recording(now);
        side.recording = Some(Box::new(Recording { recorder, sink }));
        // A zero `max` is over at once.
        side.run_recording(now);
    }

    /// Ends `leg`'s recording: the audio still buffered is written, then the file finished.
    /// Nothing happens when the leg is not being recorded.
    pub fn stop_recording(&mut self, leg: Leg, now: Instant) {
        self.sides[index(leg)].stop_recording(now);
    }

    /// Ends both legs' recordings (the session closes).
    pub fn stop_recordings(&mut self, now: Instant) {
        for side in &mut self.sides {
            side.stop_recording(now);
        }
    }

    /// Whether `leg` is being recorded.
    pub fn is_recording(&self, leg: Leg) -> bool {
        self.sides[index(leg)].recording.is_some()
    }

    /// Queues `digits` (`0`–`9`, `*`, `#`, `A`–`D`) to be sent into `leg` as RFC 4733 events,
    /// [`DTMF_TONE`] each with [`DTMF_GAP`] between them. Refused (counted) when the leg has no
    /// telephone-event payload type; unknown characters are skipped and counted.
    pub fn send_dtmf(&mut self, leg: Leg, digits: &str, now: Instant) {
        let tone = DTMF_TONE.as_millis() as u32;
        for digit in digits.chars() {
            self.queue_digit(leg, digit, tone, now);
        }
    }

    fn queue_digit(&mut self, leg: Leg, digit: char, duration_ms: u32, now: Instant) {
        let side = &mut self.sides[index(leg)];
        let ok = side.media.telephone_event.is_some()
            && crate::dtmf::event_of(digit).is_some()
            && side.dtmf_out.queue.len() < MAX_QUEUED_DIGITS;
        if !ok {
            self.stats.digits_refused += 1;
            return;
        }
        let out = &mut side.dtmf_out;
        if !out.active() {
            out.due = now;
            out.gap = 0;
        }
        out.queue.push_back((digit, duration_ms));
    }

    /// An accepted RTP packet from `leg`'s phone, at `now`. `deliverable`: the other leg has
    /// an address. Returns whether to forward the packet (rewritten in place: payload type,
    /// numbering, G.711 law) to the other leg; `false` when it was consumed (transcoded,
    /// detected only, replaced by a prompt).
    pub fn on_rtp(&mut self, leg: Leg, packet: &mut [u8], deliverable: bool, now: Instant) -> bool {
        let Ok(header) = RtpHeader::parse(packet) else {
            return false;
        };
        let (src, dst) = (index(leg), index(leg.other()));
        let pt = header.payload_type();
        if Some(pt) == self.sides[src].media.telephone_event {
            self.on_event(leg, &header, now);
            return deliverable && self.relay_event(leg, packet, now);
        }
        self.flush_idle_event(leg, now);
        let side = &mut self.sides[src];
        if let Some(recording) = &mut side.recording {
            // Before any rewriting below: the recorder filters on the leg's own payload type.
            recording.recorder.on_packet(packet, now);
        }
        if let Some(inband) = &mut side.inband {
            if Some(pt) == side.media.codec.as_ref().map(|c| c.pt) {
                let found = detect_inband(inband, side.codec, header.payload());
                self.stats.inband_digits += found;
                push_inband(&mut self.events, leg, inband);
            }
        }
        // Where the payload sits, for the in-place G.711 conversion below.
        let payload_start = header.payload().as_ptr() as usize - packet.as_ptr() as usize;
        let payload_end = payload_start + header.payload().len();
        let replaced = self.sides[dst].overridden();
        match &mut self.paths[src] {
            Path::Transcode { from_pt, t, .. } => {
                if pt == *from_pt || pt == PT_COMFORT_NOISE {
                    t.on_packet(packet, now);
                }
                false
            }
            _ if !deliverable => false,
            _ if replaced => {
                self.stats.replaced += 1;
                false
            }
            Path::Table {
                from_pt,
                to_pt,
                from,
                to,
            } => {
                if pt == *from_pt {
                    convert_g711(*from, *to, &mut packet[payload_start..payload_end]);
                    packet[1] = (packet[1] & 0x80) | (*to_pt & 0x7f);
                }
                self.sides[dst].out.stamp(packet, now)
            }
            Path::Forward { audio_pt } => {
                if let Some((from, to)) = *audio_pt {
                    if pt == from {
                        packet[1] = (packet[1] & 0x80) | (to & 0x7f);
                    }
                }
                self.sides[dst].out.stamp(packet, now)
            }
        }
    }

    /// A telephone-event packet from `leg`: detection.
    fn on_event(&mut self, leg: Leg, header: &RtpHeader<'_>, now: Instant) {
        let side = &mut self.sides[index(leg)];
        // This phone signals keys out of band: do not also listen for tones.
        side.inband = None;
        if side.dtmf_in_ssrc.is_some_and(|s| s != header.ssrc()) {
            if let Some(end) = side.dtmf_in.reset() {
                push_dtmf(&mut self.events, leg, end);
            }
        }
        side.dtmf_in_ssrc = Some(header.ssrc());
        side.last_event_at = Some(now);
        let events = side.dtmf_in.handle_packet(
            header.timestamp(),
            header.marker(),
            header.payload(),
            side.clock_rate,
        );
        let transcoded = matches!(self.paths[index(leg)], Path::Transcode { .. });
        for ev in events {
            push_dtmf(&mut self.events, leg, ev);
            if let (true, DtmfEvent::End { digit, duration_ms }) = (transcoded, ev) {
                let ms = duration_ms.clamp(RELAY_MIN_MS, RELAY_MAX_MS);
                self.queue_digit(leg.other(), digit, ms, now);
            }
        }
    }

    /// Forwards a telephone-event packet to the other leg with its payload type, when both
    /// legs share an RTP clock (no transcoder between them).
    fn relay_event(&mut self, leg: Leg, packet: &mut [u8], now: Instant) -> bool {
        let dst = &mut self.sides[index(leg.other())];
        if matches!(self.paths[index(leg)], Path::Transcode { .. }) {
            return false;
        }
        let Some(pt) = dst.media.telephone_event else {
            self.stats.events_not_relayed += 1;
            return false;
        };
        if dst.overridden() {
            self.stats.replaced += 1;
            return false;
        }
        packet[1] = (packet[1] & 0x80) | (pt & 0x7f);
        dst.out.stamp(packet, now)
    }

    /// Closes an event whose end packets never came.
    fn flush_idle_event(&mut self, leg: Leg, now: Instant) {
        let side = &mut self.sides[index(leg)];
        let idle = side
            .last_event_at
            .is_some_and(|at| now.saturating_duration_since(at) >= EVENT_IDLE);
        if idle && side.dtmf_in.is_active() {
            if let Some(end) = side.dtmf_in.flush() {
                push_dtmf(&mut self.events, leg, end);
                if let (Path::Transcode { .. }, DtmfEvent::End { digit, duration_ms }) =
                    (&self.paths[index(leg)], end)
                {
                    let ms = duration_ms.clamp(RELAY_MIN_MS, RELAY_MAX_MS);
                    self.queue_digit(leg.other(), digit, ms, now);
                }
            }
        }
    }

    /// The next packet the bridge generates at `now` (prompt, DTMF, transcoded audio), written
    /// into `out` (at least 1500 bytes), and the leg it goes to. Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<(Leg, usize)> {
        for side in &mut self.sides {
            side.run_recording(now);
        }
        for leg in [Leg::A, Leg::B] {
            self.flush_idle_event(leg, now);
            if let Some(n) = self.poll_player(leg, now, out) {
                return Some((leg, n));
            }
            if let Some(n) = self.poll_dtmf(leg, now, out) {
                return Some((leg, n));
            }
            // Audio transcoded from the other leg into this one.
            let (src, dst) = (index(leg.other()), index(leg));
            let Path::Transcode { t, .. } = &mut self.paths[src] else {
                continue;
            };
            while let Some(n) = t.poll(now, out) {
                let side = &mut self.sides[dst];
                if side.overridden() {
                    self.stats.replaced += 1;
                    continue;
                }
                side.out.stamp(&mut out[..n], now);
                return Some((leg, n));
            }
        }
        None
    }

    fn poll_player(&mut self, leg: Leg, now: Instant, out: &mut [u8]) -> Option<usize> {
        let side = &mut self.sides[index(leg)];
        let player = side.player.as_mut()?;
        let sent = player.poll(now, out);
        if let Some(n) = sent {
            side.out.stamp(&mut out[..n], now);
        }
        if player.done() {
            if player.finished() {
                self.events.push_back(RelayEvent::PlaybackDone { leg });
            }
            side.player = None;
        }
        sent
    }

    fn poll_dtmf(&mut self, leg: Leg, now: Instant, out: &mut [u8]) -> Option<usize> {
        let side = &mut self.sides[index(leg)];
        let playing = side.player.is_some();
        let d = &mut side.dtmf_out;
        let Some(pt) = side.media.telephone_event else {
            // The leg no longer negotiates telephone-events (re-INVITE): drop what is queued,
            // or the keys would mute the leg for ever.
            self.stats.digits_refused += d.queue.len() as u64;
            d.queue.clear();
            d.sender = None;
            return None;
        };
        let frame_ticks = side.clock_rate / 50;
        while d.active() && d.due <= now {
            if now.duration_since(d.due) >= TICK * 3 {
                d.due = now;
            }
            d.due += TICK;
            let ts_now = d.numbering.timestamp;
            d.numbering.advance(frame_ticks);
            if playing {
                // A prompt has the leg: the keys wait.
                continue;
            }
            if d.sender.is_none() {
                if d.gap > 0 {
                    d.gap -= 1;
                    continue;
                }
                let Some((digit, ms)) = d.queue.pop_front() else {
                    break;
                };
                let params = SendParams {
                    duration_ms: ms,
                    volume: DTMF_VOLUME,
                    ptime_ms: TICK.as_millis() as u32,
                    clock_rate: side.clock_rate,
                };
                match EventSender::new(digit, ts_now, params) {
                    Ok(s) => d.sender = Some(s),
                    Err(_) => {
                        self.stats.digits_refused += 1;
                        continue;
                    }
                }
                self.stats.digits_sent += 1;
            }
            let Some(sender) = &mut d.sender else {
                continue;
            };
            let Some(ev) = sender.next_packet() else {
                d.sender = None;
                d.gap = (DTMF_GAP.as_millis() / TICK.as_millis()) as u32;
                continue;
            };
            let mut fields = d.numbering.next(pt, ev.marker);
            fields.timestamp = ev.timestamp;
            if sender.is_finished() {
                d.sender = None;
                d.gap = (DTMF_GAP.as_millis() / TICK.as_millis()) as u32;
            }
            let n = write_rtp(out, fields, &ev.payload)?;
            side.out.stamp(&mut out[..n], now);
            return Some(n);
        }
        None
    }

    /// When [`MediaBridge::poll_transmit`] next has work, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for side in &self.sides {
            consider(side.player.as_ref().and_then(Player::poll_timeout));
            consider(side.dtmf_out.active().then_some(side.dtmf_out.due));
            if side.dtmf_in.is_active() {
                consider(side.last_event_at.map(|at| at + EVENT_IDLE));
            }
            consider(
                side.recording
                    .as_ref()
                    .and_then(|r| r.recorder.poll_timeout()),
            );
        }
        for path in &self.paths {
            if let Path::Transcode { t, .. } = path {
                consider(Some(t.poll_timeout()));
            }
        }
        next
    }

    /// The next event for the owner (DTMF, playback done).
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// Whether either direction is transcoded.
    pub fn is_transcoding(&self) -> bool {
        self.paths
            .iter()
            .any(|p| matches!(p, Path::Transcode { .. }))
    }

    /// Counters.
    pub fn stats(&self) -> BridgeStats {
        let mut s = self.stats;
        for (i, path) in self.paths.iter().enumerate() {
            if let Path::Transcode { t, .. } = path {
                s.transcode[i] = Some(t.stats());
            }
        }
        s.out = [self.sides[0].out.stats(), self.sides[1].out.stats()];
        for (stats, side) in s.recording.iter_mut().zip(&self.sides) {
            *stats = side.recording.as_ref().map(|r| r.stats()).or(side.recorded);
        }
        s
    }

    /// Chooses each direction's path from the two legs' codecs.
    fn rebuild_paths(&mut self, now: Instant) -> Result<(), TranscodeError> {
        let mut result = Ok(());
        for src in [Leg::A, Leg::B] {
            let (s, d) = (&self.sides[index(src)], &self.sides[index(src.other())]);
            let (from, to) = (s.codec, d.codec);
            let (from_pt, to_pt) = (s.audio_pt(), d.audio_pt());
            let keep = matches!(
                (&self.paths[index(src)], from, to, from_pt, to_pt),
                (Path::Transcode { from_pt: fp, to_pt: tp, t }, Some(f), Some(tc), Some(p), Some(q))
                    if t.codecs() == (f, tc) && *fp == p && *tp == q
            );
            if keep {
                continue;
            }
            let path = match (from, to, from_pt, to_pt) {
                (Some(f), Some(t), Some(fp), Some(tp)) if f == t => Path::Forward {
                    audio_pt: (fp != tp).then_some((fp, tp)),
                },
                (Some(f), Some(t), Some(fp), Some(tp)) => match (f.law(), t.law()) {
                    (Some(from), Some(to)) => Path::Table {
                        from_pt: fp,
                        to_pt: tp,
                        from,
                        to,
                    },
                    _ => {
                        let mut cfg = TranscodeConfig::new(f, t, tp, next_ssrc(&mut self.rng));
                        cfg.first_seq = (self.rng >> 16) as u16;
                        cfg.first_timestamp = (self.rng >> 32) as u32;
                        match Transcode::new(&cfg, now) {
                            Ok(t) => Path::Transcode {
                                from_pt: fp,
                                to_pt: tp,
                                t: Box::new(t),
                            },
                            Err(e) => {
                                result = Err(e);
                                Path::Forward { audio_pt: None }
                            }
                        }
                    }
                },
                // A codec we do not process, or not negotiated yet: forward as it comes.
                _ => Path::Forward { audio_pt: None },
            };
            self.paths[index(src)] = path;
        }
        result
    }
}

/// Decodes a G.711 payload and runs the in-band detector over it; returns how many keys it
/// found.
fn detect_inband(detector: &mut InbandDetector, codec: Option<AudioCodec>, payload: &[u8]) -> u64 {
    let Some(law) = codec.and_then(AudioCodec::law) else {
        return 0;
    };
    let before = detector.stats().digits;
    let mut pcm = [0i16; 160];
    for chunk in payload.chunks(pcm.len()) {
        if law.decode(chunk, &mut pcm[..chunk.len()]).is_ok() {
            detector.process(&pcm[..chunk.len()]);
        }
    }
    detector.stats().digits - before
}

/// Reports the keys the detector found: a start and an end each (it reports presses only).
fn push_inband(events: &mut VecDeque<RelayEvent>, leg: Leg, detector: &mut InbandDetector) {
    while let Some(digit) = detector.poll() {
        for end in [false, true] {
            events.push_back(RelayEvent::Dtmf { leg, digit, end });
        }
    }
}

fn push_dtmf(events: &mut VecDeque<RelayEvent>, leg: Leg, ev: DtmfEvent) {
    let (digit, end) = match ev {
        DtmfEvent::Start { digit } => (digit, false),
        DtmfEvent::End { digit, .. } => (digit, true),
    };
    events.push_back(RelayEvent::Dtmf { leg, digit, end });
}

/// splitmix64: a fresh, well-mixed 32-bit SSRC per call (RFC 3550 §8 asks for random ones).
fn next_ssrc(state: &mut u64) -> u32 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::TelephoneEvent;
    use crate::record::RecordError;
    use crate::stream::RtpFields;
    use codec::{G711Law, OpusDecoder, SampleRate};

    const PCMA: u8 = 8;
    const OPUS_A: u8 = 111;
    const OPUS_B: u8 = 96;
    const TE_A: u8 = 101;
    const TE_B: u8 = 100;

    fn media(codec: Codec, te: Option<u8>) -> LegMedia {
        LegMedia {
            codec: Some(codec),
            telephone_event: te,
            detect_inband_dtmf: false,
        }
    }

    fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 12 + payload.len()];
        let fields = RtpFields {
            marker,
            payload_type: pt,
            seq,
            timestamp: ts,
            ssrc,
        };
        write_rtp(&mut p, fields, payload).expect("room");
        p
    }

    fn head(p: &[u8]) -> (bool, u8, u16, u32, u32) {
        let h = RtpHeader::parse(p).expect("valid");
        (
            h.marker(),
            h.payload_type(),
            h.sequence(),
            h.timestamp(),
            h.ssrc(),
        )
    }

    fn events(b: &mut MediaBridge) -> Vec<RelayEvent> {
        std::iter::from_fn(|| b.poll_event()).collect()
    }

    /// Everything the bridge sends at `now`.
    fn transmit(b: &mut MediaBridge, now: Instant) -> Vec<(Leg, Vec<u8>)> {
        let mut buf = [0u8; 1500];
        std::iter::from_fn(|| {
            b.poll_transmit(now, &mut buf)
                .map(|(l, n)| (l, buf[..n].to_vec()))
        })
        .collect()
    }

    /// The telephone-event packets a phone sends for one 100 ms key at 8 kHz, ends repeated.
    fn key(digit: u8, ts: u32, first_seq: u16) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (i, (duration, end)) in [(160, false), (320, false), (480, false), (800, true)]
            .into_iter()
            .chain([(800, true), (800, true)])
            .enumerate()
        {
            let te = TelephoneEvent {
                event: digit,
                end,
                volume: 10,
                duration,
            };
            out.push(rtp(
                TE_A,
                i == 0,
                first_seq + i as u16,
                ts,
                0xa,
                &te.to_bytes(),
            ));
        }
        out
    }

    fn bridge(a: LegMedia, b: LegMedia, now: Instant) -> MediaBridge {
        MediaBridge::new(a, b, [8000, 8000], 7, now).expect("bridge")
    }

    #[test]
    fn same_codec_forwards_renumbering_payload_types_and_relays_keys() {
        let t0 = Instant::now();
        let opus = |pt| Codec::new(pt, "opus", 48_000, 2);
        let mut b = bridge(
            media(opus(OPUS_A), Some(TE_A)),
            media(opus(OPUS_B), Some(TE_B)),
            t0,
        );
        assert!(!b.is_transcoding());
        let mut p = rtp(OPUS_A, true, 10, 960, 0xa, &[0x78, 1, 2, 3]);
        let mut want = p.clone();
        want[1] = 0x80 | OPUS_B;
        assert!(b.on_rtp(Leg::A, &mut p, true, t0));
        assert_eq!(p, want, "only the payload type changes");
        // A key from A: detected once, relayed with B's payload type, same numbers.
        let mut relayed = Vec::new();
        for (i, mut k) in key(5, 1920, 11).into_iter().enumerate() {
            let at = t0 + TICK * i as u32;
            if b.on_rtp(Leg::A, &mut k, true, at) {
                relayed.push(head(&k));
            }
        }
        assert_eq!(relayed.len(), 6);
        assert!(relayed
            .iter()
            .all(|h| h.1 == TE_B && h.3 == 1920 && h.4 == 0xa));
        assert_eq!(
            events(&mut b),
            [
                RelayEvent::Dtmf {
                    leg: Leg::A,
                    digit: '5',
                    end: false
                },
                RelayEvent::Dtmf {
                    leg: Leg::A,
                    digit: '5',
                    end: true
                },
            ]
        );
        // Unknown to B? Then not relayed, still detected.
        b.set_media(Leg::B, media(opus(OPUS_B), None), t0)
            .expect("set");
        let mut k = key(9, 4000, 20).remove(0);
        assert!(!b.on_rtp(Leg::A, &mut k, true, t0));
        assert_eq!(events(&mut b).len(), 1);
        assert_eq!(b.stats().events_not_relayed, 1);
        assert_eq!(
            b.poll_timeout(),
            Some(t0 + EVENT_IDLE),
            "an open key waits for its end"
        );
        assert!(transmit(&mut b, t0 + EVENT_IDLE).is_empty());
        assert_eq!(
            events(&mut b),
            [RelayEvent::Dtmf {
                leg: Leg::A,
                digit: '9',
                end: true
            }],
            "closed when its end packets never came"
        );
    }

    #[test]
    fn prompt_replaces_the_other_leg_then_hands_back_with_continuous_numbers() {
        let t0 = Instant::now();
        let pcma = || Codec::new(PCMA, "PCMA", 8000, 1);
        let mut b = bridge(media(pcma(), None), media(pcma(), None), t0);
        let mut to_a = Vec::new();
        let mut seq = 100u16;
        let mut from_b = |b: &mut MediaBridge, at: Instant, to_a: &mut Vec<(u16, u32, bool)>| {
            let mut p = rtp(PCMA, false, seq, u32::from(seq) * 160, 0xb, &[0xd5; 160]);
            seq += 1;
            if b.on_rtp(Leg::B, &mut p, true, at) {
                let h = head(&p);
                to_a.push((h.2, h.3, h.0));
            }
        };
        from_b(&mut b, t0, &mut to_a);
        from_b(&mut b, t0 + TICK, &mut to_a);
        let pcm: Vec<i16> = (0..800).map(|i| ((i % 40) * 400 - 8000) as i16).collect();
        let prompt = Arc::new(Prompt::from_samples(&pcm, SampleRate::Hz8000).expect("prompt"));
        let start = t0 + TICK * 2;
        b.play(Leg::A, prompt, false, start);
        assert!(b.is_playing(Leg::A));
        let mut now = start;
        let mut prompt_packets = 0;
        while b.is_playing(Leg::A) {
            now = b.poll_timeout().expect("playing");
            from_b(&mut b, now, &mut to_a);
            for (leg, p) in transmit(&mut b, now) {
                assert_eq!(leg, Leg::A);
                let h = head(&p);
                assert_eq!(h.4, 0xb, "the phone keeps seeing one SSRC");
                to_a.push((h.2, h.3, h.0));
                prompt_packets += 1;
            }
        }
        assert_eq!(prompt_packets, 5);
        assert_eq!(events(&mut b), [RelayEvent::PlaybackDone { leg: Leg::A }]);
        assert_eq!(b.stats().replaced, 5);
        from_b(&mut b, now + TICK, &mut to_a);
        assert_eq!(to_a.len(), 2 + 5 + 1);
        for w in to_a.windows(2) {
            assert_eq!(w[1].0, w[0].0.wrapping_add(1), "sequence continues");
            assert_eq!(w[1].1, w[0].1 + 160, "timestamps follow 20 ms");
        }
        let markers: Vec<bool> = to_a.iter().map(|x| x.2).collect();
        assert_eq!(
            markers,
            [false, false, true, false, false, false, false, true]
        );
        // Stopping is silent.
        let prompt = Arc::new(Prompt::from_samples(&pcm, SampleRate::Hz8000).expect("prompt"));
        b.play(Leg::B, prompt, true, now);
        b.stop_playback(Leg::B);
        assert!(transmit(&mut b, now + TICK).is_empty());
        assert!(events(&mut b).is_empty());
    }

    #[test]
    fn send_dtmf_paces_rfc4733_packets_and_mutes_the_other_leg() {
        let t0 = Instant::now();
        let opus = |pt| Codec::new(pt, "opus", 48_000, 2);
        let mut b = bridge(
            media(opus(OPUS_A), Some(TE_A)),
            media(opus(OPUS_B), None),
            t0,
        );
        b.send_dtmf(Leg::A, "1#x", t0);
        b.send_dtmf(Leg::B, "2", t0);
        assert_eq!(
            b.stats().digits_refused,
            2,
            "x is no key; B has no telephone-event"
        );
        let mut sent = Vec::new();
        let mut now = t0;
        while let Some(due) = b.poll_timeout() {
            now = due;
            let mut p = rtp(OPUS_B, false, 1, 0, 0xb, &[0x78; 20]);
            assert!(
                !b.on_rtp(Leg::B, &mut p, true, now),
                "B's audio muted meanwhile"
            );
            for (leg, p) in transmit(&mut b, now) {
                assert_eq!(leg, Leg::A);
                let h = RtpHeader::parse(&p).expect("valid");
                let te = TelephoneEvent::parse(h.payload()).expect("event");
                sent.push((h.marker(), h.payload_type(), h.timestamp(), te, now));
            }
        }
        // Two keys of 100 ms: 5 updates + 2 repeated ends each, 48 kHz units.
        assert_eq!(sent.len(), 14);
        let (first, second) = sent.split_at(7);
        for (k, event) in [(first, 1u8), (second, 11u8)] {
            assert!(
                k[0].0 && k[1..].iter().all(|s| !s.0),
                "marker on the first only"
            );
            assert!(k
                .iter()
                .all(|s| s.1 == TE_A && s.2 == k[0].2 && s.3.event == event));
            assert_eq!(k[4].3.duration, 4800);
            assert_eq!(k.iter().filter(|s| s.3.end).count(), 3);
            for w in k.windows(2) {
                assert_eq!(w[1].4 - w[0].4, TICK, "one packet per 20 ms");
            }
        }
        let gap = second[0].4 - first[6].4;
        assert_eq!(gap, TICK + DTMF_GAP);
        assert!(second[0].2.wrapping_sub(first[0].2) >= 48 * 200);
        assert_eq!(b.stats().digits_sent, 2);
        let mut p = rtp(OPUS_B, false, 2, 960, 0xb, &[0x78; 20]);
        assert!(
            b.on_rtp(Leg::B, &mut p, true, now + TICK),
            "B heard again afterwards"
        );
    }

    fn tone(hz: f64, start: usize, len: usize) -> Vec<i16> {
        (start..start + len)
            .map(|i| (9000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn pcma_and_opus_legs_are_transcoded_both_ways_and_keys_regenerated() {
        let t0 = Instant::now();
        let a = media(Codec::new(PCMA, "PCMA", 8000, 1), Some(TE_A));
        let b_media = media(Codec::new(OPUS_B, "opus", 48_000, 2), Some(TE_B));
        let mut b = bridge(a, b_media, t0);
        assert!(b.is_transcoding());
        let mut at_b = Vec::new();
        let mut at_a = 0;
        let mut opus =
            codec::OpusEncoder::new(&codec::OpusConfig::voip(SampleRate::Hz8000)).expect("encoder");
        for i in 0..50u16 {
            let now = t0 + TICK * u32::from(i);
            let mut codes = [0u8; 160];
            G711Law::Alaw
                .encode(&tone(440.0, usize::from(i) * 160, 160), &mut codes)
                .expect("encode");
            let mut p = rtp(PCMA, false, i, u32::from(i) * 160, 0xa, &codes);
            assert!(
                !b.on_rtp(Leg::A, &mut p, true, now),
                "consumed by the transcoder"
            );
            let mut enc = [0u8; 400];
            let n = opus
                .encode(&tone(440.0, usize::from(i) * 160, 160), &mut enc)
                .expect("enc");
            let mut p = rtp(OPUS_B, false, i, u32::from(i) * 960, 0xb, &enc[..n]);
            assert!(!b.on_rtp(Leg::B, &mut p, true, now));
            for (leg, p) in transmit(&mut b, now) {
                let h = RtpHeader::parse(&p).expect("valid");
                match leg {
                    Leg::B => {
                        assert_eq!(h.payload_type(), OPUS_B);
                        at_b.push(h.payload().to_vec());
                    }
                    Leg::A => {
                        assert_eq!((h.payload_type(), h.payload().len()), (PCMA, 160));
                        at_a += 1;
                    }
                }
            }
        }
        assert!(at_b.len() >= 45 && at_a >= 45, "{} {}", at_b.len(), at_a);
        let mut dec = OpusDecoder::new(SampleRate::Hz48000).expect("decoder");
        let mut frame = [0i16; 960];
        for p in &at_b {
            assert_eq!(dec.decode(p, &mut frame), Ok(960));
        }
        let stats = b.stats();
        assert!(stats.transcode[0].is_some_and(|s| s.sent as usize == at_b.len()));
        // A key from A (8 kHz events) reaches B as 48 kHz events after its release.
        let now = t0 + TICK * 50;
        for (i, mut k) in key(7, 8000, 60).into_iter().enumerate() {
            assert!(!b.on_rtp(Leg::A, &mut k, true, now + TICK * i as u32));
        }
        let mut te = Vec::new();
        let mut t = now;
        for _ in 0..40 {
            t += TICK;
            for (leg, p) in transmit(&mut b, t) {
                let h = RtpHeader::parse(&p).expect("valid");
                if leg == Leg::B && h.payload_type() == TE_B {
                    te.push(TelephoneEvent::parse(h.payload()).expect("event"));
                }
            }
        }
        assert_eq!(te.len(), 7);
        assert!(te.iter().all(|e| e.event == 7));
        assert_eq!(te[6].duration, 4800, "100 ms at 48 kHz");
        // B renumbers Opus in a re-INVITE: a new transcoder, B's new payload type.
        let renumbered = media(Codec::new(97, "opus", 48_000, 2), Some(TE_B));
        b.set_media(Leg::B, renumbered, t).expect("set");
        let mut pts = Vec::new();
        for i in 0..10u16 {
            t += TICK;
            let mut p = rtp(
                PCMA,
                false,
                100 + i,
                u32::from(100 + i) * 160,
                0xa,
                &[0xd5; 160],
            );
            b.on_rtp(Leg::A, &mut p, true, t);
            pts.extend(
                transmit(&mut b, t)
                    .iter()
                    .filter(|(l, _)| *l == Leg::B)
                    .map(|(_, p)| p[1] & 0x7f),
            );
        }
        assert!(!pts.is_empty() && pts.iter().all(|&pt| pt == 97), "{pts:?}");
    }

    #[test]
    fn inband_tones_on_g711_are_detected_once_until_rfc4733_appears() {
        let t0 = Instant::now();
        let mut a = media(Codec::new(0, "PCMU", 8000, 1), Some(TE_A));
        a.detect_inband_dtmf = true;
        let mut b = bridge(a, LegMedia::default(), t0);
        let mut sample = 0usize;
        let send = |b: &mut MediaBridge, pcm: &[i16], seq: u16| {
            let mut codes = [0u8; 160];
            G711Law::Ulaw.encode(pcm, &mut codes).expect("encode");
            let mut p = rtp(0, false, seq, u32::from(seq) * 160, 0xa, &codes);
            b.on_rtp(Leg::A, &mut p, false, t0 + TICK * u32::from(seq));
        };
        // '5' = 770 Hz + 1336 Hz for 100 ms, then 100 ms of silence, twice.
        let mut seq = 0;
        for _ in 0..2 {
            for _ in 0..5 {
                let pcm: Vec<i16> = tone(770.0, sample, 160)
                    .iter()
                    .zip(tone(1336.0, sample, 160))
                    .map(|(x, y)| x / 2 + y / 2)
                    .collect();
                sample += 160;
                send(&mut b, &pcm, seq);
                seq += 1;
            }
            for _ in 0..5 {
                send(&mut b, &[0; 160], seq);
                seq += 1;
            }
        }
        let digits: Vec<RelayEvent> = events(&mut b);
        let five = |end| RelayEvent::Dtmf {
            leg: Leg::A,
            digit: '5',
            end,
        };
        assert_eq!(digits, [five(false), five(true), five(false), five(true)]);
        // The phone turns out to send RFC 4733 as well: tones are no longer listened for.
        let mut k = key(5, 99_999, 500).remove(0);
        b.on_rtp(Leg::A, &mut k, false, t0 + Duration::from_secs(1));
        assert_eq!(events(&mut b), [five(false)]);
        let pcm: Vec<i16> = tone(770.0, 0, 160)
            .iter()
            .zip(tone(1336.0, 0, 160))
            .map(|(x, y)| x / 2 + y / 2)
            .collect();
        for s in 0..5 {
            send(&mut b, &pcm, 600 + s);
        }
        assert!(events(&mut b).iter().all(|e| *e != five(false)));
        assert_eq!(b.stats().inband_digits, 2);
    }

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-bridge-record-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    type Done = std::sync::mpsc::Receiver<std::io::Result<crate::record::Saved>>;

    /// Starts recording `leg` into `dir/name`; the receiver gets the writer's report.
    fn start_recording(
        b: &mut MediaBridge,
        leg: Leg,
        writer: &crate::record::RecordWriter,
        path: std::path::PathBuf,
        now: Instant,
    ) -> Done {
        let config = b
            .record_config(leg, Duration::from_secs(60))
            .expect("config");
        let recorder = Recorder::new(&config, now).expect("recorder");
        let (tx, rx) = std::sync::mpsc::channel();
        let temp = crate::record::TempFile::create(path).expect("temp file");
        let sink = writer.open(
            temp,
            recorder.sample_rate(),
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        b.record(leg, recorder, sink, now);
        rx
    }

    #[test]
    fn a_recorded_leg_keeps_its_audio_under_a_prompt_with_no_other_leg_and_without_keys() {
        let t0 = Instant::now();
        let pcma = || Codec::new(PCMA, "PCMA", 8000, 1);
        let mut b = bridge(media(pcma(), Some(TE_A)), LegMedia::default(), t0);
        assert!(matches!(
            b.record_config(Leg::B, Duration::from_secs(1)),
            Err(RecordError::NoCodec)
        ));
        let dir = scratch_dir("prompt");
        let writer = crate::record::RecordWriter::spawn(256).expect("writer");
        let done = start_recording(&mut b, Leg::A, &writer, dir.join("vm.wav"), t0);
        assert!(b.is_recording(Leg::A));
        assert!(matches!(
            b.record_config(Leg::A, Duration::from_secs(1)),
            Err(RecordError::Busy)
        ));
        // The greeting's beep plays while the caller already talks.
        let beep: Vec<i16> = tone(1000.0, 0, 8000);
        let prompt = Arc::new(Prompt::from_samples(&beep, SampleRate::Hz8000).expect("prompt"));
        b.play(Leg::A, prompt, true, t0);
        let mut sent = Vec::new();
        let mut prompt_packets = 0;
        for i in 0..50u16 {
            let now = t0 + TICK * u32::from(i);
            let mut codes = [0u8; 160];
            G711Law::Alaw
                .encode(&tone(440.0, usize::from(i) * 160, 160), &mut codes)
                .expect("encode");
            sent.push(codes);
            let mut p = rtp(PCMA, false, i, u32::from(i) * 160, 0xa, &codes);
            assert!(!b.on_rtp(Leg::A, &mut p, false, now), "B does not exist");
            if i == 20 {
                for mut k in key(5, 99_999, 500) {
                    b.on_rtp(Leg::A, &mut k, false, now);
                }
            }
            prompt_packets += transmit(&mut b, now).len();
        }
        assert!(prompt_packets >= 45, "the prompt played: {prompt_packets}");
        let end = t0 + TICK * 50;
        b.stop_recording(Leg::A, end);
        assert!(!b.is_recording(Leg::A));
        let saved = done
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer reports")
            .expect("saved");
        let stats = b.stats().recording[0].expect("stats kept after the end");
        assert_eq!(
            (stats.received, stats.decoded, stats.ignored),
            (50, 50, 0),
            "keys never reach the recorder: {stats:?}"
        );
        assert_eq!(saved.samples, stats.frames * 160);
        let wav = codec::parse_wav(&std::fs::read(&saved.path).expect("file")).expect("wav");
        assert_eq!(wav.sample_rate, SampleRate::Hz8000);
        let lead = stats.silent as usize * 160;
        let mut want = vec![0i16; 50 * 160];
        for (codes, out) in sent.iter().zip(want.chunks_exact_mut(160)) {
            G711Law::Alaw.decode(codes, out).expect("decode");
        }
        assert_eq!(
            &wav.samples[lead..],
            &want[..],
            "the caller, not the prompt"
        );
        let events = events(&mut b);
        assert!(
            events.contains(&RelayEvent::Dtmf {
                leg: Leg::A,
                digit: '5',
                end: true
            }),
            "the key was detected: {events:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn renegotiating_another_codec_ends_the_recording_keeping_the_same_goes_on() {
        let t0 = Instant::now();
        let pcma = media(Codec::new(PCMA, "PCMA", 8000, 1), None);
        let mut b = bridge(pcma.clone(), LegMedia::default(), t0);
        let dir = scratch_dir("reinvite");
        let writer = crate::record::RecordWriter::spawn(256).expect("writer");
        let done = start_recording(&mut b, Leg::A, &writer, dir.join("vm.wav"), t0);
        let mut with_te = pcma.clone();
        with_te.telephone_event = Some(TE_A);
        b.set_media(Leg::A, with_te, t0).expect("same codec");
        assert!(
            b.is_recording(Leg::A),
            "same codec and payload type: goes on"
        );
        let pcmu = media(Codec::new(0, "PCMU", 8000, 1), None);
        b.set_media(Leg::A, pcmu, t0 + TICK).expect("other codec");
        assert!(!b.is_recording(Leg::A));
        let saved = done
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer reports")
            .expect("saved");
        assert!(saved.path.exists());
        assert!(b.stats().recording[0].is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
