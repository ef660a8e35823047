//! Why a model cannot be scored safely. Found twice: when a fitted model is flattened into the
//! scoring layout, and when a model file is loaded (so a damaged file fails at load, not while
//! scoring). Callers wrap it in [`crate::CoreError`] with the model or the file it came from.

use super::trees::MAX_FEATURES;

/// One structural fault; each names the node, tree or first-stage half at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidModel {
    /// A fitted tree names a child it does not have.
    #[error("child index out of range")]
    ChildOutOfRange,
    /// The flat layout sends a missing value left or right, never to a third child.
    #[error("a separate missing branch is not supported")]
    SeparateMissingBranch,
    /// Depths are stored in a byte.
    #[error("the tree is deeper than 255")]
    TooDeep,
    #[error("the tree has a cycle or a shared child")]
    CycleOrSharedChild,
    /// The contribution accumulators are [`MAX_FEATURES`] wide.
    #[error("{n_features} features, more than the {MAX_FEATURES} supported")]
    TooManyFeatures { n_features: usize },
    #[error("node values or tree depths do not match the nodes")]
    LengthMismatch,
    #[error("node {node}: value {value} is not finite")]
    NonFiniteValue { node: usize, value: f32 },
    #[error("node {node}: feature {feature} out of range")]
    FeatureOutOfRange { node: usize, feature: u16 },
    /// A walk only ends if every child comes after its parent.
    #[error("node {node}: children {left}, {} are not later nodes", .left + 1)]
    ChildrenNotLater { node: usize, left: usize },
    #[error("tree {tree}: node {node} out of range")]
    NodeOutOfRange { tree: usize, node: usize },
    /// A walk takes the recorded number of steps, so a wrong depth stops it early.
    #[error("tree {tree}: recorded depth {recorded}, actual {actual}")]
    DepthMismatch {
        tree: usize,
        recorded: u8,
        actual: u32,
    },
    /// Means, scales and weights of the linear model, one per feature.
    #[error("linear model has {lengths:?} coefficients, expected {expected}")]
    CoefficientCount {
        lengths: [usize; 3],
        expected: usize,
    },
    #[error("linear model has non-finite coefficients or a zero scale")]
    NonFiniteCoefficients,
    /// One of the two first-stage models ([`super::CardRiskModel`]) is unsound.
    #[error("first-stage model {half}: {source}")]
    FirstStage {
        half: usize,
        #[source]
        source: Box<InvalidModel>,
    },
    #[error("first-stage model {half}: offset {offset} is not finite")]
    FirstStageOffset { half: usize, offset: f64 },
}
