//! `;name=value` parameter lists (URI parameters and header parameters).
//!
//! Names compare case-insensitively. Values are kept as received: a quoted header parameter
//! value keeps its quotes in [`Param::value`], and [`Params::unquoted`] strips them.
//!
//! The two kinds differ in one way: in URI parameters `%HH` is an escape (RFC 3261 19.1.2),
//! and RFC 3261 19.1.4 makes an escaped non-reserved character equal to the character, so a
//! lookup of `transport` finds `;%74ransport=%75dp` and [`Params::unescaped`] reads its
//! value as `udp`. Header parameters are tokens, where `%` is an ordinary character
//! (`;x%41=1` is named `x%41`, never `xA`). The list remembers which kind it is, so lookups
//! do the right thing without the caller knowing where the parameters came from; the raw
//! bytes stay as received either way, so forwarding is unchanged.

use std::fmt;

use bytes::Bytes;

use crate::escape::unescaped_eq;
use crate::scan::{is_token, is_uri_char, sub, unescape_quoted, Cursor};
use crate::uri::percent_decode;

/// One parameter: a name and an optional value (raw, quotes included if quoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Bytes,
    pub value: Option<Bytes>,
}

/// An ordered parameter list.
///
/// Equality compares the parameters as received (names, values, order), not their kind.
#[derive(Debug, Clone, Default)]
pub struct Params {
    list: Vec<Param>,
    /// URI parameters: `%HH` in names and values is an escape.
    escaped: bool,
}

impl PartialEq for Params {
    fn eq(&self, other: &Self) -> bool {
        self.list == other.list
    }
}

impl Eq for Params {}

impl Params {
    /// An empty list of header parameters (`%` is an ordinary character).
    pub fn new() -> Self {
        Params::default()
    }

    /// An empty list of URI parameters (`%HH` is an escape).
    pub(crate) fn for_uri() -> Self {
        Params {
            list: Vec::new(),
            escaped: true,
        }
    }

    /// The first parameter named `name` (case-insensitive; escapes resolved in URI
    /// parameters, so `transport` finds `%74ransport`).
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.find(name.as_bytes())
    }

    /// [`Params::get`] for a name given as bytes (e.g. another list's raw name).
    pub(crate) fn find(&self, name: &[u8]) -> Option<&Param> {
        self.list
            .iter()
            .find(|p| is_named(self.escaped, &p.name, name))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The raw value of `name` (quotes kept). `None` if absent or valueless.
    pub fn value(&self, name: &str) -> Option<&Bytes> {
        self.get(name).and_then(|p| p.value.as_ref())
    }

    /// The value of `name` with surrounding quotes removed and quoted-pairs resolved.
    /// Zero copy unless the value contains a backslash escape.
    pub fn unquoted(&self, name: &str) -> Option<Bytes> {
        self.value(name).map(unquote)
    }

    /// The value of `name` as meant: for URI parameters with `%HH` escapes resolved (once:
    /// `%2541` reads `%41`), for header parameters as received. Zero copy unless the value
    /// holds a `%` escape. `None` if absent or valueless.
    pub fn unescaped(&self, name: &str) -> Option<Bytes> {
        let v = self.value(name)?;
        Some(if self.escaped {
            percent_decode(v)
        } else {
            v.clone()
        })
    }

    /// Append a parameter (no check for duplicates).
    pub fn push(&mut self, name: impl Into<Bytes>, value: Option<Bytes>) {
        self.list.push(Param {
            name: name.into(),
            value,
        });
    }

    /// Set `name` to `value`, replacing the first occurrence (found as by [`Params::get`])
    /// in place, or appending.
    pub fn set(&mut self, name: &str, value: Option<Bytes>) {
        let escaped = self.escaped;
        match self
            .list
            .iter_mut()
            .find(|p| is_named(escaped, &p.name, name.as_bytes()))
        {
            Some(p) => p.value = value,
            None => self.list.push(Param {
                name: Bytes::copy_from_slice(name.as_bytes()),
                value,
            }),
        }
    }

    /// Remove every parameter named `name` (matched as by [`Params::get`]); returns whether
    /// one was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.list.len();
        let escaped = self.escaped;
        self.list
            .retain(|p| !is_named(escaped, &p.name, name.as_bytes()));
        before != self.list.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Param> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Append `;name[=value]` for each parameter.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        for p in &self.list {
            out.push(b';');
            out.extend_from_slice(&p.name);
            if let Some(v) = &p.value {
                out.push(b'=');
                out.extend_from_slice(v);
            }
        }
    }

    pub(crate) fn printed_len(&self) -> usize {
        self.list
            .iter()
            .map(|p| 1 + p.name.len() + p.value.as_ref().map_or(0, |v| 1 + v.len()))
            .sum()
    }
}

/// Whether a parameter called `pname` is named `name`: case-insensitive, and in URI
/// parameters (`escaped`) after undoing escapes of non-reserved characters on both sides.
/// No allocation.
fn is_named(escaped: bool, pname: &[u8], name: &[u8]) -> bool {
    if escaped {
        unescaped_eq(pname, name, true)
    } else {
        pname.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = Vec::with_capacity(self.printed_len());
        self.write_to(&mut v);
        f.write_str(&String::from_utf8_lossy(&v))
    }
}

impl<'a> IntoIterator for &'a Params {
    type Item = &'a Param;
    type IntoIter = std::slice::Iter<'a, Param>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// Strip surrounding quotes (if any) and resolve quoted-pairs.
pub(crate) fn unquote(v: &Bytes) -> Bytes {
    match v.as_ref() {
        [b'"', .., b'"'] if v.len() >= 2 => unescape_quoted(v, 1, v.len() - 1),
        _ => v.clone(),
    }
}

/// URI parameters: `;a=b;c` in `src[start..end]`, which starts at a `;`. No whitespace,
/// every name and value non-empty, `?` not allowed (the caller stops at the headers).
pub(crate) fn parse_uri_params(
    src: &Bytes,
    start: usize,
    end: usize,
    keep: bool,
) -> Option<Params> {
    let mut params = Params::for_uri();
    let mut pos = start;
    while pos < end {
        if src.get(pos) != Some(&b';') {
            return None;
        }
        pos += 1;
        let seg_end = src
            .get(pos..end)?
            .iter()
            .position(|&c| c == b';')
            .map_or(end, |i| pos + i);
        let seg = src.get(pos..seg_end)?;
        if !seg.iter().all(|&c| is_uri_char(c) && c != b'?') {
            return None;
        }
        let (name_end, value) = match seg.iter().position(|&c| c == b'=') {
            Some(eq) => {
                if eq + 1 >= seg.len() {
                    return None;
                }
                (pos + eq, Some(pos + eq + 1))
            }
            None => (seg_end, None),
        };
        if name_end == pos {
            return None;
        }
        if keep {
            params.list.push(Param {
                name: sub(src, pos, name_end, true),
                value: value.map(|v| sub(src, v, seg_end, true)),
            });
        }
        pos = seg_end;
    }
    Some(params)
}

/// A generic-param value that is not quoted: token characters plus the `[ ] :` of IPv6
/// references (e.g. `received=2001:db8::9`) and a few more seen in the wild (`/`, `@`).
fn is_gen_value(c: u8) -> bool {
    is_token(c) || matches!(c, b'[' | b']' | b':' | b'/' | b'@')
}

/// Header parameters: `*( SEMI generic-param )` with SWS around `;` and `=`. Stops at the
/// first byte that is neither whitespace nor `;` (a `,` or the end); the caller checks it.
pub(crate) fn parse_header_params(cur: &mut Cursor<'_>) -> Option<Params> {
    let mut params = Params::new();
    loop {
        let save = cur.pos;
        cur.skip_ws();
        if !cur.eat(b';') {
            cur.pos = save;
            return Some(params);
        }
        cur.skip_ws();
        let (ns, ne) = cur.token()?;
        let after_name = cur.pos;
        cur.skip_ws();
        let value = if cur.eat(b'=') {
            cur.skip_ws();
            if cur.peek() == Some(b'"') {
                let start = cur.pos;
                cur.quoted()?;
                Some(cur.slice(start, cur.pos))
            } else {
                let (vs, ve) = cur.take_while(is_gen_value);
                if ve == vs {
                    return None;
                }
                Some(cur.slice(vs, ve))
            }
        } else {
            cur.pos = after_name;
            None
        };
        if cur.keep {
            params.list.push(Param {
                name: cur.slice(ns, ne),
                value,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &'static str) -> Option<(Params, usize)> {
        let b = Bytes::from_static(s.as_bytes());
        let mut c = Cursor::new(&b);
        let p = parse_header_params(&mut c)?;
        Some((p, c.pos))
    }

    #[test]
    fn uri_params() {
        let b = Bytes::from_static(b";transport=tcp;lr;maddr=[2001:db8::1]");
        let p = parse_uri_params(&b, 0, b.len(), true).expect("valid");
        assert_eq!(p.len(), 3);
        assert_eq!(p.value("TRANSPORT").map(|v| &v[..]), Some(&b"tcp"[..]));
        assert!(p.contains("lr"));
        assert_eq!(p.value("lr"), None);
        assert_eq!(
            p.value("maddr").map(|v| &v[..]),
            Some(&b"[2001:db8::1]"[..])
        );
        for bad in [";", ";;lr", ";a=", ";=b", "lr", "; lr", ";a=b c"] {
            let b = Bytes::from_static(bad.as_bytes());
            assert!(parse_uri_params(&b, 0, b.len(), true).is_none(), "{bad}");
        }
    }

    #[test]
    fn header_params_with_whitespace_and_quotes() {
        let (p, end) = hp(" ;   tag    = 1918181833n").expect("valid");
        assert_eq!(p.value("tag").map(|v| &v[..]), Some(&b"1918181833n"[..]));
        assert_eq!(end, 25);

        let (p, _) =
            hp(r#";+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";expires=3600"#)
                .expect("valid");
        assert_eq!(
            p.value("+sip.instance").map(|v| &v[..]),
            Some(&br#""<urn:uuid:00000000-0000-1000-8000-000A95A0E128>""#[..])
        );
        assert_eq!(
            p.unquoted("+sip.instance").as_deref(),
            Some(&b"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"[..])
        );
        assert_eq!(p.unquoted("expires").as_deref(), Some(&b"3600"[..]));

        let (p, end) = hp(";received=2001:db8::9:255;rport , next").expect("valid");
        assert_eq!(p.len(), 2);
        assert_eq!(p.value("rport"), None);
        assert!(p.contains("rport"));
        assert_eq!(end, 31, "stops before the whitespace preceding the comma");

        let (p, _) = hp(r#";x="a\"b""#).expect("valid");
        assert_eq!(p.unquoted("x").as_deref(), Some(&br#"a"b"#[..]));

        assert!(hp(";;").is_none());
        assert!(hp(";a=").is_none());
        assert!(hp(r#";a="open"#).is_none());
    }

    #[test]
    fn percent_is_an_escape_only_in_uri_params() {
        let b = Bytes::from_static(b";%74ransport=%75dp;x%41=v%25%34%31;lr");
        let p = parse_uri_params(&b, 0, b.len(), true).expect("valid");
        assert_eq!(p.value("transport").map(|v| &v[..]), Some(&b"%75dp"[..]));
        assert_eq!(p.unescaped("Transport").as_deref(), Some(&b"udp"[..]));
        assert_eq!(p.unescaped("xa").as_deref(), Some(&b"v%41"[..]));
        assert_eq!(p.unescaped("x%41").as_deref(), Some(&b"v%41"[..]));
        assert_eq!(p.unescaped("lr"), None);
        assert!(!p.contains("transports") && !p.contains("transpor"));

        // Header parameters are tokens: `%` is just a character there.
        let (h, _) = hp(";%74ag=abc;x%41=1").expect("valid");
        assert!(!h.contains("tag"));
        assert!(h.contains("%74ag"));
        assert!(!h.contains("xa"));
        assert_eq!(h.unescaped("x%41").as_deref(), Some(&b"1"[..]));
        let (h, _) = hp(";x=%41").expect("valid");
        assert_eq!(h.unescaped("x").as_deref(), Some(&b"%41"[..]));
    }

    #[test]
    fn unescaped_is_zero_copy_without_escapes() {
        let b = Bytes::from_static(b";transport=udp");
        let p = parse_uri_params(&b, 0, b.len(), true).expect("valid");
        let v = p.unescaped("transport").expect("present");
        assert_eq!(&v[..], b"udp");
        // The same bytes as the source buffer, not a copy.
        assert_eq!(v.as_ptr(), b[11..].as_ptr());
    }

    #[test]
    fn editing() {
        let mut p = Params::new();
        p.push("branch", Some(Bytes::from_static(b"z9hG4bK1")));
        p.push("rport", None);
        p.set("RPORT", Some(Bytes::from_static(b"5060")));
        p.set("received", Some(Bytes::from_static(b"192.0.2.1")));
        assert_eq!(
            p.to_string(),
            ";branch=z9hG4bK1;rport=5060;received=192.0.2.1"
        );
        assert!(p.remove("branch"));
        assert!(!p.remove("branch"));
        assert_eq!(p.printed_len(), p.to_string().len());
    }
}
