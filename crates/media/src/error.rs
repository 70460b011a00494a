//! The crate's one error type. Network input never errors: a late, duplicate or stray packet is
//! dropped and counted in the statistics. Only the caller's own configuration (and the test
//! traces it loads) can be refused.

/// A refused configuration or an unreadable trace file.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range; the message names the field.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// A network trace line could not be parsed.
    #[error("trace line {line}: {reason}")]
    Trace {
        /// 1-based line number in the CSV text.
        line: usize,
        /// What was wrong with it.
        reason: String,
    },
}
