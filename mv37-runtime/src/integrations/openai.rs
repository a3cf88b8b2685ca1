//! async-openai, instrumented (feature `async-openai`): [`instrument`] gives back the
//! same `async_openai::Client`, whose chat completions, responses and embeddings calls,
//! streamed or not, each become an llm (or embeddings) span.
//!
//! ```no_run
//! use async_openai::{config::OpenAIConfig, Client};
//!
//! let client = mv37_runtime::integrations::openai::instrument(Client::with_config(OpenAIConfig::new()));
//! // client.chat().create(request).await, client.responses().create_stream(request).await…
//! ```
//!
//! It works below async-openai's API groups, on the HTTP requests they send (async-openai
//! 0.43's tower middleware hook), so every call shape is covered with the client's own
//! types. The span is a child of the span current where the call is awaited, or the root
//! of a trace of its own when no trace is open there. Each HTTP attempt is one span: a
//! `429` that async-openai retries shows as a failed span (status, provider error type,
//! `Retry-After`) followed by the attempt that succeeded.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use async_openai::Client;
use tower_layer::Layer;
use tower_service::Service;

use super::call::{transport_error_type, LlmCall};
use super::Options;
use crate::llm::cost::PriceTable;

/// async-openai's own retry count (`OpenAIRetryLayer::default()`), kept by [`instrument`].
pub const DEFAULT_MAX_RETRIES: usize = 3;

/// Instruments an async-openai client with the defaults (see [`Instrument`]): the same
/// client back, sending with a new `reqwest::Client` and async-openai's default retries.
pub fn instrument<C: Config>(client: Client<C>) -> Client<C> {
    Instrument::new().client(client)
}

/// How to instrument an async-openai client: prices for cost, the `reqwest::Client` to
/// send with, the retries.
///
/// ```no_run
/// use async_openai::{config::OpenAIConfig, Client};
/// use mv37_runtime::integrations::openai::Instrument;
/// use mv37_runtime::{Price, PriceTable};
///
/// let prices = PriceTable::new().model("gpt-4.1-mini", Price { input: 0.40, cached_input: 0.10, cache_write_input: None, output: 1.60 });
/// let client = Instrument::new()
///     .prices(prices)
///     .http_client(reqwest::Client::new())
///     .client(Client::with_config(OpenAIConfig::new()));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Instrument {
    options: Options,
    http: Option<reqwest::Client>,
    max_retries: Option<usize>,
}

impl Instrument {
    /// The defaults: no prices, a new `reqwest::Client`, [`DEFAULT_MAX_RETRIES`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills each call's `cost_usd` from `prices`, for the model the response names.
    pub fn prices(mut self, prices: impl Into<Arc<PriceTable>>) -> Self {
        self.options.prices = Some(prices.into());
        self
    }

    /// The `reqwest::Client` to send with (proxy, timeouts, TLS). async-openai does not
    /// give back the one a client was built with, so pass it again here.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// How many times a `429`, a `5xx` or a connection error is retried (async-openai's
    /// retry layer, as the uninstrumented client has it); `0` for none.
    pub fn max_retries(mut self, retries: usize) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// The tower layer alone, for a service stack of your own
    /// (`Client::with_http_service`): put it below any retry layer, so that each
    /// attempt is recorded.
    pub fn layer(&self) -> OpenAiLayer {
        OpenAiLayer {
            options: Arc::new(self.options.clone()),
        }
    }

    /// `client`, sending through the instrumented stack: async-openai's retry layer, this
    /// layer, then `reqwest`.
    pub fn client<C: Config>(&self, client: Client<C>) -> Client<C> {
        let transport = ReqwestService::new(self.http.clone().unwrap_or_default());
        let retries = self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
        let service = OpenAIRetryLayer::new(retries).layer(self.layer().layer(transport));
        client.with_http_service(service)
    }
}

/// The tower layer that records async-openai's requests; see [`Instrument::layer`].
#[derive(Debug, Clone, Default)]
pub struct OpenAiLayer {
    options: Arc<Options>,
}

impl<S> Layer<S> for OpenAiLayer {
    type Service = OpenAiService<S>;

    fn layer(&self, inner: S) -> OpenAiService<S> {
        OpenAiService {
            inner,
            options: Arc::clone(&self.options),
        }
    }
}

/// The service [`OpenAiLayer`] makes: it records each LLM API request it passes on.
#[derive(Debug, Clone)]
pub struct OpenAiService<S> {
    inner: S,
    options: Arc<Options>,
}

/// The future of [`OpenAiService`].
pub type ResponseFuture = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

impl<S> Service<HttpRequestFactory> for OpenAiService<S>
where
    S: Service<HttpRequestFactory, Response = reqwest::Response, Error = OpenAIError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, factory: HttpRequestFactory) -> ResponseFuture {
        // The clone that was made ready is the one that serves this call.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let options = Arc::clone(&self.options);
        Box::pin(send(ready, factory, options))
    }
}

async fn send<S>(
    mut inner: S,
    factory: HttpRequestFactory,
    options: Arc<Options>,
) -> Result<reqwest::Response, OpenAIError>
where
    S: Service<HttpRequestFactory, Response = reqwest::Response, Error = OpenAIError>,
{
    // The factory rebuilds the request for each attempt; build it once more to read it
    // (its JSON body is shared bytes, not copied).
    let call = match factory.build().await {
        Ok(request) => LlmCall::begin(
            &options,
            request.method(),
            request.url(),
            request.body().and_then(reqwest::Body::as_bytes),
        ),
        Err(_) => None,
    };
    let result = inner.call(factory).await;
    let Some(call) = call else {
        return result;
    };
    match result {
        Ok(response) => Ok(call.respond(response)),
        Err(error) => {
            let error_type = match &error {
                OpenAIError::Reqwest(error) => transport_error_type(error),
                _ => "OpenAIError",
            };
            call.failed(&error, error_type);
            Err(error)
        }
    }
}
