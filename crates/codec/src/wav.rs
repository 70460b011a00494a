//! RIFF/WAVE reader for prompts: 16-bit PCM, mono, 8/16/48 kHz, nothing else.
//!
//! Why our own parser rather than `hound`: prompts are a narrow format, and a file that is not
//! exactly playable should be refused at load with a reason an operator can act on ("stereo",
//! "24-bit", "44100 Hz: convert with sox -r 48000"), not converted silently or read as noise.
//! The reader works on bytes the caller loaded (no file I/O here), never panics on malformed
//! input (fuzz-friendly), skips chunks it does not need (`LIST`, `fact`, ...), honours RIFF's
//! pad byte after odd-sized chunks, and accepts `WAVE_FORMAT_EXTENSIBLE` when its sub-format
//! is plain PCM.

use crate::{Error, SampleRate};

/// A decoded prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    /// 8, 16 or 48 kHz.
    pub sample_rate: SampleRate,
    /// Mono samples.
    pub samples: Vec<i16>,
}

/// Why a WAV file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// Does not start with `RIFF....WAVE`.
    #[error("not a RIFF/WAVE file")]
    NotWave,
    /// A chunk claims more bytes than the file has.
    #[error("truncated {0} chunk")]
    Truncated(&'static str),
    /// No `fmt ` chunk before the `data` chunk.
    #[error("no fmt chunk before data")]
    MissingFormat,
    /// No `data` chunk.
    #[error("no data chunk")]
    MissingData,
    /// `fmt ` shorter than the 16 bytes of PCMWAVEFORMAT.
    #[error("fmt chunk of {0} bytes")]
    ShortFormat(u32),
    /// Compressed or float audio (format tag or extensible sub-format).
    #[error("format tag {0:#06x} is not PCM")]
    NotPcm(u16),
    /// Anything but one channel.
    #[error("{0} channels, prompts must be mono")]
    Channels(u16),
    /// Anything but 16 bits per sample.
    #[error("{0} bits per sample, prompts must be 16-bit")]
    Bits(u16),
    /// A rate other than 8, 16 or 48 kHz.
    #[error("{0} Hz, prompts must be 8000, 16000 or 48000 Hz")]
    Rate(u32),
    /// Header fields that contradict each other.
    #[error("block align {block_align} / byte rate {byte_rate} inconsistent with mono 16-bit")]
    Inconsistent {
        /// Declared bytes per sample frame.
        block_align: u16,
        /// Declared bytes per second.
        byte_rate: u32,
    },
    /// A `data` chunk with an odd number of bytes.
    #[error("data chunk of {0} bytes is not whole 16-bit samples")]
    PartialSample(u32),
}

const WAVE_FORMAT_PCM: u16 = 0x0001;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// The tail shared by all `KSDATAFORMAT_SUBTYPE_*` GUIDs; the first two bytes are the format tag.
const KSDATAFORMAT_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// Parses a complete WAV file held in memory.
pub fn parse_wav(bytes: &[u8]) -> Result<Wav, Error> {
    Ok(parse(bytes)?)
}

fn parse(bytes: &[u8]) -> Result<Wav, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let riff_len = le32(&bytes[4..8]) as usize;
    // Bytes past the RIFF's declared end are not part of the file's audio.
    let body = bytes
        .get(12..riff_len.saturating_add(8))
        .ok_or(WavError::Truncated("RIFF"))?;

    let mut rest = body;
    let mut rate = None;
    while rest.len() >= 8 {
        let (id, len) = (&rest[0..4], le32(&rest[4..8]));
        let data = rest
            .get(8..8 + len as usize)
            .ok_or(WavError::Truncated(chunk_name(id)))?;
        match id {
            b"fmt " => rate = Some(format(data, len)?),
            b"data" => {
                let rate = rate.ok_or(WavError::MissingFormat)?;
                if len % 2 != 0 {
                    return Err(WavError::PartialSample(len));
                }
                let samples = data
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                return Ok(Wav {
                    sample_rate: rate,
                    samples,
                });
            }
            _ => {}
        }
        // Chunks are word-aligned: an odd-sized one is followed by a pad byte.
        let next = 8 + len as usize + (len as usize & 1);
        rest = rest.get(next..).unwrap_or(&[]);
    }
    Err(WavError::MissingData)
}

fn format(fmt: &[u8], len: u32) -> Result<SampleRate, WavError> {
    if fmt.len() < 16 {
        return Err(WavError::ShortFormat(len));
    }
    let mut tag = le16(&fmt[0..2]);
    let channels = le16(&fmt[2..4]);
    let hz = le32(&fmt[4..8]);
    let byte_rate = le32(&fmt[8..12]);
    let block_align = le16(&fmt[12..14]);
    let bits = le16(&fmt[14..16]);
    if tag == WAVE_FORMAT_EXTENSIBLE {
        // cbSize, wValidBitsPerSample, dwChannelMask, then the sub-format GUID.
        let guid = fmt.get(24..40).ok_or(WavError::ShortFormat(len))?;
        if guid[2..] != KSDATAFORMAT_TAIL {
            return Err(WavError::NotPcm(tag));
        }
        tag = le16(&guid[0..2]);
        let valid_bits = le16(&fmt[18..20]);
        if valid_bits != 16 {
            return Err(WavError::Bits(valid_bits));
        }
    }
    if tag != WAVE_FORMAT_PCM {
        return Err(WavError::NotPcm(tag));
    }
    if channels != 1 {
        return Err(WavError::Channels(channels));
    }
    if bits != 16 {
        return Err(WavError::Bits(bits));
    }
    let rate = SampleRate::try_from(hz).map_err(|_| WavError::Rate(hz))?;
    if block_align != 2 || byte_rate != hz * 2 {
        return Err(WavError::Inconsistent {
            block_align,
            byte_rate,
        });
    }
    Ok(rate)
}

fn chunk_name(id: &[u8]) -> &'static str {
    match id {
        b"fmt " => "fmt",
        b"data" => "data",
        _ => "unknown",
    }
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A canonical 44-byte-header WAV, with optional extra chunks before `fmt `/`data`.
    fn wav(tag: u16, channels: u16, hz: u32, bits: u16, samples: &[i16], extra: &[u8]) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&hz.to_le_bytes());
        let align = channels * bits / 8;
        fmt.extend_from_slice(&(hz * u32::from(align)).to_le_bytes());
        fmt.extend_from_slice(&align.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut body = b"WAVE".to_vec();
        body.extend_from_slice(extra);
        body.extend_from_slice(b"fmt ");
        body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        body.extend_from_slice(&fmt);
        body.extend_from_slice(b"data");
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&data);
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn reads_the_committed_speech_sample() {
        let w = parse_wav(include_bytes!("../testdata/speech48k.wav")).unwrap();
        assert_eq!(w.sample_rate, SampleRate::Hz48000);
        assert_eq!(w.samples.len(), 96_000);
        assert!(w.samples.iter().any(|&s| s > 10_000));
    }

    #[test]
    fn reads_every_supported_rate_and_skips_unknown_chunks() {
        // A LIST chunk of odd length, followed by its pad byte.
        let list = [b"LIST".as_slice(), &3u32.to_le_bytes(), b"abc", &[0]].concat();
        for hz in [8000, 16000, 48000] {
            let bytes = wav(1, 1, hz, 16, &[1, -2, 32767, -32768], &list);
            let w = parse_wav(&bytes).unwrap();
            assert_eq!(w.sample_rate.hz(), hz);
            assert_eq!(w.samples, vec![1, -2, 32767, -32768]);
        }
    }

    #[test]
    fn accepts_extensible_pcm_only() {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&WAVE_FORMAT_EXTENSIBLE.to_le_bytes());
        fmt.extend_from_slice(&1u16.to_le_bytes());
        fmt.extend_from_slice(&16000u32.to_le_bytes());
        fmt.extend_from_slice(&32000u32.to_le_bytes());
        fmt.extend_from_slice(&2u16.to_le_bytes());
        fmt.extend_from_slice(&16u16.to_le_bytes());
        fmt.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        fmt.extend_from_slice(&16u16.to_le_bytes()); // valid bits
        fmt.extend_from_slice(&4u32.to_le_bytes()); // channel mask: front centre
        fmt.extend_from_slice(&1u16.to_le_bytes());
        fmt.extend_from_slice(&KSDATAFORMAT_TAIL);
        assert_eq!(format(&fmt, 40), Ok(SampleRate::Hz16000));
        fmt[24] = 3; // IEEE float sub-format
        assert_eq!(format(&fmt, 40), Err(WavError::NotPcm(3)));
    }

    #[test]
    fn refuses_what_we_cannot_play_with_a_reason() {
        let s = [0i16; 4];
        let cases = [
            (wav(3, 1, 48000, 16, &s, &[]), WavError::NotPcm(3)),
            (wav(1, 2, 48000, 16, &s, &[]), WavError::Channels(2)),
            (wav(1, 1, 48000, 24, &s, &[]), WavError::Bits(24)),
            (wav(1, 1, 44100, 16, &s, &[]), WavError::Rate(44100)),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse_wav(&bytes), Err(Error::Wav(want)));
        }
        assert_eq!(
            parse_wav(b"RIFX0000WAVE"),
            Err(Error::Wav(WavError::NotWave))
        );
        assert_eq!(parse_wav(b"RIFF"), Err(Error::Wav(WavError::NotWave)));

        let good = wav(1, 1, 8000, 16, &s, &[]);
        // Cut inside the data chunk.
        let mut cut = good[..good.len() - 2].to_vec();
        let riff = (cut.len() - 8) as u32;
        cut[4..8].copy_from_slice(&riff.to_le_bytes());
        assert_eq!(
            parse_wav(&cut),
            Err(Error::Wav(WavError::Truncated("data")))
        );
        // RIFF size larger than the file.
        let mut long = good.clone();
        long[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(
            parse_wav(&long),
            Err(Error::Wav(WavError::Truncated("RIFF")))
        );
        // Odd data length.
        let mut odd = good.clone();
        let data_len_at = good.len() - 8 - 4;
        odd[data_len_at..data_len_at + 4].copy_from_slice(&7u32.to_le_bytes());
        let riff = (odd.len() - 8 - 1) as u32;
        odd[4..8].copy_from_slice(&riff.to_le_bytes());
        let odd = odd[..odd.len() - 1].to_vec();
        assert_eq!(parse_wav(&odd), Err(Error::Wav(WavError::PartialSample(7))));
        // Inconsistent byte rate.
        let mut bad_rate = good.clone();
        bad_rate[28..32].copy_from_slice(&12345u32.to_le_bytes());
        assert!(matches!(
            parse_wav(&bad_rate),
            Err(Error::Wav(WavError::Inconsistent {
                byte_rate: 12345,
                ..
            }))
        ));
        // data before fmt, and no data at all.
        let data_first = [
            b"RIFF".as_slice(),
            &12u32.to_le_bytes(),
            b"WAVE",
            b"data",
            &0u32.to_le_bytes(),
        ]
        .concat();
        assert_eq!(
            parse_wav(&data_first),
            Err(Error::Wav(WavError::MissingFormat))
        );
        let header_only = [b"RIFF".as_slice(), &4u32.to_le_bytes(), b"WAVE"].concat();
        assert_eq!(
            parse_wav(&header_only),
            Err(Error::Wav(WavError::MissingData))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_wav(&bytes);
        }

        #[test]
        fn corrupted_valid_files_never_panic(
            samples in proptest::collection::vec(any::<i16>(), 0..50),
            at in 0usize..200,
            byte in any::<u8>(),
        ) {
            let mut bytes = wav(1, 1, 16000, 16, &samples, &[]);
            let at = at % bytes.len();
            bytes[at] = byte;
            let _ = parse_wav(&bytes);
            let _ = parse_wav(&bytes[..at]);
        }

        #[test]
        fn valid_files_round_trip(samples in proptest::collection::vec(any::<i16>(), 0..500)) {
            let w = parse_wav(&wav(1, 1, 8000, 16, &samples, &[])).unwrap();
            prop_assert_eq!(w.samples, samples);
        }
    }
}
