//! The generic format, for banks and providers without an adapter:
//! `{txn_id, amount, currency, reference, payer_name, payer_phone, paid_at,
//! status}` with an optional `reverses` for reversals.
//!
//! `status` is `succeeded` (also `success`, `completed`, `paid`), `failed`
//! (also `declined`, `cancelled`), or `reversed` (also `refunded`), which
//! needs `reverses`; `paid_at` is RFC 3339 with any offset.

use std::borrow::Cow;

use model::{Payment, PaymentStatus, ReferenceKind};
use serde::Deserialize;

use super::fields::{self, text, Scalar};
use super::{NormalizeContext, NormalizeError, Provider};

const NAME: &str = "generic";

#[derive(Deserialize)]
struct GenericPayment<'a> {
    #[serde(borrow)]
    txn_id: Scalar<'a>,
    #[serde(borrow)]
    amount: Scalar<'a>,
    #[serde(borrow)]
    currency: Scalar<'a>,
    #[serde(borrow)]
    reference: Scalar<'a>,
    #[serde(borrow)]
    payer_name: Scalar<'a>,
    #[serde(borrow)]
    payer_phone: Scalar<'a>,
    #[serde(borrow)]
    paid_at: Scalar<'a>,
    #[serde(borrow)]
    status: Scalar<'a>,
    #[serde(borrow)]
    reverses: Scalar<'a>,
    #[serde(borrow)]
    reason: Scalar<'a>,
}

/// The generic adapter.
pub(super) struct Generic;

impl Provider for Generic {
    fn name(&self) -> &'static str {
        NAME
    }

    fn normalize(
        &self,
        payload: &str,
        ctx: &NormalizeContext<'_>,
    ) -> Result<Payment, NormalizeError> {
        let g: GenericPayment = fields::parse_json(NAME, payload)?;
        let txn_id = fields::required(NAME, "txn_id", text(&g.txn_id))?;
        let code = fields::required(NAME, "currency", text(&g.currency))?;
        let currency = fields::currency(NAME, &code)?;
        let amount = fields::required(NAME, "amount", text(&g.amount))?;
        let money = fields::decimal_amount(NAME, &amount, currency)?;
        let paid_at = match text(&g.paid_at) {
            Some(t) => fields::rfc3339_time(NAME, "paid_at", &t)?,
            None => ctx.fallback_time(),
        };
        let status_text = text(&g.status).unwrap_or(Cow::Borrowed("succeeded"));
        let status = match status_text.to_ascii_lowercase().as_str() {
            "succeeded" | "success" | "successful" | "completed" | "paid" => {
                PaymentStatus::Succeeded
            }
            "failed" | "declined" | "cancelled" | "canceled" => PaymentStatus::Failed {
                reason: text(&g.reason).unwrap_or(status_text).into_owned(),
            },
            "reversed" | "refunded" | "reversal" => {
                let reverses = fields::required(NAME, "reverses", text(&g.reverses))?;
                // A full payment id, or a txn id of this same provider.
                let reverses = if reverses.contains(':') {
                    reverses.into_owned()
                } else {
                    format!("{NAME}:{reverses}")
                };
                PaymentStatus::Reversal { reverses }
            }
            "pending" | "processing" => {
                return Err(NormalizeError::NotFinal {
                    provider: NAME,
                    status: status_text.into_owned(),
                })
            }
            _ => {
                return Err(NormalizeError::Unsupported {
                    provider: NAME,
                    what: "status",
                    value: status_text.into_owned(),
                })
            }
        };
        Ok(Payment {
            provider: NAME.into(),
            provider_txn_id: txn_id.into_owned(),
            money,
            paid_at,
            status,
            references: fields::references([(ReferenceKind::Account, text(&g.reference))]),
            payer_phone: fields::payer_phone(
                text(&g.payer_phone).as_deref(),
                &ctx.config.default_country_code,
            ),
            payer_name: fields::full_name([text(&g.payer_name).as_deref()]),
        })
    }
}
