//! The tokio shell around [`RelaySession`]: one task, one epoll set, many sessions.
//!
//! Why epoll of our own rather than a tokio `UdpSocket` per leg: with a future per socket, one
//! task would have to poll every socket on every wake-up (O(sessions)), or each session would
//! need its own task. Here all sockets sit in one epoll set, which tokio watches as a single
//! [`AsyncFd`]; a wake-up lists exactly the sockets with data. The inner set is level-triggered,
//! so a socket not drained within its per-round budget is simply reported again.
//!
//! Datagrams move in batches (`relay::batch`): one `recvmmsg` reads up to 16 datagrams queued
//! on a ready socket, and a short count means it is drained (no read ends in `EAGAIN`); what
//! the core forwards from them leaves together from the other leg's socket, runs of same-size
//! datagrams to one address as one UDP GSO message (one trip through the kernel's IP stack for
//! the run, about a quarter of the cost per datagram), a lone datagram with plain `sendto`.
//! Several datagrams wait on a socket when the relay is loaded, after a burst or a pause: the
//! relay gets cheaper per packet exactly when it must catch up. A round whose `epoll_wait`
//! listed fewer sockets than it could take, all of them drained, ends without the empty
//! `epoll_wait` that would confirm it: data arriving later wakes tokio's epoll (each arrival
//! wakes the set's waiters), as it does after that empty wait.
//!
//! Overflow policies: commands wait for room (the signalling side can afford it); a datagram
//! that cannot be sent at once is dropped and counted (a full send buffer drops the rest of
//! its batch); `Latched` events are dropped and counted when the event channel is full,
//! `MediaTimeout` events are kept and delivered later.
//!
//! Media work (transcoding, prompts, DTMF; see [`crate::bridge`]) is per session and optional:
//! a session gets a [`MediaBridge`] only when it is opened with a [`LegMedia`] or asked for
//! `set_media`, `play` or `send_dtmf`. Without one, a datagram takes exactly the path above. With
//! one, accepted RTP also goes through the bridge (payload-type mapping, splicing, detection,
//! transcoder input), and the session joins a second timer heap, the *tick*: whenever its bridge
//! has packets to generate (prompt, transcoded audio, DTMF) the task wakes at that time, rounded
//! up to a [`TICK_GRANULARITY`] grid so that any number of ticking sessions cost at most one
//! wake-up per grid step. The rounding delays each generated stream by a constant (its start
//! phase against the grid), so it adds no jitter. `Dtmf` and `PlaybackDone` events are kept,
//! like `MediaTimeout`, when the event channel is full.
//!
//! Recording (voicemail, [`RelayHandle::record`]): the leg's [`crate::record::Recorder`] lives
//! in the session's bridge and runs on the same ticks. Its frames go to one writer thread shared
//! by every session (started with the first recording), through a queue bounded by
//! [`RelayIoConfig::record_queue_frames`] that drops and counts, never waits. The handle
//! creates the file (`path.tmp`) on tokio's blocking pool before asking this task, and removes
//! it there when the request is refused, so the relay task does no file I/O (except to remove
//! such a file when its requester gave up waiting). The writer reports each finished file back to this task, which raises
//! `RecordingDone` (or `RecordingFailed`), kept like `PlaybackDone` when the channel is full;
//! for a recording ended by `close`, the event follows the close.
//!
//! This is the one place of the crate that reads the clock (once per epoll round) and touches
//! sockets.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

use super::batch::{Datagrams, Flushed, BATCH, MAX_DATAGRAM};
use super::rtp::is_rtcp;
use super::{DropReason, Leg, LegConfig, LegStats, RelayConfig, RelayEvent, RelaySession, Verdict};
pub use crate::bridge::LegMedia;
use crate::bridge::{BridgeStats, MediaBridge};
use crate::player::Prompt;
use crate::ports::{PortLease, PortPair};
use crate::record::{RecordError, RecordWriter, Recorder, Saved, TempFile, DEFAULT_QUEUE_FRAMES};
use crate::transcode::TranscodeError;

/// Datagrams read from one socket per round before moving on (fairness between sessions).
const RECV_BUDGET: usize = 64;
/// Ready sockets taken from epoll per call.
const EPOLL_BATCH: usize = 64;
/// Epoll batches handled per wake-up before looking at commands and timers again.
const EPOLL_ROUNDS: usize = 16;
/// Generated packets are sent on this grid (see the module docs).
pub const TICK_GRANULARITY: Duration = Duration::from_millis(5);

/// A session inside the relay task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

impl SessionId {
    fn new(index: u32, generation: u32) -> SessionId {
        SessionId(u64::from(generation) << 32 | u64::from(index))
    }

    fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }
}

/// Why the relay refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The relay task has stopped.
    #[error("relay task stopped")]
    Stopped,
    /// Registering a socket failed.
    #[error("relay socket registration: {0}")]
    Io(#[from] io::Error),
    /// No session with that id (closed, or never opened).
    #[error("no such relay session")]
    NoSession,
    /// A transcoder could not be built (the direction falls back to forwarding).
    #[error("media: {0}")]
    Media(#[from] TranscodeError),
    /// A recording could not start.
    #[error("recording: {0}")]
    Record(#[from] RecordError),
}

/// Everything needed to start relaying one call.
#[derive(Debug)]
pub struct OpenSession {
    /// Leg A's local port pair (the address in the SDP sent to A).
    pub a: PortPair,
    /// Leg B's local port pair.
    pub b: PortPair,
    /// What A's SDP announced.
    pub a_leg: LegConfig,
    /// What B's SDP announced.
    pub b_leg: LegConfig,
    /// Latching and timeout settings.
    pub config: RelayConfig,
    /// What A negotiated, for transcoding and DTMF (default: plain forwarding).
    pub a_media: LegMedia,
    /// What B negotiated.
    pub b_media: LegMedia,
}

impl OpenSession {
    /// A session with plain forwarding on both legs (no [`LegMedia`]); set the `a_media` /
    /// `b_media` fields, or call [`RelayHandle::set_media`] later, for more.
    pub fn new(
        a: PortPair,
        b: PortPair,
        a_leg: LegConfig,
        b_leg: LegConfig,
        config: RelayConfig,
    ) -> OpenSession {
        OpenSession {
            a,
            b,
            a_leg,
            b_leg,
            config,
            a_media: LegMedia::default(),
            b_media: LegMedia::default(),
        }
    }
}

/// A snapshot of a session's counters.
#[derive(Clone, Debug)]
pub struct SessionStats {
    /// What A sent us.
    pub a: LegStats,
    /// What B sent us.
    pub b: LegStats,
    /// Where each leg latched.
    pub latched: [Option<SocketAddr>; 2],
    /// Datagrams dropped because a socket's send buffer was full.
    pub send_dropped: u64,
    /// Datagrams whose send failed otherwise.
    pub send_errors: u64,
    /// Generated packets (prompt, transcoded, DTMF) for a leg whose address is not known.
    pub generated_no_destination: u64,
    /// The media bridge's counters, when the session has one.
    pub media: Option<BridgeStats>,
}

enum Command {
    Open(
        Box<OpenSession>,
        oneshot::Sender<Result<SessionId, RelayError>>,
    ),
    Close(SessionId, oneshot::Sender<Option<SessionStats>>),
    Stats(SessionId, oneshot::Sender<Option<SessionStats>>),
    SetHold(SessionId, bool),
    SetRemote(SessionId, Leg, LegConfig),
    SetMedia(
        SessionId,
        Leg,
        Box<LegMedia>,
        oneshot::Sender<Result<(), RelayError>>,
    ),
    Play(SessionId, Leg, Arc<Prompt>, bool),
    StopPlayback(SessionId, Leg),
    SendDtmf(SessionId, Leg, String),
    Record(
        SessionId,
        Leg,
        Box<RecordRequest>,
        oneshot::Sender<Result<(), Refused>>,
    ),
    StopRecording(SessionId, Leg),
}

/// A recording asked for: the file the caller created, and the limit.
struct RecordRequest {
    temp: TempFile,
    max: Duration,
}

/// A refused recording, with its file back when it was not used (the caller removes it).
struct Refused {
    error: RelayError,
    temp: Option<TempFile>,
}

/// What the writer thread reports about a finished recording.
type RecordingReport = (SessionId, Leg, io::Result<Saved>);

/// The signalling side's handle on the relay task. Cloneable; the task stops when the last
/// handle is dropped.
#[derive(Clone, Debug)]
pub struct RelayHandle {
    commands: mpsc::Sender<Command>,
}

/// Sizes of the relay's channels.
#[derive(Clone, Copy, Debug)]
pub struct RelayIoConfig {
    /// Pending commands before `open`/`close` wait.
    pub command_capacity: usize,
    /// Undelivered events before `Latched` events are dropped.
    pub event_capacity: usize,
    /// Recorded 20 ms frames queued for the writer thread (all recordings together) before
    /// frames are dropped (and written as silence).
    pub record_queue_frames: usize,
}

impl Default for RelayIoConfig {
    fn default() -> Self {
        RelayIoConfig {
            command_capacity: 256,
            event_capacity: 1024,
            record_queue_frames: DEFAULT_QUEUE_FRAMES,
        }
    }
}

impl RelayHandle {
    /// Starts the relay task on the current tokio runtime. Events come out of the receiver.
    pub fn spawn(
        config: RelayIoConfig,
    ) -> Result<(RelayHandle, mpsc::Receiver<(SessionId, RelayEvent)>), RelayError> {
        // SAFETY: `Epoll` owns its fd (an `OwnedFd` never replaced) for its whole life and
        // `as_raw_fd` always returns that fd.
        let epoll = unsafe {
            AsyncFd::register_with_interest(Epoll::new()?, tokio::io::Interest::READABLE)
        }
        .map_err(io::Error::from)?;
        let (commands, command_rx) = mpsc::channel(config.command_capacity.max(1));
        let (event_tx, events) = mpsc::channel(config.event_capacity.max(1));
        // Unbounded: at most one report per recording, and the writer thread must not wait.
        let (reports, report_rx) = mpsc::unbounded_channel();
        let engine = Engine {
            epoll,
            slots: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            ticks: BinaryHeap::new(),
            epoch: Instant::now(),
            events: event_tx,
            overflow: VecDeque::new(),
            events_dropped: 0,
            writer: None,
            record_queue_frames: config.record_queue_frames,
            reports,
        };
        tokio::spawn(engine.run(command_rx, report_rx));
        Ok((RelayHandle { commands }, events))
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Starts relaying a call; the media timeout counts from now.
    pub async fn open(&self, session: OpenSession) -> Result<SessionId, RelayError> {
        self.ask(|tx| Command::Open(Box::new(session), tx))
            .await
            .unwrap_or(Err(RelayError::Stopped))
    }

    /// Stops relaying a call, frees its ports, and returns its final counters (`None` if the
    /// id is unknown).
    pub async fn close(&self, id: SessionId) -> Option<SessionStats> {
        self.ask(|tx| Command::Close(id, tx)).await.flatten()
    }

    /// The call's counters now.
    pub async fn stats(&self, id: SessionId) -> Option<SessionStats> {
        self.ask(|tx| Command::Stats(id, tx)).await.flatten()
    }

    /// Hold pauses the media timeout.
    pub async fn set_hold(&self, id: SessionId, hold: bool) -> Result<(), RelayError> {
        self.commands
            .send(Command::SetHold(id, hold))
            .await
            .map_err(|_| RelayError::Stopped)
    }

    /// New SDP from one leg (re-INVITE): new expected address, latching starts over.
    pub async fn set_remote(
        &self,
        id: SessionId,
        leg: Leg,
        config: LegConfig,
    ) -> Result<(), RelayError> {
        self.commands
            .send(Command::SetRemote(id, leg, config))
            .await
            .map_err(|_| RelayError::Stopped)
    }

    /// What one leg negotiated (answer, re-INVITE). When both legs have a codec and the
    /// formats differ, both directions are transcoded (PCMA/PCMU ↔ Opus) or re-encoded by table
    /// (PCMA ↔ PCMU); when they are equal, packets are forwarded, with payload types
    /// renumbered where the legs differ. Fails when a transcoder cannot be built (that
    /// direction then forwards).
    pub async fn set_media(
        &self,
        id: SessionId,
        leg: Leg,
        media: LegMedia,
    ) -> Result<(), RelayError> {
        self.ask(|tx| Command::SetMedia(id, leg, Box::new(media), tx))
            .await
            .unwrap_or(Err(RelayError::Stopped))
    }

    /// Plays `prompt` into `leg` in its codec (PCMA when unknown), replacing what the other leg
    /// would send it; [`RelayEvent::PlaybackDone`] follows the end of a prompt that is not
    /// `looped`. A prompt already playing into that leg is replaced (without the event).
    pub async fn play(
        &self,
        id: SessionId,
        leg: Leg,
        prompt: Arc<Prompt>,
        looped: bool,
    ) -> Result<(), RelayError> {
        self.send(Command::Play(id, leg, prompt, looped)).await
    }

    /// Stops the prompt playing into `leg` (no [`RelayEvent::PlaybackDone`]).
    pub async fn stop_playback(&self, id: SessionId, leg: Leg) -> Result<(), RelayError> {
        self.send(Command::StopPlayback(id, leg)).await
    }

    /// Sends `digits` into `leg` as RFC 4733 events (100 ms each, 60 ms apart), e.g. from the
    /// agent's keypad. Needs the leg's `telephone_event` payload type ([`LegMedia`]); keys are
    /// dropped and counted otherwise.
    pub async fn send_dtmf(
        &self,
        id: SessionId,
        leg: Leg,
        digits: String,
    ) -> Result<(), RelayError> {
        self.send(Command::SendDtmf(id, leg, digits)).await
    }

    /// Records what `leg`'s phone sends, from now until `max`, [`RelayHandle::stop_recording`]
    /// or the session's close, into a WAV file at `path` (16-bit mono, 8 kHz for a G.711 leg,
    /// 16 kHz for an Opus one; see [`crate::record`]). The file is written as `path.tmp` and
    /// renamed when complete; [`RelayEvent::RecordingDone`] follows, or
    /// [`RelayEvent::RecordingFailed`] when it could not be written. Works while a prompt
    /// plays into the leg and while the other leg has no address.
    ///
    /// Fails when `path.tmp` cannot be created, the session is unknown, the leg has no codec
    /// we decode ([`RelayHandle::set_media`] first) or is being recorded already; nothing is
    /// left on disk then.
    pub async fn record(
        &self,
        id: SessionId,
        leg: Leg,
        path: PathBuf,
        max: Duration,
    ) -> Result<(), RelayError> {
        let temp = tokio::task::spawn_blocking(move || TempFile::create(path))
            .await
            .map_err(|_| RelayError::Stopped)?
            .map_err(RecordError::from)?;
        let request = Box::new(RecordRequest { temp, max });
        match self.ask(|tx| Command::Record(id, leg, request, tx)).await {
            Some(Ok(())) => Ok(()),
            Some(Err(Refused { error, temp })) => {
                if let Some(temp) = temp {
                    let _ = tokio::task::spawn_blocking(move || temp.discard()).await;
                }
                Err(error)
            }
            // The request, and with it the file, was dropped: `TempFile` removes it.
            None => Err(RelayError::Stopped),
        }
    }

    /// Ends `leg`'s recording: the audio still buffered is written, then the file is finished
    /// and [`RelayEvent::RecordingDone`] follows. Nothing happens when it is not recording.
    pub async fn stop_recording(&self, id: SessionId, leg: Leg) -> Result<(), RelayError> {
        self.send(Command::StopRecording(id, leg)).await
    }

    async fn send(&self, command: Command) -> Result<(), RelayError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| RelayError::Stopped)
    }
}

// ---------------------------------------------------------------------------------------------

struct Slot {
    id: SessionId,
    session: RelaySession,
    /// `[leg][0]` RTP, `[leg][1]` RTCP.
    sockets: [[UdpSocket; 2]; 2],
    _leases: [PortLease; 2],
    /// A timer-heap entry exists for this session.
    armed: bool,
    /// Media work, for the sessions that asked for it.
    bridge: Option<Box<MediaBridge>>,
    /// The tick-heap entry that is current for this session (others are stale).
    tick_at: Option<Instant>,
    send_dropped: u64,
    send_errors: u64,
    generated_no_destination: u64,
}

impl Slot {
    fn stats(&self) -> SessionStats {
        SessionStats {
            a: self.session.stats(Leg::A).clone(),
            b: self.session.stats(Leg::B).clone(),
            latched: [self.session.latched(Leg::A), self.session.latched(Leg::B)],
            send_dropped: self.send_dropped,
            send_errors: self.send_errors,
            generated_no_destination: self.generated_no_destination,
            media: self.bridge.as_ref().map(|b| b.stats()),
        }
    }

    /// The session's bridge, created with plain forwarding on both legs if it has none.
    fn bridge_mut(&mut self, now: Instant) -> Result<&mut MediaBridge, TranscodeError> {
        let bridge = match self.bridge.take() {
            Some(bridge) => bridge,
            None => Box::new(new_bridge(
                &self.session,
                LegMedia::default(),
                LegMedia::default(),
                now,
            )?),
        };
        Ok(self.bridge.insert(bridge))
    }

    /// Counts what a forwarding `sendmmsg` dropped or failed to send.
    fn count_sent(&mut self, flushed: Flushed) {
        self.send_dropped += flushed.dropped;
        self.send_errors += flushed.errors;
    }

    /// Sends a packet the bridge generated for `leg`'s phone, from that leg's socket (plain
    /// `send_to`: at most one packet per leg per tick).
    fn send_generated(&mut self, leg: Leg, packet: &[u8]) {
        let Some(to) = self.session.destination(leg) else {
            self.generated_no_destination += 1;
            return;
        };
        let socket = match leg {
            Leg::A => &self.sockets[0][0],
            Leg::B => &self.sockets[1][0],
        };
        match socket.send_to(packet, to) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.send_dropped += 1,
            Err(_) => self.send_errors += 1,
        }
    }
}

fn new_bridge(
    session: &RelaySession,
    a: LegMedia,
    b: LegMedia,
    now: Instant,
) -> Result<MediaBridge, TranscodeError> {
    let clocks = [session.clock_rate(Leg::A), session.clock_rate(Leg::B)];
    MediaBridge::new(a, b, clocks, rand::random(), now)
}

type TimerHeap = BinaryHeap<Reverse<(Instant, SessionId)>>;

struct Engine {
    epoll: AsyncFd<Epoll>,
    slots: Vec<(u32, Option<Slot>)>,
    free: Vec<u32>,
    /// Media-timeout deadlines; stale entries (closed sessions, moved deadlines) are checked
    /// and skipped when popped.
    timers: TimerHeap,
    /// Bridge ticks, on the [`TICK_GRANULARITY`] grid; an entry is current only if it equals
    /// its slot's `tick_at`.
    ticks: TimerHeap,
    /// Origin of the tick grid.
    epoch: Instant,
    events: mpsc::Sender<(SessionId, RelayEvent)>,
    /// Events the full channel could not take yet (all but `Latched`).
    overflow: VecDeque<(SessionId, RelayEvent)>,
    events_dropped: u64,
    /// The recordings' writer thread, started with the first recording.
    writer: Option<RecordWriter>,
    record_queue_frames: usize,
    /// Given to each recording, for the writer's report.
    reports: mpsc::UnboundedSender<RecordingReport>,
}

fn token(index: usize, leg: Leg, rtcp: bool) -> u64 {
    let leg_bit = match leg {
        Leg::A => 0,
        Leg::B => 1,
    };
    (index as u64) << 2 | leg_bit << 1 | u64::from(rtcp)
}

impl Engine {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut reports: mpsc::UnboundedReceiver<RecordingReport>,
    ) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut datagrams = Datagrams::new();
        let mut ready = [libc::epoll_event { events: 0, u64: 0 }; EPOLL_BATCH];
        loop {
            let deadline = [self.timers.peek(), self.ticks.peek()]
                .into_iter()
                .flatten()
                .map(|Reverse((t, _))| *t)
                .min();
            let sleep = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                guard = self.epoll.readable() => {
                    let Ok(mut guard) = guard else { return };
                    // Bounded so commands and timers get their turn under constant load;
                    // readiness is kept (not cleared) when the budget runs out.
                    for _ in 0..EPOLL_ROUNDS {
                        let n = match guard.get_inner().wait(&mut ready) {
                            Ok(n) => n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(_) => return,
                        };
                        if n == 0 {
                            guard.clear_ready();
                            break;
                        }
                        let now = Instant::now();
                        let mut sink = Sink {
                            events: &self.events,
                            overflow: &mut self.overflow,
                            dropped: &mut self.events_dropped,
                        };
                        let mut heaps = Heaps {
                            timers: &mut self.timers,
                            ticks: &mut self.ticks,
                            epoch: self.epoch,
                        };
                        let mut all_drained = true;
                        for ev in &ready[..n] {
                            // Copied out of the packed struct, never borrowed.
                            let token = ev.u64;
                            all_drained &= serve_socket(
                                &mut self.slots,
                                &mut heaps,
                                token,
                                &mut datagrams,
                                now,
                                &mut sink,
                            );
                        }
                        // Every ready socket was listed and drained: nothing is left that epoll
                        // would report without new data, and new data wakes tokio's epoll
                        // (each arrival wakes the set's waiters), so the empty `wait` that
                        // would end this loop is skipped.
                        if n < ready.len() && all_drained {
                            guard.clear_ready();
                            break;
                        }
                    }
                }
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => return,
                },
                // Never `None`: the engine holds a sender.
                Some(report) = reports.recv() => self.recording_reported(report),
                () = sleep => self.fire_timers(Instant::now()),
            }
            // Ticks are served after whichever branch ran, so a busy epoll set cannot starve
            // generated audio.
            if self
                .ticks
                .peek()
                .is_some_and(|Reverse((t, _))| *t <= Instant::now())
            {
                self.fire_ticks(Instant::now(), &mut buf);
            }
            self.flush_overflow();
        }
    }

    fn slot_mut(&mut self, id: SessionId) -> Option<&mut Slot> {
        match self.slots.get_mut(id.index()) {
            Some((_, Some(slot))) if slot.id == id => Some(slot),
            _ => None,
        }
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Open(open, reply) => {
                let _ = reply.send(self.open(*open, now));
            }
            Command::Close(id, reply) => {
                let _ = reply.send(self.close(id, now));
            }
            Command::Stats(id, reply) => {
                let _ = reply.send(self.slot_mut(id).map(|s| s.stats()));
            }
            Command::SetHold(id, hold) => {
                if let Some(slot) = self.slot_mut(id) {
                    slot.session.set_hold(hold, now);
                    let rearm = rearm(slot);
                    self.push_timer(rearm);
                }
            }
            Command::SetRemote(id, leg, config) => {
                if let Some(slot) = self.slot_mut(id) {
                    slot.session.set_remote(leg, config);
                }
            }
            Command::SetMedia(id, leg, media, reply) => {
                let result = match self.slot_mut(id) {
                    None => Err(RelayError::NoSession),
                    Some(slot) => match slot.bridge.as_deref_mut() {
                        Some(bridge) => bridge.set_media(leg, *media, now).map_err(Into::into),
                        None => {
                            let (a, b) = match leg {
                                Leg::A => (*media, LegMedia::default()),
                                Leg::B => (LegMedia::default(), *media),
                            };
                            new_bridge(&slot.session, a, b, now)
                                .map(|bridge| slot.bridge = Some(Box::new(bridge)))
                                .map_err(Into::into)
                        }
                    },
                };
                let _ = reply.send(result);
                self.after_bridge_command(id);
            }
            Command::Play(id, leg, prompt, looped) => {
                if let Some(slot) = self.slot_mut(id) {
                    if let Ok(bridge) = slot.bridge_mut(now) {
                        bridge.play(leg, prompt, looped, now);
                    }
                }
                self.after_bridge_command(id);
            }
            Command::StopPlayback(id, leg) => {
                if let Some(bridge) = self.slot_mut(id).and_then(|s| s.bridge.as_deref_mut()) {
                    bridge.stop_playback(leg);
                }
                self.after_bridge_command(id);
            }
            Command::SendDtmf(id, leg, digits) => {
                if let Some(slot) = self.slot_mut(id) {
                    if let Ok(bridge) = slot.bridge_mut(now) {
                        bridge.send_dtmf(leg, &digits, now);
                    }
                }
                self.after_bridge_command(id);
            }
            Command::Record(id, leg, request, reply) => {
                let _ = reply.send(self.record(id, leg, *request, now));
                self.after_bridge_command(id);
            }
            Command::StopRecording(id, leg) => {
                if let Some(bridge) = self.slot_mut(id).and_then(|s| s.bridge.as_deref_mut()) {
                    bridge.stop_recording(leg, now);
                }
                self.after_bridge_command(id);
            }
        }
    }

    /// Starts recording `leg` of session `id` (see [`RelayHandle::record`]).
    fn record(
        &mut self,
        id: SessionId,
        leg: Leg,
        request: RecordRequest,
        now: Instant,
    ) -> Result<(), Refused> {
        let RecordRequest { temp, max } = request;
        let refuse = |error: RelayError, temp| Err(Refused { error, temp });
        if self.slot_mut(id).is_none() {
            return refuse(RelayError::NoSession, Some(temp));
        }
        let writer = match &self.writer {
            Some(writer) => writer.clone(),
            None => match RecordWriter::spawn(self.record_queue_frames) {
                Ok(writer) => self.writer.insert(writer).clone(),
                Err(e) => return refuse(RecordError::from(e).into(), Some(temp)),
            },
        };
        let Some((_, Some(slot))) = self.slots.get_mut(id.index()) else {
            return refuse(RelayError::NoSession, Some(temp));
        };
        let bridge = match slot.bridge_mut(now) {
            Ok(bridge) => bridge,
            Err(e) => return refuse(e.into(), Some(temp)),
        };
        let recorder = match bridge
            .record_config(leg, max)
            .and_then(|config| Recorder::new(&config, now))
        {
            Ok(recorder) => recorder,
            Err(e) => return refuse(e.into(), Some(temp)),
        };
        let reports = self.reports.clone();
        let on_done = Box::new(move |result| {
            let _ = reports.send((id, leg, result));
        });
        let sink = writer.open(temp, recorder.sample_rate(), on_done);
        bridge.record(leg, recorder, sink, now);
        Ok(())
    }

    /// The writer thread finished (or gave up on) a recording's file.
    fn recording_reported(&mut self, (id, leg, result): RecordingReport) {
        let event = match result {
            Ok(saved) => RelayEvent::RecordingDone {
                leg,
                duration_ms: saved.duration_ms(),
            },
            Err(e) => RelayEvent::RecordingFailed {
                leg,
                error: e.kind(),
            },
        };
        let mut sink = Sink {
            events: &self.events,
            overflow: &mut self.overflow,
            dropped: &mut self.events_dropped,
        };
        sink.deliver(id, event);
    }

    /// A command may have given the session work to do now (a prompt starts at once) or
    /// raised an event (an empty prompt is done at once).
    fn after_bridge_command(&mut self, id: SessionId) {
        let epoch = self.epoch;
        let Some((_, Some(slot))) = self.slots.get_mut(id.index()) else {
            return;
        };
        if slot.id != id {
            return;
        }
        if let Some(bridge) = &mut slot.bridge {
            let mut sink = Sink {
                events: &self.events,
                overflow: &mut self.overflow,
                dropped: &mut self.events_dropped,
            };
            sink.drain_bridge(id, bridge);
        }
        if let Some(entry) = arm_tick(slot, epoch) {
            self.ticks.push(Reverse(entry));
        }
    }

    fn push_timer(&mut self, entry: Option<(Instant, SessionId)>) {
        if let Some(entry) = entry {
            self.timers.push(Reverse(entry));
        }
    }

    fn open(&mut self, open: OpenSession, now: Instant) -> Result<SessionId, RelayError> {
        let OpenSession {
            a,
            b,
            a_leg,
            b_leg,
            config,
            a_media,
            b_media,
        } = open;
        let session = RelaySession::new(config, a_leg, b_leg, now);
        let plain = a_media == LegMedia::default() && b_media == LegMedia::default();
        // Built before any socket is registered, so a failure leaves nothing to undo.
        let bridge = if plain {
            None
        } else {
            Some(Box::new(new_bridge(&session, a_media, b_media, now)?))
        };
        let (a_rtp, a_rtcp, a_lease) = a.into_parts();
        let (b_rtp, b_rtcp, b_lease) = b.into_parts();
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len())
                    .map_err(|_| io::Error::other("too many relay sessions"))?;
                self.slots.push((0, None));
                i
            }
        };
        let entry = &mut self.slots[index as usize];
        entry.0 = entry.0.wrapping_add(1);
        let id = SessionId::new(index, entry.0);
        let sockets = [[a_rtp, a_rtcp], [b_rtp, b_rtcp]];
        let epoll = self.epoll.get_ref();
        let mut registered = Vec::with_capacity(4);
        for (leg, pair) in [Leg::A, Leg::B].into_iter().zip(&sockets) {
            for (rtcp, socket) in [false, true].into_iter().zip(pair) {
                let fd = socket.as_raw_fd();
                if let Err(e) = epoll.add(fd, token(index as usize, leg, rtcp)) {
                    for fd in registered {
                        epoll.delete(fd);
                    }
                    self.free.push(index);
                    return Err(e.into());
                }
                registered.push(fd);
            }
        }
        let deadline = session.poll_timeout();
        self.slots[index as usize].1 = Some(Slot {
            id,
            session,
            sockets,
            _leases: [a_lease, b_lease],
            armed: deadline.is_some(),
            bridge,
            tick_at: None,
            send_dropped: 0,
            send_errors: 0,
            generated_no_destination: 0,
        });
        self.push_timer(deadline.map(|t| (t, id)));
        self.after_bridge_command(id);
        Ok(id)
    }

    fn close(&mut self, id: SessionId, now: Instant) -> Option<SessionStats> {
        let slot = self.slot_mut(id)?;
        // Their files are finished; `RecordingDone` comes when the writer has them in place.
        if let Some(bridge) = slot.bridge.as_deref_mut() {
            bridge.stop_recordings(now);
        }
        let slot = self.slots[id.index()].1.take()?;
        for pair in &slot.sockets {
            for socket in pair {
                self.epoll.get_ref().delete(socket.as_raw_fd());
            }
        }
        self.free.push(id.index() as u32);
        // Sockets close and leases return their ports as `slot` drops here.
        Some(slot.stats())
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((due, id))) = self.timers.peek().copied() {
            if due > now {
                break;
            }
            self.timers.pop();
            let mut sink = Sink {
                events: &self.events,
                overflow: &mut self.overflow,
                dropped: &mut self.events_dropped,
            };
            let Some((_, Some(slot))) = self.slots.get_mut(id.index()) else {
                continue;
            };
            if slot.id != id {
                continue;
            }
            slot.armed = false;
            slot.session.handle_timeout(now);
            sink.drain(id, &mut slot.session);
            if let Some(entry) = rearm(slot) {
                self.timers.push(Reverse(entry));
            }
        }
    }

    /// Runs every bridge whose tick is due: sends what it generates, delivers its events.
    fn fire_ticks(&mut self, now: Instant, buf: &mut [u8]) {
        while let Some(Reverse((due, id))) = self.ticks.peek().copied() {
            if due > now {
                break;
            }
            self.ticks.pop();
            let mut sink = Sink {
                events: &self.events,
                overflow: &mut self.overflow,
                dropped: &mut self.events_dropped,
            };
            let Some((_, Some(slot))) = self.slots.get_mut(id.index()) else {
                continue;
            };
            if slot.id != id || slot.tick_at != Some(due) {
                continue;
            }
            slot.tick_at = None;
            run_bridge(slot, buf, now, &mut sink);
            if let Some(entry) = arm_tick(slot, self.epoch) {
                self.ticks.push(Reverse(entry));
            }
        }
    }

    fn flush_overflow(&mut self) {
        while let Some(&event) = self.overflow.front() {
            if self.events.try_send(event).is_err() {
                break;
            }
            self.overflow.pop_front();
        }
    }
}

/// Sends everything the slot's bridge generates at `now` and delivers its events.
fn run_bridge(slot: &mut Slot, buf: &mut [u8], now: Instant, sink: &mut Sink<'_>) {
    let Some(mut bridge) = slot.bridge.take() else {
        return;
    };
    while let Some((leg, n)) = bridge.poll_transmit(now, buf) {
        slot.send_generated(leg, &buf[..n]);
    }
    sink.drain_bridge(slot.id, &mut bridge);
    slot.bridge = Some(bridge);
}

/// A timer entry if the session wants one and has none.
fn rearm(slot: &mut Slot) -> Option<(Instant, SessionId)> {
    if slot.armed {
        return None;
    }
    let due = slot.session.poll_timeout()?;
    slot.armed = true;
    Some((due, slot.id))
}

/// A tick entry if the bridge has work before the current entry (or has none).
fn arm_tick(slot: &mut Slot, epoch: Instant) -> Option<(Instant, SessionId)> {
    let due = slot.bridge.as_ref()?.poll_timeout()?;
    let due = on_grid(due, epoch);
    if slot.tick_at.is_some_and(|t| t <= due) {
        return None;
    }
    slot.tick_at = Some(due);
    Some((due, slot.id))
}

/// `t` rounded up to the next [`TICK_GRANULARITY`] step after `epoch`.
fn on_grid(t: Instant, epoch: Instant) -> Instant {
    let step = TICK_GRANULARITY.as_nanos();
    let since = t.saturating_duration_since(epoch).as_nanos();
    let steps = since.div_ceil(step);
    let nanos = u64::try_from(steps * step).unwrap_or(u64::MAX);
    epoch + Duration::from_nanos(nanos)
}

/// The two timer heaps and the tick grid, borrowed together by the receive path.
struct Heaps<'a> {
    timers: &'a mut TimerHeap,
    ticks: &'a mut TimerHeap,
    epoch: Instant,
}

struct Sink<'a> {
    events: &'a mpsc::Sender<(SessionId, RelayEvent)>,
    overflow: &'a mut VecDeque<(SessionId, RelayEvent)>,
    dropped: &'a mut u64,
}

impl Sink<'_> {
    fn drain(&mut self, id: SessionId, session: &mut RelaySession) {
        while let Some(event) = session.poll_event() {
            self.deliver(id, event);
        }
    }

    fn drain_bridge(&mut self, id: SessionId, bridge: &mut MediaBridge) {
        while let Some(event) = bridge.poll_event() {
            self.deliver(id, event);
        }
    }

    fn deliver(&mut self, id: SessionId, event: RelayEvent) {
        // Behind earlier undelivered events, to keep their order (a key's start before its end).
        if !self.overflow.is_empty() || self.events.try_send((id, event)).is_err() {
            match event {
                RelayEvent::Latched { .. } => *self.dropped += 1,
                RelayEvent::MediaTimeout
                | RelayEvent::Dtmf { .. }
                | RelayEvent::PlaybackDone { .. }
                | RelayEvent::RecordingDone { .. }
                | RelayEvent::RecordingFailed { .. } => self.overflow.push_back((id, event)),
            }
        }
    }
}

/// Reads one ready socket (up to [`RECV_BUDGET`] datagrams, [`BATCH`] per `recvmmsg`) and
/// forwards what the core allows, one `sendmmsg` per batch. Returns whether the socket was
/// drained (a short read), i.e. epoll has no reason to report it again before new data.
fn serve_socket(
    slots: &mut [(u32, Option<Slot>)],
    heaps: &mut Heaps<'_>,
    token: u64,
    datagrams: &mut Datagrams,
    now: Instant,
    sink: &mut Sink<'_>,
) -> bool {
    let index = (token >> 2) as usize;
    let leg = if token & 2 == 0 { Leg::A } else { Leg::B };
    let rtcp = token & 1 == 1;
    let Some((_, Some(slot))) = slots.get_mut(index) else {
        return true;
    };
    let kind = usize::from(rtcp);
    let leg_index = match leg {
        Leg::A => 0,
        Leg::B => 1,
    };
    let mut budget = RECV_BUDGET;
    let mut drained = false;
    while budget > 0 {
        let want = budget.min(BATCH);
        let n = match datagrams.recv(&slot.sockets[leg_index][kind], want) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                drained = true;
                break;
            }
            // ICMP errors reported on the socket (port unreachable...) and the like: skip.
            Err(_) => {
                budget -= 1;
                continue;
            }
        };
        budget = budget.saturating_sub(n.max(1));
        // Which leg's socket the queued datagrams leave from (always the other leg's today;
        // a change flushes what was queued for the previous one, keeping the order).
        let mut queued_for: Option<usize> = None;
        for i in 0..n {
            let Some((packet, src)) = datagrams.datagram(i) else {
                continue;
            };
            let verdict = if rtcp {
                slot.session.on_rtcp(leg, src, packet)
            } else {
                slot.session.on_packet(leg, src, packet, now)
            };
            let forward = match (&mut slot.bridge, verdict) {
                // The plain path: no bridge, or RTCP, or a datagram the core refused.
                (None, _) => verdict,
                (Some(_), _) if rtcp || is_rtcp(packet) => verdict,
                (
                    Some(bridge),
                    Verdict::Forward { .. } | Verdict::Drop(DropReason::NoDestination),
                ) => {
                    let deliverable = matches!(verdict, Verdict::Forward { .. });
                    if bridge.on_rtp(leg, packet, deliverable, now) {
                        verdict
                    } else {
                        Verdict::Drop(DropReason::NoDestination)
                    }
                }
                (Some(_), _) => verdict,
            };
            if let Verdict::Forward { to, from_leg } = forward {
                let out = match from_leg {
                    Leg::A => 0,
                    Leg::B => 1,
                };
                if let Some(previous) = queued_for.filter(|&p| p != out) {
                    slot.count_sent(datagrams.flush(&slot.sockets[previous][kind]));
                }
                queued_for = Some(out);
                datagrams.queue(i, to);
            }
            sink.drain(slot.id, &mut slot.session);
            if let Some(bridge) = &mut slot.bridge {
                sink.drain_bridge(slot.id, bridge);
            }
        }
        if let Some(out) = queued_for {
            slot.count_sent(datagrams.flush(&slot.sockets[out][kind]));
        }
        if n < want {
            drained = true;
            break;
        }
    }
    if let Some(entry) = rearm(slot) {
        heaps.timers.push(Reverse(entry));
    }
    if let Some(entry) = arm_tick(slot, heaps.epoch) {
        heaps.ticks.push(Reverse(entry));
    }
    drained
}

// ---------------------------------------------------------------------------------------------

/// A level-triggered epoll set of our sockets.
struct Epoll(OwnedFd);

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new fd we own.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both fds are open (the socket is owned by the caller's slot); `event` is a
        // valid epoll_event that the kernel only reads.
        let rc =
            unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn delete(&self, fd: RawFd) {
        // SAFETY: a null event pointer is allowed for EPOLL_CTL_DEL since Linux 2.6.9. A failure
        // (fd not registered) leaves nothing to undo, and closing the fd removes it anyway.
        unsafe {
            libc::epoll_ctl(
                self.0.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            );
        }
    }

    /// Ready entries, without waiting.
    fn wait(&self, events: &mut [libc::epoll_event]) -> io::Result<usize> {
        let max = i32::try_from(events.len()).unwrap_or(i32::MAX);
        // SAFETY: `events` is a writable buffer of `max` epoll_event entries.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}
