//! One score per pair from the signals, a confidence per decision, and the routing bands.

use serde::Serialize;

use super::features::ColumnFeatures;
use super::signals;

/// The signals of one pair, kept so every decision can be explained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Signals {
    pub name_embedding: Option<f64>,
    pub lexical: f64,
    pub type_compat: f64,
    pub value_overlap: Option<f64>,
    pub distribution: Option<f64>,
    /// +1 approved before, -1 rejected before, absent when never decided.
    pub history: Option<f64>,
    /// The target column is always empty although its table has rows.
    pub target_empty: bool,
}

/// Weights of the signals in the score. Missing signals drop out and the others are re-weighted.
pub const W_EMBEDDING: f64 = 0.45;
pub const W_LEXICAL: f64 = 0.30;
pub const W_VALUES: f64 = 0.35;
pub const W_DISTRIBUTION: f64 = 0.05;
/// Share of the stronger of the two name signals in the name score (the weaker breaks ties).
pub const NAME_MAX: f64 = 0.85;
/// Weight given to the values signal, as a share of W_VALUES, when few values are shared.
pub const VALUES_FLOOR: f64 = 0.5;

/// Confidence bands: above AUTO the mapping is approved, from LLM to AUTO it goes to the LLM (or
/// review when none is configured), below LLM to review.
pub const AUTO: f64 = 0.85;
pub const LLM: f64 = 0.70;
/// A source column whose best target scores below this is proposed as a new column.
pub const NEW_COLUMN_BELOW: f64 = 0.45;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    AutoApproved,
    Llm,
    Review,
}

impl Band {
    pub fn of(confidence: f64) -> Band {
        if confidence > AUTO {
            Band::AutoApproved
        } else if confidence >= LLM {
            Band::Llm
        } else {
            Band::Review
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Band::AutoApproved => "auto_approved",
            Band::Llm => "llm",
            Band::Review => "review",
        }
    }
}

/// All signals of a pair.
pub fn signals(s: &ColumnFeatures, t: &ColumnFeatures, history: Option<f64>) -> Signals {
    Signals {
        name_embedding: signals::name_embedding(s, t),
        lexical: signals::lexical(s, t),
        type_compat: signals::type_compat(s, t),
        value_overlap: signals::value_overlap(s, t),
        distribution: signals::distribution(s, t),
        history,
        target_empty: t.values.is_empty() && t.null_rate >= 1.0,
    }
}

/// The pair's score in [0, 1]: a weighted mean of the available signals, scaled by type
/// compatibility, then moved by history (an earlier approval lifts it, a rejection sinks it).
pub fn score(sig: &Signals) -> f64 {
    let mut num = W_LEXICAL * sig.lexical;
    let mut den = W_LEXICAL;
    // Names: the embedding and the lexical signal agree most of the time; when one is much
    // stronger (an abbreviation the embedding misses, a synonym the letters miss), trust it.
    if let Some(e) = sig.name_embedding {
        num += W_EMBEDDING * (NAME_MAX * e.max(sig.lexical) + (1.0 - NAME_MAX) * e.min(sig.lexical));
        den += W_EMBEDDING;
    }
    // Values: shared values add evidence; disjoint values weigh a little against the pair.
    if let Some(v) = sig.value_overlap {
        num += W_VALUES * v;
        den += W_VALUES * v.max(VALUES_FLOOR);
    }
    if let Some(d) = sig.distribution {
        num += W_DISTRIBUTION * d;
        den += W_DISTRIBUTION;
    }
    let base = (num / den) * (0.6 + 0.4 * sig.type_compat);
    match sig.history {
        Some(h) if h > 0.0 => base.max(0.95),
        Some(h) if h < 0.0 => base * 0.3,
        _ => base,
    }
}

/// Confidence of choosing a target whose score is `best` when the runner-up scores `second`: the
/// score, discounted when another target is nearly as good (an ambiguous choice is not a confident
/// one) and when the evidence at hand contradicts the names (see [`corroboration`]).
pub fn confidence(best: f64, second: f64, sig: &Signals) -> f64 {
    let margin = (best - second).max(0.0);
    (best * (0.75 + 0.25 * (margin / 0.15).min(1.0)) * corroboration(sig)).clamp(0.0, 1.0)
}

/// 1 when nothing contradicts the pair; below 1 when the values say otherwise: both columns have
/// values but (almost) none are shared, even word by word. A pair without values on one side (an
/// empty target table, a column never filled) has no such evidence and is not penalised. Past
/// approvals override it.
pub fn corroboration(sig: &Signals) -> f64 {
    if sig.history.is_some_and(|h| h > 0.0) {
        return 1.0;
    }
    match sig.value_overlap {
        Some(v) if v < 0.2 => 0.85,
        Some(v) if v < 0.5 => 0.95,
        _ => 1.0,
    }
}

/// A scored pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairScore {
    pub score: f32,
}

/// Scores of every (source, target) pair, row-major `sources.len() × targets.len()`, computed on
/// all cores. `history(i, j)` gives the history signal of a pair.
pub fn score_matrix<H>(sources: &[ColumnFeatures], targets: &[ColumnFeatures], history: H) -> Vec<f32>
where
    H: Fn(usize, usize) -> Option<f64> + Sync,
{
    let n = targets.len();
    let mut out = vec![0f32; sources.len() * n];
    if n == 0 || sources.is_empty() {
        return out;
    }
    let threads = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).min(sources.len());
    let rows_per = sources.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for (chunk_index, chunk) in out.chunks_mut(rows_per * n).enumerate() {
            let history = &history;
            scope.spawn(move || {
                for (r, row) in chunk.chunks_mut(n).enumerate() {
                    let i = chunk_index * rows_per + r;
                    for (j, cell) in row.iter_mut().enumerate() {
                        *cell = score(&signals(&sources[i], &targets[j], history(i, j))) as f32;
                    }
                }
            });
        }
    });
    out
}

/// Best score in a row among the targets other than `chosen` (0 when there is none).
pub fn runner_up(row: &[f32], chosen: usize) -> f64 {
    row.iter().enumerate().filter(|(k, _)| *k != chosen).map(|(_, s)| *s as f64).fold(0.0, f64::max)
}

/// Target indices of one row, best first.
pub fn ranked(row: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(e: f64, l: f64, v: Option<f64>) -> Signals {
        Signals { name_embedding: Some(e), lexical: l, type_compat: 1.0, value_overlap: v, distribution: None, history: None, target_empty: false }
    }

    #[test]
    fn score_is_bounded_and_monotone() {
        let low = score(&sig(0.2, 0.1, None));
        let high = score(&sig(0.9, 0.9, Some(1.0)));
        assert!((0.0..=1.0).contains(&low) && (0.0..=1.0).contains(&high) && high > low);
        assert!(score(&sig(0.9, 0.9, None)) > 0.85);
        assert_eq!(score(&sig(1.0, 1.0, Some(1.0))), 1.0);
        // Shared values add evidence; disjoint values weigh a little against the pair, less than
        // the names weigh for it.
        let none = score(&sig(0.6, 0.5, None));
        assert!(score(&sig(0.6, 0.5, Some(1.0))) > none);
        let disjoint = score(&sig(0.6, 0.5, Some(0.0)));
        assert!(disjoint < none && disjoint > 0.75 * none, "{disjoint} vs {none}");
        // The weaker name signal breaks ties between equally strong ones.
        assert!(score(&sig(0.6, 0.8, None)) > score(&sig(0.3, 0.8, None)));
    }

    #[test]
    fn types_and_history_move_the_score() {
        let mut s = sig(0.9, 0.9, None);
        let base = score(&s);
        s.type_compat = 0.2;
        assert!(score(&s) < base * 0.75);
        s.type_compat = 1.0;
        s.history = Some(1.0);
        assert!(score(&s) >= 0.95);
        s.history = Some(-1.0);
        assert!(score(&s) < 0.3);
    }

    #[test]
    fn confidence_and_bands() {
        let plain = sig(0.9, 0.9, None);
        assert!(confidence(0.95, 0.2, &plain) > 0.9);
        assert!(confidence(0.95, 0.94, &plain) < 0.75);
        // Same names, disjoint values: not auto-approved.
        assert!(confidence(1.0, 0.2, &sig(1.0, 1.0, Some(0.0))) <= AUTO);
        // A target column never filled is no evidence either way.
        let empty = Signals { target_empty: true, ..plain };
        assert_eq!(confidence(1.0, 0.2, &empty), confidence(1.0, 0.2, &plain));
        // An approval in the past wins.
        let approved = Signals { history: Some(1.0), ..sig(1.0, 1.0, Some(0.0)) };
        assert!(confidence(1.0, 0.2, &approved) > AUTO);
        assert_eq!(Band::of(0.9), Band::AutoApproved);
        assert_eq!(Band::of(0.85), Band::Llm);
        assert_eq!(Band::of(0.7), Band::Llm);
        assert_eq!(Band::of(0.69), Band::Review);
    }

    #[test]
    fn matrix_and_ranking() {
        use crate::matching::features::ColumnFeatures;
        let f = |n: &str| ColumnFeatures::from_values(n, Some("text"), &[Some("x")]).1;
        let sources = vec![f("customer_email"), f("order_total")];
        let targets = vec![f("total"), f("email"), f("customer email")];
        let m = score_matrix(&sources, &targets, |_, _| None);
        assert_eq!(m.len(), 6);
        assert_eq!(ranked(&m[0..3])[0], 2);
        assert_eq!(ranked(&m[3..6])[0], 0);
        assert_eq!(runner_up(&[0.9, 0.4, 0.7], 0), 0.7f32 as f64);
        assert_eq!(runner_up(&[0.9], 0), 0.0);
    }
}
