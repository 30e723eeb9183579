//! The classification, in SQL. Ledger payments and statement lines are
//! stacked (`UNION ALL`) and grouped by txn id in one hash aggregation —
//! no join, no sort — that counts each side and keeps each side's first
//! row as an address (see [`crate::rows`]). The group key is the txn id as
//! one 128-bit integer ([`crate::udf::txn_key`]), and four integers ride
//! along: at 10M ids, every value carried through the aggregation costs
//! hundreds of megabytes of accumulators that grow, merge and are copied,
//! and a string key costs twice the time of an integer one.
//!
//! Ids booked or printed more than once are rare, and only they need more
//! than their first rows: [`DUPLICATES`] computes, for those ids alone, the
//! smallest and largest amount (with currency, as a money key, see
//! [`crate::udf`]) and the totals of each side. Everything else an output
//! shows — the txn id itself, amounts, customer, times, line number,
//! reference — is fetched back by address.

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
/// statement's providers, the only entries that take part. Provider and
/// currency are held as dictionaries, as the statement's are
/// ([`crate::schema::few_strings_type`]).
pub fn ledger_scope(providers: &[String]) -> String {
    let scope: Vec<String> = providers.iter().map(|p| literal(p)).collect();
    format!(
        "SELECT provider_txn_id, arrow_cast(provider, 'Dictionary(UInt16, Utf8)') AS provider,
  customer_id, amount, arrow_cast(currency, 'Dictionary(UInt16, Utf8)') AS currency, at
FROM ledger
WHERE kind IN ('payment', 'reversal') AND provider IN ({})",
        scope.join(", ")
    )
}

/// The `grouped` table: per txn key, each side's count and first row.
pub const GROUPED: &str = "SELECT key,
  count(l_addr) AS ledger_count, min(l_addr) AS l_addr,
  count(s_addr) AS statement_count, min(s_addr) AS s_addr
FROM (
  SELECT txn_key(provider_txn_id) AS key, addr AS l_addr, CAST(NULL AS INT UNSIGNED) AS s_addr
  FROM ledger_scope
  UNION ALL
  SELECT txn_key(txn_id), CAST(NULL AS INT UNSIGNED), addr
  FROM statement WHERE kind IN ('payment', 'reversal')
)
GROUP BY key";

/// A keyed row's txn id, fetched from either side's first row.
pub const TXN_ID: &str = "coalesce(ledger_provider_txn_id(l_addr), statement_txn_id(s_addr))";

/// Keys with more than one row on a side.
pub const DUPLICATE_KEYS: &str =
    "SELECT key FROM grouped WHERE ledger_count > 1 OR statement_count > 1";

/// Two ids that share a key (see [`crate::udf::txn_key`]; packed keys
/// cannot) as `first_id`, `second_id`: a hashed key whose two sides' first
/// rows are different ids. Clashes within one side show in
/// [`DUPLICATE_CLASHES`].
pub const KEY_CLASHES: &str =
    "SELECT least(l_id, s_id) AS first_id, greatest(l_id, s_id) AS second_id
FROM (
  SELECT ledger_provider_txn_id(l_addr) AS l_id, statement_txn_id(s_addr) AS s_id
  FROM grouped WHERE hashed_key(key) AND ledger_count > 0 AND statement_count > 0
)
WHERE l_id <> s_id
LIMIT 1";

/// Two ids that share a duplicated key: `duplicates` has a row per id.
pub const DUPLICATE_CLASHES: &str = "SELECT min(txn_id) AS first_id, max(txn_id) AS second_id
FROM duplicates GROUP BY key HAVING count(*) > 1
LIMIT 1";

/// The `duplicates` table: for the [`DUPLICATE_KEYS`] (those for which
/// `duplicate_key(key)` is not NULL), each txn id's smallest and largest
/// money key and totals on each side. One row per duplicate key, unless
/// two ids share a key: the job checks.
pub const DUPLICATES: &str = "SELECT txn_key(txn_id) AS key, txn_id,
  min(l_key) AS l_key_min, max(l_key) AS l_key_max, sum(l_amount) AS ledger_total,
  min(s_key) AS s_key_min, max(s_key) AS s_key_max, sum(s_amount) AS statement_total,
  sum(s_fee) AS statement_fees
FROM (
  SELECT provider_txn_id AS txn_id, money_key(amount, currency) AS l_key, amount AS l_amount,
         CAST(NULL AS DECIMAL(38, 0)) AS s_key, CAST(NULL AS DECIMAL(18, 4)) AS s_amount,
         CAST(NULL AS DECIMAL(18, 4)) AS s_fee
  FROM ledger_scope WHERE duplicate_key(txn_key(provider_txn_id)) IS NOT NULL
  UNION ALL
  SELECT txn_id, CAST(NULL AS DECIMAL(38, 0)), CAST(NULL AS DECIMAL(18, 4)),
         money_key(amount, currency), amount, fee
  FROM statement
  WHERE kind IN ('payment', 'reversal') AND duplicate_key(txn_key(txn_id)) IS NOT NULL
)
GROUP BY txn_id";

/// The `keyed` table: one row per txn key with each side's count and
/// first row, and its `status` (`matched` or a pair exception), a
/// dictionary of a few texts: one byte a row, where text took eleven. The
/// grouped columns are shared, not copied. A duplicated key's row in
/// `duplicates` is looked up again where it is needed (`duplicate_row(key)`)
/// rather than stored: it is NULL for almost every key.
///
/// A side of one row is compared on its amount and currency. A side of
/// several is compared on its smallest and largest money key: the pair
/// matches when both agree, so a duplicate booked at another amount is an
/// `amount_mismatch` too.
pub const KEYED: &str = "SELECT key, ledger_count, l_addr, statement_count, s_addr,
  arrow_cast(CASE
    WHEN ledger_count = 0 THEN 'missing_in_ledger'
    WHEN statement_count = 0 THEN 'missing_in_statement'
    WHEN d_addr IS NULL THEN CASE
      WHEN ledger_currency(l_addr) <> statement_currency(s_addr) THEN 'currency_mismatch'
      WHEN ledger_amount(l_addr) <> statement_amount(s_addr) THEN 'amount_mismatch'
      ELSE 'matched'
    END
    WHEN money_currency(dup_l_key_min(d_addr)) <> money_currency(dup_s_key_min(d_addr))
      OR money_currency(dup_l_key_max(d_addr)) <> money_currency(dup_s_key_max(d_addr))
      THEN 'currency_mismatch'
    WHEN dup_l_key_min(d_addr) <> dup_s_key_min(d_addr)
      OR dup_l_key_max(d_addr) <> dup_s_key_max(d_addr) THEN 'amount_mismatch'
    ELSE 'matched'
  END, 'Dictionary(UInt8, Utf8)') AS status
FROM (SELECT *, duplicate_row(key) AS d_addr FROM grouped)";

/// The classification's output queries for one statement: `label`, when
/// set, is the provider name both sides report under (`mpesa` covers
/// `mpesa_c2b` and `mpesa_stk`), else the ledger's provider (`generic` for
/// ids only the statement has).
#[derive(Clone, Debug)]
pub struct Queries {
    /// SQL for a keyed row's provider.
    provider: String,
}

/// Microseconds in a day.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A keyed row's payment id: the ledger's provider and the txn id.
const PAYMENT_ID: &str = "ledger_provider(l_addr) || ':' || ledger_provider_txn_id(l_addr)";

/// The `keyed` table with each key's row in `duplicates` as `d_addr`
/// (NULL for almost every key), looked up once per row for the totals
/// below.
const KEYED_WITH_DUPLICATES: &str = "(SELECT *, duplicate_row(key) AS d_addr FROM keyed)";

/// A keyed row's side totals and fees: the duplicates' sums, or the one
/// row's amount.
const LEDGER_TOTAL: &str = "coalesce(dup_ledger_total(d_addr), ledger_amount(l_addr))";
const STATEMENT_TOTAL: &str = "coalesce(dup_statement_total(d_addr), statement_amount(s_addr))";
const STATEMENT_FEES: &str = "coalesce(dup_statement_fees(d_addr), statement_fee(s_addr))";

impl Queries {
    /// The queries for a statement reported under `label`.
    pub fn new(label: Option<&str>) -> Self {
        let provider = label.map_or_else(
            || "coalesce(ledger_provider(l_addr), 'generic')".to_string(),
            literal,
        );
        Queries { provider }
    }

    /// `matched.parquet`: one row per paired payment.
    pub fn matched(&self) -> String {
        format!(
            "SELECT {provider} AS provider, {TXN_ID} AS txn_id, {PAYMENT_ID} AS payment_id,
  ledger_customer_id(l_addr) AS customer_id,
  ledger_amount(l_addr) AS amount, ledger_currency(l_addr) AS currency,
  ledger_at(l_addr) AS ledger_at, statement_completed_at(s_addr) AS statement_at,
  statement_line(s_addr) AS statement_line,
  CAST({STATEMENT_FEES} AS DECIMAL(38, 4)) AS fee
FROM {KEYED_WITH_DUPLICATES} WHERE status = 'matched'",
            provider = self.provider
        )
    }

    /// `exceptions`: one row per exception; an id can carry a pair
    /// exception and duplicate exceptions on either side. Amounts, times
    /// and line are each side's first row's.
    pub fn exceptions(&self) -> String {
        format!(
            "WITH e AS (
  SELECT arrow_cast(status, 'Utf8') AS kind, * FROM keyed WHERE status <> 'matched'
  UNION ALL
  SELECT 'duplicate_in_ledger' AS kind, * FROM keyed WHERE ledger_count > 1
  UNION ALL
  SELECT 'duplicate_in_statement' AS kind, * FROM keyed WHERE statement_count > 1
)
SELECT kind, {provider} AS provider, {TXN_ID} AS txn_id, {PAYMENT_ID} AS payment_id,
  ledger_customer_id(l_addr) AS customer_id,
  ledger_count, ledger_amount(l_addr) AS ledger_amount,
  ledger_currency(l_addr) AS ledger_currency, ledger_at(l_addr) AS ledger_at,
  statement_count, statement_line(s_addr) AS statement_line,
  statement_amount(s_addr) AS statement_amount,
  statement_currency(s_addr) AS statement_currency,
  statement_completed_at(s_addr) AS statement_at,
  CAST(statement_amount(s_addr) - ledger_amount(l_addr) AS DECIMAL(19, 4)) AS difference,
  statement_reference(s_addr) AS reference, statement_counterparty(s_addr) AS counterparty
FROM e
ORDER BY provider, txn_id, kind",
            provider = self.provider
        )
    }

    /// Per provider, day and currency: counts and totals of both sides and
    /// of each outcome.
    pub fn by_day(&self) -> String {
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
        // The day is whole UTC days since 1970: integer division, where a
        // cast to DATE converted every time through its time zone.
        format!(
            "SELECT provider, to_char(to_timestamp_micros(day * {MICROS_PER_DAY}), '%Y-%m-%d') AS day,
  currency_name(code) AS currency, * EXCLUDE (provider, day, code)
FROM (SELECT {provider} AS provider,
  arrow_cast(coalesce(statement_completed_at(s_addr), ledger_at(l_addr)), 'Int64') / {MICROS_PER_DAY} AS day,
  currency_code(coalesce(statement_currency(s_addr), ledger_currency(l_addr))) AS code,
  CAST(sum(statement_count) AS BIGINT) AS statement_lines,
  CAST(coalesce(sum({STATEMENT_TOTAL}), 0) AS DECIMAL(38, 4)) AS statement_gross,
  CAST(coalesce(sum({STATEMENT_FEES}), 0) AS DECIMAL(38, 4)) AS statement_fees,
  CAST(sum(ledger_count) AS BIGINT) AS ledger_entries,
  CAST(coalesce(sum({LEDGER_TOTAL}), 0) AS DECIMAL(38, 4)) AS ledger_total,
  CAST(sum(CASE WHEN ledger_count > 1 THEN 1 ELSE 0 END) AS BIGINT) AS duplicate_in_ledger,
  CAST(sum(CASE WHEN statement_count > 1 THEN 1 ELSE 0 END) AS BIGINT) AS duplicate_in_statement{kinds}
FROM {KEYED_WITH_DUPLICATES} GROUP BY 1, 2, 3)",
            provider = self.provider
        )
    }
}

/// Statement lines the ledger lacks, in file order (`--replay-missing`):
/// each id's first line, fetched back by address.
pub const MISSING_IN_LEDGER: &str = "SELECT statement_provider(s_addr) AS provider,
  statement_txn_id(s_addr) AS txn_id,
  statement_kind(s_addr) AS kind, statement_amount(s_addr) AS amount, statement_fee(s_addr) AS fee,
  statement_currency(s_addr) AS currency, statement_completed_at(s_addr) AS completed_at,
  statement_reference(s_addr) AS reference, statement_counterparty(s_addr) AS counterparty
FROM keyed WHERE status = 'missing_in_ledger' ORDER BY s_addr";

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
        assert!(Queries::new(Some("mpesa"))
            .matched()
            .contains("'mpesa' AS provider"));
        assert!(Queries::new(None)
            .by_day()
            .contains("coalesce(ledger_provider(l_addr), 'generic') AS provider"));
        let scope = ledger_scope(&["mpesa_c2b".into(), "o'x".into()]);
        assert!(scope.contains("provider IN ('mpesa_c2b', 'o''x')"));
    }
}
