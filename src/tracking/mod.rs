//! TODO(tracking): being written.
