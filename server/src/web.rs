//! Serves the built web client on the API's port. It sits outside the grpc-web layer (which
//! refuses plain HTTP/1.1 requests): anything that is not a gRPC or grpc-web call gets a file
//! from the build, and unknown paths get `index.html` so client-side routes deep-link.

use std::{
    future::Future,
    path::PathBuf,
    pin::Pin,
    task::{Context, Poll},
};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

#[derive(Clone)]
pub struct WebAppLayer {
    dir: Option<PathBuf>,
}

impl WebAppLayer {
    pub fn new(dir: Option<PathBuf>) -> Self {
        WebAppLayer { dir }
    }
}

impl<S> tower::Layer<S> for WebAppLayer {
    type Service = WebApp<S>;
    fn layer(&self, inner: S) -> WebApp<S> {
        WebApp { inner, files: self.dir.as_ref().map(|dir| ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")))) }
    }
}

#[derive(Clone)]
pub struct WebApp<S> {
    inner: S,
    files: Option<ServeDir<ServeFile>>,
}

fn is_rpc<B>(request: &http::Request<B>) -> bool {
    request.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/grpc"))
}

impl<S, B> tower::Service<http::Request<B>> for WebApp<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match (&self.files, is_rpc(&request)) {
            (Some(files), false) if matches!(*request.method(), http::Method::GET | http::Method::HEAD) => {
                let files = files.clone();
                Box::pin(async move {
                    let response = files.oneshot(request).await.unwrap_or_else(|never| match never {});
                    Ok(response.map(tonic::body::Body::new))
                })
            }
            _ => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { inner.call(request).await })
            }
        }
    }
}
