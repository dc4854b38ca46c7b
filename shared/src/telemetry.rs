//! Telemetry in one place: JSON `tracing` output, a request id on every request and response,
//! a span per request carrying the route template, Prometheus HTTP metrics, and — when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set — those spans exported as OpenTelemetry traces, with the
//! W3C `traceparent` continued from callers and passed on to the roles we call, so one buyer
//! request is one trace across roles.

use std::collections::HashMap;
use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::{Layer, Service};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use uuid::Uuid;

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
/// All of it is one layer with one future ([`Telemetry`]): `Router::layer` boxes every route's
/// service once per call, and each of tower-http's layers (request id set and propagated, trace,
/// panic guard) added a future around the handler's, a box around its body, or an extension to
/// the request — allocations every request paid for (`loadtests/seatmap_static.sh`).
pub fn instrument(router: Router) -> Router {
    router.layer(TelemetryLayer)
}

/// [`instrument`] for one service answering one route outside a router: `route` is its template,
/// as a router would have matched it.
pub fn instrument_route<S>(route: &'static str, inner: S) -> Telemetry<S> {
    Telemetry { inner, route: Some(route) }
}

#[derive(Clone, Copy)]
struct TelemetryLayer;

impl<S> Layer<S> for TelemetryLayer {
    type Service = Telemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Telemetry { inner, route: None }
    }
}

/// Per request: the caller's `x-request-id` (or a new one) on the request and on the response;
/// `authorization` and `cookie` marked sensitive (never printed); a `request` span carrying the
/// route template, continuing the caller's trace; a "served" line; the HTTP metrics; and a panic
/// in the handler answered as a 500 problem instead of a dropped connection.
#[derive(Clone)]
pub struct Telemetry<S> {
    inner: S,
    /// The route's template when known in advance; else the router's match.
    route: Option<&'static str>,
}

impl<S> Service<Request> for Telemetry<S>
where
    S: Service<Request, Response = axum::response::Response, Error = Infallible>,
{
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Served<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let headers = req.headers_mut();
        for name in [header::AUTHORIZATION, header::COOKIE] {
            if let header::Entry::Occupied(mut values) = headers.entry(name) {
                values.iter_mut().for_each(|v| v.set_sensitive(true));
            }
        }
        if !headers.contains_key(REQUEST_ID) {
            let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
            if let Ok(id) = HeaderValue::from_str(Uuid::new_v4().hyphenated().encode_lower(&mut text)) {
                headers.insert(REQUEST_ID, id);
            }
        }
        let request_id = headers.get(REQUEST_ID).cloned();
        let route = match self.route {
            Some(route) => Route::Known(route),
            None => req.extensions().get::<MatchedPath>().cloned().map_or(Route::Unmatched, Route::Matched),
        };
        let route_text = route.as_str();
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            route = route_text,
            request_id = request_id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or(""),
            otel.name = %format_args!("{} {route_text}", req.method()),
            otel.kind = "server",
        );
        // Continue the caller's trace (another role, or the mesh's ingress gateway).
        if EXPORTING.load(Ordering::Relaxed) {
            let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.extract(&HeaderExtractor(req.headers()))
            });
            let _ = span.set_parent(parent);
        }
        // A method outside HTTP's own is counted as "OTHER": clients choose it, and each would be
        // a series of its own.
        let method = METHODS.iter().find(|(m, _)| m == req.method()).map_or("OTHER", |(_, label)| label);
        let inner = span.in_scope(|| catch_unwind(AssertUnwindSafe(|| self.inner.call(req)))).ok();
        Served { inner, span, request_id, route, method, start }
    }
}

enum Route {
    Known(&'static str),
    Matched(MatchedPath),
    Unmatched,
}

impl Route {
    fn as_str(&self) -> &str {
        match self {
            Route::Known(route) => route,
            Route::Matched(route) => route.as_str(),
            Route::Unmatched => "unmatched",
        }
    }
}

pin_project_lite::pin_project! {
    pub struct Served<F> {
        // `None` when calling the handler panicked.
        #[pin]
        inner: Option<F>,
        span: tracing::Span,
        request_id: Option<HeaderValue>,
        route: Route,
        method: &'static str,
        start: Instant,
    }
}

impl<F> Future for Served<F>
where
    F: Future<Output = Result<axum::response::Response, Infallible>>,
{
    type Output = Result<axum::response::Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        // `None`: calling the handler, or this poll of it, panicked.
        let polled = this.inner.as_pin_mut().and_then(|inner| catch_unwind(AssertUnwindSafe(|| inner.poll(cx))).ok());
        let mut response = match polled {
            Some(Poll::Pending) => return Poll::Pending,
            Some(Poll::Ready(Ok(response))) => response,
            None => ApiError::internal(anyhow::anyhow!("handler panicked")).into_response(),
        };
        let status = response.status().as_u16();
        let latency = this.start.elapsed();
        tracing::info!(status, latency_ms = latency.as_secs_f64() * 1000.0, "served");
        if response.status().is_server_error() {
            tracing::error!(status, latency_ms = latency.as_secs_f64() * 1000.0, "response failed");
        }
        if let (Some(id), header::Entry::Vacant(slot)) =
            (this.request_id.take(), response.headers_mut().entry(REQUEST_ID))
        {
            slot.insert(id);
        }
        HttpSeries::with(this.route.as_str(), this.method, status, |series| {
            series.requests.increment(1);
            series.duration.record(latency.as_secs_f64());
        });
        Poll::Ready(Ok(response))
    }
}

/// The handles of one route's series, per method and status.
type RouteSeries = Vec<(&'static str, u16, HttpSeries)>;

/// The HTTP metrics of one route template, method and status. Their handles are kept, found by
/// the route's text: registering the series by name and labels on every request built a key of
/// five strings and looked it up in the registry, twice (`loadtests/seatmap_static.sh`).
struct HttpSeries {
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl HttpSeries {
    fn with(route: &str, method: &'static str, status: u16, record: impl FnOnce(&Self)) {
        static SERIES: LazyLock<RwLock<HashMap<Box<str>, RouteSeries>>> = LazyLock::new(Default::default);
        let find = |series: &RouteSeries| series.iter().position(|(m, s, _)| *m == method && *s == status);
        {
            let known = SERIES.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, _, series)) = known.get(route).and_then(|r| find(r).map(|i| &r[i])) {
                return record(series);
            }
        }
        // A handle made before our recorder is installed would count nothing, ever.
        metrics_handle();
        let mut known = SERIES.write().unwrap_or_else(PoisonError::into_inner);
        let route_series = known.entry(route.into()).or_default();
        let i = find(route_series).unwrap_or_else(|| {
            let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
            let series = HttpSeries {
                requests: metrics::counter!("tiketi_http_requests_total", &labels),
                duration: metrics::histogram!("tiketi_http_request_duration_seconds", &labels),
            };
            route_series.push((method, status, series));
            route_series.len() - 1
        });
        record(&route_series[i].2);
    }
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

    async fn panics_while_running() -> &'static str {
        tokio::task::yield_now().await;
        panic!("handler bug")
    }

    /// A caller's request id comes back on the answer; without one the answer carries a new
    /// UUID; and a handler that panics — while being called or while running — is answered as a
    /// 500 problem with its request id, the connection and the server still serving.
    #[tokio::test]
    async fn request_ids_are_echoed_or_made_and_a_panic_is_a_500_problem() {
        let _one = ONE_AT_A_TIME.lock().await;
        let router = Router::new()
            .route("/api/fine", get(|| async { "{}" }))
            .route("/api/panics", get(panics_while_running))
            .route_service(
                "/api/panics-when-called",
                tower::service_fn(
                    |_req: Request| -> std::future::Ready<Result<axum::response::Response, Infallible>> {
                        panic!("service bug")
                    },
                ),
            );
        let url = serve(instrument(router)).await;
        let http = reqwest::Client::new();

        let echoed = http.get(format!("{url}/api/fine")).header("x-request-id", "caller-7").send().await.unwrap();
        assert_eq!(echoed.headers()["x-request-id"], "caller-7");
        let made = http.get(format!("{url}/api/fine")).send().await.unwrap();
        let id = made.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4, "{id}");

        for path in ["/api/panics", "/api/panics-when-called"] {
            let response = http.get(format!("{url}{path}")).header("x-request-id", "caller-8").send().await.unwrap();
            assert_eq!(response.status(), 500, "{path}");
            assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
            assert_eq!(response.headers()["x-request-id"], "caller-8", "{path}");
            let problem: serde_json::Value = response.json().await.unwrap();
            assert_eq!(problem["code"], "INTERNAL", "{path}: {problem}");
            assert!(!problem.to_string().contains("bug"), "{path}: {problem}");
        }
        assert_eq!(http.get(format!("{url}/api/fine")).send().await.unwrap().status(), 200);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
