//! What stage 1 remembers of each decided payment, and its compact
//! encoding: one is written for every payment, so it is a few bytes, not
//! JSON (entries written as JSON by early versions are still read).

use model::{Currency, Outcome};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::state::StateValue;

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

/// Version tag of [`Seen`]'s compact encoding. JSON (the first versions)
/// starts with `{` and is still read.
const SEEN_V1: u8 = 1;

/// One is written for every payment: compact, about a third of its JSON.
/// Layout: version, outcome, currency (3 bytes), amount (`Decimal`'s 16
/// bytes), then the customer id, if any, to the end.
impl Seen {
    /// Appends the compact encoding to `out` (no allocation of its own:
    /// stage 1 writes one per payment straight into its block).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(SEEN_V1);
        // Its index in `Outcome::ALL`, which lists every outcome (a test
        // in `model` keeps it so) and only grows at the end.
        let code = Outcome::ALL
            .iter()
            .position(|o| *o == self.outcome)
            .expect("Outcome::ALL lists every outcome");
        out.push(code as u8);
        out.extend_from_slice(self.currency.code().as_bytes());
        out.extend_from_slice(&self.amount.serialize());
        if let Some(id) = &self.customer_id {
            // A marker, so an empty id and no id stay apart.
            out.push(b'=');
            out.extend_from_slice(id.as_bytes());
        }
    }
}

impl StateValue for Seen {
    fn encode(&self) -> Vec<u8> {
        let customer = self.customer_id.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(21 + customer.len() + 1);
        self.encode_into(&mut out);
        out
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        match bytes.first() {
            Some(b'{') => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Some(&SEEN_V1) if bytes.len() >= 21 => {
                let outcome = *Outcome::ALL
                    .get(usize::from(bytes[1]))
                    .ok_or_else(|| format!("unknown outcome code {}", bytes[1]))?;
                let currency = std::str::from_utf8(&bytes[2..5])
                    .ok()
                    .and_then(|c| Currency::parse(c).ok())
                    .ok_or("bad currency")?;
                let mut amount = [0u8; 16];
                amount.copy_from_slice(&bytes[5..21]);
                let customer_id = match &bytes[21..] {
                    [] => None,
                    [b'=', id @ ..] => {
                        Some(String::from_utf8(id.to_vec()).map_err(|_| "customer id not UTF-8")?)
                    }
                    _ => return Err("bad customer id".into()),
                };
                Ok(Seen {
                    outcome,
                    customer_id,
                    amount: Decimal::deserialize(amount),
                    currency,
                })
            }
            _ => Err("not a dedupe entry".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_entries_are_compact_and_old_json_ones_still_read() {
        let seen = Seen {
            outcome: Outcome::Matched,
            customer_id: Some("C000123".into()),
            amount: Decimal::new(250050, 2),
            currency: Currency::KES,
        };
        let bytes = seen.encode();
        let json = serde_json::to_vec(&seen).unwrap();
        assert!(
            bytes.len() * 2 < json.len(),
            "{} vs {}",
            bytes.len(),
            json.len()
        );
        assert_eq!(Seen::decode(&bytes).unwrap(), seen);
        assert_eq!(Seen::decode(&json).unwrap(), seen);
        for customer_id in [None, Some(String::new())] {
            let other = Seen {
                outcome: Outcome::Review,
                customer_id,
                ..seen.clone()
            };
            assert_eq!(Seen::decode(&other.encode()).unwrap(), other);
        }
        // Every outcome round-trips, under the code stored since v1.
        for (code, outcome) in Outcome::ALL.into_iter().enumerate() {
            let other = Seen {
                outcome,
                ..seen.clone()
            };
            let bytes = other.encode();
            assert_eq!(usize::from(bytes[1]), code);
            assert_eq!(Seen::decode(&bytes).unwrap(), other);
        }
        assert_eq!(Outcome::ALL[4], Outcome::Reversal);
        for bad in [&b""[..], b"\x01", b"\x09rest", &bytes[..20]] {
            assert!(Seen::decode(bad).is_err());
        }
    }
}
