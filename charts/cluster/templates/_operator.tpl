{{/*
What the cluster operator adds to the templates of the g8s-common library
chart (charts/g8s-common), which call the three hooks below: nothing beyond
the kit's runtime settings (operators/cluster reads no settings of its own).
Names g8s.* are this chart's own, g8s-common.* the library's.
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
