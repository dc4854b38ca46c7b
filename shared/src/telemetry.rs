//! Telemetry in one place: JSON `tracing` output, a request id on every request and response,
//! a span per request carrying the route template, Prometheus HTTP metrics, and — when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set — those spans exported as OpenTelemetry traces, with the
//! W3C `traceparent` continued from callers and passed on to the roles we call, so one buyer
//! request is one trace across roles.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, Method, Response, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;
use crate::error::ApiError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a [`TraceExport`] exists: without one every request and internal call skips the trace
/// context (reading and writing headers for spans nobody exports).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init_tracing(format: LogFormat, filter: &str) {
    init_tracing_with(format, filter, None);
}

/// [`init_tracing`], also exporting spans through `export` when given.
pub fn init_tracing_with(format: LogFormat, filter: &str, export: Option<&TraceExport>) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter).with(export.map(TraceExport::layer));
    let _ = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
}

/// Spans exported over OTLP/HTTP (protobuf) to an OpenTelemetry collector, in batches from a
/// thread of its own. Configured by the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (unset:
/// nothing is exported), `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default: every trace;
/// `parentbased_traceidratio` follows the caller's decision, e.g. the mesh's), `OTEL_SERVICE_NAME`.
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// From the environment; `None` when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset or empty.
    pub fn from_env(service: &str) -> anyhow::Result<Option<Self>> {
        match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Ok(endpoint) if !endpoint.trim().is_empty() => {
                let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
                Self::new(&endpoint, &service).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Exports to the collector at `endpoint` (its base: `/v1/traces` is appended) as `service`.
    pub fn new(endpoint: &str, service: &str) -> anyhow::Result<Self> {
        let traces = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(traces)
            .build()?;
        let resource = opentelemetry_sdk::Resource::builder().with_service_name(service.to_owned()).build();
        let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        EXPORTING.store(true, Ordering::Relaxed);
        Ok(Self { provider })
    }

    fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("tiketi"))
    }

    /// Sends what is buffered; blocks until the collector answered or the export timed out.
    pub fn flush(&self) -> anyhow::Result<()> {
        Ok(self.provider.force_flush()?)
    }

    /// Flushes and stops the export thread (at process exit).
    pub fn shutdown(&self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::warn!(error = %err, "flushing traces at shutdown failed");
        }
    }
}

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut reqwest::header::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (reqwest::header::HeaderName::try_from(key), reqwest::header::HeaderValue::try_from(value))
        {
            self.0.insert(name, value);
        }
    }
}

/// The trace context of the current span as headers (`traceparent`, `tracestate`) for a call to
/// another role. Empty when traces are not exported.
pub fn trace_headers() -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    if !EXPORTING.load(Ordering::Relaxed) {
        return headers;
    }
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
    });
    headers
}

/// The process's Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Request-scale durations; 0.2 is a boundary because the hold SLO is p95 < 200 ms
            // (k8s/monitoring/rules/slo.yaml counts holds slower than `le="0.2"`).
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".to_owned()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0],
                )
                // Waiting-room waits are minutes, not milliseconds (a full match wins over the suffix).
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("tiketi_queue_wait_seconds".to_owned()),
                        &[1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0],
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed, in which case ours simply stays unused.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Wraps `router` with request ids, the request span, HTTP metrics and panic containment.
///
/// The layers are stacked into one before being applied: `Router::layer` boxes every route's
/// service once per call, so each layer applied on its own cost every request a boxed clone and a
/// boxed future more (`loadtests/seatmap_static.sh`).
pub fn instrument(router: Router) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
            let request_id =
                req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("");
            let span = tracing::info_span!(
                "request",
                method = %req.method(),
                route,
                request_id,
                otel.name = %format_args!("{} {route}", req.method()),
                otel.kind = "server",
            );
            // Continue the caller's trace (another role, or the mesh's ingress gateway).
            if EXPORTING.load(Ordering::Relaxed) {
                let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
                    propagator.extract(&HeaderExtractor(req.headers()))
                });
                let _ = span.set_parent(parent);
            }
            span
        })
        .on_request(())
        .on_response(|res: &Response<_>, latency: std::time::Duration, _span: &tracing::Span| {
            tracing::info!(status = res.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "served");
        });
    // Outermost first.
    router.layer(
        ServiceBuilder::new()
            .layer(CatchPanicLayer::custom(|_panic| {
                ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
            }))
            .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(trace)
            .layer(middleware::from_fn(record_metrics)),
    )
}

async fn record_metrics(req: Request, next: Next) -> axum::response::Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // A method outside HTTP's own is counted as "OTHER": clients choose it, and each would be a
    // series of its own.
    let method = METHODS.iter().find(|(m, _)| m == req.method()).map_or("OTHER", |(_, label)| label);
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method.into()), ("route", route), ("status", status)];
    metrics::counter!("tiketi_http_requests_total", &labels).increment(1);
    metrics::histogram!("tiketi_http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    response
}

const METHODS: [(Method, &str); 9] = [
    (Method::GET, "GET"),
    (Method::HEAD, "HEAD"),
    (Method::POST, "POST"),
    (Method::PUT, "PUT"),
    (Method::DELETE, "DELETE"),
    (Method::PATCH, "PATCH"),
    (Method::OPTIONS, "OPTIONS"),
    (Method::CONNECT, "CONNECT"),
    (Method::TRACE, "TRACE"),
];

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Bytes;
    use axum::routing::{get, post};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message as _;
    use tokio::sync::mpsc;

    use super::*;
    use crate::clock::Clock;
    use crate::internal::{InternalClient, ServiceTokenSigner};
    use crate::keys::{KeyPurpose, KeySet, StoredKeySet};

    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    /// A collector: every span OTLP/HTTP delivers, decoded from protobuf.
    async fn collector() -> (String, mpsc::UnboundedReceiver<Span>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let receive = post(move |body: Bytes| async move {
            let request = ExportTraceServiceRequest::decode(body).unwrap();
            for span in request.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans) {
                let _ = tx.send(span);
            }
        });
        (serve(Router::new().route("/v1/traces", receive)).await, rx)
    }

    /// A caller's request span, the internal call it makes, and the callee's request span are one
    /// trace, parented in that order — and a `traceparent` from outside (the mesh's gateway) is
    /// the root they continue.
    /// Each request is counted under its route template; a method clients make up is "OTHER",
    /// so nobody can grow the series without bound.
    /// Tests that pass requests through [`instrument`] run one at a time: `tracing` caches
    /// whether a span's callsite is wanted, and a request span first met in a test without a
    /// subscriber while another test installs its own can leave the callsite disabled for both.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_a_known_method() {
        let _one = ONE_AT_A_TIME.lock().await;
        let handle = metrics_handle();
        let url = serve(instrument(Router::new().route("/api/counted/{id}", get(|| async { "{}" })))).await;
        let http = reqwest::Client::new();
        http.get(format!("{url}/api/counted/1")).send().await.unwrap();
        for method in ["BREW", "WHEN"] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            http.request(method, format!("{url}/api/counted/2")).send().await.unwrap();
        }
        let rendered = handle.render();
        let counted = |method: &str, status: &str| {
            rendered.lines().any(|l| {
                l.starts_with("tiketi_http_requests_total{")
                    && l.contains(&format!("method=\"{method}\""))
                    && l.contains("route=\"/api/counted/{id}\"")
                    && l.contains(&format!("status=\"{status}\""))
            })
        };
        assert!(counted("GET", "200"), "{rendered}");
        assert!(counted("OTHER", "405"), "{rendered}");
        assert!(!rendered.contains("BREW") && !rendered.contains("WHEN"), "{rendered}");
    }

    #[tokio::test]
    async fn one_request_is_one_trace_across_roles() {
        let _one = ONE_AT_A_TIME.lock().await;
        let (collector, mut spans) = collector().await;
        let export = TraceExport::new(&collector, "tiketi-test").unwrap();
        let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(export.layer()));

        let callee = serve(instrument(Router::new().route("/internal/ticket/ping", get(|| async { "{}" })))).await;
        let keys = KeySet::from_stored(
            KeyPurpose::Service,
            &StoredKeySet::first(KeyPurpose::Service, chrono::Utc::now()).unwrap(),
        )
        .unwrap();
        let signer = Arc::new(ServiceTokenSigner::new("payment", keys, Clock::fixed(chrono::Utc::now())));
        let client = InternalClient::new(url::Url::parse(&callee).unwrap(), signer);
        let call = get(move || async move {
            let _: serde_json::Value = client.get("ticket", "/internal/ticket/ping").await.unwrap();
        });
        let caller = serve(instrument(Router::new().route("/api/things", call))).await;

        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let response = reqwest::Client::new()
            .get(format!("{caller}/api/things"))
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        tokio::task::spawn_blocking(move || export.flush()).await.unwrap().unwrap();

        let mut got = Vec::new();
        while got.len() < 3 {
            let span = tokio::time::timeout(std::time::Duration::from_secs(10), spans.recv()).await.unwrap().unwrap();
            got.push(span);
        }
        let by_name = |name: &str| got.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("{name} in {got:?}"));
        let (server, client, callee) =
            (by_name("GET /api/things"), by_name("GET ticket"), by_name("GET /internal/ticket/ping"));
        for span in [server, client, callee] {
            assert_eq!(hex(&span.trace_id), trace_id, "{span:?}");
        }
        assert_eq!(hex(&server.parent_span_id), "00f067aa0ba902b7");
        assert_eq!(client.parent_span_id, server.span_id);
        assert_eq!(callee.parent_span_id, client.span_id);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
