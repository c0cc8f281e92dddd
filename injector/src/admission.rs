//! The pure `/mutate` handler: AdmissionReview (v1/v1beta1) bytes in, AdmissionReview bytes out
//! (injector.md §2.1), and the `review` span its log lines are written in (injector.md §6.7).

use std::borrow::Cow;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::field::Empty;
use vaultlet_shared::annotations::InjectorDefaults;

use crate::mutate::checks::{self, Warning};
use crate::mutate::pod::{Pod, PodError};
use crate::mutate::{Decision, NamespaceDefaults, NoNamespaceDefaults, decide_in_namespace};

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
    /// The HTTP status the server answers with (injector.md §2.1).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Decode(_) => 500,
            Self::NoRequest => 400,
        }
    }
}

/// What the handler decided, for metrics (injector.md §6.6).
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
    /// The request's namespace, for metrics (logs have it from the [`review_span`]).
    pub namespace: String,
    /// Which step refused the pod (a bounded label, `Refusal::reason`), when it was refused.
    pub refusal_reason: Option<&'static str>,
    /// The refusal's message (the answer's `status.message`), for the log.
    pub refusal_message: Option<String>,
    /// The warnings found (injector.md §2.6), also those the answer left out for length.
    pub warnings: Vec<Warning>,
}

/// The span one review is handled in, to be entered before [`review_with_outcome`] runs: it
/// fills `uid`, `namespace`, `kind` (the request's resource kind) and `pod` (the pod's name, else
/// its `generateName`) as soon as the body is decoded, so every line logged while handling the
/// review carries them (injector.md §6.7).
pub fn review_span() -> tracing::Span {
    tracing::info_span!(
        "review",
        uid = Empty,
        namespace = Empty,
        kind = Empty,
        pod = Empty
    )
}

/// Records what the request says about itself on the current span (a [`review_span`]) in one
/// call: the JSON log format re-serialises a span's fields on every record.
fn record_request(uid: &str, namespace: &str, kind: Option<&RawValue>, pod: Option<&Pod>) {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return; // no span, or logging is off at its level
    }
    let Some(fields) = span.metadata().map(|m| m.fields()) else {
        return;
    };
    let kind = kind.and_then(|k| serde_json::from_str::<KindIn<'_>>(k.get()).ok());
    let kind = kind.as_ref().map(|k| k.kind.as_ref());
    let pod = pod.and_then(|p| {
        let m = &p.metadata;
        let name = m.name.as_deref().filter(|n| !n.is_empty());
        name.or(m.generate_name.as_deref())
    });
    let (Some(f_uid), Some(f_ns), Some(f_kind), Some(f_pod)) = (
        fields.field("uid"),
        fields.field("namespace"),
        fields.field("kind"),
        fields.field("pod"),
    ) else {
        return; // not a review span
    };
    span.record_all(&fields.value_set(&[
        (&f_uid, Some(&uid as &dyn tracing::Value)),
        (&f_ns, Some(&namespace as &dyn tracing::Value)),
        (&f_kind, kind.as_ref().map(|k| k as &dyn tracing::Value)),
        (&f_pod, pod.as_ref().map(|p| p as &dyn tracing::Value)),
    ]));
}

/// The envelope, generic over how `request.object` is read: as a [`Pod`] in the one-pass fast
/// path, or kept raw when that pass failed, to tell a bad envelope (HTTP 500) from a bad pod
/// (refused in the answer).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a, O> {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(borrow, default = "Option::default")]
    request: Option<RequestIn<'a, O>>,
}

#[derive(Deserialize)]
struct RequestIn<'a, O> {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    namespace: String,
    /// The GroupVersionKind of the object, kept raw: it is read only for logs, and a strange
    /// value must not fail the review.
    #[serde(borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(default = "Option::default")]
    object: Option<O>,
}

/// `request.kind`'s `kind`.
#[derive(Deserialize)]
struct KindIn<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

/// The decoded request: apiVersion to answer with, uid, namespace, and the pod (or why not).
struct Decoded {
    api_version: &'static str,
    uid: String,
    namespace: String,
    pod: Result<Pod, PodError>,
}

fn decode(text: &str) -> Result<Decoded, AdmissionError> {
    // One typed pass over the whole body when it is well formed (the usual case) …
    let (api_version, kind, req) = match serde_json::from_str::<ReviewIn<'_, Pod>>(text) {
        Ok(rev) => (
            rev.api_version,
            rev.kind,
            rev.request.map(|r| {
                (
                    r.uid,
                    r.namespace,
                    r.kind,
                    r.object.ok_or(PodError::Missing),
                )
            }),
        ),
        // … and, when it is not, the envelope first, then the object on its own, so that the
        // error names the right part.
        Err(_) => {
            let rev: ReviewIn<'_, &RawValue> =
                serde_json::from_str(text).map_err(|e| AdmissionError::Decode(e.to_string()))?;
            let req = rev.request.map(|r| {
                let pod = match r.object {
                    None => Err(PodError::Missing),
                    Some(raw) => serde_json::from_str::<Pod>(raw.get()).map_err(PodError::Decode),
                };
                (r.uid, r.namespace, r.kind, pod)
            });
            (rev.api_version, rev.kind, req)
        }
    };
    if let Some((uid, namespace, kind, pod)) = &req {
        record_request(uid, namespace, *kind, pod.as_ref().ok());
    }
    let api_version = match api_version.as_deref() {
        None | Some("") => V1,
        Some(V1) => V1,
        Some(V1BETA1) => V1BETA1,
        Some(other) => {
            return Err(AdmissionError::Decode(format!(
                "no kind \"AdmissionReview\" is registered for version {other:?}"
            )));
        }
    };
    if let Some(k) = kind.filter(|k| !k.is_empty() && *k != "AdmissionReview") {
        return Err(AdmissionError::Decode(format!(
            "no kind {k:?} is registered for version {api_version:?}"
        )));
    }
    let (uid, namespace, _, pod) = req.ok_or(AdmissionError::NoRequest)?;
    Ok(Decoded {
        api_version,
        uid,
        namespace,
        pod,
    })
}

/// What the answer says.
enum Answer<'a> {
    Allow,
    Patch(&'a [u8]),
    Refuse(&'a str),
}

/// A JSON string with serde_json's escaping (writing a `&str` into a `Vec` cannot fail).
fn put_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `,"warnings":[…]` (`AdmissionResponse.warnings`, a list of strings kubectl prints), at most
/// `checks::MAX_WARNINGS` of them; nothing without warnings.
fn put_warnings(out: &mut Vec<u8>, warnings: &[Warning]) {
    if warnings.is_empty() {
        return;
    }
    let (list, more) = checks::shown(warnings);
    out.extend_from_slice(br#","warnings":["#);
    let texts = list.iter().map(|w| w.text.as_str()).chain(more.as_deref());
    for (i, text) in texts.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        put_str(out, text);
    }
    out.push(b']');
}

/// The AdmissionReview answer, written straight into one buffer: the base64 patch, the bulk of
/// it, needs no escaping and is encoded in place. Fields in upstream's order, then `warnings`.
fn write_review(api_version: &str, uid: &str, answer: Answer<'_>, warnings: &[Warning]) -> Vec<u8> {
    let patch_len = match &answer {
        Answer::Patch(p) => base64::encoded_len(p.len(), true).unwrap_or(0),
        _ => 0,
    };
    let mut out = Vec::with_capacity(160 + uid.len() + patch_len);
    out.extend_from_slice(br#"{"kind":"AdmissionReview","apiVersion":"#);
    put_str(&mut out, api_version);
    out.extend_from_slice(br#","response":{"uid":"#);
    put_str(&mut out, uid);
    match answer {
        Answer::Allow => out.extend_from_slice(br#","allowed":true"#),
        Answer::Patch(patch) => {
            out.extend_from_slice(br#","allowed":true,"patch":""#);
            let at = out.len();
            out.resize(at + patch_len, 0);
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(patch, &mut out[at..])
                .unwrap_or(0);
            out.truncate(at + n);
            out.extend_from_slice(br#"","patchType":"JSONPatch""#);
        }
        Answer::Refuse(message) => {
            out.extend_from_slice(br#","allowed":false,"status":{"metadata":{},"message":"#);
            put_str(&mut out, message);
            out.push(b'}');
        }
    }
    put_warnings(&mut out, warnings);
    out.extend_from_slice(b"}}");
    out
}

/// Handle one AdmissionReview body; returns the response body (HTTP 200) or an error for 4xx/5xx.
pub fn review(body: &[u8], settings: &InjectorDefaults) -> Result<Vec<u8>, AdmissionError> {
    review_with_outcome(body, settings).map(|(b, _)| b)
}

/// [`review`], also telling what was decided (for metrics). Run it inside a [`review_span`] so
/// that its log lines name the request.
pub fn review_with_outcome(
    body: &[u8],
    settings: &InjectorDefaults,
) -> Result<(Vec<u8>, Outcome), AdmissionError> {
    review_in_namespace(body, settings, &NoNamespaceDefaults)
}

/// [`review_with_outcome`] with namespace defaults (injector.md §2.7): `namespaces` answers the
/// annotations of the request's namespace from memory (the server's reflector cache).
pub fn review_in_namespace(
    body: &[u8],
    settings: &InjectorDefaults,
    namespaces: &dyn NamespaceDefaults,
) -> Result<(Vec<u8>, Outcome), AdmissionError> {
    let text = std::str::from_utf8(body).map_err(|e| AdmissionError::Decode(e.to_string()))?;
    let req = decode(text)?;
    let mut outcome = Outcome {
        namespace_is_empty: req.namespace.is_empty(),
        ..Outcome::default()
    };
    let (decision, warnings) = match req.pod {
        Ok(pod) => decide_in_namespace(&pod, &req.namespace, namespaces, settings),
        Err(e) => (Decision::Refuse(e.into()), Vec::new()),
    };
    let bytes = match decision {
        Decision::Skip => write_review(req.api_version, &req.uid, Answer::Allow, &warnings),
        Decision::Refuse(refusal) => {
            outcome.refused = true;
            outcome.refusal_reason = Some(refusal.reason());
            let message = refusal.to_string();
            let bytes = write_review(
                req.api_version,
                &req.uid,
                Answer::Refuse(&message),
                &warnings,
            );
            outcome.refusal_message = Some(message);
            bytes
        }
        Decision::Patch {
            patch,
            init,
            sidecar,
        } => {
            outcome.patched = true;
            outcome.init_injected = init;
            outcome.sidecar_injected = sidecar;
            let patch =
                serde_json::to_vec(&patch).map_err(|e| AdmissionError::Decode(e.to_string()))?;
            write_review(req.api_version, &req.uid, Answer::Patch(&patch), &warnings)
        }
    };
    outcome.namespace = req.namespace;
    outcome.warnings = warnings;
    Ok((bytes, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutate::pod::NO_POD;
    use serde_json::{Value, json};

    fn settings() -> InjectorDefaults {
        crate::fixture::TestInjector::new().defaults()
    }

    fn answer(body: &Value) -> Value {
        serde_json::from_slice(&review(&serde_json::to_vec(body).unwrap(), &settings()).unwrap())
            .unwrap()
    }

    #[test]
    fn a_patch_answer_is_one_well_formed_review_with_the_uid_escaped() {
        let uid = "u\"<1>\\";
        let a = answer(
            &json!({"apiVersion": V1BETA1, "kind": "AdmissionReview", "request": {
            "uid": uid, "namespace": "ns", "object": {"metadata": {"annotations": {
                "vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "r"}},
                "spec": {"containers": [{"name": "app", "volumeMounts": [{"name": "sa",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}]}}}}),
        );
        assert_eq!(a["apiVersion"], V1BETA1);
        assert_eq!(a["kind"], "AdmissionReview");
        assert_eq!(a["response"]["uid"], uid);
        assert_eq!(a["response"]["allowed"], true, "{a}");
        assert_eq!(a["response"]["patchType"], "JSONPatch");
        let patch = base64::engine::general_purpose::STANDARD
            .decode(a["response"]["patch"].as_str().unwrap())
            .unwrap();
        let patch: Value = serde_json::from_slice(&patch).unwrap();
        assert_eq!(
            patch.as_array().unwrap().last().unwrap()["value"],
            "injected"
        );
    }

    #[test]
    fn a_bad_pod_is_refused_naming_the_error_and_a_bad_envelope_is_a_decode_error() {
        // The pod is not a Pod: the one-pass decode fails, the envelope alone decodes, and the
        // answer refuses with the pod's own decode error.
        let a = answer(&json!({"request": {"uid": "1", "object": {"spec": {"containers": 7}}}}));
        assert_eq!(a["apiVersion"], V1);
        assert_eq!(a["response"]["allowed"], false);
        assert_eq!(a["response"]["status"]["metadata"], json!({}));
        let msg = a["response"]["status"]["message"].as_str().unwrap();
        assert!(msg.contains("invalid type: integer `7`"), "{msg}");
        assert!(a["response"].get("patch").is_none());
        // No object at all.
        let a = answer(&json!({"request": {"uid": "2"}}));
        assert_eq!(a["response"]["status"]["message"], NO_POD);
        // The envelope itself is wrong: an HTTP error, not an answer.
        let e = review(br#"{"request": {"uid": 3}}"#, &settings()).unwrap_err();
        assert!(
            matches!(e, AdmissionError::Decode(ref m) if m.contains("invalid type")),
            "{e}"
        );
        let e = review(br#"{"apiVersion": "v9", "request": {}}"#, &settings()).unwrap_err();
        assert!(e.to_string().contains("\"v9\""), "{e}");
    }

    /// Namespace annotations from memory, as the server's reflector cache answers.
    struct Namespaces(&'static [(&'static str, &'static str)]);

    impl NamespaceDefaults for Namespaces {
        fn annotations(
            &self,
            namespace: &str,
        ) -> Option<vaultlet_shared::annotations::Annotations> {
            (namespace == "shop").then(|| {
                vaultlet_shared::annotations::Annotations::from_pairs(self.0.iter().copied())
            })
        }
    }

    fn agent_role(answer: &Value) -> String {
        let patch = base64::engine::general_purpose::STANDARD
            .decode(answer["response"]["patch"].as_str().expect("a patch"))
            .unwrap();
        let text = String::from_utf8(patch).unwrap();
        let patch: Value = serde_json::from_str(&text).unwrap();
        let env = patch
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|op| op["value"]["env"].as_array())
            .flatten()
            .find(|e| e["name"] == "VAULT_CONFIG")
            .expect("VAULT_CONFIG");
        let cfg: Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(env["value"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        cfg.pointer("/auto_auth/method/config/role")
            .or_else(|| cfg.pointer("/auto_auth/method/0/config/role"))
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    }

    #[test]
    fn namespace_annotations_fill_in_what_the_pod_does_not_set() {
        let ns = Namespaces(&[
            ("vault.hashicorp.com/role", "shop-role"),
            ("vault.hashicorp.com/agent-inject", "true"),
        ]);
        let review = |ns_name: &str, annotations: Value| {
            let body = json!({"request": {"uid": "1", "namespace": ns_name, "object": {
                "metadata": {"annotations": annotations},
                "spec": {"containers": [{"name": "app", "volumeMounts": [{"name": "sa",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}]}}}});
            let (out, _) =
                review_in_namespace(&serde_json::to_vec(&body).unwrap(), &settings(), &ns).unwrap();
            serde_json::from_slice::<Value>(&out).unwrap()
        };
        let wants = json!({"vault.hashicorp.com/agent-inject": "true"});
        assert_eq!(agent_role(&review("shop", wants.clone())), "shop-role");
        let own = json!({"vault.hashicorp.com/agent-inject": "true", "openbao.org/role": "mine"});
        assert_eq!(agent_role(&review("shop", own)), "mine");
        // The namespace's agent-inject does not inject a pod that did not ask.
        let a = review("shop", json!({"app": "x"}));
        assert_eq!(a["response"], json!({"uid": "1", "allowed": true}));
        // Another namespace gets nothing: no role, refused.
        let a = review("other", wants);
        assert_eq!(a["response"]["allowed"], false);
    }

    #[test]
    fn a_pod_without_injection_is_allowed_untouched() {
        let a = answer(&json!({"request": {"uid": "x", "object": {"metadata": {}}}}));
        assert_eq!(
            a,
            json!({"kind": "AdmissionReview", "apiVersion": V1,
            "response": {"uid": "x", "allowed": true}})
        );
    }
}
