//! Non-INVITE client transaction: RFC 3261 §17.1.2 (Figure 6).
//!
//! ```text
//!             request sent, E = T1 (unreliable), F = 64*T1
//!                  |
//!  E: resend,      v        F or transport error: inform TU
//!  E=min(2E,T2)  Trying ─────────────────────────────────▶ Terminated
//!                  │ 1xx: to TU                               ▲   ▲
//!                  v                                          │   │
//!  E: resend,  Proceeding ── F or transport error ────────────┘   │
//!  E = T2          │ 200-699 (from Trying too): to TU             │
//!                  v                                              │
//!               Completed ── K (T4 unreliable, 0 reliable) ───────┘
//! ```
//!
//! The E interval caps at T2 because a non-INVITE must be answered quickly (RFC 3261 §17.1.2.1);
//! once a provisional proves the request arrived, retransmission slows to every T2.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::timer::{Timer, TimerConfig, TimerTable};
use crate::{is_status, Output, TuEvent};

/// Public view of a [`ClientNonInvite`]'s state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientNonInviteState {
    /// Request sent, no response yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived; absorbing retransmissions until Timer K.
    Completed,
    /// Done; emits nothing more.
    Terminated,
}

enum State {
    Trying { e_interval: Duration },
    Proceeding,
    Completed,
    Terminated,
}

/// Non-INVITE client transaction (OPTIONS, BYE, REGISTER, CANCEL, ...). Construct it to send.
pub struct ClientNonInvite<M> {
    request: M,
    reliable: bool,
    config: TimerConfig,
    state: State,
    timers: TimerTable<3>,
    out: VecDeque<Output<M>>,
}

impl<M: Clone> ClientNonInvite<M> {
    /// Start the transaction at `now`: queue the request for sending, arm Timer E (unreliable
    /// transports only) and Timer F.
    pub fn new(request: M, reliable: bool, config: TimerConfig, now: Instant) -> Self {
        let mut timers = TimerTable::new([Timer::E, Timer::F, Timer::K]);
        if !reliable {
            timers.arm(Timer::E, now, config.duration(Timer::E, reliable));
        }
        timers.arm(Timer::F, now, config.duration(Timer::F, reliable));
        let mut out = VecDeque::new();
        out.push_back(Output::Send(request.clone()));
        ClientNonInvite {
            request,
            reliable,
            config,
            state: State::Trying {
                e_interval: config.t1,
            },
            timers,
            out,
        }
    }

    /// A response matching this transaction arrived from the network.
    pub fn on_response(&mut self, status: u16, msg: M, now: Instant) {
        if !is_status(status) {
            return;
        }
        match (&self.state, status) {
            (State::Trying { .. } | State::Proceeding, 100..=199) => {
                // Timer E keeps its current deadline; it switches to T2 when it next fires.
                self.state = State::Proceeding;
                self.pass_up(status, msg);
            }
            (State::Trying { .. } | State::Proceeding, _) => {
                self.pass_up(status, msg);
                self.timers.cancel_all();
                let k = self.config.duration(Timer::K, self.reliable);
                if k.is_zero() {
                    self.terminate();
                } else {
                    self.timers.arm(Timer::K, now, k);
                    self.state = State::Completed;
                }
            }
            // Completed absorbs retransmitted responses.
            _ => {}
        }
    }

    /// Fire every timer due at `now`, earliest first.
    pub fn on_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match (timer, &mut self.state) {
                (Timer::E, State::Trying { e_interval }) => {
                    *e_interval = e_interval.saturating_mul(2).min(self.config.t2);
                    let next = *e_interval;
                    self.timers.arm(Timer::E, now, next);
                    self.out.push_back(Output::Send(self.request.clone()));
                }
                (Timer::E, State::Proceeding) => {
                    self.timers.arm(Timer::E, now, self.config.t2);
                    self.out.push_back(Output::Send(self.request.clone()));
                }
                (Timer::F, State::Trying { .. } | State::Proceeding) => {
                    self.out.push_back(Output::Timeout(Timer::F));
                    self.terminate();
                }
                (Timer::K, State::Completed) => self.terminate(),
                _ => {}
            }
        }
    }

    /// The transport could not send the request (RFC 3261 §17.1.4): inform the TU, terminate.
    pub fn on_transport_error(&mut self, _now: Instant) {
        if !matches!(self.state, State::Terminated) {
            self.out.push_back(Output::TransportError);
            self.terminate();
        }
    }

    /// The next output, if any.
    pub fn poll(&mut self) -> Option<Output<M>> {
        self.out.pop_front()
    }

    /// When `on_timeout` must be called next; `None` when no timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The current state.
    pub fn state(&self) -> ClientNonInviteState {
        match self.state {
            State::Trying { .. } => ClientNonInviteState::Trying,
            State::Proceeding => ClientNonInviteState::Proceeding,
            State::Completed => ClientNonInviteState::Completed,
            State::Terminated => ClientNonInviteState::Terminated,
        }
    }

    /// The request this transaction sends.
    pub fn request(&self) -> &M {
        &self.request
    }

    fn pass_up(&mut self, status: u16, msg: M) {
        self.out
            .push_back(Output::ToTu(TuEvent::Response { status, msg }));
    }

    fn terminate(&mut self) {
        self.timers.cancel_all();
        self.state = State::Terminated;
        self.out.push_back(Output::Terminated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, drain, resp, secs, Msg};

    fn options(reliable: bool, now: Instant) -> ClientNonInvite<Msg> {
        ClientNonInvite::new(
            Msg::req("OPTIONS", 7),
            reliable,
            TimerConfig::default(),
            now,
        )
    }

    /// Offsets (from `t0`) at which the request was re-sent, stepping the virtual clock to each
    /// deadline until `until`; stops early if the transaction emits anything but a resend.
    fn resend_offsets(
        tx: &mut ClientNonInvite<Msg>,
        t0: Instant,
        until: f64,
    ) -> (Vec<Duration>, Vec<Output<Msg>>) {
        let mut offsets = Vec::new();
        while let Some(next) = tx.poll_timeout() {
            if next > at(t0, until) {
                break;
            }
            tx.on_timeout(next);
            let out = drain(|| tx.poll());
            if out == [Output::Send(Msg::req("OPTIONS", 7))] {
                offsets.push(next - t0);
            } else {
                return (offsets, out);
            }
        }
        (offsets, Vec::new())
    }

    #[test]
    fn timer_e_doubles_capped_at_t2_then_timer_f() {
        let t0 = Instant::now();
        let mut tx = options(false, t0);
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::Send(Msg::req("OPTIONS", 7))]
        );
        let (offsets, last) = resend_offsets(&mut tx, t0, 100.0);
        // Intervals 0.5, 1, 2, 4, 4, 4, ... (T2 = 4 s) until F at 32 s.
        let expected: Vec<Duration> = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
            .iter()
            .map(|&s| secs(s))
            .collect();
        assert_eq!(offsets, expected);
        assert_eq!(last, vec![Output::Timeout(Timer::F), Output::Terminated]);
    }

    #[test]
    fn timer_e_switches_to_t2_in_proceeding() {
        let t0 = Instant::now();
        let mut tx = options(false, t0);
        drain(|| tx.poll());
        tx.on_timeout(at(t0, 0.5)); // E: next interval 1 s, at 1.5
        drain(|| tx.poll());
        tx.on_response(100, resp(100, "OPTIONS", 7), at(t0, 0.6));
        assert_eq!(tx.state(), ClientNonInviteState::Proceeding);
        assert_eq!(drain(|| tx.poll()).len(), 1);
        // The pending E keeps its deadline, then every T2.
        let (offsets, last) = resend_offsets(&mut tx, t0, 100.0);
        let expected: Vec<Duration> = [1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
            .iter()
            .map(|&s| secs(s))
            .collect();
        assert_eq!(offsets, expected);
        assert_eq!(last, vec![Output::Timeout(Timer::F), Output::Terminated]);
    }

    #[test]
    fn reliable_transport_never_retransmits() {
        let t0 = Instant::now();
        let mut tx = options(true, t0);
        drain(|| tx.poll());
        let (offsets, last) = resend_offsets(&mut tx, t0, 100.0);
        assert!(offsets.is_empty());
        assert_eq!(last, vec![Output::Timeout(Timer::F), Output::Terminated]);
    }

    #[test]
    fn final_response_goes_up_once_then_timer_k() {
        let t0 = Instant::now();
        let mut tx = options(false, t0);
        drain(|| tx.poll());
        tx.on_response(200, resp(200, "OPTIONS", 7), at(t0, 0.2));
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::ToTu(TuEvent::Response {
                status: 200,
                msg: resp(200, "OPTIONS", 7)
            })]
        );
        assert_eq!(tx.state(), ClientNonInviteState::Completed);
        // K = T4 = 5 s; E and F are gone.
        assert_eq!(tx.poll_timeout(), Some(at(t0, 5.2)));
        tx.on_response(200, resp(200, "OPTIONS", 7), at(t0, 1.0));
        tx.on_response(180, resp(180, "OPTIONS", 7), at(t0, 1.0));
        assert_eq!(drain(|| tx.poll()), vec![]);
        tx.on_timeout(at(t0, 5.2));
        assert_eq!(drain(|| tx.poll()), vec![Output::Terminated]);
    }

    #[test]
    fn timer_k_is_zero_on_reliable_transport() {
        let t0 = Instant::now();
        let mut tx = options(true, t0);
        drain(|| tx.poll());
        tx.on_response(404, resp(404, "OPTIONS", 7), at(t0, 0.2));
        assert_eq!(drain(|| tx.poll()).last(), Some(&Output::Terminated));
        assert_eq!(tx.state(), ClientNonInviteState::Terminated);
    }

    #[test]
    fn transport_error_informs_tu_and_terminates() {
        let t0 = Instant::now();
        let mut tx = options(false, t0);
        drain(|| tx.poll());
        tx.on_response(100, resp(100, "OPTIONS", 7), t0);
        drain(|| tx.poll());
        tx.on_transport_error(at(t0, 1.0));
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::TransportError, Output::Terminated]
        );
        assert_eq!(tx.poll_timeout(), None);
    }
}
