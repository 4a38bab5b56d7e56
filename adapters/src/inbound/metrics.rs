//! `GET /metrics`: Prometheus text format. Counters and histograms are recorded where
//! things happen (through the `metrics` facade); the queue and delivery gauges are read
//! from the database at scrape time, so every replica reports the shared truth.

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::outbound::store::Store;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls reuse it).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
            let builder =
                PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix(String::from("_seconds")), &buckets);
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
                    None
                }
            }
        })
        .clone()
}

pub struct MetricsState {
    pub handle: Option<PrometheusHandle>,
    pub store: std::sync::Arc<dyn Store>,
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format")))]
pub async fn render(state: web::Data<MetricsState>) -> HttpResponse {
    match state.store.operational_snapshot().await {
        Ok(snapshot) => {
            metrics::gauge!("switchboard_job_queue_depth").set(snapshot.queued as f64);
            metrics::gauge!("switchboard_job_oldest_age_seconds").set(snapshot.oldest_age_seconds);
            metrics::gauge!("switchboard_jobs_dead").set(snapshot.dead as f64);
            for state in ["pending", "sent", "delivered", "read", "failed"] {
                let n = snapshot.deliveries.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
                metrics::gauge!("switchboard_deliveries", "state" => state).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: database gauges unavailable"),
    }
    let body = state.handle.as_ref().map(PrometheusHandle::render).unwrap_or_default();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body)
}

/// `# HELP` text, and a zero for the counters an alert or a dashboard reads before they
/// first move (a series that does not exist yet cannot be told from one that broke).
fn describe() {
    metrics::describe_counter!(
        "switchboard_inbound_throttled_total",
        "Inbound messages the sender limit held back: stored and acknowledged, handed to the agents later, together, in the sender's next turn"
    );
    metrics::counter!("switchboard_inbound_throttled_total").increment(0);
}
