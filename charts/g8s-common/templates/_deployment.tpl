{{/*
The operator's Deployment (one container, python -m operators.<operator>),
hardened: non-root, read-only root filesystem, all capabilities dropped,
RuntimeDefault seccomp. Its environment is g8s-common.env; the chart's
g8s.volumeMounts and g8s.volumes add to /tmp. A chart with more than one
replica must have peering on: the template fails otherwise.
*/}}
{{- define "g8s-common.deployment" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering.enabled) }}
{{- fail "replicas > 1 needs peering.enabled=true: without peering every pod would act on the same objects" }}
{{- end }}
# The operator: python -m operators.<operator> in the g8s operators image.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "g8s-common.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "g8s-common.labels" . | nindent 4 }}
    app.kubernetes.io/component: operator
spec:
  replicas: {{ int .Values.replicas }}
  revisionHistoryLimit: 3
  strategy:
    {{- if .Values.peering.enabled }}
    # Safe with peering: of the old and the new pod only the one with the
    # higher peering priority acts; the other waits, and the new pod acts
    # once the old one has left the peering.
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
    {{- else }}
    # Without peering two pods must never run at once.
    type: Recreate
    {{- end }}
  selector:
    matchLabels:
      {{- include "g8s-common.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "g8s-common.labels" . | nindent 8 }}
        app.kubernetes.io/component: operator
      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "g8s-common.fullname" . }}
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ int .Values.terminationGracePeriodSeconds }}
      {{- with .Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        fsGroup: 65532
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: operator
          image: {{ include "g8s-common.image" . }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          args: [{{ printf "operators.%s" (include "g8s-common.operator" .) | quote }}]
          env:
            {{- include "g8s-common.env" . | nindent 12 }}
          ports:
            - name: metrics
              containerPort: {{ int .Values.metrics.port }}
              protocol: TCP
            - name: health
              containerPort: {{ int .Values.health.port }}
              protocol: TCP
          # kopf's liveness endpoint (shared/runtime.py): it answers while the
          # operator's event loop runs, also while it waits for the peering.
          livenessProbe:
            httpGet:
              path: /healthz
              port: health
            initialDelaySeconds: 10
            periodSeconds: 20
            timeoutSeconds: 5
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /healthz
              port: health
            periodSeconds: 10
            timeoutSeconds: 5
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            runAsNonRoot: true
            capabilities:
              drop: [ALL]
          volumeMounts:
            # The only writable path: temporary files (e.g. a guest kubeconfig).
            - name: tmp
              mountPath: /tmp
            {{- with include "g8s.volumeMounts" . }}
            {{- . | trim | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- with include "g8s.volumes" . }}
        {{- . | trim | nindent 8 }}
        {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
