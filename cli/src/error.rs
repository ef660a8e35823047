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

    /// The scoring service could not start (model, secret, stores).
    #[error(transparent)]
    Startup(#[from] fraud_service::error::StartupError),

    #[error(transparent)]
    Store(#[from] fraud_core::ports::StoreError),

    #[error(transparent)]
    Simulator(#[from] fraud_sim::SimError),

    #[error(transparent)]
    Tls(#[from] fraud_http::TlsRootsError),

    /// The system refused something the command needs (a runtime, a socket, a task).
    #[error("{what}: {error}")]
    System {
        what: String,
        #[source]
        error: std::io::Error,
    },

    /// The input holds nothing the command can use (an empty file, a field that is not a
    /// number, no challenger to promote yet); the message names the file and line or the place.
    #[error("{0}")]
    Input(String),

    /// A remote service failed every request (`fraud replay`).
    #[error("{0}")]
    Remote(String),

    /// A task of the command stopped (panicked or was cancelled).
    #[error("a request task failed: {0}")]
    Task(#[from] tokio::task::JoinError),

    /// The command line asks for something that cannot be done as asked.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// `what` failed on the system's side.
    pub fn system(what: impl Into<String>, error: impl Into<std::io::Error>) -> Self {
        CliError::System {
            what: what.into(),
            error: error.into(),
        }
    }

    /// The process exit code: 2 for a command line to correct (as clap uses), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

impl CliError {
    /// Writing `path` failed.
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
