//! `GET /docs`: interactive API documentation, as FastAPI users expect it: Swagger UI (the npm
//! package swagger-ui-dist, vendored unchanged in `docs/` and embedded in the binary) over the
//! service's own `/openapi.json`. Nothing is fetched from elsewhere; "Try it out" calls this origin.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The vendored swagger-ui-dist release (docs/README.md). The asset URLs carry it (`?v=`), so a
/// browser holding the old files for a year still fetches the new ones after an upgrade.
pub const SWAGGER_UI_VERSION: &str = "5.35.0";

/// The routes this module answers, for the service's route table.
pub const INDEX_PATH: &str = "/docs";
pub const BUNDLE_PATH: &str = "/docs/swagger-ui-bundle.js";
pub const CSS_PATH: &str = "/docs/swagger-ui.css";
pub const INIT_PATH: &str = "/docs/docs.js";

/// How long a browser may keep a file without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caching {
    /// Ours, changing with the binary: revalidated on every use (a 304 when unchanged).
    Revalidate,
    /// Swagger UI's files, fixed per version and requested under a versioned URL.
    Immutable,
}

impl Caching {
    fn header(self) -> &'static str {
        match self {
            Caching::Revalidate => "no-cache",
            Caching::Immutable => "public, max-age=31536000, immutable",
        }
    }
}

struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    caching: Caching,
    /// A strong ETag from the content, computed at the first request.
    etag: OnceLock<String>,
}

impl Asset {
    const fn new(body: &'static [u8], content_type: &'static str, caching: Caching) -> Asset {
        Asset { body, content_type, caching, etag: OnceLock::new() }
    }

    fn etag(&self) -> &str {
        self.etag.get_or_init(|| format!("\"{}\"", hex::encode(&Sha256::digest(self.body)[..12])))
    }

    /// The file, or 304 when the client's `If-None-Match` already names this content.
    fn respond(&self, req: &HttpRequest) -> HttpResponse {
        let etag = self.etag();
        let fresh = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag)
        });
        let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
        response
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(self.caching.header())))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
        if fresh {
            return response.finish();
        }
        if self.content_type.starts_with("text/html") {
            // Swagger UI sets inline styles (React), and its SVG icons are data: URIs; scripts and
            // requests stay on this origin.
            response.insert_header((
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                     script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
                ),
            ));
        }
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(self.content_type)));
        response.body(self.body)
    }
}

static INDEX: Asset =
    Asset::new(include_bytes!("docs/index.html"), "text/html; charset=utf-8", Caching::Revalidate);
static INIT: Asset =
    Asset::new(include_bytes!("docs/docs.js"), "text/javascript; charset=utf-8", Caching::Revalidate);
static BUNDLE: Asset = Asset::new(
    include_bytes!("docs/swagger-ui-bundle.js"),
    "text/javascript; charset=utf-8",
    Caching::Immutable,
);
static CSS: Asset =
    Asset::new(include_bytes!("docs/swagger-ui.css"), "text/css; charset=utf-8", Caching::Immutable);

pub async fn index(req: HttpRequest) -> HttpResponse {
    INDEX.respond(&req)
}

pub async fn init(req: HttpRequest) -> HttpResponse {
    INIT.respond(&req)
}

pub async fn bundle(req: HttpRequest) -> HttpResponse {
    BUNDLE.respond(&req)
}

pub async fn css(req: HttpRequest) -> HttpResponse {
    CSS.respond(&req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_page_loads_the_vendored_version_from_this_origin_only() {
        let html = std::str::from_utf8(INDEX.body).unwrap();
        for path in [CSS_PATH, BUNDLE_PATH] {
            assert!(html.contains(&format!("\"{path}?v={SWAGGER_UI_VERSION}\"")), "{path} in {html}");
        }
        assert!(html.contains(&format!("\"{INIT_PATH}\"")));
        assert!(!html.contains("http://") && !html.contains("https://"), "no other origin: {html}");
        let readme = include_str!("docs/README.md");
        assert!(readme.contains(&format!("**{SWAGGER_UI_VERSION}**")), "docs/README.md names the version");
        assert!(readme.contains(&format!("swagger-ui-dist-{SWAGGER_UI_VERSION}.tgz")));
        let init = std::str::from_utf8(INIT.body).unwrap();
        assert!(init.contains("url: \"/openapi.json\"") && init.contains("validatorUrl: null"), "{init}");
    }

    #[actix_web::test]
    async fn assets_carry_their_type_and_caching_and_revalidate_to_304() {
        for (asset, kind, cache) in [
            (&INDEX, "text/html; charset=utf-8", "no-cache"),
            (&INIT, "text/javascript; charset=utf-8", "no-cache"),
            (&BUNDLE, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"),
            (&CSS, "text/css; charset=utf-8", "public, max-age=31536000, immutable"),
        ] {
            let res = asset.respond(&TestRequest::default().to_http_request());
            assert_eq!(res.status(), 200);
            let h = res.headers();
            assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), kind);
            assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), cache);
            let etag = h.get(header::ETAG).unwrap().to_str().unwrap().to_string();
            assert_eq!(etag.len(), 26, "{etag}");
            let again = asset.respond(
                &TestRequest::default()
                    .insert_header((header::IF_NONE_MATCH, format!("\"x\", {etag}")))
                    .to_http_request(),
            );
            assert_eq!(again.status(), 304);
            assert_eq!(again.headers().get(header::ETAG).unwrap().to_str().unwrap(), etag);
            let other = asset.respond(
                &TestRequest::default().insert_header((header::IF_NONE_MATCH, "\"other\"")).to_http_request(),
            );
            assert_eq!(other.status(), 200);
        }
        assert_ne!(BUNDLE.etag(), CSS.etag());
    }
}
