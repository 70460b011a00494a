//! Cross-checks: turn the deserialized document into the typed [`Config`], reporting every
//! problem that involves more than one value (an unknown team, a duplicate id, a menu without
//! exit) instead of stopping at the first.
//!
//! Problems are recorded against key paths; `lib.rs` turns paths into lines. An entity with an
//! error is still registered under its id, so one mistake does not cascade into "unknown team"
//! reports everywhere that team is used.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diag::{suggestion, Diagnostic, KeyPath, Locator};
use crate::hours::Hours;
use crate::model::{
    defaults, Access, Api, ApiToken, Auth, Config, Contact, InputSpec, Ivr, IvrOption, Line, Media,
    Menu, Sip, Strategy, Team, User,
};
use crate::schema::{RawConfig, RawIvr, RawLine, RawTeam, Role, StrategyName};
use crate::values::{show, Dtmf, IvrId, PhoneNumber, Route, TeamId, Transport, UserId};

/// Below this, RFC 5626 clients (keep-alive every 95-120 s) lose their connections.
const RFC5626_KEEPALIVE: Duration = Duration::from_secs(120);

/// Collected problems, by key path.
pub(crate) struct Ctx<'l> {
    base: PathBuf,
    locator: &'l Locator<'l>,
    errors: Vec<(KeyPath, String)>,
    warnings: Vec<(KeyPath, String)>,
}

impl<'l> Ctx<'l> {
    pub(crate) fn new(base: PathBuf, locator: &'l Locator<'l>) -> Self {
        Ctx {
            base,
            locator,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Whether the document spells out this key (rather than leaving it to its default).
    fn written(&self, path: &KeyPath) -> bool {
        self.locator.exists(path)
    }

    fn error(&mut self, path: KeyPath, message: impl Into<String>) {
        self.errors.push((path, message.into()));
    }

    fn warn(&mut self, path: KeyPath, message: impl Into<String>) {
        self.warnings.push((path, message.into()));
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Resolves a path that must name an existing file.
    fn existing_file(&mut self, path: KeyPath, written: &Path, what: &str) -> PathBuf {
        let full = self.resolve(written);
        if full.is_dir() {
            self.error(
                path,
                format!("{what} {:?} is a directory, not a file", written.display()),
            );
        } else if !full.is_file() {
            self.error(
                path,
                format!(
                    "{what} {:?} not found (looked for {})",
                    written.display().to_string(),
                    full.display()
                ),
            );
        }
        full
    }

    /// (errors, warnings), each in file order.
    pub(crate) fn finish(self, file: &Path) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
        let locator = self.locator;
        let convert = |list: Vec<(KeyPath, String)>| {
            let mut out: Vec<Diagnostic> = list
                .into_iter()
                .map(|(path, message)| Diagnostic {
                    file: file.to_path_buf(),
                    line: locator.line_of(&path),
                    key: path.to_string(),
                    message,
                })
                .collect();
            out.sort_by_key(|d| d.line);
            out
        };
        (convert(self.errors), convert(self.warnings))
    }
}

/// Which routes a key accepts.
#[derive(Clone, Copy)]
enum Place {
    /// A number's `steps`, `fallback` and `hours.closed`: not `number:` (lines would forward
    /// to each other in circles) and not `back` (there is no menu to go back to).
    Line,
    /// IVR options, `no_input`, `input.route`: everything.
    Menu,
}

/// The ids that exist, known before any entity is checked.
struct Known {
    users: BTreeSet<String>,
    teams: BTreeSet<String>,
    ivrs: BTreeSet<String>,
    numbers: BTreeSet<String>,
}

fn unknown(kind: &str, id: &str, known: &BTreeSet<String>) -> String {
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    match suggestion(id, &names) {
        Some(near) => format!("unknown {kind} \"{id}\" (did you mean \"{near}\"?)"),
        None => format!("unknown {kind} \"{id}\""),
    }
}

impl Known {
    /// Reports a route whose target does not exist, or that this key does not accept.
    fn route(&self, route: &Route, place: Place, path: KeyPath, ctx: &mut Ctx<'_>) {
        if let (Route::Number(_) | Route::Back, Place::Line) = (route, place) {
            return ctx.error(
                path,
                format!(
                    "\"{route}\" is not allowed here: use voicemail, hangup, team:ID, user:ID or \
                     ivr:ID"
                ),
            );
        }
        let missing = match route {
            Route::Team(id) if !self.teams.contains(id.as_str()) => {
                unknown("team", id.as_str(), &self.teams)
            }
            Route::User(id) if !self.users.contains(id.as_str()) => {
                unknown("user", id.as_str(), &self.users)
            }
            Route::Ivr(id) if !self.ivrs.contains(id.as_str()) => {
                unknown("IVR", id.as_str(), &self.ivrs)
            }
            Route::Number(n) if !self.numbers.contains(n.as_str()) => {
                unknown("number", n.as_str(), &self.numbers)
            }
            _ => return,
        };
        ctx.error(path, missing);
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Where each user and team stands in the file, for messages about them found once the typed
/// arrays exist (a skipped duplicate shifts the indexes of those after it).
#[derive(Default)]
struct Positions {
    users: BTreeMap<UserId, usize>,
    teams: BTreeMap<TeamId, usize>,
}

/// Builds the typed configuration. The result is meaningful only if `ctx` holds no error.
pub(crate) fn build(raw: RawConfig, ctx: &mut Ctx<'_>) -> Config {
    let known = Known {
        users: raw.users.iter().map(|u| u.id.to_string()).collect(),
        teams: raw.teams.iter().map(|t| t.id.to_string()).collect(),
        ivrs: raw.ivr.keys().map(|i| i.to_string()).collect(),
        numbers: raw.numbers.iter().map(|n| n.number.to_string()).collect(),
    };
    check_sip(&raw.sip, ctx);
    let media = build_media(raw.media, &raw.sip, ctx);
    let api = build_api(raw.api, &raw.sip, &known, ctx);
    let mut store = raw.store;
    store.path = ctx.resolve(&store.path);
    let trunks = build_trunks(raw.trunks, ctx);
    let mut positions = Positions::default();
    let users = build_users(raw.users, &raw.sip, &known, &mut positions, ctx);
    let teams = build_teams(raw.teams, &known, &mut positions, ctx);
    let numbers = build_numbers(raw.numbers, &known, ctx);
    let ivr = build_ivrs(raw.ivr, &known, ctx);
    check_exits(&ivr, ctx);

    let mut contacts: Vec<Contact> = Vec::new();
    let mut seen: HashSet<PhoneNumber> = HashSet::new();
    for (i, contact) in raw.contacts.into_iter().enumerate() {
        let p = KeyPath::root().k("contacts").i(i);
        if !seen.insert(contact.number.clone()) {
            ctx.error(
                p.k("number"),
                format!("contact {} is listed twice", contact.number),
            );
            continue;
        }
        contacts.push(contact);
    }

    let mut crm = raw.crm;
    if let Some(csv) = &crm.csv {
        let p = KeyPath::root().k("crm").k("csv");
        crm.csv = Some(ctx.existing_file(p, &csv.clone(), "CSV file"));
    }

    let mut voicemail = raw.voicemail;
    if let Some(greeting) = &voicemail.greeting {
        let p = KeyPath::root().k("voicemail").k("greeting");
        voicemail.greeting = Some(ctx.existing_file(p, &greeting.clone(), "greeting file"));
    }
    voicemail.dir = ctx.resolve(&voicemail.dir);
    if voicemail.max_length < Duration::from_secs(1)
        || voicemail.max_length > Duration::from_secs(3600)
    {
        ctx.error(
            KeyPath::root().k("voicemail").k("max_length"),
            "must be between 1s and 1h",
        );
    }

    let config = Config::with_index(Config {
        sip: raw.sip,
        media,
        api,
        store,
        trunks,
        users,
        teams,
        numbers,
        ivr,
        contacts,
        crm,
        voicemail,
        log: raw.log,
        base_dir: ctx.base.clone(),
        index: Default::default(),
    });
    check_reachable(&config, &positions, ctx);
    config
}

fn check_sip(sip: &Sip, ctx: &mut Ctx<'_>) {
    let p = KeyPath::root().k("sip");
    if sip.listen.is_empty() {
        ctx.error(
            p.k("listen"),
            "give at least one address, e.g. \"udp:127.0.0.1:5060\"",
        );
    }
    for (i, l) in sip.listen.iter().enumerate() {
        if let Some(first) = sip.listen[..i].iter().position(|o| o == l) {
            ctx.error(
                p.k("listen").i(i),
                format!("{l} is already listed (sip.listen[{first}])"),
            );
        }
    }
    if !(1..=1000).contains(&sip.max_contacts) {
        ctx.error(p.k("max_contacts"), "must be between 1 and 1000");
    }
    for (key, d) in [
        ("min_expires", sip.min_expires),
        ("max_expires", sip.max_expires),
        ("default_expires", sip.default_expires),
    ] {
        if d.subsec_nanos() != 0 {
            ctx.error(
                p.k(key),
                format!(
                    "{} is not a whole number of seconds (Expires counts seconds)",
                    show(d)
                ),
            );
        }
    }
    if sip.min_expires > sip.max_expires {
        ctx.error(
            p.k("min_expires"),
            format!(
                "{} is longer than max_expires ({})",
                show(sip.min_expires),
                show(sip.max_expires)
            ),
        );
    } else if sip.default_expires < sip.min_expires || sip.default_expires > sip.max_expires {
        ctx.error(
            p.k("default_expires"),
            format!(
                "{} is outside min_expires..max_expires ({}..{})",
                show(sip.default_expires),
                show(sip.min_expires),
                show(sip.max_expires)
            ),
        );
    }
    if sip.auth == Auth::Digest && sip.digest_algorithms.is_empty() {
        ctx.error(
            p.k("digest_algorithms"),
            "give at least one algorithm: \"SHA-256\", \"MD5\"",
        );
    }
    for (i, a) in sip.digest_algorithms.iter().enumerate() {
        if sip.digest_algorithms[..i].contains(a) {
            ctx.error(
                p.k("digest_algorithms").i(i),
                format!("{} is listed twice", a.as_str()),
            );
        }
    }
    if sip.auth_failure_limit == 0 {
        ctx.error(p.k("auth_failure_limit"), "must be at least 1");
    }
    if sip.tcp_max_connections == 0 {
        ctx.error(p.k("tcp_max_connections"), "must be at least 1");
    }
    if sip.tcp_idle_timeout < RFC5626_KEEPALIVE
        && sip.listen.iter().any(|l| l.transport == Transport::Tcp)
    {
        ctx.warn(
            p.k("tcp_idle_timeout"),
            format!(
                "{} is shorter than the 120 s keep-alive interval of RFC 5626 clients; their \
                 connections will be closed between keep-alives",
                show(sip.tcp_idle_timeout)
            ),
        );
    }
    if !(1500..=1_048_576).contains(&sip.max_message_size) {
        ctx.error(
            p.k("max_message_size"),
            "must be between 1500 and 1048576 bytes",
        );
    }
    if sip.t1 > sip.t2 {
        // Point at the key the author changed.
        if ctx.written(&p.k("t1")) {
            ctx.error(
                p.k("t1"),
                format!(
                    "{} is longer than t2 ({}); T2 caps T1's doubling",
                    show(sip.t1),
                    show(sip.t2)
                ),
            );
        } else {
            ctx.error(
                p.k("t2"),
                format!(
                    "{} is shorter than t1 ({}); T2 caps T1's doubling",
                    show(sip.t2),
                    show(sip.t1)
                ),
            );
        }
    }
    if sip.session_expires < crate::model::MIN_SESSION_EXPIRES {
        ctx.error(
            p.k("session_expires"),
            format!(
                "{} is below 90s, the smallest session interval of RFC 4028 (Min-SE)",
                show(sip.session_expires)
            ),
        );
    } else if sip.session_expires.subsec_nanos() != 0 {
        ctx.error(
            p.k("session_expires"),
            format!(
                "{} is not a whole number of seconds (Session-Expires counts seconds)",
                show(sip.session_expires)
            ),
        );
    }
    if sip.user_agent.trim().is_empty() || has_control(&sip.user_agent) {
        ctx.error(
            p.k("user_agent"),
            "must be non-empty text without control characters (it is sent in User-Agent)",
        );
    }
}

fn build_media(raw: crate::schema::RawMedia, sip: &Sip, ctx: &mut Ctx<'_>) -> Media {
    let p = KeyPath::root().k("media");
    let fallback_ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let ip = match raw.ip {
        Some(ip) if ip.is_unspecified() => {
            ctx.error(
                p.k("ip"),
                format!("{ip} cannot be written into SDP: give the address callers send media to"),
            );
            ip
        }
        Some(ip) => ip,
        None => match sip.listen.first() {
            Some(l) if !l.addr.ip().is_unspecified() => l.addr.ip(),
            Some(l) => {
                ctx.error(
                    p.k("ip"),
                    format!(
                        "required when sip.listen[0] ({l}) binds every address: give the \
                         address callers send media to"
                    ),
                );
                fallback_ip
            }
            None => fallback_ip,
        },
    };
    if raw.codecs.is_empty() {
        ctx.error(
            p.k("codecs"),
            "give at least one codec: \"opus\", \"pcma\", \"pcmu\"",
        );
    }
    for (i, c) in raw.codecs.iter().enumerate() {
        if raw.codecs[..i].contains(c) {
            ctx.error(
                p.k("codecs").i(i),
                format!("{} is listed twice", c.as_str()),
            );
        }
    }
    let ports = raw.rtp_ports.0;
    for (i, l) in sip.listen.iter().enumerate() {
        if l.transport == Transport::Udp && ports.contains(&l.addr.port()) {
            ctx.error(
                p.k("rtp_ports"),
                format!(
                    "{}-{} holds port {} of sip.listen[{i}] ({l})",
                    ports.start(),
                    ports.end(),
                    l.addr.port()
                ),
            );
        }
    }
    Media {
        ip,
        rtp_ports: ports,
        codecs: raw.codecs,
        media_timeout: raw.media_timeout.0,
    }
}

fn build_api(raw: crate::schema::RawApi, sip: &Sip, known: &Known, ctx: &mut Ctx<'_>) -> Api {
    let p = KeyPath::root().k("api");
    if let Some(i) = sip
        .listen
        .iter()
        .position(|l| l.transport == Transport::Tcp && l.addr == raw.listen)
    {
        ctx.error(
            p.k("listen"),
            format!("{} is also sip.listen[{i}]", raw.listen),
        );
    }
    let mut tokens = Vec::new();
    for (i, t) in raw.tokens.into_iter().enumerate() {
        let tp = p.k("tokens").i(i);
        let secret = t.token.expose();
        // Never quote the token itself: these messages end up in logs.
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            ctx.error(tp.k("token"), "must be printable ASCII without spaces");
        }
        if let Some(j) = tokens.iter().position(|o: &ApiToken| o.token == t.token) {
            ctx.error(tp.k("token"), format!("the same token as api.tokens[{j}]"));
        }
        let access = match (t.role, t.user) {
            (Some(Role::Admin), None) => Access::Admin,
            (Some(Role::Viewer), None) => Access::Viewer,
            (None, Some(user)) => {
                if !known.users.contains(user.as_str()) {
                    ctx.error(tp.k("user"), unknown("user", user.as_str(), &known.users));
                }
                Access::User(user)
            }
            (Some(_), Some(_)) => {
                ctx.error(tp, "give role or user, not both");
                continue;
            }
            (None, None) => {
                ctx.error(tp, "give role = \"admin\" (or \"viewer\") or user = \"ID\"");
                continue;
            }
        };
        tokens.push(ApiToken {
            token: t.token,
            access,
        });
    }
    Api {
        listen: raw.listen,
        tokens,
    }
}

fn build_trunks(
    mut trunks: Vec<crate::model::Trunk>,
    ctx: &mut Ctx<'_>,
) -> Vec<crate::model::Trunk> {
    for i in 0..trunks.len() {
        let p = KeyPath::root().k("trunks").i(i);
        let name = trunks[i].name.clone();
        if name.trim().is_empty() || has_control(&name) {
            ctx.error(p.k("name"), "must be non-empty text");
        } else if let Some(j) = trunks[..i].iter().position(|t| t.name == name) {
            ctx.error(
                p.k("name"),
                format!("trunk \"{name}\" is already defined (trunks[{j}])"),
            );
        }
        if trunks[i].from.is_empty() {
            ctx.error(p.k("from"), "give at least one address or network");
        }
        for (j, net) in trunks[i].from.iter_mut().enumerate() {
            let trunc = net.trunc();
            if trunc != *net {
                ctx.warn(
                    p.k("from").i(j),
                    format!("{net} has host bits set; it means {trunc}"),
                );
                *net = trunc;
            }
        }
    }
    trunks
}

fn build_users(
    raw: Vec<User>,
    sip: &Sip,
    known: &Known,
    positions: &mut Positions,
    ctx: &mut Ctx<'_>,
) -> Vec<User> {
    let mut users: Vec<User> = Vec::new();
    let first_index = &mut positions.users;
    let mut extensions: HashMap<String, usize> = HashMap::new();
    for (i, mut user) in raw.into_iter().enumerate() {
        let p = KeyPath::root().k("users").i(i);
        if let Some(j) = first_index.get(&user.id) {
            ctx.error(
                p.k("id"),
                format!("user \"{}\" is already defined (users[{j}])", user.id),
            );
            continue;
        }
        if known.numbers.contains(user.id.as_str()) {
            ctx.error(
                p.k("id"),
                format!(
                    "\"{}\" is also a configured number; a dialled string must mean one thing",
                    user.id
                ),
            );
        }
        if user.name.is_empty() {
            user.name = user.id.to_string();
        } else if has_control(&user.name) {
            ctx.error(p.k("name"), "must not contain control characters");
        }
        if sip.auth == Auth::Digest && user.password.is_none() {
            ctx.error(
                p.k("password"),
                "missing key \"password\" (required with sip.auth = \"digest\")",
            );
        }
        if let Some(ext) = &user.extension {
            let e = ext.as_str().to_owned();
            if let Some(j) = extensions.get(&e) {
                ctx.error(
                    p.k("extension"),
                    format!("extension {e} is already users[{j}]'s"),
                );
            } else if known.numbers.contains(&e) {
                ctx.error(
                    p.k("extension"),
                    format!("extension {e} is also a configured number"),
                );
            } else if known.users.contains(&e) {
                ctx.error(p.k("extension"), format!("extension {e} is also a user id"));
            }
            extensions.entry(e).or_insert(i);
        }
        first_index.insert(user.id.clone(), i);
        users.push(user);
    }
    users
}

fn build_teams(
    raw: Vec<RawTeam>,
    known: &Known,
    positions: &mut Positions,
    ctx: &mut Ctx<'_>,
) -> Vec<Team> {
    let mut teams = Vec::new();
    let first_index = &mut positions.teams;
    for (i, t) in raw.into_iter().enumerate() {
        let p = KeyPath::root().k("teams").i(i);
        if let Some(j) = first_index.get(&t.id) {
            ctx.error(
                p.k("id"),
                format!("team \"{}\" is already defined (teams[{j}])", t.id),
            );
            continue;
        }
        first_index.insert(t.id.clone(), i);
        if t.members.is_empty() {
            ctx.error(p.k("members"), "a team needs at least one member");
        }
        for (j, m) in t.members.iter().enumerate() {
            if !known.users.contains(m.as_str()) {
                ctx.error(
                    p.k("members").i(j),
                    unknown("user", m.as_str(), &known.users),
                );
            } else if t.members[..j].contains(m) {
                ctx.error(p.k("members").i(j), format!("\"{m}\" is listed twice"));
            }
        }
        let ring_timeout = t.ring_timeout.map_or_else(defaults::ring_timeout, |d| d.0);
        let strategy = match t.strategy {
            StrategyName::Waves => {
                let size = t.wave_size.unwrap_or_else(defaults::wave_size);
                let interval = t
                    .wave_interval
                    .map_or_else(defaults::wave_interval, |d| d.0);
                if interval >= ring_timeout {
                    ctx.warn(
                        p.k(if t.wave_interval.is_some() {
                            "wave_interval"
                        } else {
                            "strategy"
                        }),
                        format!(
                            "wave_interval ({}) is not shorter than ring_timeout ({}): only the \
                             first wave will ever ring",
                            show(interval),
                            show(ring_timeout)
                        ),
                    );
                }
                if size >= t.members.len() && !t.members.is_empty() {
                    ctx.warn(
                        p.k(if t.wave_size.is_some() {
                            "wave_size"
                        } else {
                            "strategy"
                        }),
                        format!(
                            "the first wave ({size}) already rings all {} members: the same as \
                             \"simultaneous\"",
                            t.members.len()
                        ),
                    );
                }
                match NonZeroUsize::new(size) {
                    Some(size) => Strategy::Waves { size, interval },
                    None => {
                        ctx.error(p.k("wave_size"), "must be at least 1");
                        Strategy::Simultaneous
                    }
                }
            }
            other => {
                for (key, given) in [
                    ("wave_size", t.wave_size.is_some()),
                    ("wave_interval", t.wave_interval.is_some()),
                ] {
                    if given {
                        ctx.error(p.k(key), "only used with strategy = \"waves\"");
                    }
                }
                match other {
                    StrategyName::Random => Strategy::Random,
                    StrategyName::LongestIdle => Strategy::LongestIdle,
                    _ => Strategy::Simultaneous,
                }
            }
        };
        teams.push(Team {
            id: t.id,
            members: t.members,
            strategy,
            ring_timeout,
        });
    }
    teams
}

fn build_numbers(raw: Vec<RawLine>, known: &Known, ctx: &mut Ctx<'_>) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut first_index: HashMap<PhoneNumber, usize> = HashMap::new();
    for (i, n) in raw.into_iter().enumerate() {
        let p = KeyPath::root().k("numbers").i(i);
        if let Some(j) = first_index.get(&n.number) {
            ctx.error(
                p.k("number"),
                format!("{} is already defined (numbers[{j}])", n.number),
            );
            continue;
        }
        first_index.insert(n.number.clone(), i);
        if n.steps.is_empty() {
            ctx.error(
                p.k("steps"),
                format!(
                    "number {} routes nowhere: give at least one step (team:ID, user:ID or ivr:ID)",
                    n.number
                ),
            );
        }
        for (j, step) in n.steps.iter().enumerate() {
            known.route(
                &Route::from(step.clone()),
                Place::Line,
                p.k("steps").i(j),
                ctx,
            );
        }
        let fallback = n.fallback.unwrap_or(Route::Hangup);
        known.route(&fallback, Place::Line, p.k("fallback"), ctx);
        let hours = n.hours.map(|h| {
            let hp = p.k("hours");
            if h.open.is_empty() {
                ctx.warn(hp.k("open"), "no opening slot: the line is always closed");
            }
            let closed = match h.closed {
                Some(r) => {
                    known.route(&r, Place::Line, hp.k("closed"), ctx);
                    r
                }
                None => fallback.clone(),
            };
            Hours {
                tz: h.tz,
                open: h.open.into_iter().flat_map(|s| s.0).collect(),
                closed_dates: h.closed_dates,
                closed,
            }
        });
        let name = if n.name.is_empty() {
            n.number.to_string()
        } else {
            n.name
        };
        if has_control(&name) {
            ctx.error(p.k("name"), "must not contain control characters");
        }
        lines.push(Line {
            number: n.number,
            name,
            steps: n.steps,
            fallback,
            hours,
        });
    }
    lines
}

fn build_ivrs(
    raw: BTreeMap<IvrId, RawIvr>,
    known: &Known,
    ctx: &mut Ctx<'_>,
) -> BTreeMap<IvrId, Ivr> {
    let mut menus = BTreeMap::new();
    for (id, m) in raw {
        let p = KeyPath::root().k("ivr").k(&id);
        let prompt = ctx.existing_file(p.k("prompt"), &m.prompt, "prompt file");
        let invalid = m
            .invalid
            .as_ref()
            .map(|f| ctx.existing_file(p.k("invalid"), f, "prompt file"));
        let retries = m.retries.unwrap_or_else(defaults::ivr_retries);
        if retries > 10 {
            ctx.error(p.k("retries"), "at most 10");
        }
        known.route(&m.no_input, Place::Menu, p.k("no_input"), ctx);
        let menu = match (m.options, m.input) {
            (Some(options), None) => {
                if options.is_empty() {
                    ctx.error(p.k("options"), "a menu needs at least one option");
                }
                let mut out = BTreeMap::new();
                for (key, opt) in options {
                    let op = p.k("options").k(key);
                    if opt.label.trim().is_empty() || has_control(&opt.label) {
                        ctx.error(
                            op.k("label"),
                            "must be non-empty text (agents see it as the IVR branch)",
                        );
                    }
                    known.route(&opt.route, Place::Menu, op.k("route"), ctx);
                    out.insert(
                        key,
                        IvrOption {
                            label: opt.label,
                            route: opt.route,
                        },
                    );
                }
                Menu::Options(out)
            }
            (None, Some(input)) => {
                let ip = p.k("input");
                if !(1..=32).contains(&input.digits) {
                    ctx.error(ip.k("digits"), "must be between 1 and 32");
                }
                let terminator = match input.terminator {
                    Some(t) if t.as_char() != '#' && t.as_char() != '*' => {
                        ctx.error(ip.k("terminator"), "must be \"#\" or \"*\"");
                        t
                    }
                    Some(t) => t,
                    None => Dtmf::HASH,
                };
                known.route(&input.route, Place::Menu, ip.k("route"), ctx);
                Menu::Input(InputSpec {
                    digits: input.digits,
                    terminator,
                    sensitive: input.sensitive,
                    per_digit_timeout: input
                        .per_digit_timeout
                        .map_or_else(defaults::per_digit_timeout, |d| d.0),
                    route: input.route,
                })
            }
            (Some(_), Some(_)) => {
                ctx.error(p.k("input"), "give options or input, not both");
                continue;
            }
            (None, None) => {
                ctx.error(
                    p,
                    "missing key \"options\" (or \"input\" for a menu that collects digits)",
                );
                continue;
            }
        };
        let ivr = Ivr {
            id: id.clone(),
            prompt,
            timeout: m.timeout.map_or_else(defaults::ivr_timeout, |d| d.0),
            retries,
            invalid,
            no_input: m.no_input,
            menu,
        };
        menus.insert(id, ivr);
    }
    menus
}

/// Every route a menu can take.
fn menu_routes(ivr: &Ivr) -> Vec<&Route> {
    let mut routes = vec![&ivr.no_input];
    match &ivr.menu {
        Menu::Options(o) => routes.extend(o.values().map(|opt| &opt.route)),
        Menu::Input(input) => routes.push(&input.route),
    }
    routes
}

/// Reports menus from which no route leaves the IVR: every choice, and no input, lead only to
/// other menus, so a caller can go round forever. `back` leads to any menu that routes here.
fn check_exits(ivrs: &BTreeMap<IvrId, Ivr>, ctx: &mut Ctx<'_>) {
    let mut next: BTreeMap<&IvrId, BTreeSet<&IvrId>> = BTreeMap::new();
    let mut goes_back: BTreeSet<&IvrId> = BTreeSet::new();
    let mut can_exit: BTreeSet<&IvrId> = BTreeSet::new();
    for (id, ivr) in ivrs {
        next.entry(id).or_default();
        for route in menu_routes(ivr) {
            match route {
                // An unknown menu is reported elsewhere; do not add a second error about it.
                Route::Ivr(to) if ivrs.contains_key(to) => {
                    next.entry(id).or_default().insert(to);
                }
                Route::Back => {
                    goes_back.insert(id);
                }
                _ => {
                    can_exit.insert(id);
                }
            }
        }
    }
    let mut parents: BTreeMap<&IvrId, Vec<&IvrId>> = BTreeMap::new();
    for (from, tos) in &next {
        for to in tos {
            parents.entry(to).or_default().push(from);
        }
    }
    for id in goes_back {
        for parent in parents.get(id).cloned().unwrap_or_default() {
            next.entry(id).or_default().insert(parent);
        }
    }
    loop {
        let newly: Vec<&IvrId> = next
            .iter()
            .filter(|(id, tos)| !can_exit.contains(*id) && tos.iter().any(|t| can_exit.contains(t)))
            .map(|(id, _)| *id)
            .collect();
        if newly.is_empty() {
            break;
        }
        can_exit.extend(newly);
    }
    for id in ivrs.keys() {
        if can_exit.contains(id) {
            continue;
        }
        // The menus a caller can wander through from here, for the message.
        let mut seen = BTreeSet::from([id]);
        let mut queue = VecDeque::from([id]);
        while let Some(at) = queue.pop_front() {
            for to in next.get(at).into_iter().flatten() {
                if seen.insert(to) {
                    queue.push_back(to);
                }
            }
        }
        let loop_names: Vec<String> = seen.iter().map(|i| format!("ivr:{i}")).collect();
        ctx.error(
            KeyPath::root().k("ivr").k(id),
            format!(
                "no way out: every route leads only to menus ({}); route a key or no_input to a \
                 team, user, number, voicemail or hangup",
                loop_names.join(", ")
            ),
        );
    }
}

/// Warns about users, teams and menus that no call to a number can reach.
fn check_reachable(config: &Config, positions: &Positions, ctx: &mut Ctx<'_>) {
    let numbers = &config.numbers;
    let mut seen_users: BTreeSet<&UserId> = BTreeSet::new();
    let mut seen_teams: BTreeSet<&TeamId> = BTreeSet::new();
    let mut seen_ivrs: BTreeSet<&IvrId> = BTreeSet::new();
    let mut queue: VecDeque<&Route> = VecDeque::new();
    let steps: Vec<Route> = numbers
        .iter()
        .flat_map(|l| l.steps.iter().cloned().map(Route::from))
        .collect();
    queue.extend(steps.iter());
    for line in numbers {
        queue.push_back(&line.fallback);
        if let Some(h) = &line.hours {
            queue.push_back(&h.closed);
        }
    }
    while let Some(route) = queue.pop_front() {
        match route {
            Route::User(u) => {
                seen_users.insert(u);
            }
            Route::Team(t) => {
                if let Some(team) = config.team(t.as_str()) {
                    if seen_teams.insert(&team.id) {
                        seen_users.extend(team.members.iter());
                    }
                }
            }
            Route::Ivr(i) => {
                if let Some(ivr) = config.ivr.get(i) {
                    if seen_ivrs.insert(&ivr.id) {
                        queue.extend(menu_routes(ivr));
                    }
                }
            }
            // Every number is already a starting point.
            Route::Number(_) | Route::Voicemail | Route::Hangup | Route::Back => {}
        }
    }
    // Without numbers the configuration is a registrar (agents call each other by id): there is
    // nothing to be reachable from.
    if numbers.is_empty() {
        return;
    }
    for (id, i) in &positions.users {
        if !seen_users.contains(id) {
            ctx.warn(
                KeyPath::root().k("users").i(*i).k("id"),
                format!("user \"{id}\" is reachable from no number, team or IVR"),
            );
        }
    }
    for (id, i) in &positions.teams {
        if !seen_teams.contains(id) {
            ctx.warn(
                KeyPath::root().k("teams").i(*i).k("id"),
                format!("team \"{id}\" is reached by no number or IVR"),
            );
        }
    }
    for id in config.ivr.keys() {
        if !seen_ivrs.contains(id) {
            ctx.warn(
                KeyPath::root().k("ivr").k(id),
                format!("IVR \"{id}\" is reached by no number"),
            );
        }
    }
}
