//! Criterion benches of the codec hot paths: G.711 on one 20 ms frame, Opus encode/decode of
//! 20 ms of speech at 48 kHz through our wrapper and through direct libopus calls (the wrapper
//! must stay within 3 %), resampling, and one transcoded frame each way.
//!
//! Transcoded channels per core = 20 ms / `transcode_channel_20ms/*` (a channel is one frame in
//! each direction every 20 ms).

use std::hint::black_box;

use codec::raw_ffi as ffi;
use codec::{
    g711, Bandwidth, G711Law, OpusConfig, OpusDecoder, OpusEncoder, Resampler, SampleRate,
    Transcoder, TranscoderConfig, OPUS_MAX_PACKET,
};
use criterion::{criterion_group, criterion_main, Criterion};

/// The committed speech sample: 2 s, 48 kHz, 100 frames of 20 ms.
fn speech_48k() -> Vec<i16> {
    codec::parse_wav(include_bytes!("../crates/codec/testdata/speech48k.wav"))
        .map(|w| w.samples)
        .unwrap_or_default()
}

fn speech_at(rate: SampleRate) -> Vec<i16> {
    let pcm = speech_48k();
    let mut rs = Resampler::new(SampleRate::Hz48000, rate).expect("supported rates");
    let mut out = vec![0i16; rs.output_len(pcm.len())];
    let n = rs.process(&pcm, &mut out).expect("sized by output_len");
    out.truncate(n);
    out
}

/// The benchmark configuration: 48 kHz, 32 kbit/s, FEC for 10 % loss, default complexity.
fn opus_cfg() -> OpusConfig {
    OpusConfig {
        bitrate_bps: 32_000,
        expected_loss_pct: 10,
        ..OpusConfig::voip(SampleRate::Hz48000)
    }
}

/// Cycles through the frames of a recording so every iteration codes different audio.
struct Cycle<T> {
    items: Vec<T>,
    next: usize,
}

impl<T> Cycle<T> {
    fn new(items: Vec<T>) -> Self {
        Self { items, next: 0 }
    }
    fn next(&mut self) -> &T {
        let i = self.next;
        self.next = (i + 1) % self.items.len();
        &self.items[i]
    }
}

fn frames(pcm: &[i16], len: usize) -> Cycle<Vec<i16>> {
    Cycle::new(pcm.chunks_exact(len).map(<[i16]>::to_vec).collect())
}

fn g711_benches(c: &mut Criterion) {
    let pcm = speech_at(SampleRate::Hz8000);
    let frame = &pcm[4000..4160];
    let mut codes = [0u8; 160];
    let mut out = [0i16; 160];
    g711::encode_alaw(frame, &mut codes).expect("160 fits");
    c.bench_function("alaw_encode_160", |b| {
        b.iter(|| g711::encode_alaw(black_box(frame), &mut codes))
    });
    c.bench_function("alaw_decode_160", |b| {
        b.iter(|| g711::decode_alaw(black_box(&codes), &mut out))
    });
    c.bench_function("ulaw_encode_160", |b| {
        b.iter(|| g711::encode_ulaw(black_box(frame), &mut codes))
    });
    c.bench_function("ulaw_decode_160", |b| {
        b.iter(|| g711::decode_ulaw(black_box(&codes), &mut out))
    });
}

/// A raw libopus encoder configured exactly as `opus_cfg()`.
struct RawEncoder(*mut ffi::OpusEncoder);

impl RawEncoder {
    fn new() -> Self {
        let mut err = 0;
        // SAFETY: plain libopus calls; the pointer is checked and freed in Drop.
        unsafe {
            let e = ffi::opus_encoder_create(48_000, 1, ffi::OPUS_APPLICATION_VOIP, &mut err);
            assert!(err == ffi::OPUS_OK && !e.is_null());
            ffi::opus_encoder_ctl(e, ffi::OPUS_SET_BITRATE_REQUEST, 32_000);
            ffi::opus_encoder_ctl(e, ffi::OPUS_SET_INBAND_FEC_REQUEST, 1);
            ffi::opus_encoder_ctl(e, ffi::OPUS_SET_PACKET_LOSS_PERC_REQUEST, 10);
            Self(e)
        }
    }
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> i32 {
        // SAFETY: lengths passed are the slices' own.
        unsafe {
            ffi::opus_encode(
                self.0,
                pcm.as_ptr(),
                pcm.len() as i32,
                out.as_mut_ptr(),
                out.len() as i32,
            )
        }
    }
}

impl Drop for RawEncoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, freed once.
        unsafe { ffi::opus_encoder_destroy(self.0) }
    }
}

struct RawDecoder(*mut ffi::OpusDecoder);

impl RawDecoder {
    fn new() -> Self {
        let mut err = 0;
        // SAFETY: as above.
        let d = unsafe { ffi::opus_decoder_create(48_000, 1, &mut err) };
        assert!(err == ffi::OPUS_OK && !d.is_null());
        Self(d)
    }
    fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> i32 {
        // SAFETY: lengths passed are the slices' own.
        unsafe {
            ffi::opus_decode(
                self.0,
                packet.as_ptr(),
                packet.len() as i32,
                out.as_mut_ptr(),
                out.len() as i32,
                0,
            )
        }
    }
}

impl Drop for RawDecoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, freed once.
        unsafe { ffi::opus_decoder_destroy(self.0) }
    }
}

fn opus_benches(c: &mut Criterion) {
    let pcm = speech_48k();
    let mut g = c.benchmark_group("opus_encode_20ms_48k");
    let mut input = frames(&pcm, 960);
    let mut enc = OpusEncoder::new(&opus_cfg()).expect("valid config");
    let mut out = [0u8; OPUS_MAX_PACKET];
    g.bench_function("wrapper", |b| {
        b.iter(|| enc.encode(black_box(input.next()), &mut out))
    });
    let mut raw = RawEncoder::new();
    g.bench_function("raw_libopus", |b| {
        b.iter(|| raw.encode(black_box(input.next()), &mut out))
    });
    g.finish();

    let mut enc = RawEncoder::new();
    let packets: Vec<Vec<u8>> = pcm
        .chunks_exact(960)
        .map(|f| {
            let n = enc.encode(f, &mut out);
            out[..n.max(0) as usize].to_vec()
        })
        .collect();
    let mut packets = Cycle::new(packets);
    let mut pcm_out = [0i16; 960];
    let mut g = c.benchmark_group("opus_decode_20ms_48k");
    let mut dec = OpusDecoder::new(SampleRate::Hz48000).expect("valid rate");
    g.bench_function("wrapper", |b| {
        b.iter(|| dec.decode(black_box(packets.next()), &mut pcm_out))
    });
    let mut raw = RawDecoder::new();
    g.bench_function("raw_libopus", |b| {
        b.iter(|| raw.decode(black_box(packets.next()), &mut pcm_out))
    });
    g.bench_function("wrapper_conceal", |b| b.iter(|| dec.conceal(&mut pcm_out)));
    g.finish();
}

fn resample_benches(c: &mut Criterion) {
    let pcm8 = speech_at(SampleRate::Hz8000);
    let pcm48 = speech_48k();
    let mut g = c.benchmark_group("resample_20ms");
    let mut up = Resampler::new(SampleRate::Hz8000, SampleRate::Hz48000).expect("rates");
    let mut input = frames(&pcm8, 160);
    let mut out = [0i16; 960];
    g.bench_function("8k_to_48k", |b| {
        b.iter(|| up.process(black_box(input.next()), &mut out))
    });
    let mut down = Resampler::new(SampleRate::Hz48000, SampleRate::Hz8000).expect("rates");
    let mut input = frames(&pcm48, 960);
    g.bench_function("48k_to_8k", |b| {
        b.iter(|| down.process(black_box(input.next()), &mut out))
    });
    let mut up = Resampler::new(SampleRate::Hz16000, SampleRate::Hz48000).expect("rates");
    let pcm16 = speech_at(SampleRate::Hz16000);
    let mut input = frames(&pcm16, 320);
    g.bench_function("16k_to_48k", |b| {
        b.iter(|| up.process(black_box(input.next()), &mut out))
    });
    g.finish();
}

/// The Opus-side settings compared: 48 kHz left free to code full band (`48k_fb`), 48 kHz
/// capped at narrowband (the transcoder's default: G.711 has nothing above 4 kHz), and native
/// 8 kHz Opus with no resampling (the recommended path).
fn transcode_configs() -> [(&'static str, TranscoderConfig); 3] {
    let base = OpusConfig {
        bitrate_bps: 24_000,
        ..OpusConfig::voip(SampleRate::Hz48000)
    };
    [
        (
            "48k_fb",
            TranscoderConfig {
                law: G711Law::Alaw,
                opus: OpusConfig {
                    max_bandwidth: Some(Bandwidth::Fullband),
                    ..base
                },
            },
        ),
        (
            "48k_nb",
            TranscoderConfig {
                law: G711Law::Alaw,
                opus: base,
            },
        ),
        (
            "8k",
            TranscoderConfig {
                law: G711Law::Alaw,
                opus: OpusConfig {
                    sample_rate: SampleRate::Hz8000,
                    ..base
                },
            },
        ),
    ]
}

fn transcode_benches(c: &mut Criterion) {
    let pcm8 = speech_at(SampleRate::Hz8000);
    let alaw: Vec<Vec<u8>> = pcm8
        .chunks_exact(160)
        .map(|f| {
            let mut codes = vec![0u8; 160];
            let _ = g711::encode_alaw(f, &mut codes);
            codes
        })
        .collect();
    for (name, cfg) in transcode_configs() {
        // The far end's packets: the same speech through an Opus encoder of this config.
        let mut far = Transcoder::new(&cfg).expect("valid config");
        let mut buf = [0u8; OPUS_MAX_PACKET];
        let packets: Vec<Vec<u8>> = alaw
            .iter()
            .map(|f| {
                let n = far.g711_to_opus(f, &mut buf).unwrap_or(0);
                buf[..n].to_vec()
            })
            .collect();
        let mut t = Transcoder::new(&cfg).expect("valid config");
        let mut g711_in = Cycle::new(alaw.clone());
        let mut opus_in = Cycle::new(packets);
        let mut g711_out = [0u8; 160];

        let mut g = c.benchmark_group("transcode_g711_to_opus");
        g.bench_function(name, |b| {
            b.iter(|| t.g711_to_opus(black_box(g711_in.next()), &mut buf))
        });
        g.finish();
        let mut g = c.benchmark_group("transcode_opus_to_g711");
        g.bench_function(name, |b| {
            b.iter(|| t.opus_to_g711(black_box(opus_in.next()), &mut g711_out))
        });
        g.finish();
        let mut g = c.benchmark_group("transcode_channel_20ms");
        g.bench_function(name, |b| {
            b.iter(|| {
                let n = t.g711_to_opus(black_box(g711_in.next()), &mut buf);
                let m = t.opus_to_g711(black_box(opus_in.next()), &mut g711_out);
                (n, m)
            })
        });
        g.finish();
    }
}

criterion_group!(
    benches,
    g711_benches,
    opus_benches,
    resample_benches,
    transcode_benches
);
criterion_main!(benches);
