//! Seasonality: whether a series follows the hour of the day or the hour of the week, and the
//! phase (bucket) of a time in that cycle. The test is a one-way analysis of variance over the
//! phase buckets: the buckets must explain a large share of the variance (adjusted R²) and the F
//! test must reject "no seasonality" (statrs' F distribution).
use statrs::distribution::{ContinuousCDF, FisherSnedecor};

pub const DAY: i64 = 86_400;
pub const WEEK: i64 = 7 * DAY;

/// A cycle of `period` seconds cut into `buckets` phases of equal length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seasonality {
    pub period: i64,
    pub buckets: usize,
}

impl Seasonality {
    /// The phase of a Unix time (seconds) in the cycle.
    pub fn bucket(&self, ts: i64) -> usize {
        let width = (self.period / self.buckets as i64).max(1);
        ((ts.rem_euclid(self.period) / width) as usize).min(self.buckets - 1)
    }

    pub fn name(&self) -> &'static str {
        if self.period == WEEK {
            "day of week"
        } else {
            "hour of day"
        }
    }
}

/// The typical spacing of the times (median difference), in seconds.
pub fn spacing(ts: &[i64]) -> Option<i64> {
    let mut d: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0).collect();
    if d.is_empty() {
        return None;
    }
    d.sort_unstable();
    Some(d[d.len() / 2])
}

/// The candidate cycles for data sampled every `spacing` seconds: the day cut into at most 96
/// phases (15 minutes) and the week into hours, never finer than the sampling.
pub fn candidates(spacing: i64) -> Vec<Seasonality> {
    let spacing = spacing.max(1);
    let per_day = (DAY / spacing).max(1) as usize;
    let mut c = Vec::new();
    if per_day >= 4 {
        c.push(Seasonality { period: DAY, buckets: per_day.min(96) });
    }
    let per_week = (WEEK / spacing).max(1) as usize;
    if per_week >= 7 {
        c.push(Seasonality { period: WEEK, buckets: per_week.min(168) });
    }
    c
}

/// Adjusted R² and F-test p-value of the phase buckets of `s` over the finite values.
pub fn explained(s: &Seasonality, ts: &[i64], values: &[f64]) -> Option<(f64, f64)> {
    let mut sum = vec![0.0; s.buckets];
    let mut cnt = vec![0usize; s.buckets];
    let (mut total, mut n) = (0.0, 0usize);
    for (t, v) in ts.iter().zip(values) {
        if v.is_finite() {
            let b = s.bucket(*t);
            sum[b] += v;
            cnt[b] += 1;
            total += v;
            n += 1;
        }
    }
    let k = cnt.iter().filter(|c| **c > 0).count();
    if k < 2 || n <= k + 1 {
        return None;
    }
    let mean = total / n as f64;
    let (mut ss_total, mut ss_within) = (0.0, 0.0);
    for (t, v) in ts.iter().zip(values) {
        if v.is_finite() {
            let b = s.bucket(*t);
            ss_total += (v - mean).powi(2);
            ss_within += (v - sum[b] / cnt[b] as f64).powi(2);
        }
    }
    if ss_total <= 0.0 {
        return None;
    }
    let adj_r2 = 1.0 - (ss_within / (n - k) as f64) / (ss_total / (n - 1) as f64);
    let ss_between = ss_total - ss_within;
    let p = if ss_within <= 0.0 {
        0.0
    } else {
        let f = (ss_between / (k - 1) as f64) / (ss_within / (n - k) as f64);
        let dist = FisherSnedecor::new((k - 1) as f64, (n - k) as f64).ok()?;
        1.0 - dist.cdf(f)
    };
    Some((adj_r2, p))
}

/// Minimum share of variance the phases must explain.
pub const MIN_R2: f64 = 0.5;
/// Periods the data must span before a cycle is believed.
pub const MIN_PERIODS: i64 = 2;

/// The cycle that best explains the series (highest adjusted R² at least [`MIN_R2`], F test
/// significant at 0.1%, at least [`MIN_PERIODS`] periods of data), or None.
pub fn detect(ts: &[i64], values: &[f64]) -> Option<(Seasonality, f64)> {
    let (first, last) = (*ts.first()?, *ts.last()?);
    let mut best: Option<(Seasonality, f64)> = None;
    for s in candidates(spacing(ts)?) {
        if last - first < MIN_PERIODS * s.period {
            continue;
        }
        if let Some((r2, p)) = explained(&s, ts, values) {
            if r2 >= MIN_R2 && p < 1e-3 && best.is_none_or(|(_, b)| r2 > b + 0.02) {
                best = Some((s, r2));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daily(n: usize, step: i64) -> (Vec<i64>, Vec<f64>) {
        let ts: Vec<i64> = (0..n as i64).map(|i| 1_700_000_000 + i * step).collect();
        let v = ts
            .iter()
            .enumerate()
            .map(|(i, t)| 50.0 + 20.0 * ((t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU).sin() + (i % 7) as f64 * 0.3)
            .collect();
        (ts, v)
    }

    #[test]
    fn a_daily_cycle_is_found_and_noise_is_not() {
        let (ts, v) = daily(24 * 14, 3600);
        let (s, r2) = detect(&ts, &v).expect("daily");
        assert_eq!(s.period, DAY);
        assert!(r2 > 0.9);
        let flat: Vec<f64> = (0..ts.len()).map(|i| ((i * 7919) % 101) as f64).collect();
        assert!(detect(&ts, &flat).is_none());
    }

    #[test]
    fn too_little_history_is_no_cycle() {
        let (ts, v) = daily(24 * 2, 3600);
        assert!(detect(&ts, &v).is_none());
        assert!(detect(&[], &[]).is_none());
        assert!(detect(&[1], &[1.0]).is_none());
    }

    #[test]
    fn buckets_and_candidates() {
        let s = Seasonality { period: DAY, buckets: 24 };
        assert_eq!(s.bucket(0), 0);
        assert_eq!(s.bucket(3600 * 5 + 10), 5);
        assert_eq!(s.bucket(-1), 23);
        assert_eq!(candidates(300), [Seasonality { period: DAY, buckets: 96 }, Seasonality { period: WEEK, buckets: 168 }]);
        assert_eq!(candidates(DAY), [Seasonality { period: WEEK, buckets: 7 }]);
        assert!(candidates(WEEK).is_empty());
    }
}
