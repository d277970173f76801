//! Behaviour of `Sampler`: banned ids, `-inf` masks, filters, reproducibility, batching,
//! distributions, errors.
//! The independent reference computations the checks rely on are in `reference`.

mod errors;
mod filters;
mod frequencies;
mod masking;
mod properties;
mod reference;
mod streams;
