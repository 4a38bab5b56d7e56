//! # switchboard-domain
//!
//! The centre of the hexagon: Switchboard's model and the rules that hold whatever the
//! channel, the agent or the database. Pure: no IO, no async runtime, no web, HTTP or
//! database crates (`cargo tree -p switchboard-domain` shows none).
//!
//! - [`a2a`]: the A2A v1.0 wire model (serde only).
//! - [`identity`]: who a WhatsApp user is (E.164 phone or business-scoped user id).
//! - [`message`]: the channel-neutral inbound message model; unknown kinds kept raw.
//! - [`delivery`]: the delivery state machine that only moves forward.
//! - [`window`]: the 24-hour customer-service window.
//! - [`workflow`]: one unit of work for the orchestrator, intents and routing policy.
//! - [`outbound`]: what Switchboard sends back.
//! - [`consent`]: who opted out of business-initiated or marketing messages, and the
//!   stop and start words.
//! - [`handoff`]: who handles a conversation (bot or people) and why people were called.
//! - [`meta_errors`]: Meta's error codes for a send, and what to do about each.
//! - [`media`]: files both ways: Meta's limits, the inbound policy, storage keys.
//! - [`choices`]: choices an agent offers, and how a reply becomes WhatsApp messages.
//! - [`operator`]: the people in the console: operator names and roles.

pub mod a2a;
pub mod choices;
pub mod consent;
pub mod delivery;
pub mod handoff;
pub mod identity;
pub mod media;
pub mod message;
pub mod meta_errors;
pub mod operator;
pub mod outbound;
pub mod window;
pub mod workflow;

pub use choices::{ChoiceOption, ChoiceStyle, Choices, Composed, ReplyFile, compose};
pub use consent::{
    Consent, ConsentChange, ConsentKeywords, ConsentRefusal, ConsentScope, ConsentSource, ConsentWord, OptOut, SendKind,
};
pub use delivery::{DeliveryState, StatusUpdate, TransitionOutcome};
pub use handoff::{FallbackPolicy, Handler, Handoff, HandoffKeywords, HandoffReason};
pub use identity::{EmailAddress, EmailAddressError, IdentityError, PhoneNumber, ScopedUserId, UserKey, WhatsAppUser};
pub use media::{
    AgentFile, AgentFileSource, Attachment, InboundMediaPolicy, MediaError, MediaKey, RefusalCode, StoredMedia,
};
pub use message::{ChannelError, InboundContent, InboundMessage, MediaKind, ReplyContext, Wamid};
pub use meta_errors::{SendAction, SendFailure};
pub use operator::{OperatorName, OperatorNameError, Role, UnknownRole};
pub use outbound::{
    ContentError, ListRow, ListSection, MediaHeader, MediaSource, OutboundContent, OutboundMessage, ReplyButton,
    TemplateComponent, TemplateParameter,
};
pub use window::ServiceWindow;
pub use workflow::{
    AgentHandoff, AgentName, AgentReply, AgentTask, AgentTransfer, Channel, Classification, Intent, RoutingPolicy,
    WorkflowRequest,
};
