//! SMS over SIP MESSAGE (RFC 3428), both ways, for the customer conversations.
//!
//! - **In**: a MESSAGE from a trunk to one of our lines is a customer's SMS. It is answered
//!   `200`, reported as a [`MessageNotice`] (the daemon stores it and publishes
//!   `message.received`), and relayed to the registered devices of the line's agents (the
//!   users and team members its steps name), each copy in its own client transaction whose
//!   outcome does not matter (the conversation is the record).
//! - **Out**: [`Engine::send_message`] (the API's reply box) sends a MESSAGE from the line to
//!   the customer through the first trunk with a `send_to` address.
//!
//! Other MESSAGEs (from strangers, to numbers that are not lines) get `403`/`404`, as an
//! INVITE would.

use std::time::Instant;

use bytes::Bytes;
use sip_core::{TransactionKey, TxMethod};
use sip_msg::{HeaderName, Method, Request, Uri};
use tracing::{debug, info};

use crate::notice::ActionError;
use crate::wire::{Destination, Wire};
use crate::{Engine, Inbound, Transport};

/// Longest message body taken (SIP over UDP keeps well under this anyway).
const MAX_BODY: usize = 8 * 1024;

/// Which way a message went, seen from the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageDirection {
    Inbound,
    Outbound,
}

/// A message to or from a customer, for the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageNotice {
    /// Our number.
    pub line: String,
    /// The customer's number.
    pub customer: String,
    pub direction: MessageDirection,
    pub body: String,
    /// The user who wrote an outbound message.
    pub author: Option<String>,
    /// The MESSAGE's Call-ID (a retransmission repeats it).
    pub sip_call_id: String,
    /// The agents the line reaches: who may see it.
    pub audience: Vec<String>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Engine {
    /// An out-of-dialog MESSAGE.
    pub(crate) fn on_message(
        &mut self,
        req: &Request,
        key: &TransactionKey,
        to: Destination,
        inbound: &Inbound,
        now: Instant,
    ) {
        let dialled = req
            .uri
            .user_unescaped()
            .map(|u| text(&u))
            .unwrap_or_default();
        let from_trunk = self
            .config
            .routing
            .trunks
            .iter()
            .any(|t| t.from.iter().any(|n| n.contains(&inbound.peer.ip())));
        let Some(line) = self.config.routing.line(&dialled).cloned() else {
            self.message_from_agent(req, key, to, inbound, &dialled, now);
            return;
        };
        if !from_trunk {
            info!(peer = %inbound.peer, "MESSAGE to a line from outside the trunks: 403");
            self.respond(req, key, to, 403, "Forbidden", now);
            return;
        }
        let ct = req
            .headers
            .get(&HeaderName::ContentType)
            .map(|v| text(v).to_ascii_lowercase())
            .unwrap_or_default();
        if !ct.starts_with("text/plain") && !req.body.is_empty() {
            self.respond_with(req, key, to, 415, "Unsupported Media Type", now, |resp| {
                resp.headers.push(HeaderName::Accept, "text/plain");
            });
            return;
        }
        if req.body.len() > MAX_BODY {
            self.respond(req, key, to, 413, "Request Entity Too Large", now);
            return;
        }
        let customer = req
            .headers
            .from()
            .ok()
            .and_then(|f| f.uri.user_unescaped())
            .map(|u| text(&u))
            .unwrap_or_else(|| "anonymous".into());
        let call_id = req.headers.call_id().map(|c| text(c)).unwrap_or_default();
        self.respond(req, key, to, 200, "OK", now);
        let audience = self.line_agents(&line);
        info!(line = %line.number, agents = audience.len(), "message from a customer");
        let body = text(&req.body);
        for user in &audience {
            self.relay_message(user, &customer, &line.number.to_string(), &body, now);
        }
        self.push_message(MessageNotice {
            line: line.number.to_string(),
            customer,
            direction: MessageDirection::Inbound,
            body,
            author: None,
            sip_call_id: call_id,
            audience,
        });
    }

    /// A MESSAGE from an agent's phone to a customer's number: sent on through the trunk,
    /// from the first line that reaches the agent, and kept in that line's conversation.
    fn message_from_agent(
        &mut self,
        req: &Request,
        key: &TransactionKey,
        to: Destination,
        inbound: &Inbound,
        dialled: &str,
        now: Instant,
    ) {
        let from_user = req
            .headers
            .from()
            .ok()
            .and_then(|f| f.uri.user_unescaped())
            .map(|u| text(&u))
            .unwrap_or_default();
        let registered = self.config.routing.user(&from_user).is_some()
            && self
                .registrar
                .lookup(&from_user, now)
                .iter()
                .any(|b| b.received.ip().to_canonical() == inbound.peer.ip().to_canonical());
        let number = !dialled.is_empty() && dialled.chars().all(|c| c.is_ascii_digit() || c == '+');
        if !registered || !number {
            self.respond(req, key, to, 404, "Not Found", now);
            return;
        }
        let line = self
            .config
            .routing
            .numbers
            .iter()
            .find(|l| self.line_agents(l).contains(&from_user))
            .map(|l| l.number.to_string());
        let Some(line) = line else {
            info!(user = %from_user, "MESSAGE from an agent no line reaches: 403");
            self.respond(req, key, to, 403, "Forbidden", now);
            return;
        };
        let body = text(&req.body);
        match self.send_message(&line, dialled, &body, &from_user, now) {
            Ok(()) => self.respond(req, key, to, 202, "Accepted", now),
            Err(e) => {
                info!(error = %e, "MESSAGE from an agent not sent");
                self.respond(req, key, to, 488, "Not Acceptable Here", now);
            }
        }
    }

    /// The users a line reaches (its messages go to their phones).
    fn line_agents(&self, line: &config::Line) -> Vec<String> {
        self.config
            .routing
            .line_users(line)
            .iter()
            .map(|u| u.to_string())
            .collect()
    }

    /// A copy of a customer's message to each registered device of `user`.
    fn relay_message(&mut self, user: &str, customer: &str, line: &str, body: &str, now: Instant) {
        let bindings = self.registrar.lookup(user, now);
        for b in bindings {
            let transport = if b.transport.eq_ignore_ascii_case("tcp") {
                Transport::Tcp
            } else {
                Transport::Udp
            };
            let Ok(target) = Uri::parse(Bytes::from(b.uri.to_string())) else {
                continue;
            };
            let Some(local) = self.config.local_for(transport, b.received) else {
                continue;
            };
            let dest = Destination {
                transport,
                local,
                dest: b.received,
                conn: None,
            };
            let domain = self.config.domain.clone();
            let from = format!("<sip:{customer}@{domain}>");
            let to = format!("<sip:{user}@{domain}>");
            self.send_message_request(
                target,
                dest,
                from,
                to,
                body,
                &[("X-Switchboard-Line", line.to_owned())],
                now,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_message_request(
        &mut self,
        target: Uri,
        dest: Destination,
        from: String,
        to: String,
        body: &str,
        extra: &[(&'static str, String)],
        now: Instant,
    ) -> Option<String> {
        let body = Some((&b"text/plain;charset=utf-8"[..], body));
        self.send_out_of_dialog(Method::Message, target, dest, from, to, body, extra, now)
    }

    /// A request outside any dialog, in its own client transaction whose outcome nobody
    /// waits for; returns its Call-ID.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_out_of_dialog(
        &mut self,
        method: Method,
        target: Uri,
        dest: Destination,
        from: String,
        to: String,
        body: Option<(&'static [u8], &str)>,
        extra: &[(&'static str, String)],
        now: Instant,
    ) -> Option<String> {
        let branch = format!("{}{}", crate::uas::BRANCH_PREFIX, self.next_tag());
        let tag = self.next_tag();
        let call_id = format!("{}@switchboard", self.next_tag());
        let mut req = Request::new(method.clone(), target);
        req.headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                dest.transport.as_str(),
                dest.local
            ),
        );
        req.headers.push(HeaderName::MaxForwards, "70");
        req.headers
            .push(HeaderName::From, format!("{from};tag={tag}"));
        req.headers.push(HeaderName::To, to);
        req.headers.push(HeaderName::CallId, call_id.clone());
        req.headers
            .push(HeaderName::CSeq, format!("1 {}", method.as_str()));
        req.headers
            .push(HeaderName::UserAgent, self.config.user_agent.clone());
        for (name, value) in extra {
            req.headers
                .push(HeaderName::from_static(name), value.clone());
        }
        if let Some((ct, body)) = body {
            req.set_body(Bytes::from_static(ct), Bytes::from(body.to_owned()));
        }
        let key = TransactionKey::client(&branch, TxMethod::from_name(method.as_str())).ok()?;
        let wire = Wire::new(dest, req.to_bytes());
        match self.transactions.insert_client_non_invite(
            key,
            wire,
            dest.transport.is_reliable(),
            now,
        ) {
            Ok(_) => Some(call_id),
            Err(e) => {
                debug!(error = %e, "no transaction for a MESSAGE");
                None
            }
        }
    }

    /// Sends `body` from `line` to `customer` through the first trunk with `send_to`.
    pub fn send_message(
        &mut self,
        line: &str,
        customer: &str,
        body: &str,
        author: &str,
        now: Instant,
    ) -> Result<(), ActionError> {
        if body.trim().is_empty() || body.len() > MAX_BODY {
            return Err(ActionError::BadInput(
                "a message is 1 to 8192 bytes of text",
            ));
        }
        if !customer.chars().all(|c| c.is_ascii_digit() || c == '+') {
            return Err(ActionError::BadInput("the customer is a phone number"));
        }
        let Some(line_cfg) = self.config.routing.line(line).cloned() else {
            return Err(ActionError::BadInput("not one of our lines"));
        };
        let Some(addr) = self.config.routing.trunks.iter().find_map(|t| t.send_to) else {
            return Err(ActionError::WrongState(
                "no trunk has a send_to address for messages",
            ));
        };
        let Some(local) = self.config.local_for(Transport::Udp, addr) else {
            return Err(ActionError::WrongState(
                "no UDP listen address to reach the trunk",
            ));
        };
        let dest = Destination {
            transport: Transport::Udp,
            local,
            dest: addr,
            conn: None,
        };
        let Ok(target) = Uri::parse(Bytes::from(format!("sip:{customer}@{addr}"))) else {
            return Err(ActionError::BadInput("the customer is a phone number"));
        };
        let from = format!("<sip:{line}@{}>", self.config.domain);
        let to = format!("<sip:{customer}@{addr}>");
        let Some(call_id) = self.send_message_request(target, dest, from, to, body, &[], now)
        else {
            return Err(ActionError::WrongState("the message could not be sent"));
        };
        info!(line, author, "message to a customer");
        let audience = self.line_agents(&line_cfg);
        self.push_message(MessageNotice {
            line: line.to_owned(),
            customer: customer.to_owned(),
            direction: MessageDirection::Outbound,
            body: body.to_owned(),
            author: Some(author.to_owned()),
            sip_call_id: call_id,
            audience,
        });
        self.drain_transactions(now);
        Ok(())
    }

    fn push_message(&mut self, notice: MessageNotice) {
        if let Some(q) = self.message_notices.as_mut() {
            q.push_back(notice);
        }
    }

    /// The next message notice (enabled with [`Engine::enable_notices`]).
    pub fn poll_message(&mut self) -> Option<MessageNotice> {
        self.message_notices.as_mut()?.pop_front()
    }
}
