//! The typed configuration handed to the rest of the program.
//!
//! Every value here has been parsed and cross-checked: ids point at things that exist, routes
//! are allowed where they stand, paths are absolute. Sections whose TOML shape is already the
//! typed shape are deserialized straight into these structs; the others go through `schema.rs`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::hours::Hours;
use crate::values::{
    duration, nets, Domain, Dtmf, Extension, IvrId, Listen, PhoneNumber, Route, Secret, Step,
    TeamId, Url, UserId,
};

/// The whole configuration. Arrays keep the file's order; lookups by id go through the
/// methods, which use an index built at load (so a `Config` only comes from [`crate::load`] or
/// [`crate::parse_str`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub sip: Sip,
    pub media: Media,
    pub api: Api,
    pub store: Store,
    pub trunks: Vec<Trunk>,
    /// Unique ids.
    pub users: Vec<User>,
    /// Unique ids.
    pub teams: Vec<Team>,
    /// The company numbers (`[[numbers]]`); unique numbers.
    pub numbers: Vec<Line>,
    pub ivr: BTreeMap<IvrId, Ivr>,
    /// CRM cards (`[[contacts]]`); unique numbers.
    pub contacts: Vec<Contact>,
    pub crm: Crm,
    pub voicemail: Voicemail,
    pub log: Log,
    /// The configuration file's directory; relative paths were resolved against it.
    pub base_dir: PathBuf,
    pub(crate) index: Index,
}

/// Positions in the arrays above, by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Index {
    users: HashMap<String, usize>,
    extensions: HashMap<String, usize>,
    teams: HashMap<String, usize>,
    numbers: HashMap<String, usize>,
    contacts: HashMap<String, usize>,
}

/// What a Request-URI user part designates (DESIGN.md: a number follows its steps, a user id
/// or extension rings that user, anything else is a 404).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dialled<'c> {
    Line(&'c Line),
    User(&'c User),
}

impl Config {
    /// Fills the index from the arrays. Ids are unique by then (checked), so first wins.
    pub(crate) fn with_index(mut self) -> Config {
        fn index<T>(items: &[T], key: impl Fn(&T) -> Option<String>) -> HashMap<String, usize> {
            let mut map = HashMap::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if let Some(k) = key(item) {
                    map.entry(k).or_insert(i);
                }
            }
            map
        }
        self.index = Index {
            users: index(&self.users, |u| Some(u.id.to_string())),
            extensions: index(&self.users, |u| u.extension.as_ref().map(|e| e.to_string())),
            teams: index(&self.teams, |t| Some(t.id.to_string())),
            numbers: index(&self.numbers, |l| Some(l.number.to_string())),
            contacts: index(&self.contacts, |c| Some(c.number.to_string())),
        };
        self
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.index.users.get(id).and_then(|&i| self.users.get(i))
    }

    pub fn team(&self, id: &str) -> Option<&Team> {
        self.index.teams.get(id).and_then(|&i| self.teams.get(i))
    }

    /// The company number `number` (`+33100000001`).
    pub fn line(&self, number: &str) -> Option<&Line> {
        self.index
            .numbers
            .get(number)
            .and_then(|&i| self.numbers.get(i))
    }

    pub fn ivr(&self, id: &str) -> Option<&Ivr> {
        self.ivr.get(id)
    }

    /// The users a line reaches directly: those its steps and fallback name, and the members of
    /// the teams they name, each once, in that order (IVR branches are not followed). Who gets
    /// the line's messages and may read its conversations.
    pub fn line_users(&self, line: &Line) -> Vec<UserId> {
        let routes = line
            .steps
            .iter()
            .cloned()
            .map(Route::from)
            .chain(std::iter::once(line.fallback.clone()));
        let mut users: Vec<UserId> = Vec::new();
        for route in routes {
            match route {
                Route::User(u) => users.push(u),
                Route::Team(t) => {
                    if let Some(team) = self.team(t.as_str()) {
                        users.extend(team.members.iter().cloned());
                    }
                }
                _ => {}
            }
        }
        let mut seen = std::collections::HashSet::new();
        users.retain(|u| seen.insert(u.clone()));
        users
    }

    /// The CRM card of a caller number, when the configuration lists it.
    pub fn contact(&self, number: &str) -> Option<&Contact> {
        self.index
            .contacts
            .get(number)
            .and_then(|&i| self.contacts.get(i))
    }

    /// Resolves a dialled user part: a configured number, a user id, or an extension. These
    /// never collide (checked at load).
    pub fn dialled(&self, user_part: &str) -> Option<Dialled<'_>> {
        if let Some(line) = self.line(user_part) {
            return Some(Dialled::Line(line));
        }
        let by_id = self.index.users.get(user_part);
        by_id
            .or_else(|| self.index.extensions.get(user_part))
            .and_then(|&i| self.users.get(i))
            .map(Dialled::User)
    }
}

// ---------------------------------------------------------------------------------------------
// [sip]

/// `[sip]`: transports, registrar and SIP timers. Expiry values are durations like every other
/// duration key (`"1h"`, or a bare integer of seconds) but must be whole seconds, since the
/// `Expires` header carries seconds.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sip {
    pub listen: Vec<Listen>,
    pub domain: Domain,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default = "defaults::max_contacts")]
    pub max_contacts: usize,
    /// Shorter REGISTER expiries get 423 Interval Too Brief.
    #[serde(default = "defaults::min_expires", deserialize_with = "duration")]
    pub min_expires: Duration,
    /// Longer expiries are cut down to this.
    #[serde(default = "defaults::max_expires", deserialize_with = "duration")]
    pub max_expires: Duration,
    /// Used when a REGISTER names no expiry.
    #[serde(default = "defaults::default_expires", deserialize_with = "duration")]
    pub default_expires: Duration,
    /// Challenge order: one WWW-Authenticate per algorithm (RFC 8760).
    #[serde(default = "defaults::digest_algorithms")]
    pub digest_algorithms: Vec<DigestAlgorithm>,
    #[serde(default = "defaults::nonce_lifetime", deserialize_with = "duration")]
    pub nonce_lifetime: Duration,
    /// Failed authentications per source address within `auth_failure_window` before
    /// requests from it are refused for the rest of the window.
    #[serde(default = "defaults::auth_failure_limit")]
    pub auth_failure_limit: u32,
    #[serde(
        default = "defaults::auth_failure_window",
        deserialize_with = "duration"
    )]
    pub auth_failure_window: Duration,
    #[serde(default = "defaults::tcp_max_connections")]
    pub tcp_max_connections: usize,
    #[serde(default = "defaults::tcp_idle_timeout", deserialize_with = "duration")]
    pub tcp_idle_timeout: Duration,
    #[serde(default = "defaults::max_message_size")]
    pub max_message_size: usize,
    #[serde(default = "defaults::t1", deserialize_with = "duration")]
    pub t1: Duration,
    #[serde(default = "defaults::t2", deserialize_with = "duration")]
    pub t2: Duration,
    #[serde(default = "defaults::t4", deserialize_with = "duration")]
    pub t4: Duration,
    #[serde(default = "defaults::user_agent")]
    pub user_agent: String,
    /// Session timer interval (RFC 4028) offered on agent legs; also how long a leg without
    /// timer support may stay silent before it is probed. At least [`MIN_SESSION_EXPIRES`].
    #[serde(default = "defaults::session_expires", deserialize_with = "duration")]
    pub session_expires: Duration,
}

/// RFC 4028 §4: the smallest session interval (`Min-SE`) allowed, 90 seconds.
pub const MIN_SESSION_EXPIRES: Duration = Duration::from_secs(90);

/// `sip.auth`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    #[default]
    Digest,
    /// Accept every REGISTER and call without challenge: benchmarks only.
    None,
}

/// A digest algorithm (RFC 7616, RFC 8760).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum DigestAlgorithm {
    #[serde(rename = "SHA-256")]
    Sha256,
    #[serde(rename = "MD5")]
    Md5,
}

impl DigestAlgorithm {
    /// The name in `algorithm=` parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Md5 => "MD5",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// [media]

/// `[media]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    /// The address written into SDP.
    pub ip: IpAddr,
    /// Even start; RTP on even ports, RTCP on the odd port above.
    pub rtp_ports: RangeInclusive<u16>,
    /// In order of preference; never empty, no duplicates.
    pub codecs: Vec<Codec>,
    /// A bridged call whose media stays silent this long is ended.
    pub media_timeout: Duration,
}

/// An audio codec the relay offers and transcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Opus,
    /// G.711 A-law.
    Pcma,
    /// G.711 µ-law.
    Pcmu,
}

impl Codec {
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Pcma => "pcma",
            Codec::Pcmu => "pcmu",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// [api], [store], [[trunks]]

/// `[api]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Api {
    pub listen: SocketAddr,
    /// Bearer tokens; unique.
    pub tokens: Vec<ApiToken>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiToken {
    pub token: Secret,
    pub access: Access,
}

/// What a token may see and do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Everything.
    Admin,
    /// Read everything, change nothing.
    Viewer,
    /// This user's own calls and conversations.
    User(UserId),
}

/// `[store]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// Absolute once loaded (written relative to the configuration file's directory).
    #[serde(default = "defaults::store_path")]
    pub path: PathBuf,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            path: defaults::store_path(),
        }
    }
}

/// `[voicemail]`: what the `voicemail` route does.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voicemail {
    /// Played before the tone; absolute path of an existing file once loaded. None: the tone
    /// alone.
    #[serde(default)]
    pub greeting: Option<PathBuf>,
    /// The longest message recorded.
    #[serde(default = "defaults::voicemail_max", deserialize_with = "duration")]
    pub max_length: Duration,
    /// Where recordings go (one WAV per call); absolute once loaded.
    #[serde(default = "defaults::voicemail_dir")]
    pub dir: PathBuf,
}

impl Default for Voicemail {
    fn default() -> Self {
        Voicemail {
            greeting: None,
            max_length: defaults::voicemail_max(),
            dir: defaults::voicemail_dir(),
        }
    }
}

/// `[[trunks]]`: who may send calls to the numbers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    pub name: String,
    /// Source networks, host bits cleared.
    #[serde(deserialize_with = "nets")]
    pub from: Vec<ipnet::IpNet>,
    /// The carrier's SIP address (UDP) where messages to customers (SMS as SIP MESSAGE) are
    /// sent; none: replies by message are not possible through this trunk.
    #[serde(default)]
    pub send_to: Option<std::net::SocketAddr>,
}

// ---------------------------------------------------------------------------------------------
// [[users]], [[teams]]

/// `[[users]]`: an agent.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: UserId,
    /// Display name; defaults to the id.
    #[serde(default)]
    pub name: String,
    /// Digest password; always present when `sip.auth = "digest"`.
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub extension: Option<Extension>,
    /// How long a step (or IVR choice, or direct call) rings this user alone.
    #[serde(default = "defaults::ring_timeout", deserialize_with = "duration")]
    pub ring_timeout: Duration,
}

/// `[[teams]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Team {
    pub id: TeamId,
    /// Existing users, no duplicates, never empty; order matters to `Waves`.
    pub members: Vec<UserId>,
    pub strategy: Strategy,
    pub ring_timeout: Duration,
}

/// How a team's members are rung.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// All at once.
    Simultaneous,
    /// One at a time, in random order.
    Random,
    /// One at a time, the one idle the longest first.
    LongestIdle,
    /// The first `size` members, then `size` more every `interval`.
    Waves {
        size: NonZeroUsize,
        interval: Duration,
    },
}

// ---------------------------------------------------------------------------------------------
// [[numbers]]

/// `[[numbers]]`: a company line and its cascade.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub number: PhoneNumber,
    /// Defaults to the number.
    pub name: String,
    /// Never empty.
    pub steps: Vec<Step>,
    /// After the last step: `Voicemail`, `Hangup`, or a team, user or IVR.
    pub fallback: Route,
    pub hours: Option<Hours>,
}

// ---------------------------------------------------------------------------------------------
// [ivr.ID]

/// `[ivr.ID]`: a menu.
#[derive(Clone, Debug, PartialEq)]
pub struct Ivr {
    pub id: IvrId,
    /// Absolute path of an existing file.
    pub prompt: PathBuf,
    /// Wait for a key (or, for input menus, the first digit) after the prompt.
    pub timeout: Duration,
    /// Replays after an invalid or missing key before taking `no_input`.
    pub retries: u32,
    /// Played on an invalid key; absolute path of an existing file.
    pub invalid: Option<PathBuf>,
    pub no_input: Route,
    pub menu: Menu,
}

/// A menu either maps single keys to routes, or collects a string of digits.
#[derive(Clone, Debug, PartialEq)]
pub enum Menu {
    Options(BTreeMap<Dtmf, IvrOption>),
    Input(InputSpec),
}

/// `[ivr.ID.options] "1" = { label, route }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IvrOption {
    /// The branch name shown to agents (`X-Switchboard-IVR-Branch`).
    pub label: String,
    pub route: Route,
}

/// `input = { digits, terminator, sensitive, per_digit_timeout, route }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputSpec {
    /// Most digits collected; collection also ends on the terminator or a per-digit timeout.
    pub digits: u8,
    /// `*` or `#`.
    pub terminator: Dtmf,
    /// Keep the digits out of logs, events and the store (card numbers, PINs).
    pub sensitive: bool,
    pub per_digit_timeout: Duration,
    /// Where the call goes once digits are collected.
    pub route: Route,
}

// ---------------------------------------------------------------------------------------------
// [[contacts]], [crm], [log]

/// `[[contacts]]`: a CRM card known from the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub number: PhoneNumber,
    pub name: String,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub url: Option<Url>,
    /// Free fields shown on the card.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// `[crm]`: where cards for unknown callers come from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crm {
    /// Looked up with the caller's number; the answer is the card.
    #[serde(default)]
    pub url: Option<Url>,
    /// Past this, the call goes on without a card.
    #[serde(default = "defaults::crm_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// A CSV export of contacts; absolute path of an existing file.
    #[serde(default)]
    pub csv: Option<PathBuf>,
}

impl Default for Crm {
    fn default() -> Self {
        Crm {
            url: None,
            timeout: defaults::crm_timeout(),
            csv: None,
        }
    }
}

/// `[log]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    #[serde(default)]
    pub format: LogFormat,
    #[serde(default)]
    pub level: LogLevel,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// `log.level`: a level (`"info"`) or per-target directives (`"info,sip_core=debug"`), in the
/// syntax of `tracing_subscriber::EnvFilter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLevel(String);

impl LogLevel {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LogLevel {
    fn default() -> Self {
        LogLevel("info".to_owned())
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
        for directive in s.split(',') {
            let (target, level) = match directive.split_once('=') {
                Some((t, l)) => (Some(t), l),
                None => (None, directive),
            };
            let target_ok = target.is_none_or(|t| {
                !t.is_empty()
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_:-".contains(&b))
            });
            if !target_ok || !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "{s:?} is not a log level: use off, error, warn, info, debug or trace, \
                     optionally per target (\"info,sip_core=debug\")"
                ));
            }
        }
        Ok(LogLevel(s.to_ascii_lowercase()))
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Defaults, one function per key, as serde wants them.
pub(crate) mod defaults {
    use super::*;

    pub fn max_contacts() -> usize {
        5
    }
    pub fn min_expires() -> Duration {
        Duration::from_secs(60)
    }
    pub fn max_expires() -> Duration {
        Duration::from_secs(3600)
    }
    pub fn default_expires() -> Duration {
        Duration::from_secs(3600)
    }
    pub fn digest_algorithms() -> Vec<DigestAlgorithm> {
        vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
    }
    pub fn nonce_lifetime() -> Duration {
        Duration::from_secs(300)
    }
    pub fn auth_failure_limit() -> u32 {
        10
    }
    pub fn auth_failure_window() -> Duration {
        Duration::from_secs(60)
    }
    pub fn tcp_max_connections() -> usize {
        1024
    }
    /// RFC 5626 clients keep connections alive with a CRLF ping every 95-120 s; 180 s leaves
    /// room for one late ping before an idle connection is closed.
    pub fn tcp_idle_timeout() -> Duration {
        Duration::from_secs(180)
    }
    pub fn max_message_size() -> usize {
        65535
    }
    pub fn t1() -> Duration {
        Duration::from_millis(500)
    }
    pub fn t2() -> Duration {
        Duration::from_secs(4)
    }
    pub fn t4() -> Duration {
        Duration::from_secs(5)
    }
    /// RFC 4028 §4 recommends 30 minutes.
    pub fn session_expires() -> Duration {
        Duration::from_secs(30 * 60)
    }
    pub fn user_agent() -> String {
        "Switchboard".to_owned()
    }
    pub fn store_path() -> PathBuf {
        PathBuf::from("var/switchboard.db")
    }
    pub fn voicemail_max() -> Duration {
        Duration::from_secs(120)
    }
    pub fn voicemail_dir() -> PathBuf {
        PathBuf::from("var/voicemail")
    }
    pub fn ring_timeout() -> Duration {
        Duration::from_secs(20)
    }
    pub fn crm_timeout() -> Duration {
        Duration::from_millis(300)
    }
    pub fn api_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
    pub fn codecs() -> Vec<Codec> {
        vec![Codec::Opus, Codec::Pcma, Codec::Pcmu]
    }
    pub fn media_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub fn ivr_timeout() -> Duration {
        Duration::from_secs(3)
    }
    pub fn ivr_retries() -> u32 {
        2
    }
    pub fn per_digit_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn wave_size() -> usize {
        1
    }
    pub fn wave_interval() -> Duration {
        Duration::from_secs(10)
    }
}
