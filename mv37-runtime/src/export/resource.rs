//! The resource description: the service identity every exported record carries,
//! shared by the `otlp` exporter (as OTLP resource attributes) and the `mv37` ingest
//! exporter (as the batch's `resource`).

/// The service identity every exported span carries as OTLP resource attributes.
#[derive(Debug, Clone, Default)]
pub struct ResourceInfo {
    /// `service.name`.
    pub service_name: Option<String>,
    /// `service.version`.
    pub service_version: Option<String>,
    /// `deployment.environment`.
    pub environment: Option<String>,
    /// Any other attributes.
    pub extra: Vec<(String, String)>,
}
