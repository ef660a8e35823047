//! The batch-evaluation function: a CSV (or `.csv.zst`) landing under `eval/incoming/` is read
//! as a stream and scored with the champion model, per-card features in file order, as
//! `fraud eval` does. It writes, under `eval/results/<name>/`:
//!
//! - `predictions.csv` (`trans_num,fraud_probability,prediction`),
//! - `errors.csv` (`line,field,problem` of the malformed rows skipped; the rest are scored),
//! - `metrics.json` when every row has a label,
//! - `gate.json` when a labelled file also scored a challenger (see [`Gate`]),
//! - `report.html` and `drift.json`: the monitoring report (metrics, curves, metrics over time,
//!   drift of every feature against the model's training statistics),
//! - `result.json` last: the manifest of this evaluation,
//!
//! and a run record `runs/eval-<model version>-<data etag>.json` for the MLflow logger.
//! A redelivered event (same object, same S3 sequencer and ETag) answers the manifest already
//! written and writes nothing; a new upload of the object is evaluated again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fraud_core::card_key::CardHasher;
use fraud_core::ports::{ObjectReader, ObjectStore, StoreError};
use fraud_core::registry::{CHALLENGER_KEY, CHAMPION_KEY, promote, read_pointer};
use fraud_core::registry::{ModelLoadError, check_version, is_pointer_key, load_model};
use fraud_core::run::{RunKind, RunRecord, metric_pairs};
use fraud_core::score::{
    MetricsReport, PredictionsCsv, ScoreSummary, score_stream_models, write_issues_csv,
};
use fraud_core::{Artifact, ReadMode, TransactionReader};
use fraud_lambda::errors::store_retryable;
use fraud_lambda::s3::{EventError, s3_objects};
use fraud_lambda::{FromEnv, FunctionError, Vars, diagnostic};
use fraud_monitoring::report::html::render as report_html;
use fraud_monitoring::report::{Report, ReportCollector, ReportContext};
use fraud_policy::{Backtest, Costs, Policy, load_policy};
use lambda_runtime::Diagnostic;
use serde::{Deserialize, Serialize};

/// Objects under this prefix are evaluated.
pub const INCOMING_PREFIX: &str = "eval/incoming/";
/// Results go under this prefix, one folder per evaluated file.
pub const RESULTS_PREFIX: &str = "eval/results/";

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file cannot be evaluated as it is; retrying will not help.
    #[error("{key}: {reason}")]
    BadInput { key: String, reason: String },
    #[error("{0}")]
    Model(#[from] ModelLoadError),
    /// S3 failed: worth a retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event not understood: {0}")]
    BadEvent(String),
    #[error(transparent)]
    Event(#[from] EventError),
    /// The active policy could not be loaded, or needs a card key the function cannot make.
    #[error(transparent)]
    Policy(#[from] fraud_policy::PolicyError),
    #[error("internal: {0}")]
    Internal(String),
}

impl FunctionError for EvalError {
    fn kind(&self) -> &'static str {
        match self {
            EvalError::BadInput { .. } => "BadInput",
            EvalError::Model(_) => "Model",
            EvalError::Store(_) => "Store",
            EvalError::BadEvent(_) | EvalError::Event(_) => "BadEvent",
            EvalError::Policy(_) => "Policy",
            EvalError::Internal(_) => "Internal",
        }
    }

    fn retryable(&self) -> bool {
        match self {
            EvalError::Store(e) => store_retryable(e),
            EvalError::Model(e) => e.is_transient(),
            EvalError::Internal(_) => true,
            EvalError::Policy(e) => {
                matches!(&e.problem, fraud_policy::Problem::Store(s) if store_retryable(s))
            }
            EvalError::BadInput { .. } | EvalError::BadEvent(_) | EvalError::Event(_) => false,
        }
    }
}

impl EvalError {
    pub fn retryable(&self) -> bool {
        FunctionError::retryable(self)
    }
}

impl From<EvalError> for Diagnostic {
    fn from(e: EvalError) -> Self {
        diagnostic(&e)
    }
}

/// What the eval gate may do with a challenger that scores at least as well as the champion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    /// Compare and report in `gate.json`; promotion stays a person's step.
    Off,
    /// Promote the challenger when its AUC-PR on the file is at least the champion's.
    Promote,
}

/// How evaluations run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The model to score with: a pointer (`models/champion.json`) or an artifact key.
    pub model_key: String,
    pub gate: Gate,
    /// The decision policy backtested on every labelled file (`policies/active.json`); none
    /// when unset.
    pub policy_key: Option<String>,
    /// The card-hash key, for a policy that lists cards (read from Secrets Manager at start).
    pub card_hasher: Option<CardHasher>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_key: CHAMPION_KEY.into(),
            gate: Gate::Off,
            policy_key: None,
            card_hasher: None,
        }
    }
}

/// The function's configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub bucket: String,
    pub settings: Settings,
    /// `CARD_HASH_SECRET_ARN`: read at start into `settings.card_hasher`.
    pub card_hash_secret_arn: Option<String>,
}

/// `FRAUD_BUCKET` (required), `MODEL_KEY` (default `models/champion.json`), `EVAL_GATE`
/// (`off`, the default, or `promote`), `POLICY_KEY` and `CARD_HASH_SECRET_ARN` (optional);
/// every missing or invalid variable is named at once.
impl FromEnv for Config {
    fn read(vars: &mut Vars) -> Option<Self> {
        let bucket = vars.required("FRAUD_BUCKET", "the data and model bucket");
        let gate = vars.choice(
            "EVAL_GATE",
            Gate::Off,
            &[("off", Gate::Off), ("promote", Gate::Promote)],
        );
        let model_key = vars.get("MODEL_KEY").unwrap_or_else(|| CHAMPION_KEY.into());
        let (bucket, gate) = bucket.zip(gate)?;
        Some(Config {
            bucket,
            settings: Settings {
                model_key,
                gate,
                policy_key: vars.get("POLICY_KEY"),
                card_hasher: None,
            },
            card_hash_secret_arn: vars.get("CARD_HASH_SECRET_ARN"),
        })
    }
}

/// Models kept between invocations of a warm Lambda, by artifact key: a pointer is re-read on
/// every event (promotion takes effect at once), the artifact only when it changed.
#[derive(Default)]
pub struct ModelCache {
    models: Mutex<HashMap<String, Arc<Artifact>>>,
}

impl ModelCache {
    /// The model `key` names (pointer or artifact), with its version checked.
    pub async fn get<S: ObjectStore>(
        &self,
        store: &S,
        key: &str,
    ) -> Result<Arc<Artifact>, EvalError> {
        if !is_pointer_key(key) {
            return self.load(store, key, None).await;
        }
        let pointer = read_pointer(store, key)
            .await?
            .ok_or_else(|| ModelLoadError::NoModel {
                location: store.describe(key),
                hint: "no model to evaluate with (promote one with `fraud promote VERSION`)".into(),
            })?;
        self.load(store, &pointer.key, Some((key, &pointer.version)))
            .await
    }

    /// The artifact at `artifact_key`, from the cache when it holds it; `named_by` is the pointer
    /// and the version it names, checked against the file.
    pub async fn load<S: ObjectStore>(
        &self,
        store: &S,
        artifact_key: &str,
        named_by: Option<(&str, &str)>,
    ) -> Result<Arc<Artifact>, EvalError> {
        let cached = self.lock().get(artifact_key).cloned();
        if let Some(artifact) = cached
            && named_by.is_none_or(|(_, v)| v == artifact.model_version)
        {
            return Ok(artifact);
        }
        let loaded = load_model(store, artifact_key).await?;
        if let Some((pointer, version)) = named_by {
            check_version(&loaded, &format!("the pointer {pointer}"), version)?;
        }
        let artifact = Arc::new(loaded.artifact);
        let mut models = self.lock();
        if models.len() >= 4 {
            models.clear();
        }
        models.insert(artifact_key.to_owned(), artifact.clone());
        Ok(artifact)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Artifact>>> {
        self.models.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One request to evaluate an object.
#[derive(Debug, Clone, Deserialize)]
pub struct EvalRequest {
    pub eval_key: String,
    /// Evaluate again even when the manifest says this object was done.
    #[serde(default)]
    pub force: bool,
    /// From the S3 event: tells a redelivery from a new upload of the same key.
    #[serde(skip)]
    pub sequencer: Option<String>,
}

/// The champion against the challenger on one labelled file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    pub champion: String,
    pub challenger: String,
    pub champion_auc_pr: f64,
    pub challenger_auc_pr: f64,
    /// `challenger_auc_pr >= champion_auc_pr`.
    pub passed: bool,
    /// The challenger became champion (gate `promote` and passed).
    pub promoted: bool,
}

/// The manifest of one evaluation (`eval/results/<name>/result.json`) and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluated {
    pub data_key: String,
    pub data_etag: Option<String>,
    /// What identifies this upload of the object (S3 sequencer, else the ETag).
    pub source_id: String,
    pub model_version: String,
    pub rows: u64,
    pub skipped_rows: u64,
    pub predicted_frauds: u64,
    pub auc_pr: Option<f64>,
    /// Fraud dollars caught / fraud dollars (see `metrics.json`); absent from manifests written
    /// before it existed.
    #[serde(default)]
    pub value_detection_rate: Option<f64>,
    /// Features whose distribution moved past the drift thresholds (see `drift.json`).
    pub drifted_features: Vec<String>,
    /// Output objects by role (`predictions`, `errors`, `metrics`, `report`, `drift`, `gate`).
    pub outputs: BTreeMap<String, String>,
    pub run_key: String,
    pub gate: Option<GateOutcome>,
    pub seconds: f64,
    /// True when this answer is the earlier manifest of a redelivered event.
    #[serde(default)]
    pub reused: bool,
}

/// `eval/incoming/2026/day.csv.zst` -> `2026/day`: the results folder under `eval/results/`.
pub fn result_name(key: &str) -> String {
    let name = key.strip_prefix(INCOMING_PREFIX).unwrap_or(key);
    let name = name
        .strip_suffix(".csv.zst")
        .or_else(|| name.strip_suffix(".csv"))
        .unwrap_or(name);
    name.trim_matches('/').to_owned()
}

fn is_eval_object(key: &str) -> bool {
    key.starts_with(INCOMING_PREFIX) && (key.ends_with(".csv") || key.ends_with(".csv.zst"))
}

/// Keeps what can go into an object key from an ETag (S3 quotes it).
fn key_safe(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(40)
        .collect()
}

/// What the scoring pass produced, before anything is written.
struct Scored {
    summaries: Vec<ScoreSummary>,
    predictions: Vec<u8>,
    errors: Vec<u8>,
    report: Report,
}

/// The active policy and what it needs to decide: the card hasher when it lists cards.
struct ActivePolicy {
    policy: Policy,
    hasher: Option<CardHasher>,
}

fn score_file(
    object: ObjectReader,
    source: String,
    models: &[&Artifact],
    policy: Option<&ActivePolicy>,
) -> Result<Scored, fraud_core::CoreError> {
    let mut reader =
        TransactionReader::from_reader(object.reader, source.clone(), ReadMode::Lenient)?
            .without_personal_fields()
            .parallel();
    let mut builders: Vec<_> = models.iter().map(|m| m.feature_builder()).collect();
    let mut predictions = PredictionsCsv::new(Vec::with_capacity(1 << 20), source.clone())?;
    let mut collector = ReportCollector::new();
    let champion = models[0];
    let mut backtest =
        policy.map(|p| Backtest::new(&p.policy, p.hasher.as_ref(), champion.threshold));
    let summaries = score_stream_models(&mut reader, models, &mut builders, &mut |txn, x, d| {
        collector.add(txn, d[0].probability, d[0].fraud, x);
        if let (Some(backtest), Some(label)) = (&mut backtest, txn.is_fraud) {
            backtest.add_transaction(txn, x, d[0].probability, label);
        }
        predictions.write(txn, &d[0])
    })?;
    let context = ReportContext {
        model_version: Some(champion.model_version.clone()),
        threshold: Some(champion.threshold),
        reference: format!("training data of model {}", champion.model_version),
        current: source.clone(),
        generated_at: fraud_core::time::now_rfc3339(),
    };
    // A backtest needs every row's label.
    let backtest = backtest
        .filter(|_| summaries[0].unlabeled_rows == 0)
        .zip(policy)
        .map(|(b, p)| {
            let costs = Costs::for_policy(&p.policy, None, None);
            b.finish(&champion.model_version, &source, &costs)
        });
    Ok(Scored {
        summaries,
        predictions: predictions.finish()?,
        errors: write_issues_csv(reader.issues(), Vec::new(), &source)?,
        report: Report {
            backtest,
            ..collector.finish(context, &champion.reference)
        },
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, EvalError> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|e| EvalError::Internal(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The object being evaluated: where it is, which upload of it, where its results go.
struct Target<'a> {
    key: &'a str,
    /// `eval/results/<name>`.
    folder: String,
    etag: Option<String>,
    /// The S3 sequencer of the event (or the ETag): tells a redelivery from a new upload.
    source_id: String,
    /// The object's location for messages and reports.
    source: String,
}

impl Target<'_> {
    fn bad(&self, reason: String) -> EvalError {
        EvalError::BadInput {
            key: self.key.to_owned(),
            reason,
        }
    }

    fn manifest_key(&self) -> String {
        format!("{}/result.json", self.folder)
    }
}

/// Evaluates one object with the champion (and, on a labelled file, the challenger).
pub async fn evaluate_object<S: ObjectStore>(
    store: &S,
    models: &ModelCache,
    settings: &Settings,
    request: &EvalRequest,
) -> Result<Evaluated, EvalError> {
    let started = Instant::now();
    let key = request.eval_key.as_str();
    let folder = results_folder(key)?;
    let object = store.open(key).await.map_err(|e| match e {
        StoreError::NotFound { what } => EvalError::BadInput {
            key: key.to_owned(),
            reason: format!("{what}: not found"),
        },
        other => EvalError::Store(other),
    })?;
    let etag = object.etag.clone();
    let target = Target {
        key,
        folder,
        source_id: request
            .sequencer
            .clone()
            .or_else(|| etag.clone())
            .unwrap_or_default(),
        etag,
        source: store.describe(key),
    };
    if !request.force
        && let Some(done) = earlier_result(store, &target).await?
    {
        tracing::info!(data = %key, "already evaluated: answering the earlier result");
        return Ok(done);
    }
    let champion = models.get(store, &settings.model_key).await?;
    let challenger = challenger_of(store, models, &champion).await?;
    let policy = active_policy(store, settings).await?;
    let mut scored = score_object(object, &target, &champion, challenger.as_ref(), policy).await?;
    let mut outputs = write_outputs(store, &target, &mut scored, &champion).await?;
    let gate = match challenger.as_deref() {
        Some(challenger) => {
            apply_gate(store, settings, &target, &scored, &champion, challenger).await?
        }
        None => None,
    };
    if let Some((gate_key, _)) = &gate {
        outputs.insert("gate".to_owned(), gate_key.clone());
    }
    let gate = gate.map(|(_, outcome)| outcome);
    let seconds = started.elapsed().as_secs_f64();
    let record = run_record(
        &target,
        settings,
        &champion,
        &scored,
        gate.as_ref(),
        &outputs,
        seconds,
    );
    let run_key = format!("runs/{}.json", record.id);
    store.put(&run_key, to_json(&record)?).await?;
    let manifest_key = target.manifest_key();
    let evaluated = manifest(target, &champion, &scored, outputs, run_key, gate, seconds);
    store.put(&manifest_key, to_json(&evaluated)?).await?;
    tracing::info!(data = %key, rows = evaluated.rows, skipped = evaluated.skipped_rows, auc_pr = ?evaluated.auc_pr, seconds, "evaluated");
    Ok(evaluated)
}

/// `eval/results/<name>` for the object `key`; refused when no safe folder name comes of it.
fn results_folder(key: &str) -> Result<String, EvalError> {
    let name = result_name(key);
    if name.is_empty() || name.split('/').any(|part| part.is_empty() || part == "..") {
        return Err(EvalError::BadInput {
            key: key.to_owned(),
            reason: "no file name to name the results folder after".into(),
        });
    }
    Ok(format!("{RESULTS_PREFIX}{name}"))
}

/// The manifest of an earlier evaluation of this very upload (same key, ETag and source id),
/// marked reused: a redelivered event is answered without writing anything.
async fn earlier_result<S: ObjectStore>(
    store: &S,
    target: &Target<'_>,
) -> Result<Option<Evaluated>, EvalError> {
    let bytes = match store.get(&target.manifest_key()).await {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(serde_json::from_slice::<Evaluated>(&bytes)
        .ok()
        .filter(|done| {
            done.data_key == target.key
                && done.data_etag == target.etag
                && done.source_id == target.source_id
        })
        .map(|done| Evaluated {
            reused: true,
            ..done
        }))
}

/// The challenger to compare with, when there is one other than the champion.
async fn challenger_of<S: ObjectStore>(
    store: &S,
    models: &ModelCache,
    champion: &Artifact,
) -> Result<Option<Arc<Artifact>>, EvalError> {
    match read_pointer(store, CHALLENGER_KEY).await? {
        Some(p) if p.version != champion.model_version => Ok(Some(
            models
                .load(store, &p.key, Some((CHALLENGER_KEY, &p.version)))
                .await?,
        )),
        _ => Ok(None),
    }
}

/// Scores the object on a blocking thread; a read failure is the store's (retryable), a file
/// that cannot be scored is bad input, an empty one too.
async fn score_object(
    object: ObjectReader,
    target: &Target<'_>,
    champion: &Arc<Artifact>,
    challenger: Option<&Arc<Artifact>>,
    policy: Option<ActivePolicy>,
) -> Result<Scored, EvalError> {
    let (champion, challenger) = (champion.clone(), challenger.cloned());
    let source = target.source.clone();
    let scored = tokio::task::spawn_blocking(move || {
        let mut list: Vec<&Artifact> = vec![&champion];
        list.extend(challenger.as_deref());
        score_file(object, source, &list, policy.as_ref())
    })
    .await
    .map_err(|e| EvalError::Internal(e.to_string()))?
    .map_err(|e| match e {
        fraud_core::CoreError::Io { .. } => EvalError::Store(StoreError::Failed {
            what: target.source.clone(),
            reason: e.to_string(),
        }),
        other => target.bad(other.to_string()),
    })?;
    let summary = &scored.summaries[0];
    if summary.rows == 0 {
        return Err(target.bad(format!(
            "no transactions to score ({} malformed rows)",
            summary.skipped_rows
        )));
    }
    Ok(scored)
}

/// The policy `POLICY_KEY` names (re-read on every event, so a newly published policy is
/// backtested at once), with the card hasher when it lists cards.
async fn active_policy<S: ObjectStore>(
    store: &S,
    settings: &Settings,
) -> Result<Option<ActivePolicy>, EvalError> {
    let Some(key) = &settings.policy_key else {
        return Ok(None);
    };
    let policy = load_policy(store, key).await?;
    let hasher = settings.card_hasher.clone();
    if policy.needs_card_key() && hasher.is_none() {
        return Err(EvalError::Policy(fraud_policy::PolicyError::new(
            &store.describe(key),
            fraud_policy::Problem::Field {
                field: "lists".into(),
                reason: format!(
                    "policy {} uses card keys; the eval function needs CARD_HASH_SECRET_ARN to backtest it",
                    policy.version()
                ),
            },
        )));
    }
    Ok(Some(ActivePolicy { policy, hasher }))
}

/// Writes predictions, errors (both moved out of `scored`), metrics (labelled files), the report
/// and drift; the objects written by role.
async fn write_outputs<S: ObjectStore>(
    store: &S,
    target: &Target<'_>,
    scored: &mut Scored,
    champion: &Artifact,
) -> Result<BTreeMap<String, String>, EvalError> {
    let summary = &scored.summaries[0];
    let mut files = vec![
        (
            "predictions",
            "predictions.csv",
            std::mem::take(&mut scored.predictions),
        ),
        // Written even when empty (a header), so an earlier evaluation's errors never linger.
        ("errors", "errors.csv", std::mem::take(&mut scored.errors)),
    ];
    if let (Some(metrics), Some(value)) = (&summary.metrics, &summary.value) {
        let report = MetricsReport {
            metrics: metrics.clone(),
            value: value.clone(),
            model_version: champion.model_version.clone(),
            data: target.source.clone(),
            history: None,
        };
        files.push(("metrics", "metrics.json", to_json(&report)?));
    }
    files.push((
        "report",
        "report.html",
        report_html(&scored.report).into_bytes(),
    ));
    files.push(("drift", "drift.json", to_json(&scored.report.drift)?));
    if let Some(backtest) = &scored.report.backtest {
        files.push(("backtest", "backtest.json", to_json(backtest)?));
    }
    let mut outputs = BTreeMap::new();
    for (role, file, bytes) in files {
        let key = format!("{}/{file}", target.folder);
        store.put(&key, bytes).await?;
        outputs.insert(role.to_owned(), key);
    }
    Ok(outputs)
}

/// On a labelled file, the challenger against the champion by AUC-PR, written to `gate.json`;
/// with the gate set to promote, a challenger at least as good becomes the champion.
async fn apply_gate<S: ObjectStore>(
    store: &S,
    settings: &Settings,
    target: &Target<'_>,
    scored: &Scored,
    champion: &Artifact,
    challenger: &Artifact,
) -> Result<Option<(String, GateOutcome)>, EvalError> {
    let (
        Some(champion_metrics),
        Some(ScoreSummary {
            metrics: Some(m), ..
        }),
    ) = (&scored.summaries[0].metrics, scored.summaries.get(1))
    else {
        return Ok(None);
    };
    let passed = m.auc_pr >= champion_metrics.auc_pr;
    let promoted = passed && settings.gate == Gate::Promote;
    if promoted {
        promote(store, &challenger.model_version).await?;
        tracing::info!(version = %challenger.model_version, auc_pr = m.auc_pr, champion_auc_pr = champion_metrics.auc_pr, "eval gate promoted the challenger");
    }
    let outcome = GateOutcome {
        champion: champion.model_version.clone(),
        challenger: challenger.model_version.clone(),
        champion_auc_pr: champion_metrics.auc_pr,
        challenger_auc_pr: m.auc_pr,
        passed,
        promoted,
    };
    let gate_key = format!("{}/gate.json", target.folder);
    store.put(&gate_key, to_json(&outcome)?).await?;
    Ok(Some((gate_key, outcome)))
}

/// The run record the MLflow logger publishes: the evaluation's metrics and the model's
/// parameters, with the outputs as artifacts.
fn run_record(
    target: &Target<'_>,
    settings: &Settings,
    champion: &Artifact,
    scored: &Scored,
    gate: Option<&GateOutcome>,
    outputs: &BTreeMap<String, String>,
    seconds: f64,
) -> RunRecord {
    let id = format!(
        "eval-{}-{}",
        champion.model_version,
        key_safe(target.etag.as_deref().unwrap_or(&target.source_id))
    );
    let mut params: BTreeMap<String, String> = champion.params.pairs().into_iter().collect();
    params.insert(
        "eval_gate".into(),
        format!("{:?}", settings.gate).to_lowercase(),
    );
    RunRecord {
        id,
        kind: RunKind::Eval,
        model_version: champion.model_version.clone(),
        model_kind: champion.model.kind().as_str().to_owned(),
        created_at: fraud_core::time::now_rfc3339(),
        data_key: target.key.to_owned(),
        data_etag: target.etag.clone(),
        params,
        metrics: run_metrics(scored, gate, seconds),
        artifacts: outputs.clone(),
        threshold: champion.threshold,
    }
}

/// The evaluation's figures as run metrics (`eval_` for the model's, plain for the run's).
fn run_metrics(scored: &Scored, gate: Option<&GateOutcome>, seconds: f64) -> BTreeMap<String, f64> {
    let summary = &scored.summaries[0];
    let mut metrics = summary
        .metrics
        .as_ref()
        .map(|m| metric_pairs("eval_", m))
        .unwrap_or_default();
    for (name, value) in summary.value.iter().flat_map(|v| v.named()) {
        if value.is_finite() {
            metrics.insert(format!("eval_{name}"), value);
        }
    }
    metrics.insert("rows".into(), summary.rows as f64);
    metrics.insert("deny_rate".into(), scored.report.summary.deny_rate);
    metrics.insert(
        "drifted_features".into(),
        scored.report.drift.drifted.len() as f64,
    );
    metrics.insert("skipped_rows".into(), summary.skipped_rows as f64);
    metrics.insert("predicted_frauds".into(), summary.predicted_frauds as f64);
    metrics.insert("seconds".into(), seconds);
    metrics.insert(
        "rows_per_second".into(),
        summary.rows as f64 / seconds.max(1e-9),
    );
    if let Some(g) = gate {
        metrics.insert("challenger_auc_pr".into(), g.challenger_auc_pr);
    }
    metrics
}

/// The manifest `result.json`: written last, so its presence means the evaluation is complete.
fn manifest(
    target: Target<'_>,
    champion: &Artifact,
    scored: &Scored,
    outputs: BTreeMap<String, String>,
    run_key: String,
    gate: Option<GateOutcome>,
    seconds: f64,
) -> Evaluated {
    let summary = &scored.summaries[0];
    Evaluated {
        data_key: target.key.to_owned(),
        data_etag: target.etag,
        source_id: target.source_id,
        model_version: champion.model_version.clone(),
        rows: summary.rows,
        skipped_rows: summary.skipped_rows,
        predicted_frauds: summary.predicted_frauds,
        auc_pr: summary.metrics.as_ref().map(|m| m.auc_pr),
        value_detection_rate: summary.value.as_ref().map(|v| v.value_detection_rate),
        drifted_features: scored.report.drift.drifted.clone(),
        outputs,
        run_key,
        gate,
        seconds,
        reused: false,
    }
}

/// Handles one invocation: every `eval/incoming/*.csv[.zst]` object of an S3 event, or a direct
/// `{"eval_key": ..., "force": false}`.
pub async fn handle<S: ObjectStore>(
    store: &S,
    models: &ModelCache,
    settings: &Settings,
    event: serde_json::Value,
) -> Result<Vec<Evaluated>, EvalError> {
    let requests: Vec<EvalRequest> = match s3_objects(&event, store.bucket())? {
        None => vec![serde_json::from_value(event).map_err(|e| {
            EvalError::BadEvent(format!(
                "neither an S3 notification nor {{\"eval_key\", \"force\"}}: {e}"
            ))
        })?],
        Some(objects) => objects
            .into_iter()
            .filter(|o| is_eval_object(&o.key))
            .map(|o| EvalRequest {
                eval_key: o.key,
                force: false,
                sequencer: o.sequencer,
            })
            .collect(),
    };
    let mut out = Vec::new();
    for request in &requests {
        out.push(evaluate_object(store, models, settings, request).await?);
    }
    Ok(out)
}

/// The CloudWatch EMF line of one evaluation (the template alarms on `DriftedFeatures`).
pub fn evaluation_metrics(e: &Evaluated) -> String {
    use fraud_lambda::emf::{Directive, line, now_ms};
    line(
        now_ms(),
        &[
            ("Service", "eval".into()),
            ("ModelVersion", e.model_version.clone().into()),
            ("DataKey", e.data_key.clone().into()),
            ("Drifted", e.drifted_features.join(",").into()),
        ],
        &[Directive {
            dimensions: &["Service"],
            metrics: &[
                ("Rows", "Count", e.rows as f64),
                ("SkippedRows", "Count", e.skipped_rows as f64),
                (
                    "DenyRate",
                    "None",
                    e.predicted_frauds as f64 / (e.rows.max(1)) as f64,
                ),
                ("AucPr", "None", e.auc_pr.unwrap_or(f64::NAN)),
                (
                    "ValueDetectionRate",
                    "None",
                    e.value_detection_rate.unwrap_or(f64::NAN),
                ),
                ("DriftedFeatures", "Count", e.drifted_features.len() as f64),
                ("Seconds", "Seconds", e.seconds),
            ],
        }],
    )
}
