//! The built-in schema: the synthetic Chilean applicant table `credrisk generate` writes, kept as
//! a TOML text in the same format users write (`chile.toml`), parsed once per process.

use super::Schema;
use std::sync::{Arc, OnceLock};

/// The built-in schema's file, as `credrisk schema show` prints it.
pub const CHILE_TOML: &str = include_str!("chile.toml");

/// The built-in Chilean schema: what credrisk uses when no schema is given, and what a model
/// without a stored schema (written before schemas were stored) was trained on.
pub fn builtin() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            // The text is part of the binary and checked by the unit tests: failing here is a bug.
            Arc::new(Schema::from_toml(CHILE_TOML).unwrap_or_else(|e| panic!("built-in schema: {e}")))
        })
        .clone()
}
