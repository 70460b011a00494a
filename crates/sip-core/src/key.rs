//! Transaction matching keys: RFC 3261 §17.1.3 (client) and §17.2.3 (server).
//!
//! The caller extracts the fields from the message (this crate never parses) and builds the key;
//! the same constructor applied to a retransmission, an ACK or a response yields an equal key.
//!
//! - A server key is (branch, sent-by of the top Via, method), with ACK keyed as INVITE so the ACK
//!   of a non-2xx response finds its INVITE transaction. CANCEL keeps its own key (it is its own
//!   transaction) and reaches the INVITE it cancels through [`TransactionKey::invite_for_cancel`].
//! - A client key is (branch, CSeq method): the branch is ours, so sent-by adds nothing.
//! - Client and server keys never compare equal, so a request we send to ourselves (a looped
//!   B2BUA) keeps its two transactions apart.
//! - RFC 2543 peers send no `z9hG4bK` branch; [`TransactionKey::server`] refuses those and the
//!   caller builds a [`LegacyKey`] from the request's identifying fields instead.

use crate::Error;

/// Prefix of every RFC 3261 branch (RFC 3261 §8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The request method as far as matching cares.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxMethod {
    /// INVITE.
    Invite,
    /// ACK.
    Ack,
    /// CANCEL.
    Cancel,
    /// Any other method, by its exact (case-sensitive) name.
    Other(Box<str>),
}

impl TxMethod {
    /// The method named `name`; SIP method names are case-sensitive (RFC 3261 §7.1).
    pub fn from_name(name: &str) -> TxMethod {
        match name {
            "INVITE" => TxMethod::Invite,
            "ACK" => TxMethod::Ack,
            "CANCEL" => TxMethod::Cancel,
            other => TxMethod::Other(other.into()),
        }
    }

    /// The method name.
    pub fn as_str(&self) -> &str {
        match self {
            TxMethod::Invite => "INVITE",
            TxMethod::Ack => "ACK",
            TxMethod::Cancel => "CANCEL",
            TxMethod::Other(name) => name,
        }
    }

    /// The method of the transaction a message with this method belongs to: an ACK belongs to
    /// the INVITE transaction it acknowledges.
    fn of_transaction(self) -> TxMethod {
        match self {
            TxMethod::Ack => TxMethod::Invite,
            other => other,
        }
    }
}

/// The fields RFC 3261 §17.2.3 matches an RFC 2543 request on, extracted by the caller.
///
/// Simplification: the To tag is left out. An INVITE retransmission has none and its ACK carries
/// the tag of our own response, so dropping it lets both map to the same key, at the cost of not
/// telling apart two ACKs that differ only by To tag (which no real peer sends).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LegacyKey {
    /// The Request-URI, as received.
    pub request_uri: String,
    /// The From tag (empty if absent).
    pub from_tag: String,
    /// The Call-ID.
    pub call_id: String,
    /// The CSeq number.
    pub cseq: u32,
    /// The CSeq method (ACK is keyed as INVITE).
    pub method: TxMethod,
    /// The whole top Via header value, as received.
    pub top_via: String,
}

/// The key a transaction is found by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransactionKey(Inner);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Inner {
    Client {
        branch: Box<str>,
        method: TxMethod,
    },
    Server {
        branch: Box<str>,
        sent_by: Box<str>,
        method: TxMethod,
    },
    Legacy(Box<LegacyKey>),
}

impl TransactionKey {
    /// Key of a client transaction, or of the response that matches it (RFC 3261 §17.1.3): the
    /// branch of the top Via and the CSeq method.
    pub fn client(branch: &str, method: TxMethod) -> Result<Self, Error> {
        check_cookie(branch)?;
        Ok(TransactionKey(Inner::Client {
            branch: branch.into(),
            method: method.of_transaction(),
        }))
    }

    /// Key of a server transaction, or of a request that matches it (RFC 3261 §17.2.3): branch
    /// and sent-by (`host[:port]`, compared case-insensitively) of the top Via, and the method
    /// (the CSeq method; ACK maps to INVITE). Fails on a branch without the magic cookie: use
    /// [`TransactionKey::legacy`].
    pub fn server(branch: &str, sent_by: &str, method: TxMethod) -> Result<Self, Error> {
        check_cookie(branch)?;
        Ok(TransactionKey(Inner::Server {
            branch: branch.into(),
            sent_by: sent_by.to_ascii_lowercase().into(),
            method: method.of_transaction(),
        }))
    }

    /// Key of a server transaction for an RFC 2543 request.
    pub fn legacy(mut key: LegacyKey) -> Self {
        key.method = key.method.of_transaction();
        TransactionKey(Inner::Legacy(Box::new(key)))
    }

    /// For the key of a CANCEL, the key of the INVITE transaction it cancels (same branch and
    /// sent-by, RFC 3261 §9.2); `None` for any other method.
    pub fn invite_for_cancel(&self) -> Option<TransactionKey> {
        if *self.method() != TxMethod::Cancel {
            return None;
        }
        let mut invite = self.clone();
        match &mut invite.0 {
            Inner::Client { method, .. } | Inner::Server { method, .. } => {
                *method = TxMethod::Invite
            }
            Inner::Legacy(key) => key.method = TxMethod::Invite,
        }
        Some(invite)
    }

    /// The method of the transaction (INVITE for an ACK).
    pub fn method(&self) -> &TxMethod {
        match &self.0 {
            Inner::Client { method, .. } | Inner::Server { method, .. } => method,
            Inner::Legacy(key) => &key.method,
        }
    }

    /// The branch, for RFC 3261 keys.
    pub fn branch(&self) -> Option<&str> {
        match &self.0 {
            Inner::Client { branch, .. } | Inner::Server { branch, .. } => Some(branch),
            Inner::Legacy(_) => None,
        }
    }
}

fn check_cookie(branch: &str) -> Result<(), Error> {
    if branch.starts_with(MAGIC_COOKIE) && branch.len() > MAGIC_COOKIE.len() {
        Ok(())
    } else {
        Err(Error::NoMagicCookie(branch.to_owned()))
    }
}

/// A fresh branch: the magic cookie and 64 bits of caller-supplied randomness in hex (the caller
/// owns the random source, so this stays deterministic under test).
pub fn generate_branch(random: u64) -> String {
    format!("{MAGIC_COOKIE}{random:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(branch: &str, method: &str) -> TransactionKey {
        TransactionKey::server(branch, "pc33.atlanta.com:5060", TxMethod::from_name(method))
            .unwrap()
    }

    #[test]
    fn ack_matches_the_invite_server_transaction() {
        assert_eq!(server("z9hG4bK776", "ACK"), server("z9hG4bK776", "INVITE"));
        assert_ne!(server("z9hG4bK776", "BYE"), server("z9hG4bK776", "INVITE"));
        assert_ne!(server("z9hG4bK777", "ACK"), server("z9hG4bK776", "INVITE"));
    }

    #[test]
    fn cancel_is_its_own_transaction_but_finds_its_invite() {
        let cancel = server("z9hG4bK776", "CANCEL");
        assert_ne!(cancel, server("z9hG4bK776", "INVITE"));
        assert_eq!(
            cancel.invite_for_cancel(),
            Some(server("z9hG4bK776", "INVITE"))
        );
        assert_eq!(server("z9hG4bK776", "BYE").invite_for_cancel(), None);
        let client = TransactionKey::client("z9hG4bK1", TxMethod::Cancel).unwrap();
        assert_eq!(
            client.invite_for_cancel(),
            Some(TransactionKey::client("z9hG4bK1", TxMethod::Invite).unwrap())
        );
    }

    #[test]
    fn sent_by_is_part_of_a_server_key_and_case_insensitive() {
        let a = TransactionKey::server("z9hG4bK1", "Host.Example:5060", TxMethod::Invite);
        let b = TransactionKey::server("z9hG4bK1", "host.example:5060", TxMethod::Invite);
        let c = TransactionKey::server("z9hG4bK1", "other.example:5060", TxMethod::Invite);
        assert_eq!(a, b);
        assert_ne!(b, c);
    }

    #[test]
    fn client_and_server_keys_never_collide() {
        let client = TransactionKey::client("z9hG4bK1", TxMethod::Invite).unwrap();
        let server = TransactionKey::server("z9hG4bK1", "", TxMethod::Invite).unwrap();
        assert_ne!(client, server);
        assert_eq!(client.branch(), Some("z9hG4bK1"));
        assert_eq!(client.method(), &TxMethod::Invite);
    }

    #[test]
    fn branch_without_cookie_is_refused() {
        for branch in ["", "z9hG4bK", "Z9HG4BK123", "abc"] {
            assert_eq!(
                TransactionKey::server(branch, "a", TxMethod::Invite),
                Err(Error::NoMagicCookie(branch.to_owned()))
            );
        }
    }

    #[test]
    fn legacy_ack_and_cancel_find_the_invite() {
        let key = |method: &str| {
            TransactionKey::legacy(LegacyKey {
                request_uri: "sip:bob@biloxi.com".into(),
                from_tag: "1928301774".into(),
                call_id: "a84b4c76e66710".into(),
                cseq: 314159,
                method: TxMethod::from_name(method),
                top_via: "SIP/2.0/UDP pc33.atlanta.com".into(),
            })
        };
        assert_eq!(key("ACK"), key("INVITE"));
        assert_eq!(key("CANCEL").invite_for_cancel(), Some(key("INVITE")));
        assert_eq!(key("INVITE").branch(), None);
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(TxMethod::from_name("INVITE"), TxMethod::Invite);
        assert_eq!(
            TxMethod::from_name("invite"),
            TxMethod::Other("invite".into())
        );
        assert_eq!(TxMethod::from_name("REGISTER").as_str(), "REGISTER");
    }

    #[test]
    fn generated_branch_carries_cookie_and_randomness() {
        assert_eq!(generate_branch(0xdead_beef), "z9hG4bK00000000deadbeef");
        assert_ne!(generate_branch(1), generate_branch(2));
        assert!(TransactionKey::client(&generate_branch(u64::MAX), TxMethod::Invite).is_ok());
    }
}
