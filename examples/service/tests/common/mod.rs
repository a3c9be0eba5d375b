//! What the service's tests share: a bounded wait on a condition, a reqwest client, and the
//! service's routes as calls.

#![allow(dead_code)] // each test binary uses its own part of it

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

/// The bound on any single wait.
pub const WAIT: Duration = Duration::from_secs(20);

/// Polls `check` every 20 ms until it returns `Some`, panicking after [`WAIT`].
pub async fn wait_for<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A reqwest client; it needs a process-wide rustls provider even for plain HTTP.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

/// The service at `base` (`http://127.0.0.1:port`).
pub struct Service {
    pub base: String,
    pub http: reqwest::Client,
}

impl Service {
    pub async fn health(&self) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}/health/mqtt", self.base))
            .send()
            .await
            .expect("GET /health/mqtt");
        let status = response.status();
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        (status, body)
    }

    pub async fn wait_health(&self, wanted: StatusCode) -> Value {
        wait_for(&format!("/health/mqtt {wanted}"), || async {
            let (status, body) = self.health().await;
            (status == wanted).then_some(body)
        })
        .await
    }

    pub async fn publish(
        &self,
        path_and_query: &str,
        body: impl Into<reqwest::Body>,
    ) -> StatusCode {
        self.publish_answer(path_and_query, body).await.0
    }

    /// The status and the JSON body of a `POST /publish`.
    pub async fn publish_answer(
        &self,
        path_and_query: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/publish/{path_and_query}", self.base))
            .body(body)
            .send()
            .await
            .expect("POST /publish");
        let status = response.status();
        let body = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        (status, body)
    }

    /// `GET /subscribe/...`: the response (its body is the SSE stream on 200).
    pub async fn subscribe(&self, path_and_query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/subscribe/{path_and_query}", self.base))
            .send()
            .await
            .expect("GET /subscribe")
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> String {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }
}

/// The value of the sample line of `text` that starts with `series` (name and labels).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
}
