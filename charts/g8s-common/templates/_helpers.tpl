{{/*
Helpers of the g8s library chart, used by its object templates (the other
files here) and by each operator chart's own templates. Every template is
called with the operator chart's context, so .Chart is the operator's chart
(g8s-<operator>) and .Values its values.

What differs per operator the operator chart defines in its _operator.tpl,
and the templates here call it: g8s.operatorEnv (its settings as a map of
environment variable: value), g8s.volumeMounts and g8s.volumes (extra mounts
and volumes of the operator pod; may be empty).

Names are fixed (g8s-<operator>), never derived from the release name: one
operator of each kind runs per host cluster, and the other operators, the
docs and the tests refer to these names.
*/}}

{{/* The operator's name: the chart name without "g8s-" (cluster, certificates, ...). */}}
{{- define "g8s-common.operator" -}}
{{- trimPrefix "g8s-" .Chart.Name -}}
{{- end -}}

{{/* The fixed name of the operator's objects: g8s-<operator>. */}}
{{- define "g8s-common.fullname" -}}
{{- .Chart.Name -}}
{{- end -}}

{{/* Labels on every object the chart renders. */}}
{{- define "g8s-common.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: g8s
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* What the operator's Deployment selects (immutable: no version in it). */}}
{{- define "g8s-common.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The operator image; the tag defaults to the chart's appVersion. */}}
{{- define "g8s-common.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The operator container's environment: the kit's runtime settings
(shared/settings.py RuntimeSettings), then the operator's own (g8s.operatorEnv
in the operator chart's _operator.tpl), then .Values.env, which overrides
both. Sorted by name, so a re-render never reorders the pod template (no
needless rollout).
*/}}
{{- define "g8s-common.env" -}}
{{- $env := dict "G8S_NAMESPACES" (join "," .Values.namespaces) -}}
{{- $_ := set $env "G8S_METRICS_PORT" (toString (int .Values.metrics.port)) -}}
{{- $_ = set $env "G8S_METRICS_ADDRESS" .Values.metrics.address -}}
{{- $_ = set $env "G8S_HEALTH_PORT" (toString (int .Values.health.port)) -}}
{{- $_ = set $env "G8S_LOG_FORMAT" .Values.logging.format -}}
{{- $_ = set $env "G8S_LOG_LEVEL" .Values.logging.level -}}
{{- $_ = set $env "G8S_PEERING" (toString .Values.peering.enabled) -}}
{{- $_ = set $env "G8S_RETRY_DELAY" (toString .Values.retry.delay) -}}
{{- $_ = set $env "G8S_MAX_RETRY_DELAY" (toString .Values.retry.maxDelay) -}}
{{- $_ = set $env "G8S_SWEEP_INTERVAL" (toString .Values.retry.sweepInterval) -}}
{{- $_ = set $env "G8S_WORKER_THREADS" (toString (int .Values.concurrency.workerThreads)) -}}
{{- $_ = set $env "G8S_API_QPS" (toString .Values.concurrency.apiQPS) -}}
{{- $_ = set $env "G8S_API_BURST" (toString (int .Values.concurrency.apiBurst)) -}}
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
{{- define "g8s-common.kopfRules" -}}
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
Called with the plural, not the context: include "g8s-common.ownKindRules" "clusters".
*/}}
{{- define "g8s-common.ownKindRules" -}}
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

{{/*
Deleted means gone (shared/teardown.py): before its finalizer goes, an
operator with workloads lists what the workload controllers made from them
(ReplicaSets, pods, a StatefulSet's claims) and the volumes of its claims,
and waits until they are gone. A volume whose name it knows it reads by
name; the others it finds in a listing. The kinds it deletes itself are in
its chart.
*/}}
{{- define "g8s-common.teardownRules" -}}
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [list]
- apiGroups: [""]
  resources: [pods, persistentvolumeclaims]
  verbs: [list]
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, list]
{{- end -}}
