//! Identity of a WhatsApp user.
//!
//! Meta is rolling out business-scoped user ids (BSUIDs) in 2026: `from`, `wa_id` and
//! `recipient_id` may be empty while `from_user_id` / `user_id` carry the id. A user is
//! therefore keyed on the scoped id when present, else on the phone number.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identity could not be parsed. The messages are meant for operators and API
/// callers, so they say what was wrong without echoing a whole phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("phone number is empty")]
    EmptyPhone,
    #[error("phone number contains a character that is not a digit or separator: {0:?}")]
    InvalidPhoneCharacter(char),
    #[error("phone number has {0} digits; E.164 allows 7 to 15")]
    PhoneLength(usize),
    #[error("phone number cannot start with 0 after the country code prefix")]
    LeadingZero,
    #[error("business-scoped user id is empty")]
    EmptyScopedId,
    #[error("business-scoped user id is longer than 128 characters")]
    ScopedIdTooLong,
    #[error("business-scoped user id contains a control or space character")]
    ScopedIdInvalidCharacter,
    #[error("a WhatsApp user needs a phone number or a business-scoped user id; both are missing")]
    NoIdentity,
}

/// A phone number in E.164 form: `+` then 7 to 15 digits, the first not 0.
///
/// `Display` gives the full E.164 string (for sending); use [`PhoneNumber::masked`] in
/// logs, which keeps only the last four digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses the forms people and Meta write: `447700900123`, `+44 7700 900123`,
    /// `+1 (650) 555-0142`, `0044 7700 900123`. Separators (space, `-`, `.`, `(`, `)`)
    /// are dropped; anything else is an error.
    pub fn parse(input: &str) -> Result<Self, IdentityError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(IdentityError::EmptyPhone);
        }
        let rest = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                other => return Err(IdentityError::InvalidPhoneCharacter(other)),
            }
        }
        // The international call prefix 00 is how many people write "+".
        let digits =
            if !trimmed.starts_with('+') && digits.starts_with("00") { digits[2..].to_owned() } else { digits };
        if digits.is_empty() {
            return Err(IdentityError::EmptyPhone);
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(IdentityError::PhoneLength(digits.len()));
        }
        if digits.starts_with('0') {
            return Err(IdentityError::LeadingZero);
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The E.164 string, with the leading `+`.
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The digits without `+`, as the Cloud API writes `wa_id` and `to`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// All but the last four digits hidden: `+********0123`. Safe for logs.
    pub fn masked(&self) -> String {
        let digits = self.digits();
        let keep = digits.len().saturating_sub(4);
        format!("+{}{}", "*".repeat(keep), &digits[keep..])
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    // Debug output ends up in logs; never print the whole number there.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = IdentityError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

/// A business-scoped user id (BSUID) as Meta sends it in `from_user_id` / `user_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopedUserId(String);

impl ScopedUserId {
    pub fn parse(input: &str) -> Result<Self, IdentityError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(IdentityError::EmptyScopedId);
        }
        if trimmed.len() > 128 {
            return Err(IdentityError::ScopedIdTooLong);
        }
        if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(IdentityError::ScopedIdInvalidCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopedUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ScopedUserId {
    type Error = IdentityError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ScopedUserId> for String {
    fn from(value: ScopedUserId) -> Self {
        value.0
    }
}

/// An email address, checked for the shape SMTP needs (`local@domain`, no spaces,
/// at most 254 characters); deliverability is the mail server's business.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an email address: {0}")]
pub struct EmailAddressError(&'static str);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailAddressError> {
        let s = input.trim();
        if s.is_empty() || s.len() > 254 {
            return Err(EmailAddressError("empty or longer than 254 characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',') {
            return Err(EmailAddressError("contains a space, control character, comma or angle bracket"));
        }
        match s.rsplit_once('@') {
            Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') =>
            {
                Ok(Self(s.to_owned()))
            }
            _ => Err(EmailAddressError("expected local@domain")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First letter and domain only, for logs: `a***@example.com`.
    pub fn masked(&self) -> String {
        match self.0.split_once('@') {
            Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
            None => String::from("***"),
        }
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailAddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

/// The one key a user is stored under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserKey {
    Scoped(ScopedUserId),
    Phone(PhoneNumber),
}

impl UserKey {
    /// A stable string form: `bsuid:<id>` or the E.164 phone.
    pub fn as_storage_key(&self) -> String {
        match self {
            Self::Scoped(id) => format!("bsuid:{id}"),
            Self::Phone(phone) => phone.as_e164().to_owned(),
        }
    }

    /// A form safe for logs: the scoped id is not personal data on its own, the phone is
    /// masked.
    pub fn masked(&self) -> String {
        match self {
            Self::Scoped(id) => format!("bsuid:{id}"),
            Self::Phone(phone) => phone.masked(),
        }
    }
}

/// A WhatsApp user as a webhook describes them: at least one of the two ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsAppUser {
    scoped_id: Option<ScopedUserId>,
    phone: Option<PhoneNumber>,
}

impl WhatsAppUser {
    /// Builds a user from whichever ids are present; errors when neither is.
    pub fn new(scoped_id: Option<ScopedUserId>, phone: Option<PhoneNumber>) -> Result<Self, IdentityError> {
        if scoped_id.is_none() && phone.is_none() {
            return Err(IdentityError::NoIdentity);
        }
        Ok(Self { scoped_id, phone })
    }

    /// Parses the raw strings of a webhook, where an empty string means absent.
    pub fn from_webhook(scoped_id: Option<&str>, phone: Option<&str>) -> Result<Self, IdentityError> {
        let scoped_id = match scoped_id.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(ScopedUserId::parse(s)?),
            None => None,
        };
        let phone = match phone.map(str::trim).filter(|s| !s.is_empty()) {
            Some(p) => Some(PhoneNumber::parse(p)?),
            None => None,
        };
        Self::new(scoped_id, phone)
    }

    pub fn scoped_id(&self) -> Option<&ScopedUserId> {
        self.scoped_id.as_ref()
    }

    pub fn phone(&self) -> Option<&PhoneNumber> {
        self.phone.as_ref()
    }

    /// The scoped id when present, else the phone.
    pub fn key(&self) -> UserKey {
        match (&self.scoped_id, &self.phone) {
            (Some(id), _) => UserKey::Scoped(id.clone()),
            (None, Some(phone)) => UserKey::Phone(phone.clone()),
            // `new` guarantees one of the two; keep the match total without panicking.
            (None, None) => UserKey::Scoped(ScopedUserId(String::from("unknown"))),
        }
    }

    /// The address to send to: the phone digits when known, else the scoped id.
    pub fn send_address(&self) -> String {
        match (&self.phone, &self.scoped_id) {
            (Some(phone), _) => phone.digits().to_owned(),
            (None, Some(id)) => id.as_str().to_owned(),
            (None, None) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn whatsapp_wa_id_parses_to_e164() {
        let phone = PhoneNumber::parse("447700900123").unwrap();
        assert_eq!(phone.as_e164(), "+447700900123");
        assert_eq!(phone.digits(), "447700900123");
    }

    #[test]
    fn human_formats_parse_to_the_same_number() {
        for input in ["+44 7700 900123", "0044 7700 900123", "+44-7700-900-123", " +44 (7700) 900123 "] {
            assert_eq!(PhoneNumber::parse(input).unwrap().as_e164(), "+447700900123", "{input}");
        }
    }

    #[test]
    fn bad_phone_numbers_are_rejected_with_a_reason() {
        assert_eq!(PhoneNumber::parse(""), Err(IdentityError::EmptyPhone));
        assert_eq!(PhoneNumber::parse("+"), Err(IdentityError::EmptyPhone));
        assert_eq!(PhoneNumber::parse("12345"), Err(IdentityError::PhoneLength(5)));
        assert_eq!(PhoneNumber::parse("1234567890123456"), Err(IdentityError::PhoneLength(16)));
        assert_eq!(PhoneNumber::parse("+0447700900123"), Err(IdentityError::LeadingZero));
        assert_eq!(PhoneNumber::parse("44770090012x"), Err(IdentityError::InvalidPhoneCharacter('x')));
    }

    #[test]
    fn masked_phone_shows_only_the_last_four_digits() {
        let phone = PhoneNumber::parse("447700900123").unwrap();
        assert_eq!(phone.masked(), "+********0123");
        assert!(!format!("{phone:?}").contains("7700900"));
    }

    #[test]
    fn email_addresses_need_a_local_part_and_a_domain() {
        assert_eq!(EmailAddress::parse(" amelia@example.co.uk ").unwrap().as_str(), "amelia@example.co.uk");
        for bad in ["", "amelia", "@example.com", "amelia@localhost", "a b@example.com", "a@example.com, b@example.com"]
        {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(EmailAddress::parse("amelia@example.com").unwrap().masked(), "a***@example.com");
    }

    #[test]
    fn user_is_keyed_on_scoped_id_when_present() {
        let user = WhatsAppUser::from_webhook(Some("US.13491208655302741918"), Some("16505550142")).unwrap();
        assert_eq!(user.key().as_storage_key(), "bsuid:US.13491208655302741918");
        assert_eq!(user.send_address(), "16505550142");
    }

    #[test]
    fn user_with_empty_from_falls_back_to_scoped_id_and_empty_id_to_phone() {
        let scoped = WhatsAppUser::from_webhook(Some("US.1"), Some("")).unwrap();
        assert_eq!(scoped.key().as_storage_key(), "bsuid:US.1");
        let phone = WhatsAppUser::from_webhook(Some(""), Some("16505550142")).unwrap();
        assert_eq!(phone.key().as_storage_key(), "+16505550142");
    }

    #[test]
    fn user_without_any_id_is_rejected() {
        assert_eq!(WhatsAppUser::from_webhook(Some(""), Some(" ")), Err(IdentityError::NoIdentity));
    }

    #[test]
    fn bad_scoped_ids_are_rejected_with_a_reason() {
        assert_eq!(ScopedUserId::parse(" "), Err(IdentityError::EmptyScopedId));
        assert_eq!(ScopedUserId::parse(&"U".repeat(129)), Err(IdentityError::ScopedIdTooLong));
        assert_eq!(ScopedUserId::parse("US.1 2"), Err(IdentityError::ScopedIdInvalidCharacter));
        assert_eq!(ScopedUserId::parse("US.1\u{7}"), Err(IdentityError::ScopedIdInvalidCharacter));
        assert_eq!(ScopedUserId::parse(" US.1 ").unwrap().as_str(), "US.1");
    }

    #[test]
    fn ids_are_stored_as_plain_strings_and_read_back_through_their_rules() {
        let phone = PhoneNumber::parse("+44 7700 900123").unwrap();
        let scoped = ScopedUserId::parse("US.1").unwrap();
        let email = EmailAddress::parse("amelia@example.com").unwrap();

        assert_eq!(serde_json::to_string(&phone).unwrap(), "\"+447700900123\"");
        assert_eq!(serde_json::from_str::<PhoneNumber>("\"447700900123\"").unwrap(), phone);
        assert_eq!(serde_json::from_str::<ScopedUserId>(&serde_json::to_string(&scoped).unwrap()).unwrap(), scoped);
        assert_eq!(serde_json::from_str::<EmailAddress>(&serde_json::to_string(&email).unwrap()).unwrap(), email);
        assert!(serde_json::from_str::<PhoneNumber>("\"12\"").is_err());
        assert!(serde_json::from_str::<ScopedUserId>("\"\"").is_err());
        assert!(serde_json::from_str::<EmailAddress>("\"amelia\"").is_err());
    }

    #[test]
    fn display_gives_the_whole_id_for_sending() {
        assert_eq!(PhoneNumber::parse("447700900123").unwrap().to_string(), "+447700900123");
        assert_eq!(ScopedUserId::parse("US.1").unwrap().to_string(), "US.1");
    }

    #[test]
    fn an_email_address_may_not_be_longer_than_254_characters() {
        let local = "a".repeat(250);

        assert!(EmailAddress::parse(&format!("{local}@x.io")).is_err());
        assert!(EmailAddress::parse(&format!("{}@x.io", &local[..248])).is_ok());
    }

    #[test]
    fn a_user_known_only_by_scoped_id_is_sent_to_and_logged_by_that_id() {
        let user = WhatsAppUser::from_webhook(Some("US.7"), None).unwrap();

        assert_eq!(user.phone(), None);
        assert_eq!(user.scoped_id().map(ScopedUserId::as_str), Some("US.7"));
        assert_eq!(user.send_address(), "US.7");
        assert_eq!(user.key().masked(), "bsuid:US.7");
    }

    #[test]
    fn a_user_known_only_by_phone_is_logged_masked() {
        let user = WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap();

        assert_eq!(user.scoped_id(), None);
        assert_eq!(user.phone().map(PhoneNumber::as_e164), Some("+447700900123"));
        assert_eq!(user.key().masked(), "+********0123");
    }

    #[test]
    fn a_bad_id_in_a_webhook_is_an_error_not_an_absent_id() {
        assert_eq!(
            WhatsAppUser::from_webhook(Some("US 1"), Some("16505550142")),
            Err(IdentityError::ScopedIdInvalidCharacter)
        );
        assert_eq!(WhatsAppUser::from_webhook(Some("US.1"), Some("12")), Err(IdentityError::PhoneLength(2)));
    }

    #[test]
    fn a_stored_user_without_any_id_still_has_a_key_and_an_empty_address() {
        // `new` refuses such a user, but a stored row is read back without it.
        let user: WhatsAppUser = serde_json::from_str(r#"{"scoped_id": null, "phone": null}"#).unwrap();

        assert_eq!(user.key().as_storage_key(), "bsuid:unknown");
        assert_eq!(user.send_address(), "");
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_valid_output_reparses(input in "\\PC{0,40}") {
            if let Ok(phone) = PhoneNumber::parse(&input) {
                prop_assert_eq!(PhoneNumber::parse(phone.as_e164()).unwrap(), phone.clone());
                prop_assert!(phone.digits().len() >= 7 && phone.digits().len() <= 15);
            }
        }

        #[test]
        fn any_valid_digit_string_round_trips(digits in "[1-9][0-9]{6,14}") {
            let phone = PhoneNumber::parse(&digits).unwrap();
            prop_assert_eq!(phone.digits(), digits.as_str());
        }

        #[test]
        fn parsing_any_string_at_all_never_panics(input in any::<String>()) {
            let _ = PhoneNumber::parse(&input);
        }

        #[test]
        fn a_formatted_e164_number_round_trips(
            digits in "[1-9][0-9]{6,14}",
            separators in proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("-"), Just("."), Just("\u{a0}")], 15),
            prefix in prop_oneof![Just("+"), Just("00"), Just("+ "), Just("")],
            padding in prop_oneof![Just(""), Just(" "), Just("\t")],
        ) {
            let mut formatted = format!("{padding}{prefix}");
            for (i, digit) in digits.chars().enumerate() {
                formatted.push(digit);
                formatted.push_str(separators[i]);
            }
            formatted.push_str(padding);

            let phone = PhoneNumber::parse(&formatted).unwrap();

            prop_assert_eq!(phone.as_e164(), format!("+{digits}"));
            prop_assert_eq!(PhoneNumber::parse(&phone.to_string()).unwrap(), phone.clone());
            let masked = phone.masked();
            prop_assert!(masked.ends_with(&digits[digits.len() - 4..]));
            prop_assert_eq!(masked.chars().filter(char::is_ascii_digit).count(), 4);
        }

        #[test]
        fn garbage_in_a_number_is_rejected_with_an_error(
            digits in "[1-9][0-9]{6,14}",
            at in any::<prop::sample::Index>(),
            junk in "[a-zA-Z#*/_+,;:]",
        ) {
            let i = at.index(digits.len() - 1) + 1;
            let input = format!("{}{junk}{}", &digits[..i], &digits[i..]);
            let junk_char = junk.chars().next().unwrap();
            prop_assert_eq!(PhoneNumber::parse(&input), Err(IdentityError::InvalidPhoneCharacter(junk_char)));
        }

        #[test]
        fn numbers_of_the_wrong_length_are_rejected(digits in "[1-9][0-9]{0,5}|[1-9][0-9]{15,30}") {
            prop_assert_eq!(PhoneNumber::parse(&digits), Err(IdentityError::PhoneLength(digits.len())));
        }
    }
}
