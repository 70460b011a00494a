//! Actions asked of the engine, and its answers.
//!
//! The engine owns every call; the API never touches call state. An HTTP action becomes an
//! [`ApiCommand`] on a bounded `mpsc` channel, with a `oneshot` for the engine's verdict. The
//! HTTP handler waits for that verdict at most [`crate::ApiOptions::command_timeout`] (queueing
//! included), then answers 503 with `Retry-After`: a busy or stuck engine makes clients back
//! off, it never piles up waiting requests. The engine drains the channel between two protocol
//! steps and answers each command once.

use std::fmt;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout_at, Instant};

/// One thing the API asks the engine to do, with the channel for its answer.
#[derive(Debug)]
pub struct ApiCommand {
    pub action: Action,
    pub reply: oneshot::Sender<Result<(), ActionError>>,
}

impl ApiCommand {
    /// Sends the engine's verdict back. An HTTP client that gave up is not an error.
    pub fn respond(self, result: Result<(), ActionError>) {
        let _ = self.reply.send(result);
    }
}

/// What is asked. Ids are checked by the API against what it knows (the call exists and the
/// token may act on it; users and teams exist); the engine checks the rest (state, leg).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Stop ringing `agent` for `call`; never ring them again for it.
    Decline {
        call: String,
        agent: String,
    },
    /// `agent` takes `call` (answered from the web notification).
    Accept {
        call: String,
        agent: String,
    },
    Hangup {
        call: String,
    },
    Hold {
        call: String,
        hold: bool,
    },
    /// Blind transfer of an answered call.
    Transfer {
        call: String,
        target: TransferTarget,
    },
    /// Send DTMF digits on the caller's leg (validated: `0-9 * # A-D`).
    Dtmf {
        call: String,
        digits: String,
    },
    /// Reply to `customer` on `line` (SMS/MESSAGE), written by `author`.
    SendMessage {
        line: String,
        customer: String,
        body: String,
        author: String,
    },
    SetAvailability {
        user: String,
        available: bool,
    },
}

/// Where a transfer goes: `user:ID`, `team:ID`, or a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferTarget {
    User(String),
    Team(String),
    Number(String),
}

impl TransferTarget {
    /// Parses `user:ID`, `team:ID`, or a dialled number (`+` and 1-15 digits, or 1-15 digits).
    pub fn parse(s: &str) -> Result<TransferTarget, String> {
        if let Some(user) = s.strip_prefix("user:") {
            return non_empty(user, "user").map(TransferTarget::User);
        }
        if let Some(team) = s.strip_prefix("team:") {
            return non_empty(team, "team").map(TransferTarget::Team);
        }
        let digits = s.strip_prefix('+').unwrap_or(s);
        if (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(TransferTarget::Number(s.to_owned()));
        }
        Err(format!(
            "bad transfer target {s:?}: expected user:ID, team:ID or a number"
        ))
    }
}

fn non_empty(id: &str, what: &str) -> Result<String, String> {
    if id.is_empty() {
        Err(format!("bad transfer target: empty {what} id"))
    } else {
        Ok(id.to_owned())
    }
}

impl fmt::Display for TransferTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferTarget::User(id) => write!(f, "user:{id}"),
            TransferTarget::Team(id) => write!(f, "team:{id}"),
            TransferTarget::Number(n) => f.write_str(n),
        }
    }
}

/// Checks DTMF digits: 1 to 32 of `0-9 * # A-D` (case-insensitive, returned upper-case).
pub fn parse_dtmf(digits: &str) -> Result<String, String> {
    if digits.is_empty() || digits.len() > 32 {
        return Err("digits: between 1 and 32 DTMF digits".into());
    }
    match digits
        .chars()
        .find(|c| !matches!(c.to_ascii_uppercase(), '0'..='9' | '*' | '#' | 'A'..='D'))
    {
        Some(bad) => Err(format!("digits: {bad:?} is not a DTMF digit (0-9 * # A-D)")),
        None => Ok(digits.to_ascii_uppercase()),
    }
}

/// The engine's refusal: an HTTP status and a message for the client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {message}")]
pub struct ActionError {
    status: u16,
    message: String,
}

impl ActionError {
    /// 404: the call (or leg, user) is not known to the engine.
    pub fn not_found(message: impl Into<String>) -> Self {
        ActionError::with_status(404, message)
    }

    /// 409: not possible in the call's current state (hold a ringing call, decline twice).
    pub fn conflict(message: impl Into<String>) -> Self {
        ActionError::with_status(409, message)
    }

    /// 422: the request names something unusable (unreachable transfer target...).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        ActionError::with_status(422, message)
    }

    /// 403: the engine's own policy forbids it.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ActionError::with_status(403, message)
    }

    /// 503: cannot do it right now (shutting down, overloaded).
    pub fn unavailable(message: impl Into<String>) -> Self {
        ActionError::with_status(503, message)
    }

    /// Any status; one outside 400..=599 becomes 500.
    pub fn with_status(status: u16, message: impl Into<String>) -> Self {
        ActionError {
            status: if (400..=599).contains(&status) {
                status
            } else {
                500
            },
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a command got no verdict from the engine.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DispatchError {
    /// Queue full or no answer before the deadline.
    Timeout,
    /// The engine dropped its receiver or the reply (stopping).
    Gone,
    Refused(ActionError),
}

/// Sends `action` and waits for the verdict until `deadline`.
pub(crate) async fn dispatch(
    commands: &mpsc::Sender<ApiCommand>,
    action: Action,
    deadline: Instant,
) -> Result<(), DispatchError> {
    let (reply, verdict) = oneshot::channel();
    match timeout_at(deadline, commands.send(ApiCommand { action, reply })).await {
        Err(_) => return Err(DispatchError::Timeout),
        Ok(Err(_closed)) => return Err(DispatchError::Gone),
        Ok(Ok(())) => {}
    }
    match timeout_at(deadline, verdict).await {
        Err(_) => Err(DispatchError::Timeout),
        Ok(Err(_dropped)) => Err(DispatchError::Gone),
        Ok(Ok(result)) => result.map_err(DispatchError::Refused),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn transfer_targets() {
        assert_eq!(
            TransferTarget::parse("user:bob"),
            Ok(TransferTarget::User("bob".into()))
        );
        assert_eq!(
            TransferTarget::parse("team:sales"),
            Ok(TransferTarget::Team("sales".into()))
        );
        assert_eq!(
            TransferTarget::parse("+33123456789"),
            Ok(TransferTarget::Number("+33123456789".into()))
        );
        assert_eq!(
            TransferTarget::parse("1001"),
            Ok(TransferTarget::Number("1001".into()))
        );
        for bad in [
            "",
            "user:",
            "team:",
            "+",
            "bob",
            "+33 1",
            "1234567890123456",
        ] {
            assert!(TransferTarget::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(TransferTarget::User("bob".into()).to_string(), "user:bob");
    }

    #[test]
    fn dtmf_digits() {
        assert_eq!(parse_dtmf("12#*ad"), Ok("12#*AD".into()));
        assert!(parse_dtmf("").is_err());
        assert!(parse_dtmf("12e").is_err());
        assert!(parse_dtmf(&"1".repeat(33)).is_err());
    }

    #[test]
    fn action_error_status_is_an_error_status() {
        assert_eq!(ActionError::conflict("x").status(), 409);
        assert_eq!(ActionError::with_status(200, "x").status(), 500);
        assert_eq!(ActionError::with_status(451, "x").status(), 451);
    }

    #[tokio::test]
    async fn dispatch_verdicts() {
        let (tx, mut rx) = mpsc::channel::<ApiCommand>(1);
        let far = Instant::now() + Duration::from_secs(30);
        let engine = tokio::spawn(async move {
            let cmd = rx.recv().await.unwrap();
            cmd.respond(Ok(()));
            let cmd = rx.recv().await.unwrap();
            cmd.respond(Err(ActionError::conflict("not ringing")));
            // Drop the third command's reply unanswered.
            let _ = rx.recv().await.unwrap();
        });
        let hangup = || Action::Hangup { call: "c".into() };
        assert_eq!(dispatch(&tx, hangup(), far).await, Ok(()));
        assert_eq!(
            dispatch(&tx, hangup(), far).await,
            Err(DispatchError::Refused(ActionError::conflict("not ringing")))
        );
        assert_eq!(dispatch(&tx, hangup(), far).await, Err(DispatchError::Gone));
        engine.await.unwrap();
        // Receiver gone: the send fails at once.
        assert_eq!(dispatch(&tx, hangup(), far).await, Err(DispatchError::Gone));
    }

    #[tokio::test(start_paused = true)]
    async fn dispatch_gives_up_at_the_deadline() {
        let (tx, _rx) = mpsc::channel::<ApiCommand>(1);
        let deadline = Instant::now() + Duration::from_secs(3);
        // Nobody answers: the paused clock jumps to the deadline.
        assert_eq!(
            dispatch(&tx, Action::Hangup { call: "c".into() }, deadline).await,
            Err(DispatchError::Timeout)
        );
    }
}
