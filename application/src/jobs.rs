//! Durable jobs: what a job is, as stored in the queue.

use serde::{Deserialize, Serialize};
use switchboard_domain::Wamid;
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use uuid::Uuid;

/// The work a job stands for. Stored as JSON; new kinds are added, never renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobKind {
    ProcessInbound {
        wamid: Wamid,
    },
    DeliverMessage {
        delivery_id: Uuid,
    },
    RecordStatus {
        wamid: Wamid,
        status: String,
        /// Meta's first error on a failed status, as `code: title`.
        error: Option<String>,
        /// That error's code, which the shared policy classifies.
        #[serde(default)]
        error_code: Option<i64>,
        /// `biz_opaque_callback_data`: our delivery id, when we sent it.
        #[serde(default)]
        callback: Option<String>,
    },
    /// Sandbox mode: a status webhook Meta would send about a message the sandbox
    /// recorded instead of sending, still to be posted to our own webhook (ADR 0017).
    SandboxStatus(Box<SandboxStatus>),
    /// Tells operators that a conversation waits for a person, on one channel.
    AnnounceHandoff {
        conversation_id: Uuid,
        channel: AnnounceChannel,
    },
    /// Runs one of Switchboard's own A2A tasks that its caller does not wait on
    /// (`returnImmediately`, the streaming methods): a crash resumes it.
    RunA2aTask {
        task_id: String,
    },
    /// Posts one update of an A2A task to a client's push URL.
    PushTaskUpdate {
        task_id: String,
        config_id: String,
        /// The `StreamResponse` as it was when the task changed (JSON).
        event: String,
    },
}

/// The job that posts `event` to the task's push config `config_id`; one config's posts
/// go in order.
pub fn push_job(task_id: &str, config_id: &str, event: String, trace: TraceContext, now: OffsetDateTime) -> NewJob {
    NewJob {
        kind: JobKind::PushTaskUpdate { task_id: task_id.to_owned(), config_id: config_id.to_owned(), event },
        ordering_key: format!("a2a_push:{task_id}:{config_id}"),
        order_at: now,
        run_at: now,
        trace,
    }
}

/// The job that runs an accepted A2A task; one task's runs happen one at a time.
pub fn a2a_task_job(task_id: &str, trace: TraceContext, now: OffsetDateTime) -> NewJob {
    NewJob {
        kind: JobKind::RunA2aTask { task_id: task_id.to_owned() },
        ordering_key: format!("a2a_task:{task_id}"),
        order_at: now,
        run_at: now,
        trace,
    }
}

/// Where operators are told that a conversation waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnounceChannel {
    /// An email through the mailer to the operators' address.
    Email,
    /// A signed POST to the operators' webhook (Slack-style integrations).
    Webhook,
}

impl AnnounceChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }
}

/// The jobs that announce a conversation's handoff on each channel; each runs on its own
/// (one failing channel does not hold the other back).
pub fn announce_jobs(
    channels: &[AnnounceChannel],
    conversation_id: Uuid,
    trace: TraceContext,
    now: OffsetDateTime,
) -> Vec<NewJob> {
    channels
        .iter()
        .map(|&channel| NewJob {
            kind: JobKind::AnnounceHandoff { conversation_id, channel },
            ordering_key: format!("announce:{}:{conversation_id}", channel.as_str()),
            order_at: now,
            run_at: now,
            trace,
        })
        .collect()
}

impl JobKind {
    /// A short label for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ProcessInbound { .. } => "process_inbound",
            Self::DeliverMessage { .. } => "deliver_message",
            Self::RecordStatus { .. } => "record_status",
            Self::SandboxStatus(_) => "sandbox_status",
            Self::AnnounceHandoff { .. } => "announce_handoff",
            Self::RunA2aTask { .. } => "run_a2a_task",
            Self::PushTaskUpdate { .. } => "push_task_update",
        }
    }
}

/// A status Meta would report about a message the sandbox recorded: what its status
/// webhook says, and to whom the message went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxStatus {
    /// The wamid the sandbox gave the message.
    pub wamid: Wamid,
    /// `sent`, `delivered` or `read`.
    pub status: String,
    /// The business number it left from (`metadata.phone_number_id`).
    pub from_number_id: String,
    /// `recipient_id`: the user's phone digits, when known.
    pub recipient_phone: Option<String>,
    /// `recipient_user_id`: the user's business-scoped id, when known.
    pub recipient_user_id: Option<String>,
    /// `biz_opaque_callback_data`: what the send carried (our delivery id).
    pub callback: Option<String>,
}

impl SandboxStatus {
    /// The ordering key of one message's statuses: they leave in order.
    pub fn ordering_key(&self) -> String {
        format!("sandbox_status:{}", self.wamid)
    }
}

/// The ordering key of deliveries to one user from one number: they leave in order.
pub fn delivery_ordering_key(message: &switchboard_domain::OutboundMessage) -> String {
    format!("deliver:{}:{}", message.from_number_id, message.to.key().as_storage_key())
}

/// A job to enqueue, always in the same transaction as the data it works on.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: JobKind,
    /// Jobs sharing a key run one at a time, in (`order_at`, enqueue) order.
    pub ordering_key: String,
    pub order_at: OffsetDateTime,
    /// Not before this instant.
    pub run_at: OffsetDateTime,
    pub trace: TraceContext,
}

/// A job a worker holds until its lease ends.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedJob {
    pub id: i64,
    pub kind: JobKind,
    pub trace: TraceContext,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// Proves this worker still holds the lease when it reports back.
    pub lease_token: Uuid,
}

impl LeasedJob {
    /// The lease this job runs under.
    pub fn lease(&self) -> JobLease {
        JobLease { id: self.id, token: self.lease_token }
    }
}

/// A job's lease as the worker running it holds it. A use case's last write ends the job
/// with it, in the same transaction, so that no write of its own follows (ADR 0038); a
/// lease lost meanwhile (the job taken over) ends nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLease {
    pub id: i64,
    pub token: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wamid() -> Wamid {
        Wamid::parse("wamid.A").unwrap()
    }

    fn sandbox_status() -> SandboxStatus {
        SandboxStatus {
            wamid: Wamid::parse("wamid.SANDBOX.1").unwrap(),
            status: String::from("read"),
            from_number_id: String::from("100"),
            recipient_phone: None,
            recipient_user_id: Some(String::from("US.1")),
            callback: None,
        }
    }

    #[test]
    fn each_kind_is_stored_under_the_type_its_label_names() {
        let kinds = [
            JobKind::ProcessInbound { wamid: wamid() },
            JobKind::DeliverMessage { delivery_id: Uuid::nil() },
            JobKind::RecordStatus {
                wamid: wamid(),
                status: String::from("failed"),
                error: Some(String::from("131026: Message undeliverable")),
                error_code: Some(131026),
                callback: None,
            },
            JobKind::SandboxStatus(Box::new(sandbox_status())),
            JobKind::RunA2aTask { task_id: String::from("t-1") },
        ];

        for kind in kinds {
            let stored = serde_json::to_value(&kind).unwrap();
            assert_eq!(stored["type"], json!(kind.name()));
            assert_eq!(serde_json::from_value::<JobKind>(stored).unwrap(), kind);
        }
    }

    #[test]
    fn a_status_job_stored_before_error_codes_and_callbacks_still_reads() {
        let stored = json!({"type": "record_status", "wamid": "wamid.A", "status": "sent", "error": null});

        let kind: JobKind = serde_json::from_value(stored).unwrap();

        assert!(matches!(kind, JobKind::RecordStatus { error_code: None, callback: None, .. }));
    }

    #[test]
    fn one_messages_sandbox_statuses_share_an_ordering_key() {
        let read = sandbox_status();
        let delivered = SandboxStatus { status: String::from("delivered"), ..sandbox_status() };

        assert_eq!(read.ordering_key(), "sandbox_status:wamid.SANDBOX.1");
        assert_eq!(read.ordering_key(), delivered.ordering_key());
    }
}
