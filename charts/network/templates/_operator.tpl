{{/*
What the network operator adds to the templates of the g8s-common library
chart (charts/g8s-common), which call the three hooks below: its settings
(operators/network/context.py NetworkSettings). The host agent's DaemonSet
is in agent-daemonset.yaml. Names g8s.* are this chart's own, g8s-common.*
the library's.
*/}}

{{/* Where the allocation records live: the release namespace unless set. */}}
{{- define "g8s.allocationNamespace" -}}
{{- .Values.network.allocationNamespace | default .Release.Namespace -}}
{{- end -}}

{{/* Operator settings (environment variable: value). */}}
{{- define "g8s.operatorEnv" -}}
{{- $net := .Values.network -}}
G8S_NETWORK_VNI_MIN: {{ toString (int $net.vni.min) | quote }}
G8S_NETWORK_VNI_MAX: {{ toString (int $net.vni.max) | quote }}
G8S_NETWORK_SUBNET_POOL: {{ $net.subnet.pool | quote }}
G8S_NETWORK_SUBNET_PREFIX: {{ toString (int $net.subnet.prefix) | quote }}
G8S_NETWORK_ALLOCATION_NAMESPACE: {{ include "g8s.allocationNamespace" . | quote }}
G8S_NETWORK_ALLOCATION_ATTEMPTS: {{ toString (int $net.allocationAttempts) | quote }}
G8S_NETWORK_HOST_SELECTOR: {{ $net.hostSelector | quote }}
G8S_NETWORK_REQUIRE_HOSTS: {{ toString $net.requireHosts | quote }}
G8S_NETWORK_HOSTS_INTERVAL: {{ toString $net.hostsInterval | quote }}
G8S_NETWORK_APISERVER_PORT: {{ toString (int $net.apiserverPort) | quote }}
G8S_NETWORK_OPERATOR_SELECTOR: {{ $net.operatorSelector | quote }}
{{- end -}}

{{/* Extra volume mounts of the operator container. */}}
{{- define "g8s.volumeMounts" -}}
{{- end -}}

{{/* Extra volumes of the operator pod. */}}
{{- define "g8s.volumes" -}}
{{- end -}}

{{/* What the agent's DaemonSet selects. */}}
{{- define "g8s.agentSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{/*
The agent's environment: the kit's runtime settings (never peering: every
host runs its own agent, and all of them act) and AgentSettings
(operators/network/agent/context.py), then .Values.env.
*/}}
{{- define "g8s.agentEnv" -}}
{{- $agent := .Values.agent -}}
{{- $env := dict "G8S_NAMESPACES" (join "," .Values.namespaces) -}}
{{- $_ := set $env "G8S_METRICS_PORT" (toString (int $agent.metrics.port)) -}}
{{- $_ = set $env "G8S_HEALTH_PORT" (toString (int $agent.health.port)) -}}
{{- $_ = set $env "G8S_LOG_FORMAT" .Values.logging.format -}}
{{- $_ = set $env "G8S_LOG_LEVEL" .Values.logging.level -}}
{{- $_ = set $env "G8S_PEERING" "false" -}}
{{- $_ = set $env "G8S_RETRY_DELAY" (toString .Values.retry.delay) -}}
{{- $_ = set $env "G8S_MAX_RETRY_DELAY" (toString .Values.retry.maxDelay) -}}
{{- $_ = set $env "G8S_SWEEP_INTERVAL" (toString .Values.retry.sweepInterval) -}}
{{- $_ = set $env "G8S_AGENT_HOST_SELECTOR" .Values.network.hostSelector -}}
{{- $_ = set $env "G8S_AGENT_UNDERLAY_INTERFACE" $agent.underlayInterface -}}
{{- $_ = set $env "G8S_AGENT_INTERVAL" (toString $agent.interval) -}}
{{- $env = mergeOverwrite $env (.Values.env | default dict) -}}
- name: POD_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
# The host this agent converges (its Node's name).
- name: G8S_AGENT_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- range $name := keys $env | sortAlpha }}
- name: {{ $name }}
  value: {{ get $env $name | toString | quote }}
{{- end }}
{{- end -}}
