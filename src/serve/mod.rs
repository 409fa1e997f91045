//! `credrisk serve`: the prediction and explanation service (actix-web). Binds first, loads the
//! model in the background (503 `model_unavailable` until it is in), then answers `/predict`,
//! `/explain`, `/predict/batch`, `/health`, `/model`, `/openapi.json` and `/metrics` with one
//! shared explainer; stops gracefully on SIGTERM/SIGINT. The contract is
//! `../shared/specs/api.md`.

mod audit;
mod batch;
mod contention;
mod errors;
mod logging;
mod metrics;
mod observe;
pub mod openapi;
mod request;
mod routes;
mod state;

pub use errors::{ApiError, ERROR_CODES};
pub use request::MAX_BATCH;

use crate::error::{Error, Result};
use crate::loader::{self, Background};
use actix_web::{App, HttpServer, middleware, web};
use state::{Loaded, State};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Largest request body by default: a full batch of 1,000 pretty-printed customers fits.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;
/// Time in-flight requests get to finish after SIGTERM.
pub const SHUTDOWN_SECONDS: u64 = 10;

/// A validated service configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub model_uri: Option<String>,
    pub tracking_uri: Option<String>,
    /// Background applicants for interventional SHAP.
    pub background: Option<Background>,
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub audit_log: Option<PathBuf>,
    pub body_limit: usize,
}

/// Runs the service until SIGTERM/SIGINT (Ok) or a model that cannot be loaded (its error).
pub fn serve(config: ServeConfig) -> Result<()> {
    let log = logging::init();
    let audit = config.audit_log.as_deref().map(audit::AuditLog::open).transpose()?;
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .map_err(|e| Error::Usage(format!("cannot listen on {}:{}: {e}", config.host, config.port)))?;
    let address = listener.local_addr().map_err(|e| Error::Internal(format!("bound socket: {e}")))?;
    let state = web::Data::new(State::new(audit, config.body_limit, Some(log)));
    let load_failure: Arc<Mutex<Option<Error>>> = Arc::default();

    let outcome = actix_web::rt::System::new().block_on({
        let state = state.clone();
        let load_failure = Arc::clone(&load_failure);
        async move {
            let app_state = state.clone();
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(app_state.clone())
                    .wrap(middleware::from_fn(observe::observe))
                    .service(post("/predict", routes::predict))
                    .service(post("/explain", routes::explain))
                    .service(post("/predict/batch", batch::predict_batch))
                    .service(get("/health", routes::health))
                    .service(get("/model", routes::model))
                    .service(get("/openapi.json", routes::openapi_json))
                    .service(get("/metrics", routes::metrics_text))
                    .default_service(web::to(routes::not_found))
            })
            .workers(config.workers)
            .shutdown_timeout(SHUTDOWN_SECONDS)
            .listen(listener)
            .map_err(|e| Error::Internal(format!("cannot serve on {address}: {e}")))?
            .run();
            tracing::info!(address = %address, workers = config.workers, "listening");
            spawn_model_loader(config, state, server.handle(), load_failure);
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

/// Loads the model on its own thread; a model that cannot be loaded stops the server, whose
/// exit then reports the error.
fn spawn_model_loader(
    config: ServeConfig,
    state: web::Data<State>,
    server: actix_web::dev::ServerHandle,
    failure: Arc<Mutex<Option<Error>>>,
) {
    let load = move || {
        let started = Instant::now();
        let background = config.background.as_ref();
        match loader::load_explainer(config.model_uri.as_deref(), config.tracking_uri.as_deref(), background)
        {
            Ok(explainer) => {
                let loaded = Loaded::new(explainer);
                tracing::info!(
                    model_run_id = loaded.labels.run_id.as_str(),
                    uri = loaded.labels.uri.as_str(),
                    method = loaded.labels.method.as_str(),
                    trees = loaded.labels.n_trees as u64,
                    load_ms = started.elapsed().as_secs_f64() * 1e3,
                    "model loaded"
                );
                state.set_model(loaded);
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
