//! RFC 4475 (torture tests) and RFC 5118 (IPv6 torture tests) cases, byte for byte.
//!
//! The messages in `tests/vectors/` are our own, one per RFC case, written by
//! `tests/vectors/generate.py`; each builder's docstring says what the message tortures and
//! what a parser must find in it ("Expect:"), which is what the tests below check.
//!
//! `OUTCOMES` below is our decision for every file: accepted (and its typed views work),
//! accepted by `parse` but refused by a typed accessor, or rejected by `parse` with a given
//! error. Where the RFC lets an element choose ("valid-lenient" in the vector manifest),
//! the comment on the row says what we chose and why. The manifest written alongside the
//! vectors is cross-checked so that a vector can't be added without a decision here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sip_msg::{
    frame_stream, parse, Contacts, ErrorKind, HeaderName, Host, Message, Method, RportParam,
    Scheme, Transport, Uri, DEFAULT_MAX_MESSAGE_SIZE,
};

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// `parse` accepts it and every typed accessor on its essential headers works.
    Accept,
    /// `parse` accepts it; `contacts()` refuses the Contact header (the registrar's 400).
    AcceptBadContact,
    /// `parse` rejects it with this error; `partial` says whether a response can be built.
    Reject { kind: ErrorKind, partial: bool },
}

use Outcome::*;

fn reject(kind: ErrorKind, partial: bool) -> Outcome {
    Reject { kind, partial }
}

fn outcomes() -> Vec<(&'static str, Outcome)> {
    let bad = |n: HeaderName| ErrorKind::BadHeader(n);
    vec![
        // RFC 4475 3.1.1: valid messages.
        ("rfc4475/wsinv.dat", Accept),
        ("rfc4475/intmeth.dat", Accept),
        ("rfc4475/esc01.dat", Accept),
        ("rfc4475/escnull.dat", Accept),
        ("rfc4475/esc02.dat", Accept),
        ("rfc4475/lwsdisp.dat", Accept),
        ("rfc4475/longreq.dat", Accept),
        ("rfc4475/dblreq.dat", Accept),
        ("rfc4475/semiuri.dat", Accept),
        ("rfc4475/transports.dat", Accept),
        ("rfc4475/mpart01.dat", Accept),
        ("rfc4475/unreason.dat", Accept),
        ("rfc4475/noreason.dat", Accept),
        // RFC 4475 3.1.2: invalid messages.
        ("rfc4475/badinv01.dat", reject(bad(HeaderName::Via), true)),
        (
            "rfc4475/clerr.dat",
            reject(ErrorKind::ContentLengthMismatch, true),
        ),
        (
            "rfc4475/ncl.dat",
            reject(bad(HeaderName::ContentLength), true),
        ),
        // The CSeq is the fatal field; Max-Forwards and the expiries are also out of range
        // (checked in `scalar02_every_scalar_is_refused`).
        ("rfc4475/scalar02.dat", reject(bad(HeaderName::CSeq), true)),
        // A response: dropped, so no partial request.
        ("rfc4475/scalarlg.dat", reject(bad(HeaderName::CSeq), false)),
        ("rfc4475/quotbal.dat", reject(bad(HeaderName::To), true)),
        // Judgement (valid-lenient): we never guess what a malformed Request-URI meant.
        (
            "rfc4475/ltgtruri.dat",
            reject(ErrorKind::BadRequestUri, true),
        ),
        (
            "rfc4475/lwsruri.dat",
            reject(ErrorKind::BadRequestUri, true),
        ),
        // Judgement (valid-lenient): extra SP in the Request-Line is rejected.
        (
            "rfc4475/lwsstart.dat",
            reject(ErrorKind::BadRequestLine, true),
        ),
        ("rfc4475/trws.dat", reject(ErrorKind::BadRequestLine, true)),
        // Judgement (valid-lenient): headers in a SIP Request-URI are rejected.
        (
            "rfc4475/escruri.dat",
            reject(ErrorKind::BadRequestUri, true),
        ),
        // Judgement (valid-lenient): accepted. Date is never interpreted here, and the RFC
        // says not to reject unless Date matters.
        ("rfc4475/baddate.dat", Accept),
        // Judgement (valid-lenient): the message parses (Contact is not needed to route a
        // response); `contacts()` refuses the `?` outside <>, so the registrar answers 400.
        ("rfc4475/regbadct.dat", AcceptBadContact),
        // Judgement (valid-lenient): spaces inside <> are refused, so To is bad.
        ("rfc4475/badaspec.dat", reject(bad(HeaderName::To), true)),
        // Judgement (valid-lenient): no quote inference; From comes first and is bad (`,`
        // in an unquoted display name).
        ("rfc4475/baddn.dat", reject(bad(HeaderName::From), true)),
        // 505, with the Via (SIP/7.0/UDP) readable to send it back.
        (
            "rfc4475/badvers.dat",
            reject(ErrorKind::VersionNotSupported, true),
        ),
        (
            "rfc4475/mismatch01.dat",
            reject(ErrorKind::CSeqMethodMismatch, true),
        ),
        // The RFC prefers 501 for an unknown method: the caller sees method Other in the
        // partial request and may answer 501 instead of 400.
        (
            "rfc4475/mismatch02.dat",
            reject(ErrorKind::CSeqMethodMismatch, true),
        ),
        (
            "rfc4475/bigcode.dat",
            reject(ErrorKind::BadStatusLine, false),
        ),
        // RFC 4475 3.2: transaction layer. Judgement (valid-lenient): the parser accepts a
        // bare magic-cookie branch; transaction matching is sip-core's business.
        ("rfc4475/badbranch.dat", Accept),
        // RFC 4475 3.3: application layer.
        (
            "rfc4475/insuf.dat",
            reject(ErrorKind::MissingHeader(HeaderName::From), true),
        ),
        ("rfc4475/unkscm.dat", Accept),
        ("rfc4475/novelsc.dat", Accept),
        ("rfc4475/unksm2.dat", Accept),
        ("rfc4475/bext01.dat", Accept),
        ("rfc4475/invut.dat", Accept),
        ("rfc4475/regaut01.dat", Accept),
        // The first duplicate in header order is the second Call-ID (compact `i:`).
        (
            "rfc4475/multi01.dat",
            reject(ErrorKind::DuplicateHeader(HeaderName::CallId), true),
        ),
        (
            "rfc4475/mcl01.dat",
            reject(ErrorKind::DuplicateHeader(HeaderName::ContentLength), true),
        ),
        ("rfc4475/bcast.dat", Accept),
        ("rfc4475/zeromf.dat", Accept),
        ("rfc4475/cparam01.dat", Accept),
        ("rfc4475/cparam02.dat", Accept),
        ("rfc4475/regescrt.dat", Accept),
        ("rfc4475/sdp01.dat", Accept),
        ("rfc4475/inv2543.dat", Accept),
        // RFC 5118.
        ("rfc5118/ipv6-good.dat", Accept),
        (
            "rfc5118/ipv6-bad.dat",
            reject(ErrorKind::BadRequestUri, true),
        ),
        ("rfc5118/port-ambiguous.dat", Accept),
        ("rfc5118/port-unambiguous.dat", Accept),
        ("rfc5118/via-received-param-with-delim.dat", Accept),
        ("rfc5118/via-received-param-no-delim.dat", Accept),
        ("rfc5118/ipv6-in-sdp.dat", Accept),
        ("rfc5118/mult-ip-in-header.dat", Accept),
        ("rfc5118/mult-ip-in-sdp.dat", Accept),
        ("rfc5118/ipv4-mapped-ipv6.dat", Accept),
        // Tolerated as RFC 5118 4.10 asks: `2001:db8:5b:::198.51.100.40` reads as `::`.
        ("rfc5118/ipv6-bug-abnf-3-colons.dat", Accept),
        ("rfc5118/ipv6-correct-abnf-2-colons.dat", Accept),
    ]
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn load(file: &str) -> Option<Bytes> {
    std::fs::read(dir().join(file)).ok().map(Bytes::from)
}

fn message(file: &str) -> Message {
    let data = load(file).unwrap_or_else(|| panic!("{file} missing"));
    parse(data).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn request(file: &str) -> sip_msg::Request {
    match message(file) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("{file}: not a request"),
    }
}

/// Every typed view of the headers a UA or proxy relies on.
fn check_typed_views(file: &str, m: &Message, contacts_ok: bool) {
    let h = m.headers();
    let vias = h.vias().unwrap_or_else(|e| panic!("{file}: vias: {e}"));
    assert!(!vias.is_empty(), "{file}");
    assert_eq!(h.top_via().ok().as_ref(), vias.first(), "{file}");
    h.from().unwrap_or_else(|e| panic!("{file}: from: {e}"));
    h.to().unwrap_or_else(|e| panic!("{file}: to: {e}"));
    h.call_id()
        .unwrap_or_else(|e| panic!("{file}: call-id: {e}"));
    let cseq = h.cseq().unwrap_or_else(|e| panic!("{file}: cseq: {e}"));
    if let Message::Request(r) = m {
        assert_eq!(cseq.method, r.method, "{file}");
    }
    assert_eq!(h.contacts().is_ok(), contacts_ok, "{file}: contacts");
    h.max_forwards()
        .unwrap_or_else(|e| panic!("{file}: max-forwards: {e}"));
    h.content_type()
        .unwrap_or_else(|e| panic!("{file}: content-type: {e}"));
    h.routes().unwrap_or_else(|e| panic!("{file}: route: {e}"));
    h.record_routes()
        .unwrap_or_else(|e| panic!("{file}: record-route: {e}"));
}

/// parse(print(m)) is m (up to the recomputed Content-Length), and printing is stable.
fn check_round_trip(file: &str, m: &Message) {
    let printed = m.to_bytes();
    let again = parse(printed.clone()).unwrap_or_else(|e| panic!("{file}: reparse: {e}"));
    assert_eq!(again.to_bytes(), printed, "{file}: print is stable");
    let strip = |m: &Message| -> Vec<(String, Bytes)> {
        m.headers()
            .iter()
            .filter(|h| h.name != HeaderName::ContentLength)
            .map(|h| (h.name.as_str().to_owned(), h.value.clone()))
            .collect()
    };
    assert_eq!(strip(&again), strip(m), "{file}: headers");
    assert_eq!(again.body(), m.body(), "{file}: body");
    match (&again, m) {
        (Message::Request(a), Message::Request(b)) => {
            assert_eq!(a.method, b.method, "{file}");
            assert_eq!(a.uri, b.uri, "{file}");
        }
        (Message::Response(a), Message::Response(b)) => {
            assert_eq!((a.status, &a.reason), (b.status, &b.reason), "{file}");
        }
        _ => panic!("{file}: kind changed"),
    }
}

#[test]
fn every_vector_has_the_expected_outcome() {
    let mut checked = 0;
    for (file, outcome) in outcomes() {
        let data = load(file).unwrap_or_else(|| panic!("{file} missing"));
        checked += 1;
        match (parse(data), &outcome) {
            (Ok(m), Accept) => {
                check_typed_views(file, &m, true);
                check_round_trip(file, &m);
            }
            (Ok(m), AcceptBadContact) => {
                check_typed_views(file, &m, false);
                check_round_trip(file, &m);
            }
            (Err(e), Reject { kind, partial }) => {
                assert_eq!(e.kind(), kind, "{file}: {e}");
                assert_eq!(e.partial_request().is_some(), *partial, "{file}");
                if let Some(p) = e.partial_request() {
                    // Every rejected request here has a Via line: it can be answered, with
                    // the request's (possibly broken) Via, From, To, Call-ID and CSeq.
                    let resp = p
                        .response(e.status_code(), &e.to_string())
                        .unwrap_or_else(|| panic!("{file}: no response"));
                    let out = resp.to_bytes();
                    let head = format!("SIP/2.0 {} {e}\r\nVia: ", e.status_code());
                    assert!(out.starts_with(head.as_bytes()), "{file}");
                    let copied_parts_fine = matches!(
                        e.kind(),
                        ErrorKind::BadRequestLine
                            | ErrorKind::BadRequestUri
                            | ErrorKind::VersionNotSupported
                            | ErrorKind::CSeqMethodMismatch
                            | ErrorKind::ContentLengthMismatch
                            | ErrorKind::BadHeader(HeaderName::ContentLength)
                    );
                    if copied_parts_fine {
                        // Built from well-formed parts: the response itself parses.
                        parse(out).unwrap_or_else(|e| panic!("{file}: response: {e}"));
                    }
                }
            }
            (Ok(_), expected) => panic!("{file}: accepted, expected {expected:?}"),
            (Err(e), expected) => panic!("{file}: rejected ({e}), expected {expected:?}"),
        }
    }
    assert!(checked >= 61, "only {checked} vectors found");
}

#[test]
fn no_vector_is_left_without_a_decision() {
    let known: Vec<_> = outcomes().into_iter().map(|(f, _)| f).collect();
    for sub in ["rfc4475", "rfc5118"] {
        let entries = std::fs::read_dir(dir().join(sub)).expect("vector directory");
        for entry in entries.flatten() {
            let name = format!("{sub}/{}", entry.file_name().to_string_lossy());
            if name.ends_with(".dat") {
                assert!(
                    known.contains(&name.as_str()),
                    "{name} has no expected outcome"
                );
            }
        }
    }
}

/// The manifest's `expect` (what the RFC says) against our decision: "valid" must be
/// accepted by `parse`, "invalid" must be refused (by `parse` or a typed accessor);
/// "valid-lenient" may go either way and is documented in `outcomes()`.
#[test]
fn decisions_agree_with_the_manifest() {
    let Ok(text) = std::fs::read_to_string(dir().join("manifest.toml")) else {
        return; // The manifest is optional; the table above is the reference.
    };
    let manifest: toml::Table = text.parse().expect("manifest is TOML");
    let ours: BTreeMap<_, _> = outcomes().into_iter().collect();
    let vectors = manifest
        .get("vector")
        .and_then(|v| v.as_array())
        .expect("[[vector]] entries");
    for v in vectors {
        let file = v.get("file").and_then(|f| f.as_str()).expect("file");
        let expect = v.get("expect").and_then(|f| f.as_str()).expect("expect");
        let outcome = ours
            .get(file)
            .unwrap_or_else(|| panic!("{file} is in the manifest but has no outcome here"));
        match expect {
            "valid" => assert_eq!(outcome, &Accept, "{file}: the RFC says valid"),
            "invalid" => assert_ne!(outcome, &Accept, "{file}: the RFC says invalid"),
            "valid-lenient" => {}
            other => panic!("{file}: unknown expectation {other}"),
        }
    }
}

#[test]
fn nothing_panics_on_truncated_or_framed_vectors() {
    for (file, _) in outcomes() {
        let Some(data) = load(file) else { continue };
        for cut in 0..data.len() {
            let prefix = data.slice(..cut);
            let _ = parse(prefix.clone());
            let _ = frame_stream(&prefix, DEFAULT_MAX_MESSAGE_SIZE);
        }
        // Run every accessor on whatever parsed, even from rejected messages.
        let headers = match parse(data.clone()) {
            Ok(m) => m.headers().clone(),
            Err(e) => match e.into_partial_request() {
                Some(p) => p.headers,
                None => continue,
            },
        };
        let _ = headers.vias();
        let _ = headers.from();
        let _ = headers.to();
        let _ = headers.contacts();
        let _ = headers.cseq();
        let _ = headers.expires();
        let _ = headers.content_type();
    }
}

/// The offer every `invite_to_mira`-style message carries (generate.py `OSKAR_SDP`).
const OSKAR_SDP: &[u8] = b"v=0\r\no=oskar 3141 3141 IN IP4 198.51.100.23\r\ns=call\r\n\
c=IN IP4 198.51.100.23\r\nt=0 0\r\nm=audio 40100 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn domain(d: &'static str) -> Host {
    Host::Domain(Bytes::from_static(d.as_bytes()))
}

fn v4(a: &str) -> Host {
    Host::V4(a.parse().expect("v4"))
}

fn v6(a: &str) -> Host {
    Host::V6(a.parse().expect("v6"))
}

fn uri(s: &'static str) -> Uri {
    Uri::parse(Bytes::from_static(s.as_bytes())).expect("valid URI")
}

#[test]
fn wsinv_whitespace_folding_and_compact_forms() {
    let r = request("rfc4475/wsinv.dat");
    assert_eq!(r.method, Method::Invite);
    assert!(r.uri.params().contains("xflag"));
    assert_eq!(
        r.uri.params().value("x-trunk").map(|v| &v[..]),
        Some(&b"west"[..])
    );
    let h = &r.headers;
    assert_eq!(
        h.call_id().expect("valid").as_ref(),
        b"wsinv.b81f07@203.0.113.50"
    );
    let vias = h.vias().expect("valid");
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].host, domain("edge.switchboard.test"));
    assert_eq!(vias[0].transport, Transport::Udp);
    assert_eq!(vias[0].branch().map(|b| &b[..]), Some(&b"z9hG4bK.ws1"[..]));
    assert_eq!(vias[0].rport(), RportParam::Empty);
    assert_eq!(vias[1].transport, Transport::Tls);
    assert_eq!(vias[1].host, domain("sbc.carrier.example"));
    assert_eq!(vias[1].port, Some(5061));
    assert_eq!(vias[2].transport, Transport::Udp);
    assert_eq!(vias[2].host, v4("198.51.100.23"));
    assert_eq!(vias[2].branch().map(|b| &b[..]), Some(&b"z9hG4bKws3"[..]));
    assert_eq!(vias[2].received(), "198.51.100.23".parse().ok());
    let from = h.from().expect("valid");
    assert_eq!(from.display.as_deref(), Some(&br"Oskar N. \"[..]));
    assert_eq!(from.tag().map(|t| &t[..]), Some(&b"a81z"[..]));
    assert_eq!(
        h.to().expect("valid").tag().map(|t| &t[..]),
        Some(&b"w5-k2"[..])
    );
    assert_eq!(h.max_forwards().expect("valid"), Some(69));
    let cseq = h.cseq().expect("valid");
    assert_eq!((cseq.seq, cseq.method), (42, Method::Invite));
    assert_eq!(h.get(&HeaderName::Subject).map(|v| v.len()), Some(0));
    assert_eq!(
        h.get(&HeaderName::from("X-Sb-Folded")).map(|v| &v[..]),
        Some(&b"first part second part"[..])
    );
    assert_eq!(
        h.get(&HeaderName::from("x-sb-odd-separators"))
            .map(|v| &v[..]),
        Some(&b",;,;;,,;="[..])
    );
    let Contacts::List(contacts) = h.contacts().expect("valid") else {
        panic!("list")
    };
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].display.as_deref(), Some(&br#"Desk "A" \""#[..]));
    assert_eq!(contacts[0].expires().expect("valid"), Some(300));
    assert!(contacts[0].params.contains("x-flag"));
    assert_eq!(contacts[0].params.value("x-flag"), None);
    assert_eq!(contacts[0].q().expect("valid").map(|q| q.0), Some(500));
    assert_eq!(h.routes().expect("valid").len(), 1);
    assert_eq!(&r.body[..], OSKAR_SDP);
}

#[test]
fn intmeth_and_escapes() {
    let r = request("rfc4475/intmeth.dat");
    assert_eq!(r.method.as_str(), "Ping.%41-!*_+`'~Ext9");
    let cseq = r.headers.cseq().expect("valid");
    assert_eq!((cseq.seq, cseq.method), (2147483647, r.method.clone()));
    assert_eq!(
        r.uri.user().map(|u| &u[..]),
        Some(&b".-_~!*'()&=+$,;?/x%41"[..])
    );
    let to = r.headers.to().expect("valid");
    assert_eq!(
        to.display.as_deref(),
        Some(&b"ctl:\x00 esc:\x1b del:\x7f tab:\t"[..])
    );
    let from = r.headers.from().expect("valid");
    assert_eq!(
        from.display.as_deref(),
        Some(&b"Mr.~Odd `quote' x%41*!+_-"[..])
    );
    assert_eq!(from.tag().map(|t| &t[..]), Some(&b"`%!*_+-.'~9"[..]));
    assert_eq!(
        from.params
            .unquoted("x~!*+_.'-%Param")
            .map(|v| String::from_utf8_lossy(&v).into_owned()),
        Some("v\u{e4}xel\u{2013}\u{3ba}\u{3ad}\u{3bd}\u{3c4}\u{3c1}\u{3bf}".to_owned())
    );
    assert_eq!(
        r.headers.call_id().expect("valid").as_ref(),
        b"w0rd%zz-.!*_+`'~()<>:\\\"/[]?{}@x.(y)<z>:\\\"/[]?{}"
    );
    assert_eq!(r.headers.max_forwards().expect("valid"), Some(255));

    let r = request("rfc4475/esc01.dat");
    assert_eq!(
        r.uri.user_unescaped().as_deref(),
        Some(&b"night@desk:7 %ops"[..])
    );
    let to = r.headers.to().expect("valid").uri;
    assert_eq!(to.user_unescaped().as_deref(), Some(&b"mira"[..]));
    assert!(to.equivalent(&uri("sip:mira@switchboard.test")));
    assert_eq!(
        r.headers
            .from()
            .expect("valid")
            .uri
            .user_unescaped()
            .as_deref(),
        Some(&b"Oskar Nilsen!"[..])
    );
    assert_eq!(
        r.headers.call_id().expect("valid").as_ref(),
        b"esc01-77c1@198.51.100.23"
    );
    let Contacts::List(c) = r.headers.contacts().expect("valid") else {
        panic!("list")
    };
    assert_eq!(c.len(), 1);
    let contact = &c[0].uri;
    assert_eq!(contact.user_unescaped().as_deref(), Some(&b"oskar"[..]));
    assert_eq!(contact.transport().as_deref(), Some(&b"udp"[..]));
    assert_eq!(
        contact.params().unescaped("x-key").as_deref(),
        Some(&b"val%41"[..]),
        "unescaped once"
    );
    assert!(contact.equivalent(&uri("sip:oskar@198.51.100.23;transport=udp;x-key=val%2541")));
    assert!(!contact.equivalent(&uri("sip:oskar@198.51.100.23;transport=udp;x-key=valA")));

    let r = request("rfc4475/escnull.dat");
    for aor in [
        r.headers.to().expect("valid"),
        r.headers.from().expect("valid"),
    ] {
        assert_eq!(
            aor.uri.user_unescaped().as_deref(),
            Some(&b"line\0backup"[..])
        );
    }
    assert_eq!(r.headers.expires().expect("valid"), Some(600));
    let Contacts::List(c) = r.headers.contacts().expect("valid") else {
        panic!("list")
    };
    let users: Vec<_> = c.iter().filter_map(|c| c.uri.user_unescaped()).collect();
    assert_eq!(
        users,
        [
            Bytes::from_static(b"line\0"),
            Bytes::from_static(b"line\0\0")
        ]
    );
    assert!(!c[0].uri.equivalent(&c[1].uri));

    let r = request("rfc4475/esc02.dat");
    assert_eq!(r.method, Method::Other(Bytes::from_static(b"NOT%49FY")));
    let cseq = r.headers.cseq().expect("valid");
    assert_eq!((cseq.seq, cseq.method), (5, r.method.clone()));
    let Contacts::List(c) = r.headers.contacts().expect("valid") else {
        panic!("list")
    };
    assert_eq!(c.len(), 2, "Co%6Etact is another header");
    assert!(r.headers.contains(&HeaderName::from("Co%6Etact")));
    assert_eq!(
        r.headers.call_id().expect("valid").as_ref(),
        b"esc02-%41%zz%-9911@carrier.example"
    );

    let r = request("rfc4475/semiuri.dat");
    assert_eq!(
        r.uri.user().map(|u| &u[..]),
        Some(&b"desk;line=2%40floor3"[..])
    );
    assert_eq!(r.uri.host(), Some(&domain("switchboard.test")));
    assert_eq!(r.uri.params().len(), 1);
    assert_eq!(r.uri.transport().as_deref(), Some(&b"udp"[..]));
    let accept = r.headers.get(&HeaderName::Accept).expect("present");
    assert_eq!(sip_msg::split_list(accept).len(), 6);

    let r = request("rfc4475/lwsdisp.dat");
    let from = r.headers.from().expect("valid");
    assert_eq!(from.display.as_deref(), Some(&b"Oskar"[..]));
    assert_eq!(from.tag().map(|t| &t[..]), Some(&b"nolws"[..]));
    assert_eq!(
        r.headers.to().expect("valid").display.as_deref(),
        Some(&b"Mira"[..])
    );
}

#[test]
fn long_values_transports_and_bodies() {
    let r = request("rfc4475/longreq.dat");
    let vias = r.headers.vias().expect("valid");
    assert_eq!(vias.len(), 40);
    assert_eq!(vias[0].host, domain("edge.switchboard.test"));
    assert_eq!(
        vias.last().map(|v| (&v.host, v.port)),
        Some((&v4("198.51.100.23"), Some(5062)))
    );
    assert_eq!(r.headers.to().expect("valid").uri.port(), Some(5080));
    let call_id = r.headers.call_id().expect("valid");
    assert!(call_id.starts_with(b"longreq-"));
    assert_eq!(call_id.len(), 420);
    assert_eq!(&r.body[..], OSKAR_SDP);

    let r = request("rfc4475/dblreq.dat");
    assert_eq!(r.method, Method::Register);
    let cseq = r.headers.cseq().expect("valid");
    assert_eq!((cseq.seq, cseq.method), (21, Method::Register));
    assert_eq!(
        r.headers.call_id().expect("valid").as_ref(),
        b"dblreq-31aa@198.51.100.23"
    );
    assert!(r.body.is_empty(), "the trailing INVITE is ignored");

    let r = request("rfc4475/transports.dat");
    let vias = r.headers.vias().expect("valid");
    let t: Vec<_> = vias.iter().map(|v| v.transport.clone()).collect();
    assert_eq!(
        t,
        [
            Transport::Udp,
            Transport::Sctp,
            Transport::Other(Bytes::from_static(b"TLS-SCTP")),
            Transport::Wss,
            Transport::Other(Bytes::from_static(b"X-PIGEON")),
            Transport::Tcp
        ]
    );
    assert_eq!(vias[4].host, domain("coop.carrier.example"));

    let r = request("rfc4475/mpart01.dat");
    assert_eq!(r.body.len(), 585);
    assert_eq!(r.headers.content_length().expect("valid"), Some(585));
    assert!(r
        .headers
        .content_type()
        .expect("valid")
        .expect("present")
        .is("multipart", "mixed"));
    let top = r.headers.top_via().expect("valid");
    assert_eq!((&top.host, top.port), (&v4("198.51.100.23"), Some(5062)));
    assert_eq!(top.rport(), RportParam::Empty);

    let r = request("rfc4475/inv2543.dat");
    let top = r.headers.top_via().expect("valid");
    assert_eq!((&top.host, top.port), (&domain("gw7.pbx.test"), None));
    assert!(top.branch().is_none());
    assert!(r.headers.from().expect("valid").tag().is_none());
    assert_eq!(
        &r.body[..],
        b"v=0\r\no=pbx 42 42 IN IP4 198.51.100.77\r\ns=call\r\nc=IN IP4 198.51.100.77\r\n\
t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        "no Content-Length: the rest of the datagram"
    );

    let Message::Response(r) = message("rfc4475/unreason.dat") else {
        panic!("response")
    };
    assert_eq!(r.status, 200);
    assert_eq!(
        std::str::from_utf8(&r.reason).expect("UTF-8"),
        "OK: 6*7=42; (yes!) ~ a+b $ & ? @ /x, 100%25 v\u{e4}xel \u{2211} \u{260e}\tfine"
    );
    let Message::Response(r) = message("rfc4475/noreason.dat") else {
        panic!("response")
    };
    assert_eq!((r.status, r.reason.len()), (180, 0));

    let r = request("rfc4475/zeromf.dat");
    assert_eq!(r.headers.max_forwards().expect("valid"), Some(0));
    let r = request("rfc4475/regescrt.dat");
    let Contacts::List(c) = r.headers.contacts().expect("valid") else {
        panic!("list")
    };
    assert_eq!(
        c[0].uri.headers().map(|h| &h[..]),
        Some(&b"Route=%3Csip:relay.carrier.example%3Blr%3E"[..])
    );
    let r = request("rfc4475/cparam01.dat");
    let Contacts::List(c) = r.headers.contacts().expect("valid") else {
        panic!("list")
    };
    assert!(c[0].params.contains("x-sb-line") && c[0].uri.params().is_empty());
    assert_eq!(c[0].expires().expect("valid"), Some(600));
    let r = request("rfc4475/cparam02.dat");
    let Contacts::List(c) = r.headers.contacts().expect("valid") else {
        panic!("list")
    };
    assert!(c[0].uri.params().contains("x-sb-line") && c[0].params.is_empty());
}

#[test]
fn schemes_the_server_must_refuse_itself() {
    let r = request("rfc4475/unkscm.dat");
    assert_eq!(
        r.uri.scheme(),
        &Scheme::Other(Bytes::from_static(b"zz+carrier.pigeon-2"))
    );
    let r = request("rfc4475/novelsc.dat");
    assert_eq!(
        r.uri.scheme(),
        &Scheme::Other(Bytes::from_static(b"xmlrpc.beep"))
    );
    let r = request("rfc4475/unksm2.dat");
    assert!(matches!(
        r.headers.to().expect("valid").uri.scheme(),
        Scheme::Other(_)
    ));
    assert!(matches!(
        r.headers.from().expect("valid").uri.scheme(),
        Scheme::Other(_)
    ));
}

#[test]
fn scalar02_every_scalar_is_refused() {
    let e = parse(load("rfc4475/scalar02.dat").expect("present")).expect_err("bad CSeq");
    let p = e.into_partial_request().expect("partial");
    assert!(p.headers.max_forwards().is_err(), "256 > 255");
    assert!(p.headers.expires().is_err());
    let Contacts::List(c) = p.headers.contacts().expect("syntax is fine") else {
        panic!("list")
    };
    assert!(c[0].expires().is_err());
}

#[test]
fn badvers_can_be_answered_with_505() {
    let e = parse(load("rfc4475/badvers.dat").expect("present")).expect_err("SIP/7.0");
    assert!(e.is_version_not_supported());
    let p = e.partial_request().expect("partial");
    assert_eq!(p.method, Method::Options);
    let via = p.headers.top_via().expect("readable");
    assert!(!via.is_sip2());
    let resp = p
        .response(505, "Version Not Supported")
        .expect("answerable");
    let out = resp.to_bytes();
    assert!(out
        .starts_with(b"SIP/2.0 505 Version Not Supported\r\nVia: SIP/7.0/UDP 198.51.100.23:5062"));
}

#[test]
fn rfc5118_ipv6() {
    let r = request("rfc5118/ipv6-good.dat");
    assert_eq!(r.uri.host(), Some(&v6("2001:db8:5b::1")));
    let r = request("rfc5118/port-ambiguous.dat");
    assert_eq!(r.uri.host(), Some(&v6("2001:db8:5b::1:5080")));
    assert_eq!(r.uri.port(), None);
    let r = request("rfc5118/port-unambiguous.dat");
    assert_eq!(r.uri.port(), Some(5080));
    let received = "2001:db8:5b:17::ff".parse().ok();
    for f in [
        "rfc5118/via-received-param-with-delim.dat",
        "rfc5118/via-received-param-no-delim.dat",
    ] {
        let v = request(f).headers.top_via().expect("valid");
        assert_eq!(v.received(), received, "{f}");
        assert_eq!(v.host, v6("2001:db8:5b:17::a"));
    }
    let r = request("rfc5118/mult-ip-in-header.dat");
    let vias = r.headers.vias().expect("valid");
    assert_eq!(vias[0].port, Some(6060));
    assert_eq!(vias[2].received(), "203.0.113.77".parse().ok());
    let r = request("rfc5118/ipv4-mapped-ipv6.dat");
    assert_eq!(
        r.headers.top_via().expect("valid").host,
        v6("::ffff:198.51.100.23")
    );
    let three = request("rfc5118/ipv6-bug-abnf-3-colons.dat");
    let two = request("rfc5118/ipv6-correct-abnf-2-colons.dat");
    assert_eq!(three.uri.host(), two.uri.host());
    assert_eq!(
        three.uri.raw().as_ref(),
        b"sip:mira@[2001:db8:5b:::198.51.100.40]",
        "forwarded as received"
    );
}
