//! Circuit breakers, in the shape resilience4j users know: a target (a source, an LLM endpoint)
//! is **closed** (work goes on), **open** after enough failures (work is not even tried until
//! `open_for` has passed), then **half-open**: one probe is let through; its success closes the
//! breaker, its failure opens it again. Pure: the caller keeps the state in a table, gives the
//! recent outcomes of the target, and logs every transition this module returns.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Opens after this many failures in a row.
    pub consecutive_failures: u32,
    /// ... or when at least this share of the last `window` outcomes failed (only once `window`
    /// outcomes are known).
    pub failure_rate: f64,
    pub window: usize,
    /// How long an open breaker refuses work before it lets one probe through.
    pub open_for: Duration,
}

/// A breaker's state; times are seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum State {
    Closed,
    /// Refuses work until `probe_at`, then lets one probe through.
    Open {
        probe_at: f64,
    },
    /// One probe is under way.
    HalfOpen,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open { .. } => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// Whether a piece of work may go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Closed: go on.
    Allow,
    /// The open period is over: this work is the probe (the caller moves the breaker to
    /// half-open; if another session already did, the work is refused instead).
    Probe,
    /// Open (or another probe is under way): do not try; why, for the user.
    Refuse(String),
}

/// A change of state, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub to: State,
    pub reason: String,
}

pub fn admit(state: State, now: f64) -> Admission {
    match state {
        State::Closed => Admission::Allow,
        State::Open { probe_at } if now >= probe_at => Admission::Probe,
        State::Open { probe_at } => Admission::Refuse(format!("its circuit breaker is open for {:.0} s more", (probe_at - now).max(0.0).ceil())),
        State::HalfOpen => Admission::Refuse("its circuit breaker is half-open: one probe is under way".into()),
    }
}

/// Why the breaker should open, given the target's recent outcomes (`true`: a failure that
/// counts; most recent first), or `None`.
pub fn should_open(recent: &[bool], s: &Settings) -> Option<String> {
    let in_a_row = recent.iter().take_while(|&&failed| failed).count();
    if s.consecutive_failures > 0 && in_a_row >= s.consecutive_failures as usize {
        return Some(format!("{in_a_row} failures in a row (eai.breaker_consecutive_failures = {})", s.consecutive_failures));
    }
    if s.window > 0 && recent.len() >= s.window {
        let failed = recent[..s.window].iter().filter(|&&f| f).count();
        let rate = failed as f64 / s.window as f64;
        if rate >= s.failure_rate && failed > 0 {
            return Some(format!(
                "{failed} of the last {} attempts failed ({:.0}%, eai.breaker_failure_rate = {:.0}%)",
                s.window,
                rate * 100.0,
                s.failure_rate * 100.0
            ));
        }
    }
    None
}

/// What an outcome does to the breaker: a probe's success closes it, its failure opens it again;
/// a failure while closed opens it when the recent outcomes (this one included) say so.
pub fn after_outcome(state: State, failed: bool, recent: &[bool], now: f64, s: &Settings) -> Option<Transition> {
    let reopen = |reason: String| Transition { to: State::Open { probe_at: now + s.open_for.as_secs_f64() }, reason };
    match (state, failed) {
        (State::HalfOpen, false) => Some(Transition { to: State::Closed, reason: "the probe succeeded".into() }),
        (State::HalfOpen, true) => Some(reopen("the probe failed".into())),
        (State::Closed, true) => should_open(recent, s).map(reopen),
        // A success while closed changes nothing; outcomes while open are of work that started
        // before it opened.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings { consecutive_failures: 3, failure_rate: 0.5, window: 6, open_for: Duration::from_secs(60) }
    }

    #[test]
    fn consecutive_failures_open_the_breaker() {
        let s = settings();
        assert_eq!(should_open(&[true, true], &s), None);
        assert!(should_open(&[true, true, true, false], &s).unwrap().contains("3 failures in a row"));
        let t = after_outcome(State::Closed, true, &[true, true, true], 100.0, &s).unwrap();
        assert_eq!(t.to, State::Open { probe_at: 160.0 });
        assert_eq!(after_outcome(State::Closed, false, &[false, true, true], 100.0, &s), None);
    }

    #[test]
    fn a_failure_rate_over_the_window_opens_it_too() {
        let s = settings();
        // Never three in a row, but half of the last six.
        let recent = [true, false, true, false, true, false, false, false];
        assert!(should_open(&recent, &s).unwrap().contains("3 of the last 6"));
        assert_eq!(should_open(&recent[..5], &s), None, "fewer outcomes than the window: no rate yet");
        assert_eq!(should_open(&[false, true, false, false, true, false], &s), None);
    }

    #[test]
    fn open_refuses_then_lets_one_probe_through() {
        let open = State::Open { probe_at: 160.0 };
        match admit(open, 100.0) {
            Admission::Refuse(why) => assert!(why.contains("60 s"), "{why}"),
            a => panic!("{a:?}"),
        }
        assert_eq!(admit(open, 160.0), Admission::Probe);
        assert!(matches!(admit(State::HalfOpen, 170.0), Admission::Refuse(_)));
        assert_eq!(admit(State::Closed, 0.0), Admission::Allow);
    }

    #[test]
    fn the_probe_closes_or_reopens() {
        let s = settings();
        assert_eq!(after_outcome(State::HalfOpen, false, &[false], 200.0, &s).unwrap().to, State::Closed);
        let t = after_outcome(State::HalfOpen, true, &[true], 200.0, &s).unwrap();
        assert_eq!((t.to, t.reason.as_str()), (State::Open { probe_at: 260.0 }, "the probe failed"));
        assert_eq!(after_outcome(State::Open { probe_at: 260.0 }, true, &[true; 9], 210.0, &s), None, "already open");
    }

    #[test]
    fn zero_settings_disable_a_rule() {
        let s = Settings { consecutive_failures: 0, failure_rate: 1.0, window: 0, open_for: Duration::ZERO };
        assert_eq!(should_open(&[true; 50], &s), None);
        assert_eq!(State::HalfOpen.name(), "half_open");
    }
}
