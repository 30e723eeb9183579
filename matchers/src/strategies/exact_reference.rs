//! Exact references: the account number, invoice number or username the
//! payer typed, equal up to case and punctuation; the Stripe customer id;
//! and a phone number typed as the reference.

use model::reference::folded;
use model::{normalize_msisdn, Payment, ReferenceKind};

use super::Matcher;
use crate::config::MatchingConfig;
use crate::error::Result;
use crate::evidence::Evidence;
use crate::index::{Lookups, RefTarget, Resolved};

/// The exact-reference strategy.
pub(super) struct ExactReference;

/// Whether the text could be a phone number rather than an account number.
fn looks_like_phone(folded: &str) -> bool {
    (9..=12).contains(&folded.len()) && folded.bytes().all(|b| b.is_ascii_digit())
}

impl Matcher for ExactReference {
    fn name(&self) -> &'static str {
        "exact_reference"
    }

    fn propose(
        &self,
        payment: &Payment,
        index: &Lookups<'_>,
        config: &MatchingConfig,
        evidence: &mut Evidence,
    ) -> Result<()> {
        let w = &config.weights;
        for (i, reference) in payment.references.iter().enumerate() {
            if reference.kind == ReferenceKind::ProviderCustomer {
                for id in index.by_stripe_customer(reference.value.trim())? {
                    evidence.support(&id, "stripe_customer_id_exact", w.provider_customer_id);
                    evidence.resolved_references.push(i);
                }
                continue;
            }
            let folded = folded(&reference.value);
            if folded.len() < config.min_reference_len {
                continue;
            }
            for target in index.lookup_exact(&folded)? {
                let weight = match target {
                    RefTarget::Username { .. } => w.username_exact,
                    _ => w.reference_exact,
                };
                evidence.support(target.customer_id(), target.reason(Resolved::Exact), weight);
                evidence.resolved_references.push(i);
            }
            if reference.kind == ReferenceKind::Account && looks_like_phone(&folded) {
                if let Ok(m) = normalize_msisdn(&folded, &index.rules().default_country_code) {
                    for id in index.by_phone(m.as_str())? {
                        evidence.support(&id, "phone_as_reference", w.phone_as_reference);
                        evidence.resolved_references.push(i);
                    }
                }
            }
        }
        Ok(())
    }
}
