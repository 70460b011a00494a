//! Who may call the API, and the users and teams it checks ids against.
//!
//! Tokens come from `[api] tokens`. Only their SHA-256 digests are kept, and a presented token
//! is compared with every digest in constant time: the time taken says nothing about how much
//! of a token matched, nor (digests being fixed-size) about token lengths.
//!
//! [`Accounts`] is immutable; a reload builds a new one and swaps it in whole
//! ([`crate::ApiState::set_accounts`]).

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// Everything.
    Admin,
    /// Read everything, change nothing.
    Viewer,
    /// This user's own calls and conversations, and actions on them.
    User(String),
}

impl Principal {
    /// The user id of a user token.
    pub fn user(&self) -> Option<&str> {
        match self {
            Principal::User(id) => Some(id),
            Principal::Admin | Principal::Viewer => None,
        }
    }

    /// How this principal is named in conversation logs.
    pub fn actor(&self) -> &str {
        match self {
            Principal::Admin => "admin",
            Principal::Viewer => "viewer",
            Principal::User(id) => id,
        }
    }
}

impl From<&config::Access> for Principal {
    fn from(access: &config::Access) -> Self {
        match access {
            config::Access::Admin => Principal::Admin,
            config::Access::Viewer => Principal::Viewer,
            config::Access::User(id) => Principal::User(id.as_str().to_owned()),
        }
    }
}

#[derive(Clone)]
struct TokenEntry {
    digest: [u8; 32],
    principal: Principal,
}

/// Tokens, users and teams, as of the last (re)load.
#[derive(Clone, Default)]
pub struct Accounts {
    tokens: Vec<TokenEntry>,
    users: HashSet<String>,
    teams: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("tokens", &self.tokens.len())
            .field("users", &self.users.len())
            .field("teams", &self.teams.len())
            .finish()
    }
}

impl Accounts {
    /// No tokens (every request is refused), no users, no teams.
    pub fn new() -> Self {
        Accounts::default()
    }

    /// The tokens, users and teams of a loaded configuration.
    pub fn from_config(config: &config::Config) -> Self {
        let mut accounts = Accounts::new();
        for token in &config.api.tokens {
            accounts = accounts.with_token(token.token.expose(), Principal::from(&token.access));
        }
        for user in &config.users {
            accounts = accounts.with_user(user.id.as_str());
        }
        for team in &config.teams {
            accounts = accounts.with_team(
                team.id.as_str(),
                team.members.iter().map(|m| m.as_str().to_owned()),
            );
        }
        accounts
    }

    pub fn with_token(mut self, token: &str, principal: Principal) -> Self {
        self.tokens.push(TokenEntry {
            digest: Sha256::digest(token.as_bytes()).into(),
            principal,
        });
        self
    }

    pub fn with_user(mut self, id: impl Into<String>) -> Self {
        self.users.insert(id.into());
        self
    }

    pub fn with_team(
        mut self,
        id: impl Into<String>,
        members: impl IntoIterator<Item = String>,
    ) -> Self {
        self.teams.insert(id.into(), members.into_iter().collect());
        self
    }

    /// The principal of a presented token, checked against every known token in constant time.
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for entry in &self.tokens {
            if bool::from(entry.digest.ct_eq(&digest)) {
                found = Some(&entry.principal);
            }
        }
        found.cloned()
    }

    pub fn has_user(&self, id: &str) -> bool {
        self.users.contains(id)
    }

    /// The members of a team, or `None` for an unknown team.
    pub fn team(&self, id: &str) -> Option<&[String]> {
        self.teams.get(id).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn authenticates_only_exact_tokens() {
        let accounts = Accounts::new()
            .with_token("admin-secret", Principal::Admin)
            .with_token("alice-secret", Principal::User("alice".into()));
        assert_eq!(
            accounts.authenticate("admin-secret"),
            Some(Principal::Admin)
        );
        assert_eq!(
            accounts.authenticate("alice-secret"),
            Some(Principal::User("alice".into()))
        );
        for bad in ["", "admin-secre", "admin-secret ", "ADMIN-SECRET"] {
            assert_eq!(accounts.authenticate(bad), None, "{bad:?}");
        }
        assert!(!format!("{accounts:?}").contains("secret"));
    }

    #[test]
    fn from_config_takes_tokens_users_and_teams() {
        let toml = r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
domain = "127.0.0.1"
auth = "none"

[api]
tokens = [ { token = "t-admin", role = "admin" },
           { token = "t-view", role = "viewer" },
           { token = "t-alice", user = "alice" } ]

[[users]]
id = "alice"
[[users]]
id = "bob"

[[teams]]
id = "support"
members = ["alice", "bob"]

[[numbers]]
number = "+33100000001"
steps = ["team:support"]
"#;
        let loaded = match config::parse_str(toml, Path::new("test.toml")) {
            Ok(loaded) => loaded,
            Err(e) => panic!("{e}"),
        };
        let accounts = Accounts::from_config(&loaded.config);
        assert_eq!(accounts.authenticate("t-admin"), Some(Principal::Admin));
        assert_eq!(accounts.authenticate("t-view"), Some(Principal::Viewer));
        assert_eq!(
            accounts.authenticate("t-alice"),
            Some(Principal::User("alice".into()))
        );
        assert!(accounts.has_user("bob"));
        assert!(!accounts.has_user("carol"));
        assert_eq!(
            accounts.team("support"),
            Some(&["alice".to_string(), "bob".to_string()][..])
        );
        assert_eq!(accounts.team("sales"), None);
    }
}
