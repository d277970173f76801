//! charrnn-data (placeholder; see the issue).
