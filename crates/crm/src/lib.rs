//! CRM cards for callers: who is calling, shown to the agents while their phones ring.
//!
//! # Contract
//!
//! - **In**: the caller's number as received (any spelling: spaces, dashes, dots and
//!   parentheses are ignored, see [`normalise`]).
//! - **Out**: a [`Card`] or `None`, from [`CrmLookup::card`], within the budget of
//!   `[crm] timeout` (300 ms by default). A card is not worth delaying a ringing phone.
//! - **Sources, in order**: the [`Directory`] in memory (the configuration's `[[contacts]]`,
//!   which win, and the `[crm] csv` export), one hash probe; then the CRM at `[crm] url`,
//!   `GET <url>?number=<number, percent-encoded>`, answering a JSON card.
//! - **Never**: fails the caller or waits past the budget. A slow CRM, a refused connection, a
//!   5xx, a body that is not a card: logged (`tracing`, numbers masked) and `None`.
//!
//! # The HTTP lookup
//!
//! - Answers are cached: a card for 10 minutes, "no card" for 1 minute (not found *and*
//!   failures, so a struggling CRM is asked at most once a minute per number rather than at
//!   every call), at most 10 000 numbers.
//! - One request per number at a time: concurrent calls from the same number wait for the
//!   same request, each within its own budget.
//! - The request runs as its own task with the budget as its timeout: if the caller's budget
//!   ends first, a late answer still lands in the cache for the next call.
//! - The answer is a JSON object with `name` (required), `company`, `url`, `fields` (object of
//!   strings); other top-level scalars become fields too. 404, 204 or `null`: not found.
//!
//! # HTTP client
//!
//! `reqwest` (on hyper): the most used, actively maintained async client, with pooling,
//! timeouts and redirects done. Built without default features, with rustls on `ring` and the
//! host's root certificates: no OpenSSL or other system library, and an on-premises CRM signed
//! by a company CA works once that CA is in the host's store.

mod cache;
mod directory;
mod lookup;
mod number;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use directory::{Directory, SkippedRow};
pub use lookup::{CrmLookup, LookupOptions};
pub use number::{normalise, Masked};

/// What the agents see about a caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// Normalised: `+` and digits, as the lookup key.
    pub number: String,
    pub name: String,
    pub company: Option<String>,
    /// A link to the customer's page in the CRM.
    pub url: Option<String>,
    /// Free fields shown on the card (`tier = gold`), sorted by name.
    pub fields: BTreeMap<String, String>,
    pub source: CardSource,
}

/// Where a card came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardSource {
    /// `[[contacts]]` in the configuration.
    Config,
    /// The `[crm] csv` file.
    Csv,
    /// The CRM at `[crm] url`.
    Http,
}

/// Errors of setting the lookup up. Lookups themselves never fail (see the crate docs).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrmError {
    #[error("{origin}: {reason}")]
    Csv { origin: String, reason: String },
    #[error("{origin}: the header row must name the columns `number` and `name` (found: {found})")]
    CsvHeader { origin: String, found: String },
    #[error("CRM URL: {0}")]
    Url(String),
    #[error("CRM HTTP client: {0}")]
    Client(String),
}
