{{/* The metrics Service g8s-<operator>-metrics, selecting the operator's pods. */}}
{{- define "g8s-common.service" -}}
# The operator's Prometheus endpoint (/metrics). With two replicas both pods
# are endpoints; the one waiting for the peering reports no reconciliations.
apiVersion: v1
kind: Service
metadata:
  name: {{ include "g8s-common.fullname" . }}-metrics
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "g8s-common.labels" . | nindent 4 }}
    app.kubernetes.io/component: operator
  {{- with .Values.metrics.serviceAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: ClusterIP
  selector:
    {{- include "g8s-common.selectorLabels" . | nindent 4 }}
  ports:
    - name: metrics
      port: {{ int .Values.metrics.port }}
      targetPort: metrics
      protocol: TCP
{{- end -}}
