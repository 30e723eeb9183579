//! The scenarios: each draws a payer and writes one callback in a
//! provider's real format, with the truth of what paymatch should decide.

use chrono::{DateTime, Duration, Utc};
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::payloads::{self, Spec};
use super::world::{self, Payer, World};
use super::{names, Emitted, Expected, History, Truth};

pub(super) struct Gen {
    pub(super) rng: ChaCha8Rng,
    pub(super) world: World,
    pub(super) serial: u64,
}

impl Gen {
    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    fn mpesa_id(&mut self) -> String {
        let n = self.next_serial();
        let letters: String = (0..3)
            .map(|_| (b'A' + self.rng.random_range(0..26u8)) as char)
            .collect();
        format!("{letters}{}", world::base36(n * 7919 + 1_000_000, 7))
    }

    fn spec(
        &mut self,
        payer: &Payer,
        at: DateTime<Utc>,
        txn_id: String,
        reference: String,
    ) -> Spec {
        Spec {
            txn_id,
            amount: self.world.amount_for(&mut self.rng, payer),
            currency: payer.currency_code(),
            paid_at: at,
            reference,
            phone: Some(payer.phone.clone()),
            first: payer.first.to_uppercase(),
            middle: payer.middle.to_uppercase(),
            last: payer.last.to_uppercase(),
        }
    }

    #[allow(clippy::too_many_lines)]
    pub(super) fn scenario(
        &mut self,
        scenario: &str,
        line: u64,
        at: DateTime<Utc>,
        history: &mut History,
    ) -> Emitted {
        let received = at + Duration::seconds(self.rng.random_range(1..20));
        let kes = self.world.kes_payer(&mut self.rng);
        let truth = |payment_id: Option<String>,
                     expected,
                     customer: Option<&str>,
                     deterministic,
                     spec: &Spec| Truth {
            line,
            payment_id,
            scenario: scenario.to_string(),
            expected,
            customer_id: customer.map(str::to_string),
            deterministic,
            amount: spec.amount,
            currency: spec.currency.to_string(),
        };
        let c2b = |g: &mut Gen,
                   payer: &Payer,
                   reference: String,
                   msisdn: String,
                   expected,
                   deterministic,
                   override_name: Option<(String, String)>| {
            let id = g.mpesa_id();
            let mut spec = g.spec(payer, at, id.clone(), reference);
            if let Some((first, last)) = override_name {
                (spec.first, spec.middle, spec.last) = (first, String::new(), last);
            }
            let line_text =
                payloads::envelope("mpesa_c2b", received, payloads::mpesa_c2b(&spec, &msisdn));
            let t = truth(
                Some(format!("mpesa_c2b:{id}")),
                expected,
                Some(payer.customer_id()),
                deterministic,
                &spec,
            );
            Emitted {
                line: line_text,
                truth: t,
                stripe_pi: None,
                spec,
            }
        };
        match scenario {
            "exact_account" if self.rng.random_bool(0.2) => {
                let id = format!("BNK{}", self.next_serial() + 5_000_000);
                let spec = self.spec(&kes, at, id.clone(), kes.account().to_string());
                let payload = json!({"txn_id": id, "amount": spec.amount.to_string(), "currency": "KES",
                    "reference": spec.reference, "payer_name": format!("{} {}", kes.first, kes.last),
                    "payer_phone": null, "paid_at": at, "status": "succeeded"});
                let t = truth(
                    Some(format!("generic:{id}")),
                    Expected::Matched,
                    Some(kes.customer_id()),
                    true,
                    &spec,
                );
                emit("generic", received, payload, t, spec)
            }
            "exact_account" => {
                let phone = self.maybe_other_phone(&kes);
                c2b(
                    self,
                    &kes,
                    kes.account().to_string(),
                    phone,
                    Expected::Matched,
                    true,
                    None,
                )
            }
            "invoice_number" => {
                let reference = kes
                    .invoice_number()
                    .unwrap_or_else(|| kes.account().to_string());
                let phone = self.maybe_other_phone(&kes);
                c2b(self, &kes, reference, phone, Expected::Matched, true, None)
            }
            "username" => {
                let reference = kes.customer.services[0].username.clone();
                let phone = self.maybe_other_phone(&kes);
                c2b(self, &kes, reference, phone, Expected::Matched, true, None)
            }
            "case_and_punctuation" => {
                let reference = world::case_and_punctuation(&mut self.rng, kes.account());
                let phone = self.world.unknown_phone(&mut self.rng, "2547");
                c2b(self, &kes, reference, phone, Expected::Matched, true, None)
            }
            "lookalike_characters" => {
                let reference = world::lookalike(&mut self.rng, kes.account());
                let phone = self.world.unknown_phone(&mut self.rng, "2547");
                c2b(self, &kes, reference, phone, Expected::Matched, true, None)
            }
            "typo_with_name" => {
                let reference = self.world.typo(&mut self.rng, kes.account());
                let phone = self.world.unknown_phone(&mut self.rng, "2547");
                c2b(self, &kes, reference, phone, Expected::Matched, false, None)
            }
            "phone_as_reference" => {
                let reference = format!("0{}", &kes.phone[3..]);
                let phone = self.world.unknown_phone(&mut self.rng, "2547");
                c2b(self, &kes, reference, phone, Expected::Matched, true, None)
            }
            "hashed_msisdn" => {
                let reference = names::JUNK_REFERENCES
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("NA")
                    .to_string();
                let hashed = model::phone_hash(&kes.phone);
                c2b(self, &kes, reference, hashed, Expected::Matched, true, None)
            }
            "relative_with_reference" | "relative_without_reference" => {
                let with = scenario == "relative_with_reference";
                let reference = if with {
                    kes.account().to_string()
                } else {
                    names::JUNK_REFERENCES
                        .choose(&mut self.rng)
                        .copied()
                        .unwrap_or("NA")
                        .to_string()
                };
                let phone = self.world.unknown_phone(&mut self.rng, "2547");
                let name = self.world.other_name(&mut self.rng, &kes);
                let expected = if with {
                    Expected::Matched
                } else {
                    Expected::Review
                };
                c2b(self, &kes, reference, phone, expected, with, Some(name))
            }
            "unknown_payer" => {
                let stranger = self.world.stranger(&mut self.rng);
                let phone = stranger.phone.clone();
                let mut e = c2b(
                    self,
                    &stranger,
                    stranger.account().to_string(),
                    phone,
                    Expected::Review,
                    false,
                    None,
                );
                e.truth.customer_id = None;
                e
            }
            "stk_push" => {
                let id = self.mpesa_id();
                let checkout = format!("ws_CO_{}", self.next_serial() + 100_000_000);
                let spec = self.spec(&kes, at, id.clone(), String::new());
                let t = truth(
                    Some(format!("mpesa_stk:{id}")),
                    Expected::Matched,
                    Some(kes.customer_id()),
                    true,
                    &spec,
                );
                let line_text = payloads::envelope(
                    "mpesa_stk",
                    received,
                    payloads::mpesa_stk(&spec, &checkout, 0),
                );
                Emitted {
                    line: line_text,
                    truth: t,
                    stripe_pi: None,
                    spec,
                }
            }
            "mtn_momo" | "airtel_money" => {
                let ugx = self.world.ugx_payer(&mut self.rng);
                let id = format!("{}", 1_000_000_000 + self.next_serial());
                let mut spec = self.spec(&ugx, at, id.clone(), "Internet".to_string());
                let (provider, payload) = if scenario == "mtn_momo" {
                    let external = ugx
                        .invoice_number()
                        .unwrap_or_else(|| ugx.account().to_string());
                    ("mtn_momo", payloads::mtn_momo(&spec, &external, false))
                } else {
                    spec.txn_id = format!("MP{}.{}", at.format("%y%m%d"), id);
                    let request = format!("REQ{}", self.next_serial());
                    ("airtel_money", payloads::airtel_money(&spec, &request))
                };
                let pid = format!("{provider}:{}", spec.txn_id);
                let t = truth(
                    Some(pid),
                    Expected::Matched,
                    Some(ugx.customer_id()),
                    true,
                    &spec,
                );
                emit(provider, received, payload, t, spec)
            }
            "stripe" => {
                let payer = self.world.stripe_payer(&mut self.rng);
                let pi = format!(
                    "pi_{}",
                    world::base36(self.next_serial() * 104_729 + 10u64.pow(12), 24)
                );
                let spec = self.spec(&payer, at, pi.clone(), String::new());
                let cus = payer
                    .customer
                    .stripe_customer_id
                    .clone()
                    .unwrap_or_default();
                let object = payloads::stripe_payment_intent(&spec, &cus, payer.account(), false);
                let payload = payloads::stripe_event("payment_intent.succeeded", at, object);
                let t = truth(
                    Some(format!("stripe:{pi}")),
                    Expected::Matched,
                    Some(payer.customer_id()),
                    true,
                    &spec,
                );
                let refundable = (payer.customer.status != model::CustomerStatus::Suspended)
                    .then(|| (pi, payer.customer_id().to_string()));
                Emitted {
                    line: payloads::envelope("stripe", received, payload),
                    truth: t,
                    stripe_pi: refundable,
                    spec,
                }
            }
            "redelivery" | "stripe_invoice_redelivery" | "refund" => {
                let pool = if scenario == "redelivery" {
                    &history.redeliverable
                } else {
                    &history.stripe_open
                };
                if pool.is_empty() {
                    return self.scenario("exact_account", line, at, history);
                }
                let pick = self.rng.random_range(0..pool.len());
                let index = pool[pick];
                if scenario == "refund" {
                    // Each payment is refunded at most once.
                    history.stripe_open.swap_remove(pick);
                }
                let original = &history.emitted[index];
                let spec = original.spec.clone();
                let customer = original.truth.customer_id.clone();
                match (scenario, &original.stripe_pi) {
                    ("stripe_invoice_redelivery", Some((pi, cus_owner))) => {
                        let cus = self.world.stripe_id_of(cus_owner);
                        let payload = payloads::stripe_event(
                            "invoice.paid",
                            at,
                            payloads::stripe_invoice(&spec, &cus, pi),
                        );
                        let t = truth(
                            original.truth.payment_id.clone(),
                            Expected::Duplicate,
                            customer.as_deref(),
                            true,
                            &spec,
                        );
                        emit("stripe", received, payload, t, spec)
                    }
                    ("refund", Some((pi, _))) => {
                        let refund_id = format!(
                            "re_{}",
                            world::base36(self.next_serial() + 10u64.pow(10), 24)
                        );
                        let object =
                            payloads::stripe_refund(pi, &refund_id, spec.amount, spec.currency);
                        let payload = payloads::stripe_event("charge.refunded", at, object);
                        let t = truth(
                            Some(format!("stripe:{refund_id}")),
                            Expected::Reversal,
                            customer.as_deref(),
                            true,
                            &spec,
                        );
                        emit("stripe", received, payload, t, spec)
                    }
                    _ => {
                        let t = truth(
                            original.truth.payment_id.clone(),
                            Expected::Duplicate,
                            customer.as_deref(),
                            true,
                            &spec,
                        );
                        Emitted {
                            line: original.line.clone(),
                            truth: t,
                            stripe_pi: None,
                            spec,
                        }
                    }
                }
            }
            "failed" => {
                let spec = self.spec(&kes, at, String::new(), String::new());
                let (provider, id, payload) = match self.rng.random_range(0..3) {
                    0 => {
                        let checkout = format!("ws_CO_{}", self.next_serial() + 900_000_000);
                        (
                            "mpesa_stk",
                            checkout.clone(),
                            payloads::mpesa_stk(&spec, &checkout, 1032),
                        )
                    }
                    1 => {
                        let ugx = self.world.ugx_payer(&mut self.rng);
                        let s = self.spec(&ugx, at, String::new(), "Internet".into());
                        let external = format!("EXT{}", self.next_serial());
                        (
                            "mtn_momo",
                            external.clone(),
                            payloads::mtn_momo(&s, &external, true),
                        )
                    }
                    _ => {
                        let payer = self.world.stripe_payer(&mut self.rng);
                        let pi = format!(
                            "pi_{}",
                            world::base36(self.next_serial() * 7 + 10u64.pow(13), 24)
                        );
                        let s = Spec {
                            txn_id: pi.clone(),
                            ..self.spec(&payer, at, pi.clone(), String::new())
                        };
                        let cus = payer
                            .customer
                            .stripe_customer_id
                            .clone()
                            .unwrap_or_default();
                        let object =
                            payloads::stripe_payment_intent(&s, &cus, payer.account(), true);
                        (
                            "stripe",
                            pi,
                            payloads::stripe_event("payment_intent.payment_failed", at, object),
                        )
                    }
                };
                let t = truth(
                    Some(format!("{provider}:{id}")),
                    Expected::Failed,
                    None,
                    true,
                    &spec,
                );
                emit(provider, received, payload, t, spec)
            }
            _ => {
                let spec = self.spec(&kes, at, String::new(), String::new());
                let line_text = match self.rng.random_range(0..5) {
                    0 => "{\"provider\": \"mpesa_c2b\", \"payload\": {\"TransID\": ".to_string(),
                    1 => payloads::envelope("paypal", received, json!({"id": "PAY-1"})),
                    2 => {
                        let mut bad = spec.clone();
                        bad.amount = Decimal::new(-100, 0);
                        bad.txn_id = self.mpesa_id();
                        payloads::envelope(
                            "mpesa_c2b",
                            received,
                            payloads::mpesa_c2b(&bad, &kes.phone),
                        )
                    }
                    3 => payloads::envelope(
                        "stripe",
                        received,
                        payloads::stripe_event("customer.created", at, json!({"id": "cus_X"})),
                    ),
                    _ => payloads::envelope(
                        "generic",
                        received,
                        json!({"txn_id": "G1", "amount": "abc", "currency": "KES"}),
                    ),
                };
                let t = truth(None, Expected::DeadLetter, None, true, &spec);
                Emitted {
                    line: line_text,
                    truth: Truth {
                        scenario: "malformed".into(),
                        ..t
                    },
                    stripe_pi: None,
                    spec,
                }
            }
        }
    }

    /// The payer's own phone most of the time, else a relative's.
    fn maybe_other_phone(&mut self, payer: &Payer) -> String {
        if self.rng.random_bool(0.7) {
            payer.phone.clone()
        } else {
            self.world.unknown_phone(&mut self.rng, "2547")
        }
    }
}

/// One emitted line: a provider envelope with its truth.
fn emit(
    provider: &str,
    received: DateTime<Utc>,
    payload: Value,
    truth: Truth,
    spec: Spec,
) -> Emitted {
    Emitted {
        line: payloads::envelope(provider, received, payload),
        truth,
        stripe_pi: None,
        spec,
    }
}
