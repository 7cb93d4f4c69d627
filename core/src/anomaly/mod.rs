//! Anomaly detection, free of PostgreSQL: the detectors `eai.detect_anomalies` runs over the
//! metric history (and over any series or table a user gives it), the feedback that adapts their
//! thresholds, and the grouping of anomalies into incidents.
//!
//! - [`robust`]: median/MAD z-scores and IQR fences over a series.
//! - [`seasonal`]: finds a daily or weekly period and the baseline of each phase.
//! - [`online`]: a point-by-point detector without look-ahead (robust, seasonal when the past
//!   shows seasonality), its alarms kept up while a deviation lasts.
//! - [`iforest`]: Isolation Forest over multivariate rows, deterministic for a seed.
//! - [`drift`]: PSI and KL divergence between two distributions (histograms).
//! - [`vectors`]: Isolation Forest over each table's metric vectors, each against its past.
//! - [`thresholds`]: thresholds moved by labelled anomalies to keep false positives rare.
//! - [`incidents`]: related anomalies grouped, the most upstream one as the probable cause.
pub mod drift;
pub mod iforest;
pub mod incidents;
pub mod online;
pub mod robust;
pub mod seasonal;
pub mod stats;
pub mod thresholds;
pub mod vectors;

use serde::Serialize;

/// How bad an anomaly is, from its score relative to the threshold it crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    /// `score / threshold` of at least 2 is high, of at least 1.5 medium.
    pub fn from_ratio(ratio: f64) -> Severity {
        if ratio >= 2.0 {
            Severity::High
        } else if ratio >= 1.5 {
            Severity::Medium
        } else {
            Severity::Low
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}
