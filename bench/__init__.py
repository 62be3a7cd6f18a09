"""Benchmarks of Alexandrite's tracing: what it costs, what the pipeline carries, how fast traces
appear, and how many orders flow through every system (``make bench``; docs/performance.md).

Everything runs against real servers on this machine, on free ports, with databases, a RabbitMQ
virtual host, a Collector and a Zipkin of its own, so the shared stack is neither restarted nor
flooded.
"""
