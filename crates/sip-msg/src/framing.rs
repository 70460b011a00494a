//! Cutting a byte stream (TCP, TLS) into messages (RFC 3261 18.3, keep-alives RFC 5626).
//!
//! [`frame_stream`] only looks at the front of the buffer: it says how many bytes the first
//! message (or keep-alive) takes, or that more bytes are needed. The caller slices those
//! bytes off, hands a message to [`parse`](crate::parse) and calls again with the rest.

use crate::error::{ErrorKind, ParseError};
use crate::header::HeaderName;
use crate::scan;

/// The usual cap on one message, headers and body together.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// What the front of a stream buffer holds.
#[derive(Debug, Clone)]
pub enum Framed {
    /// Not enough bytes yet to know.
    Incomplete,
    /// A whole message of this many bytes (headers, blank line and Content-Length bytes).
    Message(usize),
    /// Leading CRLFs of this many bytes: 4 is a CRLFCRLF ping (answer with a CRLF pong),
    /// 2 a lone CRLF (a pong, or padding): drop them.
    KeepAlive(usize),
    /// The stream cannot be framed (no Content-Length, too large, ...): close it.
    Error(ParseError),
}

impl PartialEq for Framed {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Framed::Incomplete, Framed::Incomplete) => true,
            (Framed::Message(a), Framed::Message(b)) => a == b,
            (Framed::KeepAlive(a), Framed::KeepAlive(b)) => a == b,
            (Framed::Error(a), Framed::Error(b)) => a.kind() == b.kind(),
            _ => false,
        }
    }
}

/// Frame the first message of `buf`. `max_size` caps the header section and the whole
/// message; past it the answer is `Error(TooLarge)` rather than `Incomplete`.
pub fn frame_stream(buf: &[u8], max_size: usize) -> Framed {
    const PING: &[u8] = b"\r\n\r\n";
    if buf.starts_with(PING) {
        return Framed::KeepAlive(4);
    }
    if buf.first() == Some(&b'\r') {
        if PING.starts_with(buf) {
            // "\r", "\r\n" or "\r\n\r": maybe the start of a ping.
            return Framed::Incomplete;
        }
        if buf.starts_with(b"\r\n") {
            return Framed::KeepAlive(2);
        }
    }
    let window = buf.get(..buf.len().min(max_size)).unwrap_or_default();
    let Some(end) = memchr::memmem::find(window, PING) else {
        return if buf.len() >= max_size {
            Framed::Error(ErrorKind::TooLarge.into())
        } else {
            Framed::Incomplete
        };
    };
    let header_len = end + PING.len();
    let headers = buf.get(..end + 2).unwrap_or_default();
    let content_length = match find_content_length(headers) {
        Ok(Some(n)) => n,
        Ok(None) => return Framed::Error(ErrorKind::MissingContentLength.into()),
        Err(e) => return Framed::Error(e),
    };
    let total = match header_len.checked_add(content_length) {
        Some(t) if t <= max_size => t,
        _ => return Framed::Error(ErrorKind::TooLarge.into()),
    };
    if buf.len() < total {
        Framed::Incomplete
    } else {
        Framed::Message(total)
    }
}

/// Content-Length (or `l`) among the header lines of `head` (start line first, each line
/// ending in CRLF). Continuation lines are joined to their header.
fn find_content_length(head: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    let mut lines = head.split(|&c| c == b'\n').skip(1).peekable();
    while let Some(line) = lines.next() {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = scan::trim(line.get(..colon).unwrap_or_default());
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let mut value = scan::trim(line.get(colon + 1..).unwrap_or_default()).to_vec();
        while let Some(next) = lines.next_if(|l| matches!(l.first(), Some(b' ' | b'\t'))) {
            let piece = scan::trim(next);
            if !piece.is_empty() {
                if !value.is_empty() {
                    value.push(b' ');
                }
                value.extend_from_slice(piece);
            }
        }
        let n = scan::parse_u64(&value)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ParseError::bad(HeaderName::ContentLength))?;
        match found {
            Some(prev) if prev != n => {
                return Err(ErrorKind::DuplicateHeader(HeaderName::ContentLength).into())
            }
            _ => found = Some(n),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP client.example.com;branch=z9hG4bK1\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
Call-ID: x1\r\n\
CSeq: 1 MESSAGE\r\n\
Content-Type: text/plain\r\n\
Content-Length: 5\r\n\r\nhello";

    const MAX: usize = DEFAULT_MAX_MESSAGE_SIZE;

    #[test]
    fn whole_message() {
        assert_eq!(frame_stream(MSG, MAX), Framed::Message(MSG.len()));
        let parsed = crate::parse(bytes::Bytes::from_static(MSG)).expect("valid");
        assert_eq!(&parsed.body()[..], b"hello");
    }

    #[test]
    fn every_prefix_is_incomplete() {
        for cut in 1..MSG.len() {
            assert_eq!(
                frame_stream(&MSG[..cut], MAX),
                Framed::Incomplete,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn pipelined_messages_and_keepalives() {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(&MSG[..20]);
        let mut rest = &stream[..];
        let mut seen = Vec::new();
        loop {
            match frame_stream(rest, MAX) {
                Framed::Incomplete => break,
                Framed::Message(n) => {
                    let m = crate::parse(bytes::Bytes::copy_from_slice(&rest[..n])).expect("valid");
                    assert_eq!(&m.body()[..], b"hello");
                    seen.push("msg");
                    rest = &rest[n..];
                }
                Framed::KeepAlive(n) => {
                    seen.push(if n == 4 { "ping" } else { "crlf" });
                    rest = &rest[n..];
                }
                Framed::Error(e) => panic!("{e}"),
            }
        }
        assert_eq!(seen, ["ping", "msg", "crlf", "msg"]);
        assert_eq!(rest, &MSG[..20]);
    }

    #[test]
    fn keepalive_prefixes_wait() {
        assert_eq!(frame_stream(b"", MAX), Framed::Incomplete);
        assert_eq!(frame_stream(b"\r", MAX), Framed::Incomplete);
        assert_eq!(frame_stream(b"\r\n", MAX), Framed::Incomplete);
        assert_eq!(frame_stream(b"\r\n\r", MAX), Framed::Incomplete);
        assert_eq!(frame_stream(b"\r\n\r\n\r\n", MAX), Framed::KeepAlive(4));
        assert_eq!(frame_stream(b"\r\nINV", MAX), Framed::KeepAlive(2));
    }

    #[test]
    fn content_length_required_and_checked() {
        let no_cl = std::str::from_utf8(MSG)
            .expect("ascii")
            .replace("Content-Length: 5\r\n", "");
        assert_eq!(
            frame_stream(no_cl.as_bytes(), MAX),
            Framed::Error(ErrorKind::MissingContentLength.into())
        );
        let compact = std::str::from_utf8(MSG)
            .expect("ascii")
            .replace("Content-Length: 5", "l  :  5");
        assert_eq!(
            frame_stream(compact.as_bytes(), MAX),
            Framed::Message(compact.len())
        );
        let folded = std::str::from_utf8(MSG)
            .expect("ascii")
            .replace("Content-Length: 5", "Content-Length:\r\n 5");
        assert_eq!(
            frame_stream(folded.as_bytes(), MAX),
            Framed::Message(folded.len())
        );
        let bad = std::str::from_utf8(MSG)
            .expect("ascii")
            .replace("Content-Length: 5", "Content-Length: -5");
        assert!(matches!(
            frame_stream(bad.as_bytes(), MAX),
            Framed::Error(_)
        ));
        let two = std::str::from_utf8(MSG)
            .expect("ascii")
            .replace("Content-Length: 5", "Content-Length: 5\r\nl: 6");
        assert!(matches!(
            frame_stream(two.as_bytes(), MAX),
            Framed::Error(_)
        ));
        // A header merely containing the name does not count.
        let other = std::str::from_utf8(MSG)
            .expect("ascii")
            .replace("Content-Type: text/plain", "X-Content-Length: 99");
        assert_eq!(
            frame_stream(other.as_bytes(), MAX),
            Framed::Message(other.len())
        );
    }

    #[test]
    fn size_limits() {
        // Header section alone over the limit, with no end in sight.
        let junk = vec![b'a'; 200];
        assert_eq!(
            frame_stream(&junk, 100),
            Framed::Error(ErrorKind::TooLarge.into())
        );
        assert_eq!(frame_stream(&junk[..99], 100), Framed::Incomplete);
        // Content-Length pushes the message over the limit: refuse before receiving it.
        let big = std::str::from_utf8(MSG)
            .expect("ascii")
            .replace("Content-Length: 5", "Content-Length: 70000");
        assert_eq!(
            frame_stream(big.as_bytes(), MAX),
            Framed::Error(ErrorKind::TooLarge.into())
        );
        let huge = std::str::from_utf8(MSG)
            .expect("ascii")
            .replace("Content-Length: 5", "Content-Length: 18446744073709551615");
        assert_eq!(
            frame_stream(huge.as_bytes(), MAX),
            Framed::Error(ErrorKind::TooLarge.into())
        );
        assert_eq!(frame_stream(MSG, MSG.len()), Framed::Message(MSG.len()));
        assert_eq!(
            frame_stream(MSG, MSG.len() - 1),
            Framed::Error(ErrorKind::TooLarge.into())
        );
    }
}
