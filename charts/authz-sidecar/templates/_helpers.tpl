{{- define "authz-sidecar.name" -}}{{ .Release.Name }}-authz-sidecar{{- end -}}
{{- define "authz-sidecar.injector" -}}{{ .Release.Name }}-authz-injector{{- end -}}
{{- define "authz-sidecar.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}
{{- define "authz-sidecar.labels" -}}
app.kubernetes.io/name: authz-sidecar
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "authz-sidecar.standaloneSelector" -}}
app.kubernetes.io/name: authz-sidecar
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: standalone
{{- end -}}
{{- define "authz-sidecar.injectorSelector" -}}
app.kubernetes.io/name: authz-sidecar
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: injector
{{- end -}}
{{/* Namespaces the injector never touches: the configured ones and its own. */}}
{{- define "authz-sidecar.excludedNamespaces" -}}
{{- toJson (uniq (append .Values.injector.excludedNamespaces .Release.Namespace)) -}}
{{- end -}}
{{/* The locked-down securityContext every container of this chart runs with. */}}
{{- define "authz-sidecar.securityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities: { drop: [ALL] }
seccompProfile: { type: RuntimeDefault }
{{- end -}}
