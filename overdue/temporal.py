"""One way to connect to Temporal, with the data converter every client and worker shares."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from overdue.codec import CodecSettings, data_converter
from overdue.settings import TemporalSettings


async def connect(settings: TemporalSettings, *, lazy: bool = False,
                  runtime: Runtime | None = None, codec: CodecSettings | None = None) -> Client:
    """``lazy`` connects on first use, so an API can start (and report unready) while
    Temporal is down. ``runtime`` carries telemetry (the worker's Prometheus endpoint).
    Every payload is encrypted with the process's codec keys (``codec`` overrides them)."""
    from overdue.settings import get_settings

    return await Client.connect(
        settings.address, namespace=settings.namespace,
        data_converter=data_converter(codec or get_settings().codec), lazy=lazy,
        runtime=runtime)


def metrics_runtime(bind_address: str) -> Runtime:
    """A runtime exporting the SDK's metrics and the business counters for Prometheus."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=bind_address, counters_total_suffix=True)))


def is_temporal_unavailable(exc: BaseException) -> bool:
    """A failure to reach Temporal, as opposed to a bug or a rejected request."""
    if isinstance(exc, RPCError):
        return exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
                              RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNKNOWN)
    # A lazy client that cannot connect raises this from the bridge.
    return isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect")
