"""One way to connect to Temporal, with the data converter every client and worker shares."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from overdue.settings import TemporalSettings


async def connect(settings: TemporalSettings, *, lazy: bool = False) -> Client:
    """``lazy`` connects on first use, so an API can start (and report unready) while
    Temporal is down."""
    return await Client.connect(settings.address, namespace=settings.namespace,
                                data_converter=pydantic_data_converter, lazy=lazy)


def is_temporal_unavailable(exc: BaseException) -> bool:
    """A failure to reach Temporal, as opposed to a bug or a rejected request."""
    if isinstance(exc, RPCError):
        return exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
                              RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNKNOWN)
    # A lazy client that cannot connect raises this from the bridge.
    return isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect")
