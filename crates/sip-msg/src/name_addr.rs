//! `name-addr` / `addr-spec` values with header parameters: From, To, Contact, Route,
//! Record-Route, Refer-To, ... (RFC 3261 20.10, 25.1).
//!
//! Without angle brackets, everything after the URI's first `;` is a header parameter and
//! a `?` or `,` cannot be part of the URI (RFC 3261 20.10; RFC 4475 regbadct).

use std::fmt;

use bytes::Bytes;

use crate::error::ParseError;
use crate::header::HeaderName;
use crate::params::{parse_header_params, Params};
use crate::scan::{is_token, is_ws, unescape_quoted, write_quoted, Cursor};
use crate::uri::Uri;

/// An address with an optional display name and header parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted (quoted-pairs resolved); `None` when absent or empty.
    pub display: Option<Bytes>,
    pub uri: Uri,
    pub params: Params,
}

/// A Contact header: `*` (remove all bindings) or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    Star,
    List(Vec<NameAddr>),
}

/// A q-value (RFC 3261 20.10) in thousandths: `q=0.33` is `QValue(330)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QValue(pub u16);

impl QValue {
    pub fn parse(b: &[u8]) -> Option<QValue> {
        let (int, frac) = match b.iter().position(|&c| c == b'.') {
            Some(i) => (b.get(..i)?, b.get(i + 1..)?),
            None => (b, &b""[..]),
        };
        if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let whole: u16 = match int {
            b"0" => 0,
            b"1" => 1000,
            _ => return None,
        };
        let mut thousandths = 0u16;
        for (i, &d) in frac.iter().enumerate() {
            thousandths += u16::from(d - b'0') * [100, 10, 1].get(i).copied().unwrap_or(0);
        }
        let v = whole + thousandths;
        (v <= 1000).then_some(QValue(v))
    }

    pub fn as_f32(self) -> f32 {
        f32::from(self.0) / 1000.0
    }
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::new(),
        }
    }

    /// Parse a value holding exactly one address. `header` names the error.
    pub fn parse(value: &Bytes, header: HeaderName) -> Result<NameAddr, ParseError> {
        Self::parse_with(Cursor::new(value), header)
    }

    /// Check the syntax of `value` as `parse` would, without building the value.
    pub(crate) fn check(value: &Bytes, header: HeaderName) -> Result<(), ParseError> {
        Self::parse_with(Cursor::checking(value), header).map(drop)
    }

    fn parse_with(mut cur: Cursor<'_>, header: HeaderName) -> Result<NameAddr, ParseError> {
        let na = parse_name_addr(&mut cur).ok_or_else(|| ParseError::bad(header.clone()))?;
        cur.skip_ws();
        if cur.at_end() {
            Ok(na)
        } else {
            Err(ParseError::bad(header))
        }
    }

    pub fn tag(&self) -> Option<&Bytes> {
        self.params.value("tag")
    }

    /// The `expires` parameter; `Err` when present but not a 32-bit number
    /// (RFC 4475 scalar02: the caller may then use its default or answer 400).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        match self.params.get("expires") {
            None => Ok(None),
            Some(p) => p
                .value
                .as_ref()
                .and_then(|v| crate::scan::parse_u32(v))
                .map(Some)
                .ok_or_else(|| ParseError::bad(HeaderName::Contact)),
        }
    }

    /// The `q` parameter; `Err` when present but malformed.
    pub fn q(&self) -> Result<Option<QValue>, ParseError> {
        match self.params.get("q") {
            None => Ok(None),
            Some(p) => p
                .value
                .as_ref()
                .and_then(|v| QValue::parse(v))
                .map(Some)
                .ok_or_else(|| ParseError::bad(HeaderName::Contact)),
        }
    }

    /// `+sip.instance` (RFC 5626), quotes stripped: e.g. `<urn:uuid:...>`.
    pub fn instance(&self) -> Option<Bytes> {
        self.params.unquoted("+sip.instance")
    }

    /// Print as a header value: `"Display" <uri>;params`. The URI is printed as received.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(
            self.uri.raw().len()
                + self.display.as_ref().map_or(0, |d| d.len() + 4)
                + self.params.printed_len()
                + 2,
        );
        self.write_to(&mut out);
        Bytes::from(out)
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        if let Some(d) = &self.display {
            write_quoted(out, d);
            out.push(b' ');
        }
        out.push(b'<');
        out.extend_from_slice(self.uri.raw());
        out.push(b'>');
        self.params.write_to(out);
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// Parse `( name-addr / addr-spec ) *( SEMI generic-param )` at the cursor. Stops before a
/// `,` or the end; the caller checks which.
pub(crate) fn parse_name_addr(cur: &mut Cursor<'_>) -> Option<NameAddr> {
    cur.skip_ws();
    let start = cur.pos;
    let mut display = None;
    let uri;
    if cur.peek() == Some(b'"') {
        let (s, e) = cur.quoted()?;
        if e > s {
            display = cur.keep.then(|| unescape_quoted(cur.src, s, e));
        }
        cur.skip_ws();
        uri = bracketed_uri(cur)?;
    } else {
        // Either `*(token LWS) <uri>` or a bare addr-spec: read the token run and see what
        // ends it.
        let (_, run_end) = cur.take_while(|c| is_token(c) || is_ws(c));
        if cur.peek() == Some(b'<') {
            let (ds, de) = crate::scan::trim_range(cur.src, start, run_end);
            if de > ds {
                display = Some(cur.slice(ds, de));
            }
            uri = bracketed_uri(cur)?;
        } else {
            cur.pos = start;
            let (us, ue) = cur.take_while(|c| !matches!(c, b';' | b',' | b'?') && !is_ws(c));
            uri = Uri::parse_range(cur.src, us, ue, cur.keep).ok()?;
        }
    }
    let params = parse_header_params(cur)?;
    let save = cur.pos;
    cur.skip_ws();
    match cur.peek() {
        None | Some(b',') => cur.pos = save,
        Some(_) => return None,
    }
    Some(NameAddr {
        display,
        uri,
        params,
    })
}

/// `<uri>` with nothing but the URI between the brackets (RFC 4475 badaspec).
fn bracketed_uri(cur: &mut Cursor<'_>) -> Option<Uri> {
    if !cur.eat(b'<') {
        return None;
    }
    let (s, e) = cur.take_while(|c| c != b'>');
    if !cur.eat(b'>') {
        return None;
    }
    Uri::parse_range(cur.src, s, e, cur.keep).ok()
}

/// A comma-separated list of addresses (Contact, Route, Record-Route, ...).
pub(crate) fn parse_name_addr_list(
    value: &Bytes,
    header: &HeaderName,
    out: &mut Vec<NameAddr>,
) -> Result<(), ParseError> {
    let mut cur = Cursor::new(value);
    loop {
        let na = parse_name_addr(&mut cur).ok_or_else(|| ParseError::bad(header.clone()))?;
        out.push(na);
        cur.skip_ws();
        if cur.at_end() {
            return Ok(());
        }
        if !cur.eat(b',') {
            return Err(ParseError::bad(header.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::{Host, Scheme};

    fn na(s: &'static str) -> NameAddr {
        NameAddr::parse(&Bytes::from_static(s.as_bytes()), HeaderName::From)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn bad(s: &'static str) -> bool {
        NameAddr::parse(&Bytes::from_static(s.as_bytes()), HeaderName::To).is_err()
    }

    #[test]
    fn quoted_display_names() {
        let a = na(r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#);
        assert_eq!(a.display.as_deref(), Some(&br#"J Rosenberg \""#[..]));
        assert_eq!(a.uri.user().map(|u| &u[..]), Some(&b"jdrosen"[..]));
        assert_eq!(a.tag().map(|t| &t[..]), Some(&b"98asjd8"[..]));

        let a = na(
            r#""Quoted string \"\"" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33"#,
        );
        assert_eq!(a.display.as_deref(), Some(&br#"Quoted string """#[..]));
        assert_eq!(a.params.len(), 3);
        assert_eq!(a.q().expect("valid q"), Some(QValue(330)));
        assert!(a.params.contains("secondparam"));

        let a = na(r#""Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423"#);
        assert_eq!(a.display.as_deref(), Some(&b"Bell, Alexander"[..]));
        assert_eq!(na(r#""" <sip:a@b>"#).display, None);
    }

    #[test]
    fn token_display_names_and_addr_specs() {
        let a = na("caller<sip:caller@example.com>;tag=323");
        assert_eq!(a.display.as_deref(), Some(&b"caller"[..]));
        let a = na("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;tag=_token~1'+`*%!-.");
        assert_eq!(
            a.display.as_deref(),
            Some(&b"token1~` token2'+_ token3*%!.-"[..])
        );
        assert_eq!(a.tag().map(|t| &t[..]), Some(&b"_token~1'+`*%!-."[..]));

        // addr-spec: the parameters belong to the header, not the URI.
        let a = na("sip:+19725552222@gw1.example.net;unknownparam;tag=x");
        assert!(a.uri.params().is_empty());
        assert!(a.params.contains("unknownparam"));
        let a = na("<sip:+19725552222@gw1.example.net;unknownparam>");
        assert!(a.uri.params().contains("unknownparam"));
        assert!(a.params.is_empty());
        let a = na("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n");
        assert_eq!(a.tag().map(|t| &t[..]), Some(&b"1918181833n"[..]));
        assert_eq!(
            a.uri.host(),
            Some(&Host::Domain(Bytes::from_static(b"chair-dnrc.example.com")))
        );

        let a = na("isbn:2983792873");
        assert_eq!(a.uri.scheme(), &Scheme::Other(Bytes::from_static(b"isbn")));
        let a = na("<http://www.example.com>;tag=3234233");
        assert!(matches!(a.uri.scheme(), Scheme::Other(_)));
        let a = na(r#"T. desk phone <sip:ted@[::ffff:192.0.2.2]>"#);
        assert!(matches!(a.uri.host(), Some(Host::V6(_))));
    }

    #[test]
    fn rejects_malformed() {
        assert!(
            bad(r#""Mr. J. User <sip:j.user@example.com>"#),
            "unterminated quote"
        );
        assert!(
            bad(r#""Watson, Thomas" < sip:t.watson@example.org >"#),
            "spaces in <>"
        );
        assert!(
            bad("Bell, Alexander <sip:a.g.bell@example.com>;tag=43"),
            "comma in display"
        );
        assert!(
            bad("sip:user@example.com?Route=%3Csip:sip.example.com%3E"),
            "? in addr-spec"
        );
        assert!(bad(r#""Joe" <sip:joe@example.org>;;;;"#), "empty params");
        assert!(bad("<sip:a@b"));
        assert!(bad("<sip:a@b> junk"));
        assert!(bad(""));
        assert!(bad("<sip:a@b>, <sip:c@d>"), "one address expected");
    }

    #[test]
    fn lists_with_commas_inside_quotes_and_brackets() {
        let v = Bytes::from_static(
            br#""Doe, John" <sip:a,b@example.com>;expires=60, <sip:c@[2001:db8::1]:5070>;q=1, sip:d@example.com;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>""#,
        );
        let mut out = Vec::new();
        parse_name_addr_list(&v, &HeaderName::Contact, &mut out).expect("valid list");
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].display.as_deref(), Some(&b"Doe, John"[..]));
        assert_eq!(out[0].uri.user().map(|u| &u[..]), Some(&b"a,b"[..]));
        assert_eq!(out[0].expires().expect("valid"), Some(60));
        assert_eq!(out[1].q().expect("valid"), Some(QValue(1000)));
        assert_eq!(out[1].uri.port(), Some(5070));
        assert_eq!(
            out[2].instance().as_deref(),
            Some(&b"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"[..])
        );
        let mut out = Vec::new();
        let v = Bytes::from_static(b"<sip:a@b>,,<sip:c@d>");
        assert!(parse_name_addr_list(&v, &HeaderName::Contact, &mut out).is_err());
    }

    #[test]
    fn checking_agrees_with_parsing() {
        for s in [
            r#""J Rosenberg \""  <sip:jdrosen@example.com>;tag=98asjd8"#,
            "caller<sip:caller@example.com>;tag=323",
            "sip:+19725552222@gw1.example.net;unknownparam",
            "<sip:[2001:db8::1]:5060;lr>",
            "tel:+33100000001;tag=x",
            r#""Mr. J. User <sip:j.user@example.com>"#,
            r#""Watson, Thomas" < sip:t.watson@example.org >"#,
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "<sip:2001:db8::10>",
            "",
        ] {
            let v = Bytes::from_static(s.as_bytes());
            assert_eq!(
                NameAddr::check(&v, HeaderName::To).is_ok(),
                NameAddr::parse(&v, HeaderName::To).is_ok(),
                "{s}"
            );
        }
    }

    #[test]
    fn expires_and_q_errors() {
        let a = na("<sip:user@host129.example.com>;expires=280297596632815");
        assert!(a.expires().is_err());
        assert!(na("<sip:a@b>;q=2").q().is_err());
        assert!(na("<sip:a@b>;q").q().is_err());
        assert_eq!(na("<sip:a@b>").expires().expect("absent"), None);
        assert_eq!(QValue::parse(b"0"), Some(QValue(0)));
        assert_eq!(QValue::parse(b"0.5"), Some(QValue(500)));
        assert_eq!(QValue::parse(b"1.000"), Some(QValue(1000)));
        assert_eq!(QValue::parse(b"1.001"), None);
        assert_eq!(QValue::parse(b"0.1234"), None);
        assert_eq!(QValue::parse(b".5"), None);
        assert!((QValue(250).as_f32() - 0.25).abs() < f32::EPSILON);
    }

    #[test]
    fn printing() {
        let a = na(r#"Alice <sip:alice@atlanta.example.com>;tag=1928301774"#);
        assert_eq!(
            a.to_string(),
            r#""Alice" <sip:alice@atlanta.example.com>;tag=1928301774"#
        );
        let a = na(r#""a \"b\" \\ c" <sip:x@y>"#);
        let printed = a.to_bytes();
        assert_eq!(
            NameAddr::parse(&printed, HeaderName::From).expect("reparse"),
            a
        );
        let a = na("sip:x@y;tag=1");
        assert_eq!(a.to_string(), "<sip:x@y>;tag=1");
    }
}
