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
use std::thread::JoinHandle;
use std::time::Duration;

/// One call for the helper thread.
type Job = Box<dyn FnOnce() + Send>;

/// A blocking call that did not answer by its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outlived {
    /// The call (`send_offsets_to_transaction`, …).
    pub(super) call: &'static str,
    /// How long the stage waited for it.
    pub(super) waited: Duration,
}

impl std::fmt::Display for Outlived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} did not return within {:?} (librdkafka #5456/#5511); abandoned",
            self.call, self.waited
        )
    }
}

/// The helper thread that makes one stage's blocking transactional calls.
pub(super) struct Caller {
    name: String,
    jobs: mpsc::Sender<Job>,
    thread: Option<JoinHandle<()>>,
    /// Calls abandoned so far (each left a thread behind).
    abandoned: usize,
}

impl Caller {
    /// A caller whose thread is named `{name}`.
    pub(super) fn new(name: &str) -> Self {
        let (jobs, thread) = Self::spawn(name);
        Caller {
            name: name.to_string(),
            jobs,
            thread: Some(thread),
            abandoned: 0,
        }
    }

    fn spawn(name: &str) -> (mpsc::Sender<Job>, JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // Ends when the caller hangs up (dropped, or abandoned us).
                while let Ok(job) = queue.recv() {
                    job();
                }
            })
            .expect("spawning a transactional call thread");
        (jobs, thread)
    }

    /// Runs `f` on the helper thread and returns its result, or
    /// [`Outlived`] once `deadline` has passed without one; then the
    /// helper thread is abandoned to the call and a new one takes the next.
    ///
    /// # Errors
    /// The call did not return by `deadline`.
    pub(super) fn call<T: Send + 'static>(
        &mut self,
        call: &'static str,
        deadline: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Outlived> {
        let (answer, answered) = mpsc::sync_channel::<T>(1);
        let job: Job = Box::new(move || {
            // The stage may have stopped waiting: nobody to tell then.
            let _ = answer.send(f());
        });
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            // The helper thread is gone (only a panicking call ends it):
            // the job never ran, so a new thread may run it.
            self.replace();
            if self.jobs.send(job).is_err() {
                return Err(Outlived {
                    call,
                    waited: Duration::ZERO,
                });
            }
        }
        match answered.recv_timeout(deadline) {
            Ok(value) => Ok(value),
            Err(_) => {
                self.replace();
                self.abandoned += 1;
                Err(Outlived {
                    call,
                    waited: deadline,
                })
            }
        }
    }

    /// Abandons the current helper thread (it ends when its call returns)
    /// and starts a new one.
    fn replace(&mut self) {
        let (jobs, thread) = Self::spawn(&self.name);
        self.jobs = jobs;
        // Not joined: it may never return.
        drop(self.thread.replace(thread));
    }

    /// Calls abandoned so far.
    pub(super) fn abandoned(&self) -> usize {
        self.abandoned
    }
}

impl Drop for Caller {
    fn drop(&mut self) {
        // Hang up; the thread ends after its current call, if any. Not
        // joined, for the same reason as in `replace`.
        let (jobs, _) = mpsc::channel();
        self.jobs = jobs;
        drop(self.thread.take());
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
            Err(Outlived {
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
    fn the_deadline_leaves_librdkafka_room_beyond_its_timeout() {
        assert_eq!(deadline_for(Duration::from_secs(2)), Duration::from_secs(7));
        assert_eq!(
            deadline_for(Duration::from_secs(30)),
            Duration::from_secs(45)
        );
    }
}
