//! What eai does with a failure of work it retries by itself (a queued promotion, an ingest the
//! heal job takes again), by the failure's class: retry after an exponential backoff with jitter
//! (Temporal's shape: initial interval, coefficient, maximum interval, maximum attempts), or stop
//! retrying and park the work for a person (the dead-letter state). Pure: the caller stores the
//! time of the next attempt in the work's own row, so a restart loses no retry.

use std::time::Duration;

use crate::error_taxonomy::ErrorClass;

/// An exponential retry policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Wait before the 2nd attempt.
    pub initial: Duration,
    /// Each wait is this many times the one before (at least 1).
    pub coefficient: f64,
    /// No wait is longer.
    pub max_interval: Duration,
    /// Attempts in all, the first included; then the work is parked.
    pub max_attempts: u32,
}

/// The policies of the classes that are retried; set by GUCs (eai.retry_*).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policies {
    /// Transient failures and schema drift (a heal or a refreshed source may make the next
    /// attempt succeed).
    pub base: Policy,
    /// Resource failures (disk full, out of memory, a limit) and configuration failures (a person
    /// must fix a password, a file, a privilege; the work then resumes by itself): the same policy
    /// with a longer initial interval.
    pub long: Policy,
}

/// Waits are shortened by up to this share at random, so that work which failed together is not
/// retried together.
pub const JITTER: f64 = 0.2;

/// What to do after attempt `attempt` (1-based) failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Try again after this long.
    RetryAfter(Duration),
    /// Do not try again by itself: park the work (dead letter), say why.
    Park(String),
}

impl Decision {
    pub fn action(&self) -> &'static str {
        match self {
            Decision::RetryAfter(_) => "retry",
            Decision::Park(_) => "dead_letter",
        }
    }
}

impl Policy {
    /// The wait after attempt `attempt` failed, before jitter: initial · coefficient^(attempt-1),
    /// at most the maximum interval.
    pub fn interval(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(1000) as i32;
        let secs = self.initial.as_secs_f64() * self.coefficient.max(1.0).powi(exponent);
        let max = self.max_interval.as_secs_f64().max(self.initial.as_secs_f64());
        Duration::from_secs_f64(if secs.is_finite() { secs.min(max) } else { max })
    }
}

/// The decision for a failure of class `class` after attempt `attempt`, with `u` a uniform random
/// number in [0, 1) for the jitter.
pub fn decide(class: ErrorClass, attempt: u32, policies: &Policies, u: f64) -> Decision {
    let policy = match class {
        ErrorClass::Transient | ErrorClass::SchemaDrift => &policies.base,
        ErrorClass::Resource | ErrorClass::Configuration => &policies.long,
        ErrorClass::BadData => {
            return Decision::Park("bad data: the same data fails the same way".into());
        }
        ErrorClass::Internal => {
            return Decision::Park("an internal error: a bug or an unexpected state, which does not go away by itself".into());
        }
    };
    if attempt >= policy.max_attempts.max(1) {
        return Decision::Park(format!("{attempt} attempt(s) failed, the most eai.retry_max_attempts allows for a {} failure", class.as_str()));
    }
    let wait = policy.interval(attempt).as_secs_f64() * (1.0 - JITTER * u.clamp(0.0, 1.0));
    Decision::RetryAfter(Duration::from_secs_f64(wait))
}

/// A wait in words, rounded: "2 s", "4 min", "1 h".
pub fn in_words(wait: Duration) -> String {
    let s = wait.as_secs_f64();
    if s < 90.0 {
        format!("{} s", s.round() as u64)
    } else if s < 5400.0 {
        format!("{} min", (s / 60.0).round() as u64)
    } else {
        format!("{} h", (s / 3600.0).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies() -> Policies {
        let base = Policy { initial: Duration::from_secs(1), coefficient: 2.0, max_interval: Duration::from_secs(60), max_attempts: 8 };
        Policies { base, long: Policy { initial: Duration::from_secs(30), ..base } }
    }

    fn wait(d: Decision) -> f64 {
        match d {
            Decision::RetryAfter(w) => w.as_secs_f64(),
            Decision::Park(why) => panic!("parked: {why}"),
        }
    }

    #[test]
    fn transient_failures_back_off_exponentially_up_to_the_maximum_interval() {
        let p = policies();
        let waits: Vec<f64> = (1..8).map(|a| wait(decide(ErrorClass::Transient, a, &p, 0.0))).collect();
        assert_eq!(waits, vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]);
        assert_eq!(decide(ErrorClass::Transient, 8, &p, 0.0).action(), "dead_letter");
        assert_eq!(wait(decide(ErrorClass::SchemaDrift, 3, &p, 0.0)), 4.0);
    }

    #[test]
    fn resource_and_configuration_failures_back_off_long() {
        let p = policies();
        assert_eq!(wait(decide(ErrorClass::Resource, 1, &p, 0.0)), 30.0);
        assert_eq!(wait(decide(ErrorClass::Configuration, 2, &p, 0.0)), 60.0);
        assert_eq!(decide(ErrorClass::Resource, 8, &p, 0.0).action(), "dead_letter");
    }

    #[test]
    fn bad_data_and_internal_errors_are_never_retried() {
        let p = policies();
        for class in [ErrorClass::BadData, ErrorClass::Internal] {
            match decide(class, 1, &p, 0.5) {
                Decision::Park(why) => assert!(why.starts_with(class.as_str().replace('_', " ").as_str()) || why.contains("internal"), "{why}"),
                d => panic!("{class:?} retried: {d:?}"),
            }
        }
    }

    #[test]
    fn jitter_only_shortens_a_wait_by_at_most_a_fifth() {
        let p = policies();
        for i in 0..100 {
            let u = i as f64 / 100.0;
            let w = wait(decide(ErrorClass::Transient, 4, &p, u));
            assert!((8.0 * (1.0 - JITTER) - 1e-9..=8.0).contains(&w), "{w}");
        }
        assert!(wait(decide(ErrorClass::Transient, 4, &p, 0.99)) < wait(decide(ErrorClass::Transient, 4, &p, 0.01)));
    }

    #[test]
    fn waits_in_words() {
        let words: Vec<String> = [0.4, 1.0, 89.0, 90.0, 3600.0, 5400.0, 86400.0].iter().map(|&s| in_words(Duration::from_secs_f64(s))).collect();
        assert_eq!(words, ["0 s", "1 s", "89 s", "2 min", "60 min", "2 h", "24 h"]);
    }

    #[test]
    fn odd_settings_stay_sane() {
        let odd = Policy { initial: Duration::from_secs(5), coefficient: 0.5, max_interval: Duration::from_secs(1), max_attempts: 0 };
        assert_eq!(odd.interval(3), Duration::from_secs(5), "a coefficient below 1 counts as 1; the maximum is at least the initial");
        let p = Policies { base: odd, long: odd };
        assert_eq!(decide(ErrorClass::Transient, 1, &p, 0.0).action(), "dead_letter", "max_attempts 0 means one attempt");
        let huge = Policy { initial: Duration::from_secs(1), coefficient: 1e300, max_interval: Duration::from_secs(3600), max_attempts: u32::MAX };
        assert_eq!(huge.interval(u32::MAX), Duration::from_secs(3600));
    }
}
