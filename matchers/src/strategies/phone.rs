//! The payer's phone, clear or SHA-256 hashed, against customers' numbers.

use model::{PayerPhone as Phone, Payment};

use super::Matcher;
use crate::config::MatchingConfig;
use crate::error::Result;
use crate::evidence::Evidence;
use crate::index::Lookups;

/// The payer-phone strategy.
pub(super) struct PayerPhone;

impl Matcher for PayerPhone {
    fn name(&self) -> &'static str {
        "payer_phone"
    }

    fn propose(
        &self,
        payment: &Payment,
        index: &Lookups<'_>,
        config: &MatchingConfig,
        evidence: &mut Evidence,
    ) -> Result<()> {
        match &payment.payer_phone {
            Some(Phone::Clear(m)) => {
                for id in index.by_phone(m.as_str())? {
                    evidence.support(&id, "phone_exact", config.weights.phone);
                }
            }
            Some(Phone::Hashed(h)) => {
                for id in index.by_phone_hash(h)? {
                    evidence.support(&id, "phone_hash_exact", config.weights.phone_hash);
                }
            }
            None => {}
        }
        Ok(())
    }
}
