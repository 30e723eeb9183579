//! Matching settings: thresholds and the weight of each kind of evidence.
//! Defaults are tuned on the project's labelled generator (see
//! `docs/BENCHMARKS.md`); auto-match precision comes first.

use serde::{Deserialize, Serialize};

/// How evidence becomes a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchingConfig {
    /// A candidate is auto-matched only at or above this score. Default 0.85.
    pub auto_match_threshold: f64,
    /// ... and only this far above the runner-up. Default 0.10.
    pub min_margin: f64,
    /// Name similarity (token-set Jaro-Winkler, 0..1) at or above which
    /// the payer's name confirms a candidate. Default 0.88.
    pub name_similar_at: f64,
    /// Name similarity below which the payer's name counts against a
    /// candidate. Default 0.55.
    pub name_mismatch_below: f64,
    /// References shorter than this (after folding) are ignored. Default 3.
    pub min_reference_len: usize,
    /// Candidates listed in a decision. Default 5.
    pub max_candidates_listed: usize,
    /// Evidence weights.
    pub weights: Weights,
}

impl Default for MatchingConfig {
    fn default() -> Self {
        MatchingConfig {
            auto_match_threshold: 0.85,
            min_margin: 0.10,
            name_similar_at: 0.88,
            name_mismatch_below: 0.55,
            min_reference_len: 3,
            max_candidates_listed: 5,
            weights: Weights::default(),
        }
    }
}

/// The weight of each kind of evidence, in `[0, 1]`. A candidate's score
/// combines its evidence as independent signals: `1 - Π(1 - w)`, then
/// multiplied by `name_mismatch_factor` when the payer's name disagrees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// Account or invoice number equal up to case and punctuation. 0.97.
    pub reference_exact: f64,
    /// Service username equal up to case and punctuation. 0.95.
    pub username_exact: f64,
    /// Stripe customer id equal. 0.98.
    pub provider_customer_id: f64,
    /// Reference equal after look-alikes and leading zeros are folded. 0.93.
    pub reference_normalized: f64,
    /// Reference one edit or transposition away. 0.45: never enough alone,
    /// nor with the payer's name and an amount equal to an open invoice
    /// (0.846: strangers type numbers close to real accounts, and people
    /// share names and plan prices); with the payer's registered phone
    /// (0.945) it is.
    pub reference_fuzzy: f64,
    /// Payer's phone is one of the customer's numbers. 0.90.
    pub phone: f64,
    /// Payer's hashed phone is the hash of one of the customer's numbers. 0.90.
    pub phone_hash: f64,
    /// The reference is a phone number of the customer. 0.85.
    pub phone_as_reference: f64,
    /// Payer's name confirms the customer's. 0.60.
    pub name_similar: f64,
    /// The amount equals an open invoice or the open balance. 0.30.
    pub amount_matches_invoice: f64,
    /// Factor applied when the payer's name disagrees. 0.93.
    pub name_mismatch_factor: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            reference_exact: 0.97,
            username_exact: 0.95,
            provider_customer_id: 0.98,
            reference_normalized: 0.93,
            reference_fuzzy: 0.45,
            phone: 0.90,
            phone_hash: 0.90,
            phone_as_reference: 0.85,
            name_similar: 0.60,
            amount_matches_invoice: 0.30,
            name_mismatch_factor: 0.93,
        }
    }
}
