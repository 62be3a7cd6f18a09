{{/*
Prometheus and Alertmanager configurations derived from deploy/prometheus and deploy/alertmanager
(files/ holds symlinks to them): the same jobs, relabelling, rules, routes and inhibitions, with
the loopback targets replaced by the release's pods.
*/}}

{{/* Job name (deploy/prometheus/prometheus.yml) -> the pods and port that serve it here. */}}
{{- define "alexandrite.prometheus.targets" -}}
shop: {components: [shop], port: {{ .Values.services.shop.port }}}
crm: {components: [crm], port: {{ .Values.services.crm.port }}}
mes: {components: [mes], port: {{ .Values.services.mes.port }}}
files: {components: [files], port: {{ .Values.services.files.port }}}
notifier: {components: [notifier], port: {{ .Values.services.notifier.port }}}
otelcol: {components: [collector-agent, collector-gateway], port: {{ .Values.ports.collector.metrics }}}
spanmetrics: {components: [collector-gateway], port: {{ .Values.ports.collector.spanmetrics }}}
rabbitmq: {components: [rabbitmq], port: {{ .Values.ports.rabbitmq.metrics }}}
zipkin: {components: [zipkin], port: {{ .Values.ports.zipkin }}}
prometheus: {components: [prometheus], port: {{ .Values.ports.prometheus }}}
alertmanager: {components: [alertmanager], port: {{ .Values.ports.alertmanager }}}
{{- end -}}

{{- define "alexandrite.prometheus.config" -}}
{{- $local := .Files.Get "files/prometheus/prometheus.yml" | fromYaml -}}
{{- $targets := include "alexandrite.prometheus.targets" . | fromYaml -}}
{{- $jobs := list -}}
{{- range $job := $local.scrape_configs -}}
{{- $target := index $targets $job.job_name -}}
{{- $labels := (index $job.static_configs 0).labels -}}
{{- $relabel := list
  (dict "source_labels" (list "__meta_kubernetes_pod_label_app_kubernetes_io_instance") "regex" $.Release.Name "action" "keep")
  (dict "source_labels" (list "__meta_kubernetes_pod_label_app_kubernetes_io_component") "regex" (join "|" $target.components) "action" "keep")
  (dict "source_labels" (list "__meta_kubernetes_pod_container_port_number") "regex" (toString $target.port) "action" "keep")
  (dict "source_labels" (list "__meta_kubernetes_pod_name") "target_label" "pod")
-}}
{{- range $name, $value := $labels -}}
{{- $relabel = append $relabel (dict "target_label" $name "replacement" $value) -}}
{{- end -}}
{{- $sd := list (dict "role" "pod" "namespaces" (dict "names" (list $.Release.Namespace))) -}}
{{- $jobs = append $jobs (merge (dict "kubernetes_sd_configs" $sd "relabel_configs" $relabel) (omit $job "static_configs")) -}}
{{- end -}}
{{- $alerting := dict "alertmanagers" (list (dict "static_configs" (list (dict "targets" (list (printf "%s-alertmanager:%v" (include "alexandrite.name" .) .Values.ports.alertmanager)))))) -}}
{{- $config := dict "global" $local.global "rule_files" (list "/etc/prometheus/rules/*.yml") "alerting" $alerting "scrape_configs" $jobs -}}
{{- toYaml $config -}}
{{- end -}}

{{/*
The threshold recording rules of one alert profile, from limits.yml: the same output as
alexandrite.ops.alert_thresholds.render_thresholds (a unit test compares the two).
*/}}
{{- define "alexandrite.prometheus.thresholds" -}}
{{- $profiles := (.Files.Get "files/prometheus/limits.yml" | fromYaml).profiles -}}
{{- $profile := .Values.prometheus.alertProfile -}}
{{- if not (hasKey $profiles $profile) -}}
{{- fail (printf "prometheus.alertProfile %q is not a profile of limits.yml" $profile) -}}
{{- end -}}
{{- $limits := mergeOverwrite (deepCopy $profiles.production) (deepCopy (index $profiles $profile)) -}}
{{- $rules := list -}}
{{- range $status, $limit := $limits.order_stuck -}}
{{- $rules = append $rules (dict "record" "alexandrite:threshold:order_stuck_seconds" "expr" (printf "vector(%v)" $limit.seconds) "labels" (dict "status" $status "severity" $limit.severity)) -}}
{{- end -}}
{{- range $name, $value := omit $limits "order_stuck" -}}
{{- $rules = append $rules (dict "record" (printf "alexandrite:threshold:%s" $name) "expr" (printf "vector(%v)" $value)) -}}
{{- end -}}
{{- toYaml (dict "groups" (list (dict "name" (printf "alexandrite-thresholds-%s" $profile) "rules" $rules))) -}}
{{- end -}}

{{- define "alexandrite.alertmanager.config" -}}
{{- $config := .Files.Get "files/alertmanager/alertmanager.yml" | fromYaml -}}
{{- $notifier := printf "http://%s-notifier:%v" (include "alexandrite.name" .) .Values.services.notifier.port -}}
{{- $receivers := list -}}
{{- range $receiver := $config.receivers -}}
{{- $hooks := list -}}
{{- range $hook := $receiver.webhook_configs | default list -}}
{{- $hooks = append $hooks (merge (dict "url" (regexReplaceAll "^http://127\\.0\\.0\\.1:[0-9]+" $hook.url $notifier)) $hook) -}}
{{- end -}}
{{- $receivers = append $receivers (merge (dict "webhook_configs" $hooks) $receiver) -}}
{{- end -}}
{{- $_ := set $config "receivers" $receivers -}}
{{- toYaml $config -}}
{{- end -}}
