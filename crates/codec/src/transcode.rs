//! PCMA/PCMU ↔ Opus for one bridged call whose legs share no codec.
//!
//! One [`Transcoder`] per call holds both directions: G.711 → Opus (decode the 8 kHz frame,
//! resample to the Opus encoder's rate, encode) and Opus → G.711 (decode at the configured rate,
//! resample to 8 kHz, compand). Buffers are sized at construction for the longest Opus packet
//! (120 ms), so no call allocates. The jitter buffer sits in front of the Opus → G.711 direction
//! (in the `media` crate) and picks [`Transcoder::opus_to_g711`],
//! [`Transcoder::opus_fec_to_g711`] or [`Transcoder::opus_conceal_to_g711`] per frame.
//!
//! Which Opus rate: G.711 carries 300–3400 Hz, so upsampling it to 48 kHz adds no audio, only
//! work: the resampler, and an encoder coding an empty high band. Opus accepts 8 kHz PCM
//! directly and the RTP clock stays 48 kHz (RFC 7587), so the peer sees ordinary Opus. The
//! recommended setting is therefore `SampleRate::Hz8000` (narrowband Opus, no resampler in
//! either direction): 100 µs per channel (both directions, 20 ms of speech), about 200
//! channels per core here. At 48 kHz the encoder is capped at narrowband unless the config
//! says otherwise (145 µs, about 138 channels); left free it codes hybrid super-wideband from
//! an empty high band (243 µs, about 82 channels). Bench: `benches/codec.rs`.

use crate::g711::G711Law;
use crate::opus::{Bandwidth, OpusConfig, OpusDecoder, OpusEncoder};
use crate::{Error, Resampler, SampleRate};

/// 20 ms of G.711: 160 bytes at 8 kHz.
const G711_FRAME: usize = 160;

/// The two codecs of a transcoded call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TranscoderConfig {
    /// PCMA or PCMU on the G.711 leg.
    pub law: G711Law,
    /// The Opus leg's encoder; its `sample_rate` is also the decoder's output rate.
    /// `max_bandwidth: None` means narrowband here, as G.711 has nothing above 4 kHz.
    pub opus: OpusConfig,
}

impl TranscoderConfig {
    /// Narrowband Opus at 8 kHz: no resampling, the cheapest path (see the module doc).
    pub fn narrowband(law: G711Law) -> Self {
        Self {
            law,
            opus: OpusConfig::voip(SampleRate::Hz8000),
        }
    }
}

/// Both directions of PCMA/PCMU ↔ Opus for one call.
#[derive(Debug)]
pub struct Transcoder {
    law: G711Law,
    encoder: OpusEncoder,
    decoder: OpusDecoder,
    up: Resampler,
    down: Resampler,
    /// PCM at 8 kHz, up to 120 ms.
    narrow: Vec<i16>,
    /// PCM at the Opus rate, up to 120 ms.
    wide: Vec<i16>,
}

impl Transcoder {
    /// Builds encoder, decoder and resamplers.
    pub fn new(cfg: &TranscoderConfig) -> Result<Self, Error> {
        let rate = cfg.opus.sample_rate;
        let opus = OpusConfig {
            max_bandwidth: cfg.opus.max_bandwidth.or(Some(Bandwidth::Narrowband)),
            ..cfg.opus
        };
        Ok(Self {
            law: cfg.law,
            encoder: OpusEncoder::new(&opus)?,
            decoder: OpusDecoder::new(rate)?,
            up: Resampler::new(SampleRate::Hz8000, rate)?,
            down: Resampler::new(rate, SampleRate::Hz8000)?,
            narrow: vec![0; SampleRate::Hz8000.frame_20ms() * 6],
            wide: vec![0; rate.frame_20ms() * 6],
        })
    }

    /// The G.711 law of the narrowband leg.
    pub fn law(&self) -> G711Law {
        self.law
    }

    /// Encodes one 20 ms G.711 frame (160 bytes) as one Opus packet into `out` (which should
    /// hold 1275 bytes); returns the packet length.
    pub fn g711_to_opus(&mut self, g711: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        if g711.len() != G711_FRAME {
            return Err(Error::FrameSize {
                expected: G711_FRAME,
                got: g711.len(),
            });
        }
        let narrow = &mut self.narrow[..G711_FRAME];
        self.law.decode(g711, narrow)?;
        let n = self.up.process(narrow, &mut self.wide)?;
        self.encoder.encode(&self.wide[..n], out)
    }

    /// Decodes one Opus packet into G.711 bytes in `out`; returns how many (160 per 20 ms).
    pub fn opus_to_g711(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let n = self.decoder.decode(packet, &mut self.wide)?;
        self.narrow_to_g711(n, out)
    }

    /// Rebuilds a lost frame of `out.len()` G.711 samples (160 for 20 ms; a multiple of 20)
    /// from the FEC data in the packet after it. Decode `next_packet` normally afterwards.
    pub fn opus_fec_to_g711(&mut self, next_packet: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let wide = self.lost_len(out.len())?;
        let n = self
            .decoder
            .decode_fec(next_packet, &mut self.wide[..wide])?;
        self.narrow_to_g711(n, out)
    }

    /// Conceals a lost frame of `out.len()` G.711 samples (a multiple of 20) with Opus PLC.
    pub fn opus_conceal_to_g711(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let wide = self.lost_len(out.len())?;
        let n = self.decoder.conceal(&mut self.wide[..wide])?;
        self.narrow_to_g711(n, out)
    }

    /// Opus-rate samples for a lost stretch of `narrow` 8 kHz samples.
    fn lost_len(&self, narrow: usize) -> Result<usize, Error> {
        let wide = narrow * (self.decoder.rate().hz() / 8_000) as usize;
        if narrow == 0 || !narrow.is_multiple_of(20) || wide > self.wide.len() {
            return Err(Error::FrameSize {
                expected: G711_FRAME,
                got: narrow,
            });
        }
        Ok(wide)
    }

    fn narrow_to_g711(&mut self, wide: usize, out: &mut [u8]) -> Result<usize, Error> {
        let n = self.down.process(&self.wide[..wide], &mut self.narrow)?;
        self.law.encode(&self.narrow[..n], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711;
    use crate::OPUS_MAX_PACKET;

    fn tone_8k(hz: f64, amp: f64, len: usize) -> Vec<i16> {
        (0..len)
            .map(|i| (amp * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
            .collect()
    }

    fn best_correlation(x: &[i16], y: &[i16], max_lag: usize) -> (usize, f64) {
        (0..max_lag)
            .map(|lag| {
                let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
                for (a, b) in x.iter().zip(&y[lag..]) {
                    let (a, b) = (f64::from(*a), f64::from(*b));
                    xy += a * b;
                    xx += a * a;
                    yy += b * b;
                }
                (lag, xy / (xx * yy).sqrt())
            })
            .fold((0, f64::MIN), |best, c| if c.1 > best.1 { c } else { best })
    }

    /// G.711 → Opus on one transcoder, Opus → G.711 on another (the far end's view), and the
    /// audio that comes back matches what went in.
    fn loop_through(rate: SampleRate, law: G711Law) {
        let cfg = TranscoderConfig {
            law,
            opus: OpusConfig {
                bitrate_bps: 24_000,
                ..OpusConfig::voip(rate)
            },
        };
        let mut near = Transcoder::new(&cfg).unwrap();
        let mut far = Transcoder::new(&cfg).unwrap();
        let pcm = tone_8k(700.0, 8000.0, 8000);
        let mut g711_in = vec![0u8; pcm.len()];
        law.encode(&pcm, &mut g711_in).unwrap();
        let mut packet = [0u8; OPUS_MAX_PACKET];
        let mut back = vec![0u8; 160];
        let mut out_pcm = Vec::new();
        for frame in g711_in.chunks_exact(160) {
            let n = near.g711_to_opus(frame, &mut packet).unwrap();
            assert!(n > 0 && n < 200, "packet of {n} bytes");
            assert_eq!(far.opus_to_g711(&packet[..n], &mut back), Ok(160));
            let mut dec = [0i16; 160];
            law.decode(&back, &mut dec).unwrap();
            out_pcm.extend_from_slice(&dec);
        }
        let (lag, c) = best_correlation(&pcm[800..7000], &out_pcm[800..], 200);
        assert!(c > 0.9, "{rate:?} {law:?}: correlation {c:.3} at lag {lag}");
    }

    #[test]
    fn g711_opus_g711_keeps_the_signal_at_every_rate() {
        loop_through(SampleRate::Hz8000, G711Law::Alaw);
        loop_through(SampleRate::Hz16000, G711Law::Ulaw);
        loop_through(SampleRate::Hz48000, G711Law::Alaw);
    }

    #[test]
    fn loss_paths_produce_full_frames() {
        let cfg = TranscoderConfig::narrowband(G711Law::Ulaw);
        let mut t = Transcoder::new(&cfg).unwrap();
        let mut other = Transcoder::new(&cfg).unwrap();
        let pcm = tone_8k(440.0, 6000.0, 1600);
        let mut codes = vec![0u8; 1600];
        g711::encode_ulaw(&pcm, &mut codes).unwrap();
        let mut packets = Vec::new();
        let mut buf = [0u8; OPUS_MAX_PACKET];
        for f in codes.chunks_exact(160) {
            let n = other.g711_to_opus(f, &mut buf).unwrap();
            packets.push(buf[..n].to_vec());
        }
        let mut out = [0u8; 160];
        assert_eq!(t.opus_to_g711(&packets[0], &mut out), Ok(160));
        assert_eq!(t.opus_fec_to_g711(&packets[2], &mut out), Ok(160));
        assert_eq!(t.opus_to_g711(&packets[2], &mut out), Ok(160));
        assert_eq!(t.opus_conceal_to_g711(&mut out), Ok(160));
        // Concealed audio continues the tone rather than going silent.
        assert!(out.iter().any(|&c| c != G711Law::Ulaw.silence()));
        let mut odd = [0u8; 150];
        assert!(matches!(
            t.opus_conceal_to_g711(&mut odd),
            Err(Error::FrameSize { .. })
        ));
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let mut t = Transcoder::new(&TranscoderConfig::narrowband(G711Law::Alaw)).unwrap();
        let mut out = [0u8; OPUS_MAX_PACKET];
        assert_eq!(
            t.g711_to_opus(&[0xD5; 80], &mut out),
            Err(Error::FrameSize {
                expected: 160,
                got: 80
            })
        );
        assert_eq!(t.opus_to_g711(&[], &mut out), Err(Error::EmptyPacket));
        // A 20 ms packet into a 10 ms G.711 buffer.
        let n = t.g711_to_opus(&[0xD5; 160], &mut out).unwrap();
        let packet = out[..n].to_vec();
        let mut small = [0u8; 80];
        assert!(matches!(
            t.opus_to_g711(&packet, &mut small),
            Err(Error::OutputTooSmall {
                need: 160,
                have: 80
            })
        ));
        assert_eq!(t.law(), G711Law::Alaw);
    }
}
