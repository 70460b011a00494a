//! [`CrmLookup`]: the directory first, then the CRM over HTTP, within a time budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use crate::cache::Cache;
use crate::directory::Directory;
use crate::number::{normalise, Masked};
use crate::{Card, CardSource, CrmError};

/// Limits of the HTTP lookup.
#[derive(Clone, Debug)]
pub struct LookupOptions {
    /// The longest [`CrmLookup::card`] waits; past it the call goes on without a card. Also the
    /// timeout of each HTTP request, so a slow CRM never has more than one request per number
    /// pending for longer than this.
    pub budget: Duration,
    /// How long a card from the CRM is reused.
    pub positive_ttl: Duration,
    /// How long "no card" (not found, or the CRM failed) is reused.
    pub negative_ttl: Duration,
    /// Numbers remembered at most.
    pub cache_capacity: usize,
    /// A larger answer is refused (a card is a few hundred bytes).
    pub max_body: usize,
}

impl Default for LookupOptions {
    fn default() -> Self {
        LookupOptions {
            budget: Duration::from_millis(300),
            positive_ttl: Duration::from_secs(600),
            negative_ttl: Duration::from_secs(60),
            cache_capacity: 10_000,
            max_body: 64 * 1024,
        }
    }
}

impl LookupOptions {
    /// The defaults with the budget of `[crm] timeout`.
    pub fn from_config(crm: &config::Crm) -> LookupOptions {
        LookupOptions {
            budget: crm.timeout,
            ..LookupOptions::default()
        }
    }
}

/// Finds the card of a caller. Share it (`Arc`); every method takes `&self`.
pub struct CrmLookup {
    directory: Directory,
    remote: Option<Arc<Remote>>,
    budget: Duration,
}

/// The CRM's HTTP endpoint and what is known or pending about it.
struct Remote {
    client: reqwest::Client,
    url: reqwest::Url,
    max_body: usize,
    /// A std mutex: held for a hash-map probe, never across an `.await`.
    state: Mutex<RemoteState>,
}

struct RemoteState {
    cache: Cache,
    /// One request per number at a time; later askers watch the first one's answer.
    /// The value is `None` until the request ends.
    inflight: HashMap<String, watch::Receiver<Option<Option<Card>>>>,
}

impl CrmLookup {
    /// A lookup over `directory`, asking `url` (if any) for numbers the directory lacks.
    pub fn new(
        directory: Directory,
        url: Option<&str>,
        options: LookupOptions,
    ) -> Result<CrmLookup, CrmError> {
        let remote = match url {
            Some(url) => Some(Arc::new(Remote::new(url, &options)?)),
            None => None,
        };
        Ok(CrmLookup {
            directory,
            remote,
            budget: options.budget,
        })
    }

    /// From the configuration: `[[contacts]]`, `[crm] csv`, `[crm] url` and `[crm] timeout`.
    pub fn from_config(crm: &config::Crm, contacts: &[config::Contact]) -> Result<Self, CrmError> {
        let directory = Directory::load(contacts, crm.csv.as_deref())?;
        let url = crm.url.as_ref().map(|url| url.as_str());
        CrmLookup::new(directory, url, LookupOptions::from_config(crm))
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The card for the caller `number`, or `None`. Never takes longer than the budget and
    /// never fails: a slow, failing or nonsensical CRM is logged and the answer is `None`.
    /// Needs a tokio runtime (the HTTP request runs as its own task, so that its answer
    /// still fills the cache when this caller has stopped waiting).
    pub async fn card(&self, number: &str) -> Option<Card> {
        let Some(key) = normalise(number) else {
            tracing::debug!(number = %Masked(number), "CRM: not a phone number");
            return None;
        };
        if let Some(card) = self.directory.get(&key) {
            return Some(card.clone());
        }
        let remote = self.remote.as_ref()?;
        match tokio::time::timeout(self.budget, Remote::answer(remote, key)).await {
            Ok(answer) => answer,
            Err(_) => {
                tracing::warn!(
                    number = %Masked(number),
                    budget_ms = self.budget.as_millis() as u64,
                    "CRM lookup over budget: no card"
                );
                None
            }
        }
    }
}

/// Why an HTTP lookup gave no card.
enum Failure {
    /// Built with [`Failure::http`]: the URL is left out (it may carry a key in its query).
    Http(reqwest::Error),
    Status(reqwest::StatusCode),
    TooLarge,
    Body(String),
}

impl Failure {
    fn http(error: reqwest::Error) -> Failure {
        Failure::Http(error.without_url())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Http(e) if e.is_timeout() => f.write_str("timed out"),
            Failure::Http(e) if e.is_connect() => f.write_str("cannot connect"),
            Failure::Http(e) => write!(f, "{e}"),
            Failure::Status(status) => write!(f, "HTTP status {status}"),
            Failure::TooLarge => f.write_str("answer too large"),
            Failure::Body(reason) => write!(f, "answer not understood: {reason}"),
        }
    }
}

impl Remote {
    fn new(url: &str, options: &LookupOptions) -> Result<Remote, CrmError> {
        let url = reqwest::Url::parse(url).map_err(|e| CrmError::Url(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CrmError::Url(format!(
                "{}: not http or https",
                url.scheme()
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(options.budget)
            .connect_timeout(options.budget)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("switchboard-crm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CrmError::Client(e.to_string()))?;
        Ok(Remote {
            client,
            url,
            max_body: options.max_body,
            state: Mutex::new(RemoteState {
                cache: Cache::new(
                    options.cache_capacity,
                    options.positive_ttl,
                    options.negative_ttl,
                ),
                inflight: HashMap::new(),
            }),
        })
    }

    /// The cached answer, or the answer of the request in flight for `key` (started here if
    /// there is none).
    async fn answer(remote: &Arc<Remote>, key: String) -> Option<Card> {
        let mut pending = {
            let mut state = lock(&remote.state);
            if let Some(answer) = state.cache.get(&key, Instant::now()) {
                return answer;
            }
            match state.inflight.get(&key) {
                // A request whose task is gone (runtime shutting down) is not waited for.
                Some(pending) if pending.has_changed().is_ok() => pending.clone(),
                _ => {
                    let (done, pending) = watch::channel(None);
                    state.inflight.insert(key.clone(), pending.clone());
                    tokio::spawn(Remote::fetch_and_remember(Arc::clone(remote), key, done));
                    pending
                }
            }
        };
        let answer = match pending.wait_for(Option::is_some).await {
            Ok(answer) => answer.clone().flatten(),
            Err(_) => None,
        };
        answer
    }

    /// Runs the request, caches the answer, ends the in-flight entry and wakes the waiters.
    async fn fetch_and_remember(
        remote: Arc<Remote>,
        key: String,
        done: watch::Sender<Option<Option<Card>>>,
    ) {
        let card = match remote.fetch(&key).await {
            Ok(card) => card,
            Err(failure) => {
                tracing::warn!(number = %Masked(&key), %failure, "CRM lookup failed: no card");
                None
            }
        };
        {
            let mut state = lock(&remote.state);
            state
                .cache
                .insert(key.clone(), card.clone(), Instant::now());
            state.inflight.remove(&key);
        }
        // Nobody waiting any more is fine: the answer is in the cache.
        let _ = done.send(Some(card));
    }

    /// `GET url?number=<key>`. `Ok(None)`: the CRM does not know the number.
    async fn fetch(&self, key: &str) -> Result<Option<Card>, Failure> {
        let mut url = self.url.clone();
        url.query_pairs_mut().append_pair("number", key);
        tracing::trace!(number = key, "CRM request");
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(Failure::http)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Failure::Status(status));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(Failure::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(Failure::http)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(Failure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        card_from_json(key, &body).map_err(Failure::Body)
    }
}

/// Reads the CRM's answer: a JSON object with `name` (required), `company`, `url`, and
/// `fields` (an object); any other top-level scalar is a field too, so a CRM answering a flat
/// object (`{"name": ..., "account": 42}`) works without a mapping. `null` means "not found".
/// Nested values other than `fields` are ignored.
pub(crate) fn card_from_json(number: &str, body: &[u8]) -> Result<Option<Card>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut object = match value {
        Value::Null => return Ok(None),
        Value::Object(object) => object,
        _ => return Err("not a JSON object".into()),
    };
    let mut text = |key: &str| -> Result<Option<String>, String> {
        match object.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{key} is not a string")),
        }
    };
    let name = text("name")?.ok_or("no name")?;
    let company = text("company")?;
    let url = text("url")?;
    object.remove("number"); // the number asked is the card's number
    let mut fields = std::collections::BTreeMap::new();
    if let Some(nested) = object.remove("fields") {
        match nested {
            Value::Object(nested) => fields.extend(scalars(nested)),
            Value::Null => {}
            _ => return Err("fields is not an object".into()),
        }
    }
    fields.extend(scalars(object));
    Ok(Some(Card {
        number: number.to_owned(),
        name,
        company,
        url,
        fields,
        source: CardSource::Http,
    }))
}

/// The string, number and boolean values of a JSON object, as text.
fn scalars(object: serde_json::Map<String, Value>) -> impl Iterator<Item = (String, String)> {
    object.into_iter().filter_map(|(key, value)| match value {
        Value::String(s) => Some((key, s)),
        Value::Number(n) => Some((key, n.to_string())),
        Value::Bool(b) => Some((key, b.to_string())),
        _ => None,
    })
}

/// A poisoned lock means a panic elsewhere while holding a map; the map is still consistent
/// enough to serve lookups (worst case an entry is missing).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_is_read_from_nested_and_flat_fields() {
        let body = br#"{"name": "Jeanne Dupont", "company": "ACME", "number": "ignored",
                        "fields": {"tier": "gold", "seats": 12},
                        "account": 42, "vip": true, "tags": ["a"], "owner": null}"#;
        let card = card_from_json("+33612345678", body).unwrap().unwrap();
        assert_eq!(card.number, "+33612345678");
        assert_eq!(card.name, "Jeanne Dupont");
        assert_eq!(card.company.as_deref(), Some("ACME"));
        assert_eq!(card.url, None);
        assert_eq!(card.source, CardSource::Http);
        let fields: Vec<(&str, &str)> = card
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("account", "42"),
                ("seats", "12"),
                ("tier", "gold"),
                ("vip", "true")
            ]
        );
    }

    #[test]
    fn answers_without_a_usable_name_are_refused() {
        assert_eq!(card_from_json("+331", b"null"), Ok(None));
        for body in [
            &b"{}"[..],
            br#"{"name": ""}"#,
            br#"{"name": 7}"#,
            br#"{"name": "A", "fields": [1]}"#,
            b"[]",
            b"<html>",
            b"",
        ] {
            assert!(
                card_from_json("+331", body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
