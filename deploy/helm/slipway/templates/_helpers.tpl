{{- define "slipway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "slipway.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "slipway.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "slipway.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "slipway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ .Values.serviceAccount.name | default (include "slipway.fullname" .) }}
{{- else -}}
{{ .Values.serviceAccount.name | default "default" }}
{{- end -}}
{{- end -}}

{{/* slipway.config.yaml: the config from values with the `temporal` section rendered from .Values.temporal. */}}
{{- define "slipway.config" -}}
{{- $t := .Values.temporal -}}
{{- $temporal := dict "address" $t.address "namespace" $t.namespace "taskQueue" $t.taskQueue -}}
{{- with $t.uiUrl }}{{ $_ := set $temporal "uiUrl" . }}{{ end -}}
{{- if $t.tls.enabled -}}
{{- $tls := dict -}}
{{- with $t.tls.serverName }}{{ $_ := set $tls "serverName" . }}{{ end -}}
{{- if and $t.tls.existingSecret $t.tls.caKey }}{{ $_ := set $tls "caCertEnv" "TEMPORAL_TLS_CA" }}{{ end -}}
{{- if and $t.tls.existingSecret $t.tls.certKey }}{{ $_ := set $tls "clientCertEnv" "TEMPORAL_TLS_CERT" }}{{ $_ := set $tls "clientKeyEnv" "TEMPORAL_TLS_KEY" }}{{ end -}}
{{- $_ := set $temporal "tls" $tls -}}
{{- end -}}
{{- if $t.apiKey.existingSecret }}{{ $_ := set $temporal "apiKeyEnv" "TEMPORAL_API_KEY" }}{{ end -}}
{{- $config := deepCopy .Values.config -}}
{{- if and (hasKey $config "repository") (not (dig "repository" "url" "" $config)) }}{{ $_ := unset $config.repository "url" }}{{ end -}}
{{- $_ := set $config "temporal" $temporal -}}
{{ toYaml $config }}
{{- end -}}

{{- define "slipway.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "slipway.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Environment shared by both processes: config, logging, traces, Temporal secrets. */}}
{{- define "slipway.env" -}}
- name: SLIPWAY_CONFIG
  value: /etc/slipway/config/slipway.config.yaml
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- with .Values.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
{{- if .Values.temporal.tls.caKey }}
- name: TEMPORAL_TLS_CA
  value: /etc/slipway/temporal-tls/{{ .Values.temporal.tls.caKey }}
{{- end }}
{{- if .Values.temporal.tls.certKey }}
- name: TEMPORAL_TLS_CERT
  value: /etc/slipway/temporal-tls/{{ .Values.temporal.tls.certKey }}
- name: TEMPORAL_TLS_KEY
  value: /etc/slipway/temporal-tls/{{ .Values.temporal.tls.keyKey }}
{{- end }}
{{- end }}
{{- with .Values.temporal.apiKey.existingSecret }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.temporal.apiKey.key }}
{{- end }}
{{- end -}}

{{- define "slipway.commonVolumeMounts" -}}
- name: config
  mountPath: /etc/slipway/config
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/slipway/temporal-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "slipway.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "slipway.fullname" . }}-config
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.existingSecret }}
    defaultMode: 288 # 0440
{{- end }}
{{- end -}}
