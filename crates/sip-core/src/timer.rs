//! RFC 3261 §17 timers by letter, their values, and the fixed deadline table each machine owns.
//!
//! Values follow RFC 3261 Table 4 and RFC 6026 §8.11 (Timers L and M). A machine never reads the
//! clock: it stores absolute deadlines computed from the `now` it was handed, and its next wake-up
//! is the minimum of its table.

use std::time::{Duration, Instant};

/// An RFC 3261 / RFC 6026 timer, named by its letter so the code greps against the RFC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE request retransmission (unreliable only), doubling from T1.
    A,
    /// INVITE transaction timeout, 64*T1.
    B,
    /// Proxy INVITE timer (> 3 min), optional on a client INVITE transaction.
    C,
    /// Wait time for response retransmissions in Completed (client INVITE).
    D,
    /// Non-INVITE request retransmission (unreliable only), doubling from T1 up to T2.
    E,
    /// Non-INVITE transaction timeout, 64*T1.
    F,
    /// INVITE final response retransmission (unreliable only), doubling from T1 up to T2.
    G,
    /// Wait time for ACK receipt, 64*T1.
    H,
    /// Wait time for ACK retransmissions in Confirmed.
    I,
    /// Wait time for non-INVITE request retransmissions in Completed.
    J,
    /// Wait time for response retransmissions in Completed (client non-INVITE).
    K,
    /// Wait time for 2xx retransmissions from the TU in Accepted (server INVITE, RFC 6026).
    L,
    /// Wait time for 2xx retransmissions from the network in Accepted (client INVITE, RFC 6026).
    M,
}

/// RFC 3261 §17 proxies must keep Timer C above three minutes (§16.6 step 11); this is the
/// value used when the caller has no better one.
pub const TIMER_C_DEFAULT: Duration = Duration::from_secs(3 * 60 + 1);

/// Timer D's floor on unreliable transports (RFC 3261 §17.1.1.2: "at least 32 seconds").
const TIMER_D_MIN: Duration = Duration::from_secs(32);

/// The three base values every other timer derives from (RFC 3261 Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s by default.
    pub t2: Duration,
    /// Maximum duration a message remains in the network, 5 s by default.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, L, M, and J on unreliable transports.
    pub fn transaction_timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// The duration `timer` is armed with on a `reliable` or unreliable transport.
    ///
    /// For A, E and G this is the first interval (they double afterwards and are never armed on
    /// reliable transports). A zero duration means "fires at once": the machines take that
    /// transition immediately instead of arming the timer. Timer D is `max(32 s, 64*T1)` so it
    /// still covers every response retransmission when T1 is raised.
    pub fn duration(&self, timer: Timer, reliable: bool) -> Duration {
        let unreliable_only = |d: Duration| if reliable { Duration::ZERO } else { d };
        match timer {
            Timer::A | Timer::E | Timer::G => self.t1,
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => self.transaction_timeout(),
            Timer::C => TIMER_C_DEFAULT,
            Timer::D => unreliable_only(TIMER_D_MIN.max(self.transaction_timeout())),
            Timer::I | Timer::K => unreliable_only(self.t4),
            Timer::J => unreliable_only(self.transaction_timeout()),
        }
    }
}

/// The shortest delay a timer is armed with.
const MIN_DELAY: Duration = Duration::from_millis(1);

/// A machine's fixed table of deadlines, one slot per timer letter it uses.
///
/// `N` is tiny (1 to 5), so finding a letter's slot is a scan of a few bytes; the table is
/// `Copy`-sized and lives inline in the machine, which matters at 100k transactions.
#[derive(Clone, Debug)]
pub(crate) struct TimerTable<const N: usize> {
    letters: [Timer; N],
    deadlines: [Option<Instant>; N],
}

impl<const N: usize> TimerTable<N> {
    pub(crate) const fn new(letters: [Timer; N]) -> Self {
        TimerTable {
            letters,
            deadlines: [None; N],
        }
    }

    fn slot(&self, timer: Timer) -> Option<usize> {
        let slot = self.letters.iter().position(|&t| t == timer);
        debug_assert!(slot.is_some(), "timer {timer:?} is not in this table");
        slot
    }

    /// Arm `timer` to fire `after` from `now`, but never sooner than [`MIN_DELAY`]: a timer
    /// re-armed while firing must land strictly after `now`, or a zero T1 would spin forever.
    /// (Zero-duration timers such as D on TCP are not armed: the machines take that transition
    /// at once.) A deadline past the end of `Instant` means the timer never fires, which only
    /// absurd configured values reach.
    pub(crate) fn arm(&mut self, timer: Timer, now: Instant, after: Duration) {
        if let Some(slot) = self.slot(timer) {
            self.deadlines[slot] = now.checked_add(after.max(MIN_DELAY));
        }
    }

    pub(crate) fn cancel(&mut self, timer: Timer) {
        if let Some(slot) = self.slot(timer) {
            self.deadlines[slot] = None;
        }
    }

    pub(crate) fn cancel_all(&mut self) {
        self.deadlines = [None; N];
    }

    #[cfg(test)]
    pub(crate) fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.slot(timer).and_then(|slot| self.deadlines[slot])
    }

    /// The earliest deadline of the table.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarm and return the earliest timer due at `now`, if any. Ties go to the first letter.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let mut best: Option<(usize, Instant)> = None;
        for (slot, deadline) in self.deadlines.iter().enumerate() {
            if let Some(at) = *deadline {
                if at <= now && best.is_none_or(|(_, b)| at < b) {
                    best = Some((slot, at));
                }
            }
        }
        let (slot, _) = best?;
        self.deadlines[slot] = None;
        Some(self.letters[slot])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_table_4_defaults() {
        let c = TimerConfig::default();
        let s = Duration::from_secs;
        assert_eq!(c.duration(Timer::A, false), Duration::from_millis(500));
        assert_eq!(c.duration(Timer::B, false), s(32));
        assert_eq!(c.duration(Timer::D, false), s(32));
        assert_eq!(c.duration(Timer::D, true), Duration::ZERO);
        assert_eq!(c.duration(Timer::F, true), s(32));
        assert_eq!(c.duration(Timer::H, true), s(32));
        assert_eq!(c.duration(Timer::I, false), s(5));
        assert_eq!(c.duration(Timer::I, true), Duration::ZERO);
        assert_eq!(c.duration(Timer::J, false), s(32));
        assert_eq!(c.duration(Timer::J, true), Duration::ZERO);
        assert_eq!(c.duration(Timer::K, false), s(5));
        assert_eq!(c.duration(Timer::K, true), Duration::ZERO);
        assert_eq!(c.duration(Timer::L, true), s(32));
        assert_eq!(c.duration(Timer::M, false), s(32));
        assert!(c.duration(Timer::C, false) > s(180));
    }

    #[test]
    fn timer_d_grows_with_t1_but_never_below_32s() {
        let mut c = TimerConfig {
            t1: Duration::from_millis(100),
            ..TimerConfig::default()
        };
        assert_eq!(c.duration(Timer::D, false), Duration::from_secs(32));
        c.t1 = Duration::from_secs(1);
        assert_eq!(c.duration(Timer::D, false), Duration::from_secs(64));
    }

    #[test]
    fn table_pops_in_deadline_order_and_reports_minimum() {
        let now = Instant::now();
        let mut t = TimerTable::new([Timer::A, Timer::B, Timer::D]);
        assert_eq!(t.next(), None);
        t.arm(Timer::B, now, Duration::from_secs(2));
        t.arm(Timer::A, now, Duration::from_secs(3));
        t.arm(Timer::D, now, Duration::from_secs(1));
        assert_eq!(t.next(), Some(now + Duration::from_secs(1)));
        assert_eq!(t.pop_expired(now), None);
        let later = now + Duration::from_secs(10);
        assert_eq!(t.pop_expired(later), Some(Timer::D));
        assert_eq!(t.pop_expired(later), Some(Timer::B));
        assert_eq!(t.pop_expired(later), Some(Timer::A));
        assert_eq!(t.pop_expired(later), None);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn cancel_and_overflowing_deadline_never_fire() {
        let now = Instant::now();
        let mut t = TimerTable::new([Timer::G, Timer::H]);
        t.arm(Timer::G, now, Duration::MAX);
        assert_eq!(t.deadline(Timer::G), None);
        t.arm(Timer::H, now, Duration::from_secs(1));
        t.cancel(Timer::H);
        assert_eq!(t.next(), None);
        t.arm(Timer::H, now, Duration::from_secs(1));
        t.cancel_all();
        assert_eq!(t.next(), None);
    }
}
