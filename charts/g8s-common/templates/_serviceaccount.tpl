{{/* The operator's ServiceAccount g8s-<operator>. */}}
{{- define "g8s-common.serviceaccount" -}}
# The identity the operator runs as; its rights are in clusterrole.yaml.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "g8s-common.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "g8s-common.labels" . | nindent 4 }}
    app.kubernetes.io/component: operator
{{- end -}}
