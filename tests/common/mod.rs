//! Shared pieces of the end-to-end tests: start the real daemon on loopback with a config made
//! for the test, run real `sipp` scenarios against it, and a tiny UDP/TCP SIP client for the
//! checks sipp cannot express (SHA-256 digest, malformed bytes, byte-exact comparisons).
//!
//! Every process started here is stopped when its guard drops; every wait is bounded.

#![allow(dead_code)]

pub mod browser;
pub mod http;
pub mod phone;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where the sipp scenarios are, from this crate's manifest dir.
pub fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sipp")
}

/// A port that was free a moment ago on 127.0.0.1 for both UDP and TCP.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(tcp) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = tcp.local_addr() else { continue };
        if UdpSocket::bind(addr).is_ok() {
            return addr.port();
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// The daemon under test. Stopped with SIGTERM (then SIGKILL) when dropped.
pub struct Daemon {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    log_path: PathBuf,
}

impl Daemon {
    /// Writes `config` (with `{port}` replaced by a free port) and starts the daemon on it,
    /// waiting until it answers OPTIONS over UDP.
    pub fn start(config: &str) -> Daemon {
        let port = free_port();
        Self::start_on(config, port)
    }

    pub fn start_on(config: &str, port: u16) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("switchboard.toml");
        let mut text = config.replace("{port}", &port.to_string());
        if !text.contains("\n[api]") {
            // Every daemon serves its HTTP API; tests run several at once, so on a free port.
            text.push_str("\n[api]\nlisten = \"127.0.0.1:0\"\n");
        }
        std::fs::write(&config_path, text).expect("write config");
        let log_path = dir.path().join("daemon.log");
        let child = Self::spawn(&config_path, &log_path);
        let mut daemon = Daemon {
            child: Some(child),
            port,
            dir,
            config_path,
            log_path,
        };
        daemon.wait_ready();
        daemon
    }

    fn spawn(config_path: &Path, log_path: &Path) -> Child {
        let log = std::fs::File::create(log_path).expect("log file");
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["run", "--config"])
            .arg(config_path)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start switchboard")
    }

    /// Stops the daemon (SIGTERM) and starts it again on the same files (config, store,
    /// port); the log starts afresh.
    pub fn restart(&mut self) {
        assert!(
            self.terminate(Duration::from_secs(10)).is_some(),
            "daemon did not stop"
        );
        self.child = Some(Self::spawn(&self.config_path, &self.log_path));
        self.wait_ready();
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("daemon exited early with {status}; log:\n{}", self.log());
                }
            }
            let mut ua = Ua::udp();
            let req = ua.request("OPTIONS", &format!("sip:{}", self.addr()), &[]);
            if ua.send_to(self.addr(), &req).is_ok() {
                if let Some(resp) = ua.recv(Duration::from_millis(200)) {
                    if resp.starts_with("SIP/2.0 200") {
                        return;
                    }
                }
            }
        }
        panic!(
            "daemon did not answer OPTIONS within 20 s; log:\n{}",
            self.log()
        );
    }

    /// The HTTP API's address, from the daemon's log.
    pub fn api_addr(&self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let log = self.log();
            if let Some(addr) = log
                .lines()
                .find(|l| l.contains("HTTP API listening"))
                .and_then(|l| l.split("local=").nth(1))
                .and_then(|a| a.split_whitespace().next())
                .and_then(|a| a.parse().ok())
            {
                return addr;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no API address in the log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.terminate(Duration::from_secs(5));
        }
    }
}

/// Runs one sipp scenario as a client against `target` and returns its output. Bounded by
/// sipp's own `-timeout` and a watchdog.
pub fn sipp(scenario: &str, target: SocketAddr, transport: &str, extra: &[&str]) -> Output {
    sipp_from(free_port(), scenario, target, transport, extra)
}

/// [`sipp`] from a chosen local port: the port is part of the Contact sipp registers, so the
/// same port means the same device.
pub fn sipp_from(
    local_port: u16,
    scenario: &str,
    target: SocketAddr,
    transport: &str,
    extra: &[&str],
) -> Output {
    let local_port = local_port.to_string();
    let mut cmd = Command::new("sipp");
    cmd.arg(target.to_string())
        .arg("-sf")
        .arg(sipp_dir().join(scenario))
        .args([
            "-m",
            "1",
            "-t",
            transport,
            "-i",
            "127.0.0.1",
            "-p",
            &local_port,
        ])
        .args([
            "-timeout",
            "15s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .args(extra)
        .current_dir(tempfile::tempdir().expect("temp dir").keep())
        .stdin(Stdio::null());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sipp (install sip-tester)");
    child.wait_with_output().expect("sipp output")
}

/// Asserts that a sipp run passed, printing its output and the daemon's log when not.
pub fn assert_sipp_ok(out: &Output, daemon: &Daemon, what: &str) {
    if !out.status.success() {
        panic!(
            "sipp {what} failed ({}):\nstdout:\n{}\nstderr:\n{}\ndaemon log (tail):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&daemon.log(), 60)
        );
    }
}

pub fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A minimal SIP user agent over UDP or TCP, for what sipp cannot do.
pub struct Ua {
    udp: Option<UdpSocket>,
    tcp: Option<TcpStream>,
    pub local: SocketAddr,
    cseq: u32,
    pub call_id: String,
    pub from_tag: String,
    /// The user part of From and To (the AOR a REGISTER binds).
    pub user: String,
    tcp_buf: Vec<u8>,
}

impl Ua {
    pub fn udp() -> Ua {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let local = socket.local_addr().expect("local addr");
        Ua {
            udp: Some(socket),
            tcp: None,
            local,
            cseq: 0,
            call_id: format!("{}@test", random_token()),
            from_tag: random_token(),
            user: "test".into(),
            tcp_buf: Vec::new(),
        }
    }

    pub fn tcp(server: SocketAddr) -> Ua {
        let stream = TcpStream::connect_timeout(&server, Duration::from_secs(5)).expect("connect");
        let local = stream.local_addr().expect("local addr");
        Ua {
            udp: None,
            tcp: Some(stream),
            local,
            cseq: 0,
            call_id: format!("{}@test", random_token()),
            from_tag: random_token(),
            user: "test".into(),
            tcp_buf: Vec::new(),
        }
    }

    fn transport(&self) -> &'static str {
        if self.tcp.is_some() {
            "TCP"
        } else {
            "UDP"
        }
    }

    /// Builds a request with the usual headers; `extra` are whole header lines.
    pub fn request(&mut self, method: &str, uri: &str, extra: &[String]) -> String {
        self.request_with_body(method, uri, extra, "")
    }

    pub fn request_with_body(
        &mut self,
        method: &str,
        uri: &str,
        extra: &[String],
        body: &str,
    ) -> String {
        self.cseq += 1;
        let mut s = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/{} {};branch=z9hG4bK{};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:{}@127.0.0.1>;tag={}\r\nTo: <sip:{}@127.0.0.1>\r\nCall-ID: {}\r\nCSeq: {} {method}\r\n",
            self.transport(),
            self.local,
            random_token(),
            self.user,
            self.from_tag,
            self.user,
            self.call_id,
            self.cseq
        );
        for h in extra {
            s.push_str(h);
            s.push_str("\r\n");
        }
        s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        s
    }

    pub fn send_to(&mut self, to: SocketAddr, data: &str) -> std::io::Result<()> {
        self.send_bytes(to, data.as_bytes())
    }

    pub fn send_bytes(&mut self, to: SocketAddr, data: &[u8]) -> std::io::Result<()> {
        if let Some(s) = &self.udp {
            s.send_to(data, to).map(|_| ())
        } else if let Some(s) = &mut self.tcp {
            s.write_all(data)
        } else {
            Ok(())
        }
    }

    /// One message, or None after `wait`.
    pub fn recv(&mut self, wait: Duration) -> Option<String> {
        if let Some(s) = &self.udp {
            s.set_read_timeout(Some(wait)).ok()?;
            let mut buf = vec![0u8; 65_536];
            let (n, _) = s.recv_from(&mut buf).ok()?;
            return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        let deadline = Instant::now() + wait;
        loop {
            if let Some(msg) = take_stream_message(&mut self.tcp_buf) {
                return Some(msg);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let stream = self.tcp.as_mut()?;
            stream.set_read_timeout(Some(deadline - now)).ok()?;
            let mut buf = [0u8; 8192];
            match stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.tcp_buf.extend_from_slice(&buf[..n]),
                Err(_) => return None,
            }
        }
    }

    /// Sends and waits for the first final (non-1xx) response.
    pub fn transact(&mut self, to: SocketAddr, data: &str) -> Option<String> {
        self.send_to(to, data).ok()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let msg = self.recv(Duration::from_secs(5))?;
            if !msg.starts_with("SIP/2.0 1") {
                return Some(msg);
            }
        }
        None
    }
}

fn take_stream_message(buf: &mut Vec<u8>) -> Option<String> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let len = header(&head, "Content-Length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if buf.len() < end + len {
        return None;
    }
    let msg: Vec<u8> = buf.drain(..end + len).collect();
    Some(String::from_utf8_lossy(&msg).into_owned())
}

/// The value of the first header `name` (case-insensitive, full names only) in `msg`.
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    headers(msg, name).into_iter().next()
}

/// Every value of header `name`, one per header line.
pub fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .filter_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .collect()
}

pub fn status_code(msg: &str) -> u16 {
    msg.get(8..11).and_then(|s| s.parse().ok()).unwrap_or(0)
}

pub fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    format!("{:016x}", h.finish())
}

impl Ua {
    /// REGISTERs `self.user` with `password` through the digest challenge, answering the first
    /// offered challenge (SHA-256 by default). Returns the challenge and the final response.
    pub fn register(&mut self, server: SocketAddr, password: &str) -> (String, String) {
        let uri = format!("sip:{server}");
        let contact = format!("Contact: <sip:{}@{}>", self.user, self.local);
        let first = self.request("REGISTER", &uri, std::slice::from_ref(&contact));
        let challenge = self
            .transact(server, &first)
            .expect("an answer to REGISTER");
        let Some(offer) = header(&challenge, "WWW-Authenticate") else {
            return (challenge.clone(), challenge);
        };
        let authorization = registrar::build_authorization(
            offer, &self.user, password, "REGISTER", &uri, 1, "0a4f113b",
        )
        .expect("build Authorization");
        let second = self.request(
            "REGISTER",
            &uri,
            &[contact, format!("Authorization: {authorization}")],
        );
        let answer = self
            .transact(server, &second)
            .expect("an answer to the authenticated REGISTER");
        (challenge, answer)
    }
}

impl Ua {
    /// A UDP UA on a chosen local port (a device whose Contact another process takes over).
    pub fn udp_at(port: u16) -> Ua {
        let socket = UdpSocket::bind(("127.0.0.1", port)).expect("bind");
        let local = socket.local_addr().expect("local addr");
        Ua {
            udp: Some(socket),
            tcp: None,
            local,
            cseq: 0,
            call_id: format!("{}@test", random_token()),
            from_tag: random_token(),
            user: "test".into(),
            tcp_buf: Vec::new(),
        }
    }
}

/// A sipp UAS scenario (an agent's phone) listening on its own port. Killed when dropped.
pub struct SippServer {
    child: Option<Child>,
    pub port: u16,
}

impl SippServer {
    /// Registers `user` with `password` with the contact `127.0.0.1:port`, then starts sipp
    /// with `scenario` (under tests/sipp) on that port, for at most `calls` calls.
    pub fn agent(daemon: &Daemon, user: &str, password: &str, scenario: &str, calls: u32) -> Self {
        let port = free_port();
        {
            let mut ua = Ua::udp_at(port);
            ua.user = user.to_string();
            let (_, answer) = ua.register(daemon.addr(), password);
            assert_eq!(status_code(&answer), 200, "register {user}: {answer}");
        }
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(sipp_dir().join(scenario))
            .args(["-t", "u1", "-i", "127.0.0.1", "-p", &port.to_string()])
            .args([
                "-m",
                &calls.to_string(),
                "-timeout",
                "30s",
                "-timeout_error",
            ])
            .args(["-nostdin", "-trace_err"])
            .current_dir(tempfile::tempdir().expect("temp dir").keep())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sipp");
        // sipp binds its port at start; give it the moment it needs before calls arrive.
        std::thread::sleep(Duration::from_millis(300));
        SippServer {
            child: Some(child),
            port,
        }
    }

    /// Waits (bounded) for sipp to finish its calls; its output, or None if it had to be
    /// killed.
    pub fn wait(mut self, within: Duration) -> Option<Output> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return child.wait_with_output().ok();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for SippServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A response to `req` (a request as text) with the mandatory headers copied (RFC 3261
/// §8.2.6.2) and our To tag.
pub fn reply(req: &str, status: &str, tag: &str, extra: &[String], body: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for v in headers(req, "Via") {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    out.push_str(&format!(
        "From: {}\r\n",
        header(req, "From").unwrap_or_default()
    ));
    let to = header(req, "To").unwrap_or_default();
    match to.contains(";tag=") {
        true => out.push_str(&format!("To: {to}\r\n")),
        false => out.push_str(&format!("To: {to};tag={tag}\r\n")),
    }
    out.push_str(&format!(
        "Call-ID: {}\r\n",
        header(req, "Call-ID").unwrap_or_default()
    ));
    out.push_str(&format!(
        "CSeq: {}\r\n",
        header(req, "CSeq").unwrap_or_default()
    ));
    for h in extra {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}
