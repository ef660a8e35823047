//! AWS SigV4 signing of `fraud replay`'s requests, for an API deployed with IAM authorization
//! (template.yaml's default): credentials from the standard chain (environment, profile, SSO,
//! instance or task role), the region from an `execute-api` URL or the AWS settings.

use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::error::{CliError, CliResult};

/// The service name API Gateway checks in the signature.
const SERVICE: &str = "execute-api";

/// Signs requests with the caller's AWS credentials.
pub struct SigV4 {
    credentials: SharedCredentialsProvider,
    region: String,
}

impl SigV4 {
    /// The signer for requests to `url`; fails naming what is missing (credentials, region).
    pub async fn for_url(url: &str) -> CliResult<SigV4> {
        let config = fraud_aws::sdk_config().await;
        let credentials = config.credentials_provider().ok_or_else(|| {
            CliError::Usage(
                "--sigv4: no AWS credentials found (environment, profile or role)".into(),
            )
        })?;
        // Asked once here, so missing credentials stop the command before any request.
        credentials.provide_credentials().await.map_err(|e| {
            CliError::Usage(format!(
                "--sigv4: no AWS credentials (environment, profile, SSO or role): {e}"
            ))
        })?;
        let region = region_of(url)
            .or_else(|| config.region().map(|r| r.to_string()))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "--sigv4: no region in {url} (not an execute-api URL) and none set (AWS_REGION)"
                ))
            })?;
        Ok(SigV4 {
            credentials,
            region,
        })
    }

    /// Adds `Authorization`, `X-Amz-Date` (and a session token) to `request`, whose body is
    /// `body`.
    pub async fn sign<B>(&self, request: &mut http::Request<B>, body: &[u8]) -> Result<(), String> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| format!("AWS credentials: {e}"))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("SigV4: {e}"))?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let uri = request.uri().to_string();
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("SigV4: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("SigV4: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// `REGION` of `https://ID.execute-api.REGION.amazonaws.com/...`.
fn region_of(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut labels = host.split('.');
    labels.find(|label| *label == SERVICE)?;
    labels.next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::region_of;

    #[test]
    fn the_region_comes_from_an_execute_api_url() {
        assert_eq!(
            region_of("https://abc123.execute-api.eu-west-1.amazonaws.com/predict").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("http://127.0.0.1:3000/predict"), None);
    }
}
