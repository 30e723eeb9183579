//! The amount against each candidate's open invoices: an amount equal to an
//! open invoice, or to the whole open balance, supports the candidate.
//! Consulted only while the decision is still open (no clear winner), since
//! it costs a read per invoice and cannot change a clear result.

use model::Payment;
use rust_decimal::Decimal;

use super::Matcher;
use crate::config::MatchingConfig;
use crate::error::Result;
use crate::evidence::Evidence;
use crate::index::{Lookups, Wants};

/// The amount strategy.
pub(super) struct Amount;

/// Whether the evidence already has a clear winner. Reads the two best
/// scores in one pass: the ranking's order among equal scores does not
/// change them.
pub(crate) fn is_clear(evidence: &Evidence, config: &MatchingConfig) -> bool {
    let mut scores = evidence.candidates().iter().map(|c| c.score());
    let Some(first) = scores.next() else {
        return false;
    };
    let (mut top, mut second) = (first, None::<f64>);
    for score in scores {
        if score.total_cmp(&top).is_gt() {
            second = Some(top);
            top = score;
        } else if second.is_none_or(|s| score.total_cmp(&s).is_gt()) {
            second = Some(score);
        }
    }
    top >= config.auto_match_threshold
        && second.is_none_or(|second| top - second >= config.min_margin)
}

/// The candidates whose invoices are weighed: the best listed, while no
/// candidate is a clear winner.
fn to_weigh<'e>(evidence: &'e Evidence, config: &MatchingConfig) -> Vec<&'e str> {
    if evidence.candidates().is_empty() || is_clear(evidence, config) {
        return Vec::new();
    }
    evidence
        .ranked()
        .into_iter()
        .take(config.max_candidates_listed)
        .map(|c| c.customer_id.as_str())
        .collect()
}

impl Matcher for Amount {
    fn name(&self) -> &'static str {
        "amount"
    }

    fn wants<'e>(
        &self,
        _payment: &'e Payment,
        _index: &Lookups<'_>,
        config: &MatchingConfig,
        evidence: &'e Evidence,
        wants: &mut Wants<'e>,
    ) {
        for id in to_weigh(evidence, config) {
            wants.open_invoices(id);
        }
    }

    fn propose(
        &self,
        payment: &Payment,
        index: &Lookups<'_>,
        config: &MatchingConfig,
        evidence: &mut Evidence,
    ) -> Result<()> {
        let ids: Vec<String> = to_weigh(evidence, config)
            .into_iter()
            .map(str::to_string)
            .collect();
        for id in ids {
            let open = index.open_invoices(&id)?;
            let same_currency = open.iter().filter(|i| i.currency == payment.money.currency);
            let mut total = Decimal::ZERO;
            let mut equal_one = false;
            for invoice in same_currency {
                total += invoice.amount;
                equal_one |= invoice.amount == payment.money.amount;
            }
            if equal_one || (total > Decimal::ZERO && total == payment.money.amount) {
                evidence.support(
                    &id,
                    "amount_matches_invoice",
                    config.weights.amount_matches_invoice,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition over the full ranking, as it was first written.
    fn is_clear_by_ranking(evidence: &Evidence, config: &MatchingConfig) -> bool {
        match evidence.ranked().as_slice() {
            [] => false,
            [top] => top.score() >= config.auto_match_threshold,
            [top, second, ..] => {
                top.score() >= config.auto_match_threshold
                    && top.score() - second.score() >= config.min_margin
            }
        }
    }

    proptest! {
        #[test]
        fn two_best_scores_decide_as_the_ranking_does(
            signals in proptest::collection::vec((0usize..4, 0u8..6), 0..8),
        ) {
            let config = MatchingConfig::default();
            let mut evidence = Evidence::new();
            for (customer, weight) in signals {
                // Few distinct weights, so equal scores are common.
                let reason = ["a", "b", "c", "d", "e", "f"][usize::from(weight)];
                evidence.support(&format!("C{customer}"), reason, f64::from(weight) * 0.19);
            }
            prop_assert_eq!(is_clear(&evidence, &config), is_clear_by_ranking(&evidence, &config));
        }
    }
}
