//! INVITE server transaction: RFC 3261 §17.2.1 (Figure 7) as replaced by RFC 6026 §7.1 and §8.7
//! (its Figure 5).
//!
//! ```text
//!                   INVITE received (the caller hands it to the TU)
//!                        |
//!  INVITE: resend        v        1xx from TU: send
//!  last 1xx          Proceeding   transport error: inform TU, stay
//!                   │          │
//!   300-699 from TU │          │ 2xx from TU: send, L = 64*T1
//!   send, G, H      v          v
//!  INVITE or G:  Completed    Accepted   INVITE: absorbed (not to TU)
//!  resend final   │  │  │      │  │     ACK: to TU
//!          ACK    │  │  │      │  │     2xx from TU: send
//!  I = T4/0       v  │  │      │  │     transport error: inform TU, stay
//!           Confirmed│  │      │  │
//!    I fires  │    H │  │ transport error: inform TU
//!             v  Timeout v      │ L fires
//!            Terminated ◀───────┘
//! ```
//!
//! Why Accepted (RFC 6026): RFC 3261 destroyed the transaction when the TU sent a 2xx, so an
//! INVITE retransmitted after it looked like a new request. Accepted keeps the transaction alive
//! for 64*T1 to absorb those retransmissions while the TU (not the transaction) retransmits the
//! 2xx until its ACK arrives.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::timer::{Timer, TimerConfig, TimerTable};
use crate::{is_status, Error, Output, TuEvent, TxState};

/// Public view of a [`ServerInvite`]'s state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerInviteState {
    /// Waiting for the TU's final response; provisionals may be sent.
    Proceeding,
    /// A 300-699 was sent; retransmitting it (unreliable) until the ACK or Timer H.
    Completed,
    /// The ACK arrived; absorbing its retransmissions until Timer I.
    Confirmed,
    /// A 2xx was sent; absorbing INVITE retransmissions until Timer L (RFC 6026).
    Accepted,
    /// Done; emits nothing more.
    Terminated,
}

enum State<M> {
    Proceeding { last_provisional: Option<M> },
    Completed { last_final: M, g_interval: Duration },
    Confirmed,
    Accepted,
    Terminated,
}

/// INVITE server transaction. Create it when a new INVITE arrives, and hand the INVITE to the TU.
pub struct ServerInvite<M> {
    request: M,
    reliable: bool,
    config: TimerConfig,
    state: State<M>,
    timers: TimerTable<4>,
    out: VecDeque<Output<M>>,
}

impl<M: Clone> ServerInvite<M> {
    /// A transaction for the INVITE `request` that just arrived, in Proceeding. Sending
    /// 100 Trying is the TU's choice (RFC 3261 §17.2.1 asks for it within 200 ms unless the TU
    /// answers sooner). `now` is the arrival time; no timer runs yet.
    pub fn new(request: M, reliable: bool, config: TimerConfig, _now: Instant) -> Self {
        ServerInvite {
            request,
            reliable,
            config,
            state: State::Proceeding {
                last_provisional: None,
            },
            timers: TimerTable::new([Timer::G, Timer::H, Timer::I, Timer::L]),
            out: VecDeque::new(),
        }
    }

    /// The INVITE arrived again. Proceeding re-sends the last provisional (if any), Completed the
    /// final response; Accepted and Confirmed absorb it (RFC 6026 §8.7: not passed to the TU).
    pub fn on_request(&mut self, _msg: M, _now: Instant) {
        match &self.state {
            State::Proceeding {
                last_provisional: Some(last),
            } => self.out.push_back(Output::Send(last.clone())),
            State::Completed { last_final, .. } => {
                self.out.push_back(Output::Send(last_final.clone()))
            }
            _ => {}
        }
    }

    /// An ACK matched this transaction. In Completed it confirms the non-2xx response; in
    /// Accepted it goes to the TU (RFC 6026 §7.1); elsewhere it is absorbed.
    pub fn on_ack(&mut self, msg: M, now: Instant) {
        match self.state {
            State::Completed { .. } => {
                self.timers.cancel_all();
                let i = self.config.duration(Timer::I, self.reliable);
                if i.is_zero() {
                    self.terminate();
                } else {
                    self.timers.arm(Timer::I, now, i);
                    self.state = State::Confirmed;
                }
            }
            State::Accepted => self.out.push_back(Output::ToTu(TuEvent::Ack(msg))),
            _ => {}
        }
    }

    /// The TU sends a response. Proceeding takes any status; Accepted takes 2xx retransmissions;
    /// anything else is discarded with an error (RFC 3261 §17.2.1).
    pub fn send_response(&mut self, status: u16, msg: M, now: Instant) -> Result<(), Error> {
        if !is_status(status) {
            return Err(Error::InvalidStatus(status));
        }
        match (&self.state, status) {
            (State::Proceeding { .. }, 100..=199) => {
                self.out.push_back(Output::Send(msg.clone()));
                self.state = State::Proceeding {
                    last_provisional: Some(msg),
                };
            }
            (State::Proceeding { .. }, 200..=299) => {
                self.out.push_back(Output::Send(msg));
                let l = self.config.duration(Timer::L, self.reliable);
                self.timers.arm(Timer::L, now, l);
                self.state = State::Accepted;
            }
            (State::Proceeding { .. }, _) => {
                self.out.push_back(Output::Send(msg.clone()));
                if !self.reliable {
                    let g = self.config.duration(Timer::G, self.reliable);
                    self.timers.arm(Timer::G, now, g);
                }
                let h = self.config.duration(Timer::H, self.reliable);
                self.timers.arm(Timer::H, now, h);
                self.state = State::Completed {
                    last_final: msg,
                    g_interval: self.config.t1,
                };
            }
            (State::Accepted, 200..=299) => self.out.push_back(Output::Send(msg)),
            _ => {
                return Err(Error::ResponseNotAllowed {
                    status,
                    state: TxState::ServerInvite(self.state()),
                })
            }
        }
        Ok(())
    }

    /// Fire every timer due at `now`, earliest first.
    pub fn on_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match (timer, &mut self.state) {
                (
                    Timer::G,
                    State::Completed {
                        last_final,
                        g_interval,
                    },
                ) => {
                    *g_interval = g_interval.saturating_mul(2).min(self.config.t2);
                    let next = *g_interval;
                    self.out.push_back(Output::Send(last_final.clone()));
                    self.timers.arm(Timer::G, now, next);
                }
                // The ACK never came: a transaction failure the TU must hear about.
                (Timer::H, State::Completed { .. }) => {
                    self.out.push_back(Output::Timeout(Timer::H));
                    self.terminate();
                }
                (Timer::I, State::Confirmed) | (Timer::L, State::Accepted) => self.terminate(),
                _ => {}
            }
        }
    }

    /// The transport failed to send a response. RFC 6026 Figure 5: Completed terminates;
    /// Proceeding and Accepted inform the TU and stay (the TU may still answer or retransmit its
    /// 2xx another way); Confirmed sends nothing, so there is nothing to report.
    pub fn on_transport_error(&mut self, _now: Instant) {
        match self.state {
            State::Proceeding { .. } | State::Accepted => {
                self.out.push_back(Output::TransportError)
            }
            State::Completed { .. } => {
                self.out.push_back(Output::TransportError);
                self.terminate();
            }
            State::Confirmed | State::Terminated => {}
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
    pub fn state(&self) -> ServerInviteState {
        match self.state {
            State::Proceeding { .. } => ServerInviteState::Proceeding,
            State::Completed { .. } => ServerInviteState::Completed,
            State::Confirmed => ServerInviteState::Confirmed,
            State::Accepted => ServerInviteState::Accepted,
            State::Terminated => ServerInviteState::Terminated,
        }
    }

    /// The INVITE that created the transaction (a CANCEL handler builds the 487 from it).
    pub fn request(&self) -> &M {
        &self.request
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

    fn server(reliable: bool) -> ServerInvite<Msg> {
        ServerInvite::new(invite(), reliable, TimerConfig::default(), Instant::now())
    }

    fn invite() -> Msg {
        Msg::req("INVITE", 3)
    }

    #[test]
    fn retransmitted_invite_gets_the_last_provisional_or_nothing() {
        let t0 = Instant::now();
        let mut tx = server(false);
        tx.on_request(invite(), t0);
        assert_eq!(drain(|| tx.poll()), vec![]);
        tx.send_response(100, resp(100, "INVITE", 3), t0).unwrap();
        tx.send_response(180, resp(180, "INVITE", 3), at(t0, 0.1))
            .unwrap();
        drain(|| tx.poll());
        tx.on_request(invite(), at(t0, 0.5));
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::Send(resp(180, "INVITE", 3))]
        );
        assert_eq!(tx.poll_timeout(), None);
        assert_eq!(tx.state(), ServerInviteState::Proceeding);
    }

    #[test]
    fn lost_ack_timer_g_capped_at_t2_until_timer_h_timeout() {
        let t0 = Instant::now();
        let mut tx = server(false);
        tx.send_response(486, resp(486, "INVITE", 3), t0).unwrap();
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::Send(resp(486, "INVITE", 3))]
        );
        assert_eq!(tx.state(), ServerInviteState::Completed);
        let mut resent = Vec::new();
        let mut last = Vec::new();
        while let Some(next) = tx.poll_timeout() {
            tx.on_timeout(next);
            let out = drain(|| tx.poll());
            if out == [Output::Send(resp(486, "INVITE", 3))] {
                resent.push(next - t0);
            } else {
                last = out;
                assert_eq!(next, at(t0, 32.0));
            }
        }
        // G: 0.5, then 1, 2, 4, 4, ... (capped at T2), H at 64*T1 = 32 s.
        let expected: Vec<Duration> = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
            .iter()
            .map(|&s| secs(s))
            .collect();
        assert_eq!(resent, expected);
        assert_eq!(last, vec![Output::Timeout(Timer::H), Output::Terminated]);
    }

    #[test]
    fn retransmitted_invite_in_completed_resends_final() {
        let t0 = Instant::now();
        let mut tx = server(false);
        tx.send_response(603, resp(603, "INVITE", 3), t0).unwrap();
        drain(|| tx.poll());
        tx.on_request(invite(), at(t0, 0.2));
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::Send(resp(603, "INVITE", 3))]
        );
        // A second final is discarded.
        assert_eq!(
            tx.send_response(200, resp(200, "INVITE", 3), at(t0, 0.3)),
            Err(Error::ResponseNotAllowed {
                status: 200,
                state: TxState::ServerInvite(ServerInviteState::Completed)
            })
        );
        assert_eq!(drain(|| tx.poll()), vec![]);
    }

    #[test]
    fn ack_confirms_stops_g_and_h_then_timer_i() {
        let t0 = Instant::now();
        let mut tx = server(false);
        tx.send_response(486, resp(486, "INVITE", 3), t0).unwrap();
        tx.on_timeout(at(t0, 0.5));
        drain(|| tx.poll());
        tx.on_ack(Msg::req("ACK", 3), at(t0, 0.7));
        assert_eq!(tx.state(), ServerInviteState::Confirmed);
        assert_eq!(drain(|| tx.poll()), vec![]);
        // I = T4 = 5 s; the ACK and INVITE retransmissions are absorbed meanwhile.
        assert_eq!(tx.poll_timeout(), Some(at(t0, 5.7)));
        tx.on_ack(Msg::req("ACK", 3), at(t0, 1.0));
        tx.on_request(invite(), at(t0, 1.0));
        tx.on_transport_error(at(t0, 1.0));
        assert_eq!(drain(|| tx.poll()), vec![]);
        tx.on_timeout(at(t0, 5.7));
        assert_eq!(drain(|| tx.poll()), vec![Output::Terminated]);
    }

    #[test]
    fn reliable_transport_no_timer_g_and_timer_i_zero() {
        let t0 = Instant::now();
        let mut tx = server(true);
        tx.send_response(486, resp(486, "INVITE", 3), t0).unwrap();
        drain(|| tx.poll());
        // Only H runs.
        assert_eq!(tx.poll_timeout(), Some(at(t0, 32.0)));
        tx.on_ack(Msg::req("ACK", 3), at(t0, 0.1));
        assert_eq!(drain(|| tx.poll()), vec![Output::Terminated]);

        let mut tx = server(true);
        tx.send_response(486, resp(486, "INVITE", 3), t0).unwrap();
        drain(|| tx.poll());
        tx.on_timeout(at(t0, 32.0));
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::Timeout(Timer::H), Output::Terminated]
        );
    }

    #[test]
    fn accepted_absorbs_invite_passes_ack_sends_tu_2xx_until_timer_l() {
        let t0 = Instant::now();
        let mut tx = server(false);
        tx.send_response(180, resp(180, "INVITE", 3), t0).unwrap();
        tx.send_response(200, resp(200, "INVITE", 3), at(t0, 1.0))
            .unwrap();
        assert_eq!(tx.state(), ServerInviteState::Accepted);
        assert_eq!(drain(|| tx.poll()).len(), 2);
        // The transaction never retransmits the 2xx itself: only Timer L runs.
        assert_eq!(tx.poll_timeout(), Some(at(t0, 33.0)));
        // Retransmitted INVITE after the 200: absorbed, no new transaction, nothing to the TU.
        tx.on_request(invite(), at(t0, 1.5));
        assert_eq!(drain(|| tx.poll()), vec![]);
        // The TU retransmits its 2xx through the transaction.
        tx.send_response(200, resp(200, "INVITE", 3), at(t0, 1.5))
            .unwrap();
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::Send(resp(200, "INVITE", 3))]
        );
        // Non-2xx or provisional now: discarded.
        assert!(tx
            .send_response(180, resp(180, "INVITE", 3), at(t0, 1.6))
            .is_err());
        assert!(tx
            .send_response(500, resp(500, "INVITE", 3), at(t0, 1.6))
            .is_err());
        // An ACK that matches the transaction goes to the TU.
        tx.on_ack(Msg::req("ACK", 3), at(t0, 2.0));
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::ToTu(TuEvent::Ack(Msg::req("ACK", 3)))]
        );
        assert_eq!(tx.state(), ServerInviteState::Accepted);
        tx.on_timeout(at(t0, 33.0));
        assert_eq!(drain(|| tx.poll()), vec![Output::Terminated]);
        assert_eq!(
            tx.send_response(200, resp(200, "INVITE", 3), at(t0, 34.0)),
            Err(Error::ResponseNotAllowed {
                status: 200,
                state: TxState::ServerInvite(ServerInviteState::Terminated)
            })
        );
    }

    #[test]
    fn timer_l_is_64_t1_on_reliable_transport_too() {
        let t0 = Instant::now();
        let mut tx = server(true);
        tx.send_response(200, resp(200, "INVITE", 3), t0).unwrap();
        assert_eq!(tx.poll_timeout(), Some(at(t0, 32.0)));
    }

    #[test]
    fn transport_errors_follow_rfc6026_figure_5() {
        let t0 = Instant::now();
        let mut tx = server(false);
        tx.send_response(180, resp(180, "INVITE", 3), t0).unwrap();
        drain(|| tx.poll());
        tx.on_transport_error(t0);
        assert_eq!(drain(|| tx.poll()), vec![Output::TransportError]);
        assert_eq!(tx.state(), ServerInviteState::Proceeding);

        tx.send_response(200, resp(200, "INVITE", 3), t0).unwrap();
        drain(|| tx.poll());
        tx.on_transport_error(t0);
        assert_eq!(drain(|| tx.poll()), vec![Output::TransportError]);
        assert_eq!(tx.state(), ServerInviteState::Accepted);

        let mut tx = server(false);
        tx.send_response(404, resp(404, "INVITE", 3), t0).unwrap();
        drain(|| tx.poll());
        tx.on_transport_error(t0);
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::TransportError, Output::Terminated]
        );
    }

    #[test]
    fn invalid_status_from_tu_is_refused() {
        let mut tx = server(false);
        assert_eq!(
            tx.send_response(42, resp(42, "INVITE", 3), Instant::now()),
            Err(Error::InvalidStatus(42))
        );
        assert_eq!(drain(|| tx.poll()), vec![]);
    }
}
