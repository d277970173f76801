//! What the Rust side of charrnn's C++ shims (`csrc/c10d_shim.cpp`, `csrc/autocast_shim.cpp`)
//! shares: the buffer a failed call writes its C++ exception's text into
//! (`csrc/shim_error.h`).

use crate::error::ModelError;

/// A buffer for a shim's error message, and the message in it.
pub(crate) struct ErrBuf([u8; 512]);

impl ErrBuf {
    pub(crate) fn new() -> Self {
        Self([0; 512])
    }

    /// The buffer and its length, as a shim call takes them.
    pub(crate) fn ptr(&mut self) -> (*mut std::ffi::c_char, usize) {
        (self.0.as_mut_ptr().cast(), self.0.len())
    }

    /// `kind` of "`what`: the message's first line".
    pub(crate) fn message(&self, what: &str, kind: fn(String) -> ModelError) -> ModelError {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        let text = String::from_utf8_lossy(&self.0[..end]);
        let first = text.lines().next().unwrap_or("").trim();
        kind(format!("{what}: {first}"))
    }
}
