//! TODO(features): being written.
