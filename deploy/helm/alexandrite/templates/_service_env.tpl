{{/*
The environment of one Python service: its settings class reads <PREFIX>_… (see
alexandrite/<service>/settings.py) and the shared telemetry settings ALEXANDRITE_TELEMETRY_….
Passwords come from the Secret and are spliced into URLs with Kubernetes' $(VAR) expansion, so
no password is ever in a ConfigMap. Each service gets only its own database role's password; the
gateway only its runtime role's (never its database owner's). Call with (dict "root" $ "name" "shop" "spec" $spec).
*/}}
{{- define "alexandrite.serviceEnv" -}}
{{- $root := .root -}}
{{- $p := include "alexandrite.envPrefix" .name -}}
{{- $base := include "alexandrite.name" $root -}}
{{- $pg := printf "%s:%s" (include "alexandrite.postgresHost" $root) (include "alexandrite.postgresPort" $root) -}}
{{- if ne .name "gateway" }}
{{- /* The service's own role's password: no service can open another's database. */}}
- name: DB_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "alexandrite.secretName" $root }}, key: {{ include "alexandrite.databasePasswordKey" .name }}}}
{{- end }}
- name: AMQP_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "alexandrite.secretName" $root }}, key: rabbitmq-password}}
- {name: {{ $p }}_MODE, value: {{ $root.Values.mode | quote }}}
- {name: {{ $p }}_HOST, value: "0.0.0.0"}
- {name: {{ $p }}_PORT, value: {{ .spec.port | quote }}}
- {name: {{ $p }}_QUEUE_TYPE, value: {{ $root.Values.rabbitmq.queueType | quote }}}
- name: {{ $p }}_AMQP_URL
  value: {{ printf "amqp://%s:$(AMQP_PASSWORD)@%s:%s/" $root.Values.rabbitmq.user (include "alexandrite.amqpHost" $root) (include "alexandrite.amqpPort" $root) | quote }}
{{- if eq .name "gateway" }}
- name: GATEWAY_DB_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "alexandrite.secretName" $root }}, key: gateway-database-password}}
- name: GATEWAY_DATABASE_URL
  value: {{ printf "postgresql+asyncpg://%s:$(GATEWAY_DB_PASSWORD)@%s/alexandrite_gateway" $root.Values.postgresql.gatewayUser $pg | quote }}
- {name: GATEWAY_TLS_CERT_FILE, value: /etc/alexandrite/tls/tls.crt}
- {name: GATEWAY_TLS_KEY_FILE, value: /etc/alexandrite/tls/tls.key}
- {name: GATEWAY_TLS_CA_FILE, value: /etc/alexandrite/tls/ca.crt}
- {name: GATEWAY_ZIPKIN_URL, value: {{ printf "http://%s-zipkin:%v" $base $root.Values.ports.zipkin | quote }}}
- {name: GATEWAY_SHOP_URL, value: {{ printf "http://%s-shop:%v" $base $root.Values.services.shop.port | quote }}}
{{- else }}
- name: {{ $p }}_DATABASE_URL
  value: {{ printf "postgresql+asyncpg://%s:$(DB_PASSWORD)@%s/alexandrite_%s" (include "alexandrite.databaseOwner" .name) $pg .name | quote }}
{{- end }}
{{- if has .name (list "crm" "mes") }}
- {name: {{ $p }}_FILES_URL, value: {{ printf "http://%s-files:%v" $base $root.Values.services.files.port | quote }}}
{{- end }}
{{- if eq .name "crm" }}
- {name: CRM_AUTO_APPROVE, value: {{ $root.Values.automation.enabled | quote }}}
{{- end }}
{{- if eq .name "mes" }}
- {name: MES_SIMULATE_PRINTERS, value: {{ $root.Values.automation.enabled | quote }}}
- {name: MES_PRINTERS, value: {{ $root.Values.automation.printers | quote }}}
- {name: MES_FAILURE_RATE, value: {{ $root.Values.automation.failureRate | quote }}}
- {name: MES_PRINT_SECONDS_PER_CM3, value: {{ $root.Values.automation.printSecondsPerCm3 | quote }}}
{{- end }}
{{- if eq .name "files" }}
- {name: FILES_STORAGE_DIR, value: /var/lib/alexandrite/models}
{{- end }}
{{- if eq .name "notifier" }}
- {name: NOTIFIER_SHOP_URL, value: {{ printf "http://%s-shop:%v" $base $root.Values.services.shop.port | quote }}}
- {name: NOTIFIER_ZIPKIN_URL, value: {{ printf "http://%s-zipkin:%v/zipkin/" $base $root.Values.ports.zipkin | quote }}}
- {name: NOTIFIER_GATEWAY_URL, value: {{ printf "https://%s-gateway:%v" $base $root.Values.services.gateway.port | quote }}}
{{- end }}
- {name: ALEXANDRITE_STATE_DIR, value: /var/lib/alexandrite/state}
- {name: PYTHONUNBUFFERED, value: "1"}
- {name: PYTHONDONTWRITEBYTECODE, value: "1"}
- {name: ALEXANDRITE_TELEMETRY_ENABLED, value: "true"}
- {name: ALEXANDRITE_TELEMETRY_ENDPOINT, value: {{ printf "https://%s-collector-agent.%s.svc:%v" $base $root.Release.Namespace $root.Values.ports.collector.otlpGrpc | quote }}}
- {name: ALEXANDRITE_TELEMETRY_CA_FILE, value: /etc/alexandrite/tls/ca.crt}
- {name: ALEXANDRITE_TELEMETRY_TOKEN_FILE, value: /etc/alexandrite/secrets/otlp-token}
- {name: ALEXANDRITE_TELEMETRY_ENVIRONMENT, value: {{ $root.Release.Namespace | quote }}}
{{- end -}}
