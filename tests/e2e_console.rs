//! End-to-end: the agent console in real headless Chromium against the running daemon, with
//! SIP phones the test drives itself so that it sees what the page's buttons do on the wire.
//!
//! - A caller walks the IVR (RFC 4733 keys) to a team of two; the popup in a1's page shows the
//!   caller, the line and the IVR branch; Decline in the page cancels a1's phone only.
//! - A customer ringing a1 opens the conversation from the popup; the customer's MESSAGE (from
//!   the trunk's address) appears in it live, and a reply typed in the page leaves through the
//!   trunk.
//! - a1 answers on the phone; the page follows into the call; the call toolbar detached into a
//!   second window hangs the call up, and both the caller and a1's phone get the BYE.
//!
//! Screenshots for review go to `$CARGO_TARGET_TMPDIR/e2e-console-screenshots/`, their paths
//! printed. Needs `chromium` and `chromium-driver` (Debian); skips with a message without them
//! unless `CONSOLE_BROWSER_REQUIRED` is set. One test at a time holds the browser (see
//! tests/common/browser.rs), daemon included.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::browser::{
    assert_no_page_errors, click, eval, fill, new_window, screenshot, sign_in, text_of, wait_until,
    watch_errors, with_browser,
};
use common::http::http;
use common::phone::{rtp_packet, rtp_range, sdp_addr, Phone};
use common::{header, random_token, reply, status_code, tail, Daemon, Ua};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-1";
const A1_TOKEN: &str = "a1-token-1";
const IVR_LINE: &str = "+33100000009";
const DESK_LINE: &str = "+33100000001";
const JEANNE: &str = "+33611111111";
const PAUL: &str = "+33622222222";

/// The longest the test waits for one SIP message.
const SIP_WAIT: Duration = Duration::from_secs(10);

/// Ring timeouts are long: a page under test takes its time, and no branch may give up while
/// the test still looks at it.
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

[[trunks]]
name = "carrier"
from = ["127.0.0.1/32"]
send_to = "127.0.0.1:{carrier}"

[[users]]
id = "a1"
password = "pw1"
ring_timeout = "60s"

[[users]]
id = "a2"
password = "pw2"
ring_timeout = "60s"

[[teams]]
id = "desk"
members = ["a1", "a2"]
strategy = "simultaneous"
ring_timeout = "60s"

[[numbers]]
number = "+33100000009"
name = "Support FR"
steps = ["ivr:main", "team:desk"]
fallback = "hangup"

[[numbers]]
number = "+33100000001"
name = "Desk"
steps = ["team:desk"]
fallback = "hangup"

[ivr.main]
prompt = "{prompts}/main.wav"
timeout = "5s"
retries = 0
no_input = "team:desk"
[ivr.main.options]
"1" = { label = "Sales", route = "ivr:sub" }

[ivr.sub]
prompt = "{prompts}/support.wav"
timeout = "5s"
retries = 0
no_input = "team:desk"
[ivr.sub.options]
"2" = { label = "Billing", route = "team:desk" }

[[contacts]]
number = "+33611111111"
name = "Jeanne Dupont"
company = "ACME"

[[contacts]]
number = "+33622222222"
name = "Paul Martin"
"#;

/// The daemon under test, the console's address, and the carrier behind the trunk (where
/// messages to customers go).
struct Node {
    daemon: Daemon,
    api: SocketAddr,
    url: String,
    carrier: UdpSocket,
}

impl Node {
    fn start() -> Node {
        let carrier = UdpSocket::bind("127.0.0.1:0").expect("carrier socket");
        let carrier_port = carrier.local_addr().expect("carrier addr").port();
        let (low, high) = free_rtp_range();
        let prompts = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config/prompts")
            .canonicalize()
            .expect("example prompts");
        let daemon = Daemon::start(
            &CONFIG
                .replace("{rtp_low}", &low.to_string())
                .replace("{rtp_high}", &high.to_string())
                .replace("{prompts}", &prompts.to_string_lossy())
                .replace("{carrier}", &carrier_port.to_string()),
        );
        let api = daemon.api_addr();
        Node {
            daemon,
            api,
            url: format!("http://{api}/"),
            carrier,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.daemon.addr()
    }

    /// A registered agent phone.
    fn agent(&self, user: &str, password: &str) -> Phone {
        let mut phone = Phone::new(user);
        let (_, answer) = phone.sip.register(self.addr(), password);
        assert_eq!(status_code(&answer), 200, "register {user}: {answer}");
        phone
    }

    /// `GET path` with the admin token, as JSON.
    fn admin_get(&self, path: &str) -> (u16, Value) {
        let (status, body) = http(self.api, "GET", path, Some(ADMIN), None);
        let value = serde_json::from_str(&body).unwrap_or(Value::Null);
        (status, value)
    }

    fn log_tail(&self) -> String {
        tail(&self.daemon.log(), 60)
    }
}

/// An RTP port range for one daemon: the shared [`rtp_range`] when every port in it can be
/// bound now, else the first such block of 100 between 10000 and 19999. Load benchmarks on the
/// same machine bind whole ranges (benches/load/ivr takes 20000-39999), and a daemon whose
/// range is taken answers calls with 503.
fn free_rtp_range() -> (u16, u16) {
    let shared = rtp_range();
    let below = (100..200u16).map(|block| (block * 100, block * 100 + 99));
    std::iter::once(shared)
        .chain(below)
        .find(|&(low, high)| {
            // Held together while checking, released before the daemon starts.
            let held: Vec<UdpSocket> = (low..=high)
                .map_while(|port| UdpSocket::bind(("127.0.0.1", port)).ok())
                .collect();
            held.len() == usize::from(high - low) + 1
        })
        .unwrap_or(shared)
}

/// Runs blocking work (sockets with timeouts, the daemon's start) without holding up the
/// runtime that drives the browser.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

// -------------------------------------------------------------------------------------------
// The phones' side

/// The next request `method` that `phone` receives. Copies of customer messages met on the
/// way are answered 200; anything else (retransmissions, other requests) is passed over.
fn expect_request(node: &Node, phone: &mut Phone, method: &str) -> String {
    let prefix = format!("{method} ");
    loop {
        let msg = phone.next(SIP_WAIT).unwrap_or_else(|| {
            panic!(
                "{}: no {method} within {SIP_WAIT:?}; log:\n{}",
                phone.sip.user,
                node.log_tail()
            )
        });
        if msg.starts_with(&prefix) {
            return msg;
        }
        if msg.starts_with("MESSAGE ") && method != "MESSAGE" {
            let ok = reply(&msg, "200 OK", "m", &[], "");
            phone.sip.send_to(node.addr(), &ok).expect("200 to MESSAGE");
        }
    }
}

/// The next final response `phone` receives (1xx passed over).
fn expect_final(node: &Node, phone: &mut Phone) -> String {
    loop {
        let msg = phone.next(SIP_WAIT).unwrap_or_else(|| {
            panic!(
                "{}: no final response within {SIP_WAIT:?}; log:\n{}",
                phone.sip.user,
                node.log_tail()
            )
        });
        if msg.starts_with("SIP/2.0 ") && !msg.starts_with("SIP/2.0 1") {
            return msg;
        }
    }
}

/// Answers a request with `status` (no body).
fn respond(node: &Node, phone: &mut Phone, req: &str, status: &str, tag: &str) {
    let answer = reply(req, status, tag, &[], "");
    phone.sip.send_to(node.addr(), &answer).expect("response");
}

/// The agent's phone answers `invite` with PCMA and waits for the ACK.
fn pick_up(node: &Node, phone: &mut Phone, invite: &str, tag: &str) {
    let sdp = phone.sdp(phone.rtp_port(), &[(8, "PCMA/8000")]);
    let ok = reply(
        invite,
        "200 OK",
        tag,
        &[
            format!("Contact: <sip:{}@{}>", phone.sip.user, phone.sip.local),
            "Content-Type: application/sdp".into(),
        ],
        &sdp,
    );
    phone.sip.send_to(node.addr(), &ok).expect("200");
    expect_request(node, phone, "ACK");
}

/// The agent's phone sees its ringing branch cancelled for `cause` and ends it properly
/// (200 to the CANCEL, 487 to the INVITE, then the ACK).
fn expect_cancelled(node: &Node, phone: &mut Phone, invite: &str, tag: &str, cause: &str) {
    let cancel = expect_request(node, phone, "CANCEL");
    let reason = header(&cancel, "Reason").unwrap_or_default().to_string();
    assert!(
        reason.contains(&format!("cause={cause}")),
        "{}: CANCEL with cause {cause}, got {reason:?}:\n{cancel}",
        phone.sip.user
    );
    assert_eq!(header(&cancel, "Call-ID"), header(invite, "Call-ID"));
    respond(node, phone, &cancel, "200 OK", tag);
    respond(node, phone, invite, "487 Request Terminated", tag);
    expect_request(node, phone, "ACK");
}

/// A caller's INVITE to `line`, sent; returns the phone and the INVITE as sent.
fn dial(node: &Node, caller_number: &str, line: &str, codecs: &[(u8, &str)]) -> (Phone, String) {
    let mut caller = Phone::new(caller_number);
    let offer = caller.sdp(caller.rtp_port(), codecs);
    let invite = caller.sip.request_with_body(
        "INVITE",
        &format!("sip:{line}@{}", node.addr()),
        &[
            format!("Contact: <sip:caller@{}>", caller.sip.local),
            "Content-Type: application/sdp".into(),
        ],
        &offer,
    );
    caller.sip.send_to(node.addr(), &invite).expect("INVITE");
    (caller, invite)
}

/// An in-dialog request from the caller, in the dialog the 200 `ok` set up.
fn in_dialog(caller: &Phone, ok: &str, method: &str, cseq: u32) -> String {
    let target = header(ok, "Contact")
        .and_then(|c| c.split('<').nth(1))
        .and_then(|c| c.split('>').next())
        .unwrap_or_default()
        .to_string();
    format!(
        "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{};rport\r\nMax-Forwards: 70\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
        caller.sip.local,
        random_token(),
        header(ok, "From").unwrap_or_default(),
        header(ok, "To").unwrap_or_default(),
        header(ok, "Call-ID").unwrap_or_default(),
    )
}

/// The caller's INVITE was answered with `ok`: ACK it.
fn ack(node: &Node, caller: &mut Phone, ok: &str) {
    assert!(ok.starts_with("SIP/2.0 200"), "an answer: {ok}");
    let ack = in_dialog(caller, ok, "ACK", 1);
    caller.sip.send_to(node.addr(), &ack).expect("ACK");
}

/// The caller gives up before an answer: CANCEL (RFC 3261 §9.1: same Request-URI, Via
/// branch, From, To and Call-ID as the INVITE), then the ACK of the 487.
fn cancel(node: &Node, caller: &mut Phone, invite: &str) {
    let uri = invite
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default();
    let cseq = header(invite, "CSeq")
        .and_then(|c| c.split(' ').next())
        .unwrap_or("1");
    let common = format!(
        "Via: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\n",
        header(invite, "Via").unwrap_or_default(),
        header(invite, "From").unwrap_or_default(),
        header(invite, "To").unwrap_or_default(),
        header(invite, "Call-ID").unwrap_or_default(),
    );
    let cancel =
        format!("CANCEL {uri} SIP/2.0\r\n{common}CSeq: {cseq} CANCEL\r\nContent-Length: 0\r\n\r\n");
    caller.sip.send_to(node.addr(), &cancel).expect("CANCEL");
    let terminated = loop {
        let answer = expect_final(node, caller);
        if header(&answer, "CSeq").is_some_and(|c| c.ends_with("INVITE")) {
            break answer;
        }
    };
    assert_eq!(status_code(&terminated), 487, "{terminated}");
    let ack = format!(
        "ACK {uri} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\n\
         CSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
        header(invite, "Via").unwrap_or_default(),
        header(invite, "From").unwrap_or_default(),
        header(&terminated, "To").unwrap_or_default(),
        header(invite, "Call-ID").unwrap_or_default(),
    );
    caller
        .sip
        .send_to(node.addr(), &ack)
        .expect("ACK of the 487");
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

/// The caller presses `keys` on the IVR that answered with `ok`, one event every 20 ms as a
/// phone sends them, a pause between keys.
fn press(caller: &Phone, ok: &str, keys: &[u8]) {
    let ivr = sdp_addr(ok);
    let mut seq = 100u16;
    for (i, &key) in keys.iter().enumerate() {
        for p in telephone_event(key, &mut seq, 8000 * (i as u32 + 1)) {
            caller.rtp.send_to(&p, ivr).expect("telephone-event");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The agents' states in a call as the API shows it, e.g. `[("a1", "declined")]`.
fn agent_states(call: &Value) -> Vec<(String, String)> {
    call["agents"]
        .as_array()
        .map(|agents| {
            agents
                .iter()
                .map(|a| {
                    (
                        a["user"].as_str().unwrap_or_default().to_string(),
                        a["state"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

// -------------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popup_shows_caller_line_and_ivr_branch_and_decline_cancels_only_that_agent() {
    with_browser("e2e-popup", |client| async move {
        let node = blocking(Node::start);
        let (mut a1, mut a2) = blocking(|| (node.agent("a1", "pw1"), node.agent("a2", "pw2")));
        sign_in(&client, &node.url, "a1", A1_TOKEN).await;
        assert_eq!(text_of(&client, "#who").await, "a1");

        // Jeanne walks the IVR: 1 (Sales, a sub-menu) then 2 (Billing, the desk team).
        let (mut caller, ivr_ok) = blocking(|| {
            let (mut caller, _) = dial(
                &node,
                JEANNE,
                IVR_LINE,
                &[(8, "PCMA/8000"), (101, "telephone-event/8000")],
            );
            let ok = expect_final(&node, &mut caller);
            ack(&node, &mut caller, &ok);
            press(&caller, &ok, &[1, 2]);
            (caller, ok)
        });
        let (inv1, inv2) = blocking(|| {
            let inv1 = expect_request(&node, &mut a1, "INVITE");
            let inv2 = expect_request(&node, &mut a2, "INVITE");
            respond(&node, &mut a1, &inv1, "180 Ringing", "a1t");
            respond(&node, &mut a2, &inv2, "180 Ringing", "a2t");
            (inv1, inv2)
        });
        assert_eq!(header(&inv1, "X-Switchboard-IVR-Branch"), Some("Billing"));
        let call = header(&inv1, "X-Switchboard-Call")
            .expect("the call's id on the INVITE")
            .to_string();
        assert_eq!(header(&inv2, "X-Switchboard-Call"), Some(call.as_str()));

        // The popup in a1's page: who calls, on which line, through which IVR branch.
        let popup = format!(".popup[data-call-id=\"{call}\"]");
        wait_until(
            &client,
            "the ringing popup",
            &format!("!!document.querySelector({})", json!(popup)),
        )
        .await;
        let field = |class: &str| format!("{popup} .{class}");
        assert_eq!(
            text_of(&client, &field("caller-name")).await,
            "Jeanne Dupont"
        );
        assert_eq!(text_of(&client, &field("caller-number")).await, JEANNE);
        assert_eq!(text_of(&client, &field("line-name")).await, "Support FR");
        assert_eq!(text_of(&client, &field("line-number")).await, IVR_LINE);
        assert_eq!(text_of(&client, &field("ivr-branch")).await, "Billing");
        assert_eq!(
            eval(
                &client,
                &format!(
                    "document.querySelector({}).title",
                    json!(field("ivr-branch"))
                )
            )
            .await,
            json!("IVR path: main:1;sub:2")
        );
        assert!(text_of(&client, &field("crm")).await.contains("ACME"));
        assert_eq!(
            eval(&client, "document.activeElement.dataset.action").await,
            json!("accept"),
            "focus on Accept"
        );
        screenshot(&client, "e2e-console-popup").await;

        // Decline: a1's phone stops ringing (CANCEL, cause 603); the popup goes.
        click(&client, &format!("{popup} [data-action=decline]")).await;
        blocking(|| expect_cancelled(&node, &mut a1, &inv1, "a1t", "603"));
        wait_until(
            &client,
            "the popup to close",
            "document.querySelectorAll('.popup').length === 0",
        )
        .await;
        // a2 still rings: the engine says so, and a2's phone has been told nothing.
        let (status, view) = blocking(|| node.admin_get(&format!("/v1/calls/{call}")));
        assert_eq!(status, 200, "{view}");
        let states = agent_states(&view);
        assert!(
            states.contains(&("a1".into(), "declined".into()))
                && states.contains(&("a2".into(), "ringing".into())),
            "{states:?}"
        );
        screenshot(&client, "e2e-console-declined").await;

        // Jeanne hangs up: only now does a2's phone get a CANCEL, and its first one is this
        // (cause 487, not the 603 of a decline).
        blocking(|| {
            let bye = in_dialog(&caller, &ivr_ok, "BYE", 2);
            caller.sip.send_to(node.addr(), &bye).expect("BYE");
            let answer = expect_final(&node, &mut caller);
            assert_eq!(status_code(&answer), 200, "{answer}");
            expect_cancelled(&node, &mut a2, &inv2, "a2t", "487");
        });
        wait_until(
            &client,
            "the call to leave the page",
            "document.getElementById('home-calls').children.length === 0",
        )
        .await;
        assert_no_page_errors(&client).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_message_appears_in_the_open_conversation_and_a_reply_leaves_by_the_trunk() {
    with_browser("e2e-conversation", |client| async move {
        let node = blocking(Node::start);
        let mut a1 = blocking(|| node.agent("a1", "pw1"));
        sign_in(&client, &node.url, "a1", A1_TOKEN).await;

        // Paul calls the desk; a1's phone rings and so does the page.
        let (mut caller, invite) = blocking(|| dial(&node, PAUL, DESK_LINE, &[(8, "PCMA/8000")]));
        let inv1 = blocking(|| {
            let inv = expect_request(&node, &mut a1, "INVITE");
            respond(&node, &mut a1, &inv, "180 Ringing", "a1t");
            inv
        });
        let call = header(&inv1, "X-Switchboard-Call")
            .expect("the call's id")
            .to_string();
        let popup = format!(".popup[data-call-id=\"{call}\"]");

        // Open the conversation from the popup: nothing in it yet.
        click(&client, &format!("{popup} [data-action=open]")).await;
        wait_until(
            &client,
            "the conversation view",
            "!document.getElementById('conversation-view').hidden",
        )
        .await;
        assert_eq!(text_of(&client, "#conversation-title").await, "Paul Martin");
        let meta = text_of(&client, "#conversation-meta").await;
        assert!(
            meta.starts_with(&format!("{PAUL} · Line Desk {DESK_LINE}")),
            "{meta}"
        );

        // Paul texts the line through the carrier (the trunk's address) while it rings: the
        // message shows in the open conversation at once.
        let text = "Hello, is my order on its way?";
        blocking(|| {
            let mut customer = Ua::udp();
            customer.user = PAUL.into();
            let message = customer.request_with_body(
                "MESSAGE",
                &format!("sip:{DESK_LINE}@{}", node.addr()),
                &["Content-Type: text/plain".into()],
                text,
            );
            let answer = customer.transact(node.addr(), &message).expect("an answer");
            assert_eq!(status_code(&answer), 200, "{answer}");
            // a1's phone gets its copy too.
            let copy = expect_request(&node, &mut a1, "MESSAGE");
            assert!(copy.ends_with(text), "{copy}");
            respond(&node, &mut a1, &copy, "200 OK", "m1");
        });
        wait_until(
            &client,
            "the customer's message in the conversation",
            &format!(
                "document.querySelector('#conversation-items > li.bubble.message.in .body')?.textContent === {}",
                json!(text)
            ),
        )
        .await;
        screenshot(&client, "e2e-console-conversation-message").await;

        // Paul gives up before anyone answers: a1's phone is cancelled, the popup goes.
        blocking(|| {
            cancel(&node, &mut caller, &invite);
            expect_cancelled(&node, &mut a1, &inv1, "a1t", "487");
        });
        wait_until(
            &client,
            "the popup to close",
            "document.querySelectorAll('.popup').length === 0",
        )
        .await;

        // a1 answers by SMS from the page: it leaves through the trunk to Paul, and the
        // conversation then shows the missed call, Paul's message and the reply.
        let reply_text = "Yes, it left this morning.";
        fill(&client, "#message-body", reply_text).await;
        click(&client, "#message-form button[type=submit]").await;
        let out = blocking(|| {
            node.carrier
                .set_read_timeout(Some(SIP_WAIT))
                .expect("timeout");
            let mut buf = [0u8; 4096];
            let (n, from) = node.carrier.recv_from(&mut buf).unwrap_or_else(|e| {
                panic!("no MESSAGE at the carrier ({e}); log:\n{}", node.log_tail())
            });
            let out = String::from_utf8_lossy(&buf[..n]).into_owned();
            let ok = reply(&out, "200 OK", "carrier", &[], "");
            node.carrier
                .send_to(ok.as_bytes(), from)
                .expect("200 from the carrier");
            out
        });
        assert!(out.starts_with(&format!("MESSAGE sip:{PAUL}@")), "{out}");
        assert!(out.ends_with(reply_text), "{out}");
        assert!(
            header(&out, "From").unwrap_or_default().contains(DESK_LINE),
            "{out}"
        );
        wait_until(
            &client,
            "the page to confirm the SMS",
            "document.getElementById('message-status').textContent === 'Sent.'",
        )
        .await;
        let items = wait_until(
            &client,
            "the missed call, the message and the reply",
            "(() => { const items = [...document.querySelectorAll('#conversation-items > li')]
                 .map((li) => [li.className, (li.querySelector('.outcome') || li.querySelector('.body')).textContent]);
               return items.length === 3 && items; })()",
        )
        .await;
        assert_eq!(
            items,
            json!([
                ["bubble call in outcome-abandoned", "The caller hung up before an answer"],
                ["bubble message in", text],
                ["bubble message out", reply_text],
            ])
        );
        screenshot(&client, "e2e-console-conversation-reply").await;
        assert_no_page_errors(&client).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_detached_toolbar_window_hangs_up_the_answered_call() {
    with_browser("e2e-toolbar", |client| async move {
        let node = blocking(Node::start);
        let mut a1 = blocking(|| node.agent("a1", "pw1"));
        sign_in(&client, &node.url, "a1", A1_TOKEN).await;

        // Jeanne calls the desk; a1 answers on the phone.
        let (mut caller, _invite) =
            blocking(|| dial(&node, JEANNE, DESK_LINE, &[(8, "PCMA/8000")]));
        let inv1 = blocking(|| {
            let inv = expect_request(&node, &mut a1, "INVITE");
            respond(&node, &mut a1, &inv, "180 Ringing", "a1t");
            inv
        });
        let call = header(&inv1, "X-Switchboard-Call")
            .expect("the call's id")
            .to_string();
        wait_until(
            &client,
            "the ringing popup",
            &format!(
                "!!document.querySelector({})",
                json!(format!(".popup[data-call-id=\"{call}\"]"))
            ),
        )
        .await;
        let caller_ok = blocking(|| {
            pick_up(&node, &mut a1, &inv1, "a1t");
            let ok = expect_final(&node, &mut caller);
            ack(&node, &mut caller, &ok);
            ok
        });
        assert_ne!(
            sdp_addr(&caller_ok).port(),
            a1.rtp_port(),
            "the caller gets the relay's media address, not the phone's"
        );

        // The page follows into the in-call view.
        wait_until(
            &client,
            "the in-call view",
            "!document.getElementById('call-view').hidden && !!document.querySelector('.call-card')",
        )
        .await;
        assert_eq!(
            text_of(&client, ".call-card .caller-name").await,
            "Jeanne Dupont"
        );
        assert_eq!(text_of(&client, ".call-card .line-name").await, "Desk");
        assert!(text_of(&client, ".call-card .timer").await.contains(':'));
        assert_eq!(
            eval(&client, "document.querySelectorAll('.popup').length").await,
            json!(0)
        );
        screenshot(&client, "e2e-console-in-call").await;

        // Elsewhere in the console the call stays in the toolbar; detach it.
        click(&client, "nav a[href='#/']").await;
        wait_until(
            &client,
            "the call toolbar",
            "!document.getElementById('toolbar').hidden && !!document.querySelector('#toolbar .toolbar-caller')",
        )
        .await;
        assert_eq!(
            text_of(&client, "#toolbar .toolbar-caller").await,
            "Jeanne Dupont"
        );
        screenshot(&client, "e2e-console-toolbar-inline").await;
        let main = client.window().await.expect("main window");
        click(&client, "#toolbar [data-action=detach]").await;
        wait_until(
            &client,
            "the inline toolbar to hide",
            "document.getElementById('toolbar').hidden",
        )
        .await;
        let toolbar = new_window(&client, &main).await;
        screenshot(&client, "e2e-console-toolbar-detached-main").await;

        client
            .switch_to_window(toolbar)
            .await
            .expect("switch to the toolbar window");
        wait_until(
            &client,
            "the detached toolbar",
            "document.body.classList.contains('toolbar-window') && !!document.querySelector('#toolbar .toolbar-caller')",
        )
        .await;
        watch_errors(&client).await;
        assert_eq!(
            text_of(&client, "#toolbar .toolbar-caller").await,
            "Jeanne Dupont"
        );
        assert!(text_of(&client, "#toolbar details.crm").await.contains("ACME"));
        screenshot(&client, "e2e-console-toolbar-window").await;

        // Hang up from the toolbar window: the caller and a1's phone both get a BYE.
        click(&client, "#toolbar [data-action=hangup]").await;
        blocking(|| {
            let bye = expect_request(&node, &mut caller, "BYE");
            respond(&node, &mut caller, &bye, "200 OK", "c");
            let bye = expect_request(&node, &mut a1, "BYE");
            assert_eq!(header(&bye, "Call-ID"), header(&inv1, "Call-ID"));
            respond(&node, &mut a1, &bye, "200 OK", "a1t");
        });
        assert_eq!(
            text_of(&client, "#toolbar .toolbar-ended").await,
            "Call ended."
        );
        screenshot(&client, "e2e-console-toolbar-window-ended").await;
        assert_no_page_errors(&client).await;

        // The main page heard the end too.
        client
            .switch_to_window(main)
            .await
            .expect("back to the main window");
        wait_until(
            &client,
            "the main page to drop the call",
            "document.getElementById('toolbar').hidden && document.getElementById('home-calls').children.length === 0",
        )
        .await;
        let (status, _) = blocking(|| node.admin_get(&format!("/v1/calls/{call}")));
        assert_eq!(status, 404, "the call is over");
        screenshot(&client, "e2e-console-toolbar-main-ended").await;
        assert_no_page_errors(&client).await;
    })
    .await;
}
