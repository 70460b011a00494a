//! End-to-end: calls through the running daemon. sipp plays the caller (a trunk on
//! 127.0.0.1) and the agents' phones (UAS scenarios on their own ports, registered first).

mod common;

use std::time::Duration;

use common::*;

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:{port}"]
domain = "127.0.0.1"

[[trunks]]
name = "carrier"
from = ["{trunk}/32"]

[[users]]
id = "a1"
password = "pw1"
ring_timeout = "2s"
[[users]]
id = "a2"
password = "pw2"
ring_timeout = "2s"
[[users]]
id = "a3"
password = "pw3"
ring_timeout = "2s"

[[teams]]
id = "all"
members = ["a1", "a2", "a3"]
strategy = "simultaneous"
ring_timeout = "2s"

[[teams]]
id = "rnd"
members = ["a1", "a2", "a3"]
strategy = "random"
ring_timeout = "1s"

[[teams]]
id = "idle"
members = ["a1", "a2", "a3"]
strategy = "longest_idle"
ring_timeout = "1s"

[[numbers]]
number = "+33100000001"
steps = ["team:all"]
fallback = "hangup"

[[numbers]]
number = "+33100000002"
steps = ["user:a1", "user:a2"]
fallback = "hangup"

[[numbers]]
number = "+33100000003"
steps = ["team:rnd"]
fallback = "hangup"

[[numbers]]
number = "+33100000004"
steps = ["team:idle"]
fallback = "hangup"
"#;

fn daemon() -> Daemon {
    Daemon::start(&CONFIG.replace("{trunk}", "127.0.0.1"))
}

fn call(daemon: &Daemon, scenario: &str, number: &str) {
    let out = sipp(
        &format!("calls/{scenario}"),
        daemon.addr(),
        "u1",
        &["-s", number],
    );
    assert_sipp_ok(&out, daemon, &format!("{scenario} to {number}"));
}

fn assert_agent_ok(agent: SippServer, daemon: &Daemon, what: &str) {
    match agent.wait(Duration::from_secs(20)) {
        Some(out) => assert_sipp_ok(&out, daemon, what),
        None => panic!(
            "{what}: agent did not finish; daemon log:\n{}",
            tail(&daemon.log(), 60)
        ),
    }
}

/// The agent rung first in each call, from the daemon's log, in call order.
fn first_rung(log: &str) -> Vec<String> {
    let mut calls: Vec<(String, String)> = Vec::new();
    for line in log.lines().filter(|l| l.contains("ringing agent")) {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .map(|v| v.trim_matches('"').to_string())
        };
        if let (Some(call), Some(user)) = (field("call"), field("user")) {
            if !calls.iter().any(|(c, _)| *c == call) {
                calls.push((call, user));
            }
        }
    }
    calls.into_iter().map(|(_, u)| u).collect()
}

#[test]
fn ring_all_one_answers_the_others_are_cancelled() {
    let d = daemon();
    let winner = SippServer::agent(&d, "a1", "pw1", "calls/uas_answer.xml", 1);
    let r2 = SippServer::agent(&d, "a2", "pw2", "calls/uas_ring_cancel.xml", 1);
    let r3 = SippServer::agent(&d, "a3", "pw3", "calls/uas_ring_cancel.xml", 1);
    call(&d, "uac_call.xml", "+33100000001");
    assert_agent_ok(winner, &d, "a1 answers");
    assert_agent_ok(r2, &d, "a2 cancelled");
    assert_agent_ok(r3, &d, "a3 cancelled");
}

/// Both agents answer at the same moment (each sends its 200 before reading anything): the
/// caller gets one answer, one agent is bridged (ACK, then BYE when the caller hangs up), the
/// other gets ACK then BYE at once. Our own phones, not sipp: the race must be exact, not
/// left to sipp's scheduling.
#[test]
fn double_answer_one_bridged_the_other_acked_and_byed() {
    use common::phone::Phone;
    let d = daemon();
    let mut agents: Vec<Phone> = ["a1", "a2"]
        .iter()
        .zip(["pw1", "pw2"])
        .map(|(user, pw)| {
            let mut p = Phone::new(user);
            assert_eq!(status_code(&p.sip.register(d.addr(), pw).1), 200);
            p
        })
        .collect();
    let mut caller = Phone::new("+33611111111");
    caller.dial(d.addr(), "+33100000001", &[(8, "PCMA/8000")]);
    let invites: Vec<String> = agents
        .iter_mut()
        .map(|a| {
            a.next(Duration::from_secs(5))
                .expect("INVITE to each agent")
        })
        .collect();
    for (i, (agent, inv)) in agents.iter_mut().zip(&invites).enumerate() {
        let sdp = agent.sdp(agent.rtp_port(), &[(8, "PCMA/8000")]);
        let ok = reply(
            inv,
            "200 OK",
            &format!("ag{i}"),
            &[
                format!("Contact: <sip:agent@{}>", agent.sip.local),
                "Content-Type: application/sdp".into(),
            ],
            &sdp,
        );
        agent.sip.send_to(d.addr(), &ok).expect("200");
    }
    // Each agent: ACK for its 200; the loser then a BYE at once.
    let mut byed = Vec::new();
    for agent in agents.iter_mut() {
        let mut got = Vec::new();
        while let Some(msg) = agent.next(Duration::from_millis(700)) {
            if msg.starts_with("BYE ") {
                agent
                    .sip
                    .send_to(d.addr(), &reply(&msg, "200 OK", "x", &[], ""))
                    .expect("200 to BYE");
            }
            got.push(msg.split(' ').next().unwrap_or("").to_string());
        }
        assert!(got.contains(&"ACK".to_string()), "{got:?}");
        byed.push(got.contains(&"BYE".to_string()));
    }
    assert_eq!(
        byed.iter().filter(|b| **b).count(),
        1,
        "exactly one loser is hung up at once: {byed:?}"
    );
    let mut answers = 0;
    while let Some(msg) = caller.next(Duration::from_millis(300)) {
        if msg.starts_with("SIP/2.0 200") {
            answers += 1;
        }
    }
    assert!(answers >= 1, "the caller is answered");
    assert_eq!(
        d.log().matches(" answered").count(),
        1,
        "exactly one bridged"
    );
}

#[test]
fn decline_then_the_next_step_answers() {
    let d = daemon();
    let decliner = SippServer::agent(&d, "a1", "pw1", "calls/uas_decline.xml", 1);
    let answerer = SippServer::agent(&d, "a2", "pw2", "calls/uas_answer.xml", 1);
    call(&d, "uac_call.xml", "+33100000002");
    assert_agent_ok(decliner, &d, "a1 declines");
    assert_agent_ok(answerer, &d, "a2 answers");
}

#[test]
fn caller_cancel_cancels_the_agents() {
    let d = daemon();
    let r1 = SippServer::agent(&d, "a1", "pw1", "calls/uas_ring_cancel.xml", 1);
    let r2 = SippServer::agent(&d, "a2", "pw2", "calls/uas_ring_cancel.xml", 1);
    call(&d, "uac_cancel.xml", "+33100000001");
    assert_agent_ok(r1, &d, "a1 cancelled");
    assert_agent_ok(r2, &d, "a2 cancelled");
}

#[test]
fn trunk_acl_403_and_unknown_number_404() {
    let d = Daemon::start(&CONFIG.replace("{trunk}", "127.0.0.2"));
    call(&d, "uac_403.xml", "+33100000001");
    let d = daemon();
    call(&d, "uac_404.xml", "+33999999999");
}

#[test]
fn longest_idle_rings_the_agent_idle_longest_first() {
    let d = daemon();
    let agents: Vec<SippServer> = [("a1", "pw1"), ("a2", "pw2"), ("a3", "pw3")]
        .into_iter()
        .map(|(u, p)| SippServer::agent(&d, u, p, "calls/uas_answer.xml", 10))
        .collect();
    for _ in 0..4 {
        call(&d, "uac_call.xml", "+33100000004");
    }
    drop(agents);
    // Never called first (team order), then the one whose last call ended longest ago.
    assert_eq!(first_rung(&d.log()), vec!["a1", "a2", "a3", "a1"]);
}

#[test]
fn random_spreads_the_first_agent() {
    let d = daemon();
    let agents: Vec<SippServer> = [("a1", "pw1"), ("a2", "pw2"), ("a3", "pw3")]
        .into_iter()
        .map(|(u, p)| SippServer::agent(&d, u, p, "calls/uas_answer.xml", 20))
        .collect();
    for _ in 0..10 {
        call(&d, "uac_call.xml", "+33100000003");
    }
    drop(agents);
    let firsts = first_rung(&d.log());
    assert_eq!(firsts.len(), 10, "{firsts:?}");
    let distinct: std::collections::HashSet<&String> = firsts.iter().collect();
    // All ten the same agent has probability 3 / 3^10 under a fair shuffle.
    assert!(distinct.len() > 1, "{firsts:?}");
}

#[test]
fn agent_registered_over_tcp_is_rung_on_its_connection() {
    let config = CONFIG.replace("{trunk}", "127.0.0.1").replace(
        r#"listen = ["udp:127.0.0.1:{port}"]"#,
        r#"listen = ["udp:127.0.0.1:{port}", "tcp:127.0.0.1:{port}"]"#,
    );
    let d = Daemon::start(&config);
    let mut agent = Ua::tcp(d.addr());
    agent.user = "a1".into();
    let (_, registered) = agent.register(d.addr(), "pw1");
    assert_eq!(status_code(&registered), 200, "{registered}");

    let addr = d.addr();
    let caller =
        std::thread::spawn(move || sipp("calls/uac_call.xml", addr, "u1", &["-s", "+33100000002"]));
    let invite = agent
        .recv(Duration::from_secs(10))
        .expect("an INVITE on the agent's TCP connection");
    assert!(invite.starts_with("INVITE sip:a1@"), "{invite}");
    assert!(
        header(&invite, "Via")
            .unwrap_or_default()
            .starts_with("SIP/2.0/TCP"),
        "{invite}"
    );
    assert!(
        header(&invite, "Contact")
            .unwrap_or_default()
            .contains("transport=tcp"),
        "{invite}"
    );
    assert_eq!(
        header(&invite, "X-Switchboard-Line"),
        Some("+33100000002"),
        "{invite}"
    );

    let contact = format!("Contact: <sip:a1@{};transport=tcp>", agent.local);
    let sdp = "v=0\r\no=a1 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";
    let ringing = reply(
        &invite,
        "180 Ringing",
        "agent1",
        std::slice::from_ref(&contact),
        "",
    );
    agent.send_to(addr, &ringing).expect("180");
    let ok = reply(
        &invite,
        "200 OK",
        "agent1",
        &[contact.clone(), "Content-Type: application/sdp".into()],
        sdp,
    );
    agent.send_to(addr, &ok).expect("200");

    // The ACK of our 200, then the caller's hang-up relayed as a BYE, all on the same connection.
    let mut acked = false;
    let mut byed = false;
    for _ in 0..10 {
        let Some(msg) = agent.recv(Duration::from_secs(5)) else {
            break;
        };
        if msg.starts_with("ACK ") {
            acked = true;
        } else if msg.starts_with("BYE ") {
            agent
                .send_to(addr, &reply(&msg, "200 OK", "agent1", &[], ""))
                .expect("200 to BYE");
            byed = true;
            break;
        }
    }
    assert!(
        acked && byed,
        "ACK {acked}, BYE {byed}; daemon log:\n{}",
        tail(&d.log(), 40)
    );
    let out = caller.join().expect("caller thread");
    assert_sipp_ok(&out, &d, "caller through a TCP agent");
}

#[test]
fn tcp_agent_that_went_away_is_dropped_from_the_fork() {
    let config = CONFIG.replace("{trunk}", "127.0.0.1").replace(
        r#"listen = ["udp:127.0.0.1:{port}"]"#,
        r#"listen = ["udp:127.0.0.1:{port}", "tcp:127.0.0.1:{port}"]"#,
    );
    let d = Daemon::start(&config);
    let mut agent = Ua::tcp(d.addr());
    agent.user = "a1".into();
    let (_, registered) = agent.register(d.addr(), "pw1");
    assert_eq!(status_code(&registered), 200, "{registered}");
    drop(agent); // the phone vanished; its binding stays until it expires

    // The daemon cannot reconnect to the phone's old port: the branch fails as a transport
    // error (RFC 3261 §17.1.4), the next step (a2, not registered) is skipped, and the caller
    // gets the fallback's 480 — not a Timer B wait of 32 s.
    let mut caller = Ua::udp();
    let invite = caller.request("INVITE", "sip:+33100000002@127.0.0.1", &[]);
    caller.send_to(d.addr(), &invite).expect("INVITE");
    let mut last = String::new();
    while let Some(msg) = caller.recv(Duration::from_secs(15)) {
        let done = status_code(&msg) >= 200;
        last = msg;
        if done {
            break;
        }
    }
    assert_eq!(
        status_code(&last),
        480,
        "{last}\nlog:\n{}",
        tail(&d.log(), 30)
    );
    assert!(
        d.log().contains("TCP connect failed"),
        "{}",
        tail(&d.log(), 30)
    );
}

#[test]
fn session_timers_are_negotiated_on_both_legs() {
    // `[sip] session_expires` is what we offer agents; the caller keeps its own interval.
    let config = CONFIG.replace("{trunk}", "127.0.0.1").replace(
        "domain = \"127.0.0.1\"\n",
        "domain = \"127.0.0.1\"\nsession_expires = \"10m\"\n",
    );
    let d = Daemon::start(&config);
    let addr = d.addr();
    let mut agent = Ua::udp();
    agent.user = "a1".into();
    let (_, registered) = agent.register(addr, "pw1");
    assert_eq!(status_code(&registered), 200, "{registered}");

    let sdp = "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7002 RTP/AVP 8\r\n";
    let mut caller = Ua::udp();
    let invite = caller.request_with_body(
        "INVITE",
        "sip:+33100000002@127.0.0.1",
        &[
            format!("Contact: <sip:test@{}>", caller.local),
            "Supported: timer".into(),
            "Session-Expires: 300".into(),
            "Content-Type: application/sdp".into(),
        ],
        sdp,
    );
    caller.send_to(addr, &invite).expect("INVITE");

    let offered = agent
        .recv(Duration::from_secs(10))
        .expect("an INVITE to the agent");
    assert!(offered.starts_with("INVITE sip:a1@"), "{offered}");
    assert_eq!(header(&offered, "Supported"), Some("timer"), "{offered}");
    assert_eq!(
        header(&offered, "Session-Expires"),
        Some("600"),
        "{offered}"
    );
    assert_eq!(header(&offered, "Min-SE"), Some("90"), "{offered}");
    let contact = format!("Contact: <sip:a1@{}>", agent.local);
    let ok = reply(
        &offered,
        "200 OK",
        "agent1",
        &[
            contact,
            "Session-Expires: 600;refresher=uas".into(),
            "Require: timer".into(),
            "Content-Type: application/sdp".into(),
        ],
        sdp,
    );
    agent.send_to(addr, &ok).expect("200");

    let mut answer = None;
    while let Some(msg) = caller.recv(Duration::from_secs(10)) {
        if status_code(&msg) >= 200 {
            answer = Some(msg);
            break;
        }
    }
    let answer = answer.unwrap_or_else(|| panic!("no answer; log:\n{}", tail(&d.log(), 30)));
    assert_eq!(status_code(&answer), 200, "{answer}");
    assert_eq!(
        header(&answer, "Session-Expires"),
        Some("300;refresher=uac"),
        "the caller refreshes its leg: {answer}"
    );
    assert_eq!(header(&answer, "Require"), Some("timer"), "{answer}");

    // ACK, then hang up cleanly.
    let in_dialog = |method: &str, cseq: u32| {
        format!(
            "{method} sip:switchboard@{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{};rport\r\n\
             Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n",
            caller.local,
            random_token(),
            header(&answer, "From").unwrap_or_default(),
            header(&answer, "To").unwrap_or_default(),
            header(&answer, "Call-ID").unwrap_or_default(),
        )
    };
    let (ack, bye) = (in_dialog("ACK", 1), in_dialog("BYE", 2));
    caller.send_to(addr, &ack).expect("ACK");
    caller.send_to(addr, &bye).expect("BYE");
    let mut agent_byed = false;
    while let Some(msg) = agent.recv(Duration::from_secs(5)) {
        if msg.starts_with("BYE ") {
            agent
                .send_to(addr, &reply(&msg, "200 OK", "agent1", &[], ""))
                .expect("200 to BYE");
            agent_byed = true;
            break;
        }
    }
    assert!(agent_byed, "log:\n{}", tail(&d.log(), 30));
}
