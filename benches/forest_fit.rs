//! Benchmark: fit time of our forest against scikit-learn's on the same data, in the same run.
fn main() {}
