//! The scoring service behind `POST /predict`: one axum Router ([`api::router`]) over a
//! [`service::ScoreService`] generic over the card-state and decision-log ports. On Lambda the
//! router runs through `lambda_http::run`; locally through `fraud serve` or `cargo lambda watch`.

pub mod api;
pub mod app;
pub mod config;
pub mod error;
pub mod model;
pub mod service;

pub use api::router;
pub use service::{Prediction, ScoreService};
