//! An experiment tracker in memory: the MLflow logger's handler runs and is checked offline
//! against it, with the same idempotency (runs found again by tag, versions by run) as MLflow.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use fraud_core::ports::{ExperimentTracker, TrackedRun, TrackerError};

/// One run as the tracker holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryRun {
    pub experiment_id: String,
    pub name: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub tags: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
    pub artifacts: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Default)]
struct State {
    experiments: Vec<String>,
    runs: Vec<MemoryRun>,
    /// Per registered model, the run id of each version (version = index + 1).
    versions: BTreeMap<String, Vec<String>>,
    aliases: BTreeMap<(String, String), String>,
}

/// The tracker; `set_down(true)` makes every call fail as an unreachable server does.
#[derive(Debug, Default)]
pub struct MemoryTracker {
    state: Mutex<State>,
    down: AtomicBool,
}

impl MemoryTracker {
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The run `run_id` (ids are `run-1`, `run-2`, ... in creation order).
    pub fn run(&self, run_id: &str) -> Option<MemoryRun> {
        let index = run_index(run_id)?;
        self.lock().runs.get(index).cloned()
    }

    /// How many runs the tracker holds.
    pub fn run_count(&self) -> usize {
        self.lock().runs.len()
    }

    /// The version `alias` of `model` points to.
    pub fn alias(&self, model: &str, alias: &str) -> Option<String> {
        let key = (model.to_owned(), alias.to_owned());
        self.lock().aliases.get(&key).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state, or the error of a server that is down.
    fn reach(&self) -> Result<MutexGuard<'_, State>, TrackerError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(TrackerError::Unavailable {
                tracker: "the in-memory tracker".into(),
                reason: "set down".into(),
            });
        }
        Ok(self.lock())
    }

    fn with_run<T>(
        &self,
        run_id: &str,
        change: impl FnOnce(&mut MemoryRun) -> T,
    ) -> Result<T, TrackerError> {
        let mut state = self.reach()?;
        let run = run_index(run_id)
            .and_then(|i| state.runs.get_mut(i))
            .ok_or_else(|| TrackerError::Refused {
                call: format!("run {run_id}"),
                status: 404,
                body: "RESOURCE_DOES_NOT_EXIST".into(),
            })?;
        Ok(change(run))
    }
}

fn run_index(run_id: &str) -> Option<usize> {
    run_id
        .strip_prefix("run-")?
        .parse::<usize>()
        .ok()?
        .checked_sub(1)
}

impl ExperimentTracker for MemoryTracker {
    async fn experiment(&self, name: &str) -> Result<String, TrackerError> {
        let mut state = self.reach()?;
        let index = match state.experiments.iter().position(|e| e == name) {
            Some(i) => i,
            None => {
                state.experiments.push(name.to_owned());
                state.experiments.len() - 1
            }
        };
        Ok(index.to_string())
    }

    async fn find_run(
        &self,
        experiment_id: &str,
        tag: &str,
        value: &str,
    ) -> Result<Option<TrackedRun>, TrackerError> {
        let state = self.reach()?;
        Ok(state
            .runs
            .iter()
            .enumerate()
            .find(|(_, r)| {
                r.experiment_id == experiment_id
                    && r.tags.get(tag).map(String::as_str) == Some(value)
            })
            .map(|(i, r)| TrackedRun {
                run_id: format!("run-{}", i + 1),
                finished: r.end_ms.is_some(),
            }))
    }

    async fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<String, TrackerError> {
        let mut state = self.reach()?;
        state.runs.push(MemoryRun {
            experiment_id: experiment_id.to_owned(),
            name: name.to_owned(),
            start_ms,
            tags: tags.iter().cloned().collect(),
            ..MemoryRun::default()
        });
        Ok(format!("run-{}", state.runs.len()))
    }

    async fn log_batch(
        &self,
        run_id: &str,
        params: &[(String, String)],
        metrics: &[(String, f64)],
        _timestamp_ms: i64,
    ) -> Result<(), TrackerError> {
        self.with_run(run_id, |run| {
            run.params.extend(params.iter().cloned());
            run.metrics.extend(metrics.iter().cloned());
        })
    }

    async fn upload(
        &self,
        _experiment_id: &str,
        run_id: &str,
        path: &str,
        bytes: Vec<u8>,
    ) -> Result<(), TrackerError> {
        self.with_run(run_id, |run| {
            run.artifacts.insert(path.to_owned(), bytes);
        })
    }

    async fn register(
        &self,
        model: &str,
        _experiment_id: &str,
        run_id: &str,
        _artifact_path: &str,
    ) -> Result<String, TrackerError> {
        let mut state = self.reach()?;
        let versions = state.versions.entry(model.to_owned()).or_default();
        let index = match versions.iter().position(|r| r == run_id) {
            Some(i) => i,
            None => {
                versions.push(run_id.to_owned());
                versions.len() - 1
            }
        };
        Ok((index + 1).to_string())
    }

    async fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<(), TrackerError> {
        let mut state = self.reach()?;
        let key = (model.to_owned(), alias.to_owned());
        state.aliases.insert(key, version.to_owned());
        Ok(())
    }

    async fn finish_run(&self, run_id: &str, end_ms: i64) -> Result<(), TrackerError> {
        self.with_run(run_id, |run| run.end_ms = Some(end_ms))
    }
}
