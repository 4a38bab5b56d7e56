//! The store contract: every case runs against SQLite (a temp file) and PostgreSQL, so
//! both adapters behind `dyn Store` keep the same promises. PostgreSQL comes from
//! `SWITCHBOARD_TEST_DATABASE_URL` (`scripts/pg-test-server` starts a throwaway one;
//! `scripts/test` does so for you); each test creates and drops its own database. Without
//! the variable the PostgreSQL half says it skipped, unless `CI` is set: then it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_adapters::outbound::store::{PgStore, SqliteStore, Store};
use switchboard_application::jobs::{JobKind, JobLease, LeasedJob, NewJob, SandboxStatus};
use switchboard_application::ports::{
    AttemptOutcome, ConversationFilter, DeliveryFilter, EventDisposition, EventFilter, IngestBatch, NewInbound,
    NewOutbound, NewReply, NewSession, NewStatus, OpenTask, PageRequest, PasswordHash, RawEvent, ReplyRecorded, Route,
    StoredTask, TimeRange,
};
use switchboard_application::ports::{ContactRef, HandlingChange, HandoffStart, InboxFilter, People};
use switchboard_domain::a2a::{Task, TaskState, TaskStatus};
use switchboard_domain::{
    AgentName, AgentTask, DeliveryState, InboundContent, InboundMessage, Intent, OutboundContent, OutboundMessage,
    Role, StatusUpdate, Wamid, WhatsAppUser,
};
use switchboard_domain::{Consent, ConsentChange, ConsentScope, ConsentSource, OptOut};
use switchboard_domain::{Handler, HandoffReason};
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use uuid::Uuid;

const NUMBER_ID: &str = "109876543210987";
const LEASE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------- databases

/// One test's database, and how to open a second handle on it (a second replica).
enum Db {
    /// `handoff`: the lease of jobs handed to the ingesting process (ADR 0021), as
    /// `store::open` sets it; `None`: every job is claimed.
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
        handoff: Option<Duration>,
    },
    Postgres {
        admin: String,
        name: String,
        url: String,
        handoff: Option<Duration>,
    },
}

impl Db {
    async fn sqlite(_test: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("contract.db").display());
        Some(Db::Sqlite { _dir: dir, url, handoff: None })
    }

    async fn sqlite_handoff(_test: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("contract.db").display());
        Some(Db::Sqlite { _dir: dir, url, handoff: Some(LEASE) })
    }

    async fn postgres_handoff(test: &str) -> Option<Self> {
        match Self::postgres(test).await? {
            Db::Postgres { admin, name, url, .. } => Some(Db::Postgres { admin, name, url, handoff: Some(LEASE) }),
            other => Some(other),
        }
    }

    /// A fresh database on the test server, or `None` (after saying so) when there is none.
    async fn postgres(test: &str) -> Option<Self> {
        let Ok(admin) = std::env::var("SWITCHBOARD_TEST_DATABASE_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "SWITCHBOARD_TEST_DATABASE_URL is not set: CI must run the PostgreSQL store contract \
                 (scripts/test starts a server with scripts/pg-test-server)"
            );
            eprintln!("skipped {test} on PostgreSQL: SWITCHBOARD_TEST_DATABASE_URL is not set");
            return None;
        };
        let name = format!("sb_contract_{}", Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
        let url = with_database(&admin, &name);
        Some(Db::Postgres { admin, name, url, handoff: None })
    }

    /// A store on this database, migrated; call twice for two replicas.
    async fn open(&self) -> Arc<dyn Store> {
        let handoff = match self {
            Db::Sqlite { handoff, .. } | Db::Postgres { handoff, .. } => *handoff,
        };
        self.open_handing_off(handoff).await
    }

    /// A store on this database, migrated, handing its ingested jobs to itself with this
    /// lease (`None`: every job is claimed).
    async fn open_handing_off(&self, handoff: Option<Duration>) -> Arc<dyn Store> {
        let store: Arc<dyn Store> = match (self, handoff) {
            (Db::Sqlite { url, .. }, handoff) => {
                let store = SqliteStore::connect(url, 4, Duration::from_secs(5), false).await.unwrap();
                match handoff {
                    Some(lease) => Arc::new(store.with_handoff(lease)),
                    None => Arc::new(store),
                }
            }
            (Db::Postgres { url, .. }, handoff) => {
                let store = PgStore::connect(url, 8, Duration::from_secs(5)).await.unwrap();
                match handoff {
                    Some(lease) => Arc::new(store.with_handoff(lease)),
                    None => Arc::new(store),
                }
            }
        };
        store.migrate().await.unwrap();
        store
    }

    async fn drop_database(self) {
        if let Db::Postgres { admin, name, .. } = self {
            let pool = sqlx::PgPool::connect(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Each case as a test in `$module`, on the database `$db` opens (`None`: skipped).
macro_rules! contract {
    ($module:ident, $db:path; $($case:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(db) = $db(stringify!($case)).await else { return };
                    super::$case(&db).await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

// Every case on SQLite and on PostgreSQL; and on both with the hand-off after commit
// (ADR 0021), where a job's lease is the store's, not the claim's: there the take-over of
// an expired lease has its own case.
contract!(sqlite, super::Db::sqlite;
    a_handoff_with_a_reply_sends_the_conversation_to_people_and_the_bot_answers_nothing_more,
    operators_take_over_answer_hand_back_and_close_with_each_step_in_the_history,
    a_conversation_keeps_its_latest_task_and_its_agent_is_never_an_operator,
    the_inbox_lists_conversations_waiting_for_a_person_first_longest_wait_first,
    an_operators_own_take_over_starts_no_wait_and_taking_a_waiting_one_over_does_not_end_it,
    the_activity_mark_moves_with_every_message_handoff_and_delivery_change,
    a_redelivered_webhook_stores_its_message_once_and_counts_a_duplicate,
    the_same_webhook_on_two_replicas_at_once_stores_the_message_and_its_job_once,
    a_status_is_stored_once_per_wamid_and_status,
    only_the_earliest_job_of_an_ordering_key_is_leased_and_none_while_one_runs,
    claimers_on_two_replicas_never_hold_two_jobs_of_one_key_and_run_each_job_once,
    ingests_of_one_key_on_two_replicas_at_once_let_only_one_of_its_jobs_run,
    a_retried_job_waits_for_its_time_and_a_buried_one_is_listed_dead_with_its_error,
    a_deferred_or_released_job_does_not_spend_an_attempt,
    a_requeued_dead_job_runs_again_with_fresh_attempts,
    a_reply_is_recorded_once_with_its_delivery_and_job,
    a_reply_ends_the_job_it_was_planned_under_and_a_reply_that_stores_nothing_ends_none,
    held_messages_are_marked_once_and_a_reply_ends_the_hold,
    a_replys_delivery_job_is_leased_to_its_writer_and_never_claimed_while_it_runs,
    a_replys_delivery_leased_to_its_writer_is_stored_in_flight_for_that_lease_alone,
    a_replys_delivery_job_waits_behind_another_of_its_conversation,
    a_delivery_keeps_its_state_and_every_attempt,
    a_sent_mark_ends_the_job_it_ran_under_and_a_lost_lease_ends_nothing,
    sends_to_a_new_contact_from_two_replicas_at_once_create_it_once,
    the_email_priority_setting_falls_back_to_the_default_until_set,
    a_contacts_consent_keeps_its_first_opt_out_of_each_kind_until_an_opt_in_clears_both,
    a_known_contact_is_written_only_when_it_learns_something,
    a_turn_that_changes_nothing_leaves_the_conversation_unwritten,
    a2a_tasks_are_saved_updated_and_listed_newest_first_a_page_at_a_time,
    an_a2a_task_saved_with_its_job_is_claimed_to_run,
    agents_are_registered_once_listed_and_removed,
    management_lists_page_through_everything_without_repeats_or_gaps,
    the_sandbox_outbox_and_replay_bookkeeping_round_trip,
    a_deliverys_sandbox_send_is_recorded_once_with_its_status_jobs,
    operators_are_added_once_listed_by_name_found_with_their_hash_and_removed,
    a_session_opens_until_it_expires_is_deleted_or_its_operator_is_removed,
    failed_sign_ins_counted_on_two_replicas_lock_the_key_for_both_until_the_window_passes,
    failures_older_than_the_window_and_cleared_ones_are_forgotten,
    failures_counted_at_once_on_two_replicas_are_all_counted,
    a_job_whose_lease_expired_is_taken_over_and_the_old_holder_cannot_finish_it,
);
contract!(postgres, super::Db::postgres;
    a_handoff_with_a_reply_sends_the_conversation_to_people_and_the_bot_answers_nothing_more,
    operators_take_over_answer_hand_back_and_close_with_each_step_in_the_history,
    a_conversation_keeps_its_latest_task_and_its_agent_is_never_an_operator,
    the_inbox_lists_conversations_waiting_for_a_person_first_longest_wait_first,
    an_operators_own_take_over_starts_no_wait_and_taking_a_waiting_one_over_does_not_end_it,
    the_activity_mark_moves_with_every_message_handoff_and_delivery_change,
    a_redelivered_webhook_stores_its_message_once_and_counts_a_duplicate,
    the_same_webhook_on_two_replicas_at_once_stores_the_message_and_its_job_once,
    a_status_is_stored_once_per_wamid_and_status,
    only_the_earliest_job_of_an_ordering_key_is_leased_and_none_while_one_runs,
    claimers_on_two_replicas_never_hold_two_jobs_of_one_key_and_run_each_job_once,
    ingests_of_one_key_on_two_replicas_at_once_let_only_one_of_its_jobs_run,
    a_retried_job_waits_for_its_time_and_a_buried_one_is_listed_dead_with_its_error,
    a_deferred_or_released_job_does_not_spend_an_attempt,
    a_requeued_dead_job_runs_again_with_fresh_attempts,
    a_reply_is_recorded_once_with_its_delivery_and_job,
    a_reply_ends_the_job_it_was_planned_under_and_a_reply_that_stores_nothing_ends_none,
    held_messages_are_marked_once_and_a_reply_ends_the_hold,
    a_replys_delivery_job_is_leased_to_its_writer_and_never_claimed_while_it_runs,
    a_replys_delivery_leased_to_its_writer_is_stored_in_flight_for_that_lease_alone,
    a_replys_delivery_job_waits_behind_another_of_its_conversation,
    a_delivery_keeps_its_state_and_every_attempt,
    a_sent_mark_ends_the_job_it_ran_under_and_a_lost_lease_ends_nothing,
    sends_to_a_new_contact_from_two_replicas_at_once_create_it_once,
    the_email_priority_setting_falls_back_to_the_default_until_set,
    a_contacts_consent_keeps_its_first_opt_out_of_each_kind_until_an_opt_in_clears_both,
    a_known_contact_is_written_only_when_it_learns_something,
    a_turn_that_changes_nothing_leaves_the_conversation_unwritten,
    a2a_tasks_are_saved_updated_and_listed_newest_first_a_page_at_a_time,
    an_a2a_task_saved_with_its_job_is_claimed_to_run,
    agents_are_registered_once_listed_and_removed,
    management_lists_page_through_everything_without_repeats_or_gaps,
    the_sandbox_outbox_and_replay_bookkeeping_round_trip,
    a_deliverys_sandbox_send_is_recorded_once_with_its_status_jobs,
    operators_are_added_once_listed_by_name_found_with_their_hash_and_removed,
    a_session_opens_until_it_expires_is_deleted_or_its_operator_is_removed,
    failed_sign_ins_counted_on_two_replicas_lock_the_key_for_both_until_the_window_passes,
    failures_older_than_the_window_and_cleared_ones_are_forgotten,
    failures_counted_at_once_on_two_replicas_are_all_counted,
    a_job_whose_lease_expired_is_taken_over_and_the_old_holder_cannot_finish_it,
);
contract!(sqlite_handoff, super::Db::sqlite_handoff;
    a_handoff_with_a_reply_sends_the_conversation_to_people_and_the_bot_answers_nothing_more,
    operators_take_over_answer_hand_back_and_close_with_each_step_in_the_history,
    a_conversation_keeps_its_latest_task_and_its_agent_is_never_an_operator,
    the_inbox_lists_conversations_waiting_for_a_person_first_longest_wait_first,
    an_operators_own_take_over_starts_no_wait_and_taking_a_waiting_one_over_does_not_end_it,
    the_activity_mark_moves_with_every_message_handoff_and_delivery_change,
    a_redelivered_webhook_stores_its_message_once_and_counts_a_duplicate,
    the_same_webhook_on_two_replicas_at_once_stores_the_message_and_its_job_once,
    a_status_is_stored_once_per_wamid_and_status,
    only_the_earliest_job_of_an_ordering_key_is_leased_and_none_while_one_runs,
    claimers_on_two_replicas_never_hold_two_jobs_of_one_key_and_run_each_job_once,
    ingests_of_one_key_on_two_replicas_at_once_let_only_one_of_its_jobs_run,
    a_retried_job_waits_for_its_time_and_a_buried_one_is_listed_dead_with_its_error,
    a_deferred_or_released_job_does_not_spend_an_attempt,
    a_requeued_dead_job_runs_again_with_fresh_attempts,
    a_reply_is_recorded_once_with_its_delivery_and_job,
    a_reply_ends_the_job_it_was_planned_under_and_a_reply_that_stores_nothing_ends_none,
    held_messages_are_marked_once_and_a_reply_ends_the_hold,
    a_replys_delivery_job_is_leased_to_its_writer_and_never_claimed_while_it_runs,
    a_replys_delivery_leased_to_its_writer_is_stored_in_flight_for_that_lease_alone,
    a_replys_delivery_job_waits_behind_another_of_its_conversation,
    a_delivery_keeps_its_state_and_every_attempt,
    a_sent_mark_ends_the_job_it_ran_under_and_a_lost_lease_ends_nothing,
    sends_to_a_new_contact_from_two_replicas_at_once_create_it_once,
    the_email_priority_setting_falls_back_to_the_default_until_set,
    a_contacts_consent_keeps_its_first_opt_out_of_each_kind_until_an_opt_in_clears_both,
    a_known_contact_is_written_only_when_it_learns_something,
    a_turn_that_changes_nothing_leaves_the_conversation_unwritten,
    a2a_tasks_are_saved_updated_and_listed_newest_first_a_page_at_a_time,
    an_a2a_task_saved_with_its_job_is_claimed_to_run,
    agents_are_registered_once_listed_and_removed,
    management_lists_page_through_everything_without_repeats_or_gaps,
    the_sandbox_outbox_and_replay_bookkeeping_round_trip,
    a_deliverys_sandbox_send_is_recorded_once_with_its_status_jobs,
    operators_are_added_once_listed_by_name_found_with_their_hash_and_removed,
    a_session_opens_until_it_expires_is_deleted_or_its_operator_is_removed,
    a_handed_job_of_a_dead_process_is_claimed_when_its_lease_ends_and_the_old_holder_cannot_finish_it,
);
contract!(postgres_handoff, super::Db::postgres_handoff;
    a_handoff_with_a_reply_sends_the_conversation_to_people_and_the_bot_answers_nothing_more,
    operators_take_over_answer_hand_back_and_close_with_each_step_in_the_history,
    the_inbox_lists_conversations_waiting_for_a_person_first_longest_wait_first,
    the_activity_mark_moves_with_every_message_handoff_and_delivery_change,
    a_redelivered_webhook_stores_its_message_once_and_counts_a_duplicate,
    the_same_webhook_on_two_replicas_at_once_stores_the_message_and_its_job_once,
    a_status_is_stored_once_per_wamid_and_status,
    only_the_earliest_job_of_an_ordering_key_is_leased_and_none_while_one_runs,
    claimers_on_two_replicas_never_hold_two_jobs_of_one_key_and_run_each_job_once,
    ingests_of_one_key_on_two_replicas_at_once_let_only_one_of_its_jobs_run,
    a_retried_job_waits_for_its_time_and_a_buried_one_is_listed_dead_with_its_error,
    a_deferred_or_released_job_does_not_spend_an_attempt,
    a_requeued_dead_job_runs_again_with_fresh_attempts,
    a_reply_is_recorded_once_with_its_delivery_and_job,
    a_reply_ends_the_job_it_was_planned_under_and_a_reply_that_stores_nothing_ends_none,
    held_messages_are_marked_once_and_a_reply_ends_the_hold,
    a_replys_delivery_job_is_leased_to_its_writer_and_never_claimed_while_it_runs,
    a_replys_delivery_leased_to_its_writer_is_stored_in_flight_for_that_lease_alone,
    a_replys_delivery_job_waits_behind_another_of_its_conversation,
    a_delivery_keeps_its_state_and_every_attempt,
    a_sent_mark_ends_the_job_it_ran_under_and_a_lost_lease_ends_nothing,
    sends_to_a_new_contact_from_two_replicas_at_once_create_it_once,
    the_email_priority_setting_falls_back_to_the_default_until_set,
    a_contacts_consent_keeps_its_first_opt_out_of_each_kind_until_an_opt_in_clears_both,
    a_known_contact_is_written_only_when_it_learns_something,
    a_turn_that_changes_nothing_leaves_the_conversation_unwritten,
    a2a_tasks_are_saved_updated_and_listed_newest_first_a_page_at_a_time,
    an_a2a_task_saved_with_its_job_is_claimed_to_run,
    agents_are_registered_once_listed_and_removed,
    management_lists_page_through_everything_without_repeats_or_gaps,
    the_sandbox_outbox_and_replay_bookkeeping_round_trip,
    a_deliverys_sandbox_send_is_recorded_once_with_its_status_jobs,
    operators_are_added_once_listed_by_name_found_with_their_hash_and_removed,
    a_session_opens_until_it_expires_is_deleted_or_its_operator_is_removed,
    failed_sign_ins_counted_on_two_replicas_lock_the_key_for_both_until_the_window_passes,
    failures_older_than_the_window_and_cleared_ones_are_forgotten,
    failures_counted_at_once_on_two_replicas_are_all_counted,
    a_handed_job_of_a_dead_process_is_claimed_when_its_lease_ends_and_the_old_holder_cannot_finish_it,
);

// ---------------------------------------------------------------- builders

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap()
}

fn user(n: u32) -> WhatsAppUser {
    WhatsAppUser::from_webhook(None, Some(&format!("1650555{n:04}"))).unwrap()
}

fn job(kind: JobKind, key: &str, order_at: i64) -> NewJob {
    NewJob {
        kind,
        ordering_key: key.to_owned(),
        order_at: at(order_at),
        run_at: OffsetDateTime::UNIX_EPOCH,
        trace: TraceContext::new_root(),
    }
}

fn inbound(wamid: &str, from: u32, sent: i64, key: &str) -> NewInbound {
    let wamid = Wamid::parse(wamid).unwrap();
    NewInbound {
        message: InboundMessage {
            wamid: wamid.clone(),
            from: user(from),
            profile_name: Some("Ada".to_owned()),
            business_number_id: NUMBER_ID.to_owned(),
            sent_at: at(sent),
            content: InboundContent::Text { body: "hello".to_owned() },
            context: None,
            errors: Vec::new(),
        },
        raw: serde_json::json!({"id": wamid.as_str()}),
        job: job(JobKind::ProcessInbound { wamid }, key, sent),
    }
}

fn batch(messages: Vec<NewInbound>, statuses: Vec<NewStatus>) -> IngestBatch {
    IngestBatch {
        event: RawEvent {
            id: Uuid::now_v7(),
            received_at: OffsetDateTime::now_utc(),
            trace: TraceContext::new_root(),
            body: b"{\"object\":\"whatsapp_business_account\"}".to_vec(),
            disposition: EventDisposition::Accepted,
            summary: serde_json::json!({"messages": messages.len()}),
        },
        messages,
        statuses,
        errors: Vec::new(),
    }
}

/// Stores one inbound message whose job has this ordering key and order.
async fn enqueue(store: &dyn Store, key: &str, wamid: &str, order_at: i64) {
    let receipt = store.ingest(batch(vec![inbound(wamid, 1, order_at, key)], Vec::new())).await.unwrap();
    assert_eq!(receipt.new_messages, 1);
}

fn wamid_of(job: &LeasedJob) -> String {
    match &job.kind {
        JobKind::ProcessInbound { wamid } => wamid.as_str().to_owned(),
        other => panic!("unexpected job {other:?}"),
    }
}

fn outbound(to: u32, reply_to: Option<&str>) -> OutboundMessage {
    OutboundMessage {
        to: user(to),
        from_number_id: NUMBER_ID.to_owned(),
        content: OutboundContent::text("hi there"),
        reply_to: reply_to.map(|w| Wamid::parse(w).unwrap()),
    }
}

fn new_outbound(to: u32) -> NewOutbound {
    let delivery_id = Uuid::now_v7();
    NewOutbound {
        delivery_id,
        message: outbound(to, None),
        email: None,
        route: Route::Whatsapp,
        fallback_allowed: true,
        trace: TraceContext::new_root(),
        job: job(JobKind::DeliverMessage { delivery_id }, &format!("deliver:{to}"), 1),
        operator: None,
    }
}

async fn claim_all(store: &dyn Store) -> Vec<LeasedJob> {
    store.claim(100, LEASE).await.unwrap()
}

// ---------------------------------------------------------------- cases

async fn a_redelivered_webhook_stores_its_message_once_and_counts_a_duplicate(db: &Db) {
    let store = db.open().await;
    let first = store.ingest(batch(vec![inbound("wamid.ONE", 1, 100, "u1")], Vec::new())).await.unwrap();

    let again = store.ingest(batch(vec![inbound("wamid.ONE", 1, 100, "u1")], Vec::new())).await.unwrap();
    let stored = store.inbound(&Wamid::parse("wamid.ONE").unwrap()).await.unwrap().unwrap();
    let jobs = claim_all(store.as_ref()).await;

    assert_eq!((first.new_messages, first.duplicate_messages), (1, 0));
    assert_eq!((again.new_messages, again.duplicate_messages), (0, 1));
    assert!(!stored.processed);
    assert_eq!(jobs.len(), 1, "the duplicate added no job");
    assert_eq!(store.counters().await.unwrap().messages_received, 1);
}

async fn the_same_webhook_on_two_replicas_at_once_stores_the_message_and_its_job_once(db: &Db) {
    let replicas = [db.open().await, db.open().await];
    let mut racing = tokio::task::JoinSet::new();
    for round in 0..8 {
        let store = replicas[round % 2].clone();
        // A new contact too: both replicas try to create it.
        racing.spawn(async move { store.ingest(batch(vec![inbound("wamid.RACE", 42, 100, "u42")], Vec::new())).await });
    }

    let receipts: Vec<_> = racing.join_all().await.into_iter().map(Result::unwrap).collect();
    // Either replica may hold the job (with the hand-off, the one whose ingest stored it).
    let mut jobs = claim_all(replicas[0].as_ref()).await;
    jobs.extend(claim_all(replicas[1].as_ref()).await);
    let contacts = replicas[1].contacts(TimeRange::default(), PageRequest { limit: 10, after: None }).await.unwrap();

    assert_eq!(receipts.iter().map(|r| r.new_messages).sum::<usize>(), 1);
    assert_eq!(receipts.iter().map(|r| r.duplicate_messages).sum::<usize>(), 7);
    assert_eq!(jobs.len(), 1);
    assert_eq!(contacts.items.len(), 1);
}

async fn a_status_is_stored_once_per_wamid_and_status(db: &Db) {
    let store = db.open().await;
    let status = |name: &str| NewStatus {
        status: StatusUpdate {
            wamid: Wamid::parse("wamid.OUT").unwrap(),
            status: name.to_owned(),
            occurred_at: at(200),
            recipient: Some("16505550001".to_owned()),
            errors: Vec::new(),
            callback_data: None,
        },
        raw: serde_json::json!({}),
        job: job(
            JobKind::RecordStatus {
                wamid: Wamid::parse("wamid.OUT").unwrap(),
                status: name.to_owned(),
                error: None,
                error_code: None,
                callback: None,
            },
            "status",
            200,
        ),
    };

    let first = store.ingest(batch(Vec::new(), vec![status("delivered"), status("read")])).await.unwrap();
    let again = store.ingest(batch(Vec::new(), vec![status("delivered")])).await.unwrap();

    assert_eq!((first.new_statuses, first.duplicate_statuses), (2, 0));
    assert_eq!((again.new_statuses, again.duplicate_statuses), (0, 1));
}

async fn only_the_earliest_job_of_an_ordering_key_is_leased_and_none_while_one_runs(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "user-a", "wamid.A2", 20).await;
    enqueue(store.as_ref(), "user-a", "wamid.A1", 10).await;
    enqueue(store.as_ref(), "user-b", "wamid.B1", 30).await;

    let first = claim_all(store.as_ref()).await;
    let mut leased: Vec<String> = first.iter().map(wamid_of).collect();
    leased.sort_unstable();
    let while_running = claim_all(store.as_ref()).await;
    let a1 = first.iter().find(|j| wamid_of(j) == "wamid.A1").unwrap();
    store.complete(a1).await.unwrap();
    let next = claim_all(store.as_ref()).await;

    assert_eq!(leased, ["wamid.A1", "wamid.B1"]);
    assert!(while_running.is_empty());
    assert_eq!(next.iter().map(wamid_of).collect::<Vec<_>>(), ["wamid.A2"]);
}

async fn ingests_of_one_key_on_two_replicas_at_once_let_only_one_of_its_jobs_run(db: &Db) {
    let replicas = [db.open().await, db.open().await];
    let ingests =
        (0..8).map(|n| {
            let replica = Arc::clone(&replicas[n % 2]);
            async move {
                enqueue(replica.as_ref(), "one-user", &format!("wamid.C{n}"), 100 + i64::try_from(n).unwrap()).await
            }
        });
    futures_util::future::join_all(ingests).await;

    let (a, b) = (claim_all(replicas[0].as_ref()).await, claim_all(replicas[1].as_ref()).await);

    assert_eq!(a.len() + b.len(), 1, "one job of the key at a time, handed or claimed: {a:?} {b:?}");
}

async fn claimers_on_two_replicas_never_hold_two_jobs_of_one_key_and_run_each_job_once(db: &Db) {
    let replicas = [db.open().await, db.open().await];
    let (keys, per_key) = (4, 12);
    for k in 0..keys {
        for n in 0..per_key {
            enqueue(replicas[0].as_ref(), &format!("key-{k}"), &format!("wamid.K{k}N{n:02}"), 1000 + n).await;
        }
    }
    // Which key each running job holds, and every job run, in order per key.
    let running: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let ran: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..6 {
        let store = replicas[w % 2].clone();
        let (running, ran) = (running.clone(), ran.clone());
        workers.spawn(async move {
            let mut idle = 0;
            while idle < 20 {
                let jobs = store.claim(3, LEASE).await.unwrap();
                if jobs.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle = 0;
                for job in &jobs {
                    let wamid = wamid_of(job);
                    let key = wamid[7..9].to_owned();
                    let clash = running.lock().unwrap().insert(key.clone(), wamid.clone());
                    assert!(clash.is_none(), "{wamid} leased while {clash:?} of its key ran");
                }
                tokio::task::yield_now().await;
                for job in &jobs {
                    let wamid = wamid_of(job);
                    ran.lock().unwrap().push(wamid.clone());
                    running.lock().unwrap().remove(&wamid[7..9]);
                    store.complete(job).await.unwrap();
                }
            }
        });
    }

    workers.join_all().await;
    let ran = ran.lock().unwrap().clone();

    assert_eq!(ran.len(), keys * usize::try_from(per_key).unwrap(), "every job ran once");
    for k in 0..keys {
        let of_key: Vec<&String> = ran.iter().filter(|w| w.starts_with(&format!("wamid.K{k}"))).collect();
        let mut sorted = of_key.clone();
        sorted.sort();
        assert_eq!(of_key, sorted, "key-{k} ran in order");
    }
}

async fn a_job_whose_lease_expired_is_taken_over_and_the_old_holder_cannot_finish_it(db: &Db) {
    let (crashed_replica, other_replica) = (db.open().await, db.open().await);
    enqueue(crashed_replica.as_ref(), "k", "wamid.X", 1).await;

    let crashed = crashed_replica.claim(1, Duration::from_millis(1)).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken_over = other_replica.claim(1, LEASE).await.unwrap().remove(0);
    crashed_replica.complete(&crashed).await.unwrap();
    let still_queued = other_replica.gauges(OffsetDateTime::now_utc()).await.unwrap().queued;
    other_replica.complete(&taken_over).await.unwrap();
    let after = other_replica.gauges(OffsetDateTime::now_utc()).await.unwrap().queued;

    assert_eq!(taken_over.id, crashed.id);
    assert_eq!(taken_over.attempts, 2);
    assert_eq!(still_queued, 1, "the stale lease holder did not remove it");
    assert_eq!(after, 0);
}

async fn a_handed_job_of_a_dead_process_is_claimed_when_its_lease_ends_and_the_old_holder_cannot_finish_it(db: &Db) {
    let (dead, other) =
        (db.open_handing_off(Some(Duration::from_millis(300))).await, db.open_handing_off(Some(LEASE)).await);
    enqueue(dead.as_ref(), "k", "wamid.X", 1).await;

    let handed = dead.claim(1, Duration::from_millis(300)).await.unwrap().remove(0);
    let while_leased = other.claim(1, LEASE).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let taken_over = other.claim(1, LEASE).await.unwrap().remove(0);
    dead.complete(&handed).await.unwrap();
    let still_queued = other.gauges(OffsetDateTime::now_utc()).await.unwrap().queued;

    assert_eq!(wamid_of(&handed), "wamid.X");
    assert!(while_leased.is_empty(), "a handed job is leased in the database too");
    assert_eq!((taken_over.id, taken_over.attempts), (handed.id, 2));
    assert_eq!(still_queued, 1, "the old holder did not remove it");
}

async fn a_retried_job_waits_for_its_time_and_a_buried_one_is_listed_dead_with_its_error(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "k1", "wamid.R", 1).await;
    enqueue(store.as_ref(), "k2", "wamid.D", 1).await;
    let jobs = claim_all(store.as_ref()).await;
    let retried = jobs.iter().find(|j| wamid_of(j) == "wamid.R").unwrap();
    let buried = jobs.iter().find(|j| wamid_of(j) == "wamid.D").unwrap();

    store.retry(retried, OffsetDateTime::now_utc() + Duration::from_secs(3600), "agent down").await.unwrap();
    store.bury(buried, "no such message").await.unwrap();
    let due_now = claim_all(store.as_ref()).await;
    let dead = store.dead_jobs(PageRequest { limit: 10, after: None }).await.unwrap();

    assert!(due_now.is_empty());
    assert_eq!(dead.items.len(), 1);
    assert_eq!(dead.items[0].id, buried.id);
    assert_eq!(dead.items[0].last_error.as_deref(), Some("no such message"));
    assert_eq!(store.counters().await.unwrap().dead_jobs, 1);
}

async fn a_deferred_or_released_job_does_not_spend_an_attempt(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "k1", "wamid.S", 1).await;
    enqueue(store.as_ref(), "k2", "wamid.T", 1).await;

    let jobs = claim_all(store.as_ref()).await;
    for job in &jobs {
        if wamid_of(job) == "wamid.S" {
            store.release(job).await.unwrap();
        } else {
            store.defer(job, OffsetDateTime::UNIX_EPOCH).await.unwrap();
        }
    }
    let again = claim_all(store.as_ref()).await;

    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|j| j.attempts == 1), "{again:?}");
}

async fn a_requeued_dead_job_runs_again_with_fresh_attempts(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "k", "wamid.Q", 1).await;
    let job = claim_all(store.as_ref()).await.remove(0);
    store.bury(&job, "gave up").await.unwrap();

    let requeued = store.requeue(job.id, OffsetDateTime::now_utc()).await.unwrap();
    let not_dead = store.requeue(job.id, OffsetDateTime::now_utc()).await.unwrap();
    let again = claim_all(store.as_ref()).await;

    assert!(requeued);
    assert!(!not_dead);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
}

async fn a_reply_is_recorded_once_with_its_delivery_and_job(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "u1", "wamid.IN1", 10).await;
    enqueue(store.as_ref(), "u1", "wamid.IN2", 11).await;
    let record = store.inbound(&Wamid::parse("wamid.IN1").unwrap()).await.unwrap().unwrap();
    let reply = |delivery_id: Uuid| NewReply {
        inbound: Wamid::parse("wamid.IN1").unwrap(),
        also_answers: vec![Wamid::parse("wamid.IN2").unwrap()],
        conversation_id: record.conversation_id,
        intent: Intent::Greeting,
        confidence: 0.9,
        agent: AgentName::new("greeter"),
        delivery_id,
        message: outbound(1, Some("wamid.IN1")),
        trace: TraceContext::new_root(),
        job: job(JobKind::DeliverMessage { delivery_id }, "deliver:1", 10),
        open_task: Some(OpenTask { agent: AgentName::new("greeter"), task_id: "task-1".to_owned() }),
        task: Some(AgentTask { id: "task-1".to_owned(), state: TaskState::InputRequired }),
        lease_delivery: None,
        ends: None,
        handoff: None,
        fallback_streak: 0,
        follow_ups: Vec::new(),
    };
    let delivery_id = Uuid::now_v7();

    let first = store.record_reply(reply(delivery_id)).await.unwrap();
    let second = store.record_reply(reply(Uuid::now_v7())).await.unwrap();
    let unanswered = store.unanswered(record.conversation_id).await.unwrap();
    let after = store.inbound(&Wamid::parse("wamid.IN2").unwrap()).await.unwrap().unwrap();
    let delivery = switchboard_application::ports::Deliveries::get(store.as_ref(), delivery_id).await.unwrap().unwrap();
    let deliveries = store.deliveries(DeliveryFilter::default(), PageRequest { limit: 10, after: None }).await.unwrap();

    assert_eq!(first, ReplyRecorded::Recorded(None));
    assert_eq!(second, ReplyRecorded::AlreadyProcessed);
    assert!(unanswered.is_empty(), "both messages are answered");
    assert!(after.processed);
    assert_eq!(after.open_task.map(|t| t.task_id).as_deref(), Some("task-1"));
    assert_eq!(delivery.state, DeliveryState::Pending);
    assert_eq!(deliveries.items.len(), 1);
}

async fn a_reply_ends_the_job_it_was_planned_under_and_a_reply_that_stores_nothing_ends_none(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "u1", "wamid.IN1", 10).await;
    enqueue(store.as_ref(), "u1", "wamid.IN2", 11).await;
    let first = claim_all(store.as_ref()).await;
    assert_eq!(first.iter().map(wamid_of).collect::<Vec<_>>(), ["wamid.IN1"], "one job of a key at a time");
    let planned_under = first[0].lease();

    let (_, recorded) = reply_with(store.as_ref(), "wamid.IN1", None, Some(planned_under)).await;
    // No completion of its own: the reply's write ended the job, so the next of its key
    // runs (beside the reply's own delivery job).
    let inbound_jobs = |jobs: Vec<LeasedJob>| -> Vec<LeasedJob> {
        jobs.into_iter().filter(|j| matches!(j.kind, JobKind::ProcessInbound { .. })).collect()
    };
    let next = inbound_jobs(claim_all(store.as_ref()).await);
    let (_, again) = reply_with(store.as_ref(), "wamid.IN1", None, Some(next[0].lease())).await;
    store.release(&next[0]).await.unwrap();
    let still_there = inbound_jobs(claim_all(store.as_ref()).await);

    assert!(matches!(recorded, ReplyRecorded::Recorded(_)), "{recorded:?}");
    assert_eq!(next.iter().map(wamid_of).collect::<Vec<_>>(), ["wamid.IN2"]);
    assert_eq!(again, ReplyRecorded::AlreadyProcessed);
    assert_eq!(
        still_there.iter().map(wamid_of).collect::<Vec<_>>(),
        ["wamid.IN2"],
        "a reply that stored nothing ended nothing"
    );
}

/// A reply for `wamid` (stored by [`enqueue`]) whose delivery job has the key `deliver:1`,
/// leased to the caller for `lease`, ending the job `ends` names.
async fn reply_with(
    store: &dyn Store,
    wamid: &str,
    lease: Option<Duration>,
    ends: Option<JobLease>,
) -> (Uuid, ReplyRecorded) {
    let record = store.inbound(&Wamid::parse(wamid).unwrap()).await.unwrap().unwrap();
    let delivery_id = Uuid::now_v7();
    let recorded = store
        .record_reply(NewReply {
            inbound: Wamid::parse(wamid).unwrap(),
            also_answers: Vec::new(),
            conversation_id: record.conversation_id,
            intent: Intent::Greeting,
            confidence: 0.9,
            agent: AgentName::new("greeter"),
            delivery_id,
            message: outbound(1, Some(wamid)),
            trace: TraceContext::new_root(),
            job: job(JobKind::DeliverMessage { delivery_id }, "deliver:1", 10),
            open_task: None,
            task: None,
            lease_delivery: lease,
            ends,
            handoff: None,
            fallback_streak: 0,
            follow_ups: Vec::new(),
        })
        .await
        .unwrap();
    (delivery_id, recorded)
}

async fn a_sent_mark_ends_the_job_it_ran_under_and_a_lost_lease_ends_nothing(db: &Db) {
    let store = db.open().await;
    let (sent, lost) = (new_outbound(7), new_outbound(8));
    let (sent_id, lost_id) = (sent.delivery_id, lost.delivery_id);
    store.create(sent).await.unwrap();
    store.create(lost).await.unwrap();
    let jobs = claim_all(store.as_ref()).await;
    let lease_of =
        |id: Uuid| jobs.iter().find(|j| j.kind == JobKind::DeliverMessage { delivery_id: id }).cloned().unwrap();
    let (sent_job, lost_job) = (lease_of(sent_id), lease_of(lost_id));
    let now = OffsetDateTime::now_utc();

    let moved =
        store.mark_sent(sent_id, Route::Whatsapp, None, "graph 200", now, Some(sent_job.lease())).await.unwrap();
    // A lease taken over meanwhile: the token no longer matches.
    let taken_over = JobLease { id: lost_job.id, token: Uuid::now_v7() };
    let moved_too = store.mark_sent(lost_id, Route::Whatsapp, None, "graph 200", now, Some(taken_over)).await.unwrap();
    store.release(&sent_job).await.unwrap();
    store.release(&lost_job).await.unwrap();
    let left: Vec<JobKind> = claim_all(store.as_ref()).await.into_iter().map(|j| j.kind).collect();

    assert!(moved && moved_too);
    assert_eq!(left, [JobKind::DeliverMessage { delivery_id: lost_id }], "the sent mark ended its own job alone");
}

async fn held_messages_are_marked_once_and_a_reply_ends_the_hold(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "u1", "wamid.IN1", 10).await;
    enqueue(store.as_ref(), "u1", "wamid.IN2", 11).await;
    let conversation = store.inbound(&Wamid::parse("wamid.IN1").unwrap()).await.unwrap().unwrap().conversation_id;

    let first = store.mark_throttled(conversation, at(1_800_000_000)).await.unwrap();
    enqueue(store.as_ref(), "u1", "wamid.IN3", 12).await;
    let again = store.mark_throttled(conversation, at(1_800_000_001)).await.unwrap();
    let held = store.inbound(&Wamid::parse("wamid.IN1").unwrap()).await.unwrap().unwrap();
    reply_to(store.as_ref(), "wamid.IN3", None).await;
    let after_reply = store.mark_throttled(conversation, at(1_800_000_002)).await.unwrap();
    let listed =
        store.conversation_messages(conversation, PageRequest { limit: 10, after: None }).await.unwrap().unwrap().items;

    assert_eq!((first, again, after_reply), (2, 1, 0), "each unanswered message is marked once");
    assert!(held.throttled);
    let throttled_at: Vec<_> = listed.iter().filter(|m| m.direction == "inbound").map(|m| m.throttled_at).collect();
    assert_eq!(throttled_at, [Some(at(1_800_000_000)), Some(at(1_800_000_000)), Some(at(1_800_000_001))]);
}

/// A reply for `wamid` (stored by [`enqueue`]) whose delivery job has the key `deliver:1`.
async fn reply_to(store: &dyn Store, wamid: &str, lease: Option<Duration>) -> (Uuid, ReplyRecorded) {
    reply_with(store, wamid, lease, None).await
}

async fn a_replys_delivery_job_is_leased_to_its_writer_and_never_claimed_while_it_runs(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "u1", "wamid.IN1", 10).await;

    let (delivery_id, recorded) = reply_to(store.as_ref(), "wamid.IN1", Some(Duration::from_secs(30))).await;
    let ReplyRecorded::Recorded(Some(leased)) = recorded else { panic!("not leased: {recorded:?}") };
    let claimed = store.claim(10, Duration::from_secs(30)).await.unwrap();

    assert_eq!(leased.kind, JobKind::DeliverMessage { delivery_id });
    assert_eq!(leased.attempts, 1);
    assert!(
        claimed.iter().all(|job| !matches!(job.kind, JobKind::DeliverMessage { .. })),
        "a claim handed out the leased delivery job: {claimed:?}"
    );
    store.complete(&leased).await.unwrap();
    let after = store.claim(10, Duration::from_secs(30)).await.unwrap();
    assert!(after.iter().all(|job| !matches!(job.kind, JobKind::DeliverMessage { .. })), "completed, it is gone");
}

async fn a_replys_delivery_leased_to_its_writer_is_stored_in_flight_for_that_lease_alone(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "u1", "wamid.IN1", 10).await;
    enqueue(store.as_ref(), "u2", "wamid.IN2", 11).await;

    let (leased_delivery, recorded) = reply_to(store.as_ref(), "wamid.IN1", Some(Duration::from_secs(30))).await;
    let ReplyRecorded::Recorded(Some(leased)) = recorded else { panic!("not leased: {recorded:?}") };
    let (queued_delivery, _) = reply_to(store.as_ref(), "wamid.IN2", None).await;
    let planned =
        switchboard_application::ports::Deliveries::get(store.as_ref(), leased_delivery).await.unwrap().unwrap();
    let queued =
        switchboard_application::ports::Deliveries::get(store.as_ref(), queued_delivery).await.unwrap().unwrap();

    assert_eq!(planned.in_flight_by, Some(leased.lease_token), "marked for the lease it was handed under");
    assert!(planned.uncertain_since.is_some());
    assert_eq!(
        (queued.in_flight_by, queued.uncertain_since),
        (None, None),
        "a queued delivery is marked when it is sent"
    );

    store.clear_in_flight(leased_delivery).await.unwrap();
    let taken_back =
        switchboard_application::ports::Deliveries::get(store.as_ref(), leased_delivery).await.unwrap().unwrap();
    assert_eq!((taken_back.in_flight_by, taken_back.uncertain_since), (None, None));

    let now = OffsetDateTime::now_utc();
    store.mark_in_flight(leased_delivery, now).await.unwrap();
    let marked =
        switchboard_application::ports::Deliveries::get(store.as_ref(), leased_delivery).await.unwrap().unwrap();
    assert_eq!(marked.in_flight_by, None, "a mark before a send belongs to no lease");
    assert!(marked.uncertain_since.is_some());
}

async fn a_replys_delivery_job_waits_behind_another_of_its_conversation(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "u1", "wamid.IN1", 10).await;
    enqueue(store.as_ref(), "u2", "wamid.IN2", 11).await;
    let (first_delivery, first) = reply_to(store.as_ref(), "wamid.IN1", None).await;

    let (_, second) = reply_to(store.as_ref(), "wamid.IN2", Some(Duration::from_secs(30))).await;
    let deliveries: Vec<JobKind> = store
        .claim(10, Duration::from_secs(30))
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.kind)
        .filter(|kind| matches!(kind, JobKind::DeliverMessage { .. }))
        .collect();

    assert_eq!(first, ReplyRecorded::Recorded(None));
    assert_eq!(second, ReplyRecorded::Recorded(None), "queued, not leased: an earlier delivery of its key waits");
    assert_eq!(deliveries, vec![JobKind::DeliverMessage { delivery_id: first_delivery }], "one at a time, in order");
}

async fn a_delivery_keeps_its_state_and_every_attempt(db: &Db) {
    let store = db.open().await;
    let outbound = new_outbound(7);
    let id = outbound.delivery_id;
    store.create(outbound).await.unwrap();
    let sent_at = OffsetDateTime::now_utc();
    let provider = Wamid::parse("wamid.PROVIDER7").unwrap();

    store.record_attempt(id, AttemptOutcome::Paced, "paced", sent_at).await.unwrap();
    store.record_failure(id, "graph 500", false, sent_at).await.unwrap();
    let sent = store.mark_sent(id, Route::Whatsapp, Some(provider.clone()), "graph 200", sent_at, None).await.unwrap();
    let sent_twice = store.mark_sent(id, Route::Whatsapp, None, "graph 200", sent_at, None).await.unwrap();
    let delivered = store.transition(id, DeliveryState::Sent, DeliveryState::Delivered, None, sent_at).await.unwrap();
    let found = store.find_by_provider_id(&provider).await.unwrap().unwrap();
    let view = store.view(id).await.unwrap().unwrap();

    assert!(sent);
    assert!(!sent_twice, "only a pending delivery is marked sent");
    assert!(delivered);
    assert_eq!(found.id, id);
    assert_eq!(found.state, DeliveryState::Delivered);
    assert_eq!((found.paced, found.attempts), (1, 2));
    assert!(found.fallback_allowed);
    let outcomes: Vec<&str> = view.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["paced", "retrying", "accepted"]);
    assert_eq!(view.recipient, "+16505550007");
}

async fn sends_to_a_new_contact_from_two_replicas_at_once_create_it_once(db: &Db) {
    let replicas = [db.open().await, db.open().await];
    let mut racing = tokio::task::JoinSet::new();
    for round in 0..6 {
        let store = replicas[round % 2].clone();
        racing.spawn(async move { store.create(new_outbound(77)).await });
    }

    let results: Vec<_> = racing.join_all().await;
    let contacts = replicas[0].contacts(TimeRange::default(), PageRequest { limit: 10, after: None }).await.unwrap();
    let conversations =
        replicas[1].conversations(ConversationFilter::default(), PageRequest { limit: 10, after: None }).await.unwrap();
    let deliveries =
        replicas[0].deliveries(DeliveryFilter::default(), PageRequest { limit: 10, after: None }).await.unwrap();

    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(contacts.items.len(), 1);
    assert_eq!(conversations.items.len(), 1);
    assert_eq!(deliveries.items.len(), 6);
}

async fn the_email_priority_setting_falls_back_to_the_default_until_set(db: &Db) {
    let store = db.open().await;
    let before = store.email_priority().await.unwrap();

    store.set_email_priority(true).await.unwrap();
    let on = store.email_priority().await.unwrap();
    store.set_email_priority(false).await.unwrap();
    let off = store.email_priority().await.unwrap();

    assert!(!before);
    assert!(on);
    assert!(!off);
}

async fn a2a_tasks_are_saved_updated_and_listed_newest_first_a_page_at_a_time(db: &Db) {
    let store = db.open().await;
    let task = |id: &str, context: &str, state: TaskState, created_at: i64| StoredTask {
        task: Task {
            id: id.to_owned(),
            context_id: Some(context.to_owned()),
            status: TaskStatus { state, message: None, timestamp: None },
            artifacts: Vec::new(),
            history: Vec::new(),
            metadata: None,
        },
        agent: None,
        agent_task_id: None,
        trace_id: "trace".to_owned(),
        created_at,
    };
    for (n, id) in ["t1", "t2", "t3"].iter().enumerate() {
        store.save(&task(id, "ctx", TaskState::Submitted, 1000 + i64::try_from(n).unwrap())).await.unwrap();
    }
    store.save(&task("other", "ctx-2", TaskState::Submitted, 5000)).await.unwrap();

    store.save(&task("t2", "ctx", TaskState::Completed, 1001)).await.unwrap();
    let t2 = switchboard_application::ports::A2aTasks::get(store.as_ref(), "t2").await.unwrap().unwrap();
    let first = store.list(Some("ctx".to_owned()), None, 2).await.unwrap();
    let last = first.last().unwrap();
    let second = store.list(Some("ctx".to_owned()), Some((last.created_at, last.task.id.clone())), 2).await.unwrap();
    let everything = store.list(None, None, 10).await.unwrap();

    assert_eq!(t2.task.status.state, TaskState::Completed);
    assert_eq!(first.iter().map(|t| t.task.id.as_str()).collect::<Vec<_>>(), ["t3", "t2"]);
    assert_eq!(second.iter().map(|t| t.task.id.as_str()).collect::<Vec<_>>(), ["t1"]);
    assert_eq!(everything.len(), 4);
    assert_eq!(store.count(Some("ctx".to_owned())).await.unwrap(), 3);
    assert_eq!(store.count(None).await.unwrap(), 4);
}

async fn an_a2a_task_saved_with_its_job_is_claimed_to_run(db: &Db) {
    let store = db.open().await;
    let task = StoredTask {
        task: Task {
            id: "t-later".to_owned(),
            context_id: Some("ctx".to_owned()),
            status: TaskStatus { state: TaskState::Working, message: None, timestamp: None },
            artifacts: Vec::new(),
            history: Vec::new(),
            metadata: None,
        },
        agent: None,
        agent_task_id: None,
        trace_id: "trace".to_owned(),
        created_at: 1000,
    };
    let job = switchboard_application::jobs::a2a_task_job("t-later", TraceContext::new_root(), at(1));

    store.save_with_jobs(&task, &[job]).await.unwrap();
    let saved = switchboard_application::ports::A2aTasks::get(store.as_ref(), "t-later").await.unwrap().unwrap();
    let jobs = claim_all(store.as_ref()).await;

    assert_eq!(saved.task.status.state, TaskState::Working);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, JobKind::RunA2aTask { task_id: "t-later".to_owned() });
}

async fn agents_are_registered_once_listed_and_removed(db: &Db) {
    let store = db.open().await;

    let first = store.register_agent("weather", "http://w").await.unwrap();
    let again = store.register_agent("weather", "http://other").await.unwrap();
    store.register_agent("orders", "http://o").await.unwrap();
    let mut listed = store.registered_agents().await.unwrap();
    listed.sort();
    let removed = store.unregister_agent("weather").await.unwrap();
    let removed_again = store.unregister_agent("weather").await.unwrap();

    assert!(first && !again, "a name is registered once");
    assert_eq!(listed, [("orders".to_owned(), "http://o".to_owned()), ("weather".to_owned(), "http://w".to_owned())]);
    assert!(removed && !removed_again);
    assert_eq!(store.registered_agents().await.unwrap().len(), 1);
}

async fn management_lists_page_through_everything_without_repeats_or_gaps(db: &Db) {
    let store = db.open().await;
    for n in 0..5 {
        store
            .ingest(batch(vec![inbound(&format!("wamid.M{n}"), n, 100 + i64::from(n), "m")], Vec::new()))
            .await
            .unwrap();
        store.create(new_outbound(n)).await.unwrap();
    }
    let page = |after| PageRequest { limit: 2, after };

    let mut contacts = Vec::new();
    let mut next = None;
    loop {
        let found = store.contacts(TimeRange::default(), page(next)).await.unwrap();
        contacts.extend(found.items.into_iter().map(|c| c.id));
        next = found.next;
        if next.is_none() {
            break;
        }
    }
    let mut conversations = Vec::new();
    let mut next = None;
    loop {
        let found = store.conversations(ConversationFilter::default(), page(next)).await.unwrap();
        conversations.extend(found.items);
        next = found.next;
        if next.is_none() {
            break;
        }
    }
    let mut events = Vec::new();
    let mut next = None;
    loop {
        let found = store.webhook_events(EventFilter::default(), page(next)).await.unwrap();
        events.extend(found.items.into_iter().map(|e| e.id));
        next = found.next;
        if next.is_none() {
            break;
        }
    }
    let conversation = &conversations[0];
    let messages = store.conversation_messages(conversation.id, page(None)).await.unwrap().unwrap();
    let one = store.conversation(conversation.id).await.unwrap().unwrap();
    let contact = store.contact(conversation.contact_id).await.unwrap().unwrap();
    let counters = store.counters().await.unwrap();

    let mut unique = contacts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((contacts.len(), unique.len()), (5, 5));
    assert_eq!(conversations.len(), 5);
    assert!(conversations.windows(2).all(|w| (w[0].created_at, w[0].id) >= (w[1].created_at, w[1].id)));
    assert_eq!(events.len(), 5);
    assert_eq!(messages.items.len(), 2, "the inbound message and the outbound one");
    assert_eq!(one.id, conversation.id);
    assert_eq!(contact.conversations, 1);
    assert_eq!(counters.messages_received, 5);
    assert_eq!(counters.queue_depth, 10);
    assert_eq!(counters.deliveries, vec![("pending".to_owned(), 5)]);
}

async fn the_sandbox_outbox_and_replay_bookkeeping_round_trip(db: &Db) {
    let store = db.open().await;
    let event = batch(Vec::new(), Vec::new());
    let event_id = event.event.id.to_string();
    store.ingest(event).await.unwrap();
    let trace = TraceContext::new_root();

    store
        .record_sandbox_send(None, "wamid.SANDBOX.1", &outbound(3, Some("wamid.Q1")), Vec::new(), &trace)
        .await
        .unwrap();
    store.record_sandbox_send(None, "wamid.SANDBOX.2", &outbound(3, None), Vec::new(), &trace).await.unwrap();
    let replies = store.sandbox_outbox(Some(String::from("wamid.Q1")), 10).await.unwrap();
    let all = store.sandbox_outbox(None, 10).await.unwrap();
    let body = store.event_body(&event_id).await.unwrap();
    let missing = store.event_body("no-such-event").await.unwrap();
    store.mark_replayed(&event_id, OffsetDateTime::now_utc()).await.unwrap();
    let events = store.webhook_events(EventFilter::default(), PageRequest { limit: 10, after: None }).await.unwrap();

    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].provider_id, "wamid.SANDBOX.1");
    assert_eq!(all.len(), 2);
    assert_eq!(body.as_deref(), Some(&b"{\"object\":\"whatsapp_business_account\"}"[..]));
    assert!(missing.is_none());
    assert!(events.items[0].replayed_at.is_some());
    assert!(store.ready().await.is_ok());
}

async fn a_deliverys_sandbox_send_is_recorded_once_with_its_status_jobs(db: &Db) {
    let store = db.open().await;
    let trace = TraceContext::new_root();
    let delivery = Uuid::now_v7();
    let status = |wamid: &str| {
        job(
            JobKind::SandboxStatus(Box::new(SandboxStatus {
                wamid: Wamid::parse(wamid).unwrap(),
                status: "sent".to_owned(),
                from_number_id: "100".to_owned(),
                recipient_phone: Some("16505550003".to_owned()),
                recipient_user_id: None,
                callback: Some(delivery.to_string()),
            })),
            &format!("sandbox_status:{wamid}"),
            1,
        )
    };
    let message = outbound(3, Some("wamid.Q1"));

    let first = store
        .record_sandbox_send(Some(delivery), "wamid.SANDBOX.A", &message, vec![status("wamid.SANDBOX.A")], &trace)
        .await
        .unwrap();
    let again = store
        .record_sandbox_send(Some(delivery), "wamid.SANDBOX.B", &message, vec![status("wamid.SANDBOX.B")], &trace)
        .await
        .unwrap();
    let other =
        store.record_sandbox_send(Some(Uuid::now_v7()), "wamid.SANDBOX.C", &message, Vec::new(), &trace).await.unwrap();
    let recorded = store.sandbox_outbox(Some(String::from("wamid.Q1")), 10).await.unwrap();
    let jobs = claim_all(store.as_ref()).await;

    assert_eq!(
        (first.as_str(), again.as_str(), other.as_str()),
        ("wamid.SANDBOX.A", "wamid.SANDBOX.A", "wamid.SANDBOX.C")
    );
    assert_eq!(recorded.len(), 2, "the delivery's message is recorded once, another delivery's too");
    assert_eq!(recorded[0].delivery_id.as_deref(), Some(&delivery.to_string()[..]));
    assert_eq!(jobs.len(), 1, "the status jobs of the first record only");
    assert!(matches!(&jobs[0].kind, JobKind::SandboxStatus(s) if s.wamid.as_str() == "wamid.SANDBOX.A"));
}

// ---------------------------------------------------------------- people in the loop

/// A reply for `wamid` that hands the conversation to people, with one announcement job.
async fn hand_off_with_reply(store: &dyn Store, wamid: &str) -> (Uuid, ReplyRecorded) {
    let record = store.inbound(&Wamid::parse(wamid).unwrap()).await.unwrap().unwrap();
    let delivery_id = Uuid::now_v7();
    let conversation_id = record.conversation_id;
    let announce = job(
        JobKind::AnnounceHandoff { conversation_id, channel: switchboard_application::jobs::AnnounceChannel::Webhook },
        &format!("announce:webhook:{conversation_id}"),
        10,
    );
    let recorded = store
        .record_reply(NewReply {
            inbound: Wamid::parse(wamid).unwrap(),
            also_answers: Vec::new(),
            conversation_id,
            intent: Intent::Handoff,
            confidence: 1.0,
            agent: AgentName::new("switchboard"),
            delivery_id,
            message: outbound(1, Some(wamid)),
            trace: TraceContext::new_root(),
            job: job(JobKind::DeliverMessage { delivery_id }, "deliver:1", 10),
            open_task: None,
            task: None,
            lease_delivery: None,
            ends: None,
            handoff: Some(HandoffStart { reason: HandoffReason::UserAsked, notify: vec![announce] }),
            fallback_streak: 0,
            follow_ups: Vec::new(),
        })
        .await
        .unwrap();
    (conversation_id, recorded)
}

async fn a_handoff_with_a_reply_sends_the_conversation_to_people_and_the_bot_answers_nothing_more(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "u1", "wamid.IN1", 10).await;
    let (conversation, recorded) = hand_off_with_reply(store.as_ref(), "wamid.IN1").await;
    enqueue(store.as_ref(), "u1", "wamid.IN2", 11).await;

    let handling = store.handling(conversation).await.unwrap().unwrap();
    let history = store.history(conversation).await.unwrap();
    let waiting = store.waiting().await.unwrap();
    let next = store.inbound(&Wamid::parse("wamid.IN2").unwrap()).await.unwrap().unwrap();
    let (_, bots_answer) = reply_to(store.as_ref(), "wamid.IN2", None).await;
    let held = store.hold_for_people(conversation, at(1_800_000_000)).await.unwrap();
    let jobs: Vec<&'static str> = claim_all(store.as_ref()).await.iter().map(|j| j.kind.name()).collect();

    assert_eq!(recorded, ReplyRecorded::Recorded(None));
    assert_eq!(handling.handler, Handler::People);
    assert_eq!(handling.reason, Some(HandoffReason::UserAsked));
    assert!(handling.waits_for_a_person() && handling.operator.is_none());
    assert_eq!(waiting.count, 1);
    assert!(waiting.oldest_since.is_some());
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].actor.as_str(), history[0].action.as_str()), ("user", "handoff"));
    assert_eq!(next.handling.handler, Handler::People, "the next message sees who handles it");
    assert_eq!(bots_answer, ReplyRecorded::TakenOver, "the bot stores no answer for people's conversation");
    assert_eq!(held, 1);
    assert!(store.unanswered(conversation).await.unwrap().is_empty());
    assert!(jobs.contains(&"announce_handoff"), "{jobs:?}");
}

async fn operators_take_over_answer_hand_back_and_close_with_each_step_in_the_history(db: &Db) {
    let store = db.open().await;
    enqueue(store.as_ref(), "u1", "wamid.IN1", 10).await;
    let conversation = store.inbound(&Wamid::parse("wamid.IN1").unwrap()).await.unwrap().unwrap().conversation_id;
    let all = [Handler::Bot, Handler::People, Handler::Closed];
    let take = |name: &str| HandlingChange::TakeOver { operator: name.to_owned() };

    let amelia = store.change(conversation, &take("amelia"), &all, at(1_800_000_000)).await.unwrap();
    let bob = store.change(conversation, &take("bob"), &all, at(1_800_000_001)).await.unwrap();
    let taken = store.handling(conversation).await.unwrap().unwrap();
    store.create(NewOutbound { operator: Some("amelia".to_owned()), ..new_outbound(1) }).await.unwrap();
    let answered = store.handling(conversation).await.unwrap().unwrap();
    let waiting_after_answer = store.waiting().await.unwrap().count;
    let back = HandlingChange::HandBack { operator: "amelia".to_owned(), note: Some("refund issued".to_owned()) };
    let handed_back =
        store.change(conversation, &back, &[Handler::People, Handler::Closed], at(1_800_000_002)).await.unwrap();
    enqueue(store.as_ref(), "u1", "wamid.IN2", 12).await;
    let next_turn = store.inbound(&Wamid::parse("wamid.IN2").unwrap()).await.unwrap().unwrap();
    let close = HandlingChange::Close { operator: "amelia".to_owned() };
    let closed = store.change(conversation, &close, &[Handler::Bot, Handler::People], at(1_800_000_003)).await.unwrap();
    let closed_again =
        store.change(conversation, &close, &[Handler::Bot, Handler::People], at(1_800_000_004)).await.unwrap();
    let after_close = store.handling(conversation).await.unwrap().unwrap();
    let history = store.history(conversation).await.unwrap();

    assert!(amelia && !bob, "a conversation one operator holds is not taken by another");
    assert_eq!((taken.handler, taken.operator.as_deref()), (Handler::People, Some("amelia")));
    assert_eq!(taken.reason, Some(HandoffReason::Operator { name: "amelia".to_owned() }));
    assert!(answered.first_human_reply_at.is_some() && !answered.waits_for_a_person());
    assert_eq!(waiting_after_answer, 0);
    assert!(handed_back);
    assert_eq!(next_turn.handling.handler, Handler::Bot);
    assert_eq!(next_turn.handling.handback_note.as_deref(), Some("refund issued"));
    assert!(closed && !closed_again, "a closed conversation is not closed twice");
    assert_eq!(after_close.handler, Handler::Closed);
    let steps: Vec<(&str, &str)> = history.iter().map(|e| (e.actor.as_str(), e.action.as_str())).collect();
    assert_eq!(steps, [("amelia", "take_over"), ("amelia", "reply"), ("amelia", "hand_back"), ("amelia", "close")]);
    assert_eq!(history[2].detail.as_deref(), Some("refund issued"));
}

/// `agent`'s reply to `wamid` (stored by [`enqueue`]): a task in `task` state, else a plain message.
async fn answer(store: &dyn Store, wamid: &str, agent: &str, task: Option<(&str, TaskState)>) {
    let record = store.inbound(&Wamid::parse(wamid).unwrap()).await.unwrap().unwrap();
    let delivery_id = Uuid::now_v7();
    let task = task.map(|(id, state)| AgentTask { id: id.to_owned(), state });
    let open_task = task
        .as_ref()
        .filter(|t| t.state == TaskState::InputRequired)
        .map(|t| OpenTask { agent: AgentName::new(agent), task_id: t.id.clone() });
    let recorded = store
        .record_reply(NewReply {
            inbound: Wamid::parse(wamid).unwrap(),
            also_answers: Vec::new(),
            conversation_id: record.conversation_id,
            intent: Intent::Other("billing".to_owned()),
            confidence: 0.9,
            agent: AgentName::new(agent),
            delivery_id,
            message: outbound(1, Some(wamid)),
            trace: TraceContext::new_root(),
            job: job(JobKind::DeliverMessage { delivery_id }, "deliver:1", 10),
            open_task,
            task,
            lease_delivery: None,
            ends: None,
            handoff: None,
            fallback_streak: 0,
            follow_ups: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(recorded, ReplyRecorded::Recorded(None));
}

async fn a_conversation_keeps_its_latest_task_and_its_agent_is_never_an_operator(db: &Db) {
    let store = db.open().await;
    for (wamid, ts) in [("wamid.IN1", 10), ("wamid.IN2", 11), ("wamid.IN3", 12)] {
        enqueue(store.as_ref(), "u1", wamid, ts).await;
    }
    let conversation = store.inbound(&Wamid::parse("wamid.IN1").unwrap()).await.unwrap().unwrap().conversation_id;
    let read = || async { store.conversation(conversation).await.unwrap().unwrap() };

    answer(store.as_ref(), "wamid.IN1", "billing", Some(("task-7", TaskState::InputRequired))).await;
    let asking = read().await;
    answer(store.as_ref(), "wamid.IN2", "billing", Some(("task-7", TaskState::Completed))).await;
    let completed = read().await;
    answer(store.as_ref(), "wamid.IN3", "greeter", None).await;
    store.create(NewOutbound { operator: Some("amelia".to_owned()), ..new_outbound(1) }).await.unwrap();
    let after_operator = read().await;

    let latest = |c: &switchboard_application::ports::ConversationRecord| {
        c.latest_task.as_ref().map(|t| (t.agent.clone(), t.id.clone(), t.state))
    };
    assert_eq!(latest(&asking), Some(("billing".to_owned(), "task-7".to_owned(), TaskState::InputRequired)));
    assert_eq!(asking.open_task.map(|t| t.task_id).as_deref(), Some("task-7"));
    assert_eq!(latest(&completed), Some(("billing".to_owned(), "task-7".to_owned(), TaskState::Completed)));
    assert_eq!(completed.open_task, None);
    assert_eq!(
        latest(&after_operator),
        Some(("billing".to_owned(), "task-7".to_owned(), TaskState::Completed)),
        "a plain message leaves the latest task as it was"
    );
    assert_eq!(after_operator.assigned_agent.as_deref(), Some("operator:amelia"));
    assert_eq!(after_operator.agent.as_deref(), Some("greeter"), "the agent is the latest agent, not the operator");
}

async fn the_inbox_lists_conversations_waiting_for_a_person_first_longest_wait_first(db: &Db) {
    let store = db.open().await;
    let mut conversations = Vec::new();
    for (n, wamid) in [(1u32, "wamid.A"), (2, "wamid.B"), (3, "wamid.C"), (4, "wamid.D"), (5, "wamid.E")] {
        let receipt = store.ingest(batch(vec![inbound(wamid, n, 10, &format!("u{n}"))], Vec::new())).await.unwrap();
        assert_eq!(receipt.new_messages, 1);
        conversations.push(store.inbound(&Wamid::parse(wamid).unwrap()).await.unwrap().unwrap().conversation_id);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let [a, b, c, d, e] = conversations[..] else { unreachable!() };
    // C asks for a person before B, B before E: they wait in that order. A and D stay
    // with the bot, D active later than A.
    for wamid in ["wamid.C", "wamid.B", "wamid.E"] {
        hand_off_with_reply(store.as_ref(), wamid).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first = |limit| PageRequest { limit, after: None };
    let everyone = InboxFilter::default();

    let whole = People::inbox(store.as_ref(), everyone, first(10)).await.unwrap();
    let mut paged = Vec::new();
    let mut page = People::inbox(store.as_ref(), everyone, first(2)).await.unwrap();
    let mut sizes = vec![page.items.len()];
    paged.extend(page.items.iter().map(|h| h.conversation_id));
    while let Some(after) = page.next.clone() {
        page = People::inbox(store.as_ref(), everyone, PageRequest { limit: 2, after: Some(after) }).await.unwrap();
        sizes.push(page.items.len());
        paged.extend(page.items.iter().map(|h| h.conversation_id));
    }
    let bots = People::inbox(store.as_ref(), InboxFilter { handler: Some(Handler::Bot), ..everyone }, first(10)).await;
    let b_since = whole.items[1].handoff_at.unwrap();
    let long_waits = InboxFilter { waiting_since_or_before: Some(b_since), ..everyone };
    let waited_long = People::inbox(store.as_ref(), long_waits, first(10)).await.unwrap();

    let order: Vec<Uuid> = whole.items.iter().map(|h| h.conversation_id).collect();
    assert_eq!(order, [c, b, e, d, a], "waiting first, longest wait first; then latest activity first");
    assert!(whole.next.is_none());
    assert_eq!(paged, order, "pages of two give the same order, each conversation once");
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(bots.unwrap().items.iter().map(|h| h.conversation_id).collect::<Vec<_>>(), [d, a]);
    assert_eq!(waited_long.items.iter().map(|h| h.conversation_id).collect::<Vec<_>>(), [c, b]);
    assert_eq!(whole.items[0].user, user(3));
}

async fn an_operators_own_take_over_starts_no_wait_and_taking_a_waiting_one_over_does_not_end_it(db: &Db) {
    let store = db.open().await;
    let receipt = store.ingest(batch(vec![inbound("wamid.BOT", 2, 10, "u2")], Vec::new())).await.unwrap();
    assert_eq!(receipt.new_messages, 1);
    let bots = store.inbound(&Wamid::parse("wamid.BOT").unwrap()).await.unwrap().unwrap().conversation_id;
    enqueue(store.as_ref(), "u1", "wamid.ASKED", 11).await;
    let (asked, _) = hand_off_with_reply(store.as_ref(), "wamid.ASKED").await;
    let all = [Handler::Bot, Handler::People, Handler::Closed];
    let take = |name: &str| HandlingChange::TakeOver { operator: name.to_owned() };

    store.change(bots, &take("amelia"), &all, at(1_800_000_000)).await.unwrap();
    store.change(asked, &take("bob"), &all, at(1_800_000_001)).await.unwrap();
    let taken_from_the_bot = store.handling(bots).await.unwrap().unwrap();
    let taken_while_waiting = store.handling(asked).await.unwrap().unwrap();
    let waiting = store.waiting().await.unwrap();

    assert_eq!((taken_from_the_bot.handler, taken_from_the_bot.operator.as_deref()), (Handler::People, Some("amelia")));
    assert_eq!(taken_from_the_bot.handoff_at, None, "nobody asked for a person");
    assert!(!taken_from_the_bot.waits_for_a_person());
    assert!(taken_while_waiting.handoff_at.is_some());
    assert!(taken_while_waiting.waits_for_a_person(), "the user waits until an operator answers");
    assert_eq!(waiting.count, 1);
    assert_eq!(waiting.oldest_since, taken_while_waiting.handoff_at);
}

async fn the_activity_mark_moves_with_every_message_handoff_and_delivery_change(db: &Db) {
    let store = db.open().await;
    let empty = store.activity().await.unwrap();
    enqueue(store.as_ref(), "u1", "wamid.IN1", 10).await;
    let after_message = store.activity().await.unwrap();
    let conversation = store.inbound(&Wamid::parse("wamid.IN1").unwrap()).await.unwrap().unwrap().conversation_id;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let take = HandlingChange::TakeOver { operator: "amelia".to_owned() };
    store.change(conversation, &take, &[Handler::Bot], OffsetDateTime::now_utc()).await.unwrap();
    let after_take_over = store.activity().await.unwrap();
    let unchanged = store.activity().await.unwrap();

    assert_ne!(empty, after_message);
    assert_ne!(after_message, after_take_over);
    assert_eq!(after_take_over, unchanged, "nothing changed, nothing moves");
}

fn operator(name: &str) -> switchboard_domain::OperatorName {
    switchboard_domain::OperatorName::parse(name).unwrap()
}

fn session(id_hash: &str, name: &str, expires_at: i64) -> NewSession {
    NewSession {
        id_hash: id_hash.to_owned(),
        operator: operator(name),
        csrf_token: format!("csrf-of-{id_hash}"),
        created_at: at(0),
        expires_at: at(expires_at),
    }
}

async fn operators_are_added_once_listed_by_name_found_with_their_hash_and_removed(db: &Db) {
    let store = db.open().await;
    let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");

    let added = store.add_operator(&operator("zoe"), Role::Operator, &hash, at(10)).await.unwrap();
    let again = store.add_operator(&operator("zoe"), Role::Admin, &PasswordHash::new("other"), at(11)).await.unwrap();
    store.add_operator(&operator("ana"), Role::Admin, &hash, at(12)).await.unwrap();
    let listed = store.list_operators().await.unwrap();
    let zoe = store.find_operator(&operator("zoe")).await.unwrap().unwrap();
    let nobody = store.find_operator(&operator("nobody")).await.unwrap();
    let removed = store.remove_operator(&operator("zoe")).await.unwrap();
    let removed_again = store.remove_operator(&operator("zoe")).await.unwrap();

    assert!(added);
    assert!(!again, "a second operator of the same name is not added");
    let names: Vec<(&str, Role)> = listed.iter().map(|o| (o.name.as_str(), o.role)).collect();
    assert_eq!(names, [("ana", Role::Admin), ("zoe", Role::Operator)]);
    assert_eq!(listed[1].created_at, at(10));
    assert_eq!((zoe.role, zoe.password_hash), (Role::Operator, hash));
    assert!(nobody.is_none());
    assert!(removed);
    assert!(!removed_again);
    assert_eq!(store.list_operators().await.unwrap().len(), 1);
}

async fn a_session_opens_until_it_expires_is_deleted_or_its_operator_is_removed(db: &Db) {
    let store = db.open().await;
    let hash = PasswordHash::new("$argon2id$fake");
    store.add_operator(&operator("ana"), Role::Admin, &hash, at(0)).await.unwrap();
    store.add_operator(&operator("bo"), Role::Operator, &hash, at(0)).await.unwrap();
    store.create_session(&session("live", "ana", 100)).await.unwrap();
    store.create_session(&session("expired", "ana", 50)).await.unwrap();
    store.create_session(&session("bos", "bo", 100)).await.unwrap();
    store.create_session(&session("ghost", "nobody", 100)).await.unwrap();

    let live = store.find_session("live", at(60)).await.unwrap().unwrap();
    let expired = store.find_session("expired", at(60)).await.unwrap();
    let ghost = store.find_session("ghost", at(60)).await.unwrap();
    let swept = store.delete_expired_sessions(at(60)).await.unwrap();
    let ended = store.delete_session("live").await.unwrap();
    let ended_again = store.delete_session("live").await.unwrap();
    let after_sign_out = store.find_session("live", at(60)).await.unwrap();
    assert!(store.find_session("bos", at(60)).await.unwrap().is_some());
    store.remove_operator(&operator("bo")).await.unwrap();
    let after_removal = store.find_session("bos", at(60)).await.unwrap();

    assert_eq!(live.operator.as_str(), "ana");
    assert_eq!(live.role, Role::Admin);
    assert_eq!(live.csrf_token, "csrf-of-live");
    assert_eq!(live.expires_at, at(100));
    assert!(expired.is_none(), "an expired session opens nothing");
    assert!(ghost.is_none(), "no session is stored for an operator that does not exist");
    assert_eq!(swept, 1);
    assert!(ended);
    assert!(!ended_again);
    assert!(after_sign_out.is_none());
    assert!(after_removal.is_none(), "removing an operator ends their sessions");
}

/// Failures of `key` at each of `seconds`, on `store`, counted over 900 s, 5 to lock.
async fn fail(store: &dyn Store, keys: &[&str], seconds: i64) {
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    store.count_sign_in_failure(&keys, at(seconds), Duration::from_secs(900), 5).await.unwrap();
}

async fn locked(store: &dyn Store, keys: &[&str], seconds: i64) -> Option<OffsetDateTime> {
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    store.sign_in_locked_until(&keys, at(seconds)).await.unwrap()
}

async fn failed_sign_ins_counted_on_two_replicas_lock_the_key_for_both_until_the_window_passes(db: &Db) {
    let (one, two) = (db.open().await, db.open().await);
    for (n, replica) in [&one, &two, &one, &two].into_iter().enumerate() {
        fail(replica.as_ref(), &["name"], 1_000 + n as i64).await;
    }
    let after_four = locked(two.as_ref(), &["name"], 1_004).await;
    fail(one.as_ref(), &["name", "address"], 1_004).await;

    let name_on_the_other = locked(two.as_ref(), &["address", "name"], 1_005).await;
    let address_alone = locked(one.as_ref(), &["address"], 1_005).await;
    let unknown = locked(one.as_ref(), &["nobody"], 1_005).await;
    let when_it_ends = locked(one.as_ref(), &["name"], 1_904).await;
    fail(two.as_ref(), &["name"], 1_905).await;
    let after_one_more = locked(one.as_ref(), &["name"], 1_905).await;

    assert_eq!(after_four, None, "four failures lock nothing");
    assert_eq!(name_on_the_other, Some(at(1_904)), "the fifth, on the other replica, locks the name for a window");
    assert_eq!(address_alone, None, "the address failed once");
    assert_eq!(unknown, None);
    assert_eq!(when_it_ends, None, "the lock ends a window after the fifth failure");
    assert_eq!(after_one_more, None, "after a lock the count starts over");
}

async fn failures_older_than_the_window_and_cleared_ones_are_forgotten(db: &Db) {
    let store = db.open().await;
    for seconds in 2_000..2_004 {
        fail(store.as_ref(), &["slow", "cleared"], seconds).await;
    }
    store.clear_sign_in_failures("cleared").await.unwrap();
    // The window of "slow"'s first failure has passed: this one starts a new count.
    fail(store.as_ref(), &["slow", "cleared"], 2_900).await;
    let slow_after_window = locked(store.as_ref(), &["slow"], 2_901).await;
    let cleared = locked(store.as_ref(), &["cleared"], 2_901).await;
    for seconds in 2_901..2_905 {
        fail(store.as_ref(), &["slow"], seconds).await;
    }
    let slow_at_five_in_a_window = locked(store.as_ref(), &["slow"], 2_905).await;

    assert_eq!(slow_after_window, None);
    assert_eq!(cleared, None, "a cleared key starts over");
    assert_eq!(slow_at_five_in_a_window, Some(at(2_904 + 900)));
}

async fn failures_counted_at_once_on_two_replicas_are_all_counted(db: &Db) {
    let (one, two) = (db.open().await, db.open().await);
    let mut racing = tokio::task::JoinSet::new();
    for n in 0..5 {
        let replica = if n % 2 == 0 { one.clone() } else { two.clone() };
        racing.spawn(async move { fail(replica.as_ref(), &["raced"], 3_000).await });
    }
    while let Some(done) = racing.join_next().await {
        done.unwrap();
    }

    assert_eq!(locked(two.as_ref(), &["raced"], 3_001).await, Some(at(3_900)), "five failures at once lock");
}

async fn a_contacts_consent_keeps_its_first_opt_out_of_each_kind_until_an_opt_in_clears_both(db: &Db) {
    let store = db.open().await;
    store.create(new_outbound(1)).await.unwrap();
    let contact = |n| ContactRef::User(user(n));
    let stop = |seconds| ConsentChange::OptOut {
        scope: ConsentScope::BusinessInitiated,
        source: ConsentSource::UserKeyword,
        at: at(seconds),
    };
    let marketing = ConsentChange::OptOut {
        scope: ConsentScope::Marketing,
        source: ConsentSource::Meta131050,
        at: at(1_800_000_005),
    };

    let before = store.consent(contact(1)).await.unwrap();
    let unknown = store.consent(contact(9)).await.unwrap();
    let first = store.change_consent(contact(1), stop(1_800_000_000)).await.unwrap();
    let again = store.change_consent(contact(1), stop(1_800_000_001)).await.unwrap();
    let of_marketing = store.change_consent(contact(1), marketing).await.unwrap();
    let nobody = store.change_consent(contact(9), stop(1_800_000_000)).await.unwrap();
    let listed = store.contacts(TimeRange::default(), PageRequest { limit: 10, after: None }).await.unwrap();
    let id = listed.items[0].id;
    let by_id = store.consent(ContactRef::Id(id)).await.unwrap();
    let opt_in = ConsentChange::OptIn { source: ConsentSource::Operator, at: at(1_800_000_010) };
    let cleared = store.change_consent(ContactRef::Id(id), opt_in).await.unwrap();
    let cleared_again = store.change_consent(ContactRef::Id(id), opt_in).await.unwrap();
    let after = store.consent(contact(1)).await.unwrap();

    let expected = Consent {
        business_initiated: Some(OptOut { at: at(1_800_000_000), source: ConsentSource::UserKeyword }),
        marketing: Some(OptOut { at: at(1_800_000_005), source: ConsentSource::Meta131050 }),
    };
    assert_eq!(before, Some(Consent::default()));
    assert_eq!(unknown, None, "a user never stored has no consent row");
    assert!(first && !again && of_marketing && !nobody);
    assert_eq!(by_id, Some(expected), "the first opt-out of each kind stands");
    assert_eq!(listed.items[0].consent, expected, "the management read shows consent");
    assert!(cleared && !cleared_again);
    assert_eq!(after, Some(Consent::default()));
}

async fn a_known_contact_is_written_only_when_it_learns_something(db: &Db) {
    let store = db.open().await;
    let from_ada = |wamid: &str, profile: Option<&str>| {
        let mut message = inbound(wamid, 7, 100, "k7");
        message.message.profile_name = profile.map(str::to_owned);
        batch(vec![message], Vec::new())
    };
    let contact = || async {
        let listed = store.contacts(TimeRange::default(), PageRequest { limit: 10, after: None }).await.unwrap();
        let only = listed.items.into_iter().next().unwrap();
        (only.profile_name, only.updated_at)
    };

    store.ingest(from_ada("wamid.C1", Some("Ada"))).await.unwrap();
    let first = contact().await;
    // Timestamps are stored to the millisecond.
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.ingest(from_ada("wamid.C2", Some("Ada"))).await.unwrap();
    store.ingest(from_ada("wamid.C3", None)).await.unwrap();
    let same = contact().await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.ingest(from_ada("wamid.C4", Some("Ada L."))).await.unwrap();
    let renamed = contact().await;

    assert_eq!(same, first, "messages that tell nothing new leave the contact as it was");
    assert_eq!(renamed.0.as_deref(), Some("Ada L."));
    assert!(renamed.1 > first.1, "a new profile name moves updated_at");
}

async fn a_turn_that_changes_nothing_leaves_the_conversation_unwritten(db: &Db) {
    let store = db.open().await;
    let updated_at = |conversation| {
        let store = &store;
        async move { store.handling(conversation).await.unwrap().unwrap().updated_at }
    };
    enqueue(store.as_ref(), "u1", "wamid.IN1", 10).await;
    let conversation = store.inbound(&Wamid::parse("wamid.IN1").unwrap()).await.unwrap().unwrap().conversation_id;
    let ingested = updated_at(conversation).await;

    // Timestamps are stored to the millisecond.
    tokio::time::sleep(Duration::from_millis(5)).await;
    reply_to(store.as_ref(), "wamid.IN1", None).await;
    let after_plain_turn = updated_at(conversation).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    enqueue(store.as_ref(), "u1", "wamid.IN2", 11).await;
    let after_message = updated_at(conversation).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    hand_off_with_reply(store.as_ref(), "wamid.IN2").await;
    let handed_off = store.handling(conversation).await.unwrap().unwrap();

    assert_eq!(after_plain_turn, ingested, "the bot answering again changes nothing of the conversation");
    assert!(after_message > after_plain_turn, "a message coming in moves updated_at");
    assert_eq!(handed_off.handler, Handler::People);
    assert!(handed_off.updated_at > after_message, "a handoff moves updated_at");
}
