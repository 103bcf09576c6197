{{/*
The kopf peering object (docs/design.md#names-labels-and-ownership: peering name g8s-<operator>). kopf
does not create it: without it a peering operator does not start handling.
Cluster-wide operators use a ClusterKopfPeering, namespaced ones a
KopfPeering in each namespace they watch. The CRDs are in this library's
crds/kopf-peering.yaml, which helm installs with every operator chart.
*/}}
{{- define "g8s-common.peering" -}}
{{- if .Values.peering.enabled }}
{{- if .Values.namespaces }}
{{- range .Values.namespaces }}
---
apiVersion: kopf.dev/v1
kind: KopfPeering
metadata:
  name: {{ include "g8s-common.fullname" $ }}
  namespace: {{ . }}
  labels:
    {{- include "g8s-common.labels" $ | nindent 4 }}
    app.kubernetes.io/component: operator
{{- end }}
{{- else }}
apiVersion: kopf.dev/v1
kind: ClusterKopfPeering
metadata:
  name: {{ include "g8s-common.fullname" . }}
  labels:
    {{- include "g8s-common.labels" . | nindent 4 }}
    app.kubernetes.io/component: operator
{{- end }}
{{- end }}
{{- end -}}
