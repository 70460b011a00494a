//! A node without SIP, for driving the console: the real API (`api::router_with`) and the
//! console's router on a loopback port, a conversation store in memory that returns the real
//! store's JSON (`store::Conversation`), and a stand-in engine task that answers API commands
//! the way the engine is specified to, publishes the resulting events, and reports every
//! command to the test.

#![allow(dead_code)]

pub mod browser;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::{
    Accounts, Action, ActionError, AgentState, AgentView, ApiCommand, ApiParts, ApiState,
    CallDirectory, CallState, CallView, CallerView, Conversations, Event, IvrView, LineView,
    Principal, Publisher,
};
use serde_json::{json, Value};
use store::{
    CallOutcome, CallRecord, Conversation, ConversationHeader, ConversationState, Direction, Item,
    LogAction, Message, SystemLog,
};
use tokio::sync::{mpsc, oneshot};

pub const ALICE_TOKEN: &str = "alice-console-token";
pub const ADMIN_TOKEN: &str = "admin-console-token";
pub const LINE: &str = "+33100000001";
pub const LINE_NAME: &str = "Support FR";
pub const CUSTOMER: &str = "+33611111111";

/// How long a test waits for the engine to receive a command before failing.
pub const COMMAND_WAIT: Duration = Duration::from_secs(15);

/// Unix milliseconds, read once per node: every time the fake engine and store write is this
/// plus an offset, so the console's timers show small, plausible durations.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start_ms: u64,
}

impl Clock {
    fn read_once() -> Clock {
        let start_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(1_700_000_000_000);
        Clock { start_ms }
    }

    /// `offset_s` seconds after the node started (negative: before).
    pub fn at(&self, offset_s: i64) -> u64 {
        self.start_ms.saturating_add_signed(offset_s * 1000)
    }
}

/// The conversation store, in memory, with the store crate's types so the page is tested
/// against the JSON the real store returns.
pub struct MemoryStore {
    clock: Clock,
    conversations: Mutex<HashMap<(String, String), Conversation>>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Conversation>> {
        self.conversations.lock().expect("store poisoned")
    }

    pub fn insert(&self, conversation: Conversation) {
        let key = (
            conversation.header.line.clone(),
            conversation.header.customer.clone(),
        );
        self.lock().insert(key, conversation);
    }

    pub fn conversation(&self, line: &str, customer: &str) -> Option<Conversation> {
        self.lock()
            .get(&(line.to_owned(), customer.to_owned()))
            .cloned()
    }

    /// Appends `item` (creating the conversation, open and unassigned, if needed).
    pub fn append(&self, line: &str, customer: &str, item: Item) -> Conversation {
        let mut all = self.lock();
        let conversation = all
            .entry((line.to_owned(), customer.to_owned()))
            .or_insert_with(|| Conversation {
                header: ConversationHeader {
                    line: line.to_owned(),
                    customer: customer.to_owned(),
                    customer_name: None,
                    state: ConversationState::Open,
                    assignee: None,
                    last_activity: 0,
                },
                items: Vec::new(),
            });
        conversation.header.last_activity = item.at();
        conversation.items.push(item);
        conversation.clone()
    }

    fn change(
        &self,
        line: &str,
        customer: &str,
        actor: &str,
        action: LogAction,
        detail: Option<String>,
        apply: impl FnOnce(&mut ConversationHeader),
    ) -> Result<Option<Value>, String> {
        let mut all = self.lock();
        let Some(conversation) = all.get_mut(&(line.to_owned(), customer.to_owned())) else {
            return Ok(None);
        };
        apply(&mut conversation.header);
        let at = self.clock.at(1) as i64;
        conversation.items.push(Item::Log(SystemLog {
            action,
            actor: Some(actor.to_owned()),
            detail,
            at,
        }));
        conversation.header.last_activity = at;
        to_json(conversation).map(Some)
    }
}

fn to_json(conversation: &Conversation) -> Result<Value, String> {
    serde_json::to_value(conversation).map_err(|e| e.to_string())
}

impl Conversations for MemoryStore {
    fn get(&self, line: &str, customer: &str) -> Result<Option<Value>, String> {
        self.conversation(line, customer)
            .map(|c| to_json(&c))
            .transpose()
    }

    fn list(&self, line: &str, only_for: Option<&str>) -> Result<Option<Value>, String> {
        let all = self.lock();
        let headers: Vec<&ConversationHeader> = all
            .values()
            .map(|c| &c.header)
            .filter(|h| h.line == line && only_for.is_none_or(|u| h.assignee.as_deref() == Some(u)))
            .collect();
        Ok(Some(json!({ "conversations": headers })))
    }

    fn may_access(&self, line: &str, customer: &str, user: &str) -> Result<bool, String> {
        Ok(self.conversation(line, customer).is_some_and(|c| {
            c.header.assignee.as_deref() == Some(user)
                || c.items.iter().any(|item| match item {
                    Item::Call(call) => {
                        call.answered_by.as_deref() == Some(user)
                            || call.agents_rung.iter().any(|a| a == user)
                    }
                    Item::Message(_) | Item::Log(_) => false,
                })
        }))
    }

    fn assign(
        &self,
        line: &str,
        customer: &str,
        actor: &str,
        user: &str,
    ) -> Result<Option<Value>, String> {
        let assignee = user.to_owned();
        self.change(
            line,
            customer,
            actor,
            LogAction::Assigned,
            Some(user.to_owned()),
            |h| h.assignee = Some(assignee),
        )
    }

    fn close(&self, line: &str, customer: &str, actor: &str) -> Result<Option<Value>, String> {
        self.change(line, customer, actor, LogAction::Closed, None, |h| {
            h.state = ConversationState::Closed
        })
    }

    fn reopen(&self, line: &str, customer: &str, actor: &str) -> Result<Option<Value>, String> {
        self.change(line, customer, actor, LogAction::Reopened, None, |h| {
            h.state = ConversationState::Open
        })
    }
}

/// The stand-in engine: answers each command (404 for an unknown call, 409 in the wrong
/// state), applies it to the call, publishes the event the engine would, and sends the action
/// to the test.
struct FakeEngine {
    clock: Clock,
    publisher: Publisher,
    store: Arc<MemoryStore>,
    seen: mpsc::UnboundedSender<Action>,
}

impl FakeEngine {
    async fn run(self, mut commands: mpsc::Receiver<ApiCommand>) {
        while let Some(command) = commands.recv().await {
            let verdict = self.apply(&command.action);
            let _ = self.seen.send(command.action.clone());
            command.respond(verdict);
        }
    }

    fn apply(&self, action: &Action) -> Result<(), ActionError> {
        let calls = self.publisher.calls();
        let call_of = |id: &str| {
            calls
                .get(id)
                .ok_or_else(|| ActionError::not_found(format!("no call {id:?}")))
        };
        let at = self.clock.at(1);
        match action {
            Action::Decline { call, agent } => {
                let mut c = call_of(call)?;
                set_agent(&mut c, agent, AgentState::Declined)?;
                self.publisher
                    .publish(Event::call_declined(at, c, agent.clone()));
            }
            Action::Accept { call, agent } => {
                let mut c = call_of(call)?;
                set_agent(&mut c, agent, AgentState::Answered)?;
                c.state = CallState::Answered;
                c.answered_by = Some(agent.clone());
                c.answered_at = Some(at);
                self.publisher
                    .publish(Event::call_answered(at, c, agent.clone()));
            }
            Action::Hangup { call } => {
                let mut c = call_of(call)?;
                c.state = CallState::Ended;
                c.ended_at = Some(at);
                c.outcome = Some("answered".into());
                self.publisher.publish(Event::call_ended(at, c));
            }
            Action::Hold { call, hold } => {
                let mut c = call_of(call)?;
                if !matches!(c.state, CallState::Answered | CallState::Held) {
                    return Err(ActionError::conflict("call not answered"));
                }
                c.state = if *hold {
                    CallState::Held
                } else {
                    CallState::Answered
                };
                self.publisher.publish(Event::call_updated(at, c));
            }
            Action::Transfer { call, .. } | Action::Dtmf { call, .. } => {
                let c = call_of(call)?;
                if !matches!(c.state, CallState::Answered | CallState::Held) {
                    return Err(ActionError::conflict("call not answered"));
                }
            }
            Action::SendMessage {
                line,
                customer,
                body,
                author,
            } => {
                let conversation = self.store.append(
                    line,
                    customer,
                    Item::Message(Message {
                        sip_call_id: format!("msg-{at}-{}", body.len()),
                        direction: Direction::Outbound,
                        body: body.clone(),
                        author: Some(author.clone()),
                        at: at as i64,
                    }),
                );
                let value = to_json(&conversation).map_err(|e| ActionError::with_status(500, e))?;
                self.publisher.publish(Event::conversation_updated(
                    at,
                    line.clone(),
                    value,
                    vec![author.clone()],
                ));
            }
            Action::SetAvailability { .. } => {}
        }
        Ok(())
    }
}

fn set_agent(call: &mut CallView, agent: &str, state: AgentState) -> Result<(), ActionError> {
    if call.state != CallState::Ringing {
        return Err(ActionError::conflict("call not ringing"));
    }
    let Some(view) = call.agents.iter_mut().find(|a| a.user == agent) else {
        return Err(ActionError::not_found(format!("{agent} is not rung")));
    };
    if view.state != AgentState::Ringing {
        return Err(ActionError::conflict(format!("{agent} is not ringing")));
    }
    view.state = state;
    Ok(())
}

/// A running node: the URL to open, the publisher to play the engine's part, the commands
/// the engine received.
pub struct Node {
    pub url: String,
    pub addr: SocketAddr,
    pub clock: Clock,
    pub publisher: Publisher,
    pub store: Arc<MemoryStore>,
    pub state: ApiState,
    actions: tokio::sync::Mutex<mpsc::UnboundedReceiver<Action>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Node {
    pub async fn start() -> Node {
        let clock = Clock::read_once();
        let accounts = Accounts::new()
            .with_token(ALICE_TOKEN, Principal::User("alice".into()))
            .with_token(ADMIN_TOKEN, Principal::Admin)
            .with_user("alice")
            .with_user("bob")
            .with_team("support", ["alice".to_string(), "bob".to_string()]);
        let store = Arc::new(MemoryStore {
            clock,
            conversations: Mutex::new(HashMap::new()),
        });
        let (commands, command_rx) = mpsc::channel(64);
        let state = ApiState::new(ApiParts::new(accounts, commands, store.clone()));
        let publisher = Publisher::new(state.calls().clone(), state.events().clone());
        let (seen, actions) = mpsc::unbounded_channel();
        tokio::spawn(
            FakeEngine {
                clock,
                publisher: publisher.clone(),
                store: store.clone(),
                seen,
            }
            .run(command_rx),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let app = api::router_with(console::router(), state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(api::serve_router(
            listener,
            app,
            state.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Node {
            url: format!("http://{addr}"),
            addr,
            clock,
            publisher,
            store,
            state,
            actions: tokio::sync::Mutex::new(actions),
            stop: Some(stop),
        }
    }

    /// The next command the engine received, waiting at most [`COMMAND_WAIT`].
    pub async fn next_action(&self) -> Action {
        let mut actions = self.actions.lock().await;
        match tokio::time::timeout(COMMAND_WAIT, actions.recv()).await {
            Ok(Some(action)) => action,
            Ok(None) => panic!("the fake engine stopped"),
            Err(_) => panic!("the engine received no command within {COMMAND_WAIT:?}"),
        }
    }

    /// The next command that `keep` selects; others are skipped (and printed).
    pub async fn next_action_where(&self, keep: impl Fn(&Action) -> bool) -> Action {
        loop {
            let action = self.next_action().await;
            if keep(&action) {
                return action;
            }
            println!("(skipped engine command {action:?})");
        }
    }

    /// The calls the node shows (for asserting engine-side state).
    pub fn calls(&self) -> &CallDirectory {
        self.publisher.calls()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A call ringing alice on the support line, after an IVR walk, with a CRM card.
pub fn ringing_call(clock: Clock, id: &str, caller_name: &str, caller: &str) -> CallView {
    let mut call = CallView::new(
        id,
        LineView {
            number: LINE.into(),
            name: LINE_NAME.into(),
        },
        CallerView {
            number: caller.into(),
            name: Some(caller_name.into()),
        },
        clock.at(-20),
    );
    call.state = CallState::Ringing;
    call.ivr = IvrView {
        path: Some("main:2;billing:1".into()),
        branch: Some("Billing disputes".into()),
    };
    call.crm = Some(json!({
        "name": caller_name,
        "company": "ACME Industries",
        "tier": "gold",
        "open_tickets": 2,
    }));
    call.teams = vec!["support".into()];
    call.agents = vec![AgentView {
        user: "alice".into(),
        state: AgentState::Ringing,
    }];
    call
}

/// Publishes `call` ringing alice, as the engine does when her phones start ringing.
pub fn ring_alice(node: &Node, call: CallView) {
    let at = node.clock.at(0);
    node.publisher
        .publish(Event::call_ringing(at, call, "alice"));
}

/// A conversation on [`LINE`] with [`CUSTOMER`], assigned to alice: an answered call through
/// the IVR, a missed call, a voicemail, SMS both ways and system logs.
pub fn sample_conversation(clock: Clock) -> Conversation {
    let t = |offset_s: i64| clock.at(offset_s) as i64;
    let call = |id: &str, started: i64, outcome: CallOutcome| CallRecord {
        call_id: id.into(),
        direction: Direction::Inbound,
        started_at: started,
        answered_at: None,
        ended_at: Some(started + 30_000),
        outcome,
        answered_by: None,
        agents_rung: vec!["alice".into(), "bob".into()],
        ivr_branch: None,
        ivr_path: None,
        caller_name: Some("Jeanne Dupont".into()),
        duration_ms: 0,
        voicemail: None,
        crm_name: Some("Jeanne Dupont".into()),
    };
    let answered = CallRecord {
        answered_at: Some(t(-86_390)),
        answered_by: Some("alice".into()),
        ivr_branch: Some("Billing disputes".into()),
        ivr_path: Some("main:2;billing:1".into()),
        duration_ms: 192_000,
        ..call("c-old-1", t(-86_400), CallOutcome::Answered)
    };
    let missed = call("c-old-2", t(-7_200), CallOutcome::Missed);
    let voicemail = CallRecord {
        voicemail: Some("/var/lib/switchboard/voicemail/c-old-3.wav".into()),
        ..call("c-old-3", t(-3_600), CallOutcome::Voicemail)
    };
    let items = vec![
        Item::Call(answered),
        Item::Log(SystemLog {
            action: LogAction::Assigned,
            actor: Some("bob".into()),
            detail: Some("alice".into()),
            at: t(-86_000),
        }),
        Item::Call(missed),
        Item::Call(voicemail),
        Item::Message(Message {
            sip_call_id: "m-1".into(),
            direction: Direction::Inbound,
            body: "Hello, I called about invoice 42 <b>not bold</b>".into(),
            author: None,
            at: t(-3_000),
        }),
        Item::Message(Message {
            sip_call_id: "m-2".into(),
            direction: Direction::Outbound,
            body: "We are looking into it.".into(),
            author: Some("alice".into()),
            at: t(-2_900),
        }),
    ];
    Conversation {
        header: ConversationHeader {
            line: LINE.into(),
            customer: CUSTOMER.into(),
            customer_name: Some("Jeanne Dupont".into()),
            state: ConversationState::Open,
            assignee: Some("alice".into()),
            last_activity: t(-2_900),
        },
        items,
    }
}
