//! credrisk: synthetic Chilean credit applicants, a hand-written random forest, exact TreeSHAP
//! explanations, MLflow tracking and an HTTP service, in one library behind one binary.
//!
//! Data flows one way: schema → data → features → forest → shap → explain → serve; `tracking`
//! records runs and resolves model URIs for the subcommands.

pub mod cli;
pub mod data;
pub mod error;
pub mod explain;
pub mod fairness;
pub mod features;
pub mod forest;
pub mod fsutil;
pub mod liveness;
pub mod loader;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod plots;
pub mod progress;
pub mod promote;
pub mod recourse;
pub mod report;
pub mod schema;
pub mod score;
pub mod serve;
pub mod shap;
pub mod tracking;
pub mod train;

pub use error::{Error, Result};
