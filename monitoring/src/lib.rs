//! fraud-monitoring: how a model does on a scored file once it is deployed. The report (metrics,
//! curves, metrics over time, data drift) as a self-contained HTML page and its JSON, and the
//! drift measures (PSI, KS) against the training statistics saved in the model artifact.
//!
//! Depends only on fraud-core: the CLI's `fraud report` and the eval function both build it.

pub mod drift;
pub mod report;
