//! TODO(plots): being written.
