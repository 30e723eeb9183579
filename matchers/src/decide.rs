//! From evidence to a decision: `matched` only when the best candidate is
//! above the auto-match threshold, clearly ahead of the runner-up, billed in
//! the payment's currency and not closed; otherwise `review`, with the
//! ranked candidates and the reason a person should look. Restoring service
//! to the wrong customer is worse than a review.

use model::{Candidate, Customer, Outcome, Payment};

use crate::config::MatchingConfig;
use crate::error::Result;
use crate::evidence::{as_candidates, round4, Evidence};
use crate::index::{CustomerIndex, Lookups, Wants};
use crate::strategies::{self, Matcher};

/// The matching verdict for one payment.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchResult {
    /// `Matched` or `Review`.
    pub outcome: Outcome,
    /// The matched customer.
    pub customer_id: Option<String>,
    /// The matched customer's record.
    pub customer: Option<std::sync::Arc<Customer>>,
    /// The best candidate's score.
    pub confidence: f64,
    /// The deciding rule: the winner's strongest reason, or why not.
    pub rule: &'static str,
    /// Ranked candidates.
    pub candidates: Vec<Candidate>,
    /// For a review: what the reviewer should look at.
    pub detail: Option<String>,
}

/// Runs every strategy on a payment and decides.
///
/// # Errors
/// A storage failure of the index.
pub fn match_payment(
    payment: &Payment,
    index: &CustomerIndex,
    matchers: &[Box<dyn Matcher>],
    config: &MatchingConfig,
) -> Result<MatchResult> {
    match_read_ahead(payment, &Lookups::new(index), matchers, config)
}

/// [`match_payment`] through the answers of the payment's read-ahead
/// (`CustomerIndex::prefetch`): the same result, fewer reads.
///
/// # Errors
/// A storage failure of the index.
pub fn match_read_ahead(
    payment: &Payment,
    index: &Lookups<'_>,
    matchers: &[Box<dyn Matcher>],
    config: &MatchingConfig,
) -> Result<MatchResult> {
    let mut evidence = Evidence::new();
    for m in matchers {
        m.propose(payment, index, config, &mut evidence)?;
    }
    strategies::load_customers(index, &mut evidence)?;
    Ok(decide(payment, &evidence, config))
}

/// [`match_payment`] for a batch of payments, with the same results in
/// order, read ahead: first what matching starts from
/// (`CustomerIndex::prefetch`), then, before each strategy runs over all
/// the payments, what it said it would read for each
/// ([`Matcher::wants`], read together by `CustomerIndex::read_wants`), so
/// the cache misses of different payments overlap instead of adding up.
///
/// # Errors
/// A storage failure of the index.
pub fn match_batch(
    payments: &[&Payment],
    index: &CustomerIndex,
    matchers: &[Box<dyn Matcher>],
    config: &MatchingConfig,
) -> Result<Vec<MatchResult>> {
    let mut read_aheads = index.prefetch(payments);
    let mut evidence: Vec<Evidence> = payments.iter().map(|_| Evidence::new()).collect();
    for m in matchers {
        let mut wants = Wants::new();
        for (owner, ((payment, evidence), read_ahead)) in
            payments.iter().zip(&evidence).zip(&read_aheads).enumerate()
        {
            wants.for_payment(owner);
            let lookups = Lookups::read_ahead(index, read_ahead);
            m.wants(payment, &lookups, config, evidence, &mut wants);
        }
        if !wants.is_empty() {
            index.read_wants(wants, &mut read_aheads);
        }
        for ((payment, evidence), read_ahead) in
            payments.iter().zip(&mut evidence).zip(&read_aheads)
        {
            m.propose(
                payment,
                &Lookups::read_ahead(index, read_ahead),
                config,
                evidence,
            )?;
        }
    }
    payments
        .iter()
        .zip(&mut evidence)
        .map(|(payment, evidence)| {
            strategies::load_customers(index, evidence)?;
            Ok(decide(payment, evidence, config))
        })
        .collect()
}

fn review(
    rule: &'static str,
    detail: String,
    confidence: f64,
    candidates: Vec<Candidate>,
) -> MatchResult {
    MatchResult {
        outcome: Outcome::Review,
        customer_id: None,
        customer: None,
        confidence: round4(confidence),
        rule,
        candidates,
        detail: Some(detail),
    }
}

/// Decides from gathered evidence (pure).
pub fn decide(payment: &Payment, evidence: &Evidence, config: &MatchingConfig) -> MatchResult {
    let ranked = evidence.ranked();
    let candidates = as_candidates(&ranked, config.max_candidates_listed);
    let Some(top) = ranked.first() else {
        return review(
            "no_candidate",
            "no customer matches the reference or the phone".into(),
            0.0,
            candidates,
        );
    };
    let score = top.score();
    let runner_up = ranked.get(1).map_or(0.0, |c| c.score());
    if score < config.auto_match_threshold {
        let detail = format!(
            "best candidate {} scores {:.2}, below the auto-match threshold {:.2}",
            top.customer_id, score, config.auto_match_threshold
        );
        return review("below_threshold", detail, score, candidates);
    }
    if score - runner_up < config.min_margin {
        let detail = format!(
            "candidates {} ({score:.2}) and {} ({runner_up:.2}) are too close",
            top.customer_id, ranked[1].customer_id
        );
        return review("ambiguous", detail, score, candidates);
    }
    let Some(customer) = top.customer.clone() else {
        let detail = format!("customer {} vanished from the index", top.customer_id);
        return review("customer_not_found", detail, score, candidates);
    };
    if customer.currency != payment.money.currency {
        let detail = format!(
            "customer {} is billed in {}, the payment is in {}",
            customer.customer_id, customer.currency, payment.money.currency
        );
        return review("currency_mismatch", detail, score, candidates);
    }
    if customer.status == model::CustomerStatus::Closed {
        let detail = format!("customer {} is closed", customer.customer_id);
        return review("customer_closed", detail, score, candidates);
    }
    MatchResult {
        outcome: Outcome::Matched,
        // The candidate's copy of the id (the record's, under that id, is
        // equal): the record's is rarely in cache, the candidate's was
        // just written.
        customer_id: Some(top.customer_id.clone()),
        customer: Some(customer),
        confidence: round4(score),
        rule: top.rule(),
        candidates,
        detail: None,
    }
}

#[cfg(test)]
mod tests;
