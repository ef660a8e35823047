//! A flat array of decision trees: the scoring form of both tree models.
//!
//! Training libraries keep rich node structs (forust-ml's JSON model is ~4 MB); scoring needs
//! only a split feature, a threshold and three child indices. Both the GBDT (sum of leaf values)
//! and the forest (mean of leaf votes) are stored like this, so one tight loop scores them.

use serde::{Deserialize, Serialize};

/// A node of a flattened tree. Leaves have `feature == LEAF`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlatNode {
    pub feature: u16,
    /// Go left when `value < threshold`.
    pub threshold: f64,
    pub left: u32,
    pub right: u32,
    /// Where a missing (NaN) value goes.
    pub missing: u32,
    /// The leaf's output; on internal nodes, the node's own output (kept for explanations).
    pub value: f64,
}

pub const LEAF: u16 = u16::MAX;

/// Trees whose nodes are stored back to back; `roots[i]` is the first node of tree `i`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TreeEnsemble {
    pub nodes: Vec<FlatNode>,
    pub roots: Vec<u32>,
}

impl TreeEnsemble {
    /// Appends one tree given as nodes with child indices local to the tree.
    pub fn push_tree(&mut self, nodes: impl IntoIterator<Item = FlatNode>) {
        let base = self.nodes.len() as u32;
        self.roots.push(base);
        self.nodes.extend(nodes.into_iter().map(|mut n| {
            if n.feature != LEAF {
                n.left += base;
                n.right += base;
                n.missing += base;
            }
            n
        }));
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    fn leaf(&self, root: u32, row: &[f64]) -> &FlatNode {
        let mut node = &self.nodes[root as usize];
        while node.feature != LEAF {
            let x = row[usize::from(node.feature)];
            let next = if x.is_nan() {
                node.missing
            } else if x < node.threshold {
                node.left
            } else {
                node.right
            };
            node = &self.nodes[next as usize];
        }
        node
    }

    /// Sum of the leaf values reached by `row` over all trees.
    pub fn sum(&self, row: &[f64]) -> f64 {
        self.roots.iter().map(|&r| self.leaf(r, row).value).sum()
    }

    /// Per-feature contributions along each tree's path (Saabas): each split moves the output
    /// from the parent's value to the child's, and that change is credited to the split feature.
    pub fn contributions(&self, row: &[f64], out: &mut [f64]) {
        for &root in &self.roots {
            let mut node = &self.nodes[root as usize];
            while node.feature != LEAF {
                let x = row[usize::from(node.feature)];
                let next = if x.is_nan() {
                    node.missing
                } else if x < node.threshold {
                    node.left
                } else {
                    node.right
                };
                let child = &self.nodes[next as usize];
                out[usize::from(node.feature)] += child.value - node.value;
                node = child;
            }
        }
    }

    /// Checks the structure so a corrupted or hand-made model cannot index out of bounds or loop.
    pub fn validate(&self, n_features: usize) -> Result<(), String> {
        let n = self.nodes.len() as u32;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.feature == LEAF {
                if !node.value.is_finite() {
                    return Err(format!("node {i}: leaf value {} is not finite", node.value));
                }
                continue;
            }
            if usize::from(node.feature) >= n_features {
                return Err(format!("node {i}: feature {} out of range", node.feature));
            }
            for child in [node.left, node.right, node.missing] {
                // Children come after their parent, so every path ends.
                if child >= n || child as usize <= i {
                    return Err(format!("node {i}: child {child} is not a later node"));
                }
            }
        }
        if self.roots.iter().any(|&r| r >= n) {
            return Err("a tree root is out of range".into());
        }
        Ok(())
    }
}
