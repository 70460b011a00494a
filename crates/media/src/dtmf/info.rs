//! DTMF carried in SIP INFO bodies, for phones and trunks that signal keys out of band.
//!
//! Two bodies are in use; neither has an RFC, so this follows what deployed stacks send and
//! accept (Cisco, Asterisk, SIP.js, pjsua, Polycom, Yealink):
//!
//! * `application/dtmf-relay`: `key=value` lines, e.g. `Signal=5\r\nDuration=160\r\n`.
//!   Keys are matched without case and with blanks trimmed; lines end in CRLF or LF; a `:`
//!   instead of `=` is accepted. `Signal` is the key itself (`0`–`9`, `*`, `#`, `A`–`D`,
//!   lower case too), or its RFC 4733 event number (`10` is `*`, `11` is `#`, `12`–`15` are
//!   `A`–`D`: Asterisk reads numbers this way and some gateways send them), or the words
//!   `star`/`pound`/`hash` that a few web phones send. `Duration` is in milliseconds.
//! * `application/dtmf`: the body is just the signal, e.g. `5` or `#`, read as above.
//!
//! Event 16 (hook flash, `!` or `16`) is not a key and gives `None`, as does anything else not
//! understood. Content-type parameters (`;charset=...`) are ignored. Pure functions: the
//! caller answers the INFO (200 for a key; Asterisk answers 500 to a body it cannot read).

use super::rfc4733::digit_of;

/// A key from an INFO body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InfoDigit {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// The `Duration` line, in milliseconds, when present, a number and not zero. Asterisk
    /// assumes 100 ms when it is missing.
    pub duration_ms: Option<u32>,
}

/// Which DTMF body a content type announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoBodyKind {
    /// `application/dtmf-relay`.
    DtmfRelay,
    /// `application/dtmf`.
    Dtmf,
}

/// Reads a `Content-Type` value: `Some` for the two DTMF body types, whatever the case,
/// blanks and parameters.
pub fn body_kind(content_type: &str) -> Option<InfoBodyKind> {
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    let (top, sub) = media_type.split_once('/')?;
    if !top.trim().eq_ignore_ascii_case("application") {
        return None;
    }
    match sub.trim() {
        s if s.eq_ignore_ascii_case("dtmf-relay") => Some(InfoBodyKind::DtmfRelay),
        s if s.eq_ignore_ascii_case("dtmf") => Some(InfoBodyKind::Dtmf),
        _ => None,
    }
}

/// The key in an INFO body of the given content type; `None` for other content types and for
/// bodies without a readable key.
pub fn parse_info(content_type: &str, body: &[u8]) -> Option<InfoDigit> {
    match body_kind(content_type)? {
        InfoBodyKind::DtmfRelay => parse_dtmf_relay(body),
        InfoBodyKind::Dtmf => parse_dtmf(body),
    }
}

/// An `application/dtmf-relay` body. The first `Signal` line counts; a body without one is
/// `None` whatever else it holds.
pub fn parse_dtmf_relay(body: &[u8]) -> Option<InfoDigit> {
    let mut digit = None;
    let mut duration_ms = None;
    for line in body.split(|&b| b == b'\n') {
        let Some(sep) = line.iter().position(|&b| b == b'=' || b == b':') else {
            continue;
        };
        let (key, value) = (trim(&line[..sep]), trim(&line[sep + 1..]));
        if key.eq_ignore_ascii_case(b"signal") {
            if digit.is_none() {
                digit = Some(signal(value)?);
            }
        } else if key.eq_ignore_ascii_case(b"duration") && duration_ms.is_none() {
            duration_ms = number(value).filter(|&ms| ms > 0);
        }
    }
    Some(InfoDigit {
        digit: digit?,
        duration_ms,
    })
}

/// An `application/dtmf` body: the signal alone.
pub fn parse_dtmf(body: &[u8]) -> Option<InfoDigit> {
    Some(InfoDigit {
        digit: signal(trim(body))?,
        duration_ms: None,
    })
}

/// A signal value: a key, its event number, or a word for `*`/`#`.
fn signal(value: &[u8]) -> Option<char> {
    match value {
        [b] if !b.is_ascii_digit() => {
            let c = char::from(*b).to_ascii_uppercase();
            matches!(c, '*' | '#' | 'A'..='D').then_some(c)
        }
        _ if value.eq_ignore_ascii_case(b"star") => Some('*'),
        _ if value.eq_ignore_ascii_case(b"pound") || value.eq_ignore_ascii_case(b"hash") => {
            Some('#')
        }
        _ => digit_of(u8::try_from(number(value)?).ok()?),
    }
}

/// A decimal number of at most 9 digits (no sign, no blanks inside).
fn number(value: &[u8]) -> Option<u32> {
    if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0, |n, &d| n * 10 + u32::from(d - b'0')))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let blank = |b: &u8| b.is_ascii_whitespace();
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(body: &str) -> Option<InfoDigit> {
        parse_info("application/dtmf-relay", body.as_bytes())
    }

    fn key(digit: char, duration_ms: Option<u32>) -> Option<InfoDigit> {
        Some(InfoDigit { digit, duration_ms })
    }

    #[test]
    fn cisco_and_asterisk_style_relay_bodies() {
        assert_eq!(relay("Signal=5\r\nDuration=160\r\n"), key('5', Some(160)));
        assert_eq!(relay("Signal= 1\r\nDuration= 100\r\n"), key('1', Some(100)));
        assert_eq!(relay("signal=#\nduration=250\n"), key('#', Some(250)));
        assert_eq!(relay("SIGNAL = *\r\n"), key('*', None));
        assert_eq!(relay("Signal: 9\nDuration: 200\n"), key('9', Some(200)));
        assert_eq!(relay("Duration=120\r\nSignal=d\r\n"), key('D', Some(120)));
    }

    #[test]
    fn numeric_signals_follow_rfc_4733_event_numbers() {
        assert_eq!(relay("Signal=10\r\n"), key('*', None));
        assert_eq!(relay("Signal=11\r\n"), key('#', None));
        assert_eq!(relay("Signal=12\r\n"), key('A', None));
        assert_eq!(relay("Signal=15\r\n"), key('D', None));
        assert_eq!(relay("Signal=05\r\n"), key('5', None));
        assert_eq!(relay("Signal=16\r\n"), None, "hook flash");
        assert_eq!(relay("Signal=!\r\n"), None, "hook flash");
        assert_eq!(relay("Signal=star\r\nDuration=250"), key('*', Some(250)));
        assert_eq!(relay("Signal=pound"), key('#', None));
    }

    #[test]
    fn dtmf_bodies_and_content_types() {
        assert_eq!(parse_info("application/dtmf", b"5"), key('5', None));
        assert_eq!(
            parse_info("Application/DTMF ; charset=utf-8", b" #\r\n"),
            key('#', None)
        );
        assert_eq!(parse_info("application/dtmf", b"11"), key('#', None));
        assert_eq!(
            parse_info("application/dtmf-relay;x=y", b"Signal=3\r\nDuration=0\r\n"),
            key('3', None)
        );
        assert_eq!(parse_info("application/sdp", b"Signal=5\r\n"), None);
        assert_eq!(parse_info("text/plain", b"5"), None);
        assert_eq!(parse_info("", b"5"), None);
    }

    #[test]
    fn garbage_is_none() {
        for body in [
            "",
            "\r\n",
            "Signal=\r\n",
            "Signal=E\r\n",
            "Signal=17\r\n",
            "Signal=5 5\r\n",
            "Signal=-1\r\n",
            "Signal=99999999999999\r\n",
            "Duration=160\r\n",
            "Signal=x\r\nSignal=5\r\n",
            "hello",
        ] {
            assert_eq!(relay(body), None, "{body:?}");
        }
        assert_eq!(parse_info("application/dtmf", b"12 34"), None);
        assert_eq!(parse_info("application/dtmf", &[0xFF, 0xFE]), None);
        // A bad duration keeps the key.
        assert_eq!(relay("Signal=2\r\nDuration=abc\r\n"), key('2', None));
    }
}
