//! The generic format, for banks and providers without an adapter:
//! `{txn_id, amount, currency, reference, payer_name, payer_phone, paid_at,
//! status}` with an optional `reverses` for reversals.
//!
//! `status` is `succeeded` (also `success`, `completed`, `paid`), `failed`
//! (also `declined`, `cancelled`), or `reversed` (also `refunded`), which
//! needs `reverses`; `paid_at` is RFC 3339 with any offset.

use model::{Payment, PaymentStatus, ReferenceKind, ReferenceValue};
use serde::Deserialize;

use super::fields::{self, text, Scalar};
use super::{NormalizeContext, NormalizeError, Provider};

const NAME: &str = "generic";

#[derive(Deserialize)]
struct GenericPayment {
    txn_id: Scalar,
    amount: Scalar,
    currency: Scalar,
    reference: Scalar,
    payer_name: Scalar,
    payer_phone: Scalar,
    paid_at: Scalar,
    status: Scalar,
    reverses: Scalar,
    reason: Scalar,
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
        let txn_id = fields::required(NAME, "txn_id", text(&g.txn_id).as_deref())?;
        let code = fields::required(NAME, "currency", text(&g.currency).as_deref())?;
        let currency = fields::currency(NAME, &code)?;
        let amount = fields::required(NAME, "amount", text(&g.amount).as_deref())?;
        let money = fields::decimal_amount(NAME, &amount, currency)?;
        let paid_at = match text(&g.paid_at) {
            Some(t) => fields::rfc3339_time(NAME, "paid_at", &t)?,
            None => ctx.fallback_time(),
        };
        let status_text = text(&g.status).unwrap_or_else(|| "succeeded".to_string());
        let status = match status_text.to_ascii_lowercase().as_str() {
            "succeeded" | "success" | "successful" | "completed" | "paid" => {
                PaymentStatus::Succeeded
            }
            "failed" | "declined" | "cancelled" | "canceled" => PaymentStatus::Failed {
                reason: text(&g.reason).unwrap_or(status_text),
            },
            "reversed" | "refunded" | "reversal" => {
                let reverses = fields::required(NAME, "reverses", text(&g.reverses).as_deref())?;
                // A full payment id, or a txn id of this same provider.
                let reverses = if reverses.contains(':') {
                    reverses
                } else {
                    format!("{NAME}:{reverses}")
                };
                PaymentStatus::Reversal { reverses }
            }
            "pending" | "processing" => {
                return Err(NormalizeError::NotFinal {
                    provider: NAME,
                    status: status_text,
                })
            }
            _ => {
                return Err(NormalizeError::Unsupported {
                    provider: NAME,
                    what: "status",
                    value: status_text,
                })
            }
        };
        Ok(Payment {
            provider: NAME.to_string(),
            provider_txn_id: txn_id,
            money,
            paid_at,
            status,
            references: text(&g.reference)
                .map(|value| ReferenceValue {
                    kind: ReferenceKind::Account,
                    value,
                })
                .into_iter()
                .collect(),
            payer_phone: fields::payer_phone(
                text(&g.payer_phone).as_deref(),
                &ctx.config.default_country_code,
            ),
            payer_name: fields::full_name([text(&g.payer_name).as_deref()]),
        })
    }
}
