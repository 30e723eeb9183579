//! Stripe events: `payment_intent.succeeded`, `payment_intent.payment_failed`,
//! `invoice.paid`, `charge.refunded`, `charge.dispute.created`.
//!
//! Quirks: amounts are integers in minor units with Stripe's own exponent
//! (UGX and RWF zero-decimal, ISK sent with two decimals); currency codes
//! are lower case; related objects are ids or expanded objects; one payment
//! arrives as both `payment_intent.succeeded` and `invoice.paid`, so both
//! take the PaymentIntent id (the second is then a `duplicate`); refunds and
//! disputes are reversals of the PaymentIntent they take money from.

use std::borrow::Cow;

use model::json::string_text;
use std::collections::BTreeMap;

use model::{Payment, PaymentStatus, ReferenceKind, ReferenceValue};
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::{fields, flat};
use super::{NormalizeContext, NormalizeError, Provider};

const NAME: &str = "stripe";

/// The event's members that matter, read in one pass when
/// [`flat::members_and_object`] can, else through serde (which words the
/// refusal).
struct Event<'a> {
    event_type: Cow<'a, str>,
    created: Option<i64>,
    object: Object<'a>,
}

impl<'a> Event<'a> {
    fn read(payload: &'a str) -> Result<Self, NormalizeError> {
        Self::flat(payload).map_or_else(|| Self::through_serde(payload), Ok)
    }

    /// The one-pass read; `None` leaves the payload to serde: anything
    /// the reader does not handle, and anything serde would refuse (a
    /// missing or mistyped member).
    fn flat(payload: &'a str) -> Option<Self> {
        let ([event_type, created], object) =
            flat::members_and_object(payload, ["type", "created"], &["data", "object"])?;
        let event_type = string_text(event_type?)?;
        let created = match created {
            Some(text) => Some(integer(text)?),
            None => None,
        };
        Some(Event {
            event_type,
            created,
            object: Object::from_members(object),
        })
    }

    fn through_serde(payload: &'a str) -> Result<Self, NormalizeError> {
        #[derive(Deserialize)]
        struct Json<'a> {
            #[serde(rename = "type", borrow)]
            event_type: Cow<'a, str>,
            #[serde(default)]
            created: Option<i64>,
            #[serde(borrow)]
            data: Data<'a>,
        }
        #[derive(Deserialize)]
        struct Data<'a> {
            #[serde(borrow)]
            object: BTreeMap<Key<'a>, &'a RawValue>,
        }
        let json: Json<'a> = fields::parse_json(NAME, payload)?;
        Ok(Event {
            event_type: json.event_type,
            created: json.created,
            object: Object::from_map(json.data.object),
        })
    }
}

/// A JSON object read one level deep: its keys, and each value's raw text
/// borrowed from the payload, read further only when a field is wanted.
/// A Stripe object has dozens of fields, nested objects and lists, of
/// which a handful matter here; reading all of them into `Value`s (a
/// string and a tree node each) cost a Stripe event three times an M-Pesa
/// one (BENCHMARKS, session 21), and reading them into a map through
/// serde still cost twice (session 23). Members are kept as read; a
/// repeated key's last value wins, as in `serde_json::Map`.
#[derive(Debug)]
struct Object<'a> {
    members: Vec<(Cow<'a, str>, &'a str)>,
}

impl<'a> Object<'a> {
    /// Reads an object's text, in one pass when [`flat::all_members`] can.
    fn read(text: &'a str) -> Option<Self> {
        Self::flat(text).or_else(|| Self::through_serde(text))
    }

    fn flat(text: &'a str) -> Option<Self> {
        flat::all_members(text).map(Self::from_members)
    }

    fn from_members(members: Vec<(&'a str, &'a str)>) -> Self {
        Object {
            members: members
                .into_iter()
                .map(|(key, value)| (Cow::Borrowed(key), value))
                .collect(),
        }
    }

    fn through_serde(text: &'a str) -> Option<Self> {
        serde_json::from_str(text).ok().map(Self::from_map)
    }

    fn from_map(map: BTreeMap<Key<'a>, &'a RawValue>) -> Self {
        Object {
            members: map
                .into_iter()
                .map(|(key, value)| (key.0, value.get()))
                .collect(),
        }
    }

    /// The raw text of `key`'s value (its last, if repeated).
    fn get(&self, key: &str) -> Option<&'a str> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, value)| *value)
    }

    fn contains_key(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k == key)
    }

    fn insert(&mut self, key: &'a str, value: &'a str) {
        self.members.push((Cow::Borrowed(key), value));
    }

    /// Each key's value, in key order (as a map iterates them).
    fn values_by_key(&self) -> Vec<&'a str> {
        let mut last: BTreeMap<&str, &'a str> = BTreeMap::new();
        for (key, value) in &self.members {
            last.insert(key, value);
        }
        last.into_values().collect()
    }

    /// Distinct keys.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.values_by_key().len()
    }
}

/// An object's key, borrowed unless it had escapes (the serde read).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key<'a>(Cow<'a, str>);

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

/// A value's raw text read as an object (`None` if it is not one).
fn object(raw: &str) -> Option<Object<'_>> {
    raw.starts_with('{').then(|| Object::read(raw)).flatten()
}

/// A value's raw text read as a list (`None` if it is not one).
fn list(raw: &str) -> Option<Vec<&str>> {
    raw.starts_with('[')
        .then(|| serde_json::from_str::<Vec<&RawValue>>(raw).ok())
        .flatten()
        .map(|items| items.into_iter().map(RawValue::get).collect())
}

/// An integer value that fits an `i64` (`Value::as_i64`): JSON's integer
/// text is Rust's, and a fraction or exponent is no integer to either. But
/// `-0` is: serde_json reads it as the float -0.0.
fn integer(raw: &str) -> Option<i64> {
    (raw != "-0").then(|| raw.parse().ok()).flatten()
}

/// A string field, or the `id` of an expanded object.
fn id_of(object: &Object<'_>, key: &str) -> Option<String> {
    let raw = object.get(key)?;
    match raw.as_bytes().first()? {
        b'"' => fields::non_empty(string_text(raw).as_deref()),
        b'{' => self::object(raw)?
            .get("id")
            .and_then(string_text)
            .and_then(|s| fields::non_empty(Some(&s))),
        _ => None,
    }
}

/// The raw text at a path of keys (and list indexes) under an object.
fn value_at<'a>(object: &Object<'a>, path: &[&str]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    let mut at: &'a str = object.get(first)?;
    for key in rest {
        at = match key.parse::<usize>() {
            Ok(i) => *list(at)?.get(i)?,
            Err(_) => self::object(at)?.get(key)?,
        };
    }
    Some(at)
}

/// A non-blank string at a path of keys (and list indexes) under an object.
fn str_at<'a>(object: &Object<'a>, path: &[&str]) -> Option<Cow<'a, str>> {
    string_text(value_at(object, path)?).filter(|s| !s.trim().is_empty())
}

/// Reads a minor-unit amount field with Stripe's exponent for the currency.
fn amount(object: &Object<'_>, keys: &[&'static str]) -> Result<model::Money, NormalizeError> {
    let code =
        object
            .get("currency")
            .and_then(string_text)
            .ok_or(NormalizeError::MissingField {
                provider: NAME,
                field: "currency",
            })?;
    let currency = fields::currency(NAME, &code)?;
    let (key, value) = keys
        .iter()
        .find_map(|k| object.get(k).filter(|v| *v != "null").map(|v| (*k, v)))
        .ok_or(NormalizeError::MissingField {
            provider: NAME,
            field: keys[0],
        })?;
    // An integer as `serde_json::Number` prints it.
    let text = match (value.parse::<i64>(), value.parse::<u64>()) {
        (Ok(n), _) => n.to_string(),
        (_, Ok(n)) => n.to_string(),
        _ => {
            let shown = serde_json::from_str::<Value>(value)
                .map_or_else(|_| value.to_string(), |v| v.to_string());
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
    if let Some(meta) = object.get("metadata").and_then(self::object) {
        for v in meta.values_by_key() {
            if let Some(s) = fields::non_empty(string_text(v).as_deref()) {
                refs.push(ReferenceValue {
                    kind: ReferenceKind::Request,
                    value: s,
                });
            }
        }
    }
    let number = object.get("number").and_then(string_text);
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
    // The objects that may hold them, in order, and their keys there:
    // each object is read once for both.
    let holders: [(&[&str], &str, &str); 4] = [
        (
            &["charges", "data", "0", "billing_details"],
            "name",
            "phone",
        ),
        (&["latest_charge", "billing_details"], "name", "phone"),
        (&["shipping"], "name", "phone"),
        (&[], "customer_name", "customer_phone"),
    ];
    let (mut name, mut phone) = (None, None);
    for (path, name_key, phone_key) in holders {
        if name.is_some() && phone.is_some() {
            break;
        }
        let nested;
        let holder = if path.is_empty() {
            object
        } else {
            match value_at(object, path).and_then(self::object) {
                Some(found) => {
                    nested = found;
                    &nested
                }
                None => continue,
            }
        };
        name = name.or_else(|| str_at(holder, &[name_key]));
        phone = phone.or_else(|| str_at(holder, &[phone_key]));
    }
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
        let event = Event::read(payload)?;
        let o = &event.object;
        let created = event.created.or_else(|| o.get("created").and_then(integer));
        let paid_at = match created {
            Some(s) => fields::unix_time(NAME, "created", s)?,
            None => ctx.fallback_time(),
        };
        let (payer_name, payer_phone) = payer(o, &ctx.config.default_country_code);
        let base = |txn_id: String, money, status, paid_at| Payment {
            provider: NAME.into(),
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
                    .and_then(object)
                    .and_then(|s| s.get("paid_at").and_then(integer))
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
                    .and_then(object)
                    .and_then(|r| r.get("data").and_then(list))
                    .and_then(|d| d.first().and_then(|first| object(first)));
                let (txn_id, money) = match latest_refund {
                    Some(mut refund) => {
                        // A refund without its own currency is in the charge's.
                        if !refund.contains_key("currency") {
                            if let Some(currency) = o.get("currency") {
                                refund.insert("currency", currency);
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
mod tests;
