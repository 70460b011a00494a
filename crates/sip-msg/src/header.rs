//! Header names and the ordered header list.
//!
//! Values are kept as received (a `Bytes` slice of the datagram, unfolded), so a B2BUA can
//! copy what it does not interpret. Typed views (`vias()`, `from()`, `cseq()`, ...) live in
//! `typed.rs` and parse a value only when asked.

use std::fmt;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

/// Well-known header names; anything else is `Other` (compared case-insensitively).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum HeaderName {
    /// `Accept`
    Accept,
    /// `Accept-Contact` (compact `a`)
    AcceptContact,
    /// `Accept-Encoding`
    AcceptEncoding,
    /// `Accept-Language`
    AcceptLanguage,
    /// `Alert-Info`
    AlertInfo,
    /// `Allow`
    Allow,
    /// `Allow-Events` (compact `u`)
    AllowEvents,
    /// `Authentication-Info`
    AuthenticationInfo,
    /// `Authorization`
    Authorization,
    /// `Call-ID` (compact `i`)
    CallId,
    /// `Call-Info`
    CallInfo,
    /// `Contact` (compact `m`)
    Contact,
    /// `Content-Disposition`
    ContentDisposition,
    /// `Content-Encoding` (compact `e`)
    ContentEncoding,
    /// `Content-Language`
    ContentLanguage,
    /// `Content-Length` (compact `l`)
    ContentLength,
    /// `Content-Type` (compact `c`)
    ContentType,
    /// `CSeq`
    CSeq,
    /// `Date`
    Date,
    /// `Error-Info`
    ErrorInfo,
    /// `Event` (compact `o`)
    Event,
    /// `Expires`
    Expires,
    /// `From` (compact `f`)
    From,
    /// `Identity` (compact `y`)
    Identity,
    /// `Identity-Info` (compact `n`)
    IdentityInfo,
    /// `In-Reply-To`
    InReplyTo,
    /// `Max-Forwards`
    MaxForwards,
    /// `MIME-Version`
    MimeVersion,
    /// `Min-Expires`
    MinExpires,
    /// `Min-SE`
    MinSE,
    /// `Organization`
    Organization,
    /// `P-Asserted-Identity`
    PAssertedIdentity,
    /// `P-Preferred-Identity`
    PPreferredIdentity,
    /// `Path`
    Path,
    /// `Priority`
    Priority,
    /// `Privacy`
    Privacy,
    /// `Proxy-Authenticate`
    ProxyAuthenticate,
    /// `Proxy-Authorization`
    ProxyAuthorization,
    /// `Proxy-Require`
    ProxyRequire,
    /// `RAck`
    RAck,
    /// `Reason`
    Reason,
    /// `Record-Route`
    RecordRoute,
    /// `Refer-To` (compact `r`)
    ReferTo,
    /// `Referred-By` (compact `b`)
    ReferredBy,
    /// `Reject-Contact` (compact `j`)
    RejectContact,
    /// `Replaces`
    Replaces,
    /// `Reply-To`
    ReplyTo,
    /// `Request-Disposition` (compact `d`)
    RequestDisposition,
    /// `Require`
    Require,
    /// `Retry-After`
    RetryAfter,
    /// `Route`
    Route,
    /// `RSeq`
    RSeq,
    /// `Server`
    Server,
    /// `Session-Expires` (compact `x`)
    SessionExpires,
    /// `SIP-ETag`
    SipETag,
    /// `SIP-If-Match`
    SipIfMatch,
    /// `Subject` (compact `s`)
    Subject,
    /// `Subscription-State`
    SubscriptionState,
    /// `Supported` (compact `k`)
    Supported,
    /// `Timestamp`
    Timestamp,
    /// `To` (compact `t`)
    To,
    /// `Unsupported`
    Unsupported,
    /// `User-Agent`
    UserAgent,
    /// `Via` (compact `v`)
    Via,
    /// `Warning`
    Warning,
    /// `WWW-Authenticate`
    WwwAuthenticate,
    /// Any other header, with the name as received.
    Other(Bytes),
}

impl HeaderName {
    /// The canonical spelling used when printing.
    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::AcceptContact => "Accept-Contact",
            HeaderName::AcceptEncoding => "Accept-Encoding",
            HeaderName::AcceptLanguage => "Accept-Language",
            HeaderName::AlertInfo => "Alert-Info",
            HeaderName::Allow => "Allow",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::CallInfo => "Call-Info",
            HeaderName::Contact => "Contact",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLanguage => "Content-Language",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Date => "Date",
            HeaderName::ErrorInfo => "Error-Info",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::From => "From",
            HeaderName::Identity => "Identity",
            HeaderName::IdentityInfo => "Identity-Info",
            HeaderName::InReplyTo => "In-Reply-To",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MimeVersion => "MIME-Version",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::MinSE => "Min-SE",
            HeaderName::Organization => "Organization",
            HeaderName::PAssertedIdentity => "P-Asserted-Identity",
            HeaderName::PPreferredIdentity => "P-Preferred-Identity",
            HeaderName::Path => "Path",
            HeaderName::Priority => "Priority",
            HeaderName::Privacy => "Privacy",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RAck => "RAck",
            HeaderName::Reason => "Reason",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::RejectContact => "Reject-Contact",
            HeaderName::Replaces => "Replaces",
            HeaderName::ReplyTo => "Reply-To",
            HeaderName::RequestDisposition => "Request-Disposition",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::RSeq => "RSeq",
            HeaderName::Server => "Server",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::SipETag => "SIP-ETag",
            HeaderName::SipIfMatch => "SIP-If-Match",
            HeaderName::Subject => "Subject",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::Supported => "Supported",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::Warning => "Warning",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Other(b) => std::str::from_utf8(b).unwrap_or(""),
        }
    }

    /// Map a received name (full or compact form, any case) to a known header.
    fn known(name: &[u8]) -> Option<HeaderName> {
        if let [c] = name {
            return Self::compact(*c);
        }
        macro_rules! try_name {
            ($s:literal, $v:ident) => {
                if name.eq_ignore_ascii_case($s) {
                    return Some(HeaderName::$v);
                }
            };
        }
        match name.first()?.to_ascii_lowercase() {
            b'a' => {
                try_name!(b"Accept", Accept);
                try_name!(b"Accept-Contact", AcceptContact);
                try_name!(b"Accept-Encoding", AcceptEncoding);
                try_name!(b"Accept-Language", AcceptLanguage);
                try_name!(b"Alert-Info", AlertInfo);
                try_name!(b"Allow", Allow);
                try_name!(b"Allow-Events", AllowEvents);
                try_name!(b"Authentication-Info", AuthenticationInfo);
                try_name!(b"Authorization", Authorization);
            }
            b'c' => {
                try_name!(b"Call-ID", CallId);
                try_name!(b"Call-Info", CallInfo);
                try_name!(b"Contact", Contact);
                try_name!(b"Content-Disposition", ContentDisposition);
                try_name!(b"Content-Encoding", ContentEncoding);
                try_name!(b"Content-Language", ContentLanguage);
                try_name!(b"Content-Length", ContentLength);
                try_name!(b"Content-Type", ContentType);
                try_name!(b"CSeq", CSeq);
            }
            b'd' => {
                try_name!(b"Date", Date);
            }
            b'e' => {
                try_name!(b"Error-Info", ErrorInfo);
                try_name!(b"Event", Event);
                try_name!(b"Expires", Expires);
            }
            b'f' => {
                try_name!(b"From", From);
            }
            b'i' => {
                try_name!(b"Identity", Identity);
                try_name!(b"Identity-Info", IdentityInfo);
                try_name!(b"In-Reply-To", InReplyTo);
            }
            b'm' => {
                try_name!(b"Max-Forwards", MaxForwards);
                try_name!(b"MIME-Version", MimeVersion);
                try_name!(b"Min-Expires", MinExpires);
                try_name!(b"Min-SE", MinSE);
            }
            b'o' => {
                try_name!(b"Organization", Organization);
            }
            b'p' => {
                try_name!(b"P-Asserted-Identity", PAssertedIdentity);
                try_name!(b"P-Preferred-Identity", PPreferredIdentity);
                try_name!(b"Path", Path);
                try_name!(b"Priority", Priority);
                try_name!(b"Privacy", Privacy);
                try_name!(b"Proxy-Authenticate", ProxyAuthenticate);
                try_name!(b"Proxy-Authorization", ProxyAuthorization);
                try_name!(b"Proxy-Require", ProxyRequire);
            }
            b'r' => {
                try_name!(b"RAck", RAck);
                try_name!(b"Reason", Reason);
                try_name!(b"Record-Route", RecordRoute);
                try_name!(b"Refer-To", ReferTo);
                try_name!(b"Referred-By", ReferredBy);
                try_name!(b"Reject-Contact", RejectContact);
                try_name!(b"Replaces", Replaces);
                try_name!(b"Reply-To", ReplyTo);
                try_name!(b"Request-Disposition", RequestDisposition);
                try_name!(b"Require", Require);
                try_name!(b"Retry-After", RetryAfter);
                try_name!(b"Route", Route);
                try_name!(b"RSeq", RSeq);
            }
            b's' => {
                try_name!(b"Server", Server);
                try_name!(b"Session-Expires", SessionExpires);
                try_name!(b"SIP-ETag", SipETag);
                try_name!(b"SIP-If-Match", SipIfMatch);
                try_name!(b"Subject", Subject);
                try_name!(b"Subscription-State", SubscriptionState);
                try_name!(b"Supported", Supported);
            }
            b't' => {
                try_name!(b"Timestamp", Timestamp);
                try_name!(b"To", To);
            }
            b'u' => {
                try_name!(b"Unsupported", Unsupported);
                try_name!(b"User-Agent", UserAgent);
            }
            b'v' => {
                try_name!(b"Via", Via);
            }
            b'w' => {
                try_name!(b"Warning", Warning);
                try_name!(b"WWW-Authenticate", WwwAuthenticate);
            }
            _ => {}
        }
        None
    }

    /// RFC 3261 7.3.3 and later compact forms.
    pub fn compact(c: u8) -> Option<HeaderName> {
        Some(match c.to_ascii_lowercase() {
            b'a' => HeaderName::AcceptContact,
            b'u' => HeaderName::AllowEvents,
            b'i' => HeaderName::CallId,
            b'm' => HeaderName::Contact,
            b'e' => HeaderName::ContentEncoding,
            b'l' => HeaderName::ContentLength,
            b'c' => HeaderName::ContentType,
            b'o' => HeaderName::Event,
            b'f' => HeaderName::From,
            b'y' => HeaderName::Identity,
            b'n' => HeaderName::IdentityInfo,
            b'r' => HeaderName::ReferTo,
            b'b' => HeaderName::ReferredBy,
            b'j' => HeaderName::RejectContact,
            b'd' => HeaderName::RequestDisposition,
            b'x' => HeaderName::SessionExpires,
            b's' => HeaderName::Subject,
            b'k' => HeaderName::Supported,
            b't' => HeaderName::To,
            b'v' => HeaderName::Via,
            _ => return None,
        })
    }
}

impl HeaderName {
    /// Map a name as received (any case, compact forms included) to a `HeaderName`.
    /// Unknown names become `Other` holding a copy of the bytes.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        Self::known(name).unwrap_or_else(|| HeaderName::Other(Bytes::copy_from_slice(name)))
    }

    /// Like `from_bytes`, but an unknown name keeps a slice of `src` (zero copy).
    pub(crate) fn from_slice(src: &Bytes, start: usize, end: usize) -> HeaderName {
        let name = src.get(start..end).unwrap_or_default();
        Self::known(name)
            .unwrap_or_else(|| HeaderName::Other(crate::scan::sub(src, start, end, true)))
    }

    /// A custom header name from a static string, e.g. `X-Switchboard-Line`.
    pub fn from_static(name: &'static str) -> HeaderName {
        Self::known(name.as_bytes())
            .unwrap_or_else(|| HeaderName::Other(Bytes::from_static(name.as_bytes())))
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            HeaderName::Other(b) => b,
            known => known.as_str().as_bytes(),
        }
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (HeaderName::Other(a), known) | (known, HeaderName::Other(a)) => {
                a.eq_ignore_ascii_case(known.as_bytes())
            }
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for HeaderName {}

impl Hash for HeaderName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.as_bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl From<&str> for HeaderName {
    fn from(s: &str) -> Self {
        HeaderName::from_bytes(s.as_bytes())
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// One header line: a name and its (unfolded, trimmed) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    pub value: Bytes,
}

/// The ordered list of header lines of a message. Several lines with the same name are
/// kept apart and in order; a comma-joined line stays one entry (typed accessors split it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    list: Vec<Header>,
}

impl Headers {
    pub fn new() -> Self {
        Headers::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Headers {
            list: Vec::with_capacity(n),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&Bytes> {
        self.list.iter().find(|h| h.name == *name).map(|h| &h.value)
    }

    /// Every value of `name`, in order (one per header line).
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.list
            .iter()
            .filter(move |h| h.name == *name)
            .map(|h| &h.value)
    }

    pub fn contains(&self, name: &HeaderName) -> bool {
        self.list.iter().any(|h| h.name == *name)
    }

    /// Number of header lines named `name`.
    pub fn count(&self, name: &HeaderName) -> usize {
        self.list.iter().filter(|h| h.name == *name).count()
    }

    /// Append a header line. The value is printed as is: CR and LF in it are replaced by
    /// spaces when printing, so a value can never inject a header.
    pub fn push(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        self.list.push(Header {
            name,
            value: value.into(),
        });
    }

    /// Add a header line before all others (e.g. our own Via).
    pub fn insert_first(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        self.insert(0, name, value);
    }

    /// Insert a header line at position `index` (clamped to the end).
    pub fn insert(&mut self, index: usize, name: HeaderName, value: impl Into<Bytes>) {
        let index = index.min(self.list.len());
        self.list.insert(
            index,
            Header {
                name,
                value: value.into(),
            },
        );
    }

    /// Remove every line named `name`; returns how many were removed.
    pub fn remove_all(&mut self, name: &HeaderName) -> usize {
        let before = self.list.len();
        self.list.retain(|h| h.name != *name);
        before - self.list.len()
    }

    /// Remove the first line named `name` and return its value.
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<Bytes> {
        let i = self.position(name)?;
        Some(self.list.remove(i).value)
    }

    /// Replace every line named `name` by one line, at the place of the first one
    /// (or at the end if there was none).
    pub fn set(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        let value = value.into();
        match self.position(&name) {
            Some(i) => {
                if let Some(h) = self.list.get_mut(i) {
                    h.value = value;
                }
                let mut seen = 0usize;
                self.list.retain(|h| {
                    if h.name == name {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.push(name, value),
        }
    }

    /// Index of the first line named `name`.
    pub fn position(&self, name: &HeaderName) -> Option<usize> {
        self.list.iter().position(|h| h.name == *name)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.list.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Header> {
        self.list.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn push_header(&mut self, h: Header) {
        self.list.push(h);
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<T: IntoIterator<Item = Header>>(iter: T) -> Self {
        Headers {
            list: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_case_insensitively_and_compact() {
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"call-id"), HeaderName::CallId);
        assert_eq!(
            HeaderName::from_bytes(b"www-authenticate"),
            HeaderName::WwwAuthenticate
        );
        for (c, full) in [
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("e", "Content-Encoding"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("f", "From"),
            ("s", "Subject"),
            ("k", "Supported"),
            ("t", "To"),
            ("v", "Via"),
            ("o", "Event"),
            ("r", "Refer-To"),
            ("b", "Referred-By"),
            ("x", "Session-Expires"),
            ("u", "Allow-Events"),
            ("a", "Accept-Contact"),
            ("j", "Reject-Contact"),
            ("d", "Request-Disposition"),
            ("y", "Identity"),
            ("n", "Identity-Info"),
        ] {
            assert_eq!(HeaderName::from(c).as_str(), full, "{c}");
            assert_eq!(HeaderName::from(c.to_uppercase().as_str()).as_str(), full);
            assert_eq!(HeaderName::from(full), HeaderName::from(c));
        }
        assert!(matches!(HeaderName::from("z"), HeaderName::Other(_)));
        assert!(matches!(
            HeaderName::from("C%6Fntact"),
            HeaderName::Other(_)
        ));
    }

    #[test]
    fn other_names_compare_case_insensitively() {
        let a = HeaderName::from("X-Switchboard-Line");
        let b = HeaderName::from("x-switchboard-line");
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "X-Switchboard-Line");
        // A hand-built Other with a known spelling still equals the known variant.
        assert_eq!(
            HeaderName::Other(Bytes::from_static(b"via")),
            HeaderName::Via
        );
        let mut h1 = std::collections::hash_map::DefaultHasher::new();
        let mut h2 = std::collections::hash_map::DefaultHasher::new();
        a.hash(&mut h1);
        b.hash(&mut h2);
        assert_eq!(h1.finish(), h2.finish());
    }

    #[test]
    fn list_operations_keep_order() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "SIP/2.0/UDP a");
        h.push(HeaderName::To, "<sip:b@x>");
        h.push(HeaderName::Via, "SIP/2.0/UDP b");
        h.insert_first(HeaderName::Via, "SIP/2.0/UDP z");
        assert_eq!(h.len(), 4);
        assert_eq!(
            h.get(&HeaderName::Via).map(|v| &v[..]),
            Some(&b"SIP/2.0/UDP z"[..])
        );
        let vias: Vec<_> = h.get_all(&HeaderName::Via).collect();
        assert_eq!(vias.len(), 3);
        assert_eq!(&vias[2][..], b"SIP/2.0/UDP b");
        assert_eq!(h.count(&HeaderName::Via), 3);

        h.set(HeaderName::Via, "SIP/2.0/TCP only");
        assert_eq!(h.count(&HeaderName::Via), 1);
        assert_eq!(h.position(&HeaderName::Via), Some(0));
        h.set(HeaderName::MaxForwards, "70");
        assert_eq!(h.position(&HeaderName::MaxForwards), Some(2));

        assert_eq!(h.remove_all(&HeaderName::Via), 1);
        assert!(!h.contains(&HeaderName::Via));
        assert_eq!(
            h.remove_first(&HeaderName::To).as_deref(),
            Some(&b"<sip:b@x>"[..])
        );
        assert_eq!(h.len(), 1);
        h.insert(99, HeaderName::Route, "<sip:r>");
        assert_eq!(
            h.iter().last().map(|h| h.name.clone()),
            Some(HeaderName::Route)
        );
    }
}
