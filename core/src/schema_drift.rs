//! Schema drift healed under a contract (docs/healing.md): what changed between a pipeline's
//! source and what its silver table was built from, what the pipeline's contract says to do about
//! each kind of change, whether a type change widens or narrows, how sure eai is that a column
//! was renamed, the safeguards on automatic actions, and the canary that judges a heal by the
//! first batch after it. Pure: the glue (src/drift.rs) gathers the evidence and acts.

use crate::matching::combine::Signals;

/// A kind of change at the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    NewColumn,
    RenamedColumn,
    RemovedColumn,
    WidenedType,
    NarrowedType,
}

impl Change {
    pub const ALL: [Change; 5] = [Change::NewColumn, Change::RenamedColumn, Change::RemovedColumn, Change::WidenedType, Change::NarrowedType];

    pub fn as_str(self) -> &'static str {
        match self {
            Change::NewColumn => "new_column",
            Change::RenamedColumn => "renamed_column",
            Change::RemovedColumn => "removed_column",
            Change::WidenedType => "widened_type",
            Change::NarrowedType => "narrowed_type",
        }
    }

    pub fn from_name(name: &str) -> Option<Change> {
        Change::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// What the contract says to do with a change (dlt's schema contracts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Follow the change: map the new column, follow the rename, keep the removed column NULL,
    /// widen silver's type.
    Evolve,
    /// Silver stays as it is: new columns stay in `_eai_extra`, a renamed column is not followed,
    /// a type is not widened (values that no longer cast are quarantined).
    Freeze,
    /// Rows that carry the change go to quarantine.
    DiscardRow,
    /// Values that carry the change are dropped (NULL), rows are kept.
    DiscardValue,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Evolve => "evolve",
            Policy::Freeze => "freeze",
            Policy::DiscardRow => "discard_row",
            Policy::DiscardValue => "discard_value",
        }
    }

    pub fn from_name(name: &str) -> Option<Policy> {
        [Policy::Evolve, Policy::Freeze, Policy::DiscardRow, Policy::DiscardValue].into_iter().find(|p| p.as_str() == name)
    }
}

/// Who applies what the policy asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    /// eai, at once (within the safeguards).
    Auto,
    /// A person, with eai.approve_remediation: eai proposes and escalates.
    Approve,
    /// Nobody: eai records the change and escalates.
    Never,
}

impl Apply {
    pub fn as_str(self) -> &'static str {
        match self {
            Apply::Auto => "auto",
            Apply::Approve => "approve",
            Apply::Never => "never",
        }
    }

    pub fn from_name(name: &str) -> Option<Apply> {
        [Apply::Auto, Apply::Approve, Apply::Never].into_iter().find(|a| a.as_str() == name)
    }
}

/// The contract when a pipeline sets none: follow what is safe to follow, by itself; a narrowed
/// type keeps silver's type (values that no longer cast are quarantined) and asks a person.
pub fn default_contract(change: Change) -> (Policy, Apply) {
    match change {
        Change::NarrowedType => (Policy::DiscardRow, Apply::Approve),
        _ => (Policy::Evolve, Apply::Auto),
    }
}

/// How a column's type changed, by PostgreSQL's names (`format_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeChange {
    Same,
    /// Every old value fits the new type: silver can follow.
    Widened,
    /// The new type holds less: old values may not fit.
    Narrowed,
    /// Neither holds the other.
    Incompatible,
}

/// (base name, modifiers) of a type: `numeric(10,2)` → ("numeric", [10, 2]).
fn parse_type(t: &str) -> (String, Vec<i64>) {
    let t = t.trim().to_ascii_lowercase();
    match t.split_once('(') {
        Some((base, rest)) => {
            let mods = rest.trim_end_matches(')').split(',').filter_map(|m| m.trim().parse().ok()).collect();
            (base.trim().to_string(), mods)
        }
        None => (t, Vec::new()),
    }
}

/// Rank of a type along one widening chain, with the chain's name.
fn chain(base: &str) -> Option<(&'static str, u8)> {
    Some(match base {
        "smallint" => ("integer", 0),
        "integer" => ("integer", 1),
        "bigint" => ("integer", 2),
        "numeric" => ("integer", 3),
        "real" => ("float", 0),
        "double precision" => ("float", 1),
        "date" => ("time", 0),
        "timestamp without time zone" => ("time", 1),
        "timestamp with time zone" => ("time", 2),
        "character" => ("text", 0),
        "character varying" => ("text", 1),
        "text" => ("text", 2),
        _ => return None,
    })
}

pub fn type_change(from: &str, to: &str) -> TypeChange {
    let ((fb, fm), (tb, tm)) = (parse_type(from), parse_type(to));
    if fb == tb {
        return match (fb.as_str(), fm.as_slice(), tm.as_slice()) {
            (_, f, t) if f == t => TypeChange::Same,
            // An unset modifier holds every value.
            (_, _, []) => TypeChange::Widened,
            (_, [], _) => TypeChange::Narrowed,
            ("numeric", [fp, fs], [tp, ts]) => {
                if tp - ts >= fp - fs && ts >= fs {
                    TypeChange::Widened
                } else if tp - ts <= fp - fs && ts <= fs {
                    TypeChange::Narrowed
                } else {
                    TypeChange::Incompatible
                }
            }
            (_, [f, ..], [t, ..]) if t >= f => TypeChange::Widened,
            _ => TypeChange::Narrowed,
        };
    }
    match (chain(&fb), chain(&tb)) {
        (Some((fc, fr)), Some((tc, tr))) if fc == tc => {
            // Integers into a numeric with a scale or too few digits may not fit.
            if tb == "numeric" && !tm.is_empty() {
                return TypeChange::Incompatible;
            }
            if tr > fr {
                TypeChange::Widened
            } else {
                TypeChange::Narrowed
            }
        }
        // Any integer fits a double; a real or a double does not fit an integer.
        (Some(("integer", r)), Some(("float", 1))) if r <= 2 => TypeChange::Widened,
        (Some(_), Some(("text", 2))) => TypeChange::Widened,
        (Some(("text", 2)), Some(_)) => TypeChange::Narrowed,
        _ => TypeChange::Incompatible,
    }
}

/// How alike a vanished column and a new one are, for a rename: the names (embedding and
/// letters), the distributions, and shared values as a bonus only (a renamed column brings new
/// rows, whose values need not repeat the old ones), scaled by type compatibility.
pub fn rename_score(sig: &Signals) -> f64 {
    let name = match sig.name_embedding {
        Some(e) => 0.85 * e.max(sig.lexical) + 0.15 * e.min(sig.lexical),
        None => sig.lexical,
    };
    let base = 0.5 * name + 0.3 * sig.distribution.unwrap_or(0.5) + 0.2 * sig.value_overlap.unwrap_or(0.0);
    (base * (0.6 + 0.4 * sig.type_compat)).clamp(0.0, 1.0)
}

/// How sure eai is that `old` was renamed to `new`, from the pair's score (the mapping signals:
/// name embedding, letters, values, distribution, type), the score of the next best new column
/// for `old`, whether both have the same type family, and the structure: `old` stopped arriving
/// in the batch where `new` started, which takes away most of the doubt (60%).
pub fn rename_confidence(pair_score: f64, runner_up: f64, same_family: bool, vanished_together: bool) -> f64 {
    if !same_family {
        return 0.0;
    }
    let margin = (pair_score - runner_up).max(0.0);
    let base = (pair_score * (0.75 + 0.25 * (margin / 0.15).min(1.0))).clamp(0.0, 1.0);
    if vanished_together {
        1.0 - (1.0 - base) * 0.4
    } else {
        base
    }
}

/// What eai does with one detected change.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Apply it now, approved by eai (why).
    Apply(String),
    /// Propose it: a person approves it (why it is not applied by itself).
    Propose(String),
    /// Record it only (why).
    Record(String),
}

impl Verdict {
    pub fn status(&self) -> &'static str {
        match self {
            Verdict::Apply(_) => "applied",
            Verdict::Propose(_) => "proposed",
            Verdict::Record(_) => "recorded",
        }
    }

    pub fn why(&self) -> &str {
        match self {
            Verdict::Apply(w) | Verdict::Propose(w) | Verdict::Record(w) => w,
        }
    }
}

/// Confidence above which eai applies a mapping or a rename by itself (the mapping's auto band).
pub const AUTO: f64 = 0.85;
/// Below this, a rename is not proposed at all: the columns are a removal and a new column.
pub const RENAME_MIN: f64 = 0.70;

/// The verdict on a change under its contract: `confidence` for a rename or a mapping, `safe` the
/// safeguards' answer for an automatic action.
/// The remediation a `discard_row` or `discard_value` contract asks for: it applies to what a new
/// or renamed column brings (the rows carrying its values go to quarantine, or its values are
/// dropped from silver; bronze keeps them). For a removed column or a type change, a discard
/// policy changes nothing eai could apply: it is recorded (a narrowed type's values that no longer
/// cast go to quarantine anyway).
pub fn discard_action(change: Change, policy: Policy) -> Option<&'static str> {
    match (change, policy) {
        (Change::NewColumn | Change::RenamedColumn, Policy::DiscardRow) => Some("discard_rows"),
        (Change::NewColumn | Change::RenamedColumn, Policy::DiscardValue) => Some("discard_values"),
        _ => None,
    }
}

pub fn verdict(change: Change, policy: Policy, apply: Apply, confidence: Option<f64>, safe: Result<(), String>) -> Verdict {
    let discard = discard_action(change, policy).is_some();
    if policy != Policy::Evolve && !discard {
        return Verdict::Record(format!("the contract for a {} is {}: silver is not changed", change.as_str().replace('_', " "), policy.as_str()));
    }
    match apply {
        Apply::Never => return Verdict::Record(format!("the contract for a {} is never to apply it", change.as_str().replace('_', " "))),
        Apply::Approve => return Verdict::Propose(format!("the contract for a {} asks a person to approve it", change.as_str().replace('_', " "))),
        Apply::Auto => {}
    }
    // A discard does not depend on how sure eai is of a match: the column is new either way.
    if let (Some(c), false) = (confidence, discard) {
        if c <= AUTO {
            return Verdict::Propose(format!("confidence {c:.2} is not above {AUTO}: a person decides"));
        }
    }
    match safe {
        Err(why) => Verdict::Propose(format!("not applied by itself: {why}")),
        Ok(()) => Verdict::Apply(match (confidence, discard) {
            (_, true) => format!("eai (auto: the contract says {})", policy.as_str()),
            (Some(c), false) => format!("eai (auto: confidence {c:.2} > {AUTO})"),
            (None, false) => "eai (auto: the contract follows it)".into(),
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Safeguards {
    /// An action kind runs by itself only while this share of its recent outcomes succeeded.
    pub min_success_rate: f64,
    /// Outcomes the rate is taken over (and needed before it counts).
    pub window: usize,
    /// Automatic actions per pipeline per hour at most.
    pub max_per_hour: usize,
    /// A target whose remediations failed this many times is left to a person.
    pub max_failures_per_target: usize,
}

/// Whether an automatic action may run: its kind's recent outcomes (true: succeeded; most recent
/// first), the failed remediations on the same target, the pipeline's automatic actions in the
/// last hour.
pub fn safeguard(kind_outcomes: &[bool], failures_on_target: usize, auto_last_hour: usize, s: &Safeguards) -> Result<(), String> {
    if failures_on_target >= s.max_failures_per_target {
        return Err(format!("{failures_on_target} remediation(s) of this target failed before"));
    }
    if auto_last_hour >= s.max_per_hour {
        return Err(format!("{auto_last_hour} automatic action(s) on this pipeline in the last hour, the most eai.heal_max_actions_per_hour allows"));
    }
    let recent = &kind_outcomes[..kind_outcomes.len().min(s.window)];
    if s.window > 0 && recent.len() >= s.window {
        let rate = recent.iter().filter(|&&ok| ok).count() as f64 / recent.len() as f64;
        if rate < s.min_success_rate {
            return Err(format!(
                "this kind of action succeeded in {:.0}% of its last {} outcomes, below eai.heal_min_success_rate ({:.0}%)",
                rate * 100.0,
                recent.len(),
                s.min_success_rate * 100.0
            ));
        }
    }
    Ok(())
}

/// The canary's judgement of the first batch promoted after a heal: its share of quarantined rows
/// against the pipeline's usual share, and silver's quality score against the one before the heal.
pub fn canary(
    baseline_quarantine: f64,
    observed_quarantine: f64,
    quality_before: Option<f64>,
    quality_after: Option<f64>,
    max_drop: f64,
) -> Result<String, String> {
    let rise = observed_quarantine - baseline_quarantine;
    if rise > max_drop {
        return Err(format!(
            "{:.0}% of the first batch after the heal was quarantined, {:.0}% before (more than eai.canary_max_drop = {:.0} points)",
            observed_quarantine * 100.0,
            baseline_quarantine * 100.0,
            max_drop * 100.0
        ));
    }
    if let (Some(b), Some(a)) = (quality_before, quality_after) {
        if b - a > max_drop {
            return Err(format!("the quality score fell from {b:.2} to {a:.2} (more than eai.canary_max_drop = {max_drop:.2})"));
        }
        return Ok(format!(
            "quarantined {:.0}% (before {:.0}%), quality {a:.2} (before {b:.2})",
            observed_quarantine * 100.0,
            baseline_quarantine * 100.0
        ));
    }
    Ok(format!("quarantined {:.0}% (before {:.0}%)", observed_quarantine * 100.0, baseline_quarantine * 100.0))
}

/// Judges the values a heal wrote into silver at once (a column's source changed: the rows that
/// came without it are filled from bronze): silver's validity score (the expectations) just after
/// the backfill against just before. Worse by more than `max_drop`, the heal is undone at once,
/// before any batch flows through it.
pub fn backfill_check(quality_before: Option<f64>, quality_after: Option<f64>, max_drop: f64) -> Result<String, String> {
    match (quality_before, quality_after) {
        (Some(b), Some(a)) if b - a > max_drop => Err(format!(
            "the values filled from bronze break the expectations: the validity score fell from {b:.2} to {a:.2} (more than eai.canary_max_drop = {max_drop:.2})"
        )),
        (Some(b), Some(a)) => Ok(format!("backfill: validity {a:.2} (before {b:.2})")),
        _ => Ok("backfill: no validity score to compare".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_and_narrowing() {
        for (from, to, want) in [
            ("integer", "bigint", TypeChange::Widened),
            ("smallint", "numeric", TypeChange::Widened),
            ("bigint", "integer", TypeChange::Narrowed),
            ("real", "double precision", TypeChange::Widened),
            ("integer", "double precision", TypeChange::Widened),
            ("double precision", "integer", TypeChange::Incompatible),
            ("numeric(10,2)", "numeric(12,2)", TypeChange::Widened),
            ("numeric(10,2)", "numeric(12,4)", TypeChange::Widened),
            ("numeric(10,2)", "numeric(8,2)", TypeChange::Narrowed),
            ("numeric(10,2)", "numeric(10,4)", TypeChange::Incompatible),
            ("numeric(10,2)", "numeric", TypeChange::Widened),
            ("date", "timestamp without time zone", TypeChange::Widened),
            ("timestamp with time zone", "date", TypeChange::Narrowed),
            ("character varying(20)", "character varying(50)", TypeChange::Widened),
            ("character varying(50)", "character varying(20)", TypeChange::Narrowed),
            ("character varying(50)", "text", TypeChange::Widened),
            ("integer", "text", TypeChange::Widened),
            ("text", "integer", TypeChange::Narrowed),
            ("integer", "numeric(5,2)", TypeChange::Incompatible),
            ("boolean", "integer", TypeChange::Incompatible),
            ("integer", "integer", TypeChange::Same),
        ] {
            assert_eq!(type_change(from, to), want, "{from} -> {to}");
        }
    }

    #[test]
    fn a_rename_that_vanished_together_is_surer() {
        assert_eq!(rename_confidence(0.9, 0.1, false, true), 0.0, "another type family is never a rename");
        let alone = rename_confidence(0.7, 0.2, true, false);
        let together = rename_confidence(0.7, 0.2, true, true);
        assert!((alone - 0.7).abs() < 1e-9 && (together - 0.88).abs() < 1e-9, "{alone} {together}");
        assert!(rename_confidence(0.8, 0.78, true, true) < rename_confidence(0.8, 0.2, true, true), "a close runner-up is doubt");
    }

    #[test]
    fn renames_weigh_names_and_distributions_not_shared_values() {
        let renamed = Signals {
            name_embedding: Some(0.8),
            lexical: 0.8,
            type_compat: 1.0,
            value_overlap: Some(0.0),
            distribution: Some(0.95),
            ..Default::default()
        };
        let unrelated = Signals {
            name_embedding: Some(0.35),
            lexical: 0.1,
            type_compat: 1.0,
            value_overlap: Some(0.0),
            distribution: Some(0.9),
            ..Default::default()
        };
        let other_type = Signals { type_compat: 0.2, ..renamed };
        assert!(rename_score(&renamed) > 0.65, "{}", rename_score(&renamed));
        assert!(rename_confidence(rename_score(&renamed), 0.0, true, true) > AUTO);
        assert!(rename_confidence(rename_score(&unrelated), 0.0, true, true) <= AUTO, "never applied by itself");
        assert!(rename_score(&other_type) < rename_score(&renamed) * 0.7);
    }

    #[test]
    fn the_contract_decides_then_the_confidence_then_the_safeguards() {
        assert!(matches!(verdict(Change::NewColumn, Policy::Freeze, Apply::Auto, Some(0.99), Ok(())), Verdict::Record(_)));
        assert!(matches!(verdict(Change::NewColumn, Policy::Evolve, Apply::Never, None, Ok(())), Verdict::Record(_)));
        assert!(matches!(verdict(Change::RenamedColumn, Policy::Evolve, Apply::Approve, Some(0.99), Ok(())), Verdict::Propose(_)));
        match verdict(Change::RenamedColumn, Policy::Evolve, Apply::Auto, Some(0.8), Ok(())) {
            Verdict::Propose(why) => assert!(why.contains("0.80"), "{why}"),
            v => panic!("{v:?}"),
        }
        assert_eq!(verdict(Change::RenamedColumn, Policy::Evolve, Apply::Auto, Some(0.9), Ok(())).status(), "applied");
        assert_eq!(verdict(Change::WidenedType, Policy::Evolve, Apply::Auto, None, Err("x".into())).status(), "proposed");
        assert_eq!(default_contract(Change::NarrowedType), (Policy::DiscardRow, Apply::Approve));
        assert_eq!(default_contract(Change::NewColumn), (Policy::Evolve, Apply::Auto));
    }

    #[test]
    fn safeguards_stop_what_keeps_failing() {
        let s = Safeguards { min_success_rate: 0.8, window: 5, max_per_hour: 3, max_failures_per_target: 2 };
        assert_eq!(safeguard(&[true; 5], 0, 0, &s), Ok(()));
        assert!(safeguard(&[true, false, true, false, true], 0, 0, &s).unwrap_err().contains("60%"));
        assert_eq!(safeguard(&[false, false], 0, 0, &s), Ok(()), "too few outcomes to judge");
        assert!(safeguard(&[], 2, 0, &s).unwrap_err().contains("2 remediation(s)"));
        assert!(safeguard(&[], 0, 3, &s).unwrap_err().contains("last hour"));
    }

    #[test]
    fn the_canary_reverts_a_heal_that_made_things_worse() {
        assert!(canary(0.02, 0.05, Some(0.9), Some(0.88), 0.2).is_ok());
        assert!(canary(0.02, 0.6, None, None, 0.2).unwrap_err().contains("60%"));
        assert!(canary(0.0, 0.0, Some(0.95), Some(0.5), 0.2).unwrap_err().contains("0.95 to 0.50"));
    }

    #[test]
    fn names_round_trip() {
        for c in Change::ALL {
            assert_eq!(Change::from_name(c.as_str()), Some(c));
        }
        assert_eq!(Policy::from_name("discard_value"), Some(Policy::DiscardValue));
        assert!(backfill_check(Some(1.0), Some(0.5), 0.2).unwrap_err().contains("fell from 1.00 to 0.50"));
        assert!(backfill_check(Some(1.0), Some(0.9), 0.2).is_ok());
        assert!(backfill_check(None, Some(0.1), 0.2).is_ok());
        assert_eq!(discard_action(Change::NewColumn, Policy::DiscardRow), Some("discard_rows"));
        assert_eq!(discard_action(Change::RenamedColumn, Policy::DiscardValue), Some("discard_values"));
        assert_eq!(discard_action(Change::RemovedColumn, Policy::DiscardRow), None);
        assert_eq!(discard_action(Change::NewColumn, Policy::Freeze), None);
        // A discard is applied by the contract whatever the confidence; recorded where it cannot apply.
        assert!(
            matches!(verdict(Change::NewColumn, Policy::DiscardRow, Apply::Auto, Some(0.3), Ok(())), Verdict::Apply(by) if by.contains("discard_row"))
        );
        assert!(matches!(verdict(Change::NewColumn, Policy::DiscardValue, Apply::Approve, None, Ok(())), Verdict::Propose(_)));
        assert!(matches!(verdict(Change::RemovedColumn, Policy::DiscardRow, Apply::Auto, None, Ok(())), Verdict::Record(_)));
        assert!(matches!(verdict(Change::NewColumn, Policy::DiscardRow, Apply::Auto, None, Err("hourly".into())), Verdict::Propose(_)));
        assert_eq!(Apply::from_name("approve"), Some(Apply::Approve));
        assert_eq!(Policy::from_name("ignore"), None);
    }
}
