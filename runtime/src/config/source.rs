//! Raw values by key name: the TOML file, then the environment over it.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::{ConfigError, KEYS, Key, KeyDefault};

/// Raw values by key name, from the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    pub(super) values: BTreeMap<String, String>,
    /// Every key read, so a test can hold the reads against [`KEYS`].
    #[cfg(test)]
    pub(super) read: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl ConfigSource {
    /// Reads the optional TOML file, then the process environment over it.
    pub fn from_env_and_file(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut source = Self::default();
        if let Some(path) = file {
            source.merge_toml_file(path)?;
        }
        for key in KEYS {
            if let Ok(value) = std::env::var(key.name) {
                source.values.insert(key.name.to_owned(), value);
            }
        }
        if !source.values.contains_key("SWITCHBOARD_LOG")
            && let Ok(value) = std::env::var("RUST_LOG")
        {
            source.values.insert("SWITCHBOARD_LOG".to_owned(), value);
        }
        Ok(source)
    }

    /// A source from explicit pairs (tests, embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut source = Self::default();
        source.values.extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        source
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_owned(), value.into());
    }

    pub(super) fn merge_toml_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let file_err = |message: String| ConfigError::File { path: path.to_owned(), message };
        let text = fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| file_err(e.message().to_owned()))?;
        for (name, value) in table {
            match value {
                toml::Value::Table(section) => {
                    for (inner, value) in section {
                        let key = format!("{name}_{inner}").to_ascii_uppercase();
                        self.insert_known(&key, value).map_err(file_err)?;
                    }
                }
                other => {
                    let key = name.to_ascii_uppercase();
                    self.insert_known(&key, other).map_err(file_err)?;
                }
            }
        }
        Ok(())
    }

    fn insert_known(&mut self, key: &str, value: toml::Value) -> Result<(), String> {
        if Key::named(key).is_none() {
            return Err(format!("unknown key {key} (see docs/configuration.md)"));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(format!("{key}: expected a string or number, got {}", other.type_str()));
            }
        };
        self.values.insert(key.to_owned(), text);
        Ok(())
    }

    /// The configured value, with empty strings treated as absent.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        // A key read here but missing from KEYS would be ignored in the environment and
        // refused in the file: every test that loads a configuration catches it.
        debug_assert!(Key::named(key).is_some(), "configuration key {key} is missing from KEYS");
        #[cfg(test)]
        self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key.to_owned());
        self.values.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// The configured value, or else the key's [`KeyDefault::Value`].
    pub(super) fn text(&self, key: &'static str) -> Result<&str, ConfigError> {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        match Key::named(key).map(|k| k.default) {
            Some(KeyDefault::Value(text)) => Ok(text),
            _ => Err(ConfigError::Invalid { key, message: String::from("has no default value in KEYS (a bug)") }),
        }
    }

    /// The value (configured, or else the key's default) parsed as `T`.
    pub(super) fn parse<T: std::str::FromStr>(&self, key: &'static str, what: &str) -> Result<T, ConfigError> {
        let raw = self.text(key)?;
        raw.parse().map_err(|_| ConfigError::Invalid { key, message: format!("expected {what}, got {raw:?}") })
    }

    /// As [`Self::parse`], refusing zero.
    pub(super) fn positive<T: std::str::FromStr + PartialEq + From<u8>>(
        &self,
        key: &'static str,
        what: &str,
    ) -> Result<T, ConfigError> {
        let value: T = self.parse(key, what)?;
        if value == T::from(0) {
            return Err(ConfigError::Invalid { key, message: String::from("must be greater than 0") });
        }
        Ok(value)
    }

    /// The value (configured, or else the key's default) in lower case, for keys that
    /// name one of a few choices.
    pub(super) fn choice(&self, key: &'static str) -> Result<String, ConfigError> {
        Ok(self.text(key)?.to_ascii_lowercase())
    }
}
