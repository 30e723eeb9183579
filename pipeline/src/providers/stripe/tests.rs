//! The Stripe adapter's readers against serde's: the one-pass reads and
//! the lazy raw-text fields say what a `serde_json::Value` of the same text
//! says.

use proptest::prelude::*;

use super::*;

/// Any JSON value whose keys are the ones the adapter reads.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(-0.0)),
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
fn value_str_at<'a>(object: &'a serde_json::Map<String, Value>, path: &[&str]) -> Option<&'a str> {
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
        let raw = Object::read(&text).unwrap();
        let lazy_at = str_at(&raw, &path);
        prop_assert_eq!(lazy_at.as_deref(), value_str_at(&map, &path));
        for (key, value) in &map {
            let lazy = raw.get(key).unwrap();
            let lazy_text = string_text(lazy);
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

    /// Whatever the one-pass read accepts, serde reads alike: a
    /// repeated key's last value, and the values in key order.
    #[test]
    fn one_pass_and_serde_read_objects_alike(
        members in prop::collection::vec((prop::sample::select(vec!["id", "b", "a"]), json()), 0..6),
    ) {
        let text = format!(
            "{{{}}}",
            members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(",")
        );
        let serde = Object::through_serde(&text).unwrap();
        // Without escapes, it is the one-pass read's to take.
        prop_assert_eq!(Object::flat(&text).is_some(), !text.contains('\\'), "{}", text);
        if let Some(flat) = Object::flat(&text) {
            for key in ["id", "b", "a", "c"] {
                prop_assert_eq!(flat.get(key), serde.get(key));
                prop_assert_eq!(flat.contains_key(key), serde.contains_key(key));
            }
            prop_assert_eq!(flat.values_by_key(), serde.values_by_key());
        }
    }

    /// The event's envelope: the one-pass read takes only what serde
    /// takes, and reads it alike.
    #[test]
    fn one_pass_and_serde_read_events_alike(
        event_type in prop::sample::select(vec![None, Some("\"invoice.paid\""), Some("1"), Some("null"), Some("\"a\\\"b\"")]),
        created in prop::sample::select(vec![None, Some("12"), Some("-0"), Some("1.5"), Some("null"), Some("\"7\""), Some("18446744073709551615")]),
        object in prop::sample::select(vec![None, Some("{}"), Some("{\"id\":\"pi_1\",\"id\":2}"), Some("null"), Some("[]")]),
        twice in prop::sample::select(vec![None, Some("type"), Some("created"), Some("data")]),
    ) {
        let mut members: Vec<String> = Vec::new();
        let mut push = |name: &str, value: Option<&str>| {
            if let Some(value) = value {
                members.push(format!("\"{name}\":{value}"));
            }
        };
        push("type", event_type);
        push("created", created);
        push("data", object.map(|o| format!("{{\"object\":{o}}}")).as_deref());
        if let Some(name) = twice {
            push(name, Some("null"));
        }
        let text = format!("{{{}}}", members.join(","));
        // A well-formed envelope is the one-pass read's to take.
        let plain = event_type == Some("\"invoice.paid\"")
            && matches!(created, None | Some("12" | "null"))
            && matches!(object, Some(o) if o.starts_with('{'))
            && match twice {
                None => true,
                Some("created") => created.is_none(),
                Some(_) => false,
            };
        prop_assert_eq!(Event::flat(&text).is_some(), plain, "{}", text);
        if let Some(flat) = Event::flat(&text) {
            let serde = Event::through_serde(&text);
            prop_assert!(serde.is_ok(), "{}", text);
            let serde = serde.unwrap();
            prop_assert_eq!(&flat.event_type, &serde.event_type);
            prop_assert_eq!(flat.created, serde.created);
            prop_assert_eq!(flat.object.get("id"), serde.object.get("id"));
        }
    }
}
