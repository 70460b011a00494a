//! Switchboard's configuration: the TOML file of DESIGN.md turned into types, once.
//!
//! # Contract
//!
//! In: a TOML file ([`load`]) or text ([`parse_str`]). Out: either a [`Loaded`] — a fully
//! typed, cross-checked [`Config`] plus warnings — or [`ConfigErrors`], every error found.
//! The rest of the program never sees a configuration string: listen addresses are
//! [`Listen`], routes are [`Route`], durations are [`std::time::Duration`], business hours
//! answer [`Hours::is_open`], relative paths are absolute, passwords and tokens are
//! [`Secret`] (whose `Debug` prints `***`).
//!
//! Every diagnostic names the file, the line and the key path:
//!
//! ```text
//! config/switchboard.toml:42: teams[1].strategy: unknown variant "roundrobin", expected one of simultaneous, random, longest_idle, waves
//! config/switchboard.toml:7: sip.listen[0]: "udp:127.0.0.1" is not TRANSPORT:ADDR:PORT (e.g. "udp:127.0.0.1:5060", "tcp:[::1]:5060")
//! config/switchboard.toml:3: sip: unknown key "lissten" (did you mean "listen"?)
//! config/switchboard.toml: missing section [sip]
//! ```
//!
//! Two kinds of checks, two behaviours. A value that is wrong by itself (syntax, unknown key,
//! bad duration) stops the parse at the first one, as serde does. Cross-checks between values
//! (unknown team, duplicate id, IVR menu without exit, missing prompt file) all run and all
//! report. Warnings (a user no number can reach, an IVR no number uses) never stop a load.
//!
//! Rules shared by every key:
//! - Unknown keys are errors, everywhere (`deny_unknown_fields`): a typo never goes silent.
//! - Durations are `"500ms"`, `"20s"`, `"5m"`, `"1h"`, `"1h 30m"`, or a bare integer meaning
//!   seconds; zero is refused. Registrar expiries must be whole seconds.
//! - Relative paths are relative to the configuration file's directory.
//! - Only `[sip]` is required; every other section has defaults (see
//!   `config/switchboard.toml`, which documents each key, its default and unit).
//!
//! Arrays (`[[users]]`, `[[teams]]`, `[[numbers]]`, `[[contacts]]`) stay `Vec`s in file
//! order; look entities up with [`Config::user`], [`Config::team`], [`Config::line`],
//! [`Config::ivr`], [`Config::contact`] and [`Config::dialled`], which use an index built at
//! load. Treat a loaded `Config` as read-only: a reload builds a new one.
//!
//! This crate does no I/O besides reading the file and checking that referenced files exist;
//! it starts nothing and reads no clock (`Hours::is_open` takes the instant).

mod check;
mod diag;
mod hours;
mod model;
mod schema;
mod values;

use std::path::{Path, PathBuf};

pub use diag::{ConfigErrors, Diagnostic};
pub use hours::{ClosedDate, Days, Hours, OpenSlot, TimeOfDay, Weekday, Zone};
pub use model::{
    Access, Api, ApiToken, Auth, Codec, Config, Contact, Crm, Dialled, DigestAlgorithm, InputSpec,
    Ivr, IvrOption, Line, Log, LogFormat, LogLevel, Media, Menu, Sip, Store, Strategy, Team, Trunk,
    User, MIN_SESSION_EXPIRES,
};
pub use values::{
    Domain, Dtmf, Extension, IvrId, Listen, PhoneNumber, Route, Secret, Step, TeamId, Transport,
    Url, UserId,
};

/// A configuration that passed every check, and what deserves a look anyway.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    /// In file order. Display each as `warning: {w}`.
    pub warnings: Vec<Diagnostic>,
}

/// Reads and checks the configuration file at `path`. Diagnostics name the file as `path` is
/// written; relative paths inside resolve against its directory.
pub fn load(path: &Path) -> Result<Loaded, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, path),
        Err(e) => Err(ConfigErrors(vec![Diagnostic {
            file: path.to_path_buf(),
            line: None,
            key: String::new(),
            message: format!("cannot read: {e}"),
        }])),
    }
}

/// Checks configuration text as if read from `file_name` (used in messages, and its directory
/// anchors relative paths).
pub fn parse_str(text: &str, file_name: &Path) -> Result<Loaded, ConfigErrors> {
    let locator = diag::Locator::new(text);
    let raw: schema::RawConfig =
        match serde_path_to_error::deserialize(toml::Deserializer::new(text)) {
            Ok(raw) => raw,
            Err(e) => return Err(ConfigErrors(vec![diag::from_serde(e, &locator, file_name)])),
        };
    let mut ctx = check::Ctx::new(base_dir(file_name), &locator);
    let config = check::build(raw, &mut ctx);
    let (errors, warnings) = ctx.finish(file_name);
    if errors.is_empty() {
        Ok(Loaded { config, warnings })
    } else {
        Err(ConfigErrors(errors))
    }
}

/// The absolute directory of the configuration file.
fn base_dir(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests;
