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
use crate::index::CustomerIndex;

/// The amount strategy.
pub(super) struct Amount;

/// Whether the evidence already has a clear winner.
pub(crate) fn is_clear(evidence: &Evidence, config: &MatchingConfig) -> bool {
    let ranked = evidence.ranked();
    match ranked.as_slice() {
        [] => false,
        [top] => top.score() >= config.auto_match_threshold,
        [top, second, ..] => {
            top.score() >= config.auto_match_threshold
                && top.score() - second.score() >= config.min_margin
        }
    }
}

impl Matcher for Amount {
    fn name(&self) -> &'static str {
        "amount"
    }

    fn propose(
        &self,
        payment: &Payment,
        index: &CustomerIndex,
        config: &MatchingConfig,
        evidence: &mut Evidence,
    ) -> Result<()> {
        if evidence.candidates().is_empty() || is_clear(evidence, config) {
            return Ok(());
        }
        let ids: Vec<String> = evidence
            .ranked()
            .into_iter()
            .take(config.max_candidates_listed)
            .map(|c| c.customer_id.clone())
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
