//! The operations console (`frontend/`, built by Trunk into `frontend/dist`)
//! embedded in the binary and served at `/`.
//!
//! Every path the API does not route lands here (it is the admin router's
//! fallback): a file of the built console is served as is; any other path
//! without a file extension is a client-side route of the single-page app
//! and gets `index.html`; `/api/...`, other methods and unknown files stay
//! the API's JSON errors. When the console was not built (debug builds,
//! `cargo test`), `/` answers with a page saying how to build it.
//!
//! Release builds carry the files inside the executable; debug builds read
//! them from `frontend/dist` at run time (rust-embed's behaviour), so a UI
//! rebuild shows up without relinking the broker.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::error::ApiError;

#[derive(RustEmbed)]
#[folder = "../frontend/dist"]
#[allow_missing = true]
#[exclude = ".stage/*"]
struct Console;

const INDEX: &str = "index.html";

/// The page served at `/` when `frontend/dist` holds no console.
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PulseMQ: console not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2937}
code{background:#f3f4f6;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>PulseMQ console not built</h1>
<p>This broker was compiled without the operations console (a debug build, or <code>cargo test</code>).
The admin API under <code>/api</code>, <code>/login</code> and <code>/health</code> works as usual.</p>
<p>To get the console, build and run the broker with <code>scripts/run.sh</code>: it builds the UI with
Trunk (<code>trunk build --release --offline</code>) and embeds it into <code>target/release/pulsemq</code>.</p>
</body></html>
"#;

/// Whether a console is embedded (or, in debug builds, present on disk).
pub fn console_built() -> bool {
    Console::get(INDEX).is_some()
}

/// Fallback handler of the admin router.
pub async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::NotFound("no such route".into()).into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return ApiError::NotFound("no such route".into()).into_response();
    }
    let rel = path.trim_start_matches('/');
    if !rel.is_empty() && rel != INDEX {
        if let Some(file) = Console::get(rel) {
            return file_response(rel, file);
        }
        // `/users`, `/namespaces/3`: client routes. `/missing.js`: a 404.
        let last = rel.rsplit('/').next().unwrap_or(rel);
        if last.contains('.') {
            return ApiError::NotFound(format!("no such file: {path}")).into_response();
        }
    }
    match Console::get(INDEX) {
        Some(file) => file_response(INDEX, file),
        None => not_built(),
    }
}

fn not_built() -> Response {
    let mut resp = (StatusCode::SERVICE_UNAVAILABLE, NOT_BUILT).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn file_response(name: &str, file: rust_embed::EmbeddedFile) -> Response {
    let mime = file.metadata.mimetype();
    let mut resp = Response::new(Body::from(file.data.into_owned()));
    let h = resp.headers_mut();
    let content_type = if mime.starts_with("text/") || mime == "application/javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    // Trunk puts a content hash in every asset name except index.html.
    let cache = if name == INDEX { "no-cache" } else { "public, max-age=31536000, immutable" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(path: &str) -> Response {
        serve(Method::GET, path.parse().unwrap()).await
    }

    #[tokio::test]
    async fn api_paths_stay_json_errors() {
        let r = get("/api/nope").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let r = serve(Method::POST, "/users".parse().unwrap()).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn unknown_files_are_404() {
        assert_eq!(get("/no-such-file.js").await.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn client_routes_get_the_app_or_the_not_built_page() {
        for p in ["/", "/users", "/namespaces/3"] {
            let r = get(p).await;
            let ct = r.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
            assert!(ct.starts_with("text/html"), "{p}: {ct}");
            if console_built() {
                assert_eq!(r.status(), StatusCode::OK);
            } else {
                assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
                let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
                assert!(String::from_utf8_lossy(&body).contains("console not built"));
            }
        }
    }
}
