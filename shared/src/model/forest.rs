//! Random-forest baseline, fitted by smartcore and flattened for scoring.
//!
//! smartcore 0.7 has no `predict_proba` on its forest and keeps the trees private, so the fitted
//! forest is read through its serde form (a public API) and flattened; the version is pinned and
//! `votes_agree_with_smartcore` checks the reading against smartcore's own `predict`. The forest
//! takes no sample weights and needs ~23 s per tree on all 1.1 M rows, so it trains on every
//! fraud plus a sample of the legitimate rows, and the sampling is undone in the output.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::trees::{SplitNode, TreeEnsemble};
use super::{Classifier, Dataset, check_legit_sample_rate, invalid, undersample, unusable_fit};
use crate::error::{CoreError, Result};
use crate::features::{FeatureVector, N_FEATURES};

/// smartcore cannot split on NaN: missing values become this, below every real feature value.
const MISSING: f64 = -1e9;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    pub n_trees: u16,
    pub max_depth: u16,
    pub min_samples_leaf: usize,
    /// Share of legitimate rows kept for training (every fraud is kept).
    pub legit_sample_rate: f64,
    /// Independent sub-forests fitted in parallel (smartcore fits one tree at a time).
    pub parallel_parts: u16,
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 100,
            max_depth: 16,
            min_samples_leaf: 2,
            legit_sample_rate: 0.15,
            parallel_parts: 2,
            seed: 0,
        }
    }
}

impl ForestParams {
    pub fn check(&self) -> Result<()> {
        if self.n_trees == 0 || self.parallel_parts == 0 || self.parallel_parts > self.n_trees {
            return invalid(
                "n_trees",
                format!("{} in {} parts", self.n_trees, self.parallel_parts),
                "need at least one tree per part",
            );
        }
        if !(1..=64).contains(&self.max_depth) {
            return invalid("max_depth", self.max_depth, "must be 1 to 64");
        }
        check_legit_sample_rate(self.legit_sample_rate)
    }
}

/// Fitted forest: the fraud vote share, corrected for the legitimate-row sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestModel {
    /// Leaves hold 1 for a fraud vote, 0 otherwise; internal nodes hold their subtree's vote share.
    pub trees: TreeEnsemble,
    pub legit_sample_rate: f64,
}

type Forest = RandomForestClassifier<f64, i32, DenseMatrix<f64>, Vec<i32>>;

#[derive(Deserialize)]
struct SerdeForest {
    trees: Vec<SerdeTree>,
}

#[derive(Deserialize)]
struct SerdeTree {
    nodes: Vec<SerdeNode>,
    classes: Vec<i32>,
}

#[derive(Deserialize)]
struct SerdeNode {
    output: usize,
    n_node_samples: usize,
    split_feature: usize,
    split_value: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
}

fn to_matrix(data: &Dataset) -> Result<DenseMatrix<f64>> {
    let values = data
        .columns
        .iter()
        .map(|&x| if x.is_nan() { MISSING } else { x })
        .collect();
    DenseMatrix::new(data.n_rows(), N_FEATURES, values, true).map_err(|e| CoreError::Training {
        model: "forest",
        reason: e.to_string(),
    })
}

fn failed(reason: String) -> CoreError {
    CoreError::Training {
        model: "forest",
        reason,
    }
}

/// The trees of a fitted forest as split nodes, read from its serde form.
fn split_nodes(forest: &Forest) -> Result<Vec<Vec<SplitNode>>> {
    let value = serde_json::to_value(forest).map_err(|e| failed(e.to_string()))?;
    let parsed: SerdeForest = serde_json::from_value(value)
        .map_err(|e| failed(format!("unexpected smartcore model layout: {e}")))?;
    let mut trees = Vec::with_capacity(parsed.trees.len());
    for tree in parsed.trees {
        let fraud_class = tree.classes.iter().position(|&c| c == 1);
        let mut nodes: Vec<SplitNode> = Vec::with_capacity(tree.nodes.len());
        for n in &tree.nodes {
            let vote = f64::from(u8::from(Some(n.output) == fraud_class));
            nodes.push(match (n.true_child, n.false_child, n.split_value) {
                (Some(t), Some(f), Some(v)) => {
                    // smartcore goes to the true child when x <= v; ours goes left when x < t.
                    let threshold = v.next_up();
                    SplitNode {
                        feature: Some(n.split_feature as u16),
                        threshold,
                        left: t as u32,
                        right: f as u32,
                        missing: if MISSING < threshold { t } else { f } as u32,
                        value: vote,
                    }
                }
                _ => SplitNode {
                    feature: None,
                    threshold: 0.0,
                    left: 0,
                    right: 0,
                    missing: 0,
                    value: vote,
                },
            });
        }
        // Internal nodes take their subtree's sample-weighted vote share (children come later).
        for i in (0..nodes.len()).rev() {
            if nodes[i].feature.is_some() {
                let (l, r) = (nodes[i].left as usize, nodes[i].right as usize);
                let (nl, nr) = (
                    tree.nodes[l].n_node_samples as f64,
                    tree.nodes[r].n_node_samples as f64,
                );
                if nl + nr > 0.0 {
                    nodes[i].value = (nodes[l].value * nl + nodes[r].value * nr) / (nl + nr);
                }
            }
        }
        trees.push(nodes);
    }
    Ok(trees)
}

#[cfg(test)]
fn flatten(forest: &Forest) -> Result<TreeEnsemble> {
    let mut ensemble = TreeEnsemble::default();
    for tree in split_nodes(forest)? {
        ensemble.push_tree(&tree).map_err(unusable_fit("forest"))?;
    }
    Ok(ensemble)
}

impl ForestModel {
    /// Share of trees voting fraud, before the sampling correction.
    pub fn vote_share(&self, row: &FeatureVector) -> f64 {
        self.trees.sum(row) / self.trees.n_trees() as f64
    }
}

impl Classifier for ForestModel {
    type Params = ForestParams;

    fn fit(data: &Dataset, params: &ForestParams) -> Result<Self> {
        params.check()?;
        let sample = data.take(&undersample(data, params.legit_sample_rate, params.seed));
        if sample.frauds() == 0 || sample.frauds() == sample.n_rows() {
            return Err(CoreError::Training {
                model: "forest",
                reason: "the training rows hold only one class".into(),
            });
        }
        let x = to_matrix(&sample)?;
        let y: Vec<i32> = sample.labels.iter().map(|&l| i32::from(l)).collect();
        let parts = u64::from(params.parallel_parts);
        let trees_per_part = |p: u64| {
            (u64::from(params.n_trees) / parts + u64::from(p < u64::from(params.n_trees) % parts))
                as u16
        };
        let fitted: Vec<Result<Vec<Vec<SplitNode>>>> = (0..parts)
            .into_par_iter()
            .map(|p| {
                let forest_params = RandomForestClassifierParameters::default()
                    .with_n_trees(trees_per_part(p))
                    .with_max_depth(params.max_depth)
                    .with_min_samples_leaf(params.min_samples_leaf)
                    .with_seed(params.seed.wrapping_add(p * 1_000_003));
                let forest =
                    Forest::fit(&x, &y, forest_params).map_err(|e| CoreError::Training {
                        model: "forest",
                        reason: e.to_string(),
                    })?;
                split_nodes(&forest)
            })
            .collect();
        let mut trees = TreeEnsemble::default();
        for part in fitted {
            for tree in part? {
                trees.push_tree(&tree).map_err(unusable_fit("forest"))?;
            }
        }
        Ok(ForestModel {
            trees,
            legit_sample_rate: params.legit_sample_rate,
        })
    }

    fn predict_proba(&self, row: &FeatureVector) -> f64 {
        // Undo the sampling: odds scale by the share of legitimate rows kept.
        let v = self.vote_share(row);
        let fraud = v * self.legit_sample_rate;
        fraud / (fraud + (1.0 - v))
    }

    fn contributions(&self, row: &FeatureVector) -> FeatureVector {
        let mut out = [0.0; N_FEATURES];
        self.trees.contributions(row, &mut out);
        let n = self.trees.n_trees() as f64;
        out.map(|c| c / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Curve;
    use crate::model::tests::toy;

    #[test]
    fn votes_agree_with_smartcore() {
        let data = toy(1500, 4);
        let x = to_matrix(&data).unwrap();
        let y: Vec<i32> = data.labels.iter().map(|&l| i32::from(l)).collect();
        let params = RandomForestClassifierParameters::default()
            .with_n_trees(15)
            .with_max_depth(8)
            .with_seed(3);
        let forest = Forest::fit(&x, &y, params).unwrap();
        let theirs = forest.predict(&x).unwrap();
        let model = ForestModel {
            trees: flatten(&forest).unwrap(),
            legit_sample_rate: 1.0,
        };
        model.trees.validate(N_FEATURES).unwrap();
        let mut decided = 0;
        for (i, &label) in theirs.iter().enumerate() {
            let share = model.vote_share(&data.row(i));
            // smartcore's majority vote breaks ties towards class 0.
            if share != 0.5 {
                assert_eq!(i32::from(share > 0.5), label, "row {i}: share {share}");
                decided += 1;
            }
        }
        assert!(decided > 1400);
    }

    #[test]
    fn learns_the_toy_problem_with_sampling() {
        let (train, test) = (toy(4000, 1), toy(2000, 2));
        let params = ForestParams {
            n_trees: 20,
            max_depth: 10,
            legit_sample_rate: 0.5,
            ..ForestParams::default()
        };
        let model = ForestModel::fit(&train, &params).unwrap();
        assert_eq!(model.trees.n_trees(), 20);
        assert!(
            model == ForestModel::fit(&train, &params).unwrap(),
            "seeded"
        );
        let scores: Vec<f64> = (0..test.n_rows())
            .map(|i| model.predict_proba(&test.row(i)))
            .collect();
        let auc = Curve::new(&test.labels, &scores).auc_roc();
        assert!(auc > 0.9, "AUC {auc}");
    }
}
