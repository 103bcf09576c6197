{{/*
What the etcd operator adds to the templates of the g8s-common library chart
(charts/g8s-common), which call the three hooks below: its settings
(operators/etcd/context.py EtcdSettings) and the backup store's volume.
Names g8s.* are this chart's own, g8s-common.* the library's.
*/}}

{{- define "g8s.backupRoot" -}}
/var/lib/g8s/etcd-backups
{{- end -}}

{{/* Operator settings (environment variable: value). */}}
{{- define "g8s.operatorEnv" -}}
{{- $etcd := .Values.etcd -}}
G8S_ETCD_PROBE_MEMBERS: {{ toString $etcd.probeMembers | quote }}
{{- with $etcd.image }}
G8S_ETCD_IMAGE: {{ . | quote }}
{{- end }}
{{- with $etcd.members.nodeSelector }}
G8S_ETCD_NODE_SELECTOR: {{ join "," . | quote }}
{{- end }}
{{- with $etcd.members.tolerations }}
G8S_ETCD_TOLERATIONS: {{ join "," . | quote }}
{{- end }}
G8S_ETCD_UNHEALTHY_TIMEOUT: {{ toString $etcd.unhealthyTimeout | quote }}
G8S_ETCD_ETCD_TIMEOUT: {{ toString $etcd.requestTimeout | quote }}
G8S_ETCD_REQUEUE_DELAY: {{ toString $etcd.requeueDelay | quote }}
G8S_ETCD_INTERVAL: {{ toString $etcd.interval | quote }}
{{- if $etcd.backup.claimName }}
G8S_ETCD_BACKUP_ROOT: {{ include "g8s.backupRoot" . | quote }}
{{- end }}
G8S_ETCD_BACKUP_CLAIM: {{ $etcd.backup.memberClaim | quote }}
{{- end -}}

{{/* Extra volume mounts of the operator container. */}}
{{- define "g8s.volumeMounts" -}}
{{- if .Values.etcd.backup.claimName }}
- name: backups
  mountPath: {{ include "g8s.backupRoot" . }}
{{- end }}
{{- end -}}

{{/* Extra volumes of the operator pod. */}}
{{- define "g8s.volumes" -}}
{{- if .Values.etcd.backup.claimName }}
- name: backups
  persistentVolumeClaim:
    claimName: {{ .Values.etcd.backup.claimName }}
{{- end }}
{{- end -}}
