//! The agents' side of the node: the HTTP API, the conversation store and the CRM, fed by the
//! engine's call notices and feeding its actions back.
//!
//! Everything here runs on the node's thread between protocol steps and never waits: notices
//! become [`api::CallView`]s published to the API's directory and event bus (lock-free reads
//! for HTTP clients), finished calls are queued to the store's writer thread, and CRM lookups
//! over HTTP run as their own tasks whose answers come back as `call.updated` events (ringing
//! never waits for them; the in-memory contact directory names callers at once).

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::{Action, ActionError, ApiCommand, CallView, Event};
use engine::{AgentState, CallNotice, CallSnapshot, Engine, Notice};
use store::{ConversationKey, StoreHandle, Write};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Commands from HTTP handlers waiting for the engine.
const COMMAND_QUEUE: usize = 256;

/// What the node loop holds of the agents' side.
pub struct App {
    publisher: api::Publisher,
    metrics: api::Metrics,
    store: Option<StoreHandle>,
    crm: Option<Arc<crm::CrmLookup>>,
    /// CRM cards per call in progress, from the HTTP lookup.
    cards: HashMap<String, serde_json::Value>,
    /// Answers of HTTP CRM lookups: (call id, card).
    card_tx: mpsc::UnboundedSender<(String, serde_json::Value)>,
    state: api::ApiState,
    lines: LineAgents,
    /// The engine's registration counters already turned into metrics.
    registrations_seen: (u64, u64),
}

/// Where the node loop gets the agents' side's inputs.
pub struct AppInputs {
    pub commands: mpsc::Receiver<ApiCommand>,
    pub cards: mpsc::UnboundedReceiver<(String, serde_json::Value)>,
}

/// The contact directory as the engine's caller names.
struct DirectoryNames(Arc<crm::CrmLookup>);

impl engine::CallerNames for DirectoryNames {
    fn name(&self, number: &str) -> Option<String> {
        self.0.directory().get(number).map(|c| c.name.clone())
    }
}

/// Opens the store, loads the CRM directory, binds the API and starts serving it.
pub async fn start(
    cfg: &config::Config,
    engine: &mut Engine,
    metrics: api::Metrics,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> io::Result<(App, AppInputs)> {
    let store = StoreHandle::open(&cfg.store.path, store::StoreOptions::default())
        .map_err(|e| io::Error::other(format!("store {}: {e}", cfg.store.path.display())))?;
    info!(path = %cfg.store.path.display(), "conversation store open");
    std::fs::create_dir_all(&cfg.voicemail.dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("voicemail.dir {}: {e}", cfg.voicemail.dir.display()),
        )
    })?;
    let crm = crm::CrmLookup::from_config(&cfg.crm, &cfg.contacts)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("crm: {e}")))?;
    let crm = Arc::new(crm);
    engine.set_caller_names(Box::new(DirectoryNames(crm.clone())));
    engine.enable_notices();

    let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let lines: LineAgents = Arc::new(std::sync::RwLock::new(line_agents(cfg)));
    let parts = api::ApiParts {
        metrics,
        ..api::ApiParts::new(
            api::Accounts::from_config(cfg),
            commands_tx,
            Arc::new(StoreConversations {
                store: store.clone(),
                lines: lines.clone(),
            }),
        )
    };
    let state = api::ApiState::new(parts);
    let publisher = api::Publisher::new(state.calls().clone(), state.events().clone());
    let metrics = state.metrics().clone();
    let listener = tokio::net::TcpListener::bind(cfg.api.listen)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("api.listen {}: {e}", cfg.api.listen)))?;
    let local = listener.local_addr()?;
    info!(%local, "HTTP API listening");
    let mut stop = shutdown;
    let until = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    // The agent console (crates/console) is served at `/` beside the API.
    let router = api::router_with(console::router(), state.clone());
    tokio::spawn(api::serve_router(listener, router, state.clone(), until));
    let (card_tx, cards) = mpsc::unbounded_channel();
    Ok((
        App {
            publisher,
            metrics,
            store: Some(store),
            crm: Some(crm),
            cards: HashMap::new(),
            card_tx,
            state,
            lines,
            registrations_seen: (0, 0),
        },
        AppInputs { commands, cards },
    ))
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

impl App {
    /// SIGHUP: tokens, users and teams.
    pub fn reconfigure(&mut self, cfg: &config::Config) {
        self.state.set_accounts(api::Accounts::from_config(cfg));
        if let Ok(mut lines) = self.lines.write() {
            *lines = line_agents(cfg);
        }
    }

    pub fn metrics(&self) -> &api::Metrics {
        &self.metrics
    }

    /// Publishes every pending engine notice.
    pub fn drain(&mut self, engine: &mut Engine) {
        while let Some(notice) = engine.poll_notice() {
            self.on_notice(notice);
        }
        while let Some(message) = engine.poll_message() {
            self.on_message(message);
        }
        let stats = engine.stats();
        let (ok, failed) = (stats.registrations, stats.auth_failures);
        for _ in self.registrations_seen.0..ok {
            self.metrics
                .registration(api::RegistrationResult::Registered);
        }
        for _ in self.registrations_seen.1..failed {
            self.metrics.registration(api::RegistrationResult::Rejected);
        }
        self.registrations_seen = (ok, failed);
        self.metrics.set_active_calls(self.publisher.calls().len());
    }

    fn on_notice(&mut self, notice: Notice) {
        let at = now_ms();
        let Notice { event, call } = notice;
        if event == CallNotice::Created {
            self.metrics.call_started();
            self.lookup_card(&call);
        }
        let view = self.view(&call);
        let published = match &event {
            CallNotice::Created => Event::call_created(at, view),
            CallNotice::Ringing { agent } => Event::call_ringing(at, view, agent.as_str()),
            CallNotice::Declined { agent } => Event::call_declined(at, view, agent.as_str()),
            CallNotice::Answered { agent } => {
                if let Some(rang) = call.record.answered_at {
                    self.metrics.ringing_time(rang);
                }
                Event::call_answered(at, view, agent.as_str())
            }
            CallNotice::IvrChoice { .. } => Event::ivr_choice(at, view),
            CallNotice::Ended => {
                self.metrics.call_ended(outcome(&call));
                fork_outcomes(&call, &self.metrics);
                self.cards.remove(&call.id);
                self.record(&call, &view);
                // The finished call is a new entry of its conversation.
                let audience = self
                    .lines
                    .read()
                    .ok()
                    .and_then(|l| l.get(&call.line).cloned())
                    .unwrap_or_default();
                let payload = serde_json::json!({
                    "line": call.line,
                    "customer": call.caller_number,
                    "call": call.id,
                });
                self.publisher.publish(Event::call_ended(at, view));
                Event::conversation_updated(at, call.line.clone(), payload, audience)
            }
        };
        self.publisher.publish(published);
    }

    /// A customer message, in or out: stored in its conversation, and published.
    fn on_message(&mut self, m: engine::MessageNotice) {
        let at = now_ms();
        let direction = match m.direction {
            engine::MessageDirection::Inbound => store::Direction::Inbound,
            engine::MessageDirection::Outbound => store::Direction::Outbound,
        };
        let message = store::Message {
            sip_call_id: m.sip_call_id.clone(),
            direction,
            body: m.body.clone(),
            author: m.author.clone(),
            at: at as i64,
        };
        let key = ConversationKey::new(m.line.clone(), m.customer.clone());
        if let Some(store) = &self.store {
            if let Err(e) = store.submit(Write::Message(key, message.clone())) {
                warn!(line = %m.line, error = %e, "message not stored");
            }
        }
        let payload = serde_json::json!({
            "line": m.line,
            "customer": m.customer,
            "message": message,
        });
        if m.direction == engine::MessageDirection::Inbound {
            self.publisher.publish(Event::message_received(
                at,
                m.line.clone(),
                payload.clone(),
                m.audience.clone(),
            ));
        }
        self.publisher.publish(Event::conversation_updated(
            at,
            m.line.clone(),
            payload,
            m.audience,
        ));
    }

    /// A card from the HTTP CRM arrived for a call still in progress.
    pub fn on_card(&mut self, engine: &Engine, call: String, card: serde_json::Value) {
        let Some(snapshot) = engine.call_snapshot(&call) else {
            return;
        };
        self.cards.insert(call, card);
        let view = self.view(&snapshot);
        self.publisher.publish(Event::call_updated(now_ms(), view));
    }

    fn lookup_card(&mut self, call: &CallSnapshot) {
        let Some(crm) = self.crm.clone() else {
            return;
        };
        if let Some(card) = crm.directory().get(&call.caller_number) {
            self.cards.insert(call.id.clone(), card_json(card));
            return;
        }
        let (id, number, tx) = (
            call.id.clone(),
            call.caller_number.clone(),
            self.card_tx.clone(),
        );
        tokio::spawn(async move {
            if let Some(card) = crm.card(&number).await {
                let _ = tx.send((id, card_json(&card)));
            }
        });
    }

    fn view(&self, call: &CallSnapshot) -> CallView {
        let record = &call.record;
        let created = unix_ms(record.created);
        let at = |d: Option<Duration>| d.map(|d| created + d.as_millis() as u64);
        let line_name = call.line_name.clone().unwrap_or_else(|| call.line.clone());
        let mut view = CallView::new(
            call.id.clone(),
            api::LineView {
                number: call.line.clone(),
                name: line_name,
            },
            api::CallerView {
                number: call.caller_number.clone(),
                name: call.caller_name.clone(),
            },
            created,
        );
        view.state = match call.state {
            "ivr" => api::CallState::Ivr,
            "ringing" => api::CallState::Ringing,
            "answered" => api::CallState::Answered,
            "ended" => api::CallState::Ended,
            _ => api::CallState::Routing,
        };
        view.crm = self.cards.get(&call.id).cloned();
        view.ivr = api::IvrView {
            path: call.ivr_path.clone(),
            branch: call.ivr_branch.clone(),
        };
        view.teams = record
            .steps
            .iter()
            .filter_map(|s| match &s.step {
                config::Route::Team(t) => Some(t.to_string()),
                _ => None,
            })
            .collect();
        view.agents = call
            .agents
            .iter()
            .map(|(u, s)| api::AgentView {
                user: u.to_string(),
                state: match s {
                    AgentState::Ringing => api::AgentState::Ringing,
                    AgentState::Declined => api::AgentState::Declined,
                    AgentState::Answered => api::AgentState::Answered,
                    AgentState::Done => api::AgentState::Cancelled,
                },
            })
            .collect();
        view.answered_at = at(record.answered_at);
        view.ended_at = at(record.ended_at);
        view.answered_by = record.answered_by.as_ref().map(|u| u.to_string());
        view.outcome = record
            .end_reason
            .map(|_| outcome(call).as_str().to_string());
        view.timeline = record
            .timeline
            .iter()
            .map(|e| api::TimelineEntry {
                at: created + e.at.as_millis() as u64,
                event: serde_json::to_value(&e.event)
                    .ok()
                    .and_then(|v| v.get("event").and_then(|k| k.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| "event".into()),
                detail: serde_json::to_string(&e.event).ok(),
            })
            .collect();
        view
    }

    /// The finished call goes to its conversation (line, customer).
    fn record(&self, call: &CallSnapshot, view: &CallView) {
        let Some(store) = &self.store else {
            return;
        };
        let record = &call.record;
        let started = view.created_at as i64;
        let outcome = match outcome(call) {
            _ if call.voicemail.is_some() => store::CallOutcome::Voicemail,
            api::CallOutcome::Answered => store::CallOutcome::Answered,
            api::CallOutcome::Abandoned => store::CallOutcome::Abandoned,
            api::CallOutcome::NoAnswer | api::CallOutcome::Closed
                if !record.declined_by.is_empty() =>
            {
                store::CallOutcome::Declined
            }
            api::CallOutcome::NoAnswer | api::CallOutcome::Closed => store::CallOutcome::Missed,
            _ => store::CallOutcome::Failed,
        };
        let write = Write::Call(
            ConversationKey::new(call.line.clone(), call.caller_number.clone()),
            store::CallRecord {
                call_id: call.id.clone(),
                direction: store::Direction::Inbound,
                started_at: started,
                answered_at: view.answered_at.map(|t| t as i64),
                ended_at: view.ended_at.map(|t| t as i64),
                outcome,
                answered_by: view.answered_by.clone(),
                agents_rung: record.agents_rung.iter().map(|u| u.to_string()).collect(),
                ivr_branch: call.ivr_branch.clone(),
                ivr_path: call.ivr_path.clone(),
                caller_name: call.caller_name.clone(),
                duration_ms: record.talk_time.map_or(0, |d| d.as_millis() as u64),
                voicemail: call.voicemail.clone(),
                crm_name: view
                    .crm
                    .as_ref()
                    .and_then(|c| c.get("name"))
                    .and_then(|n| n.as_str())
                    .map(str::to_owned),
            },
        );
        if let Err(e) = store.submit(write) {
            warn!(call = %call.id, error = %e, "call record not stored");
        }
    }

    /// One command from the API, done at once on the engine.
    pub fn on_command(
        &mut self,
        engine: &mut Engine,
        command: ApiCommand,
        now: std::time::Instant,
    ) {
        let result = match &command.action {
            Action::Decline { call, agent } => engine.decline(call, agent, now).map_err(verdict),
            Action::Hangup { call } => engine.hangup(call, now).map_err(verdict),
            Action::Hold { call, hold } => engine.hold(call, *hold, now).map_err(verdict),
            Action::Dtmf { call, digits } => engine.send_dtmf(call, digits, now).map_err(verdict),
            Action::SetAvailability { user, available } => {
                engine.set_availability(user, *available).map_err(verdict)
            }
            Action::Accept { call, agent } => engine.accept(call, agent, now).map_err(verdict),
            Action::Transfer { call, target } => {
                let to = match target {
                    api::TransferTarget::User(u) => engine::TransferTarget::User(u.clone()),
                    api::TransferTarget::Team(t) => engine::TransferTarget::Team(t.clone()),
                    api::TransferTarget::Number(n) => engine::TransferTarget::Line(n.clone()),
                };
                let snapshot = engine.call_snapshot(call);
                let done = engine.transfer(call, to, now).map_err(verdict);
                if let (Ok(()), Some(snap), Some(store)) = (&done, snapshot, &self.store) {
                    let log = store::SystemLog {
                        action: store::LogAction::Transferred,
                        actor: snap.record.answered_by.as_ref().map(|u| u.to_string()),
                        detail: Some(target.to_string()),
                        at: now_ms() as i64,
                    };
                    let key = ConversationKey::new(snap.line.clone(), snap.caller_number.clone());
                    let _ = store.submit(Write::Log(key, log));
                }
                done
            }
            Action::SendMessage {
                line,
                customer,
                body,
                author,
            } => engine
                .send_message(line, customer, body, author, now)
                .map_err(verdict),
        };
        if let Err(e) = &result {
            info!(action = ?command.action, status = e.status(), error = e.message(), "API action refused");
        }
        command.respond(result);
        self.drain(engine);
    }
}

fn verdict(e: engine::ActionError) -> ActionError {
    match e {
        engine::ActionError::UnknownCall | engine::ActionError::UnknownAgent => {
            ActionError::not_found(e.to_string())
        }
        engine::ActionError::Ended | engine::ActionError::WrongState(_) => {
            ActionError::conflict(e.to_string())
        }
        engine::ActionError::BadInput(_) => ActionError::unprocessable(e.to_string()),
    }
}

/// Each agent branch's fate, from the call's timeline.
fn fork_outcomes(call: &CallSnapshot, metrics: &api::Metrics) {
    use routing::TimelineEvent as T;
    let mut settled = 0usize;
    for entry in &call.record.timeline {
        let outcome = match &entry.event {
            T::Answered { .. } => api::ForkOutcome::Answered,
            T::Declined { .. } => api::ForkOutcome::Declined,
            T::BranchFailed { .. } => api::ForkOutcome::Failed,
            T::AgentTimeout { .. } => api::ForkOutcome::NoAnswer,
            T::LateAnswer { .. } => api::ForkOutcome::LateAnswer,
            _ => continue,
        };
        settled += 1;
        metrics.fork_branch(outcome);
    }
    let rung = call.record.agents_rung.len();
    for _ in settled..rung {
        metrics.fork_branch(api::ForkOutcome::Cancelled);
    }
}

/// How a call ended, for metrics and the store.
fn outcome(call: &CallSnapshot) -> api::CallOutcome {
    use routing::EndReason;
    let record = &call.record;
    if record.answered_by.is_some() {
        return api::CallOutcome::Answered;
    }
    match record.end_reason {
        Some(EndReason::CallerCancelled | EndReason::CallerHungUp) => api::CallOutcome::Abandoned,
        Some(EndReason::NoAnswer | EndReason::LoopLimit) => api::CallOutcome::NoAnswer,
        _ => api::CallOutcome::Failed,
    }
}

/// A CRM card as the popup shows it: name, company, link, then the free fields as their own
/// keys (no internal bookkeeping such as where the card came from).
fn card_json(card: &crm::Card) -> serde_json::Value {
    let mut v = serde_json::Map::new();
    v.insert("name".into(), card.name.clone().into());
    if let Some(company) = &card.company {
        v.insert("company".into(), company.clone().into());
    }
    if let Some(url) = &card.url {
        v.insert("url".into(), url.clone().into());
    }
    for (k, val) in &card.fields {
        v.entry(k.clone()).or_insert_with(|| val.clone().into());
    }
    serde_json::Value::Object(v)
}

/// Who each line reaches (users of its steps, fallback and teams), for conversation access.
type LineAgents = Arc<std::sync::RwLock<HashMap<String, Vec<String>>>>;

fn line_agents(cfg: &config::Config) -> HashMap<String, Vec<String>> {
    cfg.numbers
        .iter()
        .map(|line| {
            let users = cfg.line_users(line).iter().map(|u| u.to_string()).collect();
            (line.number.to_string(), users)
        })
        .collect()
}

/// The API's conversations over the store (called on tokio's blocking pool). Reads wait for
/// the writes already queued, so a client that reacts to an event finds what it announced.
struct StoreConversations {
    store: StoreHandle,
    lines: LineAgents,
}

fn json<T: serde::Serialize>(v: T) -> Result<Option<serde_json::Value>, String> {
    serde_json::to_value(v).map(Some).map_err(|e| e.to_string())
}

impl api::Conversations for StoreConversations {
    fn get(&self, line: &str, customer: &str) -> Result<Option<serde_json::Value>, String> {
        match self
            .store
            .conversation(line, customer)
            .map_err(|e| e.to_string())?
        {
            Some(c) => json(c),
            None => Ok(None),
        }
    }

    fn list(
        &self,
        line: &str,
        only_for: Option<&str>,
    ) -> Result<Option<serde_json::Value>, String> {
        self.store.flush().map_err(|e| e.to_string())?;
        let all = self
            .store
            .conversations(line, 200)
            .map_err(|e| e.to_string())?;
        let visible: Vec<_> = match only_for {
            None => all,
            Some(user) => all
                .into_iter()
                .filter(|h| self.may_access(line, &h.customer, user).unwrap_or(false))
                .collect(),
        };
        json(serde_json::json!({ "line": line, "conversations": visible }))
    }

    fn may_access(&self, line: &str, customer: &str, user: &str) -> Result<bool, String> {
        // The agents a line reaches see its conversations (they get its messages too).
        let reaches = self
            .lines
            .read()
            .map(|l| {
                l.get(line)
                    .is_some_and(|users| users.iter().any(|u| u == user))
            })
            .unwrap_or(false);
        if reaches {
            return Ok(true);
        }
        self.store.flush().map_err(|e| e.to_string())?;
        let Some(c) = self
            .store
            .conversation(line, customer)
            .map_err(|e| e.to_string())?
        else {
            return Ok(false);
        };
        if c.header.assignee.as_deref() == Some(user) {
            return Ok(true);
        }
        Ok(c.items.iter().any(|item| match item {
            store::Item::Call(call) => {
                call.answered_by.as_deref() == Some(user)
                    || call.agents_rung.iter().any(|a| a == user)
            }
            _ => false,
        }))
    }

    fn assign(
        &self,
        line: &str,
        customer: &str,
        actor: &str,
        user: &str,
    ) -> Result<Option<serde_json::Value>, String> {
        let key = ConversationKey::new(line, customer);
        self.store
            .assign(
                key,
                Some(user.to_owned()),
                Some(actor.to_owned()),
                now_ms() as i64,
            )
            .map_err(|e| e.to_string())?;
        self.store.flush().map_err(|e| e.to_string())?;
        self.get(line, customer)
    }

    fn close(
        &self,
        line: &str,
        customer: &str,
        actor: &str,
    ) -> Result<Option<serde_json::Value>, String> {
        let key = ConversationKey::new(line, customer);
        self.store
            .close(key, Some(actor.to_owned()), now_ms() as i64)
            .map_err(|e| e.to_string())?;
        self.store.flush().map_err(|e| e.to_string())?;
        self.get(line, customer)
    }

    fn reopen(
        &self,
        line: &str,
        customer: &str,
        actor: &str,
    ) -> Result<Option<serde_json::Value>, String> {
        let key = ConversationKey::new(line, customer);
        self.store
            .reopen(key, Some(actor.to_owned()), now_ms() as i64)
            .map_err(|e| e.to_string())?;
        self.store.flush().map_err(|e| e.to_string())?;
        self.get(line, customer)
    }
}
