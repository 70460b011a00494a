//! [`Wire`]: a serialised message and where it goes: what the transaction layer stores and
//! retransmits. Serialising once means a retransmission costs a reference-count bump.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::{ConnId, Transmit, Transport};

/// Where a response goes (RFC 3261 §18.2.2 with RFC 3581).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    pub transport: Transport,
    pub local: SocketAddr,
    pub dest: SocketAddr,
    pub conn: Option<ConnId>,
}

/// A serialised message bound for one destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wire {
    pub to: Destination,
    pub data: Bytes,
}

impl Wire {
    pub fn into_transmit(self) -> Transmit {
        Transmit {
            transport: self.to.transport,
            local: self.to.local,
            dest: self.to.dest,
            conn: self.to.conn,
            data: self.data,
        }
    }
}

impl sip_core::TxMessage for Wire {
    /// The engine runs no client INVITE transaction yet; when it does (call routing), the ACK is
    /// built from the parsed request, not from these bytes. Until then this is never called.
    fn ack_for(&self, _response: &Self) -> Self {
        self.clone()
    }
}
