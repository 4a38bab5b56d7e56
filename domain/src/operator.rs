//! The people who work in the console: an operator's name and role.
//!
//! Names are parsed once, at the edge (the command line, the sign-in form), so a name
//! that reaches a use case or the store is always a valid one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text is not an operator name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorNameError {
    #[error("an operator name is 1 to {max} characters long; this one has {0}", max = OperatorName::MAX_LEN)]
    Length(usize),
    #[error("an operator name takes only a-z, 0-9, '.', '_' and '-'; found {0:?}")]
    Character(char),
}

/// An operator's login name: 1 to 64 characters of `a-z`, `0-9`, `.`, `_`, `-`. Lower
/// case only, so `Ana` and `ana` cannot be two accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OperatorName(String);

impl OperatorName {
    pub const MAX_LEN: usize = 64;

    /// Trims the input; refuses the empty string, more than 64 characters, and any
    /// character outside `[a-z0-9._-]`.
    pub fn parse(input: &str) -> Result<Self, OperatorNameError> {
        let name = input.trim();
        let length = name.chars().count();
        if length == 0 || length > Self::MAX_LEN {
            return Err(OperatorNameError::Length(length));
        }
        if let Some(bad) = name.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-')) {
            return Err(OperatorNameError::Character(bad));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for OperatorName {
    type Error = OperatorNameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OperatorName> for String {
    fn from(name: OperatorName) -> Self {
        name.0
    }
}

/// What an operator may do. An operator works conversations; an admin also sees and
/// acts on the service itself (deliveries, dead jobs, quarantined webhooks, settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Operator,
    Admin,
}

/// A text that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a role is operator or admin, not {0:?}")]
pub struct UnknownRole(pub String);

impl Role {
    /// `operator` or `admin`, as stored and as typed on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    pub fn parse(input: &str) -> Result<Self, UnknownRole> {
        match input.trim() {
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            other => Err(UnknownRole(other.to_owned())),
        }
    }

    /// Whether this role may use the admin views and actions.
    pub const fn is_admin(self) -> bool {
        matches!(self, Self::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_name_of_lower_case_letters_digits_and_dots_is_an_operator_name() {
        assert_eq!(OperatorName::parse(" ana.silva-2_x ").unwrap().as_str(), "ana.silva-2_x");
    }

    #[test]
    fn an_empty_or_too_long_name_is_refused_with_its_length() {
        assert_eq!(OperatorName::parse("  "), Err(OperatorNameError::Length(0)));
        assert_eq!(OperatorName::parse(&"a".repeat(65)), Err(OperatorNameError::Length(65)));
        assert!(OperatorName::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn upper_case_spaces_and_symbols_are_refused_by_name() {
        assert_eq!(OperatorName::parse("Ana"), Err(OperatorNameError::Character('A')));
        assert_eq!(OperatorName::parse("ana silva"), Err(OperatorNameError::Character(' ')));
        assert_eq!(OperatorName::parse("ana@x"), Err(OperatorNameError::Character('@')));
    }

    #[test]
    fn a_name_reads_back_from_json_only_when_valid() {
        let name: OperatorName = serde_json::from_str("\"ana\"").unwrap();
        assert_eq!(name.to_string(), "ana");
        assert!(serde_json::from_str::<OperatorName>("\"ANA\"").is_err());
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"ana\"");
    }

    #[test]
    fn roles_parse_from_their_stored_names_and_only_admin_is_admin() {
        assert_eq!(Role::parse("operator"), Ok(Role::Operator));
        assert_eq!(Role::parse("admin"), Ok(Role::Admin));
        assert_eq!(Role::parse("root"), Err(UnknownRole("root".into())));
        assert!(Role::Admin.is_admin());
        assert!(!Role::Operator.is_admin());
        assert_eq!(Role::Admin.to_string(), "admin");
        assert_eq!(serde_json::to_string(&Role::Operator).unwrap(), "\"operator\"");
    }

    proptest! {
        #[test]
        fn whatever_parses_is_short_and_of_the_allowed_characters(input in "\\PC{0,80}") {
            if let Ok(name) = OperatorName::parse(&input) {
                prop_assert!((1..=64).contains(&name.as_str().len()));
                prop_assert!(name.as_str().chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-')));
                prop_assert_eq!(OperatorName::parse(name.as_str()), Ok(name.clone()));
            }
        }
    }
}
