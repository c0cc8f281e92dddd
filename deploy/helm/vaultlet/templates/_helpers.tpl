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

{{/* Fixed names the injector binary uses for its shared certificate Secret and its leader Lease. */}}
{{- define "vaultlet.certSecretName" -}}vault-injector-certs{{- end }}
{{- define "vaultlet.leaseName" -}}vault-k8s-leader{{- end }}

{{/* Secret holding the serving certificate in cert-manager mode. */}}
{{- define "vaultlet.certManagerSecretName" -}}
{{- printf "%s-tls" (include "vaultlet.injector" .) }}
{{- end }}

{{/* The TLS mode: "secret" (user-supplied), "certManager" or "auto". */}}
{{- define "vaultlet.tlsMode" -}}
{{- if .Values.certs.secretName -}}
secret
{{- else if .Values.certManager.enabled -}}
certManager
{{- else -}}
auto
{{- end }}
{{- end }}

{{/* "true" when replicas elect a leader for auto-TLS (empty otherwise). */}}
{{- define "vaultlet.leaderElection" -}}
{{- if and .Values.leaderElector.enabled (gt (int .Values.replicas) 1) (eq (include "vaultlet.tlsMode" .) "auto") -}}
true
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
{{- printf "%s,%s.%s,%s.%s.svc" $svc $svc .Release.Namespace $svc .Release.Namespace }}
{{- end }}
