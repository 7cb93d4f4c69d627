//! From scores to decisions: a 1:1 assignment maximising the total score (Hungarian algorithm,
//! `pathfinding::kuhn_munkres`), or 1:n (every target close to a source's best).

use pathfinding::prelude::{kuhn_munkres, Matrix};

/// Scores are scaled to integers for the Hungarian algorithm.
const SCALE: f64 = 1_000_000.0;

/// For each source row, its target column in the 1:1 assignment with the highest total score, or
/// `None` when its assigned score is below `min_score` (or there are fewer targets than sources).
pub fn one_to_one(scores: &[f32], sources: usize, targets: usize, min_score: f64) -> Vec<Option<usize>> {
    if sources == 0 || targets == 0 {
        return vec![None; sources];
    }
    let weight = |i: usize, j: usize| (scores[i * targets + j] as f64 * SCALE) as i64;
    let mut out = vec![None; sources];
    if sources <= targets {
        let m = Matrix::from_fn(sources, targets, |(i, j)| weight(i, j));
        let (_, assignment) = kuhn_munkres(&m);
        for (i, j) in assignment.into_iter().enumerate() {
            out[i] = Some(j);
        }
    } else {
        // More sources than targets: assign targets to sources, then invert.
        let m = Matrix::from_fn(targets, sources, |(j, i)| weight(i, j));
        let (_, assignment) = kuhn_munkres(&m);
        for (j, i) in assignment.into_iter().enumerate() {
            out[i] = Some(j);
        }
    }
    for (i, slot) in out.iter_mut().enumerate() {
        if slot.is_some_and(|j| (scores[i * targets + j] as f64) < min_score) {
            *slot = None;
        }
    }
    out
}

/// 1:n: for each source, every target scoring at least `min_score` and within `within` of its
/// best, best first.
pub fn one_to_many(scores: &[f32], sources: usize, targets: usize, min_score: f64, within: f64) -> Vec<Vec<usize>> {
    (0..sources)
        .map(|i| {
            let row = &scores[i * targets..(i + 1) * targets];
            let best = row.iter().copied().fold(f32::MIN, f32::max) as f64;
            let mut picks: Vec<usize> = (0..targets).filter(|&j| row[j] as f64 >= min_score && row[j] as f64 >= best - within).collect();
            picks.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            picks
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hungarian_beats_greedy() {
        // Greedy would give source 0 target 0 (0.9) and leave source 1 with 0.1.
        let scores = [0.9, 0.8, 0.85, 0.1];
        assert_eq!(one_to_one(&scores, 2, 2, 0.0), vec![Some(1), Some(0)]);
    }

    #[test]
    fn rectangular_and_thresholds() {
        // 3 sources, 2 targets: one source stays unmatched.
        let scores = [0.9, 0.1, 0.2, 0.8, 0.3, 0.3];
        assert_eq!(one_to_one(&scores, 3, 2, 0.0), vec![Some(0), Some(1), None]);
        assert_eq!(one_to_one(&scores, 3, 2, 0.85), vec![Some(0), None, None]);
        assert_eq!(one_to_one(&[], 0, 3, 0.0), Vec::<Option<usize>>::new());
        assert_eq!(one_to_one(&[], 2, 0, 0.0), vec![None, None]);
    }

    #[test]
    fn one_to_many_keeps_close_targets() {
        let scores = [0.9, 0.88, 0.5, 0.3];
        assert_eq!(one_to_many(&scores, 1, 4, 0.4, 0.05), vec![vec![0, 1]]);
        assert_eq!(one_to_many(&scores, 1, 4, 0.95, 0.05), vec![Vec::<usize>::new()]);
    }
}
