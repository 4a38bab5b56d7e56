//! Secrets generated in sandbox mode and kept in the data directory.

use std::fs;
use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Sandbox secrets made on first start and kept in the data directory, so that
/// `switchboard simulate` (another process) signs with the same secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SandboxSecrets {
    pub(super) app_secret: String,
    pub(super) verify_token: String,
    #[serde(default)]
    pub(super) api_key: String,
}

pub(super) fn load_or_create_sandbox_secrets(data_dir: &Path) -> Result<(PathBuf, SandboxSecrets), ConfigError> {
    let path = data_dir.join("sandbox-secrets.json");
    let err = |message: String| ConfigError::SandboxSecrets { path: path.clone(), message };
    let mut rng = rand::rng();
    if let Ok(text) = fs::read_to_string(&path) {
        let mut secrets: SandboxSecrets = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        if !secrets.api_key.is_empty() {
            return Ok((path, secrets));
        }
        // A file from before API keys existed: complete it.
        secrets.api_key = format!("sb_dev_{}", hex::encode(rng.random::<[u8; 16]>()));
        let text = serde_json::to_string_pretty(&secrets).map_err(|e| err(e.to_string()))?;
        write_private(&path, text.as_bytes()).map_err(|e| err(e.to_string()))?;
        return Ok((path, secrets));
    }
    fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
    let secrets = SandboxSecrets {
        app_secret: hex::encode(rng.random::<[u8; 32]>()),
        verify_token: hex::encode(rng.random::<[u8; 16]>()),
        api_key: format!("sb_dev_{}", hex::encode(rng.random::<[u8; 16]>())),
    };
    let text = serde_json::to_string_pretty(&secrets).map_err(|e| err(e.to_string()))?;
    write_private(&path, text.as_bytes()).map_err(|e| err(e.to_string()))?;
    Ok((path, secrets))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::write(path, bytes)
}
