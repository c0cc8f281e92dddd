//! A small stand-in for the Kubernetes TokenReview API (`authentication.k8s.io/v1`), the one
//! Kubernetes call Vault's `kubernetes` auth method makes. It serves HTTPS on 127.0.0.1 from its
//! own thread, checks the bearer token and the reviewed token's RS256 signature and expiry for
//! real, and answers in the shape kube-apiserver fills in. Each response goes out in one write
//! with TCP_NODELAY set (otherwise Nagle + delayed ACK add ~40 ms per login).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::JwtIssuer;
use crate::jwt::Verifier;

/// The audiences kube-apiserver accepts when a review names none.
const API_AUDIENCES: &[&str] = &[crate::KUBERNETES_API];

/// A running TokenReview responder; stops when dropped.
pub struct TokenReviewer {
    url: String,
    ca_pem: String,
    reviewer_jwt: String,
    count: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenReviewer {
    /// Starts the responder for tokens of `issuer`. `reviewer_jwt` is the token Vault presents as
    /// its bearer (its `token_reviewer_jwt`); pass "" to have Vault use the client's own JWT.
    pub fn start(issuer: &JwtIssuer, reviewer_jwt: &str) -> TokenReviewer {
        let cert = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .expect("self-signed certificate");
        let ca_pem = cert.cert.pem();
        let cert_der = cert.cert.der().clone();
        let key_der =
            rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr: SocketAddr = listener.local_addr().expect("local addr");
        let count = Arc::new(AtomicUsize::new(0));
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let verifier = issuer.verifier();
        let counter = count.clone();
        let thread = std::thread::Builder::new()
            .name("tokenreview".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    loop {
                        let (tcp, _) = tokio::select! {
                            _ = &mut stop_rx => return,
                            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                        };
                        let _ = tcp.set_nodelay(true);
                        let acceptor = acceptor.clone();
                        let verifier = verifier.clone();
                        let counter = counter.clone();
                        tokio::spawn(async move {
                            let Ok(tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let svc = hyper::service::service_fn(move |req| {
                                let verifier = verifier.clone();
                                let counter = counter.clone();
                                async move {
                                    Ok::<_, Infallible>(handle(req, &verifier, &counter).await)
                                }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .writev(false)
                                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                                .await;
                        });
                    }
                });
            })
            .expect("tokenreview thread");
        TokenReviewer {
            url: format!("https://{addr}"),
            ca_pem,
            reviewer_jwt: reviewer_jwt.to_string(),
            count,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The PEM of its self-signed certificate (Vault's `kubernetes_ca_cert`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The bearer token Vault is configured to present ("" = the client's own JWT).
    pub fn reviewer_jwt(&self) -> &str {
        &self.reviewer_jwt
    }

    /// How many TokenReviews it has answered (authenticated or not).
    pub fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for TokenReviewer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(code: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

async fn handle(
    req: Request<Incoming>,
    verifier: &Verifier,
    count: &AtomicUsize,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if req.method() == hyper::Method::GET
        && matches!(path.as_str(), "/healthz" | "/readyz" | "/livez")
    {
        return Response::new(Full::new(Bytes::from_static(b"ok")));
    }
    if req.method() != hyper::Method::POST || path != "/apis/authentication.k8s.io/v1/tokenreviews"
    {
        return respond(
            StatusCode::NOT_FOUND,
            status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        );
    }
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    if bearer.is_empty() || verifier.verify(&bearer).is_err() {
        return respond(
            StatusCode::UNAUTHORIZED,
            status(401, "Unauthorized", "Unauthorized"),
        );
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return respond(
                StatusCode::BAD_REQUEST,
                status(400, "BadRequest", "unreadable body"),
            );
        }
    };
    let Ok(review) = serde_json::from_slice::<Value>(&body) else {
        return respond(
            StatusCode::BAD_REQUEST,
            status(400, "BadRequest", "the request body is not a TokenReview"),
        );
    };
    count.fetch_add(1, Ordering::SeqCst);
    respond(StatusCode::CREATED, review_token(&review, verifier))
}

/// The TokenReview answer for `review`, as kube-apiserver fills it.
fn review_token(review: &Value, verifier: &Verifier) -> Value {
    let spec = review.get("spec").cloned().unwrap_or(json!({}));
    let token = spec
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let wanted: Vec<String> = match spec.get("audiences").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => API_AUDIENCES.iter().map(|s| s.to_string()).collect(),
    };
    let status = match verifier.verify(token) {
        Err(e) => json!({"user": {}, "error": format!("invalid bearer token, {e}")}),
        Ok(claims) => {
            let aud: Vec<String> = match claims.get("aud") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                _ => API_AUDIENCES.iter().map(|s| s.to_string()).collect(),
            };
            let inter: Vec<&String> = wanted.iter().filter(|w| aud.contains(w)).collect();
            match (inter.is_empty(), claims.get("kubernetes.io")) {
                (true, _) => json!({"user": {}, "error": format!(
                    "[invalid bearer token, token audiences {aud:?} is invalid for the target audiences {wanted:?}]")}),
                (false, None) => {
                    json!({"user": {}, "error": "invalid bearer token, not a service account token"})
                }
                (false, Some(k)) => {
                    let ns = k["namespace"].as_str().unwrap_or_default();
                    let sa = k["serviceaccount"]["name"].as_str().unwrap_or_default();
                    json!({
                        "authenticated": true,
                        "user": {
                            "username": format!("system:serviceaccount:{ns}:{sa}"),
                            "uid": k["serviceaccount"]["uid"],
                            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"],
                            "extra": {
                                "authentication.kubernetes.io/credential-id": [format!("JTI={}", claims["jti"].as_str().unwrap_or_default())],
                                "authentication.kubernetes.io/pod-name": [k["pod"]["name"]],
                                "authentication.kubernetes.io/pod-uid": [k["pod"]["uid"]],
                                "authentication.kubernetes.io/node-name": [k["node"]["name"]],
                                "authentication.kubernetes.io/node-uid": [k["node"]["uid"]],
                            },
                        },
                        "audiences": inter,
                    })
                }
            }
        }
    };
    let mut out_spec = json!({"token": token});
    if let Some(a) = spec
        .get("audiences")
        .filter(|a| a.as_array().is_some_and(|x| !x.is_empty()))
    {
        out_spec["audiences"] = a.clone();
    }
    json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": out_spec,
        "status": status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn review_shapes_follow_kube_apiserver() {
        let iss = JwtIssuer::new("https://kubernetes.default.svc.cluster.local");
        let v = iss.verifier();
        let t = iss.mint_service_account("ns", "app", &["vault"], Duration::from_secs(60));
        let ok = review_token(&json!({"spec": {"token": t, "audiences": ["vault"]}}), &v);
        assert_eq!(ok["status"]["authenticated"], true);
        assert_eq!(
            ok["status"]["user"]["username"],
            "system:serviceaccount:ns:app"
        );
        assert_eq!(ok["status"]["audiences"], json!(["vault"]));
        let wrong_aud = review_token(&json!({"spec": {"token": t, "audiences": ["other"]}}), &v);
        assert!(wrong_aud["status"].get("authenticated").is_none());
        assert!(
            wrong_aud["status"]["error"]
                .as_str()
                .unwrap()
                .contains("invalid for the target audiences")
        );
        let other = JwtIssuer::new("x").mint_service_account(
            "ns",
            "app",
            &["vault"],
            Duration::from_secs(60),
        );
        let bad = review_token(&json!({"spec": {"token": other}}), &v);
        assert!(
            bad["status"]["error"]
                .as_str()
                .unwrap()
                .contains("invalid signature")
        );
    }
}
