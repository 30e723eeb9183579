//! Keyed state of the stages, on the same [`KvStore`] as the index: the
//! dedupe table (stage 1) and per-customer balances (stage 2).
//!
//! Writes collect in a pending map and reach the store in one atomic batch at
//! [`StateTable::flush`], the stage's commit point: in embedded mode every
//! few thousand payments, in Kafka mode with the transaction. Reads see
//! pending writes first, so a redelivery inside one batch is still caught.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use matchers::store::{Batch, KvStore, Table};
use model::{Currency, CustomerStatus, Outcome};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A typed view of one table with write-behind.
pub struct StateTable<T> {
    store: Arc<dyn KvStore>,
    table: Table,
    pending: HashMap<String, T>,
    _values: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned + Clone> StateTable<T> {
    /// A view of `table`.
    pub fn new(store: Arc<dyn KvStore>, table: Table) -> Self {
        StateTable {
            store,
            table,
            pending: HashMap::new(),
            _values: PhantomData,
        }
    }

    /// The value under `key`, pending writes first.
    ///
    /// # Errors
    /// A storage failure or a corrupt value.
    pub fn get(&self, key: &str) -> Result<Option<T>> {
        if let Some(v) = self.pending.get(key) {
            return Ok(Some(v.clone()));
        }
        match self.store.get(self.table, key.as_bytes())? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                matchers::Error::Corrupt {
                    table: self.table.name(),
                    key: key.to_string(),
                    detail: e.to_string(),
                }
                .into()
            }),
            None => Ok(None),
        }
    }

    /// Sets the value under `key` (written at the next flush).
    pub fn put(&mut self, key: &str, value: T) {
        self.pending.insert(key.to_string(), value);
    }

    /// Number of pending writes.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Moves pending writes into `batch`.
    pub fn drain_into(&mut self, batch: &mut Batch) {
        for (k, v) in self.pending.drain() {
            batch.put(
                self.table,
                k.into_bytes(),
                serde_json::to_vec(&v).unwrap_or_default(),
            );
        }
    }

    /// Writes pending values to the store.
    ///
    /// # Errors
    /// A storage failure; pending values are kept to retry.
    pub fn flush(&mut self) -> Result<()> {
        let mut batch = Batch::default();
        for (k, v) in &self.pending {
            batch.put(
                self.table,
                k.as_bytes().to_vec(),
                serde_json::to_vec(v).unwrap_or_default(),
            );
        }
        self.store.write(batch)?;
        self.pending.clear();
        Ok(())
    }
}

/// What the dedupe table remembers of a decided payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The first decision's outcome.
    pub outcome: Outcome,
    /// The customer it went to, if any.
    pub customer_id: Option<String>,
    /// Its amount.
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
}

/// An access state paymatch set, which wins over the billing system's
/// status until the billing system updates the customer after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessOverride {
    /// The state set.
    pub status: CustomerStatus,
    /// When (the causing payment's time).
    pub at: DateTime<Utc>,
    /// The causing payment.
    pub cause: String,
}

/// Stage 2's state for one customer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerState {
    /// Amounts paymatch allocated to each invoice so far.
    pub paid: std::collections::BTreeMap<String, Decimal>,
    /// Unallocated money (overpayments), less reversals; may go negative.
    pub credit: Decimal,
    /// The access state paymatch last set.
    pub access: Option<AccessOverride>,
}
