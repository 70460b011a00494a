//! The crate's one error type.
//!
//! A `ParseError`'s `Display` text is short and reads as a SIP reason phrase, so a server
//! can answer `400 <error>` directly. When a request's start line was readable but the
//! message is still unusable (missing Call-ID, bad CSeq, unsupported version, ...), the
//! error carries a [`PartialRequest`] with the method and every header line that could be
//! read, so the server can still build its 400 (or 505) from the Via/From/To/Call-ID/CSeq.

use crate::header::{HeaderName, Headers};
use crate::message::Response;
use crate::method::Method;
use crate::uri::Uri;

/// What went wrong. The `Display` text is a reason phrase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("Empty Message")]
    Empty,
    /// A datagram ended before the header section did, or a line is unterminated.
    #[error("Incomplete Message")]
    Incomplete,
    #[error("Bad Request-Line")]
    BadRequestLine,
    #[error("Bad Status-Line")]
    BadStatusLine,
    /// `SIP/x.y` other than `SIP/2.0`: answer 505.
    #[error("Version Not Supported")]
    VersionNotSupported,
    #[error("Bad Method")]
    BadMethod,
    #[error("Bad Request-URI")]
    BadRequestUri,
    #[error("Bad URI")]
    BadUri,
    /// A header line without a colon, a name that is not a token, a bare CR, ...
    #[error("Bad Header Line")]
    BadHeaderLine,
    #[error("Missing {0}")]
    MissingHeader(HeaderName),
    #[error("Bad {0}")]
    BadHeader(HeaderName),
    /// A single-valued header (From, To, Call-ID, CSeq, Content-Length) appears twice.
    #[error("Multiple {0}")]
    DuplicateHeader(HeaderName),
    #[error("CSeq Method Mismatch")]
    CSeqMethodMismatch,
    /// The body is shorter than Content-Length.
    #[error("Content-Length Mismatch")]
    ContentLengthMismatch,
    /// A stream (TCP/TLS) message has no Content-Length.
    #[error("Missing Content-Length")]
    MissingContentLength,
    #[error("Message Too Large")]
    TooLarge,
}

/// A message (or a piece of one) that could not be parsed. Short, reason-phrase `Display`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    kind: ErrorKind,
    partial: Option<Box<PartialRequest>>,
}

/// What could be read of a rejected request: enough to answer it.
#[derive(Debug, Clone)]
pub struct PartialRequest {
    pub method: Method,
    /// The Request-URI, when it parsed.
    pub uri: Option<Uri>,
    /// Every header line that could be read, in order (bad lines are skipped).
    pub headers: Headers,
}

impl PartialRequest {
    /// Build the error response (e.g. 400 with the error text, or 505), copying Via, From,
    /// To, Call-ID and CSeq as present. `None` when there is no Via header at all.
    ///
    /// The Via is copied even when it does not parse (RFC 4475 badinv01): send the
    /// response to `headers.top_via()?.response_target()` when that works, else back to
    /// the packet's source address or over the connection it came on.
    pub fn response(&self, status: u16, reason: &str) -> Option<Response> {
        if !self.headers.contains(&HeaderName::Via) {
            return None;
        }
        Some(Response::from_request_headers(
            &self.headers,
            status,
            reason,
        ))
    }
}

impl ParseError {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        ParseError {
            kind,
            partial: None,
        }
    }

    pub(crate) fn with_partial(mut self, partial: PartialRequest) -> Self {
        self.partial = Some(Box::new(partial));
        self
    }

    pub(crate) fn bad(name: HeaderName) -> Self {
        ParseError::new(ErrorKind::BadHeader(name))
    }

    pub(crate) fn missing(name: HeaderName) -> Self {
        ParseError::new(ErrorKind::MissingHeader(name))
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// True when the request used a SIP version other than 2.0: answer 505.
    pub fn is_version_not_supported(&self) -> bool {
        self.kind == ErrorKind::VersionNotSupported
    }

    /// The readable part of a rejected request, if its start line was a request line.
    pub fn partial_request(&self) -> Option<&PartialRequest> {
        self.partial.as_deref()
    }

    pub fn into_partial_request(self) -> Option<PartialRequest> {
        self.partial.map(|p| *p)
    }

    /// The status code a server should answer this error with, when it answers at all:
    /// 505 for a version mismatch, 413 for an oversized message, 400 otherwise.
    pub fn status_code(&self) -> u16 {
        match self.kind {
            ErrorKind::VersionNotSupported => 505,
            ErrorKind::TooLarge => 413,
            _ => 400,
        }
    }
}

impl From<ErrorKind> for ParseError {
    fn from(kind: ErrorKind) -> Self {
        ParseError::new(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_a_reason_phrase() {
        assert_eq!(
            ParseError::missing(HeaderName::CallId).to_string(),
            "Missing Call-ID"
        );
        assert_eq!(ParseError::bad(HeaderName::CSeq).to_string(), "Bad CSeq");
        assert_eq!(
            ParseError::new(ErrorKind::DuplicateHeader(HeaderName::From)).to_string(),
            "Multiple From"
        );
        assert_eq!(
            ParseError::new(ErrorKind::ContentLengthMismatch).to_string(),
            "Content-Length Mismatch"
        );
        let v = ParseError::new(ErrorKind::VersionNotSupported);
        assert!(v.is_version_not_supported());
        assert_eq!(v.status_code(), 505);
        assert!(v.partial_request().is_none());
    }
}
