"""MES API: production jobs (queue, start, complete, fail) and a simulated printer fleet."""
