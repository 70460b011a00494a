//! The relay's media work on loopback, through `RelayHandle`: prompts, transcoding, DTMF.
//!
//! UDP sockets play the phones. Every wait is bounded by `PATIENCE`; nothing asserts how fast
//! anything happened, only what arrived and in which order.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use codec::{G711Law, OpusConfig, OpusDecoder, OpusEncoder, SampleRate};
use media::dtmf::TelephoneEvent;
use media::player::Prompt;
use media::ports::PortAllocator;
use media::relay::io::{LegMedia, OpenSession, RelayHandle, RelayIoConfig, SessionId};
use media::relay::rtp::RtpHeader;
use media::relay::{Leg, LegConfig, RelayConfig, RelayEvent};
use media::sdp::Codec;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Bound on every wait, so a broken relay fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a phone listens after the last packet it expects could have come.
const QUIET: Duration = Duration::from_millis(400);
const FRAME: Duration = Duration::from_millis(20);
const TONE_HZ: f64 = 440.0;

const PCMA: u8 = 8;
const OPUS: u8 = 111;
const TE_A: u8 = 101;
const TE_B: u8 = 100;

fn allocator() -> PortAllocator {
    PortAllocator::new(LOCAL, 42000..=42999).expect("valid range")
}

fn tone(rate: u32, start: usize, len: usize) -> Vec<i16> {
    (start..start + len)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (9000.0 * (2.0 * std::f64::consts::PI * TONE_HZ * t).sin()) as i16
        })
        .collect()
}

/// The frequency between 200 and 1000 Hz with the most energy (10 Hz steps).
fn dominant_hz(pcm: &[i16], rate: u32) -> f64 {
    let power = |hz: f64| {
        let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &x) in pcm.iter().enumerate() {
            re += f64::from(x) * (w * i as f64).cos();
            im += f64::from(x) * (w * i as f64).sin();
        }
        re * re + im * im
    };
    (20..=100)
        .map(|k| f64::from(k) * 10.0)
        .map(|hz| (hz, power(hz)))
        .fold((0.0, 0.0), |best, c| if c.1 > best.1 { c } else { best })
        .0
}

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A received packet's header fields and payload.
#[derive(Debug)]
struct Got {
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
    at: Instant,
}

/// Reads packets until none comes for `QUIET` (or `PATIENCE` for the first one).
async fn listen(sock: &UdpSocket, want_first: bool) -> Vec<Got> {
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        let wait = if got.is_empty() && want_first {
            PATIENCE
        } else {
            QUIET
        };
        let Ok(r) = timeout(wait, sock.recv_from(&mut buf)).await else {
            return got;
        };
        let (n, _) = r.expect("recv");
        let h = RtpHeader::parse(&buf[..n]).expect("the relay sends valid RTP");
        got.push(Got {
            marker: h.marker(),
            pt: h.payload_type(),
            seq: h.sequence(),
            ts: h.timestamp(),
            ssrc: h.ssrc(),
            payload: h.payload().to_vec(),
            at: Instant::now(),
        });
    }
}

/// The next event of `id` that is not a `Latched` one.
async fn next_event(
    events: &mut mpsc::Receiver<(SessionId, RelayEvent)>,
    id: SessionId,
) -> RelayEvent {
    loop {
        let (ev_id, ev) = timeout(PATIENCE, events.recv())
            .await
            .expect("event within the test's patience")
            .expect("relay alive");
        assert_eq!(ev_id, id);
        if !matches!(ev, RelayEvent::Latched { .. }) {
            return ev;
        }
    }
}

fn leg_media(codec: Codec, te: Option<u8>) -> LegMedia {
    LegMedia {
        codec: Some(codec),
        telephone_event: te,
        detect_inband_dtmf: false,
    }
}

fn config() -> RelayConfig {
    RelayConfig {
        latch_any_first: true,
        media_timeout: Duration::from_secs(60),
    }
}

struct Call {
    relay: RelayHandle,
    events: mpsc::Receiver<(SessionId, RelayEvent)>,
    id: SessionId,
    phone_a: UdpSocket,
    phone_b: UdpSocket,
    relay_for_a: SocketAddr,
    relay_for_b: SocketAddr,
    _ports: PortAllocator,
}

/// A relayed call between two phone sockets; `b_known`: B's address is in its SDP.
async fn call(a_media: LegMedia, b_media: LegMedia, b_known: bool) -> Call {
    let ports = allocator();
    let (relay, events) = RelayHandle::spawn(RelayIoConfig::default()).expect("spawn");
    let phone_a = UdpSocket::bind((LOCAL, 0)).await.expect("bind a");
    let phone_b = UdpSocket::bind((LOCAL, 0)).await.expect("bind b");
    let a_pair = ports.allocate().expect("pair for A");
    let b_pair = ports.allocate().expect("pair for B");
    let relay_for_a = SocketAddr::new(LOCAL, a_pair.rtp_port());
    let relay_for_b = SocketAddr::new(LOCAL, b_pair.rtp_port());
    let a_addr = phone_a.local_addr().expect("addr");
    let b_addr = b_known.then(|| phone_b.local_addr().expect("addr"));
    let mut open = OpenSession::new(
        a_pair,
        b_pair,
        LegConfig::new(Some(a_addr), false, 8000),
        LegConfig::new(b_addr, false, 8000),
        config(),
    );
    open.a_media = a_media;
    open.b_media = b_media;
    let id = relay.open(open).await.expect("open");
    Call {
        relay,
        events,
        id,
        phone_a,
        phone_b,
        relay_for_a,
        relay_for_b,
        _ports: ports,
    }
}

#[tokio::test]
async fn prompt_reaches_the_caller_paced_numbered_and_audible_then_done() {
    // The IVR phase: only the caller's leg exists, B has no address yet.
    let pcma = leg_media(Codec::new(PCMA, "PCMA", 8000, 1), Some(TE_A));
    let mut c = call(pcma, LegMedia::default(), false).await;
    let prompt =
        Arc::new(Prompt::from_samples(&tone(8000, 0, 8000), SampleRate::Hz8000).expect("prompt"));
    let frames = prompt.frame_count(media::stream::AudioCodec::Pcma);
    c.relay
        .play(c.id, Leg::A, prompt, false)
        .await
        .expect("play");
    let got = listen(&c.phone_a, true).await;
    assert_eq!(got.len(), frames, "the whole prompt, once");
    assert!(got[0].marker, "a talk spurt starts");
    for w in got.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "no packet lost");
        assert_eq!(w[1].ssrc, w[0].ssrc);
        let dt = w[1].ts.wrapping_sub(w[0].ts);
        if w[1].marker {
            // The relay ran late on a loaded machine: the schedule moved, the audio did not.
            assert!(dt > 160 && dt % 160 == 0, "a marked pause of {dt}");
        } else {
            assert_eq!(dt, 160, "20 ms per packet");
        }
    }
    let mut pcm = vec![0i16; got.len() * 160];
    for (g, chunk) in got.iter().zip(pcm.chunks_exact_mut(160)) {
        assert_eq!((g.pt, g.payload.len()), (PCMA, 160));
        G711Law::Alaw.decode(&g.payload, chunk).expect("decode");
    }
    let rms = (pcm.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
    assert!(rms > 3000.0, "audible: rms {rms}");
    assert!((dominant_hz(&pcm, 8000) - TONE_HZ).abs() <= 10.0);
    // Paced, not burst: the RTP timeline spans the prompt, and so does the arrival (the lower
    // bound is half of it, so a slow machine cannot fail this; a burst would take ~0 ms).
    let span = got[got.len() - 1].at - got[0].at;
    assert!(
        span >= FRAME * (frames as u32 - 1) / 2,
        "arrivals spread over {span:?}"
    );
    assert_eq!(
        next_event(&mut c.events, c.id).await,
        RelayEvent::PlaybackDone { leg: Leg::A }
    );
    let stats = c.relay.close(c.id).await.expect("stats");
    let media = stats.media.expect("the session has a bridge");
    assert_eq!(media.out[0].packets, frames as u64);
}

#[tokio::test]
async fn pcma_and_opus_phones_hear_each_other_through_the_transcoder() {
    let a = leg_media(Codec::new(PCMA, "PCMA", 8000, 1), None);
    let b = leg_media(Codec::new(OPUS, "opus", 48_000, 2), None);
    let c = call(a, b, true).await;
    let mut opus = OpusEncoder::new(&OpusConfig::voip(SampleRate::Hz48000)).expect("encoder");
    let mut tick = tokio::time::interval(FRAME);
    let (mut at_a, mut at_b) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 2048];
    for i in 0..75usize {
        tick.tick().await;
        let mut codes = [0u8; 160];
        G711Law::Alaw
            .encode(&tone(8000, i * 160, 160), &mut codes)
            .expect("encode");
        let seq = i as u16;
        let p = rtp(PCMA, i == 0, seq, seq as u32 * 160, 0xa, &codes);
        c.phone_a.send_to(&p, c.relay_for_a).await.expect("send a");
        let n = opus
            .encode(&tone(48_000, i * 960, 960), &mut buf)
            .expect("encode");
        let p = rtp(OPUS, i == 0, 1000 + seq, seq as u32 * 960, 0xb, &buf[..n]);
        c.phone_b.send_to(&p, c.relay_for_b).await.expect("send b");
        // Collect what arrived meanwhile, without waiting.
        while let Ok((n, _)) = c.phone_a.try_recv_from(&mut buf) {
            at_a.push(buf[..n].to_vec());
        }
        while let Ok((n, _)) = c.phone_b.try_recv_from(&mut buf) {
            at_b.push(buf[..n].to_vec());
        }
    }
    let rest_a = listen(&c.phone_a, false).await;
    let rest_b = listen(&c.phone_b, false).await;

    // B gets Opus with B's payload type, 48 kHz timestamps, decoding to the tone.
    let mut dec = OpusDecoder::new(SampleRate::Hz48000).expect("decoder");
    let mut pcm_b = Vec::new();
    let mut frame = [0i16; 960];
    let mut b_ts = Vec::new();
    for p in at_b.iter().map(|p| RtpHeader::parse(p).expect("rtp")) {
        assert_eq!(p.payload_type(), OPUS);
        b_ts.push(p.timestamp());
        let n = dec
            .decode(p.payload(), &mut frame)
            .expect("B can decode what it gets");
        pcm_b.extend_from_slice(&frame[..n]);
    }
    for g in &rest_b {
        assert_eq!(g.pt, OPUS);
        b_ts.push(g.ts);
        let n = dec.decode(&g.payload, &mut frame).expect("decode");
        pcm_b.extend_from_slice(&frame[..n]);
    }
    assert!(b_ts.len() >= 50, "B got {} packets", b_ts.len());
    assert!(b_ts.windows(2).all(|w| w[1].wrapping_sub(w[0]) % 960 == 0));
    let hz = dominant_hz(&pcm_b[9600..], 48_000);
    assert!((hz - TONE_HZ).abs() <= 20.0, "B hears {hz} Hz");

    // A gets PCMA, 160 bytes, decoding to the tone.
    let mut pcm_a = Vec::new();
    let mut chunk = [0i16; 160];
    let payloads = at_a
        .iter()
        .map(|p| {
            let h = RtpHeader::parse(p).expect("rtp");
            (h.payload_type(), h.payload().to_vec())
        })
        .chain(rest_a.into_iter().map(|g| (g.pt, g.payload)));
    for (pt, payload) in payloads {
        assert_eq!((pt, payload.len()), (PCMA, 160));
        G711Law::Alaw.decode(&payload, &mut chunk).expect("decode");
        pcm_a.extend_from_slice(&chunk);
    }
    assert!(
        pcm_a.len() >= 50 * 160,
        "A got {} frames",
        pcm_a.len() / 160
    );
    let hz = dominant_hz(&pcm_a[1600..], 8000);
    assert!((hz - TONE_HZ).abs() <= 20.0, "A hears {hz} Hz");

    let stats = c.relay.close(c.id).await.expect("stats");
    let media = stats.media.expect("bridge");
    assert!(media.transcode[0].is_some() && media.transcode[1].is_some());
}

/// The telephone-event packets of one 100 ms key at 8 kHz, the end sent three times.
fn key(event: u8, ts: u32, seq: u16) -> Vec<Vec<u8>> {
    [
        (160, false),
        (320, false),
        (480, false),
        (640, false),
        (800, true),
        (800, true),
        (800, true),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (duration, end))| {
        let te = TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        };
        rtp(TE_A, i == 0, seq + i as u16, ts, 0xa, &te.to_bytes())
    })
    .collect()
}

#[tokio::test]
async fn rfc4733_keys_are_reported_once_and_reach_the_other_leg_with_its_payload_type() {
    let pcma = |pt| leg_media(Codec::new(PCMA, "PCMA", 8000, 1), Some(pt));
    let mut c = call(pcma(TE_A), pcma(TE_B), true).await;
    let mut seq = 0u16;
    let mut sent = 0;
    for (n, event) in [1u8, 11].into_iter().enumerate() {
        // Some audio, then the key.
        for _ in 0..3 {
            let p = rtp(PCMA, false, seq, u32::from(seq) * 160, 0xa, &[0xd5; 160]);
            c.phone_a.send_to(&p, c.relay_for_a).await.expect("send");
            seq += 1;
        }
        for p in key(event, 10_000 * (n as u32 + 1), seq) {
            c.phone_a.send_to(&p, c.relay_for_a).await.expect("send");
            seq += 1;
            sent += 1;
        }
    }
    let want = [('1', false), ('1', true), ('#', false), ('#', true)];
    for (digit, end) in want {
        assert_eq!(
            next_event(&mut c.events, c.id).await,
            RelayEvent::Dtmf {
                leg: Leg::A,
                digit,
                end
            }
        );
    }
    let got = listen(&c.phone_b, true).await;
    let events: Vec<TelephoneEvent> = got
        .iter()
        .filter(|g| g.pt == TE_B)
        .map(|g| TelephoneEvent::parse(&g.payload).expect("event"))
        .collect();
    assert_eq!(events.len(), sent, "every event packet relayed");
    assert!(
        got.iter().all(|g| g.pt == TE_B || g.pt == PCMA),
        "no A payload type at B"
    );
    assert!(got.iter().all(|g| g.pt != TE_A));
    assert_eq!(events.iter().filter(|e| e.end).count(), 6);
    // Nothing more: the retransmitted ends produced no second `end`.
    assert!(timeout(QUIET, c.events.recv()).await.is_err());
}

#[tokio::test]
async fn agent_keypad_digits_reach_the_phone_as_telephone_events() {
    let opus = leg_media(Codec::new(OPUS, "opus", 48_000, 2), Some(TE_B));
    let pcma = leg_media(Codec::new(PCMA, "PCMA", 8000, 1), Some(TE_A));
    let c = call(pcma, opus, true).await;
    c.relay
        .send_dtmf(c.id, Leg::B, "42".to_string())
        .await
        .expect("send_dtmf");
    let got = listen(&c.phone_b, true).await;
    assert_eq!(got.len(), 14, "two keys of 5 updates and 3 ends");
    let mut keys = Vec::new();
    for k in got.chunks(7) {
        assert!(k
            .iter()
            .all(|g| g.pt == TE_B && g.ts == k[0].ts && g.ssrc == got[0].ssrc));
        assert!(k[0].marker && k[1..].iter().all(|g| !g.marker));
        let evs: Vec<TelephoneEvent> = k
            .iter()
            .map(|g| TelephoneEvent::parse(&g.payload).expect("event"))
            .collect();
        assert!(evs
            .windows(2)
            .all(|w| w[0].event == w[1].event && w[0].duration <= w[1].duration));
        assert_eq!(evs.iter().filter(|e| e.end).count(), 3);
        assert_eq!(evs[6].duration, 4800, "100 ms on B's 48 kHz clock");
        keys.push(evs[0].event);
    }
    assert_eq!(keys, [4, 2]);
    assert!(got.windows(2).all(|w| w[1].seq == w[0].seq.wrapping_add(1)));
}
