//! Requests, responses, builders and the printer.
//!
//! Printing writes the start line, every header line with its canonical name (compact forms
//! are expanded), a Content-Length equal to the body length (always, and only that one) and
//! the body. The output is sized exactly before writing, so printing allocates once.

use bytes::{BufMut, Bytes, BytesMut};

use crate::header::{HeaderName, Headers};
use crate::method::Method;
use crate::name_addr::NameAddr;
use crate::scan::decimal_len;
use crate::uri::Uri;

/// A SIP message.
// A request carries its parsed Request-URI inline, so it is larger than a response. A
// message is built once per datagram and moved a handful of times; boxing the URI would
// cost an allocation per parse instead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// A request. `uri` keeps its raw bytes; `headers` keeps every line as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Bytes,
}

/// A response. `reason` is the reason phrase as received (may be empty or UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: Bytes,
    pub headers: Headers,
    pub body: Bytes,
}

const VERSION: &[u8] = b"SIP/2.0";

impl Message {
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self, Message::Request(_))
    }

    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Message::Response(r) => Some(r),
            Message::Request(_) => None,
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }

    pub fn write_to(&self, out: &mut BytesMut) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Message::Response(r)
    }
}

impl Request {
    /// An empty request: add Via, From, To, Call-ID, CSeq, Max-Forwards with
    /// `headers.push`.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::with_capacity(12),
            body: Bytes::new(),
        }
    }

    /// Set the body and its Content-Type (Content-Length is computed when printing).
    pub fn set_body(&mut self, content_type: impl Into<Bytes>, body: Bytes) {
        self.headers.set(HeaderName::ContentType, content_type);
        self.body = body;
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.printed_len());
        self.write_to(&mut out);
        out.freeze()
    }

    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(self.printed_len());
        put_clean(out, self.method.as_bytes());
        out.put_u8(b' ');
        put_clean(out, self.uri.raw());
        out.put_u8(b' ');
        out.put_slice(VERSION);
        out.put_slice(b"\r\n");
        write_tail(&self.headers, &self.body, out);
    }

    fn printed_len(&self) -> usize {
        self.method.as_bytes().len()
            + self.uri.raw().len()
            + VERSION.len()
            + 4
            + tail_len(&self.headers, &self.body)
    }
}

impl Response {
    pub fn new(status: u16, reason: &str) -> Response {
        Response {
            status,
            reason: Bytes::copy_from_slice(reason.as_bytes()),
            headers: Headers::with_capacity(10),
            body: Bytes::new(),
        }
    }

    /// A response to `req` (RFC 3261 8.2.6.2): copies every Via line in order (first),
    /// then From, To, Call-ID and CSeq (and Timestamp for a 100) in request order. Record-Route and the To tag are the
    /// caller's business (see [`Response::set_to_tag`]).
    pub fn for_request(req: &Request, status: u16, reason: &str) -> Response {
        Response::from_request_headers(&req.headers, status, reason)
    }

    /// Like [`Response::for_request`] from a request's header list only (e.g. the headers of
    /// a request that failed to parse, see `ParseError::partial_request`).
    pub fn from_request_headers(headers: &Headers, status: u16, reason: &str) -> Response {
        let mut resp = Response::new(status, reason);
        for h in headers.iter().filter(|h| h.name == HeaderName::Via) {
            resp.headers.push_header(h.clone());
        }
        for h in headers.iter() {
            let copy = match h.name {
                HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq => true,
                HeaderName::Timestamp => status == 100,
                _ => false,
            };
            if copy {
                resp.headers.push_header(h.clone());
            }
        }
        resp
    }

    /// Add `;tag=<tag>` to the To header unless it already has a tag. Returns whether the
    /// tag was added.
    pub fn set_to_tag(&mut self, tag: &str) -> bool {
        let Some(pos) = self.headers.position(&HeaderName::To) else {
            return false;
        };
        let Some(h) = self.headers.iter_mut().nth(pos) else {
            return false;
        };
        if NameAddr::parse(&h.value, HeaderName::To).is_ok_and(|na| na.tag().is_some()) {
            return false;
        }
        let mut v = Vec::with_capacity(h.value.len() + 5 + tag.len());
        v.extend_from_slice(&h.value);
        v.extend_from_slice(b";tag=");
        v.extend_from_slice(tag.as_bytes());
        h.value = Bytes::from(v);
        true
    }

    pub fn set_body(&mut self, content_type: impl Into<Bytes>, body: Bytes) {
        self.headers.set(HeaderName::ContentType, content_type);
        self.body = body;
    }

    pub fn is_provisional(&self) -> bool {
        (100..200).contains(&self.status)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// 3xx to 6xx.
    pub fn is_final_failure(&self) -> bool {
        self.status >= 300
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.printed_len());
        self.write_to(&mut out);
        out.freeze()
    }

    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(self.printed_len());
        out.put_slice(VERSION);
        out.put_u8(b' ');
        // Status codes are 100..=699 when parsed; a hand-built one is printed as is.
        put_decimal(out, usize::from(self.status));
        out.put_u8(b' ');
        put_clean(out, &self.reason);
        out.put_slice(b"\r\n");
        write_tail(&self.headers, &self.body, out);
    }

    fn printed_len(&self) -> usize {
        VERSION.len()
            + 1
            + decimal_len(usize::from(self.status))
            + 1
            + self.reason.len()
            + 2
            + tail_len(&self.headers, &self.body)
    }
}

/// Headers, Content-Length, blank line and body.
fn tail_len(headers: &Headers, body: &Bytes) -> usize {
    let mut len = 0;
    for h in headers.iter() {
        if h.name != HeaderName::ContentLength {
            len += h.name.as_bytes().len() + 2 + h.value.len() + 2;
        }
    }
    len + b"Content-Length: ".len() + decimal_len(body.len()) + 4 + body.len()
}

fn write_tail(headers: &Headers, body: &Bytes, out: &mut BytesMut) {
    for h in headers.iter() {
        if h.name == HeaderName::ContentLength {
            continue;
        }
        put_clean(out, h.name.as_bytes());
        out.put_slice(b": ");
        put_clean(out, &h.value);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"Content-Length: ");
    put_decimal(out, body.len());
    out.put_slice(b"\r\n\r\n");
    out.put_slice(body);
}

/// Copy `s`, turning any CR or LF into a space so that no value can end its line early
/// (header injection). Parsed values never contain them; hand-built ones might.
fn put_clean(out: &mut BytesMut, s: &[u8]) {
    if memchr::memchr2(b'\r', b'\n', s).is_none() {
        out.put_slice(s);
        return;
    }
    for &c in s {
        out.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
    }
}

fn put_decimal(out: &mut BytesMut, n: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            // n % 10 < 10, so the cast cannot truncate.
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.put_slice(buf.get(i..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn invite() -> Request {
        let raw = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
v: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1, SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\n\
Max-Forwards: 70\r\n\
t: Bob <sip:bob@biloxi.example.com>\r\n\
f: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Timestamp: 54\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";
        match parse(Bytes::from_static(raw)) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn printing_expands_names_and_recomputes_content_length() {
        let mut req = invite();
        req.body = Bytes::from_static(b"hello");
        let out = req.to_bytes();
        let text = std::str::from_utf8(&out).expect("ascii");
        assert!(text.starts_with("INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: "));
        assert!(text.contains("\r\nTo: Bob <sip:bob@biloxi.example.com>\r\n"));
        assert!(text.contains("\r\nCall-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"));
        assert_eq!(text.matches("Content-Length").count(), 1);
        assert!(text.ends_with("\r\nContent-Length: 5\r\n\r\nhello"));
        assert_eq!(out.len(), req.printed_len(), "size computed exactly");
        let mut buf = BytesMut::new();
        Message::Request(req.clone()).write_to(&mut buf);
        assert_eq!(buf.freeze(), out);
    }

    #[test]
    fn response_for_request_copies_the_right_headers() {
        let req = invite();
        let mut resp = Response::for_request(&req, 180, "Ringing");
        let names: Vec<_> = resp
            .headers
            .iter()
            .map(|h| h.name.as_str().to_owned())
            .collect();
        assert_eq!(names, ["Via", "Via", "To", "From", "Call-ID", "CSeq"]);
        assert!(resp.set_to_tag("as83kd9bs"));
        assert!(!resp.set_to_tag("other"), "tag already there");
        assert_eq!(
            resp.headers.to().expect("valid").tag().map(|t| &t[..]),
            Some(&b"as83kd9bs"[..])
        );
        let out = resp.to_bytes();
        let text = std::str::from_utf8(&out).expect("ascii");
        assert!(text.starts_with("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP pc33"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        let back = parse(out).expect("reparse");
        assert_eq!(back.headers().vias().expect("valid").len(), 3);

        let trying = Response::for_request(&req, 100, "Trying");
        assert!(trying.headers.contains(&HeaderName::Timestamp));
        assert!(trying.is_provisional() && !trying.is_success());
        assert!(Response::new(486, "Busy Here").is_final_failure());
    }

    #[test]
    fn building_a_request() {
        let uri: Uri = "sip:alice@10.0.0.5:5062;transport=tcp"
            .parse()
            .expect("uri");
        let mut req = Request::new(Method::Options, uri);
        req.headers.push(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx",
        );
        req.headers
            .push(HeaderName::From, "<sip:switchboard@127.0.0.1>;tag=1");
        req.headers.push(HeaderName::To, "<sip:alice@127.0.0.1>");
        req.headers.push(HeaderName::CallId, "abc@127.0.0.1");
        req.headers.push(HeaderName::CSeq, "1 OPTIONS");
        req.headers.push(
            HeaderName::from_static("X-Switchboard-Line"),
            "+33100000001",
        );
        req.set_body("text/plain", Bytes::from_static(b"hi"));
        let msg = parse(req.to_bytes()).expect("reparse");
        let Message::Request(back) = msg else {
            panic!("request")
        };
        assert_eq!(back.method, Method::Options);
        assert_eq!(back.uri, req.uri);
        assert_eq!(&back.body[..], b"hi");
        assert_eq!(
            back.headers
                .get(&HeaderName::from("x-switchboard-line"))
                .map(|v| &v[..]),
            Some(&b"+33100000001"[..])
        );
    }

    #[test]
    fn hand_built_values_cannot_inject_headers() {
        let mut resp = Response::new(200, "OK\r\nEvil: yes");
        resp.headers.push(HeaderName::Subject, "a\r\nInjected: 1");
        let out = resp.to_bytes();
        let text = std::str::from_utf8(&out).expect("ascii");
        assert!(!text.contains("\r\nEvil"));
        assert!(!text.contains("\r\nInjected"));
        assert!(text.contains("Subject: a  Injected: 1\r\n"));
    }

    #[test]
    fn decimals() {
        for n in [0usize, 7, 10, 99, 100, 65535, usize::MAX] {
            let mut b = BytesMut::new();
            put_decimal(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
            assert_eq!(decimal_len(n), n.to_string().len());
        }
    }
}
