//! The library's one error type: each variant is a sentence a user can act on, and knows the
//! process exit code it maps to (2 bad input or usage, 3 internal or environment failure).

use std::fmt;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or an invalid option value.
    #[error("{0}")]
    Usage(String),

    /// Input data that breaks the applicant schema: a missing column, a wrong type, an unknown
    /// category, an impossible value. `location` says where (file, row).
    #[error("{location}: {}", join_fields(.errors))]
    Invalid { location: String, errors: Vec<FieldError> },

    /// A file that is not what it should be (corrupt Parquet, truncated model, bad JSON).
    #[error("{path}: {message}")]
    BadFile { path: PathBuf, message: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A model URI that resolves to nothing; the message lists what exists.
    #[error("{0}")]
    ModelNotFound(String),

    /// The MLflow tracking store or server failed.
    #[error("tracking: {0}")]
    Tracking(String),

    /// A bug or an unexpected state: never caused by user input.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A field that failed validation, with a sentence a user can act on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn join_fields(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl Error {
    /// The process exit code for this error (0 ok and 1 "a check found something" are not errors).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Invalid { .. } | Error::BadFile { .. } | Error::ModelNotFound(_) => 2,
            Error::Io { source, .. } if is_user_path_problem(source) => 2,
            _ => 3,
        }
    }

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    pub fn bad_file(path: impl AsRef<Path>, message: impl Into<String>) -> Error {
        Error::BadFile { path: path.as_ref().to_path_buf(), message: message.into() }
    }

    pub fn invalid(location: impl Into<String>, errors: Vec<FieldError>) -> Error {
        Error::Invalid { location: location.into(), errors }
    }
}

fn is_user_path_problem(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        NotFound
            | PermissionDenied
            | AlreadyExists
            | NotADirectory
            | IsADirectory
            | ReadOnlyFilesystem
            | InvalidInput
    )
}
