"""Inpainter.from_pretrained / push_to_hub against a loopback Hub (tests/support/hub_server.py).

The real ``huggingface_hub`` client downloads, caches and re-uses the files; these tests
check what users see: bit-identical round trips, revision pinning, offline use and the
dpinpaint errors for every failure.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load as safetensors_load

from dpinpaint import Inpainter, list_models
from dpinpaint.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from dpinpaint.errors import (
    CheckpointError,
    HubConnectionError,
    InvalidInputError,
    ModelAccessError,
    ModelNotCachedError,
    ModelNotFoundError,
)
from dpinpaint.hub import PRETRAINED
from support.hub_server import FakeHub, patch_hub_endpoint, set_offline, skip_retry_sleeps, subprocess_env

REPO = "acme/tiny-inpaint"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two different checkpoints of the tiny preset, saved as folders."""
    out = {}
    for seed in (1, 2):
        folder = tmp_path_factory.mktemp(f"seed{seed}")
        Inpainter.from_config("tiny", seed=seed, w_avg_samples=64).save_pretrained(folder)
        out[f"seed{seed}"] = folder
    return out


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub() as server:
        patch_hub_endpoint(monkeypatch, server.endpoint, tmp_path / "hf-cache")
        yield server


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (97, 143, 3), dtype=np.uint8)
    mask = np.zeros((97, 143), np.uint8)
    mask[20:60, 30:90] = 255
    return image, mask


def _output(inp: Inpainter, sample: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return inp.inpaint(*sample)


@pytest.mark.slow
def test_download_round_trip_and_cache_reuse(
    hub: FakeHub, models: dict[str, Path], sample: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    hub.add_repo(REPO, models["seed1"])
    local = Inpainter.from_pretrained(models["seed1"])
    remote = Inpainter.from_pretrained(REPO)
    assert np.array_equal(_output(remote, sample), _output(local, sample))
    assert len(hub.content_gets(WEIGHTS_NAME)) == 1 and len(hub.content_gets(CONFIG_NAME)) == 1
    snapshot = next((tmp_path / "hf-cache").glob(f"models--acme--tiny-inpaint/snapshots/*/{WEIGHTS_NAME}"))
    assert snapshot.parent.name == hub.head(REPO)
    assert (remote.name, remote.revision) == (REPO, hub.head(REPO))  # what batch records and the CLI report
    assert (local.name, local.revision) == (str(models["seed1"]), None)

    hub.clear_requests()
    again = Inpainter.from_pretrained(REPO)
    assert hub.content_gets() == []  # the cache was re-used: metadata requests only
    assert np.array_equal(_output(again, sample), _output(local, sample))


@pytest.mark.slow
def test_revision_pinning(hub: FakeHub, models: dict[str, Path], sample: tuple[np.ndarray, np.ndarray]) -> None:
    first = hub.add_repo(REPO, models["seed1"])
    hub.add_tag(REPO, "v1")
    second = hub.add_commit(REPO, models["seed2"])
    out1 = _output(Inpainter.from_pretrained(models["seed1"]), sample)
    out2 = _output(Inpainter.from_pretrained(models["seed2"]), sample)
    assert not np.array_equal(out1, out2)
    assert np.array_equal(_output(Inpainter.from_pretrained(REPO), sample), out2)  # main is the new commit
    assert np.array_equal(_output(Inpainter.from_pretrained(f"{REPO}@{first}"), sample), out1)
    assert np.array_equal(_output(Inpainter.from_pretrained(f"{REPO}@v1"), sample), out1)
    assert np.array_equal(_output(Inpainter.from_pretrained(REPO, revision=first), sample), out1)
    assert np.array_equal(_output(Inpainter.from_pretrained(f"{REPO}@{first}", revision=second), sample), out2)
    with pytest.raises(ModelNotFoundError, match="revision 'nope' does not exist"):
        Inpainter.from_pretrained(REPO, revision="nope")


def test_offline_uses_the_warm_cache_and_names_the_cold_one(
    hub: FakeHub, models: dict[str, Path], sample: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_repo(REPO, models["seed1"])
    online = _output(Inpainter.from_pretrained(REPO), sample)
    hub.clear_requests()
    assert np.array_equal(_output(Inpainter.from_pretrained(REPO, local_files_only=True), sample), online)
    set_offline(monkeypatch, True)
    assert np.array_equal(_output(Inpainter.from_pretrained(REPO), sample), online)
    assert hub.requests == []  # offline means no request at all
    with pytest.raises(ModelNotCachedError, match=r"acme/other.*not in the cache.*HF_HUB_OFFLINE=1"):
        Inpainter.from_pretrained("acme/other")
    set_offline(monkeypatch, False)
    with pytest.raises(ModelNotCachedError, match="local_files_only=True"):
        Inpainter.from_pretrained("acme/other", local_files_only=True)


def test_missing_gated_and_incomplete_repos(hub: FakeHub, models: dict[str, Path]) -> None:
    with pytest.raises(ModelNotFoundError, match=r"acme/missing was not found.*token"):
        Inpainter.from_pretrained("acme/missing")
    hub.add_repo("acme/gated", models["seed1"], gated=True, token="hf_granted")
    with pytest.raises(ModelAccessError, match="gated"):
        Inpainter.from_pretrained("acme/gated")
    with pytest.raises(ModelAccessError, match="gated"):
        Inpainter.from_pretrained("acme/gated", token="hf_refused")
    assert Inpainter.from_pretrained("acme/gated", token="hf_granted").config.name == "tiny"
    hub.add_repo("acme/no-config", {"README.md": b"hello"})
    with pytest.raises(CheckpointError, match=r"has no file config\.json"):
        Inpainter.from_pretrained("acme/no-config")
    hub.add_repo("acme/no-weights", {CONFIG_NAME: (models["seed1"] / CONFIG_NAME).read_bytes()})
    with pytest.raises(CheckpointError, match=r"has no file model\.safetensors"):
        Inpainter.from_pretrained("acme/no-weights")
    with pytest.raises(CheckpointError, match=r"model\.fp16\.safetensors.*variant"):
        Inpainter.from_pretrained("acme/gated", token="hf_granted", variant="fp16")


@pytest.mark.slow
def test_a_cut_download_never_loads_as_a_model(
    hub: FakeHub,
    models: dict[str, Path],
    sample: tuple[np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    skip_retry_sleeps(monkeypatch)
    hub.add_repo(REPO, models["seed1"])
    hub.truncate_next_download(WEIGHTS_NAME, 0.5, times=None)  # every attempt is cut half-way
    with pytest.raises(HubConnectionError, match="partial download was discarded"):
        Inpainter.from_pretrained(REPO)
    cache = tmp_path / "hf-cache" / "models--acme--tiny-inpaint"
    assert not list(cache.glob(f"snapshots/*/{WEIGHTS_NAME}"))
    assert not list(cache.glob("blobs/*.incomplete"))
    set_offline(monkeypatch, True)
    with pytest.raises(ModelNotCachedError):  # not a half file that loads
        Inpainter.from_pretrained(REPO)
    set_offline(monkeypatch, False)
    hub.clear_faults()
    loaded = Inpainter.from_pretrained(REPO)
    assert np.array_equal(_output(loaded, sample), _output(Inpainter.from_pretrained(models["seed1"]), sample))


def test_unreachable_endpoint_fails_fast_or_uses_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, models: dict[str, Path], sample: tuple[np.ndarray, np.ndarray]
) -> None:
    """No network: a cached model loads, an uncached one fails at once (no retries, no sleeps)."""
    import time

    with FakeHub() as server:
        patch_hub_endpoint(monkeypatch, server.endpoint, tmp_path / "cache", timeout=2)
        server.add_repo(REPO, models["seed1"])
        expected = _output(Inpainter.from_pretrained(REPO), sample)  # cached while online
    # Nothing listens at the endpoint now.
    assert np.array_equal(_output(Inpainter.from_pretrained(REPO), sample), expected)
    start = time.monotonic()
    with pytest.raises(HubConnectionError, match=r"could not reach .* not in the cache"):
        Inpainter.from_pretrained("acme/never-downloaded")
    assert time.monotonic() - start < 5  # huggingface_hub's retries alone would take about 30 s
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # behind a proxy the probe stands aside
    skip_retry_sleeps(monkeypatch)
    with pytest.raises(HubConnectionError, match=r"could not reach|failed"):
        Inpainter.from_pretrained("acme/never-downloaded")


def test_unpublished_names_fail_at_once_without_the_network(hub: FakeHub, models: dict[str, Path]) -> None:
    hub.add_repo("dpinpaint/ffhq-256", models["seed2"])  # even if a repository answered, nothing is asked
    requests_before = len(hub.requests)
    for name in ("ffhq-256", "church-256", "cat-256"):
        with pytest.raises(ModelNotFoundError, match=r"not published yet.*docs/training\.md.*available by name: demo"):
            Inpainter.from_pretrained(name)
    assert len(hub.requests) == requests_before
    assert [m.status for m in list_models()] == [
        "bundled",
        "not published yet",
        "not published yet",
        "not published yet",
    ]


@pytest.mark.slow
def test_preset_names_resolve_to_their_repositories(
    hub: FakeHub,
    models: dict[str, Path],
    sample: tuple[np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once a name is published, it loads from its repository."""
    monkeypatch.setitem(PRETRAINED, "ffhq-256", dataclasses.replace(PRETRAINED["ffhq-256"], published=True))
    with pytest.raises(ModelNotFoundError, match="dpinpaint/ffhq-256"):
        Inpainter.from_pretrained("ffhq-256")
    hub.add_repo("dpinpaint/ffhq-256", models["seed2"])
    expected = _output(Inpainter.from_pretrained(models["seed2"]), sample)
    assert np.array_equal(_output(Inpainter.from_pretrained("ffhq-256"), sample), expected)


@pytest.mark.slow
def test_push_to_hub_then_load(hub: FakeHub, models: dict[str, Path], sample: tuple[np.ndarray, np.ndarray]) -> None:
    inp = Inpainter.from_pretrained(models["seed1"])
    url = inp.push_to_hub("acme/pushed", token="hf_writer", commit_message="first")
    assert "acme/pushed" in url
    files = hub.files("acme/pushed")
    assert {CONFIG_NAME, WEIGHTS_NAME, "README.md"} <= set(files)
    pushed, original = (
        safetensors_load(files[WEIGHTS_NAME]),
        safetensors_load((models["seed1"] / WEIGHTS_NAME).read_bytes()),
    )
    assert pushed.keys() == original.keys() and all(torch.equal(pushed[k], original[k]) for k in pushed)
    assert "library_name: dpinpaint" in files["README.md"].decode()
    assert np.array_equal(_output(Inpainter.from_pretrained("acme/pushed"), sample), _output(inp, sample))
    inp.push_to_hub("acme/pushed", token="hf_writer", variant="fp16")
    half = Inpainter.from_pretrained("acme/pushed", variant="fp16")
    assert half.config == inp.config


@pytest.mark.slow
def test_hf_endpoint_and_hf_home_in_a_fresh_process(hub: FakeHub, models: dict[str, Path], tmp_path: Path) -> None:
    """Users set HF_ENDPOINT / HF_HOME / HF_HUB_OFFLINE in the environment; no patching involved."""
    hub.add_repo(REPO, models["seed1"])
    script = textwrap.dedent(
        f"""
        from dpinpaint import Inpainter
        inp = Inpainter.from_pretrained({REPO!r})
        print("loaded", inp.config.name)
        """
    )
    env = subprocess_env(hub.endpoint, tmp_path / "home", HF_HUB_DISABLE_TELEMETRY="1")
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "loaded tiny" in run.stdout
    assert list((tmp_path / "home" / "hub").glob(f"models--acme--tiny-inpaint/snapshots/*/{WEIGHTS_NAME}"))
    hub.close()  # the server is gone: the offline run must not need it
    offline = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert offline.returncode == 0, offline.stderr
    cold = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "HF_HUB_OFFLINE": "1", "HF_HOME": os.fspath(tmp_path / "empty")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cold.returncode != 0 and "ModelNotCachedError" in cold.stderr and "offline" in cold.stderr


@pytest.mark.parametrize(
    "model_id",
    ["acme/x@../../../../tmp/x", "acme/x@..", "acme/x@/etc", "acme/x@a//b", "acme/x@main.lock", "acme/x@a b"],
)
def test_revisions_that_leave_the_cache_are_refused_before_any_request(
    hub: FakeHub, tmp_path: Path, model_id: str
) -> None:
    before = len(hub.requests)
    with pytest.raises(InvalidInputError, match="is not a branch, tag or commit id"):
        Inpainter.from_pretrained(model_id)
    with pytest.raises(InvalidInputError, match="is not a branch, tag or commit id"):
        Inpainter.from_pretrained("acme/x", revision=model_id.partition("@")[2])
    assert len(hub.requests) == before
    assert not list(tmp_path.parent.rglob("refs/*/x"))


@pytest.mark.parametrize(
    ("filename", "headers", "what"),
    [
        (CONFIG_NAME, {"ETag": '"../../../x"'}, "ETag"),
        (WEIGHTS_NAME, {"X-Linked-Etag": '"../../../x"'}, "ETag"),
        (CONFIG_NAME, {"X-Repo-Commit": "../../../x"}, "commit"),
        (WEIGHTS_NAME, {"ETag": '"a\\..\\b"', "X-Linked-Etag": '"' + "f" * 129 + '"'}, "ETag"),
    ],
    ids=["etag", "linked-etag", "commit", "too-long"],
)
def test_a_hub_answer_naming_a_path_outside_the_cache_is_refused_before_anything_is_written(
    hub: FakeHub, models: dict[str, Path], tmp_path: Path, filename: str, headers: dict[str, str], what: str
) -> None:
    """huggingface_hub names the cached blob after the ETag and the snapshot folder after the commit: a
    hostile HF_ENDPOINT answering "../../../x" made it write the served file outside the cache."""
    cache = tmp_path / "hf-cache"
    hub.add_repo(REPO, models["seed1"])
    hub.override_headers(filename, headers)
    with pytest.raises(HubConnectionError, match=rf"{hub.endpoint} answered .* {what} .*refused before anything"):
        Inpainter.from_pretrained(REPO)
    outside = [p for p in tmp_path.rglob("*") if cache not in p.parents and p != cache]
    assert outside == []
    assert not [p for p in cache.rglob("*") if p.is_file() and p.name.startswith(("x", "f" * 64))]
    assert hub.content_gets(filename) == []  # refused before the file was fetched


@pytest.mark.parametrize("model_id", ["a/b--c", "a/b.git", "org/-name", "org/" + "n" * 97, "a/b..c"])
def test_ids_huggingface_hub_refuses_are_refused_the_same_way(hub: FakeHub, model_id: str) -> None:
    before = len(hub.requests)
    with pytest.raises(ModelNotFoundError, match="Hub repository id"):
        Inpainter.from_pretrained(model_id)
    assert len(hub.requests) == before


def test_a_corrupted_cached_file_is_caught_deleted_and_downloaded_again(
    hub: FakeHub, models: dict[str, Path], sample: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    hub.add_repo(REPO, models["seed1"])
    expected = _output(Inpainter.from_pretrained(REPO), sample)
    snapshot = next((tmp_path / "hf-cache").glob(f"models--acme--tiny-inpaint/snapshots/*/{WEIGHTS_NAME}"))
    blob = Path(os.path.realpath(snapshot))
    data = bytearray(blob.read_bytes())
    data[-100] ^= 0xFF  # a flipped byte inside a tensor: the file still parses, its size is right
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"does not match the hash the Hub gave.*deleted"):
        Inpainter.from_pretrained(REPO)
    assert not blob.exists() and not snapshot.is_symlink()
    hub.clear_requests()
    assert np.array_equal(_output(Inpainter.from_pretrained(REPO), sample), expected)
    assert len(hub.content_gets(WEIGHTS_NAME)) == 1  # downloaded anew

    config = snapshot.with_name(CONFIG_NAME)
    config_blob = Path(os.path.realpath(config))
    config_blob.chmod(0o644)
    config_blob.write_text(config_blob.read_text().replace("tiny", "tinz"))  # a small file: its git blob id
    with pytest.raises(CheckpointError, match=r"cached config\.json does not match"):
        Inpainter.from_pretrained(REPO)


def test_a_server_that_asks_to_retry_in_an_hour_meets_the_deadline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """huggingface_hub sleeps through ``Retry-After: 3600``; dpinpaint's deadline ends the call."""
    import http.server
    import threading
    import time

    class Busy(http.server.BaseHTTPRequestHandler):
        def _busy(self) -> None:
            self.send_response(503)
            self.send_header("Retry-After", "3600")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET = _busy

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        patch_hub_endpoint(monkeypatch, f"http://127.0.0.1:{server.server_address[1]}", tmp_path / "cache", timeout=2)
        monkeypatch.setenv("DPINPAINT_HUB_TIMEOUT", "1.5")
        start = time.monotonic()
        with pytest.raises(HubConnectionError, match=r"did not finish within 1\.5 s.*DPINPAINT_HUB_TIMEOUT"):
            Inpainter.from_pretrained(REPO)
        assert time.monotonic() - start < 10
        monkeypatch.setenv("DPINPAINT_HUB_TIMEOUT", "soon")
        with pytest.raises(InvalidInputError, match="DPINPAINT_HUB_TIMEOUT='soon'"):
            Inpainter.from_pretrained(REPO)
    finally:
        server.shutdown()


MODEL_ID_TEXT = st.lists(
    st.sampled_from([*"ab-_./@~ \x00\u00e99", "org", "main", "..", "~nouser", "a" * 120]), max_size=12
).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model_id=MODEL_ID_TEXT)
def test_any_model_id_gives_a_folder_or_a_dpinpaint_error(
    model_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Property: whatever string names a model, resolving it (offline) raises only dpinpaint errors."""
    from dpinpaint.errors import DPInpaintError
    from dpinpaint.hub import resolve_checkpoint

    monkeypatch.chdir(tmp_path)  # relative names are not found by accident
    try:
        resolve_checkpoint(model_id, local_files_only=True)
    except DPInpaintError:
        pass
