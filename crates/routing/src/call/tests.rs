//! The fork machine on a virtual clock: every race and failure, the cascade, each strategy,
//! decline rules, caller cancel in every state, the IVR hand-off, business hours, the record.

use std::time::Duration;

use super::*;
use crate::testutil::*;

fn b(n: u32) -> BranchId {
    BranchId(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ring(branch: u32, user: &str, contact: &str) -> Output {
    Output::Ring {
        branch: b(branch),
        user: id(user),
        contact: ContactRef::from(contact),
    }
}

fn cancel(branch: u32, reason: CancelReason) -> Output {
    Output::Cancel {
        branch: b(branch),
        reason,
    }
}

fn answered(branch: u32, user: &str) -> Output {
    Output::Answered {
        branch: b(branch),
        user: id(user),
    }
}

fn count(log: &[Output], pred: impl Fn(&Output) -> bool) -> usize {
    log.iter().filter(|o| pred(o)).count()
}

fn step_results(h: &Harness) -> Vec<(String, Option<StepResult>)> {
    h.call
        .record()
        .steps
        .iter()
        .map(|s| (s.step.to_string(), s.result))
        .collect()
}

/// Alice on a desk phone and a softphone, everybody else on one device.
fn alice_twice() -> Dir {
    let mut dir = Dir::everyone();
    dir.set("alice", &["sip:alice@desk", "sip:alice@soft"]);
    dir
}

// ---------------------------------------------------------------------------------------------
// Forking and the first answer

#[test]
fn simultaneous_team_rings_every_contact_and_the_first_answer_wins() {
    let mut h = Harness::dial_with("+33100000001", alice_twice(), MONDAY_10H, 1);
    let out = h.start();
    assert_eq!(
        actions(&out),
        vec![
            ring(0, "alice", "sip:alice@desk"),
            ring(1, "alice", "sip:alice@soft"),
            ring(2, "bob", "sip:bob@pc"),
        ]
    );
    assert_eq!(h.call.poll_timeout(), Some(h.t0 + secs(20)));
    h.advance(secs(3));
    let out = h.answer(b(1));
    assert_eq!(
        actions(&out),
        vec![
            answered(1, "alice"),
            cancel(0, CancelReason::AnsweredElsewhere),
            cancel(2, CancelReason::AnsweredElsewhere),
        ]
    );
    assert_eq!(
        h.call.outcome(),
        Some(&Outcome::Answered {
            branch: b(1),
            user: id("alice")
        })
    );
    assert_eq!(h.call.poll_timeout(), None);
    assert_eq!(h.call.branch_status(b(0)), Some(BranchStatus::Cancelling));
    assert_eq!(h.call.branch_status(b(1)), Some(BranchStatus::Answered));
    // The cancelled branches' 487s close them without a word.
    assert!(h.fail(b(0), 487).is_empty());
    assert!(h.fail(b(2), 487).is_empty());
    assert_eq!(h.call.branch_status(b(0)), Some(BranchStatus::Cancelled));
    assert_eq!(h.call.branch_status(b(2)), Some(BranchStatus::Cancelled));
    let rec = h.call.record();
    assert_eq!(rec.answered_by, Some(id("alice")));
    assert_eq!(rec.answered_at, Some(secs(3)));
    assert_eq!(rec.ring_time, secs(3));
}

#[test]
fn ringing_is_relayed_once_and_only_from_a_ringing_branch() {
    let mut h = Harness::dial("+33100000001");
    h.start();
    assert!(
        h.provisional(b(0), 100).is_empty(),
        "100 Trying is not relayed"
    );
    assert!(h.provisional(b(9), 180).is_empty(), "unknown branch");
    h.decline("alice");
    assert!(
        h.provisional(b(0), 180).is_empty(),
        "a cancelled branch is not ringing"
    );
    let out = h.provisional(b(1), 183);
    assert_eq!(actions(&out), vec![Output::Ringing]);
    assert_eq!(
        events(&out),
        vec![TimelineEvent::Ringing { user: id("bob") }]
    );
    assert!(h.provisional(b(1), 180).is_empty(), "only the first time");
}

// ---------------------------------------------------------------------------------------------
// Races: each script ends with the input under test; the expected actions are its outputs.

struct Race {
    name: &'static str,
    script: fn(&mut Harness) -> Vec<Output>,
    want: Vec<Output>,
}

#[test]
fn races_are_exact() {
    let races = [
        Race {
            name: "two answers at the same moment: the second is acked and hung up",
            script: |h| {
                h.start();
                h.answer(b(0));
                h.answer(b(1))
            },
            want: vec![Output::AckAndBye { branch: b(1) }],
        },
        Race {
            name: "a 2xx after our timeout CANCEL",
            script: |h| {
                h.start();
                h.tick();
                h.answer(b(0))
            },
            want: vec![Output::AckAndBye { branch: b(0) }],
        },
        Race {
            name: "a 2xx after the caller cancelled",
            script: |h| {
                h.start();
                h.caller_cancel();
                h.answer(b(1))
            },
            want: vec![Output::AckAndBye { branch: b(1) }],
        },
        Race {
            name: "a 2xx after the agent declined through the API",
            script: |h| {
                h.start();
                h.decline("alice");
                h.answer(b(0))
            },
            want: vec![Output::AckAndBye { branch: b(0) }],
        },
        Race {
            name: "a 2xx after a failure on the same branch",
            script: |h| {
                h.start();
                h.fail(b(0), 503);
                h.answer(b(0))
            },
            want: vec![Output::AckAndBye { branch: b(0) }],
        },
        Race {
            name: "a 2xx after the 487 of our CANCEL",
            script: |h| {
                h.start();
                h.answer(b(1));
                h.fail(b(0), 487);
                h.answer(b(0))
            },
            want: vec![Output::AckAndBye { branch: b(0) }],
        },
        Race {
            name: "the loser's 2xx retransmitted: ACK+BYE once",
            script: |h| {
                h.start();
                h.answer(b(0));
                h.answer(b(1));
                h.answer(b(1))
            },
            want: vec![],
        },
        Race {
            name: "the winner's 2xx retransmitted",
            script: |h| {
                h.start();
                h.answer(b(0));
                h.answer(b(0))
            },
            want: vec![],
        },
        Race {
            name: "a 2xx for an unknown branch",
            script: |h| {
                h.start();
                h.answer(b(42))
            },
            want: vec![],
        },
        Race {
            name: "a failure for an unknown branch",
            script: |h| {
                h.start();
                let mut out = h.fail(b(42), 486);
                out.extend(h.transport_error(b(u32::MAX)));
                out
            },
            want: vec![],
        },
        Race {
            name: "a failure for the winner",
            script: |h| {
                h.start();
                h.answer(b(0));
                h.fail(b(0), 500)
            },
            want: vec![],
        },
        Race {
            name: "a second failure for a failed branch",
            script: |h| {
                h.start();
                h.fail(b(0), 480);
                h.fail(b(0), 486)
            },
            want: vec![],
        },
        Race {
            name: "a decline after the call was answered",
            script: |h| {
                h.start();
                h.answer(b(0));
                h.decline("bob")
            },
            want: vec![],
        },
    ];
    for race in races {
        let mut h = Harness::dial("+33100000001");
        let out = (race.script)(&mut h);
        assert_eq!(actions(&out), race.want, "{}", race.name);
        assert!(
            count(&h.log, |o| matches!(o, Output::Answered { .. })) <= 1,
            "{}",
            race.name
        );
        for branch in 0..h.call.branch_count() {
            let acks = count(
                &h.log,
                |o| matches!(o, Output::AckAndBye { branch: x } if x.0 == branch),
            );
            assert!(acks <= 1, "{}: branch {branch} acked twice", race.name);
        }
    }
}

#[test]
fn the_second_of_two_answers_was_cancelled_first_then_acked_and_hung_up() {
    let mut h = Harness::dial("+33100000001");
    h.start();
    let first = h.answer(b(0));
    let second = h.answer(b(1));
    assert_eq!(
        actions(&first),
        vec![
            answered(0, "alice"),
            cancel(1, CancelReason::AnsweredElsewhere)
        ]
    );
    assert_eq!(actions(&second), vec![Output::AckAndBye { branch: b(1) }]);
    assert_eq!(h.call.branch_status(b(1)), Some(BranchStatus::AckedAndByed));
    assert_eq!(
        events(&second),
        vec![TimelineEvent::LateAnswer {
            user: id("bob"),
            branch: b(1)
        }]
    );
    assert_eq!(h.call.record().answered_by, Some(id("alice")));
}

// ---------------------------------------------------------------------------------------------
// Failures

#[test]
fn failure_classes() {
    // (status or None for a transport error, whether it declines the agent)
    let table: &[(Option<u16>, bool)] = &[
        (Some(486), true),
        (Some(600), true),
        (Some(603), true),
        (Some(408), false),
        (Some(500), false),
        (Some(503), false),
        (Some(404), false),
        (Some(480), false),
        (Some(302), false),
        (Some(604), false),
        (None, false),
    ];
    for &(status, declines) in table {
        // support (alice twice, bob), then user:alice, user:bob, fallback user:carol.
        let mut h = Harness::dial_with("+33100000008", alice_twice(), MONDAY_10H, 1);
        h.start();
        let out = match status {
            Some(s) => h.fail(b(0), s),
            None => h.transport_error(b(0)),
        };
        let what = format!("{status:?}");
        assert_eq!(
            h.call.branch_status(b(0)),
            Some(BranchStatus::Failed),
            "{what}"
        );
        assert_eq!(h.call.has_declined(&id("alice")), declines, "{what}");
        if declines {
            // The agent's other device stops ringing at once.
            assert_eq!(
                actions(&out),
                vec![cancel(1, CancelReason::Declined)],
                "{what}"
            );
            assert!(events(&out).contains(&TimelineEvent::Declined {
                user: id("alice"),
                by: DeclineSource::Response(status.unwrap_or_default()),
            }));
        } else {
            assert_eq!(actions(&out), vec![], "{what}: only that branch drops");
            assert_eq!(
                h.call.branch_status(b(1)),
                Some(BranchStatus::Calling),
                "{what}"
            );
        }
        // Step 2 is user:alice: skipped if she declined, rung again otherwise.
        let out = h.tick().unwrap_or_default();
        if declines {
            assert_eq!(rung(&out), vec!["bob"], "{what}: user:alice skipped");
            assert!(events(&out).contains(&TimelineEvent::AgentSkipped {
                user: id("alice"),
                reason: SkipReason::Declined
            }));
        } else {
            assert_eq!(rung(&out), vec!["alice"], "{what}: rung again");
        }
    }
}

#[test]
fn when_every_branch_of_a_step_fails_the_next_step_starts_at_once() {
    let mut h = Harness::dial("+33100000001");
    h.start();
    h.advance(secs(2));
    assert!(actions(&h.fail(b(0), 503)).is_empty());
    let out = h.transport_error(b(1));
    assert_eq!(actions(&out), vec![ring(2, "carol", "sip:carol@pc")]);
    assert_eq!(h.call.poll_timeout(), Some(h.t0 + secs(2 + 7)));
    assert_eq!(
        step_results(&h),
        vec![
            ("team:support".to_owned(), Some(StepResult::Exhausted)),
            ("user:carol".to_owned(), None),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// The cascade

#[test]
fn cascade_team_then_user_then_voicemail_with_each_ring_time() {
    let mut h = Harness::dial("+33100000001");
    assert_eq!(rung(&h.start()), vec!["alice", "bob"]);
    let out = h.tick().unwrap_or_default();
    assert_eq!(h.at(), secs(20), "team ring_timeout");
    assert_eq!(
        actions(&out),
        vec![
            cancel(0, CancelReason::Timeout),
            cancel(1, CancelReason::Timeout),
            ring(2, "carol", "sip:carol@pc"),
        ]
    );
    let out = h.tick().unwrap_or_default();
    assert_eq!(h.at(), secs(27), "carol's own ring_timeout");
    assert_eq!(
        actions(&out),
        vec![cancel(2, CancelReason::Timeout), Output::Voicemail]
    );
    assert_eq!(h.call.outcome(), Some(&Outcome::Voicemail));
    assert_eq!(h.tick(), None);
    let rec = h.call.record();
    assert_eq!(rec.ring_time, secs(27));
    assert_eq!(rec.ended_at, None, "voicemail: the call goes on");
    h.advance(secs(30));
    h.call.on_call_ended(EndReason::CallerHungUp, h.now);
    let rec = h.call.record();
    assert_eq!(rec.ended_at, Some(secs(57)));
    assert_eq!(rec.talk_time, None);
    assert_eq!(rec.end_reason, Some(EndReason::CallerHungUp));
}

#[test]
fn fallback_hangup_rejects_with_480() {
    let mut h = Harness::dial("+33100000002");
    assert_eq!(rung(&h.start()), vec!["carol", "dave"]);
    let out = h.tick().unwrap_or_default();
    assert_eq!(h.at(), secs(15));
    assert_eq!(
        actions(&out),
        vec![
            cancel(0, CancelReason::Timeout),
            cancel(1, CancelReason::Timeout),
            Output::Reject(480),
        ]
    );
    assert_eq!(h.call.record().end_reason, Some(EndReason::NoAnswer));
}

#[test]
fn every_step_in_turn_then_a_ringing_fallback_then_480() {
    let mut h = Harness::dial("+33100000008");
    let mut seen = vec![(h.at(), rung(&h.start()))];
    while let Some(out) = h.tick() {
        seen.push((h.at(), rung(&out)));
    }
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        seen,
        vec![
            (secs(0), v(&["alice", "bob"])),
            (secs(20), v(&["alice"])), // no answer is no decline: rung again
            (secs(40), v(&["bob"])),
            (secs(60), v(&["carol"])), // the fallback
            (secs(67), v(&[])),
        ]
    );
    assert_eq!(h.call.outcome(), Some(&Outcome::Rejected(480)));
    assert_eq!(h.call.record().ring_time, secs(67));
}

#[test]
fn a_step_nobody_can_ring_is_skipped_at_once() {
    let mut dir = Dir::everyone();
    dir.set("alice", &[]);
    dir.contacts.remove(&id("bob"));
    let mut h = Harness::dial_with("+33100000001", dir, MONDAY_10H, 1);
    let out = h.start();
    assert_eq!(actions(&out), vec![ring(0, "carol", "sip:carol@pc")]);
    let ev = events(&out);
    for who in ["alice", "bob"] {
        assert!(ev.contains(&TimelineEvent::AgentSkipped {
            user: id(who),
            reason: SkipReason::NoContacts
        }));
    }
    assert_eq!(h.call.poll_timeout(), Some(h.t0 + secs(7)));
    assert_eq!(
        step_results(&h)[0],
        ("team:support".to_owned(), Some(StepResult::Skipped))
    );
    assert_eq!(h.call.record().ring_time, Duration::ZERO);
}

#[test]
fn nobody_reachable_anywhere_rejects_at_once() {
    let mut h = Harness::dial_with("+33100000002", Dir::default(), MONDAY_10H, 1);
    let out = h.start();
    assert_eq!(actions(&out), vec![Output::Reject(480)]);
    assert_eq!(h.call.branch_count(), 0);
}

#[test]
fn away_agents_are_skipped() {
    let mut dir = Dir::everyone();
    dir.presence
        .set_availability(&id("bob"), Availability::Away);
    let mut h = Harness::dial_with("+33100000001", dir, MONDAY_10H, 1);
    let out = h.start();
    assert_eq!(rung(&out), vec!["alice"]);
    assert!(events(&out).contains(&TimelineEvent::AgentSkipped {
        user: id("bob"),
        reason: SkipReason::Away
    }));
}

#[test]
fn contacts_are_read_when_the_agent_is_about_to_ring() {
    let mut dir = Dir::everyone();
    dir.set("alice", &[]);
    let mut h = Harness::dial_with("+33100000008", dir, MONDAY_10H, 1);
    assert_eq!(rung(&h.start()), vec!["bob"]);
    h.dir.set("alice", &["sip:alice@new", "sip:alice@new"]);
    let out = h.tick().unwrap_or_default();
    assert_eq!(
        actions(&out),
        vec![
            cancel(0, CancelReason::Timeout),
            ring(1, "alice", "sip:alice@new"), // listed twice, rung once
        ]
    );
}

#[test]
fn a_direct_call_rings_the_user_for_their_ring_time() {
    for (dialled, user, ring_time) in [("102", "bob", 20), ("carol", "carol", 7)] {
        let mut h = Harness::dial(dialled);
        assert_eq!(rung(&h.start()), vec![user]);
        let out = h.tick().unwrap_or_default();
        assert_eq!(h.at(), secs(ring_time), "{dialled}");
        assert_eq!(
            actions(&out),
            vec![cancel(0, CancelReason::Timeout), Output::Reject(480)],
            "{dialled}"
        );
    }
}

#[test]
fn early_or_repeated_wake_ups_do_nothing() {
    let mut h = Harness::dial("+33100000001");
    h.start();
    h.advance(secs(19));
    h.call.handle_timeout(h.now, &h.dir);
    assert!(h.drain().is_empty());
    h.call.start(h.now, &h.dir);
    assert!(h.drain().is_empty(), "start twice");
    assert_eq!(h.call.poll_timeout(), Some(h.t0 + secs(20)));
}

// ---------------------------------------------------------------------------------------------
// Strategies

#[test]
fn waves_widen_every_interval_until_the_ring_time() {
    // a, b, c, d; one per wave every 5 s; the step rings 12 s.
    let mut h = Harness::dial("+33100000007");
    let mut seen = vec![(h.at(), rung(&h.start()))];
    while let Some(out) = h.tick() {
        seen.push((h.at(), rung(&out)));
    }
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        seen,
        vec![
            (secs(0), v(&["alice"])),
            (secs(5), v(&["bob"])),
            (secs(10), v(&["carol"])),
            (secs(12), v(&[])), // dave's wave would have been at 15
        ]
    );
    let cancelled: Vec<BranchId> = cancels(&h.log).into_iter().map(|(b, _)| b).collect();
    assert_eq!(cancelled, vec![b(0), b(1), b(2)]);
    assert_eq!(h.call.outcome(), Some(&Outcome::Rejected(480)));
}

#[test]
fn waves_of_two_and_a_late_wake_up_keeps_the_rhythm() {
    let mut h = Harness::dial("+33100000009");
    assert_eq!(rung(&h.start()), vec!["alice", "bob"]);
    // The daemon wakes at 9 s instead of 4 s: the 4 s and 8 s waves both start now, in order.
    h.advance(secs(9));
    h.call.handle_timeout(h.now, &h.dir);
    let out = h.drain();
    assert_eq!(rung(&out), vec!["carol", "dave", "erin"]);
    let waves: Vec<u32> = events(&out)
        .iter()
        .filter_map(|e| match e {
            TimelineEvent::Wave { number } => Some(*number),
            _ => None,
        })
        .collect();
    assert_eq!(waves, vec![2, 3]);
    assert_eq!(h.call.poll_timeout(), Some(h.t0 + secs(30)));
}

#[test]
fn a_failed_wave_widens_at_once() {
    let mut dir = Dir::everyone();
    dir.set("bob", &[]);
    let mut h = Harness::dial_with("+33100000007", dir, MONDAY_10H, 1);
    assert_eq!(rung(&h.start()), vec!["alice"]);
    h.advance(secs(2));
    // Alice declines; bob has no device: carol rings now, not at 5 s.
    let out = h.fail(b(0), 603);
    assert_eq!(rung(&out), vec!["carol"]);
    assert_eq!(
        h.call.poll_timeout(),
        Some(h.t0 + secs(7)),
        "next wave an interval from now"
    );
    let out = h.tick().unwrap_or_default();
    assert_eq!(rung(&out), vec!["dave"]);
    assert_eq!(h.at(), secs(7));
}

fn hunt_order(h: &mut Harness) -> Vec<(Duration, String)> {
    let mut seen: Vec<(Duration, String)> = Vec::new();
    let out = h.start();
    seen.extend(rung(&out).into_iter().map(|u| (h.at(), u)));
    while let Some(out) = h.tick() {
        let at = h.at();
        seen.extend(rung(&out).into_iter().map(|u| (at, u)));
    }
    seen
}

#[test]
fn random_rings_one_agent_at_a_time_each_for_the_ring_time_in_seeded_order() {
    let mut h = Harness::dial_with("+33100000005", Dir::everyone(), MONDAY_10H, 7);
    let seen = hunt_order(&mut h);
    let times: Vec<Duration> = seen.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![secs(0), secs(10), secs(20)]);
    assert_eq!(h.at(), secs(30), "the last agent's turn ends the step");
    let order: Vec<String> = seen.into_iter().map(|(_, u)| u).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["alice", "bob", "carol"]);
    // Each hand-over cancels the previous agent.
    let reasons: Vec<CancelReason> = cancels(&h.log).into_iter().map(|(_, r)| r).collect();
    assert_eq!(reasons, vec![CancelReason::Timeout; 3]);

    // Same seed, same order; over seeds, every order.
    let order_of = |seed: u64| -> Vec<String> {
        let mut h = Harness::dial_with("+33100000005", Dir::everyone(), MONDAY_10H, seed);
        hunt_order(&mut h).into_iter().map(|(_, u)| u).collect()
    };
    assert_eq!(order_of(7), order);
    let mut orders: Vec<Vec<String>> = (0..64).map(order_of).collect();
    orders.sort();
    orders.dedup();
    assert_eq!(orders.len(), 6, "all 3! orders appear over 64 seeds");
}

#[test]
fn a_hunt_hands_over_at_once_when_the_agent_fails() {
    let mut h = Harness::dial_with("+33100000006", Dir::everyone(), MONDAY_10H, 1);
    assert_eq!(rung(&h.start()), vec!["alice"]);
    h.advance(secs(4));
    assert_eq!(rung(&h.fail(b(0), 486)), vec!["bob"]);
    assert_eq!(h.call.poll_timeout(), Some(h.t0 + secs(14)));
    assert_eq!(rung(&h.decline("bob")), vec!["carol"]);
    let out = h.fail(b(2), 500);
    assert_eq!(actions(&out), vec![Output::Reject(480)]);
    assert_eq!(
        step_results(&h),
        vec![("team:idle".to_owned(), Some(StepResult::Exhausted))]
    );
}

/// Who ended a call before the next one, and when (seconds after the start).
type Ended = Option<(&'static str, u64)>;

#[test]
fn longest_idle_order_follows_last_call_ends_over_several_calls() {
    let t0 = Instant::now();
    let config = Arc::new(config());
    let mut dir = Dir::everyone();
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let calls: &[(Ended, Vec<String>)] = &[
        (None, v(&["alice", "bob", "carol"])), // nobody called yet: the team's order
        (Some(("alice", 100)), v(&["bob", "carol", "alice"])),
        (Some(("bob", 200)), v(&["carol", "alice", "bob"])),
        (Some(("carol", 300)), v(&["alice", "bob", "carol"])),
        (Some(("alice", 400)), v(&["bob", "carol", "alice"])),
    ];
    for (i, (ended, want)) in calls.iter().enumerate() {
        if let Some((who, at)) = ended {
            dir.presence.call_ended(&id(who), t0 + secs(*at));
        }
        let start = t0 + secs(1000 + 100 * i as u64);
        let mut h = Harness::dial_in(config.clone(), "+33100000006", dir, MONDAY_10H, 1, start);
        let order: Vec<String> = hunt_order(&mut h).into_iter().map(|(_, u)| u).collect();
        assert_eq!(&order, want, "call {i}");
        dir = std::mem::take(&mut h.dir);
    }
    // An away agent is passed over in turn.
    dir.presence
        .set_availability(&id("carol"), Availability::Away);
    let mut h = Harness::dial_in(config, "+33100000006", dir, MONDAY_10H, 1, t0);
    let order: Vec<String> = hunt_order(&mut h).into_iter().map(|(_, u)| u).collect();
    assert_eq!(order, v(&["bob", "alice"]));
}

// ---------------------------------------------------------------------------------------------
// Decline versus no answer

#[test]
fn a_decliner_is_never_rung_again_a_non_answerer_is() {
    let mut h = Harness::dial("+33100000008");
    h.start();
    h.advance(secs(3));
    h.fail(b(1), 603); // bob declines during the team step
    let out = h.tick().unwrap_or_default(); // 20 s: user:alice
    assert_eq!(rung(&out), vec!["alice"]);
    let out = h.tick().unwrap_or_default(); // 40 s: user:bob skipped, fallback user:carol
    assert_eq!(h.at(), secs(40));
    assert_eq!(rung(&out), vec!["carol"]);
    let rec = h.call.record();
    assert_eq!(rec.declined_by, vec![id("bob")]);
    assert_eq!(rec.agents_rung, vec![id("alice"), id("bob"), id("carol")]);
    assert_eq!(
        step_results(&h),
        vec![
            ("team:support".to_owned(), Some(StepResult::TimedOut)),
            ("user:alice".to_owned(), Some(StepResult::TimedOut)),
            ("user:bob".to_owned(), Some(StepResult::Skipped)),
            ("user:carol".to_owned(), None),
        ]
    );
}

#[test]
fn an_api_decline_cancels_every_device_and_holds_for_later_steps() {
    let mut h = Harness::dial_with("+33100000008", alice_twice(), MONDAY_10H, 1);
    h.start();
    // Carol is not ringing yet: declining now still keeps the fallback from ringing her.
    assert!(actions(&h.decline("carol")).is_empty());
    let out = h.decline("alice");
    assert_eq!(
        actions(&out),
        vec![
            cancel(0, CancelReason::Declined),
            cancel(1, CancelReason::Declined)
        ]
    );
    assert!(events(&out).contains(&TimelineEvent::Declined {
        user: id("alice"),
        by: DeclineSource::Api
    }));
    assert!(h.decline("alice").is_empty(), "declining twice");
    // 20 s: user:alice skipped, user:bob rung; 40 s: fallback carol skipped: 480.
    assert_eq!(rung(&h.tick().unwrap_or_default()), vec!["bob"]);
    assert_eq!(h.at(), secs(20));
    let out = h.tick().unwrap_or_default();
    assert_eq!(h.at(), secs(40));
    assert_eq!(
        actions(&out),
        vec![cancel(3, CancelReason::Timeout), Output::Reject(480)]
    );
    assert_eq!(h.call.record().declined_by, vec![id("carol"), id("alice")]);
}

#[test]
fn a_decline_crossing_our_timeout_cancel_still_counts() {
    let mut h = Harness::dial("+33100000008");
    h.start();
    h.tick(); // 20 s: team cancelled (timeout), user:alice rings
    assert!(actions(&h.fail(b(1), 603)).is_empty());
    assert_eq!(h.call.branch_status(b(1)), Some(BranchStatus::Cancelled));
    assert!(h.call.has_declined(&id("bob")));
    let out = h.tick().unwrap_or_default(); // 40 s: user:bob skipped
    assert_eq!(rung(&out), vec!["carol"]);
}

// ---------------------------------------------------------------------------------------------
// Caller cancel in every state

#[test]
fn caller_cancel_in_every_state() {
    type Setup = fn(&mut Harness);
    let cases: &[(&str, &str, Setup, Vec<Output>)] = &[
        (
            "before start",
            "+33100000001",
            |_| {},
            vec![Output::Reject(487)],
        ),
        (
            "ringing a team",
            "+33100000001",
            |h| {
                h.start();
            },
            vec![
                cancel(0, CancelReason::CallerCancelled),
                cancel(1, CancelReason::CallerCancelled),
                Output::Reject(487),
            ],
        ),
        (
            "second step, first step's branches already cancelled",
            "+33100000001",
            |h| {
                h.start();
                h.tick();
            },
            vec![
                cancel(2, CancelReason::CallerCancelled),
                Output::Reject(487),
            ],
        ),
        (
            "hunting, after a hand-over",
            "+33100000006",
            |h| {
                h.start();
                h.tick();
            },
            vec![
                cancel(1, CancelReason::CallerCancelled),
                Output::Reject(487),
            ],
        ),
        (
            "between waves",
            "+33100000007",
            |h| {
                h.start();
                h.tick();
            },
            vec![
                cancel(0, CancelReason::CallerCancelled),
                cancel(1, CancelReason::CallerCancelled),
                Output::Reject(487),
            ],
        ),
        (
            "in the IVR",
            "+33100000004",
            |h| {
                h.start();
            },
            vec![Output::Reject(487)],
        ),
        (
            "after the answer",
            "+33100000001",
            |h| {
                h.start();
                h.answer(b(0));
            },
            vec![],
        ),
        (
            "after the 480",
            "+33100000002",
            |h| {
                h.start();
                h.tick();
            },
            vec![],
        ),
        (
            "in voicemail",
            "+33100000001",
            |h| {
                h.start();
                h.tick();
                h.tick();
            },
            vec![],
        ),
    ];
    for (name, dialled, setup, want) in cases {
        let mut h = Harness::dial(dialled);
        setup(&mut h);
        let before = h.call.outcome().cloned();
        let out = h.caller_cancel();
        assert_eq!(&actions(&out), want, "{name}");
        assert_eq!(h.call.poll_timeout(), None, "{name}");
        assert_eq!(h.call.running_ivr(), None, "{name}");
        match before {
            None => {
                assert_eq!(h.call.outcome(), Some(&Outcome::CallerCancelled), "{name}");
                assert_eq!(
                    h.call.record().end_reason,
                    Some(EndReason::CallerCancelled),
                    "{name}"
                );
            }
            Some(o) => assert_eq!(h.call.outcome(), Some(&o), "{name}: unchanged"),
        }
        // Nothing rings after a cancel, whatever comes next.
        h.call.start(h.now, &h.dir);
        assert!(h.tick().is_none(), "{name}");
        assert!(rung(&h.drain()).is_empty(), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// IVR

#[test]
fn the_ivr_choice_takes_the_ivr_step_s_place_then_the_cascade_continues() {
    let mut h = Harness::dial("+33100000004");
    let out = h.start();
    assert_eq!(
        actions(&out),
        vec![Output::RunIvr("main".parse().expect("ivr id"))]
    );
    assert_eq!(h.call.poll_timeout(), None, "the IVR keeps its own time");
    h.advance(secs(8));
    let out = h.ivr_result("team:sales");
    assert_eq!(rung(&out), vec!["carol", "dave"]);
    assert_eq!(h.call.poll_timeout(), Some(h.t0 + secs(8 + 15)));
    let out = h.tick().unwrap_or_default();
    assert_eq!(rung(&out), vec!["alice", "bob"], "the number's next step");
    let out = h.tick().unwrap_or_default();
    assert_eq!(h.at(), secs(43));
    assert!(actions(&out).contains(&Output::Reject(480)));
    assert_eq!(
        step_results(&h),
        vec![
            ("ivr:main".to_owned(), Some(StepResult::IvrDone)),
            ("team:sales".to_owned(), Some(StepResult::TimedOut)),
            ("team:support".to_owned(), Some(StepResult::TimedOut)),
        ]
    );
    assert_eq!(
        h.call.record().ring_time,
        secs(35),
        "IVR time is not ring time"
    );
}

#[test]
fn ivr_results() {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // (route chosen, the actions it leads to, agents rung)
    let table: &[(&str, Vec<Output>, Vec<String>)] = &[
        ("voicemail", vec![Output::Voicemail], v(&[])),
        ("hangup", vec![Output::Reject(480)], v(&[])),
        (
            "back",
            vec![Output::RunIvr("main".parse().expect("id"))],
            v(&[]),
        ),
        (
            "ivr:loop",
            vec![Output::RunIvr("loop".parse().expect("id"))],
            v(&[]),
        ),
        (
            "user:dave",
            vec![ring(0, "dave", "sip:dave@pc")],
            v(&["dave"]),
        ),
        // Another number: its steps, with its hours (open on Monday 10:00).
        (
            "number:+33100000003",
            vec![
                ring(0, "alice", "sip:alice@pc"),
                ring(1, "bob", "sip:bob@pc"),
            ],
            v(&["alice", "bob"]),
        ),
    ];
    for (route, want, who) in table {
        let mut h = Harness::dial("+33100000004");
        h.start();
        let out = h.ivr_result(route);
        assert_eq!(&actions(&out), want, "{route}");
        assert_eq!(&rung(&out), who, "{route}");
    }
}

#[test]
fn an_ivr_sending_the_caller_to_another_number_checks_its_hours_at_that_moment() {
    // Friday 2025-01-10 17:59:50 UTC; +33100000003 closes at 18:00 (closed → voicemail).
    const FRIDAY_17H59M50: u64 = 1_736_531_990;
    let mut h = Harness::dial_with("+33100000004", Dir::everyone(), FRIDAY_17H59M50, 1);
    h.start();
    h.advance(secs(5)); // 17:59:55: still open
    let mut early = Harness::dial_with("+33100000004", Dir::everyone(), FRIDAY_17H59M50, 1);
    early.start();
    early.advance(secs(5));
    assert_eq!(
        rung(&early.ivr_result("number:+33100000003")),
        vec!["alice", "bob"]
    );
    h.advance(secs(15)); // 18:00:10: closed
    let out = h.ivr_result("number:+33100000003");
    assert_eq!(actions(&out), vec![Output::Voicemail]);
    assert!(events(&out).contains(&TimelineEvent::Closed {
        route: Route::Voicemail
    }));
}

#[test]
fn an_ivr_result_outside_an_ivr_is_refused() {
    let mut h = Harness::dial("+33100000001");
    h.start();
    let r = h.call.on_ivr_result(Route::Voicemail, h.now, &h.dir);
    assert_eq!(r, Err(Error::NotInIvr));
    assert!(rung(&h.drain()).is_empty());
    assert!(!h.call.is_done());
}

#[test]
fn an_ivr_loop_is_cut_short() {
    // ivr:loop's no_input sends the caller to its own number, whose only step is ivr:loop.
    let mut h = Harness::dial("+33100000011");
    h.start();
    let mut runs = 1;
    while h.call.running_ivr().is_some() {
        let out = h.ivr_result("number:+33100000011");
        runs += count(&out, |o| matches!(o, Output::RunIvr(_)));
        assert!(runs <= MAX_ROUTES as usize, "unbounded");
    }
    assert_eq!(h.call.outcome(), Some(&Outcome::Rejected(480)));
    assert_eq!(h.call.record().end_reason, Some(EndReason::LoopLimit));
    assert!(runs > 10, "a real caller gets many tries first ({runs})");
}

// ---------------------------------------------------------------------------------------------
// Business hours

#[test]
fn business_hours_choose_steps_or_the_closed_route() {
    let mut h = Harness::dial_with("+33100000003", Dir::everyone(), MONDAY_10H, 1);
    assert_eq!(rung(&h.start()), vec!["alice", "bob"]);

    let mut h = Harness::dial_with("+33100000003", Dir::everyone(), SATURDAY_10H, 1);
    let out = h.start();
    assert_eq!(actions(&out), vec![Output::Voicemail]);
    assert_eq!(
        events(&out)[..2],
        [
            TimelineEvent::Routed {
                target: Target::Line {
                    number: "+33100000003".parse().expect("number"),
                    open: false
                }
            },
            TimelineEvent::Closed {
                route: Route::Voicemail
            },
        ]
    );
}

#[test]
fn a_closed_route_that_rings_ends_with_480_not_the_fallback() {
    // Closed → team:sales; the fallback (voicemail) is for the open cascade.
    let mut h = Harness::dial_with("+33100000010", Dir::everyone(), SATURDAY_10H, 1);
    assert_eq!(rung(&h.start()), vec!["carol", "dave"]);
    let out = h.tick().unwrap_or_default();
    assert_eq!(h.at(), secs(15));
    assert!(actions(&out).contains(&Output::Reject(480)));
}

// ---------------------------------------------------------------------------------------------
// The record

#[test]
fn the_record_tells_the_whole_call_and_serialises() {
    let mut h = Harness::dial("+33100000001");
    h.start();
    h.advance(secs(2));
    h.provisional(b(1), 180);
    h.advance(secs(3));
    h.answer(b(1));
    h.advance(secs(60));
    h.call.on_call_ended(EndReason::AgentHungUp, h.now);
    h.call
        .on_call_ended(EndReason::CallerHungUp, h.now + secs(1));
    let rec = h.call.record();
    assert_eq!(rec.answered_by, Some(id("bob")));
    assert_eq!(rec.answered_at, Some(secs(5)));
    assert_eq!(rec.ring_time, secs(5));
    assert_eq!(rec.talk_time, Some(secs(60)));
    assert_eq!(rec.ended_at, Some(secs(65)));
    assert_eq!(
        rec.end_reason,
        Some(EndReason::AgentHungUp),
        "first end wins"
    );
    assert_eq!(rec.agents_rung, vec![id("alice"), id("bob")]);
    let kinds: Vec<&str> = rec
        .timeline
        .iter()
        .map(|e| match e.event {
            TimelineEvent::Routed { .. } => "routed",
            TimelineEvent::StepStarted { .. } => "step_started",
            TimelineEvent::AgentRung { .. } => "agent_rung",
            TimelineEvent::Ringing { .. } => "ringing",
            TimelineEvent::StepEnded { .. } => "step_ended",
            TimelineEvent::Answered { .. } => "answered",
            TimelineEvent::Ended { .. } => "ended",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "routed",
            "step_started",
            "agent_rung",
            "agent_rung",
            "ringing",
            "step_ended",
            "answered",
            "ended"
        ]
    );

    let json = match serde_json::to_value(rec) {
        Ok(j) => j,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(json["id"], "call-+33100000001");
    assert_eq!(json["created"], MONDAY_10H * 1000);
    assert_eq!(json["target"]["line"]["number"], "+33100000001");
    assert_eq!(json["answered_by"], "bob");
    assert_eq!(json["talk_time"], 60_000);
    assert_eq!(json["ring_time"], 5_000);
    assert_eq!(json["end_reason"], "agent_hung_up");
    assert_eq!(json["steps"][0]["step"], "team:support");
    assert_eq!(json["steps"][0]["result"], "answered");
    assert_eq!(json["timeline"][2]["event"], "agent_rung");
    assert_eq!(json["timeline"][2]["user"], "alice");
    assert_eq!(json["timeline"][2]["branches"][0], 0);
    assert_eq!(json["timeline"][4]["at"], 2_000);
    assert!(json.get("created_at").is_none());
}

#[test]
fn ending_a_call_that_still_rings_cancels_it_without_a_reject() {
    let mut h = Harness::dial("+33100000001");
    h.start();
    h.call.on_call_ended(EndReason::Dropped, h.now);
    let out = h.drain();
    assert_eq!(
        actions(&out),
        vec![
            cancel(0, CancelReason::CallEnded),
            cancel(1, CancelReason::CallEnded)
        ]
    );
    assert_eq!(h.call.outcome(), Some(&Outcome::Aborted));
    assert_eq!(h.call.poll_timeout(), None);
    assert_eq!(
        step_results(&h),
        vec![("team:support".to_owned(), Some(StepResult::Aborted))]
    );
}

#[test]
fn a_target_missing_from_the_configuration_is_refused() {
    let config = Arc::new(config());
    let setup = || CallSetup {
        id: CallId::new("x"),
        now: Instant::now(),
        wall: unix(MONDAY_10H),
        seed: 0,
    };
    let t = Target::Line {
        number: "+33999".parse().expect("number"),
        open: true,
    };
    assert_eq!(
        CallRouting::new(config.clone(), t, setup()).err(),
        Some(Error::UnknownNumber("+33999".to_owned()))
    );
    let t = Target::User(id("zed"));
    assert_eq!(
        CallRouting::new(config, t, setup()).err(),
        Some(Error::UnknownUser("zed".to_owned()))
    );
}

#[test]
fn a_call_can_move_between_threads() {
    let mut h = Harness::dial("+33100000001");
    h.start();
    let (call, deadline) = (h.call, h.t0 + secs(20));
    let got = std::thread::spawn(move || call.poll_timeout()).join();
    assert_eq!(got.ok(), Some(Some(deadline)));
}
