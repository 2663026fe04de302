//! `POST /api/publish`: the console's "publish a test message". The message
//! goes through the engine's own checks and delivery (names, role, format,
//! size, topic limits; a sequence number, the last-value cache), published
//! in the logged-in account's name with that account's MQ permissions, so
//! an `admin_only` account, which has none, cannot use it. Audited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pulsemq_shared::dto::{ErrorBody, Published, TestPublish};
use pulsemq_shared::{ErrorCode, Format};

use super::auth::AdminUser;
use super::error::{ApiError, ApiJson, ApiResult};
use super::AdminState;
use crate::control::{AdminPublish, Control};
use crate::store::audit::NewAudit;

/// The wire format and payload bytes of a test publish.
fn payload_of(body: &TestPublish) -> ApiResult<(Format, Vec<u8>)> {
    match body.format.as_str() {
        "string" => Ok((Format::String, body.payload.as_bytes().to_vec())),
        "json" => match serde_json::from_str::<serde_json::Value>(&body.payload) {
            Ok(_) => Ok((Format::String, body.payload.as_bytes().to_vec())),
            Err(e) => Err(ApiError::bad(format!("payload is not JSON: {e}"))),
        },
        "bytes" => {
            let hex_digits: String = body.payload.chars().filter(|c| !c.is_whitespace()).collect();
            hex::decode(&hex_digits)
                .map(|b| (Format::Bytes, b))
                .map_err(|e| ApiError::bad(format!("bytes payload must be hex: {e}")))
        }
        other => Err(ApiError::bad(format!("format must be string, json or bytes, not '{other}'"))),
    }
}

/// The engine's refusal as the HTTP error a console shows.
fn refused(code: ErrorCode, msg: String) -> ApiError {
    match code {
        ErrorCode::PermissionDenied => ApiError::Forbidden(msg),
        ErrorCode::TopicLimit => ApiError::Conflict(msg),
        _ => ApiError::BadRequest(msg),
    }
}

#[utoipa::path(post, path = "/api/publish", tag = "topics", request_body = TestPublish,
    responses(
        (status = 201, description = "Published and delivered to the topic's subscribers", body = Published),
        (status = 400, description = "Bad name, format or payload", body = ErrorBody),
        (status = 403, description = "The account has no pub role in the namespace", body = ErrorBody),
        (status = 409, description = "A topic limit refuses a new topic", body = ErrorBody),
    ))]
pub async fn publish(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiJson(body): ApiJson<TestPublish>,
) -> ApiResult<(StatusCode, Json<Published>)> {
    let (format, payload) = payload_of(&body)?;
    let size = payload.len() as u64;
    let (username, namespace, topic) = (user.username.clone(), body.namespace.clone(), body.topic.clone());
    let seq = st
        .engine
        .request(|reply| {
            Control::Publish(Box::new(AdminPublish { username, namespace, topic, format, payload, reply }))
        })
        .await?
        .map_err(|(code, msg)| refused(code, msg))?;
    st.audit(NewAudit {
        op_type: "publish_test",
        target_type: "topic",
        operator: &user.username,
        target: &format!("{}:{}", body.namespace, body.topic),
        new_value: Some(&format!("{} {size} bytes, seq {seq}", body.format)),
        ..Default::default()
    })
    .await;
    Ok((StatusCode::CREATED, Json(Published { namespace: body.namespace, topic: body.topic, seq, size })))
}
