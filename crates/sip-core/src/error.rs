//! The crate's one error type. Network input never errors (a stray message is absorbed, as the
//! RFC says); only the transaction user's own calls can be refused.

use crate::{TxId, TxKind, TxState};

/// A refused call into the transaction layer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The status code is not a SIP response code.
    #[error("status code {0} is outside 100..=699")]
    InvalidStatus(u16),
    /// The machine cannot send this response in its current state; it was discarded
    /// (e.g. a final response after a final response, RFC 3261 §17.2.2).
    #[error("a {status} response cannot be sent in state {state:?}")]
    ResponseNotAllowed {
        /// The refused status code.
        status: u16,
        /// The state that refused it.
        state: TxState,
    },
    /// The branch lacks the RFC 3261 magic cookie: match the request with a [`crate::LegacyKey`].
    #[error("branch {0:?} does not start with z9hG4bK")]
    NoMagicCookie(String),
    /// The id names no live transaction (never issued, or the transaction terminated).
    #[error("no live transaction {0:?}")]
    UnknownTransaction(TxId),
    /// The operation does not apply to this kind of transaction.
    #[error("{op} does not apply to a {kind:?} transaction")]
    WrongKind {
        /// The transaction's kind.
        kind: TxKind,
        /// The refused operation.
        op: &'static str,
    },
    /// The table holds `u32::MAX` transactions.
    #[error("the transaction table is full")]
    TableFull,
    /// A live transaction already has this key.
    #[error("a live transaction {0:?} already has this key")]
    DuplicateKey(TxId),
}
