//! Stripe events: `payment_intent.succeeded`, `payment_intent.payment_failed`,
//! `invoice.paid`, `charge.refunded`, `charge.dispute.created`.
//!
//! Quirks: amounts are integers in minor units with Stripe's own exponent
//! (UGX and RWF zero-decimal, ISK sent with two decimals); currency codes
//! are lower case; related objects are ids or expanded objects; one payment
//! arrives as both `payment_intent.succeeded` and `invoice.paid`, so both
//! take the PaymentIntent id (the second is then a `duplicate`); refunds and
//! disputes are reversals of the PaymentIntent they take money from.

use model::{Payment, PaymentStatus, ReferenceKind, ReferenceValue};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::fields;
use super::{NormalizeContext, NormalizeError, Provider};

const NAME: &str = "stripe";

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    created: Option<i64>,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: Map<String, Value>,
}

/// A string field, or the `id` of an expanded object.
fn id_of(object: &Map<String, Value>, key: &str) -> Option<String> {
    match object.get(key)? {
        Value::String(s) => fields::non_empty(Some(s)),
        Value::Object(o) => o
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| fields::non_empty(Some(s))),
        _ => None,
    }
}

/// A string at a path of keys (and array indexes) under an object.
fn str_at<'a>(object: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(object.get(*first)?, |v, key| match key.parse::<usize>() {
            Ok(i) => v.get(i),
            Err(_) => v.get(key),
        })?
        .as_str()
        .filter(|s| !s.trim().is_empty())
}

/// Reads a minor-unit amount field with Stripe's exponent for the currency.
fn amount(
    object: &Map<String, Value>,
    keys: &[&'static str],
) -> Result<model::Money, NormalizeError> {
    let code =
        object
            .get("currency")
            .and_then(Value::as_str)
            .ok_or(NormalizeError::MissingField {
                provider: NAME,
                field: "currency",
            })?;
    let currency = fields::currency(NAME, code)?;
    let (key, value) = keys
        .iter()
        .find_map(|k| object.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
        .ok_or(NormalizeError::MissingField {
            provider: NAME,
            field: keys[0],
        })?;
    let text = match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        other => {
            return Err(NormalizeError::BadAmount {
                provider: NAME,
                detail: format!("{key} must be an integer in minor units, got {other}"),
            })
        }
    };
    fields::minor_units_amount(NAME, &text, currency.stripe_exponent(), currency)
}

fn required_id(object: &Map<String, Value>, key: &'static str) -> Result<String, NormalizeError> {
    id_of(object, key).ok_or(NormalizeError::MissingField {
        provider: NAME,
        field: key,
    })
}

/// References our systems put on Stripe objects: metadata values (sorted by
/// key, as Stripe gives no order), then the customer id.
fn references(object: &Map<String, Value>) -> Vec<ReferenceValue> {
    let mut refs = Vec::new();
    if let Some(Value::Object(meta)) = object.get("metadata") {
        let mut entries: Vec<_> = meta.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (_, v) in entries {
            if let Some(s) = fields::non_empty(v.as_str()) {
                refs.push(ReferenceValue {
                    kind: ReferenceKind::Request,
                    value: s,
                });
            }
        }
    }
    if let Some(number) = fields::non_empty(object.get("number").and_then(Value::as_str)) {
        refs.push(ReferenceValue {
            kind: ReferenceKind::Invoice,
            value: number,
        });
    }
    if let Some(customer) = id_of(object, "customer") {
        refs.push(ReferenceValue {
            kind: ReferenceKind::ProviderCustomer,
            value: customer,
        });
    }
    refs
}

/// The payer's name and phone from billing details, shipping, or the invoice.
fn payer(
    object: &Map<String, Value>,
    default_cc: &str,
) -> (Option<String>, Option<model::PayerPhone>) {
    let name_paths: [&[&str]; 4] = [
        &["charges", "data", "0", "billing_details", "name"],
        &["latest_charge", "billing_details", "name"],
        &["shipping", "name"],
        &["customer_name"],
    ];
    let phone_paths: [&[&str]; 4] = [
        &["charges", "data", "0", "billing_details", "phone"],
        &["latest_charge", "billing_details", "phone"],
        &["shipping", "phone"],
        &["customer_phone"],
    ];
    let name = name_paths
        .iter()
        .find_map(|p| str_at(object, p))
        .map(str::to_string);
    let phone = phone_paths.iter().find_map(|p| str_at(object, p));
    (
        fields::full_name([name.as_deref()]),
        fields::payer_phone(phone, default_cc),
    )
}

/// The Stripe adapter.
pub(super) struct Stripe;

impl Provider for Stripe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn normalize(
        &self,
        payload: &str,
        ctx: &NormalizeContext<'_>,
    ) -> Result<Payment, NormalizeError> {
        let event: Event = fields::parse_json(NAME, payload)?;
        let o = &event.data.object;
        let created = event
            .created
            .or_else(|| o.get("created").and_then(Value::as_i64));
        let paid_at = match created {
            Some(s) => fields::unix_time(NAME, "created", s)?,
            None => ctx.fallback_time(),
        };
        let (payer_name, payer_phone) = payer(o, &ctx.config.default_country_code);
        let base = |txn_id: String, money, status, paid_at| Payment {
            provider: NAME.to_string(),
            provider_txn_id: txn_id,
            money,
            paid_at,
            status,
            references: references(o),
            payer_phone: payer_phone.clone(),
            payer_name: payer_name.clone(),
        };
        match event.event_type.as_str() {
            "payment_intent.succeeded" => Ok(base(
                required_id(o, "id")?,
                amount(o, &["amount_received", "amount"])?,
                PaymentStatus::Succeeded,
                paid_at,
            )),
            "payment_intent.payment_failed" => {
                let reason = [
                    str_at(o, &["last_payment_error", "code"]),
                    str_at(o, &["last_payment_error", "message"]),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
                let money = amount(o, &["amount"])?;
                Ok(base(
                    required_id(o, "id")?,
                    money,
                    PaymentStatus::Failed { reason },
                    paid_at,
                ))
            }
            "invoice.paid" => {
                let txn_id = id_of(o, "payment_intent").map_or_else(|| required_id(o, "id"), Ok)?;
                let paid_at = match o
                    .get("status_transitions")
                    .and_then(|s| s.get("paid_at"))
                    .and_then(Value::as_i64)
                {
                    Some(s) => fields::unix_time(NAME, "status_transitions.paid_at", s)?,
                    None => paid_at,
                };
                Ok(base(
                    txn_id,
                    amount(o, &["amount_paid"])?,
                    PaymentStatus::Succeeded,
                    paid_at,
                ))
            }
            "charge.refunded" => {
                let original =
                    id_of(o, "payment_intent").map_or_else(|| required_id(o, "id"), Ok)?;
                let latest_refund = o
                    .get("refunds")
                    .and_then(|r| r.get("data"))
                    .and_then(|d| d.get(0))
                    .and_then(Value::as_object);
                let (txn_id, money) = match latest_refund {
                    Some(refund) => {
                        let mut refund = refund.clone();
                        refund
                            .entry("currency")
                            .or_insert_with(|| o.get("currency").cloned().unwrap_or(Value::Null));
                        (required_id(&refund, "id")?, amount(&refund, &["amount"])?)
                    }
                    None => {
                        let money = amount(o, &["amount_refunded"])?;
                        (
                            format!("{}:refunded:{}", required_id(o, "id")?, money.amount),
                            money,
                        )
                    }
                };
                let status = PaymentStatus::Reversal {
                    reverses: format!("{NAME}:{original}"),
                };
                Ok(base(txn_id, money, status, paid_at))
            }
            "charge.dispute.created" => {
                let original =
                    id_of(o, "payment_intent").map_or_else(|| required_id(o, "charge"), Ok)?;
                let status = PaymentStatus::Reversal {
                    reverses: format!("{NAME}:{original}"),
                };
                Ok(base(
                    required_id(o, "id")?,
                    amount(o, &["amount"])?,
                    status,
                    paid_at,
                ))
            }
            other => Err(NormalizeError::Unsupported {
                provider: NAME,
                what: "event type",
                value: other.to_string(),
            }),
        }
    }
}
