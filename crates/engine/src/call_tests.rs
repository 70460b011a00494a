//! The B2BUA on a virtual clock: a caller on a trunk, agents as fake phones whose answers are
//! written by hand, every message in and out checked. No sockets.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{Engine, Inbound, Phase, Transmit, Transport};

const LOCAL: &str = "127.0.0.1:5060";
const CALLER: &str = "192.0.2.7:40000";
const ALICE: &str = "198.51.100.1:5061";
const BOB: &str = "198.51.100.2:5062";
const CAROL: &str = "198.51.100.3:5063";
const SDP_CALLER: &str = "v=0\r\no=caller 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
const SDP_AGENT: &str = "v=0\r\no=agent 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8\r\n";

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
domain = "127.0.0.1"
auth = "none"

[[trunks]]
name = "carrier"
from = ["192.0.2.0/24"]

[[users]]
id = "alice"
password = "pw"
ring_timeout = "2s"
[[users]]
id = "bob"
password = "pw"
ring_timeout = "2s"
[[users]]
id = "carol"
password = "pw"
ring_timeout = "2s"

[[teams]]
id = "support"
members = ["alice", "bob", "carol"]
strategy = "simultaneous"
ring_timeout = "2s"

[[numbers]]
number = "+33100000001"
steps = ["team:support"]
fallback = "hangup"

[[numbers]]
number = "+33100000002"
steps = ["user:alice", "team:support"]
fallback = "hangup"
"#;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn engine() -> Engine {
    let loaded = config::parse_str(CONFIG, Path::new("calls.toml")).expect("valid config");
    Engine::from_config(&loaded.config, [3; 32], 11).expect("engine")
}

fn from(peer: &str, data: &str) -> Inbound {
    Inbound {
        transport: Transport::Udp,
        local: addr(LOCAL),
        peer: addr(peer),
        conn: None,
        data: Bytes::from(data.to_string()),
    }
}

fn text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.data).into_owned()
}

fn status_of(msg: &str) -> u16 {
    if !msg.starts_with("SIP/2.0 ") {
        return 0;
    }
    msg.get(8..11).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn method_of(msg: &str) -> &str {
    msg.split(' ').next().unwrap_or("")
}

/// The first value of header `name` (full name, case-insensitive).
fn hdr(msg: &str, name: &str) -> String {
    msg.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

/// A phone's answer to `req`: Via, From, To (with `tag` added), Call-ID, CSeq copied.
fn reply(req: &str, status: u16, tag: &str, contact: &str, sdp: &str) -> String {
    let mut out = format!("SIP/2.0 {status} Phone\r\n");
    for line in req.split("\r\n\r\n").next().unwrap_or("").lines().skip(1) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" if line.contains("tag=") || status == 100 => out.push_str(&format!("{line}\r\n")),
            "to" => out.push_str(&format!("{line};tag={tag}\r\n")),
            _ => {}
        }
    }
    if status > 100 && status < 300 {
        out.push_str(&format!("Contact: <sip:phone@{contact}>\r\n"));
    }
    if !sdp.is_empty() {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{sdp}", sdp.len()));
    out
}

/// What one test sees: the engine, a virtual clock and everything sent so far, by peer.
struct World {
    e: Engine,
    now: Instant,
    sent: Vec<Transmit>,
}

impl World {
    fn new() -> World {
        World {
            e: engine(),
            now: Instant::now(),
            sent: Vec::new(),
        }
    }

    fn send(&mut self, peer: &str, data: &str) -> Vec<String> {
        self.e.handle_inbound(from(peer, data), self.now);
        self.take()
    }

    fn take(&mut self) -> Vec<String> {
        let out: Vec<Transmit> = std::iter::from_fn(|| self.e.poll_transmit()).collect();
        self.sent.extend(out.iter().cloned());
        out.iter().map(text).collect()
    }

    fn advance(&mut self, d: Duration) -> Vec<String> {
        let until = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = self.e.poll_timeout().filter(|t| *t <= until) {
            self.now = t.max(self.now);
            self.e.handle_timeout(self.now);
            out.extend(self.take());
        }
        self.now = until;
        out
    }

    /// Messages sent to `peer` since the start, as text.
    fn to(&self, peer: &str) -> Vec<String> {
        self.sent
            .iter()
            .filter(|t| t.dest == addr(peer))
            .map(text)
            .collect()
    }

    fn register(&mut self, user: &str, peer: &str) {
        let req = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {peer};branch=z9hG4bKreg{user}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=r{user}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
             Call-ID: reg-{user}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@{peer}>\r\nContent-Length: 0\r\n\r\n"
        );
        let out = self.send(peer, &req);
        assert_eq!(status_of(&out[0]), 200, "{}", out[0]);
        self.sent.clear();
    }

    fn invite_text(number: &str, branch: &str) -> String {
        format!(
            "INVITE sip:{number}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK{branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: \"Client\" <sip:+33611111111@carrier>;tag=c1\r\nTo: <sip:{number}@127.0.0.1>\r\n\
             Call-ID: in-{branch}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{CALLER}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP_CALLER}",
            SDP_CALLER.len()
        )
    }

    fn dial(&mut self, number: &str) -> Vec<String> {
        self.send(CALLER, &Self::invite_text(number, "call1"))
    }

    /// The last INVITE sent to `peer`.
    fn invite_to(&self, peer: &str) -> String {
        self.to(peer)
            .into_iter()
            .rev()
            .find(|m| method_of(m) == "INVITE")
            .unwrap_or_else(|| panic!("no INVITE to {peer}"))
    }

    fn count_to(&self, peer: &str, method: &str) -> usize {
        self.to(peer)
            .iter()
            .filter(|m| method_of(m) == method)
            .count()
    }

    fn caller_statuses(&self) -> Vec<u16> {
        self.to(CALLER)
            .iter()
            .map(|m| status_of(m))
            .filter(|s| *s > 0)
            .collect()
    }

    fn ring(&mut self, peer: &str, tag: &str) {
        let inv = self.invite_to(peer);
        self.send(peer, &reply(&inv, 180, tag, peer, ""));
    }

    fn answer(&mut self, peer: &str, tag: &str) {
        let inv = self.invite_to(peer);
        self.send(peer, &reply(&inv, 200, tag, peer, SDP_AGENT));
    }

    fn all_registered(&mut self) {
        self.register("alice", ALICE);
        self.register("bob", BOB);
        self.register("carol", CAROL);
    }

    /// Caller's ACK for our 200 (in its dialog).
    fn caller_ack(&mut self) {
        let ok = self
            .to(CALLER)
            .into_iter()
            .find(|m| status_of(m) == 200)
            .expect("a 200 to the caller");
        let ack = format!(
            "ACK sip:switchboard@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKack1;rport\r\n\
             Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            hdr(&ok, "From"),
            hdr(&ok, "To"),
            hdr(&ok, "Call-ID")
        );
        self.send(CALLER, &ack);
    }

    /// A bridged call: alice answered a call to the team.
    fn bridged() -> World {
        let mut w = World::new();
        w.all_registered();
        w.dial("+33100000001");
        w.answer(ALICE, "a1");
        w.caller_ack();
        w
    }
}

#[test]
fn ring_all_first_answer_wins_and_the_others_are_cancelled_with_a_reason() {
    let mut w = World::new();
    w.all_registered();
    let out = w.dial("+33100000001");
    assert_eq!(status_of(&out[0]), 100, "100 Trying at once: {out:?}");
    for peer in [ALICE, BOB, CAROL] {
        let inv = w.invite_to(peer);
        assert!(inv.starts_with("INVITE sip:"), "{inv}");
        assert!(hdr(&inv, "Via").contains("branch=z9hG4bKsb"), "{inv}");
        assert_eq!(hdr(&inv, "Max-Forwards"), "69");
        assert_eq!(hdr(&inv, "X-Switchboard-Line"), "+33100000001");
        assert!(!hdr(&inv, "X-Switchboard-Call").is_empty());
        assert!(
            hdr(&inv, "From").starts_with("\"Client\" <sip:+33611111111@127.0.0.1>;tag="),
            "{inv}"
        );
        assert_eq!(body(&inv), SDP_CALLER, "the caller's SDP as-is");
    }
    let call_ids: std::collections::HashSet<String> = [ALICE, BOB, CAROL]
        .iter()
        .map(|p| hdr(&w.invite_to(p), "Call-ID"))
        .collect();
    assert_eq!(call_ids.len(), 3, "a new Call-ID per agent leg");

    w.ring(ALICE, "a1");
    w.ring(BOB, "b1");
    w.ring(CAROL, "c1");
    assert_eq!(w.caller_statuses(), vec![100, 180], "one 180 relayed");

    w.answer(ALICE, "a1");
    assert_eq!(w.count_to(ALICE, "ACK"), 1, "the 2xx is ACKed");
    let ok = w
        .to(CALLER)
        .into_iter()
        .find(|m| status_of(m) == 200)
        .expect("200 to the caller");
    assert_eq!(body(&ok), SDP_AGENT, "the agent's SDP to the caller");
    for peer in [BOB, CAROL] {
        let cancel = w
            .to(peer)
            .into_iter()
            .find(|m| method_of(m) == "CANCEL")
            .expect("CANCEL");
        assert_eq!(
            hdr(&cancel, "Reason"),
            "SIP;cause=200;text=\"Call completed elsewhere\""
        );
        let inv = w.invite_to(peer);
        assert_eq!(
            hdr(&cancel, "Via"),
            hdr(&inv, "Via"),
            "CANCEL has the INVITE's branch"
        );
        assert_eq!(hdr(&cancel, "CSeq"), "1 CANCEL");
        // The phone: 200 to CANCEL, 487 to the INVITE, which the transaction ACKs.
        w.send(peer, &reply(&cancel, 200, "x", peer, ""));
        w.send(peer, &reply(&inv, 487, "t", peer, ""));
        let ack = w
            .to(peer)
            .into_iter()
            .rev()
            .find(|m| method_of(m) == "ACK")
            .expect("ACK of the 487");
        assert!(hdr(&ack, "To").ends_with(";tag=t"), "{ack}");
        assert_eq!(hdr(&ack, "Via"), hdr(&inv, "Via"));
    }
    assert_eq!(w.count_to(ALICE, "CANCEL"), 0);
    let id = hdr(&w.invite_to(ALICE), "X-Switchboard-Call");
    assert!(matches!(w.e.call_phase(&id), Some(Phase::Bridged(_))));
    assert_eq!(w.e.stats().calls_answered, 1);
    let record = w.e.call(&id).expect("record");
    assert_eq!(
        record.answered_by.as_ref().map(|u| u.as_str()),
        Some("alice")
    );
}

#[test]
fn double_answer_bridges_one_and_acks_then_byes_the_other() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    w.answer(ALICE, "a1");
    w.answer(BOB, "b1");
    assert_eq!(
        w.caller_statuses().iter().filter(|s| **s == 200).count(),
        1,
        "exactly one answer"
    );
    let bob: Vec<String> = w.to(BOB).iter().map(|m| method_of(m).to_string()).collect();
    assert_eq!(
        bob,
        vec!["INVITE", "ACK", "BYE"],
        "ACK then BYE for the loser"
    );
    let bye = w.to(BOB).pop().expect("BYE");
    assert!(
        hdr(&bye, "To").ends_with(";tag=b1"),
        "in bob's dialog: {bye}"
    );
    assert_eq!(w.distinct_to(ALICE, "BYE"), 0);
    assert_eq!(w.count_to(ALICE, "ACK"), 1);
}

#[test]
fn a_2xx_after_our_cancel_gets_ack_and_bye() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    w.ring(BOB, "b1");
    w.answer(ALICE, "a1");
    assert_eq!(w.count_to(BOB, "CANCEL"), 1);
    // Bob's phone answered as our CANCEL crossed it.
    w.answer(BOB, "b1");
    assert_eq!(w.count_to(BOB, "ACK"), 1);
    assert_eq!(w.count_to(BOB, "BYE"), 1);
    assert_eq!(w.caller_statuses().iter().filter(|s| **s == 200).count(), 1);
}

#[test]
fn caller_cancel_cancels_every_branch_and_gets_487() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    for (peer, tag) in [(ALICE, "a"), (BOB, "b"), (CAROL, "c")] {
        w.ring(peer, tag);
    }
    let cancel = W_CANCEL.replace("{CALLER}", CALLER);
    let out = w.send(CALLER, &cancel);
    let statuses: Vec<u16> = out
        .iter()
        .map(|m| status_of(m))
        .filter(|s| *s > 0)
        .collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&487),
        "{statuses:?}"
    );
    for peer in [ALICE, BOB, CAROL] {
        let c = w
            .to(peer)
            .into_iter()
            .find(|m| method_of(m) == "CANCEL")
            .expect("CANCEL");
        assert!(hdr(&c, "Reason").contains("cause=487"), "{c}");
    }
    assert_eq!(w.e.stats().calls_cancelled, 1);
}

const W_CANCEL: &str = "CANCEL sip:+33100000001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKcall1;rport\r\n\
Max-Forwards: 70\r\nFrom: \"Client\" <sip:+33611111111@carrier>;tag=c1\r\nTo: <sip:+33100000001@127.0.0.1>\r\n\
Call-ID: in-call1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";

#[test]
fn cancel_waits_for_a_provisional_response() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    w.ring(BOB, "b1");
    // Alice answers; carol has sent nothing yet: no CANCEL to her before a provisional.
    w.answer(ALICE, "a1");
    assert_eq!(w.count_to(BOB, "CANCEL"), 1);
    assert_eq!(w.count_to(CAROL, "CANCEL"), 0, "RFC 3261 §9.1");
    w.ring(CAROL, "c1");
    assert_eq!(
        w.count_to(CAROL, "CANCEL"),
        1,
        "sent with the first provisional"
    );
}

#[test]
fn decline_moves_on_and_the_agent_is_never_rung_again() {
    let mut w = World::new();
    w.all_registered();
    // +33100000002: user:alice, then team:support.
    w.dial("+33100000002");
    assert_eq!(w.count_to(BOB, "INVITE"), 0);
    let inv = w.invite_to(ALICE);
    w.send(ALICE, &reply(&inv, 486, "a1", ALICE, ""));
    assert_eq!(w.count_to(ALICE, "ACK"), 1, "the 486 is ACKed");
    assert_eq!(w.count_to(BOB, "INVITE"), 1, "next step at once");
    assert_eq!(w.count_to(CAROL, "INVITE"), 1);
    assert_eq!(
        w.count_to(ALICE, "INVITE"),
        1,
        "alice declined: not rung by the team"
    );
}

#[test]
fn failing_contacts_are_dropped_at_once() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    for (peer, status) in [(ALICE, 503), (BOB, 408), (CAROL, 486)] {
        let inv = w.invite_to(peer);
        w.send(peer, &reply(&inv, status, "t", peer, ""));
    }
    // No clock advance: every branch failed, the cascade ran out, the caller gets 480.
    assert_eq!(w.caller_statuses(), vec![100, 480]);
    assert_eq!(w.e.stats().calls_failed, 1);
}

#[test]
fn a_step_without_contacts_is_skipped() {
    let mut w = World::new();
    w.register("bob", BOB);
    w.dial("+33100000002");
    // alice has no contact: straight to the team, where only bob is registered.
    assert_eq!(w.count_to(BOB, "INVITE"), 1);
    assert!(w.to(ALICE).is_empty());
}

#[test]
fn unanswered_ring_times_out_to_the_next_step_with_cancel() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000002");
    w.ring(ALICE, "a1");
    w.advance(Duration::from_millis(2100));
    let cancel = w
        .to(ALICE)
        .into_iter()
        .find(|m| method_of(m) == "CANCEL")
        .expect("CANCEL");
    assert!(hdr(&cancel, "Reason").contains("cause=480"), "{cancel}");
    assert_eq!(
        w.count_to(BOB, "INVITE"),
        1,
        "the team rings after alice's ring time"
    );
    // Alice did not decline: the team rings her again.
    assert_eq!(w.count_to(ALICE, "INVITE"), 2);
}

#[test]
fn bye_from_the_caller_hangs_up_the_agent() {
    let mut w = World::bridged();
    let ok = w
        .to(CALLER)
        .into_iter()
        .find(|m| status_of(m) == 200)
        .expect("200");
    let bye = format!(
        "BYE sip:switchboard@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKbye1;rport\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: in-call1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        hdr(&ok, "From"),
        hdr(&ok, "To")
    );
    let out = w.send(CALLER, &bye);
    assert!(
        out.iter()
            .any(|m| status_of(m) == 200 && hdr(m, "CSeq") == "2 BYE"),
        "{out:?}"
    );
    let agent_bye = w
        .to(ALICE)
        .into_iter()
        .find(|m| method_of(m) == "BYE")
        .expect("BYE to alice");
    assert!(hdr(&agent_bye, "To").ends_with(";tag=a1"));
    assert_eq!(hdr(&agent_bye, "CSeq"), "2 BYE");
    assert!(
        agent_bye.starts_with("BYE sip:phone@198.51.100.1:5061 SIP/2.0"),
        "to the Contact of the 2xx"
    );
    let id = hdr(&w.invite_to(ALICE), "X-Switchboard-Call");
    assert_eq!(w.e.call_phase(&id), Some(Phase::Ended));
    assert!(w
        .e
        .presence()
        .presence(&"alice".parse().expect("id"))
        .last_call_ended
        .is_some());
}

#[test]
fn bye_from_the_agent_hangs_up_the_caller() {
    let mut w = World::bridged();
    let inv = w.invite_to(ALICE);
    let bye = format!(
        "BYE sip:switchboard@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {ALICE};branch=z9hG4bKabye;rport\r\n\
         Max-Forwards: 70\r\nFrom: {};tag=a1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n",
        hdr(&inv, "To"),
        hdr(&inv, "From"),
        hdr(&inv, "Call-ID")
    );
    let out = w.send(ALICE, &bye);
    assert!(out.iter().any(|m| status_of(m) == 200), "{out:?}");
    let caller_bye = w
        .to(CALLER)
        .into_iter()
        .find(|m| method_of(m) == "BYE")
        .expect("BYE to the caller");
    assert!(
        caller_bye.starts_with("BYE sip:caller@192.0.2.7:40000 SIP/2.0"),
        "{caller_bye}"
    );
    assert!(hdr(&caller_bye, "To").ends_with("tag=c1"));
}

#[test]
fn reinvite_passes_through_to_the_other_leg() {
    let mut w = World::bridged();
    let ok = w
        .to(CALLER)
        .into_iter()
        .find(|m| status_of(m) == 200)
        .expect("200");
    let hold = SDP_CALLER.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    let reinvite = format!(
        "INVITE sip:switchboard@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKre1;rport\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: in-call1\r\nCSeq: 2 INVITE\r\n\
         Contact: <sip:caller@{CALLER}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{hold}",
        hdr(&ok, "From"),
        hdr(&ok, "To"),
        hold.len()
    );
    let out = w.send(CALLER, &reinvite);
    assert!(out.iter().any(|m| status_of(m) == 100), "{out:?}");
    let fwd = w.invite_to(ALICE);
    assert_eq!(body(&fwd), hold);
    assert!(hdr(&fwd, "To").ends_with(";tag=a1"), "in alice's dialog");
    assert_eq!(hdr(&fwd, "CSeq"), "2 INVITE");
    let held = SDP_AGENT.replace("t=0 0\r\n", "t=0 0\r\na=recvonly\r\n");
    w.send(ALICE, &reply(&fwd, 200, "a1", ALICE, &held));
    assert_eq!(w.count_to(ALICE, "ACK"), 2, "the first 2xx and this one");
    let answer = w
        .to(CALLER)
        .into_iter()
        .rev()
        .find(|m| status_of(m) == 200)
        .expect("200 to the re-INVITE");
    assert_eq!(hdr(&answer, "CSeq"), "2 INVITE");
    assert_eq!(body(&answer), held);
}

#[test]
fn our_2xx_is_retransmitted_until_the_caller_acks() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    w.answer(ALICE, "a1");
    let oks = |w: &World| w.to(CALLER).iter().filter(|m| status_of(m) == 200).count();
    assert_eq!(oks(&w), 1);
    w.advance(Duration::from_millis(500));
    assert_eq!(oks(&w), 2, "T1");
    w.advance(Duration::from_millis(1000));
    assert_eq!(oks(&w), 3, "2·T1");
    w.caller_ack();
    w.advance(Duration::from_secs(20));
    assert_eq!(oks(&w), 3, "the ACK stops it");
}

#[test]
fn no_ack_for_our_2xx_ends_the_call() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    w.answer(ALICE, "a1");
    w.advance(Duration::from_secs(40));
    // One BYE (retransmitted by its transaction while alice says nothing).
    let byes: std::collections::HashSet<String> = w
        .to(ALICE)
        .iter()
        .filter(|m| method_of(m) == "BYE")
        .map(|m| hdr(m, "Via"))
        .collect();
    assert_eq!(byes.len(), 1, "RFC 3261 §13.3.1.4");
    let id = hdr(&w.invite_to(ALICE), "X-Switchboard-Call");
    assert_eq!(
        w.e.call(&id).and_then(|r| r.end_reason),
        Some(crate::EndReason::Dropped)
    );
}

#[test]
fn session_check_tears_down_a_vanished_leg() {
    let mut w = World::bridged();
    w.e.config.session_expires = Duration::from_secs(60);
    // Any in-dialog request restarts the period; here nothing happens for a minute.
    w.advance(Duration::from_secs(30 * 60 + 1));
    let probe = w
        .to(ALICE)
        .into_iter()
        .find(|m| method_of(m) == "OPTIONS")
        .expect("OPTIONS");
    w.send(ALICE, &reply(&probe, 481, "a1", ALICE, ""));
    assert_eq!(w.distinct_to(ALICE, "BYE"), 1);
    assert_eq!(w.distinct_to(CALLER, "BYE"), 1);
}

#[test]
fn strangers_get_403_and_unknown_numbers_404() {
    let mut w = World::new();
    let out = w.send(
        "203.0.113.5:5060",
        &World::invite_text("+33100000001", "s1").replace(CALLER, "203.0.113.5:5060"),
    );
    assert_eq!(
        out.iter().map(|m| status_of(m)).collect::<Vec<_>>(),
        vec![100, 403]
    );
    let out = w.send(CALLER, &World::invite_text("+33999", "s2"));
    assert_eq!(
        out.iter().map(|m| status_of(m)).collect::<Vec<_>>(),
        vec![100, 404]
    );
    assert_eq!(w.e.stats().calls_refused, 2);
}

#[test]
fn a_registered_user_may_call_from_its_address() {
    let mut w = World::new();
    w.all_registered();
    // Bob calls alice's user id from his phone's address (no trunk covers it).
    let inv = World::invite_text("alice", "u1")
        .replace(CALLER, BOB)
        .replace("<sip:+33611111111@carrier>", "<sip:bob@127.0.0.1>");
    let out = w.send(BOB, &inv);
    assert_eq!(status_of(&out[0]), 100);
    assert_eq!(w.count_to(ALICE, "INVITE"), 1, "{out:?}");
    assert_eq!(hdr(&w.invite_to(ALICE), "X-Switchboard-Line"), "alice");
}

// ---------------------------------------------------------------------------------------------
// Session timers (RFC 4028)

/// The caller's INVITE with `extra` header lines (each ending in CRLF) before its Contact.
fn invite_with(number: &str, extra: &str) -> String {
    World::invite_text(number, "call1").replace(
        &format!("Contact: <sip:caller@{CALLER}>"),
        &format!("{extra}Contact: <sip:caller@{CALLER}>"),
    )
}

impl World {
    /// A bridged call whose caller sent `extra` and whose agent (alice) answered with
    /// `agent_extra` header lines in her 200.
    fn bridged_with(extra: &str, agent_extra: &str) -> World {
        let mut w = World::new();
        w.all_registered();
        w.send(CALLER, &invite_with("+33100000001", extra));
        let inv = w.invite_to(ALICE);
        let ok = reply(&inv, 200, "a1", ALICE, SDP_AGENT).replacen(
            "Content-Type:",
            &format!("{agent_extra}Content-Type:"),
            1,
        );
        w.send(ALICE, &ok);
        w.caller_ack();
        w
    }

    /// The 200 of the caller's INVITE.
    fn caller_ok(&self) -> String {
        self.to(CALLER)
            .into_iter()
            .find(|m| status_of(m) == 200 && hdr(m, "CSeq") == "1 INVITE")
            .expect("200 to the caller")
    }

    /// A request from the caller in its dialog.
    fn caller_request(&mut self, method: &str, cseq: u32, extra: &str) -> Vec<String> {
        let ok = self.caller_ok();
        let req = format!(
            "{method} sip:switchboard@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKin{cseq};rport\r\n\
             Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: in-call1\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:caller@{CALLER}>\r\n{extra}Content-Length: 0\r\n\r\n",
            hdr(&ok, "From"),
            hdr(&ok, "To")
        );
        self.send(CALLER, &req)
    }

    fn call_id(&self) -> String {
        self.to(ALICE)
            .iter()
            .find(|m| method_of(m) == "INVITE")
            .map(|m| hdr(m, "X-Switchboard-Call"))
            .expect("an INVITE to alice")
    }

    /// Requests of `method` sent to `peer`, retransmissions counted once.
    fn distinct_to(&self, peer: &str, method: &str) -> usize {
        self.to(peer)
            .iter()
            .filter(|m| method_of(m) == method)
            .map(|m| hdr(m, "Via"))
            .collect::<std::collections::HashSet<_>>()
            .len()
    }
}

#[test]
fn agent_invites_offer_session_timers_and_let_the_agent_choose_the_refresher() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    for peer in [ALICE, BOB, CAROL] {
        let inv = w.invite_to(peer);
        assert_eq!(hdr(&inv, "Supported"), "timer", "{inv}");
        assert_eq!(hdr(&inv, "Session-Expires"), "1800", "no refresher: §7.1");
        assert_eq!(hdr(&inv, "Min-SE"), "90");
    }
}

#[test]
fn a_caller_with_timers_is_answered_with_its_interval_and_refresher_uac() {
    let w = World::bridged_with("Supported: timer\r\nSession-Expires: 600\r\n", "");
    let ok = w.caller_ok();
    assert_eq!(hdr(&ok, "Session-Expires"), "600;refresher=uac", "{ok}");
    assert_eq!(hdr(&ok, "Require"), "timer");
    // `Require: timer` from a caller is accepted (no 420), and the refresher it asks for wins.
    let mut w = World::new();
    w.all_registered();
    w.send(
        CALLER,
        &invite_with(
            "+33100000001",
            "Supported: timer\r\nRequire: timer\r\nSession-Expires: 1200;refresher=uas\r\n",
        ),
    );
    w.answer(ALICE, "a1");
    let ok = w.caller_ok();
    assert_eq!(hdr(&ok, "Session-Expires"), "1200;refresher=uas", "{ok}");
    // A caller without timer support gets no Session-Expires.
    let w = World::bridged();
    assert_eq!(hdr(&w.caller_ok(), "Session-Expires"), "");
    assert_eq!(hdr(&w.caller_ok(), "Require"), "");
}

#[test]
fn too_small_a_session_interval_gets_422_with_min_se_before_routing() {
    let mut w = World::new();
    w.all_registered();
    let out = w.send(
        CALLER,
        &invite_with(
            "+33100000001",
            "Supported: timer\r\nSession-Expires: 60\r\n",
        ),
    );
    assert_eq!(
        out.iter().map(|m| status_of(m)).collect::<Vec<_>>(),
        vec![100, 422],
        "{out:?}"
    );
    assert_eq!(hdr(&out[1], "Min-SE"), "90");
    assert!(out[1].starts_with("SIP/2.0 422 Session Interval Too Small"));
    assert_eq!(w.count_to(ALICE, "INVITE"), 0, "never routed");
    assert_eq!(w.e.stats().calls_refused, 1);
}

#[test]
fn we_refresh_the_agent_leg_at_half_the_interval_and_the_call_survives() {
    let mut w = World::bridged_with(
        "",
        "Session-Expires: 600;refresher=uac\r\nRequire: timer\r\n",
    );
    w.advance(Duration::from_secs(299));
    assert_eq!(w.count_to(ALICE, "INVITE"), 1, "nothing before N/2");
    for round in 1..=3 {
        // Due at 300 s, then every 300 s after each answered refresh.
        let wait = if round == 1 { 1 } else { 300 };
        w.advance(Duration::from_secs(wait));
        assert_eq!(
            w.count_to(ALICE, "INVITE"),
            1 + round as usize,
            "refresh {round}"
        );
        let refresh = w.invite_to(ALICE);
        assert!(
            hdr(&refresh, "To").ends_with(";tag=a1"),
            "in alice's dialog"
        );
        assert_eq!(hdr(&refresh, "Session-Expires"), "600;refresher=uac");
        assert_eq!(body(&refresh), SDP_CALLER, "the SDP we last sent her");
        w.send(
            ALICE,
            &reply(&refresh, 200, "a1", ALICE, SDP_AGENT).replacen(
                "Content-Type:",
                "Session-Expires: 600;refresher=uac\r\nContent-Type:",
                1,
            ),
        );
        let ack = w.to(ALICE).pop().expect("ACK");
        assert_eq!(method_of(&ack), "ACK");
        assert_eq!(
            hdr(&ack, "CSeq"),
            hdr(&refresh, "CSeq").replace("INVITE", "ACK")
        );
    }
    assert_eq!(w.count_to(CALLER, "INVITE"), 0, "a refresh is not relayed");
    assert_eq!(w.distinct_to(ALICE, "BYE"), 0);
    assert!(matches!(
        w.e.call_phase(&w.call_id()),
        Some(Phase::Bridged(_))
    ));
}

#[test]
fn a_refresh_answered_481_ends_the_call() {
    let mut w = World::bridged_with("", "Session-Expires: 600;refresher=uac\r\n");
    w.advance(Duration::from_secs(300));
    let refresh = w.invite_to(ALICE);
    w.send(ALICE, &reply(&refresh, 481, "a1", ALICE, ""));
    assert_eq!(w.distinct_to(ALICE, "BYE"), 1);
    assert_eq!(w.distinct_to(CALLER, "BYE"), 1);
    assert_eq!(
        w.e.call(&w.call_id()).and_then(|r| r.end_reason),
        Some(crate::EndReason::Dropped)
    );
}

#[test]
fn a_caller_that_stops_refreshing_is_hung_up_on_both_legs() {
    // N = 120 s: the caller refreshes; expiry at N - min(32, N/3) = 88 s after the last one.
    let mut w = World::bridged_with("Supported: timer\r\nSession-Expires: 120\r\n", "");
    w.advance(Duration::from_secs(60));
    // A body-less UPDATE refreshes: answered here, not relayed.
    let out = w.caller_request("UPDATE", 2, "Session-Expires: 120;refresher=uac\r\n");
    let ok = out
        .iter()
        .find(|m| status_of(m) == 200)
        .expect("200 to UPDATE");
    assert_eq!(hdr(ok, "CSeq"), "2 UPDATE");
    assert_eq!(hdr(ok, "Session-Expires"), "120;refresher=uac");
    assert_eq!(w.count_to(ALICE, "UPDATE"), 0);
    w.advance(Duration::from_secs(87));
    assert_eq!(
        w.distinct_to(CALLER, "BYE") + w.distinct_to(ALICE, "BYE"),
        0
    );
    w.advance(Duration::from_secs(2));
    assert_eq!(w.distinct_to(CALLER, "BYE"), 1, "RFC 4028 §10");
    assert_eq!(w.distinct_to(ALICE, "BYE"), 1);
    assert_eq!(
        w.e.call(&w.call_id()).and_then(|r| r.end_reason),
        Some(crate::EndReason::Dropped)
    );
}

#[test]
fn a_caller_re_invite_refreshes_its_leg_and_is_still_relayed() {
    let mut w = World::bridged_with("Supported: timer\r\nSession-Expires: 120\r\n", "");
    w.advance(Duration::from_secs(80));
    w.caller_request("INVITE", 2, "Session-Expires: 120;refresher=uac\r\n");
    let fwd = w.invite_to(ALICE);
    assert_eq!(hdr(&fwd, "CSeq"), "2 INVITE", "relayed as before");
    w.send(ALICE, &reply(&fwd, 200, "a1", ALICE, SDP_AGENT));
    let ok = w
        .to(CALLER)
        .into_iter()
        .rev()
        .find(|m| status_of(m) == 200)
        .expect("200 to the re-INVITE");
    assert_eq!(hdr(&ok, "CSeq"), "2 INVITE");
    assert_eq!(hdr(&ok, "Session-Expires"), "120;refresher=uac");
    assert_eq!(hdr(&ok, "Require"), "timer");
    let ack = format!(
        "ACK sip:switchboard@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKack2;rport\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: in-call1\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n",
        hdr(&ok, "From"),
        hdr(&ok, "To")
    );
    w.send(CALLER, &ack);
    // 80 s + 87 s: still within 88 s of the refresh.
    w.advance(Duration::from_secs(87));
    assert_eq!(w.distinct_to(CALLER, "BYE"), 0);
    w.advance(Duration::from_secs(2));
    assert_eq!(w.distinct_to(CALLER, "BYE"), 1);
}

#[test]
fn a_leg_without_timers_is_probed_while_the_other_is_refreshed_by_us() {
    let mut w = World::new();
    w.e.config.session_expires = Duration::from_secs(120);
    w.all_registered();
    // The caller wants us to refresh (refresher=uas); alice's 200 has no Session-Expires.
    w.send(
        CALLER,
        &invite_with(
            "+33100000001",
            "Supported: timer\r\nSession-Expires: 90;refresher=uas\r\n",
        ),
    );
    w.answer(ALICE, "a1");
    w.caller_ack();
    assert_eq!(hdr(&w.caller_ok(), "Session-Expires"), "90;refresher=uas");
    w.advance(Duration::from_secs(45));
    let refresh = w
        .to(CALLER)
        .into_iter()
        .find(|m| method_of(m) == "INVITE")
        .expect("refresh to the caller at N/2");
    assert_eq!(hdr(&refresh, "Session-Expires"), "90;refresher=uac");
    assert_eq!(body(&refresh), SDP_AGENT, "the SDP we last sent the caller");
    w.send(CALLER, &reply(&refresh, 200, "c1", CALLER, SDP_CALLER));
    w.advance(Duration::from_secs(75));
    assert_eq!(
        w.count_to(ALICE, "OPTIONS"),
        1,
        "alice has no timer: probed"
    );
    assert_eq!(w.count_to(CALLER, "OPTIONS"), 0, "the caller has one");
    assert_eq!(
        w.distinct_to(CALLER, "INVITE"),
        2,
        "refreshed again at 90 s"
    );
    assert!(matches!(
        w.e.call_phase(&w.call_id()),
        Some(Phase::Bridged(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Anchored media: what the engine tells the relay, and the SDP each leg sees.

/// Records what the engine asks of the relay; hands out ports 20000, 20002, ...
#[derive(Clone, Default)]
struct RecordingMedia {
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    next_port: std::sync::Arc<std::sync::atomic::AtomicU16>,
    refuse: bool,
}

impl RecordingMedia {
    fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
    fn push(&self, s: String) {
        self.log.lock().expect("log").push(s);
    }
}

impl crate::MediaControl for RecordingMedia {
    fn open(&mut self, _call: &str) -> Result<crate::MediaPorts, crate::MediaUnavailable> {
        if self.refuse {
            return Err(crate::MediaUnavailable("no free ports".into()));
        }
        let n = self
            .next_port
            .fetch_add(4, std::sync::atomic::Ordering::Relaxed);
        self.push("open".into());
        Ok(crate::MediaPorts {
            ip: "10.0.0.1".parse().expect("ip"),
            caller_port: 20000 + n,
            agent_port: 20002 + n,
        })
    }
    fn update(&mut self, _call: &str, side: crate::Side, remote: crate::RemoteMedia) {
        let codec = remote
            .codec
            .map(|c| String::from_utf8_lossy(&c.name).into_owned())
            .unwrap_or_default();
        let addr = remote.addr.map(|a| a.to_string()).unwrap_or_default();
        self.push(format!("update {side:?} {addr} {codec}"));
    }
    fn set_paused(&mut self, _call: &str, paused: bool) {
        self.push(format!("paused {paused}"));
    }
    fn play(&mut self, _call: &str, side: crate::Side, prompt: &str, looped: bool) {
        self.push(format!("play {side:?} {prompt} {looped}"));
    }
    fn stop_playback(&mut self, _call: &str, side: crate::Side) {
        self.push(format!("stop {side:?}"));
    }
    fn send_dtmf(&mut self, _call: &str, side: crate::Side, digits: &str) {
        self.push(format!("dtmf {side:?} {digits}"));
    }
    fn record(
        &mut self,
        _call: &str,
        side: crate::Side,
        path: &std::path::Path,
        max: std::time::Duration,
    ) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        self.push(format!(
            "record {side:?} {} {}s",
            name.unwrap_or_default(),
            max.as_secs()
        ));
    }
    fn close(&mut self, _call: &str) {
        self.push("close".into());
    }
}

impl World {
    fn anchored() -> (World, RecordingMedia) {
        let mut w = World::new();
        let media = RecordingMedia::default();
        w.e.set_media(Box::new(media.clone()));
        (w, media)
    }
}

#[test]
fn anchored_call_offers_our_address_to_agents_and_answers_the_caller_with_ours() {
    let (mut w, media) = World::anchored();
    w.all_registered();
    w.dial("+33100000001");
    let inv = w.invite_to(ALICE);
    let offer = body(&inv);
    assert!(offer.contains("c=IN IP4 10.0.0.1\r\n"), "{offer}");
    assert!(offer.contains("m=audio 20002 RTP/AVP 8 "), "{offer}");
    assert!(
        !offer.contains("192.0.2.7"),
        "the caller's address is hidden: {offer}"
    );
    // The same offer to every branch.
    assert_eq!(body(&w.invite_to(BOB)), offer);
    w.answer(ALICE, "a1");
    w.caller_ack();
    let ok = w
        .to(CALLER)
        .into_iter()
        .find(|m| status_of(m) == 200)
        .expect("200 to the caller");
    let answer = body(&ok);
    assert!(answer.contains("c=IN IP4 10.0.0.1\r\n"), "{answer}");
    assert!(answer.contains("m=audio 20000 RTP/AVP 8\r\n"), "{answer}");
    assert_eq!(
        media.log(),
        [
            "open",
            "paused true",
            "update Caller 192.0.2.7:4000 PCMA",
            "update Caller 192.0.2.7:4000 PCMA",
            "update Agent 198.51.100.1:5000 PCMA",
            "paused false",
        ]
    );
    // The caller hangs up: the relay closes once.
    let bye = format!(
        "BYE sip:switchboard@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKbye1;rport\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: in-call1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        hdr(&ok, "From"),
        hdr(&ok, "To")
    );
    w.send(CALLER, &bye);
    w.advance(Duration::from_secs(40));
    assert_eq!(media.log().iter().filter(|l| *l == "close").count(), 1);
}

#[test]
fn an_offer_without_a_common_codec_gets_488_and_no_ports() {
    let (mut w, media) = World::anchored();
    w.all_registered();
    let g729 = "v=0\r\no=c 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n";
    let inv = World::invite_text("+33100000001", "g729")
        .replace(SDP_CALLER, g729)
        .replace(
            &format!("Content-Length: {}", SDP_CALLER.len()),
            &format!("Content-Length: {}", g729.len()),
        );
    w.send(CALLER, &inv);
    assert_eq!(w.caller_statuses(), [100, 488]);
    assert!(media.log().is_empty(), "{:?}", media.log());
    assert_eq!(w.count_to(ALICE, "INVITE"), 0);
}

#[test]
fn no_media_ports_gets_503() {
    let mut w = World::new();
    w.e.set_media(Box::new(RecordingMedia {
        refuse: true,
        ..RecordingMedia::default()
    }));
    w.all_registered();
    w.dial("+33100000001");
    assert_eq!(w.caller_statuses(), [100, 503]);
}

#[test]
fn media_timeout_ends_the_call_with_bye_on_both_legs() {
    let (mut w, media) = World::anchored();
    w.all_registered();
    w.dial("+33100000001");
    w.answer(ALICE, "a1");
    w.caller_ack();
    let id = hdr(&w.invite_to(ALICE), "X-Switchboard-Call");
    let now = w.now;
    w.e.on_media_event(&id, crate::MediaEvent::Timeout, now);
    w.take();
    assert_eq!(w.count_to(ALICE, "BYE"), 1);
    assert_eq!(w.count_to(CALLER, "BYE"), 1);
    assert_eq!(w.e.call_phase(&id), Some(Phase::Ended));
    assert!(media.log().contains(&"close".to_string()));
}

#[test]
fn hold_from_the_agent_reaches_the_caller_as_our_sendonly_offer_and_pauses_the_timeout() {
    let (mut w, media) = World::anchored();
    w.all_registered();
    w.dial("+33100000001");
    w.answer(ALICE, "a1");
    w.caller_ack();
    let inv = w.invite_to(ALICE);
    let hold = SDP_AGENT.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    let reinvite = format!(
        "INVITE sip:switchboard@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {ALICE};branch=z9hG4bKhold1;rport\r\n\
         Max-Forwards: 70\r\nFrom: {};tag=a1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 INVITE\r\n\
         Contact: <sip:phone@{ALICE}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{hold}",
        hdr(&inv, "To"),
        hdr(&inv, "From"),
        hdr(&inv, "Call-ID"),
        hold.len()
    );
    w.send(ALICE, &reinvite);
    let to_caller = w
        .to(CALLER)
        .into_iter()
        .rev()
        .find(|m| method_of(m) == "INVITE")
        .expect("re-INVITE to the caller");
    let offer = body(&to_caller);
    assert!(offer.contains("m=audio 20000 RTP/AVP 8\r\n"), "{offer}");
    assert!(offer.contains("a=sendonly\r\n"), "{offer}");
    assert!(
        offer.contains("o=switchboard ") && offer.contains(" 2 IN IP4"),
        "version bumped: {offer}"
    );
    assert_eq!(media.log().last().map(String::as_str), Some("paused true"));
    let held = SDP_CALLER.replace("t=0 0\r\n", "t=0 0\r\na=recvonly\r\n");
    w.send(CALLER, &reply(&to_caller, 200, "c1", CALLER, &held));
    let answer = w
        .to(ALICE)
        .into_iter()
        .rev()
        .find(|m| status_of(m) == 200)
        .expect("200 to alice's re-INVITE");
    let answer = body(&answer);
    assert!(answer.contains("m=audio 20002 RTP/AVP 8\r\n"), "{answer}");
    assert!(answer.contains("a=recvonly\r\n"), "{answer}");
}

// ---------------------------------------------------------------------------------------------
// IVR: we answer, play the menu, take the key (RFC 4733 event or SIP INFO), ring with the branch.

fn ivr_world() -> (World, RecordingMedia, String) {
    let prompt = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/prompts/main.wav")
        .canonicalize()
        .expect("example prompt");
    let prompt = prompt.to_string_lossy().into_owned();
    let config = format!(
        "{CONFIG}\n[[numbers]]\nnumber = \"+33100000009\"\nsteps = [\"ivr:main\", \"user:bob\"]\nfallback = \"hangup\"\n\n\
         [ivr.main]\nprompt = \"{prompt}\"\ntimeout = \"3s\"\nretries = 1\nno_input = \"user:carol\"\n\
         [ivr.main.options]\n\"1\" = {{ label = \"Sales\", route = \"user:alice\" }}\n"
    );
    let loaded = config::parse_str(&config, Path::new("calls.toml")).expect("valid config");
    let mut w = World::new();
    w.e = Engine::from_config(&loaded.config, [3; 32], 11).expect("engine");
    let media = RecordingMedia::default();
    w.e.set_media(Box::new(media.clone()));
    w.all_registered();
    w.dial("+33100000009");
    (w, media, prompt)
}

impl World {
    fn call_id_of_log(&self) -> String {
        // The only call: its id is in the X-Switchboard-Call of any agent INVITE, or the
        // engine's call list.
        self.e
            .calls()
            .next()
            .map(|r| r.id.to_string())
            .expect("a call")
    }
}

#[test]
fn ivr_answers_plays_the_menu_and_a_key_rings_with_the_branch() {
    let (mut w, media, prompt) = ivr_world();
    assert_eq!(w.caller_statuses(), [100, 200], "the IVR answers at once");
    let ok = w.caller_ok();
    assert!(body(&ok).contains("m=audio 20000 RTP/AVP 8"), "{ok}");
    w.caller_ack();
    assert_eq!(
        w.count_to(ALICE, "INVITE"),
        0,
        "nobody rings during the menu"
    );
    assert!(
        media.log().contains(&format!("play Caller {prompt} false")),
        "{:?}",
        media.log()
    );
    let id = w.call_id_of_log();
    let now = w.now;
    w.e.on_media_event(
        &id,
        crate::MediaEvent::PlaybackDone {
            side: crate::Side::Caller,
        },
        now,
    );
    w.advance(Duration::from_millis(500));
    w.e.on_media_event(
        &id,
        crate::MediaEvent::Dtmf {
            side: crate::Side::Caller,
            digit: '1',
        },
        w.now,
    );
    w.take();
    let inv = w.invite_to(ALICE);
    assert_eq!(hdr(&inv, "X-Switchboard-IVR-Branch"), "Sales");
    assert_eq!(hdr(&inv, "X-Switchboard-IVR-Path"), "main:1");
    assert!(body(&inv).contains("m=audio 20002 RTP/AVP 8"), "{inv}");
    w.answer(ALICE, "a1");
    assert_eq!(
        w.caller_statuses().iter().filter(|s| **s == 200).count(),
        1,
        "the caller is not answered twice"
    );
    assert!(matches!(w.e.call_phase(&id), Some(Phase::Bridged(_))));
    let log = media.log();
    assert!(
        log.contains(&"update Agent 198.51.100.1:5000 PCMA".to_string()),
        "{log:?}"
    );
    assert!(
        log.ends_with(&["paused false".to_string(), "stop Caller".to_string()]),
        "{log:?}"
    );
}

#[test]
fn a_key_sent_by_sip_info_works_like_rfc_4733() {
    let (mut w, _media, _) = ivr_world();
    w.caller_ack();
    let ok = w.caller_ok();
    let info_body = "Signal=1\r\nDuration=160\r\n";
    let info = format!(
        "INFO sip:switchboard@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKinfo1;rport\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: in-call1\r\nCSeq: 2 INFO\r\n\
         Content-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{info_body}",
        hdr(&ok, "From"),
        hdr(&ok, "To"),
        info_body.len()
    );
    let out = w.send(CALLER, &info);
    assert!(
        out.iter()
            .any(|m| status_of(m) == 200 && hdr(m, "CSeq") == "2 INFO"),
        "{out:?}"
    );
    let inv = w.invite_to(ALICE);
    assert_eq!(hdr(&inv, "X-Switchboard-IVR-Branch"), "Sales");
}

#[test]
fn no_key_takes_the_no_input_route_without_a_branch() {
    let (mut w, _media, _) = ivr_world();
    w.caller_ack();
    let id = w.call_id_of_log();
    for _ in 0..2 {
        let now = w.now;
        w.e.on_media_event(
            &id,
            crate::MediaEvent::PlaybackDone {
                side: crate::Side::Caller,
            },
            now,
        );
        w.take();
        w.advance(Duration::from_secs(4));
    }
    let inv = w.invite_to(CAROL);
    assert_eq!(hdr(&inv, "X-Switchboard-IVR-Branch"), "");
    assert_eq!(hdr(&inv, "X-Switchboard-IVR-Path"), "");
}

#[test]
fn caller_hanging_up_in_the_ivr_ends_the_call_and_frees_the_media() {
    let (mut w, media, _) = ivr_world();
    w.caller_ack();
    let id = w.call_id_of_log();
    let out = w.caller_request("BYE", 2, "");
    assert!(out.iter().any(|m| status_of(m) == 200), "{out:?}");
    assert!(matches!(w.e.call_phase(&id), None | Some(Phase::Ended)));
    assert_eq!(
        w.e.call(&id).and_then(|r| r.end_reason),
        Some(crate::EndReason::CallerHungUp)
    );
    assert!(media.log().contains(&"close".to_string()));
    assert_eq!(w.count_to(ALICE, "INVITE"), 0);
}

// ---------------------------------------------------------------------------------------------
// Notices and API actions

#[test]
fn notices_carry_the_popup_data_from_creation_to_the_end() {
    let mut w = World::new();
    w.e.enable_notices();
    w.all_registered();
    w.dial("+33100000001");
    w.answer(BOB, "b1");
    w.caller_ack();
    let notices: Vec<crate::Notice> = std::iter::from_fn(|| w.e.poll_notice()).collect();
    let names: Vec<&str> = notices.iter().map(|n| n.event.name()).collect();
    assert_eq!(
        names,
        [
            "call.created",
            "call.ringing",
            "call.ringing",
            "call.ringing",
            "call.answered"
        ]
    );
    let first = &notices[0].call;
    assert_eq!(first.line, "+33100000001");
    assert_eq!(first.caller_number, "+33611111111");
    assert_eq!(first.caller_name.as_deref(), Some("Client"));
    assert_eq!(first.state, "ringing");
    let answered = &notices[4];
    assert_eq!(answered.event.agent().map(|u| u.as_str()), Some("bob"));
    let states: Vec<(&str, &str)> = answered
        .call
        .agents
        .iter()
        .map(|(u, s)| (u.as_str(), s.as_str()))
        .collect();
    assert!(states.contains(&("bob", "answered")), "{states:?}");
}

#[test]
fn decline_from_the_api_cancels_that_agent_only() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    for (peer, tag) in [(ALICE, "a1"), (BOB, "b1"), (CAROL, "c1")] {
        w.ring(peer, tag);
    }
    let id = hdr(&w.invite_to(ALICE), "X-Switchboard-Call");
    let now = w.now;
    w.e.decline(&id, "alice", now).expect("decline");
    w.take();
    assert_eq!(w.count_to(ALICE, "CANCEL"), 1);
    assert_eq!(w.count_to(BOB, "CANCEL"), 0);
    assert_eq!(
        w.e.decline("nope", "alice", now),
        Err(crate::ActionError::UnknownCall)
    );
}

#[test]
fn hangup_from_the_api_while_ringing_gives_the_caller_480() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    w.ring(ALICE, "a1");
    let id = hdr(&w.invite_to(ALICE), "X-Switchboard-Call");
    let now = w.now;
    w.e.hangup(&id, now).expect("hangup");
    w.take();
    assert_eq!(w.caller_statuses().last(), Some(&480));
    assert_eq!(w.count_to(ALICE, "CANCEL"), 1);
    assert_eq!(w.e.hangup(&id, now), Err(crate::ActionError::Ended));
}

#[test]
fn hold_from_the_api_reinvites_the_caller_sendonly_with_music() {
    let (mut w, media) = World::anchored();
    w.all_registered();
    w.dial("+33100000001");
    w.answer(ALICE, "a1");
    w.caller_ack();
    let id = hdr(&w.invite_to(ALICE), "X-Switchboard-Call");
    let now = w.now;
    w.e.hold(&id, true, now).expect("hold");
    w.take();
    let reinvite = w
        .to(CALLER)
        .into_iter()
        .rev()
        .find(|m| method_of(m) == "INVITE")
        .expect("re-INVITE to the caller");
    assert!(body(&reinvite).contains("a=sendonly"), "{reinvite}");
    assert!(media
        .log()
        .contains(&"play Caller builtin:hold true".to_string()));
    w.send(CALLER, &reply(&reinvite, 200, "c1", CALLER, SDP_CALLER));
    let now = w.now;
    w.e.hold(&id, false, now).expect("unhold");
    w.take();
    assert!(media.log().contains(&"stop Caller".to_string()));
    assert_eq!(
        w.e.send_dtmf(&id, "12x", now),
        Err(crate::ActionError::BadInput("digits are 0-9, *, # and A-D"))
    );
    w.e.send_dtmf(&id, "12#", now).expect("dtmf");
    assert!(media.log().contains(&"dtmf Caller 12#".to_string()));
}

#[test]
fn blind_transfer_from_the_api_hangs_up_the_agent_and_rings_the_target_under_the_same_call() {
    let (mut w, media) = World::anchored();
    w.all_registered();
    w.dial("+33100000002");
    w.answer(ALICE, "a1");
    w.caller_ack();
    let id = hdr(&w.invite_to(ALICE), "X-Switchboard-Call");
    let now = w.now;
    w.e.transfer(&id, crate::TransferTarget::User("carol".into()), now)
        .expect("transfer");
    w.take();
    assert_eq!(
        w.count_to(ALICE, "BYE"),
        1,
        "the transferring agent is hung up"
    );
    let inv = w.invite_to(CAROL);
    assert_eq!(hdr(&inv, "X-Switchboard-Call"), id, "same call");
    assert!(media
        .log()
        .contains(&"play Caller builtin:hold true".to_string()));
    w.answer(CAROL, "c9");
    assert_eq!(
        w.caller_statuses().iter().filter(|s| **s == 200).count(),
        1,
        "the caller is not answered again"
    );
    assert!(matches!(w.e.call_phase(&id), Some(Phase::Bridged(_))));
    assert_eq!(
        w.e.call(&id)
            .and_then(|r| r.answered_by.clone())
            .map(|u| u.to_string()),
        Some("carol".to_string())
    );
    assert!(media.log().contains(&"stop Caller".to_string()));
    assert_eq!(
        w.e.transfer(&id, crate::TransferTarget::Line("+999".into()), now),
        Err(crate::ActionError::BadInput(
            "transfers go to users, teams and our own lines"
        ))
    );
}

#[test]
fn refer_from_the_agents_phone_is_a_blind_transfer() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000002");
    w.answer(ALICE, "a1");
    w.caller_ack();
    let inv = w.invite_to(ALICE);
    let refer = format!(
        "REFER sip:switchboard@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {ALICE};branch=z9hG4bKrefer1;rport\r\n\
         Max-Forwards: 70\r\nFrom: {};tag=a1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 REFER\r\n\
         Contact: <sip:phone@{ALICE}>\r\nRefer-To: <sip:bob@127.0.0.1>\r\nContent-Length: 0\r\n\r\n",
        hdr(&inv, "To"),
        hdr(&inv, "From"),
        hdr(&inv, "Call-ID"),
    );
    let out = w.send(ALICE, &refer);
    assert!(out.iter().any(|m| status_of(m) == 202), "{out:?}");
    let notify = w
        .to(ALICE)
        .into_iter()
        .find(|m| method_of(m) == "NOTIFY")
        .expect("NOTIFY");
    assert_eq!(hdr(&notify, "Event"), "refer");
    assert!(body(&notify).starts_with("SIP/2.0 200"), "{notify}");
    assert_eq!(w.count_to(ALICE, "BYE"), 1);
    assert_eq!(w.count_to(BOB, "INVITE"), 1);
}

#[test]
fn an_agents_message_to_a_customer_goes_out_through_the_trunk_from_their_line() {
    let config = CONFIG.replace(
        "from = [\"192.0.2.0/24\"]",
        "from = [\"192.0.2.0/24\"]\nsend_to = \"192.0.2.99:5060\"",
    );
    let loaded = config::parse_str(&config, Path::new("calls.toml")).expect("valid config");
    let mut w = World::new();
    w.e = Engine::from_config(&loaded.config, [3; 32], 11).expect("engine");
    w.e.enable_notices();
    w.all_registered();
    let text_body = "Your order ships today";
    let msg = format!(
        "MESSAGE sip:+33655555555@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {ALICE};branch=z9hG4bKmsg1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=m1\r\nTo: <sip:+33655555555@127.0.0.1>\r\n\
         Call-ID: msg-1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text_body}",
        text_body.len()
    );
    let out = w.send(ALICE, &msg);
    assert!(out.iter().any(|m| status_of(m) == 202), "{out:?}");
    let sent = w
        .to("192.0.2.99:5060")
        .into_iter()
        .find(|m| method_of(m) == "MESSAGE")
        .expect("MESSAGE to the carrier");
    assert!(
        sent.starts_with("MESSAGE sip:+33655555555@192.0.2.99:5060 "),
        "{sent}"
    );
    assert!(hdr(&sent, "From").contains("+33100000001"), "{sent}");
    assert_eq!(body(&sent), text_body);
    let notice = w.e.poll_message().expect("a message notice");
    assert_eq!(notice.direction, crate::MessageDirection::Outbound);
    assert_eq!(notice.author.as_deref(), Some("alice"));
    // A stranger may not use the trunk.
    let stranger = msg
        .replace(ALICE, "203.0.113.5:5060")
        .replace("z9hG4bKmsg1", "z9hG4bKmsg2")
        .replace("msg-1", "msg-2");
    let out = w.send("203.0.113.5:5060", &stranger);
    assert!(out.iter().any(|m| status_of(m) == 404), "{out:?}");
}

#[test]
fn voicemail_answers_plays_the_greeting_then_records_until_done() {
    let greeting = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/prompts/main.wav")
        .canonicalize()
        .expect("example prompt");
    let config = format!(
        "{CONFIG}\n[[numbers]]\nnumber = \"+33100000008\"\nsteps = [\"user:alice\"]\nfallback = \"voicemail\"\n\n\
         [voicemail]\ngreeting = \"{}\"\nmax_length = \"30s\"\ndir = \"/tmp/vm\"\n",
        greeting.display()
    );
    let loaded = config::parse_str(&config, Path::new("calls.toml")).expect("valid config");
    let mut w = World::new();
    w.e = Engine::from_config(&loaded.config, [3; 32], 11).expect("engine");
    w.e.enable_notices();
    let media = RecordingMedia::default();
    w.e.set_media(Box::new(media.clone()));
    w.all_registered();
    w.dial("+33100000008");
    w.ring(ALICE, "a1");
    w.advance(Duration::from_secs(3));
    let mut statuses = w.caller_statuses();
    statuses.dedup(); // our 200 is retransmitted until the ACK
    assert_eq!(
        statuses,
        [100, 180, 200],
        "nobody answered: voicemail answers"
    );
    w.caller_ack();
    let id = w.call_id_of_log();
    assert!(
        media
            .log()
            .contains(&format!("play Caller {} false", greeting.display())),
        "{:?}",
        media.log()
    );
    let now = w.now;
    w.e.on_media_event(
        &id,
        crate::MediaEvent::PlaybackDone {
            side: crate::Side::Caller,
        },
        now,
    );
    let log = media.log();
    assert!(
        log.contains(&"play Caller builtin:beep false".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&format!("record Caller {id}.wav 30s")),
        "{log:?}"
    );
    w.e.on_media_event(
        &id,
        crate::MediaEvent::RecordingDone {
            side: crate::Side::Caller,
            duration_ms: 30_000,
        },
        now,
    );
    w.take();
    assert_eq!(w.count_to(CALLER, "BYE"), 1, "hung up after the message");
    let ended = std::iter::from_fn(|| w.e.poll_notice())
        .find(|n| n.event == crate::CallNotice::Ended)
        .expect("call.ended");
    assert_eq!(
        ended.call.voicemail.as_deref(),
        Some(format!("/tmp/vm/{id}.wav").as_str())
    );
}

#[test]
fn accept_from_the_api_asks_the_ringing_phones_to_answer_with_notify_talk() {
    let mut w = World::new();
    w.all_registered();
    w.dial("+33100000001");
    w.ring(ALICE, "a1");
    let id = hdr(&w.invite_to(ALICE), "X-Switchboard-Call");
    let now = w.now;
    w.e.accept(&id, "alice", now).expect("accept");
    w.take();
    let notify = w
        .to(ALICE)
        .into_iter()
        .find(|m| method_of(m) == "NOTIFY")
        .expect("NOTIFY to alice's phone");
    assert!(
        notify.starts_with("NOTIFY sip:alice@198.51.100.1:5061 "),
        "{notify}"
    );
    assert_eq!(hdr(&notify, "Event"), "talk");
    assert_eq!(
        w.count_to(BOB, "NOTIFY"),
        0,
        "only the accepting agent's phones"
    );
    assert_eq!(
        w.e.accept(&id, "nobody", now),
        Err(crate::ActionError::WrongState(
            "that agent's phones are not ringing"
        ))
    );
}
