//! Stage 2: applies decisions to customers. Partitioned by customer in
//! Kafka mode, so one customer's balance lives on exactly one instance.
//!
//! A `matched` decision becomes a payment ledger entry, allocations to open
//! invoices (oldest due first), credit for any rest, and — when it clears a
//! suspended customer's balance — one `restore` command per service, whose
//! `command_id` (`restore:{payment_id}:{service_id}`) is its idempotency key.
//! A `reversal` becomes a negative ledger entry against the customer's
//! credit. Other outcomes change nothing here.

use chrono::{DateTime, Utc};
use matchers::store::{Batch, Table};
use matchers::CustomerIndex;
use model::{
    AccessAction, AccessCommand, Allocation, CustomerStatus, Decision, InvoiceStatus, LedgerEntry,
    LedgerKind, Outcome,
};
use rust_decimal::Decimal;

use super::allocate::{self, OpenItem};
use crate::config::AccessConfig;
use crate::error::Result;
use crate::metrics as m;
use crate::state::{AccessOverride, CustomerState, StateTable};

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

/// Stage 2's code and state.
pub struct Stage2 {
    index: CustomerIndex,
    state: StateTable<CustomerState>,
    access: AccessConfig,
}

fn entry(
    d: &Decision,
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
        payment_id: d.payment_id.clone(),
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
    pub fn apply(&mut self, d: &Decision, now: DateTime<Utc>) -> Result<Applied> {
        let Some(customer_id) = d.customer_id.as_deref() else {
            return Ok(Applied::default());
        };
        match d.outcome {
            Outcome::Matched => self.apply_payment(d, customer_id, now),
            Outcome::Reversal => {
                let key = Self::state_key(customer_id);
                let mut state = self.state.get(&key)?.unwrap_or_default();
                state.credit -= d.amount;
                self.state.put(&key, state);
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
        d: &Decision,
        customer_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let key = Self::state_key(customer_id);
        let mut state = self.state.get(&key)?.unwrap_or_default();
        let mut open: Vec<OpenItem> = self
            .index
            .invoices_of(customer_id)?
            .into_iter()
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
            *state.paid.entry(a.invoice_id.clone()).or_default() += a.amount;
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
            let status = allocate::effective_status(customer.status, customer.updated_at, &state);
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
                        cause: d.payment_id.clone(),
                        reason: "payment cleared the balance".to_string(),
                        issued_at: now,
                    });
                }
                m::restores_issued(commands.len());
                state.access = Some(AccessOverride {
                    status: CustomerStatus::Active,
                    at: d.paid_at,
                    cause: d.payment_id.clone(),
                });
            }
        }
        self.state.put(&key, state);
        Ok(Applied {
            allocations,
            ledger,
            commands,
        })
    }

    /// Pending state writes.
    pub fn pending(&self) -> usize {
        self.state.pending()
    }

    /// Moves pending state into a batch.
    pub fn drain_into(&mut self, batch: &mut Batch) {
        self.state.drain_into(batch);
    }

    /// Writes pending state to the store.
    ///
    /// # Errors
    /// A storage failure.
    pub fn flush(&mut self) -> Result<()> {
        self.state.flush()
    }

    /// Customer states written since the last call (for the changelog).
    pub fn take_changes(&mut self) -> Vec<(String, Vec<u8>)> {
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
