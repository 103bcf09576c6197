{{/*
What the kvm operator adds to the templates of the g8s-common library chart
(charts/g8s-common), which call the three hooks below: its settings
(operators/kvm/context.py KVMSettings), among them the VM launcher image.
Names g8s.* are this chart's own, g8s-common.* the library's.
*/}}

{{/* The VM launcher image; the tag defaults to the chart's appVersion. */}}
{{- define "g8s.launcherImage" -}}
{{- printf "%s:%s" .Values.launcher.repository (.Values.launcher.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Operator settings (environment variable: value). */}}
{{- define "g8s.operatorEnv" -}}
{{- $kvm := .Values.kvm -}}
G8S_KVM_LAUNCHER_IMAGE: {{ include "g8s.launcherImage" . | quote }}
G8S_KVM_GUEST_CHECKS: {{ toString $kvm.guestChecks | quote }}
G8S_KVM_ACCEL: {{ $kvm.accel | quote }}
G8S_KVM_GUEST_IMAGE_PATH: {{ $kvm.guestImagePath | quote }}
{{- with $kvm.launcherPods.nodeSelector }}
G8S_KVM_NODE_SELECTOR: {{ join "," . | quote }}
{{- end }}
{{- with $kvm.launcherPods.tolerations }}
G8S_KVM_TOLERATIONS: {{ join "," . | quote }}
{{- end }}
{{- with $kvm.imageRegistry }}
G8S_KVM_IMAGE_REGISTRY: {{ . | quote }}
{{- end }}
{{- with $kvm.kubeletURL }}
G8S_KVM_KUBELET_URL: {{ . | quote }}
{{- end }}
G8S_KVM_QEMU_OVERHEAD_MIB: {{ toString (int $kvm.qemuOverheadMiB) | quote }}
G8S_KVM_QEMU_OVERHEAD_MILLICPU: {{ toString (int $kvm.qemuOverheadMilliCPU) | quote }}
G8S_KVM_CPU_ALLOCATION_RATIO: {{ toString $kvm.cpuAllocationRatio | quote }}
G8S_KVM_STORAGE_CLASS: {{ $kvm.storageClass | quote }}
G8S_KVM_HOST_CLUSTER_DOMAIN: {{ $kvm.hostClusterDomain | quote }}
G8S_KVM_GUEST_DNS: {{ $kvm.guestDNS | quote }}
G8S_KVM_SHUTDOWN_TIMEOUT: {{ toString (int $kvm.shutdownTimeout) | quote }}
G8S_KVM_POLL_INTERVAL: {{ toString $kvm.pollInterval | quote }}
G8S_KVM_INTERVAL: {{ toString $kvm.interval | quote }}
{{- end -}}

{{/* Extra volume mounts of the operator container. */}}
{{- define "g8s.volumeMounts" -}}
{{- end -}}

{{/* Extra volumes of the operator pod. */}}
{{- define "g8s.volumes" -}}
{{- end -}}
