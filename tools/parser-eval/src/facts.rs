//! What an adapter reports about a parsed message, and the checks run against it.
//!
//! Every candidate crate has its own types, so each adapter boils a parsed message down to the
//! same small set of facts: the start line, Call-ID, every Via sent-by, the Contact count, CSeq,
//! all header values (unfolded) and the body length. The checks in [`checks_for`] are written
//! by hand from what each message contains (crates/sip-msg/tests/vectors/generate.py documents
//! every message), never derived from any candidate's output, so a candidate cannot grade
//! itself.

use std::net::IpAddr;

/// A host and optional port, as written in a Via sent-by or a SIP URI.
#[derive(Debug, Clone)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

/// The start line, reduced to what the checks look at.
#[derive(Debug, Clone)]
pub enum Start {
    Request {
        method: String,
        /// `None` when the Request-URI is not a sip/sips URI or the candidate does not expose it.
        uri: Option<HostPort>,
    },
    Response {
        code: u16,
    },
}

/// Result of decoding one header with the candidate's typed API.
pub type Typed<T> = Result<T, String>;

/// Everything the checks may ask about one parsed message.
#[derive(Debug, Clone)]
pub struct Facts {
    pub start: Start,
    /// Typed Call-ID; `Ok(None)` when the candidate found no Call-ID header.
    pub call_id: Typed<Option<String>>,
    /// Every Via value in order, comma-joined rows split.
    pub vias: Typed<Vec<HostPort>>,
    /// Number of Contact values, comma-joined rows split.
    pub contacts: Typed<usize>,
    /// CSeq number and method; `Ok(None)` when absent.
    pub cseq: Typed<Option<(u32, String)>>,
    /// Names of core headers that were present but failed typed decoding.
    pub typed_failures: Vec<String>,
    /// Every header as (name as the candidate reports it, value), for raw lookups.
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

/// One expectation about a parsed message.
#[derive(Debug, Clone)]
pub enum Check {
    CallId(&'static str),
    ViaCount(usize),
    /// Via at index: host, port.
    Via(usize, &'static str, Option<u16>),
    ContactCount(usize),
    /// Request-URI host and port.
    Ruri(&'static str, Option<u16>),
    CSeq(u32, &'static str),
    /// A header (matched case-insensitively by name) whose value, after collapsing all
    /// whitespace (including folding) to single spaces, equals this.
    Header(&'static str, &'static str),
    BodyLen(usize),
    Status(u16),
}

impl Check {
    /// Short label used in the results table.
    pub fn label(&self) -> String {
        match self {
            Check::CallId(_) => "call-id".into(),
            Check::ViaCount(n) => format!("via-count={n}"),
            Check::Via(i, _, _) => format!("via[{i}]"),
            Check::ContactCount(n) => format!("contact-count={n}"),
            Check::Ruri(_, _) => "ruri-host".into(),
            Check::CSeq(_, _) => "cseq".into(),
            Check::Header(n, _) => format!("hdr:{n}"),
            Check::BodyLen(n) => format!("body={n}"),
            Check::Status(c) => format!("status={c}"),
        }
    }

    /// `Ok(())` when the facts satisfy this check, otherwise what was found instead.
    pub fn verify(&self, f: &Facts) -> Result<(), String> {
        match self {
            Check::CallId(want) => match &f.call_id {
                Ok(Some(got)) if got == want => Ok(()),
                Ok(Some(got)) => Err(format!("got {got:?}")),
                Ok(None) => Err("missing".into()),
                Err(e) => Err(format!("decode error: {e}")),
            },
            Check::ViaCount(n) => match &f.vias {
                Ok(v) if v.len() == *n => Ok(()),
                Ok(v) => Err(format!("got {}", v.len())),
                Err(e) => Err(format!("decode error: {e}")),
            },
            Check::Via(i, host, port) => match &f.vias {
                Ok(v) => match v.get(*i) {
                    Some(hp) if same_host(&hp.host, host) && hp.port == *port => Ok(()),
                    Some(hp) => Err(format!("got {}:{:?}", hp.host, hp.port)),
                    None => Err("absent".into()),
                },
                Err(e) => Err(format!("decode error: {e}")),
            },
            Check::ContactCount(n) => match &f.contacts {
                Ok(c) if c == n => Ok(()),
                Ok(c) => Err(format!("got {c}")),
                Err(e) => Err(format!("decode error: {e}")),
            },
            Check::Ruri(host, port) => match &f.start {
                Start::Request { uri: Some(hp), .. }
                    if same_host(&hp.host, host) && hp.port == *port =>
                {
                    Ok(())
                }
                Start::Request { uri: Some(hp), .. } => {
                    Err(format!("got {}:{:?}", hp.host, hp.port))
                }
                Start::Request { uri: None, .. } => Err("no sip URI exposed".into()),
                Start::Response { .. } => Err("is a response".into()),
            },
            Check::CSeq(n, m) => match &f.cseq {
                Ok(Some((gn, gm))) if gn == n && gm == m => Ok(()),
                Ok(Some((gn, gm))) => Err(format!("got {gn} {gm}")),
                Ok(None) => Err("missing".into()),
                Err(e) => Err(format!("decode error: {e}")),
            },
            Check::Header(name, want) => {
                let got: Vec<String> = f
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| collapse_ws(v))
                    .collect();
                if got.iter().any(|g| g == want) {
                    Ok(())
                } else if got.is_empty() {
                    Err("missing".into())
                } else {
                    Err(format!("got {:?}", got))
                }
            }
            Check::BodyLen(n) => {
                if f.body_len == *n {
                    Ok(())
                } else {
                    Err(format!("got {}", f.body_len))
                }
            }
            Check::Status(c) => match f.start {
                Start::Response { code } if code == *c => Ok(()),
                Start::Response { code } => Err(format!("got {code}")),
                Start::Request { .. } => Err("is a request".into()),
            },
        }
    }
}

/// Collapse every run of whitespace (SP, HTAB, CR, LF) to one SP and trim.
pub fn collapse_ws(s: &str) -> String {
    s.split([' ', '\t', '\r', '\n'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Normalise a host for comparison: brackets dropped, IP literals canonicalised, names
/// lowercased. Candidates differ in whether they keep IPv6 brackets; that is not an error.
pub fn norm_host(h: &str) -> String {
    let inner = h.trim().trim_start_matches('[').trim_end_matches(']');
    match inner.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => inner.to_ascii_lowercase(),
    }
}

fn same_host(got: &str, want: &str) -> bool {
    norm_host(got) == norm_host(want)
}

/// The hand-written expectations for one vector file (path relative to the vectors dir or
/// the extra dir). Empty when the file has nothing worth checking beyond parse/reject.
pub fn checks_for(file: &str) -> Vec<Check> {
    use Check::*;
    match file {
        // Values below are those generate.py (crates/sip-msg/tests/vectors) writes; its
        // docstring per message says why each is there.
        "rfc4475/wsinv.dat" => vec![
            Ruri("switchboard.test", None),
            CallId("wsinv.b81f07@203.0.113.50"),
            CSeq(42, "INVITE"),
            ViaCount(3),
            Via(0, "edge.switchboard.test", None),
            Via(1, "sbc.carrier.example", Some(5061)),
            Via(2, "198.51.100.23", None),
            ContactCount(1),
            Header("X-Sb-Folded", "first part second part"),
            Header("X-Sb-Odd-Separators", ",;,;;,,;="),
            BodyLen(131),
        ],
        "rfc4475/intmeth.dat" => vec![
            Ruri("switchboard.test", None),
            CallId(r#"w0rd%zz-.!*_+`'~()<>:\"/[]?{}@x.(y)<z>:\"/[]?{}"#),
            CSeq(2147483647, "Ping.%41-!*_+`'~Ext9"),
            ViaCount(1),
        ],
        "rfc4475/esc01.dat" => vec![
            CallId("esc01-77c1@198.51.100.23"),
            ContactCount(1),
            BodyLen(131),
        ],
        "rfc4475/escnull.dat" => vec![CallId("escnull-5d2e@198.51.100.23"), ContactCount(2)],
        "rfc4475/esc02.dat" => vec![
            CallId("esc02-%41%zz%-9911@carrier.example"),
            CSeq(5, "NOT%49FY"),
            // `Co%6Etact` is an unknown header, not a third Contact.
            ContactCount(2),
        ],
        "rfc4475/lwsdisp.dat" => vec![CallId("lwsdisp-0c4a@198.51.100.23")],
        "rfc4475/longreq.dat" => vec![
            ViaCount(40),
            Via(0, "edge.switchboard.test", None),
            Via(39, "198.51.100.23", Some(5062)),
            ContactCount(1),
            BodyLen(131),
        ],
        "rfc4475/dblreq.dat" => vec![
            CSeq(21, "REGISTER"),
            CallId("dblreq-31aa@198.51.100.23"),
            BodyLen(0),
        ],
        "rfc4475/semiuri.dat" => vec![
            Ruri("switchboard.test", None),
            Header(
                "Accept",
                "application/sdp;level=1, application/pidf+xml, message/sipfrag;version=2.0, multipart/mixed, text/plain;q=0.1, */*;q=0",
            ),
        ],
        "rfc4475/transports.dat" => vec![
            CallId("transports-5b0e@198.51.100.23"),
            ViaCount(6),
            Via(4, "coop.carrier.example", None),
            Via(5, "198.51.100.23", Some(5062)),
        ],
        "rfc4475/mpart01.dat" => vec![
            CallId("mpart01-8d41@198.51.100.23"),
            Via(0, "198.51.100.23", Some(5062)),
            BodyLen(585),
        ],
        "rfc4475/unreason.dat" => vec![Status(200), ContactCount(1), BodyLen(128)],
        "rfc4475/noreason.dat" => vec![Status(180), CSeq(7, "INVITE")],
        "rfc4475/unkscm.dat" => vec![CallId("unkscm-2290@198.51.100.23")],
        "rfc4475/unksm2.dat" => vec![CallId("unksm2-19e4@carrier.example"), ContactCount(1)],
        "rfc4475/bext01.dat" => vec![Header("Require", "x-sb-teleport, x-sb-time-travel")],
        "rfc4475/invut.dat" => vec![BodyLen(34)],
        "rfc4475/regaut01.dat" => vec![Header(
            "Authorization",
            r#"Sb-Token-42 blob="c3dpdGNoYm9hcmQ=", realm=switchboard.test"#,
        )],
        "rfc4475/bcast.dat" => vec![
            Status(200),
            ViaCount(2),
            Via(1, "255.255.255.255", Some(5060)),
        ],
        "rfc4475/zeromf.dat" => vec![Header("Max-Forwards", "0")],
        "rfc4475/cparam01.dat" => vec![ContactCount(1), Via(0, "198.51.100.23", Some(5062))],
        "rfc4475/cparam02.dat" => vec![ContactCount(1)],
        "rfc4475/regescrt.dat" => vec![ContactCount(1)],
        "rfc4475/inv2543.dat" => vec![
            CallId("inv2543-0042@gw7.pbx.test"),
            Via(0, "gw7.pbx.test", None),
            BodyLen(125),
        ],
        "rfc5118/ipv6-good.dat" => vec![
            Ruri("[2001:db8:5b::1]", None),
            Via(0, "[2001:db8:5b:17::a]", None),
            ContactCount(1),
        ],
        "rfc5118/port-ambiguous.dat" => vec![Ruri("[2001:db8:5b::1:5080]", None)],
        "rfc5118/port-unambiguous.dat" => vec![Ruri("[2001:db8:5b::1]", Some(5080))],
        "rfc5118/via-received-param-with-delim.dat" => {
            vec![Via(0, "[2001:db8:5b:17::a]", None)]
        }
        "rfc5118/via-received-param-no-delim.dat" => vec![Via(0, "[2001:db8:5b:17::a]", None)],
        "rfc5118/ipv6-in-sdp.dat" => vec![
            Ruri("[2001:db8:5b::1]", None),
            Via(0, "[2001:db8:5b:17::a]", None),
            ContactCount(1),
            BodyLen(139),
        ],
        "rfc5118/mult-ip-in-header.dat" => vec![
            ViaCount(3),
            Via(0, "[2001:db8:5b:17::a]", Some(6060)),
            Via(1, "198.51.100.23", None),
            Via(2, "[2001:db8:5b:99::2]", None),
        ],
        "rfc5118/mult-ip-in-sdp.dat" => vec![Ruri("[2001:db8:5b::1]", None), BodyLen(213)],
        "rfc5118/ipv4-mapped-ipv6.dat" => vec![
            ViaCount(2),
            Via(0, "[::ffff:198.51.100.23]", Some(5072)),
            Via(1, "[::ffff:203.0.113.5]", None),
            ContactCount(1),
            BodyLen(145),
        ],
        "rfc5118/ipv6-correct-abnf-2-colons.dat" => {
            vec![Ruri("[2001:db8:5b::198.51.100.40]", None)]
        }
        // The 3-colon form is not a valid IPv6 textual address; RFC 5118 only asks that it be
        // tolerated. No host check.
        "extra/contact-list.sip" => vec![
            CallId("cl-7f3a9c@198.51.100.7"),
            ContactCount(3),
            ViaCount(3),
            Via(1, "[2001:db8::5]", Some(5062)),
            Via(2, "203.0.113.9", Some(5060)),
        ],
        "extra/compact-folded.sip" => vec![
            CallId("cf-19ab@phone.example.net"),
            ViaCount(2),
            Via(0, "[2001:db8:1::20]", Some(5070)),
            Via(1, "10.0.0.7", None),
            ContactCount(1),
            CSeq(7, "INVITE"),
            Header("Subject", "Conference call about the quarterly numbers"),
            BodyLen(0),
        ],
        "extra/quoted-comma-display.sip" => vec![
            CallId("qcd-00112233@pbx.example.com"),
            ContactCount(2),
            Ruri("[2001:db8::77]", Some(5080)),
        ],
        "extra/tel-uri.sip" => vec![
            CallId("tel-1a2b3c@ims.example.net"),
            Via(0, "[2001:db8:10::1]", Some(5061)),
            ContactCount(1),
            CSeq(1, "INVITE"),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_compare_bracket_and_case_insensitively() {
        assert_eq!(norm_host("[2001:DB8:5B::1]"), norm_host("2001:db8:5b:0::1"));
        assert_eq!(norm_host("Example.COM"), "example.com");
        assert_ne!(
            norm_host("[2001:db8:5b::1:5080]"),
            norm_host("[2001:db8:5b::1]")
        );
    }

    #[test]
    fn folding_collapses_to_single_spaces() {
        assert_eq!(collapse_ws("a\r\n  b\t c "), "a b c");
    }
}
