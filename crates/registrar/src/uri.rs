//! SIP URI equality (RFC 3261 §19.1.4), enough to tell whether two contacts are one binding.
//!
//! - scheme and host compare case-insensitively; userinfo case-sensitively; `%XX` escapes
//!   compare equal to the characters they stand for (in userinfo, parameters and headers);
//! - a port matches only the same port: `sip:a@h` ≠ `sip:a@h:5060`;
//! - a parameter present in both must match (case-insensitively); `user`, `ttl`, `method`
//!   and `maddr` must be in both or neither; any other parameter in only one is ignored;
//! - `?headers` must be the same set on both sides.
//!
//! The relation is not transitive (ignored parameters), so it cannot be a hash key: callers
//! compare pairwise, which is cheap for the handful of bindings an AOR has. Nothing here
//! allocates. Text that is not a `sip:`/`sips:` URI compares byte for byte.

/// Whether two contact URIs designate the same resource.
pub fn uri_eq(a: &str, b: &str) -> bool {
    // Identical text (the usual refresh) is equal under every rule below.
    if a == b {
        return true;
    }
    match (SipUri::parse(a), SipUri::parse(b)) {
        (Some(x), Some(y)) => x.eq(&y),
        _ => a == b,
    }
}

struct SipUri<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    host: &'a str,
    port: Option<&'a str>,
    params: &'a str,
    headers: &'a str,
}

impl<'a> SipUri<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        let s = s.trim();
        let (scheme, rest) = s.split_once(':')?;
        if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
            return None;
        }
        let (rest, headers) = rest.split_once('?').unwrap_or((rest, ""));
        let (userinfo, rest) = match rest.split_once('@') {
            Some((u, r)) => (Some(u), r),
            None => (None, rest),
        };
        let (hostport, params) = rest.split_once(';').unwrap_or((rest, ""));
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return None;
        }
        Some(Self {
            scheme,
            userinfo,
            host,
            port,
            params,
            headers,
        })
    }

    fn eq(&self, other: &Self) -> bool {
        self.scheme.eq_ignore_ascii_case(other.scheme)
            && match (self.userinfo, other.userinfo) {
                (Some(a), Some(b)) => unescaped_eq(a, b, false),
                (None, None) => true,
                _ => false,
            }
            && self.host.eq_ignore_ascii_case(other.host)
            && ports_eq(self.port, other.port)
            && params_eq(self.params, other.params)
            && headers_eq(self.headers, other.headers)
    }
}

/// Splits `host[:port]`, with IPv6 references in brackets.
fn split_host_port(hp: &str) -> Option<(&str, Option<&str>)> {
    if hp.starts_with('[') {
        let close = hp.find(']')?;
        let (host, rest) = hp.split_at(close + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    Some(match hp.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hp, None),
    })
}

fn ports_eq(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(x), Ok(y)) => x == y,
            _ => a == b,
        },
        _ => false,
    }
}

fn split_param(p: &str) -> (&str, &str) {
    p.split_once('=').unwrap_or((p, ""))
}

fn find_param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params
        .split(';')
        .filter(|p| !p.is_empty())
        .map(split_param)
        .find(|(n, _)| unescaped_eq(n, name, true))
        .map(|(_, v)| v)
}

fn params_eq(a: &str, b: &str) -> bool {
    const MUST_BE_IN_BOTH: [&str; 4] = ["user", "ttl", "method", "maddr"];
    let one_way = |x: &str, y: &str| {
        x.split(';').filter(|p| !p.is_empty()).map(split_param).all(
            |(name, value)| match find_param(y, name) {
                Some(other) => unescaped_eq(value, other, true),
                None => !MUST_BE_IN_BOTH.iter().any(|m| unescaped_eq(name, m, true)),
            },
        )
    };
    one_way(a, b) && one_way(b, a)
}

fn headers_eq(a: &str, b: &str) -> bool {
    let one_way = |x: &str, y: &str| {
        x.split('&').filter(|h| !h.is_empty()).all(|h| {
            let (name, value) = split_param(h);
            y.split('&')
                .filter(|h| !h.is_empty())
                .map(split_param)
                .any(|(n, v)| unescaped_eq(n, name, true) && unescaped_eq(v, value, false))
        })
    };
    one_way(a, b) && one_way(b, a)
}

/// Compares two strings after `%XX` decoding, optionally ignoring ASCII case.
fn unescaped_eq(a: &str, b: &str, ignore_case: bool) -> bool {
    let mut x = Unescape(a.as_bytes());
    let mut y = Unescape(b.as_bytes());
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(c), Some(d)) => {
                let same = if ignore_case {
                    c.eq_ignore_ascii_case(&d)
                } else {
                    c == d
                };
                if !same {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Iterator over the bytes of a string with `%XX` escapes decoded (a bad escape is kept).
struct Unescape<'a>(&'a [u8]);

impl Iterator for Unescape<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        if first == b'%' {
            if let [h, l, tail @ ..] = rest {
                if let (Some(h), Some(l)) = (hex_val(*h), hex_val(*l)) {
                    self.0 = tail;
                    return Some(h << 4 | l);
                }
            }
        }
        self.0 = rest;
        Some(first)
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::uri_eq;

    #[test]
    fn rfc3261_equivalent_pairs() {
        // RFC 3261 §19.1.4 examples that are equivalent.
        let pairs = [
            (
                "sip:%61lice@atlanta.com;transport=TCP",
                "sip:alice@AtLanTa.CoM;Transport=tcp",
            ),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
            (
                "sip:carol@chicago.com;newparam=5",
                "sip:carol@chicago.com;security=on",
            ),
            (
                "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
            ),
            (
                "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
            ),
            ("SIP:bob@[2001:db8::1]:5070", "sip:bob@[2001:DB8::1]:5070"),
        ];
        for (a, b) in pairs {
            assert!(uri_eq(a, b), "{a} == {b}");
            assert!(uri_eq(b, a), "{b} == {a}");
        }
    }

    #[test]
    fn rfc3261_different_pairs() {
        let pairs = [
            (
                "SIP:ALICE@AtLanTa.CoM;Transport=udp",
                "sip:alice@AtLanTa.CoM;Transport=UDP",
            ),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            (
                "sip:bob@biloxi.com",
                "sip:bob@biloxi.com;transport=udp;user=phone",
            ),
            (
                "sip:bob@biloxi.com:6000;transport=tcp",
                "sip:bob@biloxi.com:5060;transport=tcp",
            ),
            (
                "sip:carol@chicago.com",
                "sip:carol@chicago.com?Subject=next%20meeting",
            ),
            ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
            (
                "sip:carol@chicago.com?Subject=next%20meeting",
                "sip:carol@chicago.com?Subject=NEXT%20MEETING",
            ),
            ("sip:a@h;maddr=239.255.255.1", "sip:a@h"),
            ("sip:a@h;transport=tcp", "sip:a@h;transport=udp"),
            ("sips:a@h", "sip:a@h"),
            ("sip:a@[2001:db8::1]:5060", "sip:a@[2001:db8::1]"),
        ];
        for (a, b) in pairs {
            assert!(!uri_eq(a, b), "{a} != {b}");
            assert!(!uri_eq(b, a), "{b} != {a}");
        }
    }

    #[test]
    fn non_sip_text_compares_exactly() {
        assert!(uri_eq("tel:+331000", "tel:+331000"));
        assert!(!uri_eq("tel:+331000", "TEL:+331000"));
        assert!(!uri_eq("garbage", "sip:a@h"));
        assert!(uri_eq("", ""));
        assert!(
            uri_eq("sip:", "sip:"),
            "empty host is not a SIP URI, but equal bytes"
        );
        assert!(!uri_eq("sip:", "SIP:"));
    }

    #[test]
    fn odd_escapes_do_not_panic() {
        assert!(uri_eq("sip:a%@h", "sip:a%@h"));
        assert!(!uri_eq("sip:a%4@h", "sip:a%41@h"));
        assert!(uri_eq("sip:\u{e9}%C3%A9@h", "sip:%C3%A9\u{e9}@h"));
    }
}
