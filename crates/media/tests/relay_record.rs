//! Voicemail recording through `RelayHandle` on loopback: a UDP socket plays the caller's
//! phone, the agent's leg has no address (voicemail has none), files go to a scratch directory.
//!
//! Every wait is bounded by `PATIENCE`; nothing asserts how fast anything happened, only what
//! the recording holds: its rate, its length, the caller's tone, and that a file exists at its
//! path only once complete.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use codec::{G711Law, OpusConfig, OpusEncoder, SampleRate, Wav, OPUS_MAX_PACKET};
use media::player::Prompt;
use media::ports::PortAllocator;
use media::record::{RecordError, RecordStats};
use media::relay::io::{LegMedia, OpenSession, RelayError, RelayHandle, RelayIoConfig, SessionId};
use media::relay::{Leg, LegConfig, RelayConfig, RelayEvent};
use media::sdp::Codec;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Bound on every wait, so a broken relay fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);
const FRAME: Duration = Duration::from_millis(20);
const TONE_HZ: f64 = 440.0;
const PCMA: u8 = 8;
const OPUS: u8 = 111;
const TE: u8 = 101;

fn tone(hz: f64, rate: u32, start: usize, len: usize) -> Vec<i16> {
    (start..start + len)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (9000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

/// The frequency between 200 and 1500 Hz with the most energy (10 Hz steps).
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
    (20..=150)
        .map(|k| f64::from(k) * 10.0)
        .map(|hz| (hz, power(hz)))
        .fold((0.0, 0.0), |best, c| if c.1 > best.1 { c } else { best })
        .0
}

/// Indices of the 20 ms frames at the tone's full level (RMS at least 3/4 of a full-scale
/// frame's): decoded audio, not concealment (−6 dB and less) nor silence.
fn loud_frames(pcm: &[i16], rate: SampleRate) -> Vec<usize> {
    let full = 9000.0 / std::f64::consts::SQRT_2;
    pcm.chunks_exact(rate.frame_20ms())
        .enumerate()
        .filter(|(_, f)| {
            let rms =
                (f.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / f.len() as f64).sqrt();
            rms >= 0.75 * full
        })
        .map(|(i, _)| i)
        .collect()
}

fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x5eed_u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// 20 ms PCMA packets of the tone; the packets at `lost` are not sent.
fn pcma_packets(frames: usize, lost: &[usize]) -> Vec<Option<Vec<u8>>> {
    (0..frames)
        .map(|i| {
            let mut codes = [0u8; 160];
            G711Law::Alaw
                .encode(&tone(TONE_HZ, 8000, i * 160, 160), &mut codes)
                .expect("encode");
            (!lost.contains(&i)).then(|| rtp(PCMA, i as u16, i as u32 * 160, &codes))
        })
        .collect()
}

/// 20 ms Opus packets of the tone, as a wideband phone sends them (48 kHz RTP clock).
fn opus_packets(frames: usize) -> Vec<Option<Vec<u8>>> {
    let mut enc = OpusEncoder::new(&OpusConfig::voip(SampleRate::Hz48000)).expect("encoder");
    let mut buf = [0u8; OPUS_MAX_PACKET];
    (0..frames)
        .map(|i| {
            let n = enc
                .encode(&tone(TONE_HZ, 48_000, i * 960, 960), &mut buf)
                .expect("encode");
            Some(rtp(OPUS, i as u16, i as u32 * 960, &buf[..n]))
        })
        .collect()
}

/// A fresh directory for one test's files.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-relay-record-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A caller in voicemail: its leg negotiated `codec`, the other leg has no address.
struct Voicemail {
    relay: RelayHandle,
    events: mpsc::Receiver<(SessionId, RelayEvent)>,
    id: SessionId,
    phone: Arc<UdpSocket>,
    relay_addr: SocketAddr,
    dir: PathBuf,
    _ports: PortAllocator,
}

impl Voicemail {
    async fn new(codec: Codec, name: &str) -> Voicemail {
        let ports = PortAllocator::new(LOCAL, 43000..=43999).expect("valid range");
        let (relay, events) = RelayHandle::spawn(RelayIoConfig::default()).expect("spawn");
        let phone = UdpSocket::bind((LOCAL, 0)).await.expect("bind");
        let a = ports.allocate().expect("pair for the caller");
        let b = ports.allocate().expect("pair for the absent agent");
        let relay_addr = SocketAddr::new(LOCAL, a.rtp_port());
        let clock = codec.clock_rate;
        let mut open = OpenSession::new(
            a,
            b,
            LegConfig::new(Some(phone.local_addr().expect("addr")), false, clock),
            LegConfig::new(None, false, 8000),
            RelayConfig::default(),
        );
        open.a_media = LegMedia {
            codec: Some(codec),
            telephone_event: Some(TE),
            detect_inband_dtmf: false,
        };
        let id = relay.open(open).await.expect("open");
        Voicemail {
            relay,
            events,
            id,
            phone: Arc::new(phone),
            relay_addr,
            dir: scratch_dir(name),
            _ports: ports,
        }
    }

    /// Sends `packets` (None = lost) one per 20 ms.
    async fn send(&self, packets: &[Option<Vec<u8>>]) {
        send_paced(&self.phone, self.relay_addr, packets).await;
    }

    /// Waits until the relay has received `n` packets from the caller.
    async fn until_received(&self, n: u64) {
        timeout(PATIENCE, async {
            loop {
                let stats = self.relay.stats(self.id).await.expect("session open");
                if stats.a.packets >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the relay received the caller's packets");
    }

    /// The next recording event (others are skipped).
    async fn recording_event(&mut self) -> RelayEvent {
        loop {
            let (id, event) = timeout(PATIENCE, self.events.recv())
                .await
                .expect("an event within the test's patience")
                .expect("relay alive");
            assert_eq!(id, self.id);
            if matches!(
                event,
                RelayEvent::RecordingDone { .. } | RelayEvent::RecordingFailed { .. }
            ) {
                return event;
            }
        }
    }

    async fn recording_stats(&self) -> RecordStats {
        let stats = self.relay.stats(self.id).await.expect("session open");
        stats.media.expect("a bridge").recording[0].expect("recording stats")
    }
}

impl Drop for Voicemail {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn send_paced(sock: &UdpSocket, to: SocketAddr, packets: &[Option<Vec<u8>>]) {
    let mut tick = tokio::time::interval(FRAME);
    for p in packets {
        tick.tick().await;
        if let Some(p) = p {
            sock.send_to(p, to).await.expect("send");
        }
    }
}

/// The WAV at `path`, which must be complete: no temporary file left beside it.
fn read_recording(path: &Path) -> Wav {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    assert!(!Path::new(&temp).exists(), "no temporary file left");
    let bytes = std::fs::read(path).expect("the recording is at its path");
    codec::parse_wav(&bytes).expect("a valid WAV")
}

fn done_ms(event: RelayEvent) -> u32 {
    match event {
        RelayEvent::RecordingDone {
            leg: Leg::A,
            duration_ms,
        } => duration_ms,
        other => panic!("expected RecordingDone for A, got {other:?}"),
    }
}

#[tokio::test]
async fn a_pcma_caller_is_recorded_at_8khz_while_a_prompt_plays_to_it() {
    let mut vm = Voicemail::new(Codec::new(PCMA, "PCMA", 8000, 1), "pcma").await;
    // The greeting's beep, looped, still playing while the caller talks.
    let beep = Prompt::from_samples(&tone(1000.0, 8000, 0, 8000), SampleRate::Hz8000);
    vm.relay
        .play(vm.id, Leg::A, Arc::new(beep.expect("prompt")), true)
        .await
        .expect("play");
    let path = vm.dir.join("vm.wav");
    vm.relay
        .record(vm.id, Leg::A, path.clone(), Duration::from_secs(60))
        .await
        .expect("record");
    vm.send(&pcma_packets(50, &[])).await;
    vm.until_received(50).await;
    let mut heard = 0;
    let mut buf = [0u8; 2048];
    while vm.phone.try_recv_from(&mut buf).is_ok() {
        heard += 1;
    }
    assert!(heard > 0, "the prompt reached the caller meanwhile");
    assert!(!path.exists(), "nothing at the path while recording");
    vm.relay.stop_recording(vm.id, Leg::A).await.expect("stop");
    let ms = done_ms(vm.recording_event().await);
    let wav = read_recording(&path);
    assert_eq!(wav.sample_rate, SampleRate::Hz8000);
    assert_eq!(
        wav.samples.len(),
        ms as usize * 8,
        "the event tells the length"
    );
    assert!(ms >= 1000, "at least the second the caller spoke: {ms} ms");
    let stats = vm.recording_stats().await;
    assert_eq!(stats.decoded, 50, "{stats:?}");
    let loud = loud_frames(&wav.samples, SampleRate::Hz8000);
    assert_eq!(loud.len(), 50, "the caller's whole second, at full level");
    let span = loud[loud.len() - 1] - loud[0] + 1;
    assert!(
        span as u64 <= 50 + stats.concealed,
        "span {span}, {stats:?}"
    );
    let hz = dominant_hz(&wav.samples, 8000);
    assert!(
        (hz - TONE_HZ).abs() <= 10.0,
        "the caller, not the beep: {hz} Hz"
    );
}

#[tokio::test]
async fn an_opus_caller_is_recorded_at_16khz() {
    let mut vm = Voicemail::new(Codec::new(OPUS, "opus", 48_000, 2), "opus").await;
    let path = vm.dir.join("vm.wav");
    vm.relay
        .record(vm.id, Leg::A, path.clone(), Duration::from_secs(60))
        .await
        .expect("record");
    vm.send(&opus_packets(50)).await;
    vm.until_received(50).await;
    vm.relay.stop_recording(vm.id, Leg::A).await.expect("stop");
    let ms = done_ms(vm.recording_event().await);
    let wav = read_recording(&path);
    assert_eq!(wav.sample_rate, SampleRate::Hz16000);
    assert_eq!(wav.samples.len(), ms as usize * 16);
    assert!(ms >= 1000, "{ms} ms");
    let stats = vm.recording_stats().await;
    assert_eq!(stats.decoded, 50, "{stats:?}");
    let loud = loud_frames(&wav.samples, SampleRate::Hz16000);
    assert!(loud.len() >= 45, "{} loud frames", loud.len());
    let hz = dominant_hz(&wav.samples, 16_000);
    assert!((hz - TONE_HZ).abs() <= 10.0, "dominant {hz} Hz");
}

#[tokio::test]
async fn max_cuts_the_recording_and_raises_recording_done() {
    let mut vm = Voicemail::new(Codec::new(PCMA, "PCMA", 8000, 1), "max").await;
    let path = vm.dir.join("vm.wav");
    vm.relay
        .record(vm.id, Leg::A, path.clone(), Duration::from_millis(400))
        .await
        .expect("record");
    // The caller talks on for two seconds; nobody stops the recording.
    let (phone, to) = (vm.phone.clone(), vm.relay_addr);
    let talking =
        tokio::spawn(async move { send_paced(&phone, to, &pcma_packets(100, &[])).await });
    let ms = done_ms(vm.recording_event().await);
    assert_eq!(ms, 400);
    let wav = read_recording(&path);
    assert_eq!(wav.samples.len(), 3200, "exactly the limit");
    talking.abort();
}

#[tokio::test]
async fn a_loss_in_the_middle_is_concealed_and_the_length_kept() {
    let mut vm = Voicemail::new(Codec::new(PCMA, "PCMA", 8000, 1), "loss").await;
    let path = vm.dir.join("vm.wav");
    vm.relay
        .record(vm.id, Leg::A, path.clone(), Duration::from_secs(60))
        .await
        .expect("record");
    vm.send(&pcma_packets(50, &[20, 21, 22])).await;
    vm.until_received(47).await;
    vm.relay.stop_recording(vm.id, Leg::A).await.expect("stop");
    let ms = done_ms(vm.recording_event().await);
    let wav = read_recording(&path);
    assert_eq!(wav.samples.len(), ms as usize * 8);
    let stats = vm.recording_stats().await;
    assert_eq!(stats.decoded, 47, "{stats:?}");
    assert!(stats.concealed >= 3, "{stats:?}");
    let loud = loud_frames(&wav.samples, SampleRate::Hz8000);
    assert_eq!(loud.len(), 47);
    // The gap keeps (at least) its three frames; whatever else lies between the caller's
    // first and last frames is concealment.
    let span = (loud[loud.len() - 1] - loud[0] + 1) as u64;
    assert!(span >= 50, "the gap was cut: span {span}");
    assert!(span - 47 <= stats.concealed, "span {span}, {stats:?}");
    let between = &wav.samples[loud[19] * 160..(loud[20] + 1) * 160];
    assert!(
        between[160..320].iter().any(|&x| x != 0),
        "the first lost frame is concealed, not silent"
    );
}

#[tokio::test]
async fn closing_the_session_while_recording_finishes_the_file() {
    let mut vm = Voicemail::new(Codec::new(PCMA, "PCMA", 8000, 1), "close").await;
    let path = vm.dir.join("vm.wav");
    vm.relay
        .record(vm.id, Leg::A, path.clone(), Duration::from_secs(60))
        .await
        .expect("record");
    vm.send(&pcma_packets(25, &[])).await;
    vm.until_received(25).await;
    // The caller hangs up.
    let stats = vm.relay.close(vm.id).await.expect("closed");
    let recorded = stats.media.expect("a bridge").recording[0].expect("recording stats");
    assert_eq!(recorded.decoded, 25, "{recorded:?}");
    let ms = done_ms(vm.recording_event().await);
    let wav = read_recording(&path);
    assert_eq!(wav.samples.len(), ms as usize * 8);
    assert_eq!(loud_frames(&wav.samples, SampleRate::Hz8000).len(), 25);
}

#[tokio::test]
async fn refused_recordings_leave_no_file() {
    let vm = Voicemail::new(Codec::new(PCMA, "PCMA", 8000, 1), "refused").await;
    let max = Duration::from_secs(60);
    let no_codec = vm
        .relay
        .record(vm.id, Leg::B, vm.dir.join("b.wav"), max)
        .await;
    assert!(
        matches!(no_codec, Err(RelayError::Record(RecordError::NoCodec))),
        "{no_codec:?}"
    );
    vm.relay
        .record(vm.id, Leg::A, vm.dir.join("a.wav"), max)
        .await
        .expect("record");
    let busy = vm
        .relay
        .record(vm.id, Leg::A, vm.dir.join("again.wav"), max)
        .await;
    assert!(
        matches!(busy, Err(RelayError::Record(RecordError::Busy))),
        "{busy:?}"
    );
    let unwritable = vm
        .relay
        .record(vm.id, Leg::A, vm.dir.join("missing/a.wav"), max)
        .await;
    assert!(
        matches!(unwritable, Err(RelayError::Record(RecordError::Io(_)))),
        "{unwritable:?}"
    );
    vm.relay.close(vm.id).await.expect("closed");
    let gone = vm
        .relay
        .record(vm.id, Leg::A, vm.dir.join("late.wav"), max)
        .await;
    assert!(matches!(gone, Err(RelayError::NoSession)), "{gone:?}");
    let mut left: Vec<String> = std::fs::read_dir(&vm.dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    // Only the recording that started (finished at the close, or still being finished).
    assert!(
        left == ["a.wav"] || left == ["a.wav.tmp"],
        "files left: {left:?}"
    );
}
