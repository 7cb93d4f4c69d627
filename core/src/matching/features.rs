//! Features of a column used by the matching signals, built from its values in one pass.

use std::collections::HashSet;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::names;
use crate::profile::{type_family, ColumnProfile, ColumnProfiler};

/// Distinct values kept exactly up to this many; beyond, only the MinHash signature is used.
pub const EXACT_VALUES: usize = 5000;
/// Sets up to this size are compared exactly, value by value.
pub const EXACT_WALK: usize = 256;
/// MinHash signature length.
pub const MINHASH_K: usize = 128;

/// The distinct (normalised) values of a column: exactly when few, always as a MinHash signature.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValueSet {
    pub distinct: usize,
    pub exact: Option<HashSet<String>>,
    pub minhash: Vec<u64>,
    /// Every word of every distinct value, sorted, when there are at most [`MAX_WORDS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<Vec<String>>,
}

/// A column's value words are kept up to this many distinct words.
pub const MAX_WORDS: usize = 4096;

/// Values compare case-insensitively, trimmed, with inner whitespace collapsed.
pub fn normalize_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

impl ValueSet {
    pub fn from_values<'a, I: IntoIterator<Item = &'a str>>(values: I) -> ValueSet {
        let set: HashSet<String> = values.into_iter().map(normalize_value).filter(|v| !v.is_empty()).collect();
        let mut minhash = vec![u64::MAX; MINHASH_K];
        for v in &set {
            for (i, m) in minhash.iter_mut().enumerate() {
                let h = xxh3_64_with_seed(v.as_bytes(), i as u64);
                if h < *m {
                    *m = h;
                }
            }
        }
        let words: std::collections::BTreeSet<&str> = set.iter().flat_map(|v| value_words_of(v)).collect();
        let words = (words.len() <= MAX_WORDS).then(|| words.into_iter().map(str::to_string).collect());
        let distinct = set.len();
        ValueSet { distinct, exact: (distinct <= EXACT_VALUES).then_some(set), minhash, words }
    }

    pub fn is_empty(&self) -> bool {
        self.distinct == 0
    }

    /// The form kept in the catalog: the exact values only when few enough to compare one by one.
    pub fn for_storage(mut self) -> ValueSet {
        if self.distinct > EXACT_WALK {
            self.exact = None;
        }
        self
    }

    /// Estimated Jaccard similarity from the signatures.
    pub fn minhash_jaccard(&self, other: &ValueSet) -> f64 {
        let same = self.minhash.iter().zip(&other.minhash).filter(|(a, b)| a == b && **a != u64::MAX).count();
        same as f64 / MINHASH_K as f64
    }

    /// Share of this set's values found in `other`: exact when both sets are kept, else from the
    /// MinHash Jaccard and the set sizes (|A ∩ B| = J (|A| + |B|) / (1 + J)).
    pub fn containment_in(&self, other: &ValueSet) -> f64 {
        if self.is_empty() || other.is_empty() {
            return 0.0;
        }
        // Exact when both sets are kept and this one is small enough to walk for every pair.
        if let (Some(a), Some(b)) = (&self.exact, &other.exact) {
            if a.len() <= EXACT_WALK {
                return a.iter().filter(|v| b.contains(*v)).count() as f64 / a.len() as f64;
            }
        }
        let j = self.minhash_jaccard(other);
        let inter = j * (self.distinct + other.distinct) as f64 / (1.0 + j);
        (inter / self.distinct as f64).min(1.0)
    }
}

/// Everything the signals need to know about one column.
#[derive(Debug, Clone, Default)]
pub struct ColumnFeatures {
    pub name: String,
    /// Normalised words of the name (split, lower-cased, abbreviations expanded).
    pub words: Vec<String>,
    /// Hashed character trigrams of the normalised name, sorted and unique.
    pub trigrams: Vec<u32>,
    pub embedding: Option<Vec<f32>>,
    /// integer, numeric, boolean, date, timestamp, uuid, json or text.
    pub type_family: String,
    pub values: ValueSet,
    /// p0, p5, p25, p50, p75, p95, p100 of numeric values.
    pub quantiles: Option<Vec<f64>>,
    pub length_mean: Option<f64>,
    pub null_rate: f64,
    /// The words of the distinct values, when they are few enough to be kept exactly.
    pub value_words: Option<ValueWords>,
}

/// The words of a column's distinct values, for comparing coded values written differently
/// (`IA` ~ `Stage IA`, `R0: No residual tumor` ~ `R0`, `Colon` ~ `Colon, NOS`).
#[derive(Debug, Clone, Default)]
pub struct ValueWords {
    /// The words of each distinct value that has a word with a letter (purely numeric values are
    /// left to the exact comparison); only when the values are few enough to walk.
    pub per_value: Vec<Vec<String>>,
    /// Every word of every distinct value.
    pub all: HashSet<String>,
}

/// The words of a normalised value: runs of letters and digits.
pub fn value_words_of(v: &str) -> impl Iterator<Item = &str> {
    v.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

impl ValueWords {
    pub fn of(values: &ValueSet) -> Option<ValueWords> {
        let all: HashSet<String> = values.words.as_ref()?.iter().cloned().collect();
        let per_value = match values.exact.as_ref().filter(|e| e.len() <= EXACT_WALK) {
            Some(exact) => exact
                .iter()
                .map(|v| value_words_of(v).map(str::to_string).collect::<Vec<_>>())
                .filter(|words| words.iter().any(|w| w.chars().any(char::is_alphabetic)))
                .collect(),
            None => Vec::new(),
        };
        (!all.is_empty()).then_some(ValueWords { per_value, all })
    }

    /// Share of this column's (non-numeric) distinct values that the other column's values
    /// account for word by word: every word of the value appears among the other's words, or one
    /// of its words (with a letter, two characters or more) is a whole value of the other.
    pub fn containment_in(&self, other: &ValueWords, other_values: &ValueSet) -> f64 {
        if self.per_value.is_empty() {
            return 0.0;
        }
        let other_exact = other_values.exact.as_ref();
        let hits = self
            .per_value
            .iter()
            .filter(|words| {
                words.iter().all(|w| other.all.contains(w))
                    || other_exact.is_some_and(|e| words.iter().any(|w| w.len() >= 2 && w.chars().any(char::is_alphabetic) && e.contains(w)))
            })
            .count();
        hits as f64 / self.per_value.len() as f64
    }
}

impl ColumnFeatures {
    /// Features from stored parts (a column profile read back from the catalog).
    pub fn new(name: &str, type_family: &str, values: ValueSet, quantiles: Option<Vec<f64>>, length_mean: Option<f64>, null_rate: f64) -> Self {
        let words: Vec<String> = names::normalize(name).split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect();
        ColumnFeatures {
            value_words: ValueWords::of(&values),
            name: name.to_string(),
            trigrams: trigrams(&words),
            words,
            embedding: None,
            type_family: type_family.to_string(),
            values,
            quantiles,
            length_mean,
            null_rate,
        }
    }

    /// Features from a column's profile and its distinct values.
    pub fn from_profile<'a, I: IntoIterator<Item = &'a str>>(name: &str, profile: &ColumnProfile, distinct_values: I) -> Self {
        ColumnFeatures::new(
            name,
            type_family(&profile.inferred_type),
            ValueSet::from_values(distinct_values),
            profile.numeric.as_ref().map(|n| n.quantiles.clone()),
            profile.length_mean,
            profile.null_rate,
        )
    }

    /// Profile and features of a column from all its values (convenience for tests and benches).
    pub fn from_values(name: &str, declared_type: Option<&str>, values: &[Option<&str>]) -> (ColumnProfile, Self) {
        let mut p = ColumnProfiler::new(name, declared_type);
        values.iter().for_each(|v| p.add(*v));
        let distinct: HashSet<&str> = values.iter().flatten().copied().collect();
        let profile = p.finish();
        let features = ColumnFeatures::from_profile(name, &profile, distinct.into_iter());
        (profile, features)
    }

    pub fn with_embedding(mut self, embedding: Vec<f32>) -> Self {
        self.embedding = Some(embedding);
        self
    }
}

/// Hashed trigrams of each word padded with `#`, sorted and unique.
pub fn trigrams(words: &[String]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for w in words {
        let chars: Vec<char> = std::iter::once('#').chain(w.chars()).chain(std::iter::once('#')).collect();
        for t in chars.windows(3) {
            let s: String = t.iter().collect();
            out.push(xxh3_64_with_seed(s.as_bytes(), 7) as u32);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_sets_compare_normalised_values() {
        let a = ValueSet::from_values(["Male", "Female ", "male"]);
        let b = ValueSet::from_values(["male", "female", "unknown", "not reported"]);
        assert_eq!(a.distinct, 2);
        assert_eq!(a.containment_in(&b), 1.0);
        assert_eq!(b.containment_in(&a), 0.5);
        assert_eq!(ValueSet::from_values(Vec::<&str>::new()).containment_in(&b), 0.0);
    }

    #[test]
    fn value_words_match_codes_written_differently() {
        let words = |vals: &[&str]| {
            let set = ValueSet::from_values(vals.iter().copied());
            (ValueWords::of(&set).unwrap(), set)
        };
        let (stage_src, _) = words(&["IA", "IIIC1", "IVB"]);
        let (stage_tgt, stage_set) = words(&["Stage IA", "Stage IIIC1", "Stage IVB", "Not Reported"]);
        assert_eq!(stage_src.containment_in(&stage_tgt, &stage_set), 1.0);
        let (resid_src, _) = words(&["R0: No residual tumor", "RX: cannot be assessed"]);
        let (resid_tgt, resid_set) = words(&["R0", "R1", "RX"]);
        assert_eq!(resid_src.containment_in(&resid_tgt, &resid_set), 1.0);
        // Numbers are left to the exact comparison; unrelated words do not match.
        let (nums, _) = words(&["1", "2"]);
        assert_eq!(nums.containment_in(&stage_tgt, &stage_set), 0.0);
        let (other, _) = words(&["blue", "green"]);
        assert_eq!(other.containment_in(&stage_tgt, &stage_set), 0.0);
        // Words survive storage even when the exact values do not.
        let many: Vec<String> = (0..300).map(|i| format!("Stage {i}")).collect();
        let stored = ValueSet::from_values(many.iter().map(String::as_str)).for_storage();
        assert!(stored.exact.is_none() && stored.words.as_ref().is_some_and(|w| w.contains(&"stage".to_string())));
    }

    #[test]
    fn minhash_estimates_jaccard() {
        let a: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
        let b: Vec<String> = (500..1500).map(|i| format!("v{i}")).collect();
        let (sa, sb) = (ValueSet::from_values(a.iter().map(String::as_str)), ValueSet::from_values(b.iter().map(String::as_str)));
        let j = sa.minhash_jaccard(&sb);
        assert!((j - 1.0 / 3.0).abs() < 0.12, "jaccard {j}");
        // Force the estimate path.
        let (mut ea, mut eb) = (sa.clone(), sb.clone());
        ea.exact = None;
        eb.exact = None;
        let c = ea.containment_in(&eb);
        assert!((c - 0.5).abs() < 0.15, "containment {c}");
    }

    #[test]
    fn storage_round_trip() {
        let small = ValueSet::from_values(["a", "b"]).for_storage();
        let json = serde_json::to_string(&small).unwrap();
        assert_eq!(serde_json::from_str::<ValueSet>(&json).unwrap(), small);
        let many: Vec<String> = (0..300).map(|i| i.to_string()).collect();
        let big = ValueSet::from_values(many.iter().map(String::as_str)).for_storage();
        assert!(big.exact.is_none() && big.distinct == 300);
        let back: ValueSet = serde_json::from_str(&serde_json::to_string(&big).unwrap()).unwrap();
        assert_eq!(back.minhash, big.minhash, "u64 signatures survive JSON");
    }

    #[test]
    fn features_from_values() {
        let (_, f) = ColumnFeatures::from_values("Tumor_Size_cm", Some("text"), &[Some("12.0"), Some("6.5"), None]);
        assert_eq!(f.words, vec!["tumor", "size", "cm"]);
        assert_eq!(f.type_family, "numeric");
        assert_eq!(f.values.distinct, 2);
        assert!(f.quantiles.is_some());
    }
}
