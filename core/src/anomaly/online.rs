//! A point-by-point detector that never looks ahead: each value is judged against what the
//! values before it lead to expect, then joins them. This is how a metric is watched batch after
//! batch, and how `eai.detect_anomalies(query)` reads a `(ts, value)` series.
//!
//! What to expect of the next value:
//! - **seasonal** when the past shows a daily or weekly cycle ([`super::seasonal::detect`],
//!   re-tested as history grows): the median of the recent values of the same phase;
//! - otherwise the median of the last [`LEVEL_WINDOW`] values (a level that follows lasting
//!   changes, so that a new normal stops alerting).
//!
//! How far off it is: the residual in units of the recent residuals' spread, from their median
//! and MAD (**robust_z**), or from their quartiles (**iqr**) when they are skewed.
//!
//! A value at least `threshold` units off raises an alarm; the alarm stays up until an hour (at
//! least [`MIN_HOLD`] points) passes without another, so one lasting deviation is one event.
use std::collections::VecDeque;

use super::robust::scale_floor;
use super::seasonal::{self, Seasonality};
use super::stats::{median, quantile_sorted, MAD_TO_SIGMA};

/// Values whose median is the level of a series without a cycle.
pub const LEVEL_WINDOW: usize = 16;
/// Residuals whose spread scales the scores.
pub const RESIDUAL_WINDOW: usize = 512;
/// Values of one phase kept for its seasonal baseline.
pub const PHASE_DEPTH: usize = 12;
/// Fewest points an alarm stays up after its last deviation.
pub const MIN_HOLD: usize = 6;
/// Values kept for seasonality tests (8 weeks of hourly data; 4 weeks at 5 minutes is cut).
pub const SEASON_WINDOW: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Score (in standard deviations of the recent residuals) that raises an alarm.
    pub threshold: f64,
    /// Values seen before anything is judged.
    pub min_history: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { threshold: 6.0, min_history: 8 }
    }
}

/// Which baseline and scale judged a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Not enough history yet.
    Warmup,
    RobustZ,
    Iqr,
    Seasonal,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Warmup => "warmup",
            Method::RobustZ => "robust_z",
            Method::Iqr => "iqr",
            Method::Seasonal => "seasonal",
        }
    }
}

/// The verdict on one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub expected: f64,
    /// Values in `[lo, hi]` raise no alarm.
    pub lo: f64,
    pub hi: f64,
    /// |deviation| in standard deviations (0 during warm-up, NaN for a NaN value).
    pub score: f64,
    /// This value is itself at least `threshold` off.
    pub deviates: bool,
    /// An alarm is up (this value deviates, or one did less than the hold ago).
    pub alarm: bool,
    pub method: Method,
    pub seasonality: Option<Seasonality>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Scale {
    median: f64,
    q1: f64,
    q3: f64,
    skewed: bool,
    mad_sigma: f64,
    spread: f64,
}

pub struct Online {
    cfg: Config,
    ts: VecDeque<i64>,
    values: VecDeque<f64>,
    seen: usize,
    residuals: VecDeque<f64>,
    season: Option<Seasonality>,
    phases: Vec<VecDeque<f64>>,
    next_refit: usize,
    scale: Option<Scale>,
    scale_age: usize,
    hold: usize,
    quiet: usize,
    alarm: bool,
    spread: f64,
}

impl Online {
    pub fn new(cfg: Config) -> Online {
        Online {
            cfg,
            ts: VecDeque::new(),
            values: VecDeque::new(),
            seen: 0,
            residuals: VecDeque::new(),
            season: None,
            phases: Vec::new(),
            next_refit: cfg.min_history.max(2),
            scale: None,
            scale_age: 0,
            hold: MIN_HOLD,
            quiet: 0,
            alarm: false,
            spread: 0.0,
        }
    }

    /// Judges `value` at Unix time `ts` (seconds), then adds it to the history.
    pub fn push(&mut self, ts: i64, value: f64) -> Verdict {
        if value.is_nan() {
            return Verdict {
                expected: f64::NAN,
                lo: f64::NAN,
                hi: f64::NAN,
                score: f64::NAN,
                deviates: false,
                alarm: self.alarm,
                method: Method::Warmup,
                seasonality: self.season,
            };
        }
        if self.seen >= self.next_refit {
            self.refit();
        }
        let verdict = if self.seen < self.cfg.min_history.max(2) {
            // Warm-up: nothing is judged, but the residuals against the level start to count.
            let expected = if self.seen == 0 { f64::NAN } else { self.level() };
            Verdict {
                expected,
                lo: f64::NEG_INFINITY,
                hi: f64::INFINITY,
                score: 0.0,
                deviates: false,
                alarm: false,
                method: Method::Warmup,
                seasonality: None,
            }
        } else {
            self.judge(ts, value)
        };
        if value.is_finite() {
            self.remember(ts, value, verdict.expected);
        }
        verdict
    }

    fn judge(&mut self, ts: i64, value: f64) -> Verdict {
        let level = self.level();
        let (expected, method) = match self.season {
            Some(s) => match self.phases.get(s.bucket(ts)).filter(|p| p.len() >= 3) {
                Some(p) => (median_of(p.iter().copied()), Method::Seasonal),
                None => (level, Method::RobustZ),
            },
            None => (level, Method::RobustZ),
        };
        if self.scale.is_none() || self.scale_age >= 16 {
            self.scale = self.residual_scale();
            self.scale_age = 0;
        }
        self.scale_age += 1;
        let Scale { median: med, q1, q3, skewed, mad_sigma, spread } = self.scale.unwrap_or_default();
        // The smallest spread assumed: 0.1% of the larger of the level and the value, and a tenth
        // of the series' own spread
        // (so that a series whose past was predicted perfectly does not alarm on noise).
        let floor = scale_floor(expected.abs().max(value.abs())).max(0.1 * spread);
        let t = self.cfg.threshold;
        let r = value - expected;
        let (score, lo, hi, method) = if skewed && method != Method::Seasonal {
            // Fences of the residual quartiles, in standard-deviation units (normal data: the
            // quartiles lie 0.674 σ out and the IQR is 1.349 σ).
            let unit = ((q3 - q1) / 1.349).max(floor);
            let z = if r > q3 {
                0.674 + (r - q3) / unit
            } else if r < q1 {
                0.674 + (q1 - r) / unit
            } else {
                0.0
            };
            (z, expected + q1 - (t - 0.674) * unit, expected + q3 + (t - 0.674) * unit, Method::Iqr)
        } else {
            let unit = (((q3 - q1) / 1.349).max(mad_sigma)).max(floor);
            let unit = if unit.is_finite() { unit } else { floor };
            ((r - med).abs() / unit, expected + med - t * unit, expected + med + t * unit, method)
        };
        let score = if value.is_infinite() { f64::INFINITY } else { score };
        let deviates = score >= t;
        if deviates {
            self.alarm = true;
            self.quiet = 0;
        } else if self.alarm {
            self.quiet += 1;
            if self.quiet >= self.hold {
                self.alarm = false;
            }
        }
        Verdict { expected, lo, hi, score, deviates, alarm: self.alarm, method, seasonality: self.season }
    }

    /// Median of the last values.
    fn level(&self) -> f64 {
        median_of(self.values.iter().rev().take(LEVEL_WINDOW).copied())
    }

    /// Median, quartiles and MAD of the recent residuals, whether they are skewed (Bowley's
    /// quartile skewness beyond 0.3), and the spread of the recent values themselves.
    fn residual_scale(&self) -> Option<Scale> {
        let mut r: Vec<f64> = self.residuals.iter().copied().collect();
        if r.is_empty() {
            return None;
        }
        r.sort_by(f64::total_cmp);
        let (q1, m, q3) = (quantile_sorted(&r, 0.25)?, quantile_sorted(&r, 0.5)?, quantile_sorted(&r, 0.75)?);
        let skewed = q3 > q1 && ((q3 + q1 - 2.0 * m) / (q3 - q1)).abs() > 0.3;
        let mad_sigma = median_of(r.iter().map(|x| (x - m).abs())) * MAD_TO_SIGMA;
        Some(Scale { median: m, q1, q3, skewed, mad_sigma, spread: self.spread })
    }

    fn remember(&mut self, ts: i64, value: f64, expected: f64) {
        self.seen += 1;
        self.ts.push_back(ts);
        self.values.push_back(value);
        if self.values.len() > SEASON_WINDOW {
            self.ts.pop_front();
            self.values.pop_front();
        }
        if self.seen > 1 && expected.is_finite() {
            self.residuals.push_back(value - expected);
            if self.residuals.len() > RESIDUAL_WINDOW {
                self.residuals.pop_front();
            }
        }
        if let Some(s) = self.season {
            let p = &mut self.phases[s.bucket(ts)];
            p.push_back(value);
            if p.len() > PHASE_DEPTH {
                p.pop_front();
            }
        }
    }

    /// Re-tests seasonality on the kept history (every quarter of the values seen, between 16 and
    /// 256 values apart) and sets the hold to an hour of points.
    fn refit(&mut self) {
        let ts: Vec<i64> = self.ts.iter().copied().collect();
        let vs: Vec<f64> = self.values.iter().copied().collect();
        // The series' own spread over all the history kept, so that a quiet spell does not make
        // its usual values look extraordinary.
        let mut sorted = vs.clone();
        sorted.sort_by(f64::total_cmp);
        self.spread = match (quantile_sorted(&sorted, 0.25), quantile_sorted(&sorted, 0.75)) {
            (Some(a), Some(b)) => (b - a) / 1.349,
            _ => 0.0,
        };
        if let Some(sp) = seasonal::spacing(&ts) {
            self.hold = MIN_HOLD.max((3600 / sp.max(1)) as usize);
        }
        let found = seasonal::detect(&ts, &vs).map(|(s, _)| s);
        if found != self.season {
            self.season = found;
            self.phases = match found {
                Some(s) => {
                    let mut p = vec![VecDeque::new(); s.buckets];
                    for (t, v) in ts.iter().zip(&vs) {
                        let q: &mut VecDeque<f64> = &mut p[s.bucket(*t)];
                        q.push_back(*v);
                        if q.len() > PHASE_DEPTH {
                            q.pop_front();
                        }
                    }
                    p
                }
                None => Vec::new(),
            };
        }
        self.next_refit = self.seen + (self.seen / 4).clamp(16, 256);
    }
}

fn median_of(it: impl Iterator<Item = f64>) -> f64 {
    median(&it.collect::<Vec<f64>>()).unwrap_or(f64::NAN)
}

/// Runs a fresh detector over a whole series (times in seconds, in order).
pub fn run(ts: &[i64], values: &[f64], cfg: Config) -> Vec<Verdict> {
    let mut d = Online::new(cfg);
    ts.iter().zip(values).map(|(t, v)| d.push(*t, *v)).collect()
}

/// Runs of consecutive alarmed points as (first, last) indices: one event each.
pub fn events(verdicts: &[Verdict]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, v) in verdicts.iter().enumerate() {
        match (v.alarm, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, verdicts.len() - 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 33) as f64 / (1u64 << 31) as f64 - 0.5
            })
            .collect()
    }

    fn ts(n: usize, step: i64) -> Vec<i64> {
        (0..n as i64).map(|i| 1_600_000_000 + i * step).collect()
    }

    #[test]
    fn a_spike_is_one_event_and_noise_none() {
        let mut v: Vec<f64> = noise(2000, 7).iter().map(|x| 100.0 + 4.0 * x).collect();
        let quiet = run(&ts(2000, 300), &v, Config::default());
        assert!(events(&quiet).is_empty(), "{:?}", events(&quiet));
        v[1500] = 160.0;
        let r = run(&ts(2000, 300), &v, Config::default());
        let e = events(&r);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 1500);
        assert!(r[1500].deviates && r[1500].score > 10.0 && r[1500].hi < 160.0);
    }

    #[test]
    fn a_level_shift_alarms_then_becomes_the_new_normal() {
        let v: Vec<f64> = noise(3000, 11).iter().enumerate().map(|(i, x)| if i < 2000 { 50.0 } else { 80.0 } + 2.0 * x).collect();
        let r = run(&ts(3000, 60), &v, Config::default());
        let e = events(&r);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 2000);
        assert!(e[0].1 < 2100, "the alarm clears once the level follows: {e:?}");
    }

    #[test]
    fn seasonality_is_learnt_and_a_break_of_it_is_caught() {
        // Hourly data, 5 weeks, a daily cycle; on day 30 the night stays at the day's level.
        let n = 24 * 35;
        let t = ts(n, 3600);
        let mut v: Vec<f64> = (0..n).zip(noise(n, 3)).map(|(i, e)| if (i % 24) < 12 { 10.0 } else { 100.0 } + 2.0 * e).collect();
        let quiet = run(&t, &v, Config::default());
        assert!(quiet.iter().skip(24 * 4).all(|x| !x.deviates), "{:?}", events(&quiet));
        assert!(quiet.last().unwrap().method == Method::Seasonal);
        // A plain level baseline would expect ~100 here after a day phase; the cycle says 10.
        for i in (24 * 30)..(24 * 30 + 6) {
            v[i] = 100.0;
        }
        let r = run(&t, &v, Config::default());
        // (The first day's jump from night to day is news to a detector that has seen 12 hours.)
        let e: Vec<(usize, usize)> = events(&r).into_iter().filter(|e| e.0 >= 24 * 3).collect();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 24 * 30);
        assert_eq!(r[24 * 30].method, Method::Seasonal);
    }

    #[test]
    fn empty_constant_nan_and_infinite() {
        assert!(run(&[], &[], Config::default()).is_empty());
        let c = run(&ts(100, 1), &[5.0; 100], Config::default());
        assert!(c.iter().all(|x| !x.alarm));
        let mut v = vec![5.0; 100];
        v[50] = f64::NAN;
        v[60] = f64::INFINITY;
        v[70] = 6.0;
        let r = run(&ts(100, 1), &v, Config::default());
        assert!(r[50].score.is_nan() && !r[50].deviates);
        assert!(r[60].deviates && r[60].score.is_infinite());
        assert!(r[70].deviates, "a constant series that moves: {:?}", r[70]);
        assert_eq!(run(&ts(3, 1), &[1.0, 2.0, 3.0], Config::default())[2].method, Method::Warmup);
    }

    #[test]
    fn a_million_points_in_bounded_memory() {
        let n = 1_000_000;
        let mut d = Online::new(Config::default());
        let mut alarms = 0;
        let e = noise(n, 5);
        for i in 0..n {
            alarms += usize::from(d.push(i as i64 * 60, 10.0 + e[i]).deviates);
        }
        assert!(alarms < 10, "{alarms}");
        assert!(d.values.len() <= SEASON_WINDOW && d.residuals.len() <= RESIDUAL_WINDOW);
    }
}
