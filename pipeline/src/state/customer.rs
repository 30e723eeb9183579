//! Stage 2's state for one customer: what it allocated to each invoice,
//! its credit, and the access state paymatch last set. It is written for
//! every customer a transaction touched (the changelog, then the store),
//! so its JSON is written by hand, the bytes serde writes.

use chrono::{DateTime, Utc};
use model::CustomerStatus;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::StateValue;

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

/// A customer's state is written for every customer a transaction touched
/// (the changelog, then the store): by hand, the bytes serde writes.
impl StateValue for CustomerState {
    fn encode(&self) -> Vec<u8> {
        let CustomerState {
            paid,
            credit,
            access,
        } = self;
        let mut out = Vec::with_capacity(64 + 40 * paid.len());
        out.extend_from_slice(b"{\"paid\":{");
        for (i, (invoice, amount)) in paid.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            model::encode::string(&mut out, invoice);
            out.push(b':');
            model::encode::decimal(&mut out, amount);
        }
        out.extend_from_slice(b"},\"credit\":");
        model::encode::decimal(&mut out, credit);
        out.extend_from_slice(b",\"access\":");
        // Set only when paymatch restored the customer: serde's writing.
        let _ = serde_json::to_writer(&mut out, access);
        out.push(b'}');
        out
    }
    fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A customer's state is stored as serde writes it, and reads back.
        #[test]
        fn customer_state_encodes_as_serde_writes_it(
            paid in proptest::collection::btree_map(
                "[A-Za-z0-9\"\\\\é\n-]{0,12}",
                (proptest::prelude::any::<i64>(), 0u32..6),
                0..4,
            ),
            credit in (proptest::prelude::any::<i64>(), 0u32..6),
            access in proptest::option::of(("[a-z:0-9\"]{0,10}", 0i64..4_000_000_000)),
        ) {
            let state = CustomerState {
                paid: paid
                    .into_iter()
                    .map(|(k, (n, scale))| (k, Decimal::new(n, scale)))
                    .collect(),
                credit: Decimal::new(credit.0, credit.1),
                access: access.map(|(cause, secs)| AccessOverride {
                    status: CustomerStatus::Active,
                    at: DateTime::from_timestamp(secs, 0).unwrap_or_default(),
                    cause,
                }),
            };
            let bytes = state.encode();
            proptest::prop_assert_eq!(
                String::from_utf8(bytes.clone()).unwrap(),
                serde_json::to_string(&state).unwrap()
            );
            proptest::prop_assert_eq!(CustomerState::decode(&bytes).unwrap(), state);
        }
    }
}
