//! Configuration: plain serde structs with documented defaults, read from a
//! TOML file and overridden by `PAYMATCH_SECTION__KEY=value` environment
//! variables (`PAYMATCH_MATCHING__AUTO_MATCH_THRESHOLD=0.9`). Unknown keys
//! are errors, so a typo never silently falls back to a default.
//!
//! `paymatch.example.toml` at the repository root lists every key with its
//! default; a test parses it.

use std::path::Path;

use chrono_tz::Tz;
use matchers::MatchingConfig;
use model::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Everything paymatch can be told.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Provider adapters.
    pub providers: ProvidersConfig,
    /// Matching thresholds and weights.
    pub matching: MatchingConfig,
    /// When payments restore service.
    pub access: AccessConfig,
    /// The RocksDB store.
    pub store: StoreConfig,
    /// Kafka mode: brokers, topics, transactions.
    pub kafka: crate::kafka::KafkaConfig,
    /// The long-running service: instance name, state, metrics.
    pub service: crate::kafka::ServiceConfig,
}

/// A time zone by IANA name (`Africa/Nairobi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeZone(pub Tz);

impl Serialize for TimeZone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse::<Tz>()
            .map(TimeZone)
            .map_err(|_| serde::de::Error::custom(format!("unknown time zone {name:?}")))
    }
}

/// Provider adapter settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvidersConfig {
    /// Zone of providers' local times (M-Pesa `TransTime`). Default `Africa/Nairobi`.
    pub time_zone: TimeZone,
    /// Country code for phone numbers in national form. Default `254`.
    pub default_country_code: String,
    /// Currency of M-Pesa amounts (they carry none). Default `KES`.
    pub mpesa_currency: Currency,
    /// Currency of Airtel Money amounts when the callback names none. Default `UGX`.
    pub airtel_currency: Currency,
    /// Country code of Airtel Money numbers (sent in national form). Default `256`.
    pub airtel_country_code: String,
    /// Country code of MTN MoMo numbers in national form. Default `256`.
    pub momo_country_code: String,
    /// Largest amount accepted, in major units; larger is refused as absurd.
    /// Default `100000000`.
    pub max_amount: Decimal,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        ProvidersConfig {
            time_zone: TimeZone(chrono_tz::Africa::Nairobi),
            default_country_code: "254".into(),
            mpesa_currency: Currency::KES,
            airtel_currency: Currency::UGX,
            airtel_country_code: "256".into(),
            momo_country_code: "256".into(),
            max_amount: Decimal::new(100_000_000, 0),
        }
    }
}

/// Which balance a payment must clear to restore a suspended customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreOn {
    /// Every open invoice paid (net of credit).
    BalanceCleared,
    /// Every open invoice already due at payment time paid.
    OverdueCleared,
}

/// The access policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Emit restore commands at all. Default true.
    pub restore_enabled: bool,
    /// Default `balance_cleared`.
    pub restore_on: RestoreOn,
    /// An outstanding amount at or below this counts as cleared (rounding,
    /// provider fees). Default 0.
    pub tolerance: Decimal,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            restore_enabled: true,
            restore_on: RestoreOn::BalanceCleared,
            tolerance: Decimal::ZERO,
        }
    }
}

/// RocksDB settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Block cache, MiB. Default 512.
    pub block_cache_mb: usize,
    /// References shorter than this get no typo keys. Default 5.
    pub fuzzy_min_len: usize,
    /// Index keys held in memory, at most (0 turns the memory tier off).
    /// About 150 bytes each. An index that fits is held whole and never
    /// read from disk; one that does not is cached as read. The default
    /// (40 million) holds a million customers with two invoices each,
    /// typo keys included (about 30 million keys); lower it to trade
    /// matching speed for memory. Default 40000000.
    pub cache_entries: usize,
    /// Stage 1's most recent dedupe blocks held in memory, MiB. A
    /// redelivery of a payment among them (about 16 000 payments a MiB)
    /// is answered from memory; an older one reads one block of about
    /// 15 KB from RocksDB. Default 64 (about a million payments).
    pub dedupe_memory_mb: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            block_cache_mb: 512,
            fuzzy_min_len: 5,
            cache_entries: 40_000_000,
            dedupe_memory_mb: crate::dedupe::DEFAULT_RECENT_BYTES >> 20,
        }
    }
}

const ENV_PREFIX: &str = "PAYMATCH_";

/// Sets `path` (`["matching", "auto_match_threshold"]`) in a TOML table,
/// reading the value as TOML when it parses (numbers, booleans) and as a
/// string otherwise.
fn set_path(table: &mut toml::Table, path: &[String], raw: &str) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = table;
    for p in parents {
        let entry = current
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(t) = entry else { return };
        current = t;
    }
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    current.insert(last.clone(), value);
}

impl Config {
    /// Reads a TOML file (or nothing: all defaults) and applies environment
    /// overrides from `vars`.
    ///
    /// # Errors
    /// [`Error::Config`] for an unreadable file, bad TOML, an unknown key or
    /// a bad value, naming the file or the variable.
    pub fn load(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::Config {
                    detail: format!("cannot read {}: {e}", p.display()),
                })?;
                text.parse::<toml::Table>().map_err(|e| Error::Config {
                    detail: format!("{}: {e}", p.display()),
                })?
            }
            None => toml::Table::new(),
        };
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if !rest.contains("__") {
                continue; // PAYMATCH_LOG and other flat variables are not config keys
            }
            let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            set_path(&mut table, &path, &value);
        }
        Config::deserialize(toml::Value::Table(table)).map_err(|e| Error::Config {
            detail: format!(
                "{}{e}",
                path.map(|p| format!("{}: ", p.display()))
                    .unwrap_or_default()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_file() {
        assert_eq!(Config::load(None, []).unwrap(), Config::default());
    }

    #[test]
    fn the_example_file_parses_and_equals_the_defaults() {
        // The directory at run time, not at build time: the shared target
        // directory may hold this binary built from another checkout.
        let path = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("../paymatch.example.toml");
        assert_eq!(Config::load(Some(&path), []).unwrap(), Config::default());
    }

    #[test]
    fn environment_overrides_win() {
        let vars = [
            (
                "PAYMATCH_MATCHING__AUTO_MATCH_THRESHOLD".to_string(),
                "0.9".to_string(),
            ),
            (
                "PAYMATCH_PROVIDERS__TIME_ZONE".to_string(),
                "Africa/Kampala".to_string(),
            ),
            (
                "PAYMATCH_ACCESS__TOLERANCE".to_string(),
                "\"5.00\"".to_string(),
            ),
            ("PAYMATCH_LOG".to_string(), "debug".to_string()),
            (
                "PAYMATCH_KAFKA__BROKERS".to_string(),
                "10.0.0.5:9092,10.0.0.6:9092".to_string(),
            ),
            (
                "PAYMATCH_KAFKA__TRANSACTION_MS".to_string(),
                "250".to_string(),
            ),
            (
                "PAYMATCH_KAFKA__CLIENT__SECURITY.PROTOCOL".to_string(),
                "ssl".to_string(),
            ),
            (
                "PAYMATCH_SERVICE__INSTANCE_ID".to_string(),
                "pm-2".to_string(),
            ),
        ];
        let c = Config::load(None, vars).unwrap();
        assert_eq!(c.kafka.brokers, "10.0.0.5:9092,10.0.0.6:9092");
        assert_eq!(c.kafka.transaction_ms, 250);
        assert_eq!(c.kafka.client["security.protocol"], "ssl");
        assert_eq!(c.service.instance(), "pm-2");
        assert_eq!(
            c.service.state_dir(),
            std::path::PathBuf::from("state/pm-2")
        );
        assert_eq!(c.matching.auto_match_threshold, 0.9);
        assert_eq!(c.providers.time_zone.0, chrono_tz::Africa::Kampala);
        assert_eq!(c.access.tolerance, Decimal::new(500, 2));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let vars = [(
            "PAYMATCH_MATCHING__AUTO_MATCH_TRESHOLD".to_string(),
            "0.9".to_string(),
        )];
        let err = Config::load(None, vars).unwrap_err().to_string();
        assert!(err.contains("auto_match_treshold"), "{err}");
    }
}
