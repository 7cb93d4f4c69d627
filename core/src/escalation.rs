//! Which failures a person must see (docs/healing.md): the kind and severity of the escalation a
//! failure raises, or none when eai handles it alone (a retry that may still succeed, an LLM pair
//! that goes to review anyway).

use crate::error_taxonomy::ErrorClass;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// What happened that may need a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A failure of `stage` (ingest, promotion, gold_refresh, llm, embedding), of `class`, after
    /// which eai chose `action` (retry, dead_letter, none), at attempt `attempt`.
    Failure { stage: &'a str, class: ErrorClass, action: &'a str, attempt: i32 },
    /// The circuit breaker of a source or an LLM endpoint opened.
    BreakerOpened { scope: &'a str },
}

/// The escalation an event raises: (kind, severity), or `None`.
pub fn escalation(event: Event) -> Option<(&'static str, Severity)> {
    match event {
        // A bug parks work: high. Anything else parked waits for a person: medium.
        Event::Failure { action: "dead_letter", stage, class, .. } => {
            let kind = if stage == "promotion" { "dead_letter" } else { "not_retried" };
            Some((kind, if class == ErrorClass::Internal { Severity::High } else { Severity::Medium }))
        }
        // A setting only a person can fix: said at once, while eai keeps retrying slowly.
        Event::Failure { action: "retry", class: ErrorClass::Configuration, attempt: 1, stage } if stage != "llm" => {
            Some(("configuration", Severity::Medium))
        }
        // The embedding model cannot be loaded or run: every mapping and rename needs it.
        Event::Failure { stage: "embedding", class: ErrorClass::Configuration | ErrorClass::Resource, .. } => Some(("configuration", Severity::High)),
        // A gold table that keeps its last content is stale for its readers.
        Event::Failure { stage: "gold_refresh", .. } => Some(("gold_refresh", Severity::Medium)),
        // A paused source stops its pipelines; a paused endpoint only sends pairs to review.
        Event::BreakerOpened { scope: "source" } => Some(("breaker_open", Severity::High)),
        Event::BreakerOpened { .. } => Some(("breaker_open", Severity::Medium)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(stage: &str, class: ErrorClass, action: &str, attempt: i32) -> Option<(&'static str, Severity)> {
        escalation(Event::Failure { stage, class, action, attempt })
    }

    #[test]
    fn parked_work_and_settings_go_to_a_person() {
        assert_eq!(failure("promotion", ErrorClass::BadData, "dead_letter", 1), Some(("dead_letter", Severity::Medium)));
        assert_eq!(failure("promotion", ErrorClass::Internal, "dead_letter", 1), Some(("dead_letter", Severity::High)));
        assert_eq!(failure("ingest", ErrorClass::Transient, "dead_letter", 10), Some(("not_retried", Severity::Medium)));
        assert_eq!(failure("ingest", ErrorClass::Configuration, "retry", 1), Some(("configuration", Severity::Medium)));
        assert_eq!(failure("gold_refresh", ErrorClass::SchemaDrift, "none", 1), Some(("gold_refresh", Severity::Medium)));
    }

    #[test]
    fn what_eai_handles_alone_raises_nothing() {
        assert_eq!(failure("ingest", ErrorClass::Transient, "retry", 3), None);
        assert_eq!(failure("promotion", ErrorClass::Resource, "retry", 1), None);
        assert_eq!(failure("ingest", ErrorClass::Configuration, "retry", 2), None, "said once, at the first attempt");
        assert_eq!(failure("llm", ErrorClass::Configuration, "retry", 1), None);
        assert_eq!(failure("embedding", ErrorClass::Configuration, "none", 1), Some(("configuration", Severity::High)));
        assert_eq!(failure("embedding", ErrorClass::Internal, "none", 1), None);
        assert_eq!(failure("llm", ErrorClass::BadData, "none", 1), None, "the pair goes to review");
    }

    #[test]
    fn a_paused_source_is_high() {
        assert_eq!(escalation(Event::BreakerOpened { scope: "source" }), Some(("breaker_open", Severity::High)));
        assert_eq!(escalation(Event::BreakerOpened { scope: "llm" }), Some(("breaker_open", Severity::Medium)));
    }
}
