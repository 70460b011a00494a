//! Adapter for our own `crates/sip-msg` (feature `ours`).
//!
//! `sip_msg::parse` frames and splits the message; typed values come from the `Headers`
//! accessors (`vias`, `contacts`, `cseq`, `call_id`, `from`, `to`, `max_forwards`), which
//! split comma-joined rows.

use crate::facts::{Facts, HostPort, Start};
use crate::Candidate;
use bytes::Bytes;
use sip_msg::{Contacts, Message};

pub struct Ours;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse(buf: &[u8]) -> Result<Message, String> {
    sip_msg::parse(Bytes::copy_from_slice(buf)).map_err(|e| e.to_string())
}

impl Candidate for Ours {
    fn name(&self) -> &'static str {
        "sip-msg (ours)"
    }

    fn parse_only(&self, buf: &[u8]) -> Result<(), String> {
        parse(buf).map(|m| {
            std::hint::black_box(&m);
        })
    }

    fn facts(&self, buf: &[u8]) -> Result<Facts, String> {
        let msg = parse(buf)?;
        let start = match &msg {
            Message::Request(r) => Start::Request {
                method: r.method.to_string(),
                uri: r.uri.host().map(|h| HostPort {
                    host: h.to_string(),
                    port: r.uri.port(),
                }),
            },
            Message::Response(r) => Start::Response { code: r.status },
        };
        let hs = msg.headers();
        let mut typed_failures = Vec::new();
        let has = |n: &str| hs.iter().any(|h| h.name.as_str().eq_ignore_ascii_case(n));

        let call_id = if has("Call-ID") {
            hs.call_id().map(|c| Some(text(c))).map_err(|e| {
                typed_failures.push(format!("Call-ID: {e}"));
                e.to_string()
            })
        } else {
            Ok(None)
        };
        let vias = hs
            .vias()
            .map(|v| {
                v.iter()
                    .map(|v| HostPort {
                        host: v.host.to_string(),
                        port: v.port,
                    })
                    .collect::<Vec<_>>()
            })
            .map_err(|e| {
                typed_failures.push(format!("Via: {e}"));
                e.to_string()
            });
        let contacts = match hs.contacts() {
            Ok(Contacts::Star) => Ok(1),
            Ok(Contacts::List(l)) => Ok(l.len()),
            Err(e) => {
                typed_failures.push(format!("Contact: {e}"));
                Err(e.to_string())
            }
        };
        let cseq = if has("CSeq") {
            hs.cseq()
                .map(|c| Some((c.seq, c.method.to_string())))
                .map_err(|e| {
                    typed_failures.push(format!("CSeq: {e}"));
                    e.to_string()
                })
        } else {
            Ok(None)
        };
        if has("From") {
            if let Err(e) = hs.from() {
                typed_failures.push(format!("From: {e}"));
            }
        }
        if has("To") {
            if let Err(e) = hs.to() {
                typed_failures.push(format!("To: {e}"));
            }
        }
        if let Err(e) = hs.max_forwards() {
            typed_failures.push(format!("Max-Forwards: {e}"));
        }
        let headers = hs
            .iter()
            .map(|h| (h.name.as_str().to_string(), text(&h.value)))
            .collect();

        Ok(Facts {
            start,
            call_id,
            vias,
            contacts,
            cseq,
            typed_failures,
            headers,
            body_len: msg.body().len(),
        })
    }

    fn parse_typed(&self, buf: &[u8]) -> Result<(), String> {
        let msg = parse(buf)?;
        let hs = msg.headers();
        std::hint::black_box(hs.vias().map_err(|e| e.to_string())?);
        std::hint::black_box(hs.contacts().map_err(|e| e.to_string())?);
        std::hint::black_box(hs.from().map_err(|e| e.to_string())?);
        std::hint::black_box(hs.to().map_err(|e| e.to_string())?);
        std::hint::black_box(hs.cseq().map_err(|e| e.to_string())?);
        std::hint::black_box(hs.call_id().map_err(|e| e.to_string())?);
        Ok(())
    }
}
