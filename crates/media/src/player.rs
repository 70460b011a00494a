//! Prompt playback: a WAV file encoded once, played into any number of legs as paced RTP.
//!
//! Why two types: a [`Prompt`] is the expensive part (decoding the WAV, resampling it, running
//! the Opus encoder over it) and is the same for every caller who hears it, so it is built once
//! at load time and shared as `Arc<Prompt>`. A [`Player`] is the cheap per-leg part: where in
//! the prompt this leg is, its RTP numbering and its pacing. Sending a packet is copying a
//! stored payload behind a 12-byte header into the caller's buffer: no encoding, no allocation.
//!
//! Pacing: packet `k` is due at `start + k × 20 ms`. [`Player::poll`] hands out the packets due
//! at `now`, one per call. A caller that comes back late gets at most [`MAX_CATCH_UP`] packets
//! in a row; when it is later than that, the schedule moves forward and the RTP timestamp jumps
//! by the skipped time (marker bit set), so the phone hears a short pause rather than a burst
//! or lost words: the audio itself is never skipped.
//!
//! Sans-IO apart from [`Prompt::from_wav_file`], which reads the file at load time.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codec::{pre_encode, PromptCodec, SampleRate};

use crate::stream::{write_rtp, AudioCodec, RtpNumbering, RTP_HEADER_LEN};

/// One frame of audio per packet.
pub const FRAME: Duration = Duration::from_millis(20);
/// Most packets one [`Player::poll`] loop hands out at once when the caller is late.
pub const MAX_CATCH_UP: u32 = 3;
/// Opus bitrate of pre-encoded prompts: speech, with headroom for music on hold.
const PROMPT_OPUS_BPS: u32 = 32_000;

/// Why a prompt could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not a playable WAV (the message says why), or an encoder failure.
    #[error("{0}")]
    Codec(#[from] codec::Error),
}

/// The frames of one codec, stored back to back.
#[derive(Clone, Debug, Default)]
struct Frames {
    bytes: Vec<u8>,
    /// End offset of each frame in `bytes`.
    ends: Vec<u32>,
}

impl Frames {
    fn new(frames: Vec<Vec<u8>>) -> Frames {
        let mut bytes = Vec::with_capacity(frames.iter().map(Vec::len).sum());
        let mut ends = Vec::with_capacity(frames.len());
        for f in frames {
            bytes.extend_from_slice(&f);
            // A prompt is far below 4 GiB: hours of audio at most.
            ends.push(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        }
        Frames { bytes, ends }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    fn max_frame(&self) -> usize {
        (0..self.len())
            .map(|i| self.get(i).len())
            .max()
            .unwrap_or(0)
    }
}

/// A prompt pre-encoded for PCMA, PCMU and Opus, in 20 ms frames. Immutable; share it as
/// `Arc<Prompt>`.
#[derive(Clone, Debug)]
pub struct Prompt {
    pcma: Frames,
    pcmu: Frames,
    opus: Frames,
}

impl Prompt {
    /// Reads and encodes a WAV file (16-bit mono PCM at 8, 16 or 48 kHz).
    pub fn from_wav_file(path: impl AsRef<Path>) -> Result<Prompt, PromptError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| PromptError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Prompt::from_wav_bytes(&bytes)
    }

    /// Encodes a WAV file held in memory.
    pub fn from_wav_bytes(bytes: &[u8]) -> Result<Prompt, PromptError> {
        let wav = codec::parse_wav(bytes)?;
        Prompt::from_samples(&wav.samples, wav.sample_rate)
    }

    /// Encodes mono PCM at `rate`.
    pub fn from_samples(samples: &[i16], rate: SampleRate) -> Result<Prompt, PromptError> {
        let opus = PromptCodec::Opus {
            bitrate_bps: PROMPT_OPUS_BPS,
            fec: true,
        };
        Ok(Prompt {
            pcma: Frames::new(pre_encode(samples, rate, PromptCodec::Pcma)?),
            pcmu: Frames::new(pre_encode(samples, rate, PromptCodec::Pcmu)?),
            opus: Frames::new(pre_encode(samples, rate, opus)?),
        })
    }

    fn frames(&self, codec: AudioCodec) -> &Frames {
        match codec {
            AudioCodec::Pcma => &self.pcma,
            AudioCodec::Pcmu => &self.pcmu,
            AudioCodec::Opus => &self.opus,
        }
    }

    /// Number of 20 ms frames in `codec` (G.711 and Opus may differ by the encoder's flush).
    pub fn frame_count(&self, codec: AudioCodec) -> usize {
        self.frames(codec).len()
    }

    /// Playing time in `codec`.
    pub fn duration(&self, codec: AudioCodec) -> Duration {
        FRAME * u32::try_from(self.frame_count(codec)).unwrap_or(u32::MAX)
    }

    /// The encoded payload of frame `index` in `codec`, if there is one.
    pub fn frame(&self, codec: AudioCodec, index: usize) -> Option<&[u8]> {
        let frames = self.frames(codec);
        (index < frames.len()).then(|| frames.get(index))
    }

    /// The longest packet a [`Player`] of this prompt writes in `codec` (header included): the
    /// least buffer [`Player::poll`] needs.
    pub fn max_packet_len(&self, codec: AudioCodec) -> usize {
        RTP_HEADER_LEN + self.frames(codec).max_frame()
    }

    /// Bytes held by the encoded frames.
    pub fn memory(&self) -> usize {
        [&self.pcma, &self.pcmu, &self.opus]
            .iter()
            .map(|f| f.bytes.len() + 4 * f.ends.len())
            .sum()
    }
}

/// How a [`Player`] stamps its packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlayerConfig {
    /// Which encoding of the prompt to send.
    pub codec: AudioCodec,
    /// The payload type the leg negotiated for that codec.
    pub payload_type: u8,
    /// The player's SSRC (the caller draws it at random, RFC 3550 §8).
    pub ssrc: u32,
    /// Sequence number of the first packet.
    pub first_seq: u16,
    /// Timestamp of the first packet.
    pub first_timestamp: u32,
    /// Start again at the end (hold music) instead of finishing.
    pub looped: bool,
}

impl PlayerConfig {
    /// A config with the codec's static payload type (dynamic 111 for Opus, change it to the
    /// negotiated one), numbering from zero, not looped.
    pub fn new(codec: AudioCodec, ssrc: u32) -> PlayerConfig {
        PlayerConfig {
            codec,
            payload_type: codec.static_payload_type().unwrap_or(111),
            ssrc,
            first_seq: 0,
            first_timestamp: 0,
            looped: false,
        }
    }
}

/// Counters of one player.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlayerStats {
    /// Packets written.
    pub packets: u64,
    /// Times the prompt started again (looped).
    pub loops: u64,
    /// Times the caller was so late that the schedule moved (a pause in the audio).
    pub gaps: u64,
    /// Frames not written because the caller's buffer was too small.
    pub too_small: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Playing,
    /// The last frame of a non-looped prompt went out.
    Finished,
    /// [`Player::stop`] was called.
    Stopped,
}

/// Plays one prompt into one leg. See the module docs for pacing.
#[derive(Clone, Debug)]
pub struct Player {
    prompt: Arc<Prompt>,
    codec: AudioCodec,
    payload_type: u8,
    looped: bool,
    numbering: RtpNumbering,
    /// Next frame of the prompt.
    index: usize,
    /// When the next packet is due.
    due: Instant,
    /// The next packet starts a talk spurt.
    marker: bool,
    state: State,
    stats: PlayerStats,
}

impl Player {
    /// A player whose first packet is due at `start`.
    pub fn new(prompt: Arc<Prompt>, config: PlayerConfig, start: Instant) -> Player {
        let state = if prompt.frame_count(config.codec) == 0 {
            State::Finished
        } else {
            State::Playing
        };
        Player {
            prompt,
            codec: config.codec,
            payload_type: config.payload_type,
            looped: config.looped,
            numbering: RtpNumbering {
                ssrc: config.ssrc,
                seq: config.first_seq,
                timestamp: config.first_timestamp,
            },
            index: 0,
            due: start,
            marker: true,
            state,
            stats: PlayerStats::default(),
        }
    }

    /// Writes the next packet into `out` if one is due at `now` and returns its length. Call it
    /// until `None` on each wake-up, then sleep until [`Player::poll_timeout`].
    pub fn poll(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        loop {
            if self.state != State::Playing || self.due > now {
                return None;
            }
            let behind = now.duration_since(self.due);
            if behind >= FRAME * MAX_CATCH_UP {
                // Too late to catch up: move the schedule, keep the audio, mark the pause.
                let skipped =
                    (behind - FRAME * (MAX_CATCH_UP - 1)).as_micros() / FRAME.as_micros().max(1);
                let skipped = u32::try_from(skipped).unwrap_or(u32::MAX);
                self.due += FRAME * skipped;
                self.numbering
                    .advance(self.codec.frame_ticks().wrapping_mul(skipped));
                self.marker = true;
                self.stats.gaps += 1;
            }
            let Some(payload) = self.prompt.frame(self.codec, self.index) else {
                self.state = State::Finished;
                return None;
            };
            let written = if out.len() >= RTP_HEADER_LEN + payload.len() {
                let fields = self.numbering.next(self.payload_type, self.marker);
                self.marker = false;
                write_rtp(out, fields, payload)
            } else {
                self.stats.too_small += 1;
                None
            };
            self.numbering.advance(self.codec.frame_ticks());
            self.due += FRAME;
            self.index += 1;
            if self.index >= self.prompt.frame_count(self.codec) {
                if self.looped {
                    self.index = 0;
                    self.stats.loops += 1;
                } else {
                    self.state = State::Finished;
                }
            }
            if let Some(n) = written {
                self.stats.packets += 1;
                return Some(n);
            }
        }
    }

    /// When the next packet is due; `None` once done.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.state == State::Playing).then_some(self.due)
    }

    /// Whether the player will send nothing more (finished or stopped).
    pub fn done(&self) -> bool {
        self.state != State::Playing
    }

    /// Whether the last frame of a non-looped prompt was sent (not stopped).
    pub fn finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Stops playing; no more packets.
    pub fn stop(&mut self) {
        if self.state == State::Playing {
            self.state = State::Stopped;
        }
    }

    /// The codec being played.
    pub fn codec(&self) -> AudioCodec {
        self.codec
    }

    /// The player's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.numbering.ssrc
    }

    /// Sequence number and timestamp the next packet would carry.
    pub fn position(&self) -> (u16, u32) {
        (self.numbering.seq, self.numbering.timestamp)
    }

    /// Counters.
    pub fn stats(&self) -> PlayerStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::rtp::RtpHeader;

    fn tone(frames: usize) -> Arc<Prompt> {
        let pcm: Vec<i16> = (0..frames * 160)
            .map(|i| (8000.0 * (i as f64 * 0.3).sin()) as i16)
            .collect();
        Arc::new(Prompt::from_samples(&pcm, SampleRate::Hz8000).expect("prompt"))
    }

    fn drain(p: &mut Player, now: Instant) -> Vec<(bool, u16, u32, usize)> {
        let mut buf = [0u8; 1500];
        let mut got = Vec::new();
        while let Some(n) = p.poll(now, &mut buf) {
            let h = RtpHeader::parse(&buf[..n]).expect("valid RTP");
            assert_eq!(h.ssrc(), 0x1234);
            got.push((h.marker(), h.sequence(), h.timestamp(), h.payload().len()));
        }
        got
    }

    #[test]
    fn paced_every_20ms_with_continuous_numbers_and_one_marker() {
        let prompt = tone(10);
        let frames = prompt.frame_count(AudioCodec::Pcma);
        let t0 = Instant::now();
        let cfg = PlayerConfig {
            first_seq: 65534,
            first_timestamp: u32::MAX - 159,
            ..PlayerConfig::new(AudioCodec::Pcma, 0x1234)
        };
        let mut p = Player::new(prompt, cfg, t0);
        let mut all = Vec::new();
        let mut now = t0;
        while !p.done() {
            let due = p.poll_timeout().expect("playing");
            assert!(due >= now);
            now = due;
            let got = drain(&mut p, now);
            assert_eq!(got.len(), 1, "exactly one packet per 20 ms");
            all.extend(got);
        }
        assert_eq!(all.len(), frames);
        assert_eq!(now, t0 + FRAME * (frames as u32 - 1));
        for (i, &(marker, seq, ts, len)) in all.iter().enumerate() {
            assert_eq!(marker, i == 0);
            assert_eq!(seq, 65534u16.wrapping_add(i as u16));
            assert_eq!(ts, (u32::MAX - 159).wrapping_add(160 * i as u32));
            assert_eq!(len, 160);
        }
        assert!(p.finished());
        assert_eq!(drain(&mut p, now + FRAME * 10), []);
    }

    #[test]
    fn late_caller_catches_up_a_few_frames_then_pauses() {
        let t0 = Instant::now();
        let mut p = Player::new(tone(50), PlayerConfig::new(AudioCodec::Pcmu, 0x1234), t0);
        assert_eq!(drain(&mut p, t0).len(), 1);
        // 50 ms late for the packet due at 20 ms: 3 due (20, 40, 60), all sent.
        let got = drain(&mut p, t0 + Duration::from_millis(70));
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|g| !g.0));
        // A second late: only MAX_CATCH_UP packets, the first marked, timestamps jumped.
        let got = drain(&mut p, t0 + Duration::from_millis(1080));
        assert_eq!(got.len(), MAX_CATCH_UP as usize);
        assert!(got[0].0 && !got[1].0);
        assert_eq!(got[0].1, 4, "no sequence gap: no packet was lost");
        // Due at 80 ms; moved so that the 3 packets are at 1040, 1060, 1080 ms.
        assert_eq!(got[0].2, 160 * (1040 / 20));
        assert_eq!(got[2].2, 160 * (1080 / 20));
        assert_eq!(p.stats().gaps, 1);
        assert_eq!(
            p.poll_timeout(),
            Some(t0 + Duration::from_millis(1100)),
            "back on the 20 ms grid"
        );
    }

    #[test]
    fn looped_prompt_never_finishes_and_stop_ends_it() {
        let prompt = tone(2);
        let n = prompt.frame_count(AudioCodec::Opus);
        let t0 = Instant::now();
        let cfg = PlayerConfig {
            looped: true,
            ..PlayerConfig::new(AudioCodec::Opus, 0x1234)
        };
        let mut p = Player::new(prompt, cfg, t0);
        let mut now = t0;
        let mut ts = Vec::new();
        for _ in 0..3 * n {
            now = p.poll_timeout().expect("looping");
            ts.extend(drain(&mut p, now).iter().map(|g| g.2));
        }
        assert_eq!(ts.len(), 3 * n);
        assert!(ts.windows(2).all(|w| w[1] == w[0] + 960), "48 kHz clock");
        assert_eq!(p.stats().loops, 3);
        p.stop();
        assert!(p.done() && !p.finished());
        assert_eq!(drain(&mut p, now + FRAME), []);
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn small_buffer_skips_frames_without_panicking() {
        let t0 = Instant::now();
        let mut p = Player::new(tone(3), PlayerConfig::new(AudioCodec::Pcma, 1), t0);
        let mut tiny = [0u8; 20];
        assert_eq!(p.poll(t0 + FRAME * 2, &mut tiny), None);
        assert_eq!(p.stats().too_small, 3);
    }

    #[test]
    fn wav_errors_name_the_problem() {
        let err = Prompt::from_wav_bytes(b"not a wav").expect_err("refused");
        assert!(err.to_string().contains("RIFF"), "{err}");
        let err = Prompt::from_wav_file("/nonexistent/prompt.wav").expect_err("refused");
        assert!(matches!(err, PromptError::Read { .. }));
    }
}
