//! Sans-IO call routing: who to ring, on which devices, and when. No sockets, no SIP, no clock,
//! no randomness of its own, no tasks.
//!
//! # Contract
//!
//! **Decision** ([`decide`]): an inbound INVITE's dialled user part, its [`Source`] and the
//! wall-clock time in; a [`Decision`] out. The source is checked first: neither a `[[trunks]]`
//! network nor a known user → `Forbidden` (403), whatever was dialled. Then a configured number
//! → `Line` (with `open` from its business hours), a user id or extension → `User`, anything
//! else → `NotFound` (404).
//!
//! **Call** ([`CallRouting`], one per routed call): created from [`Decision::target`], the
//! configuration (an `Arc`, kept for the call's life: a reload does not reroute calls in
//! progress) and a [`CallSetup`] (id, `now`, wall time, RNG seed). The loop is str0m's:
//!
//! 1. one input: [`start`](CallRouting::start), [`on_provisional`](CallRouting::on_provisional),
//!    [`on_answer`](CallRouting::on_answer), [`on_failure`](CallRouting::on_failure),
//!    [`on_transport_error`](CallRouting::on_transport_error),
//!    [`on_caller_cancel`](CallRouting::on_caller_cancel), [`decline`](CallRouting::decline),
//!    [`on_ivr_result`](CallRouting::on_ivr_result),
//!    [`handle_timeout`](CallRouting::handle_timeout), [`on_call_ended`](CallRouting::on_call_ended);
//! 2. drain [`poll`](CallRouting::poll) until `None`, turning each [`Output`] into SIP;
//! 3. sleep until [`poll_timeout`](CallRouting::poll_timeout), then `handle_timeout(now)`.
//!
//! Inputs that may ring someone take a [`Directory`]: the daemon's view of each agent's
//! registered contacts (read when the agent is about to ring) and presence
//! ([`AgentPresence`] keeps availability and last call end; the daemon updates it).
//!
//! # The cascade
//!
//! A number's steps run in order, then its fallback; outside business hours its `closed`
//! route alone; a direct call rings the user alone. Each step:
//!
//! - `user:ID` rings every registered contact of the user for the user's `ring_timeout`.
//! - `team:ID` by strategy, with the team's `ring_timeout`:
//!   - `simultaneous`: every member at once, for `ring_timeout`.
//!   - `waves`: the first `wave_size` members (in the team's order), `wave_size` more every
//!     `wave_interval`, until `ring_timeout` after the step began.
//!   - `random` and `longest_idle`: one member at a time (ACD "hunt"), **each for the full
//!     `ring_timeout`**, so the step lasts at most members × `ring_timeout`. `random` shuffles
//!     the members with the call's seed; `longest_idle` orders them by
//!     [`Presence::last_call_ended`], agents never called first, ties in the team's order.
//! - `ivr:ID` emits [`Output::RunIvr`] and waits (no timer: the IVR has its own) for
//!   [`CallRouting::on_ivr_result`]. The chosen route takes the IVR step's place: a team or
//!   user that does not answer is followed by the number's next steps, then its fallback.
//!   `number:X` replaces the rest of the cascade with X's (its hours checked at the current
//!   time, derived from the setup's wall time); `back` replays the menu.
//! - fallback / closed route: `voicemail` → [`Output::Voicemail`]; `hangup` →
//!   [`Output::Reject`]`(480)`; a team, user or IVR runs as a step, and if nobody answers the
//!   call ends with 480. At most [`MAX_ROUTES`] routes per call (a guard against IVR loops).
//!
//! An agent is rung on all their contacts at once, one branch ([`BranchId`]) per contact; an
//! agent who is away, has no contact, or declined earlier is passed over (recorded). A step
//! that can ring nobody is skipped at once; when every branch of a step has failed, the step
//! widens (waves), passes to the next agent (one at a time) or ends, at once, without waiting
//! for its ring time.
//!
//! # Branches and races
//!
//! - First 2xx on a ringing branch wins: [`Output::Answered`], then [`Output::Cancel`] with
//!   [`CancelReason::AnsweredElsewhere`] for every other ringing branch.
//! - Any other 2xx on a known branch — the second of two simultaneous answers, one crossing our
//!   CANCEL (timeout, decline, caller gone), one after a failure — gets one
//!   [`Output::AckAndBye`]. The winner's retransmissions and unknown branch ids are ignored.
//! - 486, 600, 603 (and [`CallRouting::decline`]): the agent declined. Their other devices are
//!   cancelled and no later step rings them. 408, 5xx, other 4xx, 3xx and transport errors drop
//!   that branch only; the agent may be rung again by a later step, as may one who just did
//!   not answer.
//! - The first 180-199 on a ringing branch becomes [`Output::Ringing`], once per call.
//! - Caller CANCEL: every ringing branch is cancelled, then [`Output::Reject`]`(487)`.
//! - Responses for branches already finished are harmless. Each branch ends in exactly one
//!   terminal [`BranchStatus`]; at most one `Answered` per call; exactly one outcome
//!   (`Answered`, `Voicemail` or `Reject`) unless the daemon aborts the call.
//!
//! # Record
//!
//! Every [`TimelineEvent`] is appended to the [`CallRecord`] (and emitted as
//! [`Output::Event`]): steps, agents rung and skipped, declines, answer, end; the record
//! derives agents rung, declined by, answered by, ring time and talk time. It serialises with
//! serde (durations in milliseconds, ids as written in the configuration).
//!
//! # A full fork, as a benchmark would drive it
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Instant, SystemTime};
//! use routing::{decide, AgentPresence, CallId, CallRouting, CallSetup, ContactRef, Output, Source};
//!
//! let toml = r#"
//! [sip]
//! listen = ["udp:127.0.0.1:5060"]
//! domain = "127.0.0.1"
//! auth = "none"
//! [[trunks]]
//! name = "carrier"
//! from = ["127.0.0.1/32"]
//! [[users]]
//! id = "alice"
//! [[users]]
//! id = "bob"
//! [[users]]
//! id = "carol"
//! [[teams]]
//! id = "support"
//! members = ["alice", "bob", "carol"]
//! [[numbers]]
//! number = "+33100000001"
//! steps = ["team:support"]
//! "#;
//! let config = Arc::new(config::parse_str(toml, "x.toml".as_ref()).unwrap().config);
//! let presence = AgentPresence::new();
//! let dir = presence.with_contacts(|u| vec![ContactRef::from(format!("sip:{u}@192.0.2.1"))]);
//! let (now, wall) = (Instant::now(), SystemTime::now());
//!
//! let source = Source { addr: "127.0.0.1".parse().unwrap(), user: None };
//! let decision = decide(&config, "+33100000001", source, wall);
//! let target = decision.target().unwrap();
//! let setup = CallSetup { id: CallId::new("call-1"), now, wall, seed: 7 };
//! let mut call = CallRouting::new(config.clone(), target, setup).unwrap();
//! call.start(now, &dir);
//! let rung: Vec<_> = std::iter::from_fn(|| call.poll())
//!     .filter_map(|o| match o { Output::Ring { branch, .. } => Some(branch), _ => None })
//!     .collect();
//! assert_eq!(rung.len(), 3);
//! call.on_provisional(rung[0], 180, now);
//! call.on_answer(rung[1], now);
//! call.on_answer(rung[2], now); // the race: acknowledged and hung up
//! let out: Vec<_> = std::iter::from_fn(|| call.poll()).collect();
//! assert!(out.contains(&Output::Ringing));
//! assert!(out.iter().any(|o| matches!(o, Output::Answered { branch, .. } if *branch == rung[1])));
//! assert!(out.contains(&Output::AckAndBye { branch: rung[2] }));
//! ```

mod call;
mod decide;
mod error;
mod presence;
mod record;
mod ser;
#[cfg(test)]
mod testutil;

pub use call::{
    BranchId, BranchStatus, CallRouting, CallSetup, CancelReason, Outcome, Output, MAX_ROUTES,
    NO_ANSWER_STATUS,
};
pub use decide::{decide, Caller, Decision, Source, Target};
pub use error::Error;
pub use presence::{AgentPresence, Availability, ContactRef, Directory, Presence, WithContacts};
pub use record::{
    CallId, CallRecord, DeclineSource, EndReason, Entry, FailCause, SkipReason, StepRecord,
    StepResult, TimelineEvent,
};
