//! TODO(explain): being written.
