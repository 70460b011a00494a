//! Shared fixture: accounts, a few calls, an in-memory conversation store, and a stand-in for
//! the engine that answers commands the way the real one is specified to (404 unknown call,
//! 409 wrong state) and records what it was asked.

#![allow(dead_code)]

pub mod sse_client;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::{
    Accounts, Action, ActionError, AgentState, AgentView, ApiCommand, ApiOptions, ApiParts,
    ApiState, CallDirectory, CallState, CallView, CallerView, Conversations, IvrView, LineView,
    Principal, TimelineEntry,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub const ADMIN: &str = "admin-token";
pub const VIEWER: &str = "viewer-token";
pub const ALICE: &str = "alice-token";
pub const BOB: &str = "bob-token";

pub const LINE: &str = "+33100000001";
pub const CUSTOMER: &str = "+33611111111";

pub fn accounts() -> Accounts {
    Accounts::new()
        .with_token(ADMIN, Principal::Admin)
        .with_token(VIEWER, Principal::Viewer)
        .with_token(ALICE, Principal::User("alice".into()))
        .with_token(BOB, Principal::User("bob".into()))
        .with_user("alice")
        .with_user("bob")
        .with_user("carol")
        .with_team("support", ["alice".to_string(), "bob".to_string()])
        .with_team("sales", ["carol".to_string()])
}

/// A call on [`LINE`] from `caller`, ringing `agents`.
pub fn call(id: &str, caller: &str, state: CallState, agents: &[&str]) -> CallView {
    let mut call = CallView::new(
        id,
        LineView {
            number: LINE.into(),
            name: "Support FR".into(),
        },
        CallerView {
            number: caller.into(),
            name: Some("Jeanne Dupont".into()),
        },
        1_700_000_000_000,
    );
    call.state = state;
    call.crm = Some(json!({"company": "ACME", "tier": "gold"}));
    call.ivr = IvrView {
        path: Some("main:2".into()),
        branch: Some("Support".into()),
    };
    call.teams = vec!["support".into()];
    call.agents = agents
        .iter()
        .map(|user| AgentView {
            user: (*user).into(),
            state: AgentState::Ringing,
        })
        .collect();
    call.timeline = vec![
        TimelineEntry {
            at: 1_700_000_000_000,
            event: "call.created".into(),
            detail: None,
        },
        TimelineEntry {
            at: 1_700_000_001_000,
            event: "ivr.choice".into(),
            detail: Some("2 Support".into()),
        },
    ];
    call
}

/// An in-memory conversation store keyed by (line, customer); `assignee` decides user access.
#[derive(Default)]
pub struct MemoryConversations {
    conversations: Mutex<HashMap<(String, String), Value>>,
}

impl MemoryConversations {
    pub fn with(line: &str, customer: &str, assignee: Option<&str>) -> Self {
        let store = MemoryConversations::default();
        store.insert(line, customer, assignee);
        store
    }

    pub fn insert(&self, line: &str, customer: &str, assignee: Option<&str>) {
        let conversation = json!({
            "line": line,
            "customer": customer,
            "assignee": assignee,
            "status": "open",
            "entries": [{"kind": "call", "at": 1}],
        });
        self.lock()
            .insert((line.to_owned(), customer.to_owned()), conversation);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Value>> {
        self.conversations.lock().expect("store poisoned")
    }

    fn change(
        &self,
        line: &str,
        customer: &str,
        actor: &str,
        change: impl FnOnce(&mut Value),
        log: String,
    ) -> Option<Value> {
        let mut all = self.lock();
        let conversation = all.get_mut(&(line.to_owned(), customer.to_owned()))?;
        change(conversation);
        if let Some(entries) = conversation["entries"].as_array_mut() {
            entries.push(json!({"kind": "log", "actor": actor, "text": log}));
        }
        Some(conversation.clone())
    }
}

impl Conversations for MemoryConversations {
    fn get(&self, line: &str, customer: &str) -> Result<Option<Value>, String> {
        Ok(self
            .lock()
            .get(&(line.to_owned(), customer.to_owned()))
            .cloned())
    }

    fn list(&self, line: &str, only_for: Option<&str>) -> Result<Option<Value>, String> {
        let all = self.lock();
        if !all.keys().any(|(l, _)| l == line) {
            return Ok(None);
        }
        let mut found: Vec<Value> = all
            .iter()
            .filter(|((l, _), c)| l == line && only_for.is_none_or(|u| c["assignee"] == u))
            .map(|(_, c)| c.clone())
            .collect();
        found.sort_by_key(|c| c["customer"].as_str().map(str::to_owned));
        Ok(Some(json!({ "conversations": found })))
    }

    fn may_access(&self, line: &str, customer: &str, user: &str) -> Result<bool, String> {
        Ok(self
            .lock()
            .get(&(line.to_owned(), customer.to_owned()))
            .is_some_and(|c| c["assignee"] == user))
    }

    fn assign(
        &self,
        line: &str,
        customer: &str,
        actor: &str,
        user: &str,
    ) -> Result<Option<Value>, String> {
        Ok(self.change(
            line,
            customer,
            actor,
            |c| c["assignee"] = json!(user),
            format!("assigned to {user}"),
        ))
    }

    fn close(&self, line: &str, customer: &str, actor: &str) -> Result<Option<Value>, String> {
        Ok(self.change(
            line,
            customer,
            actor,
            |c| c["status"] = json!("closed"),
            "closed".into(),
        ))
    }

    fn reopen(&self, line: &str, customer: &str, actor: &str) -> Result<Option<Value>, String> {
        Ok(self.change(
            line,
            customer,
            actor,
            |c| c["status"] = json!("open"),
            "reopened".into(),
        ))
    }
}

/// Stand-in engine: answers from the directory's view of each call; never answers commands
/// about call `"stuck"` (kept pending, so the API's deadline is what ends the request).
pub struct FakeEngine {
    pub received: Arc<Mutex<Vec<Action>>>,
}

impl FakeEngine {
    pub fn spawn(mut commands: mpsc::Receiver<ApiCommand>, calls: CallDirectory) -> FakeEngine {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            let mut pending = Vec::new();
            while let Some(command) = commands.recv().await {
                log.lock()
                    .expect("log poisoned")
                    .push(command.action.clone());
                let call_id = match &command.action {
                    Action::Decline { call, .. }
                    | Action::Accept { call, .. }
                    | Action::Hangup { call }
                    | Action::Hold { call, .. }
                    | Action::Transfer { call, .. }
                    | Action::Dtmf { call, .. } => Some(call.clone()),
                    Action::SendMessage { .. } | Action::SetAvailability { .. } => None,
                };
                if call_id.as_deref() == Some("stuck") {
                    pending.push(command);
                    continue;
                }
                let verdict = match call_id.map(|id| calls.get(&id)) {
                    None => Ok(()),
                    Some(None) => Err(ActionError::not_found("no such call")),
                    Some(Some(call)) => judge(&command.action, &call),
                };
                command.respond(verdict);
            }
        });
        FakeEngine { received }
    }

    pub fn actions(&self) -> Vec<Action> {
        self.received.lock().expect("log poisoned").clone()
    }
}

fn judge(action: &Action, call: &CallView) -> Result<(), ActionError> {
    let answered = matches!(call.state, CallState::Answered | CallState::Held);
    match action {
        Action::Hold { .. } | Action::Transfer { .. } | Action::Dtmf { .. } if !answered => Err(
            ActionError::conflict(format!("call is {}", call.state.as_str())),
        ),
        Action::Decline { .. } | Action::Accept { .. } if call.state != CallState::Ringing => Err(
            ActionError::conflict(format!("call is {}", call.state.as_str())),
        ),
        _ => Ok(()),
    }
}

pub struct Fixture {
    pub state: ApiState,
    pub engine: FakeEngine,
    pub store: Arc<MemoryConversations>,
}

/// Calls: `c-alice` (ringing alice), `c-bob` (answered by bob), `stuck` (answered by alice).
pub fn fixture_with(options: ApiOptions, bus_capacity: usize) -> Fixture {
    let (commands, command_rx) = mpsc::channel(16);
    let store = Arc::new(MemoryConversations::with(
        LINE,
        "+33622222222",
        Some("alice"),
    ));
    store.insert(LINE, CUSTOMER, None);
    store.insert(LINE, "+33633333333", Some("bob"));
    let parts = ApiParts {
        events: api::EventBus::new(bus_capacity),
        options,
        ..ApiParts::new(accounts(), commands, store.clone())
    };
    let state = ApiState::new(parts);
    state
        .calls()
        .upsert(call("c-alice", CUSTOMER, CallState::Ringing, &["alice"]));
    let mut bob = call("c-bob", "+33644444444", CallState::Answered, &["bob"]);
    bob.answered_by = Some("bob".into());
    bob.created_at += 1;
    state.calls().upsert(bob);
    let mut stuck = call("stuck", "+33655555555", CallState::Answered, &["alice"]);
    stuck.answered_by = Some("alice".into());
    stuck.created_at += 2;
    state.calls().upsert(stuck);
    let engine = FakeEngine::spawn(command_rx, state.calls().clone());
    Fixture {
        state,
        engine,
        store,
    }
}

pub fn fixture() -> Fixture {
    fixture_with(
        ApiOptions {
            command_timeout: Duration::from_secs(3),
            ..ApiOptions::default()
        },
        64,
    )
}
