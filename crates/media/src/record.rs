//! Recording what one leg's phone sends into a WAV file: the media side of voicemail.
//!
//! ```text
//! RTP of the leg ─▶ Recorder: jitter buffer ─▶ (every 20 ms) decode / FEC / PLC / silence ─▶ PCM
//!   PCM ─▶ RecordingSink ─▶ bounded queue ─▶ writer thread (one for all) ─▶ path.tmp ─▶ path
//! ```
//!
//! # What the file holds
//!
//! 16-bit mono PCM in a RIFF/WAVE file: **8 kHz for G.711 legs** (all G.711 carries) and
//! **16 kHz for Opus legs** (wideband, which is what Opus phones send for speech; libopus decodes
//! straight to 16 kHz, so no resampler, and the file is a third of a 48 kHz one). WAV rather than
//! Ogg/Opus: no muxer to maintain, every tool plays it, [`codec::parse_wav`] reads it back, and
//! a voicemail of a minute is 1–2 MB.
//!
//! One frame per 20 ms tick from the start, whatever the network did: the decoded packet; for a
//! lost one, Opus in-band FEC from the next packet, Opus PLC, or (G.711) the last frame repeated
//! at falling gain; zeros while the jitter buffer fills, during the sender's DTX pauses and for
//! comfort noise. So a recording lasts as long as it ran, and `max` cuts it at exactly `max`
//! (rounded down to 20 ms). A stop (or the session's end) first drains what is still buffered,
//! so the caller's last words are kept; a cut by `max` does not (the limit is the limit).
//!
//! The jitter buffer is set for completeness, not latency ([`RecordConfig::new`]): it never
//! drops a frame to shorten its delay, and holds up to a second.
//!
//! Not recorded: packets of any other payload type, telephone-events (RFC 4733 DTMF) first;
//! they are counted as `ignored`. A phone that pauses its audio while it sends a key leaves a
//! gap in the audio's sequence numbers; it is concealed like a loss.
//!
//! # Writing without blocking the relay
//!
//! [`Recorder`] is sans-IO: packets with their arrival time in, frames out of
//! [`Recorder::poll`] at `now`. Frames go into a [`RecordingSink`], which only queues them for
//! the [`RecordWriter`] thread, one thread for every recording of the process. The queue is
//! bounded in frames: a frame that finds it full is dropped and counted
//! ([`RecordingSink::dropped`]), never waited for, and the writer writes silence in its place, so
//! the file keeps its length. The start and the end of a recording always pass (one of each per
//! recording, so they cannot grow without bound).
//!
//! The writer appends to `path.tmp` ([`TempFile`]) after a header with placeholder sizes
//! (`0xFFFF_FFFF`, the "length unknown" of streaming WAV writers, so a file left by a crash can
//! still be salvaged with ffmpeg or sox). At the end it patches the sizes, syncs, renames to
//! `path` and syncs the directory, then calls the recording's `on_done` with what was
//! [`Saved`]. A file at `path` is always complete; a half-written one only ever exists as
//! `path.tmp`. A write error abandons the recording: the temporary file is removed and `on_done`
//! gets the error.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use codec::{G711Law, OpusDecoder, SampleRate};

use crate::jitter::{JitterBuffer, JitterConfig, JitterPacket, JitterStats, Playout};
use crate::relay::rtp::RtpHeader;
use crate::stream::AudioCodec;

/// Tick period: one frame.
pub const FRAME: Duration = Duration::from_millis(20);
/// Largest payload held by the jitter buffer (G.711 up to 60 ms, Opus up to 200 kbit/s).
pub const MAX_PAYLOAD: usize = 512;
/// Frames the writer's queue holds by default (all recordings together): 5.5 minutes of one
/// recording, a third of a second of a thousand.
pub const DEFAULT_QUEUE_FRAMES: usize = 16_384;
/// RFC 3389 comfort noise, static payload type.
const PT_COMFORT_NOISE: u8 = 13;
/// G.711 concealment: frames of falling gain (−6 dB each) before silence.
const G711_PLC_FRAMES: u32 = 3;
/// Samples in the largest frame we produce: 20 ms at 16 kHz.
const MAX_FRAME: usize = 320;
/// The longest Opus packet at 16 kHz: 120 ms.
const MAX_DECODED: usize = 1920;
/// Bytes of the RIFF/WAVE header we write.
const WAV_HEADER_LEN: u32 = 44;
/// Longest data chunk a RIFF size field can describe.
const MAX_DATA_BYTES: u64 = (u32::MAX - (WAV_HEADER_LEN - 8)) as u64;

/// Why a recording could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The leg has no negotiated codec we decode (PCMA, PCMU, Opus).
    #[error("the leg has no codec we can record")]
    NoCodec,
    /// The leg is being recorded already.
    #[error("the leg is already being recorded")]
    Busy,
    /// The decoder could not be built.
    #[error("codec: {0}")]
    Codec(#[from] codec::Error),
    /// The jitter buffer refused its configuration.
    #[error("jitter buffer: {0}")]
    Jitter(#[from] crate::Error),
    /// The file (or the writer thread) could not be created.
    #[error("recording file: {0}")]
    Io(#[from] io::Error),
}

/// How to record one leg.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordConfig {
    /// The leg's audio codec.
    pub codec: AudioCodec,
    /// Its payload type on that leg; other payload types are not recorded.
    pub payload_type: u8,
    /// Longest recording; it ends by itself after this (rounded down to 20 ms).
    pub max: Duration,
    /// The input's jitter buffer; its clock and frame size are set from `codec`.
    pub jitter: JitterConfig,
}

impl RecordConfig {
    /// Defaults for recording: the jitter buffer never drops audio to cut its delay
    /// (`adapt_in_talkspurt` off; its delay only grows, to the largest spike seen, which costs
    /// a recording nothing), waits up to 1 s for a packet, holds 64 (1.3 s).
    pub fn new(codec: AudioCodec, payload_type: u8, max: Duration) -> RecordConfig {
        let mut jitter = JitterConfig::new(codec.clock_rate(), codec.frame_ticks());
        jitter.adapt_in_talkspurt = false;
        jitter.max_delay = Duration::from_secs(1);
        jitter.max_packets = 64;
        RecordConfig {
            codec,
            payload_type,
            max,
            jitter,
        }
    }
}

/// The rate a leg of `codec` is recorded at: 8 kHz for G.711, 16 kHz for Opus.
pub const fn record_rate(codec: AudioCodec) -> SampleRate {
    match codec {
        AudioCodec::Pcma | AudioCodec::Pcmu => SampleRate::Hz8000,
        AudioCodec::Opus => SampleRate::Hz16000,
    }
}

/// Counters of one recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Frames produced: the recording's length in 20 ms.
    pub frames: u64,
    /// Packets of the recorded payload type (or comfort noise) handed to the jitter buffer.
    pub received: u64,
    /// Packets of other payload types (telephone-events...), not recorded.
    pub ignored: u64,
    /// Packets not RTP, empty, or larger than [`MAX_PAYLOAD`].
    pub refused: u64,
    /// Frames decoded from a packet.
    pub decoded: u64,
    /// Lost frames rebuilt from the next packet's Opus FEC.
    pub fec: u64,
    /// Frames concealed (Opus PLC, G.711 repetition): losses, and waits for a late packet.
    pub concealed: u64,
    /// Frames of silence: buffering, DTX pauses, comfort noise.
    pub silent: u64,
    /// Packets the jitter buffer declared lost.
    pub lost: u64,
    /// Packets whose audio was not 20 ms (cut or padded).
    pub wrong_duration: u64,
    /// Packets the decoder refused (concealed instead).
    pub decode_errors: u64,
    /// Frames the writer's queue could not take (written as silence).
    pub queue_dropped: u64,
}

/// A payload held inline in the jitter buffer, so buffering allocates nothing.
#[derive(Clone)]
struct Payload {
    len: u16,
    bytes: [u8; MAX_PAYLOAD],
}

impl Payload {
    fn new(data: &[u8]) -> Option<Payload> {
        if data.is_empty() {
            return None;
        }
        let mut bytes = [0u8; MAX_PAYLOAD];
        bytes.get_mut(..data.len())?.copy_from_slice(data);
        Some(Payload {
            // At most MAX_PAYLOAD, which fits a u16.
            len: data.len() as u16,
            bytes,
        })
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The decoding half of a leg's audio path: one frame of PCM per call.
enum FrameDecoder {
    G711 {
        law: G711Law,
        /// Last good frame and how many times it has been repeated since.
        last: Box<[i16; 160]>,
        repeats: u32,
    },
    Opus {
        decoder: OpusDecoder,
        /// Room for the longest packet Opus may carry.
        scratch: Box<[i16]>,
    },
}

/// A stop in progress: buffered frames come out at virtual times after `at`.
#[derive(Clone, Copy, Debug)]
struct Drain {
    at: Instant,
    steps: u32,
}

/// The sans-IO recorder of one leg. See the module docs.
pub struct Recorder {
    codec: AudioCodec,
    payload_type: u8,
    rate: SampleRate,
    jitter: JitterBuffer<Payload>,
    decoder: FrameDecoder,
    /// The frame being produced; `frame` samples of it are valid.
    pcm: [i16; MAX_FRAME],
    frame: usize,
    /// When the next tick is due.
    due: Instant,
    max_frames: u64,
    drain: Option<Drain>,
    /// Most drain steps: every buffered packet, plus a stall's concealment, plus margin.
    drain_limit: u32,
    finished: bool,
    stats: RecordStats,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("codec", &self.codec)
            .field("rate", &self.rate)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder whose first frame is due 20 ms after `start`.
    pub fn new(config: &RecordConfig, start: Instant) -> Result<Recorder, RecordError> {
        let rate = record_rate(config.codec);
        let decoder = match config.codec.law() {
            Some(law) => FrameDecoder::G711 {
                law,
                last: Box::new([0; 160]),
                repeats: G711_PLC_FRAMES,
            },
            None => FrameDecoder::Opus {
                decoder: OpusDecoder::new(rate)?,
                scratch: vec![0; MAX_DECODED].into_boxed_slice(),
            },
        };
        let mut jitter = config.jitter.clone();
        jitter.clock_rate = config.codec.clock_rate();
        jitter.frame_samples = config.codec.frame_ticks();
        let frame_ms = FRAME.as_millis().max(1);
        let max_frames = u64::try_from(config.max.as_millis() / frame_ms).unwrap_or(u64::MAX);
        let held = jitter.max_packets.max(
            usize::try_from(2 * jitter.max_delay.as_millis() / frame_ms).unwrap_or(usize::MAX),
        );
        let drain_limit = u32::try_from(held)
            .unwrap_or(u32::MAX)
            .saturating_add(jitter.max_plc_frames)
            .saturating_add(2);
        Ok(Recorder {
            codec: config.codec,
            payload_type: config.payload_type,
            rate,
            jitter: JitterBuffer::new(jitter)?,
            decoder,
            pcm: [0; MAX_FRAME],
            frame: rate.frame_20ms(),
            due: start + FRAME,
            max_frames,
            drain: None,
            drain_limit,
            finished: max_frames == 0,
            stats: RecordStats::default(),
        })
    }

    /// An RTP packet from the leg's phone, arrived at `arrival`. Only the recorded payload type
    /// and comfort noise are kept; anything else is counted and ignored.
    pub fn on_packet(&mut self, packet: &[u8], arrival: Instant) {
        let Ok(header) = RtpHeader::parse(packet) else {
            self.stats.refused += 1;
            return;
        };
        let comfort_noise = header.payload_type() == PT_COMFORT_NOISE;
        if header.payload_type() != self.payload_type && !comfort_noise {
            self.stats.ignored += 1;
            return;
        }
        let Some(payload) = Payload::new(header.payload()) else {
            self.stats.refused += 1;
            return;
        };
        self.stats.received += 1;
        let packet = JitterPacket::new(
            header.sequence(),
            header.timestamp(),
            header.ssrc(),
            payload,
            arrival,
        )
        .with_marker(header.marker())
        .with_comfort_noise(comfort_noise);
        let _ = self.jitter.insert(packet, arrival);
    }

    /// The next frame due at `now` (exactly [`Recorder::frame_samples`] samples at
    /// [`Recorder::sample_rate`]). Call until `None`: a late caller gets every frame it missed
    /// (the recording keeps its length), a stopped recorder its buffered frames. Then
    /// [`Recorder::is_finished`] tells whether the recording is over.
    pub fn poll(&mut self, now: Instant) -> Option<&[i16]> {
        if self.finished {
            return None;
        }
        let ticking = match self.drain {
            None => self.due <= now,
            Some(drain) => self.due <= drain.at,
        };
        let at = if ticking {
            self.due += FRAME;
            now
        } else if let Some(drain) = &mut self.drain {
            if self.jitter.buffered() == 0 || drain.steps >= self.drain_limit {
                self.finished = true;
                return None;
            }
            drain.steps += 1;
            drain.at + FRAME * drain.steps
        } else {
            return None;
        };
        self.produce(at);
        self.stats.frames += 1;
        if self.stats.frames >= self.max_frames {
            self.finished = true;
        }
        Some(&self.pcm[..self.frame])
    }

    /// Ends the recording at `now`: the ticks due until then and the frames still buffered come
    /// out of the next [`Recorder::poll`] calls (any `now` will do), up to `max`; then it is
    /// finished.
    pub fn stop(&mut self, now: Instant) {
        if self.drain.is_none() {
            self.drain = Some(Drain { at: now, steps: 0 });
        }
    }

    /// When [`Recorder::poll`] next has a frame; `None` once finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        Some(match self.drain {
            Some(drain) => self.due.min(drain.at),
            None => self.due,
        })
    }

    /// The recording reached `max`, or was stopped and drained.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Length of what was produced so far.
    pub fn duration(&self) -> Duration {
        FRAME * u32::try_from(self.stats.frames).unwrap_or(u32::MAX)
    }

    /// Rate of the PCM produced.
    pub fn sample_rate(&self) -> SampleRate {
        self.rate
    }

    /// Samples in each frame (160 or 320).
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// The codec and payload type recorded.
    pub fn codec(&self) -> (AudioCodec, u8) {
        (self.codec, self.payload_type)
    }

    /// Counters (`queue_dropped` is the sink's; see [`RecordingSink::dropped`]).
    pub fn stats(&self) -> RecordStats {
        RecordStats {
            lost: self.jitter.stats().lost,
            ..self.stats
        }
    }

    /// Counters of the input's jitter buffer.
    pub fn jitter_stats(&self) -> JitterStats {
        self.jitter.stats()
    }

    /// Fills `pcm[..frame]` for one tick, popping the jitter buffer at `now`.
    fn produce(&mut self, now: Instant) {
        match self.jitter.pop(now) {
            Playout::Frame(packet) if packet.comfort_noise => self.silence(),
            Playout::Frame(packet) => {
                if self.decode(packet.payload.as_slice()) {
                    self.stats.decoded += 1;
                } else {
                    self.stats.decode_errors += 1;
                    self.conceal();
                }
            }
            Playout::Conceal { fec_from } => {
                let frame = self.frame;
                let rebuilt = match (&mut self.decoder, fec_from) {
                    (FrameDecoder::Opus { decoder, .. }, Some(next)) => decoder
                        .decode_fec(next.payload.as_slice(), &mut self.pcm[..frame])
                        .is_ok_and(|n| n == frame),
                    _ => false,
                };
                if rebuilt {
                    self.stats.fec += 1;
                } else {
                    self.conceal();
                }
            }
            Playout::ComfortNoise | Playout::Silence | Playout::Empty => self.silence(),
        }
    }

    fn silence(&mut self) {
        self.stats.silent += 1;
        self.pcm[..self.frame].fill(0);
        if let FrameDecoder::G711 { repeats, .. } = &mut self.decoder {
            // Nothing left to repeat after a pause.
            *repeats = G711_PLC_FRAMES;
        }
    }

    /// Decodes one packet into exactly one frame; `false` on a decoder error.
    fn decode(&mut self, payload: &[u8]) -> bool {
        let frame = self.frame;
        let pcm = &mut self.pcm[..frame];
        let n = match &mut self.decoder {
            FrameDecoder::G711 { law, last, repeats } => {
                let take = payload.len().min(frame);
                if law.decode(&payload[..take], &mut pcm[..take]).is_err() {
                    return false;
                }
                pcm[take..].fill(0);
                last.copy_from_slice(pcm);
                *repeats = 0;
                payload.len()
            }
            FrameDecoder::Opus { decoder, scratch } => match decoder.decode(payload, scratch) {
                Ok(n) => {
                    let take = n.min(frame);
                    pcm[..take].copy_from_slice(&scratch[..take]);
                    pcm[take..].fill(0);
                    n
                }
                Err(_) => return false,
            },
        };
        if n != frame {
            self.stats.wrong_duration += 1;
        }
        true
    }

    /// Fills one frame for a lost packet.
    fn conceal(&mut self) {
        self.stats.concealed += 1;
        let pcm = &mut self.pcm[..self.frame];
        match &mut self.decoder {
            FrameDecoder::Opus { decoder, .. } => {
                if decoder.conceal(pcm).is_err() {
                    pcm.fill(0);
                }
            }
            FrameDecoder::G711 { last, repeats, .. } => {
                *repeats = repeats.saturating_add(1);
                let shift = *repeats;
                for (out, &x) in pcm.iter_mut().zip(last.iter()) {
                    *out = if shift > G711_PLC_FRAMES {
                        0
                    } else {
                        x >> shift
                    };
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// A recording's file while it is written: `path.tmp`, renamed to `path` once complete.
/// Dropped without being handed to a [`RecordWriter`], it removes its file (best effort).
#[derive(Debug)]
pub struct TempFile {
    file: Option<File>,
    temp: PathBuf,
    path: PathBuf,
}

impl TempFile {
    /// Creates (or truncates a leftover) `path.tmp`. Blocking file I/O: call it off the relay
    /// task.
    pub fn create(path: PathBuf) -> io::Result<TempFile> {
        let mut temp = path.clone().into_os_string();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        let file = File::create(&temp)?;
        Ok(TempFile {
            file: Some(file),
            temp,
            path,
        })
    }

    /// Where the finished recording goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where it is written meanwhile.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Removes the temporary file (a recording that will not happen). Blocking file I/O.
    pub fn discard(mut self) -> io::Result<()> {
        self.file = None;
        std::fs::remove_file(&self.temp)
    }

    fn into_parts(mut self) -> Option<(File, PathBuf, PathBuf)> {
        let file = self.file.take()?;
        Some((
            file,
            std::mem::take(&mut self.temp),
            std::mem::take(&mut self.path),
        ))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// A recording in place at its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    /// Where it is.
    pub path: PathBuf,
    /// Its rate.
    pub sample_rate: SampleRate,
    /// Samples written, silence for dropped frames included.
    pub samples: u64,
    /// Frames the queue could not take, written as silence.
    pub dropped_frames: u64,
}

impl Saved {
    /// Length of the recording.
    pub fn duration(&self) -> Duration {
        let hz = u64::from(self.sample_rate.hz());
        Duration::from_micros(self.samples.saturating_mul(1_000_000) / hz)
    }

    /// Length in milliseconds (saturating).
    pub fn duration_ms(&self) -> u32 {
        u32::try_from(self.duration().as_millis()).unwrap_or(u32::MAX)
    }
}

/// Called once by the writer thread when a recording is in place, or failed (its temporary
/// file removed). Runs on the writer thread: it must not block.
pub type OnDone = Box<dyn FnOnce(io::Result<Saved>) + Send>;

/// A message to the writer thread. Frames are by far the most common message and travel
/// inline, so queueing one does not allocate.
#[allow(clippy::large_enum_variant)]
enum Job {
    Open {
        id: u64,
        temp: TempFile,
        rate: SampleRate,
        on_done: OnDone,
    },
    Frame {
        id: u64,
        /// Frames dropped just before this one, to write as silence.
        silence_before: u32,
        len: u16,
        samples: [i16; MAX_FRAME],
    },
    Finish {
        id: u64,
        silence_before: u32,
    },
}

/// The handle on the writer thread shared by all recordings. Cloneable; the thread ends once
/// the last handle and the last [`RecordingSink`] are gone and their files are finished.
#[derive(Clone, Debug)]
pub struct RecordWriter {
    jobs: mpsc::Sender<Job>,
    /// Frames queued and not yet taken by the thread.
    queued: Arc<AtomicUsize>,
    capacity: usize,
    next_id: Arc<AtomicU64>,
}

impl RecordWriter {
    /// Starts the writer thread with a queue of `capacity` frames (all recordings together).
    pub fn spawn(capacity: usize) -> io::Result<RecordWriter> {
        let (writer, jobs) = RecordWriter::unstarted(capacity);
        let queued = writer.queued.clone();
        std::thread::Builder::new()
            .name("record-writer".into())
            .spawn(move || write_jobs(&jobs, &queued))?;
        Ok(writer)
    }

    /// The handle and the queue's receiving end, with no thread yet.
    fn unstarted(capacity: usize) -> (RecordWriter, mpsc::Receiver<Job>) {
        let (jobs, rx) = mpsc::channel();
        let writer = RecordWriter {
            jobs,
            queued: Arc::new(AtomicUsize::new(0)),
            capacity: capacity.max(1),
            next_id: Arc::new(AtomicU64::new(0)),
        };
        (writer, rx)
    }

    /// Starts writing a recording of `rate` into `temp`; `on_done` follows its end.
    pub fn open(&self, temp: TempFile, rate: SampleRate, on_done: OnDone) -> RecordingSink {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // If the thread is gone the job comes back: dropping it drops `temp`, which removes the
        // file, and the sink's frames are then all counted as dropped.
        let _ = self.jobs.send(Job::Open {
            id,
            temp,
            rate,
            on_done,
        });
        RecordingSink {
            id,
            jobs: self.jobs.clone(),
            queued: self.queued.clone(),
            capacity: self.capacity,
            pending_silence: 0,
            dropped: 0,
        }
    }
}

/// One recording's end of the writer's queue. Pushing never blocks; dropping the sink (or
/// [`RecordingSink::finish`]) ends the recording: the writer finalises the file.
#[derive(Debug)]
pub struct RecordingSink {
    id: u64,
    jobs: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
    /// Frames dropped since the last one queued.
    pending_silence: u32,
    dropped: u64,
}

impl RecordingSink {
    /// Queues one frame (at most 320 samples; more are cut). When the queue is full the frame
    /// is dropped and counted; the writer puts silence in its place.
    pub fn push(&mut self, pcm: &[i16]) {
        if self.queued.load(Ordering::Relaxed) >= self.capacity {
            self.drop_frame();
            return;
        }
        let len = pcm.len().min(MAX_FRAME);
        let mut samples = [0i16; MAX_FRAME];
        samples[..len].copy_from_slice(&pcm[..len]);
        self.queued.fetch_add(1, Ordering::Relaxed);
        let job = Job::Frame {
            id: self.id,
            silence_before: self.pending_silence,
            // At most MAX_FRAME.
            len: len as u16,
            samples,
        };
        if self.jobs.send(job).is_err() {
            // The writer thread is gone.
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.drop_frame();
            return;
        }
        self.pending_silence = 0;
    }

    /// Frames dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Ends the recording (same as dropping the sink).
    pub fn finish(self) {}

    fn drop_frame(&mut self) {
        self.dropped += 1;
        self.pending_silence = self.pending_silence.saturating_add(1);
    }
}

impl Drop for RecordingSink {
    fn drop(&mut self) {
        let _ = self.jobs.send(Job::Finish {
            id: self.id,
            silence_before: self.pending_silence,
        });
    }
}

/// A file being written by the thread.
struct Active {
    out: BufWriter<File>,
    temp: PathBuf,
    path: PathBuf,
    rate: SampleRate,
    samples: u64,
    dropped_frames: u64,
    /// The first write error; the recording is abandoned at its end.
    error: Option<io::Error>,
    on_done: OnDone,
}

impl Active {
    fn write_silence(&mut self, frames: u32) {
        self.dropped_frames += u64::from(frames);
        let zeros = [0i16; MAX_FRAME];
        let frame = self.rate.frame_20ms();
        for _ in 0..frames {
            self.write(&zeros[..frame]);
        }
    }

    fn write(&mut self, pcm: &[i16]) {
        if self.error.is_some() || (self.samples + pcm.len() as u64) * 2 > MAX_DATA_BYTES {
            return;
        }
        let mut bytes = [0u8; 2 * MAX_FRAME];
        for (b, s) in bytes.chunks_exact_mut(2).zip(pcm) {
            b.copy_from_slice(&s.to_le_bytes());
        }
        match self.out.write_all(&bytes[..2 * pcm.len()]) {
            Ok(()) => self.samples += pcm.len() as u64,
            Err(e) => self.error = Some(e),
        }
    }

    /// Sizes patched, data synced, renamed into place.
    fn finish(self) {
        let Active {
            out,
            temp,
            path,
            rate,
            samples,
            dropped_frames,
            error,
            on_done,
        } = self;
        let result = match error {
            Some(e) => Err(e),
            None => finalise(out, &temp, &path, samples),
        };
        let result = match result {
            Ok(()) => Ok(Saved {
                path,
                sample_rate: rate,
                samples,
                dropped_frames,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(e)
            }
        };
        on_done(result);
    }
}

/// The writer thread: runs jobs until every sender is gone.
fn write_jobs(jobs: &mpsc::Receiver<Job>, queued: &AtomicUsize) {
    let mut active: HashMap<u64, Active> = HashMap::new();
    for job in jobs {
        match job {
            Job::Open {
                id,
                temp,
                rate,
                on_done,
            } => {
                let Some((file, temp, path)) = temp.into_parts() else {
                    continue;
                };
                let mut out = BufWriter::with_capacity(16 * 1024, file);
                let error = out.write_all(&wav_header(rate.hz(), None)).err();
                active.insert(
                    id,
                    Active {
                        out,
                        temp,
                        path,
                        rate,
                        samples: 0,
                        dropped_frames: 0,
                        error,
                        on_done,
                    },
                );
            }
            Job::Frame {
                id,
                silence_before,
                len,
                samples,
            } => {
                queued.fetch_sub(1, Ordering::Relaxed);
                if let Some(file) = active.get_mut(&id) {
                    file.write_silence(silence_before);
                    file.write(&samples[..usize::from(len)]);
                }
            }
            Job::Finish { id, silence_before } => {
                if let Some(mut file) = active.remove(&id) {
                    file.write_silence(silence_before);
                    file.finish();
                }
            }
        }
    }
    // Unreachable in practice (every sink sends its Finish before its sender goes), but a file
    // must never stay half-written.
    for (_, file) in active.drain() {
        file.finish();
    }
}

fn finalise(out: BufWriter<File>, temp: &Path, path: &Path, samples: u64) -> io::Result<()> {
    let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    let data = u32::try_from(samples * 2).unwrap_or(u32::MAX);
    let header = wav_header(0, Some(data));
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&header[4..8])?;
    file.seek(SeekFrom::Start(40))?;
    file.write_all(&header[40..44])?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(temp, path)?;
    // Makes the rename itself durable; a failure here loses nothing already written.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// A 44-byte PCM header, mono 16-bit at `rate` Hz; `data: None` writes the placeholder sizes.
fn wav_header(rate: u32, data: Option<u32>) -> [u8; WAV_HEADER_LEN as usize] {
    let (riff, data) = match data {
        Some(d) => (d.saturating_add(WAV_HEADER_LEN - 8), d),
        None => (u32::MAX, u32::MAX),
    };
    let mut h = [0u8; WAV_HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * 2).to_le_bytes()); // byte rate
    h[32..34].copy_from_slice(&2u16.to_le_bytes()); // block align
    h[34..36].copy_from_slice(&16u16.to_le_bytes()); // bits per sample
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{write_rtp, RtpFields};
    use codec::{OpusConfig, OpusEncoder, OPUS_MAX_PACKET};

    const TONE_HZ: f64 = 440.0;
    const PCMA: u8 = 8;
    const OPUS: u8 = 111;
    const TE: u8 = 101;
    /// Bound on waiting for the writer thread.
    const PATIENCE: Duration = Duration::from_secs(10);

    fn tone(rate: u32, start: usize, len: usize) -> Vec<i16> {
        (start..start + len)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (9000.0 * (2.0 * std::f64::consts::PI * TONE_HZ * t).sin()) as i16
            })
            .collect()
    }

    /// The frequency between 200 and 1000 Hz with the most energy (10 Hz steps).
    fn dominant_hz(pcm: &[i16], rate: u32) -> f64 {
        let power = |hz: f64| {
            let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
            let (mut re, mut im) = (0.0, 0.0);
            for (i, &x) in pcm.iter().enumerate() {
                re += f64::from(x) * (w * i as f64).cos();
                im += f64::from(x) * (w * i as f64).sin();
            }
            re * re + im * im
        };
        (20..=100)
            .map(|k| f64::from(k) * 10.0)
            .map(|hz| (hz, power(hz)))
            .fold((0.0, 0.0), |best, c| if c.1 > best.1 { c } else { best })
            .0
    }

    fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 12 + payload.len()];
        let fields = RtpFields {
            marker: false,
            payload_type: pt,
            seq,
            timestamp: ts,
            ssrc: 0xa,
        };
        write_rtp(&mut p, fields, payload).expect("sized");
        p
    }

    /// 20 ms PCMA payloads of the tone.
    fn pcma_payloads(frames: usize) -> Vec<Vec<u8>> {
        (0..frames)
            .map(|i| {
                let mut codes = vec![0u8; 160];
                G711Law::Alaw
                    .encode(&tone(8000, i * 160, 160), &mut codes)
                    .expect("encode");
                codes
            })
            .collect()
    }

    /// 20 ms Opus packets of the tone (48 kHz source, FEC for 20 % loss).
    fn opus_packets(frames: usize) -> Vec<Vec<u8>> {
        let cfg = OpusConfig {
            expected_loss_pct: 20,
            ..OpusConfig::voip(SampleRate::Hz48000)
        };
        let mut enc = OpusEncoder::new(&cfg).expect("encoder");
        let mut buf = [0u8; OPUS_MAX_PACKET];
        (0..frames)
            .map(|i| {
                let n = enc
                    .encode(&tone(48_000, i * 960, 960), &mut buf)
                    .expect("encode");
                rtp(OPUS, i as u16, i as u32 * 960, &buf[..n])
            })
            .collect()
    }

    /// Every frame due at `now`, appended to `pcm`; returns how many.
    fn drain(r: &mut Recorder, now: Instant, pcm: &mut Vec<i16>) -> usize {
        let mut n = 0;
        let samples = r.frame_samples();
        while let Some(frame) = r.poll(now) {
            assert_eq!(frame.len(), samples);
            pcm.extend_from_slice(frame);
            n += 1;
        }
        n
    }

    /// Feeds `packets` (None = lost) one per 20 ms, polling each tick, then stops right after
    /// the last one; returns the recording.
    fn record(r: &mut Recorder, t0: Instant, packets: &[Option<Vec<u8>>]) -> Vec<i16> {
        let mut pcm = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            let now = t0 + FRAME * i as u32;
            if let Some(p) = p {
                r.on_packet(p, now);
            }
            drain(r, now, &mut pcm);
        }
        let end = t0 + FRAME * packets.len() as u32;
        drain(r, end, &mut pcm);
        r.stop(end);
        drain(r, end, &mut pcm);
        assert!(r.is_finished());
        assert_eq!(r.poll_timeout(), None);
        pcm
    }

    #[test]
    fn g711_is_recorded_bit_exact_at_8khz_one_frame_per_tick_and_drained_at_stop() {
        let t0 = Instant::now();
        let cfg = RecordConfig::new(AudioCodec::Pcma, PCMA, Duration::from_secs(10));
        let mut r = Recorder::new(&cfg, t0).expect("recorder");
        assert_eq!(r.sample_rate(), SampleRate::Hz8000);
        assert_eq!(r.poll_timeout(), Some(t0 + FRAME));
        let payloads = pcma_payloads(50);
        let mut pcm = Vec::new();
        for (i, codes) in payloads.iter().enumerate() {
            let now = t0 + FRAME * i as u32;
            r.on_packet(&rtp(PCMA, i as u16, i as u32 * 160, codes), now);
            drain(&mut r, now, &mut pcm);
        }
        let end = t0 + FRAME * 50;
        drain(&mut r, end, &mut pcm);
        assert_eq!(pcm.len(), 50 * 160, "one frame per tick, 50 ticks in 1 s");
        assert!(
            r.jitter.buffered() > 0,
            "the last packets are still buffered"
        );
        r.stop(end);
        let drained = drain(&mut r, end, &mut pcm);
        assert!(drained > 0 && r.is_finished());
        let s = r.stats();
        assert_eq!((s.decoded, s.concealed, s.fec), (50, 0, 0), "{s:?}");
        assert_eq!(s.frames, (pcm.len() / 160) as u64);
        assert_eq!(
            s.silent,
            s.frames - 50,
            "silence only while the buffer filled"
        );
        // The recording is the caller's audio, decoded exactly, after the buffering silence.
        let lead = s.silent as usize * 160;
        assert!(pcm[..lead].iter().all(|&x| x == 0));
        let mut want = vec![0i16; 50 * 160];
        for (codes, out) in payloads.iter().zip(want.chunks_exact_mut(160)) {
            G711Law::Alaw.decode(codes, out).expect("decode");
        }
        assert_eq!(&pcm[lead..], &want[..]);
        assert!((dominant_hz(&pcm, 8000) - TONE_HZ).abs() <= 10.0);
        assert_eq!(r.duration(), FRAME * s.frames as u32);
    }

    #[test]
    fn opus_is_recorded_at_16khz_and_losses_are_rebuilt_by_fec_or_concealed() {
        let t0 = Instant::now();
        let cfg = RecordConfig::new(AudioCodec::Opus, OPUS, Duration::from_secs(10));
        let mut r = Recorder::new(&cfg, t0).expect("recorder");
        assert_eq!(
            (r.sample_rate(), r.frame_samples()),
            (SampleRate::Hz16000, 320)
        );
        let mut packets: Vec<_> = opus_packets(60).into_iter().map(Some).collect();
        // One lost packet (the next one's FEC rebuilds it), then two in a row (PLC, then FEC).
        packets[20] = None;
        packets[40] = None;
        packets[41] = None;
        let pcm = record(&mut r, t0, &packets);
        let s = r.stats();
        assert_eq!(
            (s.decoded, s.fec, s.concealed, s.lost),
            (57, 2, 1, 3),
            "{s:?}"
        );
        assert_eq!(s.frames, s.decoded + s.fec + s.concealed + s.silent);
        assert_eq!(s.frames - s.silent, 60, "the losses cost no length");
        assert_eq!(pcm.len(), s.frames as usize * 320);
        let lead = s.silent as usize * 320;
        let hz = dominant_hz(&pcm[lead + 1600..], 16_000);
        assert!((hz - TONE_HZ).abs() <= 10.0, "dominant {hz} Hz");
    }

    #[test]
    fn max_cuts_the_recording_at_exactly_max() {
        let t0 = Instant::now();
        let cfg = RecordConfig::new(AudioCodec::Pcmu, 0, Duration::from_millis(510));
        let mut r = Recorder::new(&cfg, t0).expect("recorder");
        let mut pcm = Vec::new();
        let mut finished_at = None;
        for i in 0..100u32 {
            let now = t0 + FRAME * i;
            r.on_packet(&rtp(0, i as u16, i * 160, &[0x55; 160]), now);
            drain(&mut r, now, &mut pcm);
            if r.is_finished() && finished_at.is_none() {
                finished_at = Some(now);
            }
        }
        assert_eq!(finished_at, Some(t0 + Duration::from_millis(500)));
        assert_eq!(pcm.len(), 25 * 160, "510 ms rounds down to 25 frames");
        assert_eq!(r.poll_timeout(), None);
        r.stop(t0 + FRAME * 100);
        assert!(r.poll(t0 + FRAME * 100).is_none(), "nothing after max");
        let zero = Recorder::new(&RecordConfig::new(AudioCodec::Pcma, 8, Duration::ZERO), t0)
            .expect("recorder");
        assert!(zero.is_finished(), "a zero limit records nothing");
    }

    #[test]
    fn a_dtx_pause_is_kept_as_silence_at_its_length() {
        let t0 = Instant::now();
        let cfg = RecordConfig::new(AudioCodec::Pcma, PCMA, Duration::from_secs(10));
        let mut r = Recorder::new(&cfg, t0).expect("recorder");
        let payloads = pcma_payloads(20);
        // 10 frames, 20 frames without packets (the timestamps say so), 10 frames.
        let mut packets: Vec<Option<Vec<u8>>> = vec![None; 40];
        for (i, codes) in payloads.iter().enumerate() {
            let slot = if i < 10 { i } else { i + 20 };
            packets[slot] = Some(rtp(PCMA, i as u16, slot as u32 * 160, codes));
        }
        let pcm = record(&mut r, t0, &packets);
        let s = r.stats();
        assert_eq!(s.decoded, 20);
        assert_eq!(s.lost, 0, "a pause is not a loss");
        // Where each spurt's first frame landed in the file.
        let mut first = vec![0i16; 160];
        G711Law::Alaw
            .decode(&payloads[0], &mut first)
            .expect("decode");
        let mut resumed = vec![0i16; 160];
        G711Law::Alaw
            .decode(&payloads[10], &mut resumed)
            .expect("decode");
        let frames: Vec<&[i16]> = pcm.chunks_exact(160).collect();
        let p = frames
            .iter()
            .position(|f| *f == &first[..])
            .expect("spurt 1");
        let q = p
            + 10
            + frames[p + 10..]
                .iter()
                .position(|f| *f == &resumed[..])
                .expect("spurt 2");
        assert_eq!(q - p, 30, "the pause keeps its 20 frames");
        // The end of the first spurt looks like a loss for a few frames, then silence.
        let quiet = frames[p + 10..q]
            .iter()
            .filter(|f| f.iter().all(|&x| x == 0));
        assert!(quiet.count() >= 20 - G711_PLC_FRAMES as usize);
    }

    #[test]
    fn telephone_events_are_not_recorded() {
        let t0 = Instant::now();
        let cfg = RecordConfig::new(AudioCodec::Pcma, PCMA, Duration::from_secs(10));
        let mut r = Recorder::new(&cfg, t0).expect("recorder");
        let payloads = pcma_payloads(25);
        // 10 audio frames, a key of 5 event packets in the same numbering, 10 audio frames.
        let mut packets = Vec::new();
        for i in 0..25u16 {
            let ts = u32::from(i) * 160;
            packets.push(Some(if (10..15).contains(&i) {
                rtp(TE, i, 1600, &[5, 10, 0, 160])
            } else {
                rtp(PCMA, i, ts, &payloads[usize::from(i)])
            }));
        }
        let pcm = record(&mut r, t0, &packets);
        let s = r.stats();
        assert_eq!((s.ignored, s.received, s.decoded), (5, 20, 20), "{s:?}");
        assert_eq!(
            s.frames - s.silent,
            25,
            "the key's time is concealed, not cut"
        );
        assert!((dominant_hz(&pcm, 8000) - TONE_HZ).abs() <= 10.0);
    }

    #[test]
    fn a_late_caller_gets_every_frame_it_missed() {
        let t0 = Instant::now();
        let cfg = RecordConfig::new(AudioCodec::Pcma, PCMA, Duration::from_secs(10));
        let mut r = Recorder::new(&cfg, t0).expect("recorder");
        for (i, codes) in pcma_payloads(40).iter().enumerate() {
            r.on_packet(
                &rtp(PCMA, i as u16, i as u32 * 160, codes),
                t0 + FRAME * i as u32,
            );
        }
        let mut pcm = Vec::new();
        assert_eq!(drain(&mut r, t0 + FRAME * 40, &mut pcm), 40);
        assert_eq!(r.poll_timeout(), Some(t0 + FRAME * 41));
    }

    #[test]
    fn garbage_is_counted_not_recorded() {
        let t0 = Instant::now();
        let cfg = RecordConfig::new(AudioCodec::Opus, OPUS, Duration::from_secs(10));
        let mut r = Recorder::new(&cfg, t0).expect("recorder");
        r.on_packet(&[0x80, 1, 2], t0);
        r.on_packet(&rtp(OPUS, 1, 0, &[]), t0);
        r.on_packet(&rtp(OPUS, 1, 0, &[0; MAX_PAYLOAD + 1]), t0);
        assert_eq!(r.stats().refused, 3);
        // A corrupt Opus stream: concealed, never a panic, the length kept.
        let mut pcm = Vec::new();
        for i in 0..20u16 {
            let now = t0 + FRAME * u32::from(i);
            r.on_packet(&rtp(OPUS, i, u32::from(i) * 960, &[0xff; 40]), now);
            drain(&mut r, now, &mut pcm);
        }
        assert!(r.stats().decode_errors > 0);
        assert_eq!(pcm.len(), 19 * 320);
    }

    // --- writer ---------------------------------------------------------------------------

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("switchboard-record-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn on_done() -> (OnDone, mpsc::Receiver<io::Result<Saved>>) {
        let (tx, rx) = mpsc::channel();
        (
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
            rx,
        )
    }

    #[test]
    fn the_writer_saves_a_wav_that_parses_and_renames_it_only_when_complete() {
        let dir = scratch_dir("saves");
        let path = dir.join("vm.wav");
        let writer = RecordWriter::spawn(64).expect("writer");
        let temp = TempFile::create(path.clone()).expect("create");
        assert_eq!(temp.temp_path(), dir.join("vm.wav.tmp"));
        let (done, result) = on_done();
        let mut sink = writer.open(temp, SampleRate::Hz8000, done);
        let pcm = tone(8000, 0, 8000);
        for frame in pcm.chunks(160) {
            sink.push(frame);
        }
        assert!(!path.exists(), "nothing at the path before the end");
        sink.finish();
        let saved = result.recv_timeout(PATIENCE).expect("done").expect("saved");
        assert_eq!(
            saved,
            Saved {
                path: path.clone(),
                sample_rate: SampleRate::Hz8000,
                samples: 8000,
                dropped_frames: 0
            }
        );
        assert_eq!(
            (saved.duration_ms(), saved.duration()),
            (1000, Duration::from_secs(1))
        );
        assert!(!dir.join("vm.wav.tmp").exists());
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 44 + 16_000);
        assert_eq!(
            &bytes[4..8],
            &(36u32 + 16_000).to_le_bytes(),
            "RIFF size patched"
        );
        assert_eq!(
            &bytes[40..44],
            &16_000u32.to_le_bytes(),
            "data size patched"
        );
        let wav = codec::parse_wav(&bytes).expect("parses");
        assert_eq!((wav.sample_rate, wav.samples), (SampleRate::Hz8000, pcm));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking_and_the_file_keeps_its_length() {
        let dir = scratch_dir("full");
        let path = dir.join("vm.wav");
        // No thread yet: nothing leaves the queue.
        let (writer, jobs) = RecordWriter::unstarted(4);
        let (done, result) = on_done();
        let temp = TempFile::create(path.clone()).expect("create");
        let mut sink = writer.open(temp, SampleRate::Hz8000, done);
        let frame = |k: i16| vec![k; 160];
        for k in 1..=10 {
            sink.push(&frame(k));
        }
        assert_eq!(sink.dropped(), 6, "4 queued, 6 dropped, none waited for");
        let queued = writer.queued.clone();
        let thread = std::thread::spawn(move || write_jobs(&jobs, &queued));
        let deadline = Instant::now() + PATIENCE;
        while writer.queued.load(Ordering::Relaxed) > 0 {
            assert!(Instant::now() < deadline, "the writer took the queue");
            std::thread::sleep(Duration::from_millis(1));
        }
        sink.push(&frame(11));
        sink.push(&frame(12));
        assert_eq!(sink.dropped(), 6);
        drop(sink);
        drop(writer);
        let saved = result.recv_timeout(PATIENCE).expect("done").expect("saved");
        thread
            .join()
            .expect("writer thread ends with its last sender");
        assert_eq!((saved.samples, saved.dropped_frames), (12 * 160, 6));
        let wav = codec::parse_wav(&std::fs::read(&path).expect("read")).expect("parses");
        let firsts: Vec<i16> = wav.samples.chunks_exact(160).map(|f| f[0]).collect();
        assert_eq!(firsts, [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 11, 12]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_recording_that_cannot_be_put_in_place_is_reported_and_never_appears() {
        let dir = scratch_dir("fails");
        let path = dir.join("vm.wav");
        let writer = RecordWriter::spawn(64).expect("writer");
        let (done, result) = on_done();
        let mut sink = writer.open(
            TempFile::create(path.clone()).expect("create"),
            SampleRate::Hz16000,
            done,
        );
        sink.push(&[1; 320]);
        std::fs::remove_dir_all(&dir).expect("remove");
        sink.finish();
        let error = result.recv_timeout(PATIENCE).expect("done");
        assert!(error.is_err(), "{error:?}");
        assert!(!path.exists());
    }

    #[test]
    fn an_unused_temp_file_removes_itself() {
        let dir = scratch_dir("unused");
        let temp = TempFile::create(dir.join("a.wav")).expect("create");
        let tmp = temp.temp_path().to_path_buf();
        assert!(tmp.exists());
        drop(temp);
        assert!(!tmp.exists());
        let temp = TempFile::create(dir.join("b.wav")).expect("create");
        let tmp = temp.temp_path().to_path_buf();
        temp.discard().expect("discard");
        assert!(!tmp.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
