//! Safaricom Daraja C2B confirmation (Paybill / Buy Goods).
//!
//! Quirks: every field is a string, amounts included (`"2500.00"`);
//! `TransTime` is `yyyyMMddHHmmss` in local time (East Africa Time by
//! default); `MSISDN` is clear (`2547…`), masked (`2547*****149`) or a
//! SHA-256 hex digest; `BillRefNumber` is whatever the payer typed.

use model::{Payment, PaymentStatus, ReferenceKind};
use serde::Deserialize;

use super::fields::{self, text, Scalar};
use super::{NormalizeContext, NormalizeError, Provider};

const NAME: &str = "mpesa_c2b";

/// The Daraja C2B confirmation body.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Confirmation<'a> {
    #[serde(rename = "TransID", borrow)]
    trans_id: Scalar<'a>,
    #[serde(borrow)]
    trans_time: Scalar<'a>,
    #[serde(borrow)]
    trans_amount: Scalar<'a>,
    #[serde(borrow)]
    bill_ref_number: Scalar<'a>,
    #[serde(borrow)]
    invoice_number: Scalar<'a>,
    #[serde(rename = "MSISDN", borrow)]
    msisdn: Scalar<'a>,
    #[serde(borrow)]
    first_name: Scalar<'a>,
    #[serde(borrow)]
    middle_name: Scalar<'a>,
    #[serde(borrow)]
    last_name: Scalar<'a>,
}

/// The M-Pesa C2B adapter.
pub(super) struct MpesaC2b;

impl Provider for MpesaC2b {
    fn name(&self) -> &'static str {
        NAME
    }

    fn normalize(
        &self,
        payload: &str,
        ctx: &NormalizeContext<'_>,
    ) -> Result<Payment, NormalizeError> {
        let c: Confirmation = fields::parse_json(NAME, payload)?;
        let config = ctx.config;
        let txn_id = fields::required(NAME, "TransID", text(&c.trans_id))?;
        let amount = fields::required(NAME, "TransAmount", text(&c.trans_amount))?;
        let money = fields::decimal_amount(NAME, &amount, config.mpesa_currency)?;
        let time = fields::required(NAME, "TransTime", text(&c.trans_time))?;
        let paid_at = fields::compact_local_time(NAME, "TransTime", &time, config.time_zone.0)?;
        let references = fields::references([
            (ReferenceKind::Account, text(&c.bill_ref_number)),
            (ReferenceKind::Invoice, text(&c.invoice_number)),
        ]);
        let (first, middle, last) = (
            text(&c.first_name),
            text(&c.middle_name),
            text(&c.last_name),
        );
        Ok(Payment {
            provider: NAME.to_string(),
            provider_txn_id: txn_id.into_owned(),
            money,
            paid_at,
            status: PaymentStatus::Succeeded,
            references,
            payer_phone: fields::payer_phone(
                text(&c.msisdn).as_deref(),
                &config.default_country_code,
            ),
            payer_name: fields::full_name([first.as_deref(), middle.as_deref(), last.as_deref()]),
        })
    }
}
