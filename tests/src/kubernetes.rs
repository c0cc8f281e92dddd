//! One kubernetes-auth world, as an injected agent meets it: an OpenBao dev server whose
//! `kubernetes` auth method (at `auth/kubernetes`) asks the TokenReview stand-in about the
//! service-account tokens a [`JwtIssuer`] mints, plus roles (and their policies) and tokens.
//! Every test that logs in with `kubernetes` auth starts from here.

use std::time::Duration;

use serde_json::Value;

use crate::{JwtIssuer, OpenBao, TokenReviewer};

/// The in-cluster API server: the service-account tokens' issuer and default audience.
pub const KUBERNETES_API: &str = "https://kubernetes.default.svc.cluster.local";

/// A running kubernetes-auth world; everything stops when it drops.
pub struct KubernetesAuth {
    pub bao: OpenBao,
    /// Signs the service-account tokens (the cluster's key).
    pub issuer: JwtIssuer,
    /// The TokenReview stand-in the auth method calls; counts the reviews.
    pub reviewer: TokenReviewer,
}

impl KubernetesAuth {
    /// The auth method's mount, upstream's default (`auth/kubernetes`).
    pub const MOUNT: &'static str = "kubernetes";

    /// Starts the server and the TokenReview stand-in and enables the auth method, which reviews
    /// with a token of `kube-system/vault-reviewer`. No roles yet: see [`KubernetesAuth::role`].
    pub fn start() -> KubernetesAuth {
        Self::start_on(OpenBao::start())
    }

    /// [`KubernetesAuth::start`] on a server already running (e.g. [`OpenBao::start_raft`]).
    pub fn start_on(bao: OpenBao) -> KubernetesAuth {
        let issuer = JwtIssuer::new(KUBERNETES_API);
        let reviewer_jwt = issuer.mint_service_account(
            "kube-system",
            "vault-reviewer",
            &[KUBERNETES_API],
            Duration::from_secs(3600),
        );
        let reviewer = TokenReviewer::start(&issuer, &reviewer_jwt);
        bao.enable_kubernetes_auth(Self::MOUNT, &reviewer);
        KubernetesAuth {
            bao,
            issuer,
            reviewer,
        }
    }

    /// Role `role` for service account `service_account` of `namespace`. With `policy` (HCL), a
    /// policy named as the role is written and is the role's policy; without, the role has only
    /// `default`. `extra` (an object) is merged into the role body (`ttl`, `token_ttl`, …).
    pub fn role(
        &self,
        role: &str,
        namespace: &str,
        service_account: &str,
        policy: Option<&str>,
        extra: Value,
    ) {
        let policies = match policy {
            Some(hcl) => {
                self.bao.write_policy(role, hcl);
                [role]
            }
            None => ["default"],
        };
        self.bao.kubernetes_role(
            Self::MOUNT,
            role,
            &[service_account],
            &[namespace],
            &policies,
            extra,
        );
    }

    /// A token of `namespace/service_account` as the kubelet projects it into a pod: audience
    /// the API server, valid for an hour.
    pub fn jwt(&self, namespace: &str, service_account: &str) -> String {
        self.issuer.mint_service_account(
            namespace,
            service_account,
            &[KUBERNETES_API],
            Duration::from_secs(3600),
        )
    }
}
