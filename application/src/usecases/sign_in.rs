//! Signing in to the console: a name and password checked against the stored hash, then
//! a new session (a random 256-bit id for the cookie, stored only as its SHA-256, and a
//! random CSRF token), with failed attempts throttled per name and per client address.
//!
//! The failures are counted in the store ([`SignInFailures`]), so every replica sees
//! them and a restart forgets nothing: N replicas give an attacker no more attempts than
//! one. They are counted under the SHA-256 of the name or the address, never in the clear.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use switchboard_domain::{OperatorName, Role};
use time::OffsetDateTime;

use super::operators::{random_token, session_id_hash};
use crate::ports::{Clock, NewSession, Operators, PasswordHasher, SignInFailures, StoreError};

/// How failed sign-ins are throttled: after `max_failures` failures for one name, or
/// from one client address, within `window` of the first, further attempts for it are
/// refused for `window` (without checking the password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub max_failures: u32,
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self { max_failures: 5, window: Duration::from_secs(15 * 60) }
    }
}

/// One sign-in attempt, as the form sent it.
#[derive(Debug)]
pub struct SignInAttempt<'a> {
    /// As typed: parsed here, so a malformed name is refused like a wrong one.
    pub name: &'a str,
    pub password: &'a SecretString,
    /// The client's address (or network), when known: failures from one are counted too.
    pub client: Option<&'a str>,
}

/// A new session: `session_id` goes in the cookie and nowhere else.
#[derive(Debug)]
pub struct SignedInSession {
    pub session_id: SecretString,
    pub operator: OperatorName,
    pub role: Role,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong name or wrong password: the same answer for both.
    #[error("that name and password do not match an operator")]
    Refused,
    #[error("too many failed sign-ins; try again in {} s", retry_after.as_secs().max(1))]
    Throttled { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks an operator's password and opens a session.
pub struct SignIn {
    operators: Arc<dyn Operators>,
    failures: Arc<dyn SignInFailures>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    session_ttl: Duration,
    throttle: ThrottleSettings,
}

/// What a name's or an address's failures are counted under: its SHA-256, so the
/// store holds neither (a password typed into the name field, say).
pub fn throttle_key(kind: &str, value: &str) -> String {
    hex::encode(Sha256::digest(format!("{kind}:{value}").as_bytes()))
}

/// Lifts the sign-in lock on an operator's name before it ends (`switchboard operators
/// unlock NAME`): the name's failed sign-ins are forgotten. A lock on an address is not
/// touched: it ends on its own.
///
/// Errors: [`StoreError::Unavailable`].
#[tracing::instrument(name = "operators.unlock", skip_all, fields(operator = %name))]
pub async fn unlock_name(failures: &dyn SignInFailures, name: &OperatorName) -> Result<(), StoreError> {
    failures.clear_sign_in_failures(&throttle_key("name", &name.as_str().to_lowercase())).await?;
    tracing::info!("the name's failed sign-ins were forgotten");
    Ok(())
}

impl SignIn {
    pub fn new(
        operators: Arc<dyn Operators>,
        failures: Arc<dyn SignInFailures>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        session_ttl: Duration,
        throttle: ThrottleSettings,
    ) -> Self {
        Self { operators, failures, hasher, clock, session_ttl, throttle }
    }

    /// Verifies the attempt; on success stores and answers a new session. A throttled
    /// name or address is refused before its password is checked. A store that cannot
    /// count failures fails the attempt (`Store`): sign-in is never left unthrottled.
    #[tracing::instrument(name = "operators.sign_in", skip_all)]
    pub async fn sign_in(&self, attempt: &SignInAttempt<'_>) -> Result<SignedInSession, SignInError> {
        let name_key = throttle_key("name", &attempt.name.trim().to_lowercase());
        let address_key = attempt.client.map(|address| throttle_key("address", address));
        let keys: Vec<String> = std::iter::once(name_key.clone()).chain(address_key).collect();
        let now = self.clock.now();
        if let Some(until) = self.failures.sign_in_locked_until(&keys, now).await? {
            let retry_after = Duration::try_from(until - now).unwrap_or_default();
            metrics::counter!("switchboard_console_sign_ins_total", "outcome" => "throttled").increment(1);
            tracing::warn!(retry_after_secs = retry_after.as_secs(), "sign-in throttled");
            return Err(SignInError::Throttled { retry_after });
        }
        let credentials = match OperatorName::parse(attempt.name) {
            Ok(name) => self.operators.find_operator(&name).await?,
            Err(_) => None,
        };
        let matches = self.hasher.verify(attempt.password, credentials.as_ref().map(|c| c.password_hash.clone())).await;
        let Some(credentials) = credentials.filter(|_| matches) else {
            self.failures.count_sign_in_failure(&keys, now, self.throttle.window, self.throttle.max_failures).await?;
            metrics::counter!("switchboard_console_sign_ins_total", "outcome" => "refused").increment(1);
            tracing::warn!("sign-in refused");
            return Err(SignInError::Refused);
        };
        // A right password forgets the name's failures, not the address's: one address
        // trying many names is still counted.
        if let Err(e) = self.failures.clear_sign_in_failures(&name_key).await {
            tracing::warn!(error = %e, "could not clear the name's failed sign-ins");
        }
        let session_id = random_token();
        let session = NewSession {
            id_hash: session_id_hash(&session_id),
            operator: credentials.name.clone(),
            csrf_token: random_token(),
            created_at: now,
            expires_at: now + self.session_ttl,
        };
        self.operators.create_session(&session).await?;
        // Housekeeping rides on sign-ins: expired sessions open nothing anyway.
        if let Err(e) = self.operators.delete_expired_sessions(now).await {
            tracing::warn!(error = %e, "could not delete expired sessions");
        }
        metrics::counter!("switchboard_console_sign_ins_total", "outcome" => "signed_in").increment(1);
        tracing::info!(operator = %credentials.name, "signed in");
        Ok(SignedInSession {
            session_id: SecretString::from(session_id),
            operator: credentials.name,
            role: credentials.role,
            csrf_token: session.csrf_token,
            expires_at: session.expires_at,
        })
    }
}

#[cfg(test)]
mod tests;
