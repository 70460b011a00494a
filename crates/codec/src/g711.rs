//! G.711 A-law (PCMA) and µ-law (PCMU), bit-exact with the ITU-T G.191 reference coder.
//!
//! Why tables: a 20 ms G.711 frame is 160 samples and the transcoder touches one per leg and
//! direction every 20 ms, so the per-sample cost is one load. The encoder's output depends only
//! on the top 14 (µ-law) or 12 (A-law, magnitude after one's complement) bits of the 16-bit
//! sample, so the encode tables are indexed by `x >> 2` (16 KiB) and `x >> 4` (4 KiB) instead of
//! a 64 KiB table per law: both stay in L1 next to the 256-entry decode tables. All four tables
//! are computed at compile time from the G.191 segment algorithms below, which stay in the
//! crate as the reference the tests check the tables against.
//!
//! Negative inputs are folded with one's complement (`!x`), as G.191 does: that makes the
//! negative decision levels mirror the positive ones shifted by one (−1 pairs with 0), which is
//! what the standard's tables describe. A consequence for µ-law: the smallest negative
//! interval (16-bit −1..=−4) encodes to 0x7F, "negative zero", which G.711 decodes to 0 like
//! 0xFF; re-encoding that 0 gives 0xFF. Every other code, and every A-law code, survives
//! decode → encode unchanged. Zero-code suppression (sending 0x02 instead of 0x00 on links that
//! need ones density) is a line-coding option of old T1 trunks and is not applied.

use crate::Error;

/// The two G.711 companding laws, named as in RTP (RFC 3551: PCMA = A-law, PCMU = µ-law).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// A-law, RTP payload type 8 (PCMA): Europe and most international trunks.
    Alaw,
    /// µ-law, RTP payload type 0 (PCMU): North America and Japan.
    Ulaw,
}

impl G711Law {
    /// Encodes `pcm` into `out` (one byte per sample); returns the number of bytes written.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> Result<usize, Error> {
        match self {
            Self::Alaw => encode_alaw(pcm, out),
            Self::Ulaw => encode_ulaw(pcm, out),
        }
    }

    /// Decodes `codes` into `out`; returns the number of samples written.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> Result<usize, Error> {
        match self {
            Self::Alaw => decode_alaw(codes, out),
            Self::Ulaw => decode_ulaw(codes, out),
        }
    }

    /// The code for digital silence (what a 0 sample encodes to).
    pub fn silence(self) -> u8 {
        match self {
            Self::Alaw => 0xD5,
            Self::Ulaw => 0xFF,
        }
    }
}

/// Encodes one sample to A-law.
#[inline]
pub fn encode_alaw_sample(x: i16) -> u8 {
    ALAW_ENC[(x as u16 >> 4) as usize]
}

/// Decodes one A-law code.
#[inline]
pub fn decode_alaw_sample(code: u8) -> i16 {
    ALAW_DEC[code as usize]
}

/// Encodes one sample to µ-law.
#[inline]
pub fn encode_ulaw_sample(x: i16) -> u8 {
    ULAW_ENC[(x as u16 >> 2) as usize]
}

/// Decodes one µ-law code.
#[inline]
pub fn decode_ulaw_sample(code: u8) -> i16 {
    ULAW_DEC[code as usize]
}

/// Encodes `pcm` to A-law into `out[..pcm.len()]`; returns `pcm.len()`.
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> Result<usize, Error> {
    let out = room(out, pcm.len())?;
    for (o, &x) in out.iter_mut().zip(pcm) {
        *o = encode_alaw_sample(x);
    }
    Ok(pcm.len())
}

/// Decodes A-law `codes` into `out[..codes.len()]`; returns `codes.len()`.
pub fn decode_alaw(codes: &[u8], out: &mut [i16]) -> Result<usize, Error> {
    let out = room(out, codes.len())?;
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = decode_alaw_sample(c);
    }
    Ok(codes.len())
}

/// Encodes `pcm` to µ-law into `out[..pcm.len()]`; returns `pcm.len()`.
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> Result<usize, Error> {
    let out = room(out, pcm.len())?;
    for (o, &x) in out.iter_mut().zip(pcm) {
        *o = encode_ulaw_sample(x);
    }
    Ok(pcm.len())
}

/// Decodes µ-law `codes` into `out[..codes.len()]`; returns `codes.len()`.
pub fn decode_ulaw(codes: &[u8], out: &mut [i16]) -> Result<usize, Error> {
    let out = room(out, codes.len())?;
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = decode_ulaw_sample(c);
    }
    Ok(codes.len())
}

fn room<T>(out: &mut [T], need: usize) -> Result<&mut [T], Error> {
    let have = out.len();
    out.get_mut(..need)
        .ok_or(Error::OutputTooSmall { need, have })
}

// Index = the 16-bit sample shifted right as unsigned, so the table is laid out by the top
// bits of the two's-complement pattern. Because `!x >> k == !(x >> k)` for an arithmetic shift,
// every sample sharing those top bits encodes to the same code, so one representative per entry
// (the top bits followed by zeros) builds the table.
static ULAW_ENC: [u8; 1 << 14] = build_ulaw_enc();
static ALAW_ENC: [u8; 1 << 12] = build_alaw_enc();
static ULAW_DEC: [i16; 256] = build_ulaw_dec();
static ALAW_DEC: [i16; 256] = build_alaw_dec();

// `const fn` cannot call closures or function pointers, hence a macro writing one builder per table.
macro_rules! table {
    ($name:ident, $len:expr, $ty:ty, |$i:ident| $entry:expr) => {
        const fn $name() -> [$ty; $len] {
            let mut t = [0 as $ty; $len];
            let mut $i = 0;
            while $i < $len {
                t[$i] = $entry;
                $i += 1;
            }
            t
        }
    };
}
table!(build_ulaw_enc, 1 << 14, u8, |i| ulaw_compress(
    ((i as u16) << 2) as i16
));
table!(build_alaw_enc, 1 << 12, u8, |i| alaw_compress(
    ((i as u16) << 4) as i16
));
table!(build_ulaw_dec, 256, i16, |i| ulaw_expand(i as u8));
table!(build_alaw_dec, 256, i16, |i| alaw_expand(i as u8));

/// G.191 `ulaw_compress` for one 16-bit sample (the 14-bit law applied to its top bits).
pub(crate) const fn ulaw_compress(x: i16) -> u8 {
    let x = x as i32;
    // One's complement folds negatives so that -1 pairs with 0; 33 is the µ-law bias in 14-bit units.
    let mut absno = if x < 0 {
        ((!x) >> 2) + 33
    } else {
        (x >> 2) + 33
    };
    if absno > 0x1FFF {
        absno = 0x1FFF;
    }
    let mut i = absno >> 6;
    let mut segno = 1;
    while i != 0 {
        segno += 1;
        i >>= 1;
    }
    let high = 8 - segno;
    let low = 0xF - ((absno >> segno) & 0xF);
    let mut code = (high << 4) | low;
    if x >= 0 {
        code |= 0x80;
    }
    code as u8
}

/// G.191 `ulaw_expand` for one code.
pub(crate) const fn ulaw_expand(code: u8) -> i16 {
    let negative = code < 0x80;
    let m = !code;
    let exponent = ((m >> 4) & 7) as i32;
    let mantissa = (m & 0xF) as i32;
    let step = 4 << (exponent + 1);
    let mag = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
    (if negative { -mag } else { mag }) as i16
}

/// G.191 `alaw_compress` for one 16-bit sample (the 13-bit law applied to its top bits).
pub(crate) const fn alaw_compress(x: i16) -> u8 {
    let x = x as i32;
    let mut ix = if x < 0 { (!x) >> 4 } else { x >> 4 };
    if ix > 15 {
        let mut exp = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            exp += 1;
        }
        ix -= 16;
        ix += exp << 4;
    }
    if x >= 0 {
        ix |= 0x80;
    }
    // Even-bit inversion (0x55): keeps idle A-law lines from sending long runs of zeros.
    (ix ^ 0x55) as u8
}

/// G.191 `alaw_expand` for one code.
pub(crate) const fn alaw_expand(code: u8) -> i16 {
    let ix = (code ^ 0x55) & 0x7F;
    let exp = (ix >> 4) as i32;
    let mut mant = (ix & 0xF) as i32;
    if exp > 0 {
        mant += 16;
    }
    mant = (mant << 4) + 8;
    if exp > 1 {
        mant <<= exp - 1;
    }
    (if code > 127 { mant } else { -mant }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quantisation step (16-bit units) of the segment a µ-law code belongs to.
    fn ulaw_step(code: u8) -> i32 {
        8 << ((!code >> 4) & 7)
    }

    /// Quantisation step (16-bit units) of the segment an A-law code belongs to.
    fn alaw_step(code: u8) -> i32 {
        let seg = ((code ^ 0x55) >> 4) & 7;
        16 << seg.saturating_sub(1)
    }

    #[test]
    fn tables_match_reference_algorithm_for_every_sample() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(encode_ulaw_sample(x), ulaw_compress(x), "µ-law {x}");
            assert_eq!(encode_alaw_sample(x), alaw_compress(x), "A-law {x}");
        }
        for c in 0..=255u8 {
            assert_eq!(decode_ulaw_sample(c), ulaw_expand(c));
            assert_eq!(decode_alaw_sample(c), alaw_expand(c));
        }
    }

    #[test]
    fn ulaw_reference_points() {
        // Both zeros decode to 0; 0 encodes to positive zero, the first negative interval to 0x7F.
        assert_eq!(decode_ulaw_sample(0xFF), 0);
        assert_eq!(decode_ulaw_sample(0x7F), 0);
        assert_eq!(encode_ulaw_sample(0), 0xFF);
        assert_eq!(encode_ulaw_sample(3), 0xFF);
        assert_eq!(encode_ulaw_sample(-1), 0x7F);
        assert_eq!(encode_ulaw_sample(-4), 0x7F);
        assert_eq!(encode_ulaw_sample(-5), 0x7E);
        // Full scale and clipping.
        assert_eq!(decode_ulaw_sample(0x80), 32124);
        assert_eq!(decode_ulaw_sample(0x00), -32124);
        assert_eq!(encode_ulaw_sample(i16::MAX), 0x80);
        assert_eq!(encode_ulaw_sample(i16::MIN), 0x00);
        // Segment boundaries from G.711 table 2b, 14-bit decision values 31, 95, 223, 479,
        // 991, 2015, 4063 (×4 in 16-bit): the last code of one segment, the first of the next.
        let first_codes = [0xEF, 0xDF, 0xCF, 0xBF, 0xAF, 0x9F, 0x8F];
        for (i, (&d14, &code)) in [31i32, 95, 223, 479, 991, 2015, 4063]
            .iter()
            .zip(&first_codes)
            .enumerate()
        {
            let x = (d14 * 4) as i16;
            assert_eq!(
                encode_ulaw_sample(x),
                code,
                "segment {} starts at {x}",
                i + 1
            );
            assert_eq!(encode_ulaw_sample(x - 1), code + 1, "segment {} ends", i);
            // Mirror image on the negative side, shifted by one (one's complement).
            assert_eq!(encode_ulaw_sample(-x - 1), code & 0x7F);
            assert_eq!(encode_ulaw_sample(-x), (code + 1) & 0x7F);
        }
        // Reconstruction values: 14-bit "x + 1/2 step − 33" of G.711, here ×4.
        assert_eq!(decode_ulaw_sample(0xFE), 8);
        assert_eq!(decode_ulaw_sample(0xEF), 132);
        assert_eq!(decode_ulaw_sample(0xDF), 396);
        assert_eq!(decode_ulaw_sample(0x8F), 16764);
    }

    #[test]
    fn alaw_reference_points() {
        // Even bits inverted: the smallest positive/negative codes are 0xD5/0x55.
        assert_eq!(encode_alaw_sample(0), 0xD5);
        assert_eq!(encode_alaw_sample(15), 0xD5);
        assert_eq!(encode_alaw_sample(-1), 0x55);
        assert_eq!(encode_alaw_sample(-16), 0x55);
        assert_eq!(decode_alaw_sample(0xD5), 8);
        assert_eq!(decode_alaw_sample(0x55), -8);
        // Full scale.
        assert_eq!(decode_alaw_sample(0xAA), 32256);
        assert_eq!(decode_alaw_sample(0x2A), -32256);
        assert_eq!(encode_alaw_sample(i16::MAX), 0xAA);
        assert_eq!(encode_alaw_sample(i16::MIN), 0x2A);
        // Segment boundaries from G.711 table 1a, 13-bit decision values 32, 64, ..., 2048
        // (×8 in 16-bit): segment s starts at code (0x80 | s << 4) ^ 0x55.
        for seg in 1..8u8 {
            let x = (128i32 << seg) as i16;
            let code = (0x80 | (seg << 4)) ^ 0x55;
            assert_eq!(encode_alaw_sample(x), code, "segment {seg} starts at {x}");
            assert_eq!(encode_alaw_sample(x - 1), ((0x80 | (seg << 4)) - 1) ^ 0x55);
            assert_eq!(encode_alaw_sample(-x - 1), code & 0x7F);
        }
        // First reconstruction value of each segment: 16-bit 264, 528, 1056 ...
        assert_eq!(decode_alaw_sample((0x90) ^ 0x55), 264);
        assert_eq!(decode_alaw_sample((0xA0) ^ 0x55), 528);
        assert_eq!(decode_alaw_sample((0xF0) ^ 0x55), 16896);
    }

    #[test]
    fn decode_encode_is_identity_except_ulaw_negative_zero() {
        for c in 0..=255u8 {
            assert_eq!(
                encode_alaw_sample(decode_alaw_sample(c)),
                c,
                "A-law {c:#04x}"
            );
            let back = encode_ulaw_sample(decode_ulaw_sample(c));
            if c == 0x7F {
                assert_eq!(back, 0xFF, "µ-law negative zero canonicalises to 0xFF");
            } else {
                assert_eq!(back, c, "µ-law {c:#04x}");
            }
        }
    }

    #[test]
    fn encode_decode_error_within_half_step_for_every_sample() {
        for x in i16::MIN..=i16::MAX {
            let xi = i32::from(x);

            let c = encode_ulaw_sample(x);
            let err = (i32::from(decode_ulaw_sample(c)) - xi).abs();
            if xi.abs() > 32635 {
                // Beyond the last decision value: clipped to full scale.
                assert_eq!(c & 0x7F, 0, "µ-law clip {x}");
            } else {
                assert!(
                    err <= ulaw_step(c) / 2,
                    "µ-law {x}: code {c:#04x}, err {err}"
                );
            }

            // A-law's last interval reaches ±32768, so nothing clips.
            let c = encode_alaw_sample(x);
            let err = (i32::from(decode_alaw_sample(c)) - xi).abs();
            assert!(
                err <= alaw_step(c) / 2,
                "A-law {x}: code {c:#04x}, err {err}"
            );
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut prev_u = decode_ulaw_sample(encode_ulaw_sample(i16::MIN));
        let mut prev_a = decode_alaw_sample(encode_alaw_sample(i16::MIN));
        for x in i16::MIN..=i16::MAX {
            let u = decode_ulaw_sample(encode_ulaw_sample(x));
            let a = decode_alaw_sample(encode_alaw_sample(x));
            assert!(u >= prev_u && a >= prev_a, "at {x}");
            prev_u = u;
            prev_a = a;
        }
    }

    #[test]
    fn slice_apis_check_lengths_and_match_samples() {
        let pcm: Vec<i16> = (0..160).map(|i| (i * 397 - 30000) as i16).collect();
        let mut codes = [0u8; 160];
        let mut back = [0i16; 160];
        for law in [G711Law::Alaw, G711Law::Ulaw] {
            assert_eq!(law.encode(&pcm, &mut codes), Ok(160));
            assert_eq!(law.decode(&codes, &mut back), Ok(160));
            for (i, &x) in pcm.iter().enumerate() {
                let (c, y) = match law {
                    G711Law::Alaw => (encode_alaw_sample(x), decode_alaw_sample(codes[i])),
                    G711Law::Ulaw => (encode_ulaw_sample(x), decode_ulaw_sample(codes[i])),
                };
                assert_eq!(codes[i], c);
                assert_eq!(back[i], y);
            }
            assert_eq!(
                law.encode(&pcm, &mut codes[..159]),
                Err(Error::OutputTooSmall {
                    need: 160,
                    have: 159
                })
            );
            assert_eq!(
                law.decode(&codes, &mut back[..10]),
                Err(Error::OutputTooSmall {
                    need: 160,
                    have: 10
                })
            );
            let mut silent = [0u8; 1];
            law.encode(&[0], &mut silent).unwrap();
            assert_eq!(silent[0], law.silence());
        }
    }
}
