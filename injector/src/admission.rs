//! The pure `/mutate` handler: AdmissionReview (v1/v1beta1) bytes in, AdmissionReview bytes out (§2.1).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use vaultlet_shared::annotations::InjectorDefaults;

use crate::mutate::{Decision, decide, pod::Pod};

const V1: &str = "admission.k8s.io/v1";
const V1BETA1: &str = "admission.k8s.io/v1beta1";

/// A body the handler cannot answer with an AdmissionReview.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdmissionError {
    /// Undecodable body, unknown kind or apiVersion (upstream: HTTP 500).
    #[error("error decoding admission request: {0}")]
    Decode(String),
    /// A review without `request` (Rust decision: HTTP 400).
    #[error("admission review has no request")]
    NoRequest,
}

impl AdmissionError {
    /// The HTTP status the server answers with (§2.1).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Decode(_) => 500,
            Self::NoRequest => 400,
        }
    }
}

/// What the handler decided, for metrics (§6.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// The pod was patched (allowed with a patch).
    pub patched: bool,
    /// The request was refused (allowed=false).
    pub refused: bool,
    /// `vault-agent-init` was injected.
    pub init_injected: bool,
    /// `vault-agent` was injected.
    pub sidecar_injected: bool,
    /// The AdmissionRequest had an empty namespace.
    pub namespace_is_empty: bool,
    /// The request's uid and namespace, and the pod's name (or `generateName`), for logs and
    /// metrics.
    pub uid: String,
    pub namespace: String,
    pub pod: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a> {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default, borrow)]
    request: Option<RequestIn<'a>>,
}

#[derive(Deserialize)]
struct RequestIn<'a> {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    namespace: String,
    #[serde(default, borrow)]
    object: Option<&'a RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    kind: &'static str,
    api_version: &'a str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut>,
}

#[derive(Serialize)]
struct StatusOut {
    metadata: serde_json::Map<String, serde_json::Value>,
    message: String,
}

/// Handle one AdmissionReview body; returns the response body (HTTP 200) or an error for 4xx/5xx.
pub fn review(body: &[u8], settings: &InjectorDefaults) -> Result<Vec<u8>, AdmissionError> {
    review_with_outcome(body, settings).map(|(b, _)| b)
}

/// [`review`], also telling what was decided (for metrics).
pub fn review_with_outcome(
    body: &[u8],
    settings: &InjectorDefaults,
) -> Result<(Vec<u8>, Outcome), AdmissionError> {
    let text = std::str::from_utf8(body).map_err(|e| AdmissionError::Decode(e.to_string()))?;
    let rev: ReviewIn<'_> =
        serde_json::from_str(text).map_err(|e| AdmissionError::Decode(e.to_string()))?;
    let api_version = match rev.api_version.as_deref() {
        None | Some("") => V1,
        Some(V1) => V1,
        Some(V1BETA1) => V1BETA1,
        Some(other) => {
            return Err(AdmissionError::Decode(format!(
                "no kind \"AdmissionReview\" is registered for version {other:?}"
            )));
        }
    };
    if let Some(k) = rev
        .kind
        .filter(|k| !k.is_empty() && *k != "AdmissionReview")
    {
        return Err(AdmissionError::Decode(format!(
            "no kind {k:?} is registered for version {api_version:?}"
        )));
    }
    let req = rev.request.ok_or(AdmissionError::NoRequest)?;
    let mut outcome = Outcome {
        namespace_is_empty: req.namespace.is_empty(),
        uid: req.uid.clone(),
        namespace: req.namespace.clone(),
        ..Outcome::default()
    };
    let decision = match req.object {
        None => Decision::Refuse("pod object missing from admission request".into()),
        Some(raw) => match serde_json::from_str::<Pod>(raw.get()) {
            Ok(pod) => {
                outcome.pod = pod.metadata.name.clone().unwrap_or_default();
                decide(&pod, &req.namespace, settings)
            }
            Err(e) => Decision::Refuse(e.to_string()),
        },
    };
    let response = match decision {
        Decision::Skip => ResponseOut {
            uid: &req.uid,
            allowed: true,
            patch: None,
            patch_type: None,
            status: None,
        },
        Decision::Refuse(message) => {
            outcome.refused = true;
            ResponseOut {
                uid: &req.uid,
                allowed: false,
                patch: None,
                patch_type: None,
                status: Some(StatusOut {
                    metadata: serde_json::Map::new(),
                    message,
                }),
            }
        }
        Decision::Patch {
            patch,
            init,
            sidecar,
        } => {
            outcome.patched = true;
            outcome.init_injected = init;
            outcome.sidecar_injected = sidecar;
            let bytes =
                serde_json::to_vec(&patch).map_err(|e| AdmissionError::Decode(e.to_string()))?;
            ResponseOut {
                uid: &req.uid,
                allowed: true,
                patch: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                patch_type: Some("JSONPatch"),
                status: None,
            }
        }
    };
    let out = ReviewOut {
        kind: "AdmissionReview",
        api_version,
        response,
    };
    let bytes = serde_json::to_vec(&out).map_err(|e| AdmissionError::Decode(e.to_string()))?;
    Ok((bytes, outcome))
}
