use std::sync::Mutex;

use super::*;
use crate::ports::{
    MockClock, MockOperators, MockPasswordHasher, MockSignInFailures, OperatorCredentials, PasswordHash,
};
use time::macros::datetime;

const START: OffsetDateTime = datetime!(2026-12-06 12:00 UTC);

fn clock() -> Arc<dyn Clock> {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(START);
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

/// Nothing is locked; failures and clears are accepted.
fn no_locks() -> MockSignInFailures {
    let mut failures = MockSignInFailures::new();
    failures.expect_sign_in_locked_until().returning(|_, _| Ok(None));
    failures.expect_count_sign_in_failure().returning(|_, _, _, _| Ok(()));
    failures.expect_clear_sign_in_failures().returning(|_| Ok(()));
    failures
}

fn sign_in_with(operators: MockOperators, failures: MockSignInFailures, hasher: MockPasswordHasher) -> SignIn {
    SignIn::new(
        Arc::new(operators),
        Arc::new(failures),
        Arc::new(hasher),
        clock(),
        Duration::from_secs(12 * 3600),
        ThrottleSettings::default(),
    )
}

async fn attempt(sign_in: &SignIn, name: &str, password: &str, client: &str) -> Result<SignedInSession, SignInError> {
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
    let sign_in = sign_in_with(operators, no_locks(), hasher());

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
    let sign_in = sign_in_with(store(), no_locks(), hasher());

    let wrong = attempt(&sign_in, "ana", "wrong password", "10.0.0.1").await;
    let unknown = attempt(&sign_in, "bo", "right password", "10.0.0.2").await;
    let malformed = attempt(&sign_in, "Not A Name!", "right password", "10.0.0.3").await;

    for refused in [wrong, unknown, malformed] {
        assert_eq!(refused.unwrap_err().to_string(), "that name and password do not match an operator");
    }
}

#[tokio::test]
async fn a_failure_is_counted_for_the_name_and_the_address_under_their_hashes_with_the_configured_window() {
    let mut failures = MockSignInFailures::new();
    failures.expect_sign_in_locked_until().returning(|_, _| Ok(None));
    let counted: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = counted.clone();
    failures
        .expect_count_sign_in_failure()
        .withf(|_, at, window, max| *at == START && *window == Duration::from_secs(900) && *max == 5)
        .times(1)
        .returning(move |keys, _, _, _| {
            keep.lock().unwrap().extend(keys.iter().cloned());
            Ok(())
        });
    let sign_in = sign_in_with(store(), failures, hasher());

    let refused = attempt(&sign_in, "  Ana ", "wrong password", "192.0.2.7").await;

    assert!(matches!(refused, Err(SignInError::Refused)), "{refused:?}");
    let counted = counted.lock().unwrap().clone();
    assert_eq!(counted, [throttle_key("name", "ana"), throttle_key("address", "192.0.2.7")]);
    assert!(counted.iter().all(|k| k.len() == 64 && !k.contains("ana") && !k.contains("192.0.2.7")));
}

#[tokio::test]
async fn a_locked_name_or_address_is_refused_without_checking_the_password() {
    let mut failures = MockSignInFailures::new();
    failures
        .expect_sign_in_locked_until()
        .withf(|keys, now| keys.len() == 2 && *now == START)
        .returning(|_, _| Ok(Some(START + Duration::from_secs(840))));
    failures.expect_count_sign_in_failure().never();
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_verify().never();
    let sign_in = sign_in_with(store(), failures, hasher);

    let throttled = attempt(&sign_in, "ana", "right password", "10.9.9.9").await;

    let error = throttled.unwrap_err();
    assert!(matches!(error, SignInError::Throttled { retry_after } if retry_after == Duration::from_secs(840)));
    assert_eq!(error.to_string(), "too many failed sign-ins; try again in 840 s");
}

#[tokio::test]
async fn a_right_password_clears_the_names_failures_and_not_the_addresses() {
    let mut failures = MockSignInFailures::new();
    failures.expect_sign_in_locked_until().returning(|_, _| Ok(None));
    failures
        .expect_clear_sign_in_failures()
        .withf(|key| key == throttle_key("name", "ana"))
        .times(1)
        .returning(|_| Ok(()));
    let sign_in = sign_in_with(store(), failures, hasher());

    let signed_in = attempt(&sign_in, "ana", "right password", "10.0.0.5").await;

    assert!(signed_in.is_ok(), "{signed_in:?}");
}

#[tokio::test]
async fn a_store_failure_is_not_a_refusal_and_is_not_counted() {
    let mut operators = MockOperators::new();
    operators.expect_find_operator().returning(|_| Err(StoreError::Unavailable(anyhow::anyhow!("down"))));
    let mut failures = MockSignInFailures::new();
    failures.expect_sign_in_locked_until().returning(|_, _| Ok(None));
    failures.expect_count_sign_in_failure().never();
    let sign_in = sign_in_with(operators, failures, hasher());

    let failed = attempt(&sign_in, "ana", "right password", "10.0.0.1").await;

    assert!(matches!(failed, Err(SignInError::Store(_))), "{failed:?}");
}

#[tokio::test]
async fn when_the_locks_cannot_be_read_the_attempt_fails_before_the_password_is_checked() {
    let mut failures = MockSignInFailures::new();
    failures.expect_sign_in_locked_until().returning(|_, _| Err(StoreError::Unavailable(anyhow::anyhow!("down"))));
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_verify().never();
    let sign_in = sign_in_with(store(), failures, hasher);

    let failed = attempt(&sign_in, "ana", "right password", "10.0.0.1").await;

    assert!(matches!(failed, Err(SignInError::Store(_))), "{failed:?}");
}

#[tokio::test]
async fn unlocking_a_name_forgets_the_failures_counted_under_it_by_a_refused_sign_in() {
    let mut failures = MockSignInFailures::new();
    failures.expect_sign_in_locked_until().returning(|_, _| Ok(None));
    let counted: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = counted.clone();
    failures.expect_count_sign_in_failure().returning(move |keys, _, _, _| {
        keep.lock().unwrap().extend(keys.iter().cloned());
        Ok(())
    });
    let cleared: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = cleared.clone();
    failures.expect_clear_sign_in_failures().times(1).returning(move |key| {
        keep.lock().unwrap().push(key.to_owned());
        Ok(())
    });
    let failures = Arc::new(failures);
    let sign_in = SignIn::new(
        Arc::new(store()),
        failures.clone(),
        Arc::new(hasher()),
        clock(),
        Duration::from_secs(3600),
        ThrottleSettings::default(),
    );
    let _ = attempt(&sign_in, "Ana", "wrong password", "192.0.2.7").await;

    unlock_name(failures.as_ref(), &OperatorName::parse("ana").unwrap()).await.unwrap();

    let (counted, cleared) = (counted.lock().unwrap().clone(), cleared.lock().unwrap().clone());
    assert_eq!(cleared, [counted[0].clone()], "the name's key, not the address's");
}
