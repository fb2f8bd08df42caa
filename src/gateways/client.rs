//! The request/response skeleton both clients share: one gateway's base URL and
//! credentials over a [`Transport`], so a client names only what differs per call
//! (method, path, idempotency header, body) and the type the answer decodes to.

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::breaker::Breaker;
use super::error::GatewayError;
use super::transport::{Idempotence, Reply, RetryPolicy, Transport, join};
use super::types::GatewayKind;

/// How a gateway's API knows it is us.
#[derive(Debug, Clone)]
pub enum Auth {
    /// HTTP basic auth (Razorpay: key id and key secret).
    Basic {
        user: String,
        password: SecretString,
    },
    /// A bearer token (Stripe: the secret key).
    Bearer(SecretString),
}

/// A request body.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Empty,
    Json(&'a serde_json::Value),
    Form(&'a [(String, String)]),
}

/// What differs between two calls to one API.
#[derive(Debug)]
pub struct Call<'a> {
    op: &'static str,
    method: Method,
    path: &'a str,
    /// Header name and key the gateway deduplicates the call on.
    idempotency_key: Option<(&'static str, &'a str)>,
    body: Body<'a>,
}

impl<'a> Call<'a> {
    /// A read: safe to retry.
    pub fn get(op: &'static str, path: &'a str) -> Self {
        Call {
            op,
            method: Method::GET,
            path,
            idempotency_key: None,
            body: Body::Empty,
        }
    }

    /// A write: one attempt, unless it carries an [idempotency key](Call::idempotent).
    pub fn post(op: &'static str, path: &'a str, body: Body<'a>) -> Self {
        Call {
            op,
            method: Method::POST,
            path,
            idempotency_key: None,
            body,
        }
    }

    /// Sends `key` in `header`. The gateway answers a repeat with the first answer,
    /// which is what makes retrying a write safe.
    pub fn idempotent(self, header: &'static str, key: &'a str) -> Self {
        Call {
            idempotency_key: Some((header, key)),
            ..self
        }
    }

    fn idempotence(&self) -> Idempotence {
        if self.method == Method::GET || self.idempotency_key.is_some() {
            Idempotence::Safe
        } else {
            Idempotence::Unsafe
        }
    }
}

/// One gateway's HTTP API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base_url: String,
    auth: Auth,
    transport: Transport,
}

impl ApiClient {
    pub fn new(base_url: String, auth: Auth, transport: Transport) -> Self {
        ApiClient {
            base_url,
            auth,
            transport,
        }
    }

    fn gateway(&self) -> GatewayKind {
        self.transport.gateway
    }

    pub fn breaker(&self) -> &Breaker {
        self.transport.breaker()
    }

    pub fn retry(&self) -> &RetryPolicy {
        self.transport.retry()
    }

    /// Sends `call` through the transport (breaker, timeout, retries when the call
    /// is idempotent); a non-2xx answer is the matching [`GatewayError`].
    pub async fn send(&self, call: Call<'_>) -> Result<Reply, GatewayError> {
        let url = join(&self.base_url, call.path);
        self.transport
            .send(call.op, call.idempotence(), |http| {
                let request = http.request(call.method.clone(), &url);
                let request = match &self.auth {
                    Auth::Basic { user, password } => {
                        request.basic_auth(user, Some(password.expose_secret()))
                    }
                    Auth::Bearer(token) => request.bearer_auth(token.expose_secret()),
                };
                let request = match call.idempotency_key {
                    Some((header, key)) => request.header(header, key),
                    None => request,
                };
                match call.body {
                    Body::Empty => request,
                    Body::Json(json) => request.json(json),
                    Body::Form(form) => request.form(form),
                }
            })
            .await
    }

    /// [`send`](ApiClient::send), then decodes the JSON answer.
    pub async fn call<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, GatewayError> {
        self.send(call).await?.json(self.gateway())
    }

    /// `GET path`, decoded.
    pub async fn get<T: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &str,
    ) -> Result<T, GatewayError> {
        self.call(Call::get(op, path)).await
    }
}
