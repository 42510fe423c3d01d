//! The registry core on the in-memory store: what each command writes and
//! answers, and cursor walks across shards.

use proptest::prelude::*;

use super::apply::{apply, list, prune, Applied, Scan, PRUNE_BATCH, SCAN};
use super::command::{Change, IndexCommand, RegistryReply, AUDIT_RETENTION_MS};
use super::cursor::{merge, Cursor, Page, ShardPage};
use super::memory::MemoryStore;
use super::shard::Shard;
use crate::hash::KeyHash;
use crate::key::{ApiKey, KeyId, KeyType};
use crate::lifecycle::list::ListQuery;
use crate::lifecycle::record::KeyView;
use crate::lifecycle::request::{IssueContext, NewKey};
use crate::limits::{RateLimits, Tiers};
use crate::policy::actor::Actor;
use crate::time::Timestamp;
use crate::webhook::EventType;

const T0: u64 = 1_800_000_000_000;

fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

/// A key issued by the admin token from the create body `json`, in
/// `shard`, created at `created`.
fn view(json: &str, shard: u16, created: Timestamp) -> KeyView {
    let envs = vec!["live".parse().unwrap()];
    let ctx = IssueContext {
        environments: &envs,
        default_limits: RateLimits::DEFAULT,
        now: created,
        actor: &Actor::AdminToken,
        tiers: &Tiers::default(),
        shards: super::shard::ShardCount::ONE,
    };
    let new: NewKey = serde_json::from_str(json).unwrap();
    let (mut record, _) = new.issue(&ctx).unwrap_or_else(|e| panic!("{json}: {e:?}"));
    record.id = KeyId::generate_in(Shard::new(shard).unwrap()).unwrap();
    record.view(None, None, created)
}

fn plain(name: &str, shard: u16, created: Timestamp) -> KeyView {
    view(
        &format!(r#"{{"name":"{name}","environment":"live"}}"#),
        shard,
        created,
    )
}

fn run(store: &mut MemoryStore, command: IndexCommand, now: Timestamp) -> Applied {
    apply(command, now, store).unwrap()
}

fn issue(store: &mut MemoryStore, key: &KeyView, hash: &KeyHash) {
    let insert = IndexCommand::Insert {
        key: key.clone(),
        hashes: vec![hash.clone()],
        actor: "admin_token".into(),
    };
    run(store, insert, key.created_at);
    run(
        store,
        IndexCommand::Confirm { id: key.id.clone() },
        key.created_at,
    );
}

fn hash() -> KeyHash {
    KeyHash::of(&ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap())
}

fn query(s: &str) -> ListQuery {
    ListQuery::parse(
        s.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap()),
    )
    .unwrap()
}

fn shard_page(store: &mut MemoryStore, q: &ListQuery, actor: &Actor, now: Timestamp) -> ShardPage {
    let list = IndexCommand::List {
        query: q.clone(),
        actor: actor.clone(),
    };
    match run(store, list, now).reply {
        RegistryReply::Page(page) => page,
        other => panic!("{other:?}"),
    }
}

/// [`shard_page`] with a scan of `scan` instead of the listing's own.
fn scanned_page(
    store: &MemoryStore,
    q: &ListQuery,
    actor: &Actor,
    now: Timestamp,
    scan: Scan,
) -> ShardPage {
    match list(q.clone(), actor, now, store, scan).unwrap().reply {
        RegistryReply::Page(page) => page,
        other => panic!("{other:?}"),
    }
}

fn revoke(store: &mut MemoryStore, key: &KeyView, now: Timestamp) -> Applied {
    let mut revoked = key.clone();
    revoked.revoked_at = Some(now);
    let update = IndexCommand::Update {
        key: revoked,
        hashes: vec![],
        action: Change::Revoke,
        actor: "admin_token".into(),
        detail: None,
    };
    run(store, update, now)
}

#[test]
fn an_issued_key_is_hidden_until_confirmed_then_listed_found_and_audited() {
    let mut store = MemoryStore::default();
    let key = plain("alpha", 0, at(0));
    let h = hash();
    let insert = IndexCommand::Insert {
        key: key.clone(),
        hashes: vec![h.clone()],
        actor: "admin_token".into(),
    };
    assert!(run(&mut store, insert, at(0)).events.is_empty());
    let all = query("");
    assert!(shard_page(&mut store, &all, &Actor::AdminToken, at(1))
        .data
        .is_empty());
    let find = || IndexCommand::Find {
        hashes: vec![h.clone()],
    };
    assert!(
        matches!(run(&mut store, find(), at(1)).reply, RegistryReply::Found { keys } if keys.is_empty())
    );
    let confirmed = run(
        &mut store,
        IndexCommand::Confirm { id: key.id.clone() },
        at(2),
    );
    assert_eq!(confirmed.events.len(), 1);
    assert_eq!(confirmed.events[0].kind, EventType::KeyCreated);
    let page = shard_page(&mut store, &all, &Actor::AdminToken, at(3));
    assert_eq!(
        page.data.iter().map(|l| &l.key.id).collect::<Vec<_>>(),
        [&key.id]
    );
    assert_eq!(page.resume, None);
    match run(&mut store, find(), at(3)).reply {
        RegistryReply::Found { keys } => assert_eq!(keys, vec![(h, key.id.clone())]),
        other => panic!("{other:?}"),
    }
    match run(
        &mut store,
        IndexCommand::Audit { id: key.id.clone() },
        at(4),
    )
    .reply
    {
        RegistryReply::Trail { entries } => {
            assert_eq!(
                entries
                    .iter()
                    .map(|e| e.action.as_str())
                    .collect::<Vec<_>>(),
                ["create"]
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_edit_is_stored_audited_and_told_and_a_repeated_revoke_writes_nothing() {
    let mut store = MemoryStore::default();
    let key = plain("alpha", 0, at(0));
    issue(&mut store, &key, &hash());
    let mut renamed = key.clone();
    renamed.name = "beta".into();
    let edit = IndexCommand::Update {
        key: renamed,
        hashes: vec![],
        action: Change::Edit,
        actor: "key_x".into(),
        detail: None,
    };
    let edited = run(&mut store, edit, at(10));
    assert_eq!(edited.events[0].kind, EventType::KeyUpdated);
    assert_eq!(store.keys[&key.id].0.view.name, "beta");
    let first = revoke(&mut store, &key, at(20));
    assert_eq!(first.events[0].kind, EventType::KeyRevoked);
    let writes = store.writes;
    let again = revoke(&mut store, &key, at(30));
    assert!(again.events.is_empty());
    assert_eq!(store.writes, writes, "a repeated revoke wrote");
    match run(
        &mut store,
        IndexCommand::Audit { id: key.id.clone() },
        at(40),
    )
    .reply
    {
        RegistryReply::Trail { entries } => assert_eq!(
            entries
                .iter()
                .map(|e| (e.action.as_str(), e.actor.as_str()))
                .collect::<Vec<_>>(),
            [
                ("revoke", "admin_token"),
                ("edit", "key_x"),
                ("create", "admin_token")
            ]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn retention_drops_old_audit_entries_in_batches_and_reads_stop_at_it() {
    let mut store = MemoryStore::default();
    let key = plain("alpha", 0, at(0));
    issue(&mut store, &key, &hash());
    for i in 0..(PRUNE_BATCH as u64 + 5) {
        let mut k = key.clone();
        k.name = format!("n{i}");
        let edit = IndexCommand::Update {
            key: k,
            hashes: vec![],
            action: Change::Edit,
            actor: "admin_token".into(),
            detail: None,
        };
        run(&mut store, edit, at(1 + i));
    }
    // All but the last three edits are past retention (and the create).
    let later = at(AUDIT_RETENTION_MS + u64::from(PRUNE_BATCH) + 3);
    // Past retention, entries no longer show even before the sweep.
    match run(
        &mut store,
        IndexCommand::Audit { id: key.id.clone() },
        later,
    )
    .reply
    {
        RegistryReply::Trail { entries } => assert_eq!(entries.len(), 3),
        other => panic!("{other:?}"),
    }
    assert_eq!(prune(later, &mut store).unwrap(), PRUNE_BATCH);
    assert_eq!(prune(later, &mut store).unwrap(), 3);
    assert_eq!(prune(later, &mut store).unwrap(), 0);
    assert_eq!(store.audit.len(), 3);
}

#[test]
fn a_key_actor_lists_only_keys_within_it_and_never_an_admin_key() {
    let mut store = MemoryStore::default();
    let admin = view(
        r#"{"name":"adm","environment":"live","scopes":["admin","*"]}"#,
        0,
        at(0),
    );
    let other_owner = view(
        r#"{"name":"o","environment":"live","owner_id":"globex"}"#,
        0,
        at(1),
    );
    let mine = plain("mine", 0, at(2));
    for k in [&admin, &other_owner, &mine] {
        issue(&mut store, k, &hash());
    }
    let actor = Actor::Key {
        id: admin.id.clone(),
        bounds: Box::new((&admin).into()),
    };
    let page = shard_page(&mut store, &query(""), &actor, at(3));
    assert_eq!(
        page.data.iter().map(|l| &l.key.id).collect::<Vec<_>>(),
        [&mine.id]
    );
    let everything = shard_page(&mut store, &query(""), &Actor::AdminToken, at(3));
    assert_eq!(everything.data.len(), 3);
}

/// Keys an admin key with [`narrow_admin`]'s limits cannot reach, and can.
const WIDE: &str =
    r#"{"name":"w","environment":"live","rate_limits":{"per_minute":100,"per_day":1000}}"#;
const NARROW: &str =
    r#"{"name":"n","environment":"live","rate_limits":{"per_minute":1,"per_day":10}}"#;

/// An admin key that reaches keys with limits as low as its own (5/50).
fn narrow_admin() -> Actor {
    let key = view(
        r#"{"name":"a","environment":"live","scopes":["admin","*"],"rate_limits":{"per_minute":5,"per_day":50}}"#,
        0,
        at(0),
    );
    Actor::Key {
        id: key.id.clone(),
        bounds: Box::new((&key).into()),
    }
}

#[test]
fn an_admin_keys_page_of_keys_it_reaches_reads_one_row_more_than_the_page() {
    let mut store = MemoryStore::default();
    for i in 0..200 {
        issue(&mut store, &view(NARROW, 0, at(10 + i)), &hash());
    }
    let page = shard_page(
        &mut store,
        &query("per_page=20"),
        &narrow_admin(),
        at(5_000),
    );
    assert_eq!(page.data.len(), 20);
    assert_eq!(store.scanned.get(), 21, "not a chunk of {}", SCAN.chunk);
}

#[test]
fn a_narrow_listing_stops_at_its_budget_with_a_cursor_to_go_on() {
    let mut store = MemoryStore::default();
    // The actor may not see keys with higher limits than its own.
    let actor = narrow_admin();
    let wide = WIDE;
    let narrow = NARROW;
    let reachable = view(narrow, 0, at(1));
    issue(&mut store, &reachable, &hash());
    for i in 0..(SCAN.budget as u64 * 2) {
        issue(&mut store, &view(wide, 0, at(10 + i)), &hash());
    }
    let mut q = query("per_page=5");
    let first = shard_page(&mut store, &q, &actor, at(5_000));
    assert!(first.data.is_empty() && first.resume.is_some());
    assert!(store.scanned.get() <= u64::from(SCAN.budget) + 100);
    let (mut found, mut pages) = (first, 1);
    while found.data.is_empty() {
        q.cursor = Some(found.resume.expect("goes on"));
        found = shard_page(&mut store, &q, &actor, at(5_000));
        pages += 1;
    }
    assert_eq!(
        found.data.iter().map(|l| &l.key.id).collect::<Vec<_>>(),
        [&reachable.id]
    );
    assert_eq!(found.resume, None);
    assert!(pages <= 4, "{pages} pages for {} rows", SCAN.budget * 2);
}

#[test]
fn cursors_round_trip_and_refuse_what_was_not_given_out() {
    let key = plain("a", 3, at(7));
    let c = Cursor {
        created_at: key.created_at,
        id: key.id.clone(),
    };
    assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
    for bad in [
        "",
        "12",
        "x.key_0123456789abcdef",
        "12.nope",
        "-1.key_0123456789abcdef",
    ] {
        assert!(bad.parse::<Cursor>().is_err(), "{bad}");
    }
}

/// One step of a walk's world: list the next page, issue a key, or
/// revoke one.
#[derive(Clone, Debug)]
enum Step {
    Page,
    Issue(u16),
    Revoke(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Page),
        1 => (0u16..4).prop_map(Step::Issue),
        1 => any::<usize>().prop_map(Step::Revoke),
    ]
}

proptest! {
    /// A cursor walk over shards returns every key that stays visible
    /// exactly once, newest first, whatever is issued or revoked between
    /// pages; it never returns a key twice or one that was not visible.
    #[test]
    fn a_cursor_walk_over_shards_returns_each_visible_key_once_newest_first(
        initial in proptest::collection::vec((0u16..4, 0u64..50, any::<bool>()), 0..60),
        steps in proptest::collection::vec(step(), 0..80),
        per_page in 1u32..7,
        active_only in any::<bool>(),
        narrow in any::<bool>(),
        chunk in 1u32..4,
        budget in 1u32..6,
    ) {
        // The admin token, or an admin key that sees only some keys and
        // reads shards a few rows at a time (so scans stop at their budget).
        let (actor, scan) = match narrow {
            true => (narrow_admin(), Scan { chunk, budget }),
            false => (Actor::AdminToken, SCAN),
        };
        let mut shards: Vec<MemoryStore> = (0..4).map(|_| MemoryStore::default()).collect();
        let mut keys: Vec<KeyView> = Vec::new();
        let mut clock = 1_000u64;
        let mut visible_at_start = Vec::new();
        for (shard, created, reachable) in &initial {
            // Ties in created_at are broken by id.
            let key = view(if *reachable { NARROW } else { WIDE }, *shard, at(*created));
            issue(&mut shards[*shard as usize], &key, &hash());
            if *reachable || !narrow {
                visible_at_start.push(key.id.clone());
            }
            keys.push(key);
        }
        let mut q = query(&format!("per_page={per_page}{}", if active_only { "&status=active" } else { "" }));
        let mut revoked: std::collections::BTreeSet<KeyId> = Default::default();
        let mut seen: Vec<KeyView> = Vec::new();
        let mut steps = steps.into_iter();
        let mut done = false;
        let mut guard = 0;
        while !done {
            guard += 1;
            prop_assert!(guard < 500, "the walk does not end");
            match steps.next().unwrap_or(Step::Page) {
                Step::Issue(shard) => {
                    clock += 1;
                    let key = view(NARROW, shard, at(clock));
                    issue(&mut shards[shard as usize], &key, &hash());
                    keys.push(key);
                }
                Step::Revoke(i) if !keys.is_empty() => {
                    clock += 1;
                    let key = keys[i % keys.len()].clone();
                    revoke(&mut shards[key.id.shard().index() as usize], &key, at(clock));
                    revoked.insert(key.id.clone());
                }
                Step::Revoke(_) => {}
                Step::Page => {
                    let parts = shards.iter().map(|s| scanned_page(s, &q, &actor, at(clock), scan)).collect();
                    let Page { data, next } = merge(parts, per_page as usize);
                    prop_assert!(data.len() <= per_page as usize);
                    for key in data {
                        prop_assert!(actor.sees(&key), "a key out of reach listed");
                        prop_assert!(!(active_only && revoked.contains(&key.id)), "a revoked key listed as active");
                        seen.push(key);
                    }
                    done = next.is_none();
                    q.cursor = next;
                }
            }
        }
        let positions: Vec<Cursor> = seen.iter().map(|k| Cursor { created_at: k.created_at, id: k.id.clone() }).collect();
        for pair in positions.windows(2) {
            prop_assert!(pair[1].is_after(&pair[0]), "not newest first: {pair:?}");
        }
        for id in visible_at_start {
            let kept = !(active_only && revoked.contains(&id));
            let times = seen.iter().filter(|k| k.id == id).count();
            if kept {
                prop_assert_eq!(times, 1, "{} seen {} times", id, times);
            } else {
                prop_assert!(times <= 1);
            }
        }
    }
}
