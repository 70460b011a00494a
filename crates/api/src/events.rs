//! Events out of the engine, fanned out to every server-sent-events client.
//!
//! The bus is a bounded `tokio::sync::broadcast` ring: publishing never waits and never fails
//! for lack of readers, and a reader that falls more than `capacity` events behind loses the
//! oldest ones and is told how many (the SSE route turns that into a `lagged` event; the client
//! re-reads `/v1/calls`). So a slow or stuck browser costs the engine nothing.
//!
//! Each published event is serialised to JSON at most once, by the first reader that needs it,
//! not on the engine's thread and not once per client.

use std::sync::{Arc, Mutex, OnceLock};

use serde::{Serialize, Serializer};
use tokio::sync::broadcast;

use crate::directory::CallDirectory;
use crate::model::CallView;

/// The `type` of an event; the SSE `event:` field carries the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum EventKind {
    #[serde(rename = "call.created")]
    CallCreated,
    #[serde(rename = "call.ringing")]
    CallRinging,
    #[serde(rename = "call.answered")]
    CallAnswered,
    #[serde(rename = "call.declined")]
    CallDeclined,
    /// Something else visible changed: hold, unhold, transfer, CRM card arrived.
    #[serde(rename = "call.updated")]
    CallUpdated,
    #[serde(rename = "call.ended")]
    CallEnded,
    #[serde(rename = "ivr.choice")]
    IvrChoice,
    #[serde(rename = "message.received")]
    MessageReceived,
    #[serde(rename = "conversation.updated")]
    ConversationUpdated,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CallCreated => "call.created",
            EventKind::CallRinging => "call.ringing",
            EventKind::CallAnswered => "call.answered",
            EventKind::CallDeclined => "call.declined",
            EventKind::CallUpdated => "call.updated",
            EventKind::CallEnded => "call.ended",
            EventKind::IvrChoice => "ivr.choice",
            EventKind::MessageReceived => "message.received",
            EventKind::ConversationUpdated => "conversation.updated",
        }
    }
}

/// One event. Built only through the constructors, so the `type` always matches the payload:
/// call events carry the whole [`CallView`]; message and conversation events carry the store's
/// JSON plus, unserialised, the line and the users allowed to see them.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    kind: EventKind,
    /// Unix milliseconds.
    at: u64,
    /// The agent a per-agent event is about (rung, answered, declined).
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
    #[serde(flatten)]
    payload: Payload,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Payload {
    // Boxed: a call view is several times larger than the other payloads.
    Call(Box<CallView>),
    Message(Scoped),
    Conversation(Scoped),
}

/// A store value with what filtering needs to know about it.
#[derive(Clone, Debug)]
struct Scoped {
    value: serde_json::Value,
    line: String,
    audience: Vec<String>,
}

impl Serialize for Scoped {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl Event {
    fn call_event(kind: EventKind, at: u64, call: CallView, agent: Option<String>) -> Event {
        Event {
            kind,
            at,
            agent,
            payload: Payload::Call(Box::new(call)),
        }
    }

    pub fn call_created(at: u64, call: CallView) -> Event {
        Event::call_event(EventKind::CallCreated, at, call, None)
    }

    /// `agent`'s phones started ringing for `call`.
    pub fn call_ringing(at: u64, call: CallView, agent: impl Into<String>) -> Event {
        Event::call_event(EventKind::CallRinging, at, call, Some(agent.into()))
    }

    pub fn call_answered(at: u64, call: CallView, agent: impl Into<String>) -> Event {
        Event::call_event(EventKind::CallAnswered, at, call, Some(agent.into()))
    }

    pub fn call_declined(at: u64, call: CallView, agent: impl Into<String>) -> Event {
        Event::call_event(EventKind::CallDeclined, at, call, Some(agent.into()))
    }

    pub fn call_updated(at: u64, call: CallView) -> Event {
        Event::call_event(EventKind::CallUpdated, at, call, None)
    }

    pub fn call_ended(at: u64, call: CallView) -> Event {
        Event::call_event(EventKind::CallEnded, at, call, None)
    }

    /// The caller pressed a key in an IVR; `call.ivr` already holds the new path and branch.
    pub fn ivr_choice(at: u64, call: CallView) -> Event {
        Event::call_event(EventKind::IvrChoice, at, call, None)
    }

    /// A message from a customer on `line`; `audience` are the users whose tokens may see it
    /// (for example the conversation's assignee). Admin and viewer tokens see every event.
    pub fn message_received(
        at: u64,
        line: impl Into<String>,
        message: serde_json::Value,
        audience: Vec<String>,
    ) -> Event {
        Event {
            kind: EventKind::MessageReceived,
            at,
            agent: None,
            payload: Payload::Message(Scoped {
                value: message,
                line: line.into(),
                audience,
            }),
        }
    }

    /// A conversation changed (assigned, closed, reopened, new entry); same `audience` rule as
    /// [`Event::message_received`].
    pub fn conversation_updated(
        at: u64,
        line: impl Into<String>,
        conversation: serde_json::Value,
        audience: Vec<String>,
    ) -> Event {
        Event {
            kind: EventKind::ConversationUpdated,
            at,
            agent: None,
            payload: Payload::Conversation(Scoped {
                value: conversation,
                line: line.into(),
                audience,
            }),
        }
    }

    pub fn kind(&self) -> EventKind {
        self.kind
    }

    pub fn at(&self) -> u64 {
        self.at
    }

    pub fn agent(&self) -> Option<&str> {
        self.agent.as_deref()
    }

    /// The call, for call and IVR events.
    pub fn call(&self) -> Option<&CallView> {
        match &self.payload {
            Payload::Call(call) => Some(call),
            Payload::Message(_) | Payload::Conversation(_) => None,
        }
    }

    /// The company number this event happened on.
    pub fn line(&self) -> &str {
        match &self.payload {
            Payload::Call(call) => &call.line.number,
            Payload::Message(s) | Payload::Conversation(s) => &s.line,
        }
    }

    /// Whether a token of `user` may see this event: the user takes part in the call, is the
    /// agent the event is about, or is in the audience given at construction.
    pub fn involves(&self, user: &str) -> bool {
        if self.agent.as_deref() == Some(user) {
            return true;
        }
        match &self.payload {
            Payload::Call(call) => call.involves(user),
            Payload::Message(s) | Payload::Conversation(s) => s.audience.iter().any(|u| u == user),
        }
    }

    /// Whether this event concerns team `team` whose members are `members`: one of them is
    /// involved, or the call is (was) ringing that team.
    pub fn concerns_team(&self, team: &str, members: &[String]) -> bool {
        if let Some(call) = self.call() {
            if call.teams.iter().any(|t| t == team) {
                return true;
            }
        }
        members.iter().any(|m| self.involves(m))
    }
}

/// An event as it travels the bus: numbered, with its JSON made once on demand.
#[derive(Debug)]
pub struct Published {
    seq: u64,
    event: Event,
    json: OnceLock<String>,
}

impl Published {
    /// Position on the bus, from 1, without gaps: the SSE `id:` field.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The event as one line of JSON.
    pub fn json(&self) -> &str {
        self.json
            .get_or_init(|| match serde_json::to_string(&self.event) {
                Ok(json) => json,
                Err(e) => {
                    // Unreachable for the types above (no map has non-string keys); keep the
                    // stream's shape anyway rather than dropping the event silently.
                    tracing::warn!(seq = self.seq, error = %e, "event not serialisable");
                    format!(
                        r#"{{"type":"{}","at":{},"error":"not serialisable"}}"#,
                        self.event.kind.as_str(),
                        self.event.at
                    )
                }
            })
    }
}

/// The fan-out. Cloning shares the same bus.
#[derive(Clone, Debug)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

#[derive(Debug)]
struct BusInner {
    sender: broadcast::Sender<Arc<Published>>,
    /// Taken with the send so sequence numbers reach readers in order. Held for a counter
    /// increment and a ring-buffer write, never across an `.await`.
    next_seq: Mutex<u64>,
    capacity: usize,
}

impl EventBus {
    /// Enough for a few seconds of a busy node; a client further behind re-syncs.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A bus keeping the last `capacity` events for slow readers (tokio rounds it up to a power
    /// of two; at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1).next_power_of_two();
        let (sender, _) = broadcast::channel(capacity);
        EventBus {
            inner: Arc::new(BusInner {
                sender,
                next_seq: Mutex::new(0),
                capacity,
            }),
        }
    }

    /// Sends `event` to every current subscriber without waiting; returns its sequence number.
    pub fn publish(&self, event: Event) -> u64 {
        // A poisoned counter only means another publisher panicked mid-increment; the number
        // itself is still valid.
        let mut next = match self.inner.next_seq.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *next += 1;
        let seq = *next;
        // No subscriber is not an error: nobody is listening right now.
        let _ = self.inner.sender.send(Arc::new(Published {
            seq,
            event,
            json: OnceLock::new(),
        }));
        seq
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.inner.sender.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.inner.sender.receiver_count()
    }

    /// Events not yet read by the slowest subscriber.
    pub fn backlog(&self) -> usize {
        self.inner.sender.len()
    }

    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(EventBus::DEFAULT_CAPACITY)
    }
}

/// The engine's one-stop handle: keeps the [`CallDirectory`] in step with the events, so that
/// a client that hears of a call can always read it.
#[derive(Clone, Debug)]
pub struct Publisher {
    calls: CallDirectory,
    events: EventBus,
}

impl Publisher {
    pub fn new(calls: CallDirectory, events: EventBus) -> Self {
        Publisher { calls, events }
    }

    /// Updates the directory from a call event (an ended call leaves it), then publishes.
    pub fn publish(&self, event: Event) -> u64 {
        if let Some(call) = event.call() {
            if event.kind() == EventKind::CallEnded {
                self.calls.remove(&call.id);
            } else {
                self.calls.upsert(call.clone());
            }
        }
        self.events.publish(event)
    }

    pub fn calls(&self) -> &CallDirectory {
        &self.calls
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgentState, AgentView, CallState, CallerView, LineView};
    use tokio::sync::broadcast::error::TryRecvError;

    fn call() -> CallView {
        let mut c = CallView::new(
            "c1",
            LineView {
                number: "+33100000001".into(),
                name: "Support FR".into(),
            },
            CallerView {
                number: "+33611111111".into(),
                name: Some("Jeanne".into()),
            },
            5,
        );
        c.agents.push(AgentView {
            user: "alice".into(),
            state: AgentState::Ringing,
        });
        c.teams.push("support".into());
        c
    }

    #[test]
    fn call_event_json_has_type_agent_and_call() {
        let e = Event::call_ringing(7, call(), "alice");
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "call.ringing");
        assert_eq!(v["at"], 7);
        assert_eq!(v["agent"], "alice");
        assert_eq!(v["call"]["id"], "c1");
        assert_eq!(v["call"]["caller"]["name"], "Jeanne");
        let created = serde_json::to_value(Event::call_created(1, call())).unwrap();
        assert!(created.get("agent").is_none());
    }

    #[test]
    fn message_event_serialises_only_the_value() {
        let msg = serde_json::json!({"line": "+33100000001", "body": "hi"});
        let e = Event::message_received(3, "+33100000001", msg.clone(), vec!["bob".into()]);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "message.received");
        assert_eq!(v["message"], msg);
        assert!(v.get("audience").is_none());
        assert!(e.involves("bob"));
        assert!(!e.involves("alice"));
        assert_eq!(e.line(), "+33100000001");
    }

    #[test]
    fn team_concern_by_membership_or_rung_team() {
        let e = Event::call_created(1, call());
        assert!(e.concerns_team("support", &[]));
        assert!(e.concerns_team("sales", &["alice".to_string()]));
        assert!(!e.concerns_team("sales", &["bob".to_string()]));
    }

    #[test]
    fn bus_numbers_events_and_reports_lag() {
        let bus = EventBus::new(4);
        assert_eq!(bus.publish(Event::call_created(1, call())), 1);
        let mut rx = bus.subscribe();
        for at in 0..6 {
            bus.publish(Event::call_updated(at, call()));
        }
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Lagged(2)));
        let first = rx.try_recv().unwrap();
        assert_eq!(first.seq(), 4);
        assert!(first
            .json()
            .starts_with(r#"{"type":"call.updated","at":2,"#));
    }

    #[test]
    fn publisher_keeps_directory_in_step() {
        let p = Publisher::new(CallDirectory::new(), EventBus::new(8));
        let mut c = call();
        p.publish(Event::call_created(1, c.clone()));
        assert!(p.calls().get("c1").is_some());
        c.state = CallState::Ended;
        p.publish(Event::call_ended(2, c));
        assert!(p.calls().get("c1").is_none());
    }
}
