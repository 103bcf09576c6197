{{/*
Helpers shared by the five g8s charts. This file is the same in every chart
(tests/unit/test_charts.py keeps the copies identical); what differs per
operator lives in _operator.tpl.

Names are fixed (g8s-<operator>), never derived from the release name: one
operator of each kind runs per host cluster, and the other operators, the
docs and the tests refer to these names.
*/}}

{{/* The operator's name: the chart name without "g8s-" (cluster, certificates, ...). */}}
{{- define "g8s.operator" -}}
{{- trimPrefix "g8s-" .Chart.Name -}}
{{- end -}}

{{/* The fixed name of the operator's objects: g8s-<operator>. */}}
{{- define "g8s.fullname" -}}
{{- .Chart.Name -}}
{{- end -}}

{{/* Labels on every object the chart renders. */}}
{{- define "g8s.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: g8s
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* What the operator's Deployment selects (immutable: no version in it). */}}
{{- define "g8s.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The operator image; the tag defaults to the chart's appVersion. */}}
{{- define "g8s.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The operator container's environment: the kit's runtime settings
(shared/settings.py RuntimeSettings), then the operator's own (g8s.operatorEnv
in _operator.tpl), then .Values.env, which overrides both. Sorted by name, so
a re-render never reorders the pod template (no needless rollout).
*/}}
{{- define "g8s.env" -}}
{{- $env := dict "G8S_NAMESPACES" (join "," .Values.namespaces) -}}
{{- $_ := set $env "G8S_METRICS_PORT" (toString (int .Values.metrics.port)) -}}
{{- $_ = set $env "G8S_METRICS_ADDRESS" .Values.metrics.address -}}
{{- $_ = set $env "G8S_HEALTH_PORT" (toString (int .Values.health.port)) -}}
{{- $_ = set $env "G8S_LOG_FORMAT" .Values.logging.format -}}
{{- $_ = set $env "G8S_LOG_LEVEL" .Values.logging.level -}}
{{- $_ = set $env "G8S_PEERING" (toString .Values.peering.enabled) -}}
{{- $_ = set $env "G8S_RETRY_DELAY" (toString .Values.retry.delay) -}}
{{- $_ = set $env "G8S_MAX_RETRY_DELAY" (toString .Values.retry.maxDelay) -}}
{{- $env = mergeOverwrite $env (include "g8s.operatorEnv" . | fromYaml) (.Values.env | default dict) -}}
# kopf names this pod's entry in the peering object after it.
- name: POD_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- range $name := keys $env | sortAlpha }}
- name: {{ $name }}
  value: {{ get $env $name | toString | quote }}
{{- end }}
{{- end -}}

{{/*
RBAC rules every kopf operator needs besides its own resources (kopf's
documented needs): Events for its per-object messages, the CRD list to notice
its resource appear, and, when peering, its peering object; a namespaced
operator also lists the namespaces it watches.
*/}}
{{- define "g8s.kopfRules" -}}
# kopf posts Kubernetes Events for handler warnings and errors.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# kopf watches the CRDs, so that a kind installed after the operator is served.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- if .Values.namespaces }}
# kopf lists the namespaces it was told to watch (G8S_NAMESPACES).
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- if .Values.peering.enabled }}
# Peering: each pod writes its keep-alive into the peering object's status
# and watches the others', so that only one pod acts.
- apiGroups: [kopf.dev]
  resources: [{{ if .Values.namespaces }}kopfpeerings{{ else }}clusterkopfpeerings{{ end }}]
  verbs: [get, list, watch, patch]
{{- end }}
{{- end -}}

{{/*
The rules on the operator's own kind: kopf watches it (list, watch), puts its
finalizer and progress annotations on it (patch) and writes its status
(patch on the status subresource). update on <plural>/finalizers lets the
operator set blockOwnerDeletion on the owner references of what it writes,
which the OwnerReferencesPermissionEnforcement admission plugin demands.
*/}}
{{- define "g8s.ownKindRules" -}}
- apiGroups: [g8s.io]
  resources: [{{ . }}]
  verbs: [list, watch, patch]
- apiGroups: [g8s.io]
  resources: [{{ . }}/status]
  verbs: [patch]
- apiGroups: [g8s.io]
  resources: [{{ . }}/finalizers]
  verbs: [update]
{{- end -}}
