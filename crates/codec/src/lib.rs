//! Audio codecs for Switchboard's media engine. No RTP, no sockets, no clock, no files.
//!
//! What goes in and out is always mono 16-bit PCM (`i16`) at 8, 16 or 48 kHz, or encoded
//! bytes; every call works on caller-owned buffers and returns how much it wrote, so the hot
//! path (one 20 ms frame per leg and direction) never allocates after construction.
//!
//! - [`g711`]: PCMA/PCMU, table-based, bit-exact with ITU-T G.191.
//! - [`OpusEncoder`] / [`OpusDecoder`]: libopus (mono, VOIP) with in-band FEC and PLC. The
//!   binding crate (`opus`, which builds libopus 1.6 from source with cmake) stays behind these
//!   types; see `opus.rs` for why it was chosen over `audiopus` (Debian's libopus 1.3).
//! - [`Resampler`]: polyphase FIR for the integer ratios between 8, 16 and 48 kHz.
//! - [`Transcoder`]: PCMA/PCMU 20 ms frames ↔ Opus frames, both directions.
//! - [`parse_wav`] and [`pre_encode`]: prompts read once and encoded into 20 ms frames per codec.
//!
//! What it never does: RTP headers, timestamps, pacing, jitter buffering (the `media` crate
//! decides when a frame is lost and calls [`OpusDecoder::decode_fec`] or
//! [`OpusDecoder::conceal`]), reading files (callers pass the bytes).

pub mod g711;
mod opus;
mod prompt;
mod resample;
mod transcode;
mod wav;

pub use crate::opus::{
    packet_samples, Bandwidth, OpusConfig, OpusDecoder, OpusEncoder, MAX_PACKET as OPUS_MAX_PACKET,
};
pub use g711::G711Law;
pub use prompt::{pre_encode, PromptCodec};
pub use resample::Resampler;
pub use transcode::{Transcoder, TranscoderConfig};
pub use wav::{parse_wav, Wav, WavError};

/// Raw libopus bindings, only for the benchmark that compares our wrapper with direct calls.
#[cfg(feature = "raw-ffi")]
#[doc(hidden)]
pub use opusic_sys as raw_ffi;

/// The sample rates the media engine uses: G.711 narrowband, wideband, and Opus's 48 kHz.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleRate {
    /// 8 kHz: G.711, narrowband Opus.
    Hz8000,
    /// 16 kHz: wideband.
    Hz16000,
    /// 48 kHz: Opus's RTP clock and full band.
    Hz48000,
}

impl SampleRate {
    /// The rate in Hz.
    pub const fn hz(self) -> u32 {
        match self {
            Self::Hz8000 => 8_000,
            Self::Hz16000 => 16_000,
            Self::Hz48000 => 48_000,
        }
    }

    /// Samples in one 20 ms frame (160, 320 or 960).
    pub const fn frame_20ms(self) -> usize {
        self.hz() as usize / 50
    }
}

impl TryFrom<u32> for SampleRate {
    type Error = Error;

    fn try_from(hz: u32) -> Result<Self, Error> {
        match hz {
            8_000 => Ok(Self::Hz8000),
            16_000 => Ok(Self::Hz16000),
            48_000 => Ok(Self::Hz48000),
            other => Err(Error::SampleRate(other)),
        }
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rate other than 8, 16 or 48 kHz.
    #[error("unsupported sample rate {0} Hz (8000, 16000 or 48000)")]
    SampleRate(u32),
    /// An input frame of the wrong length.
    #[error("frame has {got} samples, expected {expected}")]
    FrameSize {
        /// What the codec was configured for.
        expected: usize,
        /// What the caller passed.
        got: usize,
    },
    /// The caller's output buffer cannot hold the result.
    #[error("output buffer holds {have}, needs {need}")]
    OutputTooSmall {
        /// Elements required.
        need: usize,
        /// Elements available.
        have: usize,
    },
    /// A zero-length Opus payload (RFC 7587 payloads always carry a TOC byte).
    #[error("empty Opus packet")]
    EmptyPacket,
    /// A setting out of range (bitrate, loss percentage, complexity).
    #[error("invalid setting: {0}")]
    Config(&'static str),
    /// libopus refused: a corrupt packet, a bad argument.
    #[error("{function}: {reason}")]
    Opus {
        /// The libopus function that failed.
        function: &'static str,
        /// libopus's description of the error code.
        reason: &'static str,
    },
    /// A WAV file we cannot play.
    #[error("wav: {0}")]
    Wav(#[from] WavError),
}
