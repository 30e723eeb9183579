//! The two stages as the transactional driver sees them: records in,
//! records out, and state changes for the changelog. The stage code itself
//! ([`crate::stages`]) is the embedded mode's, unchanged; this file only
//! says which topic each result goes to and under which key.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use model::encode::WriteJson;
use model::{DeadLetter, Outcome};

use super::topics::Topics;
use crate::dedupe::Source;
use crate::error::Result;
use crate::stages::{Routed, Stage1, Stage2, ToApply};
use crate::state::Change;

/// One input record.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// Its value (a raw envelope for stage 1, a decision for stage 2).
    pub value: &'a [u8],
    /// Its partition and offset.
    pub source: Source,
}

/// One output record.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// Topic name (shared, not copied per record).
    pub topic: Arc<str>,
    /// Message key (partitioning), if any.
    pub key: Option<String>,
    /// JSON value.
    pub value: Vec<u8>,
}

/// A stage on Kafka: one input topic, outputs, a changelog for its state.
///
/// The driver calls [`StreamStage::process`] for every input record inside
/// a transaction and, before committing it, writes
/// [`StageState::take_changes`] to the changelog in the same transaction.
/// After the commit it writes those same records to the local store with
/// [`StageState::committed`]; after an abort it [`StageState::discard`]s
/// them. Local state is therefore never ahead of Kafka.
pub trait StreamStage: Send {
    /// `stage1` or `stage2` (group, transactional id and metrics label).
    fn name(&self) -> &'static str;
    /// The topic it consumes.
    fn input_topic(&self) -> &str;
    /// Its changelog topic (co-partitioned with the input).
    fn changelog_topic(&self) -> &str;
    /// Processes one record, appending what to produce to `out`.
    ///
    /// # Errors
    /// A storage failure only; bad input becomes a dead letter.
    fn process(&mut self, input: Input<'_>, out: &mut Vec<Output>) -> Result<()>;
    /// Processes records in order, with the same outputs as one
    /// [`StreamStage::process`] call each; after input `i`, pushes to `ends`
    /// where its outputs end in `out`. Stage 1 overrides it to read a
    /// batch's index lookups ahead together (`Stage1::process_batch`).
    ///
    /// # Errors
    /// A storage failure only; bad input becomes a dead letter.
    fn process_batch(
        &mut self,
        inputs: &[Input<'_>],
        out: &mut Vec<Output>,
        ends: &mut Vec<usize>,
    ) -> Result<()> {
        each(inputs, out, ends, |input, out| self.process(input, out))
    }
    /// The stage's keyed state.
    fn state(&mut self) -> &mut dyn StageState;
    /// Whether the input arrives a transaction at a time: another stage's
    /// output, read with `read_committed`, becomes visible in bursts at
    /// that stage's commits. The driver then commits as soon as a burst is
    /// drained instead of waiting out the window (see `window`).
    fn input_arrives_in_bursts(&self) -> bool {
        false
    }
}

/// Runs `f` on each input in order, pushing to `ends` where each one's
/// outputs end in `out` (see [`StreamStage::process_batch`]).
fn each(
    inputs: &[Input<'_>],
    out: &mut Vec<Output>,
    ends: &mut Vec<usize>,
    mut f: impl FnMut(Input<'_>, &mut Vec<Output>) -> Result<()>,
) -> Result<()> {
    for input in inputs {
        f(*input, out)?;
        ends.push(out.len());
    }
    Ok(())
}

/// A stage's keyed state as the driver handles it: pending writes that go
/// to the changelog inside the transaction and to the local store after it.
pub trait StageState {
    /// The changelog records of the state changed since the last call,
    /// each with its partition (the partition of the input that caused it).
    fn take_changes(&mut self) -> Vec<Change>;
    /// Forgets pending state (the transaction ended).
    fn discard(&mut self);
    /// Writes changelog records (read back, or just committed) into the
    /// local store.
    ///
    /// # Errors
    /// A storage failure.
    fn restore(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()>;
    /// The transaction that carried `records` (all of this transaction's
    /// [`StageState::take_changes`]) committed: writes them into the local
    /// store and keeps their values in memory for the next reads.
    ///
    /// # Errors
    /// A storage failure.
    fn committed(&mut self, records: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()>;
}

/// Both stages expose the same four state operations; one impl each.
macro_rules! stage_state {
    ($stage:ty) => {
        impl StageState for $stage {
            fn take_changes(&mut self) -> Vec<Change> {
                <$stage>::take_changes(self)
            }
            fn discard(&mut self) {
                <$stage>::discard(self)
            }
            fn restore(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
                <$stage>::restore(self, records)
            }
            fn committed(&mut self, records: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
                <$stage>::committed(self, records)
            }
        }
    };
}
stage_state!(Stage1);
stage_state!(Stage2);

/// A record's JSON, in a buffer of 1 KiB from the start: grown from
/// `serde_json::to_vec`'s 128 bytes, a decision (about 550 bytes) was
/// copied through three reallocations.
fn json<T: serde::Serialize>(record: &T) -> Vec<u8> {
    let mut value = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut value, record) {
        Ok(()) => value,
        Err(_) => Vec::new(),
    }
}

/// The JSON of a record written for every payment (a decision, a ledger
/// entry), by its own writer (`model::encode`: the same bytes as serde's),
/// in a buffer of `capacity` bytes from the start.
fn encoded(record: &impl WriteJson, capacity: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(capacity);
    record.write_json(&mut value);
    value
}

/// Buffer sizes for [`encoded`]: a decision is about 550 bytes, a ledger
/// entry about 210.
const DECISION_BYTES: usize = 1024;
const LEDGER_ENTRY_BYTES: usize = 320;

/// Stage 1 on Kafka: raw envelopes → decisions (+ review) or dead letters.
pub struct Stage1Stream {
    stage: Stage1,
    topics: Topics,
}

impl Stage1Stream {
    /// Wraps stage 1.
    pub fn new(stage: Stage1, topics: Topics) -> Self {
        Stage1Stream { stage, topics }
    }
}

impl StreamStage for Stage1Stream {
    fn name(&self) -> &'static str {
        "stage1"
    }
    fn input_topic(&self) -> &str {
        &self.topics.raw
    }
    fn changelog_topic(&self) -> &str {
        &self.topics.dedupe_changelog
    }
    fn process(&mut self, input: Input<'_>, out: &mut Vec<Output>) -> Result<()> {
        let text = model::envelope::input_text(input.value);
        let routed = self
            .stage
            .process_from(&text, Utc::now(), Some(input.source))?;
        self.route(routed, out);
        Ok(())
    }
    fn process_batch(
        &mut self,
        inputs: &[Input<'_>],
        out: &mut Vec<Output>,
        ends: &mut Vec<usize>,
    ) -> Result<()> {
        let texts: Vec<_> = inputs
            .iter()
            .map(|input| model::envelope::input_text(input.value))
            .collect();
        let batch: Vec<_> = texts
            .iter()
            .zip(inputs)
            .map(|(text, input)| (text.as_ref(), Some(input.source)))
            .collect();
        for routed in self.stage.process_batch(&batch, Utc::now())? {
            self.route(routed, out);
            ends.push(out.len());
        }
        Ok(())
    }
    fn state(&mut self) -> &mut dyn StageState {
        &mut self.stage
    }
}

impl Stage1Stream {
    /// The records one stage-1 result produces.
    fn route(&self, routed: Routed, out: &mut Vec<Output>) {
        match routed {
            Routed::DeadLetter(letter) => out.push(Output {
                topic: self.topics.dlq.clone(),
                key: None,
                value: json(&letter),
            }),
            Routed::Decided { decision, .. } => {
                // Keyed by customer, so stage 2 sees one customer's
                // decisions in order on one partition.
                let value = encoded(&decision, DECISION_BYTES);
                let review = decision.outcome == Outcome::Review;
                // Written: the key moves out of the decision, no copy.
                let key = decision.customer_id.unwrap_or(decision.payment_id);
                if review {
                    out.push(Output {
                        topic: self.topics.review.clone(),
                        key: Some(key.clone()),
                        value: value.clone(),
                    });
                }
                out.push(Output {
                    topic: self.topics.decisions.clone(),
                    key: Some(key),
                    value,
                });
            }
        }
    }
}

/// Stage 2 on Kafka: decisions → ledger entries and access commands.
pub struct Stage2Stream {
    stage: Stage2,
    topics: Topics,
}

impl Stage2Stream {
    /// Wraps stage 2, tracking its state changes for the changelog.
    ///
    /// # Errors
    /// The OS refused stage 2's state writer a thread.
    pub fn new(mut stage: Stage2, topics: Topics) -> Result<Self> {
        stage.for_changelog()?;
        Ok(Stage2Stream { stage, topics })
    }
}

impl StreamStage for Stage2Stream {
    fn name(&self) -> &'static str {
        "stage2"
    }
    fn input_topic(&self) -> &str {
        &self.topics.decisions
    }
    fn changelog_topic(&self) -> &str {
        &self.topics.balances_changelog
    }
    fn input_arrives_in_bursts(&self) -> bool {
        // Stage 1's decisions, visible at each of its commits.
        true
    }
    fn process(&mut self, input: Input<'_>, out: &mut Vec<Output>) -> Result<()> {
        self.apply(input, Utc::now(), out)
    }
    fn process_batch(
        &mut self,
        inputs: &[Input<'_>],
        out: &mut Vec<Output>,
        ends: &mut Vec<usize>,
    ) -> Result<()> {
        // One clock read a batch (the time on its restore commands), as
        // stage 1 does: a read per decision was 1 % of the thread.
        let now = Utc::now();
        each(inputs, out, ends, |input, out| self.apply(input, now, out))
    }
    fn state(&mut self) -> &mut dyn StageState {
        &mut self.stage
    }
}

impl Stage2Stream {
    /// The records one decision produces.
    fn apply(&mut self, input: Input<'_>, now: DateTime<Utc>, out: &mut Vec<Output>) -> Result<()> {
        let decision = match ToApply::read(input.value) {
            Ok(d) => d,
            Err(e) => {
                // Only a foreign writer on the decisions topic gets here.
                crate::metrics::dead_lettered("bad_decision");
                out.push(Output {
                    topic: self.topics.dlq.clone(),
                    key: None,
                    value: json(&DeadLetter {
                        input: String::from_utf8_lossy(input.value).into_owned(),
                        error: format!("not a decision record: {e}"),
                        at: now,
                        error_kind: Some("bad_decision".into()),
                        provider: None,
                    }),
                });
                return Ok(());
            }
        };
        self.stage.set_partition(input.source.partition);
        let applied = self.stage.apply(&decision, now)?;
        // Each record's key moves out of it once it is written: no copy.
        for entry in applied.ledger {
            let value = encoded(&entry, LEDGER_ENTRY_BYTES);
            out.push(Output {
                topic: self.topics.ledger.clone(),
                key: Some(entry.customer_id),
                value,
            });
        }
        for command in applied.commands {
            let value = json(&command);
            out.push(Output {
                topic: self.topics.commands.clone(),
                key: Some(command.service_id),
                value,
            });
        }
        Ok(())
    }
}
