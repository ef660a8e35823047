//! The model file: a versioned, checksummed envelope around the fitted model and everything
//! needed to use it honestly (features, threshold, validation metrics, reference statistics).
//!
//! Layout (little-endian):
//! `magic "FRAUDMDL" (8) | format version u16 | payload length u64 | payload | SHA-256 (32)`,
//! the checksum covering every byte before it, the payload being [`Artifact`] in bincode 2.0.1
//! (serde, standard configuration). Loading refuses, with a message naming the problem: a wrong
//! magic, an unknown format version, a truncated file, a bad checksum, and a feature set other
//! than this build's.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};
use crate::features::{
    FEATURE_NAMES, FEATURE_SET_VERSION, FeatureBuilder, feature_hash_of, feature_set_hash,
};
use crate::metrics::{Metrics, ThresholdRule, ValueMetrics};
use crate::model::{CardRiskModel, ForestParams, GbdtParams, LogisticParams, Model, ModelKind};
use crate::stats::FeatureStats;

pub const MAGIC: &[u8; 8] = b"FRAUDMDL";
pub const FORMAT_VERSION: u16 = 3;
const HEADER_LEN: usize = 8 + 2 + 8;
const CHECKSUM_LEN: usize = 32;

/// The hyper-parameters the model was fitted with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModelParams {
    Gbdt(GbdtParams),
    Forest(ForestParams),
    Logistic(LogisticParams),
}

impl ModelParams {
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelParams::Gbdt(_) => ModelKind::Gbdt,
            ModelParams::Forest(_) => ModelKind::Forest,
            ModelParams::Logistic(_) => ModelKind::Logistic,
        }
    }

    /// `name=value` pairs for printing and experiment logs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let value = match self {
            ModelParams::Gbdt(p) => serde_json::to_value(p),
            ModelParams::Forest(p) => serde_json::to_value(p),
            ModelParams::Logistic(p) => serde_json::to_value(p),
        }
        .unwrap_or_default();
        value
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
            .unwrap_or_default()
    }
}

/// What the model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// File name of the training data (no directories).
    pub data_source: String,
    pub rows: u64,
    pub frauds: u64,
    pub fit_rows: u64,
    /// Rows the final model was fitted on, after negative downsampling, cold-start rows
    /// included (`train::ColdStarts`).
    pub fit_sample_rows: u64,
    pub validation_rows: u64,
    /// Rows skipped as malformed by a lenient read.
    pub skipped_rows: u64,
    /// `unix_time` range of the fit and validation slices.
    pub first_unix_time: i64,
    pub validation_start_unix_time: i64,
    pub last_unix_time: i64,
}

/// Everything in a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// `<kind>-<first 12 hex digits of the model's SHA-256>`: the same training gives the same id.
    pub model_version: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub feature_set_version: u32,
    pub feature_names: Vec<String>,
    pub feature_hash: String,
    /// A probability at or above this is a fraud decision; chosen on the validation slice.
    pub threshold: f64,
    /// How `threshold` was chosen.
    pub threshold_rule: ThresholdRule,
    /// Metrics of the model on the time-ordered validation slice at `threshold`.
    pub validation: Metrics,
    /// The same slice and threshold in dollars and cards.
    pub validation_value: ValueMetrics,
    /// Per-feature statistics of the validation slice (the latest training rows, at their
    /// true class mix), in feature order: what drift is measured against.
    pub reference: Vec<FeatureStats>,
    pub params: ModelParams,
    /// Hyper-parameters of the first stage.
    pub card_risk_params: GbdtParams,
    pub training: TrainingSummary,
    pub crate_version: String,
    /// The first stage, whose scores the card histories remember (see [`CardRiskModel`]).
    pub card_risk: CardRiskModel,
    pub model: Model,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// The version id of a fitted model: its kind and a hash of its encoded form with its first stage.
pub fn model_version_of(card_risk: &CardRiskModel, model: &Model) -> String {
    let bytes =
        bincode::serde::encode_to_vec((card_risk, model), bincode_config()).unwrap_or_default();
    format!(
        "{}-{}",
        model.kind().as_str(),
        &hex::encode(sha256(&bytes))[..12]
    )
}

impl Artifact {
    /// The artifact as file bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let payload = bincode::serde::encode_to_vec(self, bincode_config()).map_err(|e| {
            CoreError::CorruptModel {
                source_name: "<memory>".into(),
                reason: format!("encoding failed: {e}"),
            }
        })?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len() + CHECKSUM_LEN);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let checksum = sha256(&bytes);
        bytes.extend_from_slice(&checksum);
        Ok(bytes)
    }

    /// SHA-256 (hex) of the file bytes, as reported by `GET /model`.
    pub fn file_checksum(bytes: &[u8]) -> String {
        hex::encode(sha256(bytes))
    }

    /// Parses and checks file bytes; `source_name` (a path or S3 key) names them in errors.
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<Self> {
        let name = || source_name.to_owned();
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] || bytes.is_empty() {
            return Err(CoreError::WrongMagic {
                source_name: name(),
                found: String::from_utf8_lossy(&bytes[..magic_len]).into_owned(),
                expected: String::from_utf8_lossy(MAGIC).into_owned(),
            });
        }
        let truncated = |expected: u64| CoreError::TruncatedModel {
            source_name: name(),
            found: bytes.len() as u64,
            expected,
        };
        if bytes.len() < HEADER_LEN {
            return Err(truncated((HEADER_LEN + CHECKSUM_LEN) as u64));
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(CoreError::UnsupportedFormat {
                source_name: name(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let payload_len = u64::from_le_bytes(bytes[10..18].try_into().expect("8 bytes"));
        let expected = (HEADER_LEN as u64 + CHECKSUM_LEN as u64).saturating_add(payload_len);
        if (bytes.len() as u64) < expected {
            return Err(truncated(expected));
        }
        if (bytes.len() as u64) > expected {
            return Err(CoreError::CorruptModel {
                source_name: name(),
                reason: format!(
                    "{} bytes after the end of the model (length field says {expected} in all)",
                    bytes.len() as u64 - expected
                ),
            });
        }
        let body_end = bytes.len() - CHECKSUM_LEN;
        let (stored, computed) = (&bytes[body_end..], sha256(&bytes[..body_end]));
        if stored != computed {
            return Err(CoreError::ChecksumMismatch {
                source_name: name(),
                stored: hex::encode(stored),
                computed: hex::encode(computed),
            });
        }
        let (artifact, read): (Artifact, usize) =
            bincode::serde::decode_from_slice(&bytes[HEADER_LEN..body_end], bincode_config())
                .map_err(|e| CoreError::CorruptModel {
                    source_name: name(),
                    reason: e.to_string(),
                })?;
        if read != body_end - HEADER_LEN {
            return Err(CoreError::CorruptModel {
                source_name: name(),
                reason: "payload has trailing bytes".into(),
            });
        }
        artifact.check_features(source_name)?;
        artifact
            .card_risk
            .validate()
            .and_then(|()| artifact.model.validate())
            .map_err(|source| CoreError::InvalidModel {
                source_name: name(),
                source,
            })?;
        Ok(artifact)
    }

    fn check_features(&self, source_name: &str) -> Result<()> {
        let build_hash = feature_set_hash();
        let recomputed = feature_hash_of(self.feature_set_version, &self.feature_names);
        if self.feature_hash == build_hash && recomputed == build_hash {
            return Ok(());
        }
        let ours: Vec<String> = FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
        let missing: Vec<&String> = ours
            .iter()
            .filter(|n| !self.feature_names.contains(n))
            .collect();
        let extra: Vec<&String> = self
            .feature_names
            .iter()
            .filter(|n| !ours.contains(n))
            .collect();
        let detail = if self.feature_set_version != FEATURE_SET_VERSION {
            format!(
                "feature set version {} vs {FEATURE_SET_VERSION}",
                self.feature_set_version
            )
        } else if missing.is_empty() && extra.is_empty() {
            "same names in another order".to_owned()
        } else {
            format!("the model lacks {missing:?} and has {extra:?}")
        };
        Err(CoreError::FeatureSetMismatch {
            source_name: source_name.to_owned(),
            model_hash: self.feature_hash.clone(),
            build_hash,
            detail,
        })
    }

    /// Empty card histories that remember this model's first-stage risks: the batch path's
    /// features for this model.
    pub fn feature_builder(&self) -> FeatureBuilder<'_> {
        FeatureBuilder::with_risk(&self.card_risk)
    }

    /// Reads and checks a model file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| CoreError::io(&name, e))?;
        Self::from_bytes(&bytes, &name)
    }

    /// Writes the model file atomically (a temporary file renamed into place).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let name = path.display().to_string();
        let bytes = self.to_bytes()?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| CoreError::io(&name, e))
    }
}
