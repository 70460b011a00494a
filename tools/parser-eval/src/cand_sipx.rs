//! Adapter for `sipx-sip` 1.0 (default features off: no RFC 8224 identity / p256).
//!
//! sipx frames and splits the message eagerly (`parse_datagram`: start line, header names
//! incl. compact forms, Content-Length, body) and decodes header values on demand through
//! `Headers::typed` / `typed_all`, which split comma-joined rows.

use crate::facts::{Facts, HostPort, Start};
use crate::Candidate;
use bytes::Bytes;
use sipx_sip::headers::{ContactValue, From as FromH, MaxForwards, To as ToH};
use sipx_sip::{parse_datagram, CSeq, CallId, Limits, Message, Via};

/// `validate`: also run `sipx_sip::validate` and treat any non-repairable finding (missing /
/// malformed / repeated required header, CSeq method mismatch, unsupported version, headers
/// in the Request-URI) as a rejection, the way a sipx-based element would answer 400/505.
pub struct Sipx {
    pub validate: bool,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn host(h: &sipx_sip::Host) -> String {
    text(&h.to_bytes())
}

impl Candidate for Sipx {
    fn name(&self) -> &'static str {
        if self.validate {
            "sipx-sip 1.0.1 + validate()"
        } else {
            "sipx-sip 1.0.1"
        }
    }

    fn parse_only(&self, buf: &[u8]) -> Result<(), String> {
        let m = parse_datagram(Bytes::copy_from_slice(buf), &Limits::datagram())
            .map_err(|e| format!("{e:?}"))?;
        if self.validate {
            std::hint::black_box(sipx_sip::validate(&m));
        }
        std::hint::black_box(&m);
        Ok(())
    }

    fn facts(&self, buf: &[u8]) -> Result<Facts, String> {
        let msg = parse_datagram(Bytes::copy_from_slice(buf), &Limits::datagram())
            .map_err(|e| format!("{e:?}"))?;
        if self.validate {
            let findings: Vec<_> = sipx_sip::validate(&msg)
                .into_iter()
                .filter(|f| !f.is_repairable())
                .collect();
            if !findings.is_empty() {
                return Err(format!("validate: {findings:?}"));
            }
        }
        let start = match &msg {
            Message::Request(r) => Start::Request {
                method: text(r.method.as_bytes()),
                uri: r.uri.host().map(|h| HostPort {
                    host: host(h),
                    port: r.uri.port(),
                }),
            },
            Message::Response(r) => Start::Response {
                code: r.status.code(),
            },
        };
        let hs = msg.headers();
        let mut typed_failures = Vec::new();

        let call_id = match hs.typed::<CallId>() {
            None => Ok(None),
            Some(Ok(c)) => Ok(Some(text(&c.0))),
            Some(Err(e)) => {
                typed_failures.push(format!("Call-ID: {e:?}"));
                Err(format!("{e:?}"))
            }
        };
        let vias: Result<Vec<HostPort>, String> = hs
            .typed_all::<Via>()
            .map(|v| {
                v.map(|v| HostPort {
                    host: host(&v.host),
                    port: v.port,
                })
                .map_err(|e| format!("{e:?}"))
            })
            .collect();
        if let Err(e) = &vias {
            typed_failures.push(format!("Via: {e}"));
        }
        let contacts: Result<usize, String> = hs
            .typed_all::<ContactValue>()
            .map(|c| c.map_err(|e| format!("{e:?}")))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.len());
        if let Err(e) = &contacts {
            typed_failures.push(format!("Contact: {e}"));
        }
        let cseq = match hs.typed::<CSeq>() {
            None => Ok(None),
            Some(Ok(c)) => Ok(Some((c.sequence, text(c.method.as_bytes())))),
            Some(Err(e)) => {
                typed_failures.push(format!("CSeq: {e:?}"));
                Err(format!("{e:?}"))
            }
        };
        if let Some(Err(e)) = hs.typed::<FromH>() {
            typed_failures.push(format!("From: {e:?}"));
        }
        if let Some(Err(e)) = hs.typed::<ToH>() {
            typed_failures.push(format!("To: {e:?}"));
        }
        if let Some(Err(e)) = hs.typed::<MaxForwards>() {
            typed_failures.push(format!("Max-Forwards: {e:?}"));
        }
        let headers = hs
            .iter()
            .map(|h| (text(h.name().canonical()), text(&h.value())))
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
        let msg = parse_datagram(Bytes::copy_from_slice(buf), &Limits::datagram())
            .map_err(|e| format!("{e:?}"))?;
        if self.validate {
            std::hint::black_box(sipx_sip::validate(&msg));
        }
        let hs = msg.headers();
        for v in hs.typed_all::<Via>() {
            std::hint::black_box(v.map_err(|e| format!("{e:?}"))?);
        }
        for c in hs.typed_all::<ContactValue>() {
            std::hint::black_box(c.map_err(|e| format!("{e:?}"))?);
        }
        if let Some(r) = hs.typed::<FromH>() {
            std::hint::black_box(r.map_err(|e| format!("{e:?}"))?);
        }
        if let Some(r) = hs.typed::<ToH>() {
            std::hint::black_box(r.map_err(|e| format!("{e:?}"))?);
        }
        if let Some(r) = hs.typed::<CSeq>() {
            std::hint::black_box(r.map_err(|e| format!("{e:?}"))?);
        }
        if let Some(r) = hs.typed::<CallId>() {
            std::hint::black_box(r.map_err(|e| format!("{e:?}"))?);
        }
        Ok(())
    }
}
