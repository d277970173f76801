//! charrnn-sampling (placeholder; see the issue).
