//! Sans-IO SIP transactions: RFC 3261 §17 as corrected by RFC 6026.
//!
//! No sockets, no tasks, no clock. Every input carries `now: Instant`; every effect comes back as
//! an [`Output`]. The contract, for one machine or for the whole [`TransactionTable`]:
//!
//! **After any input, drain `poll()` until `None`, then sleep until `poll_timeout()`; when it
//! passes, call `on_timeout(now)` (or `handle_timeout(now)` on the table) and drain again.**
//!
//! Calling late is harmless: every timer due by `now` fires, in deadline order, and retransmission
//! timers are re-armed from `now` (no burst of catch-up retransmissions).
//!
//! # The four machines
//!
//! | machine | RFC | states |
//! |---|---|---|
//! | [`ClientInvite`] | 3261 §17.1.1, 6026 §8.4 | Calling, Proceeding, Completed, Accepted, Terminated |
//! | [`ClientNonInvite`] | 3261 §17.1.2 | Trying, Proceeding, Completed, Terminated |
//! | [`ServerInvite`] | 3261 §17.2.1, 6026 §8.7 | Proceeding, Completed, Confirmed, Accepted, Terminated |
//! | [`ServerNonInvite`] | 3261 §17.2.2 | Trying, Proceeding, Completed, Terminated |
//!
//! Each keeps its timers in one fixed table indexed by RFC letter ([`Timer`]).
//!
//! # Messages stay opaque
//!
//! The machines are generic over the message type `M` and never parse it: the caller passes the
//! status code next to each response and says whether the transport is reliable. The one message
//! the layer must build itself, the ACK for a non-2xx final response (RFC 3261 §17.1.1.3), comes
//! from [`TxMessage::ack_for`], which the daemon implements for its parsed message type.
//!
//! # What the transaction user still owns
//!
//! Sending 100 Trying (any provisional is accepted), retransmitting a 2xx to INVITE and sending
//! the ACK for a 2xx (RFC 3261 §13.3.1.4, §13.2.2.4), building CANCEL, and deciding what a
//! [`Output::Timeout`] means (a 408 for a client transaction).
//!
//! # Matching
//!
//! [`TransactionKey`] implements RFC 3261 §17.1.3 and §17.2.3: the ACK of a non-2xx response maps
//! to its INVITE server transaction, CANCEL has its own key but finds its INVITE through
//! [`TransactionKey::invite_for_cancel`], and RFC 2543 requests (no `z9hG4bK` branch) use a
//! separate [`LegacyKey`].

mod client_invite;
mod client_non_invite;
mod error;
mod key;
mod server_invite;
mod server_non_invite;
mod table;
mod timer;

#[cfg(test)]
mod testing;

pub use client_invite::{ClientInvite, ClientInviteState};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub use error::Error;
pub use key::{generate_branch, LegacyKey, TransactionKey, TxMethod, MAGIC_COOKIE};
pub use server_invite::{ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};
pub use table::{TransactionTable, TxId};
pub use timer::{Timer, TimerConfig, TIMER_C_DEFAULT};

/// What the transaction layer needs from a message type it otherwise treats as opaque.
///
/// `Clone` because retransmissions re-send the stored message; a `Bytes`-backed message makes
/// that a reference-count bump.
pub trait TxMessage: Clone {
    /// Build the ACK for the non-2xx final `response` to this INVITE (RFC 3261 §17.1.1.3):
    /// Request-URI, Call-ID, From, CSeq number and the single top Via of the INVITE, CSeq method
    /// ACK, the To header of the response (with its tag), the INVITE's Route headers.
    fn ack_for(&self, response: &Self) -> Self;
}

/// An effect requested by a transaction, drained with `poll()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output<M> {
    /// Hand this message to the transport: the initial request, a retransmission of it, the ACK
    /// of a non-2xx response, or a (re)transmission of a response.
    Send(M),
    /// Pass this to the transaction user.
    ToTu(TuEvent<M>),
    /// The named timer expired without an answer: B or F for a client (the TU sees a 408),
    /// C on a client INVITE that never got a provisional response (also a 408), H for an INVITE
    /// server whose non-2xx final response was never acknowledged.
    Timeout(Timer),
    /// The transport failed to deliver a message this transaction asked it to send.
    TransportError,
    /// The transaction reached Terminated; it emits nothing more. Always the last output.
    Terminated,
}

/// An event for the transaction user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TuEvent<M> {
    /// A response a client transaction passes up: provisional, the first non-2xx final, and
    /// every 2xx including retransmissions (RFC 6026 §8.4: the TU ACKs each of them).
    Response {
        /// Status code, as the caller passed it in.
        status: u16,
        /// The response itself.
        msg: M,
    },
    /// An ACK that reached an INVITE server transaction in Accepted (RFC 6026 §7.1 passes it up
    /// rather than absorbing it).
    Ack(M),
    /// Timer C fired after a provisional response: the TU must send a CANCEL for this INVITE
    /// (RFC 3261 §16.8) and then call `cancel_sent`.
    CancelDue,
}

/// The state of any of the four machines, for tests, logs and error reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxState {
    /// See [`ClientInviteState`].
    ClientInvite(ClientInviteState),
    /// See [`ClientNonInviteState`].
    ClientNonInvite(ClientNonInviteState),
    /// See [`ServerInviteState`].
    ServerInvite(ServerInviteState),
    /// See [`ServerNonInviteState`].
    ServerNonInvite(ServerNonInviteState),
}

impl TxState {
    /// Whether the machine has reached Terminated.
    pub fn is_terminated(self) -> bool {
        matches!(
            self,
            TxState::ClientInvite(ClientInviteState::Terminated)
                | TxState::ClientNonInvite(ClientNonInviteState::Terminated)
                | TxState::ServerInvite(ServerInviteState::Terminated)
                | TxState::ServerNonInvite(ServerNonInviteState::Terminated)
        )
    }

    /// Whether the exchange is still under way: waiting for the TU's answer, the peer's response
    /// or (INVITE server, non-2xx) the ACK. False once the transaction only lingers to absorb
    /// retransmissions (Completed on the client side and for non-INVITE servers, Confirmed,
    /// Accepted) and once it terminated. A daemon shutting down waits for these, not for the rest.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TxState::ClientInvite(ClientInviteState::Calling | ClientInviteState::Proceeding)
                | TxState::ClientNonInvite(
                    ClientNonInviteState::Trying | ClientNonInviteState::Proceeding
                )
                | TxState::ServerInvite(
                    ServerInviteState::Proceeding | ServerInviteState::Completed
                )
                | TxState::ServerNonInvite(
                    ServerNonInviteState::Trying | ServerNonInviteState::Proceeding
                )
        )
    }
}

/// Which of the four machines a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    /// [`ClientInvite`].
    ClientInvite,
    /// [`ClientNonInvite`].
    ClientNonInvite,
    /// [`ServerInvite`].
    ServerInvite,
    /// [`ServerNonInvite`].
    ServerNonInvite,
}

/// Whether `status` is a SIP response code this layer acts on.
fn is_status(status: u16) -> bool {
    (100..=699).contains(&status)
}
