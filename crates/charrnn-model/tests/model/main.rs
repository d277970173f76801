//! The model crate's integration tests, in one binary (each test binary links libtorch):
//! the network and its loss, incremental generation, training with checkpoints and resume,
//! and CUDA against the CPU.
mod common;
mod cuda;
mod generation;
mod network;
mod training;
