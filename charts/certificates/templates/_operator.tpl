{{/*
What the certificates operator adds to the templates of the g8s-common
library chart (charts/g8s-common), which call the three hooks below: its
Vault and PKI settings (operators/certificates/context.py
CertificatesSettings) and, with token auth, the token file; with a private
CA, Vault's CA bundle. Names g8s.* are this chart's own, g8s-common.* the
library's.
*/}}

{{- define "g8s.vaultTokenSecret" -}}
{{- if .Values.vault.token.secretName -}}
{{- .Values.vault.token.secretName -}}
{{- else if .Values.vault.token.value -}}
{{- include "g8s-common.fullname" . }}-vault-token
{{- else -}}
{{- fail "vault.auth=token needs vault.token.secretName (a Secret with key token) or vault.token.value" -}}
{{- end -}}
{{- end -}}

{{/* Operator settings (environment variable: value). */}}
{{- define "g8s.operatorEnv" -}}
{{- $vault := .Values.vault -}}
G8S_VAULT_ADDR: {{ $vault.address | quote }}
G8S_VAULT_AUTH: {{ $vault.auth | quote }}
{{- if eq $vault.auth "token" }}
G8S_VAULT_TOKEN_FILE: /var/run/secrets/g8s/vault-token/token
{{- else }}
G8S_VAULT_KUBERNETES_ROLE: {{ $vault.kubernetes.role | quote }}
G8S_VAULT_KUBERNETES_MOUNT: {{ $vault.kubernetes.mount | quote }}
{{- end }}
{{- if $vault.caSecret }}
G8S_VAULT_CA_FILE: /var/run/secrets/g8s/vault-ca/ca.crt
{{- end }}
G8S_VAULT_TIMEOUT: {{ toString $vault.timeout | quote }}
G8S_VAULT_PARALLELISM: {{ toString (int $vault.parallelism) | quote }}
G8S_PKI_MOUNT_PREFIX: {{ .Values.pki.mountPrefix | quote }}
G8S_PKI_CA_TTL: {{ .Values.pki.caTTL | quote }}
G8S_PKI_MAX_TTL: {{ .Values.pki.maxTTL | quote }}
G8S_PKI_CA_KEY_TYPE: {{ .Values.pki.caKeyType | quote }}
G8S_RENEWAL_CHECK_INTERVAL: {{ toString .Values.renewalCheckInterval | quote }}
{{- end -}}

{{/* Extra volume mounts of the operator container. */}}
{{- define "g8s.volumeMounts" -}}
{{- if eq .Values.vault.auth "token" }}
- name: vault-token
  mountPath: /var/run/secrets/g8s/vault-token
  readOnly: true
{{- end }}
{{- if .Values.vault.caSecret }}
- name: vault-ca
  mountPath: /var/run/secrets/g8s/vault-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Extra volumes of the operator pod. */}}
{{- define "g8s.volumes" -}}
{{- if eq .Values.vault.auth "token" }}
# Read on every login, so a rotated token is picked up without a restart.
- name: vault-token
  secret:
    secretName: {{ include "g8s.vaultTokenSecret" . }}
    defaultMode: 0400
    items:
      - key: token
        path: token
{{- end }}
{{- if .Values.vault.caSecret }}
- name: vault-ca
  secret:
    secretName: {{ .Values.vault.caSecret }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}
