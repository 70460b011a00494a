//! Adapter for `rsip` 0.4.
//!
//! rsip tokenises the message eagerly but keeps header values as strings: typed decoding
//! happens when `.typed()` is called. The adapter therefore reports "parsed" for the
//! top-level `SipMessage::try_from` and records typed failures of core headers separately.
//! rsip has no compact-form table (`i:` lands in `Header::Other`) and no comma splitting.

use crate::facts::{Facts, HostPort, Start};
use crate::Candidate;
use rsip::prelude::*;
use rsip::{Header, SipMessage};

pub struct Rsip;

fn host_port(hp: &rsip::HostWithPort) -> HostPort {
    HostPort {
        host: hp.host.to_string(),
        port: hp.port.and_then(|p| p.to_string().parse().ok()),
    }
}

impl Candidate for Rsip {
    fn name(&self) -> &'static str {
        "rsip 0.4.0"
    }

    fn parse_only(&self, buf: &[u8]) -> Result<(), String> {
        SipMessage::try_from(buf)
            .map(|m| {
                std::hint::black_box(&m);
            })
            .map_err(|e| e.to_string())
    }

    fn facts(&self, buf: &[u8]) -> Result<Facts, String> {
        let msg = SipMessage::try_from(buf).map_err(|e| e.to_string())?;
        let mut typed_failures = Vec::new();

        let start = match &msg {
            SipMessage::Request(r) => Start::Request {
                method: r.method.to_string(),
                uri: Some(host_port(&r.uri.host_with_port)),
            },
            SipMessage::Response(r) => Start::Response {
                code: r.status_code.code(),
            },
        };

        let mut call_id = None;
        let mut vias = Vec::new();
        let mut via_err = None;
        let mut contacts = 0usize;
        let mut contact_err = None;
        let mut cseq = None;
        let mut cseq_err = None;
        let mut headers = Vec::new();

        for h in msg.headers().iter() {
            let shown = h.to_string();
            let (n, v) = shown.split_once(':').unwrap_or((shown.as_str(), ""));
            headers.push((n.trim().to_string(), v.trim().to_string()));
            match h {
                Header::CallId(c) if call_id.is_none() => {
                    call_id = Some(c.value().trim().to_string());
                }
                Header::Via(v) => match v.typed() {
                    Ok(t) => vias.push(host_port(&t.uri.host_with_port)),
                    Err(e) => via_err = Some(e.to_string()),
                },
                Header::Contact(c) => match c.typed() {
                    Ok(_) => contacts += 1,
                    Err(e) => contact_err = Some(e.to_string()),
                },
                Header::CSeq(c) => match c.typed() {
                    Ok(t) => {
                        if cseq.is_none() {
                            cseq = Some((t.seq, t.method.to_string()));
                        }
                    }
                    Err(e) => cseq_err = Some(e.to_string()),
                },
                Header::From(f) => {
                    if let Err(e) = f.typed() {
                        typed_failures.push(format!("From: {e}"));
                    }
                }
                Header::To(t) => {
                    if let Err(e) = t.typed() {
                        typed_failures.push(format!("To: {e}"));
                    }
                }
                _ => {}
            }
        }
        if let Some(e) = &via_err {
            typed_failures.push(format!("Via: {e}"));
        }
        if let Some(e) = &contact_err {
            typed_failures.push(format!("Contact: {e}"));
        }
        if let Some(e) = &cseq_err {
            typed_failures.push(format!("CSeq: {e}"));
        }

        Ok(Facts {
            start,
            call_id: Ok(call_id),
            vias: match via_err {
                Some(e) => Err(e),
                None => Ok(vias),
            },
            contacts: match contact_err {
                Some(e) => Err(e),
                None => Ok(contacts),
            },
            cseq: match cseq_err {
                Some(e) => Err(e),
                None => Ok(cseq),
            },
            typed_failures,
            headers,
            body_len: msg.body().len(),
        })
    }

    fn parse_typed(&self, buf: &[u8]) -> Result<(), String> {
        let msg = SipMessage::try_from(buf).map_err(|e| e.to_string())?;
        for h in msg.headers().iter() {
            match h {
                Header::Via(v) => {
                    std::hint::black_box(v.typed().map_err(|e| e.to_string())?);
                }
                Header::Contact(c) => {
                    std::hint::black_box(c.typed().map_err(|e| e.to_string())?);
                }
                Header::CSeq(c) => {
                    std::hint::black_box(c.typed().map_err(|e| e.to_string())?);
                }
                Header::From(f) => {
                    std::hint::black_box(f.typed().map_err(|e| e.to_string())?);
                }
                Header::To(t) => {
                    std::hint::black_box(t.typed().map_err(|e| e.to_string())?);
                }
                Header::CallId(c) => {
                    std::hint::black_box(c.value());
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Pin down the two rsip limitations the results table attributes its rejections to, so
    //! the RESULTS.md explanation stays true if rsip is upgraded.
    use super::*;

    const BASE: &str = "OPTIONS sip:user@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\r\n\
        To: <sip:user@example.com>\r\n\
        From: <sip:caller@example.com>;tag=1\r\n\
        Call-ID: abc\r\n\
        CSeq: 1 OPTIONS\r\n";

    #[test]
    fn rsip_accepts_plain_message() {
        let msg =
            format!("{BASE}Accept: application/sdp, message/sip\r\nContent-Length: 0\r\n\r\n");
        assert!(Rsip.facts(msg.as_bytes()).is_ok());
    }

    #[test]
    fn rsip_rejects_folded_header_line() {
        let msg =
            format!("{BASE}Accept: application/sdp,\r\n message/sip\r\nContent-Length: 0\r\n\r\n");
        assert!(Rsip.facts(msg.as_bytes()).is_err());
    }

    #[test]
    fn rsip_rejects_ipv6_request_uri() {
        let msg = BASE.replace("sip:user@example.com SIP", "sip:user@[2001:db8::10] SIP")
            + "Content-Length: 0\r\n\r\n";
        assert!(Rsip.facts(msg.as_bytes()).is_err());
    }

    #[test]
    fn rsip_does_not_know_compact_call_id() {
        let msg = BASE.replace("Call-ID: abc", "i: abc") + "Content-Length: 0\r\n\r\n";
        let facts = Rsip.facts(msg.as_bytes()).map_err(|e| e.to_string());
        assert!(matches!(facts, Ok(ref f) if matches!(f.call_id, Ok(None))));
    }
}
