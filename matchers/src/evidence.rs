//! Evidence about candidate customers, accumulated by the strategies and
//! scored by the decision.

use std::borrow::Cow;

use model::{Candidate, Customer};

/// One piece of evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// The rule that produced it (`account_number_exact`, …): one of a
    /// fixed set of names, so no string is built per signal.
    pub reason: &'static str,
    /// Its weight.
    pub weight: f64,
}

impl Signal {
    /// Orders the stronger signal first, ties by reason name, so reasons
    /// and the rule read the same on every run.
    fn stronger_first(a: &Signal, b: &Signal) -> std::cmp::Ordering {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.reason.cmp(b.reason))
    }
}

/// Everything known about one candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateEvidence {
    /// The customer.
    pub customer_id: String,
    /// Evidence for, strongest first (kept so as it is added, so reading
    /// the reasons in order needs no sorted copy).
    signals: Vec<Signal>,
    /// Factors against (multiplied into the score).
    pub penalties: Vec<Signal>,
    /// The customer record, once a strategy loaded it.
    pub customer: Option<std::sync::Arc<Customer>>,
}

impl CandidateEvidence {
    /// The combined score: `(1 - Π(1 - w)) · Π(penalty)`.
    pub fn score(&self) -> f64 {
        let miss: f64 = self
            .signals
            .iter()
            .map(|s| 1.0 - s.weight.clamp(0.0, 1.0))
            .product();
        let factor: f64 = self
            .penalties
            .iter()
            .map(|p| p.weight.clamp(0.0, 1.0))
            .product();
        (1.0 - miss) * factor
    }

    /// Reasons, strongest evidence first, penalties last.
    pub fn reasons(&self) -> Vec<Cow<'static, str>> {
        let mut reasons = Vec::with_capacity(self.signals.len() + self.penalties.len());
        reasons.extend(
            self.signals
                .iter()
                .chain(&self.penalties)
                .map(|s| Cow::Borrowed(s.reason)),
        );
        reasons
    }

    /// The strongest reason.
    pub fn rule(&self) -> &'static str {
        self.signals
            .first()
            .or(self.penalties.first())
            .map_or("none", |s| s.reason)
    }
}

/// The evidence for one payment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    candidates: Vec<CandidateEvidence>,
    /// Indexes of the payment's references some strategy resolved exactly.
    pub resolved_references: Vec<usize>,
}

impl Evidence {
    /// No evidence yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, customer_id: &str) -> &mut CandidateEvidence {
        let pos = match self
            .candidates
            .iter()
            .position(|c| c.customer_id == customer_id)
        {
            Some(pos) => pos,
            None => {
                self.candidates.push(CandidateEvidence {
                    customer_id: customer_id.to_string(),
                    signals: Vec::new(),
                    penalties: Vec::new(),
                    customer: None,
                });
                self.candidates.len() - 1
            }
        };
        &mut self.candidates[pos]
    }

    /// Adds evidence for a customer; the same reason twice counts once.
    pub fn support(&mut self, customer_id: &str, reason: &'static str, weight: f64) {
        Self::add_signal(self.entry(customer_id), reason, weight);
    }

    /// Adds a factor against an existing candidate.
    pub fn penalize(&mut self, customer_id: &str, reason: &'static str, factor: f64) {
        Self::add_penalty(self.entry(customer_id), reason, factor);
    }

    /// [`Evidence::support`] for the candidate at `at` in
    /// [`Evidence::candidates`] (nothing if there is none).
    pub fn support_at(&mut self, at: usize, reason: &'static str, weight: f64) {
        if let Some(entry) = self.candidates.get_mut(at) {
            Self::add_signal(entry, reason, weight);
        }
    }

    /// [`Evidence::penalize`] for the candidate at `at` in
    /// [`Evidence::candidates`] (nothing if there is none).
    pub fn penalize_at(&mut self, at: usize, reason: &'static str, factor: f64) {
        if let Some(entry) = self.candidates.get_mut(at) {
            Self::add_penalty(entry, reason, factor);
        }
    }

    fn add_signal(entry: &mut CandidateEvidence, reason: &'static str, weight: f64) {
        match entry.signals.iter_mut().find(|s| s.reason == reason) {
            Some(s) => s.weight = s.weight.max(weight),
            None => entry.signals.push(Signal { reason, weight }),
        }
        // Few signals a candidate: sorting them here costs less than a
        // sorted copy per listed candidate.
        entry.signals.sort_by(Signal::stronger_first);
    }

    fn add_penalty(entry: &mut CandidateEvidence, reason: &'static str, factor: f64) {
        if !entry.penalties.iter().any(|p| p.reason == reason) {
            entry.penalties.push(Signal {
                reason,
                weight: factor,
            });
        }
    }

    /// The candidates, in no order.
    pub fn candidates(&self) -> &[CandidateEvidence] {
        &self.candidates
    }

    /// The candidates, mutably (strategies that refine load records here).
    pub fn candidates_mut(&mut self) -> &mut [CandidateEvidence] {
        &mut self.candidates
    }

    /// Candidates best first (ties by customer id, so output is stable).
    pub fn ranked(&self) -> Vec<&CandidateEvidence> {
        // Each score once, not once per comparison.
        let mut scored: Vec<(f64, &CandidateEvidence)> =
            self.candidates.iter().map(|c| (c.score(), c)).collect();
        scored.sort_by(|(sa, a), (sb, b)| {
            sb.total_cmp(sa)
                .then_with(|| a.customer_id.cmp(&b.customer_id))
        });
        scored.into_iter().map(|(_, c)| c).collect()
    }
}

/// The first `limit` of candidates already [`Evidence::ranked`], as
/// contract records, scores rounded.
pub fn as_candidates(ranked: &[&CandidateEvidence], limit: usize) -> Vec<Candidate> {
    ranked
        .iter()
        .take(limit)
        .map(|c| Candidate {
            customer_id: c.customer_id.clone(),
            score: round4(c.score()),
            reasons: c.reasons(),
        })
        .collect()
}

/// Rounds a score to four decimals for stable, readable output.
pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn independent_signals_combine() {
        let mut e = Evidence::new();
        e.support("C1", "reference_fuzzy", 0.7);
        e.support("C1", "name_similar", 0.6);
        let score = e.candidates()[0].score();
        assert!((score - 0.88).abs() < 1e-9);
        e.penalize("C1", "name_mismatch", 0.5);
        assert!((e.candidates()[0].score() - 0.44).abs() < 1e-9);
    }

    #[test]
    fn same_reason_counts_once() {
        let mut e = Evidence::new();
        e.support("C1", "phone_exact", 0.9);
        e.support("C1", "phone_exact", 0.9);
        assert!((e.candidates()[0].score() - 0.9).abs() < 1e-9);
    }

    #[test]
    fn reasons_are_strongest_first_whatever_the_order_added() {
        let mut e = Evidence::new();
        e.support("C1", "name_similar", 0.3);
        e.support("C1", "reference_exact", 0.9);
        e.support("C1", "amount_matches_invoice", 0.3);
        e.penalize("C1", "name_mismatch", 0.5);
        // Raised above the rest after the others arrived.
        e.support("C1", "name_similar", 0.95);
        let c = &e.candidates()[0];
        assert_eq!(
            c.reasons(),
            [
                "name_similar",
                "reference_exact",
                "amount_matches_invoice",
                "name_mismatch"
            ]
        );
        assert_eq!(c.rule(), "name_similar");
        e.support("C2", "phone_exact", 0.5);
        e.support("C2", "amount_matches_invoice", 0.5);
        // Equal weights: by name.
        assert_eq!(
            e.candidates()[1].reasons(),
            ["amount_matches_invoice", "phone_exact"]
        );
    }
}
