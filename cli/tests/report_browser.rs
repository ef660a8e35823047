//! The monitoring report opened in a real browser: headless Chromium (Debian `chromium`, which
//! scripts/test.sh installs when missing and names in FRAUD_TEST_CHROMIUM) loads report.html from
//! disk with the network off, and the rendered page must hold every plot and log no script error.
#![cfg(feature = "browser-tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    common::repo("tests/fixtures").join(name)
}

fn chromium(args: &[&str], page: &Path) -> (String, String) {
    let browser = std::env::var("FRAUD_TEST_CHROMIUM")
        .expect("FRAUD_TEST_CHROMIUM names the browser (scripts/test.sh installs chromium)");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
        ])
        // No network: a report that needed a CDN would render without its plots.
        .args([
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_report_renders_offline_with_every_plot_and_no_script_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let status = Command::new(env!("CARGO_BIN_EXE_fraud"))
        .args(["report", "--reference"])
        .arg(fixture("golden/model.bin"))
        .arg("--current")
        .arg(fixture("kaggle/kaggle_test_sample.csv"))
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let page = out.join("report.html");

    let (dom, log) = chromium(&["--dump-dom"], &page);
    for plot in [
        "precision-recall curve",
        "ROC curve",
        "precision and recall against threshold",
        "score histogram by class",
        "metrics over time",
    ] {
        assert!(
            dom.contains(&format!("aria-label=\"{plot}\"")),
            "{plot} missing"
        );
    }
    assert_eq!(
        dom.matches("class=\"plot drift\"").count(),
        fraud_core::N_FEATURES
    );
    assert!(dom.contains("<polyline") && dom.contains("<rect"));
    for error in [
        "Uncaught",
        "SyntaxError",
        "ReferenceError",
        "TypeError",
        "CONSOLE",
    ] {
        assert!(!log.contains(error), "browser log has {error}:\n{log}");
    }

    let shot = dir.path().join("report.png");
    chromium(
        &[
            "--window-size=1200,2400",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}
