//! Captured/realistic messages in `testdata/`, parsed byte for byte.

use bytes::Bytes;
use sip_msg::{parse, Contacts, HeaderName, Host, Message, Method, RportParam, Transport};

fn load(name: &str) -> Bytes {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn invite_900_parses_and_prints_back_identically() {
    let raw = load("invite-900.sip");
    assert!(
        (850..=950).contains(&raw.len()),
        "about 900 bytes: {}",
        raw.len()
    );
    let msg = parse(raw.clone()).expect("valid INVITE");
    let Message::Request(req) = &msg else {
        panic!("a request")
    };
    assert_eq!(req.method, Method::Invite);
    assert_eq!(req.uri.user().map(|u| &u[..]), Some(&b"+33100000001"[..]));
    assert_eq!(
        req.uri.host(),
        Some(&Host::V4("198.51.100.10".parse().expect("v4")))
    );

    let h = &req.headers;
    let via = h.top_via().expect("Via");
    assert_eq!(via.transport, Transport::Udp);
    assert_eq!(via.port, Some(5060));
    assert_eq!(via.rport(), RportParam::Empty);
    assert!(via.has_rfc3261_branch());
    assert_eq!(h.max_forwards().expect("valid"), Some(70));
    let from = h.from().expect("From");
    assert_eq!(from.display.as_deref(), Some(&b"Alice Martin"[..]));
    assert_eq!(from.tag().map(|t| &t[..]), Some(&b"9fxced76sl"[..]));
    assert_eq!(h.to().expect("To").tag(), None);
    assert_eq!(h.cseq().expect("CSeq").seq, 1);
    let Contacts::List(contacts) = h.contacts().expect("Contact") else {
        panic!("list")
    };
    assert_eq!(contacts[0].uri.transport().as_deref(), Some(&b"udp"[..]));
    assert_eq!(h.tokens(&HeaderName::Allow).len(), 10);
    assert_eq!(h.tokens(&HeaderName::Supported).len(), 3);
    assert!(h
        .content_type()
        .expect("valid")
        .expect("present")
        .is("application", "sdp"));
    assert_eq!(h.content_length().expect("valid"), Some(req.body.len()));
    let sdp = std::str::from_utf8(&req.body).expect("ASCII SDP");
    for codec in [
        "opus/48000/2",
        "PCMA/8000",
        "PCMU/8000",
        "telephone-event/8000",
    ] {
        assert!(sdp.contains(codec), "{codec}");
    }

    // Canonical names, Content-Length last: printing reproduces the file exactly.
    assert_eq!(msg.to_bytes(), raw);
}
