//! What the API shows of a call: everything an agent's ringing popup and in-call view need, in
//! one serialisable value.
//!
//! The engine owns the real call state; it builds a [`CallView`] whenever something visible
//! changes and hands it to the [`crate::CallDirectory`] and the [`crate::EventBus`]. The API
//! never asks the engine for it, so a slow HTTP client cannot slow a call down. Times are unix
//! milliseconds supplied by the engine (the API reads no clock for call data).

use serde::{Deserialize, Serialize};

/// Where a call is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Received, not yet in an IVR or ringing anybody (routing, business hours, CRM lookup).
    Routing,
    /// The caller is walking an IVR menu.
    Ivr,
    /// One or more agents are being rung.
    Ringing,
    /// Bridged to an agent.
    Answered,
    /// Answered, and put on hold by the agent.
    Held,
    /// Over; `outcome` says how.
    Ended,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Routing => "routing",
            CallState::Ivr => "ivr",
            CallState::Ringing => "ringing",
            CallState::Answered => "answered",
            CallState::Held => "held",
            CallState::Ended => "ended",
        }
    }
}

/// What happened to one agent rung for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Ringing,
    /// Declined (486/603 or the API's decline): never rung again for this call.
    Declined,
    Answered,
    /// Stopped ringing: ring timeout, another agent won, or the caller hung up.
    Cancelled,
    /// Unreachable: 408, 5xx, transport error.
    Failed,
}

/// The company number the caller dialled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineView {
    pub number: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerView {
    pub number: String,
    /// From the CRM contact when known, else the caller's display name, else none.
    pub name: Option<String>,
}

/// The IVR walk: `path` as in the `X-Switchboard-IVR-Path` header (`main:1;sales:2`), `branch`
/// the label of the last choice. Both absent when no IVR was walked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IvrView {
    pub path: Option<String>,
    pub branch: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    pub user: String,
    pub state: AgentState,
}

/// One line of a call's history, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Unix milliseconds.
    pub at: u64,
    /// What happened, dotted like event types: `ivr.choice`, `agent.ringing`, `call.held`...
    pub event: String,
    pub detail: Option<String>,
}

/// A call as the API shows it: the whole popup in one value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallView {
    /// The inbound call's id (the `X-Switchboard-Call` header).
    pub id: String,
    pub state: CallState,
    pub line: LineView,
    pub caller: CallerView,
    /// The CRM card, as the CRM returned it.
    pub crm: Option<serde_json::Value>,
    pub ivr: IvrView,
    /// Teams whose members are (or were) rung for this call, for `?team=` filters.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Every agent rung so far, in the order they were rung.
    pub agents: Vec<AgentView>,
    /// Unix milliseconds.
    pub created_at: u64,
    pub answered_at: Option<u64>,
    pub ended_at: Option<u64>,
    pub answered_by: Option<String>,
    /// How the call ended (`answered`, `abandoned`, `no_answer`... see
    /// [`crate::metrics::CallOutcome`]); none while in progress.
    pub outcome: Option<String>,
    pub timeline: Vec<TimelineEntry>,
}

impl CallView {
    /// A call just received on `line` from `caller`: routing, nobody rung, empty timeline.
    pub fn new(id: impl Into<String>, line: LineView, caller: CallerView, created_at: u64) -> Self {
        CallView {
            id: id.into(),
            state: CallState::Routing,
            line,
            caller,
            crm: None,
            ivr: IvrView::default(),
            teams: Vec::new(),
            agents: Vec::new(),
            created_at,
            answered_at: None,
            ended_at: None,
            answered_by: None,
            outcome: None,
            timeline: Vec::new(),
        }
    }

    /// Whether `user` takes part in this call: rung for it or answered it. A user token sees
    /// exactly these calls.
    pub fn involves(&self, user: &str) -> bool {
        self.answered_by.as_deref() == Some(user) || self.agents.iter().any(|a| a.user == user)
    }

    /// The users who take part in this call (rung or answering), without duplicates.
    pub fn participants(&self) -> impl Iterator<Item = &str> {
        let answered = self
            .answered_by
            .as_deref()
            .filter(|u| !self.agents.iter().any(|a| a.user == *u));
        self.agents.iter().map(|a| a.user.as_str()).chain(answered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> CallView {
        CallView::new(
            "c1",
            LineView {
                number: "+33100000001".into(),
                name: "Support FR".into(),
            },
            CallerView {
                number: "+33611111111".into(),
                name: None,
            },
            1_700_000_000_000,
        )
    }

    #[test]
    fn involvement_covers_rung_and_answering_users() {
        let mut c = call();
        assert!(!c.involves("alice"));
        c.agents.push(AgentView {
            user: "alice".into(),
            state: AgentState::Declined,
        });
        c.answered_by = Some("bob".into());
        assert!(c.involves("alice"));
        assert!(c.involves("bob"));
        assert!(!c.involves("carol"));
        assert_eq!(c.participants().collect::<Vec<_>>(), ["alice", "bob"]);
    }

    #[test]
    fn serialises_states_in_snake_case() {
        let mut c = call();
        c.state = CallState::Ivr;
        c.agents.push(AgentView {
            user: "alice".into(),
            state: AgentState::Cancelled,
        });
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["state"], "ivr");
        assert_eq!(v["agents"][0]["state"], "cancelled");
        assert_eq!(v["caller"]["name"], serde_json::Value::Null);
        assert_eq!(v["line"]["number"], "+33100000001");
        let back: CallView = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }
}
