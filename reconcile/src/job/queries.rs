//! The classification, in SQL. One pass over both sides: ledger payments
//! and statement lines are stacked (`UNION ALL`) and grouped by provider
//! txn id, so each id's counts, amounts, currencies and times on each side
//! come out of a single hash aggregation — no join, no sort. Duplicates are
//! counts above one; the pair is compared on the rest.

/// Exception kinds, in the order reports list them.
pub const EXCEPTION_KINDS: [&str; 6] = [
    "missing_in_ledger",
    "missing_in_statement",
    "amount_mismatch",
    "currency_mismatch",
    "duplicate_in_ledger",
    "duplicate_in_statement",
];

const TIME_TYPE: &str = "'Timestamp(Microsecond, Some(\"UTC\"))'";

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The `keyed` table: one row per provider txn id with both sides' facts
/// and its `status` (`matched` or a pair exception).
///
/// `providers` scopes the ledger to the statement's providers; `label`, when
/// set, is the provider name both sides report under (`mpesa` covers
/// `mpesa_c2b` and `mpesa_stk`), else the ledger's provider (`generic` for
/// ids only the statement has).
///
/// Strings are expensive to aggregate, so the aggregation carries numbers:
/// currencies as codes ([`crate::udf`]), the statement side as its line
/// number. Exceptions fetch the statement's text columns back by line.
pub fn keyed(providers: &[String], label: Option<&str>) -> String {
    let scope = providers
        .iter()
        .map(|p| literal(p))
        .collect::<Vec<_>>()
        .join(", ");
    // Providers as their index in the scope: a number to aggregate.
    let encode: String = providers
        .iter()
        .enumerate()
        .map(|(i, p)| format!(" WHEN {} THEN {i}", literal(p)))
        .collect();
    let decode: String = providers
        .iter()
        .enumerate()
        .map(|(i, p)| format!(" WHEN {i} THEN {}", literal(p)))
        .collect();
    let ledger_provider = format!("CASE ledger_provider_code{decode} END");
    let provider = label.map_or_else(
        || format!("coalesce({ledger_provider}, 'generic')"),
        literal,
    );
    format!(
        "WITH sides AS (
  SELECT provider_txn_id AS txn_id, CAST(CASE provider{encode} END AS BIGINT) AS l_provider,
         customer_id,
         amount AS l_amount, currency_code(currency) AS l_currency, at AS l_at, 1 AS l_n,
         CAST(NULL AS BIGINT UNSIGNED) AS s_line,
         CAST(NULL AS DECIMAL(18, 4)) AS s_amount, CAST(NULL AS DECIMAL(18, 4)) AS s_fee,
         CAST(NULL AS BIGINT) AS s_currency, arrow_cast(NULL, {TIME_TYPE}) AS s_at, 0 AS s_n
  FROM ledger
  WHERE kind IN ('payment', 'reversal') AND provider IN ({scope})
  UNION ALL
  SELECT txn_id, CAST(NULL AS BIGINT), CAST(NULL AS VARCHAR),
         CAST(NULL AS DECIMAL(18, 4)), CAST(NULL AS BIGINT), arrow_cast(NULL, {TIME_TYPE}), 0,
         line, amount, fee, currency_code(currency), completed_at, 1
  FROM statement
  WHERE kind IN ('payment', 'reversal')
), grouped AS (
  SELECT txn_id,
         min(l_provider) AS ledger_provider_code, min(customer_id) AS customer_id,
         CAST(sum(l_n) AS BIGINT) AS ledger_count,
         min(l_amount) AS ledger_amount, max(l_amount) AS ledger_amount_max,
         CAST(sum(l_amount) AS DECIMAL(38, 4)) AS ledger_total,
         min(l_currency) AS ledger_currency_code, max(l_currency) AS ledger_currency_max,
         min(l_at) AS ledger_at,
         CAST(sum(s_n) AS BIGINT) AS statement_count,
         min(s_line) AS statement_line,
         min(s_amount) AS statement_amount, max(s_amount) AS statement_amount_max,
         CAST(sum(s_amount) AS DECIMAL(38, 4)) AS statement_total,
         CAST(sum(s_fee) AS DECIMAL(38, 4)) AS statement_fees,
         min(s_currency) AS statement_currency_code, max(s_currency) AS statement_currency_max,
         min(s_at) AS statement_at
  FROM sides
  GROUP BY txn_id
)
SELECT *, {provider} AS provider,
  {ledger_provider} || ':' || txn_id AS payment_id,
  CASE
    WHEN ledger_count = 0 THEN 'missing_in_ledger'
    WHEN statement_count = 0 THEN 'missing_in_statement'
    WHEN ledger_currency_code <> statement_currency_code
      OR ledger_currency_max <> statement_currency_max THEN 'currency_mismatch'
    WHEN ledger_amount <> statement_amount
      OR ledger_amount_max <> statement_amount_max THEN 'amount_mismatch'
    ELSE 'matched'
  END AS status
FROM grouped"
    )
}

/// `matched.parquet`: one row per paired payment.
pub const MATCHED: &str = "SELECT provider, txn_id, payment_id, customer_id,
  ledger_amount AS amount, currency_name(ledger_currency_code) AS currency,
  ledger_at, statement_at, statement_line, statement_fees AS fee
FROM keyed WHERE status = 'matched'";

const EXCEPTION_COLUMNS: &str = "k.provider, k.txn_id, payment_id, customer_id,
  ledger_count, ledger_amount, currency_name(ledger_currency_code) AS ledger_currency, ledger_at,
  statement_count, statement_line, statement_amount,
  currency_name(statement_currency_code) AS statement_currency, statement_at,
  CAST(statement_amount - ledger_amount AS DECIMAL(19, 4)) AS difference,
  s.reference, s.counterparty";

/// `exceptions`: one row per exception; an id can carry a pair exception
/// and duplicate exceptions on either side. The statement's reference and
/// counterparty are fetched back by line number (few rows).
pub fn exceptions() -> String {
    format!(
        "WITH e AS (
  SELECT status AS kind, * FROM keyed WHERE status <> 'matched'
  UNION ALL
  SELECT 'duplicate_in_ledger' AS kind, * FROM keyed WHERE ledger_count > 1
  UNION ALL
  SELECT 'duplicate_in_statement' AS kind, * FROM keyed WHERE statement_count > 1
)
SELECT k.kind, {EXCEPTION_COLUMNS}
FROM e AS k LEFT JOIN statement AS s ON s.line = k.statement_line
ORDER BY k.provider, k.txn_id, k.kind"
    )
}

/// Statement lines the ledger lacks, in file order (`--replay-missing`),
/// with their text columns fetched back by line number.
pub const MISSING_IN_LEDGER: &str = "SELECT s.provider, s.txn_id, s.kind,
  s.amount, s.fee, s.currency, s.completed_at, s.reference, s.counterparty
FROM keyed AS k JOIN statement AS s ON s.line = k.statement_line
WHERE k.status = 'missing_in_ledger' ORDER BY s.line";

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
  CAST(coalesce(statement_at, ledger_at) AS DATE) AS day,
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
pub fn ledger_currencies(providers: &[String]) -> String {
    let scope: Vec<String> = providers.iter().map(|p| literal(p)).collect();
    format!(
        "SELECT DISTINCT currency FROM ledger WHERE kind IN ('payment', 'reversal') AND provider IN ({})",
        scope.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted() {
        assert_eq!(literal("o'brien"), "'o''brien'");
        let mpesa = keyed(&["mpesa_c2b".into(), "mpesa_stk".into()], Some("mpesa"));
        assert!(mpesa.contains("'mpesa' AS provider"));
        assert!(mpesa.contains("WHEN 'mpesa_stk' THEN 1"));
        assert!(mpesa.contains("WHEN 1 THEN 'mpesa_stk'"));
        let generic = keyed(&["generic".into()], None);
        assert!(generic.contains(
            "coalesce(CASE ledger_provider_code WHEN 0 THEN 'generic' END, 'generic') AS provider"
        ));
    }
}
