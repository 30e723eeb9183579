//! librdkafka's blocking transactional calls, with a deadline of our own.
//!
//! `rd_kafka_send_offsets_to_transaction` can block forever, whatever its
//! timeout (librdkafka issues #5456 and #5511, open in 2.12–2.14: the
//! timeout of a group-coordinator request is never checked, and a cached
//! coordinator whose broker thread is gone is never looked up again). It
//! was seen here once after a broker restart: the stage thread waited in
//! `rd_kafka_txn_op_req0` with every librdkafka thread idle, and the
//! service stood still with no error to act on.
//!
//! A C call cannot be cancelled. So each call runs on a helper thread and
//! the stage waits for its answer with a deadline (the call's own timeout
//! plus a grace). A call that outlives it is abandoned, with the helper
//! thread and the producer the call holds, and the stage recovers as from
//! any ambiguous error: it re-creates the producer, whose
//! `init_transactions` fences the stuck one and aborts what it left open.
//! The abandoned thread ends if the call ever returns.

use std::sync::mpsc;
use std::time::Duration;

/// One call for the helper thread.
type Job = Box<dyn FnOnce() + Send>;

/// A blocking call that gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unanswered {
    /// It did not return by its deadline: abandoned.
    Outlived {
        /// The call (`send_offsets_to_transaction`, …).
        call: &'static str,
        /// How long the stage waited for it.
        waited: Duration,
    },
    /// It panicked, and took its helper thread with it: a bug.
    Panicked {
        /// The call.
        call: &'static str,
    },
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unanswered::Outlived { call, waited } => write!(
                f,
                "{call} did not return within {waited:?} (librdkafka #5456/#5511); abandoned"
            ),
            Unanswered::Panicked { call } => write!(f, "{call} panicked"),
        }
    }
}

/// The helper thread that makes one stage's blocking transactional calls.
/// Dropping it hangs up: the thread ends after its current call, if any
/// (threads are never joined, as a call may never return).
pub(super) struct Caller {
    name: String,
    jobs: mpsc::Sender<Job>,
    /// Calls abandoned so far (each left a thread behind).
    abandoned: usize,
}

impl Caller {
    /// A caller whose thread is named `{name}`.
    pub(super) fn new(name: &str) -> Self {
        Caller {
            name: name.to_string(),
            jobs: Self::spawn(name),
            abandoned: 0,
        }
    }

    fn spawn(name: &str) -> mpsc::Sender<Job> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // Ends when the caller hangs up (dropped, or abandoned us).
                while let Ok(job) = queue.recv() {
                    job();
                }
            })
            .expect("spawning a transactional call thread");
        jobs
    }

    /// Runs `f` on the helper thread and returns its result. Once
    /// `deadline` has passed without one, the helper thread is abandoned
    /// to the call and a new one takes the next.
    ///
    /// # Errors
    /// The call did not return by `deadline`, or panicked.
    pub(super) fn call<T: Send + 'static>(
        &mut self,
        call: &'static str,
        deadline: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Unanswered> {
        let (answer, answered) = mpsc::sync_channel::<T>(1);
        // A refused job (no thread: cannot happen, a lost thread is
        // replaced below) drops its `answer`, and reads as lost.
        let _ = self.jobs.send(Box::new(move || {
            // The stage may have stopped waiting: nobody to tell then.
            let _ = answer.send(f());
        }));
        match answered.recv_timeout(deadline) {
            Ok(value) => Ok(value),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.jobs = Self::spawn(&self.name);
                self.abandoned += 1;
                Err(Unanswered::Outlived {
                    call,
                    waited: deadline,
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.jobs = Self::spawn(&self.name);
                Err(Unanswered::Panicked { call })
            }
        }
    }

    /// Calls abandoned so far.
    pub(super) fn abandoned(&self) -> usize {
        self.abandoned
    }
}

/// How long to wait for a librdkafka call given `timeout`: the timeout
/// itself, plus half of it (at least 5 s) for librdkafka's own steps
/// around it (a commit flushes, then ends the transaction).
pub(super) fn deadline_for(timeout: Duration) -> Duration {
    timeout + (timeout / 2).max(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_call_that_returns_in_time_gives_its_result() {
        let mut caller = Caller::new("test-txn");
        for i in 0..3 {
            let got = caller.call("add", Duration::from_secs(5), move || i + 1);
            assert_eq!(got, Ok(i + 1));
        }
        assert_eq!(caller.abandoned(), 0);
    }

    #[test]
    fn a_call_that_never_returns_is_abandoned_at_its_deadline_and_the_next_call_runs() {
        let mut caller = Caller::new("test-txn");
        let release = Arc::new(AtomicBool::new(false));
        let stuck = Arc::clone(&release);
        let started = Instant::now();
        let got = caller.call(
            "send_offsets_to_transaction",
            Duration::from_millis(200),
            move || {
                while !stuck.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            },
        );
        let waited = started.elapsed();
        assert_eq!(
            got,
            Err(Unanswered::Outlived {
                call: "send_offsets_to_transaction",
                waited: Duration::from_millis(200)
            })
        );
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert_eq!(caller.abandoned(), 1);
        // The stuck call still holds its thread; a new one serves the next.
        assert_eq!(caller.call("next", Duration::from_secs(5), || 7), Ok(7));
        release.store(true, Ordering::SeqCst);
    }

    #[test]
    fn a_call_that_panics_is_reported_and_the_next_call_runs() {
        let mut caller = Caller::new("test-txn");
        let got: Result<(), _> = caller.call("commit_transaction", Duration::from_secs(5), || {
            panic!("a bug")
        });
        assert_eq!(
            got,
            Err(Unanswered::Panicked {
                call: "commit_transaction"
            })
        );
        assert_eq!(caller.abandoned(), 0);
        assert_eq!(caller.call("next", Duration::from_secs(5), || 7), Ok(7));
    }

    #[test]
    fn the_deadline_leaves_librdkafka_room_beyond_its_timeout() {
        assert_eq!(deadline_for(Duration::from_secs(2)), Duration::from_secs(7));
        assert_eq!(
            deadline_for(Duration::from_secs(30)),
            Duration::from_secs(45)
        );
    }
}
