//! The servers of the bench process: a Graph API stand-in that counts the replies the
//! service sends, and the bare handler that gives the limit of this machine.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};

/// A Graph API stand-in on loopback that accepts every send and counts it.
pub(crate) struct FakeGraph {
    port: u16,
    state: Arc<GraphCount>,
    handle: actix_web::dev::ServerHandle,
}

#[derive(Default)]
struct GraphCount {
    /// Replies sent (messages), not counting the read receipts on the same endpoint.
    sends: AtomicU64,
    /// Read receipts (`"status": "read"`), which the service sends for every inbound message.
    read_receipts: AtomicU64,
    /// When the last send arrived, as nanoseconds after `epoch`.
    last_ns: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
}

async fn graph_send(state: web::Data<GraphCount>, body: web::Bytes) -> HttpResponse {
    // The read receipt shares the messages endpoint; it is no reply and must not count
    // as one (counting it once made the end-to-end figures twice too high).
    let receipt = serde_json::from_slice::<serde_json::Value>(&body)
        .is_ok_and(|b| b.get("status").and_then(serde_json::Value::as_str) == Some("read"));
    if receipt {
        state.read_receipts.fetch_add(1, Ordering::Relaxed);
        return HttpResponse::Ok().content_type("application/json").body(r#"{"success":true}"#);
    }
    let n = state.sends.fetch_add(1, Ordering::Relaxed) + 1;
    let epoch = *state.epoch.get_or_init(Instant::now);
    state.last_ns.fetch_max(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!(r#"{{"messaging_product":"whatsapp","messages":[{{"id":"wamid.BENCHSENT.{n}"}}]}}"#))
}

impl FakeGraph {
    pub(crate) fn start() -> anyhow::Result<Self> {
        let state = Arc::new(GraphCount::default());
        let _ = state.epoch.set(Instant::now());
        let data = web::Data::from(Arc::clone(&state));
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route("/{version}/{number}/messages", web::post().to(graph_send))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { port, state, handle })
    }

    pub(crate) fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn sends(&self) -> u64 {
        self.state.sends.load(Ordering::Relaxed)
    }

    /// Nanoseconds since the fake's epoch, the clock [`last_send_ns`](Self::last_send_ns)
    /// is read on.
    pub(crate) fn now_ns(&self) -> u64 {
        self.state.epoch.get().map_or(0, |epoch| u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// When the last send arrived, in nanoseconds since the fake's epoch.
    pub(crate) fn last_send_ns(&self) -> u64 {
        self.state.last_ns.load(Ordering::Relaxed)
    }

    /// Waits until `count` sends arrived (or `within` passed); answers how many arrived
    /// and when the last one did.
    pub(crate) async fn wait_for(&self, count: u64, within: Duration) -> (u64, Option<Instant>) {
        let deadline = Instant::now() + within;
        while self.sends() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let last = self.state.epoch.get().map(|epoch| *epoch + Duration::from_nanos(self.last_send_ns()));
        (self.sends(), last)
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// The limit: an actix-web handler that reads the body and answers 200.
pub(crate) struct BareHandler {
    port: u16,
    handle: actix_web::dev::ServerHandle,
}

async fn bare_ok(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().finish()
}

impl BareHandler {
    /// With `workers` actix workers, else actix's default (one per core this process may
    /// use): as many as the service gets.
    pub(crate) fn start(workers: Option<usize>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(|| App::new().route("/webhook/whatsapp", web::post().to(bare_ok)));
        if let Some(workers) = workers {
            server = server.workers(workers.max(1));
        }
        let server = server.disable_signals().listen(listener)?.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { port, handle })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/webhook/whatsapp", self.port)
    }
}

impl Drop for BareHandler {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}
