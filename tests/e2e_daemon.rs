//! End-to-end: the `switchboard` command line: `check` exit codes and messages, and a clean
//! exit on SIGTERM.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn check(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, config).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run check");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_accepts_the_example_config() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/switchboard.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check", "--config"])
        .arg(&example)
        .output()
        .expect("run check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_names_file_line_and_key() {
    let (code, text) =
        check("[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\ndomain = \"example.com\"\nlissten = 1\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("bad.toml:4"), "{text}");
    assert!(text.contains("lissten"), "{text}");

    let (code, text) = check(
        "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\ndomain = \"example.com\"\n\n[[teams]]\nid = \"t\"\nmembers = []\nstrategy = \"roundrobin\"\n",
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("bad.toml:8"), "{text}");
    assert!(text.contains("teams[0].strategy"), "{text}");

    let (code, text) = check("[media]\nip = \"127.0.0.1\"\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("[sip]"), "{text}");
}

#[test]
fn run_refuses_a_bad_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[sip]\nlisten = [\"udp:nowhere\"]\ndomain = \"x\"\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml:2"));
}

#[test]
fn sigterm_exits_cleanly() {
    let mut daemon = Daemon::start(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\ndomain = \"127.0.0.1\"\n",
    );
    let status = daemon
        .terminate(Duration::from_secs(10))
        .expect("exited within 10 s");
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        daemon.log()
    );
    assert!(
        daemon.log().contains("switchboard stopped"),
        "{}",
        daemon.log()
    );
}

#[test]
fn requests_during_shutdown_get_503() {
    let mut daemon =
        Daemon::start("[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\ndomain = \"127.0.0.1\"\n");
    // An unACKed INVITE failure keeps a transaction busy, so the daemon lingers in its grace
    // period; a new request in that window is refused with 503.
    let mut ua = Ua::udp();
    let invite = ua.request("INVITE", "sip:nobody@127.0.0.1", &[]);
    // No trunk allows this source: 403 (routing checks the source before the number).
    assert_eq!(
        ua.transact(daemon.addr(), &invite).map(|r| status_code(&r)),
        Some(403)
    );
    unsafe {
        libc::kill(daemon.pid(), libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut other = Ua::udp();
    let options = other.request("OPTIONS", "sip:127.0.0.1", &[]);
    let resp = other
        .transact(daemon.addr(), &options)
        .expect("answer while draining");
    assert_eq!(status_code(&resp), 503, "{resp}");
    assert!(header(&resp, "Retry-After").is_some(), "{resp}");
    let status = daemon
        .terminate(Duration::from_secs(10))
        .expect("exits within grace");
    assert!(status.success());
}

#[test]
fn json_logs_on_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let path = dir.path().join("s.toml");
    std::fs::write(
        &path,
        format!("[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\ndomain = \"127.0.0.1\"\n"),
    )
    .expect("write");
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&path)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    std::thread::sleep(Duration::from_millis(500));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&out.stderr);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with('{') && first.contains("\"level\""),
        "{text}"
    );
}

#[test]
fn sighup_reloads_users_and_keeps_serving() {
    let base = "[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\ndomain = \"127.0.0.1\"\n\n\
                [[users]]\nid = \"alice\"\npassword = \"alice-secret\"\n";
    let daemon = Daemon::start(base);
    let mut bob = Ua::udp();
    bob.user = "bob".into();
    let (_, answer) = bob.register(daemon.addr(), "bob-secret");
    assert_eq!(
        status_code(&answer),
        401,
        "bob is not configured yet: {answer}"
    );

    // A broken config is refused on reload: nothing changes, the daemon keeps serving.
    std::fs::write(&daemon.config_path, "[sip]\nlisten = 5\n").expect("write");
    unsafe {
        libc::kill(daemon.pid(), libc::SIGHUP);
    }
    let mut alice = Ua::udp();
    alice.user = "alice".into();
    let mut reloaded = false;
    for _ in 0..50 {
        if daemon.log().contains("reload refused") {
            reloaded = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(reloaded, "{}", daemon.log());
    let (_, answer) = alice.register(daemon.addr(), "alice-secret");
    assert_eq!(status_code(&answer), 200, "alice still registers: {answer}");

    // Adding bob and reloading lets him register, and alice's binding survives the reload.
    let config = base.replace("{port}", &daemon.port.to_string())
        + "\n[[users]]\nid = \"bob\"\npassword = \"bob-secret\"\n";
    std::fs::write(&daemon.config_path, config).expect("write");
    unsafe {
        libc::kill(daemon.pid(), libc::SIGHUP);
    }
    let mut ok = false;
    for _ in 0..50 {
        if daemon.log().contains("config reloaded") {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "{}", daemon.log());
    let mut bob = Ua::udp();
    bob.user = "bob".into();
    let (_, answer) = bob.register(daemon.addr(), "bob-secret");
    assert_eq!(
        status_code(&answer),
        200,
        "bob registers after the reload: {answer}"
    );
    let mut query = Ua::udp();
    query.user = "alice".into();
    let (_, listed) = query.register(daemon.addr(), "alice-secret");
    assert_eq!(
        headers(&listed, "Contact").len(),
        2,
        "alice's first binding survived: {listed}"
    );
}
