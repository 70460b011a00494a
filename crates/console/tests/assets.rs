//! The console's routes as HTTP, without a browser: content types, caching, security headers,
//! and that they sit beside the API's routes without changing them.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

fn app() -> (Router, tokio::sync::mpsc::Receiver<api::ApiCommand>) {
    let (commands, command_rx) = tokio::sync::mpsc::channel(4);
    let state = api::ApiState::new(api::ApiParts::new(
        api::Accounts::new(),
        commands,
        std::sync::Arc::new(api::NoConversations),
    ));
    (api::router_with(console::router(), state), command_rx)
}

async fn get(
    app: &Router,
    path: &str,
    etag: Option<&str>,
) -> (StatusCode, header::HeaderMap, String) {
    let mut request = Request::get(path);
    if let Some(etag) = etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn header(headers: &header::HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test]
async fn the_page_is_html_with_a_strict_policy_and_revalidated() {
    let (app, _engine) = app();
    let (status, headers, body) = get(&app, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(header(&headers, header::CACHE_CONTROL), "no-cache");
    assert_eq!(
        header(&headers, header::CONTENT_SECURITY_POLICY),
        console::CONTENT_SECURITY_POLICY_VALUE
    );
    let csp = console::CONTENT_SECURITY_POLICY_VALUE;
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(csp.contains(directive), "{directive}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&headers, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(header(&headers, header::REFERRER_POLICY), "no-referrer");
    assert!(body.starts_with("<!doctype html>"));

    // Revalidation: the same ETag gets a bodiless 304 with the same headers.
    let etag = header(&headers, header::ETAG).to_owned();
    let (status, headers, body) = get(&app, "/", Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(header(&headers, header::ETAG), etag);
    assert!(body.is_empty());
    let (status, _, _) = get(&app, "/", Some("\"something-else\"")).await;
    assert_eq!(status, StatusCode::OK);

    // The toolbar window is the same page.
    let (status, _, again) = get(&app, "/?toolbar=c-1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(again.contains("id=\"toolbar\""));
}

#[tokio::test]
async fn assets_are_served_by_hashed_name_for_a_year_and_by_plain_name_revalidated() {
    let (app, _engine) = app();
    let (_, _, page) = get(&app, "/", None).await;
    for (name, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let hashed = console::asset_path(name).expect("known asset");
        assert!(
            page.contains(&format!("\"{hashed}\"")),
            "the page loads {hashed}"
        );
        let (status, headers, body) = get(&app, &hashed, None).await;
        assert_eq!(status, StatusCode::OK, "{hashed}");
        assert_eq!(header(&headers, header::CONTENT_TYPE), content_type);
        assert_eq!(
            header(&headers, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert!(!body.is_empty());
        let etag = header(&headers, header::ETAG).to_owned();
        // The hash in the name is the ETag.
        assert!(hashed.contains(etag.trim_matches('"')), "{hashed} {etag}");

        let (status, headers, plain) = get(&app, &format!("/assets/{name}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, header::CACHE_CONTROL), "no-cache");
        assert_eq!(plain, body);
        let (status, _, _) =
            get(&app, &format!("/assets/{name}"), Some(&format!("W/{etag}"))).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
    }
    let (status, headers, _) = get(&app, "/assets/app.0000000000000000.js", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(header(&headers, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let (status, _, _) = get(&app, "/assets/../Cargo.toml", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_api_routes_are_unchanged_beside_the_console() {
    let (app, _engine) = app();
    let (status, _, body) = get(&app, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"status\":\"ok\""));
    let (status, _, body) = get(&app, "/v1/calls", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"error\""));
    // Unknown paths still get the API's JSON 404, not the page.
    let (status, headers, _) = get(&app, "/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(header(&headers, header::CONTENT_TYPE).starts_with("application/json"));
    // HEAD of the page works (axum answers it from the GET route).
    let response = app
        .clone()
        .oneshot(Request::head("/").body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
}
