"""The support gateway: the only door to the tracing system (login, roles, audit, Zipkin proxy)."""
