//! The crate's one error type. Network input (responses, timeouts, unknown branches) never
//! produces an error: it is absorbed as the contract in `lib.rs` says. Errors are reserved for
//! the daemon asking for something that cannot be, so a wiring bug shows up instead of being
//! silently ignored.

/// What [`crate::CallRouting`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target names a number this configuration does not have (a decision taken against
    /// another configuration than the one handed to the call).
    #[error("number {0} is not in this configuration")]
    UnknownNumber(String),
    /// The target names a user this configuration does not have.
    #[error("user {0} is not in this configuration")]
    UnknownUser(String),
    /// The target names a team this configuration does not have.
    #[error("team {0} is not in this configuration")]
    UnknownTeam(String),
    /// [`crate::CallRouting::on_ivr_result`] while no IVR step is running.
    #[error("no IVR step is running on this call")]
    NotInIvr,
}
