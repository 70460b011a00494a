//! SIP methods. Methods are case-sensitive tokens (RFC 3261 7.1): `invite` is an extension
//! method, not INVITE.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use bytes::Bytes;

use crate::error::{ErrorKind, ParseError};
use crate::scan::is_token_str;

/// A request method. Extension methods keep their bytes in `Other`.
#[derive(Debug, Clone)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Message,
    Prack,
    Update,
    Refer,
    Subscribe,
    Notify,
    Publish,
    /// Any other token. Build it with [`Method::from_bytes`] so that known names map to their
    /// variant; comparison is on the bytes anyway.
    Other(Bytes),
}

impl Method {
    /// Parse a method token (case-sensitive). Known names never come back as `Other`.
    pub fn from_bytes(b: &[u8]) -> Result<Method, ParseError> {
        Ok(match b {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"OPTIONS" => Method::Options,
            b"INFO" => Method::Info,
            b"MESSAGE" => Method::Message,
            b"PRACK" => Method::Prack,
            b"UPDATE" => Method::Update,
            b"REFER" => Method::Refer,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            _ if is_token_str(b) => Method::Other(Bytes::copy_from_slice(b)),
            _ => return Err(ParseError::new(ErrorKind::BadMethod)),
        })
    }

    /// Like `from_bytes`, but an extension method keeps a slice of `src` (zero copy).
    pub(crate) fn from_slice(src: &Bytes, start: usize, end: usize) -> Result<Method, ParseError> {
        let b = src.get(start..end).unwrap_or_default();
        match Method::from_bytes(b)? {
            Method::Other(_) => Ok(Method::Other(crate::scan::sub(src, start, end, true))),
            known => Ok(known),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Method::Other(b) => b,
            known => known.as_str().as_bytes(),
        }
    }

    /// The method name. An `Other` built by hand from non-UTF-8 bytes reads as `""`.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Message => "MESSAGE",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Refer => "REFER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Other(b) => std::str::from_utf8(b).unwrap_or(""),
        }
    }
}

impl PartialEq for Method {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Method {}

impl Hash for Method {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl FromStr for Method {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::from_bytes(s.as_bytes())
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_round_trip() {
        for m in [
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
        ] {
            let parsed: Method = m.parse().expect("known method");
            assert!(!matches!(parsed, Method::Other(_)), "{m}");
            assert_eq!(parsed.as_str(), m);
        }
    }

    #[test]
    fn methods_are_case_sensitive() {
        let m: Method = "invite".parse().expect("a token");
        assert_eq!(m, Method::Other(Bytes::from_static(b"invite")));
        assert_ne!(m, Method::Invite);
    }

    #[test]
    fn extension_methods_and_bad_tokens() {
        let m = Method::from_bytes(b"!interesting-Method0123456789_*+`.%indeed'~").expect("token");
        assert_eq!(m.as_str(), "!interesting-Method0123456789_*+`.%indeed'~");
        assert!(Method::from_bytes(b"").is_err());
        assert!(Method::from_bytes(b"IN VITE").is_err());
        assert!(Method::from_bytes(b"<sip").is_err());
        // Hand-built Other compares equal to the known variant on its bytes.
        assert_eq!(Method::Other(Bytes::from_static(b"BYE")), Method::Bye);
    }
}
