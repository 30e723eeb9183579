use matchers::store::{KvStore, MemoryStore};
use model::{Currency, Outcome};
use rust_decimal::Decimal;

use super::block::BLOCK_ENTRIES;
use super::*;

fn seen(customer: usize) -> Seen {
    Seen {
        outcome: Outcome::Matched,
        customer_id: Some(format!("C{customer:06}")),
        amount: Decimal::new(150_000 + customer as i64, 2),
        currency: Currency::KES,
    }
}

fn id(i: usize) -> String {
    format!("mpesa_c2b:RK{i:08}")
}

fn at(partition: i32, offset: i64) -> Option<Source> {
    Some(Source { partition, offset })
}

#[test]
fn entries_are_found_open_written_and_after_a_restart() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut dedupe = Dedupe::load(store.clone()).unwrap();
    let n = BLOCK_ENTRIES * 3 + 17;
    for i in 0..n {
        assert_eq!(dedupe.get(&id(i)).unwrap(), None);
        dedupe.record(None, &id(i), &seen(i));
        // Found at once, in the open block (a redelivery seconds later).
        assert_eq!(dedupe.get(&id(i)).unwrap(), Some(seen(i)));
    }
    dedupe.flush().unwrap();
    assert_eq!(dedupe.len(), n);
    assert_eq!(dedupe.get(&id(5)).unwrap(), Some(seen(5)));
    // Four blocks, one stored value each.
    let mut keys = Vec::new();
    store
        .scan_prefix(Table::Dedupe, b"", &mut |k, _| {
            keys.push(String::from_utf8_lossy(k).into_owned());
            true
        })
        .unwrap();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("#e/")));

    // A restart reads them back; new blocks never overwrite old ones.
    let mut again = Dedupe::load(store.clone()).unwrap();
    assert_eq!(again.len(), n);
    for i in [0, BLOCK_ENTRIES, n - 1] {
        assert_eq!(again.get(&id(i)).unwrap(), Some(seen(i)));
    }
    assert_eq!(again.get(&id(n)).unwrap(), None);
    again.record(None, &id(n), &seen(n));
    again.flush().unwrap();
    let third = Dedupe::load(store).unwrap();
    assert_eq!(third.len(), n + 1);
}

#[test]
fn reads_beyond_the_cached_blocks_come_from_the_store() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut dedupe = Dedupe::load(store).unwrap();
    let budget = 200 << 10;
    dedupe.hold_recent(budget);
    let n = BLOCK_ENTRIES * 40;
    for i in 0..n {
        dedupe.record(None, &id(i), &seen(i % 1000));
        if i % 4096 == 4095 {
            dedupe.flush().unwrap();
        }
    }
    dedupe.flush().unwrap();
    assert!(dedupe.cached_bytes <= budget);
    assert!(dedupe.cached.len() < 40);
    assert!(matches!(dedupe.blocks[0].state, State::Stored(None)));
    assert_eq!(dedupe.get(&id(0)).unwrap(), Some(seen(0)));
    assert_eq!(dedupe.get(&id(n - 1)).unwrap(), Some(seen((n - 1) % 1000)));
}

#[test]
fn kafka_blocks_follow_partitions_commits_and_aborts() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut dedupe = Dedupe::load(store.clone()).unwrap();
    dedupe.record(at(0, 10), &id(1), &seen(1));
    dedupe.record(at(1, 40), &id(2), &seen(2));
    dedupe.record(at(0, 11), &id(3), &seen(3));
    let changes = dedupe.take_changes();
    let mut keyed: Vec<(i32, &str)> = changes
        .iter()
        .map(|c| (c.partition, c.key.as_str()))
        .collect();
    keyed.sort();
    assert_eq!(
        keyed,
        [
            (0, "#0/00000000000000000010"),
            (1, "#1/00000000000000000040")
        ]
    );
    // Until the commit they are read from memory, and not in the store.
    assert_eq!(dedupe.get(&id(3)).unwrap(), Some(seen(3)));
    assert!(store
        .get(Table::Dedupe, changes[0].key.as_bytes())
        .unwrap()
        .is_none());
    let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = changes
        .iter()
        .map(|c| (c.key.clone().into_bytes(), Some(c.value.clone())))
        .collect();
    dedupe.committed().unwrap();
    assert!(store
        .get(Table::Dedupe, changes[0].key.as_bytes())
        .unwrap()
        .is_some());

    // An aborted transaction's entries never happened.
    dedupe.record(at(0, 12), &id(4), &seen(4));
    assert!(dedupe.take_changes().len() == 1);
    dedupe.discard();
    assert_eq!(dedupe.get(&id(4)).unwrap(), None);
    assert_eq!(dedupe.get(&id(1)).unwrap(), Some(seen(1)));
    // Replayed, it is recorded again.
    dedupe.record(at(0, 12), &id(4), &seen(4));
    assert_eq!(dedupe.get(&id(4)).unwrap(), Some(seen(4)));

    // Another instance rebuilds the partitions from the changelog alone;
    // reading it twice changes nothing.
    let mut other = Dedupe::load(Arc::new(MemoryStore::new())).unwrap();
    other.restore(&records).unwrap();
    other.restore(&records).unwrap();
    assert_eq!(other.len(), 3);
    for i in 1..=3 {
        assert_eq!(other.get(&id(i)).unwrap(), Some(seen(i)));
    }
    assert_eq!(other.get(&id(4)).unwrap(), None);
}

#[test]
fn a_block_discarded_locally_but_committed_is_restored() {
    // An ambiguous commit error: the driver aborts locally, yet the broker
    // committed. The changelog has the block; a restore must take it.
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut dedupe = Dedupe::load(store).unwrap();
    dedupe.record(at(2, 7), &id(1), &seen(1));
    let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = dedupe
        .take_changes()
        .into_iter()
        .map(|c| (c.key.into_bytes(), Some(c.value)))
        .collect();
    dedupe.discard();
    assert_eq!(dedupe.get(&id(1)).unwrap(), None);
    dedupe.restore(&records).unwrap();
    assert_eq!(dedupe.get(&id(1)).unwrap(), Some(seen(1)));
}

#[test]
fn entries_of_the_one_key_per_payment_layout_are_still_read() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut batch = Batch::default();
    batch.put(Table::Dedupe, id(1).into_bytes(), seen(1).encode());
    batch.put(
        Table::Dedupe,
        id(2).into_bytes(),
        serde_json::to_vec(&seen(2)).unwrap(),
    );
    store.write(batch).unwrap();
    let dedupe = Dedupe::load(store).unwrap();
    assert_eq!(dedupe.get(&id(1)).unwrap(), Some(seen(1)));
    assert_eq!(dedupe.get(&id(2)).unwrap(), Some(seen(2)));
    // And from an old changelog.
    let mut other = Dedupe::load(Arc::new(MemoryStore::new())).unwrap();
    other
        .restore(&[
            (id(3).into_bytes(), Some(seen(3).encode())),
            (id(4).into_bytes(), None),
        ])
        .unwrap();
    assert_eq!(other.get(&id(3)).unwrap(), Some(seen(3)));
    assert_eq!(other.get(&id(4)).unwrap(), None);
}

#[test]
fn ids_sharing_a_fingerprint_are_kept_apart() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut dedupe = Dedupe::load(store.clone()).unwrap();
    let f = 42;
    dedupe.record_as(None, &id(1), f, &seen(1));
    assert_eq!(dedupe.get_as(&id(2), f).unwrap(), None);
    dedupe.record_as(None, &id(2), f, &seen(2));
    for _ in 0..BLOCK_ENTRIES {
        // Push the pair's block out: both are found once it is stored.
        let n = dedupe.len();
        dedupe.record(None, &id(1000 + n), &seen(0));
    }
    dedupe.record_as(None, &id(3), f, &seen(3));
    dedupe.flush().unwrap();
    for i in 1..=3 {
        assert_eq!(dedupe.get_as(&id(i), f).unwrap(), Some(seen(i)), "{i}");
    }
    assert_eq!(dedupe.get_as(&id(4), f).unwrap(), None);
    // The same after a restart.
    let again = Dedupe::load(store).unwrap();
    for i in 1..=3 {
        assert_eq!(again.get_as(&id(i), f).unwrap(), Some(seen(i)), "{i}");
    }
}

/// The in-memory map keeps a fingerprint's top 40 bits only (`places`):
/// ids whose fingerprints differ below them are still told apart, by the
/// block's full fingerprint and id, and both found.
#[test]
fn ids_sharing_a_fingerprints_top_bits_are_kept_apart() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut dedupe = Dedupe::load(store).unwrap();
    let top = 42u64 << 24;
    dedupe.record_as(None, &id(1), top | 1, &seen(1));
    assert_eq!(dedupe.get_as(&id(2), top | 2).unwrap(), None);
    dedupe.record_as(None, &id(2), top | 2, &seen(2));
    dedupe.flush().unwrap();
    assert_eq!(dedupe.get_as(&id(1), top | 1).unwrap(), Some(seen(1)));
    assert_eq!(dedupe.get_as(&id(2), top | 2).unwrap(), Some(seen(2)));
    assert_eq!(dedupe.get_as(&id(3), top | 3).unwrap(), None);
    assert_eq!(dedupe.get_as(&id(1), top | 2).unwrap(), None);
}

#[test]
fn a_damaged_block_is_an_error_not_a_panic() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut batch = Batch::default();
    batch.put(
        Table::Dedupe,
        b"#e/00000000000000000000".to_vec(),
        vec![0xB1, 9, 0, 1],
    );
    store.write(batch).unwrap();
    assert!(Dedupe::load(store).is_err());
}

#[test]
fn recent_blocks_answer_redeliveries_from_memory_within_their_budget() {
    let counting = Arc::new(matchers::store::CountingStore::new(Arc::new(
        MemoryStore::new(),
    )));
    let mut dedupe = Dedupe::load(counting.clone()).unwrap();
    let n = BLOCK_ENTRIES * 4;
    for i in 0..n {
        dedupe.record(None, &id(i), &seen(i));
    }
    dedupe.flush().unwrap();
    let reads = counting.gets();
    for i in 0..n {
        assert_eq!(dedupe.get(&id(i)).unwrap(), Some(seen(i)));
    }
    assert_eq!(counting.gets(), reads, "four blocks fit the default budget");

    // A budget of about one and a half blocks keeps only the newest.
    dedupe.hold_recent(dedupe.cached_bytes / 4 * 3 / 2);
    assert_eq!(dedupe.cached.len(), 1);
    assert_eq!(dedupe.get(&id(n - 1)).unwrap(), Some(seen(n - 1)));
    assert_eq!(counting.gets(), reads, "the newest block is in memory");
    assert_eq!(dedupe.get(&id(0)).unwrap(), Some(seen(0)));
    assert_eq!(counting.gets(), reads + 1, "an older block is read");
}

#[test]
fn many_gets_answer_as_one_by_one() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut dedupe = Dedupe::load(store).unwrap();
    let n = BLOCK_ENTRIES + 5;
    for i in (0..n).step_by(2) {
        dedupe.record(None, &id(i), &seen(i));
    }
    dedupe.flush().unwrap();
    dedupe.record(None, &id(n + 1), &seen(n + 1));
    // Decided ids (stored and still open), undecided ones, ids not asked.
    let ids: Vec<String> = (0..n + 3).map(id).collect();
    let asked: Vec<Option<&str>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (i % 5 != 3).then_some(id.as_str()))
        .collect();
    let many = dedupe.get_many(&asked).unwrap();
    let one_by_one: Vec<Option<Seen>> = asked
        .iter()
        .map(|id| id.and_then(|id| dedupe.get(id).unwrap()))
        .collect();
    assert_eq!(many, one_by_one);
    assert!(many.iter().filter(|s| s.is_some()).count() > n / 3);
    // Not asked, though decided: no answer.
    assert!(many[8].is_none() && dedupe.get(&id(8)).unwrap().is_some());
}
