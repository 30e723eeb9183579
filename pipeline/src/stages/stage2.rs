//! Stage 2: applies decisions to customers. Partitioned by customer in
//! Kafka mode, so one customer's balance lives on exactly one instance.
//!
//! A `matched` decision becomes a payment ledger entry, allocations to open
//! invoices (oldest due first), credit for any rest, and — when it clears a
//! suspended customer's balance — one `restore` command per service, whose
//! `command_id` (`restore:{payment_id}:{service_id}`) is its idempotency key.
//! A `reversal` becomes a negative ledger entry against the customer's
//! credit. Other outcomes change nothing here.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use matchers::store::Table;
use matchers::CustomerIndex;
use model::{
    AccessAction, AccessCommand, Allocation, Currency, CustomerStatus, Decision, InvoiceStatus,
    LedgerEntry, LedgerKind, Outcome,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

use super::allocate::{self, OpenItem};
use crate::config::AccessConfig;
use crate::error::Result;
use crate::metrics as m;
use crate::providers::flat;
use crate::state::{AccessOverride, Change, CustomerState, StateTable};
use model::json::string_text;

/// What applying a decision produced.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    /// How the payment was split over invoices.
    pub allocations: Vec<Allocation>,
    /// Ledger lines.
    pub ledger: Vec<LedgerEntry>,
    /// Access commands.
    pub commands: Vec<AccessCommand>,
}

/// The fields of a [`Decision`] stage 2 reads: nothing else of a decision
/// changes a balance or an access state.
///
/// Kafka mode decodes these straight from the decisions topic
/// ([`ToApply::read`]), borrowing the ids from the message and skipping
/// the rest. Decoding whole
/// decisions — ranked candidates with their reasons, texts, times — and
/// dropping them again was a sixth of stage 2's thread (BENCHMARKS,
/// session 12). Embedded mode borrows them from the decision it holds.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ToApply<'a> {
    /// `provider:provider_txn_id`.
    #[serde(borrow)]
    pub payment_id: Cow<'a, str>,
    /// What became of the payment.
    pub outcome: Outcome,
    /// The customer it was applied to, if any.
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    pub customer_id: Option<Cow<'a, str>>,
    /// Its amount.
    #[serde(deserialize_with = "model::decimal::lenient")]
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
    /// When the payer paid.
    pub paid_at: DateTime<Utc>,
}

/// An optional string borrowed from the input when it has no escapes
/// (serde borrows a `Cow` only at a field's top level, not inside an
/// `Option`).
fn borrowed_option<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'a>>::deserialize(d)?.map(|b| b.0))
}

impl<'a> ToApply<'a> {
    /// Reads these fields from a decision record's bytes.
    ///
    /// A decision is some 550 bytes, most of them ranked candidates with
    /// their scores and reasons, which serde walks value by value (floats
    /// included) only to skip them: 13.6 % of stage 2's thread in Kafka
    /// mode (BENCHMARKS, Kafka "Session 25"). The flat reader
    /// ([`crate::providers::flat`]) passes over them in one scan and hands
    /// back the six members' raw text. It reads only what serde would read
    /// the same way and answers `None` for anything else (an escape, a
    /// member twice, not one object); serde then reads the record as
    /// before, and its error words a refusal.
    ///
    /// # Errors
    /// serde's, for a record that is not a decision.
    pub fn read(bytes: &'a [u8]) -> serde_json::Result<Self> {
        match std::str::from_utf8(bytes).ok().and_then(Self::read_flat) {
            Some(read) => Ok(read),
            None => serde_json::from_slice(bytes),
        }
    }

    fn read_flat(text: &'a str) -> Option<Self> {
        let [payment_id, outcome, customer_id, amount, currency, paid_at] = flat::members(
            text,
            [
                "payment_id",
                "outcome",
                "customer_id",
                "amount",
                "currency",
                "paid_at",
            ],
        )?;
        Some(ToApply {
            payment_id: string_text(payment_id?)?,
            outcome: serde_json::from_str(outcome?).ok()?,
            customer_id: match customer_id {
                Some(raw) => Some(string_text(raw)?),
                None => None,
            },
            amount: model::decimal::parse(amount?)?,
            currency: serde_json::from_str(currency?).ok()?,
            paid_at: model::time::parse(&string_text(paid_at?)?).ok()?,
        })
    }
}

impl<'a> From<&'a Decision> for ToApply<'a> {
    fn from(d: &'a Decision) -> Self {
        ToApply {
            payment_id: Cow::Borrowed(&d.payment_id),
            outcome: d.outcome,
            customer_id: d.customer_id.as_deref().map(Cow::Borrowed),
            amount: d.amount,
            currency: d.currency,
            paid_at: d.paid_at,
        }
    }
}

/// Stage 2's code and state.
pub struct Stage2 {
    index: CustomerIndex,
    state: StateTable<CustomerState>,
    access: AccessConfig,
}

fn entry(
    d: &ToApply<'_>,
    customer: &str,
    kind: LedgerKind,
    invoice: Option<&str>,
    amount: Decimal,
) -> LedgerEntry {
    let kind_name = match kind {
        LedgerKind::Payment => "payment",
        LedgerKind::Allocation => "allocation",
        LedgerKind::Credit => "credit",
        LedgerKind::Reversal => "reversal",
    };
    let entry_id = match invoice {
        Some(inv) => format!("{kind_name}:{}:{inv}", d.payment_id),
        None => format!("{kind_name}:{}", d.payment_id),
    };
    LedgerEntry {
        entry_id,
        customer_id: customer.to_string(),
        payment_id: d.payment_id.to_string(),
        invoice_id: invoice.map(str::to_string),
        kind,
        amount,
        currency: d.currency,
        at: d.paid_at,
    }
}

impl Stage2 {
    /// Stage 2 over the index (customers, invoices) and its store (state).
    pub fn new(index: CustomerIndex, access: AccessConfig) -> Self {
        let state = StateTable::new(index.store().clone(), Table::State);
        Stage2 {
            index,
            state,
            access,
        }
    }

    fn state_key(customer_id: &str) -> String {
        format!("customer:{customer_id}")
    }

    /// Applies one decision.
    ///
    /// # Errors
    /// A storage failure.
    pub fn apply(&mut self, d: &ToApply<'_>, now: DateTime<Utc>) -> Result<Applied> {
        let Some(customer_id) = d.customer_id.as_deref() else {
            return Ok(Applied::default());
        };
        match d.outcome {
            Outcome::Matched => self.apply_payment(d, customer_id, now),
            Outcome::Reversal => {
                let key = Self::state_key(customer_id);
                self.state.entry(&key)?.credit -= d.amount;
                let ledger = vec![entry(d, customer_id, LedgerKind::Reversal, None, -d.amount)];
                Ok(Applied {
                    ledger,
                    ..Applied::default()
                })
            }
            Outcome::Review | Outcome::Duplicate | Outcome::Failed => Ok(Applied::default()),
        }
    }

    fn apply_payment(
        &mut self,
        d: &ToApply<'_>,
        customer_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let key = Self::state_key(customer_id);
        // Changed in place: a storage failure below aborts the whole
        // transaction, whose pending state is then discarded.
        let state = self.state.entry(&key)?;
        let mut open: Vec<OpenItem> = self
            .index
            .invoice_list(customer_id)?
            .iter()
            .filter(|i| i.status == InvoiceStatus::Open && i.currency == d.currency)
            .map(|i| {
                let paid = state.paid.get(&i.invoice_id).copied().unwrap_or_default();
                OpenItem {
                    remaining: i.amount - paid,
                    invoice_id: i.invoice_id.clone(),
                    due_at: i.due_at,
                }
            })
            .filter(|i| i.remaining > Decimal::ZERO)
            .collect();
        let (allocations, credit) = allocate::allocate(d.amount, &open);
        let mut ledger = vec![entry(d, customer_id, LedgerKind::Payment, None, d.amount)];
        for a in &allocations {
            // An invoice paid before keeps its key: no copy of the id.
            match state.paid.get_mut(&a.invoice_id) {
                Some(paid) => *paid += a.amount,
                None => {
                    state.paid.insert(a.invoice_id.clone(), a.amount);
                }
            }
            if let Some(item) = open.iter_mut().find(|i| i.invoice_id == a.invoice_id) {
                item.remaining -= a.amount;
            }
            ledger.push(entry(
                d,
                customer_id,
                LedgerKind::Allocation,
                Some(&a.invoice_id),
                a.amount,
            ));
        }
        if credit > Decimal::ZERO {
            state.credit += credit;
            ledger.push(entry(d, customer_id, LedgerKind::Credit, None, credit));
        }
        let mut commands = Vec::new();
        if let Some(customer) = self.index.customer(customer_id)? {
            let status = allocate::effective_status(customer.status, customer.updated_at, state);
            let owed =
                allocate::outstanding(&open, state.credit, self.access.restore_on, d.paid_at);
            if allocate::clears(status, owed, &self.access) {
                for s in &customer.services {
                    commands.push(AccessCommand {
                        command_id: format!("restore:{}:{}", d.payment_id, s.service_id),
                        action: AccessAction::Restore,
                        customer_id: customer_id.to_string(),
                        service_id: s.service_id.clone(),
                        username: s.username.clone(),
                        nas_id: s.nas_id.clone(),
                        cause: d.payment_id.to_string(),
                        reason: "payment cleared the balance".to_string(),
                        issued_at: now,
                    });
                }
                m::restores_issued(commands.len());
                state.access = Some(AccessOverride {
                    status: CustomerStatus::Active,
                    at: d.paid_at,
                    cause: d.payment_id.to_string(),
                });
            }
        }
        Ok(Applied {
            allocations,
            ledger,
            commands,
        })
    }

    /// Writes pending state to the store.
    ///
    /// # Errors
    /// A storage failure.
    pub fn flush(&mut self) -> Result<()> {
        self.state.flush()
    }

    /// Keeps what each input changes, for [`Self::take_changes`] (the
    /// Kafka mode's changelog), and writes committed states to the local
    /// store on a thread of its own: the changelog is the durable copy.
    ///
    /// # Errors
    /// The OS refused a thread.
    pub fn for_changelog(&mut self) -> Result<()> {
        self.state.track_changes();
        self.state.write_in_background("paymatch-state2")
    }

    /// The Kafka partition the next inputs come from (their state changes
    /// go to the changelog's partition of that number).
    pub fn set_partition(&mut self, partition: i32) {
        self.state.set_partition(partition);
    }

    /// Customer states written since the last call, each once with its
    /// latest value (for the changelog).
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.state.take_changes()
    }

    /// Forgets pending state writes (their transaction was aborted).
    pub fn discard(&mut self) {
        self.state.discard();
    }

    /// Writes this transaction's customer states, now committed, to the
    /// store and keeps them in memory (see
    /// [`crate::state::StateTable::commit_local`]).
    ///
    /// # Errors
    /// A storage failure.
    pub fn committed(&mut self, records: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
        self.state.commit_local(records)
    }

    /// Rebuilds customer states read back from the changelog.
    ///
    /// # Errors
    /// A storage failure.
    pub fn restore(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.state.restore(records)
    }
}

#[cfg(test)]
mod tests {
    use model::Candidate;

    use super::*;

    fn decision(customer_id: Option<&str>) -> Decision {
        Decision {
            payment_id: "mpesa_c2b:QK1".into(),
            provider: "mpesa_c2b".into(),
            provider_txn_id: "QK1".into(),
            amount: Decimal::new(150000, 2),
            currency: Currency::KES,
            paid_at: "2026-11-02T07:00:00Z".parse().unwrap(),
            outcome: Outcome::Matched,
            customer_id: customer_id.map(str::to_string),
            confidence: 0.97,
            rule: "account_number_exact".into(),
            allocations: Vec::new(),
            candidates: vec![Candidate {
                customer_id: "C1".into(),
                score: 0.97,
                reasons: vec!["account_number_exact".into(), "name_similar".into()],
            }],
            reverses: None,
            reference: Some("ACC1".into()),
            payer_name: Some("JANE \"JJ\" DOE".into()),
            payer_phone: Some("254712345678".into()),
            detail: None,
            decided_at: None,
        }
    }

    #[test]
    fn a_decision_on_the_wire_reads_as_the_decision_in_memory() {
        for customer in [Some("C1"), Some("C\"quoted\""), None] {
            let d = decision(customer);
            let json = serde_json::to_vec(&d).unwrap();
            let read: ToApply<'_> = serde_json::from_slice(&json).unwrap();
            assert_eq!(read, ToApply::from(&d));
        }
        // Ids without escapes are borrowed from the message, not copied.
        let json = serde_json::to_vec(&decision(Some("C1"))).unwrap();
        let read: ToApply<'_> = serde_json::from_slice(&json).unwrap();
        assert!(matches!(read.payment_id, Cow::Borrowed(_)));
        assert!(matches!(read.customer_id, Some(Cow::Borrowed(_))));
        // A decision without the optional field, and amounts as numbers.
        let minimal = r#"{"payment_id":"generic:T1","outcome":"review","amount":10.5,"currency":"KES","paid_at":"2026-11-02T07:00:00Z"}"#;
        let read: ToApply<'_> = serde_json::from_str(minimal).unwrap();
        assert_eq!(read.customer_id, None);
        assert_eq!(read.amount, Decimal::new(105, 1));
    }

    /// `ToApply::read` (the flat reader, serde when it declines) answers
    /// as serde does, for decisions and for what is not one.
    fn reads_as_serde(bytes: &[u8]) {
        let serde: serde_json::Result<ToApply<'_>> = serde_json::from_slice(bytes);
        match (ToApply::read(bytes), serde) {
            (Ok(read), Ok(serde)) => assert_eq!(read, serde, "{}", String::from_utf8_lossy(bytes)),
            (Err(_), Err(_)) => {}
            (read, serde) => panic!(
                "{}: read {read:?}, serde {serde:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }

    #[test]
    fn decisions_read_flat_as_serde_reads_them() {
        for customer in [Some("C1"), Some("C\"quoted\""), None] {
            for payer in [Some("JANE \"JJ\" DOE"), Some("JANE DOE"), None] {
                let mut d = decision(customer);
                d.payer_name = payer.map(str::to_string);
                let json = serde_json::to_vec(&d).unwrap();
                reads_as_serde(&json);
                assert_eq!(ToApply::read(&json).unwrap(), ToApply::from(&d));
                // Without an escape anywhere, the flat reader reads it.
                let escaped = json.contains(&b'\\');
                let flat = ToApply::read_flat(std::str::from_utf8(&json).unwrap());
                assert_eq!(flat.is_some(), !escaped, "{d:?}");
            }
        }
        for text in [
            r#"{"payment_id":"generic:T1","outcome":"review","amount":10.5,"currency":"KES","paid_at":"2026-11-02T07:00:00Z"}"#,
            r#"{"payment_id":"generic:T1","outcome":"matched","customer_id":null,"amount":" 7 ","currency":"UGX","paid_at":"2026-11-02T10:00:00+03:00"}"#,
            r#"{"payment_id":"generic:T1","outcome":"matched","customer_id":"C1","amount":"1e3","currency":"KES","paid_at":"2026-11-02T07:00:00.5Z","extra":[1.5,{"a":null}]}"#,
            r#"{"payment_id":"a\u0062","outcome":"matched","amount":"1","currency":"KES","paid_at":"2026-11-02T07:00:00Z"}"#,
            r#"{"payment_id":"generic:T1","outcome":"matched","amount":"1","currency":"KES","paid_at":"2026-11-02T07:00:00Z","amount":"2"}"#,
            r#"{"payment_id":"generic:T1","outcome":"sideways","amount":"1","currency":"KES","paid_at":"2026-11-02T07:00:00Z"}"#,
            r#"{"payment_id":"generic:T1","outcome":"matched","amount":"ten","currency":"KES","paid_at":"2026-11-02T07:00:00Z"}"#,
            r#"{"payment_id":"generic:T1","outcome":"matched","amount":"1","currency":"KES"}"#,
            r#"{"payment_id":7,"outcome":"matched","amount":"1","currency":"KES","paid_at":"2026-11-02T07:00:00Z"}"#,
            r#"{"payment_id":"generic:T1","outcome":"matched","amount":"1","currency":"KES","paid_at":"2026-11-02T07:00:00Z"} trailing"#,
            "[1,2]",
            "",
        ] {
            reads_as_serde(text.as_bytes());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Any decision, and any cut of one, reads as serde reads it.
        #[test]
        fn any_decision_reads_as_serde(
            customer in proptest::option::of("[A-Za-z0-9\"\\\\ é-]{0,12}"),
            payer in proptest::option::of("[A-Za-z \"é]{0,10}"),
            cents in 0i64..10_000_000,
            scale in 0u32..3,
            cut in 0usize..600,
        ) {
            let mut d = decision(customer.as_deref());
            d.amount = Decimal::new(cents, scale);
            d.payer_name = payer;
            let json = serde_json::to_vec(&d).unwrap();
            reads_as_serde(&json);
            reads_as_serde(&json[..cut.min(json.len())]);
        }
    }
}
