//! Safaricom Daraja C2B confirmation (Paybill / Buy Goods).
//!
//! Quirks: every field is a string, amounts included (`"2500.00"`);
//! `TransTime` is `yyyyMMddHHmmss` in local time (East Africa Time by
//! default); `MSISDN` is clear (`2547…`), masked (`2547*****149`) or a
//! SHA-256 hex digest; `BillRefNumber` is whatever the payer typed.

use model::{Payment, PaymentStatus, ReferenceKind};

use super::fields::{self, raw_text};
use super::flat::flat_payload;
use super::{NormalizeContext, NormalizeError, Provider};

const NAME: &str = "mpesa_c2b";

flat_payload! {
    /// The Daraja C2B confirmation body: the members read, as raw JSON.
    Confirmation {
        trans_id: "TransID",
        trans_time: "TransTime",
        trans_amount: "TransAmount",
        bill_ref_number: "BillRefNumber",
        invoice_number: "InvoiceNumber",
        msisdn: "MSISDN",
        first_name: "FirstName",
        middle_name: "MiddleName",
        last_name: "LastName",
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
        let c = Confirmation::read(NAME, payload)?;
        let config = ctx.config;
        let txn_id = fields::required(NAME, "TransID", raw_text(c.trans_id))?;
        let amount = fields::required(NAME, "TransAmount", raw_text(c.trans_amount))?;
        let money = fields::decimal_amount(NAME, &amount, config.mpesa_currency)?;
        let time = fields::required(NAME, "TransTime", raw_text(c.trans_time))?;
        let paid_at = fields::compact_local_time(NAME, "TransTime", &time, config.time_zone.0)?;
        let references = fields::references([
            (ReferenceKind::Account, raw_text(c.bill_ref_number)),
            (ReferenceKind::Invoice, raw_text(c.invoice_number)),
        ]);
        let (msisdn, first, middle, last) = (
            raw_text(c.msisdn),
            raw_text(c.first_name),
            raw_text(c.middle_name),
            raw_text(c.last_name),
        );
        Ok(Payment {
            provider: NAME.into(),
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

    /// On every C2B fixture the one-pass read is the serde read, and every
    /// member is found.
    #[test]
    fn the_one_pass_read_is_the_serde_read() {
        for name in [
            "mpesa_c2b_confirmation.json",
            "mpesa_c2b_hashed_msisdn.json",
            "mpesa_c2b_masked_msisdn.json",
        ] {
            let text = super::super::tests::fixture(name);
            let payload = text.trim();
            let through_serde = Confirmation::through_serde(NAME, payload).unwrap();
            assert!(through_serde.trans_id.is_some() && through_serde.last_name.is_some());
            assert_eq!(
                super::super::flat::members(payload, ["TransID"]),
                Some([through_serde.trans_id]),
                "{name}: the one-pass reader takes the fixture"
            );
            assert_eq!(
                Confirmation::read(NAME, payload).unwrap(),
                through_serde,
                "{name}"
            );
        }
    }
}
