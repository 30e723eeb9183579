//! References that are not exact: equal after look-alike characters and
//! leading zeros are folded (`normalized`), or one edit or transposition
//! away (`fuzzy`, through the index's bounded deletion neighbourhood).
//! Runs only for references the exact strategy could not resolve; the
//! fuzzy lookup only while no candidate is a clear winner.

use std::borrow::Cow;

use model::reference::canonical_form;
use model::{Payment, ReferenceKind, ReferenceValue};

use super::Matcher;
use crate::config::MatchingConfig;
use crate::error::Result;
use crate::evidence::Evidence;
use crate::index::{Lookups, Resolved, Wants};

/// The normalized and fuzzy reference strategy.
pub(super) struct NormalizedReference;

/// The canonical form of the `at`th reference, when this strategy looks
/// it up: one the exact strategy did not resolve, not a provider's
/// customer id, long enough.
fn looked_up<'r>(
    at: usize,
    reference: &'r ReferenceValue,
    config: &MatchingConfig,
    evidence: &Evidence,
) -> Option<Cow<'r, str>> {
    if reference.kind == ReferenceKind::ProviderCustomer
        || evidence.resolved_references.contains(&at)
    {
        return None;
    }
    Some(canonical_form(&reference.value)).filter(|canon| canon.len() >= config.min_reference_len)
}

/// Whether a reference that matches nothing even in canonical form is
/// worth the typo lookup. Ids our systems issued are not typed by people:
/// no typos. And when the evidence already has a clear winner (an exact
/// reference, the payer's phone), a typo lookup cannot change it.
fn may_be_a_typo(reference: &ReferenceValue, config: &MatchingConfig, evidence: &Evidence) -> bool {
    reference.kind != ReferenceKind::Request && !super::amount::is_clear(evidence, config)
}

impl Matcher for NormalizedReference {
    fn name(&self) -> &'static str {
        "normalized_reference"
    }

    /// The typo lookups: a reference that reads as a typo now may still be
    /// resolved by an earlier reference's canonical form in `propose`,
    /// which then skips the lookup (a read for nothing, rarely).
    fn wants<'e>(
        &self,
        payment: &'e Payment,
        index: &Lookups<'_>,
        config: &MatchingConfig,
        evidence: &'e Evidence,
        wants: &mut Wants<'e>,
    ) {
        for (i, reference) in payment.references.iter().enumerate() {
            let Some(canon) = looked_up(i, reference, config, evidence) else {
                continue;
            };
            if may_be_a_typo(reference, config, evidence)
                && index.canonical_is_known(&canon).is_ok_and(|known| !known)
            {
                wants.fuzzy(canon.into_owned());
            }
        }
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
            let Some(canon) = looked_up(i, reference, config, evidence) else {
                continue;
            };
            let normalized = index.lookup_canonical(&canon)?;
            if !normalized.is_empty() {
                for target in normalized {
                    let reason = target.reason(Resolved::Normalized);
                    evidence.support(target.customer_id(), reason, w.reference_normalized);
                }
                continue;
            }
            if !may_be_a_typo(reference, config, evidence) {
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
