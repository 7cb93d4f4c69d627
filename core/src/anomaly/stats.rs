//! Order statistics the detectors share. NaN and infinite values are left out by the callers.

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
}
