//! The in-band detector on synthetic keypad audio at realistic levels, noise, twist, frequency
//! error and G.711 quantisation; and on speech (synthetic vowels and the IVR's own prompts),
//! where it must stay silent.

use std::f64::consts::PI;

use media::dtmf::goertzel::{InbandDetector, DBM0_PEAK, SAMPLE_RATE};

const KEYS: &str = "123A456B789C*0#D";
const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

fn freqs(key: char) -> (f64, f64) {
    let i = KEYS.find(key).expect("a DTMF key");
    (ROWS[i / 4], COLS[i % 4])
}

fn ms(n: u32) -> usize {
    (n * SAMPLE_RATE / 1000) as usize
}

/// Peak amplitude of a sine at `dbm0`.
fn amplitude(dbm0: f64) -> f64 {
    f64::from(DBM0_PEAK) * 10f64.powf(dbm0 / 20.0)
}

/// Deterministic xorshift generator, with Gaussian samples for noise.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn gaussian(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-12);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

/// Audio under construction, in floating point until the end.
#[derive(Default)]
struct Signal(Vec<f64>);

impl Signal {
    fn silence(&mut self, samples: usize) -> &mut Self {
        self.0.extend(std::iter::repeat_n(0.0, samples));
        self
    }

    /// A key with the row tone at `row_dbm0` and the column tone at `col_dbm0`, each frequency
    /// scaled by `1 + deviation`, random phases.
    fn key(
        &mut self,
        key: char,
        row_dbm0: f64,
        col_dbm0: f64,
        deviation: f64,
        samples: usize,
        rng: &mut Rng,
    ) -> &mut Self {
        let (fr, fc) = freqs(key);
        let (pr, pc) = (rng.uniform() * 2.0 * PI, rng.uniform() * 2.0 * PI);
        let w = |f: f64| 2.0 * PI * f * (1.0 + deviation) / f64::from(SAMPLE_RATE);
        self.0.extend((0..samples).map(|n| {
            let n = n as f64;
            amplitude(row_dbm0) * (w(fr) * n + pr).sin()
                + amplitude(col_dbm0) * (w(fc) * n + pc).sin()
        }));
        self
    }

    fn dial(&mut self, keys: &str, dbm0: f64, on_ms: u32, off_ms: u32, rng: &mut Rng) -> &mut Self {
        for key in keys.chars() {
            self.key(key, dbm0, dbm0, 0.0, ms(on_ms), rng)
                .silence(ms(off_ms));
        }
        self
    }

    /// Adds white Gaussian noise of the given RMS level in dBm0.
    fn noise(&mut self, dbm0: f64, rng: &mut Rng) -> &mut Self {
        let rms = amplitude(dbm0) / 2f64.sqrt();
        for s in &mut self.0 {
            *s += rms * rng.gaussian();
        }
        self
    }

    fn pcm(&self) -> Vec<i16> {
        self.0
            .iter()
            .map(|&s| s.round().clamp(-32768.0, 32767.0) as i16)
            .collect()
    }
}

/// G.711 µ-law round trip of one sample (ITU-T G.711 with the usual 0x84 bias), to hear the
/// audio as a G.711 caller's would arrive.
fn ulaw_round_trip(sample: i16) -> i16 {
    const BIAS: i32 = 0x84;
    let x = i32::from(sample);
    let sign = if x < 0 { 0x80 } else { 0 };
    let magnitude = x.abs().min(32_635) + BIAS;
    let exponent = (7 - (magnitude.leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    let code = !(sign | (exponent << 4) | mantissa) & 0xFF;
    // Decode.
    let c = !code & 0xFF;
    let t = (((c & 0x0F) << 3) + BIAS) << ((c & 0x70) >> 4);
    (if c & 0x80 != 0 { BIAS - t } else { t - BIAS }) as i16
}

fn detect(pcm: &[i16], chunk: usize) -> String {
    let mut d = InbandDetector::new();
    let mut out = String::new();
    for frame in pcm.chunks(chunk) {
        d.process(frame);
        out.extend(std::iter::from_fn(|| d.poll()));
    }
    out
}

#[test]
fn ulaw_helper_is_g711() {
    // Known points of the µ-law curve.
    assert_eq!(ulaw_round_trip(0), 0);
    assert_eq!(ulaw_round_trip(32_767), 32_124);
    assert_eq!(ulaw_round_trip(-32_768), -32_124);
    assert_eq!(ulaw_round_trip(1000), 988);
}

#[test]
fn every_key_at_every_level_and_twist_with_noise_once() {
    let mut rng = Rng(0x5EED_0001);
    let mut cases = 0;
    for key in KEYS.chars() {
        for louder in [-3.0, -10.0, -18.0, -25.0] {
            // (row − col) in dB: equal, normal twist (column weaker), reverse twist.
            for twist in [0.0, 6.0, -3.0] {
                let (row, col) = if twist >= 0.0 {
                    (louder, louder - twist)
                } else {
                    (louder + twist, louder)
                };
                let mut s = Signal::default();
                let lead = (rng.next_u64() % 400) as usize;
                s.silence(lead)
                    .key(key, row, col, 0.0, ms(60), &mut rng)
                    .silence(ms(100))
                    // 20 dB below the quieter tone.
                    .noise(row.min(col) - 20.0, &mut rng);
                let pcm: Vec<i16> = s.pcm().into_iter().map(ulaw_round_trip).collect();
                assert_eq!(
                    detect(&pcm, 160),
                    key.to_string(),
                    "{key} row {row} col {col} dBm0"
                );
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 16 * 4 * 3);
}

#[test]
fn forty_ms_is_found_at_every_alignment_twenty_is_not() {
    let mut rng = Rng(7);
    for key in KEYS.chars() {
        for lead in 0..102 {
            let mut long = Signal::default();
            long.silence(lead)
                .key(key, -20.0, -20.0, 0.0, ms(40), &mut rng)
                .silence(ms(60));
            assert_eq!(
                detect(&long.pcm(), 160),
                key.to_string(),
                "40 ms {key} lead {lead}"
            );
            let mut short = Signal::default();
            short
                .silence(lead)
                .key(key, -10.0, -10.0, 0.0, ms(20), &mut rng)
                .silence(ms(60));
            assert_eq!(detect(&short.pcm(), 160), "", "20 ms {key} lead {lead}");
        }
    }
}

#[test]
fn off_frequency_within_1_5_percent_is_found() {
    let mut rng = Rng(99);
    for key in KEYS.chars() {
        for deviation in [-0.015, 0.015] {
            let mut s = Signal::default();
            s.silence(50)
                .key(key, -12.0, -12.0, deviation, ms(60), &mut rng)
                .silence(ms(60));
            assert_eq!(detect(&s.pcm(), 160), key.to_string(), "{key} {deviation}");
        }
    }
}

#[test]
fn twist_beyond_limits_is_refused() {
    let mut rng = Rng(3);
    for key in KEYS.chars() {
        let mut normal = Signal::default();
        normal.key(key, -6.0, -18.0, 0.0, ms(100), &mut rng); // column 12 dB weaker
        assert_eq!(detect(&normal.pcm(), 160), "", "{key} normal twist 12 dB");
        let mut reverse = Signal::default();
        reverse.key(key, -16.0, -8.0, 0.0, ms(100), &mut rng); // column 8 dB stronger
        assert_eq!(detect(&reverse.pcm(), 160), "", "{key} reverse twist 8 dB");
    }
}

#[test]
fn dialled_sequences_with_50_ms_gaps() {
    let mut rng = Rng(11);
    for (keys, chunk) in [
        ("123#", 160),
        ("1111", 160),
        ("0#0#*9", 80),
        ("ABCD5555", 1000),
    ] {
        for level in [-8.0, -22.0] {
            let mut s = Signal::default();
            s.silence(ms(30))
                .dial(keys, level, 50, 50, &mut rng)
                .noise(level - 18.0, &mut rng);
            let pcm: Vec<i16> = s.pcm().into_iter().map(ulaw_round_trip).collect();
            assert_eq!(detect(&pcm, chunk), keys, "level {level}");
        }
    }
}

#[test]
fn a_short_dropout_does_not_split_a_key() {
    let mut rng = Rng(5);
    for lead in (0..102).step_by(7) {
        let mut s = Signal::default();
        s.silence(lead)
            .key('8', -15.0, -15.0, 0.0, ms(60), &mut rng)
            .silence(ms(10))
            .key('8', -15.0, -15.0, 0.0, ms(60), &mut rng)
            .silence(ms(60));
        assert_eq!(detect(&s.pcm(), 160), "8", "lead {lead}");
    }
}

#[test]
fn single_tones_and_noise_are_nothing() {
    let mut rng = Rng(13);
    for f in ROWS.iter().chain(&COLS) {
        let w = 2.0 * PI * f / f64::from(SAMPLE_RATE);
        let pcm: Vec<i16> = (0..ms(500))
            .map(|n| (amplitude(-6.0) * (w * n as f64).sin()) as i16)
            .collect();
        assert_eq!(detect(&pcm, 160), "", "{f} Hz");
    }
    let mut noise = Signal::default();
    noise.silence(ms(5000)).noise(-10.0, &mut rng);
    assert_eq!(detect(&noise.pcm(), 160), "");
}

/// Vowel-like audio: harmonics of a gliding fundamental, shaped by three formant resonances,
/// in syllables with an attack and a decay.
fn synthetic_speech(seconds: u32, rng: &mut Rng) -> Vec<i16> {
    // (F1, F2, F3) of a, e, i, o, u.
    const VOWELS: [[f64; 3]; 5] = [
        [730.0, 1090.0, 2440.0],
        [530.0, 1840.0, 2480.0],
        [270.0, 2290.0, 3010.0],
        [570.0, 840.0, 2410.0],
        [300.0, 870.0, 2240.0],
    ];
    let rate = f64::from(SAMPLE_RATE);
    let total = ms(seconds * 1000);
    let mut out = Vec::with_capacity(total);
    let mut phase = [0f64; 40];
    while out.len() < total {
        let vowel = VOWELS[(rng.next_u64() % 5) as usize];
        let f0_start = 90.0 + rng.uniform() * 170.0;
        let glide = (rng.uniform() - 0.5) * 60.0;
        let len = ms(120 + (rng.next_u64() % 250) as u32);
        let level = amplitude(-12.0 - rng.uniform() * 12.0);
        for n in 0..len {
            let t = n as f64 / len as f64;
            let f0 = f0_start + glide * t + 3.0 * (2.0 * PI * 5.5 * n as f64 / rate).sin();
            let envelope = (t * 8.0).min(1.0) * ((1.0 - t) * 4.0).min(1.0);
            let mut v = 0.0;
            for (h, ph) in phase.iter_mut().enumerate() {
                let f = f0 * (h + 1) as f64;
                if f > 3800.0 {
                    break;
                }
                *ph += 2.0 * PI * f / rate;
                // Resonance gain of each formant (bandwidth 80–120 Hz), with a −12 dB/octave
                // glottal source tilt.
                let gain: f64 = vowel
                    .iter()
                    .map(|&formant| {
                        let bw = 80.0 + formant / 50.0;
                        1.0 / (1.0 + ((f - formant) / bw).powi(2))
                    })
                    .sum::<f64>()
                    / (h + 1) as f64;
                v += gain * ph.sin();
            }
            out.push((level * envelope * v).clamp(-32768.0, 32767.0) as i16);
        }
        out.extend(std::iter::repeat_n(0, ms((rng.next_u64() % 150) as u32)));
    }
    out
}

#[test]
fn synthetic_speech_is_not_dialling() {
    let mut rng = Rng(0xC0FFEE);
    let speech = synthetic_speech(120, &mut rng);
    let mut noisy = Signal(speech.iter().map(|&s| f64::from(s)).collect());
    noisy.noise(-45.0, &mut rng);
    let pcm: Vec<i16> = noisy.pcm().into_iter().map(ulaw_round_trip).collect();
    assert_eq!(detect(&pcm, 160), "", "false keys in 2 minutes of vowels");
}

#[test]
fn a_150_hz_voice_of_few_harmonics_is_not_dialling() {
    // The brief case: a 150 Hz voice with a few strong harmonics, among them 750 Hz and 1350 Hz,
    // next to the '5' pair (770 + 1336 Hz).
    let harmonic_sets: [&[u32]; 4] = [
        &[1, 2, 3, 4, 5],
        &[4, 5, 6, 9],
        &[5, 9, 10],
        &[3, 5, 7, 9, 11],
    ];
    for set in harmonic_sets {
        let w =
            |h: u32, n: usize| 2.0 * PI * 150.0 * f64::from(h) * n as f64 / f64::from(SAMPLE_RATE);
        let pcm: Vec<i16> = (0..ms(2000))
            .map(|n| {
                set.iter()
                    .map(|&h| amplitude(-16.0) * w(h, n).sin())
                    .sum::<f64>() as i16
            })
            .collect();
        assert_eq!(detect(&pcm, 160), "", "harmonics {set:?}");
    }
}

/// Reads a 16-bit mono PCM WAV (what `config/prompts/*.wav` are): RIFF chunks, `fmt ` then
/// `data`.
fn read_wav(path: &std::path::Path) -> (u32, Vec<i16>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let mut at = 12;
    let mut rate = 0;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        match id {
            b"fmt " => {
                assert_eq!(u16::from_le_bytes([body[0], body[1]]), 1, "PCM");
                assert_eq!(u16::from_le_bytes([body[2], body[3]]), 1, "mono");
                rate = u32::from_le_bytes(body[4..8].try_into().expect("4 bytes"));
                assert_eq!(u16::from_le_bytes([body[14], body[15]]), 16, "16-bit");
            }
            b"data" => {
                let pcm = body
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                return (rate, pcm);
            }
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

#[test]
fn the_ivr_prompts_are_not_dialling() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/prompts");
    let mut prompts = 0;
    for entry in std::fs::read_dir(&dir).expect("config/prompts") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|e| e != "wav") {
            continue;
        }
        let (rate, pcm) = read_wav(&path);
        assert_eq!(rate, SAMPLE_RATE, "{}", path.display());
        let via_ulaw: Vec<i16> = pcm.iter().map(|&s| ulaw_round_trip(s)).collect();
        for gain_db in [0.0, 6.0, -10.0] {
            let g = 10f64.powf(gain_db / 20.0);
            let scaled: Vec<i16> = via_ulaw
                .iter()
                .map(|&s| (f64::from(s) * g).clamp(-32768.0, 32767.0) as i16)
                .collect();
            assert_eq!(
                detect(&scaled, 160),
                "",
                "{} at {gain_db:+} dB",
                path.display()
            );
        }
        prompts += 1;
    }
    assert!(prompts >= 2, "expected the main and support prompts");
}

#[test]
fn keys_over_a_prompt_are_still_found() {
    // Barge-in: the caller dials while the prompt's echo (−15 dB) is on the line.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/prompts");
    let (_, prompt) = read_wav(&dir.join("main.wav"));
    let mut rng = Rng(21);
    let mut keys = Signal::default();
    keys.silence(ms(500)).dial("42#", -10.0, 70, 70, &mut rng);
    let echo = 10f64.powf(-15.0 / 20.0);
    let mixed: Vec<i16> = keys
        .0
        .iter()
        .zip(prompt.iter().skip(ms(1000)))
        .map(|(&k, &p)| ulaw_round_trip((k + f64::from(p) * echo).round() as i16))
        .collect();
    assert_eq!(detect(&mixed, 160), "42#");
}
