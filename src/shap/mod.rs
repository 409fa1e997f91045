//! TODO(shap): being written.
