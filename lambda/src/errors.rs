//! One mapping from a function's typed error to the runtime's `Diagnostic`: the error type
//! starts with `Retryable.` exactly when the error says a retry may succeed, which the Step
//! Functions grid and the S3 retries key on (infra/README.md).

use lambda_runtime::Diagnostic;

/// A function's error: its kind (the Diagnostic's error type, without the retry prefix) and
/// whether trying again may succeed, both read from the typed error.
pub trait FunctionError: std::error::Error {
    fn kind(&self) -> &'static str;
    fn retryable(&self) -> bool;
}

/// The Diagnostic of `error`: `Retryable.<kind>` or `<kind>`, and its message.
pub fn diagnostic(error: &impl FunctionError) -> Diagnostic {
    let kind = error.kind();
    Diagnostic {
        error_type: if error.retryable() {
            format!("Retryable.{kind}")
        } else {
            kind.to_owned()
        },
        error_message: error.to_string(),
    }
}

/// True when a store error may pass: a failure, not a missing object.
pub fn store_retryable(error: &fraud_core::ports::StoreError) -> bool {
    matches!(error, fraud_core::ports::StoreError::Failed { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("bucket unreachable")]
    struct Passing;

    impl FunctionError for Passing {
        fn kind(&self) -> &'static str {
            "Store"
        }
        fn retryable(&self) -> bool {
            true
        }
    }

    #[test]
    fn the_retry_prefix_follows_the_error() {
        let d = diagnostic(&Passing);
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("Retryable.Store", "bucket unreachable")
        );
        assert!(store_retryable(&fraud_core::ports::StoreError::Failed {
            what: "s3://b/k".into(),
            reason: "timeout".into()
        }));
        assert!(!store_retryable(&fraud_core::ports::StoreError::NotFound {
            what: "s3://b/k".into()
        }));
    }
}
