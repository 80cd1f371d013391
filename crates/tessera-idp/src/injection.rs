//! How the endpoints consume the faults the control API queued (see `faults`): a network or
//! gateway fault answers instead of the endpoint; `delay` and `omit` let it run.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::faults::{FaultKind, RetryAfter, Target};
use crate::state::Idp;

impl Idp {
    /// Takes one use of the first fault queued for `target`.
    pub fn take_fault(&self, target: Target) -> Option<FaultKind> {
        let mut store = self.store();
        let index = store
            .faults
            .iter()
            .position(|f| f.target == target && f.count > 0)?;
        let fault = &mut store.faults[index];
        fault.count -= 1;
        let kind = fault.kind.clone();
        if fault.count == 0 {
            store.faults.remove(index);
        }
        Some(kind)
    }

    /// Counts the request under its target's name (every request, including those a fault
    /// answers, so tests can count a client's retries), then runs the endpoint under whatever
    /// fault is queued for it.
    pub async fn with_faults<F>(&self, target: Target, endpoint: F) -> Response
    where
        F: std::future::Future<Output = Response>,
    {
        self.store().count(target.counter());
        match self.take_fault(target) {
            None => endpoint.await,
            Some(FaultKind::Delay { millis }) => {
                tokio::time::sleep(Duration::from_millis(millis)).await;
                endpoint.await
            }
            Some(FaultKind::Omit { field }) => {
                edit_field(endpoint.await, |object| {
                    object.remove(&field);
                })
                .await
            }
            Some(FaultKind::Set { field, value }) => {
                edit_field(endpoint.await, |object| {
                    object.insert(field, value);
                })
                .await
            }
            Some(FaultKind::Status {
                status,
                retry_after,
            }) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = self.fault_status_body(target, status);
                let value = match retry_after {
                    Some(RetryAfter::Seconds(seconds)) => Some(HeaderValue::from(seconds)),
                    Some(RetryAfter::Text(text)) => HeaderValue::from_str(&text).ok(),
                    None => None,
                };
                if let Some(value) = value {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
            Some(FaultKind::Malformed) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<html><body><h1>Gateway notice</h1><p>The service is being updated.</p></body></html>",
            )
                .into_response(),
            Some(FaultKind::Truncated) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                r#"{"token_type":"Bearer","scope":"User.Read","expires_in":3599,"access_tok"#,
            )
                .into_response(),
            Some(FaultKind::Reset) => {
                let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                    Ok(Bytes::from_static(b"{\"token_type\":\"Bearer\",")),
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "injected connection reset",
                    )),
                ];
                Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from_stream(futures_util::stream::iter(chunks)))
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }

    fn fault_status_body(&self, target: Target, status: StatusCode) -> Response {
        match target {
            Target::Graph => {
                let code = match status.as_u16() {
                    429 => "TooManyRequests",
                    503 => "serviceNotAvailable",
                    _ => "generalException",
                };
                (
                    status,
                    axum::Json(json!({ "error": { "code": code, "message": format!("Injected HTTP {status}.") } })),
                )
                    .into_response()
            }
            Target::Authorize => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                format!("<html><body><h1>HTTP {status}</h1><p>The sign-in service is unavailable.</p></body></html>"),
            )
                .into_response(),
            Target::Token | Target::Discovery | Target::Keys => {
                let error = if status.as_u16() == 429 || status.as_u16() == 503 {
                    "temporarily_unavailable"
                } else {
                    "server_error"
                };
                crate::oauth_error::OAuthError::new(
                    status,
                    error,
                    90033,
                    "A transient error has occurred. Please try again.",
                )
                .into_response_for(self, None)
            }
        }
    }
}

async fn edit_field(
    response: Response,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut value) => {
            if let Some(object) = value.as_object_mut() {
                edit(object);
            }
            Body::from(value.to_string())
        }
        Err(_) => Body::from(bytes),
    };
    let mut response = Response::from_parts(parts, body);
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}
