//! Distribution drift between a reference and a current sample, both given as counts over the
//! same bins (numeric: the reference's deciles; categorical: its values):
//! - PSI, the population stability index `Σ (a - e) · ln(a / e)` over bin shares (rule of thumb:
//!   below 0.1 stable, 0.1–0.25 moderate, above 0.25 a shift);
//! - KL divergence `Σ a · ln(a / e)` of the current shares from the reference's, whose G-test
//!   (`2 · n · KL` against χ² with bins − 1 degrees of freedom, statrs) says whether a sample of
//!   this size could show it by chance.
//!
//! Batches are compared through their quantile sketches (a few evenly spaced quantiles each, see
//! [`compare_sketches`]), so no batch's values are kept to judge the next one.
use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::stats::{quantile_sorted, sorted_finite};

/// Share given to an empty bin, so that logarithms stay finite.
const EPSILON: f64 = 1e-4;

fn shares(counts: &[f64]) -> Vec<f64> {
    let total: f64 = counts.iter().filter(|c| c.is_finite() && **c > 0.0).sum();
    counts.iter().map(|c| if total > 0.0 && c.is_finite() && *c > 0.0 { c / total } else { 0.0 }.max(EPSILON)).collect()
}

pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    let (e, a) = (shares(reference), shares(current));
    e.iter().zip(&a).map(|(e, a)| (a - e) * (a / e).ln()).sum()
}

pub fn kl(reference: &[f64], current: &[f64]) -> f64 {
    let (e, a) = (shares(reference), shares(current));
    e.iter().zip(&a).map(|(e, a)| a * (a / e).ln()).sum::<f64>().max(0.0)
}

/// p-value of the G-test of the current counts against the reference shares.
pub fn g_test_p(reference: &[f64], current: &[f64]) -> f64 {
    let n: f64 = current.iter().filter(|c| c.is_finite() && **c > 0.0).sum();
    let df = reference.len().saturating_sub(1).max(1) as f64;
    match ChiSquared::new(df) {
        Ok(chi) => 1.0 - chi.cdf(2.0 * n * kl(reference, current)),
        Err(_) => 1.0,
    }
}

/// Inner edges of `bins` equal-count bins of the finite values (deciles for 10), deduplicated.
pub fn quantile_edges(values: &[f64], bins: usize) -> Vec<f64> {
    let s = sorted_finite(values);
    let mut e: Vec<f64> = (1..bins).filter_map(|i| quantile_sorted(&s, i as f64 / bins as f64)).collect();
    e.dedup();
    e
}

/// Counts of the finite values in the bins the inner `edges` cut (`edges.len() + 1` bins; a value
/// equal to an edge goes to the lower bin).
pub fn histogram(edges: &[f64], values: &[f64]) -> Vec<f64> {
    let mut c = vec![0.0; edges.len() + 1];
    for v in values.iter().filter(|v| v.is_finite()) {
        c[edges.partition_point(|e| e < v)] += 1.0;
    }
    c
}

/// Verdict on two histograms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    pub psi: f64,
    pub kl: f64,
    pub p_value: f64,
    /// PSI at least `psi_threshold` and the G-test significant at 0.1%.
    pub drifted: bool,
}

pub fn compare(reference: &[f64], current: &[f64], psi_threshold: f64) -> Drift {
    let (psi, kl, p) = (psi(reference, current), kl(reference, current), g_test_p(reference, current));
    Drift { psi, kl, p_value: p, drifted: psi >= psi_threshold && p < 1e-3 }
}

/// Quantiles a batch sketch keeps: 0, 5%, …, 100% (21 values).
pub const SKETCH_POINTS: usize = 21;

/// The probability of sketch point `i` of `n` evenly spaced ones (0 to 1).
fn sketch_prob(i: usize, n: usize) -> f64 {
    i as f64 / (n - 1) as f64
}

/// The cumulative share at `x` of the distribution a sketch (evenly spaced quantiles, ascending)
/// describes: linear between distinct quantiles, and at a repeated value the highest share it
/// reaches (the CDF is right-continuous, so a constant batch jumps from 0 to 1 there).
pub fn sketch_cdf(sketch: &[f64], x: f64) -> f64 {
    let n = sketch.len();
    if n < 2 || x < sketch[0] {
        return if n == 1 && x >= sketch[0] { 1.0 } else { 0.0 };
    }
    if x >= sketch[n - 1] {
        return 1.0;
    }
    // The last point at or below x; the next one is above it.
    let k = sketch.partition_point(|q| *q <= x) - 1;
    let (a, b) = (sketch[k], sketch[k + 1]);
    let (pa, pb) = (sketch_prob(k, n), sketch_prob(k + 1, n));
    pa + (x - a) / (b - a) * (pb - pa)
}

/// Shares of the bins that the reference sketch's distinct inner quantiles cut, under the
/// distribution of `sketch`.
fn sketch_shares(edges: &[f64], sketch: &[f64]) -> Vec<f64> {
    let mut shares = Vec::with_capacity(edges.len() + 1);
    let mut below = 0.0;
    for e in edges {
        let c = sketch_cdf(sketch, *e);
        shares.push((c - below).max(0.0));
        below = c;
    }
    shares.push((1.0 - below).max(0.0));
    shares
}

/// Drift of a batch from the one before it, both given as sketches ([`SKETCH_POINTS`] evenly
/// spaced quantiles, e.g. `percentile_cont` at 0, 0.05, …, 1). The bins are the reference's
/// distinct inner quantiles; the G-test counts the current batch's `current_rows` values.
/// None when either sketch is empty or not ascending finite values.
pub fn compare_sketches(reference: &[f64], current: &[f64], current_rows: u64, psi_threshold: f64) -> Option<Drift> {
    let valid = |s: &[f64]| s.len() >= 2 && s.iter().all(|v| v.is_finite()) && s.windows(2).all(|w| w[0] <= w[1]);
    if !valid(reference) || !valid(current) {
        return None;
    }
    let mut edges: Vec<f64> = reference[1..reference.len() - 1].to_vec();
    edges.dedup();
    let n = current_rows as f64;
    let expected: Vec<f64> = sketch_shares(&edges, reference);
    let observed: Vec<f64> = sketch_shares(&edges, current).iter().map(|s| s * n).collect();
    Some(compare(&expected, &observed, psi_threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(values: &[f64]) -> Vec<f64> {
        let s = sorted_finite(values);
        (0..SKETCH_POINTS).map(|i| quantile_sorted(&s, sketch_prob(i, SKETCH_POINTS)).unwrap()).collect()
    }

    #[test]
    fn sketches_see_a_shift_and_not_a_resample() {
        let a: Vec<f64> = (0..10_000).map(|i| ((i * 37) % 1000) as f64).collect();
        let b: Vec<f64> = (0..8_000).map(|i| ((i * 91) % 1000) as f64).collect();
        let same = compare_sketches(&sketch(&a), &sketch(&b), 8_000, 0.25).unwrap();
        assert!(same.psi < 0.01 && !same.drifted, "{same:?}");
        let shifted: Vec<f64> = b.iter().map(|x| x * 1.5 + 200.0).collect();
        let d = compare_sketches(&sketch(&a), &sketch(&shifted), 8_000, 0.25).unwrap();
        assert!(d.psi > 0.25 && d.drifted, "{d:?}");
        // The same sketch on ten rows is not significant.
        assert!(!compare_sketches(&sketch(&a), &sketch(&shifted), 10, 0.25).unwrap().drifted);
    }

    #[test]
    fn sketch_cdf_handles_ties_and_constants() {
        let constant = [5.0; SKETCH_POINTS];
        assert_eq!(sketch_cdf(&constant, 4.9), 0.0);
        assert_eq!(sketch_cdf(&constant, 5.0), 1.0);
        let linear: Vec<f64> = (0..SKETCH_POINTS).map(|i| i as f64).collect();
        assert!((sketch_cdf(&linear, 10.0) - 0.5).abs() < 1e-12);
        assert!((sketch_cdf(&linear, 10.5) - 0.525).abs() < 1e-12);
        // A constant batch after a spread one: everything in one bin, a drift.
        let d = compare_sketches(&linear, &constant, 1_000, 0.25).unwrap();
        assert!(d.drifted, "{d:?}");
        // And a batch equal to its reference, even with ties, has no drift.
        let tied = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0, 5.0, 5.0, 9.0];
        assert!(compare_sketches(&tied, &tied, 1_000_000, 0.25).unwrap().psi < 1e-9);
        assert!(compare_sketches(&[], &tied, 10, 0.25).is_none());
        assert!(compare_sketches(&[f64::NAN, 1.0], &tied, 10, 0.25).is_none());
        assert!(compare_sketches(&[2.0, 1.0], &tied, 10, 0.25).is_none());
    }

    #[test]
    fn same_distribution_no_drift_shifted_drift() {
        let reference: Vec<f64> = (0..10_000).map(|i| (i % 1000) as f64).collect();
        let edges = quantile_edges(&reference, 10);
        assert_eq!(edges.len(), 9);
        let base = histogram(&edges, &reference);
        let same: Vec<f64> = (0..5000).map(|i| ((i * 7) % 1000) as f64).collect();
        let d = compare(&base, &histogram(&edges, &same), 0.25);
        assert!(d.psi < 0.01 && !d.drifted, "{d:?}");
        let shifted: Vec<f64> = same.iter().map(|x| x + 400.0).collect();
        let d = compare(&base, &histogram(&edges, &shifted), 0.25);
        assert!(d.psi > 1.0 && d.kl > 0.3 && d.p_value < 1e-6 && d.drifted, "{d:?}");
    }

    #[test]
    fn a_small_sample_is_not_called_drift() {
        // Ten rows all in one bin: a big PSI, but not significant.
        let d = compare(&[10.0; 10], &[0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 0.25);
        assert!(d.psi > 0.25);
        assert!(!d.drifted, "{d:?}");
    }

    #[test]
    fn degenerate_inputs() {
        assert!(psi(&[0.0, 0.0], &[0.0, 0.0]).abs() < 1e-12);
        assert!(psi(&[f64::NAN, 1.0], &[1.0, f64::INFINITY]).is_finite());
        assert!(quantile_edges(&[], 10).is_empty());
        assert_eq!(quantile_edges(&[3.0; 50], 10), [3.0]);
        assert_eq!(histogram(&[1.0, 2.0], &[0.5, 1.0, 1.5, 2.5, f64::NAN]), [2.0, 1.0, 1.0]);
    }
}
