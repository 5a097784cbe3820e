"""Live mode: the same Runtime on the wall clock, against a backend (``autoinfra live``).

See ``docs/live.md``: the runner paces the backend, runs each system in turn, starts its own
Prometheus and Alertmanager when none is given, holds capacity-removing actions while telemetry is
stale, and writes a report in the experiment's schema.
"""
