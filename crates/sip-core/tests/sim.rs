//! Deterministic simulation: a client endpoint and a server endpoint, each a `TransactionTable`
//! with a small transaction user, talking over a fake link that loses and delays messages with a
//! seeded RNG. One virtual clock jumps to the earliest of: both tables' `poll_timeout()`, the next
//! delivery, the next TU action. Nothing reads the real clock except the single `Instant::now()`
//! origin, so a run of hours of SIP time takes milliseconds and replays exactly from its seed.
//!
//! What must hold for every loss pattern (RFC 3261 §17 + RFC 6026):
//! - nothing hangs: both tables drain and the run ends;
//! - every client transaction ends exactly once, with the server's final status or a timeout;
//! - a request never creates a second server transaction (RFC 6026's point);
//! - retransmission counts stay within the timer tables, and reliable links see none;
//! - an INVITE server whose non-2xx was ACKed in time confirms; otherwise Timer H fires.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sip_core::{
    generate_branch, Output, ServerInviteState, Timer, TimerConfig, TransactionKey,
    TransactionTable, TuEvent, TxId, TxMessage, TxMethod, TxState, TIMER_C_DEFAULT,
};

const SENT_BY: &str = "client.example:5060";

#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg {
    method: &'static str,
    branch: String,
    /// 0 for requests.
    status: u16,
    call: usize,
}

impl TxMessage for Msg {
    fn ack_for(&self, _response: &Self) -> Self {
        Msg {
            method: "ACK",
            branch: self.branch.clone(),
            status: 0,
            call: self.call,
        }
    }
}

/// SplitMix64: tiny, seedable, good enough to pick losses and delays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Loses each datagram with probability `loss` (never on a reliable link) and delays it.
struct Link {
    rng: Rng,
    loss: f64,
    reliable: bool,
    seq: u64,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    in_flight: HashMap<u64, (Side, Msg)>,
}

impl Link {
    fn send(&mut self, to: Side, msg: Msg, now: Instant) {
        if !self.reliable && self.rng.chance(self.loss) {
            return;
        }
        // A reliable link is a stream: fixed delay keeps it in order.
        let delay = if self.reliable {
            Duration::from_millis(20)
        } else {
            self.rng.millis(5, 150)
        };
        self.seq += 1;
        self.queue.push(Reverse((now + delay, self.seq)));
        self.in_flight.insert(self.seq, (to, msg));
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<(Side, Msg)> {
        let &Reverse((at, seq)) = self.queue.peek()?;
        if at > now {
            return None;
        }
        self.queue.pop();
        self.in_flight.remove(&seq)
    }
}

/// What the server TU will do with call `i`.
#[derive(Clone, Debug)]
struct Plan {
    invite: bool,
    provisional: bool,
    answer_after: Duration,
    status: u16,
}

#[derive(Debug, Default)]
struct Record {
    // client side
    events: Vec<Output<Msg>>,
    request_sends: usize,
    finals_seen: Vec<u16>,
    // server side
    requests_to_tu: usize,
    server_tx: Option<TxId>,
    server_final: Option<(u16, Instant)>,
    final_sends: usize,
    server_events: Vec<Output<Msg>>,
    non2xx_ack_arrivals: Vec<Instant>,
    acked_2xx: bool,
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Start(usize),
    Provisional(usize),
    Final(usize),
    Retransmit2xx {
        call: usize,
        interval: Duration,
        since: Instant,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Main,
    Cancel,
}

struct Sim {
    t0: Instant,
    now: Instant,
    config: TimerConfig,
    reliable: bool,
    rng: Rng,
    link: Link,
    client: TransactionTable<Msg>,
    server: TransactionTable<Msg>,
    client_ids: HashMap<TxId, (usize, Role)>,
    server_ids: HashMap<TxId, (usize, Role)>,
    plans: Vec<Plan>,
    branches: Vec<String>,
    records: Vec<Record>,
    actions: BinaryHeap<Reverse<(Instant, u64)>>,
    action_data: HashMap<u64, Action>,
    action_seq: u64,
    stray_responses: usize,
}

impl Sim {
    fn new(seed: u64, loss: f64, reliable: bool, calls: usize, spread_ms: u64) -> Sim {
        let t0 = Instant::now();
        let config = TimerConfig::default();
        let mut rng = Rng(seed);
        let mut sim = Sim {
            t0,
            now: t0,
            config,
            reliable,
            link: Link {
                rng: Rng(seed ^ 0x5eed),
                loss,
                reliable,
                seq: 0,
                queue: BinaryHeap::new(),
                in_flight: HashMap::new(),
            },
            client: TransactionTable::new(config),
            server: TransactionTable::new(config),
            client_ids: HashMap::new(),
            server_ids: HashMap::new(),
            plans: Vec::new(),
            branches: Vec::new(),
            records: Vec::new(),
            actions: BinaryHeap::new(),
            action_data: HashMap::new(),
            action_seq: 0,
            stray_responses: 0,
            rng: Rng(0),
        };
        for call in 0..calls {
            let invite = rng.chance(0.6);
            // One answer in twenty comes after Timer B/F would have fired.
            let answer_after = if rng.chance(0.05) {
                Duration::from_secs(40)
            } else {
                rng.millis(0, 4000)
            };
            let status = match (invite, rng.next() % 10) {
                (true, 0..=4) => 200,
                (true, 5..=7) => 486,
                (true, _) => 603,
                (false, 0..=7) => 200,
                (false, _) => 404,
            };
            sim.plans.push(Plan {
                invite,
                provisional: rng.chance(0.7),
                answer_after,
                status,
            });
            sim.branches.push(generate_branch(rng.next()));
            sim.records.push(Record::default());
            let start = t0 + rng.millis(0, spread_ms);
            sim.schedule(start, Action::Start(call));
        }
        sim.rng = rng;
        sim
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        self.action_seq += 1;
        self.actions.push(Reverse((at, self.action_seq)));
        self.action_data.insert(self.action_seq, action);
    }

    fn method(&self, call: usize) -> &'static str {
        if self.plans[call].invite {
            "INVITE"
        } else {
            "OPTIONS"
        }
    }

    fn request(&self, call: usize, method: &'static str) -> Msg {
        Msg {
            method,
            branch: self.branches[call].clone(),
            status: 0,
            call,
        }
    }

    fn response(&self, call: usize, method: &'static str, status: u16) -> Msg {
        Msg {
            status,
            ..self.request(call, method)
        }
    }

    /// Run until nothing is left to do; panics (fails the test) if virtual time runs away.
    fn run(&mut self) {
        let limit = self.t0 + Duration::from_secs(30 * 60);
        loop {
            let next = [
                self.client.poll_timeout(),
                self.server.poll_timeout(),
                self.link.next_deadline(),
                self.actions.peek().map(|Reverse((at, _))| *at),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { break };
            assert!(next >= self.now, "time went backwards");
            assert!(
                next < limit,
                "simulation hangs: still busy after 30 min of SIP time"
            );
            self.now = next;
            while let Some((to, msg)) = self.link.pop_due(self.now) {
                match to {
                    Side::Client => self.client_receives(msg),
                    Side::Server => self.server_receives(msg),
                }
                self.drain();
            }
            while let Some(&Reverse((at, seq))) = self.actions.peek() {
                if at > self.now {
                    break;
                }
                self.actions.pop();
                if let Some(action) = self.action_data.remove(&seq) {
                    self.act(action);
                }
                self.drain();
            }
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.drain();
            for table in [&self.client, &self.server] {
                assert!(table.active_count() <= table.len());
            }
        }
        assert!(self.client.is_empty(), "client transactions left");
        assert!(self.server.is_empty(), "server transactions left");
    }

    fn act(&mut self, action: Action) {
        let now = self.now;
        match action {
            Action::Start(call) => {
                let method = self.method(call);
                let key = TransactionKey::client(&self.branches[call], TxMethod::from_name(method))
                    .unwrap();
                let request = self.request(call, method);
                let id = if self.plans[call].invite {
                    let id = self
                        .client
                        .insert_client_invite(key, request, self.reliable, now)
                        .unwrap();
                    // The TU's guard against a final response that never arrives.
                    self.client
                        .enable_timer_c(id, TIMER_C_DEFAULT, now)
                        .unwrap();
                    id
                } else {
                    self.client
                        .insert_client_non_invite(key, request, self.reliable, now)
                        .unwrap()
                };
                self.client_ids.insert(id, (call, Role::Main));
            }
            Action::Provisional(call) => {
                let Some(id) = self.records[call].server_tx else {
                    return;
                };
                if self.records[call].server_final.is_none() {
                    let (method, status) = if self.plans[call].invite {
                        ("INVITE", 180)
                    } else {
                        ("OPTIONS", 100)
                    };
                    let msg = self.response(call, method, status);
                    self.server.send_response(id, status, msg, now).unwrap();
                }
            }
            Action::Final(call) => {
                if self.records[call].server_final.is_none() {
                    let status = self.plans[call].status;
                    self.send_final(call, status);
                }
            }
            Action::Retransmit2xx {
                call,
                interval,
                since,
            } => {
                // RFC 3261 §13.3.1.4: the UAS core retransmits its 2xx until the ACK, for 64*T1.
                let record = &self.records[call];
                if record.acked_2xx || now - since >= self.config.transaction_timeout() {
                    return;
                }
                let Some(id) = record.server_tx else { return };
                let msg = self.response(call, "INVITE", 200);
                if self.server.send_response(id, 200, msg, now).is_ok() {
                    let next = (interval * 2).min(self.config.t2);
                    self.schedule(
                        now + interval,
                        Action::Retransmit2xx {
                            call,
                            interval: next,
                            since,
                        },
                    );
                }
            }
        }
    }

    fn send_final(&mut self, call: usize, status: u16) {
        let now = self.now;
        let Some(id) = self.records[call].server_tx else {
            return;
        };
        let method = self.method(call);
        let msg = self.response(call, method, status);
        self.server.send_response(id, status, msg, now).unwrap();
        self.records[call].server_final = Some((status, now));
        if self.plans[call].invite && status == 200 {
            let t1 = self.config.t1;
            self.schedule(
                now + t1,
                Action::Retransmit2xx {
                    call,
                    interval: (t1 * 2).min(self.config.t2),
                    since: now,
                },
            );
        }
    }

    fn server_receives(&mut self, msg: Msg) {
        let now = self.now;
        let call = msg.call;
        let method = TxMethod::from_name(msg.method);
        let key = TransactionKey::server(&msg.branch, SENT_BY, method).unwrap();
        if msg.method == "ACK" && msg.branch == self.branches[call] {
            self.records[call].non2xx_ack_arrivals.push(now);
        }
        match (self.server.lookup(&key), msg.method) {
            (Some(id), "ACK") => self.server.on_ack(id, msg, now).unwrap(),
            (Some(id), _) => self.server.on_request(id, msg, now).unwrap(),
            // An ACK with its own branch: the ACK of a 2xx, for the UAS core.
            (None, "ACK") => {
                if msg.branch != self.branches[call] {
                    self.records[call].acked_2xx = true;
                }
            }
            (None, "CANCEL") => {
                let id = self
                    .server
                    .insert_server_non_invite(key.clone(), msg.clone(), self.reliable, now)
                    .unwrap();
                self.server_ids.insert(id, (call, Role::Cancel));
                let invite = key.invite_for_cancel().and_then(|k| self.server.lookup(&k));
                let status = if invite.is_some() { 200 } else { 481 };
                let ok = self.response(call, "CANCEL", status);
                self.server.send_response(id, status, ok, now).unwrap();
                if let Some(invite) = invite {
                    let proceeding = TxState::ServerInvite(ServerInviteState::Proceeding);
                    if self.server.state(invite) == Some(proceeding) {
                        self.send_final(call, 487);
                    }
                }
            }
            (None, _) => {
                let id = if msg.method == "INVITE" {
                    self.server
                        .insert_server_invite(key, msg, self.reliable, now)
                } else {
                    self.server
                        .insert_server_non_invite(key, msg, self.reliable, now)
                }
                .unwrap();
                self.server_ids.insert(id, (call, Role::Main));
                let record = &mut self.records[call];
                record.requests_to_tu += 1;
                record.server_tx = Some(id);
                let plan = self.plans[call].clone();
                if plan.provisional {
                    self.schedule(now + Duration::from_millis(50), Action::Provisional(call));
                }
                self.schedule(now + plan.answer_after, Action::Final(call));
            }
        }
    }

    fn client_receives(&mut self, msg: Msg) {
        let key = TransactionKey::client(&msg.branch, TxMethod::from_name(msg.method)).unwrap();
        match self.client.lookup(&key) {
            Some(id) => self
                .client
                .on_response(id, msg.status, msg, self.now)
                .unwrap(),
            // RFC 6026 §7.2: a response matching no transaction is dropped.
            None => self.stray_responses += 1,
        }
    }

    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some((id, out)) = self.client.poll() {
                progressed = true;
                self.client_output(id, out);
            }
            while let Some((id, out)) = self.server.poll() {
                progressed = true;
                self.server_output(id, out);
            }
            if !progressed {
                break;
            }
        }
    }

    fn client_output(&mut self, id: TxId, out: Output<Msg>) {
        let now = self.now;
        let Some(&(call, role)) = self.client_ids.get(&id) else {
            panic!("output for unknown client transaction {id:?}: {out:?}");
        };
        if let Output::Send(msg) = out {
            if role == Role::Main && msg.status == 0 && msg.method != "ACK" {
                self.records[call].request_sends += 1;
            }
            self.link.send(Side::Server, msg, now);
            return;
        }
        if role == Role::Cancel {
            return; // the CANCEL's own outcome does not matter here
        }
        match &out {
            Output::ToTu(TuEvent::Response { status, .. }) if *status >= 200 => {
                self.records[call].finals_seen.push(*status);
                if self.plans[call].invite && (200..300).contains(status) {
                    // RFC 3261 §13.2.2.4: the UAC core ACKs every 2xx, with a branch of its own.
                    let ack = Msg {
                        method: "ACK",
                        branch: generate_branch(self.rng.next()),
                        status: 0,
                        call,
                    };
                    self.link.send(Side::Server, ack, now);
                }
            }
            Output::ToTu(TuEvent::CancelDue) => {
                let key = TransactionKey::client(&self.branches[call], TxMethod::Cancel).unwrap();
                let cancel = self.request(call, "CANCEL");
                let cid = self
                    .client
                    .insert_client_non_invite(key, cancel, self.reliable, now)
                    .unwrap();
                self.client_ids.insert(cid, (call, Role::Cancel));
                self.client.cancel_sent(id, now).unwrap();
            }
            _ => {}
        }
        self.records[call].events.push(out);
    }

    fn server_output(&mut self, id: TxId, out: Output<Msg>) {
        let Some(&(call, role)) = self.server_ids.get(&id) else {
            panic!("output for unknown server transaction {id:?}: {out:?}");
        };
        if role == Role::Cancel {
            if let Output::Send(msg) = out {
                self.link.send(Side::Client, msg, self.now);
            }
            return;
        }
        match out {
            Output::Send(msg) => {
                if msg.status >= 300 {
                    self.records[call].final_sends += 1;
                }
                self.link.send(Side::Client, msg, self.now);
            }
            other => self.records[call].server_events.push(other),
        }
    }

    /// Every RFC property, call by call.
    fn check(&self) {
        let h = self.config.duration(Timer::H, self.reliable);
        for (call, (plan, r)) in self.plans.iter().zip(&self.records).enumerate() {
            let ctx = format!("call {call} {plan:?} {r:?}");
            // Client transaction: one Terminated, last.
            let terminated = r
                .events
                .iter()
                .filter(|e| **e == Output::Terminated)
                .count();
            assert_eq!(terminated, 1, "{ctx}");
            assert_eq!(r.events.last(), Some(&Output::Terminated), "{ctx}");
            let timeouts: Vec<Timer> = r
                .events
                .iter()
                .filter_map(|e| match e {
                    Output::Timeout(t) => Some(*t),
                    _ => None,
                })
                .collect();
            assert!(timeouts.len() <= 1, "{ctx}");
            assert!(!r.events.contains(&Output::TransportError), "{ctx}");
            // Either the final response (the server's, never another) or a timeout.
            let server_status = r.server_final.map(|(s, _)| s);
            for seen in &r.finals_seen {
                assert_eq!(Some(*seen), server_status, "{ctx}");
            }
            assert_ne!(r.finals_seen.is_empty(), timeouts.is_empty(), "{ctx}");
            if plan.invite {
                assert!(
                    timeouts.iter().all(|t| matches!(t, Timer::B | Timer::C)),
                    "{ctx}"
                );
                // Non-2xx finals reach the TU once; 2xx as often as they arrive.
                if r.finals_seen.iter().any(|s| *s >= 300) {
                    assert_eq!(r.finals_seen.len(), 1, "{ctx}");
                }
                assert!(r.request_sends <= 7, "{ctx}");
            } else {
                assert_eq!(
                    timeouts.iter().filter(|t| **t != Timer::F).count(),
                    0,
                    "{ctx}"
                );
                assert!(r.finals_seen.len() <= 1, "{ctx}");
                assert!(r.request_sends <= 11, "{ctx}");
            }
            // A request never makes a second server transaction, even after a 2xx (RFC 6026).
            assert!(r.requests_to_tu <= 1, "{ctx}");
            if r.requests_to_tu == 1 {
                let server_terminated = r
                    .server_events
                    .iter()
                    .filter(|e| **e == Output::Terminated)
                    .count();
                assert_eq!(server_terminated, 1, "{ctx}");
            } else {
                // The request never arrived: every copy was lost, the client timed out.
                assert!(!self.reliable, "{ctx}");
                assert!(!timeouts.is_empty(), "{ctx}");
            }
            // INVITE server with a non-2xx: confirmed iff an ACK arrived before Timer H.
            if let (true, Some((status, sent_at))) = (plan.invite, r.server_final) {
                if status >= 300 {
                    let timed_out = r.server_events.contains(&Output::Timeout(Timer::H));
                    let deadline = sent_at + h;
                    let acked_in_time = r.non2xx_ack_arrivals.iter().any(|&t| t < deadline);
                    let acked_late = r.non2xx_ack_arrivals.contains(&deadline);
                    if !acked_late {
                        assert_eq!(timed_out, !acked_in_time, "{ctx}");
                    }
                }
            }
            if self.reliable {
                // Reliable transports: no transaction-layer retransmission at all.
                assert_eq!(r.request_sends, 1, "{ctx}");
                assert!(r.final_sends <= 1, "{ctx}");
                let late = plan.answer_after > Duration::from_secs(32);
                if !(late && (!plan.provisional || !plan.invite)) {
                    assert_eq!(r.finals_seen.first().copied(), Some(plan.status), "{ctx}");
                }
            }
        }
    }
}

/// What happened in a run, to prove the interesting paths were taken.
#[derive(Debug, Default)]
struct Stats {
    completed: usize,
    timed_out: usize,
    cancel_due: usize,
    request_retransmissions: usize,
    final_retransmissions: usize,
    server_h_timeouts: usize,
    server_confirmed: usize,
    never_arrived: usize,
    repeated_2xx: usize,
    stray_responses: usize,
}

impl Sim {
    fn stats(&self) -> Stats {
        let mut s = Stats {
            stray_responses: self.stray_responses,
            ..Stats::default()
        };
        for r in &self.records {
            if r.finals_seen.is_empty() {
                s.timed_out += 1;
            } else {
                s.completed += 1;
            }
            s.cancel_due += usize::from(r.events.contains(&Output::ToTu(TuEvent::CancelDue)));
            s.request_retransmissions += r.request_sends.saturating_sub(1);
            s.final_retransmissions += r.final_sends.saturating_sub(1);
            s.server_h_timeouts +=
                usize::from(r.server_events.contains(&Output::Timeout(Timer::H)));
            let non2xx = matches!(r.server_final, Some((status, _)) if status >= 300);
            let timed_out = r.server_events.contains(&Output::Timeout(Timer::H));
            s.server_confirmed += usize::from(non2xx && r.requests_to_tu == 1 && !timed_out);
            s.never_arrived += usize::from(r.requests_to_tu == 0);
            s.repeated_2xx += usize::from(r.finals_seen.len() > 1);
        }
        s
    }
}

fn simulate(seed: u64, loss: f64, reliable: bool, calls: usize) -> Sim {
    let mut sim = Sim::new(seed, loss, reliable, calls, 2_000);
    sim.run();
    sim.check();
    sim
}

#[test]
fn lossless_link_everything_completes() {
    let sim = simulate(1, 0.0, false, 200);
    let stats = sim.stats();
    assert_eq!(stats.never_arrived, 0, "{stats:?}");
    assert!(stats.server_confirmed > 0, "{stats:?}");
    assert_eq!(stats.server_h_timeouts, 0, "{stats:?}");
    for (plan, r) in sim.plans.iter().zip(&sim.records) {
        if plan.answer_after < Duration::from_secs(32) {
            assert_eq!(r.finals_seen.first().copied(), Some(plan.status));
        }
    }
}

#[test]
fn reliable_link_never_retransmits() {
    let stats = simulate(2, 0.0, true, 300).stats();
    assert_eq!(stats.request_retransmissions, 0, "{stats:?}");
    assert_eq!(stats.final_retransmissions, 0, "{stats:?}");
    assert!(stats.server_confirmed > 0, "{stats:?}");
}

#[test]
fn thousands_of_transactions_over_a_lossy_link() {
    let sim = simulate(3, 0.3, false, 3_000);
    let timeouts = sim
        .records
        .iter()
        .filter(|r| r.events.iter().any(|e| matches!(e, Output::Timeout(_))))
        .count();
    let completed = sim
        .records
        .iter()
        .filter(|r| !r.finals_seen.is_empty())
        .count();
    assert_eq!(timeouts + completed, 3_000);
    let stats = sim.stats();
    eprintln!("30% loss, 3000 calls: {stats:?}");
    // At 30% loss the retransmissions carry most calls through...
    assert!(completed > 2_500, "{stats:?}");
    // ...and every recovery path was taken: lost requests, lost finals, lost ACKs, lost 200s.
    assert!(stats.request_retransmissions > 0, "{stats:?}");
    assert!(stats.final_retransmissions > 0, "{stats:?}");
    assert!(stats.server_h_timeouts > 0, "{stats:?}");
    assert!(stats.server_confirmed > 0, "{stats:?}");
    assert!(stats.repeated_2xx > 0, "{stats:?}");
    // Responses that outlived their client transaction were dropped, not misrouted.
    assert!(stats.stray_responses > 0, "{stats:?}");
}

#[test]
fn a_very_lossy_link_exercises_timer_c_and_cancel() {
    let sim = simulate(4, 0.6, false, 2_000);
    let cancelled = sim
        .records
        .iter()
        .filter(|r| r.events.contains(&Output::ToTu(TuEvent::CancelDue)))
        .count();
    assert!(cancelled > 0, "no call hit Timer C");
    let stats = sim.stats();
    eprintln!("60% loss, 2000 calls: {stats:?}");
    assert!(stats.never_arrived > 0, "{stats:?}");
}

/// 100k calls started within 2 s, so all their transactions are alive at once (each lives at
/// least 32 s). About 11 s in a debug build: run with `cargo test -p sip-core -- --ignored`.
#[test]
#[ignore]
fn hundred_thousand_concurrent_calls() {
    let stats = simulate(9, 0.1, false, 100_000).stats();
    assert_eq!(stats.completed + stats.timed_out, 100_000, "{stats:?}");
    assert!(
        stats.server_confirmed > 0 && stats.repeated_2xx > 0,
        "{stats:?}"
    );
}

proptest! {
    // The inputs are the whole replay recipe, so a failure report is enough: no regression file.
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_loss_pattern_completes_or_times_out(
        seed in any::<u64>(),
        loss in 0.0f64..0.7,
        reliable in any::<bool>(),
        calls in 1usize..40,
    ) {
        simulate(seed, loss, reliable, calls);
    }
}
