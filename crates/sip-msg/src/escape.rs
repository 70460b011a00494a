//! `%HH` escapes in SIP URIs, compared without decoding into a buffer.
//!
//! RFC 3261 19.1.4: "characters other than those in the `reserved` set are equivalent to
//! their `"%" HEX HEX` encoding", so the URI parameter `;%74ransport=%75dp` is
//! `;transport=udp`. An escaped *reserved* character (`%3B`, `%40`, `%2F`, ...) is not the
//! character itself: unescaped it would change where the URI splits, so `%3B` only equals
//! `%3b`. A name or value is walked one decoded unit at a time, which keeps comparisons
//! free of allocation; with no `%` on either side it is a plain slice comparison.
//!
//! Only URI parts are escaped. Header parameters and other tokens use `%` as an ordinary
//! character (RFC 3261 25.1 `token`), so callers decide whether to come here.

use memchr::memchr;

/// The value of one hex digit.
pub(crate) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// RFC 3261 25.1 (from RFC 2396) `reserved`.
fn is_reserved(c: u8) -> bool {
    matches!(
        c,
        b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b','
    )
}

/// One character of a URI part as compared by RFC 3261 19.1.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A literal octet, or an escape of a non-reserved octet (decoded).
    Plain(u8),
    /// An escaped reserved octet: never equal to the literal one.
    EscapedReserved(u8),
}

/// The units of `s`. A `%` not followed by two hex digits stays a literal `%` (the parser
/// refuses those in URIs; values built by hand may still hold one).
struct Units<'a> {
    s: &'a [u8],
    i: usize,
}

impl Iterator for Units<'_> {
    type Item = Unit;

    fn next(&mut self) -> Option<Unit> {
        let c = *self.s.get(self.i)?;
        if c == b'%' {
            let hi = self.s.get(self.i + 1).and_then(|&h| hex_val(h));
            let lo = self.s.get(self.i + 2).and_then(|&l| hex_val(l));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                self.i += 3;
                let d = (hi << 4) | lo;
                return Some(if is_reserved(d) {
                    Unit::EscapedReserved(d)
                } else {
                    Unit::Plain(d)
                });
            }
        }
        self.i += 1;
        Some(Unit::Plain(c))
    }
}

/// Whether two URI parts are equal once escapes of non-reserved characters are undone;
/// `ignore_case` compares ASCII letters case-insensitively (parameters, hosts), otherwise
/// exactly (user, password). Never allocates.
pub(crate) fn unescaped_eq(a: &[u8], b: &[u8], ignore_case: bool) -> bool {
    if memchr(b'%', a).is_none() && memchr(b'%', b).is_none() {
        return if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        };
    }
    let mut x = Units { s: a, i: 0 };
    let mut y = Units { s: b, i: 0 };
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(Unit::Plain(p)), Some(Unit::Plain(q)))
                if p == q || (ignore_case && p.eq_ignore_ascii_case(&q)) => {}
            (Some(Unit::EscapedReserved(p)), Some(Unit::EscapedReserved(q))) if p == q => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_unreserved_equals_literal() {
        assert!(unescaped_eq(b"%74ransport", b"transport", true));
        assert!(unescaped_eq(b"transport", b"%74ransport", true));
        assert!(unescaped_eq(b"%75dp", b"UDP", true));
        assert!(unescaped_eq(b"%75dp", b"%75DP", true));
        assert!(!unescaped_eq(b"%75dp", b"UDP", false), "case kept");
        assert!(unescaped_eq(b"%61lice", b"alice", false));
        assert!(!unescaped_eq(b"%41lice", b"alice", false));
        // Hex digits are case-insensitive whatever the comparison.
        assert!(unescaped_eq(b"a%7e", b"a%7E", false));
        assert!(unescaped_eq(b"a%7e", b"a~", false));
        // Non-ASCII octets decode like any other.
        assert!(unescaped_eq(b"v%C3%A4xel", "växel".as_bytes(), false));
    }

    #[test]
    fn lengths_and_order_matter() {
        assert!(!unescaped_eq(b"%74ransport", b"transports", true));
        assert!(!unescaped_eq(b"transport", b"%74ranspor", true));
        assert!(!unescaped_eq(b"%74", b"", true));
        assert!(unescaped_eq(b"", b"", true));
        assert!(!unescaped_eq(b"ab", b"%62%61", true));
    }

    #[test]
    fn escaped_reserved_differs_from_literal() {
        for (esc, lit) in [
            ("a%3Bb", "a;b"),
            ("a%40b", "a@b"),
            ("a%2fb", "a/b"),
            ("a%3Db", "a=b"),
            ("a%2Bb", "a+b"),
            ("a%2Cb", "a,b"),
        ] {
            assert!(!unescaped_eq(esc.as_bytes(), lit.as_bytes(), true), "{esc}");
        }
        assert!(unescaped_eq(b"a%3bb", b"a%3Bb", false));
        assert!(!unescaped_eq(b"a%3bb", b"a%3cb", true));
    }

    #[test]
    fn unescapes_once() {
        // `%25` is `%`; what follows it is not read again as an escape.
        assert!(unescaped_eq(b"v%61l%25%34%31", b"val%2541", true));
        assert!(!unescaped_eq(b"v%61l%25%34%31", b"valA", true));
        assert!(!unescaped_eq(b"%2541", b"A", true));
        // A `%` that starts no escape is a literal `%`.
        assert!(unescaped_eq(b"50%", b"50%25", true));
        assert!(unescaped_eq(b"%zz", b"%25zz", true));
        assert!(unescaped_eq(b"%4", b"%254", true));
    }
}
