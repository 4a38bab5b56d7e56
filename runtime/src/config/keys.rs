//! Every configuration key, declared once.

use super::{SANDBOX_BUSINESS_ACCOUNT_ID, SANDBOX_PHONE_NUMBER_ID};

/// A configuration key: its name, what it means when unset, whether it holds a secret,
/// and what it does. `--help` and `docs/configuration.md` show the same default text.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub default: KeyDefault,
    /// Held as a secret and registered with the redactor (ADR 0015): the whole value, or
    /// for URL keys the password inside.
    pub secret: bool,
    pub help: &'static str,
}

/// What an unset key means. Only [`KeyDefault::Value`] is parsed; the others describe a
/// rule written once, where the key is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDefault {
    /// This text, parsed exactly as a configured value would be.
    Value(&'static str),
    /// No value: the feature is off, or the text says what happens instead.
    Absent(&'static str),
    /// In sandbox mode this value; live mode requires the key.
    Sandbox(&'static str),
    /// Generated in sandbox mode and kept in the data directory; live mode requires the key.
    Generated,
    /// Computed from other keys, as the text says.
    Derived(&'static str),
}

impl std::fmt::Display for KeyDefault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(text) | Self::Derived(text) => f.write_str(text),
            Self::Absent("") => f.write_str("none"),
            Self::Absent(instead) => write!(f, "none: {instead}"),
            Self::Sandbox(value) => write!(f, "sandbox: {value}"),
            Self::Generated => f.write_str("sandbox: generated"),
        }
    }
}

impl Key {
    /// The declaration of the key named `name`.
    pub fn named(name: &str) -> Option<&'static Key> {
        KEYS.iter().find(|k| k.name == name)
    }
}

/// Every key Switchboard reads.
pub const KEYS: &[Key] = &[
    Key {
        name: "SWITCHBOARD_MODE",
        default: KeyDefault::Value("auto"),
        secret: false,
        help: "sandbox or live; auto = live when any WhatsApp credential is set",
    },
    Key {
        name: "SWITCHBOARD_HOST",
        default: KeyDefault::Value("127.0.0.1"),
        secret: false,
        help: "address the HTTP server binds",
    },
    Key {
        name: "SWITCHBOARD_PORT",
        default: KeyDefault::Value("8080"),
        secret: false,
        help: "port the HTTP server binds (0 = any free port)",
    },
    Key {
        name: "SWITCHBOARD_PUBLIC_URL",
        default: KeyDefault::Derived("http://{host}:{port}"),
        secret: false,
        help: "URL clients use to reach this service (simulate posts here)",
    },
    Key {
        name: "SWITCHBOARD_DATA_DIR",
        default: KeyDefault::Value("./data"),
        secret: false,
        help: "where the SQLite file and sandbox secrets live",
    },
    Key {
        name: "DATABASE_URL",
        default: KeyDefault::Derived("sqlite://{data_dir}/switchboard.db"),
        secret: true,
        help: "database: sqlite://FILE (one process) or postgres://USER@HOST/DB (shared by several replicas)",
    },
    Key {
        name: "SWITCHBOARD_DB_MAX_CONNECTIONS",
        default: KeyDefault::Value("8"),
        secret: false,
        help: "database connection pool size, per process (PostgreSQL: replicas x this must stay under the server's max_connections)",
    },
    Key {
        name: "SWITCHBOARD_DB_BUSY_TIMEOUT_MS",
        default: KeyDefault::Value("5000"),
        secret: false,
        help: "how long a write waits for a locked database (PostgreSQL: for a pooled connection) before failing (then webhooks get 503)",
    },
    Key {
        name: "SWITCHBOARD_SQLITE_SYNCHRONOUS",
        default: KeyDefault::Value("full"),
        secret: false,
        help: "full: every commit reaches the disk before a webhook is acknowledged (survives power loss); normal: survives a process crash, not a power cut",
    },
    Key {
        name: "SWITCHBOARD_SQLITE_COMMIT_WAIT_US",
        default: KeyDefault::Value("2000"),
        secret: false,
        help: "a commit of fewer than 16 writes begins no sooner than this many microseconds after the one before began, gathering what arrives meanwhile (0: at once); saves about a fifth of the CPU per message at moderate rates for up to this much latency per write",
    },
    Key {
        name: "SWITCHBOARD_WEBHOOK_MAX_BODY_BYTES",
        default: KeyDefault::Value("3145728"),
        secret: false,
        help: "largest webhook body accepted (Meta sends at most 3 MB); larger gets 413",
    },
    Key {
        name: "SWITCHBOARD_API_MAX_BODY_BYTES",
        default: KeyDefault::Value("262144"),
        secret: false,
        help: "largest body on every route but the webhook (API, management, A2A); larger gets 413",
    },
    Key {
        name: "SWITCHBOARD_HTTP_BODY_BUDGET_BYTES",
        default: KeyDefault::Value("67108864"),
        secret: false,
        help: "request body bytes all clients together may have in flight; beyond it a new upload gets 503 at once",
    },
    Key {
        name: "SWITCHBOARD_HTTP_BODY_TIMEOUT_MS",
        default: KeyDefault::Value("10000"),
        secret: false,
        help: "the whole request body must arrive within this; a slower client gets 408",
    },
    Key {
        name: "SWITCHBOARD_HTTP_HEADER_TIMEOUT_MS",
        default: KeyDefault::Value("5000"),
        secret: false,
        help: "the request line and headers must arrive within this, else 408 and the connection is closed",
    },
    Key {
        name: "SWITCHBOARD_HTTP_MAX_HEADER_BYTES",
        default: KeyDefault::Value("16384"),
        secret: false,
        help: "largest total size of a request's headers; larger gets 431",
    },
    Key {
        name: "SWITCHBOARD_WORKERS",
        default: KeyDefault::Value("4"),
        secret: false,
        help: "job workers, each running up to 16 jobs at once",
    },
    Key {
        name: "SWITCHBOARD_JOB_LEASE_SECS",
        default: KeyDefault::Value("60"),
        secret: false,
        help: "visibility timeout: a leased job not finished by then is leased again",
    },
    Key {
        name: "SWITCHBOARD_JOB_MAX_ATTEMPTS",
        default: KeyDefault::Value("8"),
        secret: false,
        help: "attempts before a job is dead",
    },
    Key {
        name: "SWITCHBOARD_JOB_RETRY_BASE_MS",
        default: KeyDefault::Value("500"),
        secret: false,
        help: "first retry delay (doubles each attempt, with jitter)",
    },
    Key {
        name: "SWITCHBOARD_JOB_RETRY_MAX_SECS",
        default: KeyDefault::Value("300"),
        secret: false,
        help: "longest retry delay",
    },
    Key {
        name: "SWITCHBOARD_JOB_POLL_INTERVAL_MS",
        default: KeyDefault::Value("250"),
        secret: false,
        help: "how often idle workers look for due jobs (new jobs wake them at once)",
    },
    Key {
        name: "SWITCHBOARD_INBOUND_REORDER_WINDOW_MS",
        default: KeyDefault::Value("300"),
        secret: false,
        help: "how long an inbound message waits for earlier ones delivered late, so a conversation is processed in Meta's timestamp order",
    },
    Key {
        name: "SWITCHBOARD_SHUTDOWN_GRACE_SECS",
        default: KeyDefault::Value("20"),
        secret: false,
        help: "on SIGINT/SIGTERM, how long running jobs may finish before their leases are returned",
    },
    Key {
        name: "SWITCHBOARD_LOG",
        default: KeyDefault::Value("info"),
        secret: false,
        help: "log filter, RUST_LOG syntax; when unset, RUST_LOG is read",
    },
    Key {
        name: "SWITCHBOARD_LOG_FORMAT",
        default: KeyDefault::Value("json"),
        secret: false,
        help: "json (one object per line) or pretty",
    },
    Key {
        name: "OTEL_EXPORTER_OTLP_ENDPOINT",
        default: KeyDefault::Absent("no export"),
        secret: true,
        help: "OTLP/HTTP collector base URL (spans go to {URL}/v1/traces); unset, no spans are exported and tracing costs nothing extra",
    },
    Key {
        name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        default: KeyDefault::Absent(""),
        secret: true,
        help: "full OTLP/HTTP traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT",
    },
    Key {
        name: "OTEL_EXPORTER_OTLP_PROTOCOL",
        default: KeyDefault::Value("http/protobuf"),
        secret: false,
        help: "http/protobuf or http/json (gRPC is not built in)",
    },
    Key {
        name: "OTEL_SERVICE_NAME",
        default: KeyDefault::Value("switchboard"),
        secret: false,
        help: "service.name on exported spans",
    },
    Key {
        name: "WHATSAPP_ACCESS_TOKEN",
        default: KeyDefault::Absent("sandbox mode"),
        secret: true,
        help: "Graph API token; required in live mode",
    },
    Key {
        name: "WHATSAPP_PHONE_NUMBER_ID",
        default: KeyDefault::Sandbox(SANDBOX_PHONE_NUMBER_ID),
        secret: false,
        help: "the business number's id; required in live mode",
    },
    Key {
        name: "WHATSAPP_BUSINESS_ACCOUNT_ID",
        default: KeyDefault::Sandbox(SANDBOX_BUSINESS_ACCOUNT_ID),
        secret: false,
        help: "the WABA id (health checks, subscriptions, the approved templates operators are offered)",
    },
    Key {
        name: "WHATSAPP_WEBHOOK_VERIFY_TOKEN",
        default: KeyDefault::Generated,
        secret: true,
        help: "token Meta echoes in the GET handshake; required in live mode",
    },
    Key {
        name: "WHATSAPP_APP_SECRET",
        default: KeyDefault::Generated,
        secret: true,
        help: "app secret that signs webhooks (X-Hub-Signature-256); required in live mode",
    },
    Key { name: "WHATSAPP_API_VERSION", default: KeyDefault::Value("v25.0"), secret: false, help: "Graph API version" },
    Key {
        name: "WHATSAPP_API_BASE_URL",
        default: KeyDefault::Value("https://graph.facebook.com"),
        secret: false,
        help: "Graph API base URL (tests point it at a fake)",
    },
    Key {
        name: "WHATSAPP_HTTP_TIMEOUT_SECS",
        default: KeyDefault::Value("10"),
        secret: false,
        help: "timeout of one Graph API call; a send that times out may have reached Meta and is recorded as uncertain",
    },
    Key {
        name: "WHATSAPP_RATE_LIMIT_PER_SECOND",
        default: KeyDefault::Value("80"),
        secret: false,
        help: "messages per second per sending number (Meta's default throughput)",
    },
    Key {
        name: "WHATSAPP_RATE_LIMITS",
        default: KeyDefault::Absent(""),
        secret: false,
        help: "per-number overrides, e.g. 1098765=1000,1098766=20",
    },
    Key {
        name: "SWITCHBOARD_RATE_LIMITS_ENABLED",
        default: KeyDefault::Value("true"),
        secret: false,
        help: "false turns off both rate limiters (benchmarks against a fake)",
    },
    Key {
        name: "SWITCHBOARD_RECIPIENT_BURST",
        default: KeyDefault::Value("3"),
        secret: false,
        help: "messages to one user sent at once before pacing starts",
    },
    Key {
        name: "SWITCHBOARD_RECIPIENT_INTERVAL_MS",
        default: KeyDefault::Value("6000"),
        secret: false,
        help: "after the burst, one message to the same user per this interval (Meta's pair limit)",
    },
    Key {
        name: "WHATSAPP_REENGAGEMENT_TEMPLATE",
        default: KeyDefault::Absent(""),
        secret: false,
        help: "approved template sent instead of a free-form reply outside the 24-hour window",
    },
    Key {
        name: "WHATSAPP_REENGAGEMENT_TEMPLATE_LANGUAGE",
        default: KeyDefault::Value("en_US"),
        secret: false,
        help: "the template's language code",
    },
    Key {
        name: "WHATSAPP_REENGAGEMENT_TEMPLATE_NAME_PARAM",
        default: KeyDefault::Value("true"),
        secret: false,
        help: "pass the user's name as the template's first body parameter",
    },
    Key {
        name: "SWITCHBOARD_OUTSIDE_WINDOW",
        default: KeyDefault::Derived("template when one is configured, else email"),
        secret: false,
        help: "outside the 24-hour window: template or email",
    },
    Key {
        name: "SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS",
        default: KeyDefault::Value("30"),
        secret: false,
        help: "after a send timed out, wait this long for a status webhook proving it arrived before sending again",
    },
    Key {
        name: "SWITCHBOARD_SANDBOX_STATUSES",
        default: KeyDefault::Value("true"),
        secret: false,
        help: "sandbox mode: after each send, post the status webhooks Meta would (sent, delivered, read), signed, to our own webhook",
    },
    Key {
        name: "SWITCHBOARD_SANDBOX_STATUS_DELAY_MS",
        default: KeyDefault::Value("300"),
        secret: false,
        help: "sandbox mode: time from a send to its sent status, and between each status and the next",
    },
    Key {
        name: "CHANNELS_GMAIL_PRIORITY",
        default: KeyDefault::Value("false"),
        secret: false,
        help: "email first: replies go by email instead of WhatsApp (also switchable at run time by the API)",
    },
    Key {
        name: "SMTP_HOST",
        default: KeyDefault::Absent(".eml files in {data_dir}/mail"),
        secret: false,
        help: "SMTP server for the email fallback",
    },
    Key {
        name: "SMTP_PORT",
        default: KeyDefault::Derived("587 (465 with SMTP_TLS=tls)"),
        secret: false,
        help: "SMTP port",
    },
    Key {
        name: "SMTP_TLS",
        default: KeyDefault::Value("starttls"),
        secret: false,
        help: "starttls, tls (implicit) or none (loopback test servers only)",
    },
    Key {
        name: "SMTP_USERNAME",
        default: KeyDefault::Absent(""),
        secret: false,
        help: "SMTP user; with SMTP_PASSWORD turns on authentication",
    },
    Key {
        name: "SMTP_PASSWORD",
        default: KeyDefault::Absent(""),
        secret: true,
        help: "SMTP password; required when SMTP_USERNAME is set",
    },
    Key {
        name: "SMTP_FROM",
        default: KeyDefault::Absent("required with SMTP_HOST"),
        secret: false,
        help: "sender address of fallback emails",
    },
    Key {
        name: "SMTP_SUBJECT",
        default: KeyDefault::Value("A message for you"),
        secret: false,
        help: "subject of fallback emails",
    },
    Key {
        name: "SMTP_TIMEOUT_SECS",
        default: KeyDefault::Value("10"),
        secret: false,
        help: "timeout of one SMTP delivery",
    },
    Key {
        name: "SWITCHBOARD_CLASSIFIER_URL",
        default: KeyDefault::Absent("built-in keyword classifier"),
        secret: true,
        help: "base URL of an A2A classifier agent answering {intent, confidence} as a data part",
    },
    Key {
        name: "SWITCHBOARD_AGENTS",
        default: KeyDefault::Absent("built-in agents only"),
        secret: true,
        help: "A2A specialist agents: name=URL|intent,intent;name2=URL|intent",
    },
    Key {
        name: "SWITCHBOARD_DEFAULT_AGENT",
        default: KeyDefault::Value("fallback"),
        secret: false,
        help: "agent for unknown intents, low confidence, and agents that fail",
    },
    Key {
        name: "SWITCHBOARD_CONFIDENCE_THRESHOLD",
        default: KeyDefault::Value("0.5"),
        secret: false,
        help: "below this classification confidence the default agent answers",
    },
    Key {
        name: "SWITCHBOARD_AGENT_TIMEOUT_SECS",
        default: KeyDefault::Value("30"),
        secret: false,
        help: "timeout of one A2A call; must be shorter than SWITCHBOARD_JOB_LEASE_SECS",
    },
    Key {
        name: "SWITCHBOARD_A2A_PUSH_ALLOW_INTERNAL",
        default: KeyDefault::Value("false"),
        secret: false,
        help: "true lets A2A clients' push notification URLs name loopback, private and link-local addresses (a closed network, tests); false refuses them, against request forgery",
    },
    Key {
        name: "SWITCHBOARD_A2A_CARD_TTL_SECS",
        default: KeyDefault::Value("300"),
        secret: false,
        help: "how long an agent card is cached before it is fetched again",
    },
    Key {
        name: "SWITCHBOARD_DOUBLE_TEXTING",
        default: KeyDefault::Value("sequential"),
        secret: false,
        help: "messages that arrive while an agent works on the conversation: sequential (each its own turn) or coalesce (handed over together, one reply)",
    },
    Key {
        name: "SWITCHBOARD_HANDOFF_KEYWORDS",
        default: KeyDefault::Value(switchboard_domain::HandoffKeywords::DEFAULT),
        secret: false,
        help: "comma-separated words and phrases with which a user asks for a person (matched as whole words, case and accents aside); none turns keyword handoff off",
    },
    Key {
        name: "SWITCHBOARD_HANDOFF_AFTER_FALLBACKS",
        default: KeyDefault::Value("3"),
        secret: false,
        help: "people take a conversation over after this many answers in a row by the default agent; 0 turns it off",
    },
    Key {
        name: "SWITCHBOARD_HANDOFF_ACKNOWLEDGEMENT",
        default: KeyDefault::Value(switchboard_application::usecases::DEFAULT_HANDOFF_ACKNOWLEDGEMENT),
        secret: false,
        help: "what a user who asked for a person is told",
    },
    Key {
        name: "SWITCHBOARD_HANDOFF_NOTIFY_EMAIL",
        default: KeyDefault::Absent(""),
        secret: false,
        help: "operators' address: each conversation that starts waiting for a person is announced there, through the mailer",
    },
    Key {
        name: "SWITCHBOARD_HANDOFF_WEBHOOK_URL",
        default: KeyDefault::Absent(""),
        secret: true,
        help: "each conversation that starts waiting for a person is POSTed there as JSON, signed (X-Switchboard-Signature), for Slack-style integrations; a secret (such URLs carry a token)",
    },
    Key {
        name: "SWITCHBOARD_HANDOFF_WEBHOOK_SECRET",
        default: KeyDefault::Absent("required when SWITCHBOARD_HANDOFF_WEBHOOK_URL is set"),
        secret: true,
        help: "the HMAC-SHA256 key that signs the handoff webhook's body",
    },
    Key {
        name: "SWITCHBOARD_CONSENT_STOP_KEYWORDS",
        default: KeyDefault::Value(switchboard_domain::ConsentKeywords::DEFAULT_STOP),
        secret: false,
        help: "comma-separated words and phrases with which a user opts out of business-initiated messages (the whole message, case, accents and punctuation aside); none turns stop words off",
    },
    Key {
        name: "SWITCHBOARD_CONSENT_START_KEYWORDS",
        default: KeyDefault::Value(switchboard_domain::ConsentKeywords::DEFAULT_START),
        secret: false,
        help: "comma-separated words and phrases with which a user opts in again (the whole message); none turns start words off",
    },
    Key {
        name: "SWITCHBOARD_CONSENT_STOP_CONFIRMATION",
        default: KeyDefault::Value(switchboard_application::usecases::DEFAULT_STOP_CONFIRMATION),
        secret: false,
        help: "what a user who wrote a stop word is told",
    },
    Key {
        name: "SWITCHBOARD_CONSENT_START_CONFIRMATION",
        default: KeyDefault::Value(switchboard_application::usecases::DEFAULT_START_CONFIRMATION),
        secret: false,
        help: "what a user who wrote a start word is told",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_DIR",
        default: KeyDefault::Derived("<SWITCHBOARD_DATA_DIR>/media"),
        secret: false,
        help: "the folder of the media store: users' files kept for agents and operators, agents' files until they are sent",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_STORE",
        default: KeyDefault::Value("folder"),
        secret: false,
        help: "where the media store keeps files: folder (SWITCHBOARD_MEDIA_DIR) or s3 (an S3-compatible bucket, SWITCHBOARD_MEDIA_S3_*, which replicas can share)",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_S3_ENDPOINT",
        default: KeyDefault::Derived("https://s3.<SWITCHBOARD_MEDIA_S3_REGION>.amazonaws.com"),
        secret: false,
        help: "the S3-compatible server's URL (MinIO, Ceph, R2, ...); buckets are addressed path-style, <endpoint>/<bucket>/<key>",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_S3_BUCKET",
        default: KeyDefault::Absent("required when SWITCHBOARD_MEDIA_STORE is s3"),
        secret: false,
        help: "the bucket files are kept in; it must exist (start-up checks it can be reached)",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_S3_REGION",
        default: KeyDefault::Value("us-east-1"),
        secret: false,
        help: "the region requests are signed for",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_S3_PREFIX",
        default: KeyDefault::Absent("keys at the bucket's root"),
        secret: false,
        help: "written before every key: switchboard/ keeps files under switchboard/in/... and switchboard/out/...",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_S3_ACCESS_KEY_ID",
        default: KeyDefault::Absent("required when SWITCHBOARD_MEDIA_STORE is s3"),
        secret: false,
        help: "the access key id requests are signed with (AWS Signature Version 4)",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_S3_SECRET_ACCESS_KEY",
        default: KeyDefault::Absent("required when SWITCHBOARD_MEDIA_STORE is s3"),
        secret: true,
        help: "the secret access key that goes with the access key id",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_MAX_BYTES",
        default: KeyDefault::Value("16777216"),
        secret: false,
        help: "the largest file a user may send that is kept and given to an agent (a larger one is refused and the agent told why); also the largest upload POST /api/v1/media takes",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_ALLOWED_TYPES",
        default: KeyDefault::Value("image/*, audio/*, video/*, application/pdf, text/plain"),
        secret: false,
        help: "comma-separated media types or families (image/*) of users' files that are kept; */* takes all; others are refused and the agent told why",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_INLINE_MAX_BYTES",
        default: KeyDefault::Value("262144"),
        secret: false,
        help: "a user's file up to this size also travels inside the A2A file part as bytes; larger ones by signed link only",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_LINK_TTL_SECS",
        default: KeyDefault::Value("3600"),
        secret: false,
        help: "how long a signed link to a stored file works",
    },
    Key {
        name: "SWITCHBOARD_MEDIA_LINK_KEY",
        default: KeyDefault::Derived("derived from WHATSAPP_APP_SECRET"),
        secret: true,
        help: "the HMAC-SHA256 key that signs links to stored files; replicas must share it (they do when they share the app secret)",
    },
    Key {
        name: "SWITCHBOARD_SENDER_BURST",
        default: KeyDefault::Value("10"),
        secret: false,
        help: "turns one sender may have at once (a turn hands messages to the classifier and an agent) before the sender limit holds the rest",
    },
    Key {
        name: "SWITCHBOARD_SENDER_RATE_PER_MINUTE",
        default: KeyDefault::Value("20"),
        secret: false,
        help: "after the burst, turns per minute per sender; messages over it are stored and acknowledged, then handed over together in the sender's next turn (0 = no limit)",
    },
    Key {
        name: "WHATSAPP_APP_TOKEN",
        default: KeyDefault::Absent("a cheap authenticated call checks the token"),
        secret: true,
        help: "app access token (app_id|app_secret) so health checks can ask debug_token for the token's expiry",
    },
    Key {
        name: "SWITCHBOARD_HEALTH_CACHE_SECS",
        default: KeyDefault::Value("60"),
        secret: false,
        help: "how long a /health/whatsapp answer is reused before Meta is asked again",
    },
    Key {
        name: "SWITCHBOARD_HEALTH_CHECK_INTERVAL_SECS",
        default: KeyDefault::Value("900"),
        secret: false,
        help: "live mode: how often the WhatsApp account is checked in the background, so whatsapp_token_valid and whatsapp_token_expires_in_days stay current with nobody calling /health/whatsapp; 0 turns it off",
    },
    Key {
        name: "SWITCHBOARD_TEMPLATES_CACHE_SECS",
        default: KeyDefault::Value("300"),
        secret: false,
        help: "how long the account's list of approved templates (console, GET /api/v1/templates) is reused before Meta is asked again",
    },
    Key {
        name: "SWITCHBOARD_API_KEYS",
        default: KeyDefault::Generated,
        secret: true,
        help: "comma-separated API keys for the REST and A2A APIs (X-API-Key or Authorization: Bearer); required in live mode",
    },
    Key {
        name: "SWITCHBOARD_CONSOLE_SESSION_TTL_SECS",
        default: KeyDefault::Value("43200"),
        secret: false,
        help: "how long an operator's console session lasts after sign-in (12 h)",
    },
    Key {
        name: "SWITCHBOARD_CONSOLE_SECURE_COOKIES",
        default: KeyDefault::Value("false"),
        secret: false,
        help: "true: the console's cookies are always Secure; false: Secure when the request came over https (X-Forwarded-Proto: https from any client counts: it can only add Secure)",
    },
    Key {
        name: "SWITCHBOARD_CONSOLE_SIGN_IN_ATTEMPTS",
        default: KeyDefault::Value("5"),
        secret: false,
        help: "failed console sign-ins for one name, or from one client address, within the window before sign-in for it is refused for a window (counted in the database, for every replica)",
    },
    Key {
        name: "SWITCHBOARD_CONSOLE_SIGN_IN_WINDOW_SECS",
        default: KeyDefault::Value("900"),
        secret: false,
        help: "the window failed sign-ins are counted in, and how long a throttled name or address waits",
    },
    Key {
        name: "SWITCHBOARD_TRUSTED_PROXIES",
        default: KeyDefault::Absent("the TCP peer is the client; X-Forwarded-For is ignored"),
        secret: false,
        help: "comma-separated addresses and CIDR blocks of the reverse proxies in front of the service (10.0.0.0/8, fd00::/8); from them, the right-most X-Forwarded-For entry that is not one of them is the client (console sign-in throttling)",
    },
];
