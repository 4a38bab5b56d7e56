//! Consent: whether a contact takes business-initiated and marketing messages.

use switchboard_domain::{Consent, ConsentChange, WhatsAppUser};

use super::*;

/// The contact whose consent is read or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef {
    /// The stored contact this WhatsApp user is (by scoped id, else phone).
    User(WhatsAppUser),
    /// The contact with this id (the management API, the console).
    Id(Uuid),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Consents: Send + Sync {
    /// The contact's consent, or `None` when no such contact is stored (a user nobody
    /// wrote to or heard from yet has opted out of nothing).
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn consent(&self, contact: ContactRef) -> Result<Option<Consent>, StoreError>;

    /// Applies the change to the contact. An opt-out keeps an earlier opt-out of the
    /// same scope as it was (its time and source); an opt-in clears both. Answers
    /// whether anything changed (`false` also when no such contact is stored).
    ///
    /// Errors: [`StoreError::Unavailable`]; nothing is changed then.
    async fn change_consent(&self, contact: ContactRef, change: ConsentChange) -> Result<bool, StoreError>;
}
