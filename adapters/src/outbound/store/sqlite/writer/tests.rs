//! The writer's tests: group commits, their order, savepoints and checkpoints.

use super::super::checkpoint::CHECKPOINT_PAGES;
use super::*;

#[tokio::test]
async fn a_webhook_write_is_committed_ahead_of_a_backlog_of_background_writes() {
    let (_dir, path, group) = writer_on_table_t();
    // Hold the writer busy so that everything below queues up behind it.
    let (blocker, release) = hold(&group).await;
    let background: Vec<_> = (0..300_i64)
        .map(|x| {
            let group = group.clone();
            tokio::spawn(async move { group.write(move |conn| insert(conn, x)).await })
        })
        .collect();
    let urgent = tokio::spawn({
        let group = group.clone();
        async move {
            group
                .write_urgent(|conn| {
                    conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)).map_err(failed)
                })
                .await
        }
    });
    // The writer took the blocker; wait until the 301 writes behind it are queued.
    while QUEUE - group.writes.capacity() < 301 {
        tokio::task::yield_now().await;
    }
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    let rows_before_it = urgent.await.unwrap().unwrap();
    for write in background {
        write.await.unwrap().unwrap();
    }
    let all: i64 = Connection::open(&path).unwrap().query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();

    assert_eq!(rows_before_it, 0, "the urgent write ran before the 300 background writes sent earlier");
    assert_eq!(all, 300, "every background write still committed");
}

fn insert(conn: &Connection, x: i64) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO t (x) VALUES (?1)").and_then(|mut s| s.execute([x])).map(|_| ()).map_err(failed)
}

#[tokio::test]
async fn a_failed_write_is_rolled_back_alone_and_the_others_of_its_commit_are_kept() {
    let (_dir, path, group) = writer_on_table_t();

    // Sent together, so they share one transaction; the middle one breaks the unique key
    // after an insert of its own that must be rolled back with it.
    let (first, duplicate, third) = tokio::join!(
        group.write(|conn| insert(conn, 1)),
        group.write(|conn| {
            insert(conn, 3)?;
            insert(conn, 1)
        }),
        group.write(|conn| insert(conn, 2)),
    );

    assert!(first.is_ok());
    assert!(duplicate.is_err());
    assert!(third.is_ok());
    assert_eq!(stored(&path), [1, 2], "the failed write's first insert was rolled back with it");
}

/// Holds the writer busy inside a write of its own until the answer's sender is
/// dropped or sent to, so that writes sent meanwhile share the next commit.
async fn hold(group: &GroupCommit) -> (tokio::task::JoinHandle<Result<(), StoreError>>, std::sync::mpsc::Sender<()>) {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let (started, writer_busy) = std::sync::mpsc::channel::<()>();
    let blocker = tokio::spawn({
        let group = group.clone();
        async move {
            group
                .write(move |_| {
                    started.send(()).ok();
                    released.lock().unwrap().recv().ok();
                    Ok(())
                })
                .await
        }
    });
    while writer_busy.try_recv().is_err() {
        tokio::task::yield_now().await;
    }
    (blocker, release)
}

/// A write of a test, boxed so that several kinds go in one list.
type TestWrite = Box<dyn Fn(&Connection) -> Result<(), StoreError> + Send>;

/// A write of `x` that counts its runs in `runs`.
fn counted(runs: &Arc<AtomicU64>, x: i64) -> impl Fn(&Connection) -> Result<(), StoreError> + Send + 'static {
    let runs = Arc::clone(runs);
    move |conn| {
        runs.fetch_add(1, Ordering::Relaxed);
        insert(conn, x)
    }
}

/// Sends `writes` while the writer is held, so that they share one commit; answers
/// their results in order.
async fn in_one_commit(group: &GroupCommit, writes: Vec<TestWrite>) -> Vec<Result<(), StoreError>> {
    let (blocker, release) = hold(group).await;
    let count = writes.len();
    let sent: Vec<_> = writes
        .into_iter()
        .map(|write| {
            let group = group.clone();
            tokio::spawn(async move { group.write(move |conn| write(conn)).await })
        })
        .collect();
    // Every write waits in the channel before the writer is let go.
    while QUEUE - group.writes.capacity() < count {
        tokio::task::yield_now().await;
    }
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    let mut results = Vec::new();
    for write in sent {
        results.push(write.await.unwrap());
    }
    results
}

/// A new database with table `t` and a writer on it (no commit wait).
fn writer_on_table_t() -> (tempfile::TempDir, std::path::PathBuf, GroupCommit) {
    let (dir, path) = database_with_table_t();
    let group = GroupCommit::start(&path, true, Duration::from_secs(1)).unwrap();
    (dir, path, group)
}

/// The values of table `t`, in order.
fn stored(path: &Path) -> Vec<i64> {
    let reader = Connection::open(path).unwrap();
    let mut select = reader.prepare("SELECT x FROM t ORDER BY x").unwrap();
    select.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[tokio::test]
async fn writes_of_a_commit_where_none_fails_run_once_each() {
    let (_dir, path, group) = writer_on_table_t();
    let runs = Arc::new(AtomicU64::new(0));

    let results = in_one_commit(
        &group,
        vec![Box::new(counted(&runs, 1)), Box::new(counted(&runs, 2)), Box::new(counted(&runs, 3))],
    )
    .await;

    assert!(results.iter().all(Result::is_ok));
    assert_eq!(runs.load(Ordering::Relaxed), 3, "no write ran twice");
    assert_eq!(stored(&path), [1, 2, 3]);
}

#[tokio::test]
async fn a_failed_write_makes_its_commit_run_over_and_the_others_are_answered_from_the_run_that_committed() {
    let (_dir, path, group) = writer_on_table_t();
    let runs = Arc::new(AtomicU64::new(0));

    let results = in_one_commit(
        &group,
        vec![
            Box::new(counted(&runs, 1)),
            Box::new(|conn: &Connection| {
                insert(conn, 5)?;
                insert(conn, 1)
            }),
            Box::new(counted(&runs, 2)),
        ],
    )
    .await;

    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(results[1].is_err(), "the duplicate key fails its own write");
    // The first write ran before the failure and again with the batch; the third, which
    // came after it, ran only in the careful run.
    assert_eq!(runs.load(Ordering::Relaxed), 3);
    assert_eq!(stored(&path), [1, 2], "the failed write's own insert was rolled back with it");
}

#[tokio::test]
async fn after_a_commit_ran_over_the_next_commits_give_each_write_a_savepoint_at_once() {
    let (_dir, path, group) = writer_on_table_t();
    let failing = || -> TestWrite { Box::new(|conn: &Connection| insert(conn, 1)) };
    in_one_commit(&group, vec![Box::new(|conn: &Connection| insert(conn, 1)), failing()]).await;
    let runs = Arc::new(AtomicU64::new(0));

    let results =
        in_one_commit(&group, vec![Box::new(counted(&runs, 2)), failing(), Box::new(counted(&runs, 3))]).await;

    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok(), "{results:?}");
    assert_eq!(runs.load(Ordering::Relaxed), 2, "no write of the careful commit ran twice");
    assert_eq!(stored(&path), [1, 2, 3]);
}

#[tokio::test]
async fn a_write_is_answered_only_once_its_transaction_has_committed() {
    let (_dir, path, group) = writer_on_table_t();

    group.write(|conn| insert(conn, 7)).await.unwrap();
    // Another connection sees it at once: the answer came after COMMIT, not before.
    let seen: i64 = Connection::open(&path).unwrap().query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();

    assert_eq!(seen, 7);
}

/// A writer on a new database whose commits wait for company up to `wait`.
fn waiting_for_company(wait: Duration) -> (tempfile::TempDir, GroupCommit) {
    let (dir, path) = database_with_table_t();
    let group = GroupCommit::start(&path, true, Duration::from_secs(1)).unwrap();
    group.wait_for_company(wait);
    (dir, group)
}

#[tokio::test]
async fn writes_sent_one_after_another_within_the_commit_wait_share_one_commit() {
    // Far longer than the gaps below, so that the test does not depend on timing.
    let (_dir, group) = waiting_for_company(Duration::from_secs(2));
    group.write(|conn| insert(conn, 100)).await.unwrap();

    let writes: Vec<_> = (0..3_i64)
        .map(|x| {
            let group = group.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20 * u64::try_from(x).unwrap())).await;
                group.write(move |conn| insert(conn, x)).await
            })
        })
        .collect();
    for write in writes {
        write.await.unwrap().unwrap();
    }

    assert_eq!(group.commits(), 2, "the three writes after the first commit shared the next one");
}

#[tokio::test]
async fn a_write_with_no_commit_begun_within_the_wait_commits_at_once() {
    let (_dir, group) = waiting_for_company(Duration::from_secs(600));

    let first = tokio::time::timeout(Duration::from_secs(60), group.write(|conn| insert(conn, 1))).await;

    assert!(first.expect("the first write did not wait out the ten minutes").is_ok());
    assert_eq!(group.commits(), 1);
}

#[tokio::test]
async fn a_commit_with_enough_company_does_not_wait_out_the_commit_wait() {
    let (_dir, group) = waiting_for_company(Duration::from_secs(600));
    group.write(|conn| insert(conn, 100)).await.unwrap();

    let writes = (0..i64::try_from(COMPANY).unwrap()).map(|x| group.write(move |conn| insert(conn, x)));
    let all = tokio::time::timeout(Duration::from_secs(60), futures_util::future::join_all(writes)).await;

    let all = all.expect("sixteen writes committed without waiting out the ten minutes");
    assert!(all.iter().all(Result::is_ok));
    assert_eq!(group.commits(), 2);
}

#[tokio::test]
async fn without_a_commit_wait_each_write_sent_alone_commits_alone() {
    let (_dir, _path, group) = writer_on_table_t();

    for x in 0..3 {
        group.write(move |conn| insert(conn, x)).await.unwrap();
    }

    assert_eq!(group.commits(), 3);
}

#[tokio::test]
async fn the_wal_is_copied_back_and_started_over_while_writes_keep_coming() {
    let (_dir, path, group) = writer_on_table_t();
    group.write(|conn| conn.execute_batch("CREATE TABLE pages (b BLOB)").map_err(failed)).await.unwrap();

    // About 7.3 pages of 4 KiB a write (ten rows of 2,000 bytes), one write at a time,
    // many commits: with no checkpoint at all the WAL would hold every one of them, about
    // eleven times the checkpoint threshold.
    for _ in 0..(6 * CHECKPOINT_PAGES / 4) {
        group
            .write(|conn| {
                for _ in 0..10 {
                    conn.execute("INSERT INTO pages (b) VALUES (zeroblob(2000))", []).map_err(failed)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    // A passive checkpoint from outside copies nothing new; it reports the WAL's frames.
    let frames: i64 =
        Connection::open(&path).unwrap().query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1)).unwrap();
    assert!(frames < 5 * i64::from(CHECKPOINT_PAGES), "the WAL holds {frames} frames");
    let rows: i64 =
        Connection::open(&path).unwrap().query_row("SELECT count(*) FROM pages", [], |row| row.get(0)).unwrap();
    assert_eq!(rows, 10 * i64::from(6 * CHECKPOINT_PAGES / 4));
}
