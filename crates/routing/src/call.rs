//! The per-call cascade and fork machine: which agents ring, on which devices, until when, and
//! what happens to every branch. See the crate documentation for the contract; this module's
//! comments explain the rules that are not obvious from it.
//!
//! Shape: `State` says where the cascade is (not started, a ring step, an IVR, done) and holds
//! what that state needs; `plan` is the rest of the cascade as routes; `branches` is every
//! branch ever created for the call, indexed by [`BranchId`], each with its own
//! [`BranchStatus`]. The two timers (the ring deadline and the next wave) live in one table.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use config::{Config, IvrId, Line, Route, Strategy, TeamId, UserId};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::decide::Target;
use crate::presence::{Availability, ContactRef, Directory};
use crate::record::{
    CallId, CallRecord, DeclineSource, EndReason, FailCause, SkipReason, StepResult, TimelineEvent,
};
use crate::Error;

/// Routes processed per call before giving up with 480: a guard against IVR choices that send
/// a silent caller round in circles (`no_input` to a number whose first step is the same menu)
/// forever. A real cascade processes a handful.
pub const MAX_ROUTES: u32 = 64;

/// Status answered when the cascade runs out or takes a `hangup` route.
pub const NO_ANSWER_STATUS: u16 = 480;

/// The shortest ring time or wave interval honoured; the configuration refuses zero, this
/// keeps a hand-built one from spinning the timer loop.
const MIN_DELAY: Duration = Duration::from_millis(1);

/// One INVITE to one contact of one agent. Ids count from 0 in the order branches are rung,
/// per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct BranchId(pub u32);

/// Why a branch is cancelled; the daemon turns `AnsweredElsewhere` into
/// `Reason: SIP;cause=200;text="Call completed elsewhere"` on the CANCEL (RFC 3326), so the
/// agents' phones do not log a missed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    AnsweredElsewhere,
    /// The step's (or the agent's) ring time ran out.
    Timeout,
    CallerCancelled,
    /// The agent declined (from another device or the API).
    Declined,
    /// The daemon ended the call ([`CallRouting::on_call_ended`] before an outcome).
    CallEnded,
}

/// What the daemon must do, drained with [`CallRouting::poll`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send an INVITE to `contact` for this branch.
    Ring {
        branch: BranchId,
        user: UserId,
        contact: ContactRef,
    },
    /// CANCEL this branch's INVITE. Its final response still comes (487, or a 2xx that
    /// crossed the CANCEL, which yields `AckAndBye`).
    Cancel {
        branch: BranchId,
        reason: CancelReason,
    },
    /// This branch's 2xx lost: ACK it, then BYE it at once.
    AckAndBye { branch: BranchId },
    /// Relay ringing (180) to the caller; emitted at most once per call.
    Ringing,
    /// This branch's 2xx won: ACK it and answer (or bridge) the caller with it. At most once.
    Answered { branch: BranchId, user: UserId },
    /// Answer the caller if not yet answered and run this menu; report its route with
    /// [`CallRouting::on_ivr_result`].
    RunIvr(IvrId),
    /// Hand the caller to voicemail. Final.
    Voicemail,
    /// Final status for the caller (480 no answer, 487 cancelled). If an IVR has already
    /// answered the caller leg, the daemon hangs it up (BYE) instead.
    Reject(u16),
    /// For the event stream; already pushed to [`CallRouting::record`].
    Event(TimelineEvent),
}

/// Where a branch stands. Terminal: `Answered`, `Failed`, `Cancelled`, `AckedAndByed`.
/// `Cancelling` needs nothing more from the daemon (its final response is welcome, not
/// awaited).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BranchStatus {
    /// INVITE out, no final response.
    Calling,
    /// CANCEL out, no final response.
    Cancelling,
    /// The winner.
    Answered,
    /// A final non-2xx (or transport failure) before we cancelled.
    Failed,
    /// The final response after our CANCEL.
    Cancelled,
    /// A 2xx that lost: ACK + BYE issued.
    AckedAndByed,
}

impl BranchStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, BranchStatus::Calling | BranchStatus::Cancelling)
    }
}

/// How the routing of a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Answered {
        branch: BranchId,
        user: UserId,
    },
    Voicemail,
    /// 480 (no answer, `hangup` route, loop guard).
    Rejected(u16),
    CallerCancelled,
    /// The daemon ended the call before an outcome.
    Aborted,
}

/// When and with what a call is created.
#[derive(Clone, Debug)]
pub struct CallSetup {
    pub id: CallId,
    /// The monotonic instant the call arrived; every offset in the record counts from it.
    pub now: Instant,
    /// The wall-clock time at `now`. Later wall times (business hours after an IVR sends the
    /// caller to another number) are derived as `wall + (later - now)`: no clock is read.
    pub wall: SystemTime,
    /// Seeds the order of `random` teams: the same seed gives the same order.
    pub seed: u64,
}

/// One inbound call's routing. See the crate documentation for the loop and the rules.
pub struct CallRouting {
    config: Arc<Config>,
    state: State,
    /// The rest of the cascade, in order; the last entry is the fallback (or the closed route).
    plan: VecDeque<Route>,
    branches: Vec<Branch>,
    /// Agents who declined this call. Small: a linear scan beats hashing.
    declined: Vec<UserId>,
    ringing_relayed: bool,
    timers: Timers,
    out: VecDeque<Output>,
    record: CallRecord,
    seed: u64,
    /// Built on the first `random` step only: most calls never need one.
    rng: Option<StdRng>,
    last_ivr: Option<IvrId>,
    routes_processed: u32,
    steps_started: u32,
    wall0: SystemTime,
}

enum State {
    /// Created, `start` not called yet.
    Idle,
    Ringing(RingStep),
    /// Waiting for `on_ivr_result`.
    Ivr(IvrId),
    Done(Outcome),
}

/// A team or user step in progress.
struct RingStep {
    /// Tells this step's branches from those of earlier steps still being cancelled.
    serial: u32,
    step: Route,
    mode: Mode,
}

enum Mode {
    /// Every agent at once until the `Ring` timer (simultaneous team, user step).
    All,
    /// `size` more agents whenever the `Wave` timer fires (or at once when no branch is left
    /// ringing), until the `Ring` timer ends the step.
    Waves {
        pending: VecDeque<UserId>,
        size: usize,
        interval: Duration,
        waves: u32,
    },
    /// One agent at a time (random, longest idle), each until the `Ring` timer, which is
    /// re-armed per agent.
    Hunt {
        pending: VecDeque<UserId>,
        per_agent: Duration,
        current: Option<UserId>,
    },
}

struct Branch {
    user: UserId,
    serial: u32,
    status: BranchStatus,
}

/// The machine's one timer table (STYLE.md habit 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// End of the step's ring time, or of the current agent's turn.
    Ring = 0,
    /// Next wave.
    Wave = 1,
}

#[derive(Default)]
struct Timers([Option<Instant>; 2]);

impl Timers {
    fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }

    fn clear(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }

    fn clear_all(&mut self) {
        self.0 = [None; 2];
    }

    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// The earliest timer due at `now`; `Ring` first on a tie, so a wave never starts at the
    /// instant its step ends.
    fn due(&self, now: Instant) -> Option<(Timer, Instant)> {
        [Timer::Ring, Timer::Wave]
            .into_iter()
            .filter_map(|t| self.0[t as usize].map(|at| (t, at)))
            .filter(|&(_, at)| at <= now)
            .min_by_key(|&(_, at)| at)
    }
}

/// How a failure status is treated.
fn is_decline(status: u16) -> bool {
    matches!(status, 486 | 600 | 603)
}

impl CallRouting {
    /// A call routed to `target` (from [`crate::Decision::target`]) under `config`, which the
    /// call keeps for its whole life: a reload does not change the routing of calls in progress.
    pub fn new(config: Arc<Config>, target: Target, setup: CallSetup) -> Result<Self, Error> {
        let plan = match &target {
            Target::Line { number, open } => {
                let line = config
                    .line(number.as_str())
                    .ok_or_else(|| Error::UnknownNumber(number.to_string()))?;
                plan_of(line, *open)
            }
            Target::User(user) => {
                if config.user(user.as_str()).is_none() {
                    return Err(Error::UnknownUser(user.to_string()));
                }
                VecDeque::from([Route::User(user.clone())])
            }
            Target::Team(team) => {
                if config.team(team.as_str()).is_none() {
                    return Err(Error::UnknownTeam(team.to_string()));
                }
                VecDeque::from([Route::Team(team.clone())])
            }
        };
        let record = CallRecord::new(setup.id, target, setup.now, setup.wall);
        Ok(CallRouting {
            config,
            state: State::Idle,
            plan,
            branches: Vec::new(),
            declined: Vec::new(),
            ringing_relayed: false,
            timers: Timers::default(),
            out: VecDeque::new(),
            record,
            seed: setup.seed,
            rng: None,
            last_ivr: None,
            routes_processed: 0,
            steps_started: 0,
            wall0: setup.wall,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Inputs

    /// Starts the cascade. Ignored after the first call.
    pub fn start(&mut self, now: Instant, dir: &dyn Directory) {
        if !matches!(self.state, State::Idle) {
            return;
        }
        let target = self.record.target.clone();
        self.emit(now, TimelineEvent::Routed { target });
        if let Target::Line { open: false, .. } = self.record.target {
            if let Some(route) = self.plan.front().cloned() {
                self.emit(now, TimelineEvent::Closed { route });
            }
        }
        self.advance(now, dir);
    }

    /// A provisional response on a branch. The first 180-199 of the call on a branch still
    /// ringing becomes [`Output::Ringing`]; 100 and everything else is ignored.
    pub fn on_provisional(&mut self, branch: BranchId, status: u16, now: Instant) {
        if self.ringing_relayed || !(180..=199).contains(&status) {
            return;
        }
        let Some(b) = self.branch(branch) else { return };
        if b.status != BranchStatus::Calling {
            return;
        }
        let user = b.user.clone();
        self.ringing_relayed = true;
        self.out.push_back(Output::Ringing);
        self.emit(now, TimelineEvent::Ringing { user });
    }

    /// A 2xx on a branch. The first one on a branch still ringing wins; any other 2xx on a
    /// branch we know (crossed our CANCEL, lost a simultaneous race, came after the caller
    /// left) is acknowledged and hung up, once. The winner's retransmissions and unknown
    /// branches are ignored.
    pub fn on_answer(&mut self, branch: BranchId, now: Instant) {
        let Some(b) = self.branch(branch) else { return };
        let (user, status) = (b.user.clone(), b.status);
        let in_step = matches!(&self.state, State::Ringing(s) if s.serial == b.serial);
        match status {
            BranchStatus::Calling if in_step => self.win(branch, user, now),
            BranchStatus::Calling
            | BranchStatus::Cancelling
            | BranchStatus::Failed
            | BranchStatus::Cancelled => {
                self.set_status(branch, BranchStatus::AckedAndByed);
                self.out.push_back(Output::AckAndBye { branch });
                self.emit(now, TimelineEvent::LateAnswer { user, branch });
            }
            BranchStatus::Answered | BranchStatus::AckedAndByed => {}
        }
    }

    /// A final non-2xx on a branch. 486, 600 and 603 mean the agent declined: their other
    /// devices are cancelled and they are never rung again for this call. Anything else
    /// (408, 5xx, other 4xx, 3xx, 604...) drops this branch only. When no branch of the step is
    /// left ringing, the step moves on at once.
    pub fn on_failure(&mut self, branch: BranchId, status: u16, now: Instant, dir: &dyn Directory) {
        self.fail(branch, FailCause::Status(status), now, dir);
    }

    /// The branch's transaction died without a response (Timer B, connection lost, ICMP).
    /// Handled as an immediate failure of that branch.
    pub fn on_transport_error(&mut self, branch: BranchId, now: Instant, dir: &dyn Directory) {
        self.fail(branch, FailCause::Transport, now, dir);
    }

    /// The caller hung up before an answer: every ringing branch is cancelled, then
    /// [`Output::Reject`]`(487)`. Ignored once routing is done.
    pub fn on_caller_cancel(&mut self, now: Instant) {
        if matches!(self.state, State::Done(_)) {
            return;
        }
        self.end_current_step(now, StepResult::CallerCancelled);
        self.cancel_all(CancelReason::CallerCancelled);
        self.state = State::Done(Outcome::CallerCancelled);
        self.timers.clear_all();
        self.out.push_back(Output::Reject(487));
        self.emit(
            now,
            TimelineEvent::Ended {
                reason: EndReason::CallerCancelled,
            },
        );
    }

    /// The agent declined through the API: their ringing branches are cancelled and they are
    /// never rung again for this call (also when they are not ringing yet). Ignored once
    /// routing is done, and for an agent who already declined.
    pub fn decline(&mut self, user: &UserId, now: Instant, dir: &dyn Directory) {
        if matches!(self.state, State::Done(_)) || self.declined.contains(user) {
            return;
        }
        self.mark_declined(user.clone(), DeclineSource::Api, now);
        self.progress(now, StepResult::Exhausted, dir);
    }

    /// The route the IVR chose (a key's route, `no_input`, an input menu's route). It takes
    /// the IVR step's place in the cascade: when it is a team or user that does not answer, the
    /// number's next steps follow, then its fallback. `number:X` replaces the rest of the
    /// cascade with X's (business hours at the current time); `back` replays the menu;
    /// `ivr:ID` runs that menu.
    pub fn on_ivr_result(
        &mut self,
        route: Route,
        now: Instant,
        dir: &dyn Directory,
    ) -> Result<(), Error> {
        let State::Ivr(ivr) = &self.state else {
            return Err(Error::NotInIvr);
        };
        let ivr = ivr.clone();
        self.emit(
            now,
            TimelineEvent::IvrResult {
                ivr: ivr.clone(),
                route: route.clone(),
            },
        );
        self.emit(
            now,
            TimelineEvent::StepEnded {
                step: Route::Ivr(ivr.clone()),
                result: StepResult::IvrDone,
            },
        );
        self.last_ivr = Some(ivr);
        self.plan.push_front(route);
        self.advance(now, dir);
        Ok(())
    }

    /// Fires every timer due at `now` (several, if the daemon wakes late: the waves that
    /// should have started meanwhile start now, in order).
    pub fn handle_timeout(&mut self, now: Instant, dir: &dyn Directory) {
        while let Some((timer, at)) = self.timers.due(now) {
            self.timers.clear(timer);
            match timer {
                Timer::Ring => self.ring_time_over(now, dir),
                Timer::Wave => self.next_wave(at, now, dir),
            }
        }
    }

    /// The call is over (after an answer or voicemail: either side hung up; before an outcome:
    /// the daemon abandons it, e.g. on shutdown, cancelling what still rings without a
    /// `Reject`). Completes the record with the end and talk time. Ignored once ended.
    pub fn on_call_ended(&mut self, reason: EndReason, now: Instant) {
        if self.record.is_ended() {
            return;
        }
        if !matches!(self.state, State::Done(_)) {
            self.end_current_step(now, StepResult::Aborted);
            self.cancel_all(CancelReason::CallEnded);
            self.timers.clear_all();
            self.state = State::Done(Outcome::Aborted);
        }
        self.emit(now, TimelineEvent::Ended { reason });
    }

    // -----------------------------------------------------------------------------------------
    // Outputs and queries

    /// The next thing to do; drain until `None` after every input.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When to call [`CallRouting::handle_timeout`]; `None` when nothing is timed (an IVR is
    /// running, or routing is done).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// `Some` once routing has an outcome.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            State::Done(o) => Some(o),
            _ => None,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// The IVR the daemon should be running, if any.
    pub fn running_ivr(&self) -> Option<&IvrId> {
        match &self.state {
            State::Ivr(id) => Some(id),
            _ => None,
        }
    }

    pub fn branch_status(&self, branch: BranchId) -> Option<BranchStatus> {
        self.branch(branch).map(|b| b.status)
    }

    /// The agent a branch rings.
    pub fn branch_user(&self, branch: BranchId) -> Option<&UserId> {
        self.branch(branch).map(|b| &b.user)
    }

    /// How many branches were created so far (ids are `0..branch_count()`).
    pub fn branch_count(&self) -> u32 {
        u32::try_from(self.branches.len()).unwrap_or(u32::MAX)
    }

    pub fn has_declined(&self, user: &UserId) -> bool {
        self.declined.contains(user)
    }

    pub fn record(&self) -> &CallRecord {
        &self.record
    }

    pub fn into_record(self) -> CallRecord {
        self.record
    }

    pub fn id(&self) -> &CallId {
        &self.record.id
    }

    // -----------------------------------------------------------------------------------------
    // The cascade

    /// Runs the plan until something waits (a ring step, an IVR) or routing ends. Steps where
    /// nobody can be rung are skipped at once.
    fn advance(&mut self, now: Instant, dir: &dyn Directory) {
        self.timers.clear_all();
        loop {
            let Some(route) = self.plan.pop_front() else {
                self.finish(
                    now,
                    Outcome::Rejected(NO_ANSWER_STATUS),
                    EndReason::NoAnswer,
                );
                return;
            };
            self.routes_processed += 1;
            if self.routes_processed > MAX_ROUTES {
                self.finish(
                    now,
                    Outcome::Rejected(NO_ANSWER_STATUS),
                    EndReason::LoopLimit,
                );
                return;
            }
            match route {
                Route::Team(id) => {
                    if self.start_team(id, now, dir) {
                        return;
                    }
                }
                Route::User(id) => {
                    if self.start_user(id, now, dir) {
                        return;
                    }
                }
                Route::Ivr(id) => {
                    self.begin_step(&Route::Ivr(id.clone()), now);
                    self.out.push_back(Output::RunIvr(id.clone()));
                    self.state = State::Ivr(id);
                    return;
                }
                Route::Number(n) => {
                    let wall = self.wall(now);
                    let line = self.config.line(n.as_str()).map(|line| {
                        let open = line.hours.as_ref().is_none_or(|h| h.is_open(wall));
                        (plan_of(line, open), open)
                    });
                    // An unknown number (only possible with a hand-built configuration) is
                    // passed over like any route that rings nobody.
                    if let Some((plan, open)) = line {
                        self.plan = plan;
                        let target = Target::Line { number: n, open };
                        self.emit(now, TimelineEvent::Routed { target });
                        if !open {
                            if let Some(route) = self.plan.front().cloned() {
                                self.emit(now, TimelineEvent::Closed { route });
                            }
                        }
                    }
                }
                Route::Voicemail => {
                    self.state = State::Done(Outcome::Voicemail);
                    self.out.push_back(Output::Voicemail);
                    self.emit(now, TimelineEvent::Voicemail);
                    return;
                }
                Route::Hangup => {
                    self.finish(
                        now,
                        Outcome::Rejected(NO_ANSWER_STATUS),
                        EndReason::NoAnswer,
                    );
                    return;
                }
                // The IVR crate resolves `back` between its own menus; one reaching us means
                // "the menu we just ran", so it is replayed.
                Route::Back => {
                    if let Some(id) = self.last_ivr.clone() {
                        self.plan.push_front(Route::Ivr(id));
                    }
                }
            }
        }
    }

    /// Ends routing with a final status for the caller.
    fn finish(&mut self, now: Instant, outcome: Outcome, reason: EndReason) {
        self.timers.clear_all();
        if let Outcome::Rejected(status) = outcome {
            self.out.push_back(Output::Reject(status));
        }
        self.state = State::Done(outcome);
        self.emit(now, TimelineEvent::Ended { reason });
    }

    /// Starts a team step; `false` when nobody could be rung (the step is recorded as
    /// skipped).
    fn start_team(&mut self, id: TeamId, now: Instant, dir: &dyn Directory) -> bool {
        let step = Route::Team(id.clone());
        let Some(team) = self.config.team(id.as_str()) else {
            return self.skip_unknown(step, now);
        };
        let (members, strategy, ring) = (
            team.members.clone(),
            team.strategy.clone(),
            team.ring_timeout.max(MIN_DELAY),
        );
        let serial = self.begin_step(&step, now);
        let mode = match strategy {
            Strategy::Simultaneous => {
                for user in &members {
                    self.ring_agent(user, serial, now, dir);
                }
                self.timers.set(Timer::Ring, now + ring);
                Mode::All
            }
            Strategy::Waves { size, interval } => {
                let mut pending = VecDeque::from(members);
                let size = size.get();
                self.emit(now, TimelineEvent::Wave { number: 1 });
                self.ring_some(&mut pending, size, serial, now, dir);
                let interval = interval.max(MIN_DELAY);
                self.timers.set(Timer::Ring, now + ring);
                if !pending.is_empty() {
                    self.timers.set(Timer::Wave, now + interval);
                }
                Mode::Waves {
                    pending,
                    size,
                    interval,
                    waves: 1,
                }
            }
            Strategy::Random => {
                let mut order = members;
                let seed = self.seed;
                order.shuffle(self.rng.get_or_insert_with(|| StdRng::seed_from_u64(seed)));
                self.hunt_mode(order, ring, serial, now, dir)
            }
            Strategy::LongestIdle => {
                let mut order = members;
                // Stable: equal idle times (and agents never called) keep the team's order.
                order.sort_by_key(|u| dir.presence(u).last_call_ended);
                self.hunt_mode(order, ring, serial, now, dir)
            }
        };
        self.state = State::Ringing(RingStep { serial, step, mode });
        self.check_started(now)
    }

    fn hunt_mode(
        &mut self,
        order: Vec<UserId>,
        per_agent: Duration,
        serial: u32,
        now: Instant,
        dir: &dyn Directory,
    ) -> Mode {
        let mut pending = VecDeque::from(order);
        let current = self.ring_next(&mut pending, serial, now, dir);
        if current.is_some() {
            self.timers.set(Timer::Ring, now + per_agent);
        }
        Mode::Hunt {
            pending,
            per_agent,
            current,
        }
    }

    fn start_user(&mut self, id: UserId, now: Instant, dir: &dyn Directory) -> bool {
        let step = Route::User(id.clone());
        let Some(user) = self.config.user(id.as_str()) else {
            return self.skip_unknown(step, now);
        };
        let ring = user.ring_timeout.max(MIN_DELAY);
        let serial = self.begin_step(&step, now);
        self.ring_agent(&id, serial, now, dir);
        self.timers.set(Timer::Ring, now + ring);
        self.state = State::Ringing(RingStep {
            serial,
            step,
            mode: Mode::All,
        });
        self.check_started(now)
    }

    /// After a ring step's first agents: if nobody rings, the step is skipped.
    fn check_started(&mut self, now: Instant) -> bool {
        let State::Ringing(step) = &self.state else {
            return false;
        };
        if self.live_in(step.serial) {
            return true;
        }
        let step = step.step.clone();
        self.timers.clear_all();
        self.emit(
            now,
            TimelineEvent::StepEnded {
                step,
                result: StepResult::Skipped,
            },
        );
        false
    }

    fn begin_step(&mut self, step: &Route, now: Instant) -> u32 {
        self.steps_started += 1;
        self.emit(now, TimelineEvent::StepStarted { step: step.clone() });
        self.steps_started
    }

    fn skip_unknown(&mut self, step: Route, now: Instant) -> bool {
        self.begin_step(&step, now);
        self.emit(
            now,
            TimelineEvent::StepEnded {
                step,
                result: StepResult::Skipped,
            },
        );
        false
    }

    /// Emits `StepEnded` for the step in progress, if any.
    fn end_current_step(&mut self, now: Instant, result: StepResult) {
        let step = match &self.state {
            State::Ringing(s) => s.step.clone(),
            State::Ivr(id) => Route::Ivr(id.clone()),
            State::Idle | State::Done(_) => return,
        };
        self.emit(now, TimelineEvent::StepEnded { step, result });
    }

    /// The ring step ends (all failed, or its time is over): what still rings is cancelled
    /// and the cascade moves on.
    fn next_step(&mut self, now: Instant, result: StepResult, dir: &dyn Directory) {
        self.end_current_step(now, result);
        self.cancel_all(CancelReason::Timeout);
        self.advance(now, dir);
    }

    // -----------------------------------------------------------------------------------------
    // Ringing agents

    /// Rings every registered contact of `user`; `false` when the agent cannot be rung
    /// (declined earlier, away, no contact), which is recorded.
    fn ring_agent(
        &mut self,
        user: &UserId,
        serial: u32,
        now: Instant,
        dir: &dyn Directory,
    ) -> bool {
        let skip = if self.declined.contains(user) {
            Some(SkipReason::Declined)
        } else if self.config.user(user.as_str()).is_none() {
            Some(SkipReason::Unknown)
        } else if dir.presence(user).availability == Availability::Away {
            Some(SkipReason::Away)
        } else {
            None
        };
        let mut contacts = if skip.is_none() {
            dir.contacts_of(user)
        } else {
            Vec::new()
        };
        // The same device listed twice is rung once.
        let mut i = 0;
        while i < contacts.len() {
            if contacts[..i].contains(&contacts[i]) {
                contacts.remove(i);
            } else {
                i += 1;
            }
        }
        if let Some(reason) = skip.or(contacts.is_empty().then_some(SkipReason::NoContacts)) {
            self.emit(
                now,
                TimelineEvent::AgentSkipped {
                    user: user.clone(),
                    reason,
                },
            );
            return false;
        }
        let first = self.branch_count();
        let ids: Vec<BranchId> = (0..contacts.len())
            .map(|i| BranchId(first.saturating_add(u32::try_from(i).unwrap_or(u32::MAX))))
            .collect();
        self.emit(
            now,
            TimelineEvent::AgentRung {
                user: user.clone(),
                branches: ids.clone(),
            },
        );
        for (branch, contact) in ids.into_iter().zip(contacts) {
            self.branches.push(Branch {
                user: user.clone(),
                serial,
                status: BranchStatus::Calling,
            });
            self.out.push_back(Output::Ring {
                branch,
                user: user.clone(),
                contact,
            });
        }
        true
    }

    /// Rings up to `size` agents from the front of `pending`, passing over those who cannot be
    /// rung; returns how many rang.
    fn ring_some(
        &mut self,
        pending: &mut VecDeque<UserId>,
        size: usize,
        serial: u32,
        now: Instant,
        dir: &dyn Directory,
    ) -> usize {
        let mut rung = 0;
        while rung < size {
            let Some(user) = pending.pop_front() else {
                break;
            };
            if self.ring_agent(&user, serial, now, dir) {
                rung += 1;
            }
        }
        rung
    }

    /// Rings the next agent who can be rung; `None` when `pending` runs out.
    fn ring_next(
        &mut self,
        pending: &mut VecDeque<UserId>,
        serial: u32,
        now: Instant,
        dir: &dyn Directory,
    ) -> Option<UserId> {
        while let Some(user) = pending.pop_front() {
            if self.ring_agent(&user, serial, now, dir) {
                return Some(user);
            }
        }
        None
    }

    /// Called whenever branches stop ringing without an answer: when the step has nothing left
    /// ringing, it widens (waves), hands over to the next agent (hunt), or ends with `over`.
    fn progress(&mut self, now: Instant, over: StepResult, dir: &dyn Directory) {
        let State::Ringing(step) = &self.state else {
            return;
        };
        if self.live_in(step.serial) {
            return;
        }
        let serial = step.serial;
        let Some(mut step) = self.take_ring_step() else {
            return;
        };
        let carry_on = match &mut step.mode {
            Mode::All => false,
            Mode::Waves {
                pending,
                size,
                interval,
                waves,
            } => {
                let mut rang = false;
                while !rang && !pending.is_empty() {
                    *waves += 1;
                    self.emit(now, TimelineEvent::Wave { number: *waves });
                    rang = self.ring_some(pending, *size, serial, now, dir) > 0;
                }
                if pending.is_empty() {
                    self.timers.clear(Timer::Wave);
                } else {
                    self.timers.set(Timer::Wave, now + *interval);
                }
                rang
            }
            Mode::Hunt {
                pending,
                per_agent,
                current,
            } => {
                *current = self.ring_next(pending, serial, now, dir);
                if current.is_some() {
                    self.timers.set(Timer::Ring, now + *per_agent);
                }
                current.is_some()
            }
        };
        self.state = State::Ringing(step);
        if !carry_on {
            self.next_step(now, over, dir);
        }
    }

    /// The `Ring` timer: the step's time is over, or (hunt) the current agent's turn, after
    /// which the next agent rings for a full turn.
    fn ring_time_over(&mut self, now: Instant, dir: &dyn Directory) {
        let State::Ringing(step) = &mut self.state else {
            return;
        };
        let serial = step.serial;
        if let Mode::Hunt { current, .. } = &mut step.mode {
            if let Some(user) = current.take() {
                self.cancel_where(CancelReason::Timeout, |b| {
                    b.serial == serial && b.user == user
                });
                self.emit(now, TimelineEvent::AgentTimeout { user });
            }
            self.progress(now, StepResult::TimedOut, dir);
            return;
        }
        self.next_step(now, StepResult::TimedOut, dir);
    }

    /// The `Wave` timer fired for the instant `at`: ring the next wave, and schedule the one
    /// after from `at` (not from `now`), so waves keep their rhythm when the daemon wakes late.
    fn next_wave(&mut self, at: Instant, now: Instant, dir: &dyn Directory) {
        let Some(mut step) = self.take_ring_step() else {
            return;
        };
        let serial = step.serial;
        if let Mode::Waves {
            pending,
            size,
            interval,
            waves,
        } = &mut step.mode
        {
            *waves += 1;
            self.emit(now, TimelineEvent::Wave { number: *waves });
            self.ring_some(pending, *size, serial, now, dir);
            if !pending.is_empty() {
                self.timers.set(Timer::Wave, at + *interval);
            }
        }
        self.state = State::Ringing(step);
        // A wave of agents who could not be rung, with nobody else ringing, must not leave
        // the caller waiting in silence until the next wave.
        self.progress(now, StepResult::Exhausted, dir);
    }

    /// Takes the ring step out of `self.state` (leaving `Idle`) so its mode can be changed while
    /// agents are rung; the caller puts it back. `None`, state untouched, when not ringing.
    fn take_ring_step(&mut self) -> Option<RingStep> {
        if !matches!(self.state, State::Ringing(_)) {
            return None;
        }
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Ringing(step) => Some(step),
            other => {
                self.state = other;
                None
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Branches

    fn branch(&self, id: BranchId) -> Option<&Branch> {
        self.branches.get(usize::try_from(id.0).ok()?)
    }

    fn set_status(&mut self, id: BranchId, status: BranchStatus) {
        if let Some(b) = usize::try_from(id.0)
            .ok()
            .and_then(|i| self.branches.get_mut(i))
        {
            b.status = status;
        }
    }

    fn live_in(&self, serial: u32) -> bool {
        self.branches
            .iter()
            .any(|b| b.serial == serial && b.status == BranchStatus::Calling)
    }

    /// Cancels every ringing branch matching `pred`.
    fn cancel_where(&mut self, reason: CancelReason, pred: impl Fn(&Branch) -> bool) {
        for (i, b) in self.branches.iter_mut().enumerate() {
            if b.status == BranchStatus::Calling && pred(b) {
                b.status = BranchStatus::Cancelling;
                let branch = BranchId(u32::try_from(i).unwrap_or(u32::MAX));
                self.out.push_back(Output::Cancel { branch, reason });
            }
        }
    }

    fn cancel_all(&mut self, reason: CancelReason) {
        self.cancel_where(reason, |_| true);
    }

    fn win(&mut self, branch: BranchId, user: UserId, now: Instant) {
        self.set_status(branch, BranchStatus::Answered);
        self.end_current_step(now, StepResult::Answered);
        self.timers.clear_all();
        self.state = State::Done(Outcome::Answered {
            branch,
            user: user.clone(),
        });
        self.out.push_back(Output::Answered {
            branch,
            user: user.clone(),
        });
        self.emit(now, TimelineEvent::Answered { user, branch });
        self.cancel_all(CancelReason::AnsweredElsewhere);
    }

    fn fail(&mut self, branch: BranchId, cause: FailCause, now: Instant, dir: &dyn Directory) {
        let Some(b) = self.branch(branch) else { return };
        let (user, status) = (b.user.clone(), b.status);
        let declined = matches!(cause, FailCause::Status(s) if is_decline(s));
        match status {
            BranchStatus::Calling => {
                self.set_status(branch, BranchStatus::Failed);
                self.emit(
                    now,
                    TimelineEvent::BranchFailed {
                        user: user.clone(),
                        branch,
                        cause,
                    },
                );
                if let (true, FailCause::Status(status)) = (declined, cause) {
                    if !self.declined.contains(&user) {
                        self.mark_declined(user, DeclineSource::Response(status), now);
                    }
                }
                self.progress(now, StepResult::Exhausted, dir);
            }
            BranchStatus::Cancelling => {
                self.set_status(branch, BranchStatus::Cancelled);
                // A decline that crossed our CANCEL (timeout) still says the agent refused:
                // later steps must not ring them.
                if let (true, FailCause::Status(status)) = (declined, cause) {
                    if !self.is_done() && !self.declined.contains(&user) {
                        self.mark_declined(user, DeclineSource::Response(status), now);
                    }
                }
            }
            BranchStatus::Answered
            | BranchStatus::Failed
            | BranchStatus::Cancelled
            | BranchStatus::AckedAndByed => {}
        }
    }

    /// Records a decline and cancels whatever still rings the agent.
    fn mark_declined(&mut self, user: UserId, by: DeclineSource, now: Instant) {
        self.cancel_where(CancelReason::Declined, |b| b.user == user);
        self.declined.push(user.clone());
        self.emit(now, TimelineEvent::Declined { user, by });
    }

    // -----------------------------------------------------------------------------------------

    fn emit(&mut self, now: Instant, event: TimelineEvent) {
        self.record.push(now, event.clone());
        self.out.push_back(Output::Event(event));
    }

    fn wall(&self, now: Instant) -> SystemTime {
        self.wall0 + self.record.offset(now)
    }
}

/// A line's cascade: its steps then its fallback when open, its closed route alone when not.
fn plan_of(line: &Line, open: bool) -> VecDeque<Route> {
    match (&line.hours, open) {
        (Some(hours), false) => VecDeque::from([hours.closed.clone()]),
        _ => line
            .steps
            .iter()
            .cloned()
            .map(Route::from)
            .chain([line.fallback.clone()])
            .collect(),
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
