{{/* Names, labels and the values every template shares. */}}

{{- define "alexandrite.name" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of an object; call with (dict "root" $ "component" "shop"). */}}
{{- define "alexandrite.labels" -}}
app.kubernetes.io/name: alexandrite
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "alexandrite.selectorLabels" -}}
app.kubernetes.io/name: alexandrite
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "alexandrite.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "alexandrite.collectorImage" -}}
{{- printf "%s:%s" .Values.collector.image.repository (default .Chart.AppVersion .Values.collector.image.tag) -}}
{{- end -}}

{{- define "alexandrite.secretName" -}}
{{- default (printf "%s-secrets" (include "alexandrite.name" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "alexandrite.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "alexandrite.name" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{/*
A secret value: the one given in values, else the one already in the cluster (so upgrades keep
passwords and the Erlang cookie), else a new random one. Call with
(dict "root" $ "key" "database-password" "value" .Values.secrets.databasePassword).
*/}}
{{- define "alexandrite.secretValue" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace (include "alexandrite.secretName" .root) -}}
{{- if and $existing (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "alexandrite.postgresHost" -}}
{{- if .Values.postgresql.enabled -}}
{{- printf "%s-postgresql" (include "alexandrite.name" .) -}}
{{- else -}}
{{- required "postgresql.external.host is required when postgresql.enabled is false" .Values.postgresql.external.host -}}
{{- end -}}
{{- end -}}

{{- define "alexandrite.postgresPort" -}}
{{- if .Values.postgresql.enabled -}}{{ .Values.ports.postgresql }}{{- else -}}{{ .Values.postgresql.external.port | default .Values.ports.postgresql }}{{- end -}}
{{- end -}}

{{- define "alexandrite.amqpHost" -}}
{{- if .Values.rabbitmq.enabled -}}
{{- printf "%s-rabbitmq" (include "alexandrite.name" .) -}}
{{- else -}}
{{- required "rabbitmq.external.host is required when rabbitmq.enabled is false" .Values.rabbitmq.external.host -}}
{{- end -}}
{{- end -}}

{{- define "alexandrite.amqpPort" -}}
{{- if .Values.rabbitmq.enabled -}}{{ .Values.ports.rabbitmq.amqp }}{{- else -}}{{ .Values.rabbitmq.external.port | default .Values.ports.rabbitmq.amqp }}{{- end -}}
{{- end -}}

{{- define "alexandrite.mysqlHost" -}}
{{- if .Values.zipkin.mysql.external.host -}}
{{- .Values.zipkin.mysql.external.host -}}
{{- else -}}
{{- printf "%s-zipkin-mysql" (include "alexandrite.name" .) -}}
{{- end -}}
{{- end -}}

{{/* The environment prefix of each service's settings class (alexandrite/<service>/settings.py). */}}
{{- define "alexandrite.envPrefix" -}}
{{- upper . -}}
{{- end -}}

{{/* The Python module a service runs (python -m …). */}}
{{- define "alexandrite.module" -}}
{{- printf "alexandrite.%s" . -}}
{{- end -}}

{{/* Pod security shared by the platform's containers: no root, no privilege, read-only root. */}}
{{- define "alexandrite.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/*
The login role that owns a service's database, as locally (alexandrite.ops.postgres_roles and
alexandrite.common.settings.database_owner): alexandrite_<service>, owning its database only;
the gateway's database belongs to alexandrite_gateway_owner, which only the migration Job uses
(the gateway connects as postgresql.gatewayUser). Call with the service's name.
*/}}
{{- define "alexandrite.databaseOwner" -}}
{{- if eq . "gateway" -}}alexandrite_gateway_owner{{- else -}}{{ printf "alexandrite_%s" . }}{{- end -}}
{{- end -}}

{{/* The Secret key of that role's password. Call with the service's name. */}}
{{- define "alexandrite.databasePasswordKey" -}}
{{- if eq . "gateway" -}}gateway-owner-database-password{{- else -}}{{ printf "%s-database-password" . }}{{- end -}}
{{- end -}}
