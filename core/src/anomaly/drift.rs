//! Distribution drift between a reference and a current sample, both given as counts over the
//! same bins (numeric: the reference's deciles; categorical: its values):
//! - PSI, the population stability index `Σ (a - e) · ln(a / e)` over bin shares (rule of thumb:
//!   below 0.1 stable, 0.1–0.25 moderate, above 0.25 a shift);
//! - KL divergence `Σ a · ln(a / e)` of the current shares from the reference's, whose G-test
//!   (`2 · n · KL` against χ² with bins − 1 degrees of freedom, statrs) says whether a sample of
//!   this size could show it by chance.
use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::stats::{quantile_sorted, sorted_finite};

/// Share given to an empty bin, so that logarithms stay finite.
const EPSILON: f64 = 1e-4;

fn shares(counts: &[f64]) -> Vec<f64> {
    let total: f64 = counts.iter().filter(|c| c.is_finite() && **c > 0.0).sum();
    counts
        .iter()
        .map(|c| if total > 0.0 && c.is_finite() && *c > 0.0 { c / total } else { 0.0 }.max(EPSILON))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

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
