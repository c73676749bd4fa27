//! Static files (the web demo): `GET` and `HEAD` for any path the server does not
//! otherwise answer, `index.html` for directories, and nothing outside the directory.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::{not_found, Body};

/// A directory served over HTTP.
#[derive(Debug, Clone)]
pub struct StaticDir {
    /// Canonical, so that a resolved file can be checked to lie inside it.
    root: PathBuf,
}

impl StaticDir {
    /// Opens `dir` (it must exist).
    pub async fn open(dir: &Path) -> io::Result<StaticDir> {
        let root = tokio::fs::canonicalize(dir).await?;
        if !tokio::fs::metadata(&root).await?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a directory",
            ));
        }
        Ok(StaticDir { root })
    }

    /// The response for the URI path `path` (still percent-encoded).
    pub async fn serve(&self, path: &str) -> Response<Body> {
        let Some(file) = self.resolve(path).await else {
            return not_found();
        };
        match tokio::fs::read(&file).await {
            Ok(contents) => {
                let mut response = Response::new(Full::new(Bytes::from(contents)));
                let headers = response.headers_mut();
                let kind = HeaderValue::from_static(content_type(&file));
                headers.insert(header::CONTENT_TYPE, kind);
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                let nosniff = HeaderValue::from_static("nosniff");
                headers.insert(header::X_CONTENT_TYPE_OPTIONS, nosniff);
                response
            }
            Err(e) => {
                tracing::warn!(file = %file.display(), "cannot read static file: {e}");
                let mut response = Response::new(Full::new(Bytes::from_static(b"error\n")));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
            }
        }
    }

    /// The file a URI path names, if it is a regular file inside the directory.
    async fn resolve(&self, path: &str) -> Option<PathBuf> {
        let relative = safe_relative_path(path)?;
        let mut candidate = self.root.join(relative);
        if tokio::fs::metadata(&candidate).await.ok()?.is_dir() {
            candidate.push("index.html");
        }
        // Canonical form resolves symlinks: a link out of the directory is refused too.
        let canonical = tokio::fs::canonicalize(&candidate).await.ok()?;
        let meta = tokio::fs::metadata(&canonical).await.ok()?;
        (canonical.starts_with(&self.root) && meta.is_file()).then_some(canonical)
    }
}

/// The relative path of a percent-encoded URI path, refusing anything that could leave
/// the directory or name a hidden file: `..`, `.`-prefixed segments, backslashes, NULs,
/// and encodings that are not UTF-8.
fn safe_relative_path(path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    if decoded.contains(['\\', '\0']) {
        return None;
    }
    let mut relative = PathBuf::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains(':') {
            return None;
        }
        relative.push(segment);
    }
    Some(relative)
}

/// The `Content-Type` for a file, by extension.
fn content_type(file: &Path) -> &'static str {
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_directory_are_refused() {
        for bad in [
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/secret",
            "/%2E%2E%2Fsecret",
            "/a%5c..%5cb",
            "/.git/config",
            "/a/%00b",
            "/%ff",
            "/c:/windows",
        ] {
            assert_eq!(safe_relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn ordinary_paths_map_to_relative_files() {
        assert_eq!(safe_relative_path("/"), Some(PathBuf::new()));
        assert_eq!(
            safe_relative_path("/pkg/app.js"),
            Some(PathBuf::from("pkg/app.js"))
        );
        assert_eq!(
            safe_relative_path("/a%20b.html"),
            Some(PathBuf::from("a b.html"))
        );
        assert_eq!(safe_relative_path("//x//y"), Some(PathBuf::from("x/y")));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            content_type(Path::new("index.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a/b.WASM")), "application/wasm");
        assert_eq!(
            content_type(Path::new("app.mjs")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("README")),
            "application/octet-stream"
        );
    }
}
