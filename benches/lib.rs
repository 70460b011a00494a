//! Fixtures shared by the benchmarks in this folder. Run them with
//! `cargo bench -p switchboard-benches` (or `--bench NAME`); results land in `target/criterion`.

/// A realistic ~900-byte INVITE with an SDP offer (opus, PCMA, PCMU, telephone-event).
pub const INVITE_900: &[u8] = include_bytes!("../crates/sip-msg/testdata/invite-900.sip");
