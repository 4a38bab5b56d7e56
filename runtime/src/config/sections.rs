//! Reading and checking one section at a time: delivery, agents, SMTP, OpenTelemetry.

use crate::config::{MediaConfig, MediaStoreConfig, S3MediaConfig};
use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;

use super::{
    AgentConfig, AgentsConfig, ConfigError, ConfigSource, ConsoleConfig, DeliveryConfig, HandoffConfig, OtelConfig,
    OtlpProtocol, OutsideWindow, SenderLimitConfig, SmtpConfig, SmtpTls, TemplateConfig,
};

impl OtelConfig {
    /// Every OpenTelemetry key at its default: no export.
    pub fn off() -> Result<Self, ConfigError> {
        Self::from_source(&ConfigSource::default())
    }

    pub(super) fn from_source(src: &ConfigSource) -> Result<Self, ConfigError> {
        let non_empty = |key: &str| src.get(key).map(str::trim).filter(|v| !v.is_empty());
        let url = |key: &'static str, value: &str| -> Result<String, ConfigError> {
            if value.starts_with("http://") || value.starts_with("https://") {
                Ok(value.to_owned())
            } else {
                Err(ConfigError::Invalid {
                    key,
                    message: format!("expected an http:// or https:// URL, got {value:?}"),
                })
            }
        };
        // As the OpenTelemetry spec says: the signal-specific URL is used as given; the
        // generic one is a base to which `/v1/traces` is appended.
        let traces_endpoint = if let Some(full) = non_empty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", full)?)
        } else if let Some(base) = non_empty("OTEL_EXPORTER_OTLP_ENDPOINT") {
            let base = url("OTEL_EXPORTER_OTLP_ENDPOINT", base)?;
            Some(format!("{}/v1/traces", base.trim_end_matches('/')))
        } else {
            None
        };
        let protocol = match src.choice("OTEL_EXPORTER_OTLP_PROTOCOL")?.as_str() {
            "http/protobuf" => OtlpProtocol::HttpProtobuf,
            "http/json" => OtlpProtocol::HttpJson,
            other => {
                return Err(ConfigError::Invalid {
                    key: "OTEL_EXPORTER_OTLP_PROTOCOL",
                    message: format!("expected http/protobuf or http/json (gRPC is not built in), got {other:?}"),
                });
            }
        };
        let service_name = src.text("OTEL_SERVICE_NAME")?.to_owned();
        Ok(Self { traces_endpoint, protocol, service_name })
    }
}

fn flag(src: &ConfigSource, key: &'static str) -> Result<bool, ConfigError> {
    match src.choice(key)?.as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(ConfigError::Invalid { key, message: format!("expected true or false, got {other:?}") }),
    }
}

pub(super) fn console_config(src: &ConfigSource) -> Result<ConsoleConfig, ConfigError> {
    Ok(ConsoleConfig {
        session_ttl: Duration::from_secs(src.positive("SWITCHBOARD_CONSOLE_SESSION_TTL_SECS", "seconds")?),
        secure_cookies: flag(src, "SWITCHBOARD_CONSOLE_SECURE_COOKIES")?,
        sign_in_attempts: src.positive("SWITCHBOARD_CONSOLE_SIGN_IN_ATTEMPTS", "a whole number")?,
        sign_in_window: Duration::from_secs(src.positive("SWITCHBOARD_CONSOLE_SIGN_IN_WINDOW_SECS", "seconds")?),
    })
}

pub(super) fn delivery_config(src: &ConfigSource) -> Result<DeliveryConfig, ConfigError> {
    let per_number_rate: u32 = src.parse("WHATSAPP_RATE_LIMIT_PER_SECOND", "messages per second")?;
    let mut per_number_overrides = BTreeMap::new();
    if let Some(list) = src.get("WHATSAPP_RATE_LIMITS") {
        for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let parsed = pair
                .split_once('=')
                .and_then(|(id, rate)| Some((id.trim().to_owned(), rate.trim().parse::<u32>().ok()?)));
            match parsed {
                Some((id, rate)) if !id.is_empty() && rate > 0 => {
                    per_number_overrides.insert(id, rate);
                }
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "WHATSAPP_RATE_LIMITS",
                        message: format!("expected PHONE_NUMBER_ID=RATE pairs, got {pair:?}"),
                    });
                }
            }
        }
    }
    if per_number_rate == 0 {
        return Err(ConfigError::Invalid {
            key: "WHATSAPP_RATE_LIMIT_PER_SECOND",
            message: "must be greater than 0".into(),
        });
    }
    let reengagement_template = match src.get("WHATSAPP_REENGAGEMENT_TEMPLATE") {
        Some(name) => Some(TemplateConfig {
            name: name.to_owned(),
            language: src.text("WHATSAPP_REENGAGEMENT_TEMPLATE_LANGUAGE")?.to_owned(),
            name_param: flag(src, "WHATSAPP_REENGAGEMENT_TEMPLATE_NAME_PARAM")?,
        }),
        None => None,
    };
    let outside_window = match src.get("SWITCHBOARD_OUTSIDE_WINDOW").map(str::to_ascii_lowercase).as_deref() {
        None => {
            if reengagement_template.is_some() {
                OutsideWindow::Template
            } else {
                OutsideWindow::Email
            }
        }
        Some("template") if reengagement_template.is_some() => OutsideWindow::Template,
        Some("template") => {
            return Err(ConfigError::Missing {
                keys: vec!["WHATSAPP_REENGAGEMENT_TEMPLATE"],
                why: String::from("SWITCHBOARD_OUTSIDE_WINDOW=template needs a template to send"),
            });
        }
        Some("email") => OutsideWindow::Email,
        Some(other) => {
            return Err(ConfigError::Invalid {
                key: "SWITCHBOARD_OUTSIDE_WINDOW",
                message: format!("expected template or email, got {other:?}"),
            });
        }
    };
    Ok(DeliveryConfig {
        rate_limits_enabled: flag(src, "SWITCHBOARD_RATE_LIMITS_ENABLED")?,
        per_number_rate,
        per_number_overrides,
        recipient_burst: src.parse::<u32>("SWITCHBOARD_RECIPIENT_BURST", "a whole number")?.max(1),
        recipient_interval: Duration::from_millis(
            src.parse::<u64>("SWITCHBOARD_RECIPIENT_INTERVAL_MS", "milliseconds")?.max(1),
        ),
        reengagement_template,
        outside_window,
        uncertain_grace: Duration::from_secs(src.parse("SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS", "seconds")?),
        sandbox_status_delay: flag(src, "SWITCHBOARD_SANDBOX_STATUSES")?
            .then(|| src.parse("SWITCHBOARD_SANDBOX_STATUS_DELAY_MS", "milliseconds"))
            .transpose()?
            .map(Duration::from_millis),
        email_priority: flag(src, "CHANNELS_GMAIL_PRIORITY")?,
    })
}

fn http_url(key: &'static str, value: &str) -> Result<String, ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err(ConfigError::Invalid { key, message: format!("expected an http(s) URL, got {value:?}") })
    }
}

pub(super) fn agents_config(src: &ConfigSource, lease: Duration) -> Result<AgentsConfig, ConfigError> {
    let classifier_url =
        src.get("SWITCHBOARD_CLASSIFIER_URL").map(|u| http_url("SWITCHBOARD_CLASSIFIER_URL", u)).transpose()?;
    let mut agents = Vec::new();
    for entry in src.get("SWITCHBOARD_AGENTS").unwrap_or("").split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || ConfigError::Invalid {
            key: "SWITCHBOARD_AGENTS",
            message: format!("expected name=URL|intent,intent, got {entry:?}"),
        };
        let (name, rest) = entry.split_once('=').ok_or_else(bad)?;
        let (url, intents) = rest.split_once('|').unwrap_or((rest, ""));
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(bad());
        }
        if agents.iter().any(|a: &AgentConfig| a.name == name) {
            return Err(ConfigError::Invalid {
                key: "SWITCHBOARD_AGENTS",
                message: format!("agent {name:?} is listed twice"),
            });
        }
        agents.push(AgentConfig {
            name: name.to_owned(),
            url: http_url("SWITCHBOARD_AGENTS", url.trim())?,
            intents: intents.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_ascii_lowercase).collect(),
        });
    }
    let threshold: f32 = src.parse("SWITCHBOARD_CONFIDENCE_THRESHOLD", "a number between 0 and 1")?;
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ConfigError::Invalid {
            key: "SWITCHBOARD_CONFIDENCE_THRESHOLD",
            message: format!("{threshold} is not between 0 and 1"),
        });
    }
    let timeout = Duration::from_secs(src.parse::<u64>("SWITCHBOARD_AGENT_TIMEOUT_SECS", "seconds")?.max(1));
    if timeout >= lease {
        return Err(ConfigError::Invalid {
            key: "SWITCHBOARD_AGENT_TIMEOUT_SECS",
            message: format!(
                "{} s must be shorter than the job lease ({} s), or a slow agent's job is leased twice",
                timeout.as_secs(),
                lease.as_secs()
            ),
        });
    }
    let sender_burst: u32 = src.parse("SWITCHBOARD_SENDER_BURST", "a whole number")?;
    if sender_burst == 0 {
        return Err(ConfigError::Invalid {
            key: "SWITCHBOARD_SENDER_BURST",
            message: String::from("must be greater than 0 (SWITCHBOARD_SENDER_RATE_PER_MINUTE=0 turns the limit off)"),
        });
    }
    let sender_per_minute: u32 = src.parse("SWITCHBOARD_SENDER_RATE_PER_MINUTE", "a whole number")?;
    let sender_limit =
        (sender_per_minute > 0).then_some(SenderLimitConfig { burst: sender_burst, per_minute: sender_per_minute });
    Ok(AgentsConfig {
        sender_limit,
        classifier_url,
        agents,
        default_agent: src.text("SWITCHBOARD_DEFAULT_AGENT")?.to_owned(),
        threshold,
        timeout,
        card_ttl: Duration::from_secs(src.parse("SWITCHBOARD_A2A_CARD_TTL_SECS", "seconds")?),
        push_allow_internal: flag(src, "SWITCHBOARD_A2A_PUSH_ALLOW_INTERNAL")?,
        coalesce: match src.choice("SWITCHBOARD_DOUBLE_TEXTING")?.as_str() {
            "sequential" => false,
            "coalesce" => true,
            other => {
                return Err(ConfigError::Invalid {
                    key: "SWITCHBOARD_DOUBLE_TEXTING",
                    message: format!("expected sequential or coalesce, got {other:?}"),
                });
            }
        },
    })
}

pub(super) fn consent_config(
    src: &ConfigSource,
) -> Result<switchboard_application::usecases::ConsentRules, ConfigError> {
    let list = |key: &'static str| -> Result<String, ConfigError> {
        Ok(match src.text(key)?.trim() {
            "none" => String::new(),
            list => list.to_owned(),
        })
    };
    let confirmation = |key: &'static str| -> Result<String, ConfigError> {
        let text = src.text(key)?.trim().to_owned();
        if text.is_empty() {
            return Err(ConfigError::Invalid {
                key,
                message: String::from("must not be empty: the user is told their choice was heard"),
            });
        }
        Ok(text)
    };
    Ok(switchboard_application::usecases::ConsentRules {
        keywords: switchboard_domain::ConsentKeywords::parse(
            &list("SWITCHBOARD_CONSENT_STOP_KEYWORDS")?,
            &list("SWITCHBOARD_CONSENT_START_KEYWORDS")?,
        ),
        stop_confirmation: confirmation("SWITCHBOARD_CONSENT_STOP_CONFIRMATION")?,
        start_confirmation: confirmation("SWITCHBOARD_CONSENT_START_CONFIRMATION")?,
    })
}

pub(super) fn handoff_config(src: &ConfigSource) -> Result<HandoffConfig, ConfigError> {
    let notify_email = src
        .get("SWITCHBOARD_HANDOFF_NOTIFY_EMAIL")
        .map(|a| {
            switchboard_domain::EmailAddress::parse(a.trim())
                .map_err(|e| ConfigError::Invalid { key: "SWITCHBOARD_HANDOFF_NOTIFY_EMAIL", message: e.to_string() })
        })
        .transpose()?;
    let webhook = match (src.get("SWITCHBOARD_HANDOFF_WEBHOOK_URL"), src.get("SWITCHBOARD_HANDOFF_WEBHOOK_SECRET")) {
        (Some(url), Some(secret)) => Some((
            SecretString::from(http_url("SWITCHBOARD_HANDOFF_WEBHOOK_URL", url.trim())?),
            SecretString::from(secret.to_owned()),
        )),
        (Some(_), None) => {
            return Err(ConfigError::Missing {
                keys: vec!["SWITCHBOARD_HANDOFF_WEBHOOK_SECRET"],
                why: String::from("SWITCHBOARD_HANDOFF_WEBHOOK_URL is set: its announcements are signed"),
            });
        }
        (None, _) => None,
    };
    let acknowledgement = src.text("SWITCHBOARD_HANDOFF_ACKNOWLEDGEMENT")?.trim().to_owned();
    if acknowledgement.is_empty() {
        return Err(ConfigError::Invalid {
            key: "SWITCHBOARD_HANDOFF_ACKNOWLEDGEMENT",
            message: String::from("must not be empty: the user who asked for a person is told something"),
        });
    }
    Ok(HandoffConfig {
        keywords: match src.text("SWITCHBOARD_HANDOFF_KEYWORDS")?.trim() {
            "none" => switchboard_domain::HandoffKeywords::parse(""),
            list => switchboard_domain::HandoffKeywords::parse(list),
        },
        after_fallbacks: src.parse("SWITCHBOARD_HANDOFF_AFTER_FALLBACKS", "a whole number")?,
        acknowledgement,
        notify_email,
        webhook,
    })
}

pub(super) fn smtp_config(src: &ConfigSource) -> Result<Option<SmtpConfig>, ConfigError> {
    let Some(host) = src.get("SMTP_HOST") else {
        return Ok(None);
    };
    let tls = match src.choice("SMTP_TLS")?.as_str() {
        "starttls" => SmtpTls::StartTls,
        "tls" => SmtpTls::Implicit,
        "none" => SmtpTls::None,
        other => {
            return Err(ConfigError::Invalid {
                key: "SMTP_TLS",
                message: format!("expected starttls, tls or none, got {other:?}"),
            });
        }
    };
    // KeyDefault::Derived: the port follows the TLS mode.
    let default_port = if tls == SmtpTls::Implicit { 465 } else { 587 };
    let Some(from) = src.get("SMTP_FROM") else {
        return Err(ConfigError::Missing { keys: vec!["SMTP_FROM"], why: String::from("SMTP_HOST is set") });
    };
    let credentials = match (src.get("SMTP_USERNAME"), src.get("SMTP_PASSWORD")) {
        (Some(user), Some(password)) => Some((user.to_owned(), SecretString::from(password.to_owned()))),
        (Some(_), None) => {
            return Err(ConfigError::Missing {
                keys: vec!["SMTP_PASSWORD"],
                why: String::from("SMTP_USERNAME is set"),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Missing {
                keys: vec!["SMTP_USERNAME"],
                why: String::from("SMTP_PASSWORD is set"),
            });
        }
        (None, None) => None,
    };
    Ok(Some(SmtpConfig {
        host: host.to_owned(),
        port: match src.get("SMTP_PORT") {
            None => default_port,
            Some(_) => src.parse("SMTP_PORT", "a port number")?,
        },
        tls,
        credentials,
        from: from.to_owned(),
        subject: src.text("SMTP_SUBJECT")?.to_owned(),
        timeout: Duration::from_secs(src.parse::<u64>("SMTP_TIMEOUT_SECS", "seconds")?.max(1)),
    }))
}

/// Files both ways (`SWITCHBOARD_MEDIA_*`). The link key falls back on one derived from
/// the app secret, which every replica of a deployment shares.
pub(super) fn media_config(
    src: &ConfigSource,
    data_dir: &std::path::Path,
    app_secret: &SecretString,
) -> Result<MediaConfig, ConfigError> {
    let allowed_types: Vec<String> = src
        .text("SWITCHBOARD_MEDIA_ALLOWED_TYPES")?
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if let Some(bad) = allowed_types.iter().find(|t| t.split('/').count() != 2 || t.contains(' ')) {
        return Err(ConfigError::Invalid {
            key: "SWITCHBOARD_MEDIA_ALLOWED_TYPES",
            message: format!("{bad:?} is not a media type such as image/png or a family such as image/*"),
        });
    }
    let link_key = match src.get("SWITCHBOARD_MEDIA_LINK_KEY") {
        Some(key) => SecretString::from(key.to_owned()),
        None => {
            SecretString::from(format!("switchboard-media-links:{}", secrecy::ExposeSecret::expose_secret(app_secret)))
        }
    };
    Ok(MediaConfig {
        store: media_store_config(src, data_dir)?,
        policy: switchboard_domain::InboundMediaPolicy {
            max_bytes: src.positive("SWITCHBOARD_MEDIA_MAX_BYTES", "a size in bytes")?,
            allowed_types,
        },
        inline_max_bytes: src.parse("SWITCHBOARD_MEDIA_INLINE_MAX_BYTES", "a size in bytes")?,
        link_ttl: std::time::Duration::from_secs(src.positive("SWITCHBOARD_MEDIA_LINK_TTL_SECS", "seconds")?),
        link_key,
    })
}

/// `SWITCHBOARD_MEDIA_STORE` and, for `s3`, the bucket and its credentials, all required.
fn media_store_config(src: &ConfigSource, data_dir: &std::path::Path) -> Result<MediaStoreConfig, ConfigError> {
    match src.choice("SWITCHBOARD_MEDIA_STORE")?.as_str() {
        "folder" => Ok(MediaStoreConfig::Folder {
            dir: src.get("SWITCHBOARD_MEDIA_DIR").map_or_else(|| data_dir.join("media"), std::path::PathBuf::from),
        }),
        "s3" => {
            let required = [
                "SWITCHBOARD_MEDIA_S3_BUCKET",
                "SWITCHBOARD_MEDIA_S3_ACCESS_KEY_ID",
                "SWITCHBOARD_MEDIA_S3_SECRET_ACCESS_KEY",
            ];
            let missing: Vec<&'static str> = required.into_iter().filter(|k| src.get(k).is_none()).collect();
            if !missing.is_empty() {
                return Err(ConfigError::Missing { keys: missing, why: String::from("SWITCHBOARD_MEDIA_STORE is s3") });
            }
            let region = src.text("SWITCHBOARD_MEDIA_S3_REGION")?.to_owned();
            let endpoint = match src.get("SWITCHBOARD_MEDIA_S3_ENDPOINT") {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                    url.trim_end_matches('/').to_owned()
                }
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        key: "SWITCHBOARD_MEDIA_S3_ENDPOINT",
                        message: format!("expected an http:// or https:// URL, got {other:?}"),
                    });
                }
                None => format!("https://s3.{region}.amazonaws.com"),
            };
            let bucket = src.get("SWITCHBOARD_MEDIA_S3_BUCKET").unwrap_or_default().to_owned();
            if bucket.contains('/') {
                return Err(ConfigError::Invalid {
                    key: "SWITCHBOARD_MEDIA_S3_BUCKET",
                    message: format!(
                        "a bucket name has no '/', got {bucket:?} (SWITCHBOARD_MEDIA_S3_PREFIX sets a folder inside it)"
                    ),
                });
            }
            Ok(MediaStoreConfig::S3(S3MediaConfig {
                endpoint,
                bucket,
                region,
                prefix: src.get("SWITCHBOARD_MEDIA_S3_PREFIX").unwrap_or_default().trim_start_matches('/').to_owned(),
                access_key_id: src.get("SWITCHBOARD_MEDIA_S3_ACCESS_KEY_ID").unwrap_or_default().to_owned(),
                secret_access_key: SecretString::from(
                    src.get("SWITCHBOARD_MEDIA_S3_SECRET_ACCESS_KEY").unwrap_or_default().to_owned(),
                ),
            }))
        }
        other => Err(ConfigError::Invalid {
            key: "SWITCHBOARD_MEDIA_STORE",
            message: format!("expected folder or s3, got {other:?}"),
        }),
    }
}
