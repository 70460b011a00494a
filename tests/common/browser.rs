//! Headless Chromium under chromedriver, driven over WebDriver (fantoccini), for the console
//! tests that run against the real daemon (tests/e2e_console.rs).
//!
//! Debian's `chromium` and `chromium-driver` packages provide both
//! (`crates/console/tests/browser/install.sh` installs them). Without them a browser test
//! prints why and passes without running, unless `CONSOLE_BROWSER_REQUIRED` is set, then it
//! fails. The same rule as the console crate's own browser tests, whose harness this follows.
//!
//! One test at a time holds the browser lock for its whole run, daemon included: the machine
//! has two cores shared with the build, and an IVR prompt played while another Chromium starts
//! is still a prompt played late. Every wait is bounded ([`WAIT`], [`TEST_BUDGET`]); nothing
//! here measures how fast the page is.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::{Capabilities, WindowHandle};
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{json, Value};

/// The longest any single wait for the page lasts.
pub const WAIT: Duration = Duration::from_secs(15);
/// The longest a whole browser test lasts (daemon, calls and page together).
pub const TEST_BUDGET: Duration = Duration::from_secs(180);

/// One browser test at a time.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CHROMIUM_CANDIDATES: [&str; 3] = [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];
const CHROMEDRIVER_CANDIDATES: [&str; 2] =
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

fn find(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Runs `test` with a fresh browser (own profile directory) while holding the browser lock,
/// then closes the browser whatever happened; a failing test leaves a screenshot of the window
/// it was in. Skips (returns) when Chromium or chromedriver is not installed, unless
/// `CONSOLE_BROWSER_REQUIRED` is set.
pub async fn with_browser<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let (Some(chromium), Some(chromedriver)) = (
        find("CHROMIUM", &CHROMIUM_CANDIDATES),
        find("CHROMEDRIVER", &CHROMEDRIVER_CANDIDATES),
    ) else {
        let message = format!(
            "SKIPPED {name}: Chromium or chromedriver is not installed \
             (apt-get install chromium chromium-driver, or set CHROMIUM / CHROMEDRIVER)"
        );
        if std::env::var_os("CONSOLE_BROWSER_REQUIRED").is_some() {
            panic!("{message}; CONSOLE_BROWSER_REQUIRED is set");
        }
        say(&message);
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let profile = tempfile::tempdir().expect("profile dir");
    let driver = Driver::start(&chromedriver, profile.path()).await;
    let client = driver.session(&chromium, profile.path()).await;
    let outcome = AssertUnwindSafe(tokio::time::timeout(TEST_BUDGET, test(client.clone())))
        .catch_unwind()
        .await;
    if !matches!(outcome, Ok(Ok(()))) {
        // What the page looked like when the test failed.
        let _ = client
            .screenshot()
            .await
            .map(|png| save_png(&png, &format!("{name}-failure")));
    }
    let _ = client.close().await;
    drop(driver);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("{name} did not finish within {TEST_BUDGET:?}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn start(chromedriver: &Path, profile: &Path) -> Driver {
        let port = super::free_port();
        let log = std::fs::File::create(profile.join("chromedriver.log")).expect("driver log");
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { child, port };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let ready = async {
            while tokio::net::TcpStream::connect(addr).await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        if tokio::time::timeout(WAIT, ready).await.is_err() {
            panic!("chromedriver did not listen on {addr} within {WAIT:?}");
        }
        driver
    }

    async fn session(&self, chromium: &Path, profile: &Path) -> Client {
        let user_data = profile.join("chromium");
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-extensions",
                    "--lang=en-GB",
                    "--window-size=1280,860",
                    format!("--user-data-dir={}", user_data.display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut builder = ClientBuilder::new(connector);
        builder.capabilities(capabilities);
        let url = format!("http://127.0.0.1:{}", self.port);
        match tokio::time::timeout(Duration::from_secs(60), builder.connect(&url)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!("no Chromium session: {e}"),
            Err(_) => panic!("no Chromium session within 60 s"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where screenshots go: `$CARGO_TARGET_TMPDIR/e2e-console-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Saves a PNG of the current window and prints its path.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.expect("screenshot");
    save_png(&png, name)
}

fn save_png(png: &[u8], name: &str) -> PathBuf {
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    say(&format!("screenshot: {}", path.display()));
    path
}

/// Writes a line to the real stderr: the test harness captures `println!`/`eprintln!` of
/// passing tests, and skips and screenshot paths are meant to be seen.
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Evaluates `expression` in the page until it is truthy (polling), and returns its value.
/// Fails the test with `what` after [`WAIT`].
pub async fn wait_until(client: &Client, what: &str, expression: &str) -> Value {
    let script = format!("return ({expression});");
    let mut last = Value::Null;
    let poll = async {
        loop {
            match client.execute(&script, vec![]).await {
                Ok(value) if truthy(&value) => return value,
                Ok(value) => last = value,
                Err(e) => last = Value::String(format!("script error: {e}")),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    match tokio::time::timeout(WAIT, poll).await {
        Ok(value) => value,
        Err(_) => panic!("waited {WAIT:?} for {what} ({expression}); last value: {last}"),
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Evaluates `expression` once.
pub async fn eval(client: &Client, expression: &str) -> Value {
    client
        .execute(&format!("return ({expression});"), vec![])
        .await
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
}

/// The trimmed text of the first element matching `css`, waiting for it to exist and be
/// non-empty.
pub async fn text_of(client: &Client, css: &str) -> String {
    let expr = format!(
        "(document.querySelector({css}) || {{}}).textContent?.trim()",
        css = json!(css)
    );
    match wait_until(client, &format!("text of {css}"), &expr).await {
        Value::String(s) => s,
        other => panic!("text of {css}: {other}"),
    }
}

/// Clicks the first element matching `css` once it is there.
pub async fn click(client: &Client, css: &str) {
    wait_until(
        client,
        &format!("{css} to be present"),
        &format!("!!document.querySelector({})", json!(css)),
    )
    .await;
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Types `text` into the field matching `css` (replacing its content).
pub async fn fill(client: &Client, css: &str, text: &str) {
    let field = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"));
    field
        .clear()
        .await
        .unwrap_or_else(|e| panic!("clear {css}: {e}"));
    field
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

/// Records uncaught errors and CSP violations from now on, in `window.__consoleTestErrors`.
pub async fn watch_errors(client: &Client) {
    eval(
        client,
        "(() => { window.__consoleTestErrors = [];
           const push = (m) => window.__consoleTestErrors.push(String(m));
           window.addEventListener('error', (e) => push(e.message));
           window.addEventListener('unhandledrejection', (e) => push(e.reason));
           document.addEventListener('securitypolicyviolation',
             (e) => push(`CSP ${e.violatedDirective} ${e.blockedURI}`));
           return true; })()",
    )
    .await;
}

/// Fails if the page reported errors since [`watch_errors`].
pub async fn assert_no_page_errors(client: &Client) {
    let errors = eval(client, "window.__consoleTestErrors || []").await;
    assert_eq!(errors, json!([]), "the page reported errors");
}

/// Signs in on the page at `url` as `user` with `token`, and waits for the live stream.
pub async fn sign_in(client: &Client, url: &str, user: &str, token: &str) {
    client.goto(url).await.expect("open the console");
    watch_errors(client).await;
    fill(client, "#sign-in-user", user).await;
    fill(client, "#sign-in-token", token).await;
    click(client, "#sign-in-form button[type=submit]").await;
    wait_until(
        client,
        "the event stream to be live",
        "document.getElementById('connection').dataset.state === 'live'",
    )
    .await;
}

/// Waits for a window other than `known` to open, and returns it.
pub async fn new_window(client: &Client, known: &WindowHandle) -> WindowHandle {
    let poll = async {
        loop {
            let windows = client.windows().await.expect("windows");
            if let Some(w) = windows.into_iter().find(|w| w != known) {
                return w;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    match tokio::time::timeout(WAIT, poll).await {
        Ok(window) => window,
        Err(_) => panic!("no second window opened within {WAIT:?}"),
    }
}
