//! Consent, written once for both databases: a contact's opt-outs of business-initiated
//! and marketing messages, each with its time and source, on the contact's row.

use async_trait::async_trait;
use switchboard_application::ports::{Consents, ContactRef, StoreError};
use switchboard_domain::{Consent, ConsentChange, ConsentScope, ConsentSource, OptOut};

use super::engine::{Arg, Engine, SqlStore, args};
use super::records::{Columns, corrupt, from_ms, millis};

/// The look-up of a [`ContactRef::User`] over `$1` (scoped id) and `$2` (phone), as
/// ingest does it: by scoped id, else a contact known by phone alone.
macro_rules! by_user {
    () => {
        "COALESCE((SELECT id FROM contacts WHERE scoped_id = $1),
            (SELECT id FROM contacts WHERE phone = $2 AND (scoped_id IS NULL OR $1 IS NULL)))"
    };
}

/// A contact's consent, by contact id (`$1`) or by user (`$1`, `$2`).
const READ_BY_ID: &str =
    "SELECT c.opted_out_at, c.opted_out_source, c.marketing_opted_out_at, c.marketing_opted_out_source
    FROM contacts c WHERE c.id = $1";
const READ_BY_USER: &str = concat!(
    "SELECT c.opted_out_at, c.opted_out_source, c.marketing_opted_out_at, c.marketing_opted_out_source
    FROM contacts c WHERE c.id = ",
    by_user!()
);

/// Each change twice: for a contact id (`$1`; `$2` is NULL) and for a user (`$1`, `$2`).
/// `$3` is the time (unix ms), `$4` the source, `$5` now. An opt-out keeps an earlier one.
macro_rules! change {
    ($by_id:ident, $by_user:ident, $head:literal, $tail:literal) => {
        const $by_id: &str = concat!($head, "$1 AND CAST($2 AS TEXT) IS NULL", $tail);
        const $by_user: &str = concat!($head, by_user!(), $tail);
    };
}
change!(
    OPT_OUT_BY_ID,
    OPT_OUT_BY_USER,
    "UPDATE contacts SET opted_out_at = $3, opted_out_source = $4, updated_at = $5 WHERE id = ",
    " AND opted_out_at IS NULL"
);
change!(
    MARKETING_BY_ID,
    MARKETING_BY_USER,
    "UPDATE contacts SET marketing_opted_out_at = $3, marketing_opted_out_source = $4, updated_at = $5 WHERE id = ",
    " AND marketing_opted_out_at IS NULL"
);
change!(
    OPT_IN_BY_ID,
    OPT_IN_BY_USER,
    "UPDATE contacts SET opted_out_at = NULL, opted_out_source = NULL,
        marketing_opted_out_at = NULL, marketing_opted_out_source = NULL, updated_at = $5 WHERE id = ",
    " AND (opted_out_at IS NOT NULL OR marketing_opted_out_at IS NOT NULL)
        AND CAST($3 AS BIGINT) = CAST($3 AS BIGINT) AND CAST($4 AS TEXT) = CAST($4 AS TEXT)"
);

/// The values naming the contact: `$1` and `$2`.
fn contact_args(contact: &ContactRef) -> Vec<Arg> {
    match contact {
        ContactRef::User(user) => {
            args![user.scoped_id().map(|s| s.as_str().to_owned()), user.phone().map(|p| p.as_e164().to_owned())]
        }
        ContactRef::Id(id) => args![id.to_string(), Option::<String>::None],
    }
}

fn opt_out(row: &impl Columns, at: &str, source: &str) -> Result<Option<OptOut>, StoreError> {
    let Some(at) = row.opt_int(at).and_then(from_ms) else {
        return Ok(None);
    };
    let name = row.opt_text(source).unwrap_or_default();
    let source = ConsentSource::parse(&name).ok_or_else(|| corrupt("consent source", &name))?;
    Ok(Some(OptOut { at, source }))
}

/// A contact's consent from a row with its four consent columns.
pub(super) fn consent(row: &impl Columns) -> Result<Consent, StoreError> {
    Ok(Consent {
        business_initiated: opt_out(row, "opted_out_at", "opted_out_source")?,
        marketing: opt_out(row, "marketing_opted_out_at", "marketing_opted_out_source")?,
    })
}

#[async_trait]
impl<E: Engine> Consents for SqlStore<E> {
    #[tracing::instrument(name = "store.consent", skip_all)]
    async fn consent(&self, contact: ContactRef) -> Result<Option<Consent>, StoreError> {
        let rows = match &contact {
            ContactRef::Id(id) => self.engine.scan(READ_BY_ID, args![id.to_string()]).await?,
            ContactRef::User(_) => self.engine.scan(READ_BY_USER, contact_args(&contact)).await?,
        };
        rows.first().map(consent).transpose()
    }

    #[tracing::instrument(name = "store.change_consent", skip_all, fields(change = change.label()))]
    async fn change_consent(&self, contact: ContactRef, change: ConsentChange) -> Result<bool, StoreError> {
        let by_id = matches!(contact, ContactRef::Id(_));
        let (sql, at, source) = match change {
            ConsentChange::OptOut { scope: ConsentScope::BusinessInitiated, source, at } => {
                (if by_id { OPT_OUT_BY_ID } else { OPT_OUT_BY_USER }, at, source)
            }
            ConsentChange::OptOut { scope: ConsentScope::Marketing, source, at } => {
                (if by_id { MARKETING_BY_ID } else { MARKETING_BY_USER }, at, source)
            }
            ConsentChange::OptIn { source, at } => (if by_id { OPT_IN_BY_ID } else { OPT_IN_BY_USER }, at, source),
        };
        let mut values = contact_args(&contact);
        values.extend(args![millis(at), source.as_str(), self.now_ms()]);
        Ok(self.engine.write(sql, values).await? > 0)
    }
}
