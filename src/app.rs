//! Building the server for a set of roles, and running it until a stop signal.
//!
//! Tests call [`Application::build`] with port 0 and their own database, exactly as `tiketi up`
//! does with the real one.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Router, ServiceExt};
use futures::future::{BoxFuture, Either};
use sqlx::PgPool;
use tiketi_auth::AuthState;
use tiketi_realtime::standings::TicketStandings;
use tiketi_shared::aws::{Aws, Located};
use tiketi_shared::clock::Clock;
use tiketi_shared::error::Problem;
use tiketi_shared::extract::TrustedProxyHops;
use tiketi_shared::internal::{InternalClient, LocalRoutes, ServiceTokenSigner};
use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};
use tiketi_shared::ops::{self, Dependency};
use tiketi_shared::redis::Redis;
use tiketi_shared::secrets::{SecretValue, SecretsManagerKeyStore};
use tiketi_shared::token::TokenVerifier;
use tiketi_shared::{ApiError, ErrorCode, db, telemetry};
use tiketi_ticket::{TicketState, seatmap};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceBuilder};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::role::Role;
use crate::settings::{SecretSource, Settings};
use crate::web::{self, Web};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tiketi API", description = "Ticketing for high-demand on-sales. Errors are application/problem+json."),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
            );
        }
    }
}

/// What a test may substitute; production uses the defaults.
#[derive(Default)]
pub struct Overrides {
    /// A database prepared by the caller (e.g. a fresh one per test).
    pub pool: Option<PgPool>,
    pub clock: Clock,
}

/// The process's connections, shared by every role in it.
pub struct Resources {
    pub pool: PgPool,
    pub redis: Redis,
    pub clock: Clock,
    /// Where signing keys live (`TIKETI_SECRETS`).
    pub keys: Arc<dyn KeyStore>,
    /// AWS clients (no connection is made until a role uses them).
    pub aws: Aws,
    /// The roles whose internal calls stay in this process (none unless `Application::build`
    /// says so).
    pub local: LocalRoutes,
}

impl Resources {
    pub async fn connect(settings: &Settings, overrides: Overrides) -> anyhow::Result<Self> {
        let pool = match overrides.pool {
            Some(pool) => pool,
            None => db::pool(&settings.common.database_url, settings.common.database_max_connections)?,
        };
        let redis = Redis::connect(&settings.common.redis_url, &settings.common.redis_key_prefix).await?;
        let aws = Aws::connect(&settings.aws).await;
        let keys = key_store(settings, &aws);
        Ok(Self { pool, redis, clock: overrides.clock, keys, aws, local: LocalRoutes::default() })
    }

    /// Applies every role's migrations, each in its own schema.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        db::migrate(&self.pool, tiketi_auth::SCHEMA, &tiketi_auth::MIGRATOR).await?;
        db::migrate(&self.pool, tiketi_ticket::SCHEMA, &tiketi_ticket::MIGRATOR).await?;
        db::migrate(&self.pool, tiketi_payment::SCHEMA, &tiketi_payment::MIGRATOR).await?;
        db::migrate(&self.pool, tiketi_stats::SCHEMA, &tiketi_stats::MIGRATOR).await?;
        db::migrate(&self.pool, tiketi_queue_worker::SCHEMA, &tiketi_queue_worker::MIGRATOR).await
    }

    /// The queues and topic: created first when `bootstrap` (local), else looked up.
    pub async fn locate_aws(&self, bootstrap: bool) -> anyhow::Result<Located> {
        if bootstrap { self.aws.bootstrap().await } else { self.aws.locate().await }
    }
}

pub struct Application {
    listener: TcpListener,
    /// Also reached by internal calls to the roles served here, while it lives.
    router: Arc<Router>,
    /// With the ticket role: the seat map, answered ahead of the router.
    seat_map: Option<TicketState>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    settings: Settings,
}

impl Application {
    /// Binds the port, connects, and builds the routes of `roles`; listens only once all of it
    /// is ready, so a starting process refuses connections (a load balancer tries the next
    /// replica) instead of queueing requests behind a slow start-up.
    pub async fn build(
        mut settings: Settings,
        roles: &[Role],
        overrides: Overrides,
        migrate: bool,
    ) -> anyhow::Result<Self> {
        let started = std::time::Instant::now();
        let addr = SocketAddr::new(settings.common.host, settings.common.port);
        let socket = bind(addr).with_context(|| format!("binding {addr}"))?;
        settings.resolve_port(socket.local_addr()?.port());

        let mut resources = Resources::connect(&settings, overrides).await?;
        if settings.common.internal_in_process {
            resources.local = LocalRoutes::new(roles.iter().map(|r| r.as_str()));
        }
        if migrate {
            resources.migrate().await?;
        }
        let verifier = Arc::new(TokenVerifier::new(settings.common.jwks_url.clone(), resources.clock.clone()));
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        // Stats and the worker read the queues and publish to the topic; payment only sends to
        // its webhook queue (looked up by its receiver), so it locates nothing else — every call
        // to AWS lengthens a start-up — unless this process is the one to create them.
        let reads_queues = roles.iter().any(|r| matches!(r, Role::Stats | Role::Worker));
        let creates = settings.aws_bootstrap && (reads_queues || roles.contains(&Role::Payment));
        let located = if reads_queues || creates { Some(resources.locate_aws(creates).await?) } else { None };
        let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi());
        let mut seat_map = None;
        let mut internal = Router::new();
        for role in roles {
            match role {
                Role::Auth => {
                    let state = auth_state(&settings, &resources, verifier.clone()).await?;
                    if let Some((email, password)) = &settings.admin {
                        state.ensure_admin(email, password).await?;
                        tracing::info!(email = %email, "admin account ensured");
                    }
                    tasks.spawn(tiketi_auth::background::purge_dead_sessions(state.clone(), shutdown.clone()));
                    api = api.merge(tiketi_auth::router(state.clone()));
                    internal = internal.merge(tiketi_auth::internal_router(state));
                }
                Role::Ticket => {
                    let state = ticket_state(&settings, &resources, verifier.clone()).await?;
                    tasks.spawn(tiketi_ticket::sweeper::run(state.clone(), shutdown.clone()));
                    tasks.spawn(tiketi_ticket::cache::report(state.clone(), shutdown.clone()));
                    if !settings.ticket.queue.admit_every.is_zero() {
                        tasks.spawn(tiketi_ticket::queue::admission::run(state.clone(), shutdown.clone()));
                    }
                    api = api.merge(tiketi_ticket::router(state.clone()));
                    internal = internal.merge(tiketi_ticket::internal_router(state.clone()));
                    seat_map = Some(state);
                }
                Role::Realtime => {
                    let state = realtime_state(&settings, &resources, verifier.clone(), &shutdown, &tasks).await?;
                    api = api.merge(tiketi_realtime::router(state));
                }
                Role::Payment => {
                    let state = payment_state(&settings, &resources, verifier.clone()).await?;
                    if !settings.payment.reconcile_every.is_zero() {
                        tasks.spawn(tiketi_payment::reconciler::run(state.clone(), shutdown.clone()));
                    }
                    api = api.merge(tiketi_payment::router(state.clone()));
                    internal = internal.merge(tiketi_payment::internal_router(state));
                    // In the cloud Toss calls the webhook Lambda; here the same router is a route.
                    let receiver = tiketi_payment_webhook::aws::receiver(&resources.aws, resources.clock.clone());
                    api = api.merge(tiketi_payment_webhook::router(receiver.await?));
                }
                Role::Stats => {
                    let located = located.clone().context("AWS resources are located before the roles start")?;
                    let state = stats_state(&settings, &resources, verifier.clone(), located);
                    tasks.spawn(tiketi_shared::consumer::run(state.polling(), state.consumer(), shutdown.clone()));
                    if state.settings.build_reports {
                        let builder = report_builder(&settings, &state);
                        let daily = state.settings.daily_settlement;
                        tiketi_stats_report::local::start(builder, state.polling(), daily, &shutdown, &tasks);
                    }
                    api = api.merge(tiketi_stats::router(state));
                }
                Role::Worker => {
                    let located = located.clone().context("AWS resources are located before the roles start")?;
                    let state = worker_state(&settings, &resources, verifier.clone(), located).await?;
                    tiketi_queue_worker::start(&state, &shutdown, &tasks);
                }
            }
        }
        let web = Web::new(&settings.web)?;
        api = api.merge(OpenApiRouter::new().routes(routes!(web::config)).with_state(web.clone()));
        let dependencies =
            vec![Dependency::Postgres(resources.pool.clone()), Dependency::Redis(resources.redis.clone())];
        let api = api.merge(ops::router(dependencies, telemetry::metrics_handle()));
        let (api, mut openapi) = api.split_for_parts();
        crate::api_doc::document_errors(&mut openapi);
        let router = Router::new()
            .merge(api)
            .merge(internal)
            .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
            .fallback_service(axum::routing::any(web::fallback).with_state(web))
            .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed) });
        let router = Arc::new(telemetry::instrument(router));
        resources.local.serve(&router);
        let listener = socket.listen(16_384).with_context(|| format!("listening on {addr}"))?;
        let startup_ms = started.elapsed().as_millis();
        if startup_ms > 10_000 {
            tracing::warn!(startup_ms, "slow start-up: connections were refused meanwhile");
        } else {
            tracing::info!(startup_ms, "started");
        }
        Ok(Self { listener, router, seat_map, shutdown, tasks, settings })
    }

    pub fn port(&self) -> u16 {
        self.settings.common.port
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Cancelling this token stops the server as SIGTERM would.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled and `TIKETI_SHUTDOWN_DELAY_MS` has passed
    /// (answering meanwhile, each answer closing its connection): then stops accepting, lets
    /// in-flight requests finish, and waits (bounded) for background tasks.
    pub async fn run(self) -> anyhow::Result<()> {
        let addr = self.listener.local_addr()?;
        tracing::info!(%addr, "listening");
        let shutdown = self.shutdown.clone();
        let delay = self.settings.common.shutdown_delay;
        // The server's own layers wrap the router whole, outside routing, rather than each route
        // (`Router::layer` would box every route once more for them). Calls between roles in this
        // process reach the router inside them: they come from us, not from a browser or a proxy.
        let common = &self.settings.common;
        let service = ServiceBuilder::new()
            // Only a shutdown delay answers after SIGTERM; without one no request pays for it.
            .option_layer(
                (!delay.is_zero()).then(|| middleware::map_response_with_state(shutdown.clone(), close_when_draining)),
            )
            .layer(axum::Extension(TrustedProxyHops(common.trusted_proxy_hops)))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                // Only browsers that reached us over TLS keep it; sent when the public URL is https.
                (common.public_url.scheme() == "https")
                    .then(|| HeaderValue::from_static("max-age=63072000; includeSubDomains")),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(DefaultBodyLimit::max(common.max_body_bytes))
            .service(SeatMapFirst {
                seat_map: self.seat_map.map(|state| telemetry::instrument_route(seatmap::ROUTE, SeatMap(state))),
                router: Router::clone(&self.router),
            });
        axum::serve(
            self.listener,
            ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(service),
        )
        .with_graceful_shutdown(async move {
            shutdown.cancelled().await;
            tokio::time::sleep(delay).await;
        })
        .await?;
        // Serving can also end without a signal (an accept error); background tasks stop either way.
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(self.settings.common.shutdown_grace, self.tasks.wait()).await.is_err() {
            tracing::warn!("background tasks did not stop in time");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

pub async fn auth_state(
    settings: &Settings,
    resources: &Resources,
    verifier: Arc<TokenVerifier>,
) -> anyhow::Result<AuthState> {
    AuthState::new(
        settings.auth.clone(),
        tiketi_auth::Dependencies {
            pool: resources.pool.clone(),
            redis: resources.redis.clone(),
            verifier,
            keys: resources.keys.as_ref(),
            clock: resources.clock.clone(),
            public_url: settings.common.public_url.clone(),
        },
    )
    .await
}

pub async fn ticket_state(
    settings: &Settings,
    resources: &Resources,
    verifier: Arc<TokenVerifier>,
) -> anyhow::Result<TicketState> {
    let admission_keys = resources.keys.load(KeyPurpose::Admission).await?;
    let service_keys = resources.keys.load(KeyPurpose::Service).await?;
    let signer = ServiceTokenSigner::new(tiketi_ticket::ROLE, service_keys, resources.clock.clone());
    let payment_url = settings.ticket.payment_url.clone().unwrap_or_else(|| settings.common.internal_url.clone());
    let payments = InternalClient::new(payment_url, Arc::new(signer)).with_local(resources.local.clone());
    Ok(TicketState::new(
        settings.ticket.clone(),
        resources.pool.clone(),
        resources.redis.clone(),
        verifier,
        resources.clock.clone(),
        admission_keys,
        tiketi_ticket::payment::PaymentApi(payments),
    )
    .await)
}

/// The realtime role: its background tasks run on `tasks`, and its sockets close on `shutdown`.
pub async fn realtime_state(
    settings: &Settings,
    resources: &Resources,
    verifier: Arc<TokenVerifier>,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<tiketi_realtime::RealtimeState> {
    let service_keys = resources.keys.load(KeyPurpose::Service).await?;
    let signer = ServiceTokenSigner::new(tiketi_realtime::ROLE, service_keys, resources.clock.clone());
    let ticket =
        InternalClient::new(settings.common.internal_url.clone(), Arc::new(signer)).with_local(resources.local.clone());
    Ok(tiketi_realtime::start(
        &settings.realtime,
        resources.redis.clone(),
        verifier,
        Arc::new(TicketStandings(ticket)),
        shutdown.clone(),
        tasks,
    ))
}

/// The payment role, calling the ticket role's internal API as `payment`.
pub async fn payment_state(
    settings: &Settings,
    resources: &Resources,
    verifier: Arc<TokenVerifier>,
) -> anyhow::Result<tiketi_payment::PaymentState> {
    let service_keys = resources.keys.load(KeyPurpose::Service).await?;
    let signer = ServiceTokenSigner::new(tiketi_payment::ROLE, service_keys, resources.clock.clone());
    let ticket =
        InternalClient::new(settings.common.internal_url.clone(), Arc::new(signer)).with_local(resources.local.clone());
    let secret_key: Arc<dyn tiketi_payment::toss::SecretKeySource> = match settings.secrets {
        SecretSource::Local => Arc::new(tiketi_payment::toss::ConfiguredKey(settings.payment.toss_secret_key.clone())),
        SecretSource::Aws => Arc::new(tiketi_payment::toss::StoredKey(toss_secret(&resources.aws))),
    };
    Ok(tiketi_payment::PaymentState::new(
        settings.payment.clone(),
        tiketi_payment::Dependencies {
            pool: resources.pool.clone(),
            clock: resources.clock.clone(),
            verifier,
            ticket,
            secret_key,
            public_url: settings.common.public_url.clone(),
        },
    ))
}

/// The stats role: projections from its queue, the admin analytics, report requests.
pub fn stats_state(
    settings: &Settings,
    resources: &Resources,
    verifier: Arc<TokenVerifier>,
    located: Located,
) -> tiketi_stats::StatsState {
    tiketi_stats::StatsState::new(tiketi_stats::Inner {
        pool: resources.pool.clone(),
        redis: resources.redis.clone(),
        verifier,
        clock: resources.clock.clone(),
        aws: resources.aws.clone(),
        located,
        settings: settings.stats.clone(),
        heatmaps: tiketi_stats::api::HeatmapCache::default(),
        overview: tiketi_stats::api::OverviewCache::default(),
    })
}

/// What builds reports in this process (the Lambda builds them in the cloud).
pub fn report_builder(settings: &Settings, stats: &tiketi_stats::StatsState) -> tiketi_stats_report::Builder {
    tiketi_stats_report::Builder {
        pool: stats.pool.clone(),
        s3: stats.aws.s3.clone(),
        bucket: stats.aws.names.reports_bucket(),
        toss: tiketi_stats_report::toss::Transactions::new(
            settings.payment.toss_api_url.clone(),
            match settings.secrets {
                SecretSource::Local => {
                    tiketi_stats_report::toss::Key::Configured(settings.payment.toss_secret_key.clone())
                }
                SecretSource::Aws => tiketi_stats_report::toss::Key::Stored(toss_secret(&stats.aws)),
            },
        ),
        clock: stats.clock.clone(),
    }
}

/// The worker role: relays outboxes, expires holds on time, applies Toss webhooks.
pub async fn worker_state(
    settings: &Settings,
    resources: &Resources,
    verifier: Arc<TokenVerifier>,
    located: Located,
) -> anyhow::Result<tiketi_queue_worker::WorkerState> {
    let service_keys = resources.keys.load(KeyPurpose::Service).await?;
    let signer = ServiceTokenSigner::new(tiketi_queue_worker::ROLE, service_keys, resources.clock.clone());
    let ticket =
        InternalClient::new(settings.common.internal_url.clone(), Arc::new(signer)).with_local(resources.local.clone());
    let payment = payment_state(settings, resources, verifier).await?;
    Ok(tiketi_queue_worker::WorkerState::new(tiketi_queue_worker::Inner {
        pool: resources.pool.clone(),
        aws: resources.aws.clone(),
        located,
        clock: resources.clock.clone(),
        settings: settings.worker.clone(),
        ticket,
        payment,
    }))
}

/// The configured key store.
fn key_store(settings: &Settings, aws: &Aws) -> Arc<dyn KeyStore> {
    match settings.secrets {
        SecretSource::Local => Arc::new(LocalKeyStore::new(&settings.common.data_dir)),
        SecretSource::Aws => Arc::new(SecretsManagerKeyStore::new(aws)),
    }
}

/// The Toss secret key in Secrets Manager.
pub fn toss_secret(aws: &Aws) -> SecretValue {
    SecretValue::new(aws.secrets.clone(), aws.names.secret("toss-secret-key"))
}

/// Rotates a signing key set (the previous key keeps verifying until the next rotation).
pub async fn rotate_keys(settings: &Settings, purpose: KeyPurpose) -> anyhow::Result<String> {
    let aws = Aws::connect(&settings.aws).await;
    let set = key_store(settings, &aws).rotate(purpose).await?;
    Ok(set.active().kid.clone())
}

/// Listens with a deep accept queue: when a realtime replica dies, the others take its tens of
/// thousands of sockets back within a second or two, more handshakes at once than tokio's default
/// backlog of 1,024 holds (the kernel caps it at `net.core.somaxconn`).
/// While shutting down, every answer closes its connection: a proxy that keeps connections open
/// to us then has none left idle when we stop — closing an idle connection races a request the
/// proxy may be sending on it, which a POST cannot be resent after. (A WebSocket's 101 is left
/// alone: its connection is the socket.)
async fn close_when_draining(State(shutdown): State<CancellationToken>, mut response: Response) -> Response {
    if shutdown.is_cancelled() && response.status() != StatusCode::SWITCHING_PROTOCOLS {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A bound socket that does not accept yet: connecting to it is refused until `listen`.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

/// The server's service: a plain seat-map read (`seatmap::plain_read`) answered ahead of the
/// router, anything else routed. The seat map is the read every buyer repeats through an on-sale;
/// routing it (matching, the matched path and URL parameters put on the request, the route's
/// boxed service cloned, the `Path` extractor) cost more of the server's own time than answering
/// it from memory (docs/benchmarks.md, "Seat map against a static file server"). It keeps the
/// route's telemetry, the server's layers and the handler's work, which it shares with the route
/// (`seatmap::answer`); `HEAD`, and an id the router would have to decode or refuse, still go
/// through the route.
#[derive(Clone)]
struct SeatMapFirst {
    seat_map: Option<telemetry::Telemetry<SeatMap>>,
    router: Router,
}

impl Service<axum::extract::Request> for SeatMapFirst {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<telemetry::Served<Answering>, axum::routing::future::RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Neither the router nor the seat map ever waits to be ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        match &mut self.seat_map {
            Some(seat_map) if seatmap::plain_read(&request).is_some() => Either::Left(seat_map.call(request)),
            _ => Either::Right(self.router.call(request)),
        }
    }
}

type Answering = BoxFuture<'static, Result<Response, Infallible>>;

/// The seat map as a service of its own, for [`SeatMapFirst`].
#[derive(Clone)]
struct SeatMap(TicketState);

impl Service<axum::extract::Request> for SeatMap {
    type Response = Response;
    type Error = Infallible;
    type Future = Answering;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let state = self.0.clone();
        Box::pin(async move {
            let answer = match seatmap::plain_read(&request) {
                Some(id) => seatmap::answer(&state, id, request.headers()).await,
                None => Err(ApiError::new(ErrorCode::NotFound)),
            };
            Ok(answer.into_response())
        })
    }
}
