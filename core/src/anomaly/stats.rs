//! Order statistics the detectors share. NaN and infinite values are left out by the callers.
use statrs::distribution::{ContinuousCDF, Normal};

/// The `q` quantile (0..=1) of sorted finite values, interpolated linearly (as PostgreSQL's
/// `percentile_cont` and numpy's default), or None for no values.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// The finite values of `xs`, sorted.
pub fn sorted_finite(xs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

pub fn median(xs: &[f64]) -> Option<f64> {
    quantile_sorted(&sorted_finite(xs), 0.5)
}

/// Median and median absolute deviation of the finite values.
pub fn median_mad(xs: &[f64]) -> Option<(f64, f64)> {
    let m = median(xs)?;
    let dev: Vec<f64> = xs.iter().filter(|x| x.is_finite()).map(|x| (x - m).abs()).collect();
    Some((m, median(&dev)?))
}

/// MAD scaled to estimate the standard deviation of normal data.
pub const MAD_TO_SIGMA: f64 = 1.482_602_218_505_602;

/// The central ranges [`robust_sigma`] reads a spread from, narrowest first, as the share left out
/// on each side: the quartiles, then the 10%, 2.5% and 0.5% tails.
pub const TAILS: [f64; 4] = [0.25, 0.10, 0.025, 0.005];

/// A standard deviation of sorted finite values that does not collapse when most of them are one
/// value: the width of the narrowest central range ([`TAILS`]) that has any, in units of the
/// normal distribution's (statrs), or the MAD × 1.4826 around `center` when that is larger.
///
/// On ordinary data this is the interquartile range / 1.349, as before. A distinct count that is
/// 12 in 93% of the batches has no quartile spread (nor MAD), so every 11 or 13 used to be infinitely
/// far; here the 2.5% tails, which hold them, give the spread instead. 0 only when at least 99%
/// of the values are one value.
pub fn robust_sigma(sorted: &[f64], center: f64) -> f64 {
    let normal = Normal::standard();
    let range = TAILS
        .iter()
        .find_map(|p| {
            let width = quantile_sorted(sorted, 1.0 - p)? - quantile_sorted(sorted, *p)?;
            (width > 0.0).then(|| width / (2.0 * normal.inverse_cdf(1.0 - p)))
        })
        .unwrap_or(0.0);
    let mad = median(&sorted.iter().map(|x| (x - center).abs()).collect::<Vec<f64>>()).unwrap_or(0.0) * MAD_TO_SIGMA;
    range.max(mad)
}

/// The step of the lattice sorted distinct values lie on: the smallest gap between neighbours,
/// or infinity for fewer than three values (a single gap is no lattice: 0 then 0.25 is a change,
/// not a resolution of 0.25).
pub fn lattice_step(sorted_distinct: &[f64]) -> f64 {
    if sorted_distinct.len() < 3 {
        return f64::INFINITY;
    }
    sorted_distinct.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_percentile_cont() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), Some(2.5));
        assert_eq!(quantile_sorted(&v, 0.0), Some(1.0));
        assert_eq!(quantile_sorted(&v, 1.0), Some(4.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
        assert_eq!(median_mad(&[1.0, 2.0, 3.0, 100.0, f64::NAN]), Some((2.5, 1.0)));
    }

    #[test]
    fn robust_sigma_reads_wider_ranges_when_one_value_dominates() {
        // Ordinary data: the interquartile range / 1.349 (statrs' normal quantile: 1.34898).
        let v: Vec<f64> = (0..=100).map(|i| i as f64).collect();
        assert!((robust_sigma(&v, 50.0) - 50.0 / 1.348_979_5).abs() < 1e-3, "{}", robust_sigma(&v, 50.0));
        // 90% one value, 5% a step below and 5% a step above: no quartile spread, no MAD, but the
        // 2.5% tails hold the steps: 2 / (2 × 1.96).
        let mut near: Vec<f64> = [vec![11.0; 5], vec![12.0; 90], vec![13.0; 5]].concat();
        near.sort_by(f64::total_cmp);
        assert_eq!(median_mad(&near), Some((12.0, 0.0)));
        assert!((robust_sigma(&near, 12.0) - 2.0 / (2.0 * 1.959_964)).abs() < 1e-6, "{}", robust_sigma(&near, 12.0));
        // All one value: nothing to read.
        assert_eq!(robust_sigma(&[5.0; 50], 5.0), 0.0);
        assert_eq!(robust_sigma(&[], 0.0), 0.0);
    }

    #[test]
    fn a_lattice_needs_three_values() {
        assert_eq!(lattice_step(&[11.0, 12.0, 13.0]), 1.0);
        assert_eq!(lattice_step(&[0.0, 0.2, 0.25]), 0.25 - 0.2);
        assert!(lattice_step(&[0.0, 0.25]).is_infinite());
        assert!(lattice_step(&[]).is_infinite());
    }
}
