{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "sonde.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart name unless the release already holds it. */}}
{{- define "sonde.fullname" -}}
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

{{- define "sonde.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sonde.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sonde.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sonde.labels" -}}
helm.sh/chart: {{ include "sonde.chart" . }}
{{ include "sonde.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sonde.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sonde.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sonde.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where sonde serves /metrics and /healthz inside the pod. */}}
{{- define "sonde.metricsAddr" -}}
{{- if .Values.metrics.enabled }}0.0.0.0{{ else }}127.0.0.1{{ end }}:{{ .Values.metrics.port | int64 }}
{{- end }}

{{/* The metrics Service exists when asked for, or when a ServiceMonitor needs it. */}}
{{- define "sonde.metricsService" -}}
{{- if and .Values.metrics.enabled (or .Values.metrics.service.enabled .Values.metrics.serviceMonitor.enabled) }}true{{ end }}
{{- end }}

{{/*
The config file (sonde --config): long options one a line, "name = value". Values with a newline
are refused (one option a line).
*/}}
{{- define "sonde.config" -}}
# sonde configuration rendered by the Helm chart {{ include "sonde.chart" . }} (release {{ .Release.Name }}).
# One long option of `sonde --help` a line, without the dashes. Command-line flags win over it.
{{- with .Values.otlp.endpoint }}
otlp-endpoint = {{ . }}
{{- end }}
{{- if and .Values.otlp.headers (not .Values.otlp.headersSecret) }}
otlp-headers = {{ .Values.otlp.headers }}
{{- end }}
{{- if .Values.otlp.headersSecret }}
# otlp-headers: from Secret {{ .Values.otlp.headersSecret }} (env OTEL_EXPORTER_OTLP_HEADERS)
{{- end }}
{{- if .Values.otlp.insecure }}
otlp-insecure
{{- end }}
{{- if eq .Values.otlp.compression "none" }}
no-gzip
{{- end }}
metrics-addr = {{ include "sonde.metricsAddr" . }}
{{- if not .Values.metrics.requests }}
request-metrics = off
{{- end }}
{{- if kindIs "bool" .Values.k8sMetadata }}
k8s = {{ ternary "on" "off" .Values.k8sMetadata }}
{{- else if ne .Values.k8sMetadata "auto" }}
k8s = {{ .Values.k8sMetadata }}
{{- end }}
{{- with .Values.serviceName }}
service-name = {{ . }}
{{- end }}
{{- if .Values.exportQuery }}
export-query
{{- end }}
{{- if not .Values.tls }}
no-tls
{{- end }}
{{- if not .Values.goGrpc }}
no-go-grpc
{{- end }}
{{- range .Values.selection.pids }}
pid = {{ . | int64 }}
{{- end }}
{{- range .Values.selection.ports }}
port = {{ . | int64 }}
{{- end }}
{{- range .Values.selection.exe }}
exe = {{ . }}
{{- end }}
propagation = {{ .Values.propagation }}
{{- with .Values.tcpOptionTo }}
tcp-option-to = {{ join "," . }}
{{- end }}
{{- if ne (int64 .Values.tcpOptionHold) 300 }}
tcp-option-hold = {{ .Values.tcpOptionHold | int64 }}
{{- end }}
{{- if lt (float64 .Values.sampleRatio) 1.0 }}
sample-ratio = {{ .Values.sampleRatio }}
{{- end }}
{{- range .Values.routes }}
route = {{ . }}
{{- end }}
{{- range $k, $v := .Values.extraConfig }}
{{- if kindIs "bool" $v }}
{{- if $v }}
{{ $k }}
{{- end }}
{{- else if kindIs "float64" $v }}
{{ $k }} = {{ $v | int64 }}
{{- else }}
{{ $k }} = {{ $v }}
{{- end }}
{{- end }}
{{- end }}
