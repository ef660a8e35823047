//! A flat array of decision trees: the scoring form of both tree models.
//!
//! Training libraries keep rich node structs (forust-ml's JSON model is ~4 MB); scoring needs
//! only a split feature, a threshold and three child indices. Both the GBDT (sum of leaf values)
//! and the forest (mean of leaf votes) are stored like this, so one tight loop scores them.

use serde::{Deserialize, Serialize};

use super::InvalidModel;

/// A node as a training library describes it, before our layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitNode {
    /// `None` for a leaf.
    pub feature: Option<u16>,
    /// Go left when `value < threshold`.
    pub threshold: f64,
    pub left: u32,
    pub right: u32,
    /// Where a missing (NaN) value goes: `left` or `right`.
    pub missing: u32,
    /// The leaf's output; on internal nodes, the node's own output (kept for explanations).
    pub value: f64,
}

/// A node of a flattened tree: 16 bytes, children adjacent (`right == left + 1`). A leaf points
/// to itself with a NaN threshold, so a walk can take a fixed number of steps with no branch on
/// the data: one compare and one add per level.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct FlatNode {
    pub threshold: f64,
    pub left: u32,
    pub feature: u16,
    pub missing_right: bool,
}

impl PartialEq for FlatNode {
    /// Bitwise on the threshold, so two identical models compare equal despite NaN leaves.
    fn eq(&self, other: &Self) -> bool {
        self.threshold.to_bits() == other.threshold.to_bits()
            && (self.left, self.feature, self.missing_right)
                == (other.left, other.feature, other.missing_right)
    }
}

/// Trees walked together (see [`TreeEnsemble::sum`]).
const LANES: usize = 8;

/// Most features a tree model may split on (the contribution accumulators are this wide).
pub const MAX_FEATURES: usize = 64;

/// Trees whose nodes are stored back to back; `roots[i]` is the first node of tree `i`,
/// `depths[i]` its depth (steps from root to the deepest leaf), and `values[k]` node `k`'s output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TreeEnsemble {
    pub nodes: Vec<FlatNode>,
    /// f32: forust's leaf weights are f32 already, and half the bytes keep the walk in cache.
    pub values: Vec<f32>,
    pub roots: Vec<u32>,
    pub depths: Vec<u8>,
}

impl TreeEnsemble {
    /// Appends one tree given as nodes indexed from 0 (its root), laid out breadth first so
    /// siblings sit side by side.
    pub fn push_tree(&mut self, tree: &[SplitNode]) -> Result<(), InvalidModel> {
        let base = self.nodes.len();
        // (old index, depth) in breadth-first order.
        let mut order = vec![(0usize, 0u8)];
        let mut k = 0;
        while k < order.len() {
            let (old, depth) = order[k];
            let node = tree.get(old).ok_or(InvalidModel::ChildOutOfRange)?;
            if node.feature.is_some() {
                if node.missing != node.left && node.missing != node.right {
                    return Err(InvalidModel::SeparateMissingBranch);
                }
                let depth = depth.checked_add(1).ok_or(InvalidModel::TooDeep)?;
                order.push((node.left as usize, depth));
                order.push((node.right as usize, depth));
            }
            k += 1;
            if order.len() > tree.len() {
                return Err(InvalidModel::CycleOrSharedChild);
            }
        }
        let mut children = 0;
        for (at, &(old, _)) in order.iter().enumerate() {
            let node = &tree[old];
            self.nodes.push(match node.feature {
                Some(feature) => {
                    children += 2;
                    FlatNode {
                        threshold: node.threshold,
                        left: (base + children - 1) as u32,
                        feature,
                        missing_right: node.missing == node.right,
                    }
                }
                None => FlatNode {
                    threshold: f64::NAN,
                    left: (base + at) as u32,
                    feature: 0,
                    missing_right: false,
                },
            });
            self.values.push(node.value as f32);
        }
        self.roots.push(base as u32);
        self.depths
            .push(order.iter().map(|&(_, d)| d).max().unwrap_or(0));
        Ok(())
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// The child `row` goes to; a leaf's child is the leaf itself.
    #[inline(always)]
    fn child(node: &FlatNode, row: &[f64]) -> usize {
        let x = row[usize::from(node.feature)];
        // No branch on the data: a NaN compares false, and then the missing side decides.
        let right = (x >= node.threshold) | (x.is_nan() & node.missing_right);
        node.left as usize + usize::from(right)
    }

    pub fn is_leaf(&self, k: usize) -> bool {
        self.nodes[k].left as usize == k
    }

    /// Sum of the leaf values reached by `row` over all trees.
    ///
    /// Trees are walked eight at a time in lockstep for as many steps as the deepest of them:
    /// each walk is a chain of dependent loads, and eight independent chains with no branch on
    /// the data let the CPU overlap them (see BENCHMARKS.md for the measured gain).
    pub fn sum(&self, row: &[f64]) -> f64 {
        let mut total = 0.0;
        for (roots, depths) in self.roots.chunks(LANES).zip(self.depths.chunks(LANES)) {
            // Always eight lanes (a short last group repeats its last tree and counts it once),
            // so the compiler unrolls the step.
            let n = roots.len();
            let mut at: [usize; LANES] = std::array::from_fn(|j| roots[j.min(n - 1)] as usize);
            for _ in 0..depths.iter().copied().max().unwrap_or(0) {
                for k in &mut at {
                    *k = Self::child(&self.nodes[*k], row);
                }
            }
            total += at[..n]
                .iter()
                .map(|&k| f64::from(self.values[k]))
                .sum::<f64>();
        }
        total
    }

    /// [`TreeEnsemble::sum`] of each of `rows` into `out`, with the same additions in the same
    /// order (so the same bits). Eight rows walk each tree in lockstep: a tree's nodes are read
    /// once per eight rows instead of once per row, which keeps them in the L1 cache. A short
    /// last block repeats its last row, so every block is a fixed eight lanes the compiler
    /// unrolls, and the missing-value test is arithmetic rather than a branch (12 % faster than
    /// a variable-width block with a branch; BENCHMARKS.md, batch evaluation speed).
    pub fn sum_many<R: AsRef<[f64]>>(&self, rows: &[R], out: &mut [f64]) {
        assert_eq!(rows.len(), out.len(), "one output per row");
        for (block, out) in rows.chunks(LANES).zip(out.chunks_mut(LANES)) {
            let n = block.len();
            let lanes: [&[f64]; LANES] = std::array::from_fn(|i| block[i.min(n - 1)].as_ref());
            let mut total = [0.0f64; LANES];
            for (roots, depths) in self.roots.chunks(LANES).zip(self.depths.chunks(LANES)) {
                let mut leaf = [[0.0f64; LANES]; LANES]; // [tree][row]
                for (t, (&root, &depth)) in roots.iter().zip(depths).enumerate() {
                    let mut at = [root as usize; LANES];
                    for _ in 0..depth {
                        for (k, row) in at.iter_mut().zip(lanes) {
                            *k = Self::child(&self.nodes[*k], row);
                        }
                    }
                    for (v, &k) in leaf[t].iter_mut().zip(&at) {
                        *v = f64::from(self.values[k]);
                    }
                }
                for (r, total) in total.iter_mut().enumerate() {
                    *total += leaf[..roots.len()].iter().map(|l| l[r]).sum::<f64>();
                }
            }
            out.copy_from_slice(&total[..n]);
        }
    }

    /// The sum of [`TreeEnsemble::sum`] and, added into `out`, each feature's contribution
    /// along the paths (Saabas): each split moves the output from the parent's value to the
    /// child's, and that change is credited to the split feature. One lockstep walk serves
    /// both; a leaf's step onto itself adds exactly 0.
    pub fn sum_and_contributions(&self, row: &[f64], out: &mut [f64]) -> f64 {
        // One accumulator row per lane: updates of one feature by neighbouring lanes would
        // otherwise wait on each other through memory.
        let mut acc = [[0.0f64; MAX_FEATURES]; LANES];
        let mut total = 0.0;
        for (roots, depths) in self.roots.chunks(LANES).zip(self.depths.chunks(LANES)) {
            let depth = depths.iter().copied().max().unwrap_or(0);
            // A full group walks a fixed eight lanes, which the compiler unrolls.
            total += match <&[u32; LANES]>::try_from(roots) {
                Ok(roots) => self.walk_with_contributions(roots, depth, row, &mut acc),
                // The rest one tree at a time, tree j still on accumulator row j.
                Err(_) => roots
                    .iter()
                    .enumerate()
                    .map(|(j, &root)| {
                        self.walk_with_contributions(&[root], depth, row, &mut acc[j..])
                    })
                    .sum(),
            };
        }
        for lane in &acc {
            for (o, a) in out.iter_mut().zip(lane) {
                *o += a;
            }
        }
        total
    }

    /// Walks the trees at `roots` in lockstep for `depth` steps, adding each split's change of
    /// output to its feature in `acc` (one row per lane), and returns the sum of the leaves.
    #[inline(always)]
    fn walk_with_contributions<const N: usize>(
        &self,
        roots: &[u32; N],
        depth: u8,
        row: &[f64],
        acc: &mut [[f64; MAX_FEATURES]],
    ) -> f64 {
        let mut at = roots.map(|r| r as usize);
        let mut value = at.map(|k| f64::from(self.values[k]));
        for _ in 0..depth {
            for ((k, v), acc) in at.iter_mut().zip(&mut value).zip(acc.iter_mut()) {
                let node = &self.nodes[*k];
                let next = Self::child(node, row);
                let next_value = f64::from(self.values[next]);
                acc[usize::from(node.feature)] += next_value - *v;
                (*k, *v) = (next, next_value);
            }
        }
        value.iter().sum()
    }

    /// Per-feature contributions along each tree's path (see [`TreeEnsemble::sum_and_contributions`]).
    pub fn contributions(&self, row: &[f64], out: &mut [f64]) {
        self.sum_and_contributions(row, out);
    }

    /// Checks the structure so a corrupted or hand-made model cannot index out of bounds, loop,
    /// or stop a walk early.
    pub fn validate(&self, n_features: usize) -> Result<(), InvalidModel> {
        if n_features > MAX_FEATURES {
            return Err(InvalidModel::TooManyFeatures { n_features });
        }
        let n = self.nodes.len();
        if self.values.len() != n || self.depths.len() != self.roots.len() {
            return Err(InvalidModel::LengthMismatch);
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if !self.values[i].is_finite() {
                return Err(InvalidModel::NonFiniteValue {
                    node: i,
                    value: self.values[i],
                });
            }
            if usize::from(node.feature) >= n_features {
                return Err(InvalidModel::FeatureOutOfRange {
                    node: i,
                    feature: node.feature,
                });
            }
            let left = node.left as usize;
            let leaf = left == i && node.threshold.is_nan() && !node.missing_right;
            // Children come after their parent, so every walk ends.
            if !leaf && (left <= i || left + 1 >= n) {
                return Err(InvalidModel::ChildrenNotLater { node: i, left });
            }
        }
        for (t, (&root, &depth)) in self.roots.iter().zip(&self.depths).enumerate() {
            let mut deepest = 0;
            let mut stack = vec![(root as usize, 0u32)];
            while let Some((k, d)) = stack.pop() {
                if k >= n {
                    return Err(InvalidModel::NodeOutOfRange { tree: t, node: k });
                }
                if self.is_leaf(k) {
                    deepest = deepest.max(d);
                } else {
                    let left = self.nodes[k].left as usize;
                    stack.extend([(left, d + 1), (left + 1, d + 1)]);
                }
            }
            if deepest != u32::from(depth) {
                return Err(InvalidModel::DepthMismatch {
                    tree: t,
                    recorded: depth,
                    actual: deepest,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(
        feature: u16,
        threshold: f64,
        left: u32,
        right: u32,
        missing: u32,
        value: f64,
    ) -> SplitNode {
        SplitNode {
            feature: Some(feature),
            threshold,
            left,
            right,
            missing,
            value,
        }
    }

    fn leaf(value: f64) -> SplitNode {
        SplitNode {
            feature: None,
            threshold: 0.0,
            left: 0,
            right: 0,
            missing: 0,
            value,
        }
    }

    /// x0 < 5 ? (x1 < 1 ? 1 : 2) : 3, missing x0 goes right, missing x1 left; stored out of
    /// breadth-first order on purpose.
    fn ensemble() -> TreeEnsemble {
        let tree = [
            split(0, 5.0, 2, 1, 1, 0.5),
            leaf(3.0),
            split(1, 1.0, 3, 4, 3, 0.2),
            leaf(1.0),
            leaf(2.0),
        ];
        let mut e = TreeEnsemble::default();
        e.push_tree(&tree).unwrap();
        e.push_tree(&[leaf(10.0)]).unwrap();
        e
    }

    #[test]
    fn walks_splits_missing_values_and_single_leaf_trees() {
        let e = ensemble();
        e.validate(2).unwrap();
        assert_eq!(e.depths, vec![2, 0]);
        assert_eq!(e.sum(&[4.0, 0.5]), 11.0);
        assert_eq!(
            e.sum(&[4.0, 1.0]),
            12.0,
            "a value equal to the threshold goes right"
        );
        assert_eq!(e.sum(&[6.0, f64::NAN]), 13.0);
        assert_eq!(e.sum(&[f64::NAN, 0.0]), 13.0);
        assert_eq!(e.sum(&[4.0, f64::NAN]), 11.0);
        let mut c = [0.0; 2];
        let total = e.sum_and_contributions(&[4.0, 3.0], &mut c);
        assert_eq!(total, e.sum(&[4.0, 3.0]));
        assert!((c[0] - (0.2 - 0.5)).abs() < 1e-6 && (c[1] - (2.0 - 0.2)).abs() < 1e-6);
    }

    #[test]
    fn many_rows_at_once_give_the_same_bits_as_one_at_a_time() {
        let mut e = TreeEnsemble::default();
        // 19 trees (two full groups of eight and a partial one) of varied shapes.
        for t in 0..19u32 {
            let v = f64::from(t) * 0.37 - 2.0;
            let tree = [
                split((t % 2) as u16, 5.0 - f64::from(t % 5), 2, 1, 1 + t % 2, v),
                leaf(v / 3.0 + 0.1),
                split(1, 1.0 + f64::from(t % 3), 3, 4, 3, -v),
                leaf(v * 1.7),
                leaf(-v / 7.0),
            ];
            e.push_tree(&tree).unwrap();
        }
        let rows: Vec<[f64; 2]> = (0..37)
            .map(|i| {
                let i = f64::from(i);
                [
                    if i % 9.0 == 0.0 {
                        f64::NAN
                    } else {
                        i * 0.31 - 3.0
                    },
                    (i * 0.77) % 4.0,
                ]
            })
            .collect();
        let mut out = vec![0.0; rows.len()];
        e.sum_many(&rows, &mut out);
        for (row, got) in rows.iter().zip(&out) {
            assert_eq!(got.to_bits(), e.sum(row).to_bits());
            // The lockstep contributions against their definition: each split on a tree's walk
            // credits its feature with the change of output.
            let mut by_walk = [0.0; 2];
            for &root in &e.roots {
                let mut k = root as usize;
                while !e.is_leaf(k) {
                    let next = TreeEnsemble::child(&e.nodes[k], row);
                    let change = f64::from(e.values[next]) - f64::from(e.values[k]);
                    by_walk[usize::from(e.nodes[k].feature)] += change;
                    k = next;
                }
            }
            let mut lockstep = [0.0; 2];
            let total = e.sum_and_contributions(row, &mut lockstep);
            assert_eq!(total.to_bits(), e.sum(row).to_bits());
            for (a, b) in lockstep.iter().zip(by_walk) {
                assert!((a - b).abs() < 1e-12, "{lockstep:?} against {by_walk:?}");
            }
        }
    }

    #[test]
    fn damaged_structures_are_refused() {
        let err = ensemble().validate(MAX_FEATURES + 1).unwrap_err();
        assert_eq!(err.to_string(), "65 features, more than the 64 supported");
        let mut e = ensemble();
        e.depths[0] = 1;
        assert_eq!(
            e.validate(2),
            Err(InvalidModel::DepthMismatch {
                tree: 0,
                recorded: 1,
                actual: 2
            })
        );
        let mut e = ensemble();
        e.nodes[1].left = 0;
        let err = e.validate(2).unwrap_err();
        assert_eq!(err, InvalidModel::ChildrenNotLater { node: 1, left: 0 });
        assert_eq!(err.to_string(), "node 1: children 0, 1 are not later nodes");
        let mut e = ensemble();
        e.nodes[0].feature = 7;
        let err = e.validate(2).unwrap_err();
        assert_eq!(
            err,
            InvalidModel::FeatureOutOfRange {
                node: 0,
                feature: 7
            }
        );
        assert_eq!(err.to_string(), "node 0: feature 7 out of range");
        let mut e = ensemble();
        e.values.pop();
        assert_eq!(e.validate(2), Err(InvalidModel::LengthMismatch));
        let bad = [split(0, 1.0, 1, 2, 5, 0.0), leaf(0.0), leaf(1.0)];
        assert_eq!(
            TreeEnsemble::default().push_tree(&bad),
            Err(InvalidModel::SeparateMissingBranch)
        );
        let cycle = [split(0, 1.0, 0, 0, 0, 0.0)];
        assert_eq!(
            TreeEnsemble::default().push_tree(&cycle),
            Err(InvalidModel::CycleOrSharedChild)
        );
    }
}
