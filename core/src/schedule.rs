//! When the worker runs each of its jobs: every job has its own interval; a job that found work
//! runs again at once, one that found none waits its interval, and one that failed waits twice as
//! long after each consecutive failure (up to 64 intervals), so a lasting problem is logged now and
//! then, not every second. Times are durations since the worker started.

use std::time::Duration;

/// What a run of a job came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did something: more may be waiting.
    Busy,
    /// Nothing to do.
    Idle,
    /// It raised an error (rolled back).
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    every: Duration,
    next_at: Duration,
    failures: u32,
}

/// Consecutive failures double the wait up to this many intervals (2^6).
const MAX_BACKOFF_DOUBLINGS: u32 = 6;

impl Schedule {
    /// Due at once, then every `every`.
    pub fn new(every: Duration) -> Schedule {
        Schedule { every, next_at: Duration::ZERO, failures: 0 }
    }

    pub fn due(&self, now: Duration) -> bool {
        now >= self.next_at
    }

    /// How long from `now` until it is due (zero when it is).
    pub fn wait(&self, now: Duration) -> Duration {
        self.next_at.saturating_sub(now)
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a run that ended at `now`.
    pub fn done(&mut self, now: Duration, outcome: Outcome) {
        match outcome {
            Outcome::Busy => {
                self.failures = 0;
                self.next_at = now;
            }
            Outcome::Idle => {
                self.failures = 0;
                self.next_at = now + self.every;
            }
            Outcome::Failed => {
                self.failures += 1;
                self.next_at = now + self.every * 2u32.pow(self.failures.min(MAX_BACKOFF_DOUBLINGS));
            }
        }
    }
}

/// How long the worker may sleep: until the first job is due, at most `cap`.
pub fn next_wake(schedules: &[&Schedule], now: Duration, cap: Duration) -> Duration {
    schedules.iter().map(|s| s.wait(now)).min().unwrap_or(cap).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn busy_runs_again_idle_waits_failed_backs_off() {
        let mut s = Schedule::new(S);
        assert!(s.due(Duration::ZERO));
        s.done(Duration::ZERO, Outcome::Busy);
        assert!(s.due(Duration::ZERO), "work found: again at once");
        s.done(Duration::ZERO, Outcome::Idle);
        assert!(!s.due(Duration::from_millis(999)) && s.due(S));
        let mut t = S;
        let mut waits = Vec::new();
        for _ in 0..8 {
            s.done(t, Outcome::Failed);
            waits.push(s.wait(t).as_secs());
            t += s.wait(t);
        }
        assert_eq!(waits, vec![2, 4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(s.failures(), 8);
        s.done(t, Outcome::Idle);
        assert_eq!((s.failures(), s.wait(t)), (0, S), "a success resets the backoff");
    }

    #[test]
    fn the_worker_sleeps_until_the_first_job_is_due() {
        let (mut a, mut b) = (Schedule::new(S), Schedule::new(S * 10));
        a.done(Duration::ZERO, Outcome::Idle);
        b.done(Duration::ZERO, Outcome::Idle);
        assert_eq!(next_wake(&[&a, &b], Duration::ZERO, S * 60), S);
        a.done(Duration::ZERO, Outcome::Failed);
        assert_eq!(next_wake(&[&a, &b], Duration::ZERO, S * 60), S * 2);
        assert_eq!(next_wake(&[&a, &b], Duration::ZERO, Duration::from_millis(500)), Duration::from_millis(500));
        assert_eq!(next_wake(&[], Duration::ZERO, S), S);
    }
}
