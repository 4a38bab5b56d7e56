//! What Switchboard sends back to a user.

use serde::{Deserialize, Serialize};

use crate::identity::WhatsAppUser;
use crate::message::Wamid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundContent {
    Text { body: String, preview_url: bool },
}

impl OutboundContent {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
        }
    }

    /// Size in characters, for logs that must not show the body.
    pub fn char_len(&self) -> usize {
        match self {
            Self::Text { body, .. } => body.chars().count(),
        }
    }
}

/// One message to one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub to: WhatsAppUser,
    /// The business number to send from (`phone_number_id`).
    pub from_number_id: String,
    pub content: OutboundContent,
    /// Quote this inbound message (`context.message_id`).
    pub reply_to: Option<Wamid>,
}
