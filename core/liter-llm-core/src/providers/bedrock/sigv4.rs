//! AWS Signature Version 4 for Bedrock requests, with the `aws-sigv4` crate: service `bedrock`,
//! the payload hashed, the session token signed, no `x-amz-content-sha256` header (as botocore's
//! `SigV4Auth` signs for services other than S3). A request is signed for one attempt: a retry
//! signs again with its own time.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::NAME;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;

/// The SigV4 service name of Bedrock Runtime.
pub const SERVICE: &str = "bedrock";

/// Long-term or temporary AWS credentials.
#[derive(Clone, Debug)]
pub struct AwsCredentials {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

fn env_secret(name: &str) -> Option<Secret> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).map(Secret::new)
}

impl AwsCredentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, when set, `AWS_SESSION_TOKEN`; `None`
    /// unless both keys are set.
    pub fn from_env() -> Option<AwsCredentials> {
        Some(AwsCredentials {
            access_key_id: env_secret("AWS_ACCESS_KEY_ID")?,
            secret_access_key: env_secret("AWS_SECRET_ACCESS_KEY")?,
            session_token: env_secret("AWS_SESSION_TOKEN"),
        })
    }
}

/// A header the signature adds to the request.
#[derive(Debug)]
pub struct SignedHeader {
    pub name: &'static str,
    pub value: String,
    /// Carries a credential (`authorization`, `x-amz-security-token`): never logged.
    pub sensitive: bool,
}

fn signing_error(what: impl std::fmt::Display) -> Error {
    // The signer's messages name the request's parts, never the credentials.
    Error::new(ErrorKind::InvalidRequest, format!("bedrock: the request could not be signed: {what}"))
        .with_provider(NAME)
}

/// Signs a `method` request to `url` with `headers` (all of them are signed) and `body`, for
/// `region` at `time`: the headers to add (`authorization`, `x-amz-date`, and
/// `x-amz-security-token` with temporary credentials).
pub fn sign_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: &AwsCredentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<SignedHeader>> {
    let identity: Identity = Credentials::new(
        credentials.access_key_id.expose(),
        credentials.secret_access_key.expose(),
        credentials.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "liter-llm",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(signing_error)?
        .into();
    let request =
        SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body)).map_err(signing_error)?;
    let (instructions, _signature) = sign(request, &params).map_err(signing_error)?.into_parts();
    let (signed, _params) = instructions.into_parts();
    Ok(signed
        .into_iter()
        .map(|h| SignedHeader {
            name: h.name(),
            value: h.value().to_owned(),
            sensitive: h.sensitive() || matches!(h.name(), "authorization" | "x-amz-security-token"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn credentials(token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: Secret::new("AKIDEXAMPLE".into()),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            session_token: token.map(|t| Secret::new(t.into())),
        }
    }

    fn signed(token: Option<&str>, time: SystemTime) -> Vec<SignedHeader> {
        sign_request(
            "POST",
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-pro-v1%3A0/converse",
            &[("content-type", "application/json")],
            br#"{"messages": []}"#,
            &credentials(token),
            "us-east-1",
            time,
        )
        .unwrap()
    }

    #[test]
    fn signs_with_the_date_scope_and_the_session_token() {
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let headers = signed(Some("session-token-1"), time);
        let get = |name: &str| headers.iter().find(|h| h.name == name).map(|h| h.value.as_str());
        assert_eq!(get("x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(get("x-amz-security-token"), Some("session-token-1"));
        let auth = get("authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{auth}"
        );
        assert!(headers.iter().any(|h| h.name == "authorization" && h.sensitive));
        assert!(get("x-amz-content-sha256").is_none());
        // Another time, another signature: a retry is signed anew.
        let later = signed(Some("session-token-1"), time + Duration::from_secs(1));
        assert_ne!(later.iter().find(|h| h.name == "authorization").unwrap().value, auth);
        assert!(signed(None, time).iter().all(|h| h.name != "x-amz-security-token"));
    }
}
