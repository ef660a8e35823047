//! fraud-service: the scoring service behind `POST /predict`, one axum Router ([`api::router`])
//! over a [`service::ScoreService`] generic over the card-state and decision-log ports. The score
//! Lambda runs the router through `lambda_http`; `fraud serve` runs the same router on a socket.
//! No Lambda dependency: the CLI uses this crate.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod model;
pub mod policy;
pub mod service;

pub use api::router;
pub use service::{Prediction, ScoreService};
