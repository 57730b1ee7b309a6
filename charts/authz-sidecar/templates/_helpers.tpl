{{- define "authz-sidecar.name" -}}{{ .Release.Name }}-authz-sidecar{{- end -}}
{{- define "authz-sidecar.labels" -}}
app.kubernetes.io/name: authz-sidecar
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{/* The container, shared by the standalone Deployment and by users who paste it into their pods. */}}
{{- define "authz-sidecar.container" -}}
- name: authz-sidecar
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["serve", "--config", "/etc/authz-sidecar/sidecar.yaml"]
  ports:
    - { name: grpc-authz, containerPort: {{ .Values.config.server.grpc.port }} }
    - { name: http-authz, containerPort: {{ .Values.config.server.http.port }} }
    - { name: admin, containerPort: {{ .Values.config.server.admin.port }} }
  readinessProbe:
    httpGet: { path: /readyz, port: admin }
    periodSeconds: 5
  livenessProbe:
    httpGet: { path: /healthz, port: admin }
    periodSeconds: 10
  resources: {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
  env: {{- toYaml .Values.env | nindent 4 }}
  volumeMounts:
    - { name: authz-config, mountPath: /etc/authz-sidecar, readOnly: true }
    - { name: authz-data, mountPath: /var/lib/authz-sidecar }
{{- end -}}
