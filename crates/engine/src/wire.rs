//! [`Wire`]: a serialised message and where it goes: what the transaction layer stores and
//! retransmits. Serialising once means a retransmission costs a reference-count bump.
//!
//! A client INVITE also carries its parsed request, because the transaction layer asks it for
//! the ACK of a non-2xx final response (RFC 3261 §17.1.1.3), which is built from the INVITE's
//! headers and the response's To.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip_msg::{HeaderName, Method, Request};

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
    /// For a client INVITE: the request `data` was printed from, to build the ACK of a non-2xx.
    pub invite: Option<Arc<Request>>,
}

impl Wire {
    /// A message with nothing more to it than its bytes.
    pub fn new(to: Destination, data: Bytes) -> Wire {
        Wire {
            to,
            data,
            invite: None,
        }
    }

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
    /// RFC 3261 §17.1.1.3: Request-URI, Call-ID, From, CSeq number, the top Via and the Route
    /// headers of the INVITE; CSeq method ACK; the To of the response (it carries the tag).
    /// A Wire that is no client INVITE (never asked) yields an empty message.
    fn ack_for(&self, response: &Self) -> Self {
        let Some(invite) = &self.invite else {
            return Wire::new(self.to, Bytes::new());
        };
        Wire::new(self.to, build_ack(invite, &response.data).to_bytes())
    }
}

/// The ACK of a non-2xx final response to `invite`; `response` is the raw response (its To is
/// used when it parses, else the INVITE's).
pub fn build_ack(invite: &Request, response: &[u8]) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    let h = &invite.headers;
    if let Some(via) = h.get(&HeaderName::Via) {
        ack.headers.push(HeaderName::Via, via.clone());
    }
    ack.headers.push(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From] {
        if let Some(v) = h.get(&name) {
            ack.headers.push(name, v.clone());
        }
    }
    let to = match sip_msg::parse(Bytes::copy_from_slice(response)) {
        Ok(sip_msg::Message::Response(r)) => r.headers.get(&HeaderName::To).cloned(),
        _ => None,
    }
    .or_else(|| h.get(&HeaderName::To).cloned());
    if let Some(to) = to {
        ack.headers.push(HeaderName::To, to);
    }
    if let Some(v) = h.get(&HeaderName::CallId) {
        ack.headers.push(HeaderName::CallId, v.clone());
    }
    let seq = h.cseq().map(|c| c.seq).unwrap_or(1);
    ack.headers.push(HeaderName::CSeq, format!("{seq} ACK"));
    for route in h.get_all(&HeaderName::Route) {
        ack.headers.push(HeaderName::Route, route.clone());
    }
    ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_core::TxMessage;

    #[test]
    fn ack_for_a_non_2xx_follows_rfc3261_17_1_1_3() {
        let invite = b"INVITE sip:bob@192.0.2.4:5070 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsb1;rport\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKx\r\n\
Max-Forwards: 69\r\nRoute: <sip:p1.example;lr>\r\nFrom: <sip:+331@sb>;tag=ours\r\nTo: <sip:bob@sb>\r\n\
Call-ID: c1\r\nCSeq: 7 INVITE\r\nContact: <sip:sb@127.0.0.1>\r\nContent-Length: 0\r\n\r\n";
        let Ok(sip_msg::Message::Request(req)) = sip_msg::parse(Bytes::from_static(invite)) else {
            panic!("valid INVITE");
        };
        let to = Destination {
            transport: crate::Transport::Udp,
            local: "127.0.0.1:5060".parse().expect("addr"),
            dest: "192.0.2.4:5070".parse().expect("addr"),
            conn: None,
        };
        let wire = Wire {
            to,
            data: req.to_bytes(),
            invite: Some(Arc::new(req)),
        };
        let resp = Wire::new(
            to,
            Bytes::from_static(
                b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsb1;rport\r\n\
From: <sip:+331@sb>;tag=ours\r\nTo: <sip:bob@sb>;tag=theirs\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\n\
Content-Length: 0\r\n\r\n",
            ),
        );
        let ack = String::from_utf8_lossy(&wire.ack_for(&resp).data).into_owned();
        assert!(
            ack.starts_with("ACK sip:bob@192.0.2.4:5070 SIP/2.0\r\n"),
            "{ack}"
        );
        assert_eq!(ack.matches("Via:").count(), 1, "only the top Via: {ack}");
        assert!(ack.contains("branch=z9hG4bKsb1"), "{ack}");
        assert!(ack.contains("To: <sip:bob@sb>;tag=theirs"), "{ack}");
        assert!(ack.contains("CSeq: 7 ACK"), "{ack}");
        assert!(ack.contains("Route: <sip:p1.example;lr>"), "{ack}");
        assert!(ack.contains("Call-ID: c1"), "{ack}");
    }
}
