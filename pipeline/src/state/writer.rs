//! Writes a Kafka-mode stage's committed state to the local store on a
//! thread of its own.
//!
//! In Kafka mode the stage's changelog topic is the durable copy of its
//! state: every assignment rebuilds the local store from it. The local
//! write after each commit only lets the memory forget values, so it need
//! not delay the next transaction. It used to: at 20 000 payments/s a
//! stage-2 transaction touches some 4 500 customers, and writing them took
//! 20–40 ms between one commit and the next transaction's first input (a
//! sixth of stage 2's thread). The values stay readable from memory until
//! their write lands ([`super::StateTable`] waits for the writer before it
//! forgets any).
//!
//! Batches are written in the order given, by one thread, and at most
//! [`QUEUED`] wait: a writer that falls behind slows the stage down rather
//! than filling the memory. A failed write is reported by the next call.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use matchers::store::{Batch, KvStore};

use crate::error::{Error, Result};

/// Batches that may wait for the writer before [`LocalWriter::write`]
/// blocks.
const QUEUED: usize = 2;

/// What the writer thread has done.
#[derive(Default)]
struct Progress {
    queued: u64,
    written: u64,
    failed: Option<Error>,
}

type Shared = Arc<(Mutex<Progress>, Condvar)>;

/// A thread that writes batches to a store, in order.
pub(crate) struct LocalWriter {
    name: String,
    sender: Option<SyncSender<Batch>>,
    progress: Shared,
    thread: Option<JoinHandle<()>>,
}

impl LocalWriter {
    /// Starts the writer thread (named `name`) over `store`.
    ///
    /// # Errors
    /// The OS refused a thread.
    pub(crate) fn spawn(store: Arc<dyn KvStore>, name: &str) -> Result<Self> {
        let (sender, batches) = sync_channel::<Batch>(QUEUED);
        let progress: Shared = Arc::default();
        let shared = progress.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                for batch in batches {
                    let result = store.write(batch);
                    let (lock, done) = &*shared;
                    let mut p = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    p.written += 1;
                    if let Err(e) = result {
                        p.failed.get_or_insert(e.into());
                    }
                    done.notify_all();
                }
            })
            .map_err(|e| Error::Thread {
                name: name.to_string(),
                detail: e.to_string(),
            })?;
        Ok(LocalWriter {
            name: name.to_string(),
            sender: Some(sender),
            progress,
            thread: Some(thread),
        })
    }

    /// Queues `batch` (waiting while [`QUEUED`] batches already do).
    ///
    /// # Errors
    /// An earlier batch's write failed (reported once), or the thread is gone.
    pub(crate) fn write(&self, batch: Batch) -> Result<()> {
        self.check()?;
        self.lock().queued += 1;
        let sent = self.sender.as_ref().map(|s| s.send(batch));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.gone());
        }
        Ok(())
    }

    /// Waits until every queued batch is written.
    ///
    /// # Errors
    /// A write failed (reported once), or the thread is gone.
    pub(crate) fn wait(&self) -> Result<()> {
        let done = &self.progress.1;
        let mut p = self.lock();
        while p.written < p.queued && p.failed.is_none() {
            if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
                return Err(self.gone());
            }
            // With a timeout: a thread that died mid-batch notifies no one.
            p = done
                .wait_timeout(p, std::time::Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        p.failed.take().map_or(Ok(()), Err)
    }

    /// Reports a failed write once.
    fn check(&self) -> Result<()> {
        self.lock().failed.take().map_or(Ok(()), Err)
    }

    fn gone(&self) -> Error {
        Error::Thread {
            name: self.name.clone(),
            detail: "stopped".into(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for LocalWriter {
    /// Writes what is queued, then stops the thread.
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use matchers::store::{MemoryStore, Table};

    #[test]
    fn writes_land_in_order_and_wait_sees_them() {
        let store = Arc::new(MemoryStore::new());
        let writer = LocalWriter::spawn(store.clone(), "test-writer").unwrap();
        for i in 0..50u32 {
            let mut batch = Batch::default();
            batch.put(Table::State, b"k".to_vec(), i.to_string().into_bytes());
            writer.write(batch).unwrap();
        }
        writer.wait().unwrap();
        assert_eq!(store.get(Table::State, b"k").unwrap().unwrap(), b"49");
    }

    #[test]
    fn dropping_the_writer_writes_what_was_queued() {
        let store = Arc::new(MemoryStore::new());
        let writer = LocalWriter::spawn(store.clone(), "test-writer").unwrap();
        let mut batch = Batch::default();
        batch.put(Table::State, b"k".to_vec(), b"v".to_vec());
        writer.write(batch).unwrap();
        drop(writer);
        assert_eq!(store.get(Table::State, b"k").unwrap().unwrap(), b"v");
    }
}
