//! HTTP Digest as used by SIP: header parsing, hashing, and the client side.
//!
//! The parser reads `Digest name=value, …` lists (RFC 7616 §3.4/§3.5, RFC 3261 §25.1 LWS):
//! parameter names are case-insensitive, values are tokens or quoted strings with `\`
//! escapes, order is free, unknown parameters are ignored, duplicates are an error. It works
//! on byte offsets of ASCII delimiters only, so slicing never splits a UTF-8 character, and
//! it borrows from the input unless a value holds an escape.
//!
//! Hashes are computed into stack buffers of lowercase hex ([`HexDigest`]) so that verifying
//! a response allocates nothing.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use crate::config::{Algorithm, HashKind};
use crate::Error;

/// The parameters of an `Authorization` header value (a client's credentials). `Debug`
/// omits the `response`.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestCredentials<'a> {
    /// `username`.
    pub username: Cow<'a, str>,
    /// `realm`.
    pub realm: Cow<'a, str>,
    /// `nonce`, echoed from the challenge.
    pub nonce: Cow<'a, str>,
    /// `uri`, the digest-uri the response covers.
    pub uri: Cow<'a, str>,
    /// `response`, hex.
    pub response: Cow<'a, str>,
    /// `algorithm`; absent means MD5.
    pub algorithm: Option<Cow<'a, str>>,
    /// `cnonce`.
    pub cnonce: Option<Cow<'a, str>>,
    /// `nc`, 8 hex digits.
    pub nc: Option<Cow<'a, str>>,
    /// `qop`.
    pub qop: Option<Cow<'a, str>>,
    /// `opaque`.
    pub opaque: Option<Cow<'a, str>>,
    /// `userhash=true` (RFC 7616 §3.4.4).
    pub userhash: bool,
}

impl fmt::Debug for DigestCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestCredentials")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("nonce", &self.nonce)
            .field("uri", &self.uri)
            .field("response", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .field("cnonce", &self.cnonce)
            .field("nc", &self.nc)
            .field("qop", &self.qop)
            .field("opaque", &self.opaque)
            .field("userhash", &self.userhash)
            .finish()
    }
}

/// The parameters of a `WWW-Authenticate` header value (a server's challenge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge<'a> {
    /// `realm`.
    pub realm: Cow<'a, str>,
    /// `nonce`.
    pub nonce: Cow<'a, str>,
    /// `opaque`, to be echoed.
    pub opaque: Option<Cow<'a, str>>,
    /// `algorithm`; absent means MD5.
    pub algorithm: Option<Cow<'a, str>>,
    /// `qop` options, comma separated.
    pub qop: Option<Cow<'a, str>>,
    /// `stale=true`.
    pub stale: bool,
    /// `userhash=true`.
    pub userhash: bool,
}

/// Parses an `Authorization` (or `Proxy-Authorization`) header value.
///
/// `Err(Error::NotDigest)` for another scheme, `Err(Error::Malformed(_))` for a broken Digest
/// value. Never panics.
pub fn parse_authorization(value: &str) -> Result<DigestCredentials<'_>, Error> {
    const FIELDS: [&str; 11] = [
        "username",
        "realm",
        "nonce",
        "uri",
        "response",
        "algorithm",
        "cnonce",
        "nc",
        "qop",
        "opaque",
        "userhash",
    ];
    let [username, realm, nonce, uri, response, algorithm, cnonce, nc, qop, opaque, userhash] =
        collect_params(value, &FIELDS)?;
    Ok(DigestCredentials {
        username: username.ok_or(Error::Malformed("missing username"))?,
        realm: realm.ok_or(Error::Malformed("missing realm"))?,
        nonce: nonce.ok_or(Error::Malformed("missing nonce"))?,
        uri: uri.ok_or(Error::Malformed("missing uri"))?,
        response: response.ok_or(Error::Malformed("missing response"))?,
        algorithm,
        cnonce,
        nc,
        qop,
        opaque,
        userhash: is_true(userhash),
    })
}

/// Parses a `WWW-Authenticate` (or `Proxy-Authenticate`) header value holding one challenge.
pub fn parse_challenge(value: &str) -> Result<DigestChallenge<'_>, Error> {
    const FIELDS: [&str; 7] = [
        "realm",
        "nonce",
        "opaque",
        "algorithm",
        "qop",
        "stale",
        "userhash",
    ];
    let [realm, nonce, opaque, algorithm, qop, stale, userhash] = collect_params(value, &FIELDS)?;
    Ok(DigestChallenge {
        realm: realm.ok_or(Error::Malformed("missing realm"))?,
        nonce: nonce.ok_or(Error::Malformed("missing nonce"))?,
        opaque,
        algorithm,
        qop,
        stale: is_true(stale),
        userhash: is_true(userhash),
    })
}

/// Reads the parameters named in `fields` (case-insensitively) into their slots; ignores
/// others; a repeated known parameter is an error. Allocates only for escaped values.
fn collect_params<'a, const N: usize>(
    value: &'a str,
    fields: &[&str; N],
) -> Result<[Option<Cow<'a, str>>; N], Error> {
    let mut slots: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
    for param in Params::new(strip_scheme(value)?) {
        let (name, v) = param?;
        if let Some(i) = fields.iter().position(|f| f.eq_ignore_ascii_case(name)) {
            if slots[i].replace(v).is_some() {
                return Err(Error::Malformed("duplicate parameter"));
            }
        }
    }
    Ok(slots)
}

fn is_true(v: Option<Cow<'_, str>>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Computes a digest `response` the way a client does (RFC 7616 §3.4.1, RFC 2617 §3.2.2).
///
/// With `qop = Some("auth")` the response is `H(HA1:nonce:nc:cnonce:qop:H(method:uri))` with
/// `nc` printed as 8 hex digits; with `qop = None` it is the RFC 2069 form
/// `H(HA1:nonce:H(method:uri))`. For `-sess` algorithms HA1 is `H(H(user:realm:pw):nonce:cnonce)`.
#[allow(clippy::too_many_arguments)]
pub fn digest_response(
    alg: Algorithm,
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: u32,
    cnonce: &str,
    qop: Option<&str>,
) -> String {
    let kind = alg.hash();
    let mut ha1 = hash(
        kind,
        &[user.as_bytes(), realm.as_bytes(), password.as_bytes()],
    );
    if alg.is_sess() {
        ha1 = hash(kind, &[ha1.as_bytes(), nonce.as_bytes(), cnonce.as_bytes()]);
    }
    let ha2 = hash(kind, &[method.as_bytes(), uri.as_bytes()]);
    let response = match qop {
        Some(qop) => {
            let nc = NcText::new(nc);
            hash(
                kind,
                &[
                    ha1.as_bytes(),
                    nonce.as_bytes(),
                    nc.as_bytes(),
                    cnonce.as_bytes(),
                    qop.as_bytes(),
                    ha2.as_bytes(),
                ],
            )
        }
        None => hash(kind, &[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]),
    };
    response.as_str().to_owned()
}

/// Answers a `WWW-Authenticate` challenge: returns the `Authorization` header value.
///
/// Uses `qop=auth` when offered (an error if only other qops are offered) and the RFC 2069
/// form when the challenge has no `qop`; echoes `opaque`; refuses `userhash=true` and
/// algorithms we do not implement.
pub fn build_authorization(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> Result<String, Error> {
    let ch = parse_challenge(challenge)?;
    let alg = match &ch.algorithm {
        None => Algorithm::Md5,
        Some(a) => Algorithm::from_name(a).ok_or(Error::Unsupported("algorithm"))?,
    };
    if ch.userhash {
        return Err(Error::Unsupported("userhash"));
    }
    let qop = match &ch.qop {
        None => None,
        Some(list) => {
            if list
                .split(',')
                .any(|q| q.trim().eq_ignore_ascii_case("auth"))
            {
                Some("auth")
            } else {
                return Err(Error::Unsupported("qop"));
            }
        }
    };
    let response = digest_response(
        alg, user, &ch.realm, password, method, uri, &ch.nonce, nc, cnonce, qop,
    );
    let mut out = String::with_capacity(256);
    out.push_str("Digest username=");
    push_quoted(&mut out, user);
    out.push_str(", realm=");
    push_quoted(&mut out, &ch.realm);
    out.push_str(", nonce=");
    push_quoted(&mut out, &ch.nonce);
    out.push_str(", uri=");
    push_quoted(&mut out, uri);
    out.push_str(", response=");
    push_quoted(&mut out, &response);
    out.push_str(", algorithm=");
    out.push_str(alg.name());
    if let Some(qop) = qop {
        // Writing to a String cannot fail.
        let _ = write!(out, ", qop={qop}, nc={nc:08x}, cnonce=");
        push_quoted(&mut out, cnonce);
    }
    if let Some(opaque) = &ch.opaque {
        out.push_str(", opaque=");
        push_quoted(&mut out, opaque);
    }
    Ok(out)
}

/// Appends `s` as a quoted-string, escaping `"` and `\`.
pub(crate) fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

/// Lowercase hex of a digest, on the stack (64 bytes fits SHA-256).
#[derive(Clone, Copy)]
pub(crate) struct HexDigest {
    buf: [u8; 64],
    len: usize,
}

impl HexDigest {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 64];
        let mut len = 0;
        for b in bytes.iter().take(32) {
            buf[len] = HEX[usize::from(b >> 4)];
            buf[len + 1] = HEX[usize::from(b & 0x0f)];
            len += 2;
        }
        Self { buf, len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// Keeps the first `len` hex digits (used to size a dummy HA1 for MD5).
    pub(crate) fn truncated(mut self, len: usize) -> Self {
        self.len = self.len.min(len);
        self
    }
}

/// `H(p0:p1:…)` in lowercase hex.
pub(crate) fn hash(kind: HashKind, parts: &[&[u8]]) -> HexDigest {
    fn run<D: sha2::Digest>(parts: &[&[u8]]) -> HexDigest {
        let mut d = D::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                d.update(b":");
            }
            d.update(p);
        }
        HexDigest::from_bytes(&d.finalize())
    }
    match kind {
        HashKind::Md5 => run::<md5::Md5>(parts),
        HashKind::Sha256 => run::<sha2::Sha256>(parts),
    }
}

/// A nonce count printed as 8 lowercase hex digits.
pub(crate) struct NcText([u8; 8]);

impl NcText {
    pub(crate) fn new(nc: u32) -> Self {
        let mut out = [0u8; 8];
        let full = HexDigest::from_bytes(&nc.to_be_bytes());
        out.copy_from_slice(full.as_bytes());
        Self(out)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Parses `nc`: exactly 8 hex digits (RFC 7616 §3.4).
pub(crate) fn parse_nc(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Strips the `Digest` scheme and returns the parameter list.
fn strip_scheme(value: &str) -> Result<&str, Error> {
    let v = value.trim_start_matches(is_lws_char);
    let end = v.find(is_lws_char).unwrap_or(v.len());
    let (scheme, rest) = v.split_at(end);
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(Error::NotDigest);
    }
    if rest.trim_matches(is_lws_char).is_empty() {
        return Err(Error::Malformed("no parameters"));
    }
    Ok(rest)
}

fn is_lws_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 3261 §25.1 `token` characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Iterator over `name=value` pairs; stops after the first error.
struct Params<'a> {
    s: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> Params<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            s,
            pos: 0,
            done: false,
        }
    }

    fn skip_lws(&mut self) {
        let b = self.s.as_bytes();
        while self.pos < b.len() && is_lws(b[self.pos]) {
            self.pos += 1;
        }
    }

    fn fail(&mut self, why: &'static str) -> Option<Result<(&'a str, Cow<'a, str>), Error>> {
        self.done = true;
        Some(Err(Error::Malformed(why)))
    }

    /// Reads a quoted string starting at the opening quote.
    fn quoted(&mut self) -> Result<Cow<'a, str>, Error> {
        let s = self.s;
        let b = s.as_bytes();
        self.pos += 1;
        let mut seg = self.pos;
        let mut owned: Option<String> = None;
        loop {
            let Some(&c) = b.get(self.pos) else {
                return Err(Error::Malformed("unterminated quoted string"));
            };
            match c {
                b'"' => {
                    let value = match owned {
                        Some(mut o) => {
                            o.push_str(&s[seg..self.pos]);
                            Cow::Owned(o)
                        }
                        None => Cow::Borrowed(&s[seg..self.pos]),
                    };
                    self.pos += 1;
                    return Ok(value);
                }
                b'\\' => {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&s[seg..self.pos]);
                    self.pos += 1;
                    // `pos` follows an ASCII byte, so it is a char boundary.
                    let Some(ch) = s.get(self.pos..).and_then(|t| t.chars().next()) else {
                        return Err(Error::Malformed("unterminated quoted string"));
                    };
                    o.push(ch);
                    self.pos += ch.len_utf8();
                    seg = self.pos;
                }
                _ => self.pos += 1,
            }
        }
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<(&'a str, Cow<'a, str>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let s = self.s;
        let b = s.as_bytes();
        // Empty list elements are allowed by the `#rule`.
        loop {
            self.skip_lws();
            if b.get(self.pos) == Some(&b',') {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos >= b.len() {
            self.done = true;
            return None;
        }
        let start = self.pos;
        while self.pos < b.len() && is_tchar(b[self.pos]) {
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail("expected a parameter name");
        }
        let name = &s[start..self.pos];
        self.skip_lws();
        if b.get(self.pos) != Some(&b'=') {
            return self.fail("expected '='");
        }
        self.pos += 1;
        self.skip_lws();
        let value = if b.get(self.pos) == Some(&b'"') {
            match self.quoted() {
                Ok(v) => v,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        } else {
            let vstart = self.pos;
            while self.pos < b.len() && !is_lws(b[self.pos]) && !matches!(b[self.pos], b',' | b'"')
            {
                self.pos += 1;
            }
            if self.pos == vstart {
                return self.fail("expected a parameter value");
            }
            // Stops only at ASCII bytes, so both ends are char boundaries.
            Cow::Borrowed(&s[vstart..self.pos])
        };
        self.skip_lws();
        if self.pos < b.len() && b[self.pos] != b',' {
            return self.fail("expected ','");
        }
        Some(Ok((name, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 7616 §3.9.1: note qop=auth and uri=/dir/index.html with method GET.
    const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    #[test]
    fn rfc7616_md5_vector() {
        let r = digest_response(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            RFC7616_NONCE,
            1,
            RFC7616_CNONCE,
            Some("auth"),
        );
        assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc7616_sha256_vector() {
        let r = digest_response(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            RFC7616_NONCE,
            1,
            RFC7616_CNONCE,
            Some("auth"),
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc2617_vector() {
        // RFC 2617 §3.5: password "Circle Of Life" (capital O), unlike RFC 7616.
        let r = digest_response(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            1,
            "0a4f113b",
            Some("auth"),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_challenge_to_authorization() {
        let challenge = r#"Digest
            realm="http-auth@example.org",
            qop="auth, auth-int",
            algorithm=SHA-256,
            nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        let auth = build_authorization(
            challenge,
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            RFC7616_CNONCE,
        )
        .expect("answerable");
        let c = parse_authorization(&auth).expect("parses");
        assert_eq!(
            c.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(c.nc.as_deref(), Some("00000001"));
        assert_eq!(
            c.opaque.as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        assert_eq!(c.algorithm.as_deref(), Some("SHA-256"));
    }

    #[test]
    fn rfc2069_form_without_qop() {
        let auth = build_authorization(
            r#"Digest realm="r", nonce="n""#,
            "u",
            "p",
            "REGISTER",
            "sip:r",
            1,
            "c",
        )
        .expect("answerable");
        let c = parse_authorization(&auth).expect("parses");
        assert_eq!(c.qop, None);
        let ha1 = hash(HashKind::Md5, &[b"u", b"r", b"p"]);
        let ha2 = hash(HashKind::Md5, &[b"REGISTER", b"sip:r"]);
        let expect = hash(HashKind::Md5, &[ha1.as_bytes(), b"n", ha2.as_bytes()]);
        assert_eq!(c.response, expect.as_str());
    }

    #[test]
    fn sess_variant_rehashes_ha1() {
        let plain = digest_response(
            Algorithm::Md5,
            "u",
            "r",
            "p",
            "REGISTER",
            "sip:r",
            "n",
            1,
            "c",
            Some("auth"),
        );
        let sess = digest_response(
            Algorithm::Md5Sess,
            "u",
            "r",
            "p",
            "REGISTER",
            "sip:r",
            "n",
            1,
            "c",
            Some("auth"),
        );
        assert_ne!(plain, sess);
        assert_eq!(sess.len(), 32);
    }

    #[test]
    fn client_refuses_what_it_cannot_answer() {
        let no_auth_qop = r#"Digest realm="r", nonce="n", qop="auth-int""#;
        assert_eq!(
            build_authorization(no_auth_qop, "u", "p", "REGISTER", "sip:r", 1, "c"),
            Err(Error::Unsupported("qop"))
        );
        let alg = r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#;
        assert_eq!(
            build_authorization(alg, "u", "p", "REGISTER", "sip:r", 1, "c"),
            Err(Error::Unsupported("algorithm"))
        );
        assert_eq!(
            build_authorization(r#"Basic realm="r""#, "u", "p", "REGISTER", "sip:r", 1, "c"),
            Err(Error::NotDigest)
        );
    }

    #[test]
    fn parser_handles_escapes_case_order_and_tokens() {
        let v = r#"digest  RESPONSE="abc",URI="sip:x" , nc=00000002,qop=auth,
             username="al\"ice\\", Realm="r", nonce="n", cnonce="c", unknown=token, algorithm=md5"#;
        let c = parse_authorization(v).expect("parses");
        assert_eq!(c.username, "al\"ice\\");
        assert!(matches!(c.username, Cow::Owned(_)));
        assert!(matches!(c.realm, Cow::Borrowed(_)));
        assert_eq!(c.response, "abc");
        assert_eq!(c.uri, "sip:x");
        assert_eq!(c.nc.as_deref(), Some("00000002"));
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(c.algorithm.as_deref(), Some("md5"));
        assert!(!c.userhash);
    }

    #[test]
    fn parser_rejects_broken_values() {
        let cases = [
            ("Basic dXNlcjpwYXNz", Error::NotDigest),
            ("", Error::NotDigest),
            ("Digest", Error::Malformed("no parameters")),
            (
                r#"Digest username="a"#,
                Error::Malformed("unterminated quoted string"),
            ),
            (
                r#"Digest username="a\"#,
                Error::Malformed("unterminated quoted string"),
            ),
            (r#"Digest username"#, Error::Malformed("expected '='")),
            (
                r#"Digest =x"#,
                Error::Malformed("expected a parameter name"),
            ),
            (r#"Digest a="x" b="y""#, Error::Malformed("expected ','")),
            (
                r#"Digest a=,b=c"#,
                Error::Malformed("expected a parameter value"),
            ),
            (
                r#"Digest username="a", realm="r", nonce="n", uri="u", response="x", realm="s""#,
                Error::Malformed("duplicate parameter"),
            ),
            (
                r#"Digest realm="r", nonce="n", uri="u", response="x""#,
                Error::Malformed("missing username"),
            ),
        ];
        for (input, err) in cases {
            assert_eq!(parse_authorization(input).err(), Some(err), "{input}");
        }
    }

    #[test]
    fn parser_keeps_non_ascii_quoted_text() {
        let c = parse_authorization(
            "Digest username=\"jos\u{e9}\\\u{e9}\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\"",
        )
        .expect("parses");
        assert_eq!(c.username, "jos\u{e9}\u{e9}");
    }

    #[test]
    fn nc_parsing_is_strict() {
        assert_eq!(parse_nc("00000001"), Some(1));
        assert_eq!(parse_nc("0000000A"), Some(10));
        assert_eq!(parse_nc("1"), None);
        assert_eq!(parse_nc("+0000001"), None);
        assert_eq!(parse_nc("0000000g"), None);
        assert_eq!(NcText::new(0xab).as_bytes(), b"000000ab");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,300}") {
            let _ = parse_authorization(&s);
            let _ = parse_challenge(&s);
            let with_scheme = format!("Digest {s}");
            let _ = parse_authorization(&with_scheme);
            let _ = parse_challenge(&with_scheme);
        }

        #[test]
        fn parsers_never_panic_on_digest_like_input(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("=".to_string()), Just(",".to_string()), Just("\"".to_string()),
                    Just("\\".to_string()), Just(" ".to_string()), Just("username".to_string()),
                    Just("\u{e9}".to_string()), "[a-z]{1,4}".prop_map(|s| s),
                ],
                0..40,
            )
        ) {
            let s = format!("Digest {}", parts.concat());
            let _ = parse_authorization(&s);
            let _ = parse_challenge(&s);
        }

        #[test]
        fn quoting_round_trips(v in ".{0,40}") {
            let mut header = String::from("Digest username=");
            push_quoted(&mut header, &v);
            header.push_str(r#", realm="r", nonce="n", uri="u", response="x""#);
            let c = parse_authorization(&header).expect("own output parses");
            prop_assert_eq!(c.username.as_ref(), v.as_str());
        }
    }
}
