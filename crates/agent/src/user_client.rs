//! Client for the USER API (`/api/v1/strategies`, `/signals`, `/ea-projects`,
//! `/jobs`, ...) that the desktop app calls with the agent key acting for its
//! owner. Generic JSON helpers plus a few typed calls; the key stays in Rust.

use companion_protocol::{CreateJobRequest, JobView};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::client::{check, decode, send, ApiClient, ClientError};

/// User-API calls authenticated by the agent key (the server acts for the agent's owner, under RLS).
#[derive(Debug, Clone)]
pub struct UserClient {
    api: ApiClient,
}

impl UserClient {
    pub fn new(api: ApiClient) -> Self {
        UserClient { api }
    }

    /// `GET {path}` (path relative to `/api/v1`, with its query string).
    pub async fn get_json<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        decode(send(self.api.request(reqwest::Method::GET, path)).await?).await
    }

    pub async fn post_json<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        decode(send(self.api.request(reqwest::Method::POST, path).json(body)).await?).await
    }

    pub async fn put_json<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        decode(send(self.api.request(reqwest::Method::PUT, path).json(body)).await?).await
    }

    pub async fn patch_json<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        decode(send(self.api.request(reqwest::Method::PATCH, path).json(body)).await?).await
    }

    /// `DELETE {path}`; any 2xx is success.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        check(send(self.api.request(reqwest::Method::DELETE, path)).await?)
            .await
            .map(|_| ())
    }

    /// `POST /jobs`: queue a job for one of the owner's agents.
    pub async fn create_job(&self, req: &CreateJobRequest) -> Result<JobView, ClientError> {
        self.post_json("/jobs", req).await
    }

    /// `GET /jobs/{id}`.
    pub async fn job(&self, id: Uuid) -> Result<JobView, ClientError> {
        self.get_json(&format!("/jobs/{id}")).await
    }

    /// `GET /strategies` as raw JSON (typed by `companion_protocol::user` when it lands).
    pub async fn strategies(&self) -> Result<serde_json::Value, ClientError> {
        self.get_json("/strategies").await
    }

    /// `GET /signals?{query}` as raw JSON.
    pub async fn signals(&self, query: &str) -> Result<serde_json::Value, ClientError> {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        self.get_json(&format!("/signals{q}")).await
    }

    /// `GET /ea-projects` as raw JSON.
    pub async fn ea_projects(&self) -> Result<serde_json::Value, ClientError> {
        self.get_json("/ea-projects").await
    }
}
