{{/*
Names, labels and derived settings shared by every template of the chart.
*/}}

{{- define "vaultlet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vaultlet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
vault-helm's helper names, so that vault-helm values written as template strings (its default
injector.affinity and webhook.objectSelector use them) render against this chart's names.
*/}}
{{- define "vault.name" -}}{{ include "vaultlet.name" . }}{{- end }}
{{- define "vault.fullname" -}}{{ include "vaultlet.fullname" . }}{{- end }}
{{- define "vault.namespace" -}}{{ include "vaultlet.namespace" . }}{{- end }}

{{/* Namespace of the namespaced objects: global.namespace, else the release's. */}}
{{- define "vaultlet.namespace" -}}
{{- default .Release.Namespace .Values.global.namespace }}
{{- end }}

{{/* "true" when the injector is installed: injector.enabled, where "-" follows global.enabled. */}}
{{- define "vaultlet.enabled" -}}
{{- $own := toString .Values.injector.enabled -}}
{{- if or (eq $own "true") (and (eq $own "-") (eq (toString .Values.global.enabled) "true")) -}}
true
{{- end }}
{{- end }}

{{/*
vault-helm values this chart cannot honour fail the install with the reason (nothing is dropped
silently). Included once, by the Deployment.
*/}}
{{- define "vaultlet.validate" -}}
{{- if .Values.global.psp.enable }}
{{- fail "global.psp.enable: PodSecurityPolicy was removed in Kubernetes 1.25 and this chart needs 1.29+; use Pod Security Admission and set global.psp.enable=false" }}
{{- end }}
{{- if contains "vault-k8s" .Values.injector.image.repository }}
{{- fail (printf "injector.image.repository is %s: this chart runs vaultlet's injector, not vault-k8s; drop injector.image from the values (or set it to a vaultlet image)" .Values.injector.image.repository) }}
{{- end }}
{{- end }}

{{/* Base name of the injector's objects (vault-helm: <fullname>-agent-injector). */}}
{{- define "vaultlet.injector" -}}
{{- printf "%s-agent-injector" (include "vaultlet.fullname" .) | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/* Value of the app.kubernetes.io/name label of the injector pods. */}}
{{- define "vaultlet.appName" -}}
{{- printf "%s-agent-injector" (include "vaultlet.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vaultlet.serviceName" -}}
{{- printf "%s-svc" (include "vaultlet.injector" .) }}
{{- end }}

{{- define "vaultlet.webhookConfigName" -}}
{{- printf "%s-cfg" (include "vaultlet.injector" .) }}
{{- end }}

{{/* The Secret sharing the auto-TLS certificate and the leader Lease (-tls-auto-secret, -leader-elector-lease). */}}
{{- define "vaultlet.certSecretName" -}}
{{- .Values.injector.leaderElector.secretName | default (printf "%s-certs" (include "vaultlet.injector" .)) }}
{{- end }}
{{- define "vaultlet.leaseName" -}}
{{- .Values.injector.leaderElector.leaseName | default (printf "%s-leader" (include "vaultlet.injector" .)) }}
{{- end }}

{{/* Secret holding the serving certificate in cert-manager mode, and the chart's CA. */}}
{{- define "vaultlet.certManagerSecretName" -}}
{{- printf "%s-tls" (include "vaultlet.injector" .) }}
{{- end }}
{{- define "vaultlet.caName" -}}
{{- printf "%s-ca" (include "vaultlet.injector" .) }}
{{- end }}

{{/* The TLS mode: "secret" (user-supplied), "certManager" or "auto". */}}
{{- define "vaultlet.tlsMode" -}}
{{- if .Values.injector.certs.secretName -}}
secret
{{- else if .Values.injector.certManager.enabled -}}
certManager
{{- else -}}
auto
{{- end }}
{{- end }}

{{/* "true" when replicas elect a leader for auto-TLS (empty otherwise). */}}
{{- define "vaultlet.leaderElection" -}}
{{- if and .Values.injector.leaderElector.enabled (gt (int .Values.injector.replicas) 1) (eq (include "vaultlet.tlsMode" .) "auto") -}}
true
{{- end }}
{{- end }}

{{/* The Vault address: global.externalVaultAddr, injector.externalVaultAddr, else vault-helm's server "vault" in namespace "vault". */}}
{{- define "vaultlet.vaultAddr" -}}
{{- if .Values.global.externalVaultAddr -}}
{{ .Values.global.externalVaultAddr }}
{{- else if .Values.injector.externalVaultAddr -}}
{{ .Values.injector.externalVaultAddr }}
{{- else -}}
{{ ternary "http" "https" (eq (toString .Values.global.tlsDisable) "true") }}://vault.vault.svc:8200
{{- end }}
{{- end }}

{{/* The agent flavor: injector.agentFlavor, else guessed from the agent image's repository. */}}
{{- define "vaultlet.agentFlavor" -}}
{{- $repo := .Values.injector.agentImage.repository -}}
{{- if .Values.injector.agentFlavor -}}
{{ .Values.injector.agentFlavor }}
{{- else if contains "openbao" $repo -}}
openbao
{{- else if or (eq $repo "vault") (hasSuffix "/vault" $repo) -}}
vault
{{- else -}}
vaultlet
{{- end }}
{{- end }}

{{/* The Kubernetes version the templates target. */}}
{{- define "vaultlet.kubeVersion" -}}
{{- .Values.kubeVersionOverride | default .Capabilities.KubeVersion.Version }}
{{- end }}

{{/* "true" when the webhook gets matchConditions (the field exists from Kubernetes 1.28). */}}
{{- define "vaultlet.matchConditions" -}}
{{- if and .Values.injector.webhook.onlyAnnotatedPods (semverCompare ">=1.28-0" (include "vaultlet.kubeVersion" .)) -}}
true
{{- end }}
{{- end }}

{{/*
A value that vault-helm accepts either as YAML or as a string rendered as a template:
(dict "value" <value> "context" $). Renders YAML without a leading newline.
*/}}
{{- define "vaultlet.render" -}}
{{- if typeIs "string" .value -}}
{{- tpl .value .context | trim }}
{{- else -}}
{{- toYaml .value }}
{{- end }}
{{- end }}

{{- define "vaultlet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vaultlet.appName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "vaultlet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "vaultlet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* SANs of the serving certificate: <svc>, <svc>.<ns>, <svc>.<ns>.svc. */}}
{{- define "vaultlet.serviceHosts" -}}
{{- $svc := include "vaultlet.serviceName" . -}}
{{- $ns := include "vaultlet.namespace" . -}}
{{- printf "%s,%s.%s,%s.%s.svc" $svc $svc $ns $svc $ns }}
{{- end }}

{{/*
Other agent injectors seen in the cluster: (dict "deployments" <list> "webhooks" <list> "self" <webhook
configuration name>) -> one line per finding. A Deployment runs vault-k8s when a container's image names
it; a MutatingWebhookConfiguration belongs to another injector when it is not ours and one of its
webhooks is named vault.hashicorp.com. NOTES.txt passes what `lookup` finds.
*/}}
{{- define "vaultlet.foreignInjectors" -}}
{{- range .deployments }}
{{- $d := . }}
{{- range $d.spec.template.spec.containers }}
{{- if contains "vault-k8s" (toString .image) }}
- Deployment {{ $d.metadata.namespace }}/{{ $d.metadata.name }} runs {{ .image }}
{{ end }}
{{- end }}
{{- end }}
{{- range .webhooks }}
{{- $w := . }}
{{- if ne $w.metadata.name $.self }}
{{- range $w.webhooks }}
{{- if eq .name "vault.hashicorp.com" }}
- MutatingWebhookConfiguration {{ $w.metadata.name }} also registers vault.hashicorp.com
{{ end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
