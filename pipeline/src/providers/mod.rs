//! Provider adapters: one file per payment provider, each turning that
//! provider's callback body into a [`model::Payment`].
//!
//! The [`Provider`] trait is the extension point; [`registry`] lists every
//! adapter explicitly. Adding a country's mobile money provider is one new
//! file here plus one line in [`registry`]. Adapters are pure: no I/O, no
//! clock (the caller passes `received_at` and "now"), so the embedded and
//! Kafka modes normalize identically and the fuzz tests can hammer them.

mod airtel_money;
mod error;
mod fields;
pub(crate) mod flat;
mod generic;
mod mpesa_c2b;
mod mpesa_stk;
mod mtn_momo;
mod stripe;

use chrono::{DateTime, Utc};
use model::Payment;

pub use error::NormalizeError;

use crate::config::ProvidersConfig;

/// What an adapter needs besides the payload.
#[derive(Clone, Debug)]
pub struct NormalizeContext<'a> {
    /// Provider settings (time zone, default currencies, limits).
    pub config: &'a ProvidersConfig,
    /// When the envelope says the callback arrived, if it says.
    pub received_at: Option<DateTime<Utc>>,
    /// Processing time: the last resort for a provider that sends no time.
    pub now: DateTime<Utc>,
}

impl NormalizeContext<'_> {
    /// The time to use when the payload carries none.
    pub fn fallback_time(&self) -> DateTime<Utc> {
        self.received_at.unwrap_or(self.now)
    }
}

/// A payment provider's callback format.
///
/// Implementations must be total: any byte string in, a [`Payment`] or a
/// [`NormalizeError`] out, never a panic. A payload whose status says the
/// payment failed is a `Payment` with [`model::PaymentStatus::Failed`], not an
/// error: errors are for input paymatch cannot read (the dead-letter queue).
///
/// Implementations must also refuse a payload that is not exactly one JSON
/// value (parse it whole, as [`fields::parse_json`] does): stage 1 hands
/// them the payload of an envelope it has not parsed (`model::envelope`),
/// and trusts the split only when the adapter's parse succeeds.
pub trait Provider: Send + Sync {
    /// The `provider` name in the envelope.
    fn name(&self) -> &'static str;

    /// Reads one callback body.
    ///
    /// # Errors
    /// A [`NormalizeError`] naming what was missing or wrong.
    fn normalize(
        &self,
        payload: &str,
        ctx: &NormalizeContext<'_>,
    ) -> Result<Payment, NormalizeError>;
}

/// Every provider adapter paymatch ships. One line per provider.
pub fn registry() -> Vec<Box<dyn Provider>> {
    vec![
        Box::new(mpesa_c2b::MpesaC2b),
        Box::new(mpesa_stk::MpesaStk),
        Box::new(mtn_momo::MtnMomo),
        Box::new(airtel_money::AirtelMoney),
        Box::new(stripe::Stripe),
        Box::new(generic::Generic),
    ]
}

/// The adapters by name, for the stages.
pub struct Providers {
    /// In registry order: a handful, found by a scan (cheaper than
    /// hashing the name for every payment).
    adapters: Vec<Box<dyn Provider>>,
}

impl Default for Providers {
    fn default() -> Self {
        Providers {
            adapters: registry(),
        }
    }
}

impl Providers {
    /// Normalizes a payload with the named provider's adapter.
    ///
    /// # Errors
    /// [`NormalizeError::UnknownProvider`] for a name no adapter has, else
    /// the adapter's error.
    pub fn normalize(
        &self,
        provider: &str,
        payload: &str,
        ctx: &NormalizeContext<'_>,
    ) -> Result<Payment, NormalizeError> {
        let adapter = self
            .adapters
            .iter()
            .find(|adapter| adapter.name() == provider)
            .ok_or_else(|| NormalizeError::UnknownProvider {
                provider: provider.to_string(),
            })?;
        let payment = adapter.normalize(payload, ctx)?;
        fields::check_limits(&payment, ctx.config)?;
        Ok(payment)
    }

    /// Normalizes an envelope's payload with its provider's adapter. Some
    /// gateways forward the callback body as a JSON string: it is unwrapped.
    ///
    /// # Errors
    /// As [`Providers::normalize`].
    pub fn normalize_envelope(
        &self,
        envelope: &model::PaymentEnvelopeRef<'_>,
        ctx: &NormalizeContext<'_>,
    ) -> Result<Payment, NormalizeError> {
        let payload = envelope.payload.get();
        if payload.starts_with('"') {
            if let Ok(inner) = serde_json::from_str::<String>(payload) {
                return self.normalize(&envelope.provider, &inner, ctx);
            }
        }
        self.normalize(&envelope.provider, payload, ctx)
    }

    /// The names of every adapter, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.adapters.iter().map(|a| a.name()).collect();
        names.sort_unstable();
        names
    }
}

#[cfg(test)]
mod tests;
