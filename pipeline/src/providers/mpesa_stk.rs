//! Safaricom Daraja STK push (Lipa na M-Pesa Online) callback.
//!
//! Quirks: the body is wrapped in `Body.stkCallback`; `ResultCode` 0 is
//! success, anything else (1032 cancelled, 1037 timeout, 2001 wrong PIN…) is
//! a failed payment with no `CallbackMetadata`; metadata items are
//! `{Name, Value}` pairs whose values are JSON numbers (`Amount: 1.00`,
//! `PhoneNumber: 254708374149`, `TransactionDate: 20191219102115` local
//! time). A failed request has no receipt: its id is the `CheckoutRequestID`.

use std::borrow::Cow;

use model::{Money, Payment, PaymentStatus, ReferenceKind, ReferenceValue};
use serde::Deserialize;

use super::fields::{self, text, Scalar};
use super::{NormalizeContext, NormalizeError, Provider};

const NAME: &str = "mpesa_stk";

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "Body", borrow)]
    body: Body<'a>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(rename = "stkCallback", borrow)]
    stk_callback: Callback<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Callback<'a> {
    #[serde(rename = "CheckoutRequestID", borrow)]
    checkout_request_id: Scalar<'a>,
    #[serde(borrow)]
    result_code: Scalar<'a>,
    #[serde(borrow)]
    result_desc: Scalar<'a>,
    #[serde(default, borrow)]
    callback_metadata: Option<Metadata<'a>>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(rename = "Item", default, borrow)]
    items: Vec<Item<'a>>,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(rename = "Name", borrow)]
    name: Cow<'a, str>,
    #[serde(rename = "Value", default, borrow)]
    value: Scalar<'a>,
}

impl<'a> Metadata<'a> {
    fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.items
            .iter()
            .find(|item| item.name == name)
            .and_then(|item| text(&item.value))
    }
}

/// The M-Pesa STK push adapter.
pub(super) struct MpesaStk;

impl Provider for MpesaStk {
    fn name(&self) -> &'static str {
        NAME
    }

    fn normalize(
        &self,
        payload: &str,
        ctx: &NormalizeContext<'_>,
    ) -> Result<Payment, NormalizeError> {
        let callback = fields::parse_json::<Envelope>(NAME, payload)?
            .body
            .stk_callback;
        let config = ctx.config;
        let checkout_id = fields::required(
            NAME,
            "Body.stkCallback.CheckoutRequestID",
            text(&callback.checkout_request_id),
        )?;
        let code = fields::required(
            NAME,
            "Body.stkCallback.ResultCode",
            text(&callback.result_code),
        )?;
        let metadata = callback
            .callback_metadata
            .unwrap_or(Metadata { items: vec![] });
        let currency = config.mpesa_currency;
        let references = vec![ReferenceValue {
            kind: ReferenceKind::Request,
            value: checkout_id.to_string(),
        }];
        let payer_phone = fields::payer_phone(
            metadata.get("PhoneNumber").as_deref(),
            &config.default_country_code,
        );
        let paid_at = match metadata.get("TransactionDate") {
            Some(t) => fields::compact_local_time(NAME, "TransactionDate", &t, config.time_zone.0)?,
            None if code != "0" => ctx.fallback_time(),
            None => {
                return Err(NormalizeError::MissingField {
                    provider: NAME,
                    field: "TransactionDate",
                })
            }
        };
        if code != "0" {
            let desc = text(&callback.result_desc).unwrap_or_default();
            let money = match metadata.get("Amount") {
                Some(a) => fields::decimal_amount(NAME, &a, currency)?,
                None => Money::zero(currency),
            };
            return Ok(Payment {
                provider: NAME.into(),
                provider_txn_id: checkout_id.into_owned(),
                money,
                paid_at,
                status: PaymentStatus::Failed {
                    reason: format!("ResultCode {code}: {desc}"),
                },
                references,
                payer_phone,
                payer_name: None,
            });
        }
        let receipt = fields::required(
            NAME,
            "MpesaReceiptNumber",
            metadata.get("MpesaReceiptNumber"),
        )?;
        let amount = fields::required(NAME, "Amount", metadata.get("Amount"))?;
        Ok(Payment {
            provider: NAME.into(),
            provider_txn_id: receipt.into_owned(),
            money: fields::decimal_amount(NAME, &amount, currency)?,
            paid_at,
            status: PaymentStatus::Succeeded,
            references,
            payer_phone,
            payer_name: None,
        })
    }
}
