//! Property tests: generated messages (random methods, URIs, IPv6 hosts, header sets with
//! compact names, odd spacing and folded values, binary bodies) parse to what was meant,
//! print → parse → print is stable, and no input of any kind makes the parser panic.

use bytes::Bytes;
use proptest::prelude::*;
use sip_msg::{frame_stream, parse, HeaderName, Message, DEFAULT_MAX_MESSAGE_SIZE};

const METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "INFO",
    "MESSAGE",
    "PRACK",
    "UPDATE",
    "REFER",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
];

/// A generated header: the spelling to write on the wire, how to write it, and what the
/// parser must give back.
#[derive(Debug, Clone)]
struct GenHeader {
    wire_name: String,
    name: HeaderName,
    /// Value on the wire, possibly folded.
    wire_value: String,
    /// Value once unfolded and trimmed.
    value: String,
    before_colon: &'static str,
    after_colon: &'static str,
}

#[derive(Debug, Clone)]
enum StartLine {
    Request { method: String, uri: String },
    Response { status: u16, reason: String },
}

#[derive(Debug, Clone)]
struct GenMessage {
    start: StartLine,
    headers: Vec<GenHeader>,
    body: Vec<u8>,
}

impl GenMessage {
    fn wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.start {
            StartLine::Request { method, uri } => {
                out.extend_from_slice(format!("{method} {uri} SIP/2.0\r\n").as_bytes())
            }
            StartLine::Response { status, reason } => {
                out.extend_from_slice(format!("SIP/2.0 {status} {reason}\r\n").as_bytes())
            }
        }
        for h in &self.headers {
            out.extend_from_slice(
                format!(
                    "{}{}:{}{}\r\n",
                    h.wire_name, h.before_colon, h.after_colon, h.wire_value
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9.!%*_+`'~-]{1,12}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,8}){0,2}",
        any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

fn sip_uri() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-zA-Z0-9+._-]{1,10}"),
        host(),
        prop::option::of(1u16..),
        prop::collection::vec(("[a-z]{1,6}", prop::option::of("[a-zA-Z0-9.-]{1,8}")), 0..3),
        prop::bool::ANY,
    )
        .prop_map(|(user, host, port, params, secure)| {
            let mut s = String::from(if secure { "sips:" } else { "sip:" });
            if let Some(u) = user {
                s.push_str(&u);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            for (n, v) in params {
                s.push(';');
                s.push_str(&n);
                if let Some(v) = v {
                    s.push('=');
                    s.push_str(&v);
                }
            }
            s
        })
}

fn any_uri() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => sip_uri(),
        1 => "\\+[0-9]{6,12}".prop_map(|n| format!("tel:{n}")),
        1 => "[a-z]{2,6}:[a-zA-Z0-9]{1,10}",
    ]
}

/// Words of printable ASCII joined by single spaces.
fn words() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[!-~]{1,8}", 1..6)
}

/// How a value is written: maybe folded at word boundaries, with extra blanks around the
/// fold. The unfolded value is always the words joined by single spaces.
fn folded(words: Vec<String>) -> impl Strategy<Value = (String, String)> {
    let n = words.len();
    prop::collection::vec(
        prop_oneof![Just(" "), Just("\r\n "), Just("\r\n\t"), Just("  \r\n   ")],
        n.saturating_sub(1),
    )
    .prop_map(move |seps| {
        let mut wire = String::new();
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                wire.push_str(seps.get(i - 1).copied().unwrap_or(" "));
            }
            wire.push_str(w);
        }
        (wire, words.join(" "))
    })
}

fn spelling(full: &'static str, compact: Option<&'static str>) -> impl Strategy<Value = String> {
    let mut options = vec![full.to_owned(), full.to_lowercase(), full.to_uppercase()];
    if let Some(c) = compact {
        options.push(c.to_owned());
        options.push(c.to_uppercase());
    }
    prop::sample::select(options)
}

fn header(
    full: &'static str,
    compact: Option<&'static str>,
    value: impl Strategy<Value = (String, String)>,
) -> impl Strategy<Value = GenHeader> {
    (
        spelling(full, compact),
        value,
        prop::sample::select(vec!["", " ", "\t"]),
        prop::sample::select(vec!["", " ", "  ", "\t"]),
    )
        .prop_map(
            move |(wire_name, (wire_value, value), before_colon, after_colon)| GenHeader {
                wire_name,
                name: HeaderName::from(full),
                wire_value,
                value,
                before_colon,
                after_colon,
            },
        )
}

fn plain(v: impl Strategy<Value = String>) -> impl Strategy<Value = (String, String)> {
    v.prop_map(|s| (s.clone(), s))
}

fn via_value() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["UDP", "TCP", "TLS", "WS"]),
        host(),
        prop::option::of(1u16..),
        token(),
        prop::bool::ANY,
    )
        .prop_map(|(t, h, p, b, rport)| {
            let port = p.map(|p| format!(":{p}")).unwrap_or_default();
            let rport = if rport { ";rport" } else { "" };
            format!("SIP/2.0/{t} {h}{port};branch=z9hG4bK{b}{rport}")
        })
}

fn name_addr_value(with_tag: bool) -> impl Strategy<Value = String> {
    (
        prop::option::of(prop_oneof![
            "[a-zA-Z0-9]{1,8}( [a-zA-Z0-9]{1,8}){0,2}",
            "[ !#-\\[\\]-~]{0,12}".prop_map(|s| format!("\"{s}\"")),
            "[a-z]{1,5}".prop_map(|s| format!("\"{s} \\\" \\\\ x\"")),
        ]),
        sip_uri(),
        token(),
    )
        .prop_map(move |(display, uri, tag)| {
            let mut s = String::new();
            if let Some(d) = display {
                s.push_str(&d);
                s.push(' ');
            }
            s.push('<');
            s.push_str(&uri);
            s.push('>');
            if with_tag {
                s.push_str(";tag=");
                s.push_str(&tag);
            }
            s
        })
}

fn extra_header() -> impl Strategy<Value = GenHeader> {
    prop_oneof![
        header("Subject", Some("s"), words().prop_flat_map(folded)),
        header("User-Agent", None, words().prop_flat_map(folded)),
        header("Allow", None, words().prop_flat_map(folded)),
        header("Allow-Events", Some("u"), words().prop_flat_map(folded)),
        header("Supported", Some("k"), words().prop_flat_map(folded)),
        header("Contact", Some("m"), plain(name_addr_value(false))),
        header(
            "Route",
            None,
            plain(sip_uri().prop_map(|u| format!("<{u}>")))
        ),
        header(
            "Max-Forwards",
            None,
            plain((0u8..).prop_map(|n| n.to_string()))
        ),
        header("X-Switchboard-Line", None, plain("\\+[0-9]{6,12}")),
        header("X-Custom-Thing", None, words().prop_flat_map(folded)),
        header("WWW-Authenticate", None, words().prop_flat_map(folded)),
        header(
            "Content-Type",
            Some("c"),
            plain(Just("application/sdp".to_owned()))
        ),
        header(
            "Refer-To",
            Some("r"),
            plain(sip_uri().prop_map(|u| format!("<{u}>")))
        ),
        header("Event", Some("o"), plain(token())),
    ]
}

fn message() -> impl Strategy<Value = GenMessage> {
    let start = prop_oneof![
        (
            prop_oneof![
                prop::sample::select(METHODS).prop_map(str::to_owned),
                "[A-Z]{3,10}"
            ],
            any_uri()
        )
            .prop_map(|(method, uri)| StartLine::Request { method, uri }),
        (100u16..700, "[ -~]{0,20}")
            .prop_map(|(status, reason)| StartLine::Response { status, reason }),
    ];
    (
        start,
        prop::collection::vec(via_value(), 1..3),
        name_addr_value(true),
        name_addr_value(false),
        "[a-zA-Z0-9]{4,16}@[a-z0-9.]{1,12}",
        0u32..,
        prop::collection::vec(extra_header(), 0..8),
        prop::collection::vec(any::<u8>(), 0..120),
        prop::bool::ANY,
        any::<prop::sample::Index>(),
    )
        .prop_flat_map(
            |(start, vias, from, to, call_id, seq, extras, body, compact_cl, shuffle)| {
                let method = match &start {
                    StartLine::Request { method, .. } => method.clone(),
                    StartLine::Response { .. } => "INVITE".to_owned(),
                };
                let cl_name = if compact_cl { "l" } else { "Content-Length" };
                let essentials = (
                    header("Via", Some("v"), plain(Just(vias.join(", ")))),
                    header("From", Some("f"), plain(Just(from))),
                    header("To", Some("t"), plain(Just(to))),
                    header("Call-ID", Some("i"), plain(Just(call_id))),
                    header("CSeq", None, plain(Just(format!("{seq} {method}")))),
                    header("Content-Length", None, plain(Just(body.len().to_string()))),
                );
                (essentials, Just((start, extras, body, cl_name, shuffle)))
            },
        )
        .prop_map(
            |((via, from, to, cid, cseq, mut cl), (start, extras, body, cl_name, shuffle))| {
                cl.wire_name = cl_name.to_owned();
                // Via first (as every real message has it), the rest interleaved.
                let mut rest = vec![from, to, cid, cseq, cl];
                for (i, e) in extras.into_iter().enumerate() {
                    let at = (shuffle.index(rest.len() + 1) + i) % (rest.len() + 1);
                    rest.insert(at, e);
                }
                let mut headers = vec![via];
                headers.extend(rest);
                GenMessage {
                    start,
                    headers,
                    body,
                }
            },
        )
}

fn strip_content_length(m: &Message) -> Vec<(HeaderName, Bytes)> {
    m.headers()
        .iter()
        .filter(|h| h.name != HeaderName::ContentLength)
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_messages_parse_to_what_was_meant(g in message()) {
        let wire = Bytes::from(g.wire());
        let m = parse(wire.clone()).map_err(|e| {
            TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&wire)))
        })?;
        match (&g.start, &m) {
            (StartLine::Request { method, uri }, Message::Request(r)) => {
                prop_assert_eq!(r.method.as_str(), method.as_str());
                prop_assert_eq!(r.uri.raw().as_ref(), uri.as_bytes());
            }
            (StartLine::Response { status, reason }, Message::Response(r)) => {
                prop_assert_eq!(r.status, *status);
                prop_assert_eq!(r.reason.as_ref(), reason.as_bytes());
            }
            _ => prop_assert!(false, "kind changed"),
        }
        let got: Vec<_> = m.headers().iter().map(|h| (h.name.clone(), h.value.clone())).collect();
        let want: Vec<_> = g
            .headers
            .iter()
            .map(|h| (h.name.clone(), Bytes::from(h.value.clone())))
            .collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(m.body().as_ref(), &g.body[..]);

        // Typed views agree with what was generated.
        let h = m.headers();
        prop_assert_eq!(
            h.vias().map_err(|e| TestCaseError::fail(e.to_string()))?.len(),
            g.headers[0].value.matches("SIP/2.0/").count()
        );
        let from = h.from().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(from.tag().is_some());
        h.to().map_err(|e| TestCaseError::fail(e.to_string()))?;
        h.cseq().map_err(|e| TestCaseError::fail(e.to_string()))?;
        h.call_id().map_err(|e| TestCaseError::fail(e.to_string()))?;
        h.contacts().map_err(|e| TestCaseError::fail(e.to_string()))?;
        h.routes().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn print_parse_print_is_stable(g in message()) {
        let m1 = parse(Bytes::from(g.wire())).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let p1 = m1.to_bytes();
        let m2 = parse(p1.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let p2 = m2.to_bytes();
        prop_assert_eq!(&p1, &p2);
        prop_assert_eq!(strip_content_length(&m1), strip_content_length(&m2));
        prop_assert_eq!(m1.body(), m2.body());
        match (&m1, &m2) {
            (Message::Request(a), Message::Request(b)) => {
                prop_assert_eq!(&a.method, &b.method);
                prop_assert_eq!(&a.uri, &b.uri);
            }
            (Message::Response(a), Message::Response(b)) => {
                prop_assert_eq!((a.status, &a.reason), (b.status, &b.reason));
            }
            _ => prop_assert!(false, "kind changed"),
        }
        // A printed message is also a well-framed stream message.
        prop_assert!(matches!(
            frame_stream(&p1, DEFAULT_MAX_MESSAGE_SIZE),
            sip_msg::Framed::Message(n) if n == p1.len()
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..1500)) {
        exercise(&data);
    }

    #[test]
    fn mutated_messages_never_panic(
        g in message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut data = g.wire();
        for (at, byte, op) in edits {
            if data.is_empty() {
                break;
            }
            let i = at.index(data.len());
            match op {
                0 => data[i] = byte,
                1 => data.insert(i, byte),
                _ => {
                    data.remove(i);
                }
            }
        }
        exercise(&data);
    }

    #[test]
    fn sip_flavoured_garbage_never_panics(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "INVITE ", "SIP/2.0", " ", "\r\n", "\n", "\r", ":", ";", ",", "\"", "\\", "<", ">",
                "[", "]", "@", "sip:", "tel:", "Via", "v", "l", "Content-Length", "CSeq", "1",
                "99999999999999999999", "=", "?", "\t", "branch", "tag", "SIP/2.0/UDP ", "*",
                "%", "%4", "::", "[::1]", "To", "From", "Call-ID", "i", "f", "t", "m",
            ]),
            0..80,
        )
    ) {
        exercise(parts.concat().as_bytes());
    }
}

/// Parse, frame, and run every accessor and printer on whatever comes out.
fn exercise(data: &[u8]) {
    let _ = frame_stream(data, DEFAULT_MAX_MESSAGE_SIZE);
    let _ = frame_stream(data, 64);
    let headers = match parse(Bytes::copy_from_slice(data)) {
        Ok(m) => {
            let printed = m.to_bytes();
            // Whatever we accept, we print into something we accept again.
            assert!(
                parse(printed).is_ok(),
                "printed form of an accepted message re-parses"
            );
            m.headers().clone()
        }
        Err(e) => {
            let _ = e.to_string();
            match e.into_partial_request() {
                Some(p) => {
                    if let Some(r) = p.response(400, "Bad Request") {
                        let _ = r.to_bytes();
                    }
                    p.headers
                }
                None => return,
            }
        }
    };
    let _ = headers.vias();
    let _ = headers.top_via().map(|v| v.response_target());
    let _ = headers.from().map(|f| f.to_bytes());
    let _ = headers.to();
    let _ = headers.call_id();
    let _ = headers.cseq();
    let _ = headers.max_forwards();
    let _ = headers.contacts();
    let _ = headers.routes();
    let _ = headers.record_routes();
    let _ = headers.expires();
    let _ = headers.content_type();
    let _ = headers.tokens(&HeaderName::Supported);
    let mut h = headers;
    let _ = h.stamp_top_via("192.0.2.1:5060".parse().expect("literal address"));
}
