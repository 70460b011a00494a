//! `?user= ?team= ?line=` filters shared by `GET /v1/calls` and `GET /v1/events`, with the
//! token's own restriction folded in: a user token is always filtered on its user.

use crate::auth::{Accounts, Principal};
use crate::events::Event;
use crate::model::CallView;

use super::error::ApiError;

#[derive(Clone, Debug, Default)]
pub struct Filter {
    user: Option<String>,
    team: Option<String>,
    line: Option<String>,
}

impl Filter {
    /// Checks the requested filters against the token and the known ids: a user token asking
    /// for another user is 403; an unknown user or team is 404.
    pub fn build(
        principal: &Principal,
        user: Option<String>,
        team: Option<String>,
        line: Option<String>,
        accounts: &Accounts,
    ) -> Result<Filter, ApiError> {
        let user = match (principal, user) {
            (Principal::User(own), Some(asked)) if asked != *own => {
                return Err(ApiError::forbidden(format!(
                    "a user token sees only its own user's events and calls ({own})"
                )))
            }
            (Principal::User(own), _) => Some(own.clone()),
            (Principal::Admin | Principal::Viewer, Some(asked)) => {
                if !accounts.has_user(&asked) {
                    return Err(ApiError::not_found(format!("unknown user {asked:?}")));
                }
                Some(asked)
            }
            (Principal::Admin | Principal::Viewer, None) => None,
        };
        if let Some(team) = &team {
            if accounts.team(team).is_none() {
                return Err(ApiError::not_found(format!("unknown team {team:?}")));
            }
        }
        Ok(Filter {
            user,
            team,
            line: line.map(|l| normalise_number(&l)),
        })
    }

    pub fn admits_call(&self, call: &CallView, accounts: &Accounts) -> bool {
        if let Some(line) = &self.line {
            if call.line.number != *line {
                return false;
            }
        }
        if let Some(user) = &self.user {
            if !call.involves(user) {
                return false;
            }
        }
        if let Some(team) = &self.team {
            let rung_team = call.teams.iter().any(|t| t == team);
            let members = accounts.team(team).unwrap_or(&[]);
            if !rung_team && !members.iter().any(|m| call.involves(m)) {
                return false;
            }
        }
        true
    }

    pub fn admits_event(&self, event: &Event, accounts: &Accounts) -> bool {
        if let Some(line) = &self.line {
            if event.line() != line {
                return false;
            }
        }
        if let Some(user) = &self.user {
            if !event.involves(user) {
                return false;
            }
        }
        if let Some(team) = &self.team {
            // A team removed by a reload has no members left: only `call.teams` can match.
            let members = accounts.team(team).unwrap_or(&[]);
            if !event.concerns_team(team, members) {
                return false;
            }
        }
        true
    }
}

/// A `+` in a query string decodes to a space (`?line=+331...` arrives as `" 331..."`); a
/// number never contains spaces, so a leading one was meant as `+`.
pub fn normalise_number(raw: &str) -> String {
    match raw.strip_prefix(' ') {
        Some(rest) => format!("+{}", rest.trim()),
        None => raw.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_lost_in_query_strings_is_restored() {
        assert_eq!(normalise_number(" 33100000001"), "+33100000001");
        assert_eq!(normalise_number("+33100000001"), "+33100000001");
        assert_eq!(normalise_number("1001"), "1001");
    }

    #[test]
    fn user_tokens_are_pinned_to_their_user() {
        let accounts = Accounts::new().with_user("alice").with_user("bob");
        let alice = Principal::User("alice".into());
        let f = Filter::build(&alice, None, None, None, &accounts).unwrap();
        assert_eq!(f.user.as_deref(), Some("alice"));
        let err = Filter::build(&alice, Some("bob".into()), None, None, &accounts).unwrap_err();
        assert_eq!(err.status().as_u16(), 403);
        let err = Filter::build(
            &Principal::Admin,
            Some("carol".into()),
            None,
            None,
            &accounts,
        )
        .unwrap_err();
        assert_eq!(err.status().as_u16(), 404);
        let err = Filter::build(
            &Principal::Viewer,
            None,
            Some("sales".into()),
            None,
            &accounts,
        )
        .unwrap_err();
        assert_eq!(err.status().as_u16(), 404);
    }
}
