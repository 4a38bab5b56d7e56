//! The load generator: correctly signed text-message webhooks, each with a wamid never
//! used before, sent one at a time, as fast as they are answered (closed loop) or at a
//! fixed rate whatever the answers do (open loop).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use tokio::task::JoinSet;

use crate::fake_graph::FakeGraph;
use crate::{APP_SECRET, PHONE_NUMBER_ID, SENDERS};

/// The load generator.
pub(crate) struct Load {
    client: reqwest::Client,
    run: String,
    next: Arc<AtomicU64>,
}

pub(crate) struct OpenLoop {
    pub(crate) offered: u64,
    pub(crate) acked: u64,
    pub(crate) errors: u64,
    /// Sorted, in microseconds from the intended send time.
    pub(crate) latencies_us: Vec<u64>,
    /// Sorted, in microseconds: how late the generator started each request.
    pub(crate) late_us: Vec<u64>,
    /// Sorted, in microseconds from when each request was actually started.
    pub(crate) from_start_us: Vec<u64>,
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

impl Load {
    /// A generator of its own run (its wamids are `BENCH.<run>.<n>`), with a keep-alive
    /// pool for `connections` concurrent senders.
    pub(crate) fn new(connections: usize) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections * 2)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { client, run: uuid::Uuid::now_v7().simple().to_string(), next: Arc::new(AtomicU64::new(0)) })
    }

    /// Posts one webhook from a user never seen before and waits for its reply at Graph:
    /// microseconds from sending the webhook to the reply's arrival (`None` if it did not
    /// arrive within 10 s).
    pub(crate) async fn lone_message(&self, url: &str, graph: &FakeGraph, n: u64) -> anyhow::Result<Option<u64>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = webhook_body(447_800_000_000 + n, &format!("LONE.{}.{n}", self.run), now);
        let signature = sign(APP_SECRET.as_bytes(), body.as_bytes());
        let before = graph.sends();
        let sent_at = graph.now_ns();
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            return Ok(None);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while graph.sends() <= before {
            if Instant::now() > deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let arrived = graph.last_send_ns();
        Ok(Some(arrived.saturating_sub(sent_at) / 1_000))
    }

    /// A signed text-message webhook with a wamid never used before.
    fn request(&self) -> (Vec<u8>, String) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = webhook_body(447_700_900_000 + (n % SENDERS), &format!("BENCH.{}.{n}", self.run), now).into_bytes();
        let signature = sign(APP_SECRET.as_bytes(), &body);
        (body, signature)
    }

    async fn send(&self, url: &str) -> bool {
        let (body, signature) = self.request();
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) => {
                let ok = r.status() == reqwest::StatusCode::OK;
                // Read the body so the connection goes back to the pool.
                let _ = r.bytes().await;
                ok
            }
            Err(_) => false,
        }
    }

    /// `connections` senders, each sending its next request when the last is answered.
    pub(crate) async fn closed_loop(&self, url: &str, connections: usize, duration: Duration) -> (u64, u64) {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let until = Instant::now() + duration;
        let mut senders = JoinSet::new();
        for _ in 0..connections {
            let load = self.clone_handle();
            let url = url.to_owned();
            let ok = Arc::clone(&ok);
            let failed = Arc::clone(&failed);
            senders.spawn(async move {
                while Instant::now() < until {
                    if load.send(&url).await {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        while senders.join_next().await.is_some() {}
        (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
    }

    /// Requests at a fixed rate whatever the answers do; each request's latency runs from
    /// when it was due, not from when it happened to be sent.
    ///
    /// The rate is paced by an OS thread: tokio's timer wakes on whole milliseconds, up to
    /// 1 ms late, and that lateness would be charged to the service; `std::thread::sleep`
    /// wakes within tens of microseconds. How late each request started after it was due
    /// is kept too, so the generator's own delay can be told from the service's.
    pub(crate) async fn open_loop(&self, url: &str, rate: u64, duration: Duration) -> OpenLoop {
        let rate = rate.max(1);
        let total = rate.saturating_mul(duration.as_secs().max(1));
        let period = Duration::from_nanos(1_000_000_000 / rate);
        let (ticks, mut due_times) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        let start = Instant::now() + Duration::from_millis(20);
        let pacer = std::thread::spawn(move || {
            for i in 0..total {
                let due = start + period * u32::try_from(i).unwrap_or(u32::MAX);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if ticks.send(due).is_err() {
                    break;
                }
            }
        });
        let mut requests = JoinSet::new();
        while let Some(due) = due_times.recv().await {
            let load = self.clone_handle();
            let url = url.to_owned();
            requests.spawn(async move {
                let late = due.elapsed();
                let ok = load.send(&url).await;
                (ok, micros(due.elapsed()), micros(late))
            });
        }
        let _ = pacer.join();
        let mut result = OpenLoop {
            offered: total,
            acked: 0,
            errors: 0,
            latencies_us: Vec::new(),
            late_us: Vec::new(),
            from_start_us: Vec::new(),
        };
        while let Some(done) = requests.join_next().await {
            match done {
                Ok((true, latency, late)) => {
                    result.acked += 1;
                    result.latencies_us.push(latency);
                    result.late_us.push(late);
                    result.from_start_us.push(latency.saturating_sub(late));
                }
                _ => result.errors += 1,
            }
        }
        result.latencies_us.sort_unstable();
        result.late_us.sort_unstable();
        result.from_start_us.sort_unstable();
        result
    }

    fn clone_handle(&self) -> Self {
        Self { client: self.client.clone(), run: self.run.clone(), next: Arc::clone(&self.next) }
    }
}

/// The shape of `text_message` in the WhatsApp fixtures: one text from `from`, with the
/// wamid `wamid.<wamid>`.
fn webhook_body(from: u64, wamid: &str, now: i64) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"210987654321098","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550100200","phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":[{{"profile":{{"name":"Bench User"}},"wa_id":"{from}"}}],"messages":[{{"from":"{from}","id":"wamid.{wamid}","timestamp":"{now}","type":"text","text":{{"body":"hello"}}}}]}}}}]}}]}}"#
    )
}

/// `X-Hub-Signature-256` as Meta computes it: HMAC-SHA256 of the app secret over the
/// exact body bytes, hex-encoded.
fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; keep it total anyway.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::from("sha256="),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_body_parses_as_a_text_message_webhook_with_its_own_wamid() {
        let body = webhook_body(447_700_900_007, "BENCH.run.7", 1_795_600_000);

        let value: serde_json::Value = serde_json::from_str(&body).unwrap();

        let message = &value["entry"][0]["changes"][0]["value"]["messages"][0];
        assert_eq!(message["id"], "wamid.BENCH.run.7");
        assert_eq!(message["text"]["body"], "hello");
        assert_eq!(message["from"], "447700900007");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body_as_meta_sends_it() {
        // RFC 4231, test case 2.
        let signature = sign(b"Jefe", b"what do ya want for nothing?");

        assert_eq!(signature, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
