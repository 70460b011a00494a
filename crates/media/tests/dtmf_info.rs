//! SIP INFO DTMF bodies as phones and gateways send them, formatting variations generated,
//! and hostile bytes.

use media::dtmf::info::{body_kind, parse_info, InfoBodyKind, InfoDigit};
use proptest::prelude::*;

/// Content type, body, and the key and duration expected.
type Case = (&'static str, &'static [u8], Option<(char, Option<u32>)>);

#[test]
fn bodies_seen_from_real_stacks() {
    let cases: [Case; 8] = [
        // Cisco IOS / CUCM.
        (
            "application/dtmf-relay",
            b"Signal=1\r\nDuration=100\r\n",
            Some(('1', Some(100))),
        ),
        // Asterisk chan_sip / PJSIP when sending.
        (
            "application/dtmf-relay",
            b"Signal=#\r\nDuration=250\r\n",
            Some(('#', Some(250))),
        ),
        // Spaces after '=' (several desk phones).
        (
            "application/dtmf-relay",
            b"Signal= 8\r\nDuration= 160\r\n",
            Some(('8', Some(160))),
        ),
        // LF only, no trailing newline.
        (
            "application/dtmf-relay",
            b"Signal=0\nDuration=200",
            Some(('0', Some(200))),
        ),
        // Event numbers for star and pound.
        (
            "application/dtmf-relay",
            b"Signal=10\r\nDuration=160\r\n",
            Some(('*', Some(160))),
        ),
        (
            "application/dtmf-relay",
            b"Signal=11\r\nDuration=160\r\n",
            Some(('#', Some(160))),
        ),
        // application/dtmf: the key alone.
        ("application/dtmf", b"7", Some(('7', None))),
        // Hook flash: not a key.
        (
            "application/dtmf-relay",
            b"Signal=!\r\nDuration=100\r\n",
            None,
        ),
    ];
    for (ct, body, want) in cases {
        let got = parse_info(ct, body).map(|d| (d.digit, d.duration_ms));
        assert_eq!(got, want, "{ct} {:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn content_type_forms() {
    assert_eq!(
        body_kind("application/dtmf-relay"),
        Some(InfoBodyKind::DtmfRelay)
    );
    assert_eq!(
        body_kind(" APPLICATION / DTMF-RELAY ;q=1"),
        Some(InfoBodyKind::DtmfRelay)
    );
    assert_eq!(body_kind("application/dtmf"), Some(InfoBodyKind::Dtmf));
    assert_eq!(body_kind("application/dtmf-relayx"), None);
    assert_eq!(body_kind("audio/telephone-event"), None);
    assert_eq!(body_kind("application"), None);
}

/// A key and how a sender might write it.
fn written_signal() -> impl Strategy<Value = (char, String)> {
    let keys: Vec<char> = "0123456789*#ABCD".chars().collect();
    (prop::sample::select(keys), any::<bool>(), any::<bool>()).prop_map(|(key, numeric, lower)| {
        let code = media::dtmf::event_of(key).expect("a key");
        let text = if numeric && code >= 10 {
            code.to_string()
        } else if lower {
            key.to_ascii_lowercase().to_string()
        } else {
            key.to_string()
        };
        (key, text)
    })
}

proptest! {
    #[test]
    fn formatted_relay_bodies_parse_back(
        (key, signal) in written_signal(),
        duration in prop::option::of(1u32..100_000),
        crlf: bool,
        upper_keys: bool,
        pad in prop::sample::select(vec!["", " ", "  ", "\t"]),
        duration_first: bool,
        trailing_newline: bool,
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let name = |n: &str| if upper_keys { n.to_ascii_uppercase() } else { n.to_string() };
        let signal_line = format!("{}{pad}={pad}{signal}", name("Signal"));
        let mut lines = vec![signal_line];
        if let Some(d) = duration {
            let line = format!("{}{pad}={pad}{d}", name("Duration"));
            if duration_first { lines.insert(0, line) } else { lines.push(line) }
        }
        let mut body = lines.join(eol);
        if trailing_newline {
            body.push_str(eol);
        }
        prop_assert_eq!(
            parse_info("application/dtmf-relay", body.as_bytes()),
            Some(InfoDigit { digit: key, duration_ms: duration })
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256), relay: bool) {
        let ct = if relay { "application/dtmf-relay" } else { "application/dtmf" };
        if let Some(d) = parse_info(ct, &body) {
            prop_assert!("0123456789*#ABCD".contains(d.digit));
        }
    }
}
