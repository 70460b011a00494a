//! What the store keeps, as plain serde types: the HTTP API returns them as JSON unchanged.
//!
//! Numbers (a line, a customer) are E.164 strings as written in the configuration
//! (`+33100000001`); users are configuration user ids. The store checks neither: it knows
//! nothing of the configuration, and a customer number comes from the network.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. The store never reads the clock: every write carries
/// its own time.
pub type UnixMs = i64;

/// Declares a field-less enum stored as text, with the same spelling in SQL and in JSON.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// The spelling in the database and in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Inverse of [`Self::as_str`].
            pub fn from_text(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

text_enum!(
    /// Seen from the line: `inbound` is the customer reaching us.
    Direction {
        Inbound = "inbound",
        Outbound = "outbound",
    }
);

text_enum!(
    /// How a call ended, from the customer's point of view.
    CallOutcome {
        /// An agent (or the user dialled) took the call.
        Answered = "answered",
        /// Rung, nobody answered, no voicemail.
        Missed = "missed",
        /// Every agent rung declined it.
        Declined = "declined",
        /// The caller left a voicemail.
        Voicemail = "voicemail",
        /// The caller hung up before anyone answered (in the IVR or while ringing).
        Abandoned = "abandoned",
        /// Could not be set up (no route, no reachable contact, error).
        Failed = "failed",
    }
);

text_enum!(
    /// What a system log records.
    LogAction {
        Assigned = "assigned",
        Unassigned = "unassigned",
        Closed = "closed",
        Reopened = "reopened",
        Transferred = "transferred",
        Declined = "declined",
    }
);

text_enum!(
    /// A conversation is open until somebody closes it; a new inbound call or message reopens it.
    ConversationState {
        Open = "open",
        Closed = "closed",
    }
);

/// One call, as recorded when it ended (the CDR part the conversation shows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The engine's call id (`X-Switchboard-Call`). Writing a record with a call id already
    /// stored replaces that record in place.
    pub call_id: String,
    pub direction: Direction,
    /// The item's time: calls sort by when they started.
    pub started_at: UnixMs,
    pub answered_at: Option<UnixMs>,
    pub ended_at: Option<UnixMs>,
    pub outcome: CallOutcome,
    /// The user who took the call.
    pub answered_by: Option<String>,
    /// Every user rung for this call, in the order they were first rung.
    pub agents_rung: Vec<String>,
    /// Label of the last IVR option chosen (`Sales`).
    pub ivr_branch: Option<String>,
    /// The walk through the menus, as in `X-Switchboard-IVR-Path` (`main:1;sales:2`).
    pub ivr_path: Option<String>,
    /// The caller's display name as received (From header).
    pub caller_name: Option<String>,
    /// Talk time, answered to ended, in milliseconds; 0 for a call nobody answered.
    pub duration_ms: u64,
    /// Path of the voicemail recording, when one was left.
    pub voicemail: Option<String>,
    /// The name on the CRM card shown to the agents, if any.
    pub crm_name: Option<String>,
}

/// An SMS carried by a SIP MESSAGE.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The MESSAGE's Call-ID. A retransmission carries the same one and is stored once.
    pub sip_call_id: String,
    pub direction: Direction,
    pub body: String,
    /// The user who sent an outbound message; `None` for inbound ones.
    pub author: Option<String>,
    pub at: UnixMs,
}

/// A system log: what a user (or the engine) did to the conversation or a call in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemLog {
    pub action: LogAction,
    /// The user who acted; `None` when the engine did (a reopen by a new inbound call).
    pub actor: Option<String>,
    /// Free text for display, e.g. the user assigned or transferred to.
    pub detail: Option<String>,
    pub at: UnixMs,
}

/// One bubble of a conversation. JSON: `{"kind": "call", "call_id": ..., ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    Call(CallRecord),
    Message(Message),
    Log(SystemLog),
}

impl Item {
    /// Where the item sorts in its conversation.
    pub fn at(&self) -> UnixMs {
        match self {
            Item::Call(call) => call.started_at,
            Item::Message(message) => message.at,
            Item::Log(log) => log.at,
        }
    }
}

/// The conversation between one line and one customer number, without its items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationHeader {
    /// Our number (E.164).
    pub line: String,
    /// The customer's number.
    pub customer: String,
    /// The latest known name: the CRM name of the latest call that had one, else the
    /// caller's display name.
    pub customer_name: Option<String>,
    pub state: ConversationState,
    pub assignee: Option<String>,
    /// Time of the newest item.
    pub last_activity: UnixMs,
}

/// A conversation with all its items, oldest first (ties in time keep insertion order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    #[serde(flatten)]
    pub header: ConversationHeader,
    pub items: Vec<Item>,
}

/// A call together with the conversation it belongs to, for "calls of a user".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCall {
    pub line: String,
    pub customer: String,
    pub call: CallRecord,
}

/// Which conversation a write goes to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConversationKey {
    pub line: String,
    pub customer: String,
}

impl ConversationKey {
    pub fn new(line: impl Into<String>, customer: impl Into<String>) -> Self {
        ConversationKey {
            line: line.into(),
            customer: customer.into(),
        }
    }
}

/// One change to the store. Every write creates the conversation when it does not exist yet
/// (open, unassigned).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Adds a call, or replaces the stored call with the same call id. A new inbound call
    /// reopens a closed conversation (with a `reopened` log).
    Call(ConversationKey, CallRecord),
    /// Adds a message unless its SIP Call-ID is already stored. A new inbound message reopens
    /// a closed conversation.
    Message(ConversationKey, Message),
    /// Adds a system log as given (transfers, declines, ...); the state does not change.
    Log(ConversationKey, SystemLog),
    /// Assigns the conversation to `user` (`None`: unassigns) and logs it, unless it is
    /// already so.
    Assign {
        key: ConversationKey,
        user: Option<String>,
        actor: Option<String>,
        at: UnixMs,
    },
    /// Closes and logs, unless already closed.
    Close {
        key: ConversationKey,
        actor: Option<String>,
        at: UnixMs,
    },
    /// Reopens and logs, unless already open.
    Reopen {
        key: ConversationKey,
        actor: Option<String>,
        at: UnixMs,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_serialise_as_a_tagged_enum_and_back() {
        let item = Item::Log(SystemLog {
            action: LogAction::Assigned,
            actor: Some("alice".into()),
            detail: Some("bob".into()),
            at: 7,
        });
        let json = serde_json::to_value(&item).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "log", "action": "assigned", "actor": "alice", "detail": "bob", "at": 7
            })
        );
        assert_eq!(serde_json::from_value::<Item>(json).unwrap(), item);
    }

    #[test]
    fn text_enums_spell_the_same_in_sql_and_json() {
        for outcome in [
            CallOutcome::Answered,
            CallOutcome::Missed,
            CallOutcome::Declined,
            CallOutcome::Voicemail,
            CallOutcome::Abandoned,
            CallOutcome::Failed,
        ] {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.as_str()));
            assert_eq!(CallOutcome::from_text(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Direction::from_text("sideways"), None);
    }

    #[test]
    fn a_conversation_flattens_its_header() {
        let conversation = Conversation {
            header: ConversationHeader {
                line: "+33100000001".into(),
                customer: "+33600000002".into(),
                customer_name: None,
                state: ConversationState::Open,
                assignee: None,
                last_activity: 1,
            },
            items: vec![],
        };
        let json = serde_json::to_value(&conversation).unwrap();
        assert_eq!(json["line"], "+33100000001");
        assert_eq!(json["state"], "open");
        assert_eq!(json["items"], serde_json::json!([]));
        assert_eq!(
            serde_json::from_value::<Conversation>(json).unwrap(),
            conversation
        );
    }
}
