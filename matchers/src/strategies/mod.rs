//! Matching strategies, cheapest first. Each adds evidence (candidates with
//! weighted reasons) and never decides: [`crate::decide`] does.
//!
//! The [`Matcher`] trait is the extension point; [`registry`] lists every
//! strategy in the order they run. Later strategies may read what earlier
//! ones found: the typo lookup (the costliest, `len + 1` reads) is skipped
//! once the evidence has a clear winner, and the name and amount strategies
//! only refine candidates the reference and phone strategies proposed (a
//! name alone never proposes).

mod amount;
mod exact_reference;
mod name;
mod normalized_reference;
mod phone;

use model::Payment;

use crate::config::MatchingConfig;
use crate::error::Result;
use crate::evidence::Evidence;
use crate::index::{CustomerIndex, Lookups, Wants};

pub use name::name_similarity;

/// A matching strategy.
pub trait Matcher: Send + Sync {
    /// Its name, for logs and metrics.
    fn name(&self) -> &'static str;

    /// Names what [`Matcher::propose`] will read for `payment`, given the
    /// evidence so far, so that a batch reads it for all its payments
    /// together first (see `index::wants`). A hint: what `propose` reads
    /// without naming it comes from the store as usual, so a strategy
    /// that names nothing (the default) is still right.
    fn wants<'e>(
        &self,
        _payment: &'e Payment,
        _index: &Lookups<'_>,
        _config: &MatchingConfig,
        _evidence: &'e Evidence,
        _wants: &mut Wants<'e>,
    ) {
    }

    /// Adds evidence about `payment` to `evidence`. Must only read the index
    /// (no other I/O) and must be bounded: a fixed number of point reads,
    /// whatever the index size. `index` is the index as this payment's
    /// read-ahead left it ([`Lookups`]): the keys it answered cost no read.
    ///
    /// # Errors
    /// A storage failure of the index.
    fn propose(
        &self,
        payment: &Payment,
        index: &Lookups<'_>,
        config: &MatchingConfig,
        evidence: &mut Evidence,
    ) -> Result<()>;
}

/// Every strategy, in the order they run.
pub fn registry() -> Vec<Box<dyn Matcher>> {
    vec![
        Box::new(exact_reference::ExactReference),
        Box::new(phone::PayerPhone),
        Box::new(normalized_reference::NormalizedReference),
        Box::new(name::PayerName),
        Box::new(amount::Amount),
    ]
}

/// Loads the customer record of every candidate that lacks one.
pub(crate) fn load_customers(index: &CustomerIndex, evidence: &mut Evidence) -> Result<()> {
    for c in evidence.candidates_mut() {
        if c.customer.is_none() {
            c.customer = index.customer(&c.customer_id)?;
        }
    }
    Ok(())
}
