//! The model crate's integration tests, in one binary (each test binary links libtorch):
//! the network and its loss, incremental generation, training with checkpoints and resume,
//! the history of checkpoints, CUDA against the CPU, process groups on c10d, and the crate as
//! an outside caller uses it.
mod common;
mod cuda;
mod dist;
mod generation;
mod history;
mod library;
mod masked_logits;
mod network;
mod training;
