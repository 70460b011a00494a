//! A tiny message type and helpers for the machines' unit tests.

use std::time::{Duration, Instant};

use crate::TxMessage;

/// A stand-in for a SIP message: enough to tell requests, responses and ACKs apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Msg {
    pub method: &'static str,
    pub branch: u32,
    /// 0 for a request.
    pub status: u16,
    /// For an ACK built by the transaction: the status it acknowledges.
    pub acks: u16,
}

impl Msg {
    pub fn req(method: &'static str, branch: u32) -> Msg {
        Msg {
            method,
            branch,
            status: 0,
            acks: 0,
        }
    }
}

pub(crate) fn resp(status: u16, method: &'static str, branch: u32) -> Msg {
    Msg {
        method,
        branch,
        status,
        acks: 0,
    }
}

impl TxMessage for Msg {
    fn ack_for(&self, response: &Self) -> Self {
        Msg {
            method: "ACK",
            branch: self.branch,
            status: 0,
            acks: response.status,
        }
    }
}

/// Drain a machine's outputs: `drain(|| tx.poll())`.
pub(crate) fn drain<T>(poll: impl FnMut() -> Option<T>) -> Vec<T> {
    std::iter::from_fn(poll).collect()
}

/// `s` seconds, exact to the millisecond.
pub(crate) fn secs(s: f64) -> Duration {
    Duration::from_millis((s * 1000.0).round() as u64)
}

/// `t0` plus `s` seconds.
pub(crate) fn at(t0: Instant, s: f64) -> Instant {
    t0 + secs(s)
}
