//! INVITE client transaction: RFC 3261 §17.1.1 (Figure 5) with RFC 6026 §8.4's Accepted state.
//!
//! ```text
//!            INVITE sent, A = T1 (unreliable), B = 64*T1
//!                 |
//!   A: resend,    v      B (or C): Timeout
//!   A doubles  Calling ─────────────────────────────▶ Terminated
//!                 │ 1xx: to TU                              ▲  ▲  ▲
//!                 v                                         │  │  │
//!   1xx: to TU Proceeding ── C after 1xx: CancelDue, B = 64*T1 (guard)
//!                 │ 300-699 (from Calling too):             │  │  │
//!                 │   send ACK, to TU, D                    │  │  │
//!                 v                                         │  │  │
//!  300-699:    Completed ─── D fires ───────────────────────┘  │  │
//!  resend ACK                                                  │  │
//!     2xx (from Calling or Proceeding): to TU, M = 64*T1       │  │
//!                 v                                            │  │
//!  2xx: to TU   Accepted ─── M fires ──────────────────────────┘  │
//!     transport error in Calling/Proceeding/Completed ────────────┘
//! ```
//!
//! Why Accepted (RFC 6026): a 2xx may be retransmitted by the UAS, and a forking proxy may deliver
//! 2xx from several branches. Each must reach the TU so it can ACK it; RFC 3261's immediate
//! termination turned them into stray responses.
//!
//! Timer C is an extra the caller enables ([`ClientInvite::enable_timer_c`]); a B2BUA uses it to
//! give up on a branch that keeps ringing. RFC 3261 §9.1 says a UAC that sent CANCEL gives the
//! INVITE 64*T1 more to end; [`ClientInvite::cancel_sent`] re-arms Timer B as that guard, so a
//! cancelled transaction whose 487 never arrives still ends, with `Timeout(B)`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::timer::{Timer, TimerConfig, TimerTable};
use crate::{is_status, Output, TuEvent, TxMessage};

/// Public view of a [`ClientInvite`]'s state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientInviteState {
    /// INVITE sent, no response yet; Timer A retransmits (unreliable), Timer B bounds it.
    Calling,
    /// A provisional response arrived; waiting for the final one.
    Proceeding,
    /// A 300-699 arrived and was ACKed; absorbing its retransmissions until Timer D.
    Completed,
    /// A 2xx arrived; passing further 2xx to the TU until Timer M (RFC 6026).
    Accepted,
    /// Done; emits nothing more.
    Terminated,
}

enum State<M> {
    Calling { a_interval: Duration },
    Proceeding,
    Completed { ack: M },
    Accepted,
    Terminated,
}

/// INVITE client transaction. Construct it to send the INVITE.
pub struct ClientInvite<M> {
    request: M,
    reliable: bool,
    config: TimerConfig,
    state: State<M>,
    timers: TimerTable<5>,
    /// The Timer C duration, once enabled; re-armed on each 101-199.
    timer_c: Option<Duration>,
    out: VecDeque<Output<M>>,
}

impl<M: TxMessage> ClientInvite<M> {
    /// Start the transaction at `now`: queue the INVITE for sending, arm Timer A (unreliable
    /// transports only) and Timer B.
    pub fn new(request: M, reliable: bool, config: TimerConfig, now: Instant) -> Self {
        let mut timers = TimerTable::new([Timer::A, Timer::B, Timer::C, Timer::D, Timer::M]);
        if !reliable {
            timers.arm(Timer::A, now, config.duration(Timer::A, reliable));
        }
        timers.arm(Timer::B, now, config.duration(Timer::B, reliable));
        let mut out = VecDeque::new();
        out.push_back(Output::Send(request.clone()));
        ClientInvite {
            request,
            reliable,
            config,
            state: State::Calling {
                a_interval: config.t1,
            },
            timers,
            timer_c: None,
            out,
        }
    }

    /// Arm Timer C to fire `after` from `now`, and re-arm it with the same value on every
    /// 101-199 response (RFC 3261 §16.7 step 2). Calling it again resets the timer. Ignored once
    /// a final response has arrived. Proxies must use more than 3 minutes
    /// ([`crate::TIMER_C_DEFAULT`]).
    pub fn enable_timer_c(&mut self, after: Duration, now: Instant) {
        if matches!(self.state, State::Calling { .. } | State::Proceeding) {
            self.timer_c = Some(after);
            self.timers.arm(Timer::C, now, after);
        }
    }

    /// The TU sent a CANCEL for this INVITE: in Proceeding, give the INVITE 64*T1 to end
    /// (RFC 3261 §9.1) by arming Timer B. No effect in other states (in Calling Timer B already
    /// runs; CANCEL must not be sent before a provisional response anyway).
    pub fn cancel_sent(&mut self, now: Instant) {
        if matches!(self.state, State::Proceeding) {
            let guard = self.config.duration(Timer::B, self.reliable);
            self.timers.arm(Timer::B, now, guard);
        }
    }

    /// A response matching this transaction arrived from the network.
    pub fn on_response(&mut self, status: u16, msg: M, now: Instant) {
        if !is_status(status) {
            return;
        }
        match (&self.state, status) {
            (State::Calling { .. } | State::Proceeding, 100..=199) => {
                if matches!(self.state, State::Calling { .. }) {
                    self.timers.cancel(Timer::A);
                    self.timers.cancel(Timer::B);
                    self.state = State::Proceeding;
                }
                if let (Some(after), 101..=199) = (self.timer_c, status) {
                    self.timers.arm(Timer::C, now, after);
                }
                self.pass_up(status, msg);
            }
            (State::Calling { .. } | State::Proceeding, 200..=299) => {
                self.pass_up(status, msg);
                self.timers.cancel_all();
                let m = self.config.duration(Timer::M, self.reliable);
                self.timers.arm(Timer::M, now, m);
                self.state = State::Accepted;
            }
            (State::Calling { .. } | State::Proceeding, _) => {
                let ack = self.request.ack_for(&msg);
                self.out.push_back(Output::Send(ack.clone()));
                self.pass_up(status, msg);
                self.timers.cancel_all();
                let d = self.config.duration(Timer::D, self.reliable);
                if d.is_zero() {
                    self.terminate();
                } else {
                    self.timers.arm(Timer::D, now, d);
                    self.state = State::Completed { ack };
                }
            }
            // 17.1.1.2: retransmitted final responses are ACKed again, not passed up.
            (State::Completed { ack }, 300..=699) => {
                self.out.push_back(Output::Send(ack.clone()));
            }
            // RFC 6026 §8.4: every 2xx in Accepted goes to the TU, which ACKs it.
            (State::Accepted, 200..=299) => self.pass_up(status, msg),
            _ => {}
        }
    }

    /// Fire every timer due at `now`, earliest first.
    pub fn on_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match (timer, &mut self.state) {
                (Timer::A, State::Calling { a_interval }) => {
                    *a_interval = a_interval.saturating_mul(2);
                    let next = *a_interval;
                    self.timers.arm(Timer::A, now, next);
                    self.out.push_back(Output::Send(self.request.clone()));
                }
                (Timer::B, State::Calling { .. } | State::Proceeding)
                | (Timer::C, State::Calling { .. }) => {
                    self.out.push_back(Output::Timeout(timer));
                    self.terminate();
                }
                (Timer::C, State::Proceeding) => {
                    self.out.push_back(Output::ToTu(TuEvent::CancelDue));
                    self.cancel_sent(now);
                }
                (Timer::D, State::Completed { .. }) | (Timer::M, State::Accepted) => {
                    self.terminate()
                }
                // Every state change disarms the timers of the state it leaves.
                _ => {}
            }
        }
    }

    /// The transport could not send this transaction's INVITE or ACK (RFC 3261 §17.1.4).
    /// Accepted stays put: it sends nothing itself and must keep catching 2xx until Timer M.
    pub fn on_transport_error(&mut self, _now: Instant) {
        match self.state {
            State::Terminated => {}
            State::Accepted => self.out.push_back(Output::TransportError),
            _ => {
                self.out.push_back(Output::TransportError);
                self.terminate();
            }
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
    pub fn state(&self) -> ClientInviteState {
        match self.state {
            State::Calling { .. } => ClientInviteState::Calling,
            State::Proceeding => ClientInviteState::Proceeding,
            State::Completed { .. } => ClientInviteState::Completed,
            State::Accepted => ClientInviteState::Accepted,
            State::Terminated => ClientInviteState::Terminated,
        }
    }

    /// The INVITE this transaction sends (the TU builds CANCEL from it).
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

    fn invite(reliable: bool, now: Instant) -> ClientInvite<Msg> {
        ClientInvite::new(Msg::req("INVITE", 1), reliable, TimerConfig::default(), now)
    }

    /// Advance to each deadline in turn until `until`, returning (offset, outputs) per wake-up.
    fn walk(
        tx: &mut ClientInvite<Msg>,
        t0: Instant,
        until: Duration,
    ) -> Vec<(Duration, Vec<Output<Msg>>)> {
        let mut log = Vec::new();
        while let Some(next) = tx.poll_timeout() {
            if next - t0 > until {
                break;
            }
            tx.on_timeout(next);
            log.push((next - t0, drain(|| tx.poll())));
        }
        log
    }

    #[test]
    fn timer_a_doubles_then_timer_b_times_out_at_64_t1() {
        let t0 = Instant::now();
        let mut tx = invite(false, t0);
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::Send(Msg::req("INVITE", 1))]
        );
        let log = walk(&mut tx, t0, secs(100.0));
        let resend = vec![Output::Send(Msg::req("INVITE", 1))];
        // Retransmissions at T1, then intervals 2T1, 4T1, ... : 0.5, 1.5, 3.5, 7.5, 15.5, 31.5.
        let expected: Vec<(Duration, Vec<Output<Msg>>)> = [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
            .iter()
            .map(|&s| (secs(s), resend.clone()))
            .chain([(
                secs(32.0),
                vec![Output::Timeout(Timer::B), Output::Terminated],
            )])
            .collect();
        assert_eq!(log, expected);
        assert_eq!(tx.state(), ClientInviteState::Terminated);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn reliable_transport_never_retransmits() {
        let t0 = Instant::now();
        let mut tx = invite(true, t0);
        drain(|| tx.poll());
        assert_eq!(tx.poll_timeout(), Some(at(t0, 32.0)));
        let log = walk(&mut tx, t0, secs(100.0));
        assert_eq!(
            log,
            vec![(
                secs(32.0),
                vec![Output::Timeout(Timer::B), Output::Terminated]
            )]
        );
    }

    #[test]
    fn late_wakeup_fires_each_due_timer_once_in_order() {
        let t0 = Instant::now();
        let mut tx = invite(false, t0);
        drain(|| tx.poll());
        tx.on_timeout(at(t0, 40.0));
        assert_eq!(
            drain(|| tx.poll()),
            vec![
                Output::Send(Msg::req("INVITE", 1)),
                Output::Timeout(Timer::B),
                Output::Terminated
            ]
        );
    }

    #[test]
    fn provisional_stops_retransmission_and_timer_b() {
        let t0 = Instant::now();
        let mut tx = invite(false, t0);
        drain(|| tx.poll());
        tx.on_timeout(at(t0, 0.5));
        drain(|| tx.poll());
        tx.on_response(180, resp(180, "INVITE", 1), at(t0, 0.7));
        assert_eq!(tx.state(), ClientInviteState::Proceeding);
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::ToTu(TuEvent::Response {
                status: 180,
                msg: resp(180, "INVITE", 1)
            })]
        );
        // Proceeding runs no timer: the TU decides (CANCEL or Timer C).
        assert_eq!(tx.poll_timeout(), None);
        tx.on_response(183, resp(183, "INVITE", 1), at(t0, 60.0));
        assert_eq!(drain(|| tx.poll()).len(), 1);
    }

    #[test]
    fn non_2xx_final_is_acked_and_timer_d_is_32s_unreliable() {
        let t0 = Instant::now();
        let mut tx = invite(false, t0);
        drain(|| tx.poll());
        tx.on_response(486, resp(486, "INVITE", 1), at(t0, 1.0));
        let ack = Msg::req("INVITE", 1).ack_for(&resp(486, "INVITE", 1));
        assert_eq!(
            drain(|| tx.poll()),
            vec![
                Output::Send(ack.clone()),
                Output::ToTu(TuEvent::Response {
                    status: 486,
                    msg: resp(486, "INVITE", 1)
                }),
            ]
        );
        assert_eq!(tx.state(), ClientInviteState::Completed);
        assert_eq!(tx.poll_timeout(), Some(at(t0, 33.0)));
        // A retransmitted 486 is ACKed again and not passed up; a 1xx or 2xx is absorbed.
        tx.on_response(486, resp(486, "INVITE", 1), at(t0, 2.0));
        assert_eq!(drain(|| tx.poll()), vec![Output::Send(ack)]);
        tx.on_response(180, resp(180, "INVITE", 1), at(t0, 2.0));
        tx.on_response(200, resp(200, "INVITE", 1), at(t0, 2.0));
        assert_eq!(drain(|| tx.poll()), vec![]);
        tx.on_timeout(at(t0, 32.9));
        assert_eq!(drain(|| tx.poll()), vec![]);
        tx.on_timeout(at(t0, 33.0));
        assert_eq!(drain(|| tx.poll()), vec![Output::Terminated]);
    }

    #[test]
    fn timer_d_is_zero_on_reliable_transport() {
        let t0 = Instant::now();
        let mut tx = invite(true, t0);
        drain(|| tx.poll());
        tx.on_response(503, resp(503, "INVITE", 1), at(t0, 1.0));
        let out = drain(|| tx.poll());
        assert_eq!(out.len(), 3);
        assert!(matches!(out[0], Output::Send(ref m) if m.method == "ACK"));
        assert_eq!(out[2], Output::Terminated);
        assert_eq!(tx.state(), ClientInviteState::Terminated);
    }

    #[test]
    fn accepted_passes_every_2xx_up_until_timer_m() {
        let t0 = Instant::now();
        let mut tx = invite(false, t0);
        drain(|| tx.poll());
        tx.on_response(100, resp(100, "INVITE", 1), at(t0, 0.1));
        tx.on_response(200, resp(200, "INVITE", 1), at(t0, 2.0));
        assert_eq!(tx.state(), ClientInviteState::Accepted);
        assert_eq!(drain(|| tx.poll()).len(), 2);
        // Timer M = 64*T1 from the first 2xx; the transaction never ACKs a 2xx itself.
        assert_eq!(tx.poll_timeout(), Some(at(t0, 34.0)));
        tx.on_response(200, resp(200, "INVITE", 1), at(t0, 2.5));
        tx.on_response(200, resp(200, "INVITE", 1), at(t0, 3.5));
        tx.on_response(486, resp(486, "INVITE", 1), at(t0, 3.6));
        let out = drain(|| tx.poll());
        assert_eq!(
            out,
            vec![
                Output::ToTu(TuEvent::Response {
                    status: 200,
                    msg: resp(200, "INVITE", 1)
                }),
                Output::ToTu(TuEvent::Response {
                    status: 200,
                    msg: resp(200, "INVITE", 1)
                }),
            ]
        );
        tx.on_timeout(at(t0, 34.0));
        assert_eq!(drain(|| tx.poll()), vec![Output::Terminated]);
    }

    #[test]
    fn transport_error_terminates_except_in_accepted() {
        let t0 = Instant::now();
        let mut tx = invite(false, t0);
        drain(|| tx.poll());
        tx.on_transport_error(t0);
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::TransportError, Output::Terminated]
        );
        tx.on_transport_error(t0);
        assert_eq!(drain(|| tx.poll()), vec![]);

        let mut tx = invite(false, t0);
        tx.on_response(200, resp(200, "INVITE", 1), t0);
        drain(|| tx.poll());
        tx.on_transport_error(t0);
        assert_eq!(drain(|| tx.poll()), vec![Output::TransportError]);
        assert_eq!(tx.state(), ClientInviteState::Accepted);
    }

    #[test]
    fn timer_c_without_provisional_is_a_timeout() {
        let t0 = Instant::now();
        let mut tx = invite(true, t0);
        drain(|| tx.poll());
        tx.enable_timer_c(secs(20.0), t0);
        tx.on_timeout(at(t0, 20.0));
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::Timeout(Timer::C), Output::Terminated]
        );
    }

    #[test]
    fn timer_c_is_reset_by_ringing_not_by_trying_then_asks_for_cancel() {
        let t0 = Instant::now();
        let mut tx = invite(false, t0);
        drain(|| tx.poll());
        tx.enable_timer_c(secs(180.0), t0);
        tx.on_response(100, resp(100, "INVITE", 1), at(t0, 1.0));
        assert_eq!(tx.poll_timeout(), Some(at(t0, 180.0)));
        tx.on_response(180, resp(180, "INVITE", 1), at(t0, 10.0));
        assert_eq!(tx.poll_timeout(), Some(at(t0, 190.0)));
        drain(|| tx.poll());
        tx.on_timeout(at(t0, 190.0));
        assert_eq!(drain(|| tx.poll()), vec![Output::ToTu(TuEvent::CancelDue)]);
        assert_eq!(tx.state(), ClientInviteState::Proceeding);
        // The TU sends CANCEL a little later; the 487 never comes: Timer B guard ends it.
        tx.cancel_sent(at(t0, 190.5));
        assert_eq!(tx.poll_timeout(), Some(at(t0, 222.5)));
        tx.on_timeout(at(t0, 222.5));
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::Timeout(Timer::B), Output::Terminated]
        );
    }

    #[test]
    fn cancelled_invite_ends_normally_with_487() {
        let t0 = Instant::now();
        let mut tx = invite(false, t0);
        tx.on_response(180, resp(180, "INVITE", 1), t0);
        tx.cancel_sent(at(t0, 5.0));
        tx.on_response(487, resp(487, "INVITE", 1), at(t0, 5.1));
        assert_eq!(tx.state(), ClientInviteState::Completed);
        assert_eq!(tx.poll_timeout(), Some(at(t0, 37.1)));
    }

    #[test]
    fn invalid_status_codes_are_absorbed() {
        let t0 = Instant::now();
        let mut tx = invite(false, t0);
        drain(|| tx.poll());
        tx.on_response(99, resp(99, "INVITE", 1), t0);
        tx.on_response(700, resp(700, "INVITE", 1), t0);
        assert_eq!(drain(|| tx.poll()), vec![]);
        assert_eq!(tx.state(), ClientInviteState::Calling);
    }
}
