//! References that are not exact: equal after look-alike characters and
//! leading zeros are folded (`normalized`), or one edit or transposition
//! away (`fuzzy`, through the index's bounded deletion neighbourhood).
//! Runs only for references the exact strategy could not resolve; the
//! fuzzy lookup only while no candidate is a clear winner.

use model::reference::canonical;
use model::{Payment, ReferenceKind};

use super::Matcher;
use crate::config::MatchingConfig;
use crate::error::Result;
use crate::evidence::Evidence;
use crate::index::{Lookups, Resolved};

/// The normalized and fuzzy reference strategy.
pub(super) struct NormalizedReference;

impl Matcher for NormalizedReference {
    fn name(&self) -> &'static str {
        "normalized_reference"
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
            if reference.kind == ReferenceKind::ProviderCustomer
                || evidence.resolved_references.contains(&i)
            {
                continue;
            }
            let canon = canonical(&reference.value);
            if canon.len() < config.min_reference_len {
                continue;
            }
            let normalized = index.lookup_canonical(&canon)?;
            if !normalized.is_empty() {
                for target in normalized {
                    let reason = target.reason(Resolved::Normalized);
                    evidence.support(target.customer_id(), reason, w.reference_normalized);
                }
                continue;
            }
            // Ids our systems issued are not typed by people: no typos. And
            // when the evidence already has a clear winner (an exact
            // reference, the payer's phone), a typo lookup cannot change it.
            if reference.kind == ReferenceKind::Request || super::amount::is_clear(evidence, config)
            {
                continue;
            }
            for (_, target) in index.lookup_fuzzy(&canon)? {
                let reason = target.reason(Resolved::Fuzzy);
                evidence.support(target.customer_id(), reason, w.reference_fuzzy);
            }
        }
        Ok(())
    }
}
