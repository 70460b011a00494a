//! A test phone for media tests: a SIP UA plus an RTP socket, and RTP helpers.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::Ua;

/// A phone: a SIP UA and an RTP socket.
pub struct Phone {
    pub sip: Ua,
    pub rtp: UdpSocket,
}

impl Phone {
    pub fn new(user: &str) -> Phone {
        let mut sip = Ua::udp();
        sip.user = user.into();
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("rtp socket");
        Phone { sip, rtp }
    }

    pub fn rtp_port(&self) -> u16 {
        self.rtp.local_addr().expect("rtp addr").port()
    }

    pub fn sdp(&self, port: u16, payload_types: &[(u8, &str)]) -> String {
        let pts: Vec<String> = payload_types.iter().map(|(pt, _)| pt.to_string()).collect();
        let mut s = format!(
            "v=0\r\no={} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {}\r\n",
            self.sip.user,
            pts.join(" ")
        );
        for (pt, map) in payload_types {
            s.push_str(&format!("a=rtpmap:{pt} {map}\r\n"));
        }
        s
    }

    /// Sends an INVITE for `number` to `server`, offering `codecs` on this phone's RTP port.
    pub fn dial(&mut self, server: SocketAddr, number: &str, codecs: &[(u8, &str)]) {
        let offer = self.sdp(self.rtp_port(), codecs);
        let contact = format!("Contact: <sip:caller@{}>", self.sip.local);
        let invite = self.sip.request_with_body(
            "INVITE",
            &format!("sip:{number}@{server}"),
            &[contact, "Content-Type: application/sdp".into()],
            &offer,
        );
        self.sip.send_to(server, &invite).expect("INVITE");
    }

    /// The next SIP message that is not a 100 Trying, within `wait`.
    pub fn next(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            let msg = self.sip.recv(deadline - Instant::now())?;
            if !msg.starts_with("SIP/2.0 100") {
                return Some(msg);
            }
        }
        None
    }
}

/// The audio address in an SDP body.
pub fn sdp_addr(msg: &str) -> SocketAddr {
    let body = msg.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let ip = body
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c= line");
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|m| m.split(' ').next())
        .expect("m= line");
    format!("{}:{}", ip.trim(), port).parse().expect("address")
}

pub fn rtp_packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt & 0x7f];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Datagrams received on `socket` within `wait`, with their sources.
pub fn drain(socket: &UdpSocket, wait: Duration) -> Vec<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        socket.set_read_timeout(Some(left)).expect("timeout");
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => out.push((buf[..n].to_vec(), from)),
            Err(_) => break,
        }
    }
    out
}

/// Sends a packet from `from` to `to` every 20 ms until `at` receives something (the relay
/// applies the call's SDP on its own thread, a moment after the SIP answer), then discards
/// what arrived. False if nothing came within `within`.
pub fn until_flowing(from: &UdpSocket, to: SocketAddr, at: &UdpSocket, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut seq = 60_000u16;
    while Instant::now() < deadline {
        let p = rtp_packet(8, seq, u32::from(seq) * 160, 0x5eed, &[0xd5; 160]);
        seq = seq.wrapping_add(1);
        let _ = from.send_to(&p, to);
        if !drain(at, Duration::from_millis(20)).is_empty() {
            drain(at, Duration::from_millis(60));
            return true;
        }
    }
    false
}

/// An RTP port range of 100 ports for one daemon: distinct from every other range handed out
/// by this test process (tests run in parallel threads), below the ephemeral port range, and
/// free right now (every port of it could be bound), so that a benchmark or another program
/// holding ports does not make a test's calls fail with 503.
pub fn rtp_range() -> (u16, u16) {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % 50) as u16;
    for _ in 0..200 {
        let n = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % 200;
        let low = 10_000 + n * 100;
        let free = (low..low + 100).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return (low, low + 99);
        }
    }
    panic!("no free block of 100 UDP ports between 10000 and 29999");
}

/// Datagrams received on `socket` until `n` have come (then 100 ms more, to catch extras) or
/// `within` has passed: counts stay exact on a loaded machine without waiting long on an idle
/// one.
pub fn drain_n(socket: &UdpSocket, n: usize, within: Duration) -> Vec<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        got.extend(drain(socket, Duration::from_millis(50)));
    }
    got.extend(drain(socket, Duration::from_millis(100)));
    got
}
