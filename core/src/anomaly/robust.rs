//! Robust statistics over a metric's history: the robust z-score (median and MAD, which a few
//! past outliers do not move, unlike mean and standard deviation) and Tukey's IQR fences.
use super::stats::{median_mad, quantile_sorted, sorted_finite, MAD_TO_SIGMA};

/// What a history says to expect of the next value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub center: f64,
    /// Spread in standard-deviation units (robust z) or IQR units (fences).
    pub scale: f64,
}

/// The smallest spread a baseline assumes: a history that never moved still tolerates changes of
/// about 0.1% of its level (rounding), and any real change scores high.
pub fn scale_floor(center: f64) -> f64 {
    1e-3 * center.abs().max(1e-6)
}

/// Median and MAD-based sigma of the finite values of `history`, or None with fewer than
/// `min_history` of them.
pub fn robust_baseline(history: &[f64], min_history: usize) -> Option<Baseline> {
    let n = history.iter().filter(|x| x.is_finite()).count();
    if n < min_history.max(1) {
        return None;
    }
    let (m, mad) = median_mad(history)?;
    Some(Baseline { center: m, scale: (mad * MAD_TO_SIGMA).max(scale_floor(m)) })
}

/// Robust z-score of `x` against `b` (signed).
pub fn robust_z(b: &Baseline, x: f64) -> f64 {
    (x - b.center) / b.scale
}

/// Tukey's fences: the quartiles of the history and how far outside `[q1 - k·iqr, q3 + k·iqr]`
/// `x` lies, in IQR units (0 inside).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fences {
    pub q1: f64,
    pub q3: f64,
    pub iqr: f64,
}

pub fn iqr_fences(history: &[f64], min_history: usize) -> Option<Fences> {
    let s = sorted_finite(history);
    if s.len() < min_history.max(1) {
        return None;
    }
    let (q1, q3) = (quantile_sorted(&s, 0.25)?, quantile_sorted(&s, 0.75)?);
    Some(Fences { q1, q3, iqr: (q3 - q1).max(scale_floor((q1 + q3) / 2.0)) })
}

impl Fences {
    /// Distance outside the fences at `k` IQRs, in IQRs (0 inside them).
    pub fn outside(&self, x: f64, k: f64) -> f64 {
        let (lo, hi) = (self.q1 - k * self.iqr, self.q3 + k * self.iqr);
        if x < lo {
            (lo - x) / self.iqr
        } else if x > hi {
            (x - hi) / self.iqr
        } else {
            0.0
        }
    }

    pub fn range(&self, k: f64) -> (f64, f64) {
        (self.q1 - k * self.iqr, self.q3 + k * self.iqr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(n: usize) -> Vec<f64> {
        // Deterministic noise around 100 (a small linear congruential sequence).
        let mut s = 12345u64;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                100.0 + ((s >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 4.0
            })
            .collect()
    }

    #[test]
    fn a_spike_scores_high_and_noise_does_not() {
        let h = noisy(200);
        let b = robust_baseline(&h, 10).unwrap();
        assert!((b.center - 100.0).abs() < 0.5);
        assert!(robust_z(&b, 130.0) > 10.0);
        assert!(robust_z(&b, 101.0).abs() < 2.0);
        let f = iqr_fences(&h, 10).unwrap();
        assert!(f.outside(130.0, 3.0) > 1.0);
        assert_eq!(f.outside(100.5, 1.5), 0.0);
    }

    #[test]
    fn past_outliers_do_not_move_the_baseline() {
        let mut h = noisy(100);
        h[10] = 1e9;
        h[20] = f64::NAN;
        h[30] = f64::INFINITY;
        let b = robust_baseline(&h, 10).unwrap();
        assert!((b.center - 100.0).abs() < 0.5, "{b:?}");
        assert!(b.scale < 5.0);
    }

    #[test]
    fn constant_and_short_histories() {
        let b = robust_baseline(&[5.0; 20], 10).unwrap();
        assert_eq!(robust_z(&b, 5.0), 0.0);
        assert!(robust_z(&b, 6.0) > 100.0);
        assert!(robust_baseline(&[1.0, 2.0], 10).is_none());
        assert!(robust_baseline(&[], 1).is_none());
        assert!(robust_baseline(&[f64::NAN; 30], 10).is_none());
        let z = robust_baseline(&[0.0; 20], 5).unwrap();
        assert!(z.scale > 0.0 && robust_z(&z, 0.0) == 0.0);
    }
}
