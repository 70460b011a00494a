//! The tokio shell around [`RelaySession`]: one task, one epoll set, many sessions.
//!
//! Why epoll of our own rather than a tokio `UdpSocket` per leg: with a future per socket, one
//! task would have to poll every socket on every wake-up (O(sessions)), or each session would
//! need its own task. Here all sockets sit in one epoll set, which tokio watches as a single
//! [`AsyncFd`]; a wake-up lists exactly the sockets with data. The inner set is level-triggered,
//! so a socket not drained within its per-round budget is simply reported again.
//!
//! Overflow policies: commands wait for room (the signalling side can afford it); a datagram
//! that cannot be sent at once is dropped and counted; `Latched` events are dropped and counted
//! when the event channel is full, `MediaTimeout` events are kept and delivered later.
//!
//! This is the one place of the crate that reads the clock (once per epoll round) and touches
//! sockets.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

use super::{Leg, LegConfig, LegStats, RelayConfig, RelayEvent, RelaySession, Verdict};
use crate::ports::{PortLease, PortPair};

/// Datagrams read from one socket per round before moving on (fairness between sessions).
const RECV_BUDGET: usize = 64;
/// Ready sockets taken from epoll per call.
const EPOLL_BATCH: usize = 64;
/// Epoll batches handled per wake-up before looking at commands and timers again.
const EPOLL_ROUNDS: usize = 16;
/// Larger than any RTP packet on an Ethernet path.
const MAX_DATAGRAM: usize = 2048;

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
}

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
}

impl Default for RelayIoConfig {
    fn default() -> Self {
        RelayIoConfig {
            command_capacity: 256,
            event_capacity: 1024,
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
        let engine = Engine {
            epoll,
            slots: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            events: event_tx,
            overflow: VecDeque::new(),
            events_dropped: 0,
        };
        tokio::spawn(engine.run(command_rx));
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
    send_dropped: u64,
    send_errors: u64,
}

impl Slot {
    fn stats(&self) -> SessionStats {
        SessionStats {
            a: self.session.stats(Leg::A).clone(),
            b: self.session.stats(Leg::B).clone(),
            latched: [self.session.latched(Leg::A), self.session.latched(Leg::B)],
            send_dropped: self.send_dropped,
            send_errors: self.send_errors,
        }
    }
}

struct Engine {
    epoll: AsyncFd<Epoll>,
    slots: Vec<(u32, Option<Slot>)>,
    free: Vec<u32>,
    /// Media-timeout deadlines; stale entries (closed sessions, moved deadlines) are checked
    /// and skipped when popped.
    timers: BinaryHeap<Reverse<(Instant, SessionId)>>,
    events: mpsc::Sender<(SessionId, RelayEvent)>,
    /// Timeout events the full channel could not take yet.
    overflow: VecDeque<(SessionId, RelayEvent)>,
    events_dropped: u64,
}

fn token(index: usize, leg: Leg, rtcp: bool) -> u64 {
    let leg_bit = match leg {
        Leg::A => 0,
        Leg::B => 1,
    };
    (index as u64) << 2 | leg_bit << 1 | u64::from(rtcp)
}

impl Engine {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut ready = [libc::epoll_event { events: 0, u64: 0 }; EPOLL_BATCH];
        loop {
            let deadline = self.timers.peek().map(|Reverse((t, _))| *t);
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
                        for ev in &ready[..n] {
                            // Copied out of the packed struct, never borrowed.
                            let token = ev.u64;
                            serve_socket(
                                &mut self.slots,
                                &mut self.timers,
                                token,
                                &mut buf,
                                now,
                                &mut sink,
                            );
                        }
                    }
                }
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => return,
                },
                () = sleep => self.fire_timers(Instant::now()),
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
                let _ = reply.send(self.close(id));
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
        } = open;
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
        let session = RelaySession::new(config, a_leg, b_leg, now);
        let deadline = session.poll_timeout();
        self.slots[index as usize].1 = Some(Slot {
            id,
            session,
            sockets,
            _leases: [a_lease, b_lease],
            armed: deadline.is_some(),
            send_dropped: 0,
            send_errors: 0,
        });
        self.push_timer(deadline.map(|t| (t, id)));
        Ok(id)
    }

    fn close(&mut self, id: SessionId) -> Option<SessionStats> {
        self.slot_mut(id)?;
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

    fn flush_overflow(&mut self) {
        while let Some(&event) = self.overflow.front() {
            if self.events.try_send(event).is_err() {
                break;
            }
            self.overflow.pop_front();
        }
    }
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

struct Sink<'a> {
    events: &'a mpsc::Sender<(SessionId, RelayEvent)>,
    overflow: &'a mut VecDeque<(SessionId, RelayEvent)>,
    dropped: &'a mut u64,
}

impl Sink<'_> {
    fn drain(&mut self, id: SessionId, session: &mut RelaySession) {
        while let Some(event) = session.poll_event() {
            if self.events.try_send((id, event)).is_err() {
                match event {
                    RelayEvent::MediaTimeout => self.overflow.push_back((id, event)),
                    RelayEvent::Latched { .. } => *self.dropped += 1,
                }
            }
        }
    }
}

/// Reads one ready socket (up to [`RECV_BUDGET`] datagrams) and forwards what the core allows.
fn serve_socket(
    slots: &mut [(u32, Option<Slot>)],
    timers: &mut BinaryHeap<Reverse<(Instant, SessionId)>>,
    token: u64,
    buf: &mut [u8],
    now: Instant,
    sink: &mut Sink<'_>,
) {
    let index = (token >> 2) as usize;
    let leg = if token & 2 == 0 { Leg::A } else { Leg::B };
    let rtcp = token & 1 == 1;
    let Some((_, Some(slot))) = slots.get_mut(index) else {
        return;
    };
    let kind = usize::from(rtcp);
    let leg_index = match leg {
        Leg::A => 0,
        Leg::B => 1,
    };
    for _ in 0..RECV_BUDGET {
        let (len, src) = match slot.sockets[leg_index][kind].recv_from(buf) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            // ICMP errors reported on the socket (port unreachable...) and the like: skip.
            Err(_) => continue,
        };
        let packet = &buf[..len];
        let verdict = if rtcp {
            slot.session.on_rtcp(leg, src, packet)
        } else {
            slot.session.on_packet(leg, src, packet, now)
        };
        if let Verdict::Forward { to, from_leg } = verdict {
            let out = match from_leg {
                Leg::A => &slot.sockets[0][kind],
                Leg::B => &slot.sockets[1][kind],
            };
            match out.send_to(packet, to) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => slot.send_dropped += 1,
                Err(_) => slot.send_errors += 1,
            }
        }
        sink.drain(slot.id, &mut slot.session);
    }
    if let Some(entry) = rearm(slot) {
        timers.push(Reverse(entry));
    }
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
