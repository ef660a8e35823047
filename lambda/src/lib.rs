//! fraud-lambda: what the Lambda functions share and nothing else uses: typed S3 notifications
//! ([`s3`]), the one error-to-`Diagnostic` mapping ([`errors`]), settings from the environment
//! ([`settings`]), the logging set-up and CloudWatch EMF metric lines ([`emf`]). The `fraud`
//! CLI never depends on this crate.

pub mod emf;
pub mod errors;
pub mod s3;
pub mod settings;

pub use errors::{FunctionError, diagnostic};
pub use settings::{FromEnv, SettingsError, Vars};

/// JSON log lines on stdout (CloudWatch Logs on Lambda), level from `RUST_LOG` (default info):
/// the one logging set-up of every function.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .init();
}
