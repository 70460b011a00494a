//! The agent console: one web page, served by the daemon beside the HTTP API, that shows an
//! agent their ringing calls, the call in progress and their customers' conversations.
//!
//! # Contract
//!
//! - **What it serves**: `GET /` (the page) and `GET /assets/{file}` (its script, stylesheet
//!   and icon). Everything is compiled into the binary (`include_str!`): no file system, no
//!   CDN, nothing fetched at run time. The page itself talks only to the API (`/v1/...`), with
//!   the token the agent typed in, kept in `sessionStorage`.
//! - **What it never does**: read call state, hold tokens or know about users. The router has
//!   no state of its own and merges into any axum router, typically the API's:
//!   `api::router_with(console::router(), state)`.
//!
//! # Caching
//!
//! Each asset is also reachable under a name carrying a hash of its content
//! (`app.3f2a9c1b0d4e5f60.js`); the page refers to those names only, and they are cached for a
//! year as `immutable`: a new build changes the names, so a browser never runs a stale script
//! against a newer API. The page (`/`) and the plain names are revalidated on every load
//! (`no-cache`) with an `ETag`, answered `304` when unchanged.
//!
//! # Security headers
//!
//! The page and assets carry a strict Content-Security-Policy: scripts, styles, images and
//! connections from this origin only, no inline code, no framing, and Trusted Types enforced
//! with no policy at all, so the page *cannot* turn a string into markup: a caller name or an
//! SMS body containing HTML is shown as text, by construction of the browser, not by escaping.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// The policy of every console response. `form-action 'none'`: forms are handled by script and
/// never submitted; `connect-src 'self'` covers `fetch` and `EventSource` to the API.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; media-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// Hashed names do not change content: cache them for a year without revalidation.
const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The page and plain names: keep, but ask the server (ETag) before each use.
const CACHE_REVALIDATE: &str = "no-cache";

/// One file of the console as compiled in.
struct Source {
    /// The plain name under `/assets/` (and the name the page's template refers to).
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const SOURCES: [Source; 3] = [
    Source {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/app.js"),
    },
    Source {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/app.css"),
    },
    Source {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../assets/favicon.svg"),
    },
];

const INDEX_TEMPLATE: &str = include_str!("../assets/index.html");

/// A response body with everything needed to answer for it.
struct Asset {
    /// `app.js`.
    name: &'static str,
    /// `app.<hash>.js`.
    hashed_name: String,
    content_type: &'static str,
    body: String,
    /// Quoted, as sent: `"<hash>"`.
    etag: HeaderValue,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, body: String) -> Asset {
        let hash = content_hash(body.as_bytes());
        let hashed_name = match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
            None => format!("{name}.{hash}"),
        };
        let etag = HeaderValue::from_str(&format!("\"{hash}\""))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        Asset {
            name,
            hashed_name,
            content_type,
            body,
            etag,
        }
    }
}

/// The first 64 bits of the SHA-256 of `bytes`, in hex: enough to tell builds apart.
fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Assets {
    index: Asset,
    files: Vec<Asset>,
}

impl Assets {
    fn build() -> Assets {
        let files: Vec<Asset> = SOURCES
            .iter()
            .map(|s| Asset::new(s.name, s.content_type, s.body.to_owned()))
            .collect();
        // The template names assets by their plain path; point it at the hashed ones.
        let mut index = INDEX_TEMPLATE.to_owned();
        for file in &files {
            index = index.replace(
                &format!("/assets/{}\"", file.name),
                &format!("/assets/{}\"", file.hashed_name),
            );
        }
        Assets {
            index: Asset::new("index.html", "text/html; charset=utf-8", index),
            files,
        }
    }

    /// The asset `file` names and whether that name is the hashed (immutable) one.
    fn find(&self, file: &str) -> Option<(&Asset, bool)> {
        self.files.iter().find_map(|a| {
            if a.hashed_name == file {
                Some((a, true))
            } else if a.name == file {
                Some((a, false))
            } else {
                None
            }
        })
    }
}

static ASSETS: LazyLock<Assets> = LazyLock::new(Assets::build);

/// The console's routes: `/` and `/assets/{file}`. No state, no fallback: merge it into the
/// API's router with `api::router_with(console::router(), state)`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
}

/// The URL path under which the page loads `name` (`app.js`, `app.css`, `favicon.svg`), for
/// whoever links to an asset from outside the page.
pub fn asset_path(name: &str) -> Option<String> {
    ASSETS
        .find(name)
        .map(|(asset, _)| format!("/assets/{}", asset.hashed_name))
}

async fn index(headers: HeaderMap) -> Response {
    respond(&ASSETS.index, CACHE_REVALIDATE, &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.find(&file) {
        Some((asset, true)) => respond(asset, CACHE_IMMUTABLE, &headers),
        Some((asset, false)) => respond(asset, CACHE_REVALIDATE, &headers),
        None => (
            StatusCode::NOT_FOUND,
            security_headers(),
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such asset\n",
        )
            .into_response(),
    }
}

fn respond(asset: &'static Asset, cache: &'static str, headers: &HeaderMap) -> Response {
    let cache_headers = [
        (ETAG, asset.etag.clone()),
        (CACHE_CONTROL, HeaderValue::from_static(cache)),
    ];
    let fresh = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .any(|v| etag_matches(v.as_bytes(), asset.etag.as_bytes()));
    if fresh {
        return (StatusCode::NOT_MODIFIED, security_headers(), cache_headers).into_response();
    }
    (
        security_headers(),
        cache_headers,
        [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
        asset.body.as_str(),
    )
        .into_response()
}

fn security_headers() -> [(HeaderName, HeaderValue); 5] {
    [
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

/// Whether an `If-None-Match` value (`*`, or a comma-separated list of entity tags, weak or
/// strong) names `etag`. RFC 9110 §13.1.2: the comparison is weak, so `W/"x"` matches `"x"`.
fn etag_matches(if_none_match: &[u8], etag: &[u8]) -> bool {
    let Ok(list) = std::str::from_utf8(if_none_match) else {
        return false;
    };
    list.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate).as_bytes() == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_comparison_is_weak_and_accepts_lists() {
        let etag = br#""abc""#;
        assert!(etag_matches(br#""abc""#, etag));
        assert!(etag_matches(br#"W/"abc""#, etag));
        assert!(etag_matches(br#""x", "abc""#, etag));
        assert!(etag_matches(b"*", etag));
        assert!(!etag_matches(br#""abd""#, etag));
        assert!(!etag_matches(b"abc", etag));
        assert!(!etag_matches(b"", etag));
        assert!(!etag_matches(b"\xff", etag));
    }

    #[test]
    fn the_page_refers_only_to_hashed_assets() {
        let assets = Assets::build();
        for file in &assets.files {
            assert!(
                assets
                    .index
                    .body
                    .contains(&format!("/assets/{}", file.hashed_name)),
                "index.html does not load {}",
                file.hashed_name
            );
            assert!(
                !assets
                    .index
                    .body
                    .contains(&format!("/assets/{}\"", file.name)),
                "index.html still names {} unhashed",
                file.name
            );
        }
    }

    #[test]
    fn hashed_names_follow_content() {
        let a = Asset::new("app.js", "text/javascript", "one".into());
        let b = Asset::new("app.js", "text/javascript", "two".into());
        assert_ne!(a.hashed_name, b.hashed_name);
        assert!(a.hashed_name.starts_with("app.") && a.hashed_name.ends_with(".js"));
        assert_eq!(a.hashed_name.len(), "app..js".len() + 16);
        assert_eq!(
            a.etag.to_str().ok(),
            Some(format!("\"{}\"", &a.hashed_name[4..20]).as_str())
        );
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        // The CSP forbids them; the page would silently break.
        let page = INDEX_TEMPLATE;
        assert!(!page.contains("<script>"), "inline <script>");
        assert!(!page.contains("style="), "inline style attribute");
        assert!(!page.contains("<style"), "inline <style>");
        assert_eq!(inline_handler(page), None, "inline event handler");
    }

    /// The first ` onxxx=` attribute in `page`, if any.
    fn inline_handler(page: &str) -> Option<&str> {
        page.match_indices(" on").find_map(|(at, _)| {
            let rest = &page[at + 3..];
            let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            (name_len > 0 && rest[name_len..].starts_with('='))
                .then(|| &page[at..at + 3 + name_len])
        })
    }

    #[test]
    fn inline_handlers_are_found() {
        assert_eq!(inline_handler(r#"<a onclick="x">"#), Some(" onclick"));
        assert_eq!(inline_handler("<p>on one line</p>"), None);
    }
}
