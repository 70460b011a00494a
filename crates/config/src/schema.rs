//! The TOML document as written, for sections whose typed shape differs from the written one
//! (a strategy spread over three keys, an IVR whose menu is either `options` or `input`).
//! Every struct refuses unknown keys; `check.rs` turns these into `model.rs` types.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use crate::hours::{ClosedDate, SlotSpec, Zone};
use crate::model::{defaults, Codec, Contact, Crm, Log, Sip, Store, Trunk, User, Voicemail};
use crate::values::{Dtmf, Dur, IvrId, PhoneNumber, Route, RtpPorts, Secret, Step, TeamId, UserId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub sip: Sip,
    #[serde(default)]
    pub media: RawMedia,
    #[serde(default)]
    pub api: RawApi,
    #[serde(default)]
    pub store: Store,
    #[serde(default)]
    pub trunks: Vec<Trunk>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub teams: Vec<RawTeam>,
    #[serde(default)]
    pub numbers: Vec<RawLine>,
    #[serde(default)]
    pub ivr: BTreeMap<IvrId, RawIvr>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub crm: Crm,
    #[serde(default)]
    pub voicemail: Voicemail,
    #[serde(default)]
    pub log: Log,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMedia {
    /// Defaults to the first `sip.listen` address.
    #[serde(default)]
    pub ip: Option<IpAddr>,
    #[serde(default)]
    pub rtp_ports: RtpPorts,
    #[serde(default = "defaults::codecs")]
    pub codecs: Vec<Codec>,
    #[serde(default = "media_timeout")]
    pub media_timeout: Dur,
}

fn media_timeout() -> Dur {
    Dur(defaults::media_timeout())
}

impl Default for RawMedia {
    fn default() -> Self {
        RawMedia {
            ip: None,
            rtp_ports: RtpPorts::default(),
            codecs: defaults::codecs(),
            media_timeout: media_timeout(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    #[serde(default = "defaults::api_listen")]
    pub listen: SocketAddr,
    #[serde(default)]
    pub tokens: Vec<RawToken>,
}

impl Default for RawApi {
    fn default() -> Self {
        RawApi {
            listen: defaults::api_listen(),
            tokens: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawToken {
    pub token: Secret,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub user: Option<UserId>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    Admin,
    Viewer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTeam {
    pub id: TeamId,
    #[serde(default)]
    pub members: Vec<UserId>,
    #[serde(default)]
    pub strategy: StrategyName,
    #[serde(default)]
    pub ring_timeout: Option<Dur>,
    #[serde(default)]
    pub wave_size: Option<usize>,
    #[serde(default)]
    pub wave_interval: Option<Dur>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StrategyName {
    #[default]
    Simultaneous,
    Random,
    LongestIdle,
    Waves,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLine {
    pub number: PhoneNumber,
    #[serde(default)]
    pub name: String,
    /// Missing or empty steps are reported by the cross-checks with every other problem.
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub fallback: Option<Route>,
    #[serde(default)]
    pub hours: Option<RawHours>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHours {
    pub tz: Zone,
    pub open: Vec<SlotSpec>,
    #[serde(default)]
    pub closed_dates: Vec<ClosedDate>,
    #[serde(default)]
    pub closed: Option<Route>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIvr {
    pub prompt: PathBuf,
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub invalid: Option<PathBuf>,
    pub no_input: Route,
    #[serde(default)]
    pub options: Option<BTreeMap<Dtmf, RawOption>>,
    #[serde(default)]
    pub input: Option<RawInput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOption {
    pub label: String,
    pub route: Route,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInput {
    pub digits: u8,
    #[serde(default)]
    pub terminator: Option<Dtmf>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub per_digit_timeout: Option<Dur>,
    pub route: Route,
}
