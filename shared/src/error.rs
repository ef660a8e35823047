//! The one error type of the core crate. Every message names the file (or source), the line or
//! field, and the offending value, so a user can find and fix the input without a debugger.

use crate::model::InvalidModel;
use crate::schema::FieldError;

/// A name that is not one of the choices (a model kind, a threshold rule), with the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (valid: {valid})")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub valid: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{source_name}: {error}")]
    Io {
        source_name: String,
        error: std::io::Error,
    },

    #[error("{source_name}: the file is empty (expected a CSV header line)")]
    EmptyFile { source_name: String },

    #[error("{source_name}, line 1: bad header: {reason}")]
    BadHeader { source_name: String, reason: String },

    /// One row is unusable; in lenient reading this is skipped and counted instead.
    #[error("{source_name}, line {line}: {problem}")]
    BadRow {
        source_name: String,
        line: u64,
        problem: RowProblem,
    },

    #[error("{source_name}: {reason}")]
    BadData { source_name: String, reason: String },

    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: String,
        reason: String,
    },

    #[error("training the {model} model failed: {reason}")]
    Training { model: &'static str, reason: String },

    /// A fitted model came out in a form the scoring layout refuses (see [`InvalidModel`]).
    #[error("training the {model} model failed: {source}")]
    InvalidFit {
        model: &'static str,
        #[source]
        source: InvalidModel,
    },

    #[error("{source_name}: not a fraud model file (magic bytes {found:?}, expected {expected:?})")]
    WrongMagic {
        source_name: String,
        found: String,
        expected: String,
    },

    #[error(
        "{source_name}: model file format version {found} is not supported by this build (it reads version {supported})"
    )]
    UnsupportedFormat {
        source_name: String,
        found: u16,
        supported: u16,
    },

    #[error("{source_name}: model file is truncated ({found} bytes, expected {expected})")]
    TruncatedModel {
        source_name: String,
        found: u64,
        expected: u64,
    },

    #[error(
        "{source_name}: model file is corrupted: SHA-256 checksum mismatch (stored {stored}, computed {computed})"
    )]
    ChecksumMismatch {
        source_name: String,
        stored: String,
        computed: String,
    },

    #[error(
        "{source_name}: model was built for another feature set (model feature hash {model_hash}, this build {build_hash}; {detail})"
    )]
    FeatureSetMismatch {
        source_name: String,
        model_hash: String,
        build_hash: String,
        detail: String,
    },

    #[error("{source_name}: model payload cannot be decoded: {reason}")]
    CorruptModel { source_name: String, reason: String },

    /// The payload decoded, but its trees or coefficients could not be scored safely.
    #[error("{source_name}: model payload cannot be decoded: {source}")]
    InvalidModel {
        source_name: String,
        #[source]
        source: InvalidModel,
    },
}

/// What is wrong with one CSV row.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RowProblem {
    #[error("{0}")]
    Field(#[from] FieldError),
    #[error("expected {expected} fields, found {found} (truncated or malformed row)")]
    FieldCount { expected: usize, found: usize },
    #[error("{0}")]
    Malformed(String),
}

impl RowProblem {
    /// The column at fault, when one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            RowProblem::Field(e) => Some(e.field),
            _ => None,
        }
    }
}

impl CoreError {
    pub fn io(source_name: impl Into<String>, error: std::io::Error) -> Self {
        CoreError::Io {
            source_name: source_name.into(),
            error,
        }
    }

    /// True for a problem confined to one row, which lenient reading may skip.
    pub fn is_row_error(&self) -> bool {
        matches!(self, CoreError::BadRow { .. })
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
