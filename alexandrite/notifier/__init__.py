"""The notifier: receives Alertmanager's webhooks, stores them and delivers them to channels."""
