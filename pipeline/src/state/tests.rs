//! The state tables' write-behind, changelog and memory, against an
//! in-memory store that counts its reads.

use super::*;
use matchers::store::MemoryStore;

#[test]
fn changes_carry_the_last_value_of_each_key_and_restore_rebuilds_the_table() {
    let store = Arc::new(MemoryStore::new());
    let mut table: StateTable<u32> = StateTable::new(store.clone(), Table::State);
    table.track_changes();
    table.put("C1", 1);
    table.put("C2", 2);
    table.put("C1", 3);
    table.set_partition(3);
    table.put("C4", 4);
    let changes = table.take_changes();
    let change = |key: &str, partition: i32, value: &[u8]| Change {
        partition,
        key: key.to_string(),
        value: value.to_vec(),
    };
    assert_eq!(
        changes,
        vec![
            change("C1", 0, b"3"),
            change("C2", 0, b"2"),
            change("C4", 3, b"4")
        ]
    );
    assert!(table.take_changes().is_empty());
    table.discard();
    assert_eq!(table.get("C1").unwrap(), None);
    let records: Vec<_> = changes
        .into_iter()
        .map(|c| (c.key.into_bytes(), Some(c.value)))
        .collect();
    table.restore(&records).unwrap();
    assert_eq!(table.get("C1").unwrap(), Some(3));
    table.restore(&[(b"C1".to_vec(), None)]).unwrap();
    assert_eq!(table.get("C1").unwrap(), None);
}

#[test]
fn without_tracking_puts_flush_but_list_no_changes() {
    let store = Arc::new(MemoryStore::new());
    let mut table: StateTable<u32> = StateTable::new(store.clone(), Table::State);
    table.put("C1", 1);
    assert!(table.take_changes().is_empty());
    table.flush().unwrap();
    assert_eq!(table.get("C1").unwrap(), Some(1));
    let fresh: StateTable<u32> = StateTable::new(store, Table::State);
    assert_eq!(fresh.get("C1").unwrap(), Some(1));
}

/// A table over a store that counts its reads.
fn counted_table() -> (Arc<matchers::store::CountingStore>, StateTable<u32>) {
    let store = Arc::new(matchers::store::CountingStore::new(Arc::new(
        MemoryStore::new(),
    )));
    let mut table = StateTable::new(store.clone(), Table::State);
    table.track_changes();
    (store, table)
}

/// Commits what the table changed, as the Kafka mode does after a
/// transaction.
fn commit_changes(table: &mut StateTable<u32>) {
    let changes = table.take_changes();
    commit_changes_of(table, changes);
}

/// Commits `changes`, taken from the table already.
fn commit_changes_of(table: &mut StateTable<u32>, changes: Vec<Change>) {
    let changes = changes
        .into_iter()
        .map(|c| (c.key.into_bytes(), Some(c.value)))
        .collect();
    table.commit_local(changes).unwrap();
}

#[test]
fn an_entry_changes_a_value_in_place_as_a_get_and_a_put_would() {
    let (store, mut table) = counted_table();
    // Missing: the default, changed, and counted as put.
    *table.entry("C1").unwrap() += 5;
    assert_eq!(table.get("C1").unwrap(), Some(5));
    // Pending: changed where it lies, with no store read.
    let reads = store.gets();
    *table.entry("C1").unwrap() += 1;
    assert_eq!(store.gets(), reads);
    assert_eq!(table.get("C1").unwrap(), Some(6));
    let changes = table.take_changes();
    assert_eq!(changes.len(), 1, "one change per key");
    assert_eq!(
        (changes[0].key.as_str(), &changes[0].value[..]),
        ("C1", &b"6"[..])
    );
    commit_changes_of(&mut table, changes);
    // Committed: read from memory, changed, and a change again.
    *table.entry("C1").unwrap() *= 2;
    assert_eq!(table.get("C1").unwrap(), Some(12));
    assert_eq!(table.take_changes()[0].value, b"12");
    // From the store alone, for a fresh table (a restart).
    table.flush().unwrap();
    let mut fresh: StateTable<u32> = StateTable::new(store.clone(), Table::State);
    *fresh.entry("C1").unwrap() += 1;
    assert_eq!(fresh.get("C1").unwrap(), Some(13));
    // Left untouched, an entry is still a put of the value it read.
    let (_, mut other) = counted_table();
    other.put("C2", 7);
    commit_changes(&mut other);
    let _ = other.entry("C2").unwrap();
    assert_eq!(other.take_changes()[0].value, b"7");
}

#[test]
fn a_key_is_listed_once_between_takes_and_again_after_one() {
    let (_, mut table) = counted_table();
    for _ in 0..3 {
        *table.entry("C1").unwrap() += 1;
    }
    table.put("C1", 10);
    table.put("C2", 1);
    assert_eq!(table.changes.touched.len(), 2, "each key listed once");
    let first = table.take_changes();
    assert_eq!(first.len(), 2);
    // Taken but not committed: still pending, and a change again when
    // touched again (by an entry or by a put).
    *table.entry("C1").unwrap() += 1;
    table.put("C2", 2);
    let again = table.take_changes();
    let values: Vec<_> = again
        .iter()
        .map(|c| (c.key.as_str(), &c.value[..]))
        .collect();
    assert_eq!(values, [("C1", &b"11"[..]), ("C2", &b"2"[..])]);
    assert!(table.take_changes().is_empty());
    // After an abort nothing is pending or listed.
    *table.entry("C3").unwrap() += 1;
    table.discard();
    assert!(table.take_changes().is_empty());
}

#[test]
fn committed_values_are_read_from_memory() {
    let (store, mut table) = counted_table();
    table.put("C1", 1);
    table.put("C1", 2);
    table.put("C2", 3);
    commit_changes(&mut table);
    assert_eq!(table.pending(), 0);
    let reads = store.gets();
    assert_eq!(table.get("C1").unwrap(), Some(2));
    assert_eq!(table.get("C2").unwrap(), Some(3));
    assert_eq!(store.gets(), reads, "read from memory");
    // And the store has them, for a restart.
    let fresh: StateTable<u32> = StateTable::new(store.clone(), Table::State);
    assert_eq!(fresh.get("C1").unwrap(), Some(2));
    assert!(store.gets() > reads);
}

#[test]
fn background_writes_land_and_never_overwrite_a_later_restore() {
    let (store, mut table) = counted_table();
    table.write_in_background("test-state").unwrap();
    let commit = |table: &mut StateTable<u32>, key: &str, value: u32| {
        table.put(key, value);
        commit_changes(table);
    };
    for v in 1..=20 {
        commit(&mut table, "C1", v);
    }
    assert_eq!(table.get("C1").unwrap(), Some(20), "from memory at once");
    // A restore waits for the queued writes: none of them lands after it.
    table
        .restore(&[(b"C1".to_vec(), Some(b"7".to_vec()))])
        .unwrap();
    assert_eq!(table.get("C1").unwrap(), Some(7));
    commit(&mut table, "C2", 9);
    table.written().unwrap();
    let fresh: StateTable<u32> = StateTable::new(store.clone(), Table::State);
    assert_eq!(fresh.get("C1").unwrap(), Some(7));
    assert_eq!(fresh.get("C2").unwrap(), Some(9));
}

/// A store whose writes take a while, as a busy disk's do.
struct SlowStore(MemoryStore);

impl KvStore for SlowStore {
    fn get(&self, table: Table, key: &[u8]) -> matchers::Result<Option<Vec<u8>>> {
        self.0.get(table, key)
    }
    fn write(&self, batch: Batch) -> matchers::Result<()> {
        std::thread::sleep(std::time::Duration::from_millis(300));
        self.0.write(batch)
    }
    fn scan_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> matchers::Result<()> {
        self.0.scan_prefix(table, prefix, visit)
    }
}

#[test]
fn the_memory_forgets_only_what_the_background_wrote() {
    let mut table: StateTable<u32> =
        StateTable::new(Arc::new(SlowStore(MemoryStore::new())), Table::State);
    table.track_changes();
    table.write_in_background("test-state").unwrap();
    // One transaction with enough keys to turn the recent generations
    // over twice: its first keys leave the memory at once, so their
    // slow write must have landed first.
    let keys = RECENT_PER_GENERATION * 2 + 10;
    for i in 0..keys {
        table.put(&i.to_string(), i as u32);
    }
    commit_changes(&mut table);
    for i in 0..keys {
        assert_eq!(table.get(&i.to_string()).unwrap(), Some(i as u32));
    }
}

#[test]
fn flushed_values_are_read_from_memory_and_restores_replace_them() {
    let (store, mut table) = counted_table();
    table.put("C1", 1);
    table.flush().unwrap();
    let reads = store.gets();
    assert_eq!(table.get("C1").unwrap(), Some(1));
    assert_eq!(store.gets(), reads, "read from memory");
    // A value that came back from the changelog wins over the memory.
    table
        .restore(&[(b"C1".to_vec(), Some(b"7".to_vec()))])
        .unwrap();
    assert_eq!(table.get("C1").unwrap(), Some(7));
}

#[test]
fn the_memory_is_bounded() {
    let mut recent = Recent::default();
    for i in 0..RECENT_PER_GENERATION * 3 {
        recent.insert(Key::new(&i.to_string()), i);
    }
    assert!(recent.young.len() + recent.old.len() <= 2 * RECENT_PER_GENERATION);
    let last = RECENT_PER_GENERATION * 3 - 1;
    assert_eq!(recent.get(&last.to_string()), Some(&last));
    assert_eq!(recent.get("0"), None);
}
