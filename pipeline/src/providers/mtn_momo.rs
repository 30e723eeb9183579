//! MTN MoMo Collections: the request-to-pay result (callback body, or the
//! `GET /requesttopay/{id}` response).
//!
//! Quirks: `amount` is a string in the currency's major units; the callback
//! carries no time (the envelope's `received_at` is used); `status` is
//! `SUCCESSFUL`, `FAILED`, `REJECTED`, `TIMEOUT` (final) or `PENDING` (not
//! final: refused with a reason, the final callback follows); a failed
//! request has no `financialTransactionId`, so its id is our `externalId`;
//! `reason` is a string or `{code, message}`; the payer may be an MSISDN, an
//! e-mail or a party code.

use model::{Payment, PaymentStatus, ReferenceKind};
use serde::Deserialize;
use serde_json::Value;

use super::fields::{self, text, Scalar};
use super::{NormalizeContext, NormalizeError, Provider};

const NAME: &str = "mtn_momo";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestToPay<'a> {
    #[serde(borrow)]
    financial_transaction_id: Scalar<'a>,
    #[serde(borrow)]
    external_id: Scalar<'a>,
    #[serde(borrow)]
    amount: Scalar<'a>,
    #[serde(borrow)]
    currency: Scalar<'a>,
    #[serde(default, borrow)]
    payer: Option<Party<'a>>,
    #[serde(borrow)]
    payer_message: Scalar<'a>,
    #[serde(borrow)]
    payee_note: Scalar<'a>,
    #[serde(borrow)]
    status: Scalar<'a>,
    #[serde(default)]
    reason: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Party<'a> {
    #[serde(borrow)]
    party_id_type: Scalar<'a>,
    #[serde(borrow)]
    party_id: Scalar<'a>,
}

fn reason_text(reason: Option<&Value>) -> String {
    match reason {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => {
            let field = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default();
            format!("{} {}", field("code"), field("message"))
                .trim()
                .to_string()
        }
        _ => String::new(),
    }
}

/// The MTN MoMo adapter.
pub(super) struct MtnMomo;

impl Provider for MtnMomo {
    fn name(&self) -> &'static str {
        NAME
    }

    fn normalize(
        &self,
        payload: &str,
        ctx: &NormalizeContext<'_>,
    ) -> Result<Payment, NormalizeError> {
        let r: RequestToPay = fields::parse_json(NAME, payload)?;
        let status = fields::required(NAME, "status", text(&r.status))?;
        let status_upper = status.to_ascii_uppercase();
        let external_id = text(&r.external_id);
        let currency_code = fields::required(NAME, "currency", text(&r.currency))?;
        let currency = fields::currency(NAME, &currency_code)?;
        let amount = fields::required(NAME, "amount", text(&r.amount))?;
        let money = fields::decimal_amount(NAME, &amount, currency)?;
        let payment_status = match status_upper.as_str() {
            "SUCCESSFUL" => PaymentStatus::Succeeded,
            "FAILED" | "REJECTED" | "TIMEOUT" | "EXPIRED" => PaymentStatus::Failed {
                reason: format!("{status_upper}: {}", reason_text(r.reason.as_ref()))
                    .trim_end_matches([':', ' '])
                    .to_string(),
            },
            "PENDING" | "CREATED" | "ONGOING" => {
                return Err(NormalizeError::NotFinal {
                    provider: NAME,
                    status: status.into_owned(),
                })
            }
            _ => {
                return Err(NormalizeError::Unsupported {
                    provider: NAME,
                    what: "status",
                    value: status.into_owned(),
                })
            }
        };
        let txn_id = match (text(&r.financial_transaction_id), &payment_status) {
            (Some(id), _) => id,
            (None, PaymentStatus::Failed { .. }) => {
                fields::required(NAME, "externalId", external_id.clone())?
            }
            (None, _) => {
                return Err(NormalizeError::MissingField {
                    provider: NAME,
                    field: "financialTransactionId",
                })
            }
        };
        let payer_phone = r.payer.as_ref().and_then(|p| {
            let kind = text(&p.party_id_type).unwrap_or_default();
            kind.eq_ignore_ascii_case("MSISDN")
                .then(|| {
                    fields::payer_phone(text(&p.party_id).as_deref(), &ctx.config.momo_country_code)
                })
                .flatten()
        });
        let references = fields::references([
            (ReferenceKind::Request, external_id),
            (ReferenceKind::Account, text(&r.payer_message)),
            (ReferenceKind::Request, text(&r.payee_note)),
        ]);
        Ok(Payment {
            provider: NAME.into(),
            provider_txn_id: txn_id.into_owned(),
            money,
            paid_at: ctx.fallback_time(),
            status: payment_status,
            references,
            payer_phone,
            payer_name: None,
        })
    }
}
