//! Byte-level scanning shared by every parser in the crate.
//!
//! Everything here works on indices into a `Bytes` so that the values we hand out are
//! `Bytes::slice`s of the input (zero copy). Nothing indexes a slice directly: every access
//! goes through `get`, so a malformed input ends in `None`/an error, never in a panic.

use bytes::{Bytes, BytesMut};

/// RFC 3261 25.1 `token` characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" /
/// "`" / "'" / "~".
const fn token_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
}

static TOKEN: [bool; 256] = token_table();

/// Characters allowed anywhere in a URI we accept: RFC 3986/3261 unreserved, reserved and
/// `%` (escapes are checked separately) plus `[` `]` for IPv6 references. Excludes space,
/// controls, non-ASCII and `< > " { } | \ ^ \``.
const fn uri_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'_'
                    | b'.'
                    | b'!'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b'%'
                    | b';'
                    | b'/'
                    | b'?'
                    | b':'
                    | b'@'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b'['
                    | b']'
                    | b'#'
            );
        i += 1;
    }
    t
}

static URI: [bool; 256] = uri_table();

#[inline]
pub(crate) fn is_token(c: u8) -> bool {
    TOKEN[c as usize]
}

#[inline]
pub(crate) fn is_uri_char(c: u8) -> bool {
    URI[c as usize]
}

#[inline]
pub(crate) fn is_ws(c: u8) -> bool {
    // CR/LF count as whitespace for values built by hand; parsed values are unfolded.
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

pub(crate) fn is_token_str(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| is_token(c))
}

/// Bounds of `s[start..end]` with leading and trailing whitespace removed.
/// Always `start <= end <= s.len()` on return, whatever the arguments.
pub(crate) fn trim_range(s: &[u8], start: usize, end: usize) -> (usize, usize) {
    let mut end = end.min(s.len());
    let mut start = start.min(end);
    while start < end && s.get(start).is_some_and(|&c| is_ws(c)) {
        start += 1;
    }
    while end > start && s.get(end - 1).is_some_and(|&c| is_ws(c)) {
        end -= 1;
    }
    (start, end)
}

pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let (a, b) = trim_range(s, 0, s.len());
    s.get(a..b).unwrap_or_default()
}

/// Parse a non-empty run of ASCII digits into a `u64`, refusing overflow.
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

pub(crate) fn parse_u32(s: &[u8]) -> Option<u32> {
    parse_u64(s).and_then(|v| u32::try_from(v).ok())
}

pub(crate) fn parse_u16(s: &[u8]) -> Option<u16> {
    parse_u64(s).and_then(|v| u16::try_from(v).ok())
}

/// Number of decimal digits of `n` (for pre-sizing printed output).
pub(crate) fn decimal_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Remove the backslash of each quoted-pair in `inner` (the content of a quoted string,
/// quotes excluded). Zero copy when there is no backslash.
pub(crate) fn unescape_quoted(src: &Bytes, start: usize, end: usize) -> Bytes {
    let inner = src.get(start..end).unwrap_or_default();
    if !inner.contains(&b'\\') {
        return sub(src, start, end, true);
    }
    let mut out = BytesMut::with_capacity(inner.len());
    let mut it = inner.iter();
    while let Some(&c) = it.next() {
        if c == b'\\' {
            if let Some(&n) = it.next() {
                out.extend_from_slice(&[n]);
            }
        } else {
            out.extend_from_slice(&[c]);
        }
    }
    out.freeze()
}

/// Write `s` as a quoted-string, escaping `"` and `\`.
pub(crate) fn write_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(c);
            }
            // A raw CR or LF would end the header line; they cannot be sent in a
            // quoted-string even escaped (RFC 3261 25.1 quoted-pair excludes them).
            b'\r' | b'\n' => out.push(b' '),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// `src[start..end]` as a zero-copy `Bytes`, or an empty one when `keep` is false.
///
/// Parsers run in two modes: building typed values (`keep`), or only checking syntax, as
/// `parse` does for the headers it must validate. Checking skips the slices (each is an
/// atomic reference-count update) and the parameter vectors, which halves its cost.
pub(crate) fn sub(src: &Bytes, start: usize, end: usize, keep: bool) -> Bytes {
    if keep && start <= end && end <= src.len() {
        src.slice(start..end)
    } else {
        Bytes::new()
    }
}

/// A position inside a `Bytes` value, bounded by `end`. Typed header parsers walk it.
pub(crate) struct Cursor<'a> {
    pub(crate) src: &'a Bytes,
    pub(crate) pos: usize,
    pub(crate) end: usize,
    /// Build values (true) or only check syntax (false, see [`sub`]).
    pub(crate) keep: bool,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a Bytes) -> Self {
        Cursor {
            src,
            pos: 0,
            end: src.len(),
            keep: true,
        }
    }

    /// A cursor that only checks syntax: slices come back empty, parameters are not kept.
    pub(crate) fn checking(src: &'a Bytes) -> Self {
        Cursor {
            keep: false,
            ..Cursor::new(src)
        }
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        if self.pos < self.end {
            self.src.get(self.pos).copied()
        } else {
            None
        }
    }

    #[inline]
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    pub(crate) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skip SWS (spaces and tabs; CR/LF too, for hand-built values).
    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// Advance over bytes matching `f`; return the start and end of the run.
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> (usize, usize) {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        (start, self.pos)
    }

    pub(crate) fn bytes(&self, start: usize, end: usize) -> &'a [u8] {
        self.src.get(start..end).unwrap_or_default()
    }

    pub(crate) fn slice(&self, start: usize, end: usize) -> Bytes {
        sub(self.src, start, end, self.keep)
    }

    /// Parse a token; `None` if there is none at the cursor.
    pub(crate) fn token(&mut self) -> Option<(usize, usize)> {
        let (s, e) = self.take_while(is_token);
        (e > s).then_some((s, e))
    }

    /// At a `"`: consume a quoted-string. Returns the bounds of the content (quotes
    /// excluded). `None` if unterminated.
    pub(crate) fn quoted(&mut self) -> Option<(usize, usize)> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.pos;
        loop {
            match self.peek()? {
                b'"' => {
                    let end = self.pos;
                    self.pos += 1;
                    return Some((start, end));
                }
                b'\\' => {
                    self.pos += 1;
                    match self.peek()? {
                        b'\r' | b'\n' => return None,
                        _ => self.pos += 1,
                    }
                }
                b'\r' | b'\n' => return None,
                _ => self.pos += 1,
            }
        }
    }
}

/// Split a comma-separated header value into elements, ignoring commas inside quoted
/// strings and `<...>`. Elements are trimmed zero-copy slices; empty elements are dropped.
pub fn split_list(value: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let len = value.len();
    let mut in_angle = false;
    while i < len {
        match value.get(i).copied().unwrap_or(0) {
            b'"' if !in_angle => {
                i += 1;
                while i < len {
                    match value.get(i).copied().unwrap_or(0) {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
            }
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b',' if !in_angle => {
                let (a, b) = trim_range(value, start, i);
                if b > a {
                    out.push(sub(value, a, b, true));
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let (a, b) = trim_range(value, start.min(len), len);
    if b > a {
        out.push(sub(value, a, b, true));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_rfc3261() {
        assert!(is_token_str(b"!interesting-Method0123456789_*+`.%indeed'~"));
        assert!(!is_token_str(b"a b"));
        assert!(!is_token_str(b""));
        assert!(!is_token_str(b"a/b"));
    }

    #[test]
    fn numbers_refuse_overflow_and_junk() {
        assert_eq!(parse_u32(b"0009"), Some(9));
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u64(b"36893488147419103232"), None);
        assert_eq!(parse_u16(b"-1"), None);
        assert_eq!(parse_u16(b""), None);
        assert_eq!(decimal_len(0), 1);
        assert_eq!(decimal_len(10), 2);
        assert_eq!(decimal_len(999), 3);
    }

    #[test]
    fn quoted_strings_handle_escapes_and_reject_unterminated() {
        let b = Bytes::from_static(br#""J Rosenberg \\\"" rest"#);
        let mut c = Cursor::new(&b);
        let (s, e) = c.quoted().expect("terminated");
        assert_eq!(&unescape_quoted(&b, s, e)[..], br#"J Rosenberg \""#);
        assert_eq!(c.peek(), Some(b' '));

        let b = Bytes::from_static(b"\"Mr. J. User <sip:j.user@example.com>");
        assert!(Cursor::new(&b).quoted().is_none());
        let b = Bytes::from_static(b"\"ends in backslash\\");
        assert!(Cursor::new(&b).quoted().is_none());
    }

    #[test]
    fn write_quoted_escapes() {
        let mut v = Vec::new();
        write_quoted(&mut v, b"a\"b\\c");
        assert_eq!(v, br#""a\"b\\c""#);
    }

    #[test]
    fn split_list_respects_quotes_and_brackets() {
        let v = Bytes::from_static(
            br#""Doe, John" <sip:a,b@example.com>;q=0.5 , <sip:c@example.com>,sip:d@example.com"#,
        );
        let parts = split_list(&v);
        assert_eq!(parts.len(), 3);
        assert_eq!(&parts[0][..], br#""Doe, John" <sip:a,b@example.com>;q=0.5"#);
        assert_eq!(&parts[1][..], b"<sip:c@example.com>");
        assert_eq!(&parts[2][..], b"sip:d@example.com");
        assert!(split_list(&Bytes::from_static(b" , ,")).is_empty());
        // An escaped quote does not close the string.
        let v = Bytes::from_static(br#""a\",b", c"#);
        assert_eq!(split_list(&v).len(), 2);
    }
}
