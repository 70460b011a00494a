//! The routing decision for an inbound INVITE: who may call, and what the dialled user part
//! designates (DESIGN.md: a number follows its steps, a user id or extension rings that user,
//! anything else is a 404).
//!
//! The source is checked first: a caller that is neither a trunk nor a known user gets 403
//! whatever it dialled, so strangers cannot probe which numbers exist.

use std::net::IpAddr;
use std::time::SystemTime;

use config::{Config, Dialled, Line, PhoneNumber, Trunk, User, UserId};
use serde::Serialize;

use crate::ser;

/// Where an INVITE comes from, as the daemon established it.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The address the request came from (the socket peer, not a header).
    pub addr: IpAddr,
    /// The configured user this request is known to come from: a digest-authenticated
    /// INVITE, or whatever else the daemon trusts (with `sip.auth = "none"`, the From user of a
    /// registered contact). `None` for anonymous sources. An id the configuration does not
    /// know counts as `None`.
    pub user: Option<&'a str>,
}

/// Who is calling, when allowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Caller<'c> {
    /// The source address lies in this trunk's `from` networks.
    Trunk(&'c Trunk),
    /// A configured user (internal call).
    User(&'c User),
}

/// What to do with an inbound call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision<'c> {
    /// A company number: follow its steps when `open`, else its `hours.closed` route.
    Line {
        line: &'c Line,
        open: bool,
        caller: Caller<'c>,
    },
    /// A user id or extension: ring that user's contacts.
    User { user: &'c User, caller: Caller<'c> },
    /// 403: the source is neither a trunk nor a known user.
    Forbidden,
    /// 404: nothing by that name.
    NotFound,
}

impl Decision<'_> {
    /// The final status to answer with at once, for decisions that route nowhere.
    pub fn status(&self) -> Option<u16> {
        match self {
            Decision::Forbidden => Some(403),
            Decision::NotFound => Some(404),
            Decision::Line { .. } | Decision::User { .. } => None,
        }
    }

    /// What [`crate::CallRouting::new`] takes, for decisions that route somewhere.
    pub fn target(&self) -> Option<Target> {
        match self {
            Decision::Line { line, open, .. } => Some(Target::Line {
                number: line.number.clone(),
                open: *open,
            }),
            Decision::User { user, .. } => Some(Target::User(user.id.clone())),
            Decision::Forbidden | Decision::NotFound => None,
        }
    }
}

/// The owned form of a routable decision, kept by the call (which outlives the borrow of the
/// configuration the decision was taken with).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Line {
        #[serde(serialize_with = "ser::display")]
        number: PhoneNumber,
        /// Whether business hours were open when the call arrived.
        open: bool,
    },
    User(#[serde(serialize_with = "ser::display")] UserId),
    /// A team's members, as one step (a transfer to a team).
    Team(#[serde(serialize_with = "ser::display")] config::TeamId),
}

/// Decides what an inbound INVITE for `dialled` (the Request-URI user part) from `source`
/// becomes, with business hours evaluated at `at`. Allocation-free; cost is a trunk scan plus
/// two hash lookups (and the time zone conversion when the line has hours).
pub fn decide<'c>(
    config: &'c Config,
    dialled: &str,
    source: Source<'_>,
    at: SystemTime,
) -> Decision<'c> {
    let Some(caller) = caller(config, source) else {
        return Decision::Forbidden;
    };
    match config.dialled(dialled) {
        Some(Dialled::Line(line)) => Decision::Line {
            line,
            open: line.hours.as_ref().is_none_or(|h| h.is_open(at)),
            caller,
        },
        Some(Dialled::User(user)) => Decision::User { user, caller },
        None => Decision::NotFound,
    }
}

/// A known user wins over a trunk (it is the more precise identity); otherwise the first trunk
/// whose networks hold the address. IPv4-mapped IPv6 sources (`::ffff:192.0.2.1`, as dual-stack
/// sockets report them) match IPv4 networks.
fn caller<'c>(config: &'c Config, source: Source<'_>) -> Option<Caller<'c>> {
    if let Some(user) = source.user.and_then(|u| config.user(u)) {
        return Some(Caller::User(user));
    }
    let addr = source.addr.to_canonical();
    config
        .trunks
        .iter()
        .find(|t| t.from.iter().any(|net| net.contains(&addr)))
        .map(Caller::Trunk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{config, unix, MONDAY_10H, SATURDAY_10H};

    #[derive(Debug, PartialEq)]
    enum Want<'a> {
        Line(&'a str, bool),
        User(&'a str),
        Forbidden,
        NotFound,
    }

    fn shape<'c>(d: &Decision<'c>) -> Want<'c> {
        match *d {
            Decision::Line { line, open, .. } => Want::Line(line.number.as_str(), open),
            Decision::User { user, .. } => Want::User(user.id.as_str()),
            Decision::Forbidden => Want::Forbidden,
            Decision::NotFound => Want::NotFound,
        }
    }

    // +33100000003 is open mon-fri 09:00-18:00 UTC.
    /// (case, source address, source user, dialled, wall time, expected)
    type Row = (
        &'static str,
        IpAddr,
        Option<&'static str>,
        &'static str,
        u64,
        Want<'static>,
    );

    #[test]
    fn decisions() {
        let cfg = config();
        let trunk: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        #[rustfmt::skip]
        let table: &[Row] = &[
            ("number from trunk",              trunk,    None,          "+33100000001", MONDAY_10H,   Want::Line("+33100000001", true)),
            ("number without hours, weekend",  trunk,    None,          "+33100000001", SATURDAY_10H, Want::Line("+33100000001", true)),
            ("number from v4-mapped trunk",    mapped,   None,          "+33100000002", MONDAY_10H,   Want::Line("+33100000002", true)),
            ("number from a registered user",  stranger, Some("bob"),   "+33100000001", MONDAY_10H,   Want::Line("+33100000001", true)),
            ("hours open",                     trunk,    None,          "+33100000003", MONDAY_10H,   Want::Line("+33100000003", true)),
            ("hours closed",                   trunk,    None,          "+33100000003", SATURDAY_10H, Want::Line("+33100000003", false)),
            ("user id from trunk",             trunk,    None,          "alice",        MONDAY_10H,   Want::User("alice")),
            ("user id from a user",            stranger, Some("alice"), "bob",          MONDAY_10H,   Want::User("bob")),
            ("extension",                      trunk,    None,          "101",          MONDAY_10H,   Want::User("alice")),
            ("unknown from trunk",             trunk,    None,          "+33999",       MONDAY_10H,   Want::NotFound),
            ("unknown user part from a user",  stranger, Some("alice"), "zed",          MONDAY_10H,   Want::NotFound),
            ("stranger dials a number",        stranger, None,          "+33100000001", MONDAY_10H,   Want::Forbidden),
            ("stranger dials a user",          stranger, None,          "alice",        MONDAY_10H,   Want::Forbidden),
            ("stranger dials nothing: 403 first", stranger, None,       "+33999",       MONDAY_10H,   Want::Forbidden),
            ("unknown claimed user is a stranger", stranger, Some("mallory"), "alice",  MONDAY_10H,   Want::Forbidden),
        ];
        for (name, addr, user, dialled, at, want) in table {
            let d = decide(
                &cfg,
                dialled,
                Source {
                    addr: *addr,
                    user: *user,
                },
                unix(*at),
            );
            assert_eq!(shape(&d), *want, "{name}");
            match want {
                Want::Forbidden => assert_eq!(d.status(), Some(403), "{name}"),
                Want::NotFound => assert_eq!(d.status(), Some(404), "{name}"),
                _ => {
                    assert_eq!(d.status(), None, "{name}");
                    assert!(d.target().is_some(), "{name}");
                }
            }
        }
    }

    #[test]
    fn the_caller_is_named() {
        let cfg = config();
        let at = unix(MONDAY_10H);
        let src = Source {
            addr: "192.0.2.9".parse().unwrap(),
            user: None,
        };
        match decide(&cfg, "alice", src, at) {
            Decision::User {
                caller: Caller::Trunk(t),
                ..
            } => assert_eq!(t.name, "carrier"),
            other => panic!("{other:?}"),
        }
        let src = Source {
            addr: "192.0.2.9".parse().unwrap(),
            user: Some("carol"),
        };
        match decide(&cfg, "+33100000002", src, at) {
            Decision::Line {
                caller: Caller::User(u),
                ..
            } => assert_eq!(u.id.as_str(), "carol"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn targets_are_owned_copies() {
        let cfg = config();
        let src = Source {
            addr: "192.0.2.9".parse().unwrap(),
            user: None,
        };
        let t = decide(&cfg, "+33100000003", src, unix(SATURDAY_10H)).target();
        assert_eq!(
            t,
            Some(Target::Line {
                number: "+33100000003".parse().unwrap(),
                open: false
            })
        );
        let t = decide(&cfg, "102", src, unix(SATURDAY_10H)).target();
        assert_eq!(t, Some(Target::User("bob".parse().unwrap())));
    }
}
