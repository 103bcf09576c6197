{{/*
What the cluster operator adds to the shared templates: nothing beyond the
kit's runtime settings (operators/cluster reads no settings of its own).
*/}}

{{/* Operator settings (environment variable: value). */}}
{{- define "g8s.operatorEnv" -}}
{}
{{- end -}}

{{/* Extra volume mounts of the operator container. */}}
{{- define "g8s.volumeMounts" -}}
{{- end -}}

{{/* Extra volumes of the operator pod. */}}
{{- define "g8s.volumes" -}}
{{- end -}}
