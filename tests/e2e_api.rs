//! End-to-end: the agents' side through the running daemon. A call walks the IVR (sipp, keys
//! by SIP INFO) while an SSE client checks the events and their popup fields; decline through
//! the API ends that agent's branch; the conversation keeps the call across a restart; a slow
//! CRM never holds up ringing.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::http::*;
use common::phone::*;
use common::*;

const ADMIN: &str = "admin-token-1";
const A1_TOKEN: &str = "a1-token-1";

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:{port}"]
domain = "127.0.0.1"

[media]
ip = "127.0.0.1"
rtp_ports = "{rtp_low}-{rtp_high}"

[api]
listen = "127.0.0.1:0"
tokens = [ { token = "admin-token-1", role = "admin" }, { token = "a1-token-1", user = "a1" } ]

[crm]
{crm}

[[trunks]]
name = "carrier"
from = ["127.0.0.1/32"]
send_to = "127.0.0.1:{carrier}"

[[users]]
id = "a1"
password = "pw1"
ring_timeout = "10s"

[[users]]
id = "a2"
password = "pw2"
ring_timeout = "10s"

[[teams]]
id = "desk"
members = ["a1", "a2"]
strategy = "simultaneous"
ring_timeout = "10s"

[[numbers]]
number = "+33100000009"
name = "Support FR"
steps = ["ivr:main", "user:a1"]
fallback = "hangup"

[[numbers]]
number = "+33100000001"
name = "Desk"
steps = ["team:desk"]
fallback = "hangup"

[ivr.main]
prompt = "{prompts}/main.wav"
timeout = "2s"
retries = 0
no_input = "user:a1"
[ivr.main.options]
"1" = { label = "Sales", route = "ivr:sub" }

[ivr.sub]
prompt = "{prompts}/support.wav"
timeout = "2s"
retries = 0
no_input = "user:a1"
[ivr.sub.options]
"2" = { label = "Billing", route = "user:a1" }

[[contacts]]
number = "+33611111111"
name = "Jeanne Dupont"
company = "ACME"
"#;

fn config(crm: &str) -> String {
    config_with(crm, 9)
}

/// The config with the carrier (where messages to customers go) on `carrier`.
fn config_with(crm: &str, carrier: u16) -> String {
    let (low, high) = rtp_range();
    let prompts = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/prompts")
        .canonicalize()
        .expect("example prompts");
    CONFIG
        .replace("{rtp_low}", &low.to_string())
        .replace("{rtp_high}", &high.to_string())
        .replace("{prompts}", &prompts.to_string_lossy())
        .replace("{crm}", crm)
        .replace("{carrier}", &carrier.to_string())
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn events_carry_line_caller_crm_name_and_ivr_branch_and_the_call_is_kept() {
    let d = Daemon::start(&config(""));
    let api = d.api_addr();
    let events = sse(api, "/v1/events", ADMIN);
    // The SSE stream is live before the call starts.
    std::thread::sleep(Duration::from_millis(200));
    let agent = SippServer::agent(&d, "a1", "pw1", "calls/uas_ivr_branch.xml", 1);
    let out = sipp(
        "calls/uac_ivr_info.xml",
        d.addr(),
        "u1",
        &["-s", "+33100000009"],
    );
    assert_sipp_ok(&out, &d, "caller through the IVR");
    assert_sipp_ok(
        &agent.wait(Duration::from_secs(20)).expect("agent done"),
        &d,
        "agent",
    );

    let (ringing, seen) = wait_event(&events, Duration::from_secs(10), |e| {
        e.event == "call.ringing"
    });
    let ringing = ringing.unwrap_or_else(|| panic!("no call.ringing; saw {seen:?}"));
    let names: Vec<&str> = seen.iter().map(|e| e.event.as_str()).collect();
    assert!(names.contains(&"call.created"), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| **n == "ivr.choice").count(),
        2,
        "one per key: {names:?}"
    );
    let v = json(&ringing.data);
    let call = &v["call"];
    assert_eq!(call["line"]["number"], "+33100000009", "{v}");
    assert_eq!(call["line"]["name"], "Support FR");
    assert_eq!(call["caller"]["number"], "+33611111111");
    assert_eq!(
        call["caller"]["name"], "Jeanne Dupont",
        "name from the CRM contact"
    );
    assert_eq!(call["crm"]["company"], "ACME");
    assert_eq!(call["ivr"]["branch"], "Billing");
    assert_eq!(call["ivr"]["path"], "main:1;sub:2");
    assert_eq!(call["agents"][0]["user"], "a1");
    assert_eq!(call["agents"][0]["state"], "ringing");
    let (ended, _) = wait_event(&events, Duration::from_secs(10), |e| {
        e.event == "call.ended"
    });
    let ended = json(&ended.expect("call.ended").data);
    assert_eq!(ended["call"]["answered_by"], "a1");
    assert_eq!(ended["call"]["ivr"]["branch"], "Billing");

    // The conversation has the call, for the admin and for a1 (who answered it), and the
    // same after a restart.
    let path = "/v1/conversations/+33100000009/+33611111111";
    let read = |d: &Daemon, token: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (status, body) = http(d.api_addr(), "GET", path, Some(token), None);
            if status == 200 || std::time::Instant::now() > deadline {
                return (status, body);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let (status, before) = read(&d, ADMIN);
    assert_eq!(status, 200, "{before}");
    let conv = json(&before);
    let items = conv["items"].as_array().expect("items");
    let call_item = items
        .iter()
        .find(|i| i["kind"] == "call")
        .expect("a call item");
    assert_eq!(call_item["ivr_branch"], "Billing");
    assert_eq!(call_item["answered_by"], "a1");
    assert_eq!(call_item["outcome"], "answered");
    assert_eq!(read(&d, A1_TOKEN).0, 200);
    let (status, _) = http(d.api_addr(), "GET", path, None, None);
    assert_eq!(status, 401);

    // The call shows in the metrics: its outcome, its fork branch, one registration at least.
    let (status, metrics) = http(d.api_addr(), "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    for line in [
        "switchboard_calls_total{outcome=\"answered\"} 1",
        "switchboard_fork_outcomes_total{outcome=\"answered\"} 1",
        "switchboard_call_ringing_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(!metrics.contains("switchboard_registrations_total{result=\"registered\"} 0"));

    let mut d = d;
    d.restart();
    let (status, after) = read(&d, ADMIN);
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        json(&after)["items"],
        conv["items"],
        "history survives a restart"
    );
}

#[test]
fn decline_through_the_api_cancels_that_agents_branch_only() {
    let d = Daemon::start(&config(""));
    let mut a1 = Phone::new("a1");
    assert_eq!(status_code(&a1.sip.register(d.addr(), "pw1").1), 200);
    let mut a2 = Phone::new("a2");
    assert_eq!(status_code(&a2.sip.register(d.addr(), "pw2").1), 200);
    let mut caller = Phone::new("+33622222222");
    caller.dial(d.addr(), "+33100000001", &[(8, "PCMA/8000")]);
    let inv1 = a1.next(Duration::from_secs(5)).expect("INVITE to a1");
    let inv2 = a2.next(Duration::from_secs(5)).expect("INVITE to a2");
    for (phone, inv, tag) in [(&mut a1, &inv1, "t1"), (&mut a2, &inv2, "t2")] {
        let ringing = reply(inv, "180 Ringing", tag, &[], "");
        phone.sip.send_to(d.addr(), &ringing).expect("180");
    }
    let call = header(&inv1, "X-Switchboard-Call")
        .expect("call id")
        .to_string();
    // a1 may not decline for a2; a1 declines for itself.
    let path = format!("/v1/calls/{call}/decline");
    let (status, body) = http(
        d.api_addr(),
        "POST",
        &path,
        Some(A1_TOKEN),
        Some(r#"{"agent":"a2"}"#),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = http(d.api_addr(), "POST", &path, Some(A1_TOKEN), Some("{}"));
    assert_eq!(status, 200, "{body}");
    // Skip INVITE retransmissions that crossed our 180 on a loaded machine.
    let cancel = loop {
        let msg = a1.next(Duration::from_secs(5)).expect("CANCEL to a1");
        if !msg.starts_with("INVITE ") {
            break msg;
        }
    };
    assert!(cancel.starts_with("CANCEL "), "{cancel}");
    assert!(
        header(&cancel, "Reason")
            .unwrap_or_default()
            .contains("cause=603"),
        "{cancel}"
    );
    while let Some(msg) = a2.next(Duration::from_millis(500)) {
        assert!(msg.starts_with("INVITE "), "a2 still rings: {msg}");
    }
    let (status, body) = http(
        d.api_addr(),
        "GET",
        &format!("/v1/calls/{call}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    let states: Vec<(String, String)> = v["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| (a["user"].to_string(), a["state"].to_string()))
        .collect();
    assert!(
        states.contains(&("\"a1\"".into(), "\"declined\"".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("\"a2\"".into(), "\"ringing\"".into())),
        "{states:?}"
    );
    let (status, _) = http(
        d.api_addr(),
        "POST",
        "/v1/calls/nope/hangup",
        Some(ADMIN),
        Some("{}"),
    );
    assert_eq!(status, 404);
}

/// A CRM that takes 2 s to answer: ringing starts without it (within the 300 ms budget).
#[test]
fn a_slow_crm_does_not_hold_up_ringing() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let crm = listener.local_addr().expect("addr");
    let answered = Arc::new(AtomicBool::new(false));
    let flag = answered.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            std::thread::sleep(Duration::from_secs(2));
            flag.store(true, Ordering::SeqCst);
            let body = r#"{"name":"Late Card"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let d = Daemon::start(&config(&format!(
        "url = \"http://{crm}/lookup\"\ntimeout = \"300ms\""
    )));
    let mut a1 = Phone::new("a1");
    assert_eq!(status_code(&a1.sip.register(d.addr(), "pw1").1), 200);
    let mut caller = Phone::new("+33633333333");
    caller.dial(d.addr(), "+33100000001", &[(8, "PCMA/8000")]);
    let inv = a1.next(Duration::from_secs(5)).expect("INVITE to a1");
    assert!(inv.starts_with("INVITE "), "{inv}");
    assert!(
        !answered.load(Ordering::SeqCst),
        "the agent rang while the CRM was still thinking"
    );
}

#[test]
fn a_customer_message_reaches_the_agents_and_the_conversation_and_a_reply_goes_out() {
    let carrier = std::net::UdpSocket::bind("127.0.0.1:0").expect("carrier socket");
    let carrier_port = carrier.local_addr().expect("addr").port();
    let d = Daemon::start(&config_with("", carrier_port));
    let events = sse(d.api_addr(), "/v1/events", ADMIN);
    std::thread::sleep(Duration::from_millis(200));
    let mut a1 = Phone::new("a1");
    assert_eq!(status_code(&a1.sip.register(d.addr(), "pw1").1), 200);
    let mut customer = Ua::udp();
    customer.user = "+33644444444".into();
    let message = customer.request_with_body(
        "MESSAGE",
        &format!("sip:+33100000001@{}", d.addr()),
        &["Content-Type: text/plain".into()],
        "Hello, where is my order?",
    );
    let answer = customer.transact(d.addr(), &message).expect("an answer");
    assert_eq!(status_code(&answer), 200, "{answer}");
    let relayed = a1
        .next(Duration::from_secs(5))
        .expect("MESSAGE to the agent");
    assert!(relayed.starts_with("MESSAGE "), "{relayed}");
    assert!(relayed.ends_with("Hello, where is my order?"), "{relayed}");
    assert_eq!(header(&relayed, "X-Switchboard-Line"), Some("+33100000001"));
    let ok = reply(&relayed, "200 OK", "m1", &[], "");
    a1.sip.send_to(d.addr(), &ok).expect("200");
    let (received, seen) = wait_event(&events, Duration::from_secs(5), |e| {
        e.event == "message.received"
    });
    let received = received.unwrap_or_else(|| panic!("no message.received; saw {seen:?}"));
    assert!(
        received.data.contains("Hello, where is my order?"),
        "{}",
        received.data
    );

    // The reply, from the API, goes out through the trunk.
    let path = "/v1/conversations/+33100000001/+33644444444/messages";
    let (status, body) = http(
        d.api_addr(),
        "POST",
        path,
        Some(ADMIN),
        Some(r#"{"body":"On its way!"}"#),
    );
    assert_eq!(status, 200, "{body}");
    carrier
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let (n, _) = carrier.recv_from(&mut buf).expect("MESSAGE at the carrier");
    let out = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(out.starts_with("MESSAGE sip:+33644444444@"), "{out}");
    assert!(out.ends_with("On its way!"), "{out}");
    assert!(
        header(&out, "From")
            .unwrap_or_default()
            .contains("+33100000001"),
        "{out}"
    );

    // Both are in the conversation, oldest first.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let bodies = loop {
        let (status, body) = http(
            d.api_addr(),
            "GET",
            "/v1/conversations/+33100000001/+33644444444",
            Some(ADMIN),
            None,
        );
        let bodies: Vec<String> = if status == 200 {
            json(&body)["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter(|i| i["kind"] == "message")
                        .map(|i| format!("{}:{}", i["direction"], i["body"]))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        if bodies.len() == 2 || std::time::Instant::now() > deadline {
            break bodies;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        bodies,
        [
            "\"inbound\":\"Hello, where is my order?\"",
            "\"outbound\":\"On its way!\""
        ]
    );
}

#[test]
fn transfer_through_the_api_hangs_up_the_agent_and_rings_the_target() {
    let d = Daemon::start(&config(""));
    let mut a1 = Phone::new("a1");
    assert_eq!(status_code(&a1.sip.register(d.addr(), "pw1").1), 200);
    let mut a2 = Phone::new("a2");
    assert_eq!(status_code(&a2.sip.register(d.addr(), "pw2").1), 200);
    let mut caller = Phone::new("+33655555555");
    let offer = caller.sdp(caller.rtp_port(), &[(8, "PCMA/8000")]);
    // +33100000009 starts with the IVR; dial a1 directly through the desk team instead and
    // let a1 answer first.
    let invite = caller.sip.request_with_body(
        "INVITE",
        &format!("sip:+33100000001@{}", d.addr()),
        &[
            format!("Contact: <sip:caller@{}>", caller.sip.local),
            "Content-Type: application/sdp".into(),
        ],
        &offer,
    );
    caller.sip.send_to(d.addr(), &invite).expect("INVITE");
    let inv1 = a1.next(Duration::from_secs(5)).expect("INVITE to a1");
    let first_a2 = a2.next(Duration::from_secs(5)).expect("INVITE to a2");
    let ringing = reply(&first_a2, "180 Ringing", "t2", &[], "");
    a2.sip.send_to(d.addr(), &ringing).expect("180");
    let answer = a1.sdp(a1.rtp_port(), &[(8, "PCMA/8000")]);
    let ok = reply(
        &inv1,
        "200 OK",
        "t1",
        &[
            format!("Contact: <sip:a1@{}>", a1.sip.local),
            "Content-Type: application/sdp".into(),
        ],
        &answer,
    );
    a1.sip.send_to(d.addr(), &ok).expect("200");
    let _ack = a1.next(Duration::from_secs(5)).expect("ACK");
    // a2's ringing branch is cancelled; answer the CANCEL and the INVITE's 487 is sent by us.
    let cancel = loop {
        let msg = a2.next(Duration::from_secs(5)).expect("CANCEL to a2");
        if msg.starts_with("CANCEL ") {
            break msg;
        }
    };
    a2.sip
        .send_to(d.addr(), &reply(&cancel, "200 OK", "t2", &[], ""))
        .expect("200 to CANCEL");
    a2.sip
        .send_to(
            d.addr(),
            &reply(&first_a2, "487 Request Terminated", "t2", &[], ""),
        )
        .expect("487");
    let call = header(&inv1, "X-Switchboard-Call")
        .expect("call")
        .to_string();
    let (status, body) = http(
        d.api_addr(),
        "POST",
        &format!("/v1/calls/{call}/transfer"),
        Some(A1_TOKEN),
        Some(r#"{"target":"user:a2"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let bye = loop {
        let msg = a1.next(Duration::from_secs(5)).expect("BYE to a1");
        if msg.starts_with("BYE ") {
            break msg;
        }
    };
    assert!(bye.starts_with("BYE "), "{bye}");
    let again = loop {
        let msg = a2.next(Duration::from_secs(5)).expect("INVITE to a2");
        if msg.starts_with("INVITE ") && header(&msg, "Call-ID") != header(&first_a2, "Call-ID") {
            break msg;
        }
    };
    assert_eq!(header(&again, "X-Switchboard-Call"), Some(call.as_str()));
}
