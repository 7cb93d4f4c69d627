//! Isolation Forest (Liu, Ting and Zhou, 2008) over rows of numbers, deterministic for a seed.
//! Built as scikit-learn builds it, so that scores compare: each tree grows on a subsample drawn
//! without replacement, to a depth of ⌈log₂ subsample⌉; a node splits on a feature drawn at random
//! among those not constant in it, at a threshold drawn uniformly between their minimum and
//! maximum (`x <= threshold` goes left); a leaf adds the expected path length of an unbuilt tree
//! over its rows, `c(n)`. The anomaly score is `2^(-E[h(x)] / c(subsample))`: near 1 isolated
//! early (anomalous), below 0.5 ordinary.
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub trees: usize,
    pub subsample: usize,
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { trees: 100, subsample: 256, seed: 42 }
    }
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Split {
        feature: u32,
        threshold: f64,
        left: u32,
        right: u32,
    },
    /// A leaf: `c(n)` of its n training rows, computed once.
    Leaf {
        path: f64,
    },
}

#[derive(Debug, Clone)]
pub struct Forest {
    trees: Vec<Vec<Node>>,
    dims: usize,
    norm: f64,
}

/// Expected path length of an unsuccessful search in a binary search tree of `n` items.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

/// Rows as one flat row-major slice of `dims` columns. Non-finite values are read as 0.
pub struct Rows<'a> {
    pub data: &'a [f64],
    pub dims: usize,
}

impl Rows<'_> {
    pub fn len(&self) -> usize {
        if self.dims == 0 {
            0
        } else {
            self.data.len() / self.dims
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn at(&self, row: usize, col: usize) -> f64 {
        let v = self.data[row * self.dims + col];
        if v.is_finite() {
            v
        } else {
            0.0
        }
    }
}

impl Forest {
    /// Grows the forest on `rows` (None when there are none).
    pub fn fit(rows: &Rows, p: Params) -> Option<Forest> {
        let n = rows.len();
        if n == 0 || p.trees == 0 {
            return None;
        }
        let psi = p.subsample.clamp(1, n);
        let max_depth = (psi as f64).log2().ceil().max(1.0) as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let trees = (0..p.trees)
            .map(|_| {
                let mut idx: Vec<usize> = sample(&mut rng, n, psi).into_vec();
                let mut nodes = Vec::with_capacity(2 * psi);
                grow(rows, &mut idx, 0, max_depth, &mut rng, &mut nodes);
                nodes
            })
            .collect();
        Some(Forest { trees, dims: rows.dims, norm: average_path_length(psi).max(f64::MIN_POSITIVE) })
    }

    /// Mean path length of `row` over the trees.
    fn depth(&self, rows: &Rows, r: usize) -> f64 {
        let mut total = 0.0;
        for t in &self.trees {
            let mut i = 0usize;
            let mut d = 0.0;
            loop {
                match t[i] {
                    Node::Split { feature, threshold, left, right } => {
                        i = if rows.at(r, feature as usize) <= threshold { left as usize } else { right as usize };
                        d += 1.0;
                    }
                    Node::Leaf { path, .. } => {
                        total += d + path;
                        break;
                    }
                }
            }
        }
        total / self.trees.len() as f64
    }

    /// Anomaly scores of `rows` (0..1, higher is more anomalous). Rows must have the forest's
    /// number of columns.
    pub fn score(&self, rows: &Rows) -> Vec<f64> {
        assert_eq!(rows.dims, self.dims, "rows have {} columns, the forest {}", rows.dims, self.dims);
        let n = rows.len();
        let score = |r: usize| 2f64.powf(-self.depth(rows, r) / self.norm);
        // Large inputs are scored on every core (plain threads over read-only data; nothing
        // PostgreSQL is touched in them).
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(8);
        if n < 4096 || threads < 2 {
            return (0..n).map(score).collect();
        }
        let chunk = n.div_ceil(threads);
        let mut out = vec![0.0; n];
        std::thread::scope(|s| {
            for (k, part) in out.chunks_mut(chunk).enumerate() {
                let score = &score;
                s.spawn(move || {
                    for (i, o) in part.iter_mut().enumerate() {
                        *o = score(k * chunk + i);
                    }
                });
            }
        });
        out
    }
}

fn grow(rows: &Rows, idx: &mut [usize], depth: usize, max_depth: usize, rng: &mut ChaCha8Rng, nodes: &mut Vec<Node>) -> u32 {
    let me = nodes.len() as u32;
    nodes.push(Node::Leaf { path: average_path_length(idx.len()) });
    if depth >= max_depth || idx.len() <= 1 {
        return me;
    }
    // Features in random order until one is not constant over the node's rows.
    let mut features: Vec<usize> = (0..rows.dims).collect();
    let mut remaining = features.len();
    let split = loop {
        if remaining == 0 {
            break None;
        }
        let k = rng.random_range(0..remaining);
        let f = features[k];
        features.swap(k, remaining - 1);
        remaining -= 1;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &r in idx.iter() {
            let v = rows.at(r, f);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi > lo {
            let mut t = lo + (hi - lo) * rng.random::<f64>();
            if t >= hi {
                t = lo;
            }
            break Some((f, t));
        }
    };
    let Some((f, t)) = split else { return me };
    // Partition in place: rows with x <= t first.
    let mut cut = 0;
    for i in 0..idx.len() {
        if rows.at(idx[i], f) <= t {
            idx.swap(i, cut);
            cut += 1;
        }
    }
    let (l, r) = idx.split_at_mut(cut);
    let left = grow(rows, l, depth + 1, max_depth, rng, nodes);
    let right = grow(rows, r, depth + 1, max_depth, rng, nodes);
    nodes[me as usize] = Node::Split { feature: f as u32, threshold: t, left, right };
    me
}

/// Area under the ROC curve of `scores` against `labels` (true = anomaly), ties counted half.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (pos, neg) = (labels.iter().filter(|l| **l).count() as f64, labels.iter().filter(|l| !**l).count() as f64);
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    // Mann-Whitney U from average ranks.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += pairs[i..=j].iter().filter(|p| p.1).count() as f64 * avg;
        i = j + 1;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * 2).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect()
    }

    #[test]
    fn outliers_score_higher_than_the_cloud() {
        let mut data = cloud(1000, 1);
        data.extend_from_slice(&[8.0, 8.0, -9.0, 7.0, 0.0, 12.0]);
        let rows = Rows { data: &data, dims: 2 };
        let f = Forest::fit(&rows, Params::default()).unwrap();
        let s = f.score(&rows);
        let inliers = s[..1000].iter().sum::<f64>() / 1000.0;
        for o in &s[1000..] {
            assert!(*o > 0.6 && *o > inliers + 0.1, "{o} vs {inliers}");
        }
        let labels: Vec<bool> = (0..1003).map(|i| i >= 1000).collect();
        assert!(roc_auc(&s, &labels).unwrap() > 0.99);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let data = cloud(500, 2);
        let rows = Rows { data: &data, dims: 2 };
        let a = Forest::fit(&rows, Params::default()).unwrap().score(&rows);
        let b = Forest::fit(&rows, Params::default()).unwrap().score(&rows);
        assert_eq!(a, b);
        let c = Forest::fit(&rows, Params { seed: 7, ..Params::default() }).unwrap().score(&rows);
        assert_ne!(a, c);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(Forest::fit(&Rows { data: &[], dims: 3 }, Params::default()).is_none());
        // Constant rows: no split anywhere, every score equal.
        let rows = Rows { data: &[1.0; 40], dims: 2 };
        let s = Forest::fit(&rows, Params::default()).unwrap().score(&rows);
        assert!(s.windows(2).all(|w| w[0] == w[1]));
        // NaN and infinities are read as 0 and do not panic.
        let data = [f64::NAN, 1.0, f64::INFINITY, 2.0, 3.0, f64::NEG_INFINITY];
        let rows = Rows { data: &data, dims: 2 };
        assert_eq!(Forest::fit(&rows, Params::default()).unwrap().score(&rows).len(), 3);
        assert_eq!(average_path_length(256).round(), 10.0);
    }

    #[test]
    fn auc_counts_ties_half() {
        assert_eq!(roc_auc(&[0.1, 0.9], &[false, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.5], &[true]), None);
    }
}
