//! SDP parsing, printing and the relay's offer/answer edits, on real-world shaped bodies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use media::sdp::{codecs, intersect, rewrite, with_codecs, Attribute, Codec, Direction, Line, Sdp};
use proptest::prelude::*;

const LINPHONE: &str = "v=0\r\n\
o=alice 3089 1723 IN IP4 192.168.1.23\r\n\
s=Talk\r\n\
c=IN IP4 192.168.1.23\r\n\
t=0 0\r\n\
a=ice-pwd:0c2a8b5e2c4a5f1d\r\n\
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
m=audio 7078 RTP/AVP 96 97 98 0 8 101 99 100\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:97 speex/16000\r\n\
a=fmtp:97 vbr=on\r\n\
a=rtpmap:98 speex/8000\r\n\
a=rtpmap:101 telephone-event/48000\r\n\
a=rtpmap:99 telephone-event/16000\r\n\
a=rtpmap:100 telephone-event/8000\r\n\
a=rtcp:7079\r\n\
a=rtcp-fb:* trr-int 1000\r\n";

const BARESIP: &str = "v=0\r\n\
o=- 1209354870 2398716433 IN IP6 2001:db8::17\r\n\
s=-\r\n\
c=IN IP6 2001:db8::17\r\n\
t=0 0\r\n\
m=audio 18410 RTP/AVP 96 0 8 101\r\n\
b=AS:61\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1;useinbandfec=1\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=rtcp-mux\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=label:1\r\n";

// Polycom: static types only (no rtpmap for 0/8/18), LF line ends.
const POLYCOM: &str = "v=0\n\
o=- 1617276234 1617276234 IN IP4 10.0.0.51\n\
s=Polycom IP Phone\n\
c=IN IP4 10.0.0.51\n\
t=0 0\n\
a=sendrecv\n\
m=audio 2222 RTP/AVP 9 0 8 18 127\n\
a=rtpmap:127 telephone-event/8000\n\
a=fmtp:18 annexb=no\n";

// A carrier answer: PCMA only, media-level c=, hold with sendonly, video declined.
const CARRIER: &str = "v=0\r\n\
o=CARRIER 86021 86022 IN IP4 203.0.113.10\r\n\
s=SBC call\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 8 101\r\n\
c=IN IP4 203.0.113.77\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:40\r\n\
a=sendonly\r\n\
m=video 0 RTP/AVP 99\r\n";

fn parse(s: &str) -> Sdp {
    match Sdp::parse(Bytes::copy_from_slice(s.as_bytes())) {
        Ok(sdp) => sdp,
        Err(e) => panic!("{e}"),
    }
}

fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

#[test]
fn real_world_bodies_print_back_byte_for_byte() {
    for body in [LINPHONE, BARESIP, POLYCOM, CARRIER] {
        assert_eq!(parse(body).to_string(), crlf(body));
    }
}

#[test]
fn linphone_fields() {
    let sdp = parse(LINPHONE);
    assert_eq!(sdp.version().map(|v| v.as_ref()), Some(&b"0"[..]));
    assert_eq!(sdp.session_name().map(|v| v.as_ref()), Some(&b"Talk"[..]));
    let origin = sdp.origin().expect("o= line");
    assert_eq!(origin.username.as_ref(), b"alice");
    assert_eq!(origin.session_version.as_ref(), b"1723");
    assert!(sdp.session.contains(&Line::Timing { start: 0, stop: 0 }));
    assert_eq!(
        sdp.audio_addr(),
        Some(SocketAddr::from(([192, 168, 1, 23], 7078)))
    );
    let audio = sdp.audio().expect("audio");
    assert_eq!(audio.media.proto.as_ref(), b"RTP/AVP");
    assert_eq!(audio.rtcp_port(), Some(7079));
    assert!(!audio.rtcp_mux());
    let c = codecs(&sdp);
    let names: Vec<_> = c
        .iter()
        .map(|c| (c.pt, c.name.clone(), c.clock_rate))
        .collect();
    assert_eq!(names.len(), 8);
    assert_eq!(c[0].name.as_ref(), b"opus");
    assert_eq!(c[0].channels, 2);
    assert_eq!(c[0].fmtp.as_deref(), Some(&b"useinbandfec=1"[..]));
    assert_eq!((c[3].pt, c[3].name.as_ref()), (0, &b"PCMU"[..]));
    assert_eq!((c[4].pt, c[4].name.as_ref()), (8, &b"PCMA"[..]));
    assert!(c[5].is_telephone_event());
    assert_eq!(sdp.direction(), Direction::SendRecv);
}

#[test]
fn baresip_ipv6_rtcp_mux() {
    let sdp = parse(BARESIP);
    let v6: Ipv6Addr = "2001:db8::17".parse().expect("literal");
    assert_eq!(sdp.connection(), Some(IpAddr::V6(v6)));
    assert_eq!(
        sdp.audio_addr(),
        Some(SocketAddr::new(IpAddr::V6(v6), 18410))
    );
    let audio = sdp.audio().expect("audio");
    assert!(audio.rtcp_mux());
    assert!(audio.attributes().any(|a| *a == Attribute::Ptime(20)));
    let opus = &codecs(&sdp)[0];
    assert_eq!(
        opus.fmtp.as_deref(),
        Some(&b"stereo=1;sprop-stereo=1;useinbandfec=1"[..])
    );
}

#[test]
fn polycom_static_payload_types() {
    let sdp = parse(POLYCOM);
    let c = codecs(&sdp);
    let got: Vec<_> = c
        .iter()
        .map(|c| {
            (
                c.pt,
                String::from_utf8_lossy(&c.name).into_owned(),
                c.clock_rate,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (9, "G722".to_owned(), 8000),
            (0, "PCMU".to_owned(), 8000),
            (8, "PCMA".to_owned(), 8000),
            (18, "G729".to_owned(), 8000),
            (127, "telephone-event".to_owned(), 8000),
        ]
    );
    assert_eq!(c[3].fmtp.as_deref(), Some(&b"annexb=no"[..]));
    // Session-level direction applies to the audio section.
    assert_eq!(sdp.direction(), Direction::SendRecv);
}

#[test]
fn carrier_media_level_connection_and_hold() {
    let sdp = parse(CARRIER);
    assert_eq!(sdp.connection(), None);
    assert_eq!(
        sdp.audio_addr(),
        Some(SocketAddr::from(([203, 0, 113, 77], 40000)))
    );
    assert_eq!(sdp.direction(), Direction::SendOnly);
    assert_eq!(sdp.media[1].media.port, 0);
}

#[test]
fn rewrite_anchors_ipv4_with_rtcp_port() {
    let ours = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    let out = rewrite(&parse(LINPHONE), ours, 20000, false);
    assert_eq!(out.connection(), Some(ours));
    assert_eq!(out.audio_addr(), Some(SocketAddr::new(ours, 20000)));
    let audio = out.audio().expect("audio");
    assert_eq!(audio.rtcp_port(), Some(20001));
    assert!(!audio.rtcp_mux());
    // Nothing else changed: same codecs, same o= version, same unknown lines.
    assert_eq!(codecs(&out), codecs(&parse(LINPHONE)));
    let text = out.to_string();
    assert!(text.contains("o=alice 3089 1723 IN IP4 192.168.1.23\r\n"));
    assert!(text.contains("a=rtcp-fb:* trr-int 1000\r\n"));
    assert!(text.contains("c=IN IP4 198.51.100.1\r\n"));
    assert!(!text.contains("c=IN IP4 192.168.1.23"));
    assert_eq!(out.session.len(), parse(LINPHONE).session.len());
}

#[test]
fn rewrite_ipv6_to_ipv4_with_rtcp_mux() {
    let ours = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    let out = rewrite(&parse(BARESIP), ours, 20010, true);
    let text = out.to_string();
    assert!(text.contains("c=IN IP4 198.51.100.1\r\n"));
    assert!(text.contains("m=audio 20010 RTP/AVP 96 0 8 101\r\n"));
    assert_eq!(text.matches("a=rtcp-mux").count(), 1);
    assert!(!text.contains("a=rtcp:"));
}

#[test]
fn rewrite_to_ipv6_and_between_mux_modes() {
    let ours: IpAddr = "2001:db8::1".parse().expect("literal");
    // rtcp-mux offered, relay answers without it: a=rtcp replaces a=rtcp-mux in place.
    let out = rewrite(&parse(BARESIP), ours, 30000, false);
    let text = out.to_string();
    assert!(text.contains("c=IN IP6 2001:db8::1\r\n"));
    assert!(text.contains("a=rtcp:30001\r\na=ptime:20\r\n"));
    assert!(!text.contains("rtcp-mux"));
    // Media-level c= is rewritten too; the video section is declined.
    let out = rewrite(&parse(CARRIER), ours, 30002, true);
    assert_eq!(out.audio_addr(), Some(SocketAddr::new(ours, 30002)));
    assert_eq!(out.media[1].media.port, 0);
    assert!(out
        .to_string()
        .ends_with("a=sendonly\r\na=rtcp-mux\r\nm=video 0 RTP/AVP 99\r\n"));
}

#[test]
fn intersect_keeps_offer_order_and_telephone_event() {
    let offer = parse(LINPHONE);
    let ours = [
        Codec::new(8, "PCMA", 8000, 1),
        Codec::new(0, "PCMU", 8000, 1),
        Codec::new(111, "OPUS", 48000, 2),
    ];
    let kept = intersect(&offer, &ours);
    let got: Vec<_> = kept.iter().map(|c| c.pt).collect();
    // opus (96) first as offered, then PCMU, PCMA, then the three telephone-events.
    assert_eq!(got, [96, 0, 8, 101, 99, 100]);
    assert_eq!(kept[0].fmtp.as_deref(), Some(&b"useinbandfec=1"[..]));

    let pcma_only = intersect(&parse(CARRIER), &[Codec::new(96, "opus", 48000, 2)]);
    assert_eq!(pcma_only.iter().map(|c| c.pt).collect::<Vec<_>>(), [101]);
}

#[test]
fn with_codecs_filters_formats_and_attributes() {
    let offer = parse(LINPHONE);
    let kept = intersect(&offer, &[Codec::new(8, "PCMA", 8000, 1)]);
    let out = with_codecs(&offer, &kept);
    let text = out.to_string();
    assert!(text.contains("m=audio 7078 RTP/AVP 8 101 99 100\r\n"));
    assert!(!text.contains("opus"));
    assert!(!text.contains("speex"));
    assert!(text.contains("a=rtpmap:101 telephone-event/48000\r\n"));
    assert_eq!(codecs(&out), kept);
}

#[test]
fn hold_and_resume() {
    let sdp = parse(POLYCOM);
    let held = sdp.with_direction(Direction::SendOnly);
    assert_eq!(held.direction(), Direction::SendOnly);
    let text = held.to_string();
    assert_eq!(text.matches("a=sendonly").count(), 1);
    assert!(!text.contains("a=sendrecv"));
    let resumed = parse(CARRIER).with_direction(Direction::SendRecv);
    assert_eq!(resumed.direction(), Direction::SendRecv);
    assert!(!resumed.to_string().contains("sendonly"));
    // The video section got one too.
    assert_eq!(resumed.to_string().matches("a=sendrecv").count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Properties

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9.+-]{1,8}"
}

fn attribute() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..128, token(), 1u32..100_000).prop_map(|(pt, n, r)| format!("a=rtpmap:{pt} {n}/{r}")),
        (0u8..128, token(), 1u32..100_000, 1u16..9)
            .prop_map(|(pt, n, r, c)| format!("a=rtpmap:{pt} {n}/{r}/{c}")),
        (0u8..128, "[a-z0-9=;-]{1,20}").prop_map(|(pt, p)| format!("a=fmtp:{pt} {p}")),
        (1u32..200).prop_map(|p| format!("a=ptime:{p}")),
        prop_oneof![
            Just("a=sendrecv".to_owned()),
            Just("a=sendonly".to_owned()),
            Just("a=recvonly".to_owned()),
            Just("a=inactive".to_owned()),
            Just("a=rtcp-mux".to_owned()),
        ],
        any::<u16>().prop_map(|p| format!("a=rtcp:{p}")),
        (any::<u16>(), any::<[u8; 4]>())
            .prop_map(|(p, ip)| format!("a=rtcp:{p} IN IP4 {}", Ipv4Addr::from(ip))),
        (token(), proptest::option::of("[ -~]{0,20}")).prop_map(|(n, v)| match v {
            Some(v) => format!("a=x-{n}:{v}"),
            None => format!("a=x-{n}"),
        }),
    ]
}

fn connection() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|ip| format!("c=IN IP4 {}", Ipv4Addr::from(ip))),
        any::<[u8; 16]>().prop_map(|ip| format!("c=IN IP6 {}", Ipv6Addr::from(ip))),
        any::<[u8; 4]>().prop_map(|ip| format!("c=IN IP4 {}/127", Ipv4Addr::from(ip))),
    ]
}

fn body() -> impl Strategy<Value = String> {
    let session = proptest::collection::vec(
        prop_oneof![
            connection(),
            attribute(),
            Just("t=0 0".to_owned()),
            "b=AS:[0-9]{1,4}"
        ],
        0..5,
    );
    let section = (
        prop_oneof![Just("audio"), Just("video")],
        any::<u16>(),
        proptest::collection::vec(0u8..128, 1..6),
        proptest::collection::vec(prop_oneof![connection(), attribute()], 0..8),
    )
        .prop_map(|(kind, port, fmts, lines)| {
            let fmts: Vec<String> = fmts.iter().map(u8::to_string).collect();
            let mut s = format!("m={kind} {port} RTP/AVP {}\r\n", fmts.join(" "));
            for l in lines {
                s.push_str(&l);
                s.push_str("\r\n");
            }
            s
        });
    (session, proptest::collection::vec(section, 0..3)).prop_map(|(session, media)| {
        let mut s = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\n".to_owned();
        for l in session {
            s.push_str(&l);
            s.push_str("\r\n");
        }
        for m in media {
            s.push_str(&m);
        }
        s
    })
}

proptest! {
    #[test]
    fn print_parse_round_trip(text in body()) {
        let sdp = parse(&text);
        prop_assert_eq!(&sdp.to_string(), &text);
        let again = parse(&sdp.to_string());
        prop_assert_eq!(&again, &sdp);
    }

    #[test]
    fn rewrite_then_parse_agrees(text in body(), port in (0u16..32000).prop_map(|p| p * 2), mux: bool) {
        let sdp = parse(&text);
        let ours = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
        let out = rewrite(&sdp, ours, port, mux);
        let back = parse(&out.to_string());
        prop_assert_eq!(&back, &out);
        if let Some(audio) = back.audio() {
            prop_assert_eq!(audio.media.port, port);
            prop_assert_eq!(audio.rtcp_mux(), mux);
            prop_assert_eq!(audio.rtcp_port(), (!mux).then_some(port + 1));
            prop_assert_eq!(codecs(&back), codecs(&sdp));
        }
        for line in back.session.iter().chain(back.media.iter().flat_map(|m| &m.lines)) {
            if let Line::Connection(c) = line {
                prop_assert_eq!(c.address, ours);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(sdp) = Sdp::parse(Bytes::from(data)) {
            let _ = codecs(&sdp);
            let _ = sdp.audio_addr();
            let out = rewrite(&sdp, IpAddr::V4(Ipv4Addr::LOCALHOST), 20000, false);
            let _ = out.with_direction(Direction::SendOnly).to_string();
        }
    }

    #[test]
    fn mangled_sdp_lines_never_panic(
        text in body(),
        cut in any::<prop::sample::Index>(),
        junk in "[ -~]{0,12}",
    ) {
        let at = cut.index(text.len() + 1);
        let mut mangled = text[..at].to_owned();
        mangled.push_str(&junk);
        mangled.push_str(&text[at..]);
        if let Ok(sdp) = Sdp::parse(Bytes::from(mangled)) {
            // What parses prints back into something that parses to the same thing.
            let again = Sdp::parse(sdp.to_bytes());
            prop_assert_eq!(again.as_ref().ok(), Some(&sdp));
        }
    }
}
