//! Shared test fixtures: one configuration covering every strategy and route, a fake
//! directory, and a harness that drives a [`CallRouting`] on a virtual clock.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use config::{Config, UserId};

use crate::{
    decide, AgentPresence, BranchId, CallId, CallRouting, CallSetup, CancelReason, ContactRef,
    Directory, Output, Presence, Source, TimelineEvent,
};

/// Monday 2025-01-06 10:00 UTC.
pub const MONDAY_10H: u64 = 1_736_157_600;
/// Saturday 2025-01-04 10:00 UTC.
pub const SATURDAY_10H: u64 = 1_735_984_800;

pub fn unix(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn id(s: &str) -> UserId {
    s.parse().expect("valid user id")
}

/// The configuration every test uses. Users: alice (101), bob (102), carol (103, rings 7 s
/// alone), dave, erin. The IVR prompt points at this crate's Cargo.toml (it must exist).
pub fn config_text() -> String {
    let prompt = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
domain = "127.0.0.1"
auth = "none"

[[trunks]]
name = "carrier"
from = ["192.0.2.0/24"]

[[users]]
id = "alice"
extension = "101"
[[users]]
id = "bob"
extension = "102"
[[users]]
id = "carol"
extension = "103"
ring_timeout = "7s"
[[users]]
id = "dave"
[[users]]
id = "erin"

[[teams]]
id = "support"
members = ["alice", "bob"]
ring_timeout = "20s"
[[teams]]
id = "sales"
members = ["carol", "dave"]
ring_timeout = "15s"
[[teams]]
id = "random"
members = ["alice", "bob", "carol"]
strategy = "random"
ring_timeout = "10s"
[[teams]]
id = "idle"
members = ["alice", "bob", "carol"]
strategy = "longest_idle"
ring_timeout = "10s"
[[teams]]
id = "waves"
members = ["alice", "bob", "carol", "dave"]
strategy = "waves"
wave_size = 1
wave_interval = "5s"
ring_timeout = "12s"
[[teams]]
id = "waves2"
members = ["alice", "bob", "carol", "dave", "erin"]
strategy = "waves"
wave_size = 2
wave_interval = "4s"
ring_timeout = "30s"

[[numbers]]
number = "+33100000001"
steps = ["team:support", "user:carol"]
fallback = "voicemail"
[[numbers]]
number = "+33100000002"
steps = ["team:sales"]
fallback = "hangup"
[[numbers]]
number = "+33100000003"
steps = ["team:support"]
fallback = "hangup"
hours = {{ tz = "UTC", open = ["mon-fri 09:00-18:00"], closed = "voicemail" }}
[[numbers]]
number = "+33100000004"
steps = ["ivr:main", "team:support"]
fallback = "hangup"
[[numbers]]
number = "+33100000005"
steps = ["team:random"]
[[numbers]]
number = "+33100000006"
steps = ["team:idle"]
[[numbers]]
number = "+33100000007"
steps = ["team:waves"]
[[numbers]]
number = "+33100000008"
steps = ["team:support", "user:alice", "user:bob"]
fallback = "user:carol"
[[numbers]]
number = "+33100000009"
steps = ["team:waves2"]
[[numbers]]
number = "+33100000010"
steps = ["user:dave"]
hours = {{ tz = "UTC", open = ["mon-fri 09:00-18:00"], closed = "team:sales" }}
fallback = "voicemail"
[[numbers]]
number = "+33100000011"
steps = ["ivr:loop"]

[ivr.main]
prompt = "{prompt}"
no_input = "team:support"
[ivr.main.options]
"1" = {{ label = "Sales", route = "team:sales" }}
"9" = {{ label = "Other line", route = "number:+33100000003" }}

[ivr.loop]
prompt = "{prompt}"
no_input = "number:+33100000011"
[ivr.loop.options]
"1" = {{ label = "Carol", route = "user:carol" }}
"#,
        prompt = prompt.display()
    )
}

pub fn config() -> Config {
    match config::parse_str(&config_text(), Path::new("test.toml")) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("test configuration does not load:\n{e}"),
    }
}

/// Contacts per agent (default: one, `sip:USER@pc`) and presence.
#[derive(Default)]
pub struct Dir {
    pub contacts: HashMap<UserId, Vec<ContactRef>>,
    pub presence: AgentPresence,
}

impl Dir {
    /// Every user of the test configuration on one device.
    pub fn everyone() -> Self {
        let mut d = Dir::default();
        for u in ["alice", "bob", "carol", "dave", "erin"] {
            d.set(u, &[&format!("sip:{u}@pc")]);
        }
        d
    }

    pub fn set(&mut self, user: &str, contacts: &[&str]) {
        self.contacts.insert(
            id(user),
            contacts.iter().map(|c| ContactRef::from(*c)).collect(),
        );
    }
}

impl Directory for Dir {
    fn contacts_of(&self, user: &UserId) -> Vec<ContactRef> {
        self.contacts.get(user).cloned().unwrap_or_default()
    }

    fn presence(&self, user: &UserId) -> Presence {
        self.presence.presence(user)
    }
}

/// One call on a virtual clock: `now` only moves when a test says so.
pub struct Harness {
    pub dir: Dir,
    pub call: CallRouting,
    pub t0: Instant,
    pub now: Instant,
    /// Every output so far, in order.
    pub log: Vec<Output>,
}

impl Harness {
    /// A call from the trunk to `dialled` on Monday 10:00 UTC (open hours), seed 1.
    pub fn dial(dialled: &str) -> Harness {
        Harness::dial_with(dialled, Dir::everyone(), MONDAY_10H, 1)
    }

    pub fn dial_with(dialled: &str, dir: Dir, wall: u64, seed: u64) -> Harness {
        let config = Arc::new(config());
        Harness::dial_in(config, dialled, dir, wall, seed, Instant::now())
    }

    pub fn dial_in(
        config: Arc<Config>,
        dialled: &str,
        dir: Dir,
        wall: u64,
        seed: u64,
        t0: Instant,
    ) -> Harness {
        let source = Source {
            addr: "192.0.2.1".parse().expect("address"),
            user: None,
        };
        let target = match decide(&config, dialled, source, unix(wall)).target() {
            Some(t) => t,
            None => panic!("{dialled} does not route"),
        };
        let setup = CallSetup {
            id: CallId::new(format!("call-{dialled}")),
            now: t0,
            wall: unix(wall),
            seed,
        };
        let call = match CallRouting::new(config.clone(), target, setup) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        Harness {
            dir,
            call,
            t0,
            now: t0,
            log: Vec::new(),
        }
    }

    /// Seconds since the call began.
    pub fn at(&self) -> Duration {
        self.now - self.t0
    }

    /// Drains the outputs, keeping them in `log` too.
    pub fn drain(&mut self) -> Vec<Output> {
        let out: Vec<Output> = std::iter::from_fn(|| self.call.poll()).collect();
        self.log.extend(out.iter().cloned());
        out
    }

    pub fn start(&mut self) -> Vec<Output> {
        self.call.start(self.now, &self.dir);
        self.drain()
    }

    /// Jumps to the next deadline and fires it; `None` when nothing is timed.
    pub fn tick(&mut self) -> Option<Vec<Output>> {
        let at = self.call.poll_timeout()?;
        assert!(at >= self.now, "a deadline in the past");
        self.now = at;
        self.call.handle_timeout(self.now, &self.dir);
        Some(self.drain())
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    pub fn answer(&mut self, b: BranchId) -> Vec<Output> {
        self.call.on_answer(b, self.now);
        self.drain()
    }

    pub fn fail(&mut self, b: BranchId, status: u16) -> Vec<Output> {
        self.call.on_failure(b, status, self.now, &self.dir);
        self.drain()
    }

    pub fn transport_error(&mut self, b: BranchId) -> Vec<Output> {
        self.call.on_transport_error(b, self.now, &self.dir);
        self.drain()
    }

    pub fn provisional(&mut self, b: BranchId, status: u16) -> Vec<Output> {
        self.call.on_provisional(b, status, self.now);
        self.drain()
    }

    pub fn caller_cancel(&mut self) -> Vec<Output> {
        self.call.on_caller_cancel(self.now);
        self.drain()
    }

    pub fn decline(&mut self, user: &str) -> Vec<Output> {
        self.call.decline(&id(user), self.now, &self.dir);
        self.drain()
    }

    pub fn ivr_result(&mut self, route: &str) -> Vec<Output> {
        let route = route.parse().expect("route");
        if let Err(e) = self.call.on_ivr_result(route, self.now, &self.dir) {
            panic!("{e}");
        }
        self.drain()
    }
}

/// The agents rung in `out`, in order, each once.
pub fn rung(out: &[Output]) -> Vec<String> {
    let mut users: Vec<String> = Vec::new();
    for o in out {
        if let Output::Ring { user, .. } = o {
            if !users.iter().any(|u| u == user.as_str()) {
                users.push(user.to_string());
            }
        }
    }
    users
}

/// The branches cancelled in `out`, with their reason.
pub fn cancels(out: &[Output]) -> Vec<(BranchId, CancelReason)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Cancel { branch, reason } => Some((*branch, *reason)),
            _ => None,
        })
        .collect()
}

/// `out` without its `Event`s.
pub fn actions(out: &[Output]) -> Vec<Output> {
    out.iter()
        .filter(|o| !matches!(o, Output::Event(_)))
        .cloned()
        .collect()
}

/// The events in `out`.
pub fn events(out: &[Output]) -> Vec<TimelineEvent> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}
