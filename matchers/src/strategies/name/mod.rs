//! The payer's name against each candidate's name: confirms a candidate
//! (`name_similar`) or counts against it (`name_mismatch`). Never proposes
//! a candidate by itself: many people share a name.
//!
//! Similarity is token-set Jaro-Winkler: each token of the shorter name is
//! paired with its best match in the other, so order (`DOE JANE` vs `Jane
//! Wanjiru Doe`), middle names and case do not matter. ASCII names, most
//! of them, are compared without allocating ([`ascii`]).

mod ascii;

use model::Payment;

use super::{load_customers, Matcher};
use crate::config::MatchingConfig;
use crate::error::Result;
use crate::evidence::Evidence;
use crate::index::Lookups;

/// The payer-name strategy.
pub(super) struct PayerName;

fn tokens(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|t| t.chars().count() > 1)
        .map(str::to_lowercase)
        .collect()
}

/// Token-set similarity of two names in `[0, 1]`; 0 when either is empty.
pub fn name_similarity(a: &str, b: &str) -> f64 {
    token_similarity(&tokens(a), &tokens(b))
}

/// [`name_similarity`] of names already split by [`tokens`], so the
/// payer's name is split once per payment, not once per candidate.
fn token_similarity(ta: &[String], tb: &[String]) -> f64 {
    if ta.is_empty() || tb.is_empty() {
        return 0.0;
    }
    let (short, long) = if ta.len() <= tb.len() {
        (ta, tb)
    } else {
        (tb, ta)
    };
    let total: f64 = short
        .iter()
        .map(|s| {
            long.iter()
                .map(|l| strsim::jaro_winkler(s, l))
                .fold(0.0, f64::max)
        })
        .sum();
    total / short.len() as f64
}

impl Matcher for PayerName {
    fn name(&self) -> &'static str {
        "payer_name"
    }

    fn propose(
        &self,
        payment: &Payment,
        index: &Lookups<'_>,
        config: &MatchingConfig,
        evidence: &mut Evidence,
    ) -> Result<()> {
        let Some(payer) = payment.payer_name.as_deref() else {
            return Ok(());
        };
        if evidence.candidates().is_empty() {
            return Ok(());
        }
        load_customers(index, evidence)?;
        // ASCII names, most of them, are compared in stack buffers; the
        // payer's is split once per payment either way.
        let payer_ascii = ascii::AsciiTokens::split(payer);
        let mut payer_tokens: Option<Vec<String>> = None;
        let mut verdicts = Vec::new();
        for (at, c) in evidence.candidates().iter().enumerate() {
            let Some(customer) = &c.customer else {
                continue;
            };
            let name_ascii = payer_ascii
                .as_ref()
                .and_then(|_| ascii::AsciiTokens::split(&customer.name));
            let sim = match (&payer_ascii, name_ascii) {
                (Some(payer), Some(name)) => ascii::token_similarity(payer, &name),
                _ => token_similarity(
                    payer_tokens.get_or_insert_with(|| tokens(payer)),
                    &tokens(&customer.name),
                ),
            };
            if sim >= config.name_similar_at {
                verdicts.push((at, true));
            } else if sim < config.name_mismatch_below {
                verdicts.push((at, false));
            }
        }
        for (at, similar) in verdicts {
            if similar {
                evidence.support_at(at, "name_similar", config.weights.name_similar);
            } else {
                evidence.penalize_at(at, "name_mismatch", config.weights.name_mismatch_factor);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_case_and_middle_names_do_not_matter() {
        assert!(name_similarity("JANE DOE", "Jane Wanjiru Doe") > 0.99);
        assert!(name_similarity("Doe Jane", "jane doe") > 0.99);
        assert!(name_similarity("JANE WANJRU", "Jane Wanjiru Doe") > 0.9);
        assert!(name_similarity("PETER OTIENO", "Jane Wanjiru Doe") < 0.6);
        assert_eq!(name_similarity("", "Jane"), 0.0);
    }
}
