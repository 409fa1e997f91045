//! The what-if page at `/` (HTML, CSS and JavaScript embedded in the binary: nothing to install,
//! nothing fetched from elsewhere) and `GET /review`, its queue: the latest denials the service
//! answered, kept in memory (not read back from the audit file), newest first.

use super::state::Loaded;
use super::state::State;
use crate::schema::Applicant;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

const INDEX_HTML: &str = include_str!("page/index.html");
const PAGE_CSS: &str = include_str!("page/page.css");
const PAGE_JS: &str = include_str!("page/page.js");
/// The page marks its own scoring requests with this header: they are not queued.
pub const WHAT_IF_HEADER: &str = "x-credrisk-what-if";
/// The most recent denials kept for the queue.
pub const QUEUE_LEN: usize = 50;

/// One denial waiting for review.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewItem {
    pub customer: serde_json::Value,
    pub probability: f64,
    pub source: &'static str,
    pub endpoint: &'static str,
}

/// The latest denials, newest first, and the denials of the review file.
#[derive(Default)]
pub struct Queue {
    recent: Mutex<VecDeque<ReviewItem>>,
    /// `serve --review FILE`: read once the model (its schema) is there, at the first request.
    pub file: Option<PathBuf>,
    from_file: OnceLock<Result<Vec<ReviewItem>, String>>,
}

impl Queue {
    pub fn record(&self, customer: serde_json::Value, probability: f64, endpoint: &'static str) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == QUEUE_LEN {
            recent.pop_back();
        }
        recent.push_front(ReviewItem { customer, probability, source: "served", endpoint });
    }

    fn items(&self) -> Vec<ReviewItem> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(body)
}

pub async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

pub async fn css() -> HttpResponse {
    asset("text/css; charset=utf-8", PAGE_CSS)
}

pub async fn js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", PAGE_JS)
}

#[derive(Serialize)]
struct ReviewBody {
    items: Vec<ReviewItem>,
    /// Why the review file could not be read (its customers are then missing from `items`).
    #[serde(skip_serializing_if = "Option::is_none")]
    file_error: Option<String>,
}

/// The served denials, newest first, then the review file's denials in file order.
pub async fn review(state: web::Data<State>) -> HttpResponse {
    let mut items = state.queue.items();
    let mut file_error = None;
    if let (Some(path), Some(loaded)) = (&state.queue.file, state.model()) {
        match state.queue.from_file.get_or_init(|| file_denials(path, &loaded)) {
            Ok(denials) => items.extend(denials.iter().cloned()),
            Err(e) => file_error = Some(e.clone()),
        }
    }
    HttpResponse::Ok().json(ReviewBody { items, file_error })
}

/// The denied customers of a review file, checked against the model's schema.
fn file_denials(path: &Path, loaded: &Loaded) -> Result<Vec<ReviewItem>, String> {
    let schema = loaded.explainer.schema();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let customers: Vec<Applicant> = if ext == "parquet" || ext == "csv" {
        let table = crate::data::read_table(path, schema).map_err(|e| e.to_string())?;
        (0..table.len()).map(|i| table.applicant(i)).collect()
    } else {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        let items: Vec<&serde_json::Value> = match &json {
            serde_json::Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                schema.parse_applicant(item.get("customer").unwrap_or(item)).map_err(|errors| {
                    let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    format!("{} customer {}: {}", path.display(), i + 1, listed.join("; "))
                })
            })
            .collect::<Result<_, _>>()?
    };
    Ok(customers
        .iter()
        .filter_map(|a| {
            let p = loaded.explainer.predict(a, crate::explain::Lang::default());
            (!p.approved).then(|| ReviewItem {
                customer: schema.applicant_json(a.values()),
                probability: p.probability,
                source: "file",
                endpoint: "",
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_small_and_fetches_nothing_from_elsewhere() {
        let total = INDEX_HTML.len() + PAGE_CSS.len() + PAGE_JS.len();
        assert!(total < 200 * 1024, "{total} bytes");
        for text in [INDEX_HTML, PAGE_CSS, PAGE_JS] {
            assert!(!text.contains("http://") || text.contains("http://www.w3.org/2000/svg"));
            assert!(!text.contains("https://"));
        }
    }

    #[test]
    fn the_queue_keeps_the_latest_denials_newest_first() {
        let q = Queue::default();
        for k in 0..(QUEUE_LEN + 5) {
            q.record(serde_json::json!({"k": k}), 0.1, "/explain");
        }
        let items = q.items();
        assert_eq!(items.len(), QUEUE_LEN);
        assert_eq!(items[0].customer["k"], QUEUE_LEN + 4);
    }
}
