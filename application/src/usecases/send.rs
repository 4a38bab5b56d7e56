use std::sync::Arc;

use switchboard_domain::{
    ConsentRefusal, ContentError, EmailAddress, OutboundContent, OutboundMessage, SendKind, WhatsAppUser,
};
use switchboard_shared::TraceContext;
use tracing::Instrument;
use uuid::Uuid;

use crate::jobs::{JobKind, NewJob, delivery_ordering_key};
use crate::ports::{Clock, Consents, Deliveries, MediaStore, MediaStoreError, NewOutbound, Route, StoreError};
use crate::usecases::consent;

mod order;
pub use order::{FileRef, ListOrder, MediaOrder, OrderError, ReactionOrder, SendOrder, TemplateOrder, UploadFacts};

/// Where the caller wants the message to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestedChannel {
    /// WhatsApp only.
    Whatsapp,
    /// Email only.
    Email,
    /// WhatsApp, then email when WhatsApp cannot deliver.
    Auto,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    pub to: WhatsAppUser,
    pub email: Option<EmailAddress>,
    pub channel: RequestedChannel,
    pub content: OutboundContent,
    pub from_number_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SendMessageError {
    #[error(transparent)]
    Invalid(#[from] ContentError),
    /// A field of the order is missing, malformed or does not go with another.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// The media store could not say whether an uploaded file is there.
    #[error(transparent)]
    Media(#[from] MediaStoreError),
    #[error("channel {0} needs an email address")]
    NoEmail(&'static str),
    /// The contact opted out of what this send is (a proactive message, a template).
    #[error(transparent)]
    OptedOut(#[from] ConsentRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The send API: stores a message with its pending delivery and job; the delivery
/// itself is `DeliverMessage`'s work.
pub struct SendMessage {
    deliveries: Arc<dyn Deliveries>,
    consents: Option<Arc<dyn Consents>>,
    media: Option<Arc<dyn MediaStore>>,
    clock: Arc<dyn Clock>,
}

impl SendMessage {
    pub fn new(deliveries: Arc<dyn Deliveries>, clock: Arc<dyn Clock>) -> Self {
        Self { deliveries, consents: None, media: None, clock }
    }

    /// Orders may name files uploaded to this store.
    #[must_use]
    pub fn with_media(mut self, store: Arc<dyn MediaStore>) -> Self {
        self.media = Some(store);
        self
    }

    /// A caller's order (the send API, the `deliver` skill): parsed, its uploaded file
    /// looked up, then sent as [`Self::execute`] sends.
    ///
    /// Errors: as [`Self::execute`]; [`SendMessageError::Order`] naming the field.
    pub async fn order(
        &self,
        order: SendOrder,
        default_number_id: &str,
        trace: TraceContext,
    ) -> Result<Uuid, SendMessageError> {
        let addressing = order.addressing()?;
        let file = match order.file()? {
            None => None,
            Some(file) => {
                let facts =
                    match (&file, &self.media) {
                        (FileRef::Upload { key, .. }, Some(store)) => store.head(key).await?.map(|stored| {
                            UploadFacts { mime_type: stored.mime_type, size: stored.size, filename: stored.filename }
                        }),
                        _ => None,
                    };
                Some(file.resolve(facts)?)
            }
        };
        let content = order.content(file)?;
        let request = SendRequest {
            to: addressing.to,
            email: addressing.email,
            channel: addressing.channel,
            content,
            from_number_id: addressing.from_number_id.unwrap_or_else(|| default_number_id.to_owned()),
        };
        self.execute(request, trace).await
    }

    /// Every send is business-initiated: one to a contact who opted out is refused.
    #[must_use]
    pub fn with_consents(mut self, consents: Arc<dyn Consents>) -> Self {
        self.consents = Some(consents);
        self
    }

    pub async fn execute(&self, request: SendRequest, trace: TraceContext) -> Result<Uuid, SendMessageError> {
        let span = tracing::info_span!("send_message", trace_id = %trace.trace_id, channel = ?request.channel);
        async {
            request.content.validate()?;
            if request.channel == RequestedChannel::Email && request.email.is_none() {
                return Err(SendMessageError::NoEmail("email"));
            }
            if let Some(consents) = &self.consents {
                let send = SendKind { proactive: true, template: request.content.is_template() };
                if let Some(refused) = consent::refusal(consents.as_ref(), &request.to, send).await? {
                    return Err(refused.into());
                }
            }
            let delivery_id = Uuid::now_v7();
            let now = self.clock.now();
            let message = OutboundMessage {
                to: request.to,
                from_number_id: request.from_number_id,
                content: request.content,
                reply_to: None,
            };
            let job = NewJob {
                kind: JobKind::DeliverMessage { delivery_id },
                ordering_key: delivery_ordering_key(&message),
                order_at: now,
                run_at: now,
                trace,
            };
            let route = if request.channel == RequestedChannel::Email { Route::Email } else { Route::Whatsapp };
            self.deliveries
                .create(NewOutbound {
                    delivery_id,
                    message,
                    email: request.email,
                    route,
                    fallback_allowed: request.channel == RequestedChannel::Auto,
                    trace,
                    job,
                    operator: None,
                })
                .await?;
            tracing::info!(%delivery_id, route = route.as_str(), "message accepted for delivery");
            Ok(delivery_id)
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockConsents, MockDeliveries};
    use switchboard_domain::{Consent, ConsentScope, ConsentSource, OptOut};
    use time::macros::datetime;

    fn build(deliveries: MockDeliveries) -> SendMessage {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(datetime!(2026-11-22 10:00 UTC));
        SendMessage::new(Arc::new(deliveries), Arc::new(clock))
    }

    fn request(channel: RequestedChannel, email: Option<&str>, content: OutboundContent) -> SendRequest {
        SendRequest {
            to: WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap(),
            email: email.map(|e| EmailAddress::parse(e).unwrap()),
            channel,
            content,
            from_number_id: "1".into(),
        }
    }

    #[tokio::test]
    async fn auto_is_stored_for_whatsapp_with_email_allowed_as_fallback() {
        let mut deliveries = MockDeliveries::new();
        deliveries
            .expect_create()
            .withf(|o| {
                o.route == Route::Whatsapp && o.fallback_allowed && o.job.ordering_key == "deliver:1:+447700900123"
            })
            .times(1)
            .returning(|_| Ok(()));

        let result = build(deliveries)
            .execute(
                request(RequestedChannel::Auto, Some("a@example.com"), OutboundContent::text("Hi")),
                TraceContext::new_root(),
            )
            .await;

        assert!(result.is_ok());
    }

    #[tokio::test]
    async fn email_without_an_address_is_refused() {
        let result = build(MockDeliveries::new())
            .execute(request(RequestedChannel::Email, None, OutboundContent::text("Hi")), TraceContext::new_root())
            .await;

        assert!(matches!(result, Err(SendMessageError::NoEmail(_))));
    }

    #[tokio::test]
    async fn content_over_a_limit_is_refused_before_anything_is_stored() {
        let result = build(MockDeliveries::new())
            .execute(
                request(RequestedChannel::Whatsapp, None, OutboundContent::text("x".repeat(5000))),
                TraceContext::new_root(),
            )
            .await;

        assert!(matches!(result, Err(SendMessageError::Invalid(ContentError::TooLong { .. }))));
    }

    #[tokio::test]
    async fn a_send_to_a_contact_who_opted_out_is_refused_and_nothing_is_stored() {
        let mut consents = MockConsents::new();
        consents.expect_consent().returning(|_| {
            Ok(Some(Consent {
                business_initiated: Some(OptOut {
                    at: datetime!(2026-11-21 10:00 UTC),
                    source: ConsentSource::UserKeyword,
                }),
                marketing: None,
            }))
        });

        let result = build(MockDeliveries::new())
            .with_consents(Arc::new(consents))
            .execute(request(RequestedChannel::Whatsapp, None, OutboundContent::text("Hi")), TraceContext::new_root())
            .await;

        assert!(matches!(result, Err(SendMessageError::OptedOut(r)) if r.scope == ConsentScope::BusinessInitiated));
    }

    #[tokio::test]
    async fn a_text_to_a_contact_opted_out_of_marketing_only_is_stored() {
        let mut consents = MockConsents::new();
        consents.expect_consent().returning(|_| {
            Ok(Some(Consent {
                business_initiated: None,
                marketing: Some(OptOut { at: datetime!(2026-11-21 10:00 UTC), source: ConsentSource::Meta131050 }),
            }))
        });
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_create().times(1).returning(|_| Ok(()));

        let result = build(deliveries)
            .with_consents(Arc::new(consents))
            .execute(request(RequestedChannel::Whatsapp, None, OutboundContent::text("Hi")), TraceContext::new_root())
            .await;

        assert!(result.is_ok());
    }

    #[tokio::test]
    async fn an_order_naming_an_upload_is_stored_with_the_file_the_store_describes() {
        use crate::ports::MockMediaStore;
        use switchboard_domain::{MediaKey, MediaKind, MediaSource, StoredMedia};
        let key = MediaKey::upload(Uuid::now_v7());
        let described = StoredMedia {
            key: key.clone(),
            mime_type: "application/pdf".into(),
            size: 10,
            sha256: "00".into(),
            filename: Some("invoice.pdf".into()),
        };
        let mut store = MockMediaStore::new();
        store.expect_head().returning(move |_| Ok(Some(described.clone())));
        let expected = OutboundContent::Media {
            media: MediaKind::Document,
            source: MediaSource::Stored { key: key.clone(), mime_type: "application/pdf".into() },
            caption: Some("Your invoice".into()),
            filename: Some("invoice.pdf".into()),
        };
        let mut deliveries = MockDeliveries::new();
        deliveries
            .expect_create()
            .withf(move |o| o.message.content == expected && o.message.from_number_id == "default")
            .times(1)
            .returning(|_| Ok(()));
        let order: SendOrder = serde_json::from_value(serde_json::json!({
            "to": "+447700900123", "text": "Your invoice", "media": {"key": key.as_str()}
        }))
        .unwrap();

        let result =
            build(deliveries).with_media(Arc::new(store)).order(order, "default", TraceContext::new_root()).await;

        assert!(result.is_ok());
    }

    #[tokio::test]
    async fn an_order_with_a_bad_field_is_refused_naming_it() {
        let order: SendOrder =
            serde_json::from_value(serde_json::json!({"to": "+447700900123", "text": "Hi", "footer": "x"})).unwrap();

        let result = build(MockDeliveries::new()).order(order, "default", TraceContext::new_root()).await;

        assert!(matches!(result, Err(SendMessageError::Order(e)) if e.field == "footer"));
    }
}
