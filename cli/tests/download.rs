//! scripts/download_data.sh against a stub Kaggle on 127.0.0.1: bad credentials, a truncated
//! archive, wrong contents and missing credentials fail with a clear message and leave nothing
//! behind; a good archive lands both files.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{kaggle_fixture as fixture, repo};

const USER: &str = "alice";
const KEY: &str = "s3cret";

fn script() -> PathBuf {
    repo("scripts/download_data.sh")
}

/// A zip holding the two committed Kaggle samples under Kaggle's file names.
fn archive(dir: &Path) -> Vec<u8> {
    let staging = dir.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::copy(
        fixture("kaggle_train_sample.csv"),
        staging.join("fraudTrain.csv"),
    )
    .unwrap();
    std::fs::copy(
        fixture("kaggle_test_sample.csv"),
        staging.join("fraudTest.csv"),
    )
    .unwrap();
    let zip = dir.join("archive.zip");
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-c"])
        .arg(&zip)
        .arg(staging.join("fraudTrain.csv"))
        .arg(staging.join("fraudTest.csv"))
        .status()
        .expect("python3 makes the test archive");
    assert!(status.success());
    std::fs::read(zip).unwrap()
}

/// Serves `body` to requests with the right basic-auth header and 401 to others, until dropped.
fn stub_kaggle(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/api/v1/datasets/download/kartik2112/fraud-detection",
        listener.local_addr().unwrap()
    );
    // base64("alice:s3cret")
    let expected = "Authorization: Basic YWxpY2U6czNjcmV0";
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut authorised = false;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                authorised |= line.trim_end().eq_ignore_ascii_case(expected);
            }
            let (status, payload): (&str, &[u8]) = if authorised {
                ("200 OK", &body)
            } else {
                ("401 Unauthorized", b"{}")
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(payload));
            let _ = reader.read_to_end(&mut Vec::new());
        }
    });
    url
}

struct Run {
    dest: PathBuf,
    out: Output,
}

fn run(url: &str, home: &Path, env: &[(&str, &str)]) -> Run {
    let dest = home.join("data");
    let mut cmd = Command::new("bash");
    cmd.arg(script())
        .arg(&dest)
        .env("KAGGLE_DATASET_URL", url)
        .env("HOME", home);
    cmd.env_remove("KAGGLE_USERNAME").env_remove("KAGGLE_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run {
        out: cmd.output().unwrap(),
        dest,
    }
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Everything left in the destination, hidden files included.
    fn left(&self) -> Vec<String> {
        std::fs::read_dir(&self.dest)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

const CREDENTIALS: [(&str, &str); 2] = [("KAGGLE_USERNAME", USER), ("KAGGLE_KEY", KEY)];
const SAMPLE_COUNTS: [(&str, &str); 2] = [
    ("FRAUD_EXPECT_TRAIN_ROWS", "422"),
    ("FRAUD_EXPECT_TEST_ROWS", "392"),
];

#[test]
fn a_good_archive_lands_both_checked_files() {
    let home = tempfile::tempdir().unwrap();
    let url = stub_kaggle(archive(home.path()));
    let r = run(
        &url,
        home.path(),
        &[
            CREDENTIALS[0],
            CREDENTIALS[1],
            SAMPLE_COUNTS[0],
            SAMPLE_COUNTS[1],
        ],
    );
    assert!(r.out.status.success(), "{}", r.stderr());
    let mut left = r.left();
    left.sort();
    assert_eq!(left, vec!["fraudTest.csv", "fraudTrain.csv"]);
    assert_eq!(
        std::fs::read(r.dest.join("fraudTrain.csv")).unwrap(),
        std::fs::read(fixture("kaggle_train_sample.csv")).unwrap()
    );
}

#[test]
fn credentials_can_come_from_kaggle_json() {
    let home = tempfile::tempdir().unwrap();
    let url = stub_kaggle(archive(home.path()));
    std::fs::create_dir(home.path().join(".kaggle")).unwrap();
    std::fs::write(
        home.path().join(".kaggle/kaggle.json"),
        format!("{{\"username\":\"{USER}\",\"key\":\"{KEY}\"}}"),
    )
    .unwrap();
    let r = run(&url, home.path(), &SAMPLE_COUNTS);
    assert!(r.out.status.success(), "{}", r.stderr());
}

#[test]
fn missing_credentials_say_how_to_get_them_and_name_the_alternative() {
    let home = tempfile::tempdir().unwrap();
    let r = run("http://127.0.0.1:9/unused", home.path(), &[]);
    assert_eq!(r.out.status.code(), Some(2));
    let err = r.stderr();
    assert!(
        err.contains("kaggle.json")
            && err.contains("KAGGLE_USERNAME")
            && err.contains("fraud generate"),
        "{err}"
    );
    assert!(r.left().is_empty());
}

#[test]
fn bad_credentials_are_named_and_leave_nothing() {
    let home = tempfile::tempdir().unwrap();
    let url = stub_kaggle(archive(home.path()));
    let r = run(
        &url,
        home.path(),
        &[("KAGGLE_USERNAME", USER), ("KAGGLE_KEY", "wrong")],
    );
    assert!(!r.out.status.success());
    assert!(
        r.stderr().contains("rejected the credentials") && r.stderr().contains("401"),
        "{}",
        r.stderr()
    );
    assert!(r.left().is_empty(), "{:?}", r.left());
}

#[test]
fn a_truncated_archive_is_refused_and_leaves_nothing() {
    let home = tempfile::tempdir().unwrap();
    let mut zip = archive(home.path());
    zip.truncate(zip.len() / 2);
    let url = stub_kaggle(zip);
    let r = run(&url, home.path(), &CREDENTIALS);
    assert!(!r.out.status.success());
    assert!(
        r.stderr().contains("corrupt or truncated"),
        "{}",
        r.stderr()
    );
    assert!(r.left().is_empty(), "{:?}", r.left());
}

#[test]
fn wrong_row_counts_are_refused_and_leave_nothing() {
    let home = tempfile::tempdir().unwrap();
    let url = stub_kaggle(archive(home.path()));
    let r = run(&url, home.path(), &CREDENTIALS);
    assert!(!r.out.status.success());
    assert!(
        r.stderr()
            .contains("fraudTrain.csv has 422 rows, expected 1296675"),
        "{}",
        r.stderr()
    );
    assert!(r.left().is_empty(), "{:?}", r.left());
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = run(
        &format!("http://127.0.0.1:{port}/x"),
        home.path(),
        &CREDENTIALS,
    );
    assert!(!r.out.status.success());
    assert!(r.stderr().contains("download failed"), "{}", r.stderr());
    assert!(r.left().is_empty());
}
