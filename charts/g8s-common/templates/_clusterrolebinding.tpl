{{/* The ClusterRoleBinding g8s-<operator>: the chart's ClusterRole to its ServiceAccount. */}}
{{- define "g8s-common.clusterrolebinding" -}}
# Grants the operator's ClusterRole to its ServiceAccount.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ include "g8s-common.fullname" . }}
  labels:
    {{- include "g8s-common.labels" . | nindent 4 }}
    app.kubernetes.io/component: operator
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ include "g8s-common.fullname" . }}
subjects:
  - kind: ServiceAccount
    name: {{ include "g8s-common.fullname" . }}
    namespace: {{ .Release.Namespace }}
{{- end -}}
