//! The engine's [`MediaControl`] over the real relay: ports from `[media] rtp_ports`, one relay
//! task ([`media::relay::io`]) on a thread of its own.
//!
//! Why a thread of its own: the signalling node runs on a single-thread runtime (a cross-thread
//! wake-up per SIP message cost more than handling it), and RTP is a steady 50 packets/s per
//! leg that must not wait behind a burst of INVITEs, nor delay them. So the relay gets the
//! other core: its own current-thread runtime, its epoll set, and a control task that turns
//! the engine's commands (sent without blocking over an unbounded channel: a handful per call)
//! into relay calls, in order, and the relay's events back into `(call id, MediaEvent)`.
//!
//! Ports are bound on the engine's thread when a call starts ([`PortAllocator::allocate`] is a
//! queue pop and two `bind`s), so the SDP can be written at once; the sockets then move to the
//! relay task, which frees them when the call closes.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use engine::{MediaControl, MediaEvent, MediaPorts, MediaUnavailable, RemoteMedia, Side};
use media::player::Prompt;
use media::ports::{PortAllocator, PortPair};
use media::relay::io::{LegMedia, OpenSession, RelayHandle, RelayIoConfig, SessionId};
use media::relay::{Leg, LegConfig, RelayConfig, RelayEvent};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

enum Command {
    Open {
        call: String,
        caller: PortPair,
        agent: PortPair,
    },
    Update {
        call: String,
        side: Side,
        remote: RemoteMedia,
    },
    Paused {
        call: String,
        paused: bool,
    },
    Play {
        call: String,
        side: Side,
        prompt: String,
        looped: bool,
    },
    Stop {
        call: String,
        side: Side,
    },
    Dtmf {
        call: String,
        side: Side,
        digits: String,
    },
    Record {
        call: String,
        side: Side,
        path: std::path::PathBuf,
        max: std::time::Duration,
    },
    Close {
        call: String,
    },
    /// Decode and pre-encode these prompts now rather than on a caller's first visit.
    Preload(Vec<String>),
}

/// The daemon's [`MediaControl`]: cheap to call from the engine, never blocks.
pub struct RelayShell {
    ports: PortAllocator,
    commands: mpsc::UnboundedSender<Command>,
}

/// Starts the relay thread. Events for the engine come out of the receiver.
pub fn start(
    cfg: &config::Config,
    metrics: api::Metrics,
) -> io::Result<(RelayShell, mpsc::UnboundedReceiver<(String, MediaEvent)>)> {
    let ports = PortAllocator::new(cfg.media.ip, cfg.media.rtp_ports.clone())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("media ports: {e}")))?;
    let relay_config = RelayConfig {
        latch_any_first: true,
        media_timeout: cfg.media.media_timeout,
    };
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (event_tx, events) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
    std::thread::Builder::new()
        .name("relay".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let (relay, relay_events) = match RelayHandle::spawn(RelayIoConfig::default()) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(io::Error::other(e.to_string())));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                Control {
                    relay,
                    config: relay_config,
                    sessions: HashMap::new(),
                    calls: HashMap::new(),
                    recording: Default::default(),
                    prompts: HashMap::new(),
                    events: event_tx,
                    metrics,
                }
                .run(command_rx, relay_events)
                .await;
            });
        })?;
    ready_rx
        .recv()
        .map_err(|_| io::Error::other("relay thread died while starting"))??;
    info!(ip = %cfg.media.ip, ports = ?cfg.media.rtp_ports, "media relay started");
    Ok((RelayShell { ports, commands }, events))
}

/// Every prompt file a configuration names (IVR menus and their invalid-key prompts).
pub fn prompts_of(cfg: &config::Config) -> Vec<String> {
    cfg.ivr
        .values()
        .flat_map(|m| std::iter::once(&m.prompt).chain(m.invalid.iter()))
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// Loads prompts on the relay thread ahead of use (at start and after a reload).
#[derive(Clone)]
pub struct Preloader(mpsc::UnboundedSender<Command>);

impl Preloader {
    pub fn preload(&self, prompts: Vec<String>) {
        let _ = self.0.send(Command::Preload(prompts));
    }
}

impl RelayShell {
    pub fn preloader(&self) -> Preloader {
        Preloader(self.commands.clone())
    }

    fn send(&self, command: Command) {
        // Only fails once the relay thread is gone, at shutdown.
        let _ = self.commands.send(command);
    }
}

impl MediaControl for RelayShell {
    fn open(&mut self, call: &str) -> Result<MediaPorts, MediaUnavailable> {
        let caller = self
            .ports
            .allocate()
            .map_err(|e| MediaUnavailable(e.to_string()))?;
        let agent = self
            .ports
            .allocate()
            .map_err(|e| MediaUnavailable(e.to_string()))?;
        let ports = MediaPorts {
            ip: self.ports.ip(),
            caller_port: caller.rtp_port(),
            agent_port: agent.rtp_port(),
        };
        self.send(Command::Open {
            call: call.to_owned(),
            caller,
            agent,
        });
        Ok(ports)
    }

    fn update(&mut self, call: &str, side: Side, remote: RemoteMedia) {
        self.send(Command::Update {
            call: call.to_owned(),
            side,
            remote,
        });
    }

    fn set_paused(&mut self, call: &str, paused: bool) {
        self.send(Command::Paused {
            call: call.to_owned(),
            paused,
        });
    }

    fn play(&mut self, call: &str, side: Side, prompt: &str, looped: bool) {
        self.send(Command::Play {
            call: call.to_owned(),
            side,
            prompt: prompt.to_owned(),
            looped,
        });
    }

    fn stop_playback(&mut self, call: &str, side: Side) {
        self.send(Command::Stop {
            call: call.to_owned(),
            side,
        });
    }

    fn send_dtmf(&mut self, call: &str, side: Side, digits: &str) {
        self.send(Command::Dtmf {
            call: call.to_owned(),
            side,
            digits: digits.to_owned(),
        });
    }

    fn record(&mut self, call: &str, side: Side, path: &std::path::Path, max: std::time::Duration) {
        self.send(Command::Record {
            call: call.to_owned(),
            side,
            path: path.to_owned(),
            max,
        });
    }

    fn close(&mut self, call: &str) {
        self.send(Command::Close {
            call: call.to_owned(),
        });
    }
}

fn leg_of(side: Side) -> Leg {
    match side {
        Side::Caller => Leg::A,
        Side::Agent => Leg::B,
    }
}

fn side_of(leg: Leg) -> Side {
    match leg {
        Leg::A => Side::Caller,
        Leg::B => Side::Agent,
    }
}

/// The relay thread's control task.
struct Control {
    relay: RelayHandle,
    config: RelayConfig,
    sessions: HashMap<String, SessionId>,
    calls: HashMap<SessionId, String>,
    /// Sessions recording: their call stays known after the close until the recording is
    /// on disk (its event comes after the close).
    recording: std::collections::HashSet<SessionId>,
    /// Prompts decoded and pre-encoded once, by path.
    prompts: HashMap<String, Arc<Prompt>>,
    events: mpsc::UnboundedSender<(String, MediaEvent)>,
    metrics: api::Metrics,
}

impl Control {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut relay_events: mpsc::Receiver<(SessionId, RelayEvent)>,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(c) => self.apply(c).await,
                    None => break,
                },
                Some((id, event)) = relay_events.recv() => self.report(id, event),
            }
        }
    }

    fn report(&mut self, id: SessionId, event: RelayEvent) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let event = match event {
            RelayEvent::MediaTimeout => MediaEvent::Timeout,
            RelayEvent::Dtmf {
                leg,
                digit,
                end: false,
            } => MediaEvent::Dtmf {
                side: side_of(leg),
                digit,
            },
            RelayEvent::PlaybackDone { leg } => MediaEvent::PlaybackDone { side: side_of(leg) },
            RelayEvent::RecordingDone { leg, duration_ms } => {
                self.recording_over(id);
                MediaEvent::RecordingDone {
                    side: side_of(leg),
                    duration_ms,
                }
            }
            RelayEvent::RecordingFailed { leg, error } => {
                warn!(?error, "recording failed");
                self.recording_over(id);
                MediaEvent::RecordingFailed { side: side_of(leg) }
            }
            RelayEvent::Latched { leg, addr } => {
                debug!(%call, ?leg, %addr, "media latched");
                return;
            }
            _ => return,
        };
        let _ = self.events.send((call, event));
    }

    /// A recording ended: a closed session's call is forgotten now.
    fn recording_over(&mut self, id: SessionId) {
        self.recording.remove(&id);
        if !self.sessions.values().any(|s| *s == id) {
            self.calls.remove(&id);
        }
    }

    async fn apply(&mut self, command: Command) {
        match command {
            Command::Open {
                call,
                caller,
                agent,
            } => {
                let open = OpenSession::new(
                    caller,
                    agent,
                    LegConfig::new(None, false, 8000),
                    LegConfig::new(None, false, 8000),
                    self.config,
                );
                match self.relay.open(open).await {
                    Ok(id) => {
                        self.sessions.insert(call.clone(), id);
                        self.calls.insert(id, call);
                    }
                    Err(e) => warn!(%call, error = %e, "relay refused a session"),
                }
            }
            Command::Update { call, side, remote } => {
                let Some(&id) = self.sessions.get(&call) else {
                    return;
                };
                let clock_rate = remote.codec.as_ref().map_or(8000, |c| c.clock_rate);
                let leg = leg_of(side);
                let config = LegConfig::new(remote.addr, remote.rtcp_mux, clock_rate);
                let media = LegMedia {
                    detect_inband_dtmf: side == Side::Caller
                        && remote.telephone_event.is_none()
                        && remote.codec.as_ref().is_some_and(|c| c.clock_rate == 8000),
                    codec: remote.codec,
                    telephone_event: remote.telephone_event,
                };
                let _ = self.relay.set_remote(id, leg, config).await;
                let _ = self.relay.set_media(id, leg, media).await;
            }
            Command::Paused { call, paused } => {
                if let Some(&id) = self.sessions.get(&call) {
                    let _ = self.relay.set_hold(id, paused).await;
                }
            }
            Command::Play {
                call,
                side,
                prompt,
                looped,
            } => {
                let Some(&id) = self.sessions.get(&call) else {
                    return;
                };
                let Some(prompt) = self.prompt(&prompt).await else {
                    // Nothing to play is as good as a prompt that ended.
                    let _ = self.events.send((call, MediaEvent::PlaybackDone { side }));
                    return;
                };
                let _ = self.relay.play(id, leg_of(side), prompt, looped).await;
            }
            Command::Stop { call, side } => {
                if let Some(&id) = self.sessions.get(&call) {
                    let _ = self.relay.stop_playback(id, leg_of(side)).await;
                }
            }
            Command::Dtmf { call, side, digits } => {
                if let Some(&id) = self.sessions.get(&call) {
                    let _ = self.relay.send_dtmf(id, leg_of(side), digits).await;
                }
            }
            Command::Preload(paths) => {
                for path in paths {
                    if !self.prompts.contains_key(&path) {
                        let _ = self.prompt(&path).await;
                    }
                }
            }
            Command::Record {
                call,
                side,
                path,
                max,
            } => {
                let Some(&id) = self.sessions.get(&call) else {
                    return;
                };
                match self.relay.record(id, leg_of(side), path, max).await {
                    Ok(()) => {
                        self.recording.insert(id);
                    }
                    Err(e) => {
                        warn!(%call, error = %e, "recording refused");
                        let _ = self
                            .events
                            .send((call, MediaEvent::RecordingFailed { side }));
                    }
                }
            }
            Command::Close { call } => {
                if let Some(id) = self.sessions.remove(&call) {
                    if !self.recording.contains(&id) {
                        self.calls.remove(&id);
                    }
                    if let Some(stats) = self.relay.close(id).await {
                        let lost = stats.a.rtp.cumulative_lost().max(0)
                            + stats.b.rtp.cumulative_lost().max(0);
                        let jitter = stats
                            .a
                            .rtp
                            .jitter_duration()
                            .max(stats.b.rtp.jitter_duration());
                        if stats.a.packets + stats.b.packets > 0 {
                            self.metrics.rtp_call_quality(lost as u64, jitter);
                        }
                        info!(
                            %call,
                            caller_packets = stats.a.packets,
                            agent_packets = stats.b.packets,
                            caller_lost = stats.a.rtp.cumulative_lost(),
                            agent_lost = stats.b.rtp.cumulative_lost(),
                            strangers = stats.a.strangers + stats.b.strangers,
                            "media closed"
                        );
                    }
                }
            }
        }
    }

    /// A prompt by path, decoded and pre-encoded on first use.
    async fn prompt(&mut self, path: &str) -> Option<Arc<Prompt>> {
        if let Some(p) = self.prompts.get(path) {
            return Some(p.clone());
        }
        let builtin: Option<fn() -> Vec<i16>> = match path {
            engine::media::HOLD_MUSIC => Some(hold_music),
            engine::media::BEEP => Some(beep),
            _ => None,
        };
        if let Some(make) = builtin {
            let music = tokio::task::spawn_blocking(move || {
                Prompt::from_samples(&make(), codec::SampleRate::Hz8000)
            })
            .await;
            return match music {
                Ok(Ok(p)) => {
                    let p = Arc::new(p);
                    self.prompts.insert(path.to_owned(), p.clone());
                    Some(p)
                }
                _ => {
                    warn!(prompt = path, "built-in prompt could not be encoded");
                    None
                }
            };
        }
        let owned = path.to_owned();
        let loaded = tokio::task::spawn_blocking(move || Prompt::from_wav_file(&owned)).await;
        match loaded {
            Ok(Ok(p)) => {
                let p = Arc::new(p);
                self.prompts.insert(path.to_owned(), p.clone());
                Some(p)
            }
            Ok(Err(e)) => {
                warn!(prompt = path, error = %e, "prompt cannot be played");
                None
            }
            Err(e) => {
                warn!(prompt = path, error = %e, "prompt loader failed");
                None
            }
        }
    }
}

/// Hold music, synthesised: a slow arpeggio (C, E, G, E an octave below middle C's
/// neighbourhood) with soft attacks and releases, 3.2 s, looped by the player. Synthesised so
/// the binary needs no audio file and no licence question arises.
fn hold_music() -> Vec<i16> {
    const RATE: f64 = 8000.0;
    const NOTE: usize = 3200; // 400 ms
    let notes = [
        261.63, 329.63, 392.00, 329.63, 293.66, 349.23, 440.00, 349.23,
    ];
    let mut out = Vec::with_capacity(NOTE * notes.len());
    for (n, hz) in notes.iter().enumerate() {
        for i in 0..NOTE {
            let t = (n * NOTE + i) as f64 / RATE;
            // 40 ms attack, exponential decay: a soft bell rather than a beep.
            let attack = (i as f64 / 320.0).min(1.0);
            let decay = (-(i as f64) / (NOTE as f64 * 0.6)).exp();
            let tone = (2.0 * std::f64::consts::PI * hz * t).sin()
                + 0.3 * (4.0 * std::f64::consts::PI * hz * t).sin();
            out.push((tone * attack * decay * 5000.0) as i16);
        }
    }
    out
}

/// The voicemail tone: 1 kHz for 400 ms, with 10 ms ramps (no click).
fn beep() -> Vec<i16> {
    (0..3200)
        .map(|i| {
            let ramp = (i.min(3199 - i) as f64 / 80.0).min(1.0);
            let t = i as f64 / 8000.0;
            (ramp * 8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_music_is_audible_and_encodes_for_every_codec() {
        let samples = hold_music();
        assert_eq!(samples.len(), 3200 * 8);
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!(peak > 3000, "{peak}");
        let prompt = Prompt::from_samples(&samples, codec::SampleRate::Hz8000).expect("encode");
        assert!(prompt.duration(media::stream::AudioCodec::Pcma).as_millis() >= 3200);
    }
}
