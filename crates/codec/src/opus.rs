//! Opus (RFC 6716) through libopus: mono, `OPUS_APPLICATION_VOIP`, with in-band FEC and PLC.
//!
//! Which binding, and why: the `opus` crate (0.4, over `opusic-sys`) builds the libopus 1.6.1
//! it bundles with cmake and links it statically; `audiopus` links the system library, which on
//! Debian 12 is libopus 1.3.1. Measured here (release, 20 ms of speech at 48 kHz, 32 kbit/s,
//! FEC on, 10 % expected loss, default complexity 9, best of 300 rounds × 100 frames):
//! encode 226 µs with 1.6.1 against 358 µs with 1.3.1 (−37 %), decode 28.6 µs against
//! 30.4 µs. Both wrappers are within ±1 % of direct libopus calls. Encoding dominates the cost
//! of a transcoded channel, so the newer library wins; the price is a C toolchain and cmake
//! at build time (no libopus-dev needed). Nothing outside this file names the binding, so it
//! can be swapped back.
//!
//! The RTP clock of Opus is always 48 kHz (RFC 7587), whatever rate the encoder or decoder runs
//! at: an encoder fed 8 kHz audio produces ordinary packets any peer decodes, and a decoder
//! created at 8 kHz outputs 8 kHz directly. The transcoder uses that to skip resampling.

use crate::{Error, SampleRate};

/// The largest packet libopus produces for one frame (RFC 6716 §3.4: 1275 bytes per frame).
pub const MAX_PACKET: usize = 1275;

/// Audio bandwidth an encoder may use. Limiting it saves encoder work when the source is
/// already band-limited (G.711 carries nothing above 4 kHz).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bandwidth {
    /// 4 kHz audio bandwidth, SILK at 8 kHz.
    Narrowband,
    /// 6 kHz.
    Mediumband,
    /// 8 kHz, SILK at 16 kHz.
    Wideband,
    /// 12 kHz, hybrid.
    Superwideband,
    /// 20 kHz.
    Fullband,
}

impl Bandwidth {
    fn raw(self) -> opus::Bandwidth {
        match self {
            Self::Narrowband => opus::Bandwidth::Narrowband,
            Self::Mediumband => opus::Bandwidth::Mediumband,
            Self::Wideband => opus::Bandwidth::Wideband,
            Self::Superwideband => opus::Bandwidth::Superwideband,
            Self::Fullband => opus::Bandwidth::Fullband,
        }
    }
}

/// How to build an [`OpusEncoder`]. Mono and VOIP are fixed: this is a telephony engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpusConfig {
    /// Rate of the PCM handed to the encoder (not the RTP clock, which stays 48 kHz).
    pub sample_rate: SampleRate,
    /// Target bitrate, 6 000 ..= 510 000 bit/s.
    pub bitrate_bps: u32,
    /// Put LBRR (in-band FEC) data for the previous frame in each packet.
    pub fec: bool,
    /// Loss the encoder should expect, 0 ..= 100; with `fec` it decides how much to protect.
    pub expected_loss_pct: u8,
    /// 0 ..= 10; `None` keeps libopus's default (9 in 1.6). Lower is cheaper and worse.
    pub complexity: Option<u8>,
    /// Cap on the coded audio bandwidth; `None` lets libopus pick from rate and bitrate.
    pub max_bandwidth: Option<Bandwidth>,
}

impl OpusConfig {
    /// Telephony defaults: 24 kbit/s, FEC on, 10 % expected loss, default complexity.
    pub fn voip(sample_rate: SampleRate) -> Self {
        Self {
            sample_rate,
            bitrate_bps: 24_000,
            fec: true,
            expected_loss_pct: 10,
            complexity: None,
            max_bandwidth: None,
        }
    }
}

/// A mono VOIP Opus encoder taking exactly 20 ms frames.
pub struct OpusEncoder {
    inner: opus::Encoder,
    frame: usize,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("frame", &self.frame)
            .finish()
    }
}

impl OpusEncoder {
    /// Creates and configures an encoder.
    pub fn new(cfg: &OpusConfig) -> Result<Self, Error> {
        if !(6_000..=510_000).contains(&cfg.bitrate_bps) {
            return Err(Error::Config("bitrate must be 6000..=510000 bit/s"));
        }
        if cfg.expected_loss_pct > 100 {
            return Err(Error::Config("expected loss must be 0..=100 %"));
        }
        if cfg.complexity.is_some_and(|c| c > 10) {
            return Err(Error::Config("complexity must be 0..=10"));
        }
        let mut inner = opus::Encoder::new(
            cfg.sample_rate.hz(),
            opus::Channels::Mono,
            opus::Application::Voip,
        )
        .map_err(map_err)?;
        // Range-checked above, so the casts are exact.
        inner
            .set_bitrate(opus::Bitrate::Bits(cfg.bitrate_bps as i32))
            .map_err(map_err)?;
        inner.set_inband_fec(cfg.fec).map_err(map_err)?;
        inner
            .set_packet_loss_perc(i32::from(cfg.expected_loss_pct))
            .map_err(map_err)?;
        if let Some(c) = cfg.complexity {
            inner.set_complexity(i32::from(c)).map_err(map_err)?;
        }
        if let Some(bw) = cfg.max_bandwidth {
            inner.set_max_bandwidth(bw.raw()).map_err(map_err)?;
        }
        Ok(Self {
            inner,
            frame: cfg.sample_rate.frame_20ms(),
        })
    }

    /// Samples per input frame (20 ms at the configured rate).
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// Encodes one 20 ms frame into `out`; returns the packet length. `out` should hold
    /// [`MAX_PACKET`] bytes; libopus reports an error rather than overrun a smaller one.
    pub fn encode(&mut self, frame: &[i16], out: &mut [u8]) -> Result<usize, Error> {
        if frame.len() != self.frame {
            return Err(Error::FrameSize {
                expected: self.frame,
                got: frame.len(),
            });
        }
        self.inner.encode(frame, out).map_err(map_err)
    }

    /// Samples the encoder looks ahead: decoded output lags the input by this much.
    pub fn lookahead(&mut self) -> Result<usize, Error> {
        let la = self.inner.get_lookahead().map_err(map_err)?;
        usize::try_from(la).map_err(|_| Error::Config("negative lookahead"))
    }

    /// Adapts FEC strength to the loss the far end reports (RTCP), 0 ..= 100.
    pub fn set_expected_loss(&mut self, pct: u8) -> Result<(), Error> {
        if pct > 100 {
            return Err(Error::Config("expected loss must be 0..=100 %"));
        }
        self.inner
            .set_packet_loss_perc(i32::from(pct))
            .map_err(map_err)
    }
}

/// A mono Opus decoder with FEC recovery and packet-loss concealment.
pub struct OpusDecoder {
    inner: opus::Decoder,
    rate: SampleRate,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("rate", &self.rate)
            .finish()
    }
}

impl OpusDecoder {
    /// Creates a decoder producing PCM at `rate`, whatever rate the sender encoded at.
    pub fn new(rate: SampleRate) -> Result<Self, Error> {
        let inner = opus::Decoder::new(rate.hz(), opus::Channels::Mono).map_err(map_err)?;
        Ok(Self { inner, rate })
    }

    /// Output rate.
    pub fn rate(&self) -> SampleRate {
        self.rate
    }

    /// Decodes one packet into `out`; returns the samples written. `out` must hold the
    /// packet's duration (20 ms normally, [`packet_samples`] tells; 120 ms at most).
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, Error> {
        if packet.is_empty() {
            return Err(Error::EmptyPacket);
        }
        self.inner.decode(packet, out, false).map_err(map_err)
    }

    /// Rebuilds a lost frame from the LBRR data in the packet that followed it. `out.len()`
    /// is the lost frame's duration (a multiple of 2.5 ms, normally 20 ms). Call it before
    /// decoding `next_packet` itself with [`decode`](Self::decode). When `next_packet` carries
    /// no FEC (sender without FEC, CELT-only mode), libopus conceals instead, as
    /// [`conceal`](Self::conceal) would.
    pub fn decode_fec(&mut self, next_packet: &[u8], out: &mut [i16]) -> Result<usize, Error> {
        if next_packet.is_empty() {
            return Err(Error::EmptyPacket);
        }
        self.check_loss_len(out.len())?;
        self.inner.decode(next_packet, out, true).map_err(map_err)
    }

    /// Packet-loss concealment: synthesises `out.len()` samples (a multiple of 2.5 ms)
    /// continuing the last decoded audio, fading to silence over longer gaps.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, Error> {
        self.check_loss_len(out.len())?;
        self.inner.decode(&[], out, false).map_err(map_err)
    }

    fn check_loss_len(&self, len: usize) -> Result<(), Error> {
        let quantum = self.rate.hz() as usize / 400; // 2.5 ms
        if len == 0 || !len.is_multiple_of(quantum) || len > quantum * 48 {
            return Err(Error::FrameSize {
                expected: self.rate.frame_20ms(),
                got: len,
            });
        }
        Ok(())
    }
}

/// Duration of an Opus packet in samples at `rate`, read from its TOC byte(s); lets a jitter
/// buffer size a lost frame without decoding.
pub fn packet_samples(packet: &[u8], rate: SampleRate) -> Result<usize, Error> {
    if packet.is_empty() {
        return Err(Error::EmptyPacket);
    }
    match opus::packet::get_nb_samples(packet, rate.hz()).map_err(map_err)? {
        // A code-3 packet declaring zero frames (RFC 6716 §3.2.5, R5).
        0 => Err(Error::Opus {
            function: "opus_packet_get_nb_samples",
            reason: "invalid packet",
        }),
        n => Ok(n),
    }
}

fn map_err(e: opus::Error) -> Error {
    Error::Opus {
        function: e.function(),
        reason: e.description(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav::parse_wav;

    fn speech() -> Vec<i16> {
        let wav = parse_wav(include_bytes!("../testdata/speech48k.wav")).unwrap();
        assert_eq!(wav.sample_rate, SampleRate::Hz48000);
        wav.samples
    }

    fn encode_all(cfg: &OpusConfig, pcm: &[i16]) -> (Vec<Vec<u8>>, usize) {
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let la = enc.lookahead().unwrap();
        let mut buf = [0u8; MAX_PACKET];
        let packets = pcm
            .chunks_exact(enc.frame_samples())
            .map(|f| {
                let n = enc.encode(f, &mut buf).unwrap();
                buf[..n].to_vec()
            })
            .collect();
        (packets, la)
    }

    /// Normalised cross-correlation of `x[i]` with `y[i + lag]`.
    fn correlation(x: &[i16], y: &[i16], lag: usize) -> f64 {
        let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
        for (a, b) in x.iter().zip(&y[lag..]) {
            let (a, b) = (f64::from(*a), f64::from(*b));
            xy += a * b;
            xx += a * a;
            yy += b * b;
        }
        xy / (xx * yy).sqrt()
    }

    /// Energy-normalised error of `got` against `want`.
    fn rel_error(want: &[i16], got: &[i16]) -> f64 {
        let (mut e, mut s) = (0f64, 0f64);
        for (a, b) in want.iter().zip(got) {
            let (a, b) = (f64::from(*a), f64::from(*b));
            e += (a - b) * (a - b);
            s += a * a;
        }
        e / s
    }

    #[test]
    fn speech_round_trip_correlates_after_codec_delay() {
        let pcm = speech();
        for (rate, bitrate) in [
            (SampleRate::Hz48000, 32_000),
            (SampleRate::Hz16000, 24_000),
            (SampleRate::Hz8000, 16_000),
        ] {
            let input: Vec<i16> = if rate == SampleRate::Hz48000 {
                pcm.clone()
            } else {
                let mut rs = crate::Resampler::new(SampleRate::Hz48000, rate).unwrap();
                let mut out = vec![0i16; pcm.len()];
                let n = rs.process(&pcm, &mut out).unwrap();
                out.truncate(n);
                out
            };
            let cfg = OpusConfig {
                bitrate_bps: bitrate,
                ..OpusConfig::voip(rate)
            };
            let (packets, la) = encode_all(&cfg, &input);
            let mut dec = OpusDecoder::new(rate).unwrap();
            let mut out = Vec::new();
            let mut frame = vec![0i16; rate.frame_20ms()];
            for p in &packets {
                assert_eq!(packet_samples(p, rate).unwrap(), rate.frame_20ms());
                let n = dec.decode(p, &mut frame).unwrap();
                assert_eq!(n, rate.frame_20ms());
                out.extend_from_slice(&frame);
            }
            let c = correlation(&input[..out.len() - la], &out, la);
            // Measured: 0.88 (48 kHz, 32 kbit/s), 0.95 (16 and 8 kHz).
            assert!(c > 0.8, "{rate:?}: correlation {c:.3} at lag {la}");
            // The lag really is the codec delay: a few samples off, correlation drops.
            let off = correlation(&input[..out.len() - la - 40], &out, la + 40);
            assert!(off < c, "{rate:?}: {off:.3} at lag {} vs {c:.3}", la + 40);
        }
    }

    #[test]
    fn fec_recovers_lost_frames_better_than_plc() {
        let pcm = speech();
        let cfg = OpusConfig {
            bitrate_bps: 32_000,
            expected_loss_pct: 20,
            ..OpusConfig::voip(SampleRate::Hz48000)
        };
        let (packets, la) = encode_all(&cfg, &pcm);
        let frame = SampleRate::Hz48000.frame_20ms();
        let (mut fec_err, mut plc_err, mut fec_wins, mut trials) = (0f64, 0f64, 0, 0);
        // Lose one frame at a time, in every voiced stretch of the sample.
        for lost in (5..packets.len() - 2).step_by(3) {
            let start = lost * frame - la;
            let want = &pcm[start..start + frame];
            let energy: f64 = want.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
            if energy / (frame as f64) < 500.0 * 500.0 {
                continue; // silence or a weak consonant: nothing to compare
            }
            let mut with_fec = OpusDecoder::new(SampleRate::Hz48000).unwrap();
            let mut with_plc = OpusDecoder::new(SampleRate::Hz48000).unwrap();
            let mut out = vec![0i16; frame];
            for p in &packets[..lost] {
                with_fec.decode(p, &mut out).unwrap();
                with_plc.decode(p, &mut out).unwrap();
            }
            let mut rec = vec![0i16; frame];
            assert_eq!(with_fec.decode_fec(&packets[lost + 1], &mut rec), Ok(frame));
            let mut conc = vec![0i16; frame];
            assert_eq!(with_plc.conceal(&mut conc), Ok(frame));
            let (f, p) = (rel_error(want, &rec), rel_error(want, &conc));
            fec_err += f;
            plc_err += p;
            fec_wins += usize::from(f < p);
            trials += 1;
            // Decoding carries on normally after either.
            assert_eq!(with_fec.decode(&packets[lost + 1], &mut out), Ok(frame));
        }
        assert!(trials >= 10, "only {trials} voiced frames");
        // Measured: mean error 0.44 with FEC against 1.0 with PLC, FEC better in 24 of 26.
        assert!(
            fec_err < plc_err * 0.7,
            "mean error FEC {:.3} vs PLC {:.3}",
            fec_err / trials as f64,
            plc_err / trials as f64
        );
        assert!(
            fec_wins * 4 >= trials * 3,
            "FEC better in {fec_wins}/{trials}"
        );
    }

    #[test]
    fn conceal_and_fec_validate_lengths() {
        let mut dec = OpusDecoder::new(SampleRate::Hz8000).unwrap();
        let mut out = [0i16; 160];
        assert_eq!(dec.conceal(&mut out), Ok(160));
        assert!(matches!(
            dec.conceal(&mut out[..17]),
            Err(Error::FrameSize { got: 17, .. })
        ));
        assert!(matches!(dec.conceal(&mut []), Err(Error::FrameSize { .. })));
        assert_eq!(dec.decode_fec(&[], &mut out), Err(Error::EmptyPacket));
        assert_eq!(dec.decode(&[], &mut out), Err(Error::EmptyPacket));
        // 10 ms concealment is allowed (multiple of 2.5 ms).
        assert_eq!(dec.conceal(&mut out[..80]), Ok(80));
    }

    #[test]
    fn garbage_packets_are_errors_not_panics() {
        let mut dec = OpusDecoder::new(SampleRate::Hz48000).unwrap();
        let mut out = vec![0i16; 5760];
        // TOC code 3 (arbitrary frame count) with a frame count byte of 0 is invalid.
        let bad = [0x03u8, 0x00];
        assert!(matches!(
            dec.decode(&bad, &mut out),
            Err(Error::Opus { .. })
        ));
        assert!(packet_samples(&bad, SampleRate::Hz48000).is_err());
        // A valid packet into a too-small buffer is refused, not overrun.
        let (packets, _) = encode_all(&OpusConfig::voip(SampleRate::Hz48000), &[0i16; 960]);
        assert!(dec.decode(&packets[0], &mut out[..100]).is_err());
    }

    #[test]
    fn encoder_rejects_bad_config_and_frames() {
        let base = OpusConfig::voip(SampleRate::Hz16000);
        for bad in [
            OpusConfig {
                bitrate_bps: 10,
                ..base
            },
            OpusConfig {
                expected_loss_pct: 101,
                ..base
            },
            OpusConfig {
                complexity: Some(11),
                ..base
            },
        ] {
            assert!(matches!(OpusEncoder::new(&bad), Err(Error::Config(_))));
        }
        let mut enc = OpusEncoder::new(&base).unwrap();
        assert_eq!(enc.frame_samples(), 320);
        let mut out = [0u8; MAX_PACKET];
        assert_eq!(
            enc.encode(&[0; 160], &mut out),
            Err(Error::FrameSize {
                expected: 320,
                got: 160
            })
        );
        assert!(enc.encode(&[0; 320], &mut out).unwrap() > 0);
        assert!(enc.set_expected_loss(101).is_err());
        assert!(enc.set_expected_loss(5).is_ok());
    }
}
