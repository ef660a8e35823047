//! `fraud serve` as a process: it answers /predict, saves card state at shutdown so a restart
//! loses nothing (a retried transaction still gets its first answer), and refuses to start on a
//! damaged model or a state file without a stable secret.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request on a fresh connection; (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1)?.to_owned();
    Some((status, body))
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_fraud"))
            .arg("serve")
            .args(["--port", &port.to_string()])
            .args(args)
            .env("CARD_HASH_SECRET", "serve-test-secret-0123456789")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while http(port, "GET", "/health", "").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "fraud serve did not come up"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Server { child, port }
    }

    /// SIGTERM, as a service manager stops it; waits for a clean exit.
    fn stop(mut self) {
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "fraud serve exited with {status}");
    }
}

fn first_row() -> String {
    let path = repo("tests/fixtures/kaggle/kaggle_test_sample.csv");
    let mut reader =
        fraud_core::TransactionReader::open(&path, fraud_core::ReadMode::Strict).unwrap();
    serde_json::to_string(&reader.next().unwrap().unwrap()).unwrap()
}

fn model() -> String {
    repo("tests/fixtures/golden/model.bin")
        .display()
        .to_string()
}

#[test]
fn serves_predict_and_a_restart_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cards.bin");
    let log = dir.path().join("decisions.jsonl");
    let args = [
        "--model",
        &model(),
        "--state",
        state.to_str().unwrap(),
        "--decision-log",
        log.to_str().unwrap(),
    ];
    let body = first_row();

    let server = Server::start(&args);
    let (status, first) = http(server.port, "POST", "/predict", &body).unwrap();
    assert_eq!(status, 200, "{first}");
    let (status, _) = http(server.port, "POST", "/predict", "{broken").unwrap();
    assert_eq!(status, 400);
    server.stop();
    assert!(state.exists(), "state saved at shutdown");
    let decisions = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        decisions.lines().count(),
        1,
        "one accepted decision logged: {decisions}"
    );

    // After a restart the retried transaction gets the same answer: its card remembers it.
    let server = Server::start(&args);
    let (status, again) = http(server.port, "POST", "/predict", &body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(again, first);
    let (_, model_info) = http(server.port, "GET", "/model", "").unwrap();
    assert!(model_info.contains("\"checksum\""), "{model_info}");
    server.stop();
}

fn fails_to_start(args: &[&str], env_secret: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fraud"));
    cmd.arg("serve")
        .args(["--port", &free_port().to_string()])
        .args(args);
    if !env_secret {
        cmd.env_remove("CARD_HASH_SECRET");
    } else {
        cmd.env("CARD_HASH_SECRET", "serve-test-secret-0123456789");
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_damaged_model_or_a_state_without_secret_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(model()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let damaged = dir.path().join("damaged.bin");
    std::fs::write(&damaged, bytes).unwrap();
    let err = fails_to_start(&["--model", damaged.to_str().unwrap()], true);
    assert!(
        err.contains("damaged.bin") && err.contains("checksum"),
        "{err}"
    );

    let err = fails_to_start(
        &["--model", dir.path().join("absent.bin").to_str().unwrap()],
        true,
    );
    assert!(
        err.contains("absent.bin") && err.contains("not found"),
        "{err}"
    );

    let state = dir.path().join("s.bin");
    let err = fails_to_start(
        &["--model", &model(), "--state", state.to_str().unwrap()],
        false,
    );
    assert!(err.contains("CARD_HASH_SECRET"), "{err}");
    let _ = Path::new("");
}
