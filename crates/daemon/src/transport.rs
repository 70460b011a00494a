//! SIP transports: UDP sockets and TCP listeners on IPv4 and IPv6.
//!
//! Every received message goes to the node's single inbound queue. UDP datagrams are dropped
//! and counted when that queue is full (the peer retransmits); TCP readers wait instead, which
//! pushes back on the sender through TCP flow control. TCP is guarded against exhaustion: a
//! semaphore caps the connections, each message is capped in size, and an idle connection is
//! closed after `tcp_idle_timeout`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use engine::{ConnId, Inbound, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::{debug, info, warn};

/// Bytes queued for one TCP connection before further sends to it are dropped.
const TCP_WRITE_QUEUE: usize = 256;
/// How long we wait for a TCP connection we open (to an agent) before giving up on it.
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest UDP datagram we read; SIP over UDP must stay well below it.
const UDP_MAX_DATAGRAM: usize = 65_535;
/// Kernel buffer asked for each UDP socket. The default (about 200 KiB) holds some 300
/// REGISTERs: a burst, or a moment where the node task is not scheduled, overflows it and the
/// kernel drops requests the client then retransmits 500 ms later.
const UDP_SOCKET_BUFFER: usize = 8 << 20;

/// Counters that the transports bump and the node logs and exposes.
#[derive(Default, Debug)]
pub struct TransportStats {
    pub udp_dropped_queue_full: AtomicU64,
    pub udp_send_errors: AtomicU64,
    pub tcp_rejected_limit: AtomicU64,
    pub tcp_framing_errors: AtomicU64,
    pub tcp_idle_closed: AtomicU64,
    pub tcp_send_dropped: AtomicU64,
}

/// The sending side of all transports, shared by the node.
pub struct Transports {
    udp: HashMap<SocketAddr, Arc<UdpSocket>>,
    tcp: Arc<TcpShared>,
    pub stats: Arc<TransportStats>,
}

impl Transports {
    /// Sends over UDP from the socket bound to `local`, without waiting: a full socket buffer
    /// drops the datagram (SIP over UDP retransmits).
    pub fn send_udp(&self, local: SocketAddr, dest: SocketAddr, data: &[u8]) {
        let Some(socket) = self.udp.get(&local).or_else(|| self.udp_for_family(dest)) else {
            self.stats.udp_send_errors.fetch_add(1, Ordering::Relaxed);
            debug!(%local, %dest, "no UDP socket to send from");
            return;
        };
        if let Err(e) = socket.try_send_to(data, dest) {
            self.stats.udp_send_errors.fetch_add(1, Ordering::Relaxed);
            debug!(%dest, error = %e, "UDP send failed");
        }
    }

    fn udp_for_family(&self, dest: SocketAddr) -> Option<&Arc<UdpSocket>> {
        self.udp
            .iter()
            .find(|(addr, _)| addr.is_ipv4() == dest.is_ipv4())
            .map(|(_, s)| s)
    }

    /// Queues bytes on an open TCP connection. Returns false when the connection is gone or
    /// its queue is full.
    pub fn send_tcp(&self, conn: ConnId, data: Bytes) -> bool {
        self.tcp.send(conn, data)
    }

    /// Sends over TCP to `dest` with no connection named: the connection the peer keeps open
    /// with us (a phone that registered over TCP), else a new one (RFC 3261 §18.1.1). Bytes
    /// for a connection still being opened wait for it, in order. A failed connect is reported
    /// on the unreachable queue.
    pub fn send_tcp_to(&self, dest: SocketAddr, data: Bytes) {
        let peer_conn = self.tcp.peers.get(&dest).map(|c| *c);
        if let Some(conn) = peer_conn {
            if self.tcp.send(conn, data.clone()) {
                return;
            }
        }
        if let Some(mut queued) = self.tcp.pending.get_mut(&dest) {
            queued.push(data);
            return;
        }
        self.tcp.pending.insert(dest, vec![data]);
        tokio::spawn(connect_tcp(self.tcp.clone(), dest));
    }
}

/// What the TCP side shares between the acceptors, the outbound connectors and the node.
struct TcpShared {
    limits: TcpLimits,
    permits: Arc<Semaphore>,
    next_conn: AtomicU64,
    /// Write queues of open connections.
    conns: DashMap<ConnId, mpsc::Sender<Bytes>>,
    /// The open connection to each peer address (accepted or opened by us).
    peers: DashMap<SocketAddr, ConnId>,
    /// Bytes waiting for a connection we are opening.
    pending: DashMap<SocketAddr, Vec<Bytes>>,
    /// The local address our outbound connections are opened from, per IP family.
    locals: Vec<SocketAddr>,
    inbound: mpsc::Sender<Inbound>,
    unreachable: mpsc::Sender<(Transport, SocketAddr)>,
    stats: Arc<TransportStats>,
    shutdown: watch::Receiver<bool>,
}

impl TcpShared {
    fn send(&self, conn: ConnId, data: Bytes) -> bool {
        let sent = match self.conns.get(&conn) {
            Some(tx) => tx.try_send(data).is_ok(),
            None => false,
        };
        if !sent {
            self.stats.tcp_send_dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// Registers a connection (accepted or opened) and serves it until it closes.
    fn spawn_connection(
        self: &Arc<Self>,
        stream: TcpStream,
        local: SocketAddr,
        peer: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
        first: Vec<Bytes>,
    ) {
        let _ = stream.set_nodelay(true);
        let conn = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::channel(TCP_WRITE_QUEUE);
        for data in first {
            if tx.try_send(data).is_err() {
                self.stats.tcp_send_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.conns.insert(conn, tx.clone());
        self.peers.insert(peer, conn);
        let shared = self.clone();
        tokio::spawn(async move {
            let io = TcpIo {
                outgoing: rx,
                pong: tx,
            };
            serve_tcp(stream, conn, local, peer, io, &shared).await;
            shared.conns.remove(&conn);
            shared.peers.remove_if(&peer, |_, c| *c == conn);
            drop(permit);
        });
    }
}

/// Limits that protect the TCP side.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub max_message_size: usize,
}

/// Binds every listen address, then starts the receive tasks. Binding happens before any task
/// starts so that a bad address fails the start-up with a clear error.
pub async fn start(
    listen: &[config::Listen],
    limits: TcpLimits,
    inbound: mpsc::Sender<Inbound>,
    unreachable: mpsc::Sender<(Transport, SocketAddr)>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<Transports> {
    let stats = Arc::new(TransportStats::default());
    let mut udp = HashMap::new();
    let mut tcp_listeners = Vec::new();
    for l in listen {
        match l.transport {
            config::Transport::Udp => {
                let socket = bind_udp(l.addr).map_err(|e| bind_error(l, e))?;
                let local = socket.local_addr()?;
                let buffer = socket2::SockRef::from(&socket)
                    .recv_buffer_size()
                    .unwrap_or(0);
                info!(%local, receive_buffer = buffer, "listening on UDP");
                udp.insert(local, Arc::new(socket));
            }
            config::Transport::Tcp => {
                let listener = TcpListener::bind(l.addr)
                    .await
                    .map_err(|e| bind_error(l, e))?;
                info!(local = %listener.local_addr()?, "listening on TCP");
                tcp_listeners.push(listener);
            }
        }
    }
    for (local, socket) in &udp {
        tokio::spawn(udp_receive(
            socket.clone(),
            *local,
            inbound.clone(),
            stats.clone(),
            shutdown.clone(),
        ));
    }
    let locals = tcp_listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let tcp = Arc::new(TcpShared {
        limits,
        permits: Arc::new(Semaphore::new(limits.max_connections)),
        next_conn: AtomicU64::new(1),
        conns: DashMap::new(),
        peers: DashMap::new(),
        pending: DashMap::new(),
        locals,
        inbound,
        unreachable,
        stats: stats.clone(),
        shutdown,
    });
    for listener in tcp_listeners {
        tokio::spawn(tcp_accept(listener, tcp.clone()));
    }
    Ok(Transports { udp, tcp, stats })
}

/// A UDP socket with large kernel buffers; IPv6 sockets are IPv6-only so `[::]` and
/// `0.0.0.0` can both be listened on.
fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    grow_buffer(
        &socket,
        libc::SO_RCVBUFFORCE,
        UDP_SOCKET_BUFFER,
        Socket::set_recv_buffer_size,
    );
    grow_buffer(
        &socket,
        libc::SO_SNDBUFFORCE,
        UDP_SOCKET_BUFFER,
        Socket::set_send_buffer_size,
    );
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Asks for `size` bytes of kernel buffer: past `net.core.[rw]mem_max` with the `*FORCE`
/// option when we may (root, CAP_NET_ADMIN), else as much as the plain option gives.
fn grow_buffer(
    socket: &socket2::Socket,
    force: libc::c_int,
    size: usize,
    plain: fn(&socket2::Socket, usize) -> io::Result<()>,
) {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid open socket, an int option value of the size passed.
    let forced = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            force,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    if !forced {
        let _ = plain(socket, size);
    }
}

fn bind_error(l: &config::Listen, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("cannot listen on {:?} {}: {e}", l.transport, l.addr),
    )
}

async fn udp_receive(
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    inbound: mpsc::Sender<Inbound>,
    stats: Arc<TransportStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buf = BytesMut::with_capacity(UDP_MAX_DATAGRAM * 4);
    loop {
        if buf.capacity() < UDP_MAX_DATAGRAM {
            buf.reserve(UDP_MAX_DATAGRAM * 4);
        }
        let received = tokio::select! {
            r = socket.recv_buf_from(&mut buf) => r,
            _ = shutdown.changed() => return,
        };
        let (len, peer) = match received {
            Ok(r) => r,
            Err(e) => {
                // ICMP port unreachable from an earlier send shows up here on some systems;
                // it concerns that peer only.
                debug!(%local, error = %e, "UDP receive error");
                buf.clear();
                continue;
            }
        };
        let data = buf.split_to(len).freeze();
        let msg = Inbound {
            transport: Transport::Udp,
            local,
            peer,
            conn: None,
            data,
        };
        if inbound.try_send(msg).is_err() {
            stats.udp_dropped_queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn tcp_accept(listener: TcpListener, tcp: Arc<TcpShared>) {
    let Ok(local) = listener.local_addr() else {
        return;
    };
    let mut shutdown = tcp.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                warn!(%local, error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = tcp.permits.clone().try_acquire_owned() else {
            tcp.stats.tcp_rejected_limit.fetch_add(1, Ordering::Relaxed);
            debug!(%peer, "TCP connection limit reached, closing");
            drop(stream);
            continue;
        };
        tcp.spawn_connection(stream, local, peer, permit, Vec::new());
    }
}

/// Opens a connection to `dest` for the bytes queued in `pending`; reports `dest` unreachable
/// when it cannot (limit reached, refused, or no answer within the connect timeout).
async fn connect_tcp(tcp: Arc<TcpShared>, dest: SocketAddr) {
    let opened = match tcp.permits.clone().try_acquire_owned() {
        Ok(permit) => {
            match tokio::time::timeout(TCP_CONNECT_TIMEOUT, TcpStream::connect(dest)).await {
                Ok(Ok(stream)) => Some((stream, permit)),
                Ok(Err(e)) => {
                    debug!(%dest, error = %e, "TCP connect failed");
                    None
                }
                Err(_) => {
                    debug!(%dest, "TCP connect timed out");
                    None
                }
            }
        }
        Err(_) => {
            tcp.stats.tcp_rejected_limit.fetch_add(1, Ordering::Relaxed);
            None
        }
    };
    let queued = tcp
        .pending
        .remove(&dest)
        .map(|(_, q)| q)
        .unwrap_or_default();
    match opened {
        Some((stream, permit)) => {
            let local = stream
                .local_addr()
                .ok()
                .or_else(|| tcp.locals.first().copied())
                .unwrap_or(dest);
            tcp.spawn_connection(stream, local, dest, permit, queued);
        }
        None => {
            tcp.stats
                .tcp_send_dropped
                .fetch_add(queued.len() as u64, Ordering::Relaxed);
            let _ = tcp.unreachable.try_send((Transport::Tcp, dest));
        }
    }
}

async fn serve_tcp(
    stream: TcpStream,
    conn: ConnId,
    local: SocketAddr,
    peer: SocketAddr,
    io: TcpIo,
    tcp: &TcpShared,
) {
    let limits = tcp.limits;
    let stats = &tcp.stats;
    let inbound = &tcp.inbound;
    let mut shutdown = tcp.shutdown.clone();
    debug!(%peer, conn = conn.0, "TCP connection open");
    let (mut reader, writer) = stream.into_split();
    let TcpIo { outgoing, pong } = io;
    let writer_task = tokio::spawn(write_tcp(writer, outgoing));
    let mut buf = BytesMut::with_capacity(8192);
    'read: loop {
        let read = tokio::select! {
            r = tokio::time::timeout(limits.idle_timeout, reader.read_buf(&mut buf)) => r,
            _ = shutdown.changed() => break,
        };
        match read {
            Err(_) => {
                stats.tcp_idle_closed.fetch_add(1, Ordering::Relaxed);
                debug!(%peer, "TCP connection idle, closing");
                break;
            }
            Ok(Ok(0)) => break,
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "TCP read error");
                break;
            }
            Ok(Ok(_)) => {}
        }
        loop {
            match sip_msg::frame_stream(&buf, limits.max_message_size) {
                sip_msg::Framed::Incomplete => break,
                sip_msg::Framed::KeepAlive(len) => {
                    // RFC 5626 §3.5.1: answer a double-CRLF ping with a single CRLF pong.
                    let ping = buf.split_to(len);
                    if ping.len() >= 4 {
                        let _ = pong.try_send(Bytes::from_static(b"\r\n"));
                    }
                }
                sip_msg::Framed::Message(len) => {
                    let data = buf.split_to(len).freeze();
                    let msg = Inbound {
                        transport: Transport::Tcp,
                        local,
                        peer,
                        conn: Some(conn),
                        data,
                    };
                    if inbound.send(msg).await.is_err() {
                        break 'read;
                    }
                }
                sip_msg::Framed::Error(e) => {
                    stats.tcp_framing_errors.fetch_add(1, Ordering::Relaxed);
                    debug!(%peer, error = %e, "TCP framing error, closing");
                    break 'read;
                }
            }
        }
    }
    writer_task.abort();
    debug!(%peer, conn = conn.0, "TCP connection closed");
}

/// The two ends of a connection's write queue that its reader needs.
struct TcpIo {
    outgoing: mpsc::Receiver<Bytes>,
    pong: mpsc::Sender<Bytes>,
}

async fn write_tcp(mut writer: OwnedWriteHalf, mut outgoing: mpsc::Receiver<Bytes>) {
    while let Some(data) = outgoing.recv().await {
        if writer.write_all(&data).await.is_err() {
            return;
        }
    }
}
