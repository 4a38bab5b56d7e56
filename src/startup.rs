//! Builds and runs the service.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use switchboard_adapters::inbound::a2a_server::A2aState;
use switchboard_adapters::inbound::api::ApiState;
use switchboard_adapters::inbound::auth::{self, ApiKeys};
use switchboard_adapters::inbound::console::ConsoleState;
use switchboard_adapters::inbound::errors::{self, ApiError, ErrorCode};
use switchboard_adapters::inbound::health::{Readiness, WhatsAppHealthState};
use switchboard_adapters::inbound::limits::{self, BodyBudget, HttpLimits};
use switchboard_adapters::inbound::management::{ManagementState, StatusConfig};
use switchboard_adapters::inbound::media::MediaState;
use switchboard_adapters::inbound::metrics::{self, MetricsState};
use switchboard_adapters::inbound::trace::trace_requests;
use switchboard_adapters::inbound::whatsapp::WebhookState;
use switchboard_adapters::inbound::whatsapp::envelope;
use switchboard_adapters::inbound::{self};
use switchboard_adapters::outbound::a2a::{
    A2aAgents, A2aClassifier, A2aClient, AgentEntry, CardRoutes, registry_policy,
};
use switchboard_adapters::outbound::announce::Announcer;
use switchboard_adapters::outbound::builtin::{FALLBACK, GREETER, HELPDESK, KeywordClassifier};
use switchboard_adapters::outbound::email::{FileMailer, SmtpMailer};
use switchboard_adapters::outbound::graph::{GraphSettings, GraphWhatsApp};
use switchboard_adapters::outbound::graph_health::{HealthSettings, WhatsAppHealth, check_in_background};
use switchboard_adapters::outbound::graph_templates::{GraphTemplates, TemplateSettings};
use switchboard_adapters::outbound::media_store::{FolderMediaStore, S3MediaStore, SandboxMedia};
use switchboard_adapters::outbound::pacing::{GovernorPacing, PacingSettings, Unlimited};
use switchboard_adapters::outbound::passwords::Argon2Passwords;
use switchboard_adapters::outbound::push::HttpPushNotifier;
use switchboard_adapters::outbound::sandbox::{
    LoopbackStatusWebhooks, SandboxTemplates, SandboxWhatsApp, StatusWebhookSettings,
};
use switchboard_adapters::outbound::sender_limit::GovernorSenderLimit;
use switchboard_adapters::outbound::store::{self, Store};
use switchboard_application::ports::{
    AccountHealth, ChannelSettings, Classifier, Clock, Consents, EmailGateway, JobQueue, MediaStore, Operators, People,
    SandboxOutbox, SandboxStatusWebhooks, SendPacing, StoreHealth, SystemClock, Templates, WhatsAppGateway,
    WhatsAppMedia,
};
use switchboard_application::usecases::a2a_server::HandleA2a;
use switchboard_application::usecases::route::Router;
use switchboard_application::usecases::{
    AcceptUpload, AnnounceHandoff, ChangeConsent, DeadLetters, DeliverMessage, DeliveryPolicy, DoubleTexting,
    HandoffRules, IngestWebhook, ManageAgents, MediaIntake, MediaLinks, OperatorSessions, PeopleInTheLoop,
    ProcessInbound, RecordStatus, ReplayEvents, ReplyMedia, RunWorkflow, SendMessage, ServeMedia, SignIn,
    TemplateCatalogue, ThrottleSettings, UploadMedia,
};
use switchboard_application::worker::{JobRunner, Shutdown, WorkerSettings, spawn_workers};
use switchboard_domain::FallbackPolicy;
use switchboard_runtime::config::MediaStoreConfig;
use switchboard_runtime::{Config, Mode};
use switchboard_shared::RetryPolicy;
use tokio::task::JoinSet;

/// Opens the database and applies pending migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::open(config).await?;
    store.migrate().await?;
    Ok(store)
}

/// The media store `SWITCHBOARD_MEDIA_STORE` names. A bucket is asked for first, so a
/// wrong endpoint, bucket or key stops start-up, naming the endpoint and bucket.
pub async fn open_media_store(config: &Config) -> anyhow::Result<Arc<dyn MediaStore>> {
    match &config.media.store {
        MediaStoreConfig::Folder { dir } => Ok(Arc::new(FolderMediaStore::new(dir.clone())?)),
        MediaStoreConfig::S3(s3) => {
            let store = S3MediaStore::new(s3)?;
            store.check_bucket().await?;
            tracing::info!(endpoint = %s3.endpoint, bucket = %s3.bucket, prefix = %s3.prefix, "media store on S3");
            Ok(Arc::new(store))
        }
    }
}

/// The WhatsApp account health checks; `None` in sandbox mode.
pub fn whatsapp_health(config: &Config) -> anyhow::Result<Option<WhatsAppHealth>> {
    let (Mode::Live, Some(token)) = (config.mode, &config.whatsapp.access_token) else {
        return Ok(None);
    };
    Ok(Some(WhatsAppHealth::new(HealthSettings {
        base_url: config.whatsapp.api_base_url.clone(),
        api_version: config.whatsapp.api_version.clone(),
        access_token: token.clone(),
        app_token: config.whatsapp.app_token.clone(),
        phone_number_id: config.whatsapp.phone_number_id.clone(),
        business_account_id: config.whatsapp.business_account_id.clone(),
        cache_for: config.whatsapp.health_cache,
        timeout: config.whatsapp.http_timeout,
    })?))
}

/// The account's approved templates: Graph's list in live mode when the account id is
/// known (none without it: only the configured template is offered), the sandbox's own
/// short list in sandbox mode.
pub fn approved_templates(config: &Config) -> anyhow::Result<Option<Arc<dyn Templates>>> {
    match (config.mode, &config.whatsapp.access_token, &config.whatsapp.business_account_id) {
        (Mode::Live, Some(token), Some(waba)) => Ok(Some(Arc::new(GraphTemplates::new(TemplateSettings {
            base_url: config.whatsapp.api_base_url.clone(),
            api_version: config.whatsapp.api_version.clone(),
            access_token: token.clone(),
            business_account_id: waba.clone(),
            cache_for: config.whatsapp.templates_cache,
            timeout: config.whatsapp.http_timeout,
        })?))),
        (Mode::Live, ..) => Ok(None),
        (Mode::Sandbox, ..) => Ok(Some(Arc::new(SandboxTemplates))),
    }
}

/// The operator console's use cases: sign-in (argon2id, throttled) and sessions.
fn console_state(config: &Config, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> ConsoleState {
    let operators: Arc<dyn Operators> = store.clone();
    let throttle =
        ThrottleSettings { max_failures: config.console.sign_in_attempts, window: config.console.sign_in_window };
    ConsoleState {
        sign_in: Arc::new(SignIn::new(
            operators.clone(),
            store,
            Arc::new(Argon2Passwords::new()),
            clock.clone(),
            config.console.session_ttl,
            throttle,
        )),
        sessions: Arc::new(OperatorSessions::new(operators, clock)),
        secure_cookies: config.console.secure_cookies,
        session_ttl: config.console.session_ttl,
        trusted_proxies: config.http.trusted_proxies.clone(),
    }
}

/// The address this process reaches its own listener at, given the host it binds.
fn loopback_host(host: &str) -> String {
    match host {
        "0.0.0.0" => String::from("127.0.0.1"),
        "::" | "[::]" => String::from("[::1]"),
        ip6 if ip6.contains(':') && !ip6.starts_with('[') => format!("[{ip6}]"),
        other => other.to_owned(),
    }
}

/// The WhatsApp side: the gateway, the sandbox's status webhooks (sandbox mode), the media
/// endpoints (Graph's or the sandbox's), and the sandbox's again for its upload route.
type Channel = (
    Arc<dyn WhatsAppGateway>,
    Option<Arc<dyn SandboxStatusWebhooks>>,
    Arc<dyn WhatsAppMedia>,
    Option<Arc<dyn WhatsAppMedia>>,
);

/// The WhatsApp gateway, and in sandbox mode what posts the sandbox's status webhooks.
type WhatsAppSide = (Arc<dyn WhatsAppGateway>, Option<Arc<dyn SandboxStatusWebhooks>>);

/// The sandbox gateway, and what posts its status webhooks back to this process's
/// listener on `port` unless they are off (ADR 0017).
fn sandbox_gateway(config: &Config, store: Arc<dyn Store>, port: u16) -> anyhow::Result<WhatsAppSide> {
    let sandbox = SandboxWhatsApp::new(store);
    let Some(delay) = config.delivery.sandbox_status_delay else {
        return Ok((Arc::new(sandbox), None));
    };
    let webhooks = LoopbackStatusWebhooks::new(StatusWebhookSettings {
        webhook_url: format!(
            "http://{}:{port}{}",
            loopback_host(&config.http.host),
            inbound::whatsapp::WEBHOOK_PATHS[0]
        ),
        app_secret: config.whatsapp.app_secret.clone(),
        business_account_id: config.whatsapp.business_account_id.clone().unwrap_or_default(),
        timeout: config.whatsapp.http_timeout,
    })?;
    Ok((Arc::new(sandbox.with_status_webhooks(delay)), Some(Arc::new(webhooks))))
}

/// How often the limiters keyed by user forget the users who went quiet. Their keys are
/// idle a pacing interval (6 s) or a sender's refill (30 s by default) after last use.
const IDLE_SWEEP: Duration = Duration::from_secs(60);

/// Runs every sweep each [`IDLE_SWEEP`] until `stop`, so the limiters' maps hold the
/// users of the last minutes, not every user since start.
fn sweep_idle_limiter_keys(sweeps: Vec<Arc<dyn Fn() + Send + Sync>>, stop: tokio_util::sync::CancellationToken) {
    if sweeps.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(IDLE_SWEEP);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = every.tick() => sweeps.iter().for_each(|sweep| sweep()),
            }
        }
    });
}

/// A running Switchboard: HTTP server and job workers.
pub struct Application {
    port: u16,
    server: Server,
    workers: JoinSet<()>,
    shutdown: ShutdownHandle,
    grace: Duration,
    store: Arc<dyn Store>,
}

/// Stops the service: no new requests or jobs; running ones may finish.
#[derive(Clone)]
pub struct ShutdownHandle {
    server: ServerHandle,
    workers: Shutdown,
}

impl ShutdownHandle {
    pub async fn stop(&self) {
        tracing::info!("shutting down: no new requests or jobs; running jobs may finish");
        self.workers.stop.cancel();
        self.server.stop(true).await;
    }
}

impl Application {
    /// Builds every adapter, binds the listener (port 0 = any free port) and starts the
    /// workers. The server runs once [`Application::run_until_stopped`] is awaited.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        switchboard_runtime::register_secrets(&config);
        let store = open_store(&config).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // Bound before the workers start: the sandbox's status webhooks come back to it.
        let address = format!("{}:{}", config.http.host, config.http.port);
        let listener = TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
        let port = listener.local_addr().context("listener has no address")?.port();
        let media_store = open_media_store(&config).await?;
        let (whatsapp, sandbox_statuses, media_api, sandbox_media): Channel =
            match (config.mode, &config.whatsapp.access_token) {
                (Mode::Live, Some(token)) => {
                    let graph = Arc::new(GraphWhatsApp::new(GraphSettings {
                        base_url: config.whatsapp.api_base_url.clone(),
                        api_version: config.whatsapp.api_version.clone(),
                        access_token: token.clone(),
                        timeout: config.whatsapp.http_timeout,
                    })?);
                    (graph.clone(), None, graph, None)
                }
                // Live mode always has a token (configuration refuses to start without one).
                _ => {
                    let (gateway, statuses) = sandbox_gateway(&config, store.clone(), port)?;
                    let media: Arc<dyn WhatsAppMedia> = Arc::new(SandboxMedia::new(media_store.clone()));
                    (gateway, statuses, media.clone(), Some(media))
                }
            };
        let public_url = config.http.public_url.clone().unwrap_or_else(|| {
            let host = if config.http.host == "0.0.0.0" { "127.0.0.1" } else { &config.http.host };
            format!("http://{host}:{port}")
        });
        let media_links = MediaLinks::new(
            &public_url,
            secrecy::ExposeSecret::expose_secret(&config.media.link_key).as_bytes(),
            config.media.link_ttl,
        );
        let email: Arc<dyn EmailGateway> = match &config.smtp {
            Some(smtp) => Arc::new(SmtpMailer::new(smtp).context("SMTP configuration")?),
            None => Arc::new(FileMailer::new(config.data_dir.join("mail"))?),
        };
        // The limiters keyed by user: each forgets its idle keys on the sweep timer below.
        let mut sweeps: Vec<Arc<dyn Fn() + Send + Sync>> = Vec::new();
        let pacing: Arc<dyn SendPacing> = if config.delivery.rate_limits_enabled {
            let governed = Arc::new(GovernorPacing::new(PacingSettings {
                per_number_rate: config.delivery.per_number_rate,
                per_number_overrides: config.delivery.per_number_overrides.clone().into_iter().collect(),
                recipient_burst: config.delivery.recipient_burst,
                recipient_interval: config.delivery.recipient_interval,
            }));
            let sweep = governed.clone();
            sweeps.push(Arc::new(move || sweep.forget_idle()));
            governed
        } else {
            Arc::new(Unlimited)
        };
        let sender_limit = config.agents.sender_limit.map(|limit| {
            let governed = Arc::new(GovernorSenderLimit::new(limit.burst, limit.per_minute));
            let sweep = governed.clone();
            sweeps.push(Arc::new(move || sweep.forget_idle()));
            governed
        });
        let settings: Arc<dyn ChannelSettings> = store.clone();
        let a2a = Arc::new(A2aClient::new(config.agents.timeout, config.agents.card_ttl)?);
        let classifier: Arc<dyn Classifier> = match &config.agents.classifier_url {
            Some(url) => Arc::new(A2aClassifier::new(a2a.clone(), url.clone())),
            None => Arc::new(KeywordClassifier),
        };
        let registry: Vec<AgentEntry> = config
            .agents
            .agents
            .iter()
            .map(|a| AgentEntry { name: a.name.clone(), url: a.url.clone(), intents: a.intents.clone() })
            .collect();
        let builtin = [GREETER, HELPDESK, FALLBACK];
        if !builtin.contains(&config.agents.default_agent.as_str())
            && !registry.iter().any(|a| a.name == config.agents.default_agent)
        {
            anyhow::bail!(
                "SWITCHBOARD_DEFAULT_AGENT: no agent named {:?} (built-in: {}; registry: SWITCHBOARD_AGENTS)",
                config.agents.default_agent,
                builtin.join(", ")
            );
        }
        let policy = registry_policy(&registry, &config.agents.default_agent, config.agents.threshold);
        // Agents registered by URL alone (configured, or through the management API) are
        // routed to by their cards' skills.
        let card_routes =
            Arc::new(CardRoutes::new(a2a.clone(), &registry, policy.clone()).with_registered(store.clone()));
        if tokio::time::timeout(Duration::from_secs(5), card_routes.refresh()).await.is_err() {
            tracing::warn!("agents' cards still loading after 5 s; their skills are routed to once fetched");
        }
        let agents = Arc::new(A2aAgents::new(a2a.clone(), &registry).with_directory(card_routes.clone()));
        if !registry.is_empty() {
            let warm = agents.clone();
            tokio::spawn(async move { warm.warm_up().await });
        }
        let store_arc = store.clone();
        let queue: Arc<dyn JobQueue> = store_arc.clone();

        let ingest = Arc::new(IngestWebhook::new(store_arc.clone(), clock.clone(), config.workers.reorder_window));
        let mut process = ProcessInbound::new(
            store_arc.clone(),
            classifier.clone(),
            agents.clone(),
            whatsapp.clone(),
            clock.clone(),
            policy.clone(),
        )
        .with_double_texting(if config.agents.coalesce { DoubleTexting::Coalesce } else { DoubleTexting::Sequential })
        // The worker that plans a reply delivers it at once, without a claim.
        .with_delivery_lease(config.workers.lease);
        if let Some(limit) = sender_limit {
            process = process.with_sender_limit(limit);
        }
        let mut announcer = Announcer::new();
        if let Some(to) = &config.handoff.notify_email {
            announcer = announcer.with_email(email.clone(), to.clone());
        }
        if let Some((url, secret)) = &config.handoff.webhook {
            let url = secrecy::ExposeSecret::expose_secret(url).to_owned();
            announcer = announcer.with_webhook(url, secret.clone(), config.agents.timeout)?;
        }
        let people: Arc<dyn People> = store_arc.clone();
        let consents: Arc<dyn Consents> = store_arc.clone();
        process = process.with_consent(consents.clone(), config.consent.clone());
        process = process.with_media(
            MediaIntake::new(
                media_api.clone(),
                media_store.clone(),
                config.media.policy.clone(),
                media_links.clone(),
                config.media.inline_max_bytes,
            ),
            ReplyMedia::new(media_store.clone()),
        );
        process = process.with_routes(card_routes.clone());
        process = process.with_people(
            people.clone(),
            HandoffRules {
                keywords: config.handoff.keywords.clone(),
                fallback: FallbackPolicy { after: config.handoff.after_fallbacks },
                acknowledgement: config.handoff.acknowledgement.clone(),
                announce: announcer.channels(),
            },
        );
        let announce = AnnounceHandoff::new(people.clone(), Arc::new(announcer), config.http.public_url.clone());
        let runner = JobRunner::new(
            queue.clone(),
            process,
            DeliverMessage::new(
                store_arc.clone(),
                whatsapp,
                email,
                pacing,
                settings.clone(),
                clock.clone(),
                DeliveryPolicy {
                    reengagement_template: config.delivery.reengagement_template.clone(),
                    outside_window: config.delivery.outside_window,
                    uncertain_grace: config.delivery.uncertain_grace,
                    // A hold lasts until an operator acts: it never runs out of attempts.
                    hold: RetryPolicy { max_attempts: u32::MAX, ..config.workers.retry },
                },
            )
            .with_consents(consents.clone())
            .with_media(UploadMedia::new(media_store.clone(), media_api.clone())),
            RecordStatus::new(store_arc.clone(), clock.clone(), config.delivery.reengagement_template.is_some())
                .with_consents(consents.clone()),
            config.workers.retry,
            clock.clone(),
        );
        let router =
            Arc::new(Router::new(classifier.clone(), agents.clone(), policy.clone()).with_routes(card_routes.clone()));
        let send = Arc::new(
            SendMessage::new(store_arc.clone(), clock.clone())
                .with_consents(consents.clone())
                .with_media(media_store.clone()),
        );
        let uploads = Arc::new(AcceptUpload::new(media_store.clone()));
        let a2a_tasks = Arc::new(
            HandleA2a::new(
                store_arc.clone(),
                router.clone(),
                send.clone(),
                clock.clone(),
                config.whatsapp.phone_number_id.clone(),
            )
            .with_uploads(uploads.clone())
            .with_push(
                store_arc.clone(),
                Arc::new(HttpPushNotifier::new(config.agents.timeout, config.agents.push_allow_internal)),
            ),
        );
        let runner = runner.with_announcements(announce).with_a2a_tasks(a2a_tasks.clone());
        let runner = Arc::new(match sandbox_statuses {
            Some(webhooks) => runner.with_sandbox_statuses(webhooks),
            None => runner,
        });
        let worker_shutdown = Shutdown::default();
        card_routes
            .clone()
            .refresh_every(config.agents.card_ttl.max(Duration::from_secs(1)), worker_shutdown.stop.clone());
        let workers_alive = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers = spawn_workers(
            runner,
            queue,
            WorkerSettings {
                count: config.workers.count,
                lease: config.workers.lease,
                poll_interval: config.workers.poll_interval,
                alive: workers_alive.clone(),
            },
            worker_shutdown.clone(),
        );
        sweep_idle_limiter_keys(sweeps, worker_shutdown.stop.clone());

        let serve_media = Arc::new(ServeMedia::new(media_store.clone(), media_links.clone()));
        let templates = Arc::new(TemplateCatalogue::new(
            approved_templates(&config)?,
            config.delivery.reengagement_template.as_ref(),
        ));
        let management = web::Data::new(ManagementState {
            reads: store_arc.clone(),
            replay: Arc::new(ReplayEvents::new(
                store_arc.clone(),
                store_arc.clone(),
                ingest.clone(),
                envelope::parse,
                clock.clone(),
            )),
            dead_letters: Arc::new(DeadLetters::new(store_arc.clone(), store_arc.clone(), clock.clone())),
            store_health: store_arc.clone(),
            people: people.clone(),
            handoff: Arc::new(
                PeopleInTheLoop::new(people.clone(), store_arc.clone(), clock.clone())
                    .with_consents(consents.clone())
                    .with_templates(templates.clone()),
            ),
            consent: Arc::new(ChangeConsent::new(consents.clone(), clock.clone())),
            clock: clock.clone(),
            media: serve_media.clone(),
            agents: card_routes.clone(),
            manage_agents: Arc::new(ManageAgents::new(
                store_arc.clone(),
                card_routes.clone(),
                builtin.iter().map(|b| (*b).to_owned()).chain(registry.iter().map(|a| a.name.clone())).collect(),
            )),
            templates,
            status: StatusConfig::from_config(&config),
        });
        let webhook = web::Data::new(WebhookState {
            ingest,
            app_secret: config.whatsapp.app_secret.clone(),
            verify_token: config.whatsapp.verify_token.clone(),
            max_body_bytes: config.http.webhook_max_body_bytes,
        });
        let store_health: web::Data<dyn StoreHealth> = web::Data::from(store.clone() as Arc<dyn StoreHealth>);
        let sandbox_outbox: web::Data<dyn SandboxOutbox> = web::Data::from(store.clone() as Arc<dyn SandboxOutbox>);
        let readiness = web::Data::new(Readiness { workers_alive, workers_expected: config.workers.count });
        let metrics_state =
            web::Data::new(MetricsState { handle: metrics::install(), gauges: store.clone(), people: people.clone() });
        let health = whatsapp_health(&config)?.map(Arc::new);
        if let (Some(health), Some(every)) = (&health, config.whatsapp.health_check_interval) {
            check_in_background(health.clone(), every, worker_shutdown.stop.clone());
        }
        let whatsapp_health = web::Data::new(WhatsAppHealthState(health.map(|h| h as Arc<dyn AccountHealth>)));
        let media =
            web::Data::new(MediaState { serve: serve_media.clone(), clock: clock.clone(), sandbox: sandbox_media });
        let a2a_server = web::Data::new(A2aState { handler: a2a_tasks, public_url });
        let api = web::Data::new(ApiState {
            send,
            uploads: uploads.clone(),
            workflows: Arc::new(RunWorkflow::new(router)),
            deliveries: store_arc.clone(),
            settings,
            default_number_id: config.whatsapp.phone_number_id.clone(),
        });
        let console = web::Data::new(console_state(&config, store_arc.clone(), clock.clone()));
        let sandbox = config.mode == Mode::Sandbox;
        let api_keys = web::Data::new(ApiKeys::new(&config.api_keys));
        let http_limits = HttpLimits {
            body_timeout: config.http.body_timeout,
            max_header_bytes: config.http.max_header_bytes,
            webhook_max_body_bytes: config.http.webhook_max_body_bytes,
            api_max_body_bytes: config.http.api_max_body_bytes,
            upload_max_body_bytes: usize::try_from(config.media.policy.max_bytes).unwrap_or(usize::MAX),
        };
        let body_budget = BodyBudget::new(config.http.body_budget_bytes);
        let server = HttpServer::new(move || {
            App::new()
                // Limits run inside the key guard (nothing of an unauthenticated request is
                // read), and both inside the trace middleware, so refusals carry the trace id.
                .wrap(from_fn(limits::enforce_limits))
                .wrap(from_fn(auth::require_api_key))
                .wrap(from_fn(trace_requests))
                .app_data(api_keys.clone())
                .app_data(http_limits)
                .app_data(body_budget.clone())
                .app_data(webhook.clone())
                .app_data(store_health.clone())
                .app_data(sandbox_outbox.clone())
                .app_data(readiness.clone())
                .app_data(management.clone())
                .app_data(api.clone())
                .app_data(a2a_server.clone())
                .app_data(metrics_state.clone())
                .app_data(whatsapp_health.clone())
                .app_data(console.clone())
                .app_data(media.clone())
                .app_data(
                    web::JsonConfig::default().limit(http_limits.api_max_body_bytes).error_handler(limits::json_error),
                )
                .app_data(web::PayloadConfig::default().limit(http_limits.api_max_body_bytes))
                .app_data(web::PathConfig::default().error_handler(limits::path_error))
                .app_data(
                    web::QueryConfig::default().error_handler(|e, _| {
                        ApiError::new(ErrorCode::BadRequest, format!("invalid query: {e}")).into()
                    }),
                )
                .configure(|cfg| inbound::configure(cfg, sandbox))
                .default_service(web::to(errors::not_found))
        })
        .client_request_timeout(config.http.header_timeout)
        .client_disconnect_timeout(Duration::from_secs(1))
        .listen(listener)
        .context("cannot start the HTTP server")?
        .disable_signals()
        .shutdown_timeout(config.workers.shutdown_grace.as_secs().max(1))
        .run();

        let shutdown = ShutdownHandle { server: server.handle(), workers: worker_shutdown };
        tracing::info!(port, config = %config.summary(), "switchboard started");
        Ok(Self { port, server, workers, shutdown, grace: config.workers.shutdown_grace, store })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves until stopped; then lets running jobs finish within the grace period and
    /// returns the leases of those that did not.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let served = self.server.await;
        self.shutdown.workers.stop.cancel();
        let finished =
            tokio::time::timeout(self.grace, async { while self.workers.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!("shutdown grace ended with jobs running; returning their leases");
            self.shutdown.workers.abort.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while self.workers.join_next().await.is_some() {}
            })
            .await;
        }
        self.store.close().await;
        tracing::info!("switchboard stopped");
        served.context("HTTP server failed")
    }
}
