//! What the engine tells the outside about calls: one [`Notice`] per thing an agent's
//! application shows (created, ringing per agent, declined, answered, IVR choice, ended), each
//! with a [`CallSnapshot`] of the call at that moment.
//!
//! Why a snapshot in every notice rather than a lookup later: a call that ends is dropped
//! from the engine's tables as soon as its last transaction is done, possibly within the same
//! input that ended it, and every consumer (the API's events, the store, metrics) needs the
//! whole popup data anyway (line, caller, IVR branch, agents). Notices are off until
//! [`crate::Engine::enable_notices`], so signalling benchmarks do not pay for them.

use config::UserId;
use routing::CallRecord;

/// Where an agent stands in a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentState {
    Ringing,
    Declined,
    Answered,
    /// Rung and no longer ringing: cancelled, timed out or failed.
    Done,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Ringing => "ringing",
            AgentState::Declined => "declined",
            AgentState::Answered => "answered",
            AgentState::Done => "cancelled",
        }
    }
}

/// A call as an agent's application shows it.
#[derive(Clone, Debug)]
pub struct CallSnapshot {
    pub id: String,
    /// `ivr`, `ringing`, `answered`, `ended`.
    pub state: &'static str,
    /// The dialled line (a company number) or, for internal calls, the user dialled.
    pub line: String,
    /// The line's name from the configuration.
    pub line_name: Option<String>,
    /// The caller's number (From user part) and display name.
    pub caller_number: String,
    pub caller_name: Option<String>,
    pub ivr_path: Option<String>,
    pub ivr_branch: Option<String>,
    /// The voicemail recording's file, once the caller started leaving one.
    pub voicemail: Option<String>,
    /// Every agent rung, in order, with their state.
    pub agents: Vec<(UserId, AgentState)>,
    /// Routing's record: timeline, steps, answered_by, times, end reason.
    pub record: CallRecord,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallNotice {
    Created,
    Ringing {
        agent: UserId,
    },
    Declined {
        agent: UserId,
    },
    Answered {
        agent: UserId,
    },
    /// A key choice in an IVR menu (not sent for sensitive input menus).
    IvrChoice {
        menu: String,
        digit: String,
        label: Option<String>,
    },
    Ended,
}

impl CallNotice {
    /// The event name of the HTTP API (DESIGN.md contract).
    pub fn name(&self) -> &'static str {
        match self {
            CallNotice::Created => "call.created",
            CallNotice::Ringing { .. } => "call.ringing",
            CallNotice::Declined { .. } => "call.declined",
            CallNotice::Answered { .. } => "call.answered",
            CallNotice::IvrChoice { .. } => "ivr.choice",
            CallNotice::Ended => "call.ended",
        }
    }

    /// The agent the event is about, if any.
    pub fn agent(&self) -> Option<&UserId> {
        match self {
            CallNotice::Ringing { agent }
            | CallNotice::Declined { agent }
            | CallNotice::Answered { agent } => Some(agent),
            _ => None,
        }
    }
}

/// One notice and the call as it stood.
#[derive(Clone, Debug)]
pub struct Notice {
    pub event: CallNotice,
    pub call: CallSnapshot,
}

/// Why an action from the API was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("no such call")]
    UnknownCall,
    #[error("the call has ended")]
    Ended,
    #[error("no such agent")]
    UnknownAgent,
    #[error("{0}")]
    WrongState(&'static str),
    #[error("{0}")]
    BadInput(&'static str),
}

/// Names for caller numbers (the CRM's contact directory): the display name on the INVITE to
/// agents and in notices. Must answer at once (an in-memory lookup): ringing never waits.
pub trait CallerNames: Send {
    fn name(&self, number: &str) -> Option<String>;
}

/// Where a blind transfer sends the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferTarget {
    User(String),
    Team(String),
    /// One of our lines: its steps ring.
    Line(String),
}
