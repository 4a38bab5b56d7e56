//! Operator accounts (`switchboard operators add|list|remove`) and the console's
//! sessions once signed in (which operator a cookie names; signing out).

use std::sync::Arc;

use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use switchboard_domain::{OperatorName, Role};

use crate::ports::{Clock, OperatorAccount, OperatorSession, Operators, PasswordHasher, StoreError};

/// The shortest password an operator may have.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Why an operator was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddOperatorError {
    #[error("the password is too short: at least {MIN_PASSWORD_CHARS} characters, please")]
    PasswordTooShort,
    #[error("an operator named {0} exists already")]
    Duplicate(OperatorName),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Adds, lists and removes operators.
pub struct ManageOperators {
    operators: Arc<dyn Operators>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
}

impl ManageOperators {
    pub fn new(operators: Arc<dyn Operators>, hasher: Arc<dyn PasswordHasher>, clock: Arc<dyn Clock>) -> Self {
        Self { operators, hasher, clock }
    }

    /// Stores a new operator with the hash of `password` (at least
    /// [`MIN_PASSWORD_CHARS`] characters).
    #[tracing::instrument(name = "operators.add", skip_all, fields(operator = %name, %role))]
    pub async fn add(&self, name: &OperatorName, role: Role, password: &SecretString) -> Result<(), AddOperatorError> {
        if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
            return Err(AddOperatorError::PasswordTooShort);
        }
        let hash = self.hasher.hash(password).await?;
        if !self.operators.add_operator(name, role, &hash, self.clock.now()).await? {
            return Err(AddOperatorError::Duplicate(name.clone()));
        }
        tracing::info!("operator added");
        Ok(())
    }

    /// Every operator, by name.
    pub async fn list(&self) -> Result<Vec<OperatorAccount>, StoreError> {
        self.operators.list_operators().await
    }

    /// Removes an operator and ends their sessions; `false` when there was none.
    #[tracing::instrument(name = "operators.remove", skip_all, fields(operator = %name))]
    pub async fn remove(&self, name: &OperatorName) -> Result<bool, StoreError> {
        let removed = self.operators.remove_operator(name).await?;
        if removed {
            tracing::info!("operator removed");
        }
        Ok(removed)
    }
}

/// A new random secret: 32 bytes from the thread's CSPRNG (seeded from the OS), in hex.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the store keeps of a session id: its SHA-256, in hex. The id itself has 256
/// random bits, so a fast hash is enough: nobody can guess an id from its hash.
pub fn session_id_hash(session_id: &str) -> String {
    hex::encode(Sha256::digest(session_id.as_bytes()))
}

/// The console's sessions after sign-in: which operator a cookie's session id names,
/// and signing out.
pub struct OperatorSessions {
    operators: Arc<dyn Operators>,
    clock: Arc<dyn Clock>,
}

impl OperatorSessions {
    pub fn new(operators: Arc<dyn Operators>, clock: Arc<dyn Clock>) -> Self {
        Self { operators, clock }
    }

    /// The live session `session_id` names, or `None` (unknown, expired, or its operator
    /// removed). `Unavailable` when the store cannot be read.
    pub async fn current(&self, session_id: &str) -> Result<Option<OperatorSession>, StoreError> {
        if session_id.is_empty() {
            return Ok(None);
        }
        self.operators.find_session(&session_id_hash(session_id), self.clock.now()).await
    }

    /// Ends the session `session_id` names, if any: its cookie opens nothing afterwards.
    #[tracing::instrument(name = "operators.sign_out", skip_all)]
    pub async fn end(&self, session_id: &str) -> Result<(), StoreError> {
        self.operators.delete_session(&session_id_hash(session_id)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockOperators, MockPasswordHasher, PasswordHash};
    use time::OffsetDateTime;
    use time::macros::datetime;

    fn clock() -> Arc<dyn Clock> {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(datetime!(2026-12-06 12:00 UTC));
        Arc::new(clock)
    }

    fn name(text: &str) -> OperatorName {
        OperatorName::parse(text).unwrap()
    }

    fn hashing() -> MockPasswordHasher {
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_hash().returning(|_| Ok(PasswordHash::new("$argon2id$fake")));
        hasher
    }

    #[tokio::test]
    async fn an_operator_is_stored_with_the_hash_of_the_password_not_the_password() {
        let mut operators = MockOperators::new();
        operators
            .expect_add_operator()
            .withf(|name, role, hash, _| {
                name.as_str() == "ana" && *role == Role::Admin && hash.as_str() == "$argon2id$fake"
            })
            .times(1)
            .returning(|_, _, _, _| Ok(true));
        let manage = ManageOperators::new(Arc::new(operators), Arc::new(hashing()), clock());

        let added = manage.add(&name("ana"), Role::Admin, &SecretString::from("correct horse battery")).await;

        assert!(added.is_ok(), "{added:?}");
    }

    #[tokio::test]
    async fn a_password_shorter_than_twelve_characters_is_refused_before_anything_is_stored() {
        let manage = ManageOperators::new(Arc::new(MockOperators::new()), Arc::new(MockPasswordHasher::new()), clock());

        let added = manage.add(&name("ana"), Role::Operator, &SecretString::from("elevenchars")).await;

        assert!(matches!(added, Err(AddOperatorError::PasswordTooShort)), "{added:?}");
        assert!(added.unwrap_err().to_string().contains("at least 12 characters"));
    }

    #[tokio::test]
    async fn adding_a_name_that_exists_is_refused_by_name() {
        let mut operators = MockOperators::new();
        operators.expect_add_operator().returning(|_, _, _, _| Ok(false));
        let manage = ManageOperators::new(Arc::new(operators), Arc::new(hashing()), clock());

        let added = manage.add(&name("ana"), Role::Operator, &SecretString::from("long enough password")).await;

        assert_eq!(added.unwrap_err().to_string(), "an operator named ana exists already");
    }

    #[tokio::test]
    async fn listing_and_removing_go_to_the_store() {
        let mut operators = MockOperators::new();
        operators.expect_list_operators().returning(|| {
            Ok(vec![OperatorAccount {
                name: OperatorName::parse("ana").unwrap(),
                role: Role::Admin,
                created_at: OffsetDateTime::UNIX_EPOCH,
                updated_at: OffsetDateTime::UNIX_EPOCH,
            }])
        });
        operators.expect_remove_operator().withf(|n| n.as_str() == "bo").returning(|_| Ok(false));
        let manage = ManageOperators::new(Arc::new(operators), Arc::new(MockPasswordHasher::new()), clock());

        assert_eq!(manage.list().await.unwrap().len(), 1);
        assert!(!manage.remove(&name("bo")).await.unwrap());
    }

    #[tokio::test]
    async fn a_session_is_looked_up_by_the_hash_of_its_id_and_an_empty_id_finds_nothing() {
        let mut operators = MockOperators::new();
        let expected = session_id_hash("abc");
        operators.expect_find_session().withf(move |hash, _| hash == expected).times(1).returning(|_, _| {
            Ok(Some(OperatorSession {
                operator: OperatorName::parse("ana").unwrap(),
                role: Role::Operator,
                csrf_token: "t".into(),
                expires_at: OffsetDateTime::UNIX_EPOCH,
            }))
        });
        operators.expect_delete_session().withf(|hash| hash == session_id_hash("abc")).returning(|_| Ok(true));
        let sessions = OperatorSessions::new(Arc::new(operators), clock());

        assert!(sessions.current("").await.unwrap().is_none());
        assert_eq!(sessions.current("abc").await.unwrap().unwrap().operator.as_str(), "ana");
        sessions.end("abc").await.unwrap();
    }

    #[tokio::test]
    async fn removing_an_operator_that_exists_answers_true() {
        let mut operators = MockOperators::new();
        operators.expect_remove_operator().returning(|_| Ok(true));
        let manage = ManageOperators::new(Arc::new(operators), Arc::new(MockPasswordHasher::new()), clock());

        assert!(manage.remove(&name("ana")).await.unwrap());
    }

    #[test]
    fn a_password_hash_never_prints_itself() {
        let hash = PasswordHash::new("$argon2id$v=19$secret-part");

        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
        assert_eq!(hash.as_str(), "$argon2id$v=19$secret-part");
    }

    #[test]
    fn session_ids_hash_to_64_hex_characters_and_tokens_are_random() {
        assert_eq!(session_id_hash("x").len(), 64);
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 64);
    }
}
