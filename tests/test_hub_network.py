"""Tests of dpinpaint.hub_network: the deadline of a whole Hub call and the reachability check."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from dpinpaint.errors import InvalidInputError
from dpinpaint.hub_network import (
    DEADLINE_VARIABLE,
    DEFAULT_DEADLINE,
    call_with_deadline,
    endpoint_reachable,
    hub_deadline,
    is_hub_failure,
    is_transport_error,
)


def test_hub_deadline_reads_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEADLINE_VARIABLE, raising=False)
    assert hub_deadline() == DEFAULT_DEADLINE
    for text, value in (("600", 600.0), (" 0.5 ", 0.5), ("", DEFAULT_DEADLINE)):
        monkeypatch.setenv(DEADLINE_VARIABLE, text)
        assert hub_deadline() == value
    for bad in ("0", "-3", "inf", "nan", "ten"):
        monkeypatch.setenv(DEADLINE_VARIABLE, bad)
        with pytest.raises(InvalidInputError, match=f"{DEADLINE_VARIABLE}='{bad}'"):
            hub_deadline()


def test_call_with_deadline_returns_raises_or_gives_up() -> None:
    assert call_with_deadline(lambda: 42, 5.0) == 42
    with pytest.raises(KeyError, match="gone"):
        call_with_deadline(lambda: {}["gone"], 5.0)  # the call's own exception, unchanged
    release = threading.Event()
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"no answer within 0\.2 s"):
        call_with_deadline(lambda: release.wait(30), 0.2)
    assert time.perf_counter() - start < 5
    release.set()  # the abandoned call ends on its own


def test_endpoint_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert endpoint_reachable(f"http://127.0.0.1:{port}")
    with socket.socket() as probe:  # a port nothing listens on (just freed)
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert not endpoint_reachable(f"http://127.0.0.1:{closed}", timeout=2.0)
    assert endpoint_reachable("not a url")  # cannot tell: let huggingface_hub try
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert endpoint_reachable(f"http://127.0.0.1:{closed}")  # through a proxy the host need not answer


def test_hub_failures_are_told_from_bugs() -> None:
    from huggingface_hub.utils import HfHubHTTPError

    answer = HfHubHTTPError.__new__(HfHubHTTPError)  # an HTTP error answer (its constructor wants a response)

    class ConnectError(Exception):
        pass

    ConnectError.__module__ = "httpx._exceptions"
    assert is_transport_error(ConnectError()) and is_hub_failure(ConnectError())
    assert is_hub_failure(ConnectionResetError()) and is_hub_failure(answer)
    assert not is_hub_failure(KeyError("bug")) and not is_transport_error(ValueError())
