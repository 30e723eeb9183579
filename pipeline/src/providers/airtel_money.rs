//! Airtel Money (Africa) collection callback.
//!
//! Quirks: the body is `{"transaction": {id, message, status_code,
//! airtel_money_id}}` plus an optional `hash` (an HMAC the gateway checks);
//! `status_code` is `TS` (success), `TF`/`TE` (failed, expired), `TIP`/`TA`
//! (in progress, ambiguous: not final); the amount is only in the free-text
//! `message` (`"Paid UGX 5,000 to …"`) unless the collection request was
//! enriched with `amount`/`currency`/`msisdn` fields (in `transaction` or at
//! the top level); numbers are national (`752000000`); no time is sent.

use std::borrow::Cow;

use model::{Currency, Payment, PaymentStatus, ReferenceKind};
use serde::Deserialize;

use super::fields::{self, text, Scalar};
use super::{NormalizeContext, NormalizeError, Provider};

const NAME: &str = "airtel_money";

#[derive(Deserialize)]
struct Callback<'a> {
    #[serde(borrow)]
    transaction: Transaction<'a>,
    #[serde(borrow)]
    amount: Scalar<'a>,
    #[serde(borrow)]
    currency: Scalar<'a>,
    #[serde(borrow)]
    msisdn: Scalar<'a>,
}

#[derive(Deserialize)]
struct Transaction<'a> {
    #[serde(borrow)]
    id: Scalar<'a>,
    #[serde(borrow)]
    message: Scalar<'a>,
    #[serde(borrow)]
    status_code: Scalar<'a>,
    #[serde(borrow)]
    airtel_money_id: Scalar<'a>,
    #[serde(borrow)]
    amount: Scalar<'a>,
    #[serde(borrow)]
    currency: Scalar<'a>,
    #[serde(borrow)]
    msisdn: Scalar<'a>,
}

/// Finds `<CUR> <amount>` after "Paid" in Airtel's message, such as
/// `"Paid UGX 5,000 to ACME Charge UGX 140, Trans ID MP21…"`.
fn amount_from_message(message: &str) -> Option<(&str, &str)> {
    let mut words = message.split_whitespace();
    while let Some(word) = words.next() {
        if word.eq_ignore_ascii_case("paid") || word.eq_ignore_ascii_case("received") {
            let code = words.next()?;
            let amount = words.next()?.trim_end_matches([',', '.']);
            if Currency::parse(code).is_ok()
                && amount.chars().next().is_some_and(|c| c.is_ascii_digit())
            {
                return Some((code, amount));
            }
        }
    }
    None
}

/// The Airtel Money adapter.
pub(super) struct AirtelMoney;

impl Provider for AirtelMoney {
    fn name(&self) -> &'static str {
        NAME
    }

    fn normalize(
        &self,
        payload: &str,
        ctx: &NormalizeContext<'_>,
    ) -> Result<Payment, NormalizeError> {
        let c: Callback = fields::parse_json(NAME, payload)?;
        let t = &c.transaction;
        let status = fields::required(NAME, "transaction.status_code", text(&t.status_code))?;
        let request_id = text(&t.id);
        let message = text(&t.message).unwrap_or_default();
        let payment_status = match status.to_ascii_uppercase().as_str() {
            "TS" => PaymentStatus::Succeeded,
            "TF" | "TE" => PaymentStatus::Failed {
                reason: format!("{status}: {message}")
                    .trim_end_matches([':', ' '])
                    .to_string(),
            },
            "TIP" | "TA" => {
                return Err(NormalizeError::NotFinal {
                    provider: NAME,
                    status: status.into_owned(),
                })
            }
            _ => {
                return Err(NormalizeError::Unsupported {
                    provider: NAME,
                    what: "status_code",
                    value: status.into_owned(),
                })
            }
        };
        let txn_id = match text(&t.airtel_money_id).or_else(|| request_id.clone()) {
            Some(id) => id,
            None => {
                return Err(NormalizeError::MissingField {
                    provider: NAME,
                    field: "transaction.airtel_money_id",
                })
            }
        };
        let from_message = amount_from_message(&message);
        let currency_code = text(&t.currency)
            .or_else(|| text(&c.currency))
            .or_else(|| from_message.map(|(code, _)| Cow::Borrowed(code)));
        let currency = match currency_code {
            Some(code) => fields::currency(NAME, &code)?,
            None => ctx.config.airtel_currency,
        };
        let amount = text(&t.amount)
            .or_else(|| text(&c.amount))
            .or_else(|| from_message.map(|(_, amount)| Cow::Borrowed(amount)));
        let money = match (amount, &payment_status) {
            (Some(a), _) => fields::decimal_amount(NAME, &a, currency)?,
            (None, PaymentStatus::Failed { .. }) => model::Money::zero(currency),
            (None, _) => {
                return Err(NormalizeError::MissingField {
                    provider: NAME,
                    field: "transaction.amount",
                })
            }
        };
        let msisdn = text(&t.msisdn).or_else(|| text(&c.msisdn));
        let references = fields::references([(ReferenceKind::Request, request_id)]);
        Ok(Payment {
            provider: NAME.into(),
            provider_txn_id: txn_id.into_owned(),
            money,
            paid_at: ctx.fallback_time(),
            status: payment_status,
            references,
            payer_phone: fields::payer_phone(msisdn.as_deref(), &ctx.config.airtel_country_code),
            payer_name: None,
        })
    }
}
