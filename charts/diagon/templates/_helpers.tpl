{{/* The chart's name, at most 63 characters. */}}
{{- define "diagon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: <release>-diagon, or the release name when it holds "diagon". */}}
{{- define "diagon.fullname" -}}
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

{{/* A component's object name: <fullname>-<component>. Call with (list . "auth"). */}}
{{- define "diagon.componentName" -}}
{{- $ctx := index . 0 }}
{{- printf "%s-%s" (include "diagon.fullname" $ctx | trunc 52 | trimSuffix "-") (index . 1) }}
{{- end }}

{{- define "diagon.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels every object carries. */}}
{{- define "diagon.labels" -}}
helm.sh/chart: {{ include "diagon.chart" . }}
{{ include "diagon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: diagon
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "diagon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "diagon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component's objects. Call with (list . "auth"). */}}
{{- define "diagon.componentLabels" -}}
{{ include "diagon.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Selector labels of one component's pods. Call with (list . "auth"). */}}
{{- define "diagon.componentSelectorLabels" -}}
{{ include "diagon.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "diagon.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "diagon.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "diagon.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "diagon.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "diagon.componentName" (list . "operator")) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "diagon.operatorLeaseName" -}}
{{- default (include "diagon.componentName" (list . "operator")) .Values.operator.leaseName }}
{{- end }}

{{/* PodDisruptionBudget's API: policy/v1 from Kubernetes 1.21, policy/v1beta1 before. */}}
{{- define "diagon.pdbApiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "policy/v1") (semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version) -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end }}
{{- end }}

{{/* Postgres and NATS, as every service reads them; the OTLP collector when there is one. */}}
{{- define "diagon.serviceEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgres.existingSecret }}
      key: {{ .Values.postgres.secretKey }}
- name: DIAGON_SCHEMA
  value: {{ .Values.postgres.schema | quote }}
- name: NATS_URL
{{- if .Values.nats.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nats.existingSecret }}
      key: {{ .Values.nats.secretKey }}
{{- else }}
  value: {{ .Values.nats.url | quote }}
{{- end }}
{{- with .Values.telemetry }}
{{- if .otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .otlpEndpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ .otlpProtocol | quote }}
- name: OTEL_METRIC_EXPORT_INTERVAL
  value: {{ .metricExportIntervalMs | toString | quote }}
- name: K8S_POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: K8S_NAMESPACE_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: k8s.pod.name=$(K8S_POD_NAME),k8s.namespace.name=$(K8S_NAMESPACE_NAME)
{{- end }}
{{- end }}
{{- end }}

{{/* A map of variables as EnvVars, then a list of EnvVar objects. Call with (list $map $list). */}}
{{- define "diagon.extraEnv" -}}
{{- range $name, $value := index . 0 }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with index . 1 }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "diagon.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "diagon.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end }}

{{/*
A service key from a Secret. Key files must be readable by their owner only (loadKeyFile
refuses anything else), but the kubelet makes Secret files group-readable when the pod has
an fsGroup: an init container copies the file to an in-memory emptyDir, mode 0600.
Call with (list . "auth" .Values.auth.keySecret).
*/}}
{{- define "diagon.keyFilePath" -}}
/var/run/diagon/keys/{{ index . 1 }}.key
{{- end }}

{{- define "diagon.keyInitContainer" -}}
{{- $ctx := index . 0 }}
{{- $component := index . 1 -}}
- name: {{ $component }}-key
  image: {{ include "diagon.image" $ctx }}
  imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
  command: ["/bin/sh", "-c", 'cp "$0" "$1" && chmod 0600 "$1"']
  args:
    - /var/run/diagon/key-secret/key
    - {{ include "diagon.keyFilePath" . }}
  securityContext:
    {{- include "diagon.containerSecurityContext" $ctx | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {cpu: 100m, memory: 64Mi}
  volumeMounts:
    - name: key-secret
      mountPath: /var/run/diagon/key-secret
      readOnly: true
    - name: keys
      mountPath: /var/run/diagon/keys
{{- end }}

{{- define "diagon.keyVolumes" -}}
{{- $secret := index . 2 -}}
- name: key-secret
  secret:
    secretName: {{ $secret.name }}
    defaultMode: 288 # 0440: group-readable, for fsGroup
    items:
      - key: {{ $secret.key }}
        path: key
- name: keys
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
{{- end }}
