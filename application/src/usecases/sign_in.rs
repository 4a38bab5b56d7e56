//! Signing in to the console: a name and password checked against the stored hash, then
//! a new session (a random 256-bit id for the cookie, stored only as its SHA-256, and a
//! random CSRF token), with failed attempts throttled per name and per client address.
//!
//! The throttle is kept in this process's memory: a restart forgets it, and replicas
//! each keep their own (an attacker spread over N replicas gets N times the attempts,
//! each still costing an argon2 verification).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::SecretString;
use switchboard_domain::{OperatorName, Role};
use time::OffsetDateTime;

use super::operators::{random_token, session_id_hash};
use crate::ports::{Clock, NewSession, Operators, PasswordHasher, StoreError};

/// How failed sign-ins are throttled: after `max_failures` failures for one name, or
/// from one client address, within `window`, further attempts for it are refused for
/// `window` (without checking the password).
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
    /// The client's address, when known: failures from one address are counted too.
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
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    session_ttl: Duration,
    throttle: SignInThrottle,
}

impl SignIn {
    pub fn new(
        operators: Arc<dyn Operators>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        session_ttl: Duration,
        throttle: ThrottleSettings,
    ) -> Self {
        Self { operators, hasher, clock, session_ttl, throttle: SignInThrottle::new(throttle) }
    }

    /// Verifies the attempt; on success stores and answers a new session. A throttled
    /// name or address is refused before its password is checked.
    #[tracing::instrument(name = "operators.sign_in", skip_all)]
    pub async fn sign_in(&self, attempt: &SignInAttempt<'_>) -> Result<SignedInSession, SignInError> {
        let name_key = format!("name:{}", attempt.name.trim().to_lowercase());
        let address_key = attempt.client.map(|address| format!("address:{address}"));
        let keys: Vec<&str> = std::iter::once(name_key.as_str()).chain(address_key.as_deref()).collect();
        let now = self.clock.now();
        if let Some(retry_after) = self.throttle.locked(&keys, now) {
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
            self.throttle.failed(&keys, now);
            metrics::counter!("switchboard_console_sign_ins_total", "outcome" => "refused").increment(1);
            tracing::warn!("sign-in refused");
            return Err(SignInError::Refused);
        };
        self.throttle.succeeded(&name_key);
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

/// Failed sign-ins per key (a name or an address), in memory.
struct SignInThrottle {
    settings: ThrottleSettings,
    keys: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Default)]
struct Failures {
    /// Failures within the window, oldest first.
    at: Vec<OffsetDateTime>,
    locked_until: Option<OffsetDateTime>,
}

/// Past this many keys, a failure first forgets the keys with nothing recent.
const THROTTLE_KEYS_BEFORE_SWEEP: usize = 10_000;

impl SignInThrottle {
    fn new(settings: ThrottleSettings) -> Self {
        Self { settings, keys: Mutex::new(HashMap::new()) }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long until the most locked of `keys` opens again, if any is locked.
    fn locked(&self, keys: &[&str], now: OffsetDateTime) -> Option<Duration> {
        let map = self.map();
        keys.iter()
            .filter_map(|key| map.get(*key)?.locked_until)
            .filter(|until| *until > now)
            .max()
            .map(|until| (until - now).try_into().unwrap_or_default())
    }

    fn failed(&self, keys: &[&str], now: OffsetDateTime) {
        let window = self.settings.window;
        let mut map = self.map();
        if map.len() > THROTTLE_KEYS_BEFORE_SWEEP {
            map.retain(|_, f| {
                f.locked_until.is_some_and(|u| u > now) || f.at.last().is_some_and(|t| *t + window > now)
            });
        }
        for key in keys {
            let failures = map.entry((*key).to_owned()).or_default();
            failures.at.retain(|t| *t + window > now);
            failures.at.push(now);
            if failures.at.len() >= usize::try_from(self.settings.max_failures).unwrap_or(usize::MAX) {
                failures.locked_until = Some(now + window);
                failures.at.clear();
            }
        }
    }

    /// A right password forgets the name's failures (not the address's: one address
    /// trying many names is still counted).
    fn succeeded(&self, name_key: &str) {
        self.map().remove(name_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockOperators, MockPasswordHasher, OperatorCredentials, PasswordHash};
    use time::macros::datetime;

    const START: OffsetDateTime = datetime!(2026-12-06 12:00 UTC);

    /// A clock that reads the shared instant, so a test can move time on.
    fn clock(now: Arc<Mutex<OffsetDateTime>>) -> Arc<dyn Clock> {
        let mut clock = MockClock::new();
        clock.expect_now().returning(move || *now.lock().unwrap());
        Arc::new(clock)
    }

    /// `ana` (an admin) with the password "right password".
    fn store() -> MockOperators {
        let mut operators = MockOperators::new();
        operators.expect_find_operator().returning(|name| {
            Ok((name.as_str() == "ana").then(|| OperatorCredentials {
                name: name.clone(),
                role: Role::Admin,
                password_hash: PasswordHash::new("hash-of-right-password"),
            }))
        });
        operators.expect_create_session().returning(|_| Ok(()));
        operators.expect_delete_expired_sessions().returning(|_| Ok(0));
        operators
    }

    fn hasher() -> MockPasswordHasher {
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|password, hash| {
            use secrecy::ExposeSecret as _;
            hash.as_ref().is_some_and(|h| h.as_str() == "hash-of-right-password")
                && password.expose_secret() == "right password"
        });
        hasher
    }

    fn sign_in_with(operators: MockOperators, now: Arc<Mutex<OffsetDateTime>>) -> SignIn {
        SignIn::new(
            Arc::new(operators),
            Arc::new(hasher()),
            clock(now),
            Duration::from_secs(12 * 3600),
            ThrottleSettings::default(),
        )
    }

    async fn attempt(
        sign_in: &SignIn,
        name: &str,
        password: &str,
        client: &str,
    ) -> Result<SignedInSession, SignInError> {
        let password = SecretString::from(password);
        sign_in.sign_in(&SignInAttempt { name, password: &password, client: Some(client) }).await
    }

    #[tokio::test]
    async fn the_right_password_opens_a_session_stored_by_the_hash_of_its_id() {
        let mut operators = store();
        operators.checkpoint();
        let stored: Arc<Mutex<Option<NewSession>>> = Arc::default();
        let keep = stored.clone();
        operators.expect_find_operator().returning(|name| {
            Ok(Some(OperatorCredentials {
                name: name.clone(),
                role: Role::Admin,
                password_hash: PasswordHash::new("hash-of-right-password"),
            }))
        });
        operators.expect_create_session().times(1).returning(move |s| {
            *keep.lock().unwrap() = Some(s.clone());
            Ok(())
        });
        operators.expect_delete_expired_sessions().times(1).returning(|_| Ok(2));
        let sign_in = sign_in_with(operators, Arc::new(Mutex::new(START)));

        let session = attempt(&sign_in, "ana", "right password", "10.0.0.1").await.unwrap();

        use secrecy::ExposeSecret as _;
        let stored = stored.lock().unwrap().clone().unwrap();
        assert_eq!(session.operator.as_str(), "ana");
        assert_eq!(session.role, Role::Admin);
        assert_eq!(session.session_id.expose_secret().len(), 64);
        assert_eq!(stored.id_hash, session_id_hash(session.session_id.expose_secret()));
        assert_ne!(stored.id_hash, session.session_id.expose_secret());
        assert_eq!(stored.csrf_token, session.csrf_token);
        assert_eq!(stored.expires_at, START + Duration::from_secs(12 * 3600));
    }

    #[tokio::test]
    async fn a_wrong_password_an_unknown_name_and_a_malformed_name_get_the_same_refusal() {
        let sign_in = sign_in_with(store(), Arc::new(Mutex::new(START)));

        let wrong = attempt(&sign_in, "ana", "wrong password", "10.0.0.1").await;
        let unknown = attempt(&sign_in, "bo", "right password", "10.0.0.2").await;
        let malformed = attempt(&sign_in, "Not A Name!", "right password", "10.0.0.3").await;

        for refused in [wrong, unknown, malformed] {
            assert_eq!(refused.unwrap_err().to_string(), "that name and password do not match an operator");
        }
    }

    #[tokio::test]
    async fn after_five_failures_for_a_name_even_the_right_password_is_throttled_until_the_window_passes() {
        let now = Arc::new(Mutex::new(START));
        let sign_in = sign_in_with(store(), now.clone());
        for i in 0..5 {
            let refused = attempt(&sign_in, "ana", "wrong password", &format!("10.0.0.{i}")).await;
            assert!(matches!(refused, Err(SignInError::Refused)), "attempt {i}: {refused:?}");
        }
        *now.lock().unwrap() = START + Duration::from_secs(60);

        let throttled = attempt(&sign_in, "ana", "right password", "10.9.9.9").await;

        let error = throttled.unwrap_err();
        assert!(matches!(error, SignInError::Throttled { retry_after } if retry_after == Duration::from_secs(840)));
        assert_eq!(error.to_string(), "too many failed sign-ins; try again in 840 s");
        *now.lock().unwrap() = START + Duration::from_secs(15 * 60);
        assert!(attempt(&sign_in, "ana", "right password", "10.9.9.9").await.is_ok());
    }

    #[tokio::test]
    async fn five_failures_from_one_address_throttle_that_address_whatever_the_name() {
        let sign_in = sign_in_with(store(), Arc::new(Mutex::new(START)));
        for name in ["a1", "a2", "a3", "a4", "a5"] {
            let _ = attempt(&sign_in, name, "guess", "192.0.2.7").await;
        }

        let same_address = attempt(&sign_in, "ana", "right password", "192.0.2.7").await;
        let other_address = attempt(&sign_in, "ana", "right password", "192.0.2.8").await;

        assert!(matches!(same_address, Err(SignInError::Throttled { .. })), "{same_address:?}");
        assert!(other_address.is_ok(), "{other_address:?}");
    }

    #[tokio::test]
    async fn failures_older_than_the_window_are_forgotten_and_a_success_clears_the_name() {
        let now = Arc::new(Mutex::new(START));
        let sign_in = sign_in_with(store(), now.clone());
        for _ in 0..4 {
            let _ = attempt(&sign_in, "ana", "wrong", "10.0.0.1").await;
        }
        *now.lock().unwrap() = START + Duration::from_secs(16 * 60);
        let _ = attempt(&sign_in, "ana", "wrong", "10.0.0.2").await;
        assert!(attempt(&sign_in, "ana", "right password", "10.0.0.3").await.is_ok());
        for _ in 0..4 {
            let _ = attempt(&sign_in, "ana", "wrong", "10.0.0.4").await;
        }

        let after = attempt(&sign_in, "ana", "right password", "10.0.0.5").await;

        assert!(after.is_ok(), "{after:?}");
    }

    #[tokio::test]
    async fn a_store_failure_is_not_a_refusal_and_is_not_counted() {
        let mut operators = MockOperators::new();
        operators.expect_find_operator().returning(|_| Err(StoreError::Unavailable(anyhow::anyhow!("down"))));
        let sign_in = sign_in_with(operators, Arc::new(Mutex::new(START)));

        for _ in 0..6 {
            let failed = attempt(&sign_in, "ana", "right password", "10.0.0.1").await;
            assert!(matches!(failed, Err(SignInError::Store(_))), "{failed:?}");
        }
    }
}
