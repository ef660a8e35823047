//! `fraud replay`: posts every row of a file to a deployed `/predict` (or `/predict/batch`),
//! concurrently, and writes the rows back with the service's answers, in input order: what the
//! original project's `eval.sh` client did, with retries, a progress bar and a summary.
//!
//! - 5xx, timeouts and connection failures are retried with exponential backoff and jitter.
//! - A 4xx is the service refusing the row: it goes to the errors file with the service's
//!   message and the run goes on. A refused batch is retried row by row, so one bad row costs
//!   only itself.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fraud_core::{ReadMode, Transaction, TransactionReader};
use fraud_http::HttpsClient;
use fraud_service::api::MAX_BATCH;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use crate::error::{CliError, CliResult};
use crate::report::{PREDICTION_COLUMN, PROBABILITY_COLUMN};
use crate::sigv4::SigV4;

/// How long one request may take before it counts as failed (and is retried).
const TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per request (the first and four retries).
const ATTEMPTS: u32 = 5;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Transactions to send (.csv or .csv.zst, the Kaggle layout).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The `/predict` URL of the service (`http://127.0.0.1:3000/predict`, the API Gateway URL).
    #[arg(long)]
    pub url: String,
    /// Where to write the input rows plus `is_fraud_prediction` and `fraud_probability`.
    #[arg(long, value_name = "PREDICTIONS.csv")]
    pub out: PathBuf,
    /// Rows per request: 1 posts to `/predict`, more to `/predict/batch` (at most 1,000).
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// File holding the service's API token, sent as `Authorization: Bearer <token>` (a `fraud
    /// serve` reachable beyond loopback needs one); or set FRAUD_API_TOKEN.
    #[arg(long, value_name = "FILE", conflicts_with = "sigv4")]
    pub api_token_file: Option<PathBuf>,
    /// Sign every request with AWS SigV4 (an API deployed with IAM authorization, the
    /// template's default): credentials from the standard chain, the region from the URL or
    /// AWS_REGION.
    #[arg(long)]
    pub sigv4: bool,
}

/// The HTTP client and the credentials every request carries.
struct Sender {
    client: HttpsClient,
    /// `Bearer <token>`, when the service wants one.
    authorization: Option<String>,
    /// Signs each request, when the API wants IAM authorization.
    sigv4: Option<SigV4>,
}

impl Sender {
    fn new(token_file: Option<&Path>, sigv4: Option<SigV4>) -> CliResult<Sender> {
        let token = match (token_file, std::env::var("FRAUD_API_TOKEN")) {
            (Some(path), _) => Some(std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!("--api-token-file {}: {e}", path.display()))
            })?),
            (None, Ok(text)) => Some(text),
            (None, Err(_)) => None,
        };
        Ok(Sender {
            client: fraud_http::https_client(64)?,
            authorization: token.map(|t| format!("Bearer {}", t.trim())),
            sigv4,
        })
    }
}

/// The fields of a `/predict` answer the replay keeps.
#[derive(Debug, Deserialize)]
struct Answer {
    trans_num: String,
    prediction: u8,
    fraud_probability: f64,
}

/// The `/predict/batch` answer: one result per transaction, in order.
#[derive(Debug, Deserialize)]
struct BatchAnswer {
    results: Vec<serde_json::Value>,
}

/// One row to send: its line, the raw CSV fields, the parsed transaction.
struct Row {
    line: u64,
    fields: csv::StringRecord,
    txn: Transaction,
}

/// What came back for one row.
enum Outcome {
    Scored(Answer),
    /// The service refused the row (4xx): status and message.
    Refused(u16, String),
    /// Every attempt failed (5xx, timeout, connection).
    Failed(String),
}

/// What one request saw.
struct Exchange {
    outcomes: Vec<Outcome>,
    /// Latency of each attempt that got an answer.
    latencies: Vec<Duration>,
    retries: u32,
}

/// One POST with retries on 5xx, timeouts and connection failures. `Ok((status, body))` for an
/// answer below 500; `Err` when every attempt failed.
async fn post(
    sender: &Sender,
    url: &str,
    body: Bytes,
    latencies: &mut Vec<Duration>,
    retries: &mut u32,
) -> Result<(u16, Bytes), String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            *retries += 1;
            // 100 ms, 200 ms, 400 ms, 800 ms, each with up to 100 % jitter.
            tokio::time::sleep(fraud_http::backoff(attempt, Duration::from_millis(100))).await;
        }
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header("content-type", "application/json");
        if let Some(authorization) = &sender.authorization {
            request = request.header("authorization", authorization);
        }
        let mut request = request
            .body(Full::new(body.clone()))
            .map_err(|e| format!("{url}: {e}"))?;
        if let Some(signer) = &sender.sigv4 {
            signer.sign(&mut request, &body).await?;
        }
        let started = Instant::now();
        let answer = match tokio::time::timeout(TIMEOUT, sender.client.request(request)).await {
            Err(_) => {
                last = format!("no answer within {} s", TIMEOUT.as_secs());
                continue;
            }
            Ok(Err(e)) => {
                last = format!("{e}");
                continue;
            }
            Ok(Ok(response)) => response,
        };
        let status = answer.status().as_u16();
        let bytes = match answer.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                last = format!("reading the answer: {e}");
                continue;
            }
        };
        latencies.push(started.elapsed());
        if status >= 500 {
            last = format!("{status}: {}", String::from_utf8_lossy(&bytes));
            continue;
        }
        return Ok((status, bytes));
    }
    Err(format!("{ATTEMPTS} attempts failed; last: {last}"))
}

fn refusal(status: u16, body: &Bytes) -> Outcome {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    Outcome::Refused(status, message)
}

fn parse_answer(status: u16, body: &Bytes) -> Outcome {
    match serde_json::from_slice::<Answer>(body) {
        Ok(a) => Outcome::Scored(a),
        Err(e) => Outcome::Failed(format!(
            "{status} answer not understood ({e}): {}",
            String::from_utf8_lossy(body)
        )),
    }
}

/// Sends one batch of rows (one row: `/predict`; more: `/predict/batch`, falling back to one
/// request per row when the service refuses the batch).
async fn exchange(sender: &Sender, url: &str, rows: &[Row]) -> Exchange {
    let mut ex = Exchange {
        outcomes: Vec::with_capacity(rows.len()),
        latencies: Vec::new(),
        retries: 0,
    };
    if rows.len() > 1 {
        let body = serde_json::to_vec(&rows.iter().map(|r| &r.txn).collect::<Vec<_>>())
            .expect("transactions serialize");
        let batch_url = format!("{url}/batch");
        match post(
            sender,
            &batch_url,
            body.into(),
            &mut ex.latencies,
            &mut ex.retries,
        )
        .await
        {
            Ok((200, bytes)) => match serde_json::from_slice::<BatchAnswer>(&bytes) {
                Ok(BatchAnswer { results: answers }) if answers.len() == rows.len() => {
                    ex.outcomes = answers
                        .into_iter()
                        .map(|a| match Answer::deserialize(&a) {
                            Ok(a) => Outcome::Scored(a),
                            Err(e) => Outcome::Failed(format!("answer not understood ({e}): {a}")),
                        })
                        .collect();
                    return ex;
                }
                _ => {
                    let why = format!(
                        "batch answer not understood: {}",
                        String::from_utf8_lossy(&bytes)
                    );
                    ex.outcomes = rows.iter().map(|_| Outcome::Failed(why.clone())).collect();
                    return ex;
                }
            },
            Ok(_) => {} // refused as a whole: find the bad rows one by one below
            Err(why) => {
                ex.outcomes = rows.iter().map(|_| Outcome::Failed(why.clone())).collect();
                return ex;
            }
        }
    }
    for row in rows {
        let body = serde_json::to_vec(&row.txn).expect("a transaction serializes");
        let outcome = match post(sender, url, body.into(), &mut ex.latencies, &mut ex.retries).await
        {
            Ok((200, bytes)) => parse_answer(200, &bytes),
            Ok((status, bytes)) => refusal(status, &bytes),
            Err(why) => Outcome::Failed(why),
        };
        ex.outcomes.push(outcome);
    }
    ex
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn errors_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or("predictions".into(), |n| n.to_string_lossy().into_owned());
    let stem = name.strip_suffix(".csv").unwrap_or(&name);
    out.with_file_name(format!("{stem}.errors.csv"))
}

/// Refuses batch sizes and worker counts the replay cannot honour, before any file is opened.
fn check_sizes(args: &ReplayArgs) -> CliResult<()> {
    if args.batch_size == 0 || args.batch_size > MAX_BATCH {
        return Err(CliError::Usage(format!(
            "--batch-size {}: expected 1 to {MAX_BATCH}",
            args.batch_size
        )));
    }
    if args.workers == 0 || args.workers > 1024 {
        return Err(CliError::Usage(format!(
            "--workers {}: expected 1 to 1024",
            args.workers
        )));
    }
    Ok(())
}

/// The `--url` without its trailing `/`, refused unless it is an http(s) URL with a host: a
/// typo should fail here, not as one failed request per row.
fn predict_url(raw: &str) -> CliResult<String> {
    let url = raw.trim_end_matches('/').to_owned();
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| CliError::Usage(format!("--url {url:?}: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(CliError::Usage(format!(
            "--url {url:?}: expected http(s)://HOST[:PORT]/predict"
        )));
    }
    Ok(url)
}

/// What the replay has seen so far, for the progress bar and the summary.
#[derive(Default)]
struct Tally {
    rows: u64,
    scored: u64,
    refused: u64,
    /// Rows with no usable answer: every attempt failed, or the answer was for another row.
    failed: u64,
    retries: u32,
    /// Latency of each answered attempt.
    latencies: Vec<Duration>,
}

/// The two files a replay writes, in input order: the predictions (input columns plus the
/// answer) and the rows that got no answer, with why.
struct Outputs {
    predictions_path: PathBuf,
    predictions: csv::Writer<BufWriter<File>>,
    /// The input columns copied to the predictions file.
    keep: Vec<usize>,
    errors_path: PathBuf,
    errors: csv::Writer<File>,
    tally: Tally,
}

impl Outputs {
    /// Creates both files and writes their headers (the predictions file first).
    fn create(out: &Path, header: &csv::StringRecord) -> CliResult<Self> {
        let out_file = File::create(out).map_err(|e| CliError::output(out, e))?;
        let mut predictions = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, out_file));
        // A replayed replay file: drop the old answers rather than repeat the columns.
        let keep: Vec<usize> = (0..header.len())
            .filter(|&i| !matches!(&header[i], PREDICTION_COLUMN | PROBABILITY_COLUMN))
            .collect();
        let mut out_header: csv::StringRecord = keep.iter().map(|&i| &header[i]).collect();
        out_header.push_field(PREDICTION_COLUMN);
        out_header.push_field(PROBABILITY_COLUMN);
        predictions
            .write_record(&out_header)
            .map_err(|e| CliError::from((out, e)))?;
        let errors_path = errors_path(out);
        let mut errors = csv::Writer::from_path(&errors_path)
            .map_err(|e| CliError::from((errors_path.as_path(), e)))?;
        errors
            .write_record(["line", "trans_num", "status", "error"])
            .map_err(|e| CliError::from((errors_path.as_path(), e)))?;
        Ok(Outputs {
            predictions_path: out.to_owned(),
            predictions,
            keep,
            errors_path,
            errors,
            tally: Tally::default(),
        })
    }

    /// Writes one finished batch, row by row, and counts what it saw.
    fn write_batch(&mut self, batch: &[Row], ex: Exchange) -> CliResult<()> {
        self.tally.retries += ex.retries;
        self.tally.latencies.extend(ex.latencies);
        for (row, outcome) in batch.iter().zip(ex.outcomes) {
            self.write_row(row, outcome)?;
        }
        Ok(())
    }

    /// A scored row goes to the predictions; any other outcome to the errors file.
    fn write_row(&mut self, row: &Row, outcome: Outcome) -> CliResult<()> {
        self.tally.rows += 1;
        let (status, message) = match outcome {
            Outcome::Scored(a) if a.trans_num == row.txn.trans_num => {
                self.write_prediction(row, &a)?;
                self.tally.scored += 1;
                return Ok(());
            }
            Outcome::Scored(a) => (
                String::new(),
                format!("the answer is for trans_num {}", a.trans_num),
            ),
            Outcome::Refused(status, message) => {
                self.tally.refused += 1;
                (status.to_string(), message)
            }
            Outcome::Failed(why) => (String::new(), why),
        };
        if status.is_empty() {
            self.tally.failed += 1;
        }
        self.errors
            .write_record([
                row.line.to_string().as_str(),
                row.txn.trans_num.as_str(),
                &status,
                &message,
            ])
            .map_err(|e| CliError::from((self.errors_path.as_path(), e)))
    }

    /// The row's kept input fields followed by the service's answer.
    fn write_prediction(&mut self, row: &Row, answer: &Answer) -> CliResult<()> {
        let mut record: csv::StringRecord = self.keep.iter().map(|&i| &row.fields[i]).collect();
        record.push_field(&answer.prediction.to_string());
        record.push_field(&answer.fraud_probability.to_string());
        self.predictions
            .write_record(&record)
            .map_err(|e| CliError::from((self.predictions_path.as_path(), e)))
    }

    /// Flushes both files (the predictions first) and hands back the counts.
    fn finish(mut self) -> CliResult<(Tally, PathBuf)> {
        self.predictions
            .flush()
            .map_err(|e| CliError::output(&self.predictions_path, e))?;
        self.errors
            .flush()
            .map_err(|e| CliError::output(&self.errors_path, e))?;
        Ok((self.tally, self.errors_path))
    }
}

/// The next `size` rows of the file (fewer at its end, none after it); `exhausted` turns true
/// once the reader has no more rows.
fn next_batch(
    reader: &mut TransactionReader,
    size: usize,
    exhausted: &mut bool,
) -> CliResult<Vec<Row>> {
    let mut batch = Vec::with_capacity(size);
    while batch.len() < size {
        match reader.next() {
            Some(txn) => batch.push(Row {
                txn: txn?,
                line: reader.current_line(),
                fields: reader.current_record().clone(),
            }),
            None => {
                *exhausted = true;
                break;
            }
        }
    }
    Ok(batch)
}

/// Sends every row of `reader` with `args.workers` requests in flight and writes the answers in
/// input order as they come back.
async fn send_all(
    args: &ReplayArgs,
    url: &str,
    sender: Arc<Sender>,
    reader: &mut TransactionReader,
    outputs: &mut Outputs,
    bar: &ProgressBar,
) -> CliResult<()> {
    let mut in_flight = tokio::task::JoinSet::new();
    let mut next_seq = 0u64;
    let mut done: BTreeMap<u64, (Vec<Row>, Exchange)> = BTreeMap::new();
    let mut write_seq = 0u64;
    let mut exhausted = false;
    loop {
        // Keep `workers` requests in flight while rows remain.
        // Finished batches wait in `done` for the ones before them; cap both together so a
        // slow early request cannot make memory grow with the file.
        while !exhausted && in_flight.len() < args.workers && done.len() < args.workers * 4 {
            let batch = next_batch(reader, args.batch_size, &mut exhausted)?;
            if batch.is_empty() {
                break;
            }
            let (sender, url, seq) = (sender.clone(), url.to_owned(), next_seq);
            next_seq += 1;
            in_flight.spawn(async move {
                let ex = exchange(&sender, &url, &batch).await;
                (seq, batch, ex)
            });
        }
        let Some(joined) = in_flight.join_next().await else {
            break;
        };
        let (seq, batch, ex) = joined?;
        done.insert(seq, (batch, ex));
        // Write every finished batch that is next in input order.
        while let Some((batch, ex)) = done.remove(&write_seq) {
            write_seq += 1;
            outputs.write_batch(&batch, ex)?;
            bar.set_position(outputs.tally.rows);
        }
    }
    Ok(())
}

/// A spinner counting the rows sent, with their rate.
fn rows_spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} rows sent ({per_sec}) {msg} [{elapsed}]")
            .expect("valid template"),
    );
    bar
}

impl Tally {
    /// The summary lines: counts and rate, client-side latency, and where the files are.
    fn print_summary(&mut self, args: &ReplayArgs, url: &str, seconds: f64, errors_path: &Path) {
        let Tally {
            rows,
            scored,
            refused,
            failed,
            retries,
            ..
        } = *self;
        self.latencies.sort_unstable();
        println!(
            "{rows} rows sent to {url} in {seconds:.1} s ({:.0} rows/s, {} per request, {} workers): {scored} scored, {refused} refused, {failed} failed after {ATTEMPTS} attempts; {retries} retries",
            rows as f64 / seconds.max(1e-9),
            args.batch_size,
            args.workers
        );
        println!(
            "latency seen by the client: p50 {:.2} ms, p99 {:.2} ms over {} requests",
            percentile(&self.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&self.latencies, 0.99).as_secs_f64() * 1e3,
            self.latencies.len()
        );
        println!("predictions: {}", args.out.display());
        if refused + failed > 0 {
            println!("errors: {}", errors_path.display());
        }
    }

    /// A replay that sent nothing, or got not one row scored because every request failed,
    /// fails as a command; refused rows alone do not.
    fn verdict(&self, data: &Path, url: &str, errors_path: &Path) -> CliResult<()> {
        if self.rows == 0 {
            return Err(CliError::Input(format!(
                "{}: no transactions to send",
                data.display()
            )));
        }
        if self.failed > 0 && self.scored == 0 {
            return Err(CliError::Remote(format!(
                "{url}: no row was scored; see {}",
                errors_path.display()
            )));
        }
        Ok(())
    }
}

pub fn run(args: &ReplayArgs) -> CliResult<()> {
    check_sizes(args)?;
    let url = predict_url(&args.url)?;
    let mut reader = TransactionReader::open(&args.data, ReadMode::Strict)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::system("cannot start the async runtime", e))?;
    let sigv4 = match args.sigv4 {
        true => Some(runtime.block_on(SigV4::for_url(&url))?),
        false => None,
    };
    let sender = Arc::new(Sender::new(args.api_token_file.as_deref(), sigv4)?);
    let mut outputs = Outputs::create(&args.out, reader.header())?;
    let bar = rows_spinner();
    let started = Instant::now();
    let result = runtime.block_on(send_all(
        args,
        &url,
        sender,
        &mut reader,
        &mut outputs,
        &bar,
    ));
    bar.finish_and_clear();
    result?;
    let (mut tally, errors_path) = outputs.finish()?;
    tally.print_summary(args, &url, started.elapsed().as_secs_f64(), &errors_path);
    tally.verdict(&args.data, &url, &errors_path)
}
