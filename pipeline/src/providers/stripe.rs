//! Stripe events: `payment_intent.succeeded`, `payment_intent.payment_failed`,
//! `invoice.paid`, `charge.refunded`, `charge.dispute.created`.
//!
//! Quirks: amounts are integers in minor units with Stripe's own exponent
//! (UGX and RWF zero-decimal, ISK sent with two decimals); currency codes
//! are lower case; related objects are ids or expanded objects; one payment
//! arrives as both `payment_intent.succeeded` and `invoice.paid`, so both
//! take the PaymentIntent id (the second is then a `duplicate`); refunds and
//! disputes are reversals of the PaymentIntent they take money from.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;

use model::{Payment, PaymentStatus, ReferenceKind, ReferenceValue};
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::fields;
use super::{NormalizeContext, NormalizeError, Provider};

const NAME: &str = "stripe";

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    #[serde(default)]
    created: Option<i64>,
    #[serde(borrow)]
    data: EventData<'a>,
}

#[derive(Deserialize)]
struct EventData<'a> {
    #[serde(borrow)]
    object: Object<'a>,
}

/// A JSON object read one level deep: its keys, and each value's raw text
/// borrowed from the payload, read further only when a field is wanted.
/// A Stripe object has dozens of fields, nested objects and lists, of
/// which a handful matter here; reading all of them into `Value`s (a
/// string and a tree node each) cost a Stripe event three times an M-Pesa
/// one (BENCHMARKS, session 21). Sorted by key, a repeated key's last
/// value winning, as `serde_json::Map` reads them.
type Object<'a> = BTreeMap<Key<'a>, &'a RawValue>;

/// An object's key, borrowed unless it had escapes.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key<'a>(Cow<'a, str>);

impl Borrow<str> for Key<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyText;
        impl<'de> Visitor<'de> for KeyText {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                text: &'de str,
            ) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(text)))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(text.to_string())))
            }
        }
        d.deserialize_str(KeyText)
    }
}

/// A value read as an object (`None` if it is not one).
fn object(raw: &RawValue) -> Option<Object<'_>> {
    raw.get()
        .starts_with('{')
        .then(|| serde_json::from_str(raw.get()).ok())
        .flatten()
}

/// A value read as a list (`None` if it is not one).
fn list(raw: &RawValue) -> Option<Vec<&RawValue>> {
    raw.get()
        .starts_with('[')
        .then(|| serde_json::from_str(raw.get()).ok())
        .flatten()
}

/// A string value's text, borrowed unless it had escapes (`Value::as_str`).
fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Some(Cow::Borrowed(inner)),
        Some(_) => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
        None => None,
    }
}

/// An integer value that fits an `i64` (`Value::as_i64`): JSON's integer
/// text is Rust's, and a fraction or exponent is no integer to either.
fn integer(raw: &RawValue) -> Option<i64> {
    raw.get().parse().ok()
}

/// A string field, or the `id` of an expanded object.
fn id_of(object: &Object<'_>, key: &str) -> Option<String> {
    let raw = *object.get(key)?;
    match raw.get().as_bytes().first()? {
        b'"' => fields::non_empty(string(raw).as_deref()),
        b'{' => self::object(raw)?
            .get("id")
            .and_then(|id| string(id))
            .and_then(|s| fields::non_empty(Some(&s))),
        _ => None,
    }
}

/// A non-blank string at a path of keys (and list indexes) under an object.
fn str_at<'a>(object: &Object<'a>, path: &[&str]) -> Option<Cow<'a, str>> {
    let (first, rest) = path.split_first()?;
    let mut at: &'a RawValue = object.get(*first)?;
    for key in rest {
        at = match key.parse::<usize>() {
            Ok(i) => *list(at)?.get(i)?,
            Err(_) => *self::object(at)?.get(*key)?,
        };
    }
    string(at).filter(|s| !s.trim().is_empty())
}

/// Reads a minor-unit amount field with Stripe's exponent for the currency.
fn amount(object: &Object<'_>, keys: &[&'static str]) -> Result<model::Money, NormalizeError> {
    let code =
        object
            .get("currency")
            .and_then(|c| string(c))
            .ok_or(NormalizeError::MissingField {
                provider: NAME,
                field: "currency",
            })?;
    let currency = fields::currency(NAME, &code)?;
    let (key, value) = keys
        .iter()
        .find_map(|k| {
            object
                .get(*k)
                .filter(|v| v.get() != "null")
                .map(|v| (*k, *v))
        })
        .ok_or(NormalizeError::MissingField {
            provider: NAME,
            field: keys[0],
        })?;
    // An integer as `serde_json::Number` prints it.
    let text = match (value.get().parse::<i64>(), value.get().parse::<u64>()) {
        (Ok(n), _) => n.to_string(),
        (_, Ok(n)) => n.to_string(),
        _ => {
            let shown = serde_json::from_str::<Value>(value.get())
                .map_or_else(|_| value.get().to_string(), |v| v.to_string());
            return Err(NormalizeError::BadAmount {
                provider: NAME,
                detail: format!("{key} must be an integer in minor units, got {shown}"),
            });
        }
    };
    fields::minor_units_amount(NAME, &text, currency.stripe_exponent(), currency)
}

fn required_id(object: &Object<'_>, key: &'static str) -> Result<String, NormalizeError> {
    id_of(object, key).ok_or(NormalizeError::MissingField {
        provider: NAME,
        field: key,
    })
}

/// References our systems put on Stripe objects: metadata values (sorted by
/// key, as Stripe gives no order), then the customer id.
fn references(object: &Object<'_>) -> Vec<ReferenceValue> {
    let mut refs = Vec::new();
    if let Some(meta) = object.get("metadata").and_then(|m| self::object(m)) {
        for v in meta.values() {
            if let Some(s) = fields::non_empty(string(v).as_deref()) {
                refs.push(ReferenceValue {
                    kind: ReferenceKind::Request,
                    value: s,
                });
            }
        }
    }
    let number = object.get("number").and_then(|n| string(n));
    if let Some(number) = fields::non_empty(number.as_deref()) {
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
fn payer(object: &Object<'_>, default_cc: &str) -> (Option<String>, Option<model::PayerPhone>) {
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
    let name = name_paths.iter().find_map(|p| str_at(object, p));
    let phone = phone_paths.iter().find_map(|p| str_at(object, p));
    (
        fields::full_name([name.as_deref()]),
        fields::payer_phone(phone.as_deref(), default_cc),
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
            .or_else(|| o.get("created").and_then(|c| integer(c)));
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
        match event.event_type.as_ref() {
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
                    .and_then(|s| object(s))
                    .and_then(|s| s.get("paid_at").and_then(|p| integer(p)))
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
                    .and_then(|r| object(r))
                    .and_then(|r| r.get("data").and_then(|d| list(d)))
                    .and_then(|d| d.first().and_then(|first| object(first)));
                let (txn_id, money) = match latest_refund {
                    Some(mut refund) => {
                        // A refund without its own currency is in the charge's.
                        if !refund.contains_key("currency") {
                            if let Some(currency) = o.get("currency") {
                                refund.insert(Key(Cow::Borrowed("currency")), currency);
                            }
                        }
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Any JSON value whose keys are the ones the adapter reads.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-z \"\\\\é\n]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 4, |inner| {
            let key = prop::sample::select(vec!["id", "name", "data", "0", "currency", "amount"]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::vec((key, inner), 0..4).prop_map(|pairs| {
                    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    /// The `serde_json::Value` reading the adapter used to do.
    fn value_str_at<'a>(
        object: &'a serde_json::Map<String, Value>,
        path: &[&str],
    ) -> Option<&'a str> {
        let (first, rest) = path.split_first()?;
        rest.iter()
            .try_fold(object.get(*first)?, |v, key| match key.parse::<usize>() {
                Ok(i) => v.get(i),
                Err(_) => v.get(key),
            })?
            .as_str()
            .filter(|s| !s.trim().is_empty())
    }

    proptest! {
        /// Read lazily from raw text, every field the adapter reads is
        /// what a `Value` of the same text says.
        #[test]
        fn raw_fields_read_as_values_do(
            fields in prop::collection::vec((prop::sample::select(vec!["id", "name", "data", "currency", "amount"]), json()), 0..5),
            path in prop::collection::vec(prop::sample::select(vec!["id", "name", "data", "0", "1", "currency"]), 1..4),
        ) {
            let map: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let text = Value::Object(map.clone()).to_string();
            let raw: Object<'_> = serde_json::from_str(&text).unwrap();
            let lazy_at = str_at(&raw, &path);
            prop_assert_eq!(lazy_at.as_deref(), value_str_at(&map, &path));
            for (key, value) in &map {
                let lazy = raw[key.as_str()];
                let lazy_text = string(lazy);
                prop_assert_eq!(lazy_text.as_deref(), value.as_str());
                prop_assert_eq!(integer(lazy), value.as_i64());
                prop_assert_eq!(object(lazy).map(|o| o.len()), value.as_object().map(|o| o.len()));
                prop_assert_eq!(list(lazy).map(|l| l.len()), value.as_array().map(|a| a.len()));
                let id = match value {
                    Value::String(s) => fields::non_empty(Some(s)),
                    Value::Object(o) => o.get("id").and_then(Value::as_str).and_then(|s| fields::non_empty(Some(s))),
                    _ => None,
                };
                prop_assert_eq!(id_of(&raw, key), id);
            }
        }
    }
}
