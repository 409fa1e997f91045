//! The what-if page at `/` (HTML, CSS and JavaScript embedded in the binary: nothing to install,
//! nothing fetched from elsewhere) and `GET /review`, its queue: the latest denials the service
//! answered, kept in memory (not read back from the audit file), newest first.

use super::state::State;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

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

/// The latest denials, newest first.
#[derive(Default)]
pub struct Queue {
    recent: Mutex<VecDeque<ReviewItem>>,
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
}

pub async fn review(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(ReviewBody { items: state.queue.items() })
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
