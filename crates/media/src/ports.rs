//! RTP/RTCP port pairs from the configured range (`[media] rtp_ports`).
//!
//! RTP takes an even port, RTCP the odd one above (RFC 3550 §11). The allocator keeps the free
//! pairs in a FIFO queue: allocation and release are O(1), and a released pair goes to the back,
//! so the port of a call that just ended is the last to be reused (late packets of the old call
//! do not land in a new one).
//!
//! A [`PortPair`] owns both bound sockets and a lease; dropping it closes the sockets and returns
//! the pair to the queue, so a port cannot leak and cannot be handed out twice (the queue holds a
//! pair only while nobody leases it; an `in_use` bitmap guards the invariant). A pair whose bind
//! fails (another process holds the port) goes to the back of the queue and the next one is
//! tried.
//!
//! Why a std `Mutex`: allocation happens once per call leg, the critical section is a queue pop,
//! and nothing awaits under it.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why no port pair could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The range does not start on an even port or holds no complete pair.
    #[error("RTP port range {0:?} must start even and hold at least one even/odd pair")]
    Range(RangeInclusive<u16>),
    /// Every free pair is leased, or failed to bind (the last bind error is kept).
    #[error("no free RTP port pair ({leased} leased, last bind error: {last_bind_error:?})")]
    Exhausted {
        /// Pairs currently leased.
        leased: usize,
        /// The last bind failure while trying the free pairs, if any.
        last_bind_error: Option<io::ErrorKind>,
    },
}

struct Pool {
    /// First RTP port of the range.
    base: u16,
    /// Free pair indices; pair `i` is ports `base + 2i` and `base + 2i + 1`.
    free: VecDeque<u16>,
    /// `in_use[i]` while pair `i` is leased.
    in_use: Vec<bool>,
    leased: usize,
}

/// Hands out even/odd port pairs from one range, bound on one address.
#[derive(Clone)]
pub struct PortAllocator {
    ip: IpAddr,
    pool: Arc<Mutex<Pool>>,
}

impl std::fmt::Debug for PortAllocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortAllocator")
            .field("ip", &self.ip)
            .field("leased", &self.leased())
            .finish()
    }
}

fn lock(pool: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    // A panic while holding this lock cannot leave the queue half-updated (each critical
    // section is a single push or pop), so a poisoned lock is still consistent.
    pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PortAllocator {
    /// An allocator binding on `ip` (the address written into SDP, or an unspecified address)
    /// with RTP ports from `range`: it must start even; a trailing lone even port is not used.
    pub fn new(ip: IpAddr, range: RangeInclusive<u16>) -> Result<PortAllocator, PortError> {
        let (start, end) = (*range.start(), *range.end());
        if start % 2 != 0 || end <= start {
            return Err(PortError::Range(range));
        }
        // Pair i is ports start + 2i and start + 2i + 1, both within the range.
        let pairs = (u32::from(end) - u32::from(start)).div_ceil(2);
        let Ok(pairs) = u16::try_from(pairs) else {
            return Err(PortError::Range(range));
        };
        if pairs == 0 {
            return Err(PortError::Range(range));
        }
        Ok(PortAllocator {
            ip,
            pool: Arc::new(Mutex::new(Pool {
                base: start,
                free: (0..pairs).collect(),
                in_use: vec![false; usize::from(pairs)],
                leased: 0,
            })),
        })
    }

    /// The address sockets are bound on.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Pairs leased right now.
    pub fn leased(&self) -> usize {
        lock(&self.pool).leased
    }

    /// Pairs free right now.
    pub fn free(&self) -> usize {
        lock(&self.pool).free.len()
    }

    /// Leases the next free pair and binds its two sockets (non-blocking). Pairs that fail to
    /// bind are skipped (and stay in the queue for later); each free pair is tried at most once.
    pub fn allocate(&self) -> Result<PortPair, PortError> {
        let mut last_bind_error = None;
        let attempts = self.free();
        for _ in 0..attempts {
            let Some(lease) = self.lease() else { break };
            match bind_pair(self.ip, lease.port) {
                Ok((rtp, rtcp)) => return Ok(PortPair { rtp, rtcp, lease }),
                // Dropping the lease puts the pair at the back of the queue.
                Err(e) => last_bind_error = Some(e.kind()),
            }
        }
        Err(PortError::Exhausted {
            leased: self.leased(),
            last_bind_error,
        })
    }

    /// Leases a pair without binding it (for callers that bind themselves, and tests).
    pub fn lease(&self) -> Option<PortLease> {
        let mut pool = lock(&self.pool);
        let index = pool.free.pop_front()?;
        let slot = &mut pool.in_use[usize::from(index)];
        debug_assert!(!*slot, "a free pair is never leased");
        *slot = true;
        pool.leased += 1;
        let port = pool.base + 2 * index;
        Some(PortLease {
            pool: Arc::clone(&self.pool),
            index,
            port,
        })
    }
}

fn bind_pair(ip: IpAddr, port: u16) -> io::Result<(UdpSocket, UdpSocket)> {
    let rtp = UdpSocket::bind(SocketAddr::new(ip, port))?;
    let rtcp = UdpSocket::bind(SocketAddr::new(ip, port + 1))?;
    rtp.set_nonblocking(true)?;
    rtcp.set_nonblocking(true)?;
    Ok((rtp, rtcp))
}

/// A leased pair of ports; returned to the allocator on drop.
pub struct PortLease {
    pool: Arc<Mutex<Pool>>,
    index: u16,
    port: u16,
}

impl std::fmt::Debug for PortLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortLease")
            .field("port", &self.port)
            .finish()
    }
}

impl PortLease {
    /// The even RTP port (RTCP is `rtp_port() + 1`).
    pub fn rtp_port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut pool = lock(&self.pool);
        let index = self.index;
        if let Some(slot) = pool.in_use.get_mut(usize::from(index)) {
            if *slot {
                *slot = false;
                pool.leased -= 1;
                pool.free.push_back(index);
            }
        }
    }
}

/// Two bound non-blocking sockets (RTP on the even port, RTCP on the odd one) and their lease.
#[derive(Debug)]
pub struct PortPair {
    /// RTP socket (also RTCP when rtcp-mux is used).
    pub rtp: UdpSocket,
    /// RTCP socket.
    pub rtcp: UdpSocket,
    lease: PortLease,
}

impl PortPair {
    /// The even RTP port.
    pub fn rtp_port(&self) -> u16 {
        self.lease.port
    }

    /// Splits into the sockets and the lease (the lease must outlive the sockets' use).
    pub fn into_parts(self) -> (UdpSocket, UdpSocket, PortLease) {
        (self.rtp, self.rtcp, self.lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn range_must_start_even_and_hold_a_pair() {
        assert!(matches!(
            PortAllocator::new(LOCAL, 20001..=20010),
            Err(PortError::Range(_))
        ));
        assert!(matches!(
            PortAllocator::new(LOCAL, 20000..=20000),
            Err(PortError::Range(_))
        ));
        let two = PortAllocator::new(LOCAL, 20000..=20003).map(|a| a.free());
        assert_eq!(two.ok(), Some(2));
        // 20004 alone has no RTCP port: not used.
        let lone = PortAllocator::new(LOCAL, 20000..=20004).map(|a| a.free());
        assert_eq!(lone.ok(), Some(2));
        let top = PortAllocator::new(LOCAL, 65534..=65535).map(|a| a.free());
        assert_eq!(top.ok(), Some(1));
    }

    #[test]
    fn leases_are_even_distinct_and_fifo() {
        let alloc = PortAllocator::new(LOCAL, 30000..=30005).expect("valid range");
        let a = alloc.lease().expect("free");
        let b = alloc.lease().expect("free");
        let c = alloc.lease().expect("free");
        assert_eq!(
            [a.rtp_port(), b.rtp_port(), c.rtp_port()],
            [30000, 30002, 30004]
        );
        assert!(alloc.lease().is_none());
        drop(b);
        assert_eq!(alloc.leased(), 2);
        let again = alloc.lease().expect("b's pair is free");
        assert_eq!(again.rtp_port(), 30002);
    }
}
