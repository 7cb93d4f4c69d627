//! The matching signals. Each compares a source column with a target column and returns a value
//! in [0, 1], or `None` when it has nothing to say (no embedding, no values on one side…).

use super::features::ColumnFeatures;

/// Cosine similarity of the name embeddings (unit vectors), floored at 0.
pub fn name_embedding(s: &ColumnFeatures, t: &ColumnFeatures) -> Option<f64> {
    let (a, b) = (s.embedding.as_ref()?, t.embedding.as_ref()?);
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    Some(dot.clamp(0.0, 1.0) as f64)
}

fn stem(w: &str) -> &str {
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        &w[..w.len() - 1]
    } else {
        w
    }
}

/// Lexical similarity of the normalised names: the better of word-set Jaccard (light stemming) and
/// character-trigram Dice, so that `tumor_size_cm` ~ `tumor size` and `diagnosis` ~ `diagnoses`.
pub fn lexical(s: &ColumnFeatures, t: &ColumnFeatures) -> f64 {
    let sw: std::collections::HashSet<&str> = s.words.iter().map(|w| stem(w)).collect();
    let tw: std::collections::HashSet<&str> = t.words.iter().map(|w| stem(w)).collect();
    if sw.is_empty() || tw.is_empty() {
        return dice(&s.trigrams, &t.trigrams);
    }
    let common = sw.intersection(&tw).count() as f64;
    let jaccard = common / sw.union(&tw).count() as f64;
    // Every word of the shorter name in the longer one (`phone` ~ `phone number`), a bit below an
    // exact match.
    let containment = 0.8 * common / sw.len().min(tw.len()) as f64;
    jaccard.max(containment).max(dice(&s.trigrams, &t.trigrams))
}

/// Dice coefficient of two sorted, unique lists.
pub fn dice(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * common as f64 / (a.len() + b.len()) as f64
}

/// Can values of the source's type land in the target's type?
pub fn type_compat(s: &ColumnFeatures, t: &ColumnFeatures) -> f64 {
    let (a, b) = (s.type_family.as_str(), t.type_family.as_str());
    if a == b || untyped(s) || untyped(t) {
        return 1.0;
    }
    match (a, b) {
        ("integer", "numeric") | ("date", "timestamp") | ("timestamp", "date") => 0.9,
        ("numeric", "integer") => 0.7,
        // Text targets take anything; text sources may hold what the target wants.
        (_, "text") | ("text", _) => 0.7,
        ("boolean", "integer") | ("integer", "boolean") => 0.5,
        _ => 0.2,
    }
}

/// A text column without a single value says nothing about the type it holds.
fn untyped(c: &ColumnFeatures) -> bool {
    c.type_family == "text" && c.values.is_empty()
}

/// Weight of a match found word by word rather than value by value.
pub const WORD_MATCH: f64 = 0.8;

/// Share of the source's distinct values found among the target's: exactly, or (discounted by
/// [`WORD_MATCH`]) word by word when the same codes are written differently.
pub fn value_overlap(s: &ColumnFeatures, t: &ColumnFeatures) -> Option<f64> {
    if s.values.is_empty() || t.values.is_empty() {
        return None;
    }
    let exact = s.values.containment_in(&t.values);
    let words = match (&s.value_words, &t.value_words) {
        (Some(a), Some(b)) if exact < WORD_MATCH => WORD_MATCH * a.containment_in(b, &t.values),
        _ => 0.0,
    };
    Some(exact.max(words))
}

/// Similarity of value distributions: for numbers, the overlap of the central ranges (p5–p95);
/// for text, the ratio of mean lengths.
pub fn distribution(s: &ColumnFeatures, t: &ColumnFeatures) -> Option<f64> {
    if let (Some(a), Some(b)) = (&s.quantiles, &t.quantiles) {
        let (lo, hi) = (a[1].max(b[1]), a[5].min(b[5]));
        let span = a[5].max(b[5]) - a[1].min(b[1]);
        return Some(if span <= 0.0 { 1.0 } else { ((hi - lo) / span).clamp(0.0, 1.0) });
    }
    let (a, b) = (s.length_mean?, t.length_mean?);
    if a <= 0.0 || b <= 0.0 {
        return None;
    }
    Some(a.min(b) / a.max(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::features::ColumnFeatures;

    fn col(name: &str, values: &[&str]) -> ColumnFeatures {
        let vals: Vec<Option<&str>> = values.iter().map(|v| Some(*v)).collect();
        ColumnFeatures::from_values(name, Some("text"), &vals).1
    }

    #[test]
    fn embedding_signal() {
        let a = col("a", &[]).with_embedding(vec![1.0, 0.0]);
        let b = col("b", &[]).with_embedding(vec![0.6, 0.8]);
        assert!((name_embedding(&a, &b).unwrap() - 0.6).abs() < 1e-6);
        assert_eq!(name_embedding(&a, &col("c", &[])), None);
        let c = col("c", &[]).with_embedding(vec![-1.0, 0.0]);
        assert_eq!(name_embedding(&a, &c), Some(0.0));
    }

    #[test]
    fn lexical_signal() {
        assert_eq!(lexical(&col("Tumor_Site", &[]), &col("tumor site", &[])), 1.0);
        assert!(lexical(&col("cust_qty", &[]), &col("customer_quantity", &[])) > 0.99);
        assert!(lexical(&col("diagnosis", &[]), &col("diagnoses", &[])) > 0.6);
        assert!(lexical(&col("gender", &[]), &col("amount", &[])) < 0.2);
        assert!((lexical(&col("phone", &[]), &col("phone_number", &[])) - 0.8).abs() < 1e-9);
        assert_eq!(dice(&[], &[1]), 0.0);
    }

    #[test]
    fn type_signal() {
        let int = col("a", &["1", "2"]);
        let num = col("b", &["1.5", "2"]);
        let date = col("c", &["2024-01-01"]);
        let txt = col("d", &["x"]);
        assert_eq!(type_compat(&int, &int), 1.0);
        assert_eq!(type_compat(&int, &num), 0.9);
        assert_eq!(type_compat(&date, &txt), 0.7);
        assert_eq!(type_compat(&date, &int), 0.2);
        // A text column without values says nothing about its type.
        assert_eq!(type_compat(&date, &col("e", &[])), 1.0);
    }

    #[test]
    fn value_and_distribution_signals() {
        let s = col("sex", &["Male", "Female"]);
        let t = col("gender", &["male", "female", "unknown"]);
        assert_eq!(value_overlap(&s, &t), Some(1.0));
        assert_eq!(value_overlap(&s, &col("e", &[])), None);
        // Codes written differently match word by word, discounted.
        let stage = value_overlap(&col("stage", &["IA", "IIB"]), &col("figo_stage", &["Stage IA", "Stage IIB"]));
        assert_eq!(stage, Some(WORD_MATCH));
        let a = col("a", &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
        let b = col("b", &["6", "7", "8", "9", "10", "11", "12", "13", "14", "15"]);
        let d = distribution(&a, &b).unwrap();
        assert!(d > 0.1 && d < 0.6, "{d}");
        assert_eq!(distribution(&a, &a), Some(1.0));
        assert!((distribution(&col("x", &["ab"]), &col("y", &["abcd"])).unwrap() - 0.5).abs() < 1e-9);
    }
}
