//! How long a stage's transaction stays open: short while the stage keeps
//! up with its input, longer while it has a backlog.
//!
//! A commit costs tens of milliseconds whatever the transaction holds, so a
//! short window (`transaction_ms`, 100 ms) keeps latency low at steady
//! rates, and a long one amortises the commit over more records: on the
//! benchmark machine 500 ms windows drain a backlog about 1.5 times faster.
//! The window picks between them by itself. At the end of each step of
//! `transaction_ms` it looks at how long the stage waited for input during
//! that step. If the stage barely waited, records were queued up for it (a
//! backlog: after a restart, an outage, a burst). The window then stays
//! open one more step, up to `backlog_transaction_ms`. A stage that keeps
//! up waits for most of each step and commits on time, so its latency is
//! that of the short window.

use std::time::{Duration, Instant};

/// Below this share of a step spent waiting for input, the stage is behind.
const BEHIND_BELOW: u32 = 5; // 1/5: 20 %

/// An open transaction's window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    opened: Instant,
    deadline: Instant,
    waited: Duration,
    step: Duration,
    longest: Duration,
}

impl Window {
    /// A window opened at `now`: one `step`, extensible up to `longest`.
    pub(crate) fn open(now: Instant, step: Duration, longest: Duration) -> Self {
        Window {
            opened: now,
            deadline: now + step,
            waited: Duration::ZERO,
            step,
            longest: longest.max(step),
        }
    }

    /// Time left until the current step ends.
    pub(crate) fn remaining(&self, now: Instant) -> Duration {
        self.deadline.saturating_duration_since(now)
    }

    /// Whether the current step has ended.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// The stage waited `waited` for input (a poll that blocked).
    pub(crate) fn waited(&mut self, waited: Duration) {
        self.waited += waited;
    }

    /// At the end of a step: stays open one more step when the stage
    /// barely waited for input during it and the window may grow; returns
    /// whether it did.
    pub(crate) fn extend_if_behind(&mut self, now: Instant) -> bool {
        let behind = self.waited < self.step / BEHIND_BELOW;
        let next = now.max(self.deadline) + self.step;
        if behind && next.duration_since(self.opened) <= self.longest {
            self.deadline = next;
            self.waited = Duration::ZERO;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: Duration = Duration::from_millis(100);

    #[test]
    fn a_stage_that_keeps_up_commits_after_one_step() {
        let t0 = Instant::now();
        let mut w = Window::open(t0, STEP, 5 * STEP);
        assert_eq!(w.remaining(t0), STEP);
        w.waited(Duration::from_millis(60));
        assert!(w.expired(t0 + STEP));
        assert!(!w.extend_if_behind(t0 + STEP));
    }

    #[test]
    fn a_stage_with_a_backlog_stays_open_up_to_the_longest_window() {
        let t0 = Instant::now();
        let mut w = Window::open(t0, STEP, 5 * STEP);
        let mut steps = 1;
        loop {
            w.waited(Duration::from_millis(3));
            let end = t0 + STEP * steps;
            assert!(w.expired(end));
            if !w.extend_if_behind(end) {
                break;
            }
            assert!(!w.expired(end));
            steps += 1;
        }
        assert_eq!(steps, 5, "five steps of 100 ms make the 500 ms window");
    }

    #[test]
    fn waiting_is_counted_per_step() {
        let t0 = Instant::now();
        let mut w = Window::open(t0, STEP, 5 * STEP);
        assert!(w.extend_if_behind(t0 + STEP), "no wait in the first step");
        w.waited(Duration::from_millis(50));
        assert!(
            !w.extend_if_behind(t0 + 2 * STEP),
            "caught up in the second"
        );
    }

    #[test]
    fn a_longest_window_no_longer_than_a_step_never_grows() {
        let t0 = Instant::now();
        let mut w = Window::open(t0, STEP, Duration::ZERO);
        assert!(!w.extend_if_behind(t0 + STEP));
    }
}
