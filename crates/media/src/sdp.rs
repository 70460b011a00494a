//! SDP (RFC 4566) parsing and printing, and the offer/answer edits (RFC 3264) an anchoring relay
//! makes.
//!
//! Why this shape: a B2BUA that anchors media rewrites only a few fields of a peer's SDP (the
//! connection address, the audio port, RTCP and the direction) and must pass everything else on
//! unchanged, including lines it does not understand (ICE candidates, crypto, vendor attributes).
//! So a description is kept as its lines in their original order; the lines the relay needs are
//! typed, every other line keeps its bytes. All values are [`Bytes`] slices of the received body
//! (zero-copy); printing writes `CRLF` line ends.
//!
//! A typed line whose value is malformed (an `a=rtpmap` with a payload type of 300, a `c=` with a
//! host name) is not an error: it is kept as [`Line::Other`] and printed back as received. Only
//! input the relay cannot work with at all is refused ([`SdpError`]): no `v=` first, a line without
//! `x=`, an `m=` line without a port, protocol and format list. Parsing never panics.
//!
//! Never: allocates a copy of the body, reads sockets or decides policy (which codecs to prefer
//! is the caller's).

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

/// Why a body is not an SDP the relay can work with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is empty or does not start with `v=`.
    #[error("SDP does not start with v=")]
    NoVersion,
    /// A line is not of the form `<letter>=<value>` (1-based line number).
    #[error("SDP line {0} is not <type>=<value>")]
    Line(usize),
    /// An `m=` line lacks its port, protocol or formats (1-based line number).
    #[error("SDP line {0}: malformed m= line")]
    Media(usize),
}

/// One session description: its session-level lines, then its media sections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sdp {
    /// Session-level lines in their original order (`v=` first).
    pub session: Vec<Line>,
    /// Media sections, each starting with its `m=` line.
    pub media: Vec<MediaSection>,
}

/// One `m=` line and the lines that follow it up to the next `m=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaSection {
    /// The `m=` line.
    pub media: MediaLine,
    /// The section's other lines, in order.
    pub lines: Vec<Line>,
}

/// `m=<media> <port>[/<count>] <proto> <fmt> ...`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaLine {
    /// `audio`, `video`, `application`, ...
    pub kind: Bytes,
    /// Transport port; 0 means the stream is disabled (RFC 3264 §5.1).
    pub port: u16,
    /// The `/<number of ports>` suffix, if any.
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, ...
    pub proto: Bytes,
    /// Media formats: RTP payload type numbers for RTP profiles.
    pub formats: Vec<Bytes>,
}

/// One SDP line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `o=`
    Origin(Origin),
    /// `c=IN IP4|IP6 <address>[/ttl[/n]]` with a literal address.
    Connection(Connection),
    /// `t=<start> <stop>`
    Timing {
        /// NTP start time, 0 for unbounded.
        start: u64,
        /// NTP stop time, 0 for unbounded.
        stop: u64,
    },
    /// `a=`
    Attribute(Attribute),
    /// Any other line, or a typed line whose value did not parse: kept as received.
    Other {
        /// The type letter (`v`, `s`, `b`, `k`, ...).
        kind: u8,
        /// Everything after `=`.
        value: Bytes,
    },
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Username, `-` when none.
    pub username: Bytes,
    /// Session id, kept as text (some phones exceed 64 bits).
    pub session_id: Bytes,
    /// Session version, kept as text.
    pub session_version: Bytes,
    /// `IN`.
    pub net_type: Bytes,
    /// `IP4` or `IP6`.
    pub addr_type: Bytes,
    /// Address or host name, as written.
    pub address: Bytes,
}

/// A `c=` line with a literal IP address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The connection address.
    pub address: IpAddr,
    /// Multicast `/ttl[/count]` suffix (without the first `/`), usually absent.
    pub suffix: Option<Bytes>,
}

/// Media direction attributes (RFC 3264 §5.1, §8.4 for hold).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv` (the default when none is given).
    SendRecv,
    /// `a=sendonly` (the usual hold offer).
    SendOnly,
    /// `a=recvonly`
    RecvOnly,
    /// `a=inactive`
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answerer takes to accept this offer (RFC 3264 §6.1):
    /// `sendonly` is answered `recvonly` and vice versa.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    fn from_name(name: &[u8]) -> Option<Direction> {
        match name {
            b"sendrecv" => Some(Direction::SendRecv),
            b"sendonly" => Some(Direction::SendOnly),
            b"recvonly" => Some(Direction::RecvOnly),
            b"inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// An `a=` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap:<pt> <name>/<clock>[/<channels>]`
    Rtpmap {
        /// Payload type.
        pt: u8,
        /// Encoding name as written (`opus`, `PCMA`, `telephone-event`).
        name: Bytes,
        /// Clock rate in Hz.
        clock_rate: u32,
        /// Encoding parameters (channels for audio), if given.
        channels: Option<u16>,
    },
    /// `a=fmtp:<pt> <parameters>`
    Fmtp {
        /// Payload type.
        pt: u8,
        /// The parameter string, untouched (`useinbandfec=1; minptime=10`).
        params: Bytes,
    },
    /// `a=ptime:<ms>`
    Ptime(u32),
    /// `a=sendrecv` / `sendonly` / `recvonly` / `inactive`
    Direction(Direction),
    /// `a=rtcp:<port>[ <nettype> <addrtype> <address>]` (RFC 3605)
    Rtcp {
        /// The RTCP port.
        port: u16,
        /// The optional address part, as written.
        address: Option<Bytes>,
    },
    /// `a=rtcp-mux` (RFC 5761)
    RtcpMux,
    /// Any other attribute, or a typed one that did not parse.
    Other {
        /// The name before `:`.
        name: Bytes,
        /// The value after `:`, if there was a `:`.
        value: Option<Bytes>,
    },
}

/// A codec offered in a media section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Codec {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name as written (compare with [`Codec::same_format`], case-insensitively).
    pub name: Bytes,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Audio channels (1 when not given).
    pub channels: u16,
    /// The `a=fmtp` parameters, if any.
    pub fmtp: Option<Bytes>,
}

impl Codec {
    /// A codec description (no fmtp).
    pub fn new(pt: u8, name: &'static str, clock_rate: u32, channels: u16) -> Codec {
        Codec {
            pt,
            name: Bytes::from_static(name.as_bytes()),
            clock_rate,
            channels,
            fmtp: None,
        }
    }

    /// Same encoding: name (case-insensitive), clock rate and channels. Payload type numbers
    /// and fmtp are not compared: each side may number dynamic types as it likes.
    pub fn same_format(&self, other: &Codec) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.clock_rate == other.clock_rate
            && self.channels == other.channels
    }

    /// RFC 4733 DTMF events.
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case(b"telephone-event")
    }
}

/// RFC 3551 §6 static audio payload types: (pt, name, clock rate, channels).
const STATIC_AUDIO: &[(u8, &str, u32, u16)] = &[
    (0, "PCMU", 8000, 1),
    (3, "GSM", 8000, 1),
    (4, "G723", 8000, 1),
    (5, "DVI4", 8000, 1),
    (6, "DVI4", 16000, 1),
    (7, "LPC", 8000, 1),
    (8, "PCMA", 8000, 1),
    (9, "G722", 8000, 1),
    (10, "L16", 44100, 2),
    (11, "L16", 44100, 1),
    (12, "QCELP", 8000, 1),
    (13, "CN", 8000, 1),
    (14, "MPA", 90000, 1),
    (15, "G728", 8000, 1),
    (16, "DVI4", 11025, 1),
    (17, "DVI4", 22050, 1),
    (18, "G729", 8000, 1),
];

/// The static payload type's codec (RFC 3551), if `pt` is one.
pub fn static_codec(pt: u8) -> Option<Codec> {
    STATIC_AUDIO
        .iter()
        .find(|(p, ..)| *p == pt)
        .map(|&(pt, name, rate, ch)| Codec::new(pt, name, rate, ch))
}

// ---------------------------------------------------------------------------------------------
// Parsing

impl Sdp {
    /// Parses a body. Accepts `CRLF` or bare `LF` line ends and ignores empty lines.
    pub fn parse(body: Bytes) -> Result<Sdp, SdpError> {
        let mut session = Vec::new();
        let mut media: Vec<MediaSection> = Vec::new();
        let mut first = true;
        for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.is_empty() {
                continue;
            }
            let number = index + 1;
            let (kind, value) = match raw {
                [kind, b'=', ..] if kind.is_ascii_alphabetic() => {
                    (*kind, body.slice_ref(&raw[2..]))
                }
                _ if first => return Err(SdpError::NoVersion),
                _ => return Err(SdpError::Line(number)),
            };
            if first {
                if kind != b'v' {
                    return Err(SdpError::NoVersion);
                }
                first = false;
            }
            if kind == b'm' {
                let line = parse_media_line(&value).ok_or(SdpError::Media(number))?;
                media.push(MediaSection {
                    media: line,
                    lines: Vec::new(),
                });
                continue;
            }
            let line = parse_line(kind, value);
            match media.last_mut() {
                Some(section) => section.lines.push(line),
                None => session.push(line),
            }
        }
        if first {
            return Err(SdpError::NoVersion);
        }
        Ok(Sdp { session, media })
    }
}

fn parse_line(kind: u8, value: Bytes) -> Line {
    let typed = match kind {
        b'o' => parse_origin(&value).map(Line::Origin),
        b'c' => parse_connection(&value).map(Line::Connection),
        b't' => parse_timing(&value),
        b'a' => Some(Line::Attribute(parse_attribute(&value))),
        _ => None,
    };
    typed.unwrap_or(Line::Other { kind, value })
}

fn fields(value: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    value
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .map(move |f| value.slice_ref(f))
}

fn num<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    // `FromStr` for integers accepts a leading `+`; SDP does not.
    if bytes.first().is_some_and(|b| !b.is_ascii_digit()) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn parse_origin(value: &Bytes) -> Option<Origin> {
    let mut f = fields(value);
    let origin = Origin {
        username: f.next()?,
        session_id: f.next()?,
        session_version: f.next()?,
        net_type: f.next()?,
        addr_type: f.next()?,
        address: f.next()?,
    };
    f.next().is_none().then_some(origin)
}

fn parse_connection(value: &Bytes) -> Option<Connection> {
    let mut f = fields(value);
    if f.next()?.as_ref() != b"IN" {
        return None;
    }
    let addr_type = f.next()?;
    let addr = f.next()?;
    if f.next().is_some() {
        return None;
    }
    let (ip, suffix) = match addr.iter().position(|&b| b == b'/') {
        Some(i) => (addr.slice(..i), Some(addr.slice(i + 1..))),
        None => (addr, None),
    };
    let address: IpAddr = std::str::from_utf8(&ip).ok()?.parse().ok()?;
    let type_matches = match addr_type.as_ref() {
        b"IP4" => address.is_ipv4(),
        b"IP6" => address.is_ipv6(),
        _ => false,
    };
    type_matches.then_some(Connection { address, suffix })
}

fn parse_timing(value: &Bytes) -> Option<Line> {
    let mut f = fields(value);
    let start = num(&f.next()?)?;
    let stop = num(&f.next()?)?;
    f.next().is_none().then_some(Line::Timing { start, stop })
}

fn parse_media_line(value: &Bytes) -> Option<MediaLine> {
    let mut f = fields(value);
    let kind = f.next()?;
    let port_field = f.next()?;
    let (port, port_count) = match port_field.iter().position(|&b| b == b'/') {
        Some(i) => (num(&port_field[..i])?, Some(num(&port_field[i + 1..])?)),
        None => (num(&port_field)?, None),
    };
    let proto = f.next()?;
    let formats: Vec<Bytes> = f.collect();
    if formats.is_empty() {
        return None;
    }
    Some(MediaLine {
        kind,
        port,
        port_count,
        proto,
        formats,
    })
}

fn parse_attribute(value: &Bytes) -> Attribute {
    let (name, rest) = match value.iter().position(|&b| b == b':') {
        Some(i) => (value.slice(..i), Some(value.slice(i + 1..))),
        None => (value.clone(), None),
    };
    let typed = match (name.as_ref(), &rest) {
        (b"rtpmap", Some(v)) => parse_rtpmap(v),
        (b"fmtp", Some(v)) => parse_fmtp(v),
        (b"ptime", Some(v)) => num(v).map(Attribute::Ptime),
        (b"rtcp", Some(v)) => parse_rtcp(v),
        (b"rtcp-mux", None) => Some(Attribute::RtcpMux),
        (n, None) => Direction::from_name(n).map(Attribute::Direction),
        _ => None,
    };
    typed.unwrap_or(Attribute::Other { name, value: rest })
}

/// Splits `<pt> <rest>` at the first space.
fn pt_and_rest(v: &Bytes) -> Option<(u8, Bytes)> {
    let i = v.iter().position(|&b| b == b' ')?;
    let pt = num(&v[..i])?;
    let rest = v.slice(i + 1..);
    (!rest.is_empty()).then_some((pt, rest))
}

fn parse_rtpmap(v: &Bytes) -> Option<Attribute> {
    let (pt, enc) = pt_and_rest(v)?;
    if pt > 127 {
        return None;
    }
    let mut parts = enc.split(|&b| b == b'/');
    let name = enc.slice_ref(parts.next()?);
    let clock_rate = num(parts.next()?)?;
    let channels = match parts.next() {
        Some(c) => Some(num(c)?),
        None => None,
    };
    if name.is_empty() || name.contains(&b' ') || parts.next().is_some() {
        return None;
    }
    Some(Attribute::Rtpmap {
        pt,
        name,
        clock_rate,
        channels,
    })
}

fn parse_fmtp(v: &Bytes) -> Option<Attribute> {
    let (pt, params) = pt_and_rest(v)?;
    (pt <= 127).then_some(Attribute::Fmtp { pt, params })
}

fn parse_rtcp(v: &Bytes) -> Option<Attribute> {
    match v.iter().position(|&b| b == b' ') {
        None => Some(Attribute::Rtcp {
            port: num(v)?,
            address: None,
        }),
        Some(i) => {
            let address = v.slice(i + 1..);
            (!address.is_empty()).then_some(())?;
            Some(Attribute::Rtcp {
                port: num(&v[..i])?,
                address: Some(address),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Printing

struct Text<'a>(&'a [u8]);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values came from a byte body; non-UTF-8 bytes are rare (only in s=/i= free text) and
        // printed lossily rather than refused.
        f.write_str(&String::from_utf8_lossy(self.0))
    }
}

fn addr_type(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Origin(o) => write!(
                f,
                "o={} {} {} {} {} {}",
                Text(&o.username),
                Text(&o.session_id),
                Text(&o.session_version),
                Text(&o.net_type),
                Text(&o.addr_type),
                Text(&o.address)
            ),
            Line::Connection(c) => {
                write!(f, "c=IN {} {}", addr_type(c.address), c.address)?;
                match &c.suffix {
                    Some(s) => write!(f, "/{}", Text(s)),
                    None => Ok(()),
                }
            }
            Line::Timing { start, stop } => write!(f, "t={start} {stop}"),
            Line::Attribute(a) => write!(f, "a={a}"),
            Line::Other { kind, value } => {
                f.write_char(char::from(*kind))?;
                write!(f, "={}", Text(value))
            }
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Rtpmap {
                pt,
                name,
                clock_rate,
                channels,
            } => {
                write!(f, "rtpmap:{pt} {}/{clock_rate}", Text(name))?;
                match channels {
                    Some(c) => write!(f, "/{c}"),
                    None => Ok(()),
                }
            }
            Attribute::Fmtp { pt, params } => write!(f, "fmtp:{pt} {}", Text(params)),
            Attribute::Ptime(ms) => write!(f, "ptime:{ms}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Rtcp { port, address } => {
                write!(f, "rtcp:{port}")?;
                match address {
                    Some(a) => write!(f, " {}", Text(a)),
                    None => Ok(()),
                }
            }
            Attribute::RtcpMux => f.write_str("rtcp-mux"),
            Attribute::Other { name, value } => {
                write!(f, "{}", Text(name))?;
                match value {
                    Some(v) => write!(f, ":{}", Text(v)),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Display for MediaLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", Text(&self.kind), self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", Text(&self.proto))?;
        for fmt in &self.formats {
            write!(f, " {}", Text(fmt))?;
        }
        Ok(())
    }
}

impl fmt::Display for Sdp {
    /// The body, each line ended by `CRLF`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.session {
            write!(f, "{line}\r\n")?;
        }
        for section in &self.media {
            write!(f, "{}\r\n", section.media)?;
            for line in &section.lines {
                write!(f, "{line}\r\n")?;
            }
        }
        Ok(())
    }
}

impl Sdp {
    /// The printed body, ready to be a SIP message body.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Queries

impl MediaSection {
    /// An `m=audio` section.
    pub fn is_audio(&self) -> bool {
        self.media.kind.as_ref() == b"audio"
    }

    /// The section's attributes.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.lines.iter().filter_map(|l| match l {
            Line::Attribute(a) => Some(a),
            _ => None,
        })
    }

    /// The section's own `c=` address, if any.
    pub fn connection(&self) -> Option<IpAddr> {
        connection_of(&self.lines)
    }

    /// The payload types of the format list that are numbers.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.media.formats.iter().filter_map(|f| num::<u8>(f))
    }

    /// The section's codecs in format-list order. Static payload types need no `a=rtpmap`;
    /// dynamic ones without one are left out (nothing says what they are).
    pub fn codecs(&self) -> Vec<Codec> {
        self.payload_types()
            .filter_map(|pt| {
                let fmtp = self.attributes().find_map(|a| match a {
                    Attribute::Fmtp { pt: p, params } if *p == pt => Some(params.clone()),
                    _ => None,
                });
                let mapped = self.attributes().find_map(|a| match a {
                    Attribute::Rtpmap {
                        pt: p,
                        name,
                        clock_rate,
                        channels,
                    } if *p == pt => Some(Codec {
                        pt,
                        name: name.clone(),
                        clock_rate: *clock_rate,
                        channels: channels.unwrap_or(1),
                        fmtp: None,
                    }),
                    _ => None,
                });
                let mut codec = mapped.or_else(|| static_codec(pt))?;
                codec.fmtp = fmtp;
                Some(codec)
            })
            .collect()
    }

    /// Whether `a=rtcp-mux` is present.
    pub fn rtcp_mux(&self) -> bool {
        self.attributes().any(|a| *a == Attribute::RtcpMux)
    }

    /// The `a=rtcp:` port, if present.
    pub fn rtcp_port(&self) -> Option<u16> {
        self.attributes().find_map(|a| match a {
            Attribute::Rtcp { port, .. } => Some(*port),
            _ => None,
        })
    }

    fn own_direction(&self) -> Option<Direction> {
        direction_of(&self.lines)
    }
}

fn connection_of(lines: &[Line]) -> Option<IpAddr> {
    lines.iter().find_map(|l| match l {
        Line::Connection(c) => Some(c.address),
        _ => None,
    })
}

fn direction_of(lines: &[Line]) -> Option<Direction> {
    lines.iter().find_map(|l| match l {
        Line::Attribute(Attribute::Direction(d)) => Some(*d),
        _ => None,
    })
}

impl Sdp {
    /// The first `m=audio` section.
    pub fn audio(&self) -> Option<&MediaSection> {
        self.media.iter().find(|m| m.is_audio())
    }

    /// The session-level `c=` address.
    pub fn connection(&self) -> Option<IpAddr> {
        connection_of(&self.session)
    }

    /// Where the peer wants its audio RTP sent: the audio section's (or else the session's)
    /// connection address and the audio port. `None` without audio, with port 0, or with no
    /// literal address. (An all-zeros address is returned as is: old-style hold.)
    pub fn audio_addr(&self) -> Option<SocketAddr> {
        let audio = self.audio()?;
        if audio.media.port == 0 {
            return None;
        }
        let ip = audio.connection().or_else(|| self.connection())?;
        Some(SocketAddr::new(ip, audio.media.port))
    }

    /// The `v=` value (`0`).
    pub fn version(&self) -> Option<&Bytes> {
        self.other_line(b'v')
    }

    /// The `s=` session name.
    pub fn session_name(&self) -> Option<&Bytes> {
        self.other_line(b's')
    }

    /// The `o=` line, if well formed.
    pub fn origin(&self) -> Option<&Origin> {
        self.session.iter().find_map(|l| match l {
            Line::Origin(o) => Some(o),
            _ => None,
        })
    }

    fn other_line(&self, kind: u8) -> Option<&Bytes> {
        self.session.iter().find_map(|l| match l {
            Line::Other { kind: k, value } if *k == kind => Some(value),
            _ => None,
        })
    }

    /// The audio direction: the audio section's attribute, else the session's, else
    /// `sendrecv` (RFC 3264 §5.1).
    pub fn direction(&self) -> Direction {
        self.audio()
            .and_then(MediaSection::own_direction)
            .or_else(|| direction_of(&self.session))
            .unwrap_or(Direction::SendRecv)
    }

    /// A copy with `direction` on every media section (replacing the section's direction
    /// attribute in place, or appending one) and none at session level. `SendOnly` puts the
    /// peer on hold; `SendRecv` resumes.
    pub fn with_direction(&self, direction: Direction) -> Sdp {
        let mut out = self.clone();
        out.session
            .retain(|l| !matches!(l, Line::Attribute(Attribute::Direction(_))));
        for section in &mut out.media {
            let mut placed = false;
            section.lines.retain_mut(|l| match l {
                Line::Attribute(Attribute::Direction(d)) if !placed => {
                    *d = direction;
                    placed = true;
                    true
                }
                Line::Attribute(Attribute::Direction(_)) => false,
                _ => true,
            });
            if !placed {
                section
                    .lines
                    .push(Line::Attribute(Attribute::Direction(direction)));
            }
        }
        out
    }
}

/// The codecs of the first audio section (see [`MediaSection::codecs`]); empty without audio.
pub fn codecs(sdp: &Sdp) -> Vec<Codec> {
    sdp.audio().map(MediaSection::codecs).unwrap_or_default()
}

/// The offered audio codecs the answerer can also do, in the offerer's order and with the
/// offerer's payload type numbers and fmtp, plus every offered `telephone-event` (the relay
/// forwards RFC 4733 events whatever the voice codec).
pub fn intersect(offer: &Sdp, answer_capabilities: &[Codec]) -> Vec<Codec> {
    codecs(offer)
        .into_iter()
        .filter(|c| c.is_telephone_event() || answer_capabilities.iter().any(|a| a.same_format(c)))
        .collect()
}

/// Anchors a description on the relay: our `ip` in every `c=` line (session and media level,
/// IPv4 or IPv6 as `ip` is), `rtp_port` on the first audio `m=` line, and for RTCP either
/// `a=rtcp-mux` (any `a=rtcp:` removed) or `a=rtcp:<rtp_port + 1>` (any `a=rtcp-mux` removed).
/// Other media sections (video, ...) are not relayed, so their port becomes 0 (declined,
/// RFC 3264 §6) rather than pointing the peer at an address where nobody listens. The `o=`
/// line and its version are left alone: bumping them is the signalling layer's business.
pub fn rewrite(sdp: &Sdp, ip: IpAddr, rtp_port: u16, rtcp_mux: bool) -> Sdp {
    let mut out = sdp.clone();
    let anchor = |lines: &mut Vec<Line>| {
        for line in lines.iter_mut() {
            let is_connection =
                matches!(line, Line::Connection(_) | Line::Other { kind: b'c', .. });
            if is_connection {
                *line = Line::Connection(Connection {
                    address: ip,
                    suffix: None,
                });
            }
        }
    };
    anchor(&mut out.session);
    let audio_index = out.media.iter().position(MediaSection::is_audio);
    for (i, section) in out.media.iter_mut().enumerate() {
        anchor(&mut section.lines);
        if Some(i) != audio_index {
            section.media.port = 0;
            continue;
        }
        section.media.port = rtp_port;
        let wanted = if rtcp_mux {
            Attribute::RtcpMux
        } else {
            Attribute::Rtcp {
                port: rtp_port.wrapping_add(1),
                address: None,
            }
        };
        let mut placed = false;
        section.lines.retain_mut(|l| match l {
            Line::Attribute(Attribute::RtcpMux | Attribute::Rtcp { .. }) if !placed => {
                *l = Line::Attribute(wanted.clone());
                placed = true;
                true
            }
            Line::Attribute(Attribute::RtcpMux | Attribute::Rtcp { .. }) => false,
            _ => true,
        });
        if !placed {
            section.lines.push(Line::Attribute(wanted));
        }
    }
    out
}

/// A copy whose first audio section offers only `keep` (matched by payload type): the format
/// list is filtered and the `a=rtpmap`/`a=fmtp` lines of dropped payload types removed. Used to
/// pass on only the codecs [`intersect`] kept.
pub fn with_codecs(sdp: &Sdp, keep: &[Codec]) -> Sdp {
    let mut out = sdp.clone();
    let kept = |pt: u8| keep.iter().any(|c| c.pt == pt);
    if let Some(section) = out.media.iter_mut().find(|m| m.is_audio()) {
        section
            .media
            .formats
            .retain(|f| num::<u8>(f).is_none_or(kept));
        section.lines.retain(|l| match l {
            Line::Attribute(Attribute::Rtpmap { pt, .. } | Attribute::Fmtp { pt, .. }) => kept(*pt),
            _ => true,
        });
    }
    out
}

/// What an anchoring B2BUA writes into its own SDP for one leg (see [`build_audio`]).
#[derive(Clone, Debug)]
pub struct AudioDescription<'a> {
    /// Our media address (`[media] ip`).
    pub ip: IpAddr,
    /// Our RTP port for this leg.
    pub port: u16,
    /// Codecs in order of preference, telephone-event included, with this leg's payload types.
    pub codecs: &'a [Codec],
    /// `a=` direction written on the audio section.
    pub direction: Direction,
    /// RTCP multiplexed on the RTP port (RFC 5761) instead of `a=rtcp` on the next port.
    pub rtcp_mux: bool,
    /// The `o=` session id: one per leg for its whole life.
    pub session_id: u64,
    /// The `o=` version: increased whenever the description changes (RFC 3264 §8).
    pub version: u64,
}

/// Writes a complete audio-only description of our own (RFC 4566, RFC 3264).
///
/// Why our own rather than an edited copy of the peer's: once the media is anchored, the
/// peer's ICE candidates, crypto, bandwidth and other lines describe an address that is no
/// longer in the path, and a transcoded leg has codecs the peer never offered. Asterisk and
/// FreeSWITCH do the same: each leg sees the B2BUA's own description.
pub fn build_audio(d: &AudioDescription<'_>) -> Bytes {
    use std::fmt::Write as _;
    let family = if d.ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "v=0\r\no=switchboard {} {} IN {family} {}\r\ns=switchboard\r\nc=IN {family} {}\r\nt=0 0\r\nm=audio {} RTP/AVP",
        d.session_id, d.version, d.ip, d.ip, d.port
    );
    for c in d.codecs {
        let _ = write!(s, " {}", c.pt);
    }
    s.push_str("\r\n");
    for c in d.codecs {
        let _ = write!(s, "a=rtpmap:{} ", c.pt);
        s.push_str(&String::from_utf8_lossy(&c.name));
        let _ = write!(s, "/{}", c.clock_rate);
        if c.channels > 1 {
            let _ = write!(s, "/{}", c.channels);
        }
        s.push_str("\r\n");
        if let Some(fmtp) = &c.fmtp {
            let _ = write!(s, "a=fmtp:{} ", c.pt);
            s.push_str(&String::from_utf8_lossy(fmtp));
            s.push_str("\r\n");
        }
    }
    if d.rtcp_mux {
        s.push_str("a=rtcp-mux\r\n");
    } else {
        let _ = write!(s, "a=rtcp:{}\r\n", d.port.wrapping_add(1));
    }
    s.push_str("a=ptime:20\r\n");
    let _ = write!(s, "a={}\r\n", d.direction.as_str());
    Bytes::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Sdp {
        match Sdp::parse(Bytes::copy_from_slice(s.as_bytes())) {
            Ok(sdp) => sdp,
            Err(e) => panic!("{e}: {s}"),
        }
    }

    #[test]
    fn refuses_what_is_not_sdp() {
        let p = |s: &'static str| Sdp::parse(Bytes::from_static(s.as_bytes()));
        assert_eq!(p(""), Err(SdpError::NoVersion));
        assert_eq!(p("s=x\r\n"), Err(SdpError::NoVersion));
        assert_eq!(p("v=0\r\nnonsense\r\n"), Err(SdpError::Line(2)));
        assert_eq!(p("v=0\r\nm=audio x RTP/AVP 0\r\n"), Err(SdpError::Media(2)));
        assert_eq!(
            p("v=0\r\nm=audio 4000 RTP/AVP\r\n"),
            Err(SdpError::Media(2))
        );
    }

    #[test]
    fn malformed_typed_lines_are_kept_raw() {
        let sdp = parse("v=0\r\nc=IN IP4 host.example\r\na=rtpmap:300 X/8000\r\nt=a b\r\n");
        assert_eq!(
            sdp.session[1],
            Line::Other {
                kind: b'c',
                value: Bytes::from_static(b"IN IP4 host.example")
            }
        );
        assert!(matches!(
            &sdp.session[2],
            Line::Attribute(Attribute::Other { name, .. }) if name.as_ref() == b"rtpmap"
        ));
        assert!(matches!(sdp.session[3], Line::Other { kind: b't', .. }));
        assert_eq!(
            sdp.to_string(),
            "v=0\r\nc=IN IP4 host.example\r\na=rtpmap:300 X/8000\r\nt=a b\r\n"
        );
    }

    #[test]
    fn ip4_type_with_ip6_address_is_not_typed() {
        let sdp = parse("v=0\r\nc=IN IP4 ::1\r\n");
        assert!(matches!(sdp.session[1], Line::Other { kind: b'c', .. }));
    }

    #[test]
    fn built_description_parses_back() {
        let mut opus = Codec::new(111, "opus", 48000, 2);
        opus.fmtp = Some(Bytes::from_static(b"useinbandfec=1"));
        let te = Codec {
            fmtp: Some(Bytes::from_static(b"0-16")),
            ..Codec::new(101, "telephone-event", 8000, 1)
        };
        let offered = [opus.clone(), Codec::new(8, "PCMA", 8000, 1), te.clone()];
        let body = build_audio(&AudioDescription {
            ip: "192.0.2.7".parse().unwrap(),
            port: 20000,
            codecs: &offered,
            direction: Direction::SendOnly,
            rtcp_mux: false,
            session_id: 42,
            version: 3,
        });
        let sdp = Sdp::parse(body).unwrap();
        assert_eq!(sdp.audio_addr(), Some("192.0.2.7:20000".parse().unwrap()));
        assert_eq!(codecs(&sdp), offered.to_vec());
        assert_eq!(sdp.direction(), Direction::SendOnly);
        assert_eq!(sdp.audio().unwrap().rtcp_port(), Some(20001));
        assert_eq!(
            sdp.origin().map(|o| o.session_version.clone()),
            Some(Bytes::from_static(b"3"))
        );
        let v6 = build_audio(&AudioDescription {
            ip: "::1".parse().unwrap(),
            port: 20002,
            codecs: &[Codec::new(0, "PCMU", 8000, 1)],
            direction: Direction::SendRecv,
            rtcp_mux: true,
            session_id: 1,
            version: 1,
        });
        let sdp = Sdp::parse(v6).unwrap();
        assert_eq!(sdp.audio_addr(), Some("[::1]:20002".parse().unwrap()));
        assert!(sdp.audio().unwrap().rtcp_mux());
    }

    #[test]
    fn direction_reversal() {
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.reversed(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
        assert_eq!(Direction::SendRecv.reversed(), Direction::SendRecv);
    }

    #[test]
    fn static_codecs() {
        let pcma = static_codec(8);
        assert_eq!(pcma, Some(Codec::new(8, "PCMA", 8000, 1)));
        assert_eq!(static_codec(96), None);
    }
}
