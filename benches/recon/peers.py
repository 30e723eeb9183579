"""The reconciliation peers: the same classification as `paymatch reconcile`
(ledger Parquet against a generic statement CSV), in DuckDB and in pandas,
on the same files, writing the same outputs (matched.parquet,
exceptions.parquet). Run by benches/recon/run.sh; prints one JSON line with
the exception counts so the runs can be checked against each other.

usage: peers.py duckdb|pandas LEDGER STATEMENT OUT
"""
import json
import os
import sys

KINDS = ["missing_in_ledger", "missing_in_statement", "amount_mismatch",
         "currency_mismatch", "duplicate_in_ledger", "duplicate_in_statement"]
SCOPE = ("generic", "mtn_momo", "airtel_money")


def run_duckdb(ledger, statement, out):
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count()}")
    scope = ", ".join(f"'{p}'" for p in SCOPE)
    con.execute(f"""
CREATE TEMP TABLE keyed AS
WITH sides AS (
  SELECT split_part(payment_id, ':', 2) AS txn_id, provider AS l_provider, NULL::VARCHAR AS s_provider,
         payment_id, customer_id, amount::DECIMAL(18,4) AS l_amount, currency AS l_currency, "at" AS l_at, 1 AS l_n,
         NULL::UBIGINT AS s_line, NULL::DECIMAL(18,4) AS s_amount, NULL::VARCHAR AS s_currency,
         NULL::TIMESTAMPTZ AS s_at, NULL::VARCHAR AS reference, NULL::VARCHAR AS counterparty, 0 AS s_n
  FROM read_parquet('{ledger}')
  WHERE kind IN ('payment', 'reversal') AND provider IN ({scope})
  UNION ALL
  SELECT txn_id, NULL, 'generic', NULL, NULL, NULL, NULL, NULL, 0,
         NULL, amount, currency, completed_at, reference, counterparty, 1
  FROM read_csv('{statement}', header = true, columns = {{
    'txn_id': 'VARCHAR', 'amount': 'DECIMAL(18,4)', 'currency': 'VARCHAR',
    'completed_at': 'TIMESTAMPTZ', 'reference': 'VARCHAR', 'counterparty': 'VARCHAR'}})
), grouped AS (
  SELECT txn_id, coalesce(min(l_provider), min(s_provider)) AS provider,
         min(payment_id) AS payment_id, min(customer_id) AS customer_id,
         sum(l_n) AS ledger_count, min(l_amount) AS ledger_amount, max(l_amount) AS ledger_amount_max,
         min(l_currency) AS ledger_currency, max(l_currency) AS ledger_currency_max, min(l_at) AS ledger_at,
         sum(s_n) AS statement_count, min(s_amount) AS statement_amount, max(s_amount) AS statement_amount_max,
         min(s_currency) AS statement_currency, max(s_currency) AS statement_currency_max,
         min(s_at) AS statement_at, min(reference) AS reference, min(counterparty) AS counterparty
  FROM sides GROUP BY txn_id
)
SELECT *, CASE
    WHEN ledger_count = 0 THEN 'missing_in_ledger'
    WHEN statement_count = 0 THEN 'missing_in_statement'
    WHEN ledger_currency <> statement_currency OR ledger_currency_max <> statement_currency_max THEN 'currency_mismatch'
    WHEN ledger_amount <> statement_amount OR ledger_amount_max <> statement_amount_max THEN 'amount_mismatch'
    ELSE 'matched' END AS status
FROM grouped
""")
    con.execute(f"""COPY (SELECT provider, txn_id, payment_id, customer_id, ledger_amount AS amount,
        ledger_currency AS currency, ledger_at, statement_at, reference, counterparty
        FROM keyed WHERE status = 'matched') TO '{out}/matched.parquet' (FORMAT parquet)""")
    cols = """provider, txn_id, payment_id, customer_id, ledger_count, ledger_amount, ledger_currency,
        ledger_at, statement_count, statement_amount, statement_currency, statement_at,
        statement_amount - ledger_amount AS difference, reference, counterparty"""
    con.execute(f"""COPY (SELECT * FROM (
        SELECT status AS kind, {cols} FROM keyed WHERE status <> 'matched'
        UNION ALL SELECT 'duplicate_in_ledger', {cols} FROM keyed WHERE ledger_count > 1
        UNION ALL SELECT 'duplicate_in_statement', {cols} FROM keyed WHERE statement_count > 1
      ) ORDER BY provider, txn_id, kind) TO '{out}/exceptions.parquet' (FORMAT parquet)""")
    rows = con.execute(f"SELECT kind, count(*) FROM read_parquet('{out}/exceptions.parquet') GROUP BY kind").fetchall()
    matched = con.execute(f"SELECT count(*) FROM read_parquet('{out}/matched.parquet')").fetchone()[0]
    return matched, dict(rows)


def run_pandas(ledger, statement, out):
    import numpy as np
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(ledger, columns=["payment_id", "customer_id", "kind", "amount",
                                           "currency", "at", "provider", "provider_txn_id"])
    # Amounts as integer ten-thousandths (exact for amounts below 2^53 / 10^4).
    import pyarrow as pa
    units = pc.cast(pc.round(pc.multiply(pc.cast(table["amount"], pa.float64()), 10000)), pa.int64())
    l = table.drop(["amount"]).append_column("amount", units).to_pandas()
    l = l[l["kind"].isin(["payment", "reversal"]) & l["provider"].isin(SCOPE)]
    s = pd.read_csv(statement, dtype={"txn_id": str, "amount": str, "currency": str,
                                      "reference": str, "counterparty": str})
    parts = s["amount"].str.partition(".")
    whole, frac = parts[0], parts[2]
    frac = frac.str.ljust(4, "0").str[:4]
    sign = np.where(whole.str.startswith("-"), -1, 1)
    s["amount"] = whole.astype("int64") * 10000 + sign * frac.astype("int64")
    s["completed_at"] = pd.to_datetime(s["completed_at"], utc=True)

    lg = l.groupby("provider_txn_id", sort=False).agg(
        provider=("provider", "min"), payment_id=("payment_id", "min"), customer_id=("customer_id", "min"),
        ledger_count=("amount", "size"), ledger_amount=("amount", "min"), ledger_amount_max=("amount", "max"),
        ledger_currency=("currency", "min"), ledger_currency_max=("currency", "max"), ledger_at=("at", "min"))
    sg = s.groupby("txn_id", sort=False).agg(
        statement_count=("amount", "size"), statement_amount=("amount", "min"),
        statement_amount_max=("amount", "max"), statement_currency=("currency", "min"),
        statement_currency_max=("currency", "max"), statement_at=("completed_at", "min"),
        reference=("reference", "min"), counterparty=("counterparty", "min"))
    k = lg.join(sg, how="outer")
    k.index.name = "txn_id"
    k = k.reset_index()
    k["provider"] = k["provider"].fillna("generic")
    k["ledger_count"] = k["ledger_count"].fillna(0).astype("int64")
    k["statement_count"] = k["statement_count"].fillna(0).astype("int64")
    k["status"] = np.select(
        [k["ledger_count"] == 0, k["statement_count"] == 0,
         (k["ledger_currency"] != k["statement_currency"]) | (k["ledger_currency_max"] != k["statement_currency_max"]),
         (k["ledger_amount"] != k["statement_amount"]) | (k["ledger_amount_max"] != k["statement_amount_max"])],
        ["missing_in_ledger", "missing_in_statement", "currency_mismatch", "amount_mismatch"],
        default="matched")
    matched = k[k["status"] == "matched"]
    matched[["provider", "txn_id", "payment_id", "customer_id", "ledger_amount", "ledger_currency",
             "ledger_at", "statement_at", "reference", "counterparty"]].to_parquet(f"{out}/matched.parquet")
    ex = pd.concat([
        k[k["status"] != "matched"].assign(kind=lambda d: d["status"]),
        k[k["ledger_count"] > 1].assign(kind="duplicate_in_ledger"),
        k[k["statement_count"] > 1].assign(kind="duplicate_in_statement"),
    ]).sort_values(["provider", "txn_id", "kind"])
    ex["difference"] = ex["statement_amount"] - ex["ledger_amount"]
    ex.drop(columns=["status"]).to_parquet(f"{out}/exceptions.parquet")
    return len(matched), ex["kind"].value_counts().to_dict()


def main():
    engine, ledger, statement, out = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    matched, counts = (run_duckdb if engine == "duckdb" else run_pandas)(ledger, statement, out)
    print(json.dumps({"engine": engine, "matched": matched,
                      "exceptions": {k: int(counts.get(k, 0)) for k in KINDS}}))


if __name__ == "__main__":
    main()
