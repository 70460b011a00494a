//! End-to-end: IVR menus through the running daemon. The IVR answers, plays the real spoken
//! prompt from config/prompts, takes keys by SIP INFO (sipp as the caller) and by RFC 4733
//! telephone-events (our own phone), and rings the agent with the branch headers, which the
//! agent's scenario checks.

mod common;

use std::time::{Duration, Instant};

use common::phone::*;
use common::*;

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:{port}"]
domain = "127.0.0.1"

[media]
ip = "127.0.0.1"
rtp_ports = "{rtp_low}-{rtp_high}"

[[trunks]]
name = "carrier"
from = ["127.0.0.1/32"]

[[users]]
id = "a1"
password = "pw1"
ring_timeout = "10s"

[[users]]
id = "a2"
password = "pw2"
ring_timeout = "10s"

[[numbers]]
number = "+33100000009"
steps = ["ivr:main", "user:a1"]
fallback = "hangup"

[ivr.main]
prompt = "{prompts}/main.wav"
timeout = "2s"
retries = 0
no_input = "user:a2"
[ivr.main.options]
"1" = { label = "Sales", route = "ivr:sub" }

[ivr.sub]
prompt = "{prompts}/support.wav"
timeout = "2s"
retries = 0
no_input = "user:a2"
[ivr.sub.options]
"2" = { label = "Billing", route = "user:a1" }
"#;

fn daemon() -> Daemon {
    let (low, high) = rtp_range();
    let prompts = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/prompts")
        .canonicalize()
        .expect("example prompts");
    Daemon::start(
        &CONFIG
            .replace("{rtp_low}", &low.to_string())
            .replace("{rtp_high}", &high.to_string())
            .replace("{prompts}", &prompts.to_string_lossy()),
    )
}

#[test]
fn keys_by_sip_info_walk_two_menus_and_the_agent_gets_the_branch() {
    let d = daemon();
    let agent = SippServer::agent(&d, "a1", "pw1", "calls/uas_ivr_branch.xml", 1);
    let out = sipp(
        "calls/uac_ivr_info.xml",
        d.addr(),
        "u1",
        &["-s", "+33100000009"],
    );
    assert_sipp_ok(&out, &d, "caller pressing 1 then 2 by INFO");
    match agent.wait(Duration::from_secs(20)) {
        Some(out) => assert_sipp_ok(&out, &d, "agent checking the branch headers"),
        None => panic!("agent did not finish; log:\n{}", tail(&d.log(), 60)),
    }
    let log = d.log();
    assert!(log.contains("IVR answers the call"), "{}", tail(&log, 40));
    assert!(log.contains("IVR done"), "{}", tail(&log, 40));
}

/// Calls the IVR number as a caller offering `codecs`; returns the phone and the IVR's 200
/// (already ACKed).
fn dial_ivr(d: &Daemon, codecs: &[(u8, &str)]) -> (Phone, String) {
    let mut caller = Phone::new("+33611111111");
    let offer = caller.sdp(caller.rtp_port(), codecs);
    let invite = caller.sip.request_with_body(
        "INVITE",
        &format!("sip:+33100000009@{}", d.addr()),
        &[
            format!("Contact: <sip:caller@{}>", caller.sip.local),
            "Content-Type: application/sdp".into(),
        ],
        &offer,
    );
    caller.sip.send_to(d.addr(), &invite).expect("INVITE");
    let ok = caller
        .next(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no answer; log:\n{}", tail(&d.log(), 40)));
    assert!(ok.starts_with("SIP/2.0 200"), "the IVR answers: {ok}");
    let ack = format!(
        "ACK sip:switchboard@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{};rport\r\nMax-Forwards: 70\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        d.addr(),
        caller.sip.local,
        random_token(),
        header(&ok, "From").unwrap_or_default(),
        header(&ok, "To").unwrap_or_default(),
        header(&ok, "Call-ID").unwrap_or_default(),
    );
    caller.sip.send_to(d.addr(), &ack).expect("ACK");
    (caller, ok)
}

/// RFC 4733 packets for one key: three while pressed (the first with the marker), then the
/// end packet three times, all with the event's start timestamp.
fn telephone_event(key: u8, seq: &mut u16, ts: u32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, duration) in [160u16, 320, 480, 640, 640, 640].into_iter().enumerate() {
        let end = if i >= 3 { 0x80 } else { 0 };
        let payload = [key, end | 10, (duration >> 8) as u8, duration as u8];
        let mut p = rtp_packet(101, *seq, ts, 0x4733, &payload);
        if i == 0 {
            p[1] |= 0x80;
        }
        *seq = seq.wrapping_add(1);
        out.push(p);
    }
    out
}

#[test]
fn the_prompt_plays_and_rfc_4733_keys_route_the_call() {
    let d = daemon();
    let mut agent = Phone::new("a1");
    let (_, registered) = agent.sip.register(d.addr(), "pw1");
    assert_eq!(status_code(&registered), 200, "{registered}");
    let (mut caller, ok) = dial_ivr(&d, &[(8, "PCMA/8000"), (101, "telephone-event/8000")]);
    let ours = sdp_addr(&ok);

    // The menu prompt arrives: PCMA packets from our port, not silence.
    let prompt = drain(&caller.rtp, Duration::from_millis(800));
    assert!(
        prompt.len() >= 20,
        "{} prompt packets; log:\n{}",
        prompt.len(),
        tail(&d.log(), 30)
    );
    assert!(prompt
        .iter()
        .all(|(p, from)| *from == ours && p[1] & 0x7f == 8));
    let loud = prompt
        .iter()
        .filter(|(p, _)| p[12..].iter().any(|&b| b != 0xd5 && b != 0x55))
        .count();
    assert!(loud > 5, "the prompt is speech, not silence");

    // "1" then "2" as telephone-events, barging in.
    let mut seq = 100u16;
    for (i, key) in [1u8, 2].into_iter().enumerate() {
        for p in telephone_event(key, &mut seq, 8000 * (i as u32 + 1)) {
            caller.rtp.send_to(&p, ours).expect("rtp event");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let to_agent = agent
        .next(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no INVITE to the agent; log:\n{}", tail(&d.log(), 40)));
    assert!(to_agent.starts_with("INVITE "), "{to_agent}");
    assert_eq!(
        header(&to_agent, "X-Switchboard-IVR-Branch"),
        Some("Billing")
    );
    assert_eq!(
        header(&to_agent, "X-Switchboard-IVR-Path"),
        Some("main:1;sub:2")
    );

    // The agent answers: the caller (already answered) hears the agent through the relay.
    let answer = agent.sdp(agent.rtp_port(), &[(8, "PCMA/8000")]);
    let reply_ok = reply(
        &to_agent,
        "200 OK",
        "agent1",
        &[
            format!("Contact: <sip:a1@{}>", agent.sip.local),
            "Content-Type: application/sdp".into(),
        ],
        &answer,
    );
    agent.sip.send_to(d.addr(), &reply_ok).expect("200");
    let _ = agent.next(Duration::from_secs(5)).expect("ACK");
    let to_agent_media = sdp_addr(&to_agent);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut heard = 0;
    let mut seq = 1000u16;
    while Instant::now() < deadline && heard == 0 {
        let p = rtp_packet(8, seq, u32::from(seq) * 160, 0x2222, &[0x2a; 160]);
        seq += 1;
        agent.rtp.send_to(&p, to_agent_media).expect("agent rtp");
        heard = drain(&caller.rtp, Duration::from_millis(50))
            .iter()
            .filter(|(p, _)| p[12..] == [0x2a; 160])
            .count();
    }
    assert!(heard > 0, "the agent's audio reaches the caller");
    // No second 200 for the caller's INVITE (only retransmissions of the first, if any).
    while let Some(msg) = caller.sip.recv(Duration::from_millis(100)) {
        if msg.starts_with("SIP/2.0 200") {
            assert_eq!(header(&msg, "To"), header(&ok, "To"), "same dialog");
        }
    }
}

#[test]
fn no_key_takes_the_no_input_route_without_branch_headers() {
    let d = daemon();
    let mut agent = Phone::new("a2");
    let (_, registered) = agent.sip.register(d.addr(), "pw2");
    assert_eq!(status_code(&registered), 200, "{registered}");
    let (_caller, _ok) = dial_ivr(&d, &[(8, "PCMA/8000")]);
    // The main prompt lasts a few seconds, then 2 s without a key.
    let to_agent = agent
        .next(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no INVITE to a2; log:\n{}", tail(&d.log(), 40)));
    assert!(to_agent.starts_with("INVITE "), "{to_agent}");
    assert_eq!(header(&to_agent, "X-Switchboard-IVR-Branch"), None);
    assert_eq!(header(&to_agent, "X-Switchboard-IVR-Path"), None);
}
