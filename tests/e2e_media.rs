//! End-to-end: media through the running daemon. A caller and an agent phone of our own (SIP
//! over UDP plus an RTP socket each) call through Switchboard; the checks are on what the
//! phones see: SDP anchored on Switchboard's address, RTP relayed both ways from our ports,
//! latching to the address packets really come from, strangers dropped, transcoding, and the
//! media timeout.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::phone::*;
use common::*;

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:{port}"]
domain = "127.0.0.1"

[media]
ip = "127.0.0.1"
rtp_ports = "{rtp_low}-{rtp_high}"
codecs = ["pcma", "pcmu", "opus"]
media_timeout = "{media_timeout}"

[[trunks]]
name = "carrier"
from = ["127.0.0.1/32"]

[[users]]
id = "a1"
password = "pw1"
ring_timeout = "5s"

[[numbers]]
number = "+33100000001"
steps = ["user:a1"]
fallback = "hangup"
"#;

/// Starts the daemon with an RTP range of its own (tests run in parallel).
fn daemon(media_timeout: &str) -> Daemon {
    let (low, high) = rtp_range();
    Daemon::start(
        &CONFIG
            .replace("{rtp_low}", &low.to_string())
            .replace("{rtp_high}", &high.to_string())
            .replace("{media_timeout}", media_timeout),
    )
}

/// An answered call: the caller's INVITE offered `caller_codecs`, the agent answered with
/// `agent_codecs`. Returns (caller, agent, the 200 the caller got, the INVITE the agent got).
struct Call {
    caller: Phone,
    agent: Phone,
    ok: String,
    invite: String,
}

fn call(d: &Daemon, caller_codecs: &[(u8, &str)], agent_codecs: &[(u8, &str)]) -> Call {
    let mut agent = Phone::new("a1");
    let (_, registered) = agent.sip.register(d.addr(), "pw1");
    assert_eq!(status_code(&registered), 200, "{registered}");
    let mut caller = Phone::new("+33611111111");
    let offer = caller.sdp(caller.rtp_port(), caller_codecs);
    let invite = caller.sip.request_with_body(
        "INVITE",
        &format!("sip:+33100000001@{}", d.addr()),
        &[
            format!("Contact: <sip:caller@{}>", caller.sip.local),
            "Content-Type: application/sdp".into(),
        ],
        &offer,
    );
    caller.sip.send_to(d.addr(), &invite).expect("INVITE");
    let to_agent = agent.next(Duration::from_secs(10)).unwrap_or_else(|| {
        let caller_got = caller.next(Duration::from_millis(100));
        panic!(
            "no INVITE to the agent; caller got {caller_got:?}; log:\n{}",
            tail(&d.log(), 60)
        )
    });
    assert!(to_agent.starts_with("INVITE "), "{to_agent}");
    let contact = format!("Contact: <sip:a1@{}>", agent.sip.local);
    let answer = agent.sdp(agent.rtp_port(), agent_codecs);
    let ok = reply(
        &to_agent,
        "200 OK",
        "agent1",
        &[contact, "Content-Type: application/sdp".into()],
        &answer,
    );
    agent.sip.send_to(d.addr(), &ok).expect("200");
    let ack = agent
        .next(Duration::from_secs(5))
        .expect("ACK to the agent");
    assert!(ack.starts_with("ACK "), "{ack}");
    let ok = loop {
        let msg = caller
            .next(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no 200 for the caller; log:\n{}", tail(&d.log(), 40)));
        if msg.starts_with("SIP/2.0 200") {
            break msg;
        }
    };
    let caller_ack = format!(
        "ACK sip:switchboard@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{};rport\r\nMax-Forwards: 70\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        d.addr(),
        caller.sip.local,
        random_token(),
        header(&ok, "From").unwrap_or_default(),
        header(&ok, "To").unwrap_or_default(),
        header(&ok, "Call-ID").unwrap_or_default(),
    );
    caller.sip.send_to(d.addr(), &caller_ack).expect("ACK");
    Call {
        caller,
        agent,
        ok,
        invite: to_agent,
    }
}

const PCMA: (u8, &str) = (8, "PCMA/8000");

#[test]
fn rtp_flows_both_ways_through_switchboards_ports() {
    let d = daemon("60s");
    let c = call(&d, &[PCMA], &[PCMA]);
    let to_caller = sdp_addr(&c.ok);
    let to_agent = sdp_addr(&c.invite);
    assert_eq!(to_caller.ip().to_string(), "127.0.0.1");
    assert_ne!(
        to_caller.port(),
        c.agent.rtp_port(),
        "the caller sees our port"
    );
    assert_ne!(
        to_agent.port(),
        c.caller.rtp_port(),
        "the agent sees our port"
    );
    assert_ne!(to_caller, to_agent, "a port per leg");

    assert!(until_flowing(
        &c.caller.rtp,
        to_caller,
        &c.agent.rtp,
        Duration::from_secs(3)
    ));
    assert!(until_flowing(
        &c.agent.rtp,
        to_agent,
        &c.caller.rtp,
        Duration::from_secs(3)
    ));
    for seq in 0..20u16 {
        let payload = [seq as u8; 160];
        let p = rtp_packet(8, seq, u32::from(seq) * 160, 0x1111, &payload);
        c.caller.rtp.send_to(&p, to_caller).expect("caller rtp");
        let p = rtp_packet(8, 1000 + seq, u32::from(seq) * 160, 0x2222, &payload);
        c.agent.rtp.send_to(&p, to_agent).expect("agent rtp");
        std::thread::sleep(Duration::from_millis(5));
    }
    let at_agent = drain_n(&c.agent.rtp, 20, Duration::from_secs(5));
    let at_caller = drain_n(&c.caller.rtp, 20, Duration::from_secs(5));
    assert_eq!(
        at_agent.len(),
        20,
        "caller → agent; log:\n{}",
        tail(&d.log(), 30)
    );
    assert_eq!(at_caller.len(), 20, "agent → caller");
    // Symmetric: each phone hears us from the address we gave it, byte for byte what was sent.
    assert!(at_agent.iter().all(|(_, from)| *from == to_agent));
    assert!(at_caller.iter().all(|(_, from)| *from == to_caller));
    assert_eq!(at_agent[3].0[12..], [3u8; 160]);
    let heard: Vec<u8> = at_caller.iter().map(|(p, _)| p[12]).collect();
    assert_eq!(
        heard,
        (0..20u8).collect::<Vec<_>>(),
        "in order, payload untouched"
    );
}

#[test]
fn latching_follows_the_real_source_and_strangers_are_dropped() {
    let d = daemon("60s");
    let c = call(&d, &[PCMA], &[PCMA]);
    let to_caller = sdp_addr(&c.ok);
    let to_agent = sdp_addr(&c.invite);
    // The caller is behind a NAT: its packets come from another port than its SDP says.
    let natted = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let stranger = UdpSocket::bind("127.0.0.1:0").expect("bind");
    assert!(until_flowing(
        &natted,
        to_caller,
        &c.agent.rtp,
        Duration::from_secs(3)
    ));
    for seq in 0..5u16 {
        let p = rtp_packet(8, seq, u32::from(seq) * 160, 0xaaaa, &[1; 160]);
        natted.send_to(&p, to_caller).expect("send");
        std::thread::sleep(Duration::from_millis(5));
    }
    for seq in 0..5u16 {
        let p = rtp_packet(8, 500 + seq, 0, 0xbad, &[9; 160]);
        stranger.send_to(&p, to_caller).expect("send");
    }
    for seq in 0..5u16 {
        let p = rtp_packet(8, seq, u32::from(seq) * 160, 0x2222, &[2; 160]);
        c.agent.rtp.send_to(&p, to_agent).expect("send");
        std::thread::sleep(Duration::from_millis(5));
    }
    let at_agent = drain_n(&c.agent.rtp, 5, Duration::from_secs(5));
    assert_eq!(at_agent.len(), 5, "the stranger's packets are dropped");
    assert!(at_agent.iter().all(|(p, _)| p[12] == 1));
    let at_natted = drain_n(&natted, 5, Duration::from_secs(5));
    assert_eq!(
        at_natted.len(),
        5,
        "the agent's audio goes where the caller really is"
    );
    assert!(drain(&c.caller.rtp, Duration::from_millis(100)).is_empty());
    assert!(drain(&stranger, Duration::from_millis(100)).is_empty());
}

#[test]
fn a_silent_call_is_ended_by_the_media_timeout() {
    let d = daemon("2s");
    let mut c = call(&d, &[PCMA], &[PCMA]);
    // Some audio, then silence: the timeout counts from the last packet.
    let p = rtp_packet(8, 1, 160, 0x1111, &[0; 160]);
    c.caller.rtp.send_to(&p, sdp_addr(&c.ok)).expect("rtp");
    let bye_agent = c
        .agent
        .next(Duration::from_secs(10))
        .expect("BYE to the agent");
    let bye_caller = c
        .caller
        .next(Duration::from_secs(5))
        .expect("BYE to the caller");
    assert!(bye_agent.starts_with("BYE "), "{bye_agent}");
    assert!(bye_caller.starts_with("BYE "), "{bye_caller}");
    assert!(d.log().contains("no media for the media timeout"));
}

#[test]
fn a_caller_without_a_common_codec_gets_488() {
    let d = daemon("60s");
    let mut caller = Phone::new("+33611111111");
    let offer = caller.sdp(caller.rtp_port(), &[(18, "G729/8000")]);
    let invite = caller.sip.request_with_body(
        "INVITE",
        &format!("sip:+33100000001@{}", d.addr()),
        &[
            format!("Contact: <sip:caller@{}>", caller.sip.local),
            "Content-Type: application/sdp".into(),
        ],
        &offer,
    );
    let answer = caller.sip.transact(d.addr(), &invite).expect("an answer");
    assert_eq!(status_code(&answer), 488, "{answer}");
}

/// The frequency with the most energy among 100..1000 Hz in 10 Hz steps (Goertzel).
fn dominant_hz(samples: &[i16], rate: f64) -> f64 {
    let mut best = (0.0, 0.0);
    let mut f = 100.0;
    while f <= 1000.0 {
        let w = 2.0 * std::f64::consts::PI * f / rate;
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s0 = f64::from(x) + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
        if power > best.1 {
            best = (f, power);
        }
        f += 10.0;
    }
    best.0
}

fn tone(hz: f64, rate: f64, start: usize, n: usize) -> Vec<i16> {
    (start..start + n)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / rate).sin()) as i16)
        .collect()
}

#[test]
fn a_pcma_caller_and_an_opus_agent_hear_each_other_through_the_transcoder() {
    let d = daemon("60s");
    let c = call(&d, &[PCMA], &[(111, "opus/48000/2")]);
    let to_caller = sdp_addr(&c.ok);
    let to_agent = sdp_addr(&c.invite);
    assert!(
        c.ok.contains("RTP/AVP 8"),
        "the caller keeps PCMA: {}",
        c.ok
    );
    let mut encoder = codec::OpusEncoder::new(&codec::OpusConfig::voip(codec::SampleRate::Hz48000))
        .expect("opus encoder");
    let mut opus = [0u8; 1500];
    // 1 s each way: a 440 Hz tone from the caller (PCMA), 660 Hz from the agent (Opus).
    for i in 0..50usize {
        let pcm = tone(440.0, 8000.0, i * 160, 160);
        let mut alaw = [0u8; 160];
        codec::G711Law::Alaw.encode(&pcm, &mut alaw).expect("alaw");
        let p = rtp_packet(8, i as u16, (i * 160) as u32, 0x1111, &alaw);
        c.caller.rtp.send_to(&p, to_caller).expect("caller rtp");
        let pcm = tone(660.0, 48000.0, i * 960, 960);
        let n = encoder.encode(&pcm, &mut opus).expect("encode");
        let p = rtp_packet(111, i as u16, (i * 960) as u32, 0x2222, &opus[..n]);
        c.agent.rtp.send_to(&p, to_agent).expect("agent rtp");
        std::thread::sleep(Duration::from_millis(20));
    }
    let at_agent = drain_n(&c.agent.rtp, 45, Duration::from_secs(5));
    let at_caller = drain_n(&c.caller.rtp, 45, Duration::from_secs(5));
    assert!(
        at_agent.len() > 30,
        "{} Opus packets; log:\n{}",
        at_agent.len(),
        tail(&d.log(), 30)
    );
    assert!(at_caller.len() > 30, "{} PCMA packets", at_caller.len());
    assert!(
        at_agent.iter().all(|(p, _)| p[1] & 0x7f == 111),
        "Opus to the agent"
    );
    assert!(
        at_caller.iter().all(|(p, _)| p[1] & 0x7f == 8),
        "PCMA to the caller"
    );

    let mut decoder = codec::OpusDecoder::new(codec::SampleRate::Hz48000).expect("decoder");
    let mut heard = Vec::new();
    let mut frame = vec![0i16; 5760];
    for (p, _) in &at_agent {
        let n = decoder.decode(&p[12..], &mut frame).expect("decode");
        heard.extend_from_slice(&frame[..n]);
    }
    // Skip the codec's start-up, then find the tone.
    let heard = &heard[heard.len() / 4..];
    let f = dominant_hz(heard, 48000.0);
    assert!((f - 440.0).abs() <= 20.0, "the agent hears {f} Hz");

    let mut heard = Vec::new();
    for (p, _) in &at_caller {
        let mut pcm = vec![0i16; p.len() - 12];
        codec::G711Law::Alaw
            .decode(&p[12..], &mut pcm)
            .expect("alaw");
        heard.extend_from_slice(&pcm);
    }
    let heard = &heard[heard.len() / 4..];
    let f = dominant_hz(heard, 8000.0);
    assert!((f - 660.0).abs() <= 20.0, "the caller hears {f} Hz");
}
