//! The crate's single error enum.
//!
//! Only construction ([`crate::Registrar::new`]) and the client-side helpers return errors.
//! A hostile or broken REGISTER never becomes an `Error`: it becomes a
//! [`crate::RegisterOutcome`] (400, 401, 403 …) for the peer.

/// Everything that can go wrong outside of request handling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable; the text names the field.
    #[error("invalid registrar config: {0}")]
    Config(&'static str),
    /// Two users share an id.
    #[error("duplicate user id {0:?}")]
    DuplicateUser(String),
    /// The header value does not use the `Digest` scheme.
    #[error("not a Digest header")]
    NotDigest,
    /// The header value uses the `Digest` scheme but does not parse.
    #[error("malformed Digest header: {0}")]
    Malformed(&'static str),
    /// A well-formed challenge asks for something we cannot answer.
    #[error("unsupported digest challenge: {0}")]
    Unsupported(&'static str),
}
