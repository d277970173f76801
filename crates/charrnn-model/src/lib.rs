//! Character-level recurrent language models on libtorch: the only crate of charrnn that knows
//! tensors.
//!
//! (Work in progress: network, training, evaluation, checkpoints and generation land here.)

pub use tch;

#[cfg(test)]
mod smoke;
