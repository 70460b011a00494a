//! SIP, SIPS and tel URIs (RFC 3261 19.1, RFC 3966), with IPv6 references (RFC 5118).
//!
//! A `Uri` keeps the bytes it was parsed from ([`Uri::raw`]), which is what gets forwarded
//! and printed in a start line; its parts are zero-copy slices of those bytes. Other schemes
//! parse as [`Scheme::Other`] with an opaque body, so a server can answer 416 itself.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{Bytes, BytesMut};

use crate::error::{ErrorKind, ParseError};
use crate::escape::{hex_val, unescaped_eq};
use crate::params::{parse_uri_params, Params};
use crate::scan::{is_uri_char, sub};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    Other(Bytes),
}

impl Scheme {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Scheme::Sip => b"sip",
            Scheme::Sips => b"sips",
            Scheme::Tel => b"tel",
            Scheme::Other(b) => b,
        }
    }
}

/// A host: a domain name (kept as received), an IPv4 address or an IPv6 address (written
/// in brackets in SIP URIs and Via sent-by).
#[derive(Debug, Clone)]
pub enum Host {
    Domain(Bytes),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Host {
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
        }
    }

    /// Parse `host` as it appears in a URI or a Via: `[v6]`, dotted IPv4, or a hostname
    /// (alphanumerics, `-`, `.` and the `_` seen in the wild).
    pub fn parse(host: &Bytes) -> Result<Host, ParseError> {
        parse_host(host, 0, host.len(), true).ok_or_else(|| ParseError::new(ErrorKind::BadUri))
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing to a Vec cannot fail.
        let _ = match self {
            Host::Domain(d) => out.write_all(d),
            Host::V4(a) => write!(out, "{a}"),
            Host::V6(a) => write!(out, "[{a}]"),
        };
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

impl PartialEq for Host {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::V4(a), Host::V4(b)) => a == b,
            (Host::V6(a), Host::V6(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Host {}

impl Hash for Host {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Host::Domain(d) => {
                state.write_u8(0);
                for b in d.iter() {
                    state.write_u8(b.to_ascii_lowercase());
                }
            }
            Host::V4(a) => a.hash(state),
            Host::V6(a) => a.hash(state),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(&String::from_utf8_lossy(d)),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

fn is_host_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_')
}

/// An IPv6 address, also in the `x:::a.b.c.d` form that RFC 3261's ABNF wrongly allowed
/// (RFC 5118 4.10 asks parsers to tolerate it; it means `x::a.b.c.d`).
fn parse_ipv6(text: &[u8]) -> Option<Ipv6Addr> {
    let text = std::str::from_utf8(text).ok()?;
    if let Ok(a) = text.parse() {
        return Some(a);
    }
    let (head, tail) = text.split_once(":::")?;
    if !tail.contains('.') || tail.contains(':') {
        return None;
    }
    format!("{head}::{tail}").parse().ok()
}

/// Parse a host in `src[start..end]` (the whole range must be the host).
pub(crate) fn parse_host(src: &Bytes, start: usize, end: usize, keep: bool) -> Option<Host> {
    let s = src.get(start..end)?;
    match s {
        [] => None,
        [b'[', inner @ .., b']'] => parse_ipv6(inner).map(Host::V6),
        _ => {
            if !s.iter().all(|&c| is_host_char(c)) {
                return None;
            }
            if s.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
                // Looks like an IPv4 address: it must be one (a top label cannot be numeric).
                let text = std::str::from_utf8(s).ok()?;
                return text.parse::<Ipv4Addr>().ok().map(Host::V4);
            }
            let first = *s.first()?;
            if !first.is_ascii_alphanumeric() {
                return None;
            }
            Some(Host::Domain(crate::scan::sub(src, start, end, keep)))
        }
    }
}

/// A parsed URI. Construct with [`Uri::parse`] or [`Uri::sip`]; read with the accessors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    raw: Bytes,
    scheme: Scheme,
    user: Option<Bytes>,
    password: Option<Bytes>,
    host: Option<Host>,
    port: Option<u16>,
    params: Params,
    headers: Option<Bytes>,
}

fn bad_uri() -> ParseError {
    ParseError::new(ErrorKind::BadUri)
}

/// Every byte is a URI character and every `%` starts a valid escape.
fn valid_chars(s: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if !is_uri_char(c) {
            return false;
        }
        if c == b'%' {
            let ok = s.get(i + 1).and_then(|&h| hex_val(h)).is_some()
                && s.get(i + 2).and_then(|&h| hex_val(h)).is_some();
            if !ok {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Resolve `%HH` escapes. Zero copy when there is none.
pub fn percent_decode(b: &Bytes) -> Bytes {
    if !b.contains(&b'%') {
        return b.clone();
    }
    let mut out = BytesMut::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let decoded = if c == b'%' {
            match (
                b.get(i + 1).and_then(|&h| hex_val(h)),
                b.get(i + 2).and_then(|&h| hex_val(h)),
            ) {
                (Some(h), Some(l)) => Some(h * 16 + l),
                _ => None,
            }
        } else {
            None
        };
        match decoded {
            Some(d) => {
                out.extend_from_slice(&[d]);
                i += 3;
            }
            None => {
                out.extend_from_slice(&[c]);
                i += 1;
            }
        }
    }
    out.freeze()
}

/// Escape what may not appear raw in a SIP URI user part (RFC 3261 25.1 `user`).
fn escape_user(s: &[u8], out: &mut Vec<u8>) {
    for &c in s {
        let ok = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'_'
                    | b'.'
                    | b'!'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b';'
                    | b'?'
                    | b'/'
            );
        if ok {
            out.push(c);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            // Both indices are below 16 (a nibble), so they are within HEX.
            out.push(b'%');
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        }
    }
}

impl Uri {
    /// Parse a whole URI. Fails on whitespace, `<`/`>`, bad escapes, a bad host or port.
    pub fn parse(raw: Bytes) -> Result<Uri, ParseError> {
        Uri::parse_range(&raw, 0, raw.len(), true)
    }

    /// Parse `src[start..end]`; the URI's parts are slices of `src` (empty ones when only
    /// checking syntax, `keep == false`).
    pub(crate) fn parse_range(
        src: &Bytes,
        start: usize,
        end: usize,
        keep: bool,
    ) -> Result<Uri, ParseError> {
        let s = src.get(start..end).ok_or_else(bad_uri)?;
        if !valid_chars(s) {
            return Err(bad_uri());
        }
        let colon = s.iter().position(|&c| c == b':').ok_or_else(bad_uri)?;
        let scheme_b = s.get(..colon).ok_or_else(bad_uri)?;
        let scheme_ok = scheme_b.first().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme_b
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(bad_uri());
        }
        let scheme = if scheme_b.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if scheme_b.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if scheme_b.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            Scheme::Other(sub(src, start, start + colon, keep))
        };
        let mut uri = Uri {
            raw: sub(src, start, end, keep),
            scheme,
            user: None,
            password: None,
            host: None,
            port: None,
            params: Params::for_uri(),
            headers: None,
        };
        let body = start + colon + 1;
        match uri.scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(src, body, end, keep)?,
            Scheme::Tel => uri.parse_tel(src, body, end, keep)?,
            Scheme::Other(_) => {
                if body >= end {
                    return Err(bad_uri());
                }
            }
        }
        Ok(uri)
    }

    fn parse_sip(
        &mut self,
        src: &Bytes,
        start: usize,
        end: usize,
        keep: bool,
    ) -> Result<(), ParseError> {
        let s = src.get(start..end).ok_or_else(bad_uri)?;
        // The user part may contain `;`, `?` and `:` (RFC 4475 semiuri, intmeth) but never
        // an unescaped `@`, so the first `@` ends the userinfo.
        let mut pos = start;
        if let Some(at) = memchr::memchr(b'@', s) {
            let ui = s.get(..at).ok_or_else(bad_uri)?;
            let (user_end, password) = match ui.iter().position(|&c| c == b':') {
                Some(c) => (start + c, Some(sub(src, start + c + 1, start + at, keep))),
                None => (start + at, None),
            };
            if user_end == start {
                return Err(bad_uri());
            }
            self.user = Some(sub(src, start, user_end, keep));
            self.password = password;
            pos = start + at + 1;
        }
        let rest = src.get(pos..end).ok_or_else(bad_uri)?;
        let host_len = if rest.first() == Some(&b'[') {
            rest.iter().position(|&c| c == b']').ok_or_else(bad_uri)? + 1
        } else {
            rest.iter()
                .position(|&c| matches!(c, b':' | b';' | b'?'))
                .unwrap_or(rest.len())
        };
        self.host = Some(parse_host(src, pos, pos + host_len, keep).ok_or_else(bad_uri)?);
        pos += host_len;
        if src.get(pos) == Some(&b':') && pos < end {
            let digits = src
                .get(pos + 1..end)
                .ok_or_else(bad_uri)?
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let port = src.get(pos + 1..pos + 1 + digits).ok_or_else(bad_uri)?;
            self.port = Some(crate::scan::parse_u16(port).ok_or_else(bad_uri)?);
            pos += 1 + digits;
        }
        let q = src
            .get(pos..end)
            .ok_or_else(bad_uri)?
            .iter()
            .position(|&c| c == b'?')
            .map_or(end, |i| pos + i);
        if pos < q {
            self.params = parse_uri_params(src, pos, q, keep).ok_or_else(bad_uri)?;
        }
        if q < end {
            if q + 1 >= end {
                return Err(bad_uri());
            }
            self.headers = Some(sub(src, q + 1, end, keep));
        }
        Ok(())
    }

    fn parse_tel(
        &mut self,
        src: &Bytes,
        start: usize,
        end: usize,
        keep: bool,
    ) -> Result<(), ParseError> {
        let s = src.get(start..end).ok_or_else(bad_uri)?;
        let num_len = s.iter().position(|&c| c == b';').unwrap_or(s.len());
        let number = s.get(..num_len).ok_or_else(bad_uri)?;
        let ok = !number.is_empty()
            && number.iter().enumerate().all(|(i, &c)| {
                c.is_ascii_hexdigit()
                    || matches!(c, b'*' | b'#' | b'-' | b'.' | b'(' | b')')
                    || (c == b'+' && i == 0)
            });
        if !ok {
            return Err(bad_uri());
        }
        self.user = Some(sub(src, start, start + num_len, keep));
        if start + num_len < end {
            self.params = parse_uri_params(src, start + num_len, end, keep).ok_or_else(bad_uri)?;
        }
        Ok(())
    }

    /// Build `sip:[user@]host[:port]`. Characters not allowed in a user part are escaped.
    pub fn sip(user: Option<&str>, host: Host, port: Option<u16>) -> Uri {
        let mut uri = Uri {
            raw: Bytes::new(),
            scheme: Scheme::Sip,
            user: user.map(|u| {
                let mut v = Vec::with_capacity(u.len());
                escape_user(u.as_bytes(), &mut v);
                Bytes::from(v)
            }),
            password: None,
            host: Some(host),
            port,
            params: Params::for_uri(),
            headers: None,
        };
        uri.raw = uri.render();
        uri
    }

    /// A copy with URI parameter `name` set (or added), `raw` re-rendered canonically.
    pub fn with_param(&self, name: &str, value: Option<&str>) -> Uri {
        let mut uri = self.clone();
        if matches!(uri.scheme, Scheme::Other(_)) {
            return uri;
        }
        uri.params
            .set(name, value.map(|v| Bytes::copy_from_slice(v.as_bytes())));
        uri.raw = uri.render();
        uri
    }

    /// A copy without URI parameters and headers (e.g. a Contact URI turned into a target).
    pub fn without_params(&self) -> Uri {
        let mut uri = self.clone();
        if matches!(uri.scheme, Scheme::Other(_)) {
            return uri;
        }
        uri.params = Params::for_uri();
        uri.headers = None;
        uri.raw = uri.render();
        uri
    }

    /// The bytes the URI was parsed from (or rendered to, for a built one).
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// `sip:` or `sips:`.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// User part, still escaped. For a tel URI, the number (e.g. `+33100000001`).
    pub fn user(&self) -> Option<&Bytes> {
        self.user.as_ref()
    }

    /// User part with `%HH` escapes resolved.
    pub fn user_unescaped(&self) -> Option<Bytes> {
        self.user.as_ref().map(percent_decode)
    }

    pub fn password(&self) -> Option<&Bytes> {
        self.password.as_ref()
    }

    /// The host of a sip/sips URI; `None` for tel and other schemes.
    pub fn host(&self) -> Option<&Host> {
        self.host.as_ref()
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The raw `?...` header part (without the `?`).
    pub fn headers(&self) -> Option<&Bytes> {
        self.headers.as_ref()
    }

    /// The `transport=` parameter's value, escapes resolved (`;%74ransport=%75dp` gives
    /// `udp`). Zero copy unless the value is escaped.
    pub fn transport(&self) -> Option<Bytes> {
        self.params.unescaped("transport")
    }

    /// Loose routing (`;lr`).
    pub fn is_loose_route(&self) -> bool {
        self.params.contains("lr")
    }

    /// Canonical address-of-record (RFC 3261 10.3 step 5): scheme, unescaped user and
    /// lower-cased host with port; no parameters or headers. Other schemes: the raw URI.
    pub fn address_of_record(&self) -> Bytes {
        if !self.is_sip() {
            return self.raw.clone();
        }
        let mut out = Vec::with_capacity(self.raw.len());
        out.extend_from_slice(self.scheme.as_bytes());
        out.push(b':');
        if let Some(u) = self.user_unescaped() {
            out.extend_from_slice(&u);
            out.push(b'@');
        }
        let start = out.len();
        if let Some(h) = &self.host {
            h.write_to(&mut out);
        }
        if let Some(host) = out.get_mut(start..) {
            host.make_ascii_lowercase();
        }
        if let Some(p) = self.port {
            out.extend_from_slice(format!(":{p}").as_bytes());
        }
        Bytes::from(out)
    }

    /// URI comparison of RFC 3261 19.1.4: user and password case-sensitive, host
    /// case-insensitive, an absent port differs from any explicit one, the `user`, `ttl`,
    /// `method`, `maddr` and `transport` parameters must match when either URI has them,
    /// other parameters only when both have them (names and values case-insensitive), and
    /// headers must match. In user, password and parameters an escaped non-reserved
    /// character equals the character (`%61lice` is `alice`, `%74ransport=%75dp` is
    /// `transport=udp`) while an escaped reserved one does not (`%3B` is not `;`).
    /// Allocates nothing.
    pub fn equivalent(&self, other: &Uri) -> bool {
        if self.scheme != other.scheme {
            return false;
        }
        if !self.is_sip() && self.scheme != Scheme::Tel {
            return self.raw.eq_ignore_ascii_case(&other.raw);
        }
        let part_eq = |a: &Option<Bytes>, b: &Option<Bytes>, ignore_case: bool| match (a, b) {
            (Some(a), Some(b)) => unescaped_eq(a, b, ignore_case),
            (None, None) => true,
            _ => false,
        };
        if !part_eq(&self.user, &other.user, false)
            || !part_eq(&self.password, &other.password, false)
            || self.host != other.host
            || self.port != other.port
        {
            return false;
        }
        for name in ["user", "ttl", "method", "maddr", "transport"] {
            match (self.params.get(name), other.params.get(name)) {
                (None, None) => {}
                (Some(a), Some(b)) if part_eq(&a.value, &b.value, true) => {}
                _ => return false,
            }
        }
        for p in self.params.iter() {
            if let Some(q) = other.params.find(&p.name) {
                if !part_eq(&p.value, &q.value, true) {
                    return false;
                }
            }
        }
        self.headers == other.headers
    }

    /// Canonical rendering: lower-case scheme, parts as parsed.
    fn render(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.raw.len() + 16);
        self.write_canonical(&mut out);
        Bytes::from(out)
    }

    fn write_canonical(&self, out: &mut Vec<u8>) {
        if let Scheme::Other(_) = self.scheme {
            out.extend_from_slice(&self.raw);
            return;
        }
        out.extend_from_slice(self.scheme.as_bytes());
        out.push(b':');
        if let Some(u) = &self.user {
            out.extend_from_slice(u);
            if let Some(p) = &self.password {
                out.push(b':');
                out.extend_from_slice(p);
            }
            if self.host.is_some() {
                out.push(b'@');
            }
        }
        if let Some(h) = &self.host {
            h.write_to(out);
        }
        if let Some(p) = self.port {
            out.extend_from_slice(format!(":{p}").as_bytes());
        }
        self.params.write_to(out);
        if let Some(h) = &self.headers {
            out.push(b'?');
            out.extend_from_slice(h);
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(self.raw.len() + 8);
        self.write_canonical(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

impl std::str::FromStr for Uri {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uri::parse(Bytes::copy_from_slice(s.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn plain_sip_uri() {
        let u = uri("sip:alice:secret@Atlanta.example.com:5070;transport=TCP;lr?subject=x&h=y");
        assert_eq!(u.scheme(), &Scheme::Sip);
        assert_eq!(u.user(), Some(&b("alice")));
        assert_eq!(u.password(), Some(&b("secret")));
        assert_eq!(u.host(), Some(&Host::Domain(b("atlanta.example.com"))));
        assert_eq!(u.port(), Some(5070));
        assert_eq!(u.transport(), Some(b("TCP")));
        assert!(u.is_loose_route());
        assert_eq!(u.headers(), Some(&b("subject=x&h=y")));
        assert_eq!(
            u.raw(),
            &b("sip:alice:secret@Atlanta.example.com:5070;transport=TCP;lr?subject=x&h=y")
        );
        assert_eq!(u.to_string(), u.raw().escape_ascii().to_string());
    }

    #[test]
    fn hosts_ipv4_ipv6_and_ports() {
        let u = uri("sip:[2001:db8::10]:5070");
        assert_eq!(
            u.host(),
            Some(&Host::V6("2001:db8::10".parse().expect("v6")))
        );
        assert_eq!(u.port(), Some(5070));
        // RFC 5118 4.3: the port is inside the brackets, so it is part of the address.
        let u = uri("sip:[2001:db8::10:5070]");
        assert_eq!(
            u.host(),
            Some(&Host::V6("2001:db8::10:5070".parse().expect("v6")))
        );
        assert_eq!(u.port(), None);
        let u = uri("sips:user@192.0.2.4;maddr=[::1]");
        assert_eq!(u.scheme(), &Scheme::Sips);
        assert_eq!(u.host(), Some(&Host::V4(Ipv4Addr::new(192, 0, 2, 4))));
        assert_eq!(
            u.host().and_then(Host::ip),
            Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 4)))
        );
        assert_eq!(
            uri("sip:user@[::ffff:192.0.2.2]")
                .host()
                .map(|h| h.to_string())
                .as_deref(),
            Some("[::ffff:192.0.2.2]")
        );
        assert!(uri("sip:[2001:db8::192.0.2.1]").host().is_some());
        // RFC 5118 4.10: the three-colon form is tolerated and means the two-colon one.
        assert_eq!(
            uri("sip:user@[2001:db8:::192.0.2.1]").host(),
            uri("sip:user@[2001:db8::192.0.2.1]").host()
        );

        for bad in [
            "sip:2001:db8::10", // RFC 5118 4.2: no brackets
            "sip:[2001:db8:::1]",
            "sip:[2001:db8:::192.0.2.1:5]",
            "sip:[2001:db8::10",
            "sip:user@host:99999",
            "sip:user@host:",
            "sip:user@192.0.2.300",
            "sip:@host",
            "sip:",
            "sip:user@",
            "sip:user@-host",
            "sip:user@host;",
            "sip:user@host?",
            "sip:user@ho st",
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip:us%zzer@host",
            "sip:a@b@c",
            "1sip:x",
            "nocolon",
        ] {
            assert!(
                Uri::parse(Bytes::copy_from_slice(bad.as_bytes())).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn unusual_user_parts() {
        // RFC 4475 intmeth: `;`, `?`, `,` and `:` before the `@` belong to the userinfo.
        let u = uri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(
            u.user(),
            Some(&b("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"))
        );
        assert_eq!(
            u.password(),
            Some(&b("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"))
        );
        assert_eq!(u.host(), Some(&Host::Domain(b("example.com"))));
        assert!(u.params().is_empty());
        // RFC 4475 semiuri.
        let u = uri("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user(), Some(&b("user;par=u%40example.net")));
        assert_eq!(u.user_unescaped(), Some(b("user;par=u@example.net")));
        // RFC 4475 esc01.
        let u = uri("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(u.user_unescaped(), Some(b("sips:user@example.com")));
        let u = uri("sip:%00%00@host5.example.com");
        assert_eq!(u.user_unescaped().map(|u| u.len()), Some(2));
    }

    #[test]
    fn tel_and_other_schemes() {
        let u = uri("tel:+33100000001;phone-context=example.com");
        assert_eq!(u.scheme(), &Scheme::Tel);
        assert_eq!(u.user(), Some(&b("+33100000001")));
        assert_eq!(u.host(), None);
        assert_eq!(u.params().value("phone-context"), Some(&b("example.com")));
        assert_eq!(
            uri("TEL:+1-201-555-0123").to_string(),
            "tel:+1-201-555-0123"
        );
        assert!(Uri::parse(b("tel:")).is_err());
        assert!(Uri::parse(b("tel:12+3")).is_err());

        let u = uri("soap.beep://192.0.2.103:3002");
        assert_eq!(u.scheme(), &Scheme::Other(b("soap.beep")));
        assert_eq!(u.host(), None);
        assert_eq!(u.to_string(), "soap.beep://192.0.2.103:3002");
        assert!(matches!(
            uri("nobodyKnowsThisScheme:totallyopaquecontent").scheme(),
            Scheme::Other(_)
        ));
        assert!(Uri::parse(b("isbn:")).is_err());
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(uri("SIP:Bob@Biloxi.com").to_string(), "sip:Bob@Biloxi.com");
        assert_eq!(
            uri("sip:[2001:DB8::10]:5060;lr").to_string(),
            "sip:[2001:db8::10]:5060;lr"
        );
    }

    #[test]
    fn builders() {
        let u = Uri::sip(
            Some("alice smith"),
            Host::V4(Ipv4Addr::new(10, 0, 0, 5)),
            Some(5062),
        );
        assert_eq!(u.raw(), &b("sip:alice%20smith@10.0.0.5:5062"));
        assert_eq!(u.user_unescaped(), Some(b("alice smith")));
        let t = u.with_param("transport", Some("tcp"));
        assert_eq!(t.raw(), &b("sip:alice%20smith@10.0.0.5:5062;transport=tcp"));
        assert_eq!(uri(&t.to_string()), t);
        let bare = uri("sip:a@b;lr;x=1?h=v").without_params();
        assert_eq!(bare.raw(), &b("sip:a@b"));
        let v6 = Uri::sip(None, Host::V6(Ipv6Addr::LOCALHOST), None);
        assert_eq!(v6.raw(), &b("sip:[::1]"));
    }

    #[test]
    fn aor_and_equivalence() {
        assert_eq!(
            uri("sip:%61lice@Atlanta.COM;transport=tcp").address_of_record(),
            b("sip:alice@atlanta.com")
        );
        assert_eq!(
            uri("sip:bob@host:5070").address_of_record(),
            b("sip:bob@host:5070")
        );

        // RFC 3261 19.1.4 examples.
        assert!(uri("sip:%61lice@atlanta.com;transport=TCP")
            .equivalent(&uri("sip:alice@AtLanTa.CoM;Transport=tcp")));
        assert!(uri("sip:carol@chicago.com").equivalent(&uri("sip:carol@chicago.com;newparam=5")));
        assert!(
            uri("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com").equivalent(
                &uri("sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com")
            )
        );
        assert!(!uri("SIP:ALICE@AtLanTa.CoM;Transport=udp")
            .equivalent(&uri("sip:alice@AtLanTa.CoM;Transport=UDP")));
        assert!(!uri("sip:bob@biloxi.com").equivalent(&uri("sip:bob@biloxi.com:5060")));
        assert!(!uri("sip:bob@biloxi.com").equivalent(&uri("sip:bob@biloxi.com;transport=udp")));
        assert!(!uri("sip:carol@chicago.com;security=on")
            .equivalent(&uri("sip:carol@chicago.com;security=off")));
        assert!(!uri("sip:alice@atlanta.com").equivalent(&uri("sips:alice@atlanta.com")));
    }

    #[test]
    fn escaped_params_are_found_and_compared_unescaped() {
        // RFC 4475 3.1.1.3 (esc01): escaped parameter names and values.
        let u = uri("sip:o%73kar@198.51.100.23;%74ransport=%75dp;x-k%65y=v%61l%25%34%31");
        assert_eq!(u.transport(), Some(b("udp")));
        assert!(u.params().contains("transport"));
        assert!(u.params().contains("TRANSPORT"));
        assert!(u.params().contains("%74ransport"));
        assert!(u.params().contains("x-key"));
        // Raw values stay as received; `unescaped` resolves them once.
        assert_eq!(u.params().value("transport"), Some(&b("%75dp")));
        assert_eq!(u.params().unescaped("x-key"), Some(b("val%41")));
        // Printing and forwarding keep the escapes.
        assert_eq!(
            u.to_string(),
            "sip:o%73kar@198.51.100.23;%74ransport=%75dp;x-k%65y=v%61l%25%34%31"
        );

        let plain = uri("sip:oskar@198.51.100.23;transport=udp;x-key=val%2541");
        assert!(u.equivalent(&plain));
        assert!(plain.equivalent(&u));
        assert!(u.equivalent(&uri("sip:oskar@198.51.100.23;TRANSPORT=UDP;X-Key=VAL%2541")));
        // Unescaped once: `%25%34%31` is `%41`, not `A`.
        assert!(!u.equivalent(&uri("sip:oskar@198.51.100.23;transport=udp;x-key=valA")));
        // transport must match when either side has it, escaped or not.
        assert!(!u.equivalent(&uri("sip:oskar@198.51.100.23;x-key=val%2541")));
        assert!(!u.equivalent(&uri("sip:oskar@198.51.100.23;transport=tcp")));
        assert!(!uri("sip:a@h;%74ransport=%74cp").equivalent(&uri("sip:a@h;transport=udp")));
        assert!(uri("sip:a@h;%6Daddr=h%32").equivalent(&uri("sip:a@h;maddr=h2")));
        // Other parameters count only when both have them, matched by unescaped name.
        assert!(uri("sip:a@h;x%2Dy=1").equivalent(&uri("sip:a@h;x-y=1;z=2")));
        assert!(!uri("sip:a@h;x%2Dy=1").equivalent(&uri("sip:a@h;x-y=2")));
    }

    #[test]
    fn escaped_reserved_characters_are_not_their_literal() {
        // RFC 3261 19.1.4: only non-reserved characters equal their escapes.
        assert!(uri("sip:%61lice@h").equivalent(&uri("sip:alice@h")));
        assert!(
            !uri("sip:%41lice@h").equivalent(&uri("sip:alice@h")),
            "user is case-sensitive"
        );
        assert!(!uri("sip:a%3Bb@h").equivalent(&uri("sip:a;b@h")));
        assert!(uri("sip:a%3Bb@h").equivalent(&uri("sip:a%3bb@h")));
        assert!(!uri("sip:a@h;x=1%2F2").equivalent(&uri("sip:a@h;x=1/2")));
        assert!(!uri("sip:a:p%40ss@h").equivalent(&uri("sip:a:p%2540ss@h")));
        assert!(uri("sip:a:p%61ss@h").equivalent(&uri("sip:a:pass@h")));
    }

    #[test]
    fn editing_escaped_params() {
        let u = uri("sip:a@h;%74ransport=%75dp;lr");
        // with_param replaces the escaped occurrence instead of adding a second one.
        let t = u.with_param("transport", Some("tcp"));
        assert_eq!(t.raw(), &b("sip:a@h;%74ransport=tcp;lr"));
        assert_eq!(t.transport(), Some(b("tcp")));
        assert_eq!(t.params().len(), 2);
        assert_eq!(uri(&t.to_string()), t);
        let mut p = u.params().clone();
        assert!(p.remove("TRANSPORT"));
        assert!(!p.contains("transport"));
        assert!(u.without_params().params().is_empty());
        // A built URI's parameters are URI parameters too.
        let built = Uri::sip(Some("a"), Host::Domain(b("h")), None).with_param("%6Cr", None);
        assert!(built.is_loose_route());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(&b("a%20b%zz%4")), b("a b%zz%4"));
        assert_eq!(percent_decode(&b("plain")), b("plain"));
    }
}
