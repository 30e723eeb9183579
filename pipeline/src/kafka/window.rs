//! How long a stage's transaction stays open: short while the stage keeps
//! up with its input, longer while it has a backlog.
//!
//! A commit costs tens of milliseconds whatever the transaction holds, so a
//! short window (`transaction_ms`, 50 ms) keeps latency low at steady
//! rates, and a long one amortises the commit over more records: on the
//! benchmark machine 500 ms windows drain a backlog about 1.5 times faster.
//! The window picks between them by itself. At the end of each step of
//! `transaction_ms` it asks two things: did the stage barely wait for input
//! during that step, and is the newest input it took older than the
//! longest window (by the record's timestamp: its append to the stage's
//! input topic, or to `payments.raw` for stage 2's inputs)? Both together
//! mean records are queued up for it: a backlog after a restart, an
//! outage, a burst. The window then stays open one more step, up to
//! `backlog_transaction_ms`. A stage that keeps up commits on time, so its
//! latency is that of the short window.
//!
//! A stage whose input is another stage's transactional output (stage 2)
//! sees it in bursts, one per upstream commit. Waiting out the window
//! after a burst only delays it: such a stage commits as soon as a poll
//! has waited [`DRAINED_AFTER`] for more input.
//!
//! Waiting alone is not enough. At a steady 20 000 payments/s a stage's
//! input arrives every few hundred microseconds, so its polls seldom wait
//! even when it uses a third of a core: measured, its windows grew to
//! 300 ms and its latency with them. The inputs' age tells a stage that
//! keeps up (inputs a few milliseconds old) from one that is behind.

use std::time::{Duration, Instant};

/// Below this share of a step spent waiting for input, the stage is busy.
const BUSY_BELOW: u32 = 5; // 1/5: 20 %

/// A stage whose input arrives in bursts has drained one when a poll has
/// waited this long for more. Inside a burst, records follow each other
/// within microseconds (whole fetch responses); bursts come one per
/// upstream commit, tens of milliseconds apart.
const DRAINED_AFTER: Duration = Duration::from_millis(3);

/// An open transaction's window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    opened: Instant,
    deadline: Instant,
    waited: Duration,
    step: Duration,
    longest: Duration,
    /// The newest input's timestamp (ms since the epoch), if any had one.
    newest_input_ms: Option<i64>,
    /// The input arrives in bursts (see the module docs).
    bursts: bool,
    /// A burst of input was drained: a poll waited [`DRAINED_AFTER`] for
    /// nothing.
    drained: bool,
}

impl Window {
    /// A window opened at `now`: one `step`, extensible up to `longest`;
    /// `bursts` when the input arrives a transaction at a time.
    pub(crate) fn open(now: Instant, step: Duration, longest: Duration, bursts: bool) -> Self {
        Window {
            opened: now,
            deadline: now + step,
            waited: Duration::ZERO,
            step,
            longest: longest.max(step),
            newest_input_ms: None,
            bursts,
            drained: false,
        }
    }

    /// Time left until the current step ends.
    pub(crate) fn remaining(&self, now: Instant) -> Duration {
        self.deadline.saturating_duration_since(now)
    }

    /// How long the next poll may wait: the rest of the step, or, for
    /// input in bursts, no longer than it takes to see a burst drained.
    pub(crate) fn poll_timeout(&self, now: Instant) -> Duration {
        let remaining = self.remaining(now);
        if self.bursts {
            remaining.min(DRAINED_AFTER)
        } else {
            remaining
        }
    }

    /// Whether the current step has ended.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// A poll waited `waited` and returned something (`got`) or nothing.
    pub(crate) fn waited(&mut self, waited: Duration, got: bool) {
        self.waited += waited;
        if self.bursts && !got && waited >= DRAINED_AFTER {
            self.drained = true;
        }
    }

    /// Whether a burst of input was drained: commit now.
    pub(crate) fn drained(&self) -> bool {
        self.drained
    }

    /// The stage took an input with this timestamp (ms since the epoch).
    pub(crate) fn took(&mut self, timestamp_ms: i64) {
        self.newest_input_ms = Some(
            self.newest_input_ms
                .map_or(timestamp_ms, |t| t.max(timestamp_ms)),
        );
    }

    /// At the end of a step, `now` (and `now_ms`, the wall clock in ms
    /// since the epoch): stays open one more step when the stage is
    /// behind — it barely waited for input during the step, and the
    /// newest input it took is older than the longest window — and the
    /// window may grow; returns whether it did. Inputs without a
    /// timestamp count as old: waiting decides alone.
    pub(crate) fn extend_if_behind(&mut self, now: Instant, now_ms: i64) -> bool {
        let busy = self.waited < self.step / BUSY_BELOW;
        let longest_ms = i64::try_from(self.longest.as_millis()).unwrap_or(i64::MAX);
        let old = self
            .newest_input_ms
            .is_none_or(|t| now_ms.saturating_sub(t) > longest_ms);
        let behind = busy && old;
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
    /// The wall clock at the window's opening, ms since the epoch.
    const T0_MS: i64 = 1_795_000_000_000;

    fn ms(at: Duration) -> i64 {
        T0_MS + at.as_millis() as i64
    }

    /// A window of 100 ms steps, up to 500 ms, opened now.
    fn opened(bursts: bool) -> (Instant, Window) {
        let t0 = Instant::now();
        (t0, Window::open(t0, STEP, 5 * STEP, bursts))
    }

    #[test]
    fn a_stage_that_keeps_up_commits_after_one_step() {
        let (t0, mut w) = opened(false);
        assert_eq!(w.remaining(t0), STEP);
        w.took(T0_MS + 90);
        w.waited(Duration::from_millis(60), false);
        assert!(w.expired(t0 + STEP));
        assert!(!w.extend_if_behind(t0 + STEP, ms(STEP)));
    }

    #[test]
    fn a_stage_with_a_backlog_stays_open_up_to_the_longest_window() {
        let (t0, mut w) = opened(false);
        let mut steps = 1;
        loop {
            // Inputs appended ten seconds ago: a backlog.
            w.took(ms(STEP * (steps - 1)) - 10_000);
            w.waited(Duration::from_millis(3), false);
            let end = STEP * steps;
            assert!(w.expired(t0 + end));
            if !w.extend_if_behind(t0 + end, ms(end)) {
                break;
            }
            assert!(!w.expired(t0 + end));
            steps += 1;
        }
        assert_eq!(steps, 5, "five steps of 100 ms make the 500 ms window");
    }

    #[test]
    fn a_busy_stage_with_fresh_inputs_commits_after_one_step() {
        // A steady high rate: polls seldom wait, but each input is a few
        // milliseconds old, so the stage keeps up.
        let (t0, mut w) = opened(false);
        w.took(ms(STEP) - 4);
        w.waited(Duration::from_millis(3), false);
        assert!(!w.extend_if_behind(t0 + STEP, ms(STEP)));
    }

    #[test]
    fn an_idle_stage_with_old_inputs_commits_after_one_step() {
        // Old records (a producer's clock behind, a replay of old data)
        // that the stage keeps up with.
        let (t0, mut w) = opened(false);
        w.took(T0_MS - 3_600_000);
        w.waited(Duration::from_millis(70), false);
        assert!(!w.extend_if_behind(t0 + STEP, ms(STEP)));
    }

    #[test]
    fn without_timestamps_waiting_decides() {
        let (t0, mut w) = opened(false);
        w.waited(Duration::from_millis(3), false);
        assert!(w.extend_if_behind(t0 + STEP, ms(STEP)));
        w.waited(Duration::from_millis(50), false);
        assert!(!w.extend_if_behind(t0 + 2 * STEP, ms(2 * STEP)));
    }

    #[test]
    fn waiting_is_counted_per_step() {
        let (t0, mut w) = opened(false);
        w.took(T0_MS - 10_000);
        assert!(
            w.extend_if_behind(t0 + STEP, ms(STEP)),
            "no wait in the first step"
        );
        w.waited(Duration::from_millis(50), false);
        assert!(
            !w.extend_if_behind(t0 + 2 * STEP, ms(2 * STEP)),
            "caught up in the second"
        );
    }

    #[test]
    fn a_longest_window_no_longer_than_a_step_never_grows() {
        let t0 = Instant::now();
        let mut w = Window::open(t0, STEP, Duration::ZERO, false);
        w.took(T0_MS - 10_000);
        assert!(!w.extend_if_behind(t0 + STEP, ms(STEP)));
    }

    #[test]
    fn input_in_bursts_commits_once_a_burst_is_drained() {
        let (t0, mut w) = opened(true);
        assert_eq!(w.poll_timeout(t0), DRAINED_AFTER);
        w.waited(Duration::from_millis(5), true);
        assert!(!w.drained(), "input came: the burst goes on");
        w.waited(Duration::from_millis(1), false);
        assert!(!w.drained(), "a poll that returned early");
        w.waited(DRAINED_AFTER, false);
        assert!(w.drained());
    }

    #[test]
    fn steady_input_waits_out_its_step_through_pauses() {
        let (t0, mut w) = opened(false);
        assert_eq!(w.poll_timeout(t0), STEP);
        w.waited(Duration::from_millis(40), false);
        assert!(!w.drained());
    }
}
