//! The message parser: one pass over the bytes, header values sliced out of the input.
//!
//! Order of work: skip leading CRLFs (RFC 3261 7.5), read the start line, split the header
//! lines (unfolding continuation lines, RFC 3261 7.3.1), then check the headers every
//! transaction needs (Via, From, To, Call-ID, CSeq, Content-Length), then cut the body to
//! Content-Length (RFC 3261 18.3). A request whose start line was readable fails with a
//! [`PartialRequest`] so the caller can still answer it.

use bytes::{Bytes, BytesMut};

use crate::error::{ErrorKind, ParseError, PartialRequest};
use crate::header::{Header, HeaderName, Headers};
use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::name_addr::NameAddr;
use crate::scan::{self, is_token, is_token_str, trim_range};
use crate::typed::{check_via_list, CSeq};
use crate::uri::{Scheme, Uri};

/// Parse one whole message: a UDP datagram, or a TCP/TLS message cut by
/// [`frame_stream`](crate::frame_stream).
///
/// The body is cut to Content-Length (extra bytes in a datagram are ignored); a body
/// shorter than Content-Length is an error; without Content-Length the body is the rest of
/// the input. A header section that ends with the input (no blank line) is accepted.
pub fn parse(buf: Bytes) -> Result<Message, ParseError> {
    let b: &[u8] = &buf;
    let len = b.len();
    let mut pos = 0;
    while b.get(pos).is_some_and(|&c| c == b'\r' || c == b'\n') {
        pos += 1;
    }
    if pos >= len {
        return Err(ErrorKind::Empty.into());
    }
    let is_response = b
        .get(pos..pos + 4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"));
    let (line_end, next) = find_eol(b, pos).map_err(|e| {
        ParseError::new(match e {
            ErrorKind::Incomplete => ErrorKind::Incomplete,
            _ if is_response => ErrorKind::BadStatusLine,
            _ => ErrorKind::BadRequestLine,
        })
    })?;

    if is_response {
        let (status, reason) = parse_status_line(&buf, pos, line_end)?;
        let sections = parse_headers(&buf, next);
        if let Some(e) = sections.error {
            return Err(e.into());
        }
        let headers = sections.headers;
        let cl = check_essentials(&headers, None)?;
        let body = cut_body(&buf, sections.body_start, cl)?;
        return Ok(Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }));
    }

    let line = parse_request_line(&buf, pos, line_end)?;
    let sections = parse_headers(&buf, next);
    let failure = line.deferred.or(sections.error);
    let headers = sections.headers;
    let result = match failure {
        Some(kind) => Err(ParseError::new(kind)),
        None => check_essentials(&headers, Some(&line.method))
            .and_then(|cl| cut_body(&buf, sections.body_start, cl)),
    };
    match (result, line.uri) {
        (Ok(body), Some(uri)) => Ok(Message::Request(Request {
            method: line.method,
            uri,
            headers,
            body,
        })),
        (Ok(_), None) => Err(ParseError::new(ErrorKind::BadRequestUri)),
        (Err(e), uri) => Err(e.with_partial(PartialRequest {
            method: line.method,
            uri,
            headers,
        })),
    }
}

/// End of the line starting at `from`: (index of the CR or LF, start of the next line).
/// A CR must be followed by LF; a missing line end is `Incomplete`.
fn find_eol(b: &[u8], from: usize) -> Result<(usize, usize), ErrorKind> {
    let rest = b.get(from..).unwrap_or_default();
    let i = memchr::memchr2(b'\r', b'\n', rest).ok_or(ErrorKind::Incomplete)?;
    let at = from + i;
    match rest.get(i) {
        Some(b'\n') => Ok((at, at + 1)),
        _ => match rest.get(i + 1) {
            Some(b'\n') => Ok((at, at + 2)),
            Some(_) => Err(ErrorKind::BadHeaderLine),
            None => Err(ErrorKind::Incomplete),
        },
    }
}

fn parse_status_line(buf: &Bytes, start: usize, end: usize) -> Result<(u16, Bytes), ParseError> {
    let line = buf.get(start..end).unwrap_or_default();
    let bad = || ParseError::new(ErrorKind::BadStatusLine);
    let sp = line.iter().position(|&c| c == b' ').ok_or_else(bad)?;
    let version = line.get(..sp).ok_or_else(bad)?;
    if !version.eq_ignore_ascii_case(b"SIP/2.0") {
        return Err(if is_sip_version(version) {
            ParseError::new(ErrorKind::VersionNotSupported)
        } else {
            bad()
        });
    }
    let code = line.get(sp + 1..sp + 4).ok_or_else(bad)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let status = scan::parse_u16(code).ok_or_else(bad)?;
    if !(100..=699).contains(&status) {
        return Err(bad());
    }
    let reason = match line.get(sp + 4) {
        None => Bytes::new(),
        Some(b' ') => scan::sub(buf, start + sp + 5, end, true),
        Some(_) => return Err(bad()),
    };
    Ok((status, reason))
}

/// `SIP/<digits>.<digits>`, any version.
fn is_sip_version(v: &[u8]) -> bool {
    let Some(rest) = v.get(4..) else {
        return false;
    };
    if !v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/")) {
        return false;
    }
    let mut parts = rest.splitn(2, |&c| c == b'.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    !major.is_empty()
        && !minor.is_empty()
        && major.iter().all(u8::is_ascii_digit)
        && minor.iter().all(u8::is_ascii_digit)
}

struct RequestLine {
    method: Method,
    uri: Option<Uri>,
    /// An error found after the method was read: reported once the headers are read too.
    deferred: Option<ErrorKind>,
}

/// `Method SP Request-URI SP SIP-Version`, single spaces (RFC 4475 lwsstart, trws).
fn parse_request_line(buf: &Bytes, start: usize, end: usize) -> Result<RequestLine, ParseError> {
    let line = buf.get(start..end).unwrap_or_default();
    let bad = || ParseError::new(ErrorKind::BadRequestLine);
    let first = line.iter().position(|&c| c == b' ').ok_or_else(bad)?;
    let last = line.iter().rposition(|&c| c == b' ').ok_or_else(bad)?;
    let method_b = line.get(..first).ok_or_else(bad)?;
    if !is_token_str(method_b) {
        return Err(bad());
    }
    let method = Method::from_slice(buf, start, start + first)?;
    let mut deferred = None;
    let version = line.get(last + 1..).unwrap_or_default();
    if !version.eq_ignore_ascii_case(b"SIP/2.0") {
        deferred = Some(if is_sip_version(version) {
            ErrorKind::VersionNotSupported
        } else {
            ErrorKind::BadRequestLine
        });
    }
    let (us, ue) = (start + first + 1, start + last);
    let uri_b = buf.get(us..ue).unwrap_or_default();
    if last <= first || uri_b.is_empty() {
        return Ok(RequestLine {
            method,
            uri: None,
            deferred: Some(ErrorKind::BadRequestLine),
        });
    }
    if uri_b.first() == Some(&b' ') || uri_b.last() == Some(&b' ') {
        deferred.get_or_insert(ErrorKind::BadRequestLine);
    }
    let uri = match Uri::parse_range(buf, us, ue, true) {
        // RFC 3261 19.1.1: no headers in a SIP Request-URI (RFC 4475 escruri).
        Ok(u) if matches!(u.scheme(), Scheme::Sip | Scheme::Sips) && u.headers().is_some() => {
            deferred.get_or_insert(ErrorKind::BadRequestUri);
            Some(u)
        }
        Ok(u) => Some(u),
        Err(_) => {
            deferred.get_or_insert(ErrorKind::BadRequestUri);
            None
        }
    };
    Ok(RequestLine {
        method,
        uri,
        deferred,
    })
}

struct Sections {
    headers: Headers,
    body_start: usize,
    /// The first bad line; later good lines are still collected (for the partial request).
    error: Option<ErrorKind>,
}

fn parse_headers(buf: &Bytes, mut pos: usize) -> Sections {
    let b: &[u8] = buf;
    let len = b.len();
    let mut headers = Headers::with_capacity((len / 40).clamp(8, 48));
    let mut error = None;
    loop {
        match b.get(pos) {
            // The datagram ends right after a header line: take it as the end of headers.
            None => {
                return Sections {
                    headers,
                    body_start: len,
                    error,
                }
            }
            Some(b'\n') => {
                return Sections {
                    headers,
                    body_start: pos + 1,
                    error,
                }
            }
            Some(b'\r') if b.get(pos + 1) == Some(&b'\n') => {
                return Sections {
                    headers,
                    body_start: pos + 2,
                    error,
                }
            }
            _ => {}
        }
        let (line_end, mut next) = match find_eol(b, pos) {
            Ok(v) => v,
            Err(e) => {
                error.get_or_insert(e);
                return Sections {
                    headers,
                    body_start: len,
                    error,
                };
            }
        };
        // Continuation lines (LWS folding).
        let mut value_end = line_end;
        let mut folded = false;
        while matches!(b.get(next), Some(b' ' | b'\t')) {
            match find_eol(b, next) {
                Ok((le, n)) => {
                    value_end = le;
                    next = n;
                    folded = true;
                }
                Err(e) => {
                    error.get_or_insert(e);
                    return Sections {
                        headers,
                        body_start: len,
                        error,
                    };
                }
            }
        }
        match header_line(buf, pos, line_end, value_end, folded) {
            Some(h) => headers.push_header(h),
            None => {
                error.get_or_insert(ErrorKind::BadHeaderLine);
            }
        }
        pos = next;
    }
}

/// One header: name up to the colon on the first physical line, value up to `value_end`.
fn header_line(
    buf: &Bytes,
    start: usize,
    line_end: usize,
    value_end: usize,
    folded: bool,
) -> Option<Header> {
    let first = buf.get(start..line_end)?;
    let colon = memchr::memchr(b':', first)?;
    let (ns, ne) = trim_range(buf, start, start + colon);
    // A line starting with whitespace is a continuation with nothing to continue.
    if ns != start || ne == ns || !buf.get(ns..ne)?.iter().all(|&c| is_token(c)) {
        return None;
    }
    let name = HeaderName::from_slice(buf, ns, ne);
    let vs = start + colon + 1;
    let value = if folded {
        unfold(buf, vs, value_end)
    } else {
        let (a, z) = trim_range(buf, vs, value_end);
        scan::sub(buf, a, z, true)
    };
    Some(Header { name, value })
}

/// Join the physical lines of a folded value with one SP each (leading/trailing whitespace
/// of every line dropped). Folded values are rare, so this copy is the slow path.
fn unfold(buf: &Bytes, start: usize, end: usize) -> Bytes {
    let raw = buf.get(start..end).unwrap_or_default();
    let mut out = BytesMut::with_capacity(raw.len());
    for piece in raw.split(|&c| c == b'\n') {
        let piece = scan::trim(piece);
        if piece.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.extend_from_slice(b" ");
        }
        out.extend_from_slice(piece);
    }
    out.freeze()
}

/// Check Via, From, To, Call-ID, CSeq (presence, single occurrence, syntax; CSeq method
/// against the request method) and return the Content-Length, if any.
fn check_essentials(
    headers: &Headers,
    method: Option<&Method>,
) -> Result<Option<usize>, ParseError> {
    let (mut via, mut from, mut to, mut call_id, mut cseq) = (false, false, false, false, false);
    let mut content_length: Option<usize> = None;
    let dup = |n: HeaderName| ParseError::new(ErrorKind::DuplicateHeader(n));
    for h in headers.iter() {
        match h.name {
            HeaderName::Via => {
                check_via_list(&h.value)?;
                via = true;
            }
            HeaderName::From | HeaderName::To => {
                let seen = if h.name == HeaderName::From {
                    &mut from
                } else {
                    &mut to
                };
                if *seen {
                    return Err(dup(h.name.clone()));
                }
                *seen = true;
                NameAddr::check(&h.value, h.name.clone())?;
            }
            HeaderName::CallId => {
                if call_id {
                    return Err(dup(HeaderName::CallId));
                }
                call_id = true;
                if h.value.is_empty() || h.value.iter().any(|&c| scan::is_ws(c)) {
                    return Err(ParseError::bad(HeaderName::CallId));
                }
            }
            HeaderName::CSeq => {
                if cseq {
                    return Err(dup(HeaderName::CSeq));
                }
                cseq = true;
                let c = CSeq::parse(&h.value)?;
                if method.is_some_and(|m| *m != c.method) {
                    return Err(ErrorKind::CSeqMethodMismatch.into());
                }
            }
            HeaderName::ContentLength => {
                let n = scan::parse_u64(scan::trim(&h.value))
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| ParseError::bad(HeaderName::ContentLength))?;
                match content_length {
                    Some(prev) if prev != n => return Err(dup(HeaderName::ContentLength)),
                    _ => content_length = Some(n),
                }
            }
            _ => {}
        }
    }
    for (seen, name) in [
        (via, HeaderName::Via),
        (from, HeaderName::From),
        (to, HeaderName::To),
        (call_id, HeaderName::CallId),
        (cseq, HeaderName::CSeq),
    ] {
        if !seen {
            return Err(ParseError::missing(name));
        }
    }
    Ok(content_length)
}

fn cut_body(
    buf: &Bytes,
    body_start: usize,
    content_length: Option<usize>,
) -> Result<Bytes, ParseError> {
    let available = buf.len().saturating_sub(body_start);
    match content_length {
        None => Ok(buf.slice(body_start.min(buf.len())..)),
        Some(n) if n <= available => Ok(scan::sub(buf, body_start, body_start + n, true)),
        Some(_) => Err(ErrorKind::ContentLengthMismatch.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::via::Transport;

    const OPTIONS: &str = "OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n\
Max-Forwards: 70\r\n\
To: <sip:carol@chicago.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 63104 OPTIONS\r\n\
Accept: application/sdp\r\n\
Content-Length: 0\r\n\r\n";

    fn req(s: &str) -> Request {
        match parse(Bytes::copy_from_slice(s.as_bytes())) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn err(s: &str) -> ParseError {
        match parse(Bytes::copy_from_slice(s.as_bytes())) {
            Err(e) => e,
            Ok(m) => panic!("accepted: {m:?}"),
        }
    }

    #[test]
    fn a_plain_request() {
        let r = req(OPTIONS);
        assert_eq!(r.method, Method::Options);
        assert_eq!(r.uri.raw().as_ref(), b"sip:carol@chicago.example.com");
        assert_eq!(r.headers.len(), 8);
        assert!(r.body.is_empty());
        assert_eq!(r.headers.cseq().expect("valid").seq, 63104);
    }

    #[test]
    fn values_are_slices_of_the_input() {
        let buf = Bytes::copy_from_slice(OPTIONS.as_bytes());
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let Ok(Message::Request(r)) = parse(buf.clone()) else {
            panic!("parse")
        };
        for h in r.headers.iter() {
            assert!(
                range.contains(&(h.value.as_ptr() as usize)),
                "{:?} copied",
                h.name
            );
        }
        assert!(range.contains(&(r.uri.raw().as_ptr() as usize)));
    }

    #[test]
    fn leading_crlf_and_lf_only_lines() {
        let r = req(&format!("\r\n\r\n{OPTIONS}"));
        assert_eq!(r.method, Method::Options);
        let r = req(&OPTIONS.replace("\r\n", "\n"));
        assert_eq!(r.headers.len(), 8);
        assert!(matches!(err("\r\n\r\n").kind(), ErrorKind::Empty));
        assert!(matches!(err("").kind(), ErrorKind::Empty));
    }

    #[test]
    fn folded_values_are_unfolded() {
        let m = OPTIONS.replace(
            "Accept: application/sdp\r\n",
            "Accept: application/sdp,\r\n\t application/pkcs7-mime ,  \r\n   multipart/mixed\r\nSubject:\r\n  hello\r\n   world  \r\n",
        );
        let r = req(&m);
        assert_eq!(
            r.headers.get(&HeaderName::Accept).map(|v| &v[..]),
            Some(&b"application/sdp, application/pkcs7-mime , multipart/mixed"[..])
        );
        assert_eq!(
            r.headers.get(&HeaderName::Subject).map(|v| &v[..]),
            Some(&b"hello world"[..])
        );
        // A continuation line with nothing before it is an error.
        let e = err(&OPTIONS.replace("Via:", " Via:"));
        assert!(matches!(
            e.kind(),
            ErrorKind::BadRequestLine | ErrorKind::BadHeaderLine
        ));
    }

    #[test]
    fn compact_names_and_spaces_around_colon() {
        let r = req("INVITE sip:a@b SIP/2.0\r\nv : SIP/2.0/TCP h;branch=z9hG4bK1\r\nf:<sip:x@y>;tag=1\r\nt  :sip:a@b\r\ni:\tcid\r\nCSEQ : 1 INVITE\r\nm: <sip:x@h>\r\nc: text/plain\r\nl: 2\r\ns: hi\r\nk: timer\r\n\r\nabXX");
        let names: Vec<_> = r
            .headers
            .iter()
            .map(|h| h.name.as_str().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "Via",
                "From",
                "To",
                "Call-ID",
                "CSeq",
                "Contact",
                "Content-Type",
                "Content-Length",
                "Subject",
                "Supported"
            ]
        );
        assert_eq!(&r.body[..], b"ab");
        assert_eq!(
            r.headers.top_via().expect("valid").transport,
            Transport::Tcp
        );
    }

    #[test]
    fn content_length_rules() {
        // Longer datagram: truncated to Content-Length (RFC 3261 18.3).
        let r = req(&OPTIONS
            .replace("Content-Length: 0", "Content-Length: 3")
            .replace("\r\n\r\n", "\r\n\r\nabcdef"));
        assert_eq!(&r.body[..], b"abc");
        // Shorter: rejected.
        let e = err(&OPTIONS.replace("Content-Length: 0", "Content-Length: 10"));
        assert_eq!(e.kind(), &ErrorKind::ContentLengthMismatch);
        assert!(e.partial_request().is_some());
        // Missing: the rest of the datagram.
        let r = req(&OPTIONS
            .replace("Content-Length: 0\r\n", "")
            .replace("\r\n\r\n", "\r\n\r\nrest"));
        assert_eq!(&r.body[..], b"rest");
        // Negative, or two different values.
        assert_eq!(
            err(&OPTIONS.replace("Content-Length: 0", "Content-Length: -1")).kind(),
            &ErrorKind::BadHeader(HeaderName::ContentLength)
        );
        assert_eq!(
            err(&OPTIONS.replace("Content-Length: 0", "Content-Length: 0\r\nl: 5")).kind(),
            &ErrorKind::DuplicateHeader(HeaderName::ContentLength)
        );
        // The same value twice is tolerated.
        assert!(parse(Bytes::from(
            OPTIONS.replace("Content-Length: 0", "Content-Length: 0\r\nl: 0")
        ))
        .is_ok());
    }

    #[test]
    fn essential_headers() {
        for (name, line) in [
            (
                HeaderName::Via,
                "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n",
            ),
            (
                HeaderName::From,
                "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n",
            ),
            (HeaderName::To, "To: <sip:carol@chicago.example.com>\r\n"),
            (HeaderName::CallId, "Call-ID: a84b4c76e66710\r\n"),
            (HeaderName::CSeq, "CSeq: 63104 OPTIONS\r\n"),
        ] {
            let e = err(&OPTIONS.replace(line, ""));
            assert_eq!(e.kind(), &ErrorKind::MissingHeader(name.clone()));
            assert_eq!(e.to_string(), format!("Missing {name}"));
            let p = e.partial_request().expect("start line was fine");
            assert_eq!(p.method, Method::Options);
            let dup = OPTIONS.replace(line, &format!("{line}{line}"));
            if name == HeaderName::Via {
                assert!(parse(Bytes::from(dup)).is_ok(), "Via may repeat");
            } else {
                assert_eq!(err(&dup).kind(), &ErrorKind::DuplicateHeader(name));
            }
        }
        let e = err(&OPTIONS.replace("63104 OPTIONS", "63104 INVITE"));
        assert_eq!(e.kind(), &ErrorKind::CSeqMethodMismatch);
        let e = err(&OPTIONS.replace("63104 OPTIONS", "x OPTIONS"));
        assert_eq!(e.to_string(), "Bad CSeq");
        let e = err(&OPTIONS.replace("branch=z9hG4bKhjhs8ass877", ";;"));
        assert_eq!(e.to_string(), "Bad Via");
        assert!(e
            .partial_request()
            .is_some_and(|p| p.headers.top_via().is_err()));
        let e = err(&OPTIONS.replace("Call-ID: a84b4c76e66710", "Call-ID: a b"));
        assert_eq!(e.to_string(), "Bad Call-ID");
    }

    #[test]
    fn partial_request_can_be_answered() {
        let e = err(&OPTIONS.replace(
            "CSeq: 63104 OPTIONS\r\n",
            "CSeq: 99999999999 OPTIONS\r\nBroken line\r\n",
        ));
        assert_eq!(e.to_string(), "Bad Header Line");
        let p = e.partial_request().expect("partial");
        assert!(p.uri.is_some());
        assert!(
            p.headers.contains(&HeaderName::Accept),
            "lines after the bad one are kept"
        );
        let resp = p.response(400, &e.to_string()).expect("Via readable");
        assert_eq!(resp.status, 400);
        assert_eq!(&resp.reason[..], b"Bad Header Line");
        assert_eq!(resp.headers.len(), 5);
        let out = resp.to_bytes();
        assert!(out.starts_with(b"SIP/2.0 400 Bad Header Line\r\nVia: SIP/2.0/UDP pc33"));
    }

    #[test]
    fn request_line_errors() {
        let e = err(&OPTIONS.replace(" SIP/2.0\r\n", " SIP/7.0\r\n"));
        assert!(e.is_version_not_supported());
        assert_eq!(e.status_code(), 505);
        let p = e.partial_request().expect("partial");
        assert!(p.response(505, "Version Not Supported").is_some());

        for (bad, kind) in [
            (
                "OPTIONS  sip:carol@chicago.example.com  SIP/2.0",
                ErrorKind::BadRequestLine,
            ),
            (
                "OPTIONS sip:carol@chicago.example.com SIP/2.0 ",
                ErrorKind::BadRequestLine,
            ),
            (
                "OPTIONS sip:carol@chicago.example.com SIP/2",
                ErrorKind::BadRequestLine,
            ),
            (
                "OPTIONS <sip:carol@chicago.example.com> SIP/2.0",
                ErrorKind::BadRequestUri,
            ),
            (
                "OPTIONS sip:carol@chicago.example.com; lr SIP/2.0",
                ErrorKind::BadRequestUri,
            ),
            (
                "OPTIONS sip:carol@chicago.example.com?Route=%3Csip:x%3E SIP/2.0",
                ErrorKind::BadRequestUri,
            ),
            ("OPTIONS SIP/2.0", ErrorKind::BadRequestLine),
        ] {
            let e = err(&OPTIONS.replace("OPTIONS sip:carol@chicago.example.com SIP/2.0", bad));
            assert_eq!(e.kind(), &kind, "{bad}");
            assert!(e.partial_request().is_some(), "{bad}");
        }
        for bad in [
            "OPTIONS",
            "OPT\tIONS sip:a SIP/2.0",
            "<OPTIONS> sip:a@b SIP/2.0",
        ] {
            let e = err(&OPTIONS.replace("OPTIONS sip:carol@chicago.example.com SIP/2.0", bad));
            assert!(e.partial_request().is_none(), "{bad}");
        }
        // Unknown schemes parse: the server answers 416 itself.
        let r = req(&OPTIONS.replace("sip:carol@chicago.example.com SIP", "urn:service:sos SIP"));
        assert_eq!(r.uri.scheme(), &Scheme::Other(Bytes::from_static(b"urn")));
    }

    #[test]
    fn responses() {
        let m = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:b@x>;tag=2\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let Ok(Message::Response(r)) = parse(Bytes::from_static(m.as_bytes())) else {
            panic!()
        };
        assert_eq!(r.status, 180);
        assert_eq!(&r.reason[..], b"Ringing");
        let bye = m.replace("1 INVITE", "2 BYE");
        assert!(
            parse(Bytes::from(bye)).is_ok(),
            "no method to match in a response"
        );
        let Ok(Message::Response(r)) = parse(Bytes::from(m.replace("180 Ringing", "100 "))) else {
            panic!()
        };
        assert!(r.reason.is_empty());
        let Ok(Message::Response(r)) = parse(Bytes::from(m.replace("180 Ringing", "100"))) else {
            panic!()
        };
        assert_eq!(r.status, 100);
        for bad in [
            "4294967301 x",
            "099 Low",
            "700 High",
            "20 Short",
            "2000 Long",
            "abc OK",
            "180Ringing",
        ] {
            let e = err(&m.replace("180 Ringing", bad));
            assert_eq!(e.kind(), &ErrorKind::BadStatusLine, "{bad}");
            assert!(e.partial_request().is_none());
        }
        assert!(err(&m.replace("SIP/2.0 180", "SIP/3.0 180")).is_version_not_supported());
        assert_eq!(
            err(&m.replace("Call-ID: c\r\n", "")).to_string(),
            "Missing Call-ID"
        );
    }

    #[test]
    fn truncated_and_odd_inputs() {
        assert_eq!(
            err("OPTIONS sip:a@b SIP/2.0").kind(),
            &ErrorKind::Incomplete
        );
        assert_eq!(err(&OPTIONS[..60]).kind(), &ErrorKind::Incomplete);
        // No blank line but ends with CRLF: accepted (RFC 4475 baddn.dat is written so).
        let r = req(&format!("{}\r\n", OPTIONS.trim_end_matches("\r\n")));
        assert!(r.body.is_empty());
        assert_eq!(
            err("OPTIONS sip:a@b SIP/2.0\rVia: x\r\n\r\n").kind(),
            &ErrorKind::BadRequestLine
        );
        let e = err(&OPTIONS.replace("Accept: application/sdp", "Accept: app\rlication/sdp"));
        assert_eq!(e.kind(), &ErrorKind::BadHeaderLine);
        assert_eq!(
            err(&OPTIONS.replace("Accept:", "Acc ept:")).kind(),
            &ErrorKind::BadHeaderLine
        );
        assert_eq!(
            err(&OPTIONS.replace("Accept:", ":")).kind(),
            &ErrorKind::BadHeaderLine
        );
    }

    #[test]
    fn version_is_case_insensitive() {
        let r = req(&OPTIONS.replace(" SIP/2.0\r\n", " sip/2.0\r\n"));
        assert_eq!(r.method, Method::Options);
        assert!(is_sip_version(b"SIP/10.12"));
        assert!(!is_sip_version(b"SIP/2"));
        assert!(!is_sip_version(b"SIP/.0"));
        assert!(!is_sip_version(b"HTTP/1.1"));
    }
}
