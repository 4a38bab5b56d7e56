//! One struct per use case, holding its ports; one error enum each.

pub mod a2a_server;
mod agents;
mod consent;
mod deliver;
mod ingest;
mod media;
mod operate;
mod operators;
mod people;
mod process;
pub mod route;
mod send;
mod sign_in;
mod status;
mod templates;
mod workflow;

pub use agents::{ManageAgents, ManageAgentsError};
pub use consent::{
    ChangeConsent, ChangeConsentError, ConsentRules, DEFAULT_START_CONFIRMATION, DEFAULT_STOP_CONFIRMATION,
};
pub use deliver::{DeliverError, DeliverMessage, DeliverOutcome, DeliveryPolicy, OutsideWindow, TemplateConfig};
pub use ingest::{IngestError, IngestWebhook, ParsedInbound, ParsedStatus, ParsedWebhook, WebhookContent};
pub use media::{
    AcceptUpload, LinkError, MediaIntake, MediaLinks, MediaNotYet, MessageFile, ReplyMedia, ServeMedia,
    ServeMediaError, StoredReplyFiles, UploadError, UploadMedia,
};
pub use operate::{DeadLetters, ParseWebhook, ReplayError, ReplayEvents, ReplayOutcome};
pub use operators::{AddOperatorError, MIN_PASSWORD_CHARS, ManageOperators, OperatorSessions, session_id_hash};
pub use people::{AnnounceFailure, AnnounceHandoff, AnnounceOutcome, PeopleError, PeopleInTheLoop};
pub use process::{
    DEFAULT_HANDOFF_ACKNOWLEDGEMENT, DoubleTexting, HandoffRules, ProcessInbound, ProcessInboundError, ProcessOutcome,
    SWITCHBOARD_AGENT,
};
pub use send::{
    ListOrder, MediaOrder, OrderError, ReactionOrder, RequestedChannel, SendMessage, SendMessageError, SendOrder,
    SendRequest, TemplateOrder,
};
pub use sign_in::{SignIn, SignInAttempt, SignInError, SignedInSession, ThrottleSettings, unlock_name};
pub use status::{RecordStatus, RecordStatusError, StatusOutcome, StatusReport};
pub use templates::{TemplateCatalogue, TemplateMismatch, TemplateOffer};
pub use workflow::{RunWorkflow, WorkflowError, WorkflowOutcome};

/// Which attempt of a job this is, so a use case can act on the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub is_last: bool,
    /// The lease the job runs under, when it runs from the queue: what the store stamped
    /// on the work planned for this lease (a reply's delivery marked in flight, ADR 0034),
    /// and what the use case's last write ends the job with (ADR 0038).
    pub lease: Option<crate::jobs::JobLease>,
}

impl Attempt {
    pub fn first() -> Self {
        Self { number: 1, is_last: false, lease: None }
    }
}

/// Values the use-case tests share.
#[cfg(test)]
pub(crate) mod fixtures {
    use switchboard_domain::{DeliveryState, OutboundContent, OutboundMessage, Wamid, WhatsAppUser};
    use uuid::Uuid;

    use crate::ports::{Delivery, Route};
    use switchboard_shared::TraceContext;

    /// A text delivery to +447700900123 in `state`, sent as `wamid.OUT` unless pending.
    pub fn delivery(state: DeliveryState) -> Delivery {
        Delivery {
            id: Uuid::nil(),
            message: OutboundMessage {
                to: WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap(),
                from_number_id: "1".into(),
                content: OutboundContent::Text { body: "Hi".into(), preview_url: false },
                reply_to: None,
            },
            state,
            route: Route::Whatsapp,
            fallback_allowed: true,
            email: None,
            profile_name: None,
            last_inbound_at: None,
            provider_id: (state != DeliveryState::Pending).then(|| Wamid::parse("wamid.OUT").unwrap()),
            attempts: 0,
            uncertain_since: None,
            in_flight_by: None,
            paced: 0,
            held: 0,
            last_error: None,
            trace: TraceContext::new_root(),
        }
    }
}
