//! One module per area, each with a `benches` function that registers its groups.
pub mod data;
pub mod model;
pub mod sampling;
pub mod vocab;
