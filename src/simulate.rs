//! `switchboard simulate`: a newcomer's round trip without a WhatsApp account. Builds a
//! realistic text-message webhook, signs it with the configured app secret as Meta
//! would, posts it to the running service, and waits for the reply the sandbox gateway
//! recorded.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use switchboard_adapters::inbound::whatsapp::signature;
use switchboard_domain::PhoneNumber;
use switchboard_runtime::{Config, Mode};
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use uuid::Uuid;

pub struct SimulateArgs {
    pub text: String,
    pub from: String,
    pub name: String,
    pub url: Option<String>,
    pub timeout: Duration,
}

/// The webhook body Meta would send for one text message.
pub fn text_webhook(config: &Config, wamid: &str, from: &PhoneNumber, name: &str, text: &str) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": config.whatsapp.business_account_id.clone().unwrap_or_default(),
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": "15550000000",
                        "phone_number_id": config.whatsapp.phone_number_id,
                    },
                    "contacts": [{"profile": {"name": name}, "wa_id": from.digits()}],
                    "messages": [{
                        "from": from.digits(),
                        "id": wamid,
                        "timestamp": OffsetDateTime::now_utc().unix_timestamp().to_string(),
                        "type": "text",
                        "text": {"body": text},
                    }],
                },
            }],
        }],
    })
}

pub async fn run(config: &Config, args: SimulateArgs) -> anyhow::Result<()> {
    let from =
        PhoneNumber::parse(&args.from).with_context(|| format!("--from {:?} is not a phone number", args.from))?;
    let base = args.url.clone().unwrap_or_else(|| config.public_url());
    let wamid = format!("wamid.SIMULATED.{}", Uuid::now_v7().simple());
    let trace = TraceContext::new_root();
    let body = serde_json::to_vec(&text_webhook(config, &wamid, &from, &args.name, &args.text))?;
    let signature = signature::sign(config.whatsapp.app_secret.expose_secret().as_bytes(), &body);

    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let response = client
        .post(format!("{base}/webhook/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .header("traceparent", trace.to_traceparent())
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach Switchboard at {base}; is `switchboard serve` running?"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        bail!("the webhook was refused with {status}: {text}");
    }
    println!("→ {} says {:?}  (wamid {wamid}, trace_id {})", from.masked(), args.text, trace.trace_id);

    if config.mode == Mode::Live {
        println!(
            "live mode: the reply goes out through WhatsApp; follow it in the logs with trace_id {}",
            trace.trace_id
        );
        return Ok(());
    }
    // The outbox needs the API key (the sandbox's own, from its secrets file, or the first configured).
    let api_key = config.api_keys.first().map(|k| k.expose_secret().to_owned()).unwrap_or_default();
    let deadline = Instant::now() + args.timeout;
    let reply = loop {
        let outbox: Value = client
            .get(format!("{base}/sandbox/outbox"))
            .header("x-api-key", &api_key)
            .query(&[("reply_to", wamid.as_str())])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if let Some(reply) = outbox["messages"].as_array().and_then(|m| m.first()) {
            break reply.clone();
        }
        if Instant::now() >= deadline {
            bail!("no reply within {:?}; look for trace_id {} in the service's logs", args.timeout, trace.trace_id);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let text = reply["message"]["content"]["body"].as_str().unwrap_or("(no text)");
    println!("← {text}");
    println!("  (recorded by the sandbox gateway as {})", reply["provider_id"].as_str().unwrap_or(""));
    if let Some(delivery_id) = reply["delivery_id"].as_str() {
        follow_ticks(&client, &base, &api_key, delivery_id, deadline).await?;
    }
    Ok(())
}

/// Prints the reply's ticks as the sandbox's status webhooks move its delivery: sent,
/// delivered, read. Stops at read, or quietly when they stop coming (statuses off).
async fn follow_ticks(
    client: &reqwest::Client,
    base: &str,
    api_key: &str,
    delivery_id: &str,
    deadline: Instant,
) -> anyhow::Result<()> {
    let quiet_for = Duration::from_secs(3);
    let mut last_change = Instant::now();
    let mut shown = String::new();
    while Instant::now() < deadline && last_change.elapsed() < quiet_for {
        let response =
            client.get(format!("{base}/api/v1/messages/{delivery_id}")).header("x-api-key", api_key).send().await?;
        if !response.status().is_success() {
            // No API key for this service (it runs with other secrets): no ticks to show.
            return Ok(());
        }
        let delivery: Value = response.json().await?;
        let state = delivery["state"].as_str().unwrap_or("").to_owned();
        if state != shown {
            let tick = match state.as_str() {
                "sent" => "✓      sent",
                "delivered" => "✓✓     delivered",
                "read" => "✓✓     read (blue ticks)",
                "failed" => "✗      failed",
                _ => "",
            };
            if !tick.is_empty() {
                println!("  {tick}");
            }
            shown = state;
            last_change = Instant::now();
        }
        if matches!(shown.as_str(), "read" | "failed") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
