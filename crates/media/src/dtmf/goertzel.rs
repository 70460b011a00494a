//! In-band DTMF detection on 8 kHz 16-bit PCM, for callers that send neither RFC 4733 events
//! nor SIP INFO (old gateways, G.711 trunks that pass the keypad tones as audio).
//!
//! # Method
//!
//! The Goertzel algorithm measures the energy at the 8 DTMF frequencies (the exact frequencies,
//! not rounded to DFT bins) over windows of [`BLOCK_LEN`] = 102 samples (12.75 ms: the 78 Hz
//! resolution separates the DTMF frequencies; the window most software detectors use). Windows
//! overlap by half: the recurrence runs over 51-sample halves, and each window is the previous
//! half plus the current one, combined as complex DFT values, so one window ends every 6.4 ms at
//! the cost of one pass over the samples. A window is a *hit* for a key when all of these hold:
//!
//! 1. **Level**: the strongest row tone and the strongest column tone are each at least
//!    [`MIN_TONE_DBM0`] (−36 dBm0, taking 0 dBm0 as a sine of peak 22 700, G.711's level).
//! 2. **Twist**: the row tone is at most 8 dB stronger than the column tone ("normal" twist, the
//!    line loses more of the high group) and at most 4 dB weaker ("reverse" twist).
//! 3. **Peak dominance**: in each group the strongest tone is 8 dB above the other three, which
//!    a tone 1.5 % off frequency still passes (its leakage into the next bin is −12 dB or less).
//! 4. **Purity**: the two tones carry at least 70 % of the window's energy. Speech, music and
//!    noise spread energy over many frequencies and fail here; this also does the work of a
//!    second-harmonic check (voice harmonics do land near DTMF frequencies, but come with
//!    their neighbours, which also fails the peak dominance test). A window the tone only partly covers has a share close to the
//!    covered fraction, so a window less than about half covered is never a hit.
//!
//! # Timing
//!
//! * A key is reported once, at its fourth consecutive hit. Four windows 51 samples apart span
//!   255 samples, and with the purity rule a window needs more than half its length covered,
//!   so a short tone cannot make four hits while a 40 ms tone contains at least four whole
//!   windows whatever the alignment. Measured on clean keys at −10 dBm0 over every alignment:
//!   23 ms and shorter are never reported, 33 ms and longer always are (the usual requirement
//!   is to accept 40 ms and reject 20 ms).
//! * A reported key is held until four consecutive windows are not hits for it. Measured the
//!   same way: a pause of 20 ms or more always separates two presses of the same key, one of
//!   12.5 ms or less never does (so a lost 10 ms of tone does not make a second key).
//! * A different key can take over without a pause.
//!
//! Other measured figures (`tests/dtmf_inband.rs` checks the ones the contract relies on):
//! tones down to −35 dBm0 are found, −37 dBm0 and below are not; frequency errors of ±1.5 %
//! are accepted, ±3 % rejected; 50 ms keys at −25 dBm0 are found with white noise only 3 dB
//! below each tone.
//!
//! # Contract
//!
//! [`InbandDetector::process`] takes any number of samples (a 20 ms frame is typical);
//! [`InbandDetector::poll`] returns the keys detected since, in order. No allocation, no clock,
//! no I/O: per sample, one Goertzel step for each of the 8 frequencies; per 51 samples, a few
//! dozen operations to combine and test: about 0.5 µs of CPU per 20 ms frame
//! (`examples/dtmf_speed.rs`). The caller
//! decodes G.711 to linear first and resamples other rates to 8 kHz.

/// The sample rate the detector expects.
pub const SAMPLE_RATE: u32 = 8000;

/// Samples per analysis window; windows start every `BLOCK_LEN / 2` samples.
pub const BLOCK_LEN: usize = 102;

/// Quietest tone (each of the two) that is detected, in dBm0.
pub const MIN_TONE_DBM0: f32 = -36.0;

/// Peak amplitude of a 0 dBm0 sine in 16-bit linear PCM as G.711 decoders produce it (µ-law
/// gives 22 656, A-law 22 828).
pub const DBM0_PEAK: f32 = 22_700.0;

const HALF: usize = BLOCK_LEN / 2;
const FREQUENCIES: [f32; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
const NORMAL_TWIST_DB: f32 = 8.0;
const REVERSE_TWIST_DB: f32 = 4.0;
const RELATIVE_PEAK_DB: f32 = 8.0;
const TONE_SHARE: f32 = 0.7;
const HITS_TO_REPORT: u8 = 4;
const MISSES_TO_RELEASE: u8 = 4;
/// Detected keys kept until polled. A key needs 255 samples, so a 20 ms frame yields at most
/// one.
const QUEUE_LEN: usize = 16;

fn db_to_power_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InbandStats {
    /// Windows analysed.
    pub windows: u64,
    /// Keys reported.
    pub digits: u64,
    /// Keys dropped because nobody polled them (the queue holds 16).
    pub dropped: u64,
}

/// A complex number, as much of one as the window combination needs.
#[derive(Clone, Copy, Debug, Default)]
struct Complex {
    re: f32,
    im: f32,
}

/// Detects DTMF keys in a stream of 8 kHz samples. See the module docs.
#[derive(Clone, Debug)]
pub struct InbandDetector {
    /// `2 cos ω` for each DTMF frequency (ω = 2π f / fs): the Goertzel coefficient.
    coefficients: [f32; 8],
    /// `e^{-jω}`: turns the recurrence's last two states into the half's DFT value.
    step: [Complex; 8],
    /// `e^{-jωH}`: the phase of the second half relative to the first.
    half_shift: [Complex; 8],
    s1: [f32; 8],
    s2: [f32; 8],
    energy: f32,
    filled: usize,
    /// The previous half's DFT values (up to a common phase) and energy.
    previous: [Complex; 8],
    previous_energy: f32,
    min_tone_energy: f32,
    normal_twist: f32,
    reverse_twist: f32,
    relative_peak: f32,
    /// The key of the current run of consecutive hits, and its length.
    candidate: Option<(char, u8)>,
    /// The key last reported and still sounding, and how many windows it has been missing.
    held: Option<(char, u8)>,
    queue: [char; QUEUE_LEN],
    queue_head: usize,
    queue_len: usize,
    stats: InbandStats,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    /// A detector with the thresholds of the module docs.
    pub fn new() -> Self {
        let omega = FREQUENCIES.map(|f| 2.0 * std::f32::consts::PI * f / SAMPLE_RATE as f32);
        let unit = |angle: f32| Complex {
            re: angle.cos(),
            im: -angle.sin(),
        };
        let min_amplitude = DBM0_PEAK * 10f32.powf(MIN_TONE_DBM0 / 20.0);
        Self {
            coefficients: omega.map(|w| 2.0 * w.cos()),
            step: omega.map(unit),
            half_shift: omega.map(|w| unit(w * HALF as f32)),
            s1: [0.0; 8],
            s2: [0.0; 8],
            energy: 0.0,
            filled: 0,
            previous: [Complex::default(); 8],
            previous_energy: 0.0,
            // Energy of that sine over one window: N A² / 2.
            min_tone_energy: BLOCK_LEN as f32 * min_amplitude * min_amplitude / 2.0,
            normal_twist: db_to_power_ratio(NORMAL_TWIST_DB),
            reverse_twist: db_to_power_ratio(REVERSE_TWIST_DB),
            relative_peak: db_to_power_ratio(RELATIVE_PEAK_DB),
            candidate: None,
            held: None,
            queue: ['\0'; QUEUE_LEN],
            queue_head: 0,
            queue_len: 0,
            stats: InbandStats::default(),
        }
    }

    /// Analyses more audio. Keys found are queued for [`poll`](Self::poll).
    pub fn process(&mut self, mut samples: &[i16]) {
        while !samples.is_empty() {
            let room = HALF - self.filled;
            let (now, rest) = samples.split_at(room.min(samples.len()));
            self.accumulate(now);
            samples = rest;
            if self.filled == HALF {
                self.finish_half();
            }
        }
    }

    /// The next detected key, oldest first.
    pub fn poll(&mut self) -> Option<char> {
        if self.queue_len == 0 {
            return None;
        }
        let key = self.queue[self.queue_head];
        self.queue_head = (self.queue_head + 1) % QUEUE_LEN;
        self.queue_len -= 1;
        Some(key)
    }

    /// Forgets the audio and the key being held (not the queue): for a new stream.
    pub fn reset(&mut self) {
        self.clear_half();
        self.previous = [Complex::default(); 8];
        self.previous_energy = 0.0;
        self.candidate = None;
        self.held = None;
    }

    /// The counters so far.
    pub fn stats(&self) -> InbandStats {
        self.stats
    }

    fn accumulate(&mut self, samples: &[i16]) {
        // One Goertzel recurrence per frequency, the 8 side by side so the compiler can keep
        // them in vector registers.
        let (mut s1, mut s2, c) = (self.s1, self.s2, self.coefficients);
        let mut energy = 0.0;
        for &x in samples {
            let x = f32::from(x);
            energy += x * x;
            for k in 0..8 {
                let s0 = x + c[k] * s1[k] - s2[k];
                s2[k] = s1[k];
                s1[k] = s0;
            }
        }
        self.s1 = s1;
        self.s2 = s2;
        self.energy += energy;
        self.filled += samples.len();
    }

    fn clear_half(&mut self) {
        self.s1 = [0.0; 8];
        self.s2 = [0.0; 8];
        self.energy = 0.0;
        self.filled = 0;
    }

    fn finish_half(&mut self) {
        // The half's DFT value at ω, up to the phase e^{-jω(H-1)} that every half and every
        // frequency's combination below shares: y = s1 − e^{-jω} s2.
        let mut current = [Complex::default(); 8];
        let mut tone = [0f32; 8];
        for k in 0..8 {
            let (s1, s2, e) = (self.s1[k], self.s2[k], self.step[k]);
            let y = Complex {
                re: s1 - e.re * s2,
                im: -e.im * s2,
            };
            // Window = previous half + e^{-jωH} × this half.
            let (p, r) = (self.previous[k], self.half_shift[k]);
            let re = p.re + r.re * y.re - r.im * y.im;
            let im = p.im + r.re * y.im + r.im * y.re;
            // A sine of peak A at ω gives |X| = A N / 2, so 2|X|²/N is that sine's energy
            // over the window, comparable with the sum of x².
            tone[k] = 2.0 * (re * re + im * im) / BLOCK_LEN as f32;
            current[k] = y;
        }
        let total = self.previous_energy + self.energy;
        self.previous = current;
        self.previous_energy = self.energy;
        self.clear_half();
        self.stats.windows += 1;
        let hit = self.classify(&tone, total);
        self.decide(hit);
    }

    /// The key a window with these tone energies and total energy is a hit for.
    fn classify(&self, tone: &[f32; 8], total: f32) -> Option<char> {
        let (rows, cols) = tone.split_at(4);
        let row = strongest(rows);
        let col = strongest(cols);
        let (row_e, col_e) = (rows[row], cols[col]);
        let pass = row_e >= self.min_tone_energy
            && col_e >= self.min_tone_energy
            && row_e <= col_e * self.normal_twist
            && col_e <= row_e * self.reverse_twist
            && dominates(rows, row, self.relative_peak)
            && dominates(cols, col, self.relative_peak)
            && row_e + col_e >= TONE_SHARE * total;
        pass.then_some(KEYS[row][col])
    }

    fn decide(&mut self, hit: Option<char>) {
        self.candidate = match (hit, self.candidate) {
            (Some(key), Some((run_key, run))) if run_key == key => {
                Some((key, run.saturating_add(1)))
            }
            (Some(key), _) => Some((key, 1)),
            (None, _) => None,
        };
        if let Some((held_key, misses)) = self.held.as_mut() {
            if hit == Some(*held_key) {
                *misses = 0;
            } else {
                *misses += 1;
                if *misses >= MISSES_TO_RELEASE {
                    self.held = None;
                }
            }
        }
        if let Some((key, run)) = self.candidate {
            let already_held = self.held.is_some_and(|(held_key, _)| held_key == key);
            if run >= HITS_TO_REPORT && !already_held {
                self.held = Some((key, 0));
                self.report(key);
            }
        }
    }

    fn report(&mut self, key: char) {
        self.stats.digits += 1;
        if self.queue_len == QUEUE_LEN {
            self.stats.dropped += 1;
            return;
        }
        self.queue[(self.queue_head + self.queue_len) % QUEUE_LEN] = key;
        self.queue_len += 1;
    }
}

fn strongest(energies: &[f32]) -> usize {
    let mut best = 0;
    for (i, &e) in energies.iter().enumerate() {
        if e > energies[best] {
            best = i;
        }
    }
    best
}

/// Whether `energies[best]` exceeds every other entry by `ratio`.
fn dominates(energies: &[f32], best: usize, ratio: f32) -> bool {
    energies
        .iter()
        .enumerate()
        .all(|(i, &e)| i == best || e * ratio <= energies[best])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two-tone key at `dbm0` per tone, as i16 samples.
    fn tone(key: char, dbm0: f32, samples: usize, phase_start: usize) -> Vec<i16> {
        let (r, c) = KEYS
            .iter()
            .enumerate()
            .find_map(|(r, row)| row.iter().position(|&k| k == key).map(|c| (r, c)))
            .expect("a DTMF key");
        let amp = DBM0_PEAK * 10f32.powf(dbm0 / 20.0);
        let w = |f: f32| 2.0 * std::f32::consts::PI * f / SAMPLE_RATE as f32;
        (phase_start..phase_start + samples)
            .map(|n| {
                let n = n as f32;
                let v = amp * ((w(FREQUENCIES[r]) * n).sin() + (w(FREQUENCIES[4 + c]) * n).sin());
                v.round() as i16
            })
            .collect()
    }

    fn detect(samples: &[i16]) -> String {
        let mut d = InbandDetector::new();
        d.process(samples);
        std::iter::from_fn(|| d.poll()).collect()
    }

    #[test]
    fn every_key_at_nominal_level_is_found_once() {
        for key in "123A456B789C*0#D".chars() {
            let mut audio = vec![0i16; 37];
            audio.extend(tone(key, -10.0, 800, 0));
            audio.extend(vec![0; 400]);
            assert_eq!(detect(&audio), key.to_string(), "key {key}");
        }
    }

    #[test]
    fn chunk_size_does_not_matter() {
        let mut audio = tone('5', -12.0, 480, 0);
        audio.extend(vec![0; 480]);
        audio.extend(tone('5', -12.0, 480, 0));
        for chunk in [1, 7, 80, 102, 160, 1000] {
            let mut d = InbandDetector::new();
            audio.chunks(chunk).for_each(|c| d.process(c));
            assert_eq!(
                std::iter::from_fn(|| d.poll()).collect::<String>(),
                "55",
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn silence_and_a_lone_tone_are_nothing() {
        assert_eq!(detect(&[0; 8000]), "");
        let amp = DBM0_PEAK * 10f32.powf(-10.0 / 20.0);
        let single: Vec<i16> = (0..8000)
            .map(|n| (amp * (2.0 * std::f32::consts::PI * 770.0 * n as f32 / 8000.0).sin()) as i16)
            .collect();
        assert_eq!(detect(&single), "");
    }

    #[test]
    fn undrained_queue_drops_and_counts() {
        let mut d = InbandDetector::new();
        for i in 0..20 {
            let key = if i % 2 == 0 { '1' } else { '2' };
            d.process(&tone(key, -10.0, 400, 0));
        }
        assert_eq!(d.stats().digits, 20);
        assert_eq!(d.stats().dropped, 4);
        assert_eq!(std::iter::from_fn(|| d.poll()).count(), QUEUE_LEN);
    }
}
