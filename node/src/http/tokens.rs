//! The token endpoints (admin role):
//! - `GET /api/v1/admin/tokens`: `[{"id", "name", "roles", "createdMs"}]`, no secrets.
//! - `POST /api/v1/admin/tokens` with `{"name", "roles"}`: the new token, its secret shown
//!   this once (`{"id", "name", "roles", "createdMs", "token"}`).
//! - `DELETE /api/v1/admin/tokens/{id}`: revokes it (404 for an unknown id).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get};
use tidemark_api::tokens::TokenRequest;

use super::ApiError;
use super::cluster::success;
use crate::node::Node;

/// The token routes.
pub fn routes(node: Arc<Node>) -> Router {
    Router::new()
        .route("/api/v1/admin/tokens", get(list).post(create))
        .route("/api/v1/admin/tokens/{id}", delete(revoke))
        .with_state(node)
}

async fn list(State(node): State<Arc<Node>>) -> Response {
    success(node.tokens())
}

async fn create(
    State(node): State<Arc<Node>>,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: TokenRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadParam(format!("invalid token request: {e}")))?;
    Ok(success(node.create_token(req).await?))
}

async fn revoke(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if node.revoke_token(&id).await? {
        Ok(success(serde_json::json!({ "revoked": id })))
    } else {
        Err(ApiError::NotFound(format!("no token {id}")))
    }
}
