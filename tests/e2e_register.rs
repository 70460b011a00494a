//! End-to-end: the registrar behind the real daemon, driven by sipp (MD5 digest, what sipp
//! speaks) and by our small UA where sipp cannot go (SHA-256, RFC 8760).

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A registrar-only config; `{port}` is filled by the harness.
fn config(extra_sip: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:{{port}}", "tcp:127.0.0.1:{{port}}", "udp:[::1]:{{port}}"]
domain = "127.0.0.1"
auth = "digest"
{extra_sip}

[[users]]
id = "alice"
name = "Alice Martin"
password = "alice-secret"

[[users]]
id = "bob"
name = "Bob Durand"
password = "bob-secret"
"#
    )
}

/// sipp only answers MD5 challenges: offer MD5 alone to it.
const MD5_ONLY: &str = r#"digest_algorithms = ["MD5"]"#;

fn users_csv(daemon: &Daemon, user: &str, password: &str) -> PathBuf {
    let path = daemon
        .dir
        .path()
        .join(format!("users-{user}-{password}.csv"));
    std::fs::write(&path, format!("SEQUENTIAL\n{user};{password};\n")).expect("write csv");
    path
}

fn run(
    daemon: &Daemon,
    scenario: &str,
    transport: &str,
    csv: &Path,
    sets: &[(&str, &str)],
) -> std::process::Output {
    run_from(free_port(), daemon, scenario, transport, csv, sets)
}

fn run_from(
    local_port: u16,
    daemon: &Daemon,
    scenario: &str,
    transport: &str,
    csv: &Path,
    sets: &[(&str, &str)],
) -> std::process::Output {
    let mut args: Vec<String> = vec!["-inf".into(), csv.display().to_string()];
    for (k, v) in sets {
        args.push("-set".into());
        args.push(k.to_string());
        args.push(v.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sipp_from(local_port, scenario, daemon.addr(), transport, &args)
}

#[test]
fn register_with_md5_digest_over_udp_and_tcp() {
    let daemon = Daemon::start(&config(MD5_ONLY));
    let csv = users_csv(&daemon, "alice", "alice-secret");
    let out = run(
        &daemon,
        "register_ok.xml",
        "u1",
        &csv,
        &[("expires", "300")],
    );
    assert_sipp_ok(&out, &daemon, "register_ok over UDP");
    let out = run(
        &daemon,
        "register_ok.xml",
        "t1",
        &csv,
        &[("expires", "300"), ("contact_user", "alice-tcp")],
    );
    assert_sipp_ok(&out, &daemon, "register_ok over TCP");
    // Both devices are bound now: a query lists two.
    let out = run(
        &daemon,
        "register_query.xml",
        "u1",
        &csv,
        &[("expected_count", "2")],
    );
    assert_sipp_ok(&out, &daemon, "query after UDP and TCP registrations");
}

#[test]
fn register_with_sha256_digest() {
    let daemon = Daemon::start(&config(r#"digest_algorithms = ["SHA-256", "MD5"]"#));
    let mut ua = Ua::udp();
    ua.user = "alice".into();
    let (challenge, ok) = ua.register(daemon.addr(), "alice-secret");
    assert_eq!(status_code(&challenge), 401, "{challenge}");
    let offered = headers(&challenge, "WWW-Authenticate");
    assert_eq!(offered.len(), 2, "one challenge per algorithm: {challenge}");
    assert!(
        offered[0].contains("algorithm=SHA-256"),
        "SHA-256 first (RFC 8760): {challenge}"
    );
    assert!(offered[1].contains("algorithm=MD5"), "{challenge}");
    assert_eq!(
        status_code(&ok),
        200,
        "{ok}\nlog:\n{}",
        tail(&daemon.log(), 30)
    );
    let bound = headers(&ok, "Contact");
    assert_eq!(bound.len(), 1, "{ok}");
    assert!(
        bound[0].contains(&format!("sip:alice@{}", ua.local)),
        "{ok}"
    );
    assert!(bound[0].contains("expires="), "{ok}");
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_answer() {
    let daemon = Daemon::start(&config(MD5_ONLY));
    let mut seen = Vec::new();
    for (user, password) in [("alice", "not-her-password"), ("mallory", "whatever")] {
        let csv = users_csv(&daemon, user, password);
        let log = daemon.dir.path().join(format!("{user}.log"));
        let log_arg = log.display().to_string();
        let out = sipp(
            "register_wrong_password.xml",
            daemon.addr(),
            "u1",
            &[
                "-inf",
                &csv.display().to_string(),
                "-trace_logs",
                "-log_file",
                &log_arg,
            ],
        );
        assert_sipp_ok(&out, &daemon, &format!("wrong credentials for {user}"));
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        let line = logged
            .lines()
            .find(|l| l.contains("second-challenge"))
            .unwrap_or_default()
            .to_string();
        assert!(
            !line.is_empty(),
            "sipp logged no second challenge for {user}: {logged}"
        );
        seen.push(line);
    }
    assert_eq!(
        seen[0], seen[1],
        "an unknown user must look like a wrong password"
    );
}

#[test]
fn too_brief_expiry_gets_423_with_min_expires() {
    let daemon = Daemon::start(&config(&format!("{MD5_ONLY}\nmin_expires = \"60s\"")));
    let csv = users_csv(&daemon, "alice", "alice-secret");
    let out = run(
        &daemon,
        "register_expires_brief.xml",
        "u1",
        &csv,
        &[("expires", "10"), ("min_expires", "60")],
    );
    assert_sipp_ok(&out, &daemon, "423 Interval Too Brief");
}

#[test]
fn several_devices_up_to_max_contacts_then_unregister() {
    let daemon = Daemon::start(&config(&format!("{MD5_ONLY}\nmax_contacts = 3")));
    let csv = users_csv(&daemon, "bob", "bob-secret");
    // A device is its contact: user part and port.
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    for i in 1..=3 {
        let user = format!("dev{i}");
        let count = i.to_string();
        let sets = [
            ("contact_user", user.as_str()),
            ("expected_count", count.as_str()),
        ];
        let out = run_from(
            ports[i - 1],
            &daemon,
            "register_multi.xml",
            "u1",
            &csv,
            &sets,
        );
        assert_sipp_ok(&out, &daemon, &format!("device {i}"));
    }
    let out = run(
        &daemon,
        "register_over_limit.xml",
        "u1",
        &csv,
        &[("contact_user", "dev4"), ("reject_code", "403")],
    );
    assert_sipp_ok(&out, &daemon, "a fourth device is refused");
    let out = run(
        &daemon,
        "register_query.xml",
        "u1",
        &csv,
        &[("expected_count", "3")],
    );
    assert_sipp_ok(&out, &daemon, "still three bindings");
    let sets = [("contact_user", "dev2"), ("expected_count", "2")];
    let out = run_from(
        ports[1],
        &daemon,
        "register_unregister.xml",
        "u1",
        &csv,
        &sets,
    );
    assert_sipp_ok(&out, &daemon, "Expires: 0 removes one binding");
    let out = run_from(
        ports[0],
        &daemon,
        "register_star.xml",
        "u1",
        &csv,
        &[("contact_user", "dev1")],
    );
    assert_sipp_ok(&out, &daemon, "Contact: * removes all");
    let out = run(
        &daemon,
        "register_query.xml",
        "u1",
        &csv,
        &[("expected_count", "0")],
    );
    assert_sipp_ok(&out, &daemon, "nothing left");
}

#[test]
fn bindings_expire() {
    let daemon = Daemon::start(&config(&format!("{MD5_ONLY}\nmin_expires = \"1s\"")));
    let csv = users_csv(&daemon, "alice", "alice-secret");
    let out = run(
        &daemon,
        "register_expiry.xml",
        "u1",
        &csv,
        &[("expires", "2"), ("expected_count", "0")],
    );
    assert_sipp_ok(&out, &daemon, "binding gone after its expiry");
}

#[test]
fn repeated_failures_from_one_source_are_rate_limited() {
    let daemon = Daemon::start(&config(&format!("{MD5_ONLY}\nauth_failure_limit = 3")));
    let csv = users_csv(&daemon, "alice", "wrong");
    let out = run(
        &daemon,
        "register_rate_limit.xml",
        "u1",
        &csv,
        &[("max_attempts", "10")],
    );
    assert_sipp_ok(&out, &daemon, "403 after repeated failures");
}

#[test]
fn register_over_ipv6() {
    let daemon = Daemon::start(&config(MD5_ONLY));
    let csv = users_csv(&daemon, "alice", "alice-secret");
    let target: std::net::SocketAddr = format!("[::1]:{}", daemon.port).parse().expect("addr");
    let local_port = free_port().to_string();
    let auth_uri = format!("[::1]:{}", daemon.port);
    let out = std::process::Command::new("sipp")
        .arg(target.to_string())
        .arg("-sf")
        .arg(sipp_dir().join("register_ok.xml"))
        .args([
            "-m",
            "1",
            "-t",
            "u1",
            "-i",
            "::1",
            "-p",
            &local_port,
            "-auth_uri",
            &auth_uri,
        ])
        .args(["-timeout", "15s", "-timeout_error", "-nostdin"])
        .arg("-inf")
        .arg(&csv)
        .current_dir(daemon.dir.path())
        .output()
        .expect("sipp");
    assert_sipp_ok(&out, &daemon, "register over IPv6");
}
