//! Safaricom Daraja C2B confirmation (Paybill / Buy Goods).
//!
//! Quirks: every field is a string, amounts included (`"2500.00"`);
//! `TransTime` is `yyyyMMddHHmmss` in local time (East Africa Time by
//! default); `MSISDN` is clear (`2547…`), masked (`2547*****149`) or a
//! SHA-256 hex digest; `BillRefNumber` is whatever the payer typed.

use model::{Payment, PaymentStatus, ReferenceKind};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::fields::{self, raw_text, Scalar};
use super::{flat, NormalizeContext, NormalizeError, Provider};

const NAME: &str = "mpesa_c2b";

/// The members read, in [`Confirmation`]'s order.
const MEMBERS: [&str; 9] = [
    "TransID",
    "TransTime",
    "TransAmount",
    "BillRefNumber",
    "InvoiceNumber",
    "MSISDN",
    "FirstName",
    "MiddleName",
    "LastName",
];

/// The Daraja C2B confirmation body, as serde reads it.
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

impl<'a> Confirmation<'a> {
    /// The members' raw JSON texts, in [`MEMBERS`]' order.
    fn into_raw(self) -> [Option<&'a str>; 9] {
        [
            self.trans_id,
            self.trans_time,
            self.trans_amount,
            self.bill_ref_number,
            self.invoice_number,
            self.msisdn,
            self.first_name,
            self.middle_name,
            self.last_name,
        ]
        .map(|member| member.map(RawValue::get))
    }
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
        // The flat reader takes most confirmations in one pass; serde
        // reads (and words the refusal of) the rest.
        let members = match flat::members(payload, MEMBERS) {
            Some(members) => members,
            None => fields::parse_json::<Confirmation>(NAME, payload)?.into_raw(),
        };
        let [trans_id, trans_time, trans_amount, bill_ref, invoice, msisdn, first, middle, last] =
            members.map(raw_text);
        let config = ctx.config;
        let txn_id = fields::required(NAME, "TransID", trans_id)?;
        let amount = fields::required(NAME, "TransAmount", trans_amount)?;
        let money = fields::decimal_amount(NAME, &amount, config.mpesa_currency)?;
        let time = fields::required(NAME, "TransTime", trans_time)?;
        let paid_at = fields::compact_local_time(NAME, "TransTime", &time, config.time_zone.0)?;
        let references = fields::references([
            (ReferenceKind::Account, bill_ref),
            (ReferenceKind::Invoice, invoice),
        ]);
        Ok(Payment {
            provider: NAME.to_string(),
            provider_txn_id: txn_id.into_owned(),
            money,
            paid_at,
            status: PaymentStatus::Succeeded,
            references,
            payer_phone: fields::payer_phone(msisdn.as_deref(), &config.default_country_code),
            payer_name: fields::full_name([first.as_deref(), middle.as_deref(), last.as_deref()]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`MEMBERS`] names what the serde struct reads, in its order: on
    /// every C2B fixture both readers hand over the same raw members.
    #[test]
    fn the_one_pass_read_is_the_serde_read() {
        let dir = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("../fixtures/providers");
        for name in [
            "mpesa_c2b_confirmation.json",
            "mpesa_c2b_hashed_msisdn.json",
            "mpesa_c2b_masked_msisdn.json",
        ] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            let payload = text.trim();
            let through_serde = fields::parse_json::<Confirmation>(NAME, payload)
                .unwrap()
                .into_raw();
            assert!(through_serde.iter().all(Option::is_some), "{name}");
            assert_eq!(
                flat::members(payload, MEMBERS),
                Some(through_serde),
                "{name}"
            );
        }
    }
}
