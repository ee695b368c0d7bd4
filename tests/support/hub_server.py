"""A fake Hugging Face Hub on 127.0.0.1 for tests, spoken to by the real ``huggingface_hub`` client.

``FakeHub`` keeps model repos in memory (branches, tags and immutable commits) and answers the plain-HTTP
protocol that ``huggingface_hub`` 2.4.0 uses; it never sends Xet headers, so every download is a plain
HTTP transfer and ``hf_xet`` is never involved. Two ``ThreadingHTTPServer`` listen on ephemeral ports:

* ``hub.endpoint`` ("huggingface.co"): ``/{repo}/resolve/{rev}/{path}`` (HEAD/GET), ``/api/models/...``
  (model info, tree, refs, paths-info, preupload, commit), ``/api/repos/create``, ``/api/whoami-v2`` and the
  LFS batch API ``/{repo}.git/info/lfs/objects/{batch,verify}``;
* ``hub.cdn_endpoint`` (the CDN / S3 bucket): signed LFS downloads (``/lfs/{sha256}``, ``Range`` supported)
  and LFS "basic" uploads (``PUT /upload/{sha256}?ticket=...``).

The CDN has to be a different *origin* (another port): on HEAD the client follows redirects that stay on
the same origin and would then read the file metadata from the CDN answer. With a separate origin, the
HEAD stops at the ``302`` of ``/resolve`` which carries ``X-Repo-Commit``, ``X-Linked-Etag`` (sha256),
``X-Linked-Size`` and ``Location``, exactly as on the real Hub. The client then GETs ``Location`` without the
``Authorization`` header.

What the server answers (mirrors the real Hub as ``utils/_http.py::hf_raise_for_status`` expects it):

* LFS files (``*.safetensors``, ``*.bin``, ``*.pt``... or ``size >= lfs_threshold``): ``302`` to the CDN,
  blob ETag = sha256. Regular files: ``200`` with ``ETag: "<git blob sha1>"`` and ``X-Repo-Commit``.
* missing / private repo: ``401`` (anonymous) or ``404`` (with a token), ``X-Error-Code: RepoNotFound``;
  gated repo: ``401`` (anonymous) or ``403`` (token without access), ``X-Error-Code: GatedRepo``; unknown
  revision: ``404 RevisionNotFound``; unknown file: ``404 EntryNotFound`` (with ``X-Repo-Commit``, so the
  client caches the non-existence in ``.no_exist``). ``X-Error-Message`` and a JSON ``{"error": ...}`` body
  carry the message. Writes need ``Authorization: Bearer hf_...`` (any such token).

What the client raises (huggingface_hub 2.4.0, all in ``huggingface_hub.errors``):

* cold cache while offline (``HF_HUB_OFFLINE`` / ``set_offline``) or ``local_files_only=True``:
  ``LocalEntryNotFoundError`` (a ``FileNotFoundError``); a warm cache is served without any request;
* missing repo: ``RepositoryNotFoundError``; gated repo without (or with a refused) token: ``GatedRepoError``
  (a subclass of ``RepositoryNotFoundError``, so compare exact types); missing revision:
  ``RevisionNotFoundError``; missing file: ``RemoteEntryNotFoundError`` (an ``EntryNotFoundError``);
* truncated body: ``http_get`` catches ``httpx2.RemoteProtocolError`` and retries after ``time.sleep(1)``,
  up to 5 times in a row without progress, so a *single* drop is invisible to the caller. It reads the body
  in ``constants.DOWNLOAD_CHUNK_SIZE`` (10 MB) pieces and the bytes of an unfinished piece are lost: for a
  file under 10 MB the retry starts again from byte 0 without ``Range``; with a small chunk size patched in
  (or a file above 10 MB) it resumes with ``Range: bytes=N-`` (answered ``206``). A persistent drop
  (``truncate_next_download(..., times=None)``) makes ``hf_hub_download`` raise ``httpx2.RemoteProtocolError``
  after 6 attempts; the partial ``blobs/<etag>.<random>.incomplete`` file is deleted and no snapshot entry is
  created. ``skip_retry_sleeps`` removes the client's retry sleeps so such tests stay fast.

Using the server in-process: ``huggingface_hub.constants`` reads the environment once, at import time, so
setting ``HF_ENDPOINT`` afterwards has no effect. ``patch_hub_endpoint`` (or the ``fake_hub_env`` context)
patches, besides the environment variables (for subprocesses):

* ``constants.ENDPOINT`` and ``constants.HUGGINGFACE_CO_URL_TEMPLATE`` (``hf_hub_url`` builds the download
  URL from the template, ``HfApi()`` and ``snapshot_download`` read ``ENDPOINT`` at call time);
* ``huggingface_hub.hf_api.api.endpoint``: the module-level ``HfApi`` behind ``huggingface_hub.model_info``,
  ``create_repo``, ``upload_folder``... was built at import time;
* ``constants.HF_HUB_CACHE`` (default ``cache_dir``), ``constants.HF_HUB_OFFLINE = False`` (read at call time
  through ``constants.is_offline_mode()``), ``constants.HF_HUB_DISABLE_XET = True`` (otherwise uploads go
  through Xet whenever ``hf_xet`` is installed: there is no server-side negotiation),
  ``constants.HF_HUB_DISABLE_TELEMETRY = True`` (otherwise the user agent code fetches
  ``{ENDPOINT}/api/agent-harnesses``), ``constants.HF_HUB_DISABLE_IMPLICIT_TOKEN = True`` plus ``HF_TOKEN``
  unset and ``constants.HF_TOKEN_PATH`` moved (so the machine's token is never sent), and
  ``constants.HF_HUB_ETAG_TIMEOUT`` / ``constants.HF_HUB_DOWNLOAD_TIMEOUT`` (small timeouts).

A subprocess needs no patching: ``HF_ENDPOINT=http://127.0.0.1:PORT HF_HOME=<tmp>`` is enough for downloads
(see ``subprocess_env``); uploads also need ``HF_HUB_DISABLE_XET=1``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

__all__ = [
    "FakeHub",
    "RequestRecord",
    "fake_hub_env",
    "git_blob_sha1",
    "patch_hub_endpoint",
    "set_offline",
    "skip_retry_sleeps",
    "subprocess_env",
]

# Suffixes stored with Git LFS by the default `.gitattributes` of a new Hub repo (subset).
LFS_SUFFIXES = frozenset(
    {
        ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gz", ".h5", ".joblib", ".mlmodel", ".model",
        ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet", ".pb", ".pickle", ".pkl", ".pt", ".pth",
        ".rar", ".safetensors", ".tar", ".tflite", ".tgz", ".wasm", ".xz", ".zip", ".zst",
    }
)  # fmt: skip
DEFAULT_LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub stores files above 10 MB with LFS
_GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in sorted(LFS_SUFFIXES))
_API_KEYWORDS = frozenset({"revision", "tree", "refs", "paths-info", "preupload", "commit", "xet-read-token",
                           "xet-write-token", "branch", "tag", "resolve"})  # fmt: skip
_ENV_TO_CLEAR = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_OIDC_ID_TOKEN", "HF_HUB_OFFLINE",
                 "TRANSFORMERS_OFFLINE", "HUGGINGFACE_CO_STAGING", "HF_HUB_ENABLE_HF_TRANSFER",
                 "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "HF_TOKEN_PATH")  # fmt: skip
_CHUNK = 64 * 1024


def git_blob_sha1(data: bytes) -> str:
    """The git object id of ``data`` stored as a blob (the ETag the Hub gives regular files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class _Blob:
    data: bytes
    lfs: bool
    sha256: str
    git_sha1: str

    @classmethod
    def make(cls, data: bytes, lfs: bool) -> _Blob:
        return cls(data, lfs, hashlib.sha256(data).hexdigest(), git_blob_sha1(data))

    @property
    def pointer(self) -> bytes:
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n"
        ).encode()

    @property
    def oid(self) -> str:
        """Git object id as listed in the tree: the pointer's for LFS files."""
        return git_blob_sha1(self.pointer) if self.lfs else self.git_sha1

    def tree_entry(self, path: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": self.oid, "size": len(self.data), "path": path}
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": len(self.pointer)}
        return entry


@dataclass
class _Commit:
    sha: str
    parent: str | None
    files: dict[str, _Blob]
    message: str
    date: str


@dataclass
class _Repo:
    repo_id: str
    private: bool
    gated: bool
    tokens: set[str]
    created_at: str
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        if revision.startswith("refs/heads/") and revision[11:] in self.branches:
            return self.branches[revision[11:]]
        if revision in self.commits:
            return revision
        return None


@dataclass(frozen=True)
class RequestRecord:
    """One request seen by the fake Hub (``server`` is ``"hub"`` or ``"cdn"``)."""

    server: str
    method: str
    path: str  # URL-decoded path, without the query string
    query: str
    status: int
    filename: str | None  # path in the repo for /resolve and CDN requests
    range: str | None  # the Range request header
    authorization: str | None  # the Authorization request header
    body_bytes: int  # response body bytes the server wrote (fewer when a fault truncates the body)


@dataclass
class _Truncation:
    fraction: float
    remaining: int | None  # None: until clear_faults()


class _HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, hub: FakeHub, role: str) -> None:
        self.hub = hub
        self.role = role
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:  # HTTPServer.server_bind would call socket.getfqdn (a DNS lookup)
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close the kept-alive connections so that their handler threads end now."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet on client disconnects
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections end by themselves
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- plumbing -------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        self._recorded = False
        self._filename: str | None = None
        split = urlsplit(self.path)
        self._raw_path = split.path
        self._query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        try:
            self._body = self._read_body()
            self.server.hub._route(self)
        except _HttpError as err:
            self._send_error(err)
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception as err:  # a bug in the fake: make it visible in the client error
            if self._recorded:  # the response has started: only the connection can be dropped
                self.close_connection = True
            else:
                self._send_error(_HttpError(500, f"FakeHub internal error: {type(err).__name__}: {err}"))
        finally:
            self._record(0, 0)  # no-op if a response was started

    def _record(self, status: int, body_bytes: int) -> None:
        """Log the request once, *before* the response is written: the client may act on it immediately."""
        if self._recorded:
            return
        self._recorded = True
        split = urlsplit(self.path)
        self.server.hub._log(
            RequestRecord(
                server=self.server.role,
                method=self.command,
                path=unquote(split.path),
                query=split.query,
                status=status,
                filename=self._filename,
                range=self.headers.get("Range"),
                authorization=self.headers.get("Authorization"),
                body_bytes=body_bytes,
            )
        )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _start_response(self, status: int, headers: Mapping[str, str], body_bytes: int) -> None:
        self._record(status, body_bytes)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _send(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        all_headers = {"Content-Type": "text/plain; charset=utf-8", "X-Request-Id": uuid.uuid4().hex}
        all_headers.update(headers or {})
        all_headers["Content-Length"] = str(len(body))
        if self.command == "HEAD":
            body = b""
        self._start_response(status, all_headers, len(body))
        if body:
            self.wfile.write(body)

    def _send_json(self, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _send_error(self, err: _HttpError) -> None:
        header_message = " ".join(err.message.split()).encode("ascii", "replace").decode()
        headers = {"Content-Type": "application/json", "X-Error-Message": header_message, **err.headers}
        if err.code is not None:
            headers["X-Error-Code"] = err.code
        with contextlib.suppress(OSError):
            self._send(err.status, json.dumps({"error": err.message}).encode(), headers)

    def _send_bytes(self, data: bytes, filename: str, headers: Mapping[str, str]) -> None:
        """Serve ``data`` with Range support and the truncation faults registered for ``filename``."""
        total = len(data)
        start, end, status = 0, total - 1, 200
        name = quote(PurePosixPath(filename).name)
        all_headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"inline; filename*=UTF-8''{name}; filename=\"{name}\";",
            **headers,
        }
        range_header = self.headers.get("Range")
        parsed = _parse_range(range_header, total) if range_header else None
        if isinstance(parsed, str):
            raise _HttpError(416, "Requested Range Not Satisfiable", headers={"Content-Range": f"bytes */{total}"})
        if parsed is not None:
            start, end = parsed
            status = 206
            all_headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        body = data[start : end + 1]
        all_headers["Content-Length"] = str(len(body))  # always the full length, even when truncating
        fault = None
        if self.command == "HEAD":
            body = b""
        else:
            fault = self.server.hub._take_fault(filename)
        if fault is not None:
            # The connection dies once byte offset `fraction * total` of the file has been sent.
            body = body[: max(0, int(total * fault) - start)]
            self.close_connection = True
        self._start_response(status, all_headers, len(body))
        for offset in range(0, len(body), _CHUNK):
            self.wfile.write(body[offset : offset + _CHUNK])
        self.wfile.flush()
        if fault is not None:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


def _parse_range(header: str, total: int) -> tuple[int, int] | str | None:
    """``(start, end)`` of a single ``bytes=`` range, ``"invalid"`` if unsatisfiable, None to ignore it."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if not first:
            length = int(last)
            if length <= 0:
                return "invalid"
            return max(0, total - length), total - 1
        start = int(first)
        end = min(int(last), total - 1) if last else total - 1
    except ValueError:
        return None
    if start >= total or start > end:
        return "invalid"
    return start, end


def _bearer(headers: Any) -> str | None:
    value = headers.get("Authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else value


class FakeHub:
    """In-memory model repos served over HTTP on 127.0.0.1 (see the module docstring for the protocol).

    Use as a context manager (or call ``close()``). Thread-safe: the store is guarded by one lock.
    """

    def __init__(self, *, lfs_threshold: int = DEFAULT_LFS_THRESHOLD) -> None:
        self.lfs_threshold = lfs_threshold
        self._lock = threading.RLock()
        self._repos: dict[str, _Repo] = {}
        self._objects: dict[str, bytes] = {}  # every file content by sha256 (LFS storage)
        self._tickets: dict[str, tuple[str, int]] = {}  # upload ticket -> (sha256, size)
        self._faults: dict[str, _Truncation] = {}
        self._header_faults: dict[str, dict[str, str]] = {}
        self._requests: list[RequestRecord] = []
        self._secret = uuid.uuid4().hex.encode()
        self._counter = 0
        self._closed = False
        self._servers = [_Server(self, "hub"), _Server(self, "cdn")]
        self._threads = [
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                             name=f"FakeHub-{srv.role}")
            for srv in self._servers
        ]  # fmt: skip
        for thread in self._threads:
            thread.start()

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """Base URL to use as ``HF_ENDPOINT``, e.g. ``http://127.0.0.1:54321``."""
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def cdn_endpoint(self) -> str:
        """Base URL of the CDN / LFS storage origin (another port)."""
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def close(self) -> None:
        """Stop both servers and drop the open connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for srv in self._servers:
            srv.shutdown()
        for srv in self._servers:
            srv.drop_connections()
            srv.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- repo store ------------------------------------------------------------------------------
    def is_lfs(self, path: str, size: int) -> bool:
        """Whether a file is stored with LFS (served through the CDN, ETag = sha256)."""
        return PurePosixPath(path).suffix.lower() in LFS_SUFFIXES or size >= self.lfs_threshold

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str] | str | os.PathLike[str],
        *,
        branch: str = "main",
        gated: bool = False,
        private: bool = False,
        token: str | None = None,
    ) -> str:
        """Create a model repo whose first commit on ``branch`` holds ``files`` (a dict or a folder); returns its sha.

        ``token`` is granted access to a gated or private repo (see also ``grant_access``).
        """
        with self._lock:
            if repo_id in self._repos:
                raise ValueError(f"repo {repo_id!r} already exists")
            repo = _Repo(repo_id, private, gated, {token} if token else set(), _now_iso())
            self._repos[repo_id] = repo
            return self._new_commit(repo, branch, self._blobs(files), message="Initial commit", base=None)

    def add_commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str] | str | os.PathLike[str],
        *,
        branch: str = "main",
        delete: tuple[str, ...] | list[str] = (),
        message: str = "Update files",
    ) -> str:
        """Commit ``files`` (added or replaced) and ``delete`` (removed) on ``branch``; returns the new sha.

        A new branch starts from the head of ``main``. Older commits stay resolvable by their sha.
        """
        with self._lock:
            repo = self._repo(repo_id)
            base = repo.branches.get(branch) or repo.branches.get("main")
            tree = dict(repo.commits[base].files) if base else {}
            for path in delete:
                tree.pop(path)
            tree.update(self._blobs(files))
            return self._new_commit(repo, branch, tree, message=message, base=base)

    def add_tag(self, repo_id: str, tag: str, revision: str = "main") -> str:
        """Point ``tag`` at ``revision``; returns the commit sha."""
        with self._lock:
            repo = self._repo(repo_id)
            sha = repo.resolve(revision)
            if sha is None:
                raise ValueError(f"unknown revision {revision!r}")
            repo.tags[tag] = sha
            return sha

    def grant_access(self, repo_id: str, token: str) -> None:
        """Let ``token`` read a gated or private repo."""
        with self._lock:
            self._repo(repo_id).tokens.add(token)

    def head(self, repo_id: str, revision: str = "main") -> str:
        """The commit sha ``revision`` currently resolves to."""
        with self._lock:
            sha = self._repo(repo_id).resolve(revision)
            if sha is None:
                raise ValueError(f"unknown revision {revision!r}")
            return sha

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of ``repo_id`` at ``revision`` (e.g. to check what a push committed)."""
        with self._lock:
            repo = self._repo(repo_id)
            return {path: blob.data for path, blob in repo.commits[self.head(repo_id, revision)].files.items()}

    def repo_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._repos)

    # -- faults ----------------------------------------------------------------------------------
    def truncate_next_download(self, filename: str, fraction: float = 0.5, *, times: int | None = 1) -> None:
        """Make the next ``times`` GETs of ``filename`` (path in repo) die mid-body (``None``: until cleared).

        The response announces the full ``Content-Length`` (and ``Content-Range``) but the connection is
        closed once byte offset ``int(fraction * size)`` of the file has been sent; a resumed request starting
        at or after that offset gets its headers and no body at all.
        """
        if not 0 <= fraction < 1:
            raise ValueError("fraction must be in [0, 1)")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._faults[filename] = _Truncation(fraction, times)

    def override_headers(self, filename: str, headers: Mapping[str, str]) -> None:
        """Answer every ``/resolve`` of ``filename`` (HEAD and GET) with ``headers`` replacing the real ones.

        A hostile or broken endpoint: e.g. ``{"ETag": '"../../../x"'}`` (huggingface_hub names the cached
        blob after the ETag) or ``{"X-Repo-Commit": "../x"}`` (it names the snapshot folder after the commit).
        Until :meth:`clear_faults`.
        """
        with self._lock:
            self._header_faults[filename] = dict(headers)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._header_faults.clear()

    def _take_fault(self, filename: str) -> float | None:
        with self._lock:
            fault = self._faults.get(filename)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    del self._faults[filename]
            return fault.fraction

    # -- request log -----------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot (copy) of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def requests_for(
        self, filename: str | None = None, *, method: str | None = None, server: str | None = None
    ) -> list[RequestRecord]:
        """The logged requests matching all the given filters."""
        return [
            r
            for r in self.requests
            if (filename is None or r.filename == filename)
            and (method is None or r.method == method)
            and (server is None or r.server == server)
        ]

    def content_gets(self, filename: str | None = None) -> list[RequestRecord]:
        """Successful GETs that sent file bytes (CDN or /resolve of a regular file), optionally for one file."""
        return [r for r in self.requests_for(filename, method="GET") if r.filename and r.status in (200, 206)]

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    # -- internals -------------------------------------------------------------------------------
    def _repo(self, repo_id: str) -> _Repo:
        try:
            return self._repos[repo_id]
        except KeyError:
            raise ValueError(f"unknown repo {repo_id!r}") from None

    def _blobs(self, files: Mapping[str, bytes | str] | str | os.PathLike[str]) -> dict[str, _Blob]:
        if isinstance(files, (str, os.PathLike)):
            root = Path(files)
            items: dict[str, bytes | str] = {
                p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted(root.rglob("*"))
                if p.is_file() and ".git" not in p.relative_to(root).parts
            }
        else:
            items = dict(files)
        blobs = {}
        for path, content in items.items():
            data = content.encode() if isinstance(content, str) else bytes(content)
            blobs[path] = self._store(data, self.is_lfs(path, len(data)))
        return blobs

    def _store(self, data: bytes, lfs: bool) -> _Blob:
        blob = _Blob.make(data, lfs)
        self._objects.setdefault(blob.sha256, data)
        return blob

    def _new_commit(self, repo: _Repo, branch: str, files: dict[str, _Blob], *, message: str, base: str | None) -> str:
        self._counter += 1
        listing = "\n".join(f"{path} {blob.oid}" for path, blob in sorted(files.items()))
        seed = f"{repo.repo_id}\n{base}\n{listing}\n{message}\n{self._counter}\n".encode() + self._secret
        sha = hashlib.sha1(seed).hexdigest()
        repo.commits[sha] = _Commit(sha, base, files, message, _now_iso())
        repo.branches[branch] = sha
        return sha

    def _signature(self, sha256: str) -> str:
        return hmac.new(self._secret, sha256.encode(), hashlib.sha256).hexdigest()[:32]

    def _check_read(self, handler: _Handler, repo_id: str, *, content: bool) -> _Repo:
        """The repo if readable with the request's token, else the Hub's RepoNotFound / GatedRepo answer."""
        token = _bearer(handler.headers)
        if token is not None and not token.startswith("hf_"):
            raise _HttpError(401, "Invalid credentials in Authorization header")
        with self._lock:
            repo = self._repos.get(repo_id)
            allowed = repo is not None and token in repo.tokens
        if repo is None or (repo.private and not allowed):
            raise _HttpError(401 if token is None else 404, "Repository not found", "RepoNotFound")
        if repo.gated and content and not allowed:
            if token is None:
                message = (
                    f"Access to model {repo_id} is restricted. You must have access to it and be authenticated"
                    " to access it. Please log in."
                )
                raise _HttpError(401, message, "GatedRepo")
            message = f"Access to model {repo_id} is restricted and you are not in the authorized list."
            raise _HttpError(403, message, "GatedRepo")
        return repo

    def _check_write(self, handler: _Handler, repo_id: str | None = None) -> _Repo | None:
        token = _bearer(handler.headers)
        if token is None:
            raise _HttpError(401, "Unauthorized: this action needs a token (Authorization: Bearer hf_...)")
        if not token.startswith("hf_"):
            raise _HttpError(401, "Invalid credentials in Authorization header")
        return None if repo_id is None else self._check_read(handler, repo_id, content=False)

    def _resolve(self, repo: _Repo, revision: str) -> str:
        with self._lock:
            sha = repo.resolve(revision)
        if sha is None:
            raise _HttpError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return sha

    # -- routing ---------------------------------------------------------------------------------
    def _route(self, h: _Handler) -> None:
        segments = [s for s in h._raw_path.split("/") if s]
        if h.server.role == "cdn":
            self._route_cdn(h, segments)
        elif segments[:1] == ["api"]:
            self._route_api(h, segments[1:])
        elif len(segments) >= 4 and "resolve" in segments[1:3] and h.command in ("GET", "HEAD"):
            at = segments.index("resolve", 1)
            repo_id = "/".join(unquote(s) for s in segments[:at])
            revision = unquote(segments[at + 1])
            filename = "/".join(unquote(s) for s in segments[at + 2 :])
            self._resolve_file(h, repo_id, revision, filename)
        elif len(segments) >= 5 and segments[-4:-1] == ["info", "lfs", "objects"] and h.command == "POST":
            git_index = len(segments) - 5
            if not segments[git_index].endswith(".git"):
                raise _HttpError(404, "Not Found")
            repo_id = "/".join(unquote(s) for s in segments[: git_index + 1])[: -len(".git")]
            if segments[-1] == "batch":
                self._lfs_batch(h, repo_id)
            elif segments[-1] == "verify":
                self._lfs_verify(h, repo_id)
            else:
                raise _HttpError(404, "Not Found")
        else:
            raise _HttpError(404, "Not Found")

    def _route_api(self, h: _Handler, segments: list[str]) -> None:
        if segments == ["whoami-v2"] and h.command == "GET":
            self._check_write(h)
            h._send_json({"type": "user", "id": "fake-user-id", "name": "fake-user", "fullname": "Fake User",
                          "orgs": [], "auth": {"type": "access_token",
                                               "accessToken": {"displayName": "fake", "role": "write"}}})  # fmt: skip
            return
        if segments == ["repos", "create"] and h.command == "POST":
            self._create_repo(h)
            return
        if segments == ["validate-yaml"] and h.command == "POST":  # upload of a README.md with a YAML header
            content = json.loads(h._body or b"{}").get("content", "")
            if content.startswith("---") and content.count("---") < 2:
                raise _HttpError(400, "Invalid metadata: unterminated YAML header")
            h._send_json({"warnings": []})
            return
        if len(segments) < 2 or segments[0] not in ("models", "datasets", "spaces", "kernels"):
            raise _HttpError(404, "Not Found")
        rest = segments[1:]
        split_at = 2 if len(rest) >= 2 and rest[1] not in _API_KEYWORDS else 1
        repo_id = "/".join(unquote(s) for s in rest[:split_at])
        rest = [unquote(s) for s in rest[split_at:]]
        if segments[0] != "models":  # only model repos live here
            raise _HttpError(401 if _bearer(h.headers) is None else 404, "Repository not found", "RepoNotFound")
        action = rest[0] if rest else None
        if h.command == "GET" and action is None:
            self._model_info(h, repo_id, "main")
        elif h.command == "GET" and action == "revision" and len(rest) == 2:
            self._model_info(h, repo_id, rest[1])
        elif h.command == "GET" and action == "tree" and len(rest) >= 2:
            self._tree(h, repo_id, rest[1], "/".join(rest[2:]))
        elif h.command == "GET" and action == "refs":
            self._refs(h, repo_id)
        elif h.command == "POST" and action == "paths-info" and len(rest) == 2:
            self._paths_info(h, repo_id, rest[1])
        elif h.command == "POST" and action == "preupload" and len(rest) == 2:
            self._preupload(h, repo_id, rest[1])
        elif h.command == "POST" and action == "commit" and len(rest) == 2:
            self._commit(h, repo_id, rest[1])
        elif action in ("xet-read-token", "xet-write-token"):
            message = "FakeHub speaks plain HTTP / LFS only: set HF_HUB_DISABLE_XET=1 (constants.HF_HUB_DISABLE_XET)"
            raise _HttpError(501, message)
        else:
            raise _HttpError(404, "Not Found")

    # -- downloads -------------------------------------------------------------------------------
    def _resolve_file(self, h: _Handler, repo_id: str, revision: str, filename: str) -> None:
        h._filename = filename
        repo = self._check_read(h, repo_id, content=True)
        sha = self._resolve(repo, revision)
        with self._lock:
            blob = repo.commits[sha].files.get(filename)
        if blob is None:
            raise _HttpError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
        headers = {"X-Repo-Commit": sha}
        if blob.lfs:
            location = (
                f"{self.cdn_endpoint}/lfs/{blob.sha256}?path={quote(filename, safe='')}"
                f"&X-Amz-Signature={self._signature(blob.sha256)}"
            )
            headers.update(
                {
                    "Location": location,
                    "ETag": f'"{blob.oid}"',
                    "X-Linked-Etag": f'"{blob.sha256}"',
                    "X-Linked-Size": str(len(blob.data)),
                }
            )
            headers.update(self._header_faults.get(filename, {}))
            h._send(302, f"Found. Redirecting to {location}".encode(), headers)
        else:
            headers["ETag"] = f'"{blob.git_sha1}"'
            headers.update(self._header_faults.get(filename, {}))
            h._send_bytes(blob.data, filename, headers)

    def _route_cdn(self, h: _Handler, segments: list[str]) -> None:
        if len(segments) == 2 and segments[0] == "lfs" and h.command in ("GET", "HEAD"):
            sha256 = segments[1]
            h._filename = h._query.get("path")
            if not hmac.compare_digest(h._query.get("X-Amz-Signature", ""), self._signature(sha256)):
                raise _HttpError(403, "AccessDenied: bad signature")
            with self._lock:
                data = self._objects.get(sha256)
            if data is None:
                raise _HttpError(404, "NoSuchKey")
            h._send_bytes(data, h._filename or sha256, {"ETag": f'"{sha256}"'})
        elif len(segments) == 2 and segments[0] == "upload" and h.command == "PUT":
            with self._lock:
                ticket = self._tickets.get(h._query.get("ticket", ""))
            if ticket is None or ticket[0] != segments[1]:
                raise _HttpError(403, "AccessDenied: bad upload ticket")
            sha256, size = ticket
            if len(h._body) != size or hashlib.sha256(h._body).hexdigest() != sha256:
                raise _HttpError(400, f"BadDigest: expected {size} bytes with sha256 {sha256}")
            with self._lock:
                self._objects.setdefault(sha256, h._body)
            h._send(200, b"", {"ETag": f'"{hashlib.md5(h._body).hexdigest()}"'})
        else:
            raise _HttpError(404, "NoSuchKey")

    # -- API -------------------------------------------------------------------------------------
    def _model_info(self, h: _Handler, repo_id: str, revision: str) -> None:
        repo = self._check_read(h, repo_id, content=False)
        sha = self._resolve(repo, revision)
        with self._lock:
            commit = repo.commits[sha]
            files = dict(commit.files)
        with_blobs = h._query.get("blobs", "").lower() in ("1", "true")
        siblings = []
        for path, blob in sorted(files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if with_blobs:
                sibling.update({"size": len(blob.data), "blobId": blob.oid})
                if blob.lfs:
                    sibling["lfs"] = {"size": len(blob.data), "sha256": blob.sha256, "pointerSize": len(blob.pointer)}
            siblings.append(sibling)
        h._send_json(
            {
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "modelId": repo_id,
                "author": repo_id.split("/")[0] if "/" in repo_id else None,
                "sha": sha,
                "lastModified": commit.date,
                "createdAt": repo.created_at,
                "private": repo.private,
                "gated": "manual" if repo.gated else False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
                "usedStorage": sum(len(b.data) for b in files.values()),
            }
        )

    def _tree(self, h: _Handler, repo_id: str, revision: str, folder: str) -> None:
        repo = self._check_read(h, repo_id, content=False)
        sha = self._resolve(repo, revision)
        with self._lock:
            files = dict(repo.commits[sha].files)
        recursive = h._query.get("recursive", "").lower() in ("1", "true")
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        entries: dict[str, dict[str, Any]] = {}
        for path, blob in files.items():
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):  # the folders on the way
                if recursive or depth == 1:
                    dir_path = prefix + "/".join(parts[:depth])
                    dir_oid = hashlib.sha1(f"{sha}:{dir_path}".encode()).hexdigest()
                    entries[dir_path] = {"type": "directory", "oid": dir_oid, "size": 0, "path": dir_path}
            if recursive or len(parts) == 1:
                entries[path] = blob.tree_entry(path)
        if prefix and not entries:
            raise _HttpError(404, f"Entry not found: {folder}", "EntryNotFound", {"X-Repo-Commit": sha})
        h._send_json([entries[key] for key in sorted(entries)])

    def _refs(self, h: _Handler, repo_id: str) -> None:
        repo = self._check_read(h, repo_id, content=False)
        with self._lock:
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in repo.branches.items()]
            tags = [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": s} for t, s in repo.tags.items()]
        h._send_json({"branches": branches, "tags": tags, "converts": []})

    def _paths_info(self, h: _Handler, repo_id: str, revision: str) -> None:
        repo = self._check_read(h, repo_id, content=False)
        sha = self._resolve(repo, revision)
        form = parse_qs(h._body.decode())
        with self._lock:
            files = dict(repo.commits[sha].files)
        result = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in files:
                result.append(files[path].tree_entry(path))
            elif any(p.startswith(path + "/") for p in files):
                dir_oid = hashlib.sha1(f"{sha}:{path}".encode()).hexdigest()
                result.append({"type": "directory", "oid": dir_oid, "size": 0, "path": path})
        h._send_json(result)

    def _create_repo(self, h: _Handler) -> None:
        self._check_write(h)
        payload = json.loads(h._body or b"{}")
        if payload.get("type") not in (None, "model"):
            raise _HttpError(400, "FakeHub only hosts model repos")
        namespace = payload.get("organization") or "fake-user"
        repo_id = f"{namespace}/{payload['name']}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        url = f"{self.endpoint}/{repo_id}"
        with self._lock:
            if repo_id in self._repos:
                h._send_json({"error": "You already created this model repo", "url": url}, status=409)
                return
            token = _bearer(h.headers)
            repo = _Repo(repo_id, private, False, {token} if token else set(), _now_iso())
            self._repos[repo_id] = repo
            blob = self._store(_GITATTRIBUTES.encode(), lfs=False)
            self._new_commit(repo, "main", {".gitattributes": blob}, message="initial commit", base=None)
        h._send_json({"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})

    def _preupload(self, h: _Handler, repo_id: str, revision: str) -> None:
        repo = self._check_write(h, repo_id)
        assert repo is not None
        sha = self._resolve(repo, revision)
        with self._lock:
            existing = dict(repo.commits[sha].files)
        answers = []
        for item in json.loads(h._body)["files"]:
            path, size = item["path"], int(item["size"])
            lfs = self.is_lfs(path, size)
            old = existing.get(path)
            oid = None if old is None else (old.sha256 if old.lfs else old.git_sha1)
            answers.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        h._send_json({"files": answers, "commitOid": sha})

    def _lfs_batch(self, h: _Handler, repo_id: str) -> None:
        self._check_write(h, repo_id)
        payload = json.loads(h._body)
        if payload.get("operation") != "upload":
            raise _HttpError(422, "FakeHub LFS batch only supports operation=upload")
        if "basic" not in payload.get("transfers", ["basic"]):
            raise _HttpError(422, "FakeHub LFS batch only supports the basic transfer")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = str(obj["oid"]), int(obj["size"])
            answer: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            with self._lock:
                present = oid in self._objects
                if not present:
                    ticket = uuid.uuid4().hex
                    self._tickets[ticket] = (oid, size)
            if not present:
                answer["actions"] = {
                    "upload": {"href": f"{self.cdn_endpoint}/upload/{oid}?ticket={ticket}", "expires_in": 3600},
                    "verify": {"href": f"{self.endpoint}/{repo_id}.git/info/lfs/objects/verify"},
                }
            objects.append(answer)
        h._send_json(
            {"transfer": "basic", "objects": objects}, headers={"Content-Type": "application/vnd.git-lfs+json"}
        )

    def _lfs_verify(self, h: _Handler, repo_id: str) -> None:
        self._check_write(h, repo_id)
        payload = json.loads(h._body)
        with self._lock:
            data = self._objects.get(str(payload.get("oid")))
        if data is None or len(data) != int(payload.get("size", -1)):
            raise _HttpError(404, "Object does not exist")
        h._send_json({"success": True})

    def _commit(self, h: _Handler, repo_id: str, revision: str) -> None:
        repo = self._check_write(h, repo_id)
        assert repo is not None
        if h._query.get("create_pr") in ("1", "true", "True"):
            raise _HttpError(400, "FakeHub does not support pull requests")
        lines = [json.loads(line) for line in h._body.decode().splitlines() if line.strip()]
        header: dict[str, Any] = next((line["value"] for line in lines if line["key"] == "header"), {})
        with self._lock:
            if revision not in repo.branches:
                raise _HttpError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            base = repo.branches[revision]
            parent = header.get("parentCommit")
            if parent and not base.startswith(parent):
                raise _HttpError(412, "A commit has happened since. Please refresh and try again.")
            tree = dict(repo.commits[base].files)
            for line in lines:
                key, value = line["key"], line.get("value", {})
                if key == "file":
                    content = value["content"]
                    data = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                    tree[value["path"]] = self._store(data, lfs=False)
                elif key == "lfsFile":
                    data = self._objects.get(value["oid"])
                    if data is None:
                        raise _HttpError(422, f"LFS object {value['oid']} was never uploaded ({value['path']})")
                    tree[value["path"]] = self._store(data, lfs=True)
                elif key == "deletedFile":
                    if tree.pop(value["path"], None) is None:
                        raise _HttpError(404, "A file with this name doesn't exist", "EntryNotFound")
                elif key == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    tree = {p: b for p, b in tree.items() if not p.startswith(folder)}
                elif key != "header":
                    raise _HttpError(400, f"Unknown commit operation {key!r}")
            sha = self._new_commit(repo, revision, tree, message=header.get("summary", ""), base=base)
        h._send_json(
            {
                "success": True,
                "commitOid": sha,
                "commitUrl": f"{self.endpoint}/{repo_id}/commit/{sha}",
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )


# -- client-side helpers -------------------------------------------------------------------------
def patch_hub_endpoint(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, cache_dir: str | os.PathLike[str], *, timeout: int = 5
) -> None:
    """Point the already-imported ``huggingface_hub`` at ``endpoint`` with ``cache_dir`` as the hub cache.

    Sets the environment (for subprocesses) and the ``huggingface_hub.constants`` attributes read at call
    time: online mode, Xet and telemetry off, no implicit token, ``timeout`` seconds for HEAD and GET.
    """
    from huggingface_hub import constants, hf_api

    endpoint = endpoint.rstrip("/")
    cache_dir = os.fspath(cache_dir)
    no_token_path = os.path.join(cache_dir, ".fake-hub-no-token", "token")
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    env = {
        "HF_ENDPOINT": endpoint,
        "HF_HUB_CACHE": cache_dir,
        "HF_TOKEN_PATH": no_token_path,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "HF_HUB_ETAG_TIMEOUT": str(timeout),
        "HF_HUB_DOWNLOAD_TIMEOUT": str(timeout),
    }
    for variable, setting in env.items():
        monkeypatch.setenv(variable, setting)
    attributes: dict[str, object] = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_CACHE": cache_dir,
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": True,
        "HF_TOKEN_PATH": no_token_path,
        "HF_STORED_TOKENS_PATH": os.path.join(os.path.dirname(no_token_path), "stored_tokens"),
        "HF_HUB_ETAG_TIMEOUT": timeout,
        "HF_HUB_DOWNLOAD_TIMEOUT": timeout,
    }
    for attribute, value in attributes.items():
        monkeypatch.setattr(constants, attribute, value)
    monkeypatch.setattr(hf_api.api, "endpoint", endpoint)


@contextlib.contextmanager
def fake_hub_env(endpoint: str, cache_dir: str | os.PathLike[str], *, timeout: int = 5) -> Iterator[None]:
    """Context manager form of ``patch_hub_endpoint``: everything is restored on exit."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        patch_hub_endpoint(monkeypatch, endpoint, cache_dir, timeout=timeout)
        yield


def set_offline(monkeypatch: pytest.MonkeyPatch, offline: bool) -> None:
    """Flip offline mode for the running process and its subprocesses.

    huggingface_hub 2.4.0 checks ``constants.is_offline_mode()`` (i.e. ``constants.HF_HUB_OFFLINE``) on every
    request, in an httpx event hook, so patching the attribute takes effect immediately.
    """
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")


class _NoSleepTime:
    """Stands in for the ``time`` module in the client's retry loops: ``sleep`` only records the delay."""

    def __init__(self, sleeps: list[float]) -> None:
        self._sleeps = sleeps

    def sleep(self, seconds: float) -> None:
        self._sleeps.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def skip_retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make the client's retry back-off instant; returns the list of the delays it asked for."""
    from huggingface_hub import file_download
    from huggingface_hub.utils import _http

    sleeps: list[float] = []
    monkeypatch.setattr(file_download, "time", _NoSleepTime(sleeps))
    monkeypatch.setattr(_http, "time", _NoSleepTime(sleeps))
    return sleeps


def subprocess_env(
    endpoint: str, hf_home: str | os.PathLike[str], base: Mapping[str, str] | None = None, **extra: str
) -> dict[str, str]:
    """Environment for a subprocess using the fake Hub the way users configure it (no patching at all).

    Starts from ``base`` (default ``os.environ``) without any HF_* variable that could leak a token, a cache or
    an offline flag, then sets ``HF_ENDPOINT`` and ``HF_HOME`` (plus ``extra``).
    """
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not (k.startswith(("HF_", "HUGGING")) or k in ("TRANSFORMERS_OFFLINE", "DO_NOT_TRACK"))
    }
    env.update({"HF_ENDPOINT": endpoint, "HF_HOME": os.fspath(hf_home), **extra})
    return env
