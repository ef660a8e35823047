//! `fraud serve` as a process: it answers /predict, keeps card state and decisions in database
//! files so a restart (or a kill: `tests/kill.rs`) loses nothing (a retried transaction still
//! gets its first answer), and refuses to start on a damaged model, a state file without a
//! stable secret, or another store's file. `fraud replay` against it, and against
//! a flaky stand-in server (5xx, refused rows).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{fraud, ok, repo};

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
        Server::start_with_env(args, &[])
    }

    /// `fraud serve` with `args` and the extra environment `env`.
    fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_fraud"))
            .arg("serve")
            .args(["--port", &port.to_string()])
            .args(args)
            .env("CARD_HASH_SECRET", "serve-test-secret-0123456789")
            .envs(env.iter().copied())
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

    /// The test model, with the decision log inside `dir` (never in the source tree).
    fn fresh(dir: &Path) -> Server {
        let log = dir.join(format!("decisions-{}.db", free_port()));
        Server::start(&["--model", &model(), "--decision-log", log.to_str().unwrap()])
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

/// The decision log at `path` (JSON lines, through `fraud decisions`).
fn decisions(path: &Path) -> Vec<serde_json::Value> {
    ok(&fraud(&["decisions", path.to_str().unwrap()]))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn serves_predict_and_a_restart_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cards.db");
    let log = dir.path().join("decisions.db");
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
    let (status, retried) = http(server.port, "POST", "/predict", &body).unwrap();
    assert_eq!(
        (status, &retried),
        (200, &first),
        "a retry gets the first answer"
    );
    server.stop();
    let logged = decisions(&log);
    assert_eq!(
        logged.len(),
        1,
        "one decision for the transaction and its retry: {logged:?}"
    );

    // After a restart the retried transaction gets the same answer: its card remembers it.
    let server = Server::start(&args);
    let (status, again) = http(server.port, "POST", "/predict", &body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(again, first);
    let (_, model_info) = http(server.port, "GET", "/model", "").unwrap();
    assert!(model_info.contains("\"checksum\""), "{model_info}");
    server.stop();
    assert_eq!(decisions(&log).len(), 1);

    let err = fails_to_start(
        &[
            "--model",
            &model(),
            "--decision-log",
            state.to_str().unwrap(),
        ],
        true,
    );
    assert!(
        err.contains("cards.db") && err.contains("holds card-state"),
        "{err}"
    );
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

#[test]
fn serve_decides_with_the_policy_given_and_refuses_a_bad_one_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    let document = r#"{"schema_version": 1, "version": "serve-test", "thresholds": {"deny": 0.0}}"#;
    std::fs::write(&policy, document).unwrap();
    let log = dir.path().join("decisions.db");
    let server = Server::start(&[
        "--model",
        &model(),
        "--policy",
        policy.to_str().unwrap(),
        "--decision-log",
        log.to_str().unwrap(),
    ]);
    let (status, body) = http(server.port, "GET", "/policy", "").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"version\":\"serve-test\""), "{body}");
    let (status, body) = http(server.port, "POST", "/predict", &first_row()).unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    // Deny at 0: every transaction is declined by the threshold, whatever the model says.
    assert_eq!(
        (
            &answer["outcome"],
            &answer["decision"],
            &answer["rule"],
            &answer["policy_version"]
        ),
        (
            &"deny".into(),
            &"deny".into(),
            &"threshold".into(),
            &"serve-test".into()
        )
    );
    server.stop();

    std::fs::write(&policy, document.replace("0.0}", "0.5, \"review\": 0.7}")).unwrap();
    let err = fails_to_start(
        &["--model", &model(), "--policy", policy.to_str().unwrap()],
        true,
    );
    assert!(
        err.contains("policy.json")
            && err.contains("thresholds.review: 0.7 is not below thresholds.deny (0.5)"),
        "{err}"
    );
    let err = fails_to_start(&["--model", &model(), "--policy", "s3://bucket-only"], true);
    assert!(
        err.contains("--policy s3://bucket-only: expected s3://BUCKET/KEY"),
        "{err}"
    );
}

/// `fraud replay` of `data` to `url` with `workers` and `batch`: the output of a successful run.
fn replay(url: &str, data: &str, out: &Path, workers: &str, batch: &str) -> std::process::Output {
    fraud(&[
        "replay",
        "--data",
        data,
        "--url",
        url,
        "--out",
        out.to_str().unwrap(),
        "--workers",
        workers,
        "--batch-size",
        batch,
    ])
}

fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn replay_gives_the_batch_scorers_answers_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo("tests/fixtures/kaggle/kaggle_test_sample.csv");
    let d = data.to_str().unwrap();
    let eval_dir = dir.path().join("eval");
    ok(&fraud(&[
        "eval",
        "--model",
        &model(),
        "--data",
        d,
        "--out",
        eval_dir.to_str().unwrap(),
    ]));
    let expected = csv_rows(&eval_dir.join("predictions.csv"));

    // One worker, one row per request: the service sees the file in order, as `fraud eval`
    // does, so every probability is the same number.
    let server = Server::fresh(dir.path());
    let url = format!("http://127.0.0.1:{}/predict", server.port);
    let out = dir.path().join("replayed.csv");
    let summary = ok(&replay(&url, d, &out, "1", "1"));
    assert!(
        summary.contains(&format!("{} scored, 0 refused, 0 failed", expected.len())),
        "{summary}"
    );
    assert!(summary.contains("p99"), "{summary}");
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (trans, probability, prediction) = (
        column("trans_num"),
        column("fraud_probability"),
        column("is_fraud_prediction"),
    );
    assert!(
        header.iter().any(|h| h == "is_fraud"),
        "the input columns are kept"
    );
    let replayed: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(replayed.len(), expected.len());
    for (got, want) in replayed.iter().zip(&expected) {
        assert_eq!(
            (&got[trans], &got[probability], &got[prediction]),
            (&want[0], &want[1], &want[2])
        );
    }

    server.stop();

    // Batches, one worker, on a fresh service: still the file's order, the same numbers.
    let server = Server::fresh(dir.path());
    let url = format!("http://127.0.0.1:{}/predict", server.port);
    let batched = dir.path().join("batched.csv");
    let summary = ok(&replay(&url, d, &batched, "1", "25"));
    assert!(summary.contains("0 refused, 0 failed"), "{summary}");
    let batched = csv_rows(&batched);
    assert_eq!(
        batched
            .iter()
            .map(|r| (r[trans].to_owned(), r[probability].to_owned()))
            .collect::<Vec<_>>(),
        replayed
            .iter()
            .map(|r| (r[trans].to_owned(), r[probability].to_owned()))
            .collect::<Vec<_>>()
    );
    server.stop();

    // Several workers: the answers still come back in input order (the card histories then
    // see concurrent arrivals, so the numbers may differ slightly; the rows may not).
    let server = Server::fresh(dir.path());
    let url = format!("http://127.0.0.1:{}/predict", server.port);
    let concurrent = dir.path().join("concurrent.csv");
    ok(&replay(&url, d, &concurrent, "4", "7"));
    assert_eq!(
        csv_rows(&concurrent)
            .iter()
            .map(|r| r[trans].to_owned())
            .collect::<Vec<_>>(),
        replayed
            .iter()
            .map(|r| r[trans].to_owned())
            .collect::<Vec<_>>()
    );
    server.stop();
}

/// Serves `app` on a free port of 127.0.0.1 from a thread of its own; the port.
fn serve_in_background(app: axum::Router) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            })
    });
    port
}

/// A stand-in for a struggling deployment: every third request answers 503, and two rows are
/// refused (422, as the real service does for a bad field), also inside a batch.
fn flaky_server(bad: Vec<String>) -> u16 {
    use axum::Json;
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicU64, Ordering};
    let calls = std::sync::Arc::new(AtomicU64::new(0));
    let bad = std::sync::Arc::new(bad);
    let answer = move |rows: Vec<serde_json::Value>| -> Result<Vec<serde_json::Value>, (StatusCode, Json<serde_json::Value>)> {
        if rows.iter().any(|r| bad.iter().any(|b| r["trans_num"] == b.as_str())) {
            return Err((StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({"error": "amt: -1 is negative", "field": "amt"}))));
        }
        Ok(rows.iter().map(|r| serde_json::json!({"trans_num": r["trans_num"], "prediction": 0, "fraud_probability": 0.25})).collect())
    };
    let flaky = move || calls.fetch_add(1, Ordering::Relaxed) % 3 == 2;
    let (answer2, flaky2) = (answer.clone(), flaky.clone());
    let app = axum::Router::new()
        .route(
            "/predict",
            axum::routing::post(move |Json(row): Json<serde_json::Value>| async move {
                if flaky() {
                    return Err((
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(serde_json::json!({"error": "busy"})),
                    ));
                }
                answer(vec![row]).map(|mut a| Json(a.remove(0)))
            }),
        )
        .route(
            "/predict/batch",
            axum::routing::post(move |Json(rows): Json<Vec<serde_json::Value>>| async move {
                if flaky2() {
                    return Err((
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(serde_json::json!({"error": "busy"})),
                    ));
                }
                answer2(rows).map(|results| Json(serde_json::json!({"results": results})))
            }),
        );
    serve_in_background(app)
}

#[test]
fn replay_retries_5xx_and_lists_refused_rows_without_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo("tests/fixtures/kaggle/kaggle_test_sample.csv");
    let rows = csv_rows(&data);
    let trans = csv::Reader::from_path(&data)
        .unwrap()
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "trans_num")
        .unwrap();
    let bad = vec![rows[3][trans].to_owned(), rows[40][trans].to_owned()];
    let port = flaky_server(bad.clone());
    let url = format!("http://127.0.0.1:{port}/predict");
    for (workers, batch) in [("3", "1"), ("2", "10")] {
        let out = dir.path().join(format!("out-{batch}.csv"));
        let summary = ok(&replay(&url, data.to_str().unwrap(), &out, workers, batch));
        assert!(
            summary.contains(&format!("{} scored, 2 refused, 0 failed", rows.len() - 2)),
            "{summary}"
        );
        assert!(
            !summary.contains(" 0 retries"),
            "every third request failed: {summary}"
        );
        assert_eq!(csv_rows(&out).len(), rows.len() - 2);
        let errors = csv_rows(&dir.path().join(format!("out-{batch}.errors.csv")));
        assert_eq!(errors.len(), 2);
        // File lines: the header is line 1 (CRLF file), row k is line k + 2.
        assert_eq!(
            (&errors[0][0], &errors[0][1], &errors[0][2]),
            ("5", bad[0].as_str(), "422")
        );
        assert_eq!(&errors[1][0], "42");
        assert!(errors[0][3].contains("amt: -1 is negative"));
    }
}

#[test]
fn replay_names_bad_arguments_and_a_dead_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo("tests/fixtures/kaggle/kaggle_test_sample.csv");
    let d = data.to_str().unwrap();
    let out = dir.path().join("p.csv");
    let o = out.to_str().unwrap();
    for (args, named) in [
        (vec!["--batch-size", "0"], "--batch-size 0"),
        (vec!["--batch-size", "1001"], "--batch-size 1001"),
        (vec!["--workers", "0"], "--workers 0"),
    ] {
        let mut all = vec![
            "replay",
            "--data",
            d,
            "--url",
            "http://127.0.0.1:9/predict",
            "--out",
            o,
        ];
        all.extend(args);
        let err = fraud(&all);
        let stderr = String::from_utf8_lossy(&err.stderr);
        assert!(!err.status.success() && stderr.contains(named), "{stderr}");
    }
    let err = fraud(&[
        "replay",
        "--data",
        d,
        "--url",
        "ftp://example.com/predict",
        "--out",
        o,
    ]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("expected http(s)://"));
    // Two rows against a closed port: retried, then reported, and the run fails saying so.
    let two = dir.path().join("two.csv");
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(
        &two,
        text.split("\r\n").take(3).collect::<Vec<_>>().join("\r\n") + "\r\n",
    )
    .unwrap();
    let port = free_port();
    let err = fraud(&[
        "replay",
        "--data",
        two.to_str().unwrap(),
        "--url",
        &format!("http://127.0.0.1:{port}/predict"),
        "--out",
        o,
    ]);
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        !err.status.success() && stderr.contains("no row was scored"),
        "{stderr}"
    );
    let errors = std::fs::read_to_string(dir.path().join("p.errors.csv")).unwrap();
    assert!(errors.contains("5 attempts failed"), "{errors}");
}

#[test]
fn a_host_other_machines_can_reach_needs_an_api_token() {
    let out = fraud(&[
        "serve",
        "--model",
        &model(),
        "--host",
        "0.0.0.0",
        "--port",
        "0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--host 0.0.0.0") && stderr.contains("--api-token-file"),
        "{stderr}"
    );
}

#[test]
fn with_a_token_only_its_holders_are_scored_and_replay_sends_it() {
    let dir = tempfile::tempdir().unwrap();
    let token = "serve-token-0123456789abcdef";
    let log = dir.path().join("decisions.db");
    let server = Server::start_with_env(
        &["--model", &model(), "--decision-log", log.to_str().unwrap()],
        &[("FRAUD_API_TOKEN", token)],
    );
    let (status, body) = http(server.port, "POST", "/predict", &first_row()).unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Authorization"), "{body}");

    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let data = repo("tests/fixtures/kaggle/kaggle_test_sample.csv");
    let out = dir.path().join("replayed.csv");
    let url = format!("http://127.0.0.1:{}/predict", server.port);
    let mut args = vec![
        "replay",
        "--data",
        data.to_str().unwrap(),
        "--url",
        &url,
        "--out",
        out.to_str().unwrap(),
        "--api-token-file",
        token_file.to_str().unwrap(),
    ];
    let summary = ok(&fraud(&args));
    let rows = csv_rows(&data).len();
    assert!(
        summary.contains(&format!("{rows} scored, 0 refused, 0 failed")),
        "{summary}"
    );
    // Without the token every row is refused (401), each named in the errors file.
    args.truncate(args.len() - 2);
    let summary = ok(&fraud(&args));
    assert!(
        summary.contains(&format!("0 scored, {rows} refused")),
        "{summary}"
    );
    server.stop();
}

/// Every row of the Kaggle sample `rounds` times (each round a new trans_num), as
/// (trans_num, card number, body).
fn load_rows(rounds: usize) -> Vec<(String, u64, String)> {
    let path = repo("tests/fixtures/kaggle/kaggle_test_sample.csv");
    let rows: Vec<fraud_core::Transaction> =
        fraud_core::TransactionReader::open(&path, fraud_core::ReadMode::Strict)
            .unwrap()
            .map(|row| row.unwrap())
            .collect();
    (0..rounds)
        .flat_map(|round| {
            rows.iter().map(move |row| {
                let mut row = row.clone();
                row.trans_num = format!("{}-r{round}", row.trans_num);
                let body = serde_json::to_string(&row).unwrap();
                (row.trans_num, row.cc_num, body)
            })
        })
        .collect()
}

/// An answered request: its place in the order answers came back, and the answer.
struct Acknowledged {
    order: usize,
    card: u64,
    body: String,
    answer: String,
}

/// `clients` threads post their share of `rows` one by one until the server stops answering.
fn post_until_killed(
    port: u16,
    rows: &[(String, u64, String)],
    clients: usize,
    answered: &std::sync::atomic::AtomicUsize,
) -> std::collections::HashMap<String, Acknowledged> {
    use std::sync::atomic::Ordering;
    let acknowledged = std::sync::Mutex::new(std::collections::HashMap::new());
    std::thread::scope(|s| {
        for client in 0..clients {
            let acknowledged = &acknowledged;
            s.spawn(move || {
                for (trans_num, card, body) in rows.iter().skip(client).step_by(clients) {
                    let Some((200, answer)) = http(port, "POST", "/predict", body) else {
                        return;
                    };
                    let order = answered.fetch_add(1, Ordering::SeqCst);
                    acknowledged.lock().unwrap().insert(
                        trans_num.clone(),
                        Acknowledged {
                            order,
                            card: *card,
                            body: body.clone(),
                            answer,
                        },
                    );
                }
            });
        }
    });
    acknowledged.into_inner().unwrap()
}

#[test]
fn a_kill_under_load_loses_no_acknowledged_decision_or_card_update() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CLIENTS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let (state, log) = (dir.path().join("cards.db"), dir.path().join("decisions.db"));
    let args = [
        "--model",
        &model(),
        "--state",
        state.to_str().unwrap(),
        "--decision-log",
        log.to_str().unwrap(),
    ];
    let rows = load_rows(3);
    let mut server = Server::start(&args);
    let answered = AtomicUsize::new(0);
    let acknowledged = std::thread::scope(|s| {
        let load = s.spawn(|| post_until_killed(server.port, &rows, CLIENTS, &answered));
        while answered.load(Ordering::SeqCst) < rows.len() / 4 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(server.child.id() as i32, libc::SIGKILL) };
        load.join().unwrap()
    });
    server.child.wait().unwrap();
    assert!(acknowledged.len() < rows.len(), "killed under load");

    // Every acknowledged decision is logged, once; nothing is logged that was not posted.
    let logged = decisions(&log);
    let mut per_card_logged = std::collections::HashMap::<String, usize>::new();
    let mut seen = std::collections::HashSet::new();
    for record in &logged {
        let trans_num = record["trans_num"].as_str().unwrap();
        assert!(
            seen.insert(trans_num.to_owned()),
            "{trans_num} logged twice"
        );
        assert!(
            rows.iter().any(|(t, _, _)| t == trans_num),
            "{trans_num} never posted"
        );
        *per_card_logged
            .entry(record["card"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for trans_num in acknowledged.keys() {
        assert!(
            seen.contains(trans_num),
            "acknowledged {trans_num} missing from the log"
        );
    }

    // Every acknowledged card update is in the state; at most the requests in flight are more.
    let hasher = fraud_core::card_key::CardHasher::new(b"serve-test-secret-0123456789").unwrap();
    let mut per_card_acknowledged = std::collections::HashMap::<u64, usize>::new();
    for ack in acknowledged.values() {
        *per_card_acknowledged.entry(ack.card).or_default() += 1;
    }
    {
        let cards = fraud_embedded::LocalCardStore::open(&state).unwrap();
        for (card, count) in &per_card_acknowledged {
            let key = hasher.key(*card);
            let stored = cards.record(&key).unwrap().unwrap().state.count() as usize;
            let logged = per_card_logged[key.as_str()];
            assert!(
                *count <= logged && logged <= stored && stored <= count + CLIENTS,
                "card {key}: {count} acknowledged, {logged} logged, {stored} in its state"
            );
        }
    }

    // After a restart each card's last acknowledged transaction, retried, gets its first answer
    // back and is not logged again.
    let mut last = std::collections::HashMap::<u64, &Acknowledged>::new();
    for ack in acknowledged.values() {
        let slot = last.entry(ack.card).or_insert(ack);
        if ack.order > slot.order {
            *slot = ack;
        }
    }
    let server = Server::start(&args);
    for ack in last.values() {
        let (status, answer) = http(server.port, "POST", "/predict", &ack.body).unwrap();
        assert_eq!(
            (status, &answer),
            (200, &ack.answer),
            "retried after the kill"
        );
    }
    server.stop();
    assert_eq!(
        decisions(&log).len(),
        logged.len(),
        "retries are not logged again"
    );
}

/// `20261203T154000Z` as a time.
fn amz_date(text: &str) -> std::time::SystemTime {
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    // Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let seconds = days * 86_400 + n(9..11) * 3600 + n(11..13) * 60 + n(13..15);
    std::time::UNIX_EPOCH + Duration::from_secs(seconds as u64)
}

/// `fraud replay --sigv4` with `credentials` (key id, secret) or none, and no AWS files or
/// instance metadata to fall back on.
fn sigv4_replay(
    data: &Path,
    url: &str,
    out: &Path,
    credentials: Option<(&str, &str)>,
    scratch: &Path,
) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fraud"));
    command
        .args(["replay", "--data", data.to_str().unwrap(), "--url", url])
        .args(["--out", out.to_str().unwrap(), "--workers", "2", "--sigv4"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_CONFIG_FILE", scratch.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", scratch.join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if let Some((key_id, secret)) = credentials {
        command
            .env("AWS_ACCESS_KEY_ID", key_id)
            .env("AWS_SECRET_ACCESS_KEY", secret);
    }
    command.output().unwrap()
}

#[test]
fn replay_signs_with_sigv4_and_the_signature_checks_out() {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>;
    let seen: Seen = Default::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/predict",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| async move {
            let row: serde_json::Value = serde_json::from_str(&body).unwrap();
            record.lock().unwrap().push((headers, body));
            axum::Json(serde_json::json!({"trans_num": row["trans_num"], "prediction": 0, "fraud_probability": 0.1}))
        }),
    );
    let port = serve_in_background(app);
    let dir = tempfile::tempdir().unwrap();
    let data = repo("tests/fixtures/kaggle/kaggle_test_sample.csv");
    let url = format!("http://127.0.0.1:{port}/predict");
    let out = dir.path().join("signed.csv");
    let credentials = Some(("AKIDREPLAYTEST", "replay-test-secret-key"));
    let run = sigv4_replay(&data, &url, &out, credentials, dir.path());
    ok(&run);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), csv_rows(&data).len());
    let (headers, body) = &seen[0];
    let authorization = headers["authorization"].to_str().unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDREPLAYTEST/"),
        "{authorization}"
    );
    assert!(
        authorization.contains("/eu-west-1/execute-api/aws4_request"),
        "{authorization}"
    );
    // The same request signed here with the same key and time gives the same signature.
    let time = amz_date(headers["x-amz-date"].to_str().unwrap());
    let credentials = aws_credential_types::Credentials::new(
        "AKIDREPLAYTEST",
        "replay-test-secret-key",
        None,
        None,
        "test",
    );
    let identity = credentials.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name("execute-api")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let content_type = [("content-type", headers["content-type"].to_str().unwrap())];
    let request = SignableRequest::new(
        "POST",
        &url,
        content_type.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, signature) = sign(request, &params).unwrap().into_parts();
    drop(instructions);
    assert!(
        authorization.ends_with(&format!("Signature={signature}")),
        "{authorization} vs {signature}"
    );
    // Without credentials the command says so before sending anything.
    let run = sigv4_replay(&data, &url, &out, None, dir.path());
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("--sigv4: no AWS credentials"), "{stderr}");
    assert_eq!(seen.len(), csv_rows(&data).len(), "nothing more was sent");
}
