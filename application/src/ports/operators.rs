//! Operator accounts, their console sessions, and how passwords are hashed.
//!
//! Nothing here holds a password or a session id in the clear: the store keeps a
//! password's hash ([`PasswordHash`]) and a session id's SHA-256 (`id_hash`); the clear
//! session id lives only in the operator's cookie.

use secrecy::SecretString;
use switchboard_domain::{OperatorName, Role};

use super::*;

/// A password hash in PHC string form (`$argon2id$v=19$...`): salted, never the password.
/// `Debug` does not print it, so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// An operator as listed: no hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAccount {
    pub name: OperatorName,
    pub role: Role,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What sign-in checks a password against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorCredentials {
    pub name: OperatorName,
    pub role: Role,
    pub password_hash: PasswordHash,
}

/// A session to store. `id_hash` is the hex SHA-256 of the id in the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id_hash: String,
    pub operator: OperatorName,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A live session, with its operator's role as stored now (a role changed or an
/// operator removed takes effect on the next request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSession {
    pub operator: OperatorName,
    pub role: Role,
    /// The token every state-changing form of this session must carry.
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// Operator accounts and console sessions in the store.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Operators: Send + Sync {
    /// Adds an operator. Answers `false`, and changes nothing, when an operator of that
    /// name exists. `Unavailable` when the store cannot be written.
    async fn add_operator(
        &self,
        name: &OperatorName,
        role: Role,
        password_hash: &PasswordHash,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Every operator, by name. `Unavailable` when the store cannot be read; `Corrupt`
    /// when a stored name or role no longer parses.
    async fn list_operators(&self) -> Result<Vec<OperatorAccount>, StoreError>;

    /// Removes an operator and every session of theirs. Answers `false` when there was
    /// no such operator. `Unavailable` when the store cannot be written.
    async fn remove_operator(&self, name: &OperatorName) -> Result<bool, StoreError>;

    /// The operator's role and password hash, or `None` when there is no such operator.
    /// `Unavailable` when the store cannot be read; `Corrupt` when the role does not parse.
    async fn find_operator(&self, name: &OperatorName) -> Result<Option<OperatorCredentials>, StoreError>;

    /// Stores a new session. `Unavailable` when the store cannot be written (also when
    /// its operator was removed in the meantime: the session would open nothing).
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// The session whose id hashes to `id_hash`, if it exists and expires after `now`.
    /// `Unavailable` when the store cannot be read; `Corrupt` when a stored value does
    /// not parse.
    async fn find_session(&self, id_hash: &str, now: OffsetDateTime) -> Result<Option<OperatorSession>, StoreError>;

    /// Ends a session. Answers `false` when there was none. `Unavailable` when the store
    /// cannot be written.
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError>;

    /// Deletes the sessions that expired at or before `now`; answers how many.
    /// `Unavailable` when the store cannot be written.
    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Failed console sign-ins, counted per key in the store, so every replica counts the
/// same failures and a restart forgets none. A key is opaque here (the use case gives
/// the SHA-256 of a name or a client address, never the name or address).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SignInFailures: Send + Sync {
    /// The latest time one of `keys` is locked until, when one is locked after `now`.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn sign_in_locked_until(
        &self,
        keys: &[String],
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Counts one failure at `now` for each of `keys`. A key whose first counted failure
    /// is `window` old or older starts over at one; a key that reaches `max_failures`
    /// is locked until `now + window` (and starts over once that has passed). Each key
    /// is counted by one atomic statement, so failures on several replicas at once are
    /// all counted. Keys with nothing left to count (window and lock both over) are
    /// forgotten on the way.
    ///
    /// Errors: [`StoreError::Unavailable`]; the keys before the failing one are counted.
    async fn count_sign_in_failure(
        &self,
        keys: &[String],
        now: OffsetDateTime,
        window: Duration,
        max_failures: u32,
    ) -> Result<(), StoreError>;

    /// Forgets `key`'s failures and lock.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn clear_sign_in_failures(&self, key: &str) -> Result<(), StoreError>;
}

/// Hashes passwords for storage and checks them (argon2id in the adapter).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A fresh hash of `password`, with a random salt. Errs only when the hasher itself
    /// fails (its parameters, the system's randomness); the error never holds the password.
    async fn hash(&self, password: &SecretString) -> anyhow::Result<PasswordHash>;

    /// Whether `password` matches `hash`. With `None` (no such operator) it spends about
    /// the time a real check takes and answers `false`, so a sign-in does not tell by
    /// its timing whether a name exists. A hash that does not parse answers `false`.
    async fn verify(&self, password: &SecretString, hash: Option<PasswordHash>) -> bool;
}
