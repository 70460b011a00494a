//! Typed views over header values, parsed on demand from the raw `Bytes`.
//!
//! Nothing here is cached: each accessor parses when called, so the raw header list stays
//! the one source of truth and editing it can never leave a stale typed copy behind.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::error::ParseError;
use crate::header::{HeaderName, Headers};
use crate::method::Method;
use crate::name_addr::{parse_name_addr_list, Contacts, NameAddr};
use crate::params::{parse_header_params, Params};
use crate::scan::{self, is_token, split_list, Cursor};
use crate::via::{parse_via, Via};

/// The CSeq header: a sequence number and the request method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(value: &Bytes) -> Result<CSeq, ParseError> {
        let bad = || ParseError::bad(HeaderName::CSeq);
        let mut cur = Cursor::new(value);
        cur.skip_ws();
        let (ds, de) = cur.take_while(|c| c.is_ascii_digit());
        let seq = scan::parse_u32(cur.bytes(ds, de)).ok_or_else(bad)?;
        let before = cur.pos;
        cur.skip_ws();
        if cur.pos == before {
            return Err(bad());
        }
        let (ms, me) = cur.token().ok_or_else(bad)?;
        cur.skip_ws();
        if !cur.at_end() {
            return Err(bad());
        }
        let method = Method::from_slice(value, ms, me).map_err(|_| bad())?;
        Ok(CSeq { seq, method })
    }

    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(format!("{self}"))
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A media type such as `application/sdp` (Content-Type, Accept elements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub mtype: Bytes,
    pub subtype: Bytes,
    pub params: Params,
}

impl MediaType {
    pub fn parse(value: &Bytes) -> Result<MediaType, ParseError> {
        let bad = || ParseError::bad(HeaderName::ContentType);
        let mut cur = Cursor::new(value);
        cur.skip_ws();
        let (ts, te) = cur.token().ok_or_else(bad)?;
        cur.skip_ws();
        if !cur.eat(b'/') {
            return Err(bad());
        }
        cur.skip_ws();
        let (ss, se) = cur.token().ok_or_else(bad)?;
        let params = parse_header_params(&mut cur).ok_or_else(bad)?;
        cur.skip_ws();
        if !cur.at_end() {
            return Err(bad());
        }
        Ok(MediaType {
            mtype: cur.slice(ts, te),
            subtype: cur.slice(ss, se),
            params,
        })
    }

    /// Case-insensitive comparison of `type/subtype`, e.g. `is("application", "sdp")`.
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype.as_bytes())
            && self.subtype.eq_ignore_ascii_case(subtype.as_bytes())
    }
}

fn scalar<T>(
    h: &Headers,
    name: HeaderName,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> Result<Option<T>, ParseError> {
    match h.get(&name) {
        None => Ok(None),
        Some(v) => parse(scan::trim(v))
            .map(Some)
            .ok_or_else(|| ParseError::bad(name)),
    }
}

impl Headers {
    /// Every Via entry, top first, splitting comma-joined lines.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        let mut out = Vec::new();
        for v in self.get_all(&HeaderName::Via) {
            parse_via_list(v, |via| out.push(via))?;
        }
        Ok(out)
    }

    /// The first Via entry. `Err(Missing Via)` when there is none.
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let v = self
            .get(&HeaderName::Via)
            .ok_or_else(|| ParseError::missing(HeaderName::Via))?;
        let mut cur = Cursor::new(v);
        parse_via(&mut cur)
    }

    /// Stamp `received`/`rport` on the top Via entry (RFC 3261 18.2.1, RFC 3581), re-printing
    /// only that entry. When it shared a line with other entries, they move to their own
    /// line right below, untouched.
    pub fn stamp_top_via(&mut self, source: SocketAddr) -> Result<(), ParseError> {
        let idx = self
            .position(&HeaderName::Via)
            .ok_or_else(|| ParseError::missing(HeaderName::Via))?;
        let value = self
            .iter()
            .nth(idx)
            .map(|h| h.value.clone())
            .ok_or_else(|| ParseError::missing(HeaderName::Via))?;
        let mut cur = Cursor::new(&value);
        let mut via = parse_via(&mut cur)?;
        cur.skip_ws();
        let rest = if cur.eat(b',') {
            let (a, b) = scan::trim_range(&value, cur.pos, value.len());
            (b > a).then(|| scan::sub(&value, a, b, true))
        } else {
            None
        };
        via.stamp_received(source);
        if let Some(h) = self.iter_mut().nth(idx) {
            h.value = via.to_bytes();
        }
        if let Some(rest) = rest {
            self.insert(idx + 1, HeaderName::Via, rest);
        }
        Ok(())
    }

    pub fn from(&self) -> Result<NameAddr, ParseError> {
        self.single_name_addr(HeaderName::From)
    }

    pub fn to(&self) -> Result<NameAddr, ParseError> {
        self.single_name_addr(HeaderName::To)
    }

    fn single_name_addr(&self, name: HeaderName) -> Result<NameAddr, ParseError> {
        let v = self
            .get(&name)
            .ok_or_else(|| ParseError::missing(name.clone()))?;
        NameAddr::parse(v, name)
    }

    pub fn call_id(&self) -> Result<&Bytes, ParseError> {
        let v = self
            .get(&HeaderName::CallId)
            .ok_or_else(|| ParseError::missing(HeaderName::CallId))?;
        if v.is_empty() || v.iter().any(|&c| scan::is_ws(c)) {
            return Err(ParseError::bad(HeaderName::CallId));
        }
        Ok(v)
    }

    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        let v = self
            .get(&HeaderName::CSeq)
            .ok_or_else(|| ParseError::missing(HeaderName::CSeq))?;
        CSeq::parse(v)
    }

    /// Max-Forwards (0..=255); `Err` when present but out of range (RFC 4475 scalar02).
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        scalar(self, HeaderName::MaxForwards, |b| {
            scan::parse_u64(b).and_then(|v| u8::try_from(v).ok())
        })
    }

    /// Contact: `*` or every address of every Contact line, in order. No Contact at all is
    /// an empty list. `*` mixed with addresses is an error.
    pub fn contacts(&self) -> Result<Contacts, ParseError> {
        let mut list = Vec::new();
        let mut star = false;
        for v in self.get_all(&HeaderName::Contact) {
            if scan::trim(v) == b"*" {
                star = true;
            } else {
                parse_name_addr_list(v, &HeaderName::Contact, &mut list)?;
            }
        }
        match (star, list.is_empty()) {
            (true, true) if self.count(&HeaderName::Contact) == 1 => Ok(Contacts::Star),
            (true, _) => Err(ParseError::bad(HeaderName::Contact)),
            (false, _) => Ok(Contacts::List(list)),
        }
    }

    /// Every address of a list header such as Route, Record-Route or Path, in order.
    pub fn name_addrs(&self, name: &HeaderName) -> Result<Vec<NameAddr>, ParseError> {
        let mut out = Vec::new();
        for v in self.get_all(name) {
            parse_name_addr_list(v, name, &mut out)?;
        }
        Ok(out)
    }

    pub fn routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.name_addrs(&HeaderName::Route)
    }

    pub fn record_routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.name_addrs(&HeaderName::RecordRoute)
    }

    /// Comma-separated tokens of every `name` line (Allow, Supported, Require, ...).
    /// Elements that are not tokens are skipped.
    pub fn tokens(&self, name: &HeaderName) -> Vec<Bytes> {
        self.get_all(name)
            .flat_map(split_list)
            .filter(|t| t.iter().all(|&c| is_token(c)))
            .collect()
    }

    /// Expires header (delta-seconds); `Err` when not a 32-bit number.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        scalar(self, HeaderName::Expires, scan::parse_u32)
    }

    pub fn min_expires(&self) -> Result<Option<u32>, ParseError> {
        scalar(self, HeaderName::MinExpires, scan::parse_u32)
    }

    /// The Content-Length header value (not the body length; printing recomputes it).
    pub fn content_length(&self) -> Result<Option<usize>, ParseError> {
        scalar(self, HeaderName::ContentLength, |b| {
            scan::parse_u64(b).and_then(|v| usize::try_from(v).ok())
        })
    }

    pub fn content_type(&self) -> Result<Option<MediaType>, ParseError> {
        self.get(&HeaderName::ContentType)
            .map(MediaType::parse)
            .transpose()
    }
}

/// Call `f` for each Via entry of one (possibly comma-joined) header value.
pub(crate) fn parse_via_list(value: &Bytes, f: impl FnMut(Via)) -> Result<(), ParseError> {
    via_list(Cursor::new(value), f)
}

/// Check the syntax of every Via entry of one header value without building them.
pub(crate) fn check_via_list(value: &Bytes) -> Result<(), ParseError> {
    via_list(Cursor::checking(value), drop)
}

fn via_list(mut cur: Cursor<'_>, mut f: impl FnMut(Via)) -> Result<(), ParseError> {
    loop {
        f(parse_via(&mut cur)?);
        cur.skip_ws();
        if cur.at_end() {
            return Ok(());
        }
        if !cur.eat(b',') {
            return Err(ParseError::bad(HeaderName::Via));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name_addr::QValue;
    use crate::via::{RportParam, Transport};
    use std::net::{IpAddr, Ipv4Addr};

    fn headers(lines: &[(&'static str, &'static str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in lines {
            h.push(HeaderName::from(*n), Bytes::from_static(v.as_bytes()));
        }
        h
    }

    #[test]
    fn cseq_parsing() {
        let c = CSeq::parse(&Bytes::from_static(b"0009 INVITE")).expect("valid");
        assert_eq!(
            c,
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
        assert_eq!(c.to_string(), "9 INVITE");
        let c = CSeq::parse(&Bytes::from_static(b" 4294967295\tRE%47IST%45R ")).expect("valid");
        assert_eq!(c.seq, u32::MAX);
        assert_eq!(c.method.as_str(), "RE%47IST%45R");
        for bad in [
            "36893488147419103232 REGISTER",
            "INVITE",
            "1",
            "1INVITE",
            "1 INVITE x",
            "-1 BYE",
            "",
        ] {
            assert!(
                CSeq::parse(&Bytes::from_static(bad.as_bytes())).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn comma_joined_vias_split_in_order() {
        let h = headers(&[
            ("v", "SIP/2.0/TCP spindle.example.com ; branch = z9hG4bK9ikj8 , SIP / 2.0 / UDP 192.168.255.111 ; branch= z9hG4bK30239"),
            ("Via", "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111"),
        ]);
        let vias = h.vias().expect("valid");
        assert_eq!(vias.len(), 3);
        assert_eq!(vias[0].transport, Transport::Tcp);
        assert_eq!(vias[1].branch().map(|b| &b[..]), Some(&b"z9hG4bK30239"[..]));
        assert_eq!(vias[2].port, Some(6050));
        assert_eq!(h.top_via().expect("valid"), vias[0]);
        assert!(headers(&[("Via", "SIP/2.0/UDP a,")]).vias().is_err());
        assert!(headers(&[]).top_via().is_err());
    }

    #[test]
    fn checking_vias_agrees_with_parsing() {
        for s in [
            "SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/TCP [::1]:5060;received=::2",
            "SIP  / 2.0  / TCP  spindle.example.com   ; branch  =   z9hG4bK9ikj8  ,  SIP/2.0/UDP x",
            "SIP/2.0/UDP 192.0.2.15;;,;,,",
            "SIP/2.0/UDP a,",
            "SIP/2.0/UDP 192.0.2.256",
            "SIP/2.0/UDP host:65536",
        ] {
            let v = Bytes::from_static(s.as_bytes());
            assert_eq!(
                check_via_list(&v).is_ok(),
                parse_via_list(&v, drop).is_ok(),
                "{s}"
            );
        }
    }

    #[test]
    fn stamping_a_shared_via_line_splits_it() {
        let mut h = headers(&[
            (
                "Via",
                "SIP/2.0/UDP 10.0.0.1;rport;branch=z9hG4bK1 ,SIP/2.0/UDP proxy;branch=z9hG4bK0",
            ),
            ("To", "<sip:b@x>"),
        ]);
        let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 40000);
        h.stamp_top_via(src).expect("valid");
        let lines: Vec<_> = h.get_all(&HeaderName::Via).cloned().collect();
        assert_eq!(
            lines,
            vec![
                Bytes::from_static(
                    b"SIP/2.0/UDP 10.0.0.1;rport=40000;branch=z9hG4bK1;received=192.0.2.7"
                ),
                Bytes::from_static(b"SIP/2.0/UDP proxy;branch=z9hG4bK0"),
            ]
        );
        let top = h.top_via().expect("valid");
        assert_eq!(top.rport(), RportParam::Value(40000));
        assert_eq!(top.response_target(), Some(src));
        assert_eq!(
            h.iter().nth(2).map(|h| h.name.clone()),
            Some(HeaderName::To)
        );
    }

    #[test]
    fn contacts_star_list_and_errors() {
        assert_eq!(
            headers(&[("Contact", " * ")]).contacts().expect("valid"),
            Contacts::Star
        );
        assert_eq!(
            headers(&[]).contacts().expect("valid"),
            Contacts::List(vec![])
        );
        assert!(headers(&[("Contact", "*"), ("m", "<sip:a@b>")])
            .contacts()
            .is_err());
        assert!(headers(&[("Contact", "*, <sip:a@b>")]).contacts().is_err());
        let h = headers(&[
            (
                "m",
                r#""Quoted string \"\"" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33"#,
            ),
            (
                "Contact",
                r#"<sip:alice@10.0.0.5:5062;transport=tcp>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";reg-id=1;expires=600, "Alice, mobile" <sip:alice@10.0.0.6>"#,
            ),
        ]);
        let Contacts::List(list) = h.contacts().expect("valid") else {
            panic!("expected a list");
        };
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].q().expect("valid"), Some(QValue(330)));
        assert_eq!(list[1].expires().expect("valid"), Some(600));
        assert_eq!(list[1].uri.transport().as_deref(), Some(&b"tcp"[..]));
        assert!(list[1].instance().is_some());
        assert_eq!(list[2].display.as_deref(), Some(&b"Alice, mobile"[..]));
        assert!(
            headers(&[("Contact", r#""Joe" <sip:joe@example.org>;;;;"#)])
                .contacts()
                .is_err()
        );
    }

    #[test]
    fn scalars() {
        let h = headers(&[
            ("Max-Forwards", "0068"),
            ("Expires", "3600"),
            ("l", " 150 "),
            ("Min-Expires", "60"),
            ("c", "Application/SDP ; charset=utf-8"),
            ("Call-ID", "a84b4c76e66710@pc33.atlanta.com"),
        ]);
        assert_eq!(h.max_forwards().expect("valid"), Some(68));
        assert_eq!(h.expires().expect("valid"), Some(3600));
        assert_eq!(h.min_expires().expect("valid"), Some(60));
        assert_eq!(h.content_length().expect("valid"), Some(150));
        let ct = h.content_type().expect("valid").expect("present");
        assert!(ct.is("application", "sdp"));
        assert_eq!(
            ct.params.value("charset").map(|v| &v[..]),
            Some(&b"utf-8"[..])
        );
        assert_eq!(
            &h.call_id().expect("valid")[..],
            b"a84b4c76e66710@pc33.atlanta.com"
        );

        let h = headers(&[
            ("Max-Forwards", "300"),
            ("Expires", "10000000000000000000000000"),
            ("Content-Length", "-999"),
            ("Content-Type", "sdp"),
            ("Call-ID", "a b"),
        ]);
        assert!(h.max_forwards().is_err());
        assert!(h.expires().is_err());
        assert!(h.content_length().is_err());
        assert!(h.content_type().is_err());
        assert!(h.call_id().is_err());
        assert_eq!(headers(&[]).max_forwards().expect("absent"), None);
        assert!(headers(&[]).call_id().is_err());
    }

    #[test]
    fn route_lists_and_tokens() {
        let h = headers(&[
            ("Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>"),
            (
                "Route",
                "<sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
            ),
            (
                "Record-Route",
                "<sip:UserB@example.com;maddr=ss1.example.com>",
            ),
            ("Allow", "INVITE, ACK,CANCEL , BYE"),
            ("k", "replaces, timer"),
        ]);
        let routes = h.routes().expect("valid");
        assert_eq!(routes.len(), 3);
        assert!(routes.iter().all(|r| r.uri.is_loose_route()));
        assert_eq!(h.record_routes().expect("valid").len(), 1);
        let allow: Vec<_> = h.tokens(&HeaderName::Allow);
        assert_eq!(allow, vec!["INVITE", "ACK", "CANCEL", "BYE"]);
        assert_eq!(h.tokens(&HeaderName::Supported), vec!["replaces", "timer"]);
    }
}
