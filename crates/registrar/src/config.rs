//! Registrar configuration and user credentials.
//!
//! Typed values only: the `config` crate turns TOML into these once, at the edge.

use std::fmt;
use std::time::Duration;

use crate::Error;

/// Whether REGISTER requests must authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// RFC 7616 digest with `qop=auth` (the default).
    #[default]
    Digest,
    /// No authentication at all: for benchmarks and closed labs only. The AOR must still be a
    /// configured user (else 404), which keeps the location table bounded.
    None,
}

/// A digest algorithm (RFC 7616 §3.3, RFC 8760 for SIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`: what most deployed phones still speak.
    Md5,
    /// `MD5-sess`: HA1 is re-hashed with the nonce and cnonce.
    Md5Sess,
    /// `SHA-256`: RFC 8760's preferred algorithm.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

/// The hash function underneath an [`Algorithm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashKind {
    Md5,
    Sha256,
}

impl Algorithm {
    /// The token used in `algorithm=` parameters.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Parses an `algorithm=` token, case-insensitively. `None` for anything we do not
    /// implement (e.g. `SHA-512-256`, `AKAv1-MD5`).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn hash(self) -> HashKind {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => HashKind::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => HashKind::Sha256,
        }
    }

    pub(crate) fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to do when a REGISTER would leave an AOR with more than `max_contacts` bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactOverflow {
    /// Refuse the whole REGISTER: `403 Too Many Contacts`, nothing changes (the default).
    #[default]
    Reject,
    /// Accept it and drop the bindings refreshed least recently (those not named by this
    /// REGISTER), e.g. for phones that reboot onto a new port without `+sip.instance`.
    EvictOldest,
}

/// Registrar settings. Build with [`RegistrarConfig::new`] and adjust the public fields.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrarConfig {
    /// The registrar domain, also the digest realm.
    pub realm: String,
    /// Digest or nothing.
    pub auth: AuthMode,
    /// Algorithms offered, one `WWW-Authenticate` each, in this order (RFC 8760 §2.4: most
    /// preferred first). Credentials with another algorithm are ignored.
    pub algorithms: Vec<Algorithm>,
    /// Shortest accepted non-zero expiry; shorter ones get 423 (RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// Longer requested expiries are shortened to this.
    pub max_expires: u32,
    /// Used when neither the contact's `expires` nor an `Expires` header says; clamped into
    /// `[min_expires, max_expires]`.
    pub default_expires: u32,
    /// Bindings per AOR.
    pub max_contacts: usize,
    /// Policy when `max_contacts` would be exceeded.
    pub on_too_many_contacts: ContactOverflow,
    /// How long an issued nonce is accepted; older ones get a `stale=true` challenge.
    pub nonce_lifetime: Duration,
    /// Failed authentications per source within `failure_window` before the source is
    /// refused (`RateLimited`) for the rest of that window. 0 disables the limiter.
    pub failure_limit: u32,
    /// The fixed window of the failure counter.
    pub failure_window: Duration,
    /// Cap on nonces remembered for nonce-count replay protection.
    pub max_tracked_nonces: usize,
    /// Cap on sources remembered by the failure limiter.
    pub max_tracked_sources: usize,
}

impl RegistrarConfig {
    /// Defaults: digest with SHA-256 then MD5, expiries 60/3600/3600 s, 5 contacts
    /// (rejecting more), nonces valid 300 s, 10 failures per 60 s.
    pub fn new(realm: impl Into<String>) -> Self {
        Self {
            realm: realm.into(),
            auth: AuthMode::Digest,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 5,
            on_too_many_contacts: ContactOverflow::Reject,
            nonce_lifetime: Duration::from_secs(300),
            failure_limit: 10,
            failure_window: Duration::from_secs(60),
            max_tracked_nonces: 65_536,
            max_tracked_sources: 65_536,
        }
    }

    /// Checks the invariants the registrar relies on.
    pub fn validate(&self) -> Result<(), Error> {
        if self.realm.is_empty() {
            return Err(Error::Config("realm is empty"));
        }
        if self.auth == AuthMode::Digest && self.algorithms.is_empty() {
            return Err(Error::Config("algorithms is empty"));
        }
        if self.max_expires == 0 {
            return Err(Error::Config("max_expires is 0"));
        }
        // Keeps `now + expires` far from any platform's Instant overflow.
        if self.max_expires > i32::MAX as u32 {
            return Err(Error::Config("max_expires is above 2^31-1"));
        }
        if self.min_expires > self.max_expires {
            return Err(Error::Config("min_expires is above max_expires"));
        }
        if self.max_contacts == 0 {
            return Err(Error::Config("max_contacts is 0"));
        }
        if self.nonce_lifetime.is_zero() {
            return Err(Error::Config("nonce_lifetime is 0"));
        }
        if self.failure_limit > 0 && self.failure_window.is_zero() {
            return Err(Error::Config("failure_window is 0"));
        }
        if self.max_tracked_nonces == 0 {
            return Err(Error::Config("max_tracked_nonces is 0"));
        }
        if self.max_tracked_sources == 0 {
            return Err(Error::Config("max_tracked_sources is 0"));
        }
        Ok(())
    }

    pub(crate) fn effective_default_expires(&self) -> u32 {
        self.default_expires
            .clamp(self.min_expires, self.max_expires)
    }
}

/// A user as configured: id (the AOR user part and digest username) and plaintext password.
/// The registrar keeps only the HA1 hashes derived from it.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCredential {
    /// User id: the AOR user part and the digest username.
    pub id: String,
    /// Plaintext password from the config.
    pub password: String,
}

impl UserCredential {
    /// Convenience constructor.
    pub fn new(id: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for UserCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCredential")
            .field("id", &self.id)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_prefer_sha256() {
        let c = RegistrarConfig::new("example.com");
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.algorithms, vec![Algorithm::Sha256, Algorithm::Md5]);
        assert_eq!(c.effective_default_expires(), 3600);
    }

    #[test]
    fn invalid_configs_are_named() {
        let mut c = RegistrarConfig::new("");
        assert_eq!(c.validate(), Err(Error::Config("realm is empty")));
        c.realm = "x".into();
        c.min_expires = 4000;
        assert_eq!(
            c.validate(),
            Err(Error::Config("min_expires is above max_expires"))
        );
        c.min_expires = 60;
        c.max_contacts = 0;
        assert_eq!(c.validate(), Err(Error::Config("max_contacts is 0")));
        c.max_contacts = 1;
        c.algorithms.clear();
        assert_eq!(c.validate(), Err(Error::Config("algorithms is empty")));
        c.auth = AuthMode::None;
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn default_expires_is_clamped() {
        let mut c = RegistrarConfig::new("x");
        c.max_expires = 600;
        assert_eq!(c.effective_default_expires(), 600);
        c.default_expires = 10;
        assert_eq!(c.effective_default_expires(), 60);
    }

    #[test]
    fn algorithm_names_round_trip_case_insensitively() {
        for a in [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ] {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
            assert_eq!(Algorithm::from_name(&a.name().to_lowercase()), Some(a));
        }
        assert_eq!(Algorithm::from_name("SHA-512-256"), None);
    }

    #[test]
    fn password_is_not_debug_printed() {
        let u = UserCredential::new("alice", "hunter2");
        assert!(!format!("{u:?}").contains("hunter2"));
    }
}
