//! When to try an LLM call again: after a transient failure (network, timeout, 5xx, 429), wait
//! with a doubling backoff, or as long as the endpoint asks (`Retry-After`), as long as the wait
//! fits in what is left of the retry budget and attempts are left; otherwise give up and say why.

use std::time::{Duration, SystemTime};

/// How long a `Retry-After` value asks to wait from `now`: delta-seconds or an HTTP date (a date
/// in the past asks for no wait). `None` for anything else.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    httpdate::parse_http_date(v).ok().map(|t| t.duration_since(now).unwrap_or(Duration::ZERO))
}

#[derive(Debug, Clone, PartialEq)]
pub enum NextAttempt {
    /// Wait this long, then make the next attempt.
    After(Duration),
    /// Stop: why, in words for the decision's reason.
    GiveUp(String),
}

/// The backoff before attempt `attempt + 1` when the endpoint asks nothing: 250 ms, 500 ms, 1 s, …
/// up to 8 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(5))).min(Duration::from_secs(8))
}

/// After attempt `attempt` (1-based) failed transiently, `elapsed` into a call whose retries may
/// take `budget` in all: wait (the endpoint's `asked` wait when it gave one) or give up.
pub fn next_attempt(attempt: u32, max_attempts: u32, elapsed: Duration, budget: Duration, asked: Option<Duration>) -> NextAttempt {
    if attempt >= max_attempts {
        return NextAttempt::GiveUp(format!("{attempt} attempt(s) made, the most eai.llm_max_attempts allows"));
    }
    let wait = asked.unwrap_or_else(|| backoff(attempt));
    let left = budget.saturating_sub(elapsed);
    if wait > left {
        return NextAttempt::GiveUp(match asked {
            Some(a) => format!(
                "the endpoint asks to retry after {:.1} s, more than the {:.1} s left of the retry budget (eai.llm_retry_budget_ms)",
                a.as_secs_f64(),
                left.as_secs_f64()
            ),
            None => format!("the retry budget (eai.llm_retry_budget_ms) is spent after {attempt} attempt(s)"),
        });
    }
    NextAttempt::After(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO), "a date in the past");
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(1));
        assert_eq!(backoff(20), Duration::from_secs(8));
    }

    #[test]
    fn the_endpoint_is_honoured_within_the_budget_and_not_beyond() {
        let budget = Duration::from_secs(10);
        assert_eq!(next_attempt(1, 3, Duration::from_secs(1), budget, Some(Duration::from_secs(2))), NextAttempt::After(Duration::from_secs(2)));
        assert_eq!(next_attempt(1, 3, Duration::ZERO, budget, None), NextAttempt::After(Duration::from_millis(250)));
        match next_attempt(1, 3, Duration::from_secs(1), budget, Some(Duration::from_secs(3600))) {
            NextAttempt::GiveUp(why) => assert!(why.contains("3600.0 s") && why.contains("9.0 s left"), "{why}"),
            other => panic!("{other:?}"),
        }
        match next_attempt(3, 3, Duration::ZERO, budget, Some(Duration::ZERO)) {
            NextAttempt::GiveUp(why) => assert!(why.contains("3 attempt(s)"), "{why}"),
            other => panic!("{other:?}"),
        }
        match next_attempt(2, 5, Duration::from_secs(10), budget, None) {
            NextAttempt::GiveUp(why) => assert!(why.contains("budget"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
