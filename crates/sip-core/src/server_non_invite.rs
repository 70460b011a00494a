//! Non-INVITE server transaction: RFC 3261 §17.2.2 (Figure 8).
//!
//! ```text
//!                 request received (the caller hands it to the TU)
//!                      |
//!  request: absorbed   v
//!                    Trying ── 200-699 from TU: send ──────┐
//!                      │ 1xx from TU: send                 │
//!                      v                                   │
//!  request: resend  Proceeding ── 200-699 from TU: send ───┤
//!  1xx from TU: send   │ transport error: inform TU        v
//!                      │               request: resend  Completed ── J (64*T1 / 0) ─┐
//!                      │                                   │ transport error        │
//!                      v                                   v                        v
//!                  Terminated ◀───────────────────────────────────────────────────────
//! ```
//!
//! Trying absorbs retransmissions because there is no response yet to repeat: the TU is still
//! working, and the client's Timer E keeps the request coming until it answers.

use std::collections::VecDeque;
use std::time::Instant;

use crate::timer::{Timer, TimerConfig, TimerTable};
use crate::{is_status, Error, Output, TxState};

/// Public view of a [`ServerNonInvite`]'s state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerNonInviteState {
    /// Request received, no response sent yet.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; re-sending it to retransmissions until Timer J.
    Completed,
    /// Done; emits nothing more.
    Terminated,
}

enum State<M> {
    Trying,
    Proceeding { last_provisional: M },
    Completed { last_final: M },
    Terminated,
}

/// Non-INVITE server transaction. Create it when a new request arrives, and hand that request
/// to the TU.
pub struct ServerNonInvite<M> {
    request: M,
    reliable: bool,
    config: TimerConfig,
    state: State<M>,
    timers: TimerTable<1>,
    out: VecDeque<Output<M>>,
}

impl<M: Clone> ServerNonInvite<M> {
    /// A transaction for the `request` that just arrived, in Trying. `now` is the arrival time;
    /// no timer runs yet.
    pub fn new(request: M, reliable: bool, config: TimerConfig, _now: Instant) -> Self {
        ServerNonInvite {
            request,
            reliable,
            config,
            state: State::Trying,
            timers: TimerTable::new([Timer::J]),
            out: VecDeque::new(),
        }
    }

    /// The request arrived again: re-send the last response, or absorb it in Trying.
    pub fn on_request(&mut self, _msg: M, _now: Instant) {
        match &self.state {
            State::Proceeding { last_provisional } => {
                self.out.push_back(Output::Send(last_provisional.clone()))
            }
            State::Completed { last_final } => self.out.push_back(Output::Send(last_final.clone())),
            State::Trying | State::Terminated => {}
        }
    }

    /// The TU sends a response. Once a final response is sent, others are discarded with an
    /// error (RFC 3261 §17.2.2).
    pub fn send_response(&mut self, status: u16, msg: M, now: Instant) -> Result<(), Error> {
        if !is_status(status) {
            return Err(Error::InvalidStatus(status));
        }
        match (&self.state, status) {
            (State::Trying | State::Proceeding { .. }, 100..=199) => {
                self.out.push_back(Output::Send(msg.clone()));
                self.state = State::Proceeding {
                    last_provisional: msg,
                };
            }
            (State::Trying | State::Proceeding { .. }, _) => {
                self.out.push_back(Output::Send(msg.clone()));
                let j = self.config.duration(Timer::J, self.reliable);
                if j.is_zero() {
                    self.terminate();
                } else {
                    self.timers.arm(Timer::J, now, j);
                    self.state = State::Completed { last_final: msg };
                }
            }
            _ => {
                return Err(Error::ResponseNotAllowed {
                    status,
                    state: TxState::ServerNonInvite(self.state()),
                })
            }
        }
        Ok(())
    }

    /// Fire every timer due at `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            if let (Timer::J, State::Completed { .. }) = (timer, &self.state) {
                self.terminate();
            }
        }
    }

    /// The transport failed to send a response (RFC 3261 §17.2.4): inform the TU, terminate.
    /// Trying has sent nothing, so there is nothing to report.
    pub fn on_transport_error(&mut self, _now: Instant) {
        if let State::Proceeding { .. } | State::Completed { .. } = self.state {
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
    pub fn state(&self) -> ServerNonInviteState {
        match self.state {
            State::Trying => ServerNonInviteState::Trying,
            State::Proceeding { .. } => ServerNonInviteState::Proceeding,
            State::Completed { .. } => ServerNonInviteState::Completed,
            State::Terminated => ServerNonInviteState::Terminated,
        }
    }

    /// The request that created the transaction.
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
    use crate::testing::{at, drain, resp, Msg};

    fn server(reliable: bool) -> ServerNonInvite<Msg> {
        ServerNonInvite::new(bye(), reliable, TimerConfig::default(), Instant::now())
    }

    fn bye() -> Msg {
        Msg::req("BYE", 9)
    }

    #[test]
    fn retransmission_in_trying_sends_nothing() {
        let t0 = Instant::now();
        let mut tx = server(false);
        tx.on_request(bye(), at(t0, 0.5));
        tx.on_request(bye(), at(t0, 1.5));
        assert_eq!(drain(|| tx.poll()), vec![]);
        assert_eq!(tx.state(), ServerNonInviteState::Trying);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn retransmission_in_proceeding_resends_last_provisional() {
        let t0 = Instant::now();
        let mut tx = server(false);
        tx.send_response(100, resp(100, "BYE", 9), t0).unwrap();
        tx.send_response(183, resp(183, "BYE", 9), t0).unwrap();
        assert_eq!(drain(|| tx.poll()).len(), 2);
        tx.on_request(bye(), at(t0, 0.5));
        assert_eq!(drain(|| tx.poll()), vec![Output::Send(resp(183, "BYE", 9))]);
    }

    #[test]
    fn retransmission_in_completed_resends_final_until_timer_j() {
        let t0 = Instant::now();
        let mut tx = server(false);
        tx.send_response(200, resp(200, "BYE", 9), at(t0, 0.1))
            .unwrap();
        assert_eq!(drain(|| tx.poll()), vec![Output::Send(resp(200, "BYE", 9))]);
        assert_eq!(tx.state(), ServerNonInviteState::Completed);
        // J = 64*T1 on unreliable transports.
        assert_eq!(tx.poll_timeout(), Some(at(t0, 32.1)));
        tx.on_request(bye(), at(t0, 0.6));
        tx.on_request(bye(), at(t0, 1.6));
        assert_eq!(
            drain(|| tx.poll()),
            vec![
                Output::Send(resp(200, "BYE", 9)),
                Output::Send(resp(200, "BYE", 9))
            ]
        );
        assert!(tx
            .send_response(500, resp(500, "BYE", 9), at(t0, 1.7))
            .is_err());
        assert!(tx
            .send_response(100, resp(100, "BYE", 9), at(t0, 1.7))
            .is_err());
        tx.on_timeout(at(t0, 32.0));
        assert_eq!(drain(|| tx.poll()), vec![]);
        tx.on_timeout(at(t0, 32.1));
        assert_eq!(drain(|| tx.poll()), vec![Output::Terminated]);
        tx.on_request(bye(), at(t0, 33.0));
        assert_eq!(drain(|| tx.poll()), vec![]);
    }

    #[test]
    fn timer_j_is_zero_on_reliable_transport() {
        let mut tx = server(true);
        tx.send_response(481, resp(481, "BYE", 9), Instant::now())
            .unwrap();
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::Send(resp(481, "BYE", 9)), Output::Terminated]
        );
    }

    #[test]
    fn transport_error_terminates_after_a_response_only() {
        let t0 = Instant::now();
        let mut tx = server(false);
        tx.on_transport_error(t0);
        assert_eq!(drain(|| tx.poll()), vec![]);
        tx.send_response(200, resp(200, "BYE", 9), t0).unwrap();
        drain(|| tx.poll());
        tx.on_transport_error(t0);
        assert_eq!(
            drain(|| tx.poll()),
            vec![Output::TransportError, Output::Terminated]
        );
        assert_eq!(tx.poll_timeout(), None);
    }
}
