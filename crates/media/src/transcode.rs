//! One direction of a transcoded call: RTP of one codec in, RTP of another out.
//!
//! ```text
//! on_packet ─▶ JitterBuffer ─▶ (every 20 ms, poll) decode / FEC / PLC ─▶ resample ─▶ encode ─▶ RTP
//! ```
//!
//! Why a jitter buffer here when the relay otherwise forwards packets as they come: once audio
//! is decoded, the encoder needs one frame every 20 ms whatever the network did, and a lost or
//! late packet has to become *something*: Opus rebuilds it from the next packet's in-band FEC
//! ([`codec::OpusDecoder::decode_fec`]) or conceals it ([`codec::OpusDecoder::conceal`]); G.711
//! has no codec PLC, so the last frame is repeated at falling gain (−6 dB per frame, then
//! silence), which hides one or two lost frames and nothing longer.
//!
//! Which rates: the Opus side runs at [`TranscodeConfig::opus_rate`], 8 kHz by default. G.711
//! has nothing above 4 kHz to give Opus, and Opus codes and decodes 8 kHz PCM directly while its
//! RTP clock stays 48 kHz (RFC 7587), so the default path has no resampler at all. At 16 or
//! 48 kHz a [`codec::Resampler`] sits between decoder and encoder.
//!
//! What goes out: the direction's own SSRC and numbering ([`TranscodeConfig`]); timestamps in
//! the output codec's clock (8 kHz for G.711, 48 kHz for Opus), advancing one frame per 20 ms
//! tick whether or not a packet is sent; nothing while the input is silent (between talk spurts,
//! before the buffer fills, comfort noise), and the marker bit on the first packet after such a
//! pause and after the input's SSRC changes (RFC 3551 §4.1).
//!
//! Limits: input packets must carry 20 ms (what the relay offers in SDP); other durations are
//! decoded, cut or padded to 20 ms and counted in [`TranscodeStats::wrong_duration`]. Payloads
//! above [`MAX_PAYLOAD`] bytes (Opus above 200 kbit/s) are dropped and counted.
//!
//! PCMA ↔ PCMU needs none of this: [`convert_g711`] maps each byte through a table, in place.
//!
//! Sans-IO: arrival times and `now` are passed in; after construction nothing allocates.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use codec::{
    Bandwidth, G711Law, OpusConfig, OpusDecoder, OpusEncoder, Resampler, SampleRate,
    OPUS_MAX_PACKET,
};

use crate::jitter::{JitterBuffer, JitterConfig, JitterPacket, JitterStats, Playout};
use crate::relay::rtp::RtpHeader;
use crate::stream::{write_rtp, AudioCodec, RtpNumbering, RTP_HEADER_LEN};

/// Tick period: one frame.
pub const FRAME: Duration = Duration::from_millis(20);
/// Largest payload the jitter buffer holds inline (G.711 up to 60 ms, Opus up to 200 kbit/s).
pub const MAX_PAYLOAD: usize = 512;
/// Ticks run back to back when the caller is late; later than that, ticks are skipped.
const MAX_CATCH_UP: u32 = 3;
/// RFC 3389 comfort noise, static payload type.
const PT_COMFORT_NOISE: u8 = 13;
/// G.711 concealment: frames of falling gain before silence.
const G711_PLC_FRAMES: u32 = 3;
/// The longest Opus packet the decoder may return: 120 ms at 48 kHz.
const MAX_DECODED: usize = 5760;

/// Why a transcoding direction could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// The codec library refused a setting.
    #[error("codec: {0}")]
    Codec(#[from] codec::Error),
    /// The jitter buffer refused its configuration.
    #[error("jitter buffer: {0}")]
    Jitter(#[from] crate::Error),
}

/// How to build one direction.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscodeConfig {
    /// The codec of the packets coming in.
    pub from: AudioCodec,
    /// The codec of the packets going out.
    pub to: AudioCodec,
    /// Payload type of the output, as the receiving leg negotiated it.
    pub to_payload_type: u8,
    /// SSRC of the output (random, RFC 3550 §8).
    pub ssrc: u32,
    /// Sequence number of the first output packet.
    pub first_seq: u16,
    /// Timestamp of the first output tick.
    pub first_timestamp: u32,
    /// The rate Opus encodes from and decodes to (see the module docs).
    pub opus_rate: SampleRate,
    /// Opus encoder bitrate in bit/s.
    pub opus_bitrate_bps: u32,
    /// Opus encoder complexity 0..=10; `None` is libopus's default.
    pub opus_complexity: Option<u8>,
    /// The jitter buffer of the input; its clock and frame size must match `from`.
    pub jitter: JitterConfig,
}

impl TranscodeConfig {
    /// Defaults: narrowband Opus at 8 kHz and 24 kbit/s with FEC, a jitter buffer of at most
    /// 300 ms (more delay than that ruins a conversation anyway), numbering from zero.
    pub fn new(from: AudioCodec, to: AudioCodec, to_payload_type: u8, ssrc: u32) -> Self {
        let mut jitter = JitterConfig::new(from.clock_rate(), from.frame_ticks());
        jitter.max_delay = Duration::from_millis(300);
        TranscodeConfig {
            from,
            to,
            to_payload_type,
            ssrc,
            first_seq: 0,
            first_timestamp: 0,
            opus_rate: SampleRate::Hz8000,
            opus_bitrate_bps: 24_000,
            opus_complexity: None,
            jitter,
        }
    }
}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TranscodeStats {
    /// Packets handed to [`Transcode::on_packet`] and buffered or dropped by the buffer.
    pub received: u64,
    /// Packets not RTP, empty, or larger than [`MAX_PAYLOAD`].
    pub refused: u64,
    /// Frames decoded from a packet.
    pub decoded: u64,
    /// Lost frames decoded from the next packet's Opus FEC (libopus conceals instead when that
    /// packet carries none).
    pub fec: u64,
    /// Frames concealed (Opus PLC, or G.711 repetition).
    pub concealed: u64,
    /// Ticks with nothing to send (silence, comfort noise, buffering).
    pub silent: u64,
    /// Ticks skipped because the caller was too late.
    pub skipped: u64,
    /// Packets whose audio was not 20 ms.
    pub wrong_duration: u64,
    /// Decoder errors (corrupt packets); the frame is concealed instead.
    pub decode_errors: u64,
    /// Encoder errors; the frame is not sent.
    pub encode_errors: u64,
    /// Packets written.
    pub sent: u64,
}

/// A payload held inline in the jitter buffer, so buffering allocates nothing.
#[derive(Clone)]
struct Payload {
    len: u16,
    bytes: [u8; MAX_PAYLOAD],
}

impl Payload {
    fn new(data: &[u8]) -> Option<Payload> {
        let mut bytes = [0u8; MAX_PAYLOAD];
        bytes.get_mut(..data.len())?.copy_from_slice(data);
        Some(Payload {
            // MAX_PAYLOAD fits a u16.
            len: data.len() as u16,
            bytes,
        })
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({} bytes)", self.len)
    }
}

enum Decoder {
    G711 {
        law: G711Law,
        /// Last good frame and how many times it has been repeated since.
        last: Box<[i16; 160]>,
        repeats: u32,
    },
    Opus(OpusDecoder),
}

enum Encoder {
    G711(G711Law),
    Opus(OpusEncoder),
}

/// One direction of a transcoded call. See the module docs.
pub struct Transcode {
    from: AudioCodec,
    to: AudioCodec,
    payload_type: u8,
    jitter: JitterBuffer<Payload>,
    decoder: Decoder,
    resampler: Option<Resampler>,
    encoder: Encoder,
    /// Samples per 20 ms at the decoder's and at the encoder's rate.
    decoded_frame: usize,
    encoded_frame: usize,
    decoded: Box<[i16]>,
    resampled: Box<[i16]>,
    encoded: Box<[u8]>,
    numbering: RtpNumbering,
    due: Instant,
    /// The next packet sent starts a talk spurt.
    marker: bool,
    /// SSRC of the last frame decoded.
    input_ssrc: Option<u32>,
    stats: TranscodeStats,
}

impl std::fmt::Debug for Transcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcode")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Transcode {
    /// Builds decoder, encoder, resampler and jitter buffer; the first tick is due at `start`.
    pub fn new(config: &TranscodeConfig, start: Instant) -> Result<Transcode, TranscodeError> {
        let (decoder, decode_rate) = match config.from.law() {
            Some(law) => (
                Decoder::G711 {
                    law,
                    last: Box::new([0; 160]),
                    repeats: G711_PLC_FRAMES,
                },
                SampleRate::Hz8000,
            ),
            None => (
                Decoder::Opus(OpusDecoder::new(config.opus_rate)?),
                config.opus_rate,
            ),
        };
        let (encoder, encode_rate) = match config.to.law() {
            Some(law) => (Encoder::G711(law), SampleRate::Hz8000),
            None => {
                let narrow_source = config.from.law().is_some();
                let opus = OpusConfig {
                    bitrate_bps: config.opus_bitrate_bps,
                    complexity: config.opus_complexity,
                    // G.711 carries nothing above 4 kHz: do not spend bits or work on it.
                    max_bandwidth: narrow_source.then_some(Bandwidth::Narrowband),
                    ..OpusConfig::voip(config.opus_rate)
                };
                (Encoder::Opus(OpusEncoder::new(&opus)?), config.opus_rate)
            }
        };
        let resampler = (decode_rate != encode_rate)
            .then(|| Resampler::new(decode_rate, encode_rate))
            .transpose()?;
        let mut jitter_config = config.jitter.clone();
        jitter_config.clock_rate = config.from.clock_rate();
        jitter_config.frame_samples = config.from.frame_ticks();
        Ok(Transcode {
            from: config.from,
            to: config.to,
            payload_type: config.to_payload_type,
            jitter: JitterBuffer::new(jitter_config)?,
            decoder,
            resampler,
            encoder,
            decoded_frame: decode_rate.frame_20ms(),
            encoded_frame: encode_rate.frame_20ms(),
            decoded: vec![0; MAX_DECODED].into_boxed_slice(),
            resampled: vec![0; SampleRate::Hz48000.frame_20ms()].into_boxed_slice(),
            encoded: vec![0; OPUS_MAX_PACKET].into_boxed_slice(),
            numbering: RtpNumbering {
                ssrc: config.ssrc,
                seq: config.first_seq,
                timestamp: config.first_timestamp,
            },
            due: start,
            marker: true,
            input_ssrc: None,
            stats: TranscodeStats::default(),
        })
    }

    /// An RTP packet of the input codec (or RFC 3389 comfort noise) arrived at `arrival`. The
    /// caller filters out other payload types (telephone-events).
    pub fn on_packet(&mut self, packet: &[u8], arrival: Instant) {
        self.stats.received += 1;
        let Ok(header) = RtpHeader::parse(packet) else {
            self.stats.refused += 1;
            return;
        };
        let payload = header.payload();
        let Some(inline) = Payload::new(payload).filter(|_| !payload.is_empty()) else {
            self.stats.refused += 1;
            return;
        };
        let jp = JitterPacket::new(
            header.sequence(),
            header.timestamp(),
            header.ssrc(),
            inline,
            arrival,
        )
        .with_marker(header.marker())
        .with_comfort_noise(header.payload_type() == PT_COMFORT_NOISE);
        let _ = self.jitter.insert(jp, arrival);
    }

    /// Runs the ticks due at `now`; writes the next output packet into `out` (which should hold
    /// [`Transcode::max_packet_len`] bytes) and returns its length. Call until `None`, then
    /// sleep until [`Transcode::poll_timeout`].
    pub fn poll(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        while self.due <= now {
            let behind = now.duration_since(self.due);
            if behind >= FRAME * MAX_CATCH_UP {
                let skipped =
                    (behind - FRAME * (MAX_CATCH_UP - 1)).as_micros() / FRAME.as_micros().max(1);
                let skipped = u32::try_from(skipped).unwrap_or(u32::MAX);
                self.due += FRAME * skipped;
                self.numbering
                    .advance(self.to.frame_ticks().wrapping_mul(skipped));
                self.stats.skipped += u64::from(skipped);
                self.marker = true;
            }
            self.due += FRAME;
            let written = self.tick(now, out);
            self.numbering.advance(self.to.frame_ticks());
            if written.is_some() {
                return written;
            }
        }
        None
    }

    /// When the next tick is due.
    pub fn poll_timeout(&self) -> Instant {
        self.due
    }

    /// The largest packet [`Transcode::poll`] writes.
    pub fn max_packet_len(&self) -> usize {
        RTP_HEADER_LEN + OPUS_MAX_PACKET
    }

    /// Input and output codecs.
    pub fn codecs(&self) -> (AudioCodec, AudioCodec) {
        (self.from, self.to)
    }

    /// The output SSRC.
    pub fn ssrc(&self) -> u32 {
        self.numbering.ssrc
    }

    /// Counters of this direction.
    pub fn stats(&self) -> TranscodeStats {
        self.stats
    }

    /// Counters of the input's jitter buffer.
    pub fn jitter_stats(&self) -> JitterStats {
        self.jitter.stats()
    }

    /// One 20 ms tick: a frame of PCM from the buffer, encoded and written, or nothing.
    fn tick(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        if !self.next_pcm(now) {
            self.stats.silent += 1;
            self.marker = true;
            if let Decoder::G711 { repeats, .. } = &mut self.decoder {
                *repeats = G711_PLC_FRAMES;
            }
            return None;
        }
        let pcm: &[i16] = match &mut self.resampler {
            None => &self.decoded[..self.decoded_frame],
            Some(rs) => {
                let n = rs
                    .process(&self.decoded[..self.decoded_frame], &mut self.resampled)
                    .ok()?;
                &self.resampled[..n]
            }
        };
        if pcm.len() != self.encoded_frame {
            self.stats.encode_errors += 1;
            return None;
        }
        let n = match &mut self.encoder {
            Encoder::G711(law) => law.encode(pcm, &mut self.encoded),
            Encoder::Opus(enc) => enc.encode(pcm, &mut self.encoded),
        };
        let Ok(n) = n else {
            self.stats.encode_errors += 1;
            return None;
        };
        if out.len() < RTP_HEADER_LEN + n {
            self.stats.encode_errors += 1;
            return None;
        }
        let fields = self.numbering.next(self.payload_type, self.marker);
        self.marker = false;
        self.stats.sent += 1;
        write_rtp(out, fields, &self.encoded[..n])
    }

    /// Fills `decoded[..decoded_frame]` for this tick; `false` when there is nothing to play.
    fn next_pcm(&mut self, now: Instant) -> bool {
        let frame = self.decoded_frame;
        match self.jitter.pop(now) {
            Playout::Frame(packet) => {
                if packet.comfort_noise {
                    return false;
                }
                if self.input_ssrc.is_some_and(|s| s != packet.ssrc) {
                    self.marker = true;
                }
                self.input_ssrc = Some(packet.ssrc);
                if self.decode(packet.payload.as_slice()) {
                    self.stats.decoded += 1;
                } else {
                    self.stats.decode_errors += 1;
                    self.conceal();
                }
                true
            }
            Playout::Conceal { fec_from } => {
                let fec = match (&mut self.decoder, fec_from) {
                    (Decoder::Opus(dec), Some(next)) => dec
                        .decode_fec(next.payload.as_slice(), &mut self.decoded[..frame])
                        .is_ok_and(|n| n == frame),
                    _ => false,
                };
                if fec {
                    self.stats.fec += 1;
                } else {
                    self.conceal();
                }
                true
            }
            Playout::ComfortNoise | Playout::Silence | Playout::Empty => false,
        }
    }

    /// Decodes one packet into exactly one frame; `false` on a decoder error.
    fn decode(&mut self, payload: &[u8]) -> bool {
        let frame = self.decoded_frame;
        let n = match &mut self.decoder {
            Decoder::G711 { law, last, repeats } => {
                let take = payload.len().min(frame);
                if law
                    .decode(&payload[..take], &mut self.decoded[..take])
                    .is_err()
                {
                    return false;
                }
                self.decoded[take..frame].fill(0);
                last.copy_from_slice(&self.decoded[..frame]);
                *repeats = 0;
                payload.len()
            }
            Decoder::Opus(dec) => match dec.decode(payload, &mut self.decoded) {
                Ok(n) => n,
                Err(_) => return false,
            },
        };
        if n != frame {
            self.stats.wrong_duration += 1;
            if n < frame {
                self.decoded[n..frame].fill(0);
            }
        }
        true
    }

    /// Fills one frame for a lost packet.
    fn conceal(&mut self) {
        self.stats.concealed += 1;
        let frame = self.decoded_frame;
        match &mut self.decoder {
            Decoder::Opus(dec) => {
                if dec.conceal(&mut self.decoded[..frame]).is_err() {
                    self.decoded[..frame].fill(0);
                }
            }
            Decoder::G711 { last, repeats, .. } => {
                *repeats = repeats.saturating_add(1);
                let shift = *repeats;
                for (d, &s) in self.decoded[..frame].iter_mut().zip(last.iter()) {
                    *d = if shift > G711_PLC_FRAMES {
                        0
                    } else {
                        s >> shift
                    };
                }
            }
        }
    }
}

/// PCMA ↔ PCMU: re-encodes each G.711 byte of `payload` in place from `from` to `to` through a
/// 256-entry table (decode then encode, precomputed). Equal laws leave it untouched.
pub fn convert_g711(from: G711Law, to: G711Law, payload: &mut [u8]) {
    static TABLES: OnceLock<[[u8; 256]; 2]> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        let mut a_to_u = [0u8; 256];
        let mut u_to_a = [0u8; 256];
        for code in 0..=255u8 {
            let i = usize::from(code);
            a_to_u[i] = codec::g711::encode_ulaw_sample(codec::g711::decode_alaw_sample(code));
            u_to_a[i] = codec::g711::encode_alaw_sample(codec::g711::decode_ulaw_sample(code));
        }
        [a_to_u, u_to_a]
    });
    let table = match (from, to) {
        (G711Law::Alaw, G711Law::Ulaw) => &tables[0],
        (G711Law::Ulaw, G711Law::Alaw) => &tables[1],
        _ => return,
    };
    for b in payload {
        *b = table[usize::from(*b)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TONE_HZ: f64 = 440.0;

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
            .fold((0.0, 0.0), |best, hz| {
                let p = power(hz);
                if p > best.1 {
                    (hz, p)
                } else {
                    best
                }
            })
            .0
    }

    fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; RTP_HEADER_LEN + payload.len()];
        write_rtp(
            &mut p,
            crate::stream::RtpFields {
                marker: false,
                payload_type: pt,
                seq,
                timestamp: ts,
                ssrc,
            },
            payload,
        );
        p
    }

    /// 20 ms G.711 frames of the tone.
    fn g711_packets(law: G711Law, frames: usize) -> Vec<Vec<u8>> {
        (0..frames)
            .map(|i| {
                let pcm = tone(8000, i * 160, 160);
                let mut codes = [0u8; 160];
                law.encode(&pcm, &mut codes).expect("160 samples");
                rtp(8, i as u16, i as u32 * 160, 0xa, &codes)
            })
            .collect()
    }

    /// 20 ms Opus packets of the tone (48 kHz source, FEC on).
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
                rtp(111, 1000 + i as u16, i as u32 * 960, 0xb, &buf[..n])
            })
            .collect()
    }

    struct Out {
        /// The tick (20 ms from the start) it was sent on.
        tick: u32,
        marker: bool,
        seq: u16,
        ts: u32,
        ssrc: u32,
        pt: u8,
        payload: Vec<u8>,
    }

    /// Feeds `packets` (None = lost) at 20 ms intervals, polling each tick; returns the output.
    fn run(t: &mut Transcode, t0: Instant, packets: &[Option<Vec<u8>>], extra: usize) -> Vec<Out> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; t.max_packet_len()];
        for i in 0..packets.len() + extra {
            let now = t0 + FRAME * i as u32;
            if let Some(Some(p)) = packets.get(i) {
                t.on_packet(p, now);
            }
            while let Some(n) = t.poll(now, &mut buf) {
                let h = RtpHeader::parse(&buf[..n]).expect("valid output");
                out.push(Out {
                    tick: i as u32,
                    marker: h.marker(),
                    seq: h.sequence(),
                    ts: h.timestamp(),
                    ssrc: h.ssrc(),
                    pt: h.payload_type(),
                    payload: h.payload().to_vec(),
                });
            }
            assert_eq!(t.poll_timeout(), now + FRAME);
        }
        out
    }

    fn assert_continuous(out: &[Out], ticks: u32) {
        assert!(out[0].marker, "first packet starts a talk spurt");
        for w in out.windows(2) {
            assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
            assert_eq!(w[1].ts, w[0].ts.wrapping_add(ticks));
            assert!(!w[1].marker);
        }
    }

    #[test]
    fn pcma_to_opus_keeps_the_tone_with_48khz_timestamps() {
        let t0 = Instant::now();
        let cfg = TranscodeConfig::new(AudioCodec::Pcma, AudioCodec::Opus, 111, 0x5151);
        let mut t = Transcode::new(&cfg, t0).expect("transcode");
        let packets: Vec<_> = g711_packets(G711Law::Alaw, 50)
            .into_iter()
            .map(Some)
            .collect();
        let out = run(&mut t, t0, &packets, 10);
        assert!(out.len() >= 45, "{} packets", out.len());
        assert_continuous(&out, 960);
        assert!(out.iter().all(|o| o.pt == 111 && o.ssrc == 0x5151));
        let mut dec = OpusDecoder::new(SampleRate::Hz48000).expect("decoder");
        let mut pcm = Vec::new();
        let mut frame = [0i16; 960];
        for o in &out {
            let n = dec.decode(&o.payload, &mut frame).expect("decodable");
            pcm.extend_from_slice(&frame[..n]);
        }
        let hz = dominant_hz(&pcm[9600..], 48_000);
        assert!((hz - TONE_HZ).abs() <= 20.0, "dominant {hz} Hz");
        assert_eq!(t.stats().sent, out.len() as u64);
        // Nothing lost; the 3 concealed frames are the tail: after the last packet the buffer
        // cannot tell the end of the stream from a loss until `max_plc_frames` have passed.
        assert_eq!((t.stats().fec, t.stats().concealed), (0, 3));
    }

    #[test]
    fn opus_to_pcmu_rebuilds_losses_with_fec_and_plc() {
        let t0 = Instant::now();
        let mut cfg = TranscodeConfig::new(AudioCodec::Opus, AudioCodec::Pcmu, 0, 0x7777);
        // No frame dropped or inserted for delay, so every count below is exact.
        cfg.jitter.adapt_in_talkspurt = false;
        let mut t = Transcode::new(&cfg, t0).expect("transcode");
        let mut packets: Vec<_> = opus_packets(60).into_iter().map(Some).collect();
        // One lost packet (the next one's FEC rebuilds it), then two in a row (PLC, then FEC).
        packets[20] = None;
        packets[40] = None;
        packets[41] = None;
        let out = run(&mut t, t0, &packets, 10);
        let s = t.stats();
        assert_eq!(s.fec, 2, "{s:?}");
        // One for the first of the pair, three for the tail (see the test above).
        assert_eq!(s.concealed, 1 + 3, "{s:?}");
        assert_eq!(s.decoded, 57);
        assert_eq!(t.jitter_stats().lost, 3);
        // The losses cost no output packet: one packet per tick from the first to the last.
        assert_eq!(out.len(), 60 + 3);
        assert_continuous(&out, 160);
        let mut pcm = vec![0i16; out.len() * 160];
        for (o, chunk) in out.iter().zip(pcm.chunks_exact_mut(160)) {
            assert_eq!((o.pt, o.payload.len()), (0, 160));
            G711Law::Ulaw.decode(&o.payload, chunk).expect("decode");
        }
        let hz = dominant_hz(&pcm[1600..], 8000);
        assert!((hz - TONE_HZ).abs() <= 20.0, "dominant {hz} Hz");
    }

    #[test]
    fn opus_at_48khz_goes_through_the_resampler() {
        let t0 = Instant::now();
        let mut cfg = TranscodeConfig::new(AudioCodec::Opus, AudioCodec::Pcma, 8, 1);
        cfg.opus_rate = SampleRate::Hz48000;
        let mut t = Transcode::new(&cfg, t0).expect("transcode");
        assert!(t.resampler.is_some());
        let packets: Vec<_> = opus_packets(40).into_iter().map(Some).collect();
        let out = run(&mut t, t0, &packets, 5);
        let mut pcm = vec![0i16; out.len() * 160];
        for (o, chunk) in out.iter().zip(pcm.chunks_exact_mut(160)) {
            G711Law::Alaw.decode(&o.payload, chunk).expect("decode");
        }
        let hz = dominant_hz(&pcm[1600..], 8000);
        assert!((hz - TONE_HZ).abs() <= 20.0, "dominant {hz} Hz");
    }

    #[test]
    fn pause_and_ssrc_change_set_the_marker_and_timestamps_follow_the_clock() {
        let t0 = Instant::now();
        let cfg = TranscodeConfig::new(AudioCodec::Pcmu, AudioCodec::Opus, 96, 9);
        let mut t = Transcode::new(&cfg, t0).expect("transcode");
        let spurt = g711_packets(G711Law::Ulaw, 20);
        let mut packets: Vec<Option<Vec<u8>>> = spurt.iter().cloned().map(Some).collect();
        // 400 ms of DTX: nothing sent, the timestamps jump by 20 frames.
        packets.extend(std::iter::repeat_n(None, 20));
        for (i, p) in spurt.iter().enumerate() {
            let mut p = p.clone();
            let seq = 20 + i as u16;
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            p[4..8].copy_from_slice(&((40 + i as u32) * 160).to_be_bytes());
            packets.push(Some(p));
        }
        // A new source (a transfer on the far side), numbered from elsewhere.
        for (i, p) in spurt.iter().enumerate() {
            let mut p = p.clone();
            p[2..4].copy_from_slice(&(5000 + i as u16).to_be_bytes());
            p[4..8].copy_from_slice(&(77_000 + i as u32 * 160).to_be_bytes());
            p[8..12].copy_from_slice(&0xfeedu32.to_be_bytes());
            packets.push(Some(p));
        }
        let out = run(&mut t, t0, &packets, 10);
        let starts: Vec<usize> = (0..out.len()).filter(|&i| out[i].marker).collect();
        assert_eq!(
            starts.len(),
            3,
            "first, after the pause, after the SSRC change"
        );
        for w in out.windows(2) {
            assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "no sequence gap");
            let dt = w[1].ts.wrapping_sub(w[0].ts);
            assert!(dt >= 960 && dt % 960 == 0);
            if !w[1].marker {
                assert_eq!(dt, 960);
            }
        }
        for o in &out {
            assert_eq!(
                o.ts,
                960 * o.tick,
                "timestamps follow the 20 ms ticks, pause included"
            );
        }
        let pause = out[starts[1]].tick - out[starts[1] - 1].tick;
        assert!(pause > 10, "a pause of {pause} ticks");
        assert_eq!(t.jitter_stats().ssrc_changes, 1);
    }

    #[test]
    fn late_caller_skips_ticks_not_bursts() {
        let t0 = Instant::now();
        let cfg = TranscodeConfig::new(AudioCodec::Pcma, AudioCodec::Pcmu, 0, 3);
        let mut t = Transcode::new(&cfg, t0).expect("transcode");
        let mut buf = vec![0u8; t.max_packet_len()];
        let packets = g711_packets(G711Law::Alaw, 100);
        for (i, p) in packets.iter().enumerate() {
            t.on_packet(p, t0 + FRAME * i as u32);
        }
        let mut sent = 0;
        while t.poll(t0 + Duration::from_secs(2), &mut buf).is_some() {
            sent += 1;
        }
        assert!(sent <= MAX_CATCH_UP as usize, "{sent}");
        assert!(t.stats().skipped > 90);
    }

    #[test]
    fn bad_input_is_counted_not_fatal() {
        let t0 = Instant::now();
        let cfg = TranscodeConfig::new(AudioCodec::Opus, AudioCodec::Pcma, 8, 3);
        let mut t = Transcode::new(&cfg, t0).expect("transcode");
        t.on_packet(&[0x80, 1, 2], t0);
        t.on_packet(&rtp(111, 1, 0, 1, &[]), t0);
        t.on_packet(&rtp(111, 1, 0, 1, &[0; MAX_PAYLOAD + 1]), t0);
        assert_eq!(t.stats().refused, 3);
        // A corrupt Opus stream: concealed, never a panic.
        let mut buf = vec![0u8; t.max_packet_len()];
        for i in 0..20u16 {
            let now = t0 + FRAME * u32::from(i);
            t.on_packet(&rtp(111, i, u32::from(i) * 960, 1, &[0xff; 40]), now);
            while t.poll(now, &mut buf).is_some() {}
        }
        assert!(t.stats().decode_errors > 0);
    }

    #[test]
    fn g711_table_matches_decode_then_encode() {
        let pcm = tone(8000, 0, 400);
        let mut a = vec![0u8; 400];
        G711Law::Alaw.encode(&pcm, &mut a).expect("encode");
        let mut u = a.clone();
        convert_g711(G711Law::Alaw, G711Law::Ulaw, &mut u);
        let mut via = vec![0i16; 400];
        G711Law::Alaw.decode(&a, &mut via).expect("decode");
        let mut want = vec![0u8; 400];
        G711Law::Ulaw.encode(&via, &mut want).expect("encode");
        assert_eq!(u, want);
        let mut back = u.clone();
        convert_g711(G711Law::Ulaw, G711Law::Alaw, &mut back);
        let mut same = back.clone();
        convert_g711(G711Law::Alaw, G711Law::Alaw, &mut same);
        assert_eq!(same, back);
    }
}
