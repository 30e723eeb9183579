"""Reads a reconcile output directory with pyarrow and with DuckDB, and
prints `matched,exceptions,ledger` row counts (the snapshot under ledger/
read as a Hive-partitioned dataset). Exits non-zero when the engines
disagree or a file cannot be read."""
import sys

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq

out = sys.argv[1]
arrow_counts = (
    pq.read_table(f"{out}/matched.parquet").num_rows,
    pq.read_table(f"{out}/exceptions.parquet").num_rows,
    ds.dataset(f"{out}/ledger", format="parquet", partitioning="hive").to_table().num_rows,
)
con = duckdb.connect()
duck_counts = (
    con.execute(f"SELECT count(*) FROM '{out}/matched.parquet'").fetchone()[0],
    con.execute(f"SELECT count(*) FROM '{out}/exceptions.parquet'").fetchone()[0],
    con.execute(f"SELECT count(*) FROM read_parquet('{out}/ledger/*/*.parquet', hive_partitioning = true)").fetchone()[0],
)
# Decimal amounts and UTC times survive the trip.
kinds = con.execute(f"SELECT DISTINCT kind FROM '{out}/exceptions.parquet'").fetchall()
types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{out}/matched.parquet')").fetchall())
assert types["amount"].startswith("DECIMAL"), types
assert types["ledger_at"].startswith("TIMESTAMP"), types
assert kinds, "exceptions were injected"
if arrow_counts != duck_counts:
    sys.exit(f"pyarrow {arrow_counts} != duckdb {duck_counts}")
print(",".join(str(n) for n in arrow_counts))
