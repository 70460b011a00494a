//! Leaf values: each parses from its TOML spelling once, into a type the rest of the program
//! uses without looking at strings again.
//!
//! A value that is wrong on its own (a listen address without port, a route with an unknown
//! kind) is refused here, during deserialization, so its message gets the value's line. Whether
//! a well-formed value points at something that exists is the cross-checks' business
//! (`check.rs`).

use std::borrow::Borrow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// Implements `Deserialize` for a `FromStr` type whose error is a ready-made message.
macro_rules! deserialize_from_str {
    ($t:ty, $expecting:expr) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$t, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// SIP listen addresses

/// A SIP transport the daemon can listen on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// One `sip.listen` entry: `"udp:127.0.0.1:5060"`, `"tcp:[::1]:5060"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Listen {
    pub transport: Transport,
    /// Port 0 lets the OS pick (tests); the daemon logs the port it got.
    pub addr: SocketAddr,
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

impl FromStr for Listen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let malformed = || {
            format!(
                "{s:?} is not TRANSPORT:ADDR:PORT (e.g. \"udp:127.0.0.1:5060\", \"tcp:[::1]:5060\")"
            )
        };
        let (transport, rest) = s.split_once(':').ok_or_else(malformed)?;
        let addr: Option<SocketAddr> = rest.parse().ok();
        let transport = match transport.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            other if addr.is_some() => {
                return Err(format!(
                    "{s:?}: unknown transport {other:?}, expected udp or tcp"
                ))
            }
            _ => return Err(malformed()),
        };
        let addr = addr.ok_or_else(malformed)?;
        Ok(Listen { transport, addr })
    }
}
deserialize_from_str!(Listen, "a listen address such as \"udp:127.0.0.1:5060\"");

// ---------------------------------------------------------------------------------------------
// Durations

/// A duration written `"500ms"`, `"20s"`, `"5m"`, `"1h"` (or `"1h 30m"`), or a bare integer
/// meaning seconds, in every duration key alike. Zero is refused: no key of the configuration
/// has a use for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl V {
            fn positive<E: de::Error>(d: Duration, shown: &str) -> Result<Dur, E> {
                if d.is_zero() {
                    Err(E::custom(format!("{shown}: must be longer than zero")))
                } else {
                    Ok(Dur(d))
                }
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"20s\" or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Dur, E> {
                match humantime::parse_duration(s.trim()) {
                    Ok(d) => V::positive(d, &format!("{s:?}")),
                    Err(_) => Err(E::custom(format!(
                        "{s:?} is not a duration (write e.g. \"500ms\", \"20s\", \"5m\", \"1h\")"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Dur, E> {
                match u64::try_from(n) {
                    Ok(n) => V::positive(Duration::from_secs(n), &n.to_string()),
                    Err(_) => Err(E::custom(format!("{n}: a duration cannot be negative"))),
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Dur, E> {
                V::positive(Duration::from_secs(n), &n.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

/// `deserialize_with` helper for `Duration` fields of public structs.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Dur::deserialize(d).map(|d| d.0)
}

/// A duration as a person writes it, for messages: `20s`, `500ms`.
pub(crate) fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

// ---------------------------------------------------------------------------------------------
// RTP port range

/// `media.rtp_ports`: `"20000-29999"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RtpPorts(pub RangeInclusive<u16>);

impl Default for RtpPorts {
    fn default() -> Self {
        RtpPorts(20000..=29999)
    }
}

impl FromStr for RtpPorts {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let malformed = || format!("{s:?} is not a port range LOW-HIGH (e.g. \"20000-29999\")");
        let (lo, hi) = s.split_once('-').ok_or_else(malformed)?;
        let lo: u16 = lo.trim().parse().map_err(|_| malformed())?;
        let hi: u16 = hi.trim().parse().map_err(|_| malformed())?;
        if lo > hi {
            return Err(format!(
                "{s:?}: the range ends ({hi}) before it starts ({lo})"
            ));
        }
        if lo & 1 == 1 {
            return Err(format!(
                "{s:?}: the range must start on an even port (RTP even, RTCP the odd one above)"
            ));
        }
        if lo < 1024 {
            return Err(format!(
                "{s:?}: ports below 1024 are reserved; start at 1024 or above"
            ));
        }
        // A bridged call holds two legs, each an RTP/RTCP pair: four ports for the first call.
        if u32::from(hi) - u32::from(lo) + 1 < 4 {
            return Err(format!(
                "{s:?}: too few ports; one bridged call needs 4 (two RTP/RTCP pairs)"
            ));
        }
        Ok(RtpPorts(lo..=hi))
    }
}
deserialize_from_str!(RtpPorts, "a port range such as \"20000-29999\"");

// ---------------------------------------------------------------------------------------------
// Identifiers

/// Characters allowed in ids: RFC 3261 `token` characters without `%` (which would start an
/// escape in a SIP URI), so an id can be a Request-URI user part, a route target and a header
/// value as written.
fn check_id(s: &str, what: &str) -> Result<(), String> {
    const EXTRA: &[u8] = b"-._!*+~'`";
    if s.is_empty() {
        return Err(format!("a {what} id cannot be empty"));
    }
    if s.len() > 64 {
        return Err(format!(
            "{s:?} is too long for a {what} id (64 characters at most)"
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || EXTRA.contains(&b))
    {
        return Err(format!(
            "{s:?} is not a valid {what} id: use letters, digits and - . _ ! * + ~ ' `"
        ));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                check_id(s, $what)?;
                Ok($name(s.to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        deserialize_from_str!($name, concat!("a ", $what, " id"));
    };
}

id_type!(
    /// `[[users]] id`: also the user part agents register with and that rings them directly.
    UserId,
    "user"
);
id_type!(
    /// `[[teams]] id`.
    TeamId,
    "team"
);
id_type!(
    /// The `ID` of an `[ivr.ID]` menu.
    IvrId,
    "IVR"
);

/// A dialled number: `+` and 1 to 15 digits (E.164), or 1 to 15 digits (internal numbers).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PhoneNumber {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix('+').unwrap_or(s);
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{s:?} is not a phone number: write + and up to 15 digits (E.164, e.g. \
                 \"+33100000001\"), or digits only, without spaces"
            ));
        }
        Ok(PhoneNumber(s.to_owned()))
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({:?})", self.0)
    }
}

impl Borrow<str> for PhoneNumber {
    fn borrow(&self) -> &str {
        &self.0
    }
}
deserialize_from_str!(PhoneNumber, "a phone number such as \"+33100000001\"");

/// A user's short internal number: 1 to 15 digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Extension(String);

impl Extension {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Extension {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{s:?} is not an extension: use 1 to 15 digits"));
        }
        Ok(Extension(s.to_owned()))
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
deserialize_from_str!(Extension, "an extension such as \"101\"");

/// `sip.domain`: a host name or an IP address. It is the registrar domain and the digest realm.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Domain(String);

impl Domain {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Domain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bracketed = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
        if s.parse::<IpAddr>().is_ok() || bracketed.is_some_and(|v6| v6.parse::<IpAddr>().is_ok()) {
            return Ok(Domain(s.to_owned()));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if s.len() <= 253 && s.split('.').all(label_ok) {
            Ok(Domain(s.to_owned()))
        } else {
            Err(format!("{s:?} is not a host name or an IP address"))
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
deserialize_from_str!(Domain, "a host name or an IP address");

/// An `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url(String);

impl Url {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Url {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"));
        match rest {
            Some(rest)
                if !rest.is_empty()
                    && !rest.starts_with('/')
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Ok(Url(s.to_owned()))
            }
            _ => Err(format!("{s:?} is not an http:// or https:// URL")),
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
deserialize_from_str!(Url, "an http:// or https:// URL");

// ---------------------------------------------------------------------------------------------
// Secrets

/// A password or token. `Debug` prints `***` and there is no `Display`: reading it takes
/// [`Secret::expose`], which is easy to grep for.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl V {
            // A mistyped secret is still a secret: say what is wrong, never show the value.
            fn hidden<E: de::Error>() -> E {
                E::custom("must be a string (value not shown)")
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Secret, E> {
                if s.is_empty() {
                    return Err(E::custom("cannot be empty"));
                }
                Ok(Secret(s.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(V::hidden())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(V::hidden())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(V::hidden())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(V::hidden())
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// DTMF, routes and steps

/// One DTMF key: `0`-`9`, `*` or `#`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dtmf(char);

impl Dtmf {
    pub const HASH: Dtmf = Dtmf('#');
    pub const STAR: Dtmf = Dtmf('*');

    pub fn as_char(self) -> char {
        self.0
    }
}

impl FromStr for Dtmf {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => Ok(Dtmf(c)),
            _ => Err(format!("{s:?} is not a DTMF key: use one of 0-9, * or #")),
        }
    }
}

impl TryFrom<char> for Dtmf {
    type Error = String;
    fn try_from(c: char) -> Result<Self, String> {
        c.to_string().parse()
    }
}

impl fmt::Display for Dtmf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Dtmf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dtmf('{}')", self.0)
    }
}
deserialize_from_str!(Dtmf, "a DTMF key: 0-9, * or #");

/// Where a call goes. Written `team:ID`, `user:ID`, `ivr:ID`, `number:+33...`, `voicemail`,
/// `hangup` or `back` (the previous menu). Which ones a key accepts is checked per key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    Team(TeamId),
    User(UserId),
    Ivr(IvrId),
    /// Continue as if this configured number had been dialled.
    Number(PhoneNumber),
    Voicemail,
    Hangup,
    /// Back to the menu the caller came from; from a top-level menu, replays it.
    Back,
}

impl Route {
    /// The spelling used in the configuration, e.g. `team:support`.
    pub fn kind(&self) -> &'static str {
        match self {
            Route::Team(_) => "team",
            Route::User(_) => "user",
            Route::Ivr(_) => "ivr",
            Route::Number(_) => "number",
            Route::Voicemail => "voicemail",
            Route::Hangup => "hangup",
            Route::Back => "back",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Team(id) => write!(f, "team:{id}"),
            Route::User(id) => write!(f, "user:{id}"),
            Route::Ivr(id) => write!(f, "ivr:{id}"),
            Route::Number(n) => write!(f, "number:{n}"),
            Route::Voicemail | Route::Hangup | Route::Back => f.write_str(self.kind()),
        }
    }
}

impl FromStr for Route {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "voicemail" => return Ok(Route::Voicemail),
            "hangup" => return Ok(Route::Hangup),
            "back" => return Ok(Route::Back),
            _ => {}
        }
        let inner = |r: Result<Route, String>| r.map_err(|e| format!("{s:?}: {e}"));
        match s.split_once(':') {
            Some(("team", id)) => inner(id.parse().map(Route::Team)),
            Some(("user", id)) => inner(id.parse().map(Route::User)),
            Some(("ivr", id)) => inner(id.parse().map(Route::Ivr)),
            Some(("number", n)) => inner(n.parse().map(Route::Number)),
            _ => Err(format!(
                "{s:?} is not a route: use team:ID, user:ID, ivr:ID, number:+DIGITS, voicemail, \
                 hangup or back"
            )),
        }
    }
}
deserialize_from_str!(Route, "a route such as \"team:support\"");

/// One step of a number's cascade: ring a team, ring a user, or play a menu.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    Team(TeamId),
    User(UserId),
    Ivr(IvrId),
}

impl From<Step> for Route {
    fn from(step: Step) -> Route {
        match step {
            Step::Team(id) => Route::Team(id),
            Step::User(id) => Route::User(id),
            Step::Ivr(id) => Route::Ivr(id),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Route::from(self.clone()).fmt(f)
    }
}

impl FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let not_step = || format!("{s:?} is not a step: use team:ID, user:ID or ivr:ID");
        match s.parse::<Route>() {
            Ok(Route::Team(id)) => Ok(Step::Team(id)),
            Ok(Route::User(id)) => Ok(Step::User(id)),
            Ok(Route::Ivr(id)) => Ok(Step::Ivr(id)),
            Ok(Route::Voicemail | Route::Hangup) => {
                Err(format!("{}; {s} belongs in fallback", not_step()))
            }
            Ok(_) => Err(not_step()),
            // Keep the precise message for a well-formed kind with a bad id.
            Err(e) if s.contains(':') && !s.starts_with("number:") => Err(e),
            Err(_) => Err(not_step()),
        }
    }
}
deserialize_from_str!(Step, "a step such as \"team:support\"");

// ---------------------------------------------------------------------------------------------
// Trunk networks

/// `deserialize_with` for `trunks.from`: CIDR blocks, a bare address meaning /32 or /128.
pub(crate) fn nets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    struct Net(ipnet::IpNet);
    impl FromStr for Net {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            if let Ok(net) = s.parse::<ipnet::IpNet>() {
                return Ok(Net(net));
            }
            match s.parse::<IpAddr>() {
                Ok(ip) => Ok(Net(ipnet::IpNet::from(ip))),
                Err(_) => Err(format!(
                    "{s:?} is not an address or a CIDR block (e.g. \"192.0.2.0/24\", \"::1\")"
                )),
            }
        }
    }
    deserialize_from_str!(Net, "an IP address or CIDR block");
    Vec::<Net>::deserialize(d).map(|v| v.into_iter().map(|n| n.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_parses_v4_and_v6() {
        let l: Listen = "udp:127.0.0.1:5060".parse().unwrap();
        assert_eq!(l.transport, Transport::Udp);
        assert_eq!(l.addr, "127.0.0.1:5060".parse::<SocketAddr>().unwrap());
        let l: Listen = "TCP:[::1]:5070".parse().unwrap();
        assert_eq!(l.transport, Transport::Tcp);
        assert_eq!(l.to_string(), "tcp:[::1]:5070");
    }

    #[test]
    fn listen_refuses_malformed() {
        assert_eq!(
            "udp:127.0.0.1".parse::<Listen>().unwrap_err(),
            "\"udp:127.0.0.1\" is not TRANSPORT:ADDR:PORT (e.g. \"udp:127.0.0.1:5060\", \
             \"tcp:[::1]:5060\")"
        );
        assert!("udp:::1:5060".parse::<Listen>().is_err());
        assert!("127.0.0.1:5060".parse::<Listen>().is_err());
        assert_eq!(
            "tls:127.0.0.1:5061".parse::<Listen>().unwrap_err(),
            "\"tls:127.0.0.1:5061\": unknown transport \"tls\", expected udp or tcp"
        );
    }

    #[test]
    fn port_ranges() {
        assert_eq!("20000-29999".parse::<RtpPorts>().unwrap().0, 20000..=29999);
        assert!("20001-29999"
            .parse::<RtpPorts>()
            .unwrap_err()
            .contains("even port"));
        assert!("30000-20000"
            .parse::<RtpPorts>()
            .unwrap_err()
            .contains("before it starts"));
        assert!("20000-20002"
            .parse::<RtpPorts>()
            .unwrap_err()
            .contains("too few ports"));
        assert!("20000-20003".parse::<RtpPorts>().is_ok());
        assert!("80-200"
            .parse::<RtpPorts>()
            .unwrap_err()
            .contains("reserved"));
        assert!("20000"
            .parse::<RtpPorts>()
            .unwrap_err()
            .contains("LOW-HIGH"));
    }

    #[test]
    fn ids_numbers_and_keys() {
        assert!("alice.m-2".parse::<UserId>().is_ok());
        assert!("al ice"
            .parse::<UserId>()
            .unwrap_err()
            .contains("not a valid user id"));
        assert!("a%20".parse::<TeamId>().is_err());
        assert!("".parse::<IvrId>().unwrap_err().contains("cannot be empty"));
        assert!("+33100000001".parse::<PhoneNumber>().is_ok());
        assert!("100".parse::<PhoneNumber>().is_ok());
        assert!("+33 1 00".parse::<PhoneNumber>().is_err());
        assert!("+1234567890123456".parse::<PhoneNumber>().is_err());
        assert!("+".parse::<PhoneNumber>().is_err());
        assert_eq!("#".parse::<Dtmf>().unwrap().as_char(), '#');
        assert!("12".parse::<Dtmf>().is_err());
        assert!("A".parse::<Dtmf>().is_err());
    }

    #[test]
    fn routes_and_steps() {
        assert_eq!(
            "team:sales".parse::<Route>().unwrap(),
            Route::Team("sales".parse().unwrap())
        );
        assert_eq!("back".parse::<Route>().unwrap(), Route::Back);
        assert_eq!(
            "number:+331".parse::<Route>().unwrap().to_string(),
            "number:+331",
            "a route prints as written"
        );
        assert!("teem:sales"
            .parse::<Route>()
            .unwrap_err()
            .contains("is not a route"));
        assert!("team:"
            .parse::<Route>()
            .unwrap_err()
            .contains("cannot be empty"));
        assert_eq!(
            "ivr:main".parse::<Step>().unwrap(),
            Step::Ivr("main".parse().unwrap())
        );
        assert!("voicemail"
            .parse::<Step>()
            .unwrap_err()
            .contains("belongs in fallback"));
        assert!("number:+331"
            .parse::<Step>()
            .unwrap_err()
            .contains("is not a step"));
        assert!("user:a b"
            .parse::<Step>()
            .unwrap_err()
            .contains("not a valid user id"));
    }

    #[test]
    fn domains_and_urls() {
        assert!("127.0.0.1".parse::<Domain>().is_ok());
        assert!("[::1]".parse::<Domain>().is_ok());
        assert!("sip.example.com".parse::<Domain>().is_ok());
        assert!("my domain".parse::<Domain>().is_err());
        assert!("-bad.example".parse::<Domain>().is_err());
        assert!("https://crm.example/lookup?n={number}"
            .parse::<Url>()
            .is_ok());
        assert!("ftp://x".parse::<Url>().is_err());
        assert!("http://".parse::<Url>().is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }
}
