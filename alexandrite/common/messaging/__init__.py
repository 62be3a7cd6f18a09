"""RabbitMQ integration: the event envelope, the topology, the transactional outbox and its
relay, and the idempotent consumer with bounded retries and dead-lettering.

Events leave a service only through its outbox: the unit of work writes them in the same
database transaction as the state change, and the ``OutboxRelay`` publishes them with publisher
confirms, in the trace context of the request that wrote them.
"""
