//! The call record: one timeline per call, from arrival to hang-up, and the figures derived
//! from it (steps, agents rung, who declined, who answered, ring and talk time).
//!
//! Every event goes through [`CallRecord::push`], which appends it to the timeline and updates
//! the derived fields, so the two cannot disagree. Offsets are measured from the call's
//! creation on the monotonic clock the daemon passes in; `created` anchors them to wall time.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use config::{IvrId, Route, UserId};
use serde::Serialize;

use crate::call::BranchId;
use crate::decide::Target;
use crate::ser;

/// The daemon's name for a call (typically the inbound Call-ID); carried, never interpreted.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CallId(String);

impl CallId {
    pub fn new(s: impl Into<String>) -> Self {
        CallId(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({:?})", self.0)
    }
}

/// Something that happened to a call, for its record and the event stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TimelineEvent {
    /// The call arrived and routing took it.
    Routed {
        target: Target,
    },
    /// Outside business hours: the line's `closed` route replaces its steps.
    Closed {
        #[serde(serialize_with = "ser::display")]
        route: Route,
    },
    /// A step (team, user, IVR; from the number, an IVR choice, the fallback or the closed
    /// route) begins. Always followed by a `StepEnded` for it.
    StepStarted {
        #[serde(serialize_with = "ser::display")]
        step: Route,
    },
    StepEnded {
        #[serde(serialize_with = "ser::display")]
        step: Route,
        result: StepResult,
    },
    /// Ringing all registered contacts of an agent, one branch each.
    AgentRung {
        #[serde(serialize_with = "ser::display")]
        user: UserId,
        branches: Vec<BranchId>,
    },
    /// An agent of the step was not rung.
    AgentSkipped {
        #[serde(serialize_with = "ser::display")]
        user: UserId,
        reason: SkipReason,
    },
    /// The first provisional response, relayed to the caller.
    Ringing {
        #[serde(serialize_with = "ser::display")]
        user: UserId,
    },
    /// A branch failed before an answer (the agent's other devices may still ring).
    BranchFailed {
        #[serde(serialize_with = "ser::display")]
        user: UserId,
        branch: BranchId,
        cause: FailCause,
    },
    /// The agent refused the call: never rung again for it.
    Declined {
        #[serde(serialize_with = "ser::display")]
        user: UserId,
        by: DeclineSource,
    },
    /// One-at-a-time strategies: this agent's turn is over.
    AgentTimeout {
        #[serde(serialize_with = "ser::display")]
        user: UserId,
    },
    /// A waves step adds agents (the first wave is number 1).
    Wave {
        number: u32,
    },
    /// The IVR ended with a choice; the cascade continues with `route`.
    IvrResult {
        #[serde(serialize_with = "ser::display")]
        ivr: IvrId,
        #[serde(serialize_with = "ser::display")]
        route: Route,
    },
    Answered {
        #[serde(serialize_with = "ser::display")]
        user: UserId,
        branch: BranchId,
    },
    /// A 2xx that lost the race (or came after a CANCEL): acknowledged, then hung up.
    LateAnswer {
        #[serde(serialize_with = "ser::display")]
        user: UserId,
        branch: BranchId,
    },
    /// Handed to voicemail.
    Voicemail,
    Ended {
        reason: EndReason,
    },
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResult {
    Answered,
    /// Its ring time ran out (for one-at-a-time strategies: the last agent's turn did).
    TimedOut,
    /// Every agent rung failed or declined before the ring time.
    Exhausted,
    /// Nobody could be rung: no registered contact, away, declined earlier, or unknown.
    Skipped,
    /// The IVR returned a choice.
    IvrDone,
    CallerCancelled,
    /// The daemon ended the call ([`crate::CallRouting::on_call_ended`] before an outcome).
    Aborted,
}

/// Why an agent was passed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    NoContacts,
    Away,
    /// Declined earlier in this call.
    Declined,
    /// Not in the configuration (an IVR choice naming a user or team since removed).
    Unknown,
}

/// Why a branch failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailCause {
    /// A final non-2xx response.
    Status(u16),
    /// The transport or the transaction gave up (no response at all).
    Transport,
}

/// Who said no.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineSource {
    /// 486, 600 or 603 from one of the agent's devices.
    Response(u16),
    /// The agent's application (`POST /v1/calls/{id}/decline`).
    Api,
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The caller hung up before an answer.
    CallerCancelled,
    /// Nobody answered: the cascade ran out, or took a `hangup` route (fallback, closed) (480).
    NoAnswer,
    /// Too many route hand-offs (an IVR sending the caller round in circles) (480).
    LoopLimit,
    /// After an answer or in voicemail: reported by the daemon.
    CallerHungUp,
    AgentHungUp,
    /// Anything else the daemon ends a call for (shutdown, media timeout, error).
    Dropped,
}

/// One step as it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    #[serde(serialize_with = "ser::display")]
    pub step: Route,
    #[serde(serialize_with = "ser::millis")]
    pub started: Duration,
    #[serde(serialize_with = "ser::millis_opt")]
    pub ended: Option<Duration>,
    pub result: Option<StepResult>,
}

/// One timeline entry: `at` is the offset from the call's creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    #[serde(serialize_with = "ser::millis")]
    pub at: Duration,
    #[serde(flatten)]
    pub event: TimelineEvent,
}

/// A call's record. Offsets (`Duration`) count from creation; serialised as milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct CallRecord {
    pub id: CallId,
    #[serde(serialize_with = "ser::unix_millis")]
    pub created: SystemTime,
    #[serde(skip)]
    pub created_at: Instant,
    pub target: Target,
    pub timeline: Vec<Entry>,
    pub steps: Vec<StepRecord>,
    /// Each agent once, in the order first rung.
    #[serde(serialize_with = "ser::display_seq")]
    pub agents_rung: Vec<UserId>,
    #[serde(serialize_with = "ser::display_seq")]
    pub declined_by: Vec<UserId>,
    #[serde(serialize_with = "ser::display_opt")]
    pub answered_by: Option<UserId>,
    #[serde(serialize_with = "ser::millis_opt")]
    pub answered_at: Option<Duration>,
    #[serde(serialize_with = "ser::millis_opt")]
    pub ended_at: Option<Duration>,
    pub end_reason: Option<EndReason>,
    /// Time spent in ring steps (team and user steps that rang someone), IVR excluded.
    #[serde(serialize_with = "ser::millis")]
    pub ring_time: Duration,
    /// From answer to end; set when the call ends after an answer.
    #[serde(serialize_with = "ser::millis_opt")]
    pub talk_time: Option<Duration>,
}

impl CallRecord {
    pub(crate) fn new(
        id: CallId,
        target: Target,
        created_at: Instant,
        created: SystemTime,
    ) -> Self {
        CallRecord {
            id,
            created,
            created_at,
            target,
            timeline: Vec::new(),
            steps: Vec::new(),
            agents_rung: Vec::new(),
            declined_by: Vec::new(),
            answered_by: None,
            answered_at: None,
            ended_at: None,
            end_reason: None,
            ring_time: Duration::ZERO,
            talk_time: None,
        }
    }

    /// The offset of `now` from creation (zero for an instant before it).
    pub fn offset(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.created_at)
    }

    /// Whether the call has ended (an `Ended` event was pushed).
    pub fn is_ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// Appends `event` at `now` and updates the derived fields.
    pub(crate) fn push(&mut self, now: Instant, event: TimelineEvent) {
        let at = self.offset(now);
        match &event {
            TimelineEvent::StepStarted { step } => self.steps.push(StepRecord {
                step: step.clone(),
                started: at,
                ended: None,
                result: None,
            }),
            TimelineEvent::StepEnded { result, .. } => {
                if let Some(s) = self.steps.last_mut().filter(|s| s.ended.is_none()) {
                    s.ended = Some(at);
                    s.result = Some(*result);
                    let rang = !matches!(result, StepResult::Skipped | StepResult::IvrDone)
                        && matches!(s.step, Route::Team(_) | Route::User(_));
                    if rang {
                        self.ring_time += at.saturating_sub(s.started);
                    }
                }
            }
            TimelineEvent::AgentRung { user, .. } if !self.agents_rung.contains(user) => {
                self.agents_rung.push(user.clone());
            }
            TimelineEvent::Declined { user, .. } if !self.declined_by.contains(user) => {
                self.declined_by.push(user.clone());
            }
            TimelineEvent::Answered { user, .. } => {
                self.answered_by = Some(user.clone());
                self.answered_at = Some(at);
            }
            TimelineEvent::Ended { reason } => {
                self.ended_at = Some(at);
                self.end_reason = Some(*reason);
                self.talk_time = self.answered_at.map(|a| at.saturating_sub(a));
            }
            _ => {}
        }
        self.timeline.push(Entry { at, event });
    }
}
