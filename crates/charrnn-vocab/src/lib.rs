//! charrnn-vocab (placeholder; see the issue).
