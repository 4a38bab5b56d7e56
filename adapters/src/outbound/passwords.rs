//! Password hashing with argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, one
//! lane, as OWASP recommends), a random 16-byte salt per hash, stored as a PHC string.
//! Hashing and verifying take tens of milliseconds of CPU, so they run on the blocking
//! pool, not on an async worker.

use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash as Phc, PasswordHasher as _, PasswordVerifier as _, SaltString};
use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};
use switchboard_application::ports::{PasswordHash, PasswordHasher};

/// The [`PasswordHasher`] port over argon2id.
#[derive(Debug, Default, Clone)]
pub struct Argon2Passwords {
    /// A hash of nothing anyone knows, checked against when a name is unknown so that
    /// the answer takes as long as for a known one.
    decoy: Arc<OnceLock<String>>,
}

impl Argon2Passwords {
    pub fn new() -> Self {
        Self::default()
    }
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        // The error names the failing parameter, never the password.
        .map_err(|e| anyhow::anyhow!("argon2 could not hash the password: {e}"))
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    Phc::new(phc).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

#[async_trait]
impl PasswordHasher for Argon2Passwords {
    async fn hash(&self, password: &SecretString) -> anyhow::Result<PasswordHash> {
        let password = password.clone();
        let phc = tokio::task::spawn_blocking(move || hash_blocking(password.expose_secret()))
            .await
            .context("the hashing task failed")??;
        Ok(PasswordHash::new(phc))
    }

    async fn verify(&self, password: &SecretString, hash: Option<PasswordHash>) -> bool {
        let password = password.clone();
        let (phc, known) = match hash {
            Some(hash) => (String::from(hash.as_str()), true),
            None => (self.decoy.get_or_init(|| hash_blocking("decoy").unwrap_or_default()).clone(), false),
        };
        let matches =
            tokio::task::spawn_blocking(move || verify_blocking(password.expose_secret(), &phc)).await.unwrap_or(false);
        known && matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_is_salted_argon2id_and_verifies_only_its_own_password() {
        let passwords = Argon2Passwords::new();
        let secret = SecretString::from("correct horse battery staple");

        let first = passwords.hash(&secret).await.unwrap();
        let second = passwords.hash(&secret).await.unwrap();

        assert!(first.as_str().starts_with("$argon2id$"), "{first:?}");
        assert!(!first.as_str().contains("correct horse"));
        assert_ne!(first, second, "each hash has its own salt");
        assert!(passwords.verify(&secret, Some(first.clone())).await);
        assert!(!passwords.verify(&SecretString::from("correct horse battery stapl"), Some(first.clone())).await);
    }

    #[tokio::test]
    async fn no_hash_or_a_malformed_one_never_verifies() {
        let passwords = Argon2Passwords::new();
        let secret = SecretString::from("decoy");

        assert!(!passwords.verify(&secret, None).await);
        assert!(!passwords.verify(&secret, Some(PasswordHash::new("not a phc string"))).await);
    }
}
