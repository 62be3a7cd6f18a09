"""Alexandrite: a 3D-printing order platform with end-to-end tracing, monitoring and alerting."""

__version__ = "0.1.0"
