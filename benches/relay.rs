//! The relay's per-packet cost: the sans-IO verdict (`RelaySession::on_packet`) and the RTP
//! header readers it could use (ours, `rtp-rs`, `rtp-types`), plus the per-call SDP rewrite.
//!
//! The media work of `media::bridge` on top of it: a packet forwarded through a bridge (payload
//! type renumbering and the spliced output stream), one prompt packet, and one 20 ms frame
//! through each direction of a transcoded call (jitter buffer, decode, encode, RTP) on recorded
//! speech. Transcoded calls per core = 20 ms / (`pcma_to_opus` + `opus_to_pcma`): a call is one
//! frame in each direction every 20 ms.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use codec::{pre_encode, PromptCodec, SampleRate};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use media::bridge::{LegMedia, MediaBridge};
use media::player::{Player, PlayerConfig, Prompt};
use media::relay::rtp::RtpHeader;
use media::relay::{Leg, LegConfig, RelayConfig, RelaySession, Verdict};
use media::sdp::{rewrite, Codec, Sdp};
use media::stream::{write_rtp, AudioCodec, RtpFields};
use media::transcode::{Transcode, TranscodeConfig};

/// 20 ms of PCMA: 12-byte header + 160 bytes.
fn pcma(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// Opus with a one-byte header extension (audio level), as WebRTC-ish phones send.
fn opus_with_extension() -> Vec<u8> {
    let mut p = vec![0x90, 111, 0, 1, 0, 0, 3, 0xc0, 0xca, 0xfe, 0xba, 0xbe];
    p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0x7f, 0, 0]);
    p.extend_from_slice(&[0x5a; 80]);
    p
}

fn headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("rtp_header");
    group.throughput(Throughput::Elements(1));
    for (name, packet) in [("pcma", pcma(1)), ("opus_ext", opus_with_extension())] {
        group.bench_function(format!("ours_{name}"), |b| {
            b.iter(|| {
                let h = RtpHeader::parse(black_box(&packet)).ok()?;
                Some(black_box((
                    h.sequence(),
                    h.timestamp(),
                    h.ssrc(),
                    h.payload().len(),
                )))
            })
        });
        group.bench_function(format!("rtp_rs_{name}"), |b| {
            b.iter(|| {
                let h = rtp_rs::RtpReader::new(black_box(&packet)).ok()?;
                Some(black_box((
                    h.sequence_number(),
                    h.timestamp(),
                    h.ssrc(),
                    h.payload().len(),
                )))
            })
        });
        group.bench_function(format!("rtp_types_{name}"), |b| {
            b.iter(|| {
                let h = rtp_types::RtpPacket::parse(black_box(&packet)).ok()?;
                Some(black_box((
                    h.sequence_number(),
                    h.timestamp(),
                    h.ssrc(),
                    h.payload().len(),
                )))
            })
        });
    }
    group.finish();
}

fn verdict(c: &mut Criterion) {
    let phone_a: SocketAddr = SocketAddr::from(([192, 0, 2, 10], 4000));
    let phone_b: SocketAddr = SocketAddr::from(([198, 51, 100, 20], 30000));
    let mut now = Instant::now();
    let mut session = RelaySession::new(
        RelayConfig::default(),
        LegConfig::new(Some(phone_a), false, 8000),
        LegConfig::new(Some(phone_b), false, 8000),
        now,
    );
    // Both legs latched, as in a running call.
    let _ = session.on_packet(Leg::B, phone_b, &pcma(0), now);
    // A ring of in-order packets, so the RFC 3550 bookkeeping does its usual work.
    let ring: Vec<Vec<u8>> = (0..1024u16).map(pcma).collect();
    let mut i = 0usize;
    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(1));
    group.bench_function("on_packet_forward_pcma", |b| {
        b.iter(|| {
            i = (i + 1) % ring.len();
            now += Duration::from_millis(20);
            let v = session.on_packet(Leg::A, black_box(phone_a), black_box(&ring[i]), now);
            debug_assert!(matches!(v, Verdict::Forward { .. }));
            black_box(v)
        })
    });
    // The RFC 3550 share of the verdict (crate::rtp_stats, owned by the jitter-buffer work).
    let mut stats = media::rtp_stats::RtpReceiveStats::new(8000).with_min_sequential(1);
    let mut seq = 0u16;
    let mut at = Instant::now();
    group.bench_function("rtp_stats_update", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            at += Duration::from_millis(20);
            black_box(stats.update(black_box(seq), u32::from(seq) * 160, at))
        })
    });
    let stranger = SocketAddr::from(([203, 0, 113, 66], 5000));
    group.bench_function("on_packet_drop_stranger", |b| {
        b.iter(|| black_box(session.on_packet(Leg::A, black_box(stranger), &ring[0], now)))
    });
    group.finish();
}

const OFFER: &[u8] = b"v=0\r\n\
o=alice 3089 1723 IN IP4 192.168.1.23\r\n\
s=Talk\r\n\
c=IN IP4 192.168.1.23\r\n\
t=0 0\r\n\
m=audio 7078 RTP/AVP 96 0 8 101\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=rtcp:7079\r\n\
a=sendrecv\r\n";

fn sdp(c: &mut Criterion) {
    let body = Bytes::from_static(OFFER);
    let ours = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
    c.bench_function("sdp_parse_rewrite_print", |b| {
        b.iter(|| {
            let sdp = Sdp::parse(black_box(body.clone())).ok()?;
            Some(black_box(rewrite(&sdp, ours, 20000, false).to_bytes()))
        })
    });
}

/// The committed speech sample: 2 s at 48 kHz.
fn speech_48k() -> Vec<i16> {
    codec::parse_wav(include_bytes!("../crates/codec/testdata/speech48k.wav"))
        .map(|w| w.samples)
        .unwrap_or_default()
}

/// RTP packets of `codec`, 20 ms of speech each, numbered in order.
fn speech_packets(codec: PromptCodec, pt: u8, ticks: u32) -> Vec<Vec<u8>> {
    let frames = pre_encode(&speech_48k(), SampleRate::Hz48000, codec).unwrap_or_default();
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut p = vec![0u8; 12 + f.len()];
            let fields = RtpFields {
                marker: i == 0,
                payload_type: pt,
                seq: i as u16,
                timestamp: i as u32 * ticks,
                ssrc: 0x5eed,
            };
            let _ = write_rtp(&mut p, fields, f);
            p
        })
        .collect()
}

/// Renumbers a recorded packet as the `n`th of an endless stream.
fn renumber(p: &mut [u8], n: u64, ticks: u32) {
    p[1] &= 0x7f;
    p[2..4].copy_from_slice(&(n as u16).to_be_bytes());
    p[4..8].copy_from_slice(&((n as u32).wrapping_mul(ticks)).to_be_bytes());
}

fn media_work(c: &mut Criterion) {
    let mut group = c.benchmark_group("media");
    group.throughput(Throughput::Elements(1));
    let t0 = Instant::now();

    // Forwarding through a bridge: same codec, renumbered payload type, spliced stream.
    let opus = |pt| LegMedia {
        codec: Some(Codec::new(pt, "opus", 48_000, 2)),
        telephone_event: Some(101),
        detect_inband_dtmf: false,
    };
    if let Ok(mut bridge) = MediaBridge::new(opus(111), opus(96), [48_000; 2], 1, t0) {
        let mut packet = opus_with_extension();
        let mut n = 0u64;
        group.bench_function("bridge_forward_opus", |b| {
            b.iter(|| {
                n += 1;
                renumber(&mut packet, n, 960);
                packet[1] = 111;
                let now = t0 + Duration::from_millis(20 * n);
                black_box(bridge.on_rtp(Leg::A, black_box(&mut packet), true, now))
            })
        });
    }

    // One prompt packet: header + stored payload into the caller's buffer.
    let prompt = Prompt::from_samples(&speech_48k(), SampleRate::Hz48000).map(Arc::new);
    for codec in [AudioCodec::Pcma, AudioCodec::Opus] {
        let Ok(prompt) = &prompt else { break };
        let cfg = PlayerConfig {
            looped: true,
            ..PlayerConfig::new(codec, 7)
        };
        let mut player = Player::new(prompt.clone(), cfg, t0);
        let mut now = t0;
        let mut buf = [0u8; 1500];
        group.bench_function(format!("player_packet_{codec:?}").to_lowercase(), |b| {
            b.iter(|| {
                let n = player.poll(now, &mut buf);
                now += Duration::from_millis(20);
                black_box(n)
            })
        });
    }

    // One 20 ms frame through one direction of a transcoded call: packet in, packet out.
    let directions = [
        (
            "pcma_to_opus",
            AudioCodec::Pcma,
            AudioCodec::Opus,
            speech_packets(PromptCodec::Pcma, 8, 160),
            160,
        ),
        (
            "opus_to_pcma",
            AudioCodec::Opus,
            AudioCodec::Pcma,
            speech_packets(
                PromptCodec::Opus {
                    bitrate_bps: 32_000,
                    fec: true,
                },
                111,
                960,
            ),
            960,
        ),
    ];
    for (name, from, to, packets, ticks) in directions {
        let cfg = TranscodeConfig::new(from, to, 96, 9);
        let Ok(mut t) = Transcode::new(&cfg, t0) else {
            continue;
        };
        let mut packets = packets;
        let mut out = vec![0u8; t.max_packet_len()];
        let mut n = 0u64;
        group.bench_function(format!("transcode_{name}_20ms"), |b| {
            b.iter(|| {
                let i = (n % packets.len() as u64) as usize;
                renumber(&mut packets[i], n, ticks);
                let now = t0 + Duration::from_millis(20 * n);
                n += 1;
                t.on_packet(black_box(&packets[i]), now);
                black_box(t.poll(now, &mut out))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, headers, verdict, sdp, media_work);
criterion_main!(benches);
