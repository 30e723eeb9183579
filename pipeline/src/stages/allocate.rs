//! Allocation and the access decision, pure functions of a customer's open
//! invoices and state: no store, no clock, so every rule is unit-tested.

use chrono::{DateTime, Utc};
use model::{Allocation, CustomerStatus};
use rust_decimal::Decimal;

use crate::config::{AccessConfig, RestoreOn};
use crate::state::CustomerState;

/// An invoice with what is left to pay on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenItem {
    /// The invoice.
    pub invoice_id: String,
    /// Amount still due.
    pub remaining: Decimal,
    /// When it falls due.
    pub due_at: Option<DateTime<Utc>>,
}

/// Splits `amount` over `open` items in order (oldest due first): each gets
/// up to what it still needs; the rest is credit.
pub fn allocate(amount: Decimal, open: &[OpenItem]) -> (Vec<Allocation>, Decimal) {
    let mut left = amount;
    let mut out = Vec::new();
    for item in open {
        if left <= Decimal::ZERO {
            break;
        }
        if item.remaining <= Decimal::ZERO {
            continue;
        }
        let applied = left.min(item.remaining);
        out.push(Allocation {
            invoice_id: item.invoice_id.clone(),
            amount: applied,
        });
        left -= applied;
    }
    (out, left.max(Decimal::ZERO))
}

/// What is still owed under the policy, net of credit.
pub fn outstanding(
    open: &[OpenItem],
    credit: Decimal,
    policy: RestoreOn,
    at: DateTime<Utc>,
) -> Decimal {
    let owed: Decimal = open
        .iter()
        .filter(|i| match policy {
            RestoreOn::BalanceCleared => true,
            RestoreOn::OverdueCleared => i.due_at.is_none_or(|d| d <= at),
        })
        .map(|i| i.remaining.max(Decimal::ZERO))
        .sum();
    owed - credit
}

/// The customer's access state: paymatch's override while it is newer than
/// the billing system's last update, else the billing system's status.
pub fn effective_status(
    billing_status: CustomerStatus,
    billing_updated_at: Option<DateTime<Utc>>,
    state: &CustomerState,
) -> CustomerStatus {
    match &state.access {
        Some(o) if billing_updated_at.is_none_or(|u| o.at >= u) => o.status,
        _ => billing_status,
    }
}

/// Whether a payment that left `outstanding` owing restores service.
pub fn clears(status: CustomerStatus, outstanding: Decimal, policy: &AccessConfig) -> bool {
    policy.restore_enabled && status == CustomerStatus::Suspended && outstanding <= policy.tolerance
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::AccessOverride;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn items() -> Vec<OpenItem> {
        vec![
            OpenItem {
                invoice_id: "A".into(),
                remaining: d("1000.00"),
                due_at: Some("2026-10-10T00:00:00Z".parse().unwrap()),
            },
            OpenItem {
                invoice_id: "B".into(),
                remaining: d("2500.00"),
                due_at: Some("2026-11-10T00:00:00Z".parse().unwrap()),
            },
        ]
    }

    #[test]
    fn oldest_first_partial_and_credit() {
        let (a, credit) = allocate(d("1500.00"), &items());
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].amount, a[1].amount, credit),
            (d("1000.00"), d("500.00"), d("0"))
        );
        let (a, credit) = allocate(d("4000.00"), &items());
        assert_eq!((a[1].amount, credit), (d("2500.00"), d("500.00")));
        let (a, credit) = allocate(d("10.00"), &[]);
        assert!(a.is_empty());
        assert_eq!(credit, d("10.00"));
    }

    #[test]
    fn outstanding_by_policy() {
        let at = "2026-11-02T00:00:00Z".parse().unwrap();
        assert_eq!(
            outstanding(&items(), d("0"), RestoreOn::BalanceCleared, at),
            d("3500.00")
        );
        assert_eq!(
            outstanding(&items(), d("0"), RestoreOn::OverdueCleared, at),
            d("1000.00")
        );
        assert_eq!(
            outstanding(&items(), d("3500.00"), RestoreOn::BalanceCleared, at),
            d("0")
        );
    }

    #[test]
    fn override_wins_until_billing_updates_again() {
        let mut state = CustomerState::default();
        let t = |s: &str| -> DateTime<Utc> { s.parse().unwrap() };
        assert_eq!(
            effective_status(CustomerStatus::Suspended, None, &state),
            CustomerStatus::Suspended
        );
        state.access = Some(AccessOverride {
            status: CustomerStatus::Active,
            at: t("2026-11-02T00:00:00Z"),
            cause: "p".into(),
        });
        let older = Some(t("2026-11-01T00:00:00Z"));
        let newer = Some(t("2026-11-03T00:00:00Z"));
        assert_eq!(
            effective_status(CustomerStatus::Suspended, older, &state),
            CustomerStatus::Active
        );
        assert_eq!(
            effective_status(CustomerStatus::Suspended, newer, &state),
            CustomerStatus::Suspended
        );
    }

    #[test]
    fn only_suspended_customers_with_nothing_owed_clear() {
        let policy = AccessConfig::default();
        assert!(clears(CustomerStatus::Suspended, d("0"), &policy));
        assert!(clears(CustomerStatus::Suspended, d("-5"), &policy));
        assert!(!clears(CustomerStatus::Suspended, d("0.01"), &policy));
        assert!(!clears(CustomerStatus::Active, d("0"), &policy));
        let lenient = AccessConfig {
            tolerance: d("1.00"),
            ..AccessConfig::default()
        };
        assert!(clears(CustomerStatus::Suspended, d("0.50"), &lenient));
    }
}
