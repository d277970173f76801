//! Shared helpers of the charrnn benchmarks.
