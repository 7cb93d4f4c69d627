//! Thresholds that learn from feedback. Each labelled anomaly says whether an alert at its score
//! was worth raising. The threshold of a metric moves to the lowest value at which the labelled
//! alerts still raised would be false positives at most `target` of the time, and never below the
//! default: feedback makes a detector quieter, not louder.

/// A labelled alert: its score and whether it was a false positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Label {
    pub score: f64,
    pub false_positive: bool,
}

/// Share of false positives among the labelled alerts scoring at least `t`.
pub fn false_positive_rate(labels: &[Label], t: f64) -> f64 {
    let raised: Vec<&Label> = labels.iter().filter(|l| l.score >= t).collect();
    if raised.is_empty() {
        0.0
    } else {
        raised.iter().filter(|l| l.false_positive).count() as f64 / raised.len() as f64
    }
}

/// The threshold to use: `default` while the labels keep false positives at most `target`,
/// otherwise just above the false positive it takes to get there (the smallest such).
pub fn adapt(default: f64, labels: &[Label], target: f64) -> f64 {
    if false_positive_rate(labels, default) <= target {
        return default;
    }
    let mut candidates: Vec<f64> = labels.iter().filter(|l| l.false_positive && l.score >= default).map(|l| l.score).collect();
    candidates.sort_by(f64::total_cmp);
    for c in candidates {
        // Just above this false positive's score.
        let t = c + c.abs().max(1e-9) * 1e-6;
        if false_positive_rate(labels, t) <= target {
            return t;
        }
    }
    default
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(score: f64, fp: bool) -> Label {
        Label { score, false_positive: fp }
    }

    #[test]
    fn no_labels_or_good_ones_keep_the_default() {
        assert_eq!(adapt(6.0, &[], 0.05), 6.0);
        assert_eq!(adapt(6.0, &[l(7.0, false), l(20.0, false)], 0.05), 6.0);
    }

    #[test]
    fn false_positives_raise_it_just_enough() {
        let labels = [l(6.5, true), l(7.0, true), l(9.0, false), l(12.0, false), l(30.0, false)];
        let t = adapt(6.0, &labels, 0.05);
        assert!(t > 7.0 && t < 9.0, "{t}");
        assert_eq!(false_positive_rate(&labels, t), 0.0);
        // A true positive below a false positive is given up only if the rate demands it.
        let mixed = [l(6.5, false), l(8.0, true), l(10.0, false)];
        assert!(adapt(6.0, &mixed, 0.5) == 6.0);
        assert!(adapt(6.0, &mixed, 0.05) > 8.0);
    }

    #[test]
    fn labels_below_the_default_do_not_lower_it() {
        assert_eq!(adapt(6.0, &[l(3.0, false), l(4.0, true)], 0.05), 6.0);
    }
}
