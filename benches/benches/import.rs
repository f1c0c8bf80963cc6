//! Importing a party's member list: 2000 rows (16 Landesverbände, Windows-1252, `;`),
//! parsed, compared with the stored members and applied in one transaction to a SQLite
//! file, as `plenum_directory::import_members` does for an admin. Target (issue 13):
//! under 2 s for 2000 rows. `cargo bench -p plenum-benches --bench import`.
#![allow(clippy::unwrap_used)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use plenum_directory::import_members;
use plenum_signalling::org::Unit;
use plenum_signalling::storage::{OrgStore, SqliteStore};

const ROWS: usize = 2000;
const LANDESVERBAENDE: usize = 16;

fn units() -> Vec<Unit> {
    let mut units = vec![Unit {
        id: "bv".into(),
        name: "Bundesverband".into(),
        parent: None,
    }];
    for i in 0..LANDESVERBAENDE {
        units.push(Unit {
            id: format!("lv-{i:02}"),
            name: format!("Landesverband {i:02}"),
            parent: Some("bv".into()),
        });
    }
    units
}

fn member_list() -> Vec<u8> {
    let mut text =
        String::from("Mitgliedsnummer;Vorname;Nachname;Gliederung;E-Mail;Telefon;Gruppen\r\n");
    for i in 0..ROWS {
        text.push_str(&format!(
            "{};Jürgen;\"Müller-Weiß {i}\";Landesverband {:02};m{i}@example.org;+49 30 {i:06};Delegierte LV {:02}\r\n",
            100_000 + i,
            i % LANDESVERBAENDE,
            i % LANDESVERBAENDE
        ));
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn fresh_store(dir: &std::path::Path, n: usize) -> SqliteStore {
    let path = dir.join(format!("bench-{n}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = SqliteStore::open(&path).unwrap();
    for u in units() {
        store.put_unit(&u).unwrap();
    }
    store
}

fn bench(c: &mut Criterion) {
    let file = member_list();
    let dir = std::env::temp_dir().join(format!("plenum-bench-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut g = c.benchmark_group("import");
    g.sample_size(10);
    let mut n = 0;
    g.bench_function("2000 new members into a SQLite file", |b| {
        b.iter_batched(
            || {
                n += 1;
                fresh_store(&dir, n)
            },
            |store| {
                let plan = import_members(&store, &file, "bv", false).unwrap();
                assert_eq!(plan.new.len(), ROWS);
            },
            BatchSize::PerIteration,
        )
    });
    let store = fresh_store(&dir, 0);
    import_members(&store, &file, "bv", false).unwrap();
    g.bench_function("2000 members re-imported (dry run, all unchanged)", |b| {
        b.iter(|| {
            let plan = import_members(&store, &file, "bv", true).unwrap();
            assert_eq!(plan.unchanged, ROWS);
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
