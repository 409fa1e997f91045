//! TODO(serve): being written.
