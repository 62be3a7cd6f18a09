{{/*
The Collector's configurations are the local files of deploy/otelcol (read through files/otelcol,
a symlink), unchanged, plus one small file of what differs in a pod; the Collector merges its
--config files in order (maps merged, lists replaced):

  agent (DaemonSet)      agent.yaml + pod.yaml: otlp -> load_balancing by trace id, to the
                         gateway pods by their stable StatefulSet names
  gateway (StatefulSet)  config.yaml + gateway.yaml + pod.yaml: redaction, span metrics, tail
                         sampling, Zipkin with its queue on disk
*/}}

{{/* The gateway pods by name: <sts>-N.<headless>.<namespace>.svc:<otlpGrpc>, as a YAML list. */}}
{{- define "alexandrite.collector.gateways" -}}
{{- $base := include "alexandrite.name" . -}}
{{- $names := list -}}
{{- range $i := until (int .Values.collector.gateway.replicas) -}}
{{- $names = append $names (printf "%s-collector-gateway-%d.%s-collector-gateway-headless.%s.svc:%v" $base $i $base $.Release.Namespace $.Values.ports.collector.otlpGrpc) -}}
{{- end -}}
{{- printf "[%s]" (join ", " $names) -}}
{{- end -}}

{{/* Listen on the pod's address instead of loopback: health, own metrics (both tiers). */}}
{{- define "alexandrite.collector.podCommon" -}}
extensions:
  health_check: {endpoint: "${env:POD_IP}:{{ .Values.ports.collector.health }}"}
service:
  telemetry:
    metrics:
      readers:
        - pull: {exporter: {prometheus: {host: "${env:POD_IP}", port: {{ .Values.ports.collector.metrics }}}}}
{{- end -}}

{{- define "alexandrite.collector.agentPod" -}}
{{- $pod := include "alexandrite.collector.podCommon" . | fromYaml -}}
{{- $receivers := dict "receivers" (dict "otlp" (dict "protocols" (dict "grpc" (dict "endpoint" (printf "${env:POD_IP}:%v" .Values.ports.collector.otlpGrpc))))) -}}
{{- toYaml (mergeOverwrite $pod $receivers) -}}
{{- end -}}

{{- define "alexandrite.collector.gatewayPod" -}}
{{- $pod := include "alexandrite.collector.podCommon" . | fromYaml -}}
{{- $exporters := dict "exporters" (dict "prometheus" (dict "endpoint" (printf "${env:POD_IP}:%v" .Values.ports.collector.spanmetrics))) -}}
{{- toYaml (mergeOverwrite $pod $exporters) -}}
{{- end -}}

{{/* The files of each tier, in --config order: ConfigMap key -> content. */}}
{{- define "alexandrite.collector.agentFiles" -}}
agent.yaml: {{ .Files.Get "files/otelcol/agent.yaml" | toYaml }}
pod.yaml: {{ include "alexandrite.collector.agentPod" . | toYaml }}
{{- end -}}

{{- define "alexandrite.collector.gatewayFiles" -}}
config.yaml: {{ .Files.Get "files/otelcol/config.yaml" | toYaml }}
gateway.yaml: {{ .Files.Get "files/otelcol/gateway.yaml" | toYaml }}
pod.yaml: {{ include "alexandrite.collector.gatewayPod" . | toYaml }}
{{- end -}}
