//! The classification, in SQL. One pass over both sides: ledger payments
//! and statement lines are stacked (`UNION ALL`) and grouped by provider
//! txn id, so each id's counts, amounts and currencies on each side come
//! out of a single hash aggregation — no join, no sort. Duplicates are
//! counts above one; the pair is compared on the rest.
//!
//! The aggregation carries numbers only: each side's first row as an
//! address (see [`crate::rows`]), and amount with currency as one money key
//! (see [`crate::udf`]). Everything else an output shows — customer,
//! times, line number, reference — is fetched back by address.

/// Exception kinds, in the order reports list them.
pub const EXCEPTION_KINDS: [&str; 6] = [
    "missing_in_ledger",
    "missing_in_statement",
    "amount_mismatch",
    "currency_mismatch",
    "duplicate_in_ledger",
    "duplicate_in_statement",
];

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The `ledger_scope` table: the ledger's payments and reversals of the
/// statement's providers, the only entries that take part.
pub fn ledger_scope(providers: &[String]) -> String {
    let scope: Vec<String> = providers.iter().map(|p| literal(p)).collect();
    format!(
        "SELECT provider_txn_id, provider, customer_id, amount, currency, at FROM ledger
WHERE kind IN ('payment', 'reversal') AND provider IN ({})",
        scope.join(", ")
    )
}

/// The `keyed` table: one row per provider txn id with both sides' counts,
/// first-row addresses (`l_addr`, `s_addr`), amounts, currency codes and
/// totals, and its `status` (`matched` or a pair exception).
///
/// `label`, when set, is the provider name both sides report under
/// (`mpesa` covers `mpesa_c2b` and `mpesa_stk`), else the ledger's
/// provider (`generic` for ids only the statement has).
///
/// A side's amount and currency are those of its smallest money key; the
/// pair matches when both sides' smallest and largest keys agree, so a
/// duplicate booked at another amount is an `amount_mismatch` as well.
pub fn keyed(label: Option<&str>) -> String {
    let provider = label.map_or_else(
        || "coalesce(ledger_provider(l_addr), 'generic')".to_string(),
        literal,
    );
    format!(
        "WITH sides AS (
  SELECT provider_txn_id AS txn_id, addr AS l_addr, CAST(NULL AS BIGINT UNSIGNED) AS s_addr,
         amount AS l_amount, money_key(amount, currency) AS l_key,
         CAST(NULL AS DECIMAL(18, 4)) AS s_amount, CAST(NULL AS DECIMAL(18, 4)) AS s_fee,
         CAST(NULL AS DECIMAL(38, 0)) AS s_key
  FROM ledger_scope
  UNION ALL
  SELECT txn_id, CAST(NULL AS BIGINT UNSIGNED), addr,
         CAST(NULL AS DECIMAL(18, 4)), CAST(NULL AS DECIMAL(38, 0)),
         amount, fee, money_key(amount, currency)
  FROM statement
  WHERE kind IN ('payment', 'reversal')
), grouped AS (
  SELECT txn_id,
         count(l_addr) AS ledger_count, min(l_addr) AS l_addr,
         min(l_key) AS l_key, max(l_key) AS l_key_max,
         CAST(sum(l_amount) AS DECIMAL(38, 4)) AS ledger_total,
         count(s_addr) AS statement_count, min(s_addr) AS s_addr,
         min(s_key) AS s_key, max(s_key) AS s_key_max,
         CAST(sum(s_amount) AS DECIMAL(38, 4)) AS statement_total,
         CAST(sum(s_fee) AS DECIMAL(38, 4)) AS statement_fees
  FROM sides
  GROUP BY txn_id
)
SELECT txn_id, {provider} AS provider,
  ledger_count, l_addr, money_amount(l_key) AS ledger_amount,
  money_currency(l_key) AS ledger_currency_code, ledger_total,
  statement_count, s_addr, money_amount(s_key) AS statement_amount,
  money_currency(s_key) AS statement_currency_code, statement_total, statement_fees,
  CASE
    WHEN ledger_count = 0 THEN 'missing_in_ledger'
    WHEN statement_count = 0 THEN 'missing_in_statement'
    WHEN money_currency(l_key) <> money_currency(s_key)
      OR money_currency(l_key_max) <> money_currency(s_key_max) THEN 'currency_mismatch'
    WHEN l_key <> s_key OR l_key_max <> s_key_max THEN 'amount_mismatch'
    ELSE 'matched'
  END AS status
FROM grouped"
    )
}

/// A keyed row's payment id: the ledger's provider and the txn id.
const PAYMENT_ID: &str = "ledger_provider(l_addr) || ':' || txn_id";

/// `matched.parquet`: one row per paired payment.
pub fn matched() -> String {
    format!(
        "SELECT provider, txn_id, {PAYMENT_ID} AS payment_id, ledger_customer_id(l_addr) AS customer_id,
  ledger_amount AS amount, currency_name(ledger_currency_code) AS currency,
  ledger_at(l_addr) AS ledger_at, statement_completed_at(s_addr) AS statement_at,
  statement_line(s_addr) AS statement_line, statement_fees AS fee
FROM keyed WHERE status = 'matched'"
    )
}

/// `exceptions`: one row per exception; an id can carry a pair exception
/// and duplicate exceptions on either side.
pub fn exceptions() -> String {
    format!(
        "WITH e AS (
  SELECT status AS kind, * FROM keyed WHERE status <> 'matched'
  UNION ALL
  SELECT 'duplicate_in_ledger' AS kind, * FROM keyed WHERE ledger_count > 1
  UNION ALL
  SELECT 'duplicate_in_statement' AS kind, * FROM keyed WHERE statement_count > 1
)
SELECT kind, provider, txn_id, {PAYMENT_ID} AS payment_id, ledger_customer_id(l_addr) AS customer_id,
  ledger_count, ledger_amount, currency_name(ledger_currency_code) AS ledger_currency,
  ledger_at(l_addr) AS ledger_at,
  statement_count, statement_line(s_addr) AS statement_line, statement_amount,
  currency_name(statement_currency_code) AS statement_currency,
  statement_completed_at(s_addr) AS statement_at,
  CAST(statement_amount - ledger_amount AS DECIMAL(19, 4)) AS difference,
  statement_reference(s_addr) AS reference, statement_counterparty(s_addr) AS counterparty
FROM e
ORDER BY provider, txn_id, kind"
    )
}

/// Statement lines the ledger lacks, in file order (`--replay-missing`):
/// each id's first line, fetched back by address.
pub const MISSING_IN_LEDGER: &str = "SELECT statement_provider(s_addr) AS provider, txn_id,
  statement_kind(s_addr) AS kind, statement_amount(s_addr) AS amount, statement_fee(s_addr) AS fee,
  statement_currency(s_addr) AS currency, statement_completed_at(s_addr) AS completed_at,
  statement_reference(s_addr) AS reference, statement_counterparty(s_addr) AS counterparty
FROM keyed WHERE status = 'missing_in_ledger' ORDER BY s_addr";

/// Per provider, day and currency: counts and totals of both sides and of
/// each outcome.
pub fn by_day() -> String {
    let mut kinds = String::new();
    for kind in [
        "matched",
        EXCEPTION_KINDS[0],
        EXCEPTION_KINDS[1],
        EXCEPTION_KINDS[2],
        EXCEPTION_KINDS[3],
    ] {
        kinds.push_str(&format!(
            ",\n  CAST(sum(CASE WHEN status = '{kind}' THEN 1 ELSE 0 END) AS BIGINT) AS {kind}"
        ));
    }
    // Grouped by numbers (a date, a currency code), named afterwards: a
    // string per key row would cost more than the aggregation.
    format!(
        "SELECT provider, to_char(day, '%Y-%m-%d') AS day, currency_name(code) AS currency, * EXCLUDE (provider, day, code)
FROM (SELECT provider,
  CAST(coalesce(statement_completed_at(s_addr), ledger_at(l_addr)) AS DATE) AS day,
  coalesce(statement_currency_code, ledger_currency_code) AS code,
  CAST(sum(statement_count) AS BIGINT) AS statement_lines,
  CAST(coalesce(sum(statement_total), 0) AS DECIMAL(38, 4)) AS statement_gross,
  CAST(coalesce(sum(statement_fees), 0) AS DECIMAL(38, 4)) AS statement_fees,
  CAST(sum(ledger_count) AS BIGINT) AS ledger_entries,
  CAST(coalesce(sum(ledger_total), 0) AS DECIMAL(38, 4)) AS ledger_total,
  CAST(sum(CASE WHEN ledger_count > 1 THEN 1 ELSE 0 END) AS BIGINT) AS duplicate_in_ledger,
  CAST(sum(CASE WHEN statement_count > 1 THEN 1 ELSE 0 END) AS BIGINT) AS duplicate_in_statement{kinds}
FROM keyed GROUP BY 1, 2, 3)"
    )
}

/// Statement lines that pair with nothing: charges, payouts, the rest.
pub const SETTLEMENT: &str = "SELECT provider,
  to_char(completed_at, '%Y-%m-%d') AS day, currency,
  CAST(coalesce(sum(CASE WHEN kind = 'fee' THEN amount END), 0) AS DECIMAL(38, 4)) AS charges,
  CAST(coalesce(sum(CASE WHEN kind = 'payout' THEN amount END), 0) AS DECIMAL(38, 4)) AS payouts,
  CAST(coalesce(sum(CASE WHEN kind = 'other' THEN amount END), 0) AS DECIMAL(38, 4)) AS other
FROM statement WHERE kind NOT IN ('payment', 'reversal') GROUP BY 1, 2, 3";

/// Currencies of the ledger's payments in scope.
pub const LEDGER_CURRENCIES: &str = "SELECT DISTINCT currency FROM ledger_scope";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted() {
        assert_eq!(literal("o'brien"), "'o''brien'");
        assert!(keyed(Some("mpesa")).contains("'mpesa' AS provider"));
        assert!(keyed(None).contains("coalesce(ledger_provider(l_addr), 'generic') AS provider"));
        let scope = ledger_scope(&["mpesa_c2b".into(), "o'x".into()]);
        assert!(scope.contains("provider IN ('mpesa_c2b', 'o''x')"));
    }
}
