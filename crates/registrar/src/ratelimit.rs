//! Failed-authentication limiter per source.
//!
//! A fixed window per source: the first failure opens a window of `failure_window`; once
//! `failure_limit` failures fall in it, the source is refused until the window ends, without
//! any digest being computed. Successes never reset a counter (neither the source's own, so a
//! guesser cannot interleave a known-good account, nor anyone else's).
//!
//! Sources are IPv4 addresses, or IPv6 /64 prefixes: one host usually owns a whole /64, and
//! counting addresses inside it separately would give an attacker 2^64 fresh counters.
//!
//! Memory is capped: when the table is full, expired windows are pruned; if it is still full,
//! the older half (by window start) is dropped, so the work is amortised O(1) per insert. Under
//! a flood of distinct sources some counters are thus forgotten early: the price of a bound.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// A source as counted by the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SourceKey(IpAddr);

impl SourceKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !u128::from(u64::MAX);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

pub(crate) struct RateLimiter {
    windows: HashMap<SourceKey, Window>,
    limit: u32,
    window: Duration,
    cap: usize,
}

impl RateLimiter {
    pub(crate) fn new(limit: u32, window: Duration, cap: usize) -> Self {
        Self {
            windows: HashMap::new(),
            limit,
            window,
            cap: cap.max(1),
        }
    }

    /// New limits; current windows and counts are kept (trimmed to the new cap).
    pub(crate) fn reconfigure(&mut self, limit: u32, window: Duration, cap: usize) {
        self.limit = limit;
        self.window = window;
        self.cap = cap.max(1);
        while self.windows.len() > self.cap {
            let Some(&key) = self.windows.keys().next() else {
                break;
            };
            self.windows.remove(&key);
        }
    }

    fn open(&self, w: &Window, now: Instant) -> bool {
        // A window too long to represent never closes.
        w.start.checked_add(self.window).is_none_or(|end| now < end)
    }

    pub(crate) fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        self.windows
            .get(&SourceKey::of(ip))
            .is_some_and(|w| w.failures >= self.limit && self.open(w, now))
    }

    pub(crate) fn record_failure(&mut self, ip: IpAddr, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let key = SourceKey::of(ip);
        if let Some(&w) = self.windows.get(&key) {
            let w = if self.open(&w, now) {
                Window {
                    start: w.start,
                    failures: w.failures.saturating_add(1),
                }
            } else {
                Window {
                    start: now,
                    failures: 1,
                }
            };
            self.windows.insert(key, w);
            return;
        }
        if self.windows.len() >= self.cap {
            self.make_room(now);
        }
        self.windows.insert(
            key,
            Window {
                start: now,
                failures: 1,
            },
        );
    }

    /// Removes windows that have ended.
    pub(crate) fn prune(&mut self, now: Instant) {
        let window = self.window;
        self.windows
            .retain(|_, w| w.start.checked_add(window).is_none_or(|end| now < end));
    }

    fn make_room(&mut self, now: Instant) {
        self.prune(now);
        if self.windows.len() < self.cap {
            return;
        }
        let mut starts: Vec<Instant> = self.windows.values().map(|w| w.start).collect();
        let mid = starts.len() / 2;
        let (_, &mut median, _) = starts.select_nth_unstable(mid);
        self.windows.retain(|_, w| w.start > median);
        // All starts equal: nothing was strictly newer; drop everything rather than loop.
        if self.windows.len() >= self.cap {
            self.windows.clear();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn blocks_at_the_limit_until_the_window_ends() {
        let mut now = Instant::now();
        let mut rl = RateLimiter::new(3, Duration::from_secs(60), 100);
        for _ in 0..2 {
            rl.record_failure(A, now);
            assert!(!rl.is_blocked(A, now));
        }
        now += Duration::from_secs(10);
        rl.record_failure(A, now);
        assert!(rl.is_blocked(A, now));
        assert!(!rl.is_blocked(B, now), "other sources unaffected");
        now += Duration::from_secs(49);
        assert!(rl.is_blocked(A, now), "window started at the first failure");
        now += Duration::from_secs(1);
        assert!(!rl.is_blocked(A, now));
        rl.record_failure(A, now);
        assert!(!rl.is_blocked(A, now), "a new window starts at one failure");
    }

    #[test]
    fn zero_limit_disables() {
        let now = Instant::now();
        let mut rl = RateLimiter::new(0, Duration::from_secs(60), 100);
        for _ in 0..100 {
            rl.record_failure(A, now);
        }
        assert!(!rl.is_blocked(A, now));
        assert_eq!(rl.len(), 0);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(SourceKey::of(a), SourceKey::of(b));
        assert_ne!(SourceKey::of(a), SourceKey::of(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(SourceKey::of(mapped), SourceKey::of(A));
    }

    #[test]
    fn table_is_bounded() {
        let mut now = Instant::now();
        let mut rl = RateLimiter::new(5, Duration::from_secs(60), 8);
        for i in 0..100u32 {
            now += Duration::from_millis(1);
            rl.record_failure(IpAddr::V4(Ipv4Addr::from(i)), now);
            assert!(rl.len() <= 8);
        }
        // The newest source is still tracked.
        let last = IpAddr::V4(Ipv4Addr::from(99u32));
        for _ in 0..4 {
            rl.record_failure(last, now);
        }
        assert!(rl.is_blocked(last, now));
    }

    #[test]
    fn reconfigure_keeps_counts() {
        let now = Instant::now();
        let mut rl = RateLimiter::new(5, Duration::from_secs(60), 8);
        rl.record_failure(A, now);
        rl.record_failure(A, now);
        rl.reconfigure(2, Duration::from_secs(60), 8);
        assert!(rl.is_blocked(A, now));
        rl.reconfigure(2, Duration::from_secs(60), 1);
        assert_eq!(rl.len(), 1);
    }

    #[test]
    fn prune_forgets_ended_windows() {
        let now = Instant::now();
        let mut rl = RateLimiter::new(5, Duration::from_secs(60), 8);
        rl.record_failure(A, now);
        rl.record_failure(B, now + Duration::from_secs(30));
        rl.prune(now + Duration::from_secs(61));
        assert_eq!(rl.len(), 1);
    }
}
