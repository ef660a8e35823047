//! A small client of MLflow's REST API 2.0 (the calls measured in ../shared/docs/LOCAL-AWS.md),
//! over the hyper + rustls stack the AWS SDK already brings.

use std::time::Duration;

use bytes::Bytes;
use fraud_core::ports::{ExperimentTracker, TrackedRun, TrackerError};
use fraud_http::{HttpsClient, TlsRootsError, https_client};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

/// How long one MLflow call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The tracking server at `base` (`http://127.0.0.1:5000`, `https://mlflow.example.com`).
pub struct Mlflow {
    base: String,
    client: HttpsClient,
}

impl Mlflow {
    pub fn new(base: &str) -> Result<Self, TlsRootsError> {
        Ok(Mlflow {
            base: base.trim_end_matches('/').to_owned(),
            client: https_client(8)?,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), TrackerError> {
        let unavailable = |reason: String| TrackerError::Unavailable {
            tracker: format!("MLflow at {}", self.base),
            reason,
        };
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(Full::new(body))
            .map_err(|e| unavailable(e.to_string()))?;
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| {
                unavailable(format!(
                    "no answer to {path} within {} s",
                    TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| unavailable(format!("{path}: {e}")))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .to_bytes();
        if status.is_server_error() {
            return Err(unavailable(format!(
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        Ok((status, bytes))
    }

    /// A JSON call; `Ok(Err(code))` carries MLflow's `error_code` of a 4xx answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Result<Value, String>, TrackerError> {
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let (status, bytes) = self.send(method, path, "application/json", body).await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(Ok(value));
        }
        match value.get("error_code").and_then(Value::as_str) {
            Some(code) => Ok(Err(code.to_owned())),
            None => Err(refused(path, status.as_u16(), &bytes)),
        }
    }

    /// A JSON call that must succeed.
    async fn ok(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, TrackerError> {
        self.call(method, path, body)
            .await?
            .map_err(|code| refused(path, 400, code.as_bytes()))
    }

    /// An artifact call that must succeed; the answer's bytes.
    async fn expect_success(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Bytes, TrackerError> {
        let (status, bytes) = self
            .send(method, path, "application/octet-stream", body)
            .await?;
        if !status.is_success() {
            return Err(refused(path, status.as_u16(), &bytes));
        }
        Ok(bytes)
    }

    /// Reads an artifact back (tests, checks).
    pub async fn download(
        &self,
        experiment_id: &str,
        run_id: &str,
        path: &str,
    ) -> Result<Vec<u8>, TrackerError> {
        let path = artifact_path(experiment_id, run_id, path);
        let bytes = self
            .expect_success(Method::GET, &path, Bytes::new())
            .await?;
        Ok(bytes.to_vec())
    }

    /// The version an alias points to.
    pub async fn alias(&self, model: &str, alias: &str) -> Result<Option<String>, TrackerError> {
        let path = format!(
            "/api/2.0/mlflow/registered-models/alias?name={}&alias={}",
            encode(model),
            encode(alias)
        );
        Ok(self
            .call(Method::GET, &path, None)
            .await?
            .ok()
            .map(|v| str_at(&v, &["model_version", "version"])))
    }

    /// The ids of the experiment's runs, up to 1,000 (tests, checks).
    pub async fn run_ids(&self, experiment_id: &str) -> Result<Vec<String>, TrackerError> {
        let found = self
            .ok(
                Method::POST,
                "/api/2.0/mlflow/runs/search",
                Some(json!({"experiment_ids": [experiment_id], "max_results": 1000})),
            )
            .await?;
        Ok(found
            .get("runs")
            .and_then(Value::as_array)
            .map(|runs| {
                runs.iter()
                    .map(|r| str_at(r, &["info", "run_id"]))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A run's logged data (tests, checks).
    pub async fn run(&self, run_id: &str) -> Result<Value, TrackerError> {
        self.ok(
            Method::GET,
            &format!("/api/2.0/mlflow/runs/get?run_id={run_id}"),
            None,
        )
        .await
    }
}

impl ExperimentTracker for Mlflow {
    /// A concurrent creation of the experiment is tolerated.
    async fn experiment(&self, name: &str) -> Result<String, TrackerError> {
        let path = format!(
            "/api/2.0/mlflow/experiments/get-by-name?experiment_name={}",
            encode(name)
        );
        for _ in 0..2 {
            if let Ok(found) = self.call(Method::GET, &path, None).await? {
                return Ok(str_at(&found, &["experiment", "experiment_id"]));
            }
            match self
                .call(
                    Method::POST,
                    "/api/2.0/mlflow/experiments/create",
                    Some(json!({"name": name})),
                )
                .await?
            {
                Ok(created) => return Ok(str_at(&created, &["experiment_id"])),
                Err(code) if code == "RESOURCE_ALREADY_EXISTS" => continue,
                Err(code) => return Err(refused("experiments/create", 400, code.as_bytes())),
            }
        }
        Err(refused(
            "experiments/get-by-name",
            400,
            b"experiment vanished",
        ))
    }
    async fn find_run(
        &self,
        experiment_id: &str,
        tag: &str,
        value: &str,
    ) -> Result<Option<TrackedRun>, TrackerError> {
        let found = self
            .ok(
                Method::POST,
                "/api/2.0/mlflow/runs/search",
                Some(json!({"experiment_ids": [experiment_id], "filter": format!("tags.{tag} = '{value}'"), "max_results": 1})),
            )
            .await?;
        Ok(found
            .get("runs")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .map(|run| TrackedRun {
                run_id: str_at(run, &["info", "run_id"]),
                finished: str_at(run, &["info", "status"]) == "FINISHED",
            }))
    }
    async fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<String, TrackerError> {
        let tags: Vec<Value> = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let created = self
            .ok(
                Method::POST,
                "/api/2.0/mlflow/runs/create",
                Some(json!({"experiment_id": experiment_id, "start_time": start_ms, "run_name": name, "tags": tags})),
            )
            .await?;
        Ok(str_at(&created, &["run", "info", "run_id"]))
    }
    async fn log_batch(
        &self,
        run_id: &str,
        params: &[(String, String)],
        metrics: &[(String, f64)],
        timestamp_ms: i64,
    ) -> Result<(), TrackerError> {
        let params: Vec<Value> = params
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let metrics: Vec<Value> = metrics
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v, "timestamp": timestamp_ms, "step": 0}))
            .collect();
        self.ok(
            Method::POST,
            "/api/2.0/mlflow/runs/log-batch",
            Some(json!({"run_id": run_id, "params": params, "metrics": metrics})),
        )
        .await?;
        Ok(())
    }
    /// Through the tracking server's artifact proxy.
    async fn upload(
        &self,
        experiment_id: &str,
        run_id: &str,
        path: &str,
        bytes: Vec<u8>,
    ) -> Result<(), TrackerError> {
        let path = artifact_path(experiment_id, run_id, path);
        self.expect_success(Method::PUT, &path, Bytes::from(bytes))
            .await?;
        Ok(())
    }
    async fn register(
        &self,
        model: &str,
        experiment_id: &str,
        run_id: &str,
        artifact_path: &str,
    ) -> Result<String, TrackerError> {
        let source =
            format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/{artifact_path}");
        match self
            .call(
                Method::POST,
                "/api/2.0/mlflow/registered-models/create",
                Some(json!({"name": model})),
            )
            .await?
        {
            Ok(_) => {}
            Err(code) if code == "RESOURCE_ALREADY_EXISTS" => {}
            Err(code) => return Err(refused("registered-models/create", 400, code.as_bytes())),
        }
        let path = format!(
            "/api/2.0/mlflow/model-versions/search?filter={}",
            encode(&format!("run_id='{run_id}'"))
        );
        let found = self.ok(Method::GET, &path, None).await?;
        if let Some(existing) = found
            .get("model_versions")
            .and_then(Value::as_array)
            .and_then(|v| {
                v.iter()
                    .find(|mv| mv.get("name").and_then(Value::as_str) == Some(model))
            })
        {
            return Ok(str_at(existing, &["version"]));
        }
        let created = self
            .ok(
                Method::POST,
                "/api/2.0/mlflow/model-versions/create",
                Some(json!({"name": model, "source": source, "run_id": run_id})),
            )
            .await?;
        Ok(str_at(&created, &["model_version", "version"]))
    }
    async fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<(), TrackerError> {
        self.ok(
            Method::POST,
            "/api/2.0/mlflow/registered-models/alias",
            Some(json!({"name": model, "alias": alias, "version": version})),
        )
        .await?;
        Ok(())
    }
    async fn finish_run(&self, run_id: &str, end_ms: i64) -> Result<(), TrackerError> {
        self.ok(
            Method::POST,
            "/api/2.0/mlflow/runs/update",
            Some(json!({"run_id": run_id, "status": "FINISHED", "end_time": end_ms})),
        )
        .await?;
        Ok(())
    }
}

/// MLflow refused `call` with `status`.
fn refused(call: &str, status: u16, body: &[u8]) -> TrackerError {
    TrackerError::Refused {
        call: format!("MLflow {call}"),
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    }
}

/// The artifact proxy's path of a run's artifact.
fn artifact_path(experiment_id: &str, run_id: &str, path: &str) -> String {
    format!("/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{path}")
}

fn str_at(value: &Value, path: &[&str]) -> String {
    let mut v = value;
    for key in path {
        v = &v[*key];
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
