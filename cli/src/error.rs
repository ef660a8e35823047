//! The CLI's one error type: core errors pass through (they already name file, line and field);
//! the CLI adds its own file and argument problems.

use std::path::Path;

use fraud_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Core(#[from] CoreError),

    #[error("{path}: {error}")]
    Output { path: String, error: std::io::Error },

    #[error(transparent)]
    Model(#[from] fraud_core::registry::ModelLoadError),

    #[error("{0}")]
    Usage(String),
}

impl CliError {
    pub fn output(path: &Path, error: impl Into<std::io::Error>) -> Self {
        CliError::Output {
            path: path.display().to_string(),
            error: error.into(),
        }
    }
}

impl From<(&Path, csv::Error)> for CliError {
    fn from((path, error): (&Path, csv::Error)) -> Self {
        CliError::output(path, std::io::Error::other(error))
    }
}

pub type CliResult<T> = Result<T, CliError>;
