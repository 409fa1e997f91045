//! `credrisk serve`: the prediction and explanation service (actix-web). Everything that can be
//! found wrong is found before the port is bound (the model's URI and payload header, the audit
//! log, the open-file budget); then it binds, reads the model in the background (503
//! `model_unavailable` until it is in, while `/health/live` already answers), and answers
//! `/predict`, `/explain`, `/predict/batch`, the health checks, `/model`, `/openapi.json` (browsable
//! at `/docs`) and `/metrics` with one shared explainer. Signals: see `signals`. The contract is the
//! OpenAPI document it serves at `/openapi.json` (built per model in `openapi`). With `--watch` it
//! follows a registry alias and swaps models without a restart (`watch`); with `--api-keys` every
//! endpoint but the health checks and `/metrics` needs a key (`auth`).

mod audit;
mod auth;
mod batch;
mod body;
mod combine;
mod contention;
mod docs;
mod errors;
mod health;
mod logging;
mod metrics;
mod observe;
pub mod openapi;
mod page;
mod recourse;
mod request;
mod routes;
mod signals;
mod state;
mod watch;

pub use auth::{KeyRing, add_key};
pub use errors::{ApiError, ERROR_CODES};
pub use request::MAX_BATCH;
pub use watch::{WatchConfig, alias_of};

use crate::error::{Error, Result};
use crate::loader::{self, Compare, FoundModel};
use actix_web::{App, HttpServer, middleware, web};
use state::{Loaded, State};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest request body by default: a full batch of 1,000 pretty-printed customers fits.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;
/// Time a request body may take to arrive by default (a stalled client then gets 408).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections by default, over all workers (lowered to fit the open-file limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Time a client gets to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a closing connection waits for the client to finish the shutdown.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Time in-flight requests get to finish after SIGTERM.
pub const SHUTDOWN_SECONDS: u64 = 10;
/// File descriptors kept aside from client connections: stdio, the listener, each worker's
/// event loop, the audit log, the model and background files being read, the log writer.
const RESERVED_FDS: u64 = 64;

/// A validated service configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub model_uri: Option<String>,
    pub tracking_uri: Option<String>,
    /// What explanations compare with by default (and the background file, if any).
    pub compare: Compare,
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub audit_log: Option<PathBuf>,
    pub body_limit: usize,
    pub body_timeout: Duration,
    /// Open connections over all workers; None: [`DEFAULT_MAX_CONNECTIONS`], lowered to fit the
    /// open-file limit.
    pub max_connections: Option<usize>,
    /// Customers for the page's review queue.
    pub review: Option<PathBuf>,
    /// The registry alias to follow (None: the model is fixed for the life of the process).
    pub watch: Option<WatchConfig>,
    /// The API keys requests must bear (None: open; only allowed on loopback or when asked for).
    pub keys: Option<KeyRing>,
    /// Bound beyond loopback without keys, allowed by --insecure-no-auth (a warning at start).
    pub insecure_no_auth: bool,
}

/// Runs the service until SIGTERM/SIGINT (Ok) or a model that cannot be read (its error).
pub fn serve(config: ServeConfig) -> Result<()> {
    // Found before binding, so a mistake is one line on stderr and exit 2, not a JSON log line.
    // Reading the whole model stays in the background: a large forest takes seconds, and the
    // port (with /health/live) should be up meanwhile.
    let found = loader::find_model(config.model_uri.as_deref(), config.tracking_uri.as_deref())?;
    let audit = config.audit_log.as_deref().map(audit::AuditLog::open).transpose()?;
    let per_worker = connections_per_worker(config.max_connections, config.workers, open_file_limit())?;
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .map_err(|e| Error::Usage(format!("cannot listen on {}:{}: {e}", config.host, config.port)))?;
    let address = listener.local_addr().map_err(|e| Error::Internal(format!("bound socket: {e}")))?;
    let log = logging::init();
    if config.insecure_no_auth {
        tracing::warn!(
            host = config.host,
            "serving without API keys beyond loopback (--insecure-no-auth): \
                       anyone who can reach the port can ask for decisions and explanations"
        );
    }
    let mut state = State::new(audit, config.body_limit, config.body_timeout, Some(log));
    state.queue.file = config.review.clone();
    state.registry = config.watch.clone().map(watch::Registry::new);
    state.keys = config.keys.clone();
    let state = web::Data::new(state);
    let load_failure: Arc<Mutex<Option<Error>>> = Arc::default();

    let outcome = actix_web::rt::System::new().block_on({
        let state = state.clone();
        let load_failure = Arc::clone(&load_failure);
        async move {
            let app_state = state.clone();
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(app_state.clone())
                    .wrap(middleware::from_fn(auth::require_key))
                    .wrap(middleware::from_fn(body::bound_body))
                    .wrap(middleware::from_fn(observe::observe))
                    .configure(routes)
            })
            .workers(config.workers)
            .max_connections(per_worker)
            .client_request_timeout(HEADER_TIMEOUT)
            .client_disconnect_timeout(DISCONNECT_TIMEOUT)
            .shutdown_timeout(SHUTDOWN_SECONDS)
            .disable_signals()
            .listen(listener)
            .map_err(|e| Error::Internal(format!("cannot serve on {address}: {e}")))?
            .run();
            // Before "listening": a SIGHUP from then on reopens the audit log, never kills.
            signals::watch(server.handle(), state.clone())?;
            tracing::info!(
                address = %address,
                workers = config.workers,
                max_connections = (per_worker * config.workers) as u64,
                body_timeout_s = config.body_timeout.as_secs_f64(),
                api_keys = config.keys.as_ref().map_or(0, |k| k.len() as u64),
                watch = config.watch.as_ref().map(|w| w.uri()),
                watch_interval_s = config.watch.as_ref().map(|w| w.interval.as_secs_f64()),
                "listening"
            );
            spawn_model_loader(found, config.compare, state, server.handle(), load_failure);
            server.await.map_err(|e| Error::Internal(format!("server stopped: {e}")))
        }
    });
    tracing::info!("stopped");
    log.flush();
    if let Some(e) = load_failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    outcome
}

/// Every route of the service.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(post("/predict", routes::predict))
        .service(post("/explain", routes::explain))
        .service(post("/recourse", recourse::recourse))
        .service(get("/", page::index))
        .service(get("/page.css", page::css))
        .service(get("/page.js", page::js))
        .service(get("/review", page::review))
        .service(get(docs::INDEX_PATH, docs::index))
        .service(get(docs::INIT_PATH, docs::init))
        .service(get(docs::BUNDLE_PATH, docs::bundle))
        .service(get(docs::CSS_PATH, docs::css))
        .service(post("/predict/batch", batch::predict_batch))
        .service(get("/health", health::ready))
        .service(get("/health/live", health::live))
        .service(get("/health/ready", health::ready))
        .service(get("/model", routes::model))
        .service(get("/openapi.json", routes::openapi_json))
        .service(get("/metrics", routes::metrics_text))
        .default_service(web::to(routes::not_found));
}

/// The soft limit on open files (None: unlimited).
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    return rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    #[cfg(not(unix))]
    None
}

/// Connections each worker may hold: the total (`requested`, else the default lowered to fit)
/// split over the workers, all within the open-file limit — past it `accept` fails ("Too many open
/// files") and even health checks go unanswered; at the bound new connections wait in the listen
/// queue until stalled ones time out.
fn connections_per_worker(requested: Option<usize>, workers: usize, fd_limit: Option<u64>) -> Result<usize> {
    let budget = fd_limit.map(|n| n.saturating_sub(RESERVED_FDS + 4 * workers as u64) as usize);
    let total = match (requested, budget) {
        (Some(n), Some(b)) if n > b => {
            return Err(Error::Usage(format!(
                "--max-connections {n} needs more open files than the limit of {} allows (at most {b}); \
                 raise it (ulimit -n) or ask for fewer",
                fd_limit.unwrap_or_default()
            )));
        }
        (Some(n), _) => n,
        (None, Some(b)) => DEFAULT_MAX_CONNECTIONS.min(b),
        (None, None) => DEFAULT_MAX_CONNECTIONS,
    };
    if total < workers {
        return Err(Error::Usage(format!(
            "room for {total} connections is fewer than the {workers} workers (open-file limit {}); \
             raise the limit (ulimit -n), or use fewer --workers",
            fd_limit.map_or("unlimited".into(), |n| n.to_string())
        )));
    }
    Ok(total / workers)
}

fn post<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path).route(web::post().to(handler)).default_service(web::to(routes::only_post))
}

fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path).route(web::get().to(handler)).default_service(web::to(routes::only_get))
}

/// Reads the found model on its own thread; a model that cannot be read stops the server, whose
/// exit then reports the error. With a watched alias the thread then polls it (`watch::follow`).
fn spawn_model_loader(
    found: FoundModel,
    compare: Compare,
    state: web::Data<State>,
    server: actix_web::dev::ServerHandle,
    failure: Arc<Mutex<Option<Error>>>,
) {
    let load = move || {
        let started = Instant::now();
        match loader::explainer_of(found, &compare) {
            Ok(explainer) => {
                let loaded = Loaded::new(explainer);
                tracing::info!(
                    model_name = loaded.labels.name.as_str(),
                    model_version = loaded.labels.version.as_str(),
                    model_run_id = loaded.labels.run_id.as_str(),
                    uri = loaded.labels.uri.as_str(),
                    method = loaded.labels.method.as_str(),
                    trees = loaded.labels.n_trees as u64,
                    load_ms = started.elapsed().as_secs_f64() * 1e3,
                    "model loaded"
                );
                state.set_model(loaded);
                watch::follow(state, compare);
            }
            Err(e) => {
                tracing::error!(error = %e, "model could not be loaded; stopping");
                *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                // stop() sends the command at once; its future only waits for completion.
                drop(server.stop(true));
            }
        }
    };
    if let Err(e) = std::thread::Builder::new().name("credrisk-model-loader".into()).spawn(load) {
        tracing::error!(error = %e, "cannot start the model loader");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as web_test;
    use serde_json::{Value, json};

    /// The service's routes in-process over a state with no model (still loading).
    fn loading_state(audit: Option<audit::AuditLog>) -> web::Data<State> {
        web::Data::new(State::new(audit, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, None))
    }

    /// Status, Retry-After and JSON body of one in-process request.
    async fn call<S, R>(service: &S, request: R) -> (u16, Option<String>, Value)
    where
        S: actix_web::dev::Service<R, Response = actix_web::dev::ServiceResponse, Error = actix_web::Error>,
    {
        let response = web_test::call_service(service, request).await;
        let status = response.status().as_u16();
        let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let body = web_test::read_body(response).await;
        (status, retry, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// While the model loads: alive, not ready (naming why), decisions and the document 503, the
    /// request's envelope still validated.
    #[actix_web::test]
    async fn while_the_model_loads_it_is_alive_but_not_ready() {
        let service =
            web_test::init_service(App::new().app_data(loading_state(None)).configure(routes)).await;
        let get = |path: &str| web_test::TestRequest::get().uri(path).to_request();
        let (status, _, body) = call(&service, get("/health/live")).await;
        assert_eq!((status, body), (200, json!({"status": "ok"})));
        for path in ["/health/ready", "/health"] {
            let (status, retry, body) = call(&service, get(path)).await;
            assert_eq!((status, retry.as_deref()), (503, Some("1")), "{path}");
            assert_eq!(body["error"], json!("model_unavailable"));
            assert_eq!(body["details"], json!([{"field": "model", "message": "is still loading"}]));
        }
        let body: Value = serde_json::from_str(include_str!("../../examples/customer.json")).unwrap();
        let post = |body: Value| web_test::TestRequest::post().uri("/predict").set_json(body).to_request();
        let (status, _, answer) = call(&service, post(body)).await;
        assert_eq!((status, answer["error"].clone()), (503, json!("model_unavailable")));
        // The request's envelope needs no model; its customer needs the model's schema.
        let (status, _, answer) = call(&service, post(json!({"customer": {}, "extra": 1}))).await;
        assert_eq!((status, answer["details"][0]["field"].clone()), (422, json!("extra")));
        let (status, _, answer) = call(&service, post(json!({"customer": {}}))).await;
        assert_eq!((status, answer["error"].clone()), (503, json!("model_unavailable")));
        // The document describes the model's applicants: it is there once the model is.
        let (status, _, answer) = call(&service, get("/openapi.json")).await;
        assert_eq!((status, answer["error"].clone()), (503, json!("model_unavailable")));
    }

    /// Every failing check is named, the first one's code leads.
    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn readiness_names_every_failing_check() {
        let dir = tempfile::tempdir().unwrap();
        let log = audit::AuditLog::open(&dir.path().join("audit.jsonl")).unwrap();
        let state = loading_state(Some(log));
        let service = web_test::init_service(App::new().app_data(state).configure(routes)).await;
        let (status, _, body) =
            call(&service, web_test::TestRequest::get().uri("/health/ready").to_request()).await;
        assert_eq!((status, body["details"].as_array().unwrap().len()), (503, 1), "{body}");
        let failing = [health::NotReady::ModelLoading, health::NotReady::AuditUnwritable("disk full".into())];
        let e = health::not_ready_error(&failing);
        assert_eq!((e.status.as_u16(), e.error), (503, "model_unavailable"));
        let checks: Vec<&str> = e.details.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(checks, ["model", "audit_log"]);
        assert!(e.message.contains("audit_log: cannot be written: disk full"), "{}", e.message);
    }

    /// After SIGTERM: not ready (the first reason given), still alive, and every answer closes
    /// its connection so a proxy opens its next one to another replica.
    #[actix_web::test]
    async fn a_draining_service_is_not_ready_and_closes_connections() {
        let state = loading_state(None);
        state.start_draining();
        let app = App::new().app_data(state).wrap(middleware::from_fn(observe::observe)).configure(routes);
        let service = web_test::init_service(app).await;
        let get = |path: &str| web_test::TestRequest::get().uri(path).to_request();
        let response = web_test::call_service(&service, get("/health/ready")).await;
        assert_eq!(response.status().as_u16(), 503);
        let closes = response.response().head().connection_type() == actix_web::http::ConnectionType::Close;
        let body: Value = serde_json::from_slice(&web_test::read_body(response).await).unwrap();
        assert!(closes, "a draining answer keeps its connection");
        assert_eq!(body["error"], json!("not_ready"));
        let checks: Vec<&str> =
            body["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
        assert_eq!(checks, ["shutdown", "model"]);
        let response = web_test::call_service(&service, get("/health/live")).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.response().head().connection_type(), actix_web::http::ConnectionType::Close);
    }

    #[test]
    fn connections_fit_the_open_file_limit() {
        assert_eq!(connections_per_worker(None, 2, None).unwrap(), DEFAULT_MAX_CONNECTIONS / 2);
        assert_eq!(connections_per_worker(None, 2, Some(1 << 20)).unwrap(), DEFAULT_MAX_CONNECTIONS / 2);
        // 256 open files: 64 reserved, 4 per worker.
        assert_eq!(connections_per_worker(None, 2, Some(256)).unwrap(), (256 - 64 - 8) / 2);
        assert_eq!(connections_per_worker(Some(100), 4, Some(256)).unwrap(), 25);
        let e = connections_per_worker(Some(500), 2, Some(256)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("ulimit -n"), "{e}");
        assert_eq!(connections_per_worker(None, 2, Some(60)).unwrap_err().exit_code(), 2);
        assert_eq!(connections_per_worker(Some(1), 2, None).unwrap_err().exit_code(), 2);
    }
}
