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
    // (At least 20 packets; how soon they come depends on the machine's load.)
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut prompt = Vec::new();
    while prompt.len() < 20 && std::time::Instant::now() < deadline {
        prompt.extend(drain(&caller.rtp, Duration::from_millis(200)));
    }
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

#[test]
fn voicemail_records_the_caller_and_the_message_is_in_the_conversation() {
    let (low, high) = rtp_range();
    let config = format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:{{port}}"]
domain = "127.0.0.1"

[media]
ip = "127.0.0.1"
rtp_ports = "{low}-{high}"

[api]
listen = "127.0.0.1:0"
tokens = [ {{ token = "admin-vm", role = "admin" }} ]

[voicemail]
max_length = "2s"

[[trunks]]
name = "carrier"
from = ["127.0.0.1/32"]

[[users]]
id = "a1"
password = "pw1"

[[numbers]]
number = "+33100000007"
steps = ["user:a1"]
fallback = "voicemail"
"#
    );
    let d = Daemon::start(&config);
    let mut caller = Phone::new("+33677777777");
    caller.dial(d.addr(), "+33100000007", &[(8, "PCMA/8000")]);
    let ok = caller
        .next(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no answer; log:\n{}", tail(&d.log(), 40)));
    assert!(ok.starts_with("SIP/2.0 200"), "voicemail answers: {ok}");
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
    // The caller speaks (a 440 Hz tone) for longer than the 2 s limit.
    let ours = sdp_addr(&ok);
    for i in 0..150u32 {
        let pcm: Vec<i16> = (0..160)
            .map(|n| {
                let t = f64::from(i * 160 + n) / 8000.0;
                (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
            })
            .collect();
        let mut alaw = [0u8; 160];
        codec::G711Law::Alaw.encode(&pcm, &mut alaw).expect("alaw");
        let p = rtp_packet(8, i as u16, i * 160, 0x7777, &alaw);
        caller.rtp.send_to(&p, ours).expect("rtp");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The limit ends the call.
    let bye = loop {
        let msg = caller
            .next(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no BYE; log:\n{}", tail(&d.log(), 40)));
        if msg.starts_with("BYE ") {
            break msg;
        }
    };
    caller
        .sip
        .send_to(d.addr(), &reply(&bye, "200 OK", "c1", &[], ""))
        .expect("200 to BYE");

    // The message is on disk, readable, about 2 s of the caller's tone.
    let dir = d.dir.path().join("var/voicemail");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let wav = loop {
        let found = std::fs::read_dir(&dir)
            .ok()
            .and_then(|mut it| it.find_map(|e| e.ok().map(|e| e.path())))
            .filter(|p| p.extension().is_some_and(|x| x == "wav"));
        if let Some(p) = found {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no recording in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let bytes = std::fs::read(&wav).expect("read the recording");
    let parsed = codec::parse_wav(&bytes).expect("a valid WAV");
    let secs = parsed.samples.len() as f64 / f64::from(parsed.sample_rate.hz());
    assert!((1.5..=2.1).contains(&secs), "{secs} s recorded");
    let loud = parsed
        .samples
        .iter()
        .filter(|s| s.unsigned_abs() > 4000)
        .count();
    assert!(
        loud > parsed.samples.len() / 4,
        "the caller's voice is in it"
    );

    // And it is in the caller's conversation.
    let path = "/v1/conversations/+33100000007/+33677777777";
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = common::http::http(d.api_addr(), "GET", path, Some("admin-vm"), None);
        if status == 200 && body.contains("\"outcome\":\"voicemail\"") {
            assert!(body.contains(&*wav.to_string_lossy()), "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
