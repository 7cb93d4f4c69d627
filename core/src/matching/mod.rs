//! Schema matching: score every (source column, target column) pair by several signals, combine
//! them into one score, turn the score into a confidence that accounts for the runner-up, and
//! assign source columns to target columns 1:1 (Hungarian algorithm) or 1:n.
//!
//! - [`features`]: what is known of a column (words, embedding, type, values, distribution).
//! - [`signals`]: one function per signal, each in [0, 1].
//! - [`combine`]: the weighted score, the confidence and the routing bands.
//! - [`assign`]: 1:1 assignment and 1:n candidates.

pub mod assign;
pub mod combine;
pub mod features;
pub mod signals;

pub use combine::{score_matrix, Band, PairScore, Signals};
pub use features::{ColumnFeatures, ValueSet};
