//! REGISTER: turn the parsed request into the registrar's borrowed input, and its outcome into
//! the response (RFC 3261 §10.3).

use std::time::Instant;

use sip_msg::{Contacts, HeaderName, Request, Via};

use crate::uas::reason_phrase;
use crate::wire::Destination;
use crate::{Engine, Inbound};

/// Builds the registrar from the validated config.
pub fn registrar_from_config(
    cfg: &config::Config,
    secret: [u8; 32],
) -> Result<registrar::Registrar, registrar::Error> {
    let (rc, users) = registrar_settings(cfg);
    registrar::Registrar::new(rc, users, secret)
}

/// The registrar's settings and credentials as the config states them.
pub fn registrar_settings(
    cfg: &config::Config,
) -> (registrar::RegistrarConfig, Vec<registrar::UserCredential>) {
    let sip = &cfg.sip;
    let mut rc = registrar::RegistrarConfig::new(sip.domain.to_string());
    rc.auth = match sip.auth {
        config::Auth::Digest => registrar::AuthMode::Digest,
        config::Auth::None => registrar::AuthMode::None,
    };
    rc.algorithms = sip
        .digest_algorithms
        .iter()
        .map(|a| match a {
            config::DigestAlgorithm::Sha256 => registrar::Algorithm::Sha256,
            config::DigestAlgorithm::Md5 => registrar::Algorithm::Md5,
        })
        .collect();
    rc.min_expires = secs(sip.min_expires);
    rc.max_expires = secs(sip.max_expires);
    rc.default_expires = secs(sip.default_expires);
    rc.max_contacts = sip.max_contacts;
    rc.nonce_lifetime = sip.nonce_lifetime;
    rc.failure_limit = sip.auth_failure_limit;
    rc.failure_window = sip.auth_failure_window;
    let users = cfg
        .users
        .iter()
        .filter_map(|u| match (&u.password, sip.auth) {
            (Some(password), _) => Some(registrar::UserCredential::new(
                u.id.to_string(),
                password.expose().to_string(),
            )),
            // Without authentication a user needs no password to register; with it, a user
            // without a password cannot register (the config refuses that combination).
            (None, config::Auth::None) => Some(registrar::UserCredential::new(
                u.id.to_string(),
                String::new(),
            )),
            (None, config::Auth::Digest) => None,
        })
        .collect();
    (rc, users)
}

fn secs(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// The transaction key of a request (RFC 3261 §17.2.3), or the RFC 2543 fallback key.
pub fn transaction_key(req: &Request, via: &Via) -> sip_core::TransactionKey {
    let method = sip_core::TxMethod::from_name(req.method.as_str());
    let branch = via.branch().map(|b| String::from_utf8_lossy(b));
    if let Some(branch) = branch.as_deref() {
        let sent_by = match via.port {
            Some(port) => format!("{}:{port}", via.host),
            None => via.host.to_string(),
        };
        if let Ok(key) = sip_core::TransactionKey::server(branch, &sent_by, method.clone()) {
            return key;
        }
    }
    let text = |b: Option<&bytes::Bytes>| {
        b.map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    sip_core::TransactionKey::legacy(sip_core::LegacyKey {
        request_uri: String::from_utf8_lossy(req.uri.raw()).into_owned(),
        from_tag: req
            .headers
            .from()
            .ok()
            .and_then(|f| f.tag().cloned())
            .map(|t| text(Some(&t)))
            .unwrap_or_default(),
        call_id: text(req.headers.call_id().ok()),
        cseq: req.headers.cseq().map(|c| c.seq).unwrap_or(0),
        method,
        top_via: String::from_utf8_lossy(&via.to_bytes()).into_owned(),
    })
}

impl Engine {
    pub(crate) fn on_register(
        &mut self,
        req: &Request,
        key: &sip_core::TransactionKey,
        to: Destination,
        inbound: &Inbound,
        now: Instant,
    ) {
        let outcome = match parse_register(req) {
            Ok(parsed) => {
                let contacts: Vec<registrar::ContactIn<'_>> =
                    parsed.contacts.iter().map(|c| c.as_input()).collect();
                let authorization: Vec<&str> =
                    parsed.authorization.iter().map(String::as_str).collect();
                let request = registrar::RegisterRequest {
                    aor_user: &parsed.aor_user,
                    request_uri: &parsed.request_uri,
                    authorization: &authorization,
                    source_ip: inbound.peer.ip(),
                    call_id: &parsed.call_id,
                    cseq: parsed.cseq,
                    contacts: match parsed.star {
                        true => registrar::ContactsIn::Star,
                        false if contacts.is_empty() => registrar::ContactsIn::None,
                        false => registrar::ContactsIn::List(&contacts),
                    },
                    expires_header: parsed.expires,
                    transport: inbound.transport.as_str(),
                    received: inbound.peer,
                    user_agent: parsed.user_agent.as_deref(),
                };
                self.registrar.handle_register(&request, now)
            }
            Err(reason) => registrar::RegisterOutcome::BadRequest(reason),
        };
        let status = outcome.status();
        match &outcome {
            registrar::RegisterOutcome::Ok { .. } => self.stats.registrations += 1,
            registrar::RegisterOutcome::Challenge { .. }
            | registrar::RegisterOutcome::RateLimited => self.stats.auth_failures += 1,
            _ => {}
        }
        let reason = match &outcome {
            registrar::RegisterOutcome::BadRequest(r) => r.to_string(),
            other => other.reason().to_string(),
        };
        let reason = if reason.is_empty() {
            reason_phrase(status).to_string()
        } else {
            reason
        };
        self.respond_with(req, key, to, status, &reason, now, |resp| match outcome {
            registrar::RegisterOutcome::Ok { bindings } => {
                for binding in bindings {
                    resp.headers.push(HeaderName::Contact, binding.to_string());
                }
            }
            registrar::RegisterOutcome::Challenge { headers } => {
                for h in headers {
                    resp.headers.push(HeaderName::WwwAuthenticate, h);
                }
            }
            registrar::RegisterOutcome::IntervalTooBrief { min_expires } => {
                resp.headers
                    .push(HeaderName::MinExpires, min_expires.to_string());
            }
            _ => {}
        });
    }
}

/// The parts of a REGISTER the registrar needs, owned so the borrowed registrar input can point
/// into them.
struct ParsedRegister {
    aor_user: String,
    request_uri: String,
    authorization: Vec<String>,
    call_id: String,
    cseq: u32,
    star: bool,
    contacts: Vec<OwnedContact>,
    expires: Option<u32>,
    user_agent: Option<String>,
}

struct OwnedContact {
    uri: String,
    expires: Option<u32>,
    q: Option<f32>,
    instance: Option<String>,
    reg_id: Option<u32>,
    raw: String,
}

impl OwnedContact {
    fn as_input(&self) -> registrar::ContactIn<'_> {
        registrar::ContactIn {
            uri: &self.uri,
            expires: self.expires,
            q: self.q,
            instance: self.instance.as_deref(),
            reg_id: self.reg_id,
            raw: &self.raw,
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse_register(req: &Request) -> Result<ParsedRegister, &'static str> {
    let to = req.headers.to().map_err(|_| "Bad To")?;
    let aor_user = to
        .uri
        .user_unescaped()
        .map(|u| text(&u))
        .ok_or("To URI has no user")?;
    let call_id = text(req.headers.call_id().map_err(|_| "Bad Call-ID")?);
    let cseq = req.headers.cseq().map_err(|_| "Bad CSeq")?.seq;
    let expires = req.headers.expires().map_err(|_| "Bad Expires")?;
    let authorization = req
        .headers
        .get_all(&HeaderName::Authorization)
        .map(|v| text(v))
        .collect();
    let user_agent = req.headers.get(&HeaderName::UserAgent).map(|v| text(v));
    let (star, contacts) = match req.headers.contacts().map_err(|_| "Bad Contact")? {
        Contacts::Star => (true, Vec::new()),
        Contacts::List(list) => {
            let mut contacts = Vec::with_capacity(list.len());
            for c in list {
                contacts.push(OwnedContact {
                    uri: text(c.uri.raw()),
                    expires: c.expires().map_err(|_| "Bad Contact expires")?,
                    q: c.q().map_err(|_| "Bad Contact q")?.map(|q| q.as_f32()),
                    instance: c.instance().map(|i| text(&i)),
                    reg_id: c
                        .params
                        .value("reg-id")
                        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()),
                    raw: text(&c.to_bytes()),
                });
            }
            (false, contacts)
        }
    };
    Ok(ParsedRegister {
        aor_user,
        request_uri: text(req.uri.raw()),
        authorization,
        call_id,
        cseq,
        star,
        contacts,
        expires,
        user_agent,
    })
}
