//! Prompts, hold music and announcements, encoded once per codec into 20 ms frames.
//!
//! Why pre-encode: the same prompt plays into many legs; encoding it once per codec at load
//! time turns playback into sending stored payloads every 20 ms (the `media` crate paces them
//! and stamps RTP). G.711 needs 8 kHz, so other rates are resampled; Opus takes 8, 16 and
//! 48 kHz PCM as it is, so the prompt is encoded at its own rate and nothing is resampled.
//! The tail is padded with silence so that the last frame is whole and the resampler's and the
//! encoder's delay lines are flushed: no audio is cut off at the end.

use crate::g711::G711Law;
use crate::opus::{OpusConfig, OpusEncoder, MAX_PACKET};
use crate::{Error, Resampler, SampleRate};

/// The codec a prompt is encoded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptCodec {
    /// G.711 A-law, 160 bytes per frame.
    Pcma,
    /// G.711 µ-law, 160 bytes per frame.
    Pcmu,
    /// Opus at the prompt's own rate.
    Opus {
        /// Target bitrate in bit/s.
        bitrate_bps: u32,
        /// Whether each packet carries FEC for the previous one.
        fec: bool,
    },
}

/// Encodes `samples` at `rate` into 20 ms frames for `codec`, one payload per frame.
pub fn pre_encode(
    samples: &[i16],
    rate: SampleRate,
    codec: PromptCodec,
) -> Result<Vec<Vec<u8>>, Error> {
    match codec {
        PromptCodec::Pcma => g711_frames(samples, rate, G711Law::Alaw),
        PromptCodec::Pcmu => g711_frames(samples, rate, G711Law::Ulaw),
        PromptCodec::Opus { bitrate_bps, fec } => {
            let cfg = OpusConfig {
                bitrate_bps,
                fec,
                ..OpusConfig::voip(rate)
            };
            opus_frames(samples, &cfg)
        }
    }
}

fn g711_frames(samples: &[i16], rate: SampleRate, law: G711Law) -> Result<Vec<Vec<u8>>, Error> {
    let mut rs = Resampler::new(rate, SampleRate::Hz8000)?;
    let frame_in = rate.frame_20ms();
    // Flush the filter's delay line with silence, then round up to whole frames.
    let delay = (rs.latency().as_nanos() as usize * rate.hz() as usize).div_ceil(1_000_000_000);
    let padded = padded(samples, samples.len() + delay, frame_in);
    let mut narrow = vec![0i16; SampleRate::Hz8000.frame_20ms()];
    let mut frames = Vec::with_capacity(padded.len() / frame_in);
    for chunk in padded.chunks_exact(frame_in) {
        let n = rs.process(chunk, &mut narrow)?;
        let mut codes = vec![0u8; n];
        law.encode(&narrow[..n], &mut codes)?;
        frames.push(codes);
    }
    Ok(frames)
}

fn opus_frames(samples: &[i16], cfg: &OpusConfig) -> Result<Vec<Vec<u8>>, Error> {
    let mut enc = OpusEncoder::new(cfg)?;
    let frame = enc.frame_samples();
    let padded = padded(samples, samples.len() + enc.lookahead()?, frame);
    let mut buf = [0u8; MAX_PACKET];
    padded
        .chunks_exact(frame)
        .map(|chunk| {
            let n = enc.encode(chunk, &mut buf)?;
            Ok(buf[..n].to_vec())
        })
        .collect()
}

/// `samples` followed by silence up to at least `min_len`, rounded up to whole `frame`s.
fn padded(samples: &[i16], min_len: usize, frame: usize) -> Vec<i16> {
    let mut v = samples.to_vec();
    v.resize(min_len.div_ceil(frame).max(1) * frame, 0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_wav, OpusDecoder};

    fn speech() -> Vec<i16> {
        parse_wav(include_bytes!("../testdata/speech48k.wav"))
            .unwrap()
            .samples
    }

    #[test]
    fn g711_frames_are_160_bytes_and_decode_to_the_prompt() {
        let pcm = speech();
        let frames = pre_encode(&pcm, SampleRate::Hz48000, PromptCodec::Pcma).unwrap();
        // 2 s = 100 frames, plus one for the flushed 3 ms filter tail.
        assert_eq!(frames.len(), 101);
        assert!(frames.iter().all(|f| f.len() == 160));
        // Compare with an independent 48 → 8 kHz conversion of the same audio.
        let mut rs = Resampler::new(SampleRate::Hz48000, SampleRate::Hz8000).unwrap();
        let mut want = vec![0i16; 16_000];
        rs.process(&pcm, &mut want).unwrap();
        let mut got = vec![0i16; 160];
        for (i, f) in frames.iter().take(100).enumerate() {
            G711Law::Alaw.decode(f, &mut got).unwrap();
            for (j, (&g, &w)) in got.iter().zip(&want[i * 160..]).enumerate() {
                let step = 1024; // the largest A-law step: within it, the same sample
                assert!(
                    (i32::from(g) - i32::from(w)).abs() <= step / 2,
                    "frame {i} sample {j}"
                );
            }
        }
        let ulaw = pre_encode(&pcm[..8000], SampleRate::Hz48000, PromptCodec::Pcmu).unwrap();
        assert_eq!(ulaw.len(), 9);
    }

    #[test]
    fn g711_from_8k_needs_no_resampling_and_keeps_samples() {
        let pcm: Vec<i16> = (0..400).map(|i| (i * 50) as i16).collect();
        let frames = pre_encode(&pcm, SampleRate::Hz8000, PromptCodec::Pcmu).unwrap();
        assert_eq!(frames.len(), 3); // 400 samples → 2.5 frames → 3, silence-padded
        let flat: Vec<u8> = frames.concat();
        for (i, &x) in pcm.iter().enumerate() {
            assert_eq!(flat[i], crate::g711::encode_ulaw_sample(x));
        }
        assert!(flat[400..].iter().all(|&c| c == G711Law::Ulaw.silence()));
    }

    #[test]
    fn opus_frames_decode_to_full_length_at_every_rate() {
        for rate in [SampleRate::Hz8000, SampleRate::Hz16000, SampleRate::Hz48000] {
            let pcm = vec![1000i16; rate.frame_20ms() * 10];
            let codec = PromptCodec::Opus {
                bitrate_bps: 20_000,
                fec: false,
            };
            let frames = pre_encode(&pcm, rate, codec).unwrap();
            // 10 frames of audio, one more to flush the encoder's look-ahead.
            assert_eq!(frames.len(), 11, "{rate:?}");
            let mut dec = OpusDecoder::new(SampleRate::Hz48000).unwrap();
            let mut out = [0i16; 960];
            for f in &frames {
                // Whatever the input rate, each packet is 20 ms (960 ticks of the RTP clock).
                assert_eq!(dec.decode(f, &mut out), Ok(960));
            }
        }
    }

    #[test]
    fn empty_prompt_is_one_silent_frame() {
        let frames = pre_encode(&[], SampleRate::Hz8000, PromptCodec::Pcma).unwrap();
        assert_eq!(frames, vec![vec![0xD5; 160]]);
    }
}
