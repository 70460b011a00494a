//! Via header values (RFC 3261 20.42), with `received`/`rport` (RFC 3581) and IPv6
//! sent-by and received values (RFC 5118).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::error::ParseError;
use crate::header::HeaderName;
use crate::params::{parse_header_params, Params};
use crate::scan::{is_token, Cursor};
use crate::uri::{parse_host, Host};

/// The RFC 3261 branch prefix ("magic cookie").
pub const BRANCH_MAGIC: &str = "z9hG4bK";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(Bytes),
}

impl Transport {
    pub fn from_bytes(b: &[u8]) -> Transport {
        const KNOWN: [(&[u8], Transport); 6] = [
            (b"UDP", Transport::Udp),
            (b"TCP", Transport::Tcp),
            (b"TLS", Transport::Tls),
            (b"SCTP", Transport::Sctp),
            (b"WS", Transport::Ws),
            (b"WSS", Transport::Wss),
        ];
        KNOWN
            .iter()
            .find(|(n, _)| b.eq_ignore_ascii_case(n))
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| Transport::Other(Bytes::copy_from_slice(b)))
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Transport::Udp => b"UDP",
            Transport::Tcp => b"TCP",
            Transport::Tls => b"TLS",
            Transport::Sctp => b"SCTP",
            Transport::Ws => b"WS",
            Transport::Wss => b"WSS",
            Transport::Other(b) => b,
        }
    }

    /// Port implied when sent-by has none: 5061 for TLS/WSS-style secure transports.
    pub fn default_port(&self) -> u16 {
        match self {
            Transport::Tls => 5061,
            Transport::Ws => 80,
            Transport::Wss => 443,
            _ => 5060,
        }
    }

    /// Transports that keep a connection (responses go back over it).
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// The `rport` parameter (RFC 3581): absent, present without value (a request to fill it),
/// or filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RportParam {
    Absent,
    Empty,
    Value(u16),
}

/// One Via entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Protocol name, normally `SIP` (kept as received, so a 505 can echo `SIP/7.0`).
    pub protocol: Bytes,
    /// Protocol version, normally `2.0`.
    pub version: Bytes,
    pub transport: Transport,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

fn bad_via() -> ParseError {
    ParseError::bad(HeaderName::Via)
}

impl Via {
    /// A `SIP/2.0/<transport> host[:port];branch=...` entry for requests we send.
    pub fn new(transport: Transport, host: Host, port: Option<u16>, branch: &str) -> Via {
        let mut params = Params::new();
        params.push(
            Bytes::from_static(b"branch"),
            Some(Bytes::copy_from_slice(branch.as_bytes())),
        );
        Via {
            protocol: Bytes::from_static(b"SIP"),
            version: Bytes::from_static(b"2.0"),
            transport,
            host,
            port,
            params,
        }
    }

    /// Parse one Via entry (the value must hold exactly one; see `Headers::vias`).
    pub fn parse(value: &Bytes) -> Result<Via, ParseError> {
        let mut cur = Cursor::new(value);
        let via = parse_via(&mut cur)?;
        cur.skip_ws();
        if cur.at_end() {
            Ok(via)
        } else {
            Err(bad_via())
        }
    }

    pub fn branch(&self) -> Option<&Bytes> {
        self.params.value("branch")
    }

    /// The branch starts with the RFC 3261 magic cookie (so it identifies a transaction).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.starts_with(BRANCH_MAGIC.as_bytes()))
    }

    /// The `received` address, with or without IPv6 brackets (RFC 5118 4.5).
    pub fn received(&self) -> Option<IpAddr> {
        let v = self.params.value("received")?;
        let inner = match v.as_ref() {
            [b'[', inner @ .., b']'] => inner,
            other => other,
        };
        std::str::from_utf8(inner).ok()?.parse().ok()
    }

    pub fn rport(&self) -> RportParam {
        match self.params.get("rport") {
            None => RportParam::Absent,
            Some(p) => match &p.value {
                None => RportParam::Empty,
                Some(v) => match crate::scan::parse_u16(v) {
                    Some(port) => RportParam::Value(port),
                    None => RportParam::Empty,
                },
            },
        }
    }

    pub fn is_sip2(&self) -> bool {
        self.protocol.eq_ignore_ascii_case(b"SIP") && self.version.as_ref() == b"2.0"
    }

    /// Where a response to this Via goes when there is no connection to reuse
    /// (RFC 3261 18.2.2 with RFC 3581): `received` (or the sent-by address) and `rport`
    /// (or the sent-by port, or the transport default). `None` when that needs DNS.
    pub fn response_target(&self) -> Option<SocketAddr> {
        let ip = self.received().or_else(|| self.host.ip())?;
        let port = match self.rport() {
            RportParam::Value(p) => p,
            _ => self.port.unwrap_or_else(|| self.transport.default_port()),
        };
        Some(SocketAddr::new(ip, port))
    }

    /// Record where the request really came from (RFC 3261 18.2.1, RFC 3581): add
    /// `received` when the source address differs from sent-by or when `rport` was asked
    /// for, and fill an empty `rport` with the source port.
    pub fn stamp_received(&mut self, source: SocketAddr) {
        let rport = self.rport();
        let differs = self.host.ip() != Some(source.ip());
        if differs || rport == RportParam::Empty {
            let ip = source.ip().to_string();
            self.params.set("received", Some(Bytes::from(ip)));
        }
        if rport == RportParam::Empty {
            self.params
                .set("rport", Some(Bytes::from(source.port().to_string())));
        }
    }

    /// Copy of this entry with `received`/`rport` stamped from `source`, printed.
    pub fn with_received(&self, source: SocketAddr) -> Bytes {
        let mut v = self.clone();
        v.stamp_received(source);
        v.to_bytes()
    }

    /// Print as a header value: `SIP/2.0/UDP host:port;params`.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(
            self.protocol.len()
                + self.version.len()
                + self.transport.as_bytes().len()
                + 48
                + self.params.printed_len(),
        );
        self.write_to(&mut out);
        Bytes::from(out)
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.protocol);
        out.push(b'/');
        out.extend_from_slice(&self.version);
        out.push(b'/');
        out.extend_from_slice(self.transport.as_bytes());
        out.push(b' ');
        self.host.write_to(out);
        if let Some(p) = self.port {
            out.extend_from_slice(format!(":{p}").as_bytes());
        }
        self.params.write_to(out);
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// `sent-protocol LWS sent-by *( SEMI via-params )` at the cursor; stops before the `,` or
/// the end. SWS is allowed around `/`, `:`, `;` and `=` (RFC 4475 wsinv).
pub(crate) fn parse_via(cur: &mut Cursor<'_>) -> Result<Via, ParseError> {
    cur.skip_ws();
    let (ps, pe) = cur.token().ok_or_else(bad_via)?;
    cur.skip_ws();
    if !cur.eat(b'/') {
        return Err(bad_via());
    }
    cur.skip_ws();
    let (vs, ve) = cur.token().ok_or_else(bad_via)?;
    cur.skip_ws();
    if !cur.eat(b'/') {
        return Err(bad_via());
    }
    cur.skip_ws();
    let (ts, te) = cur.token().ok_or_else(bad_via)?;
    let before_host = cur.pos;
    cur.skip_ws();
    if cur.pos == before_host {
        return Err(bad_via());
    }
    let (hs, he) = if cur.peek() == Some(b'[') {
        let s = cur.pos;
        cur.take_while(|c| c != b']' && c != b',' && c != b';');
        if !cur.eat(b']') {
            return Err(bad_via());
        }
        (s, cur.pos)
    } else {
        cur.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
    };
    let host = parse_host(cur.src, hs, he, cur.keep).ok_or_else(bad_via)?;
    let save = cur.pos;
    cur.skip_ws();
    let port = if cur.eat(b':') {
        cur.skip_ws();
        let (s, e) = cur.take_while(|c| c.is_ascii_digit());
        Some(crate::scan::parse_u16(cur.bytes(s, e)).ok_or_else(bad_via)?)
    } else {
        cur.pos = save;
        None
    };
    let params = parse_header_params(cur).ok_or_else(bad_via)?;
    // Anything but the end or a comma after the parameters is garbage.
    let save = cur.pos;
    cur.skip_ws();
    match cur.peek() {
        None | Some(b',') => cur.pos = save,
        Some(_) => return Err(bad_via()),
    }
    if !cur.bytes(ts, te).iter().all(|&c| is_token(c)) {
        return Err(bad_via());
    }
    Ok(Via {
        protocol: cur.slice(ps, pe),
        version: cur.slice(vs, ve),
        transport: match Transport::from_bytes(cur.bytes(ts, te)) {
            Transport::Other(_) => Transport::Other(cur.slice(ts, te)),
            known => known,
        },
        host,
        port,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn via(s: &'static str) -> Via {
        Via::parse(&Bytes::from_static(s.as_bytes())).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn basic_via_with_rport() {
        let v = via("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport");
        assert!(v.is_sip2());
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(
            v.host,
            Host::Domain(Bytes::from_static(b"pc33.atlanta.com"))
        );
        assert_eq!(v.port, Some(5066));
        assert_eq!(v.branch().map(|b| &b[..]), Some(&b"z9hG4bK776asdhds"[..]));
        assert!(v.has_rfc3261_branch());
        assert_eq!(v.rport(), RportParam::Empty);
        assert_eq!(v.received(), None);
        assert_eq!(v.response_target(), None, "a domain needs DNS");
    }

    #[test]
    fn whitespace_everywhere() {
        let v = via("SIP  /   2.0 /UDP    192.0.2.2 : 5060 ;  branch  =   z9hG4bK9ikj8  ");
        assert_eq!(v.host, Host::V4(Ipv4Addr::new(192, 0, 2, 2)));
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch().map(|b| &b[..]), Some(&b"z9hG4bK9ikj8"[..]));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK9ikj8"
        );
    }

    #[test]
    fn ipv6_sent_by_and_received() {
        let v = via("SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255;branch=z9hG4bKas3");
        assert_eq!(v.host, Host::V6("2001:db8::9:1".parse().expect("v6")));
        assert_eq!(v.port, Some(6050));
        let r: IpAddr = "2001:db8::9:255".parse().expect("v6");
        assert_eq!(v.received(), Some(r));
        let v = via("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3");
        assert_eq!(v.received(), Some(r));
        assert_eq!(v.port, None);
        assert_eq!(v.response_target(), Some(SocketAddr::new(r, 5060)));
    }

    #[test]
    fn transports() {
        for (s, t) in [
            ("SIP/2.0/udp h", Transport::Udp),
            ("SIP/2.0/TCP h", Transport::Tcp),
            ("SIP/2.0/TLS h", Transport::Tls),
            ("SIP/2.0/SCTP h", Transport::Sctp),
            ("SIP/2.0/WS h", Transport::Ws),
            ("SIP/2.0/WSS h", Transport::Wss),
            (
                "SIP/2.0/UNKNOWN h",
                Transport::Other(Bytes::from_static(b"UNKNOWN")),
            ),
        ] {
            assert_eq!(via(s).transport, t, "{s}");
        }
        assert_eq!(Transport::Tls.default_port(), 5061);
        assert!(!Transport::Udp.is_reliable());
        let v = via("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw");
        assert!(!v.is_sip2());
        assert_eq!(
            v.to_string(),
            "SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw"
        );
    }

    #[test]
    fn malformed_vias() {
        for bad in [
            "",
            "SIP/2.0/UDP",
            "SIP/2.0 192.0.2.1",
            "SIP/2.0/UDP 192.0.2.15;;,;,,",
            "SIP/2.0/UDP host;branch=",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host:",
            "SIP/2.0/UDP [2001:db8::1",
            "SIP/2.0/UDP host junk",
            "SIP/2.0/UDP host, SIP/2.0/UDP other",
            "SIP/2.0/UDP 192.0.2.256",
        ] {
            assert!(
                Via::parse(&Bytes::from_static(bad.as_bytes())).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stamping_received_and_rport() {
        // RFC 3581 example: rport requested, source differs.
        let v = via("SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff");
        let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 9988);
        assert_eq!(
            &v.with_received(src)[..],
            b"SIP/2.0/UDP 10.1.1.1:4540;rport=9988;branch=z9hG4bKkjshdyff;received=192.0.2.1"
        );
        let mut s = v.clone();
        s.stamp_received(src);
        assert_eq!(s.response_target(), Some(src));

        // No rport, same address: nothing added.
        let v = via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1");
        assert_eq!(
            &v.with_received(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                5060
            ))[..],
            b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1"
        );
        // rport requested, same address: received is still added (RFC 3581 section 4).
        let v = via("SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bK1");
        let out = v.with_received(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            5070,
        ));
        assert_eq!(
            &out[..],
            b"SIP/2.0/UDP 192.0.2.1;rport=5070;branch=z9hG4bK1;received=192.0.2.1"
        );
        // IPv6 received is written without brackets (RFC 3261 grammar).
        let v = via("SIP/2.0/TCP host;branch=z9hG4bK1");
        let out = v.with_received(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5070));
        assert_eq!(&out[..], b"SIP/2.0/TCP host;branch=z9hG4bK1;received=::1");
        assert_eq!(
            via("SIP/2.0/TCP host;branch=z9hG4bK1;received=::1").received(),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
    }

    #[test]
    fn building() {
        let v = Via::new(
            Transport::Tcp,
            Host::V4(Ipv4Addr::new(127, 0, 0, 1)),
            Some(5060),
            "z9hG4bKabc",
        );
        assert_eq!(
            v.to_string(),
            "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKabc"
        );
        assert_eq!(via("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKabc"), v);
        assert_eq!(
            via("SIP/2.0/UDP h;rport=5070").rport(),
            RportParam::Value(5070)
        );
    }
}
