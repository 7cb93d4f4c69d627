//! Multivariate metric vectors judged online by Isolation Forest. A vector holds every metric of
//! one measurement (one quality run, or one promoted batch); each is scored by a forest grown on
//! the vectors before it (the last [`WINDOW`]) and itself, once there are `min_history` before it:
//! no later vector is seen. The vector itself is in the forest, as in scikit-learn's
//! `fit_predict`: a forest grown on the past only sends a value beyond the past's range down the
//! path of the most extreme past value, and cannot tell them apart.
//! The explanation names the metrics furthest from their own past (robust z, [`super::robust`]).
use super::iforest::{Forest, Params, Rows};
use super::robust::{robust_baseline, robust_z};

/// Vectors a forest is grown on: the most recent ones before the vector judged.
pub const WINDOW: usize = 256;

/// A metric is named in the explanation when at least this many robust standard deviations off.
pub const STANDOUT_Z: f64 = 2.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Index of the vector judged.
    pub index: usize,
    /// Isolation score against the vectors before it (0..1; 0.5 is ordinary).
    pub score: f64,
    /// The metrics (column indices) furthest from their own past, with their robust z, largest
    /// first: at most 3, each at least [`STANDOUT_Z`] off.
    pub standouts: Vec<(usize, f64)>,
}

/// Judges each vector of `data` (row-major, `dims` columns, in time order) against the ones
/// before it; returns those scoring at least `threshold`.
pub fn judge(data: &[f64], dims: usize, min_history: usize, threshold: f64, params: Params) -> Vec<Verdict> {
    if dims == 0 {
        return Vec::new();
    }
    let n = data.len() / dims;
    let mut out = Vec::new();
    for i in min_history.max(2)..n {
        let from = i.saturating_sub(WINDOW);
        let known = Rows { data: &data[from * dims..(i + 1) * dims], dims };
        let Some(forest) = Forest::fit(&known, Params { subsample: params.subsample.min(i + 1 - from), ..params }) else {
            continue;
        };
        let score = forest.score(&Rows { data: &data[i * dims..(i + 1) * dims], dims })[0];
        if score >= threshold {
            out.push(Verdict { index: i, score, standouts: standouts(data, dims, from, i) });
        }
    }
    out
}

fn standouts(data: &[f64], dims: usize, from: usize, i: usize) -> Vec<(usize, f64)> {
    let mut z: Vec<(usize, f64)> = (0..dims)
        .filter_map(|j| {
            let history: Vec<f64> = (from..i).map(|r| data[r * dims + j]).collect();
            let b = robust_baseline(&history, 2)?;
            let x = data[i * dims + j];
            let z = robust_z(&b, x);
            (x.is_finite() && z.abs() >= STANDOUT_Z).then_some((j, z))
        })
        .collect();
    z.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    z.truncate(3);
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two metrics that move together (rows and a total that is about ten times it), with noise.
    fn history(n: usize) -> Vec<f64> {
        (0..n)
            .flat_map(|i| {
                let rows = 1000.0 + ((i * 37) % 100) as f64;
                [rows, rows * 10.0 + ((i * 13) % 7) as f64]
            })
            .collect()
    }

    #[test]
    fn a_broken_relation_stands_out_though_each_value_is_ordinary() {
        let mut data = history(120);
        // Both values inside their past ranges, but the total no longer follows the rows.
        data.extend([1005.0, 10_900.0]);
        let p = Params { trees: 200, subsample: 256, seed: 7 };
        let found = judge(&data, 2, 16, 0.7, p);
        assert_eq!(found.iter().map(|v| v.index).collect::<Vec<_>>(), [120], "{found:?}");
        let ordinary = judge(&history(120), 2, 16, 0.7, p);
        assert!(ordinary.is_empty(), "{ordinary:?}");
    }

    #[test]
    fn an_extreme_vector_names_its_metric() {
        let mut data = history(40);
        data.extend([5000.0, 10_500.0]);
        let found = judge(&data, 2, 16, 0.7, Params::default());
        let last = found.last().expect("found");
        assert_eq!(last.index, 40);
        assert_eq!(last.standouts[0].0, 0, "rows is the metric that moved");
        assert!(last.standouts[0].1 > 10.0);
    }

    #[test]
    fn too_little_history_or_no_columns_judge_nothing() {
        assert!(judge(&history(10), 2, 16, 0.0, Params::default()).is_empty());
        assert!(judge(&[], 0, 2, 0.0, Params::default()).is_empty());
        // A constant past: nothing stands out until a vector differs; that one is isolated at once.
        let mut flat = vec![1.0; 40];
        assert!(judge(&flat, 2, 8, 0.6, Params::default()).is_empty());
        flat.extend([1.0, 99.0]);
        let found = judge(&flat, 2, 8, 0.7, Params::default());
        assert_eq!((found.len(), found[0].index, found[0].standouts[0].0), (1, 20, 1), "{found:?}");
    }
}
