//! Consent: the stop and start words of a conversation, what the user is told, and the
//! changes operators and Meta make (the management API, the console, error 131050).

use std::sync::Arc;

use switchboard_domain::{
    Consent, ConsentChange, ConsentKeywords, ConsentRefusal, ConsentScope, ConsentSource, ConsentWord, SendKind,
    WhatsAppUser,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ports::{Clock, Consents, ContactRef, StoreError};

pub const DEFAULT_STOP_CONFIRMATION: &str =
    "You will get no more messages from us here unless you write to us first. Send START to receive them again.";
pub const DEFAULT_START_CONFIRMATION: &str =
    "Welcome back: you will receive our messages here again. Send STOP to stop them.";

/// How users stop and resume business-initiated messages, and what they are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRules {
    pub keywords: ConsentKeywords,
    pub stop_confirmation: String,
    pub start_confirmation: String,
}

impl Default for ConsentRules {
    fn default() -> Self {
        Self {
            keywords: ConsentKeywords::default(),
            stop_confirmation: String::from(DEFAULT_STOP_CONFIRMATION),
            start_confirmation: String::from(DEFAULT_START_CONFIRMATION),
        }
    }
}

impl ConsentRules {
    /// When `text` is a stop or start word: applies it to the user's contact (at the
    /// time the user wrote it) and answers the confirmation to send.
    ///
    /// Errors: [`StoreError::Unavailable`] (nothing changed; the turn is retried).
    pub(crate) async fn apply_word(
        &self,
        consents: &dyn Consents,
        user: &WhatsAppUser,
        text: &str,
        at: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let Some(word) = self.keywords.classify(text) else {
            return Ok(None);
        };
        let (change, confirmation) = match word {
            ConsentWord::Stop => (
                ConsentChange::OptOut {
                    scope: ConsentScope::BusinessInitiated,
                    source: ConsentSource::UserKeyword,
                    at,
                },
                &self.stop_confirmation,
            ),
            ConsentWord::Start => {
                (ConsentChange::OptIn { source: ConsentSource::UserKeyword, at }, &self.start_confirmation)
            }
        };
        change_for(consents, ContactRef::User(user.clone()), change).await?;
        Ok(Some(confirmation.clone()))
    }
}

/// Applies a change and counts it when it changed anything.
async fn change_for(consents: &dyn Consents, contact: ContactRef, change: ConsentChange) -> Result<bool, StoreError> {
    let changed = consents.change_consent(contact, change).await?;
    if changed {
        tracing::info!(change = change.label(), source = change.source().as_str(), "consent changed");
        metrics::counter!(
            "switchboard_consent_changes_total",
            "change" => change.label(),
            "source" => change.source().as_str()
        )
        .increment(1);
    }
    Ok(changed)
}

/// Meta said 131050 (the user stopped marketing messages): the contact is opted out of
/// marketing.
///
/// Errors: [`StoreError::Unavailable`].
pub(crate) async fn opted_out_of_marketing(
    consents: &dyn Consents,
    user: &WhatsAppUser,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let change = ConsentChange::OptOut { scope: ConsentScope::Marketing, source: ConsentSource::Meta131050, at };
    change_for(consents, ContactRef::User(user.clone()), change).await.map(|_| ())
}

/// Why consent refuses this send to `user`, if it does.
///
/// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
pub(crate) async fn refusal(
    consents: &dyn Consents,
    user: &WhatsAppUser,
    send: SendKind,
) -> Result<Option<ConsentRefusal>, StoreError> {
    let consent = consents.consent(ContactRef::User(user.clone())).await?.unwrap_or_default();
    let refused = consent.refuses(send);
    if let Some(r) = &refused {
        let scope = match r.scope {
            ConsentScope::BusinessInitiated => "business_initiated",
            ConsentScope::Marketing => "marketing",
        };
        tracing::info!(to = %user.key().masked(), scope, "the contact opted out; not sent");
        metrics::counter!("switchboard_consent_refusals_total", "scope" => scope).increment(1);
    }
    Ok(refused)
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeConsentError {
    #[error("no contact {0}")]
    NotFound(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An operator or an API client opts a contact out of business-initiated messages, or
/// in again (which clears a marketing opt-out too).
pub struct ChangeConsent {
    consents: Arc<dyn Consents>,
    clock: Arc<dyn Clock>,
}

impl ChangeConsent {
    pub fn new(consents: Arc<dyn Consents>, clock: Arc<dyn Clock>) -> Self {
        Self { consents, clock }
    }

    /// The contact's consent.
    ///
    /// Errors: [`ChangeConsentError::NotFound`]; [`ChangeConsentError::Store`].
    pub async fn consent(&self, contact_id: Uuid) -> Result<Consent, ChangeConsentError> {
        self.consents.consent(ContactRef::Id(contact_id)).await?.ok_or(ChangeConsentError::NotFound(contact_id))
    }

    /// Opts the contact out (`opted_out`) or in, for `operator` when named (source
    /// `operator`, else `api`); answers the consent after the change.
    ///
    /// Errors: [`ChangeConsentError::NotFound`]; [`ChangeConsentError::Store`].
    #[tracing::instrument(name = "change_consent", skip_all, fields(%contact_id, opted_out))]
    pub async fn execute(
        &self,
        contact_id: Uuid,
        opted_out: bool,
        operator: Option<&str>,
    ) -> Result<Consent, ChangeConsentError> {
        let source = if operator.is_some() { ConsentSource::Operator } else { ConsentSource::Api };
        let at = self.clock.now();
        let change = if opted_out {
            ConsentChange::OptOut { scope: ConsentScope::BusinessInitiated, source, at }
        } else {
            ConsentChange::OptIn { source, at }
        };
        self.consent(contact_id).await?;
        change_for(self.consents.as_ref(), ContactRef::Id(contact_id), change).await?;
        self.consent(contact_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockConsents};
    use switchboard_domain::OptOut;
    use time::macros::datetime;

    fn user() -> WhatsAppUser {
        WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap()
    }

    #[tokio::test]
    async fn a_stop_word_opts_the_user_out_at_the_time_they_wrote_and_answers_the_confirmation() {
        let mut consents = MockConsents::new();
        consents
            .expect_change_consent()
            .withf(|contact, change| {
                *contact == ContactRef::User(user())
                    && *change
                        == ConsentChange::OptOut {
                            scope: ConsentScope::BusinessInitiated,
                            source: ConsentSource::UserKeyword,
                            at: datetime!(2026-12-01 10:00 UTC),
                        }
            })
            .times(1)
            .returning(|_, _| Ok(true));

        let answer =
            ConsentRules::default().apply_word(&consents, &user(), "Stop", datetime!(2026-12-01 10:00 UTC)).await;

        assert_eq!(answer.unwrap().as_deref(), Some(DEFAULT_STOP_CONFIRMATION));
    }

    #[tokio::test]
    async fn an_ordinary_message_changes_no_consent() {
        let answer = ConsentRules::default()
            .apply_word(&MockConsents::new(), &user(), "stop the order please", datetime!(2026-12-01 10:00 UTC))
            .await;

        assert_eq!(answer.unwrap(), None);
    }

    #[tokio::test]
    async fn an_operator_who_opts_a_contact_out_is_the_source() {
        let id = Uuid::nil();
        let mut consents = MockConsents::new();
        let mut reads = 0;
        consents.expect_consent().times(2).returning(move |_| {
            reads += 1;
            Ok(Some(if reads == 1 {
                Consent::default()
            } else {
                Consent {
                    business_initiated: Some(OptOut {
                        at: datetime!(2026-12-01 10:00 UTC),
                        source: ConsentSource::Operator,
                    }),
                    marketing: None,
                }
            }))
        });
        consents
            .expect_change_consent()
            .withf(|_, change| matches!(change, ConsentChange::OptOut { source: ConsentSource::Operator, .. }))
            .times(1)
            .returning(|_, _| Ok(true));
        let mut clock = MockClock::new();
        clock.expect_now().return_const(datetime!(2026-12-01 10:00 UTC));

        let consent = ChangeConsent::new(Arc::new(consents), Arc::new(clock)).execute(id, true, Some("amelia")).await;

        assert!(consent.unwrap().opted_out());
    }

    #[tokio::test]
    async fn an_unknown_contact_is_not_found() {
        let mut consents = MockConsents::new();
        consents.expect_consent().returning(|_| Ok(None));
        let mut clock = MockClock::new();
        clock.expect_now().return_const(datetime!(2026-12-01 10:00 UTC));

        let result = ChangeConsent::new(Arc::new(consents), Arc::new(clock)).execute(Uuid::nil(), false, None).await;

        assert!(matches!(result, Err(ChangeConsentError::NotFound(_))));
    }
}
