//! The `switchboard` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use std::sync::Arc;
use switchboard::simulate::{self, SimulateArgs};
use switchboard::{Application, startup};

use secrecy::SecretString;
use switchboard_adapters::inbound::whatsapp::envelope;
use switchboard_adapters::outbound::passwords::Argon2Passwords;
use switchboard_application::ports::{Clock, EventFilter, SystemClock, TimeRange};
use switchboard_application::usecases::{DeadLetters, IngestWebhook, ManageOperators, ReplayEvents, unlock_name};
use switchboard_domain::{OperatorName, Role};
use switchboard_runtime::config::KEYS;
use switchboard_runtime::{Config, Mode, telemetry};
use switchboard_shared::secrets;

/// mimalloc instead of glibc's malloc (built without transparent huge pages, which
/// doubled idle RSS): every message allocates on several threads, where glibc's arenas
/// cost locks and hold freed memory (ADR 0022).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn long_about() -> String {
    let mut text = String::from(
        "Switchboard: WhatsApp to AI agents. Receives signed WhatsApp webhooks, stores each message \
         durably, classifies it, routes it to an agent and delivers the reply.\n\n\
         With no WhatsApp credentials it runs in sandbox mode (SQLite, built-in agents, replies \
         recorded instead of sent). Configuration comes from environment variables and an optional \
         TOML file (--config); every key, with its default. Keys marked secret are never logged \
         (a URL key: the password inside it):\n",
    );
    for key in KEYS {
        let secret = if key.secret { "; secret" } else { "" };
        text.push_str(&format!("\n  {:<38} {}\n  {:<38} default: {}{secret}\n", key.name, key.help, "", key.default));
    }
    text
}

#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about = "WhatsApp-to-agents orchestrator", long_about = long_about())]
struct Cli {
    /// TOML configuration file; environment variables override it.
    #[arg(long, short, global = true, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: HTTP server and job workers (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Replay stored webhook events (after the bug that quarantined them is fixed).
    /// Messages already stored are not processed again.
    Replay {
        /// Events received at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only `quarantined` (the default) or `accepted` events.
        #[arg(long, default_value = "quarantined")]
        status: String,
        /// One event by id instead.
        #[arg(long)]
        id: Option<String>,
    },
    /// Dead jobs: list them, or requeue one.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Operator accounts for the console at /console: add, list, remove.
    Operators {
        #[command(subcommand)]
        command: OperatorsCommand,
    },
    /// Check configuration, database and the WhatsApp account (token, Graph, phone
    /// number, webhook subscription); exit 0 when nothing is unhealthy, 1 otherwise.
    Check,
    /// List the agents: built-in ones, and each of SWITCHBOARD_AGENTS with its card
    /// fetched now: up or down, its bindings, its skills (routes) and configured intents.
    Agents,
    /// Send a signed test webhook to the running service and print the reply.
    Simulate {
        /// The message text, as the user would type it.
        text: String,
        /// The sender's phone number (any common format).
        #[arg(long, default_value = "+15550001234")]
        from: String,
        /// The sender's WhatsApp profile name.
        #[arg(long, default_value = "Sandbox User")]
        name: String,
        /// Base URL of the running service [default: SWITCHBOARD_PUBLIC_URL or http://host:port].
        #[arg(long)]
        url: Option<String>,
        /// How long to wait for the reply, in seconds.
        #[arg(long, default_value_t = 15)]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List dead jobs with their last error.
    Dead,
    /// Put a dead job back in the queue with fresh attempts.
    Requeue { id: i64 },
}

#[derive(Debug, Subcommand)]
enum OperatorsCommand {
    /// Add an operator. The password (12 characters or more) is read from standard input,
    /// or prompted for twice, without echo, when standard input is a terminal.
    Add {
        /// Login name: 1-64 characters of a-z, 0-9, '.', '_' and '-'.
        name: String,
        /// operator (works conversations) or admin (also the service's admin views).
        #[arg(long, default_value = "operator", value_parser = ["operator", "admin"])]
        role: String,
    },
    /// List operators and their roles.
    List,
    /// Remove an operator; their console sessions end at once.
    Remove { name: String },
    /// Lift the sign-in lock on an operator's name now (after too many failed sign-ins),
    /// instead of waiting for it to end. A lock on an address ends on its own.
    Unlock { name: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Log lines go out through a writer thread: a panic's own report comes after them.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        telemetry::flush();
        report(panic);
    }));
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if matches!(cli.command, None | Some(Command::Serve)) {
        // The runtime's threads run the job workers and their outbound calls; webhooks are
        // answered on actix's own threads, started from this (main) thread, and the SQLite
        // writer has its own too. Under load the background gives way (ADR 0012).
        runtime.on_thread_start(background_priority);
    }
    match runtime.build() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Lowers the calling thread's CPU priority to about nice 9: it still uses every idle
/// cycle, but yields to the threads that answer requests when the cores are busy.
fn background_priority() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    let lowered = ThreadPriorityValue::try_from(BACKGROUND_PRIORITY).map_err(|e| e.to_string()).and_then(|value| {
        thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(value)).map_err(|e| e.to_string())
    });
    if let Err(e) = lowered {
        // Not fatal: the service runs as before, only without the preference.
        eprintln!("switchboard: cannot lower the background threads' priority: {e}");
    }
}

/// thread-priority's 0-99 scale, mapped onto niceness 19..-20: 23 is about nice 9.
const BACKGROUND_PRIORITY: u8 = 23;

async fn run(cli: Cli) -> ExitCode {
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("switchboard: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    // Before anything can fail with a secret in its words (ADR 0015).
    switchboard_runtime::register_secrets(&config);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Check => return check(config).await,
        Command::Replay { since, status, id } => replay(config, since, status, id).await,
        Command::Jobs { command } => jobs(config, command).await,
        Command::Operators { command } => operators(config, command).await,
        Command::Agents => agents(config).await,
        Command::Simulate { text, from, name, url, timeout } => {
            simulate::run(&config, SimulateArgs { text, from, name, url, timeout: Duration::from_secs(timeout) }).await
        }
    };
    // The log lines still on their way out go before the last words.
    telemetry::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {}", secrets::scrub(format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let export = telemetry::init(&config.log.filter, config.log.format, &config.otel)?;
    if let Some(endpoint) = &config.otel.traces_endpoint {
        tracing::info!(%endpoint, service = %config.otel.service_name, "exporting spans over OTLP/HTTP");
    }
    if config.mode == Mode::Sandbox {
        print_sandbox_banner(&config);
    }
    let result = async {
        let app = Application::build(config).await?;
        let handle = app.shutdown_handle();
        tokio::spawn(async move {
            wait_for_signal().await;
            handle.stop().await;
        });
        app.run_until_stopped().await
    }
    .await;
    if let Some(export) = export {
        // Flushes the last batch; blocking, so off the async workers.
        let _ = tokio::task::spawn_blocking(move || export.shutdown()).await;
    }
    result
}

async fn check(config: Config) -> ExitCode {
    use switchboard_application::ports::{AccountHealth as _, HealthStatus};
    let mut unhealthy = false;
    println!("configuration   ok ({} mode)", if config.mode == Mode::Sandbox { "sandbox" } else { "live" });
    match startup::open_store(&config).await {
        Ok(store) => match store.ready().await {
            Ok(()) => println!(
                "database        ok ({})",
                switchboard_runtime::config::redact_url(secrecy::ExposeSecret::expose_secret(&config.database.url))
            ),
            Err(reason) => {
                unhealthy = true;
                println!("database        UNHEALTHY: {}", secrets::scrub(reason));
            }
        },
        Err(e) => {
            unhealthy = true;
            println!("database        UNHEALTHY: {}", secrets::scrub(format!("{e:#}")));
        }
    }
    match startup::whatsapp_health(&config) {
        Ok(None) => println!("whatsapp        skipped (sandbox mode: no account to check)"),
        Ok(Some(health)) => {
            let report = health.check().await;
            let label = match report.status {
                HealthStatus::Healthy => "ok",
                HealthStatus::Degraded => "DEGRADED",
                HealthStatus::Unhealthy => "UNHEALTHY",
            };
            unhealthy |= report.status == HealthStatus::Unhealthy;
            println!("whatsapp        {label}");
            println!("  graph reachable      {}", report.graph_reachable);
            println!("  token valid          {}", report.token_valid.map_or("unknown".into(), |v| v.to_string()));
            if let Some(days) = report.token_expires_in_days {
                println!("  token expires in     {days:.1} days");
            }
            println!("  phone number status  {}", report.phone_number_status.as_deref().unwrap_or("unknown"));
            println!("  quality rating       {}", report.quality_rating.as_deref().unwrap_or("unknown"));
            println!(
                "  webhook subscribed   {}",
                report.webhook_subscribed.map_or("unknown".into(), |v| v.to_string())
            );
            for reason in &report.reasons {
                println!("  - {} ({})", reason.code.as_str(), reason.detail);
            }
        }
        Err(e) => {
            unhealthy = true;
            println!("whatsapp        UNHEALTHY: {}", secrets::scrub(format!("{e:#}")));
        }
    }
    if unhealthy { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// The operators' use cases over the configured database.
struct Operator {
    replay: ReplayEvents,
    dead_letters: DeadLetters,
}

async fn operator(config: &Config) -> anyhow::Result<Operator> {
    let store = startup::open_store(config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ingest = Arc::new(IngestWebhook::new(store.clone(), clock.clone(), config.workers.reorder_window));
    Ok(Operator {
        replay: ReplayEvents::new(store.clone(), store.clone(), ingest, envelope::parse, clock.clone()),
        dead_letters: DeadLetters::new(store.clone(), store, clock),
    })
}

async fn replay(config: Config, since: Option<String>, status: String, id: Option<String>) -> anyhow::Result<()> {
    let operator = operator(&config).await?;
    let trace = switchboard_shared::TraceContext::new_root();
    let outcomes = match id {
        Some(id) => match operator.replay.one(&id, trace).await? {
            Some(outcome) => vec![outcome],
            None => {
                println!("{id}: no such event");
                Vec::new()
            }
        },
        None => {
            let since = match since.as_deref() {
                None => 0,
                Some(s) => {
                    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| anyhow::anyhow!("--since {s:?} is not an RFC 3339 time"))?;
                    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
                }
            };
            let filter = EventFilter { status: Some(status), received: TimeRange { since: Some(since), until: None } };
            operator.replay.matching(filter, None, trace).await?
        }
    };
    for o in outcomes {
        match o.still_quarantined {
            Some(reason) => println!("{}: still quarantined ({reason})", o.event_id),
            None => println!(
                "{}: {} new messages, {} already stored, {} new statuses",
                o.event_id, o.new_messages, o.duplicate_messages, o.new_statuses
            ),
        }
    }
    println!("queued work is picked up by the running service's workers");
    Ok(())
}

async fn jobs(config: Config, command: JobsCommand) -> anyhow::Result<()> {
    let operator = operator(&config).await?;
    match command {
        JobsCommand::Dead => {
            let jobs = operator.dead_letters.all().await?;
            if jobs.is_empty() {
                println!("no dead jobs");
            }
            for job in jobs {
                println!(
                    "{:>8}  {:<16} attempts {:<3} trace {}  {}",
                    job.id,
                    job.kind,
                    job.attempts,
                    job.trace_id,
                    job.last_error.unwrap_or_default()
                );
            }
        }
        JobsCommand::Requeue { id } => {
            if operator.dead_letters.requeue(id).await? {
                println!("job {id} requeued");
            } else {
                anyhow::bail!("no dead job {id}");
            }
        }
    }
    Ok(())
}

/// `switchboard agents`: every agent and how it is reached, with its card fetched now.
async fn agents(config: Config) -> anyhow::Result<()> {
    use switchboard_adapters::outbound::a2a::A2aClient;
    let client = A2aClient::new(config.agents.timeout, config.agents.card_ttl)?;
    let trace = switchboard_shared::TraceContext::new_root();
    println!("built-in: greeter, helpdesk, fallback (default agent: {})", config.agents.default_agent);
    for agent in &config.agents.agents {
        let how = if agent.intents.is_empty() {
            String::from("routed by its card's skills")
        } else {
            format!("intents {}", agent.intents.join(", "))
        };
        println!("{} {} ({how})", agent.name, secrets::public_address(&agent.url));
        match client.fresh_card(&agent.url, &trace).await {
            Ok(card) => {
                let bindings: Vec<String> = card
                    .supported_interfaces
                    .iter()
                    .map(|i| format!("{} {}", i.protocol_binding, i.protocol_version))
                    .collect();
                println!("  up: card {:?} version {}; bindings: {}", card.name, card.version, bindings.join(", "));
                for skill in &card.skills {
                    println!("  skill {} ({}): tags {}", skill.id, skill.name, skill.tags.join(", "));
                }
            }
            Err(e) => println!("  down: {}", secrets::scrub(e.to_string())),
        }
    }
    Ok(())
}

async fn operators(config: Config, command: OperatorsCommand) -> anyhow::Result<()> {
    let name = |text: &str| OperatorName::parse(text).map_err(|e| anyhow::anyhow!("{text:?}: {e}"));
    // The name is checked, and the password read, before the database is opened.
    let password = match &command {
        OperatorsCommand::Add { name: text, .. } => {
            name(text)?;
            Some(read_new_password()?)
        }
        _ => None,
    };
    let store = startup::open_store(&config).await?;
    let manage = ManageOperators::new(store.clone(), Arc::new(Argon2Passwords::new()), Arc::new(SystemClock));
    match command {
        OperatorsCommand::Add { name: text, role } => {
            let role = Role::parse(&role)?;
            let password = password.unwrap_or_else(|| SecretString::from(String::new()));
            manage.add(&name(&text)?, role, &password).await?;
            println!("operator {text} added ({role}); they sign in at {}/console", config.public_url());
        }
        OperatorsCommand::List => {
            let operators = manage.list().await?;
            if operators.is_empty() {
                println!("no operators yet: switchboard operators add NAME --role admin");
            }
            for operator in operators {
                println!("{:<32} {:<8} added {}", operator.name, operator.role, operator.created_at.date());
            }
        }
        OperatorsCommand::Remove { name: text } => {
            if !manage.remove(&name(&text)?).await? {
                anyhow::bail!("no operator named {text}");
            }
            println!("operator {text} removed; their sessions have ended");
        }
        OperatorsCommand::Unlock { name: text } => {
            let name = name(&text)?;
            if !manage.list().await?.iter().any(|operator| operator.name == name) {
                anyhow::bail!("no operator named {text}");
            }
            unlock_name(store.as_ref(), &name).await?;
            println!("operator {text} may sign in again (a lock on their address, if any, ends on its own)");
        }
    }
    Ok(())
}

/// The new operator's password: prompted twice without echo on a terminal, else the
/// first line of standard input. Never echoed, logged or put in an error.
fn read_new_password() -> anyhow::Result<SecretString> {
    use std::io::{BufRead as _, IsTerminal as _};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (12 characters or more): ")?;
        let again = rpassword::prompt_password("The same password again: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        return Ok(SecretString::from(first));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    Ok(SecretString::from(password.to_owned()))
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    // Migrations export no spans.
    telemetry::init(&config.log.filter, config.log.format, &switchboard_runtime::OtelConfig::off()?)?;
    startup::open_store(&config).await?;
    println!("migrations applied");
    Ok(())
}

fn print_sandbox_banner(config: &Config) {
    use secrecy::ExposeSecret;
    eprintln!("┌ Switchboard is in SANDBOX mode: no WhatsApp account; replies are recorded, not sent.");
    if let Some(delay) = config.delivery.sandbox_status_delay {
        eprintln!(
            "│ the sandbox plays Meta: sent, delivered and read status webhooks follow each reply, {} ms apart",
            delay.as_millis()
        );
    }
    if let Some(path) = &config.sandbox_secrets_file {
        // Only what was generated: a secret someone configured is never printed.
        let generated = config.sandbox_generated;
        if generated.app_secret {
            eprintln!("│ development app secret:   {}", config.whatsapp.app_secret.expose_secret());
        }
        if generated.verify_token {
            eprintln!("│ development verify token: {}", config.whatsapp.verify_token.expose_secret());
        }
        if let Some(key) = config.api_keys.first().filter(|_| generated.api_key) {
            eprintln!("│ development API key:      {}", key.expose_secret());
        }
        eprintln!(
            "│ (kept in {}; set WHATSAPP_APP_SECRET / WHATSAPP_WEBHOOK_VERIFY_TOKEN to choose your own)",
            path.display()
        );
    }
    eprintln!("└ try it: switchboard simulate \"hello\"   (webhook: {}/webhook/whatsapp)", config.public_url());
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
