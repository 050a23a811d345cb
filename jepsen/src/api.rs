//! Tidemark's own endpoints as the harness reads them: GETs answered in Prometheus' envelope,
//! read into the `tidemark-api` types.

use std::time::Duration;

use serde::de::DeserializeOwned;
use tidemark_api::{ClusterStatus, Envelope};

/// The data of the answer of `url` to a GET, within `timeout`; or why there is none.
pub async fn get<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<T, String> {
    http.get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json::<Envelope<T>>()
        .await
        .map_err(|e| e.to_string())?
        .into_result()
}

/// `GET /api/v1/status/cluster` of the node at `base`: its view of the cluster.
pub async fn cluster_status(
    http: &reqwest::Client,
    base: &str,
    timeout: Duration,
) -> Result<ClusterStatus, String> {
    get(http, &format!("{base}/api/v1/status/cluster"), timeout).await
}
