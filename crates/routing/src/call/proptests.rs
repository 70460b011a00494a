//! Any interleaving of branch events, timeouts, declines, IVR results and caller cancels: at
//! most one answer, exactly one outcome, one terminal disposition per branch, and no declined
//! agent rung again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{is_decline, BranchId, BranchStatus, Outcome, Output};
use crate::testutil::{config, id, Dir, Harness, MONDAY_10H};
use crate::{Availability, EndReason};

const USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
const LINES: [&str; 7] = [
    "+33100000001", // team, user, voicemail
    "+33100000004", // IVR, team, hangup
    "+33100000005", // random
    "+33100000006", // longest idle
    "+33100000007", // waves
    "+33100000008", // team, user, user, ringing fallback
    "+33100000009", // waves of two
];
const STATUSES: [u16; 10] = [486, 600, 603, 408, 480, 487, 500, 503, 404, 302];
const IVR_ROUTES: [&str; 5] = ["team:sales", "user:alice", "voicemail", "back", "hangup"];

#[derive(Clone, Debug)]
enum Ev {
    Answer(u8),
    Fail(u8, u16),
    Transport(u8),
    Provisional(u8, u16),
    /// Jump to the next deadline.
    Timeout,
    /// Let time pass without reaching a deadline necessarily.
    Wait(u8),
    CallerCancel,
    Decline(u8),
    Ivr(u8),
    /// The daemon ends the call.
    End,
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        6 => any::<u8>().prop_map(Ev::Answer),
        6 => (any::<u8>(), prop::sample::select(STATUSES.to_vec())).prop_map(|(b, s)| Ev::Fail(b, s)),
        2 => any::<u8>().prop_map(Ev::Transport),
        2 => (any::<u8>(), prop::sample::select(vec![100u16, 180, 183])).prop_map(|(b, s)| Ev::Provisional(b, s)),
        5 => Just(Ev::Timeout),
        2 => (0u8..30).prop_map(Ev::Wait),
        1 => Just(Ev::CallerCancel),
        2 => (0u8..5).prop_map(Ev::Decline),
        2 => (0u8..5).prop_map(Ev::Ivr),
        1 => Just(Ev::End),
    ]
}

/// Per user: 0, 1 or 2 devices, and whether away.
fn agents() -> impl Strategy<Value = Vec<(u8, bool)>> {
    prop::collection::vec((0u8..3, prop::bool::weighted(0.15)), USERS.len())
}

fn shared_config() -> Arc<config::Config> {
    static CONFIG: OnceLock<Arc<config::Config>> = OnceLock::new();
    CONFIG.get_or_init(|| Arc::new(config())).clone()
}

/// What the test knows independently of the machine.
#[derive(Default)]
struct Model {
    /// Branches we delivered a final response (or transport error) for.
    finals: HashSet<u32>,
    /// Branches we delivered a 2xx for.
    answered_by_peer: HashSet<u32>,
    declined: HashSet<String>,
}

fn run(line: usize, agents: &[(u8, bool)], seed: u64, events: &[Ev]) -> Result<(), TestCaseError> {
    let mut dir = Dir::default();
    for (user, &(devices, away)) in USERS.iter().zip(agents) {
        let contacts: Vec<String> = (0..devices).map(|d| format!("sip:{user}@{d}")).collect();
        let refs: Vec<&str> = contacts.iter().map(String::as_str).collect();
        dir.set(user, &refs);
        if away {
            dir.presence.set_availability(&id(user), Availability::Away);
        }
    }
    let mut h = Harness::dial_in(
        shared_config(),
        LINES[line],
        dir,
        MONDAY_10H,
        seed,
        Instant::now(),
    );
    let mut m = Model::default();
    let mut checked = 0;
    h.start();
    check_new(&h, &mut checked, &m)?;

    let branch = |h: &Harness, k: u8| BranchId(u32::from(k) % (h.call.branch_count() + 2));
    for e in events {
        match *e {
            Ev::Answer(k) => {
                let b = branch(&h, k);
                m.answered_by_peer.insert(b.0);
                m.finals.insert(b.0);
                h.answer(b);
            }
            Ev::Fail(k, s) => {
                let b = branch(&h, k);
                if is_decline(s) && !m.finals.contains(&b.0) {
                    if let Some(u) = h.call.branch_user(b) {
                        m.declined.insert(u.to_string());
                    }
                }
                m.finals.insert(b.0);
                h.fail(b, s);
            }
            Ev::Transport(k) => {
                let b = branch(&h, k);
                m.finals.insert(b.0);
                h.transport_error(b);
            }
            Ev::Provisional(k, s) => {
                let b = branch(&h, k);
                h.provisional(b, s);
            }
            Ev::Timeout => {
                h.tick();
            }
            Ev::Wait(s) => {
                h.advance(Duration::from_secs(u64::from(s)));
                h.call.handle_timeout(h.now, &h.dir);
                h.drain();
            }
            Ev::CallerCancel => {
                h.caller_cancel();
            }
            Ev::Decline(u) => {
                let user = USERS[usize::from(u) % USERS.len()];
                if !h.call.is_done() {
                    m.declined.insert(user.to_owned());
                }
                h.decline(user);
            }
            Ev::Ivr(r) => {
                if h.call.running_ivr().is_some() {
                    h.ivr_result(IVR_ROUTES[usize::from(r) % IVR_ROUTES.len()]);
                }
            }
            Ev::End => {
                h.call.on_call_ended(EndReason::Dropped, h.now);
                h.drain();
            }
        }
        check_new(&h, &mut checked, &m)?;
    }

    // Let the cascade run out: IVRs choose voicemail, deadlines pass, every CANCEL gets its 487.
    let mut guard = 0;
    while !h.call.is_done() {
        guard += 1;
        prop_assert!(guard < 1000, "the cascade never ends");
        if h.call.running_ivr().is_some() {
            h.ivr_result("voicemail");
        } else {
            prop_assert!(h.tick().is_some(), "not done, yet nothing pending");
        }
        check_new(&h, &mut checked, &m)?;
    }
    for n in 0..h.call.branch_count() {
        if h.call.branch_status(BranchId(n)) == Some(BranchStatus::Cancelling) {
            h.fail(BranchId(n), 487);
        }
    }
    check_new(&h, &mut checked, &m)?;
    prop_assert_eq!(h.call.poll_timeout(), None);
    check_end(&h)
}

/// Checks the outputs logged since the last call.
fn check_new(h: &Harness, checked: &mut usize, m: &Model) -> Result<(), TestCaseError> {
    let answered_before = h.log[..*checked]
        .iter()
        .any(|o| matches!(o, Output::Answered { .. }));
    let mut answered = answered_before;
    for o in &h.log[*checked..] {
        match o {
            Output::Ring { user, .. } => {
                prop_assert!(!answered, "rang {} after the answer", user);
                prop_assert!(
                    !m.declined.contains(user.as_str()),
                    "rang {} after they declined",
                    user
                );
            }
            Output::Answered { branch, .. } => {
                prop_assert!(m.answered_by_peer.contains(&branch.0));
                answered = true;
            }
            Output::AckAndBye { branch } => {
                prop_assert!(m.answered_by_peer.contains(&branch.0));
            }
            _ => {}
        }
    }
    *checked = h.log.len();
    Ok(())
}

/// Whole-call invariants, once everything has settled.
fn check_end(h: &Harness) -> Result<(), TestCaseError> {
    let answers = h
        .log
        .iter()
        .filter(|o| matches!(o, Output::Answered { .. }))
        .count();
    prop_assert!(answers <= 1, "{} answers", answers);
    let outcomes = h
        .log
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Answered { .. } | Output::Voicemail | Output::Reject(_)
            )
        })
        .count();
    match h.call.outcome() {
        Some(Outcome::Aborted) => prop_assert_eq!(outcomes, 0),
        Some(_) => prop_assert_eq!(outcomes, 1),
        None => prop_assert!(false, "no outcome"),
    }

    // Per branch: Ring once, then one of [], [Answered], [Cancel], [Cancel, AckAndBye],
    // [AckAndBye].
    let mut per: HashMap<u32, Vec<&'static str>> = HashMap::new();
    for o in &h.log {
        let (b, what) = match o {
            Output::Ring { branch, .. } => (branch.0, "ring"),
            Output::Answered { branch, .. } => (branch.0, "answered"),
            Output::Cancel { branch, .. } => (branch.0, "cancel"),
            Output::AckAndBye { branch } => (branch.0, "ack+bye"),
            _ => continue,
        };
        per.entry(b).or_default().push(what);
    }
    prop_assert_eq!(per.len() as u32, h.call.branch_count());
    for n in 0..h.call.branch_count() {
        let seq = per.get(&n).cloned().unwrap_or_default();
        let ok = matches!(
            seq.as_slice(),
            ["ring"]
                | ["ring", "answered"]
                | ["ring", "cancel"]
                | ["ring", "cancel", "ack+bye"]
                | ["ring", "ack+bye"]
        );
        prop_assert!(ok, "branch {}: {:?}", n, seq);
        let status = h.call.branch_status(BranchId(n));
        prop_assert!(
            status.is_some_and(BranchStatus::is_terminal),
            "branch {} ends {:?}",
            n,
            status
        );
        // A branch with no disposition output must have failed on its own.
        if seq == ["ring"] {
            prop_assert_eq!(status, Some(BranchStatus::Failed));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_interleaving_keeps_the_invariants(
        line in 0..LINES.len(),
        agents in agents(),
        seed in any::<u64>(),
        events in prop::collection::vec(ev(), 0..40),
    ) {
        run(line, &agents, seed, &events)?;
    }
}
