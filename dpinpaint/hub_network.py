"""The network side of Hub downloads: a deadline for a whole call, and whether the endpoint answers.

huggingface_hub's timeouts are per read; :func:`call_with_deadline` bounds a whole call (retries
and ``Retry-After`` waits included) by :func:`hub_deadline` seconds. :func:`endpoint_reachable`
spares a machine with no network the retries. :func:`is_hub_failure` tells a failure of the Hub
or the network (turned into a :mod:`dpinpaint.errors` exception by :mod:`dpinpaint.hub`) from a bug.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .errors import InvalidInputError

__all__ = [
    "DEADLINE_VARIABLE",
    "DEFAULT_DEADLINE",
    "call_with_deadline",
    "endpoint_reachable",
    "hub_deadline",
    "is_hub_failure",
    "is_transport_error",
]

T = TypeVar("T")


#: The environment variable that sets the deadline of each Hub download, in seconds.
DEADLINE_VARIABLE = "DPINPAINT_HUB_TIMEOUT"
#: Its default: 30 minutes, ample for a few hundred MB of weights on a slow line.
DEFAULT_DEADLINE = 1800.0


def hub_deadline() -> float:
    """Seconds one Hub download may take in all (``DPINPAINT_HUB_TIMEOUT``, default 1800).

    huggingface_hub's own timeouts are per read, so a server that sends a byte every few seconds,
    or answers 503 with ``Retry-After: 3600`` (which it sleeps through), would hold a call for
    hours; this bounds the whole call, retries and waits included.

    Raises:
        InvalidInputError: the variable is not a positive number.
    """
    text = os.environ.get(DEADLINE_VARIABLE)
    if text is None or not text.strip():
        return DEFAULT_DEADLINE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise InvalidInputError(
            f"{DEADLINE_VARIABLE}={text!r}: give the deadline of a Hub download in seconds, e.g. 600"
        )
    return value


def call_with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """``fn()`` in a daemon thread; its result or exception, or :class:`TimeoutError` after ``seconds``.

    A call that times out is abandoned, not killed: it ends on its own (huggingface_hub writes a
    download under a temporary name and renames it only when complete), and as a daemon thread
    it never keeps the process alive.
    """
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # handed to the caller below
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="dpinpaint-hub", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(f"no answer within {seconds:g} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


_PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


def endpoint_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint's host opens within ``timeout`` seconds.

    True whenever a proxy is configured (the host need not be reachable directly then) or the
    address cannot be parsed: the check only spares the retries of a machine with no network.
    """
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return True
    parts = urlsplit(endpoint)
    if not parts.hostname:
        return True
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:  # no route, refused, name not resolved, timed out
        return False


def is_hub_failure(exc: BaseException) -> bool:
    """An HTTP error answer of the Hub, an OS error or a transport error (not a bug)."""
    from huggingface_hub import utils as hf_errors

    return isinstance(exc, hf_errors.HfHubHTTPError | OSError) or is_transport_error(exc)


def is_transport_error(exc: BaseException) -> bool:
    """A network error of the HTTP library under ``huggingface_hub`` (httpx / requests / urllib3)."""
    return type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore", "requests", "urllib3"}
