//! The SQLite store's own rules: the in-memory refusal and the job queue's leases.

use super::*;
use crate::outbound::store::Lifecycle as _;
use switchboard_application::jobs::{JobKind, LeasedJob, NewJob};
use switchboard_application::ports::{EventFilter, JobQueue as _, ManagementReads as _, PageRequest};
use switchboard_domain::Wamid;
use switchboard_shared::TraceContext;
use time::OffsetDateTime;

#[tokio::test]
async fn an_in_memory_database_is_refused_with_a_message_naming_the_key() {
    let refused = SqliteStore::connect("sqlite::memory:", 2, Duration::from_secs(1), true).await;

    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("DATABASE_URL") && message.contains("in-memory"), "{message}");
}

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = SqliteStore::connect(&url, 4, Duration::from_secs(1), true).await.unwrap();
    store.migrate().await.unwrap();
    (dir, store)
}

async fn enqueue(store: &SqliteStore, key: &str, wamid: &str, order_at: i64) {
    let job = NewJob {
        kind: JobKind::ProcessInbound { wamid: Wamid::parse(wamid).unwrap() },
        ordering_key: key.to_owned(),
        order_at: OffsetDateTime::from_unix_timestamp(order_at).unwrap(),
        run_at: OffsetDateTime::UNIX_EPOCH,
        trace: TraceContext::new_root(),
    };
    store.engine.group.write(move |conn| insert_job(conn, &job, 0)).await.unwrap();
}

fn wamid_of(job: &LeasedJob) -> &str {
    match &job.kind {
        JobKind::ProcessInbound { wamid } => wamid.as_str(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn only_the_earliest_job_of_an_ordering_key_is_leased_and_none_while_one_runs() {
    let (_dir, store) = store().await;
    enqueue(&store, "user-a", "wamid.A2", 20).await;
    enqueue(&store, "user-a", "wamid.A1", 10).await;
    enqueue(&store, "user-b", "wamid.B1", 30).await;

    let first = store.claim(10, Duration::from_secs(60)).await.unwrap();
    let mut leased: Vec<&str> = first.iter().map(wamid_of).collect();
    leased.sort_unstable();
    let while_running = store.claim(10, Duration::from_secs(60)).await.unwrap();
    let a1 = first.iter().find(|j| wamid_of(j) == "wamid.A1").unwrap();
    store.complete(a1).await.unwrap();
    let next = store.claim(10, Duration::from_secs(60)).await.unwrap();

    assert_eq!(leased, ["wamid.A1", "wamid.B1"]);
    assert!(while_running.is_empty());
    assert_eq!(next.iter().map(wamid_of).collect::<Vec<_>>(), ["wamid.A2"]);
}

#[tokio::test]
async fn a_job_whose_lease_expired_is_leased_again_and_the_old_holder_cannot_finish_it() {
    let (_dir, store) = store().await;
    enqueue(&store, "k", "wamid.X", 1).await;

    let crashed = store.claim(1, Duration::from_millis(1)).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken_over = store.claim(1, Duration::from_secs(60)).await.unwrap().remove(0);
    store.complete(&crashed).await.unwrap();
    let still_there: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs").fetch_one(store.pool()).await.unwrap();
    store.complete(&taken_over).await.unwrap();
    let gone: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs").fetch_one(store.pool()).await.unwrap();

    assert_eq!(taken_over.id, crashed.id);
    assert_eq!(taken_over.attempts, 2);
    assert_eq!(still_there, 1, "the stale lease holder did not remove it");
    assert_eq!(gone, 0);
}

#[tokio::test]
async fn a_retried_job_waits_for_its_time_and_a_buried_one_stays_dead_with_its_error() {
    let (_dir, store) = store().await;
    enqueue(&store, "k1", "wamid.R", 1).await;
    enqueue(&store, "k2", "wamid.D", 1).await;
    let jobs = store.claim(2, Duration::from_secs(60)).await.unwrap();
    let retried = jobs.iter().find(|j| wamid_of(j) == "wamid.R").unwrap();
    let buried = jobs.iter().find(|j| wamid_of(j) == "wamid.D").unwrap();

    store.retry(retried, OffsetDateTime::now_utc() + Duration::from_secs(3600), "agent down").await.unwrap();
    store.bury(buried, "no such message").await.unwrap();
    let due_now = store.claim(10, Duration::from_secs(60)).await.unwrap();
    let dead: (String, String) = sqlx::query_as("SELECT state, last_error FROM jobs WHERE id = ?1")
        .bind(buried.id)
        .fetch_one(store.pool())
        .await
        .unwrap();

    assert!(due_now.is_empty());
    assert_eq!(dead, ("dead".to_owned(), "no such message".to_owned()));
}

#[tokio::test]
async fn a_returned_lease_does_not_count_as_an_attempt() {
    let (_dir, store) = store().await;
    enqueue(&store, "k", "wamid.S", 1).await;

    let job = store.claim(1, Duration::from_secs(60)).await.unwrap().remove(0);
    store.release(&job).await.unwrap();
    let again = store.claim(1, Duration::from_secs(60)).await.unwrap().remove(0);

    assert_eq!(again.attempts, 1);
}

#[tokio::test]
async fn events_sharing_a_timestamp_are_paged_by_id_without_repeats_or_gaps() {
    let (_dir, store) = store().await;
    for id in ["e1", "e2", "e3", "e4", "e5"] {
        sqlx::query(
            "INSERT INTO webhook_events (id, received_at, trace_id, trace_context, status, summary, body)
             VALUES (?1, 1000, 't', 't', 'accepted', '{}', x'00')",
        )
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut page = PageRequest { limit: 2, after: None };

    loop {
        let found = store.webhook_events(EventFilter::default(), page.clone()).await.unwrap();
        seen.extend(found.items.into_iter().map(|e| e.id));
        match found.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }

    assert_eq!(seen, ["e5", "e4", "e3", "e2", "e1"]);
}

#[tokio::test]
async fn the_dead_job_list_reads_the_index_of_dead_jobs_alone() {
    let (_dir, store) = store().await;
    let steps =
        plan_of(&store, &crate::outbound::store::engine::numbered(crate::outbound::store::management::DEAD_JOBS)).await;
    let partial: (String,) = sqlx::query_as("SELECT sql FROM sqlite_master WHERE name = 'jobs_dead_newest_first'")
        .fetch_one(store.pool())
        .await
        .unwrap();

    assert_eq!(steps, ["SEARCH jobs USING INDEX jobs_dead_newest_first (state=?)"], "{steps:?}");
    assert!(partial.0.ends_with("WHERE state = 'dead'"), "{}", partial.0);
}

/// The steps of SQLite's plan for `sql`, its parameters bound to NULL.
async fn plan_of(store: &SqliteStore, sql: &str) -> Vec<String> {
    let plan: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}"))).fetch_all(store.pool()).await.unwrap();
    plan.into_iter().map(|(_, _, _, step)| step).collect()
}

#[tokio::test]
async fn expired_leases_are_found_through_the_lease_index_not_by_walking_every_leased_job() {
    let (_dir, store) = store().await;

    for sql in [super::jobs::CLAIMABLE, super::jobs::CLAIM] {
        let steps = plan_of(&store, sql).await;
        assert!(
            steps
                .iter()
                .any(|step| step.contains("USING COVERING INDEX jobs_lease_expiry (state=? AND lease_until<?)")
                    || step.contains("USING INDEX jobs_lease_expiry (state=? AND lease_until<?)")),
            "{steps:?}"
        );
        assert!(!steps.iter().any(|step| step.ends_with("jobs_due (state=?)")), "{steps:?}");
    }
}

/// The tables of the migrated database.
fn tables(conn: &Connection) -> Vec<String> {
    let mut tables = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'")
        .unwrap();
    tables.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect()
}

#[tokio::test]
async fn no_check_constraint_makes_sqlite_build_a_temporary_table_for_each_row_written() {
    let (dir, _store) = store().await;
    let conn = Connection::open(dir.path().join("t.db")).unwrap();

    // An INSERT evaluates every CHECK of its table; SQLite codes a list of three or more
    // values (`x IN ('a', 'b', 'c')`) as an ephemeral B-tree built, probed and dropped for
    // each row written (migration 0022).
    let mut with_temporary_tables = Vec::new();
    for table in tables(&conn) {
        let mut explain = conn.prepare(&format!("EXPLAIN INSERT INTO \"{table}\" DEFAULT VALUES")).unwrap();
        let opcodes: Vec<String> = explain.query_map([], |row| row.get(1)).unwrap().map(Result::unwrap).collect();
        if opcodes.iter().any(|op| op == "OpenEphemeral") {
            with_temporary_tables.push(table);
        }
    }

    assert!(with_temporary_tables.is_empty(), "tables whose writes build a temporary table: {with_temporary_tables:?}");
}

#[tokio::test]
async fn the_rewritten_checks_still_refuse_a_state_or_handler_outside_their_lists() {
    let (dir, _store) = store().await;
    let conn = Connection::open(dir.path().join("t.db")).unwrap();
    let job = |state: &str| {
        conn.execute(
            "INSERT INTO jobs (kind, payload, ordering_key, order_at, run_at, state, trace_id, trace_context, created_at, updated_at)
             VALUES ('process_inbound', '{}', 'k', 0, 0, ?1, 't', 't', 0, 0)",
            [state],
        )
    };

    let accepted: Vec<bool> =
        ["queued", "leased", "dead", "done", "Queued"].into_iter().map(|s| job(s).is_ok()).collect();
    let refusal = job("done").unwrap_err().to_string();
    let checks: String = conn
        .query_row(
            "SELECT group_concat(sql, ' ') FROM sqlite_schema WHERE name IN ('jobs', 'deliveries', 'conversations')",
            [],
            |row| row.get(0),
        )
        .unwrap();

    assert_eq!(accepted, [true, true, true, false, false]);
    assert!(refusal.contains("CHECK constraint failed"), "{refusal}");
    for check in [
        "state = 'queued' OR state = 'leased' OR state = 'dead'",
        "state = 'pending' OR state = 'sent' OR state = 'delivered' OR state = 'read' OR state = 'failed'",
        "handler = 'bot' OR handler = 'people' OR handler = 'closed'",
    ] {
        assert!(checks.contains(check), "missing {check} in {checks}");
    }
}

#[tokio::test]
async fn a_database_migrated_before_0022_keeps_its_rows_and_an_open_connection_sees_the_new_checks() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = SqliteStore::connect(&url, 4, Duration::from_secs(1), true).await.unwrap();
    MIGRATOR.run_to(21, &store.engine.pool).await.unwrap();
    // A connection of the release before, open across the upgrade, with rows of its own.
    let conn = Connection::open(dir.path().join("t.db")).unwrap();
    conn.execute_batch(
        "INSERT INTO contacts (id, phone, created_at, updated_at) VALUES ('c1', '+15550001234', 0, 0);
         INSERT INTO conversations (id, contact_id, business_number_id, handler, created_at, updated_at)
             VALUES ('v1', 'c1', '100000000000001', 'people', 0, 0);
         INSERT INTO jobs (kind, payload, ordering_key, order_at, run_at, state, trace_id, trace_context, created_at, updated_at)
             VALUES ('process_inbound', '{}', 'k', 0, 0, 'queued', 't', 't', 0, 0);",
    )
    .unwrap();

    store.migrate().await.unwrap();

    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    let kept: (String, String) = conn
        .query_row("SELECT (SELECT handler FROM conversations), (SELECT state FROM jobs)", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    let mut explain = conn.prepare("EXPLAIN UPDATE conversations SET handler = 'closed'").unwrap();
    let opcodes: Vec<String> = explain.query_map([], |row| row.get(1)).unwrap().map(Result::unwrap).collect();
    let refused = conn.execute("UPDATE conversations SET handler = 'nobody'", []).unwrap_err().to_string();

    assert_eq!(integrity, "ok");
    assert_eq!(kept, (String::from("people"), String::from("queued")));
    assert!(!opcodes.iter().any(|op| op == "OpenEphemeral"), "the open connection kept the old check: {opcodes:?}");
    assert!(refused.contains("handler = 'bot' OR handler = 'people' OR handler = 'closed'"), "{refused}");
}

#[tokio::test]
async fn the_claim_is_compiled_once_however_often_it_runs_with_new_values() {
    let (dir, store) = store().await;
    enqueue(&store, "user-a", "wamid.A1", 10).await;
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let mut claim = conn.prepare(super::jobs::CLAIM).unwrap();

    let mut leased = 0;
    for (now, limit) in [(1_i64, 4_i64), (2, 3), (3, 4), (4, 1)] {
        leased += claim.query_map(rusqlite::params!["token", now + 60_000, now, limit], |_| Ok(())).unwrap().count();
    }

    assert_eq!(leased, 1, "the claim still leases the queued job, once");
    assert_eq!(claim.get_status(rusqlite::StatementStatus::RePrepare), 0, "compiled again on a run");
}

#[test]
fn each_sqlite_connection_keeps_a_page_cache_of_its_own() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();

    let shared: bool =
        conn.query_row("SELECT sqlite_compileoption_used('ENABLE_MEMORY_MANAGEMENT')", [], |row| row.get(0)).unwrap();

    assert!(!shared, "SQLite was built with one page cache for the process (.cargo/config.toml, ADR 0041)");
}
