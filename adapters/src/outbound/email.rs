//! Email, the fallback channel: SMTP through `lettre` (STARTTLS, implicit TLS, or plain
//! for loopback test servers; optional authentication), or, with no SMTP configured, a
//! mailer that writes each email as an `.eml` file and logs it without its body.

use std::path::PathBuf;

use async_trait::async_trait;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use switchboard_application::ports::{EmailError, EmailGateway, OutboundEmail};
use switchboard_runtime::config::{SmtpConfig, SmtpTls};
use switchboard_shared::{TraceContext, secrets};

/// Builds the message both mailers send or write.
fn build_message(
    from: &Mailbox,
    subject: &str,
    email: &OutboundEmail,
    trace: &TraceContext,
) -> Result<(String, Message), EmailError> {
    let to: Mailbox = email.to.as_str().parse().map_err(|e| EmailError::Rejected(format!("recipient address: {e}")))?;
    let message_id = format!("<{}@switchboard>", email.delivery_id);
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id.clone()))
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("X-Trace-Id"), trace.trace_id.to_string()))
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("traceparent"), trace.to_traceparent()));
    let message = if email.attachments.is_empty() {
        builder.header(ContentType::TEXT_PLAIN).body(email.text.clone())
    } else {
        // The WhatsApp message's files go as attachments beside its text.
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(email.text.clone()));
        for file in &email.attachments {
            let content_type = ContentType::parse(&file.mime_type)
                .unwrap_or_else(|_| ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN));
            parts = parts.singlepart(Attachment::new(file.filename.clone()).body(file.bytes.clone(), content_type));
        }
        builder.multipart(parts)
    }
    .map_err(|e| EmailError::Rejected(format!("cannot build the email: {e}")))?;
    Ok((message_id, message))
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    subject: String,
}

impl SmtpMailer {
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        let builder = match config.tls {
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?,
            SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
        };
        let mut builder = builder.port(config.port).timeout(Some(config.timeout));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
        }
        let from = config.from.parse().map_err(|e| anyhow::anyhow!("SMTP_FROM is not an address: {e}"))?;
        Ok(Self { transport: builder.build(), from, subject: config.subject.clone() })
    }
}

#[async_trait]
impl EmailGateway for SmtpMailer {
    #[tracing::instrument(name = "smtp.send", skip_all, fields(trace_id = %trace.trace_id, to = %email.to.masked(), delivery_id = %email.delivery_id))]
    async fn send(&self, email: &OutboundEmail, trace: &TraceContext) -> Result<String, EmailError> {
        let (message_id, message) = build_message(&self.from, &self.subject, email, trace)?;
        match self.transport.send(message).await {
            Ok(_) => {
                tracing::info!(%message_id, chars = email.text.chars().count(), "email accepted by the SMTP server");
                Ok(message_id)
            }
            // The server's reply may quote what it was sent (credentials included).
            Err(e) if e.is_permanent() => Err(EmailError::Rejected(secrets::scrub(format!("{e:#}")))),
            Err(e) => Err(EmailError::Transient(secrets::scrub(format!("{e:#}")))),
        }
    }
}

/// Without SMTP: each email becomes `{dir}/{delivery_id}.eml`.
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
    subject: String,
}

impl FileMailer {
    pub fn new(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let from = "Switchboard <switchboard@localhost.invalid>"
            .parse()
            .map_err(|e| anyhow::anyhow!("default sender: {e}"))?;
        Ok(Self { dir, from, subject: String::from("A message for you") })
    }
}

#[async_trait]
impl EmailGateway for FileMailer {
    #[tracing::instrument(name = "file_mailer.send", skip_all, fields(trace_id = %trace.trace_id, to = %email.to.masked(), delivery_id = %email.delivery_id))]
    async fn send(&self, email: &OutboundEmail, trace: &TraceContext) -> Result<String, EmailError> {
        let (message_id, message) = build_message(&self.from, &self.subject, email, trace)?;
        let path = self.dir.join(format!("{}.eml", email.delivery_id));
        tokio::fs::write(&path, message.formatted())
            .await
            .map_err(|e| EmailError::Transient(format!("cannot write {}: {e}", path.display())))?;
        tracing::info!(path = %path.display(), chars = email.text.chars().count(), "no SMTP configured: email written as a file");
        Ok(message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::EmailAddress;
    use uuid::Uuid;

    #[tokio::test]
    async fn the_file_mailer_writes_an_eml_that_says_what_the_message_said() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(dir.path().to_owned()).unwrap();
        let email = OutboundEmail {
            to: EmailAddress::parse("amelia@example.com").unwrap(),
            text: "Your order ships today.".into(),
            delivery_id: Uuid::nil(),
            attachments: Vec::new(),
        };
        let trace = TraceContext::new_root();

        let id = mailer.send(&email, &trace).await.unwrap();

        let written = std::fs::read_to_string(dir.path().join(format!("{}.eml", Uuid::nil()))).unwrap();
        assert_eq!(id, format!("<{}@switchboard>", Uuid::nil()));
        assert!(written.contains("To: amelia@example.com"), "{written}");
        assert!(written.contains("Your order ships today."), "{written}");
        assert!(written.contains(&format!("X-Trace-Id: {}", trace.trace_id)), "{written}");
    }

    #[tokio::test]
    async fn a_file_the_whatsapp_message_carried_is_attached_to_the_email() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(dir.path().to_owned()).unwrap();
        let email = OutboundEmail {
            to: EmailAddress::parse("amelia@example.com").unwrap(),
            text: "Your invoice.".into(),
            delivery_id: Uuid::nil(),
            attachments: vec![switchboard_application::ports::EmailAttachment {
                filename: "invoice.pdf".into(),
                mime_type: "application/pdf".into(),
                bytes: b"%PDF-1.4 \xff\xfe\x00 binary".to_vec(),
            }],
        };

        mailer.send(&email, &TraceContext::new_root()).await.unwrap();

        let written = std::fs::read_to_string(dir.path().join(format!("{}.eml", Uuid::nil()))).unwrap();
        assert!(written.contains("multipart/mixed"), "{written}");
        assert!(written.contains("Your invoice."), "{written}");
        assert!(written.contains("filename=\"invoice.pdf\""), "{written}");
        assert!(written.contains("Content-Type: application/pdf"), "{written}");
        let encoded = switchboard_domain::media::base64(b"%PDF-1.4 \xff\xfe\x00 binary");
        assert!(written.contains(&encoded), "the PDF's bytes in base64 ({encoded}): {written}");
    }
}
