//! Stage 1: one raw envelope in, one decision or one dead letter out.
//!
//! Every input ends in exactly one of those: a line that is not JSON, names
//! no known provider, or lacks a field becomes a dead letter with its
//! reason; a redelivery becomes a `duplicate`; a failed payment a `failed`;
//! a refund a `reversal`; everything else is matched or reviewed.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use matchers::fxhash::FxBuild;
use matchers::strategies::{self, Matcher};
use matchers::{CustomerIndex, MatchResult, MatchingConfig};
use model::{
    DeadLetter, Decision, Outcome, PayerPhone, Payment, PaymentEnvelopeRef, PaymentStatus,
    ReferenceKind,
};

use crate::config::ProvidersConfig;
use crate::dedupe::{Dedupe, Seen, Source};
use crate::error::Result;
use crate::metrics as m;
use crate::providers::{NormalizeContext, Providers};
use crate::state::Change;

/// Where an input went.
// Moved once per payment; boxing the larger variant would add an
// allocation per payment on the hot path for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Routed {
    /// A decision (any outcome). It carries what the payment said (ids,
    /// amount, payer): the payment itself is moved into it, not copied.
    Decided {
        /// The decision.
        decision: Decision,
    },
    /// Refused, with why.
    DeadLetter(DeadLetter),
}

/// Inputs [`Stage1::process_batch`] is given at a time by the embedded
/// mode and the Kafka driver: enough for the read-ahead's memory waits to
/// overlap (BENCHMARKS, session 17), few enough that a batch's lookups stay
/// in cache until they are used.
pub const READ_AHEAD_BATCH: usize = 32;

/// Stage 1's code and state.
pub struct Stage1 {
    providers: Providers,
    matchers: Vec<Box<dyn Matcher>>,
    index: CustomerIndex,
    dedupe: Dedupe,
    providers_config: ProvidersConfig,
    matching: MatchingConfig,
    decided: m::DecidedCounters,
}

fn dead_letter(
    input: &str,
    error: String,
    kind: &str,
    provider: Option<String>,
    now: DateTime<Utc>,
) -> Routed {
    m::dead_lettered(kind);
    Routed::DeadLetter(DeadLetter {
        input: input.to_string(),
        error,
        at: now,
        error_kind: Some(kind.to_string()),
        provider,
    })
}

/// Which of `ids` repeat an earlier one.
fn repeats(ids: &[Option<String>]) -> Vec<bool> {
    // Sized once: a set grown from empty rehashed several times a batch
    // (2 % of stage 1's profile at a million customers).
    let mut earlier: HashSet<&str, FxBuild> =
        HashSet::with_capacity_and_hasher(ids.len(), FxBuild::default());
    ids.iter()
        .map(|id| id.as_deref().is_some_and(|id| !earlier.insert(id)))
        .collect()
}

/// The reference shown to people: the first one the payer typed.
fn display_reference(references: Vec<model::ReferenceValue>) -> Option<String> {
    let at = references
        .iter()
        .position(|r| matches!(r.kind, ReferenceKind::Account | ReferenceKind::Invoice))
        .unwrap_or(0);
    references.into_iter().nth(at).map(|r| r.value)
}

/// The decision's fields that come from the payment, moved out of it.
fn base_decision(
    payment: Payment,
    payment_id: String,
    outcome: Outcome,
    rule: &'static str,
    now: DateTime<Utc>,
) -> Decision {
    Decision {
        payment_id,
        provider: payment.provider,
        provider_txn_id: payment.provider_txn_id,
        amount: payment.money.amount,
        currency: payment.money.currency,
        paid_at: payment.paid_at,
        outcome,
        customer_id: None,
        confidence: 0.0,
        rule: rule.into(),
        allocations: Vec::new(),
        candidates: Vec::new(),
        reverses: None,
        reference: display_reference(payment.references),
        payer_name: payment.payer_name,
        payer_phone: payment.payer_phone.map(PayerPhone::into_display),
        detail: None,
        decided_at: Some(now),
    }
}

impl Stage1 {
    /// Stage 1 over an index; dedupe state lives in the index's store.
    ///
    /// # Errors
    /// A storage failure loading the dedupe entries.
    pub fn new(
        index: CustomerIndex,
        providers_config: ProvidersConfig,
        matching: MatchingConfig,
    ) -> Result<Self> {
        let dedupe = Dedupe::load(index.store().clone())?;
        Ok(Stage1 {
            providers: Providers::default(),
            matchers: strategies::registry(),
            index,
            dedupe,
            providers_config,
            matching,
            decided: m::DecidedCounters::default(),
        })
    }

    /// Holds the most recent `mb` MiB of dedupe blocks in memory (see
    /// `Dedupe::hold_recent` and `store.dedupe_memory_mb`).
    pub fn with_dedupe_memory_mb(mut self, mb: usize) -> Self {
        self.dedupe.hold_recent(mb.saturating_mul(1 << 20));
        self
    }

    /// The first decision's summary of a payment id, if any.
    fn first_seen(&self, payment_id: &str) -> Result<Option<Seen>> {
        self.dedupe.get(payment_id)
    }

    /// The index it matches against.
    pub fn index(&self) -> &CustomerIndex {
        &self.index
    }

    /// Processes one raw envelope (a JSONL line or a Kafka message value).
    ///
    /// # Errors
    /// Only a storage failure; bad input is a [`Routed::DeadLetter`].
    pub fn process(&mut self, raw: &str, now: DateTime<Utc>) -> Result<Routed> {
        self.process_from(raw, now, None)
    }

    /// [`Stage1::process`] for an input read from a Kafka partition: its
    /// dedupe entry is written in that partition's block.
    ///
    /// # Errors
    /// Only a storage failure; bad input is a [`Routed::DeadLetter`].
    pub fn process_from(
        &mut self,
        raw: &str,
        now: DateTime<Utc>,
        source: Option<Source>,
    ) -> Result<Routed> {
        match self.normalize(raw, now) {
            Ok(payment) => {
                let id = payment.payment_id();
                let first = self.first_seen(&id)?;
                self.decide_payment(payment, id, first, None, now, source)
            }
            Err(refused) => Ok(*refused),
        }
    }

    /// [`Stage1::process_from`] over a batch of inputs, in order, with the
    /// same results; but the payments to match are matched together
    /// (`matchers::match_batch`), so the index reads of different payments
    /// overlap their memory waits instead of adding them up.
    ///
    /// Which payments to match is known before any is decided: those not
    /// decided before the batch, not failed or reversed, and not a repeat
    /// of an earlier id in the batch. A repeat's dedupe answer is read when
    /// its turn comes, once the earlier one is decided, as one by one.
    ///
    /// # Errors
    /// Only a storage failure; bad input is a [`Routed::DeadLetter`].
    pub fn process_batch(
        &mut self,
        inputs: &[(&str, Option<Source>)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Routed>> {
        let normalized: Vec<std::result::Result<Payment, Box<Routed>>> = inputs
            .iter()
            .map(|(raw, _)| self.normalize(raw, now))
            .collect();
        let mut ids: Vec<Option<String>> = normalized
            .iter()
            .map(|n| n.as_ref().ok().map(Payment::payment_id))
            .collect();
        let repeated = repeats(&ids);
        // A repeat's answer is read in its turn, below.
        let first_ones: Vec<Option<&str>> = ids
            .iter()
            .zip(&repeated)
            .map(|(id, &repeated)| id.as_deref().filter(|_| !repeated))
            .collect();
        let mut seen = self.dedupe.get_many(&first_ones)?;
        let to_match: Vec<usize> = (0..normalized.len())
            .filter(|&at| {
                !repeated[at]
                    && seen[at].is_none()
                    && normalized[at]
                        .as_ref()
                        .is_ok_and(|p| matches!(p.status, PaymentStatus::Succeeded))
            })
            .collect();
        let payments: Vec<&Payment> = to_match
            .iter()
            .filter_map(|&at| normalized[at].as_ref().ok())
            .collect();
        let found = matchers::match_batch(&payments, &self.index, &self.matchers, &self.matching)?;
        let mut matched: Vec<Option<MatchResult>> = normalized.iter().map(|_| None).collect();
        for (at, result) in to_match.into_iter().zip(found) {
            matched[at] = Some(result);
        }
        let mut out = Vec::with_capacity(inputs.len());
        for (at, (normalized, (_, source))) in normalized.into_iter().zip(inputs).enumerate() {
            out.push(match normalized {
                Ok(payment) => {
                    let id = ids[at].take().unwrap_or_else(|| payment.payment_id());
                    let first = if repeated[at] {
                        self.first_seen(&id)?
                    } else {
                        seen[at].take()
                    };
                    let matched = matched[at].take();
                    self.decide_payment(payment, id, first, matched, now, *source)?
                }
                Err(refused) => *refused,
            });
        }
        Ok(out)
    }

    /// Decides a payment whose earlier decision, if any, is `first`;
    /// `matched` is its match when found ahead (else it is matched here).
    fn decide_payment(
        &mut self,
        payment: Payment,
        payment_id: String,
        first: Option<Seen>,
        matched: Option<MatchResult>,
        now: DateTime<Utc>,
        source: Option<Source>,
    ) -> Result<Routed> {
        let decision = self.decide(payment, payment_id, first, matched, now, source)?;
        self.decided.increment(&decision.provider, decision.outcome);
        Ok(Routed::Decided { decision })
    }

    /// The envelope's payment, or the dead letter that refuses it.
    ///
    /// Most envelopes are split without reading the payload twice
    /// (`model::envelope`); one the split does not read, or whose payload
    /// its adapter refuses, is read again through serde, which also words
    /// every refusal: the result is the same either way.
    fn normalize(
        &self,
        raw: &str,
        now: DateTime<Utc>,
    ) -> std::result::Result<Payment, Box<Routed>> {
        if let Some(parts) = model::envelope::split(raw) {
            let ctx = NormalizeContext {
                config: &self.providers_config,
                received_at: parts.received_at,
                now,
            };
            if let Ok(payment) = self
                .providers
                .normalize(parts.provider, parts.payload, &ctx)
            {
                return Ok(payment);
            }
        }
        self.normalize_through_serde(raw, now)
    }

    /// [`Self::normalize`] reading the envelope through serde.
    fn normalize_through_serde(
        &self,
        raw: &str,
        now: DateTime<Utc>,
    ) -> std::result::Result<Payment, Box<Routed>> {
        let envelope: PaymentEnvelopeRef<'_> = match serde_json::from_str(raw) {
            Ok(e) => e,
            Err(e) => {
                let provider = serde_json::from_str::<serde_json::Value>(raw)
                    .ok()
                    .and_then(|v| {
                        v.get("provider")
                            .and_then(|p| p.as_str())
                            .map(str::to_string)
                    });
                let kind = if provider.is_some() {
                    "bad_envelope"
                } else {
                    "bad_json"
                };
                return Err(Box::new(dead_letter(
                    raw,
                    format!("not a payment envelope: {e}"),
                    kind,
                    provider,
                    now,
                )));
            }
        };
        let ctx = NormalizeContext {
            config: &self.providers_config,
            received_at: envelope.received_at,
            now,
        };
        self.providers
            .normalize_envelope(&envelope, &ctx)
            .map_err(|e| {
                Box::new(dead_letter(
                    raw,
                    e.to_string(),
                    e.kind(),
                    Some(envelope.provider.to_string()),
                    now,
                ))
            })
    }

    fn decide(
        &mut self,
        mut payment: Payment,
        payment_id: String,
        first: Option<Seen>,
        matched: Option<MatchResult>,
        now: DateTime<Utc>,
        source: Option<Source>,
    ) -> Result<Decision> {
        if let Some(first) = first {
            let mut d = base_decision(payment, payment_id, Outcome::Duplicate, "redelivery", now);
            d.customer_id = first.customer_id;
            d.detail = Some(format!(
                "redelivery of a payment first decided {}",
                first.outcome.as_str()
            ));
            return Ok(d);
        }
        // The status is read here; the rest of the payment moves into the
        // decision.
        let status = std::mem::replace(&mut payment.status, PaymentStatus::Succeeded);
        let decision = match status {
            PaymentStatus::Failed { reason } => {
                let rule = "provider_failed";
                let mut d = base_decision(payment, payment_id, Outcome::Failed, rule, now);
                d.detail = Some(reason);
                d
            }
            PaymentStatus::Reversal { reverses } => {
                self.reversal(payment, payment_id, reverses, now)?
            }
            PaymentStatus::Succeeded => {
                let r = match matched {
                    Some(r) => r,
                    None => matchers::match_payment(
                        &payment,
                        &self.index,
                        &self.matchers,
                        &self.matching,
                    )?,
                };
                let mut d = base_decision(payment, payment_id, r.outcome, r.rule, now);
                d.customer_id = r.customer_id;
                d.confidence = r.confidence;
                d.candidates = r.candidates;
                d.detail = r.detail;
                d
            }
        };
        self.dedupe.record(
            source,
            &decision.payment_id,
            &Seen {
                outcome: decision.outcome,
                customer_id: decision.customer_id.clone(),
                amount: decision.amount,
                currency: decision.currency,
            },
        );
        Ok(decision)
    }

    fn reversal(
        &mut self,
        payment: Payment,
        payment_id: String,
        reverses: String,
        now: DateTime<Utc>,
    ) -> Result<Decision> {
        let (outcome, rule, customer_id, detail) = match self.first_seen(&reverses)? {
            Some(Seen {
                outcome: Outcome::Matched,
                customer_id: Some(customer),
                ..
            }) => (Outcome::Reversal, "reversal", Some(customer), None),
            Some(seen) => (
                Outcome::Review,
                "reversal_of_unapplied_payment",
                None,
                Some(format!(
                    "takes money back from {reverses}, which was {} and never applied",
                    seen.outcome.as_str()
                )),
            ),
            None => (
                Outcome::Review,
                "reversal_of_unknown_payment",
                None,
                Some(format!(
                    "takes money back from {reverses}, which paymatch never saw"
                )),
            ),
        };
        let mut d = base_decision(payment, payment_id, outcome, rule, now);
        if customer_id.is_some() {
            d.confidence = 1.0;
        }
        d.customer_id = customer_id;
        d.detail = detail;
        d.reverses = Some(reverses);
        Ok(d)
    }

    /// Writes pending dedupe entries to the store.
    ///
    /// # Errors
    /// A storage failure.
    pub fn flush(&mut self) -> Result<()> {
        self.dedupe.flush()
    }

    /// Dedupe blocks written since the last call, for the changelog (see
    /// [`Dedupe::take_changes`]).
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.dedupe.take_changes()
    }

    /// Forgets pending dedupe entries (their transaction was aborted).
    pub fn discard(&mut self) {
        self.dedupe.discard();
    }

    /// Writes this transaction's dedupe blocks, now committed, to the
    /// store. `_records` are the changelog records of
    /// [`Self::take_changes`]: the same blocks, which the dedupe log still
    /// holds sealed and writes from memory.
    ///
    /// # Errors
    /// A storage failure.
    pub fn committed(&mut self, _records: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
        self.dedupe.committed()
    }

    /// Rebuilds dedupe entries read back from the changelog.
    ///
    /// # Errors
    /// A storage failure or a damaged record.
    pub fn restore(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.dedupe.restore(records)
    }
}

#[cfg(test)]
mod tests;
