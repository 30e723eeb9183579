//! JSON Schemas of every contract record, generated from the types so they
//! cannot drift; `paymatch schemas --out docs/schemas` writes them and a test
//! checks the committed copies are current.

use schemars::{schema_for, Schema};

use crate::records::*;

/// Every record's schema, with the file stem it is published under.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        ("payment_envelope", schema_for!(PaymentEnvelope)),
        ("customer", schema_for!(Customer)),
        ("invoice", schema_for!(Invoice)),
        ("decision", schema_for!(Decision)),
        ("access_command", schema_for!(AccessCommand)),
        ("access_result", schema_for!(AccessResult)),
        ("ledger_entry", schema_for!(LedgerEntry)),
        ("dead_letter", schema_for!(DeadLetter)),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schemas_are_current() {
        // The directory at run time, not at build time: the shared target
        // directory may hold this binary built from another checkout.
        let dir = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("../docs/schemas");
        for (name, schema) in super::all() {
            let path = dir.join(format!("{name}.schema.json"));
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            let current = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            assert!(
                committed == current,
                "{} is stale: run `paymatch schemas --out docs/schemas`",
                path.display()
            );
        }
    }
}
