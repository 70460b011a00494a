//! Embedded conversation store: calls, SMS messages and system logs per line and customer.
//!
//! # Contract
//!
//! - **Data**: one [`Conversation`] per (line, customer number): a header (state, assignee,
//!   customer name) and its [`Item`]s, oldest first (same millisecond: insertion order).
//!   Items are calls ([`CallRecord`]), messages ([`Message`]) and system logs ([`SystemLog`]).
//!   All types are serde structs; [`Item`] is tagged (`{"kind": "call", ...}`) so the HTTP API
//!   returns them unchanged.
//! - **In**: [`Write`]s through [`StoreHandle::submit`] (and the [`StoreHandle::assign`],
//!   [`StoreHandle::close`], [`StoreHandle::reopen`] actions, which also log). Every write
//!   carries its own time: the store never reads the clock.
//! - **Out**: blocking reads ([`StoreHandle::conversation`], [`StoreHandle::conversations`],
//!   [`StoreHandle::calls_of_user`]) on read-only connections; from async code wrap them in
//!   `tokio::task::spawn_blocking`.
//! - **Never**: blocks the caller of `submit`, knows SIP, or validates numbers and user ids
//!   (it stores what the engine gives it).
//!
//! # Off the signalling path
//!
//! One writer thread owns the only write connection. `submit` puts the write on a bounded
//! queue ([`StoreOptions::queue`]) and returns at once; when the queue is full the write is
//! **dropped** and counted ([`StoreStats::dropped`]): a call must not wait for a disk, and a
//! queue that full means the disk is far behind anyway. The writer takes everything queued
//! (up to [`StoreOptions::max_batch`]) and commits it as one transaction, so under load many
//! call records share one commit. [`StoreHandle::flush`] waits until everything submitted
//! before it is committed; dropping the last handle does the same and stops the thread.
//!
//! # Durability: WAL, `synchronous = FULL`
//!
//! The database is in WAL mode: a commit appends to the `-wal` file, readers keep reading a
//! snapshot while the writer works, and a checkpoint later copies pages into the main file.
//! With `synchronous = FULL` each commit fsyncs the WAL before it returns, so a call record
//! that was committed survives a crash of the process *and* of the machine (power loss,
//! kernel panic). It costs one fsync per transaction, not per write, because the writer
//! batches whatever is queued; a burst of call ends pays one fsync for the whole burst.
//! `NORMAL` ([`Synchronous::Normal`]) would fsync only at checkpoints: still safe against a
//! crash of the process, but power loss could drop the last commits; it is there for
//! measurements and for disks where fsync is unaffordable.
//!
//! A write that fails (it should not; a full disk does) is rolled back alone, logged and
//! counted ([`StoreStats::failed`]); the rest of its batch commits.
//!
//! # Schema
//!
//! Versioned with SQLite's `user_version`; migrations run in order, each in a transaction, when
//! the store opens. A database written by a newer version is refused ([`StoreError::NewerSchema`]).
//!
//! # Semantics worth knowing
//!
//! - A call whose call id is already stored replaces that record (a retried write is harmless).
//! - A message whose SIP Call-ID is already stored is ignored (a retransmitted MESSAGE).
//! - A new *inbound* call or message reopens a closed conversation and logs `reopened` with no
//!   actor: the customer came back.
//! - Actions that change nothing (assigning the current assignee, closing a closed
//!   conversation) write no log.

mod db;
mod handle;
mod model;
mod schema;

pub use handle::{StoreHandle, StoreOptions, StoreStats};
pub use model::{
    CallOutcome, CallRecord, Conversation, ConversationHeader, ConversationKey, ConversationState,
    Direction, Item, LogAction, Message, SystemLog, UnixMs, UserCall, Write,
};
pub use schema::{Synchronous, SCHEMA_VERSION};

/// Errors of opening and reading the store. Writes report theirs through [`StoreStats`] and
/// the log, since nobody waits for them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("store database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store setup: {0}")]
    Setup(String),
    #[error("the store database has schema version {found}; this version knows up to {known}")]
    NewerSchema { found: u32, known: u32 },
    #[error("store data not understood: {0}")]
    Corrupt(String),
    #[error("store commit failed: {0}")]
    Commit(String),
    #[error("the store writer has stopped")]
    Closed,
}

/// Why [`StoreHandle::submit`] did not take a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: the write was dropped and counted.
    #[error("store queue full: write dropped")]
    Full,
    /// The writer thread has stopped.
    #[error("store writer stopped")]
    Closed,
}

#[cfg(test)]
mod tests;
