"""The fake Hub (tests/support/hub_server.py) driven by the real huggingface_hub client.

Findings for huggingface_hub 2.4.0 recorded here: a cold cache while offline raises
``LocalEntryNotFoundError``; a single dropped connection is retried by the client (from byte 0 for files
under ``constants.DOWNLOAD_CHUNK_SIZE`` = 10 MB, with a ``Range`` request beyond whole chunks); a persistent
drop raises ``httpx2.RemoteProtocolError`` after 6 attempts and leaves neither a snapshot entry nor an
``.incomplete`` file in ``blobs/``.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from support.hub_server import (
    FakeHub,
    fake_hub_env,
    git_blob_sha1,
    patch_hub_endpoint,
    set_offline,
    skip_retry_sleeps,
    subprocess_env,
)

REPO = "acme/tiny-inpainter"
CONFIG = json.dumps({"preset": "tiny", "resolution": 64}).encode()
WEIGHTS = random.Random(0).randbytes(300_000)  # a few hundred KB: served as an LFS file
TOKEN = "hf_writer_token"


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture
def cache(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache_dir = (tmp_path / "hf-cache").resolve()  # the client resolves symlinks (e.g. /var on macOS)
    patch_hub_endpoint(monkeypatch, hub.endpoint, cache_dir)
    return cache_dir


@pytest.fixture
def repo_sha(hub: FakeHub) -> str:
    return hub.add_repo(REPO, {"config.json": CONFIG, "model.safetensors": WEIGHTS})


def _repo_folder(cache: Path, repo_id: str = REPO) -> Path:
    return cache / f"models--{repo_id.replace('/', '--')}"


def test_download_lands_in_the_cache_layout(hub: FakeHub, cache: Path, repo_sha: str) -> None:
    config_path = Path(hf_hub_download(REPO, "config.json"))
    weights_path = Path(hf_hub_download(REPO, "model.safetensors"))

    folder = _repo_folder(cache)
    assert config_path == folder / "snapshots" / repo_sha / "config.json"
    assert weights_path == folder / "snapshots" / repo_sha / "model.safetensors"
    assert config_path.read_bytes() == CONFIG and weights_path.read_bytes() == WEIGHTS
    assert (folder / "refs" / "main").read_text() == repo_sha
    # Regular file: blob named after the git blob sha1; LFS file: after the sha256 of the content.
    assert config_path.resolve() == folder / "blobs" / git_blob_sha1(CONFIG)
    assert weights_path.resolve() == folder / "blobs" / hashlib.sha256(WEIGHTS).hexdigest()

    seen = [(r.server, r.method, r.status, r.filename) for r in hub.requests]
    assert seen == [
        ("hub", "HEAD", 200, "config.json"),
        ("hub", "GET", 200, "config.json"),
        ("hub", "HEAD", 302, "model.safetensors"),
        ("cdn", "GET", 200, "model.safetensors"),
    ]


def test_second_download_reuses_the_cache(hub: FakeHub, cache: Path, repo_sha: str) -> None:
    first = hf_hub_download(REPO, "model.safetensors")
    hub.clear_requests()
    assert hf_hub_download(REPO, "model.safetensors") == first
    assert [(r.method, r.status) for r in hub.requests] == [("HEAD", 302)]  # metadata only
    assert hub.content_gets() == []
    # Pinned to a commit sha that is cached: no request at all.
    hub.clear_requests()
    hf_hub_download(REPO, "model.safetensors", revision=repo_sha)
    assert hub.requests == []


def test_revision_pinning_by_branch_and_sha(hub: FakeHub, cache: Path, repo_sha: str) -> None:
    new_config = b'{"preset": "tiny", "resolution": 128}'
    new_sha = hub.add_commit(REPO, {"config.json": new_config})
    dev_sha = hub.add_commit(REPO, {"config.json": b"{}"}, branch="dev")
    hub.add_tag(REPO, "v1", repo_sha)
    assert len({repo_sha, new_sha, dev_sha}) == 3

    assert Path(hf_hub_download(REPO, "config.json")).read_bytes() == new_config
    assert Path(hf_hub_download(REPO, "config.json", revision=repo_sha)).read_bytes() == CONFIG
    assert Path(hf_hub_download(REPO, "config.json", revision=new_sha)).read_bytes() == new_config
    assert Path(hf_hub_download(REPO, "config.json", revision="v1")).read_bytes() == CONFIG
    assert Path(hf_hub_download(REPO, "config.json", revision="dev")).read_bytes() == b"{}"
    # Untouched files are inherited by the new commits and deduplicated in blobs/.
    assert Path(hf_hub_download(REPO, "model.safetensors", revision="dev")).read_bytes() == WEIGHTS
    refs = _repo_folder(cache) / "refs"
    assert (refs / "main").read_text() == new_sha and (refs / "dev").read_text() == dev_sha


def test_offline_warm_and_cold_cache(hub: FakeHub, cache: Path, repo_sha: str, monkeypatch: pytest.MonkeyPatch) -> None:
    warm = hf_hub_download(REPO, "model.safetensors")
    hub.add_repo("acme/never-downloaded", {"config.json": CONFIG})
    hub.clear_requests()

    set_offline(monkeypatch, True)
    assert hf_hub_download(REPO, "model.safetensors") == warm
    assert snapshot_download(REPO, allow_patterns=["model.safetensors"]) == str(Path(warm).parent)
    with pytest.raises(LocalEntryNotFoundError):
        hf_hub_download("acme/never-downloaded", "config.json")
    with pytest.raises(LocalEntryNotFoundError):
        hf_hub_download(REPO, "config.json")  # same repo, file never fetched
    assert hub.requests == []  # offline means no traffic at all

    set_offline(monkeypatch, False)
    assert Path(hf_hub_download("acme/never-downloaded", "config.json")).read_bytes() == CONFIG


def test_missing_repo_revision_and_file(hub: FakeHub, cache: Path, repo_sha: str) -> None:
    with pytest.raises(RepositoryNotFoundError) as missing_repo:
        hf_hub_download("acme/does-not-exist", "config.json")
    assert type(missing_repo.value) is RepositoryNotFoundError
    assert missing_repo.value.response.status_code == 401  # anonymous, like the real Hub
    with pytest.raises(RepositoryNotFoundError) as with_token:
        hf_hub_download("acme/does-not-exist", "config.json", token="hf_someone")
    assert with_token.value.response.status_code == 404

    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, "config.json", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, "config.json", revision="0" * 40)

    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(REPO, "missing.bin")
    # The non-existence is cached by the client under .no_exist/<sha>/.
    assert (_repo_folder(cache) / ".no_exist" / repo_sha / "missing.bin").is_file()
    assert not list(_repo_folder(cache).glob("snapshots/*/missing.bin"))


def test_gated_and_private_repos(hub: FakeHub, cache: Path) -> None:
    hub.add_repo("acme/gated", {"model.safetensors": WEIGHTS}, gated=True, token="hf_allowed")
    hub.add_repo("acme/private", {"config.json": CONFIG}, private=True, token="hf_allowed")

    with pytest.raises(GatedRepoError) as anonymous:
        hf_hub_download("acme/gated", "model.safetensors")
    assert anonymous.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as refused:
        hf_hub_download("acme/gated", "model.safetensors", token="hf_not_on_the_list")
    assert refused.value.response.status_code == 403
    path = hf_hub_download("acme/gated", "model.safetensors", token="hf_allowed")
    assert Path(path).read_bytes() == WEIGHTS
    # The token goes to the Hub, never to the CDN.
    cdn_gets = hub.requests_for("model.safetensors", server="cdn")
    assert cdn_gets and all(r.authorization is None for r in cdn_gets)
    assert hub.requests_for("model.safetensors", method="HEAD")[-1].authorization == "Bearer hf_allowed"

    with pytest.raises(RepositoryNotFoundError) as private:
        hf_hub_download("acme/private", "config.json")
    assert type(private.value) is RepositoryNotFoundError
    assert Path(hf_hub_download("acme/private", "config.json", token="hf_allowed")).read_bytes() == CONFIG


def test_single_dropped_connection_is_retried(
    hub: FakeHub, cache: Path, repo_sha: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps = skip_retry_sleeps(monkeypatch)
    hub.truncate_next_download("model.safetensors", fraction=0.4)
    path = hf_hub_download(REPO, "model.safetensors")
    assert Path(path).read_bytes() == WEIGHTS
    # The client reads 10 MB pieces: the 120 kB received before the drop are lost, the retry starts over.
    gets = hub.requests_for("model.safetensors", method="GET")
    assert [(g.status, g.range, g.body_bytes) for g in gets] == [(200, None, 120_000), (200, None, 300_000)]
    assert sleeps == [1]


def test_dropped_connection_is_resumed_with_range(
    hub: FakeHub, cache: Path, repo_sha: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_retry_sleeps(monkeypatch)
    chunk = 16 * 1024
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", chunk)
    hub.truncate_next_download("model.safetensors", fraction=0.4)
    path = hf_hub_download(REPO, "model.safetensors")
    assert Path(path).read_bytes() == WEIGHTS
    first, second = hub.requests_for("model.safetensors", method="GET")
    resumed_at = 120_000 // chunk * chunk  # whole chunks only
    assert (first.status, first.body_bytes) == (200, 120_000)
    assert (second.status, second.range, second.body_bytes) == (206, f"bytes={resumed_at}-", 300_000 - resumed_at)


def test_persistent_truncation_raises_and_leaves_nothing_behind(
    hub: FakeHub, cache: Path, repo_sha: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_retry_sleeps(monkeypatch)
    hub.truncate_next_download("model.safetensors", fraction=0.5, times=None)
    with pytest.raises(httpx2.RemoteProtocolError):
        hf_hub_download(REPO, "model.safetensors")
    folder = _repo_folder(cache)
    assert not (folder / "snapshots" / repo_sha / "model.safetensors").exists()
    assert [p.name for p in (folder / "blobs").iterdir()] == []  # no blob, no *.incomplete
    gets = hub.requests_for("model.safetensors", method="GET")
    assert [(g.range, g.body_bytes) for g in gets] == [(None, 150_000)] * 6  # first try + 5 retries

    hub.clear_faults()
    path = Path(hf_hub_download(REPO, "model.safetensors"))
    assert path == folder / "snapshots" / repo_sha / "model.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(WEIGHTS).hexdigest()


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # the client's LFS PUT
def test_push_then_download(hub: FakeHub, cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "to-push"
    folder.mkdir()
    (folder / "config.json").write_bytes(CONFIG)
    (folder / "model.safetensors").write_bytes(WEIGHTS)
    api = HfApi(endpoint=hub.endpoint, token=TOKEN)

    repo_url = api.create_repo("acme/pushed")
    assert repo_url.repo_id == "acme/pushed"
    api.create_repo("acme/pushed", exist_ok=True)  # 409 is accepted
    with pytest.raises(HfHubHTTPError) as exists:
        api.create_repo("acme/pushed")
    assert exists.value.response.status_code == 409

    commit = api.upload_folder(repo_id="acme/pushed", folder_path=folder, commit_message="weights")
    assert commit.oid == hub.head("acme/pushed")
    assert hub.files("acme/pushed")["model.safetensors"] == WEIGHTS
    lfs_put = hub.requests_for(method="PUT", server="cdn")
    assert len(lfs_put) == 1 and lfs_put[0].status == 200 and lfs_put[0].authorization is None
    paths = [r.path for r in hub.requests if r.method == "POST"]
    assert paths == [
        "/api/repos/create",
        "/api/repos/create",
        "/api/repos/create",
        "/api/models/acme/pushed/preupload/main",
        "/acme/pushed.git/info/lfs/objects/batch",
        "/acme/pushed.git/info/lfs/objects/verify",
        "/api/models/acme/pushed/commit/main",
    ]

    info = api.model_info("acme/pushed", files_metadata=True)
    assert info.sha == commit.oid
    lfs = {s.rfilename: s.lfs for s in info.siblings or []}
    assert lfs["config.json"] is None and lfs["model.safetensors"] is not None
    assert sorted(api.list_repo_files("acme/pushed")) == [".gitattributes", "config.json", "model.safetensors"]

    path = hf_hub_download("acme/pushed", "model.safetensors")
    assert Path(path).read_bytes() == WEIGHTS
    assert Path(path).parent.name == commit.oid

    # Unchanged files are skipped; an empty commit is not created.
    hub.clear_requests()
    again = api.upload_folder(repo_id="acme/pushed", folder_path=folder)
    assert again.oid == commit.oid
    assert not hub.requests_for(method="PUT")


def test_writes_need_a_token(hub: FakeHub, cache: Path, repo_sha: str) -> None:
    anonymous = HfApi(endpoint=hub.endpoint)
    with pytest.raises(HfHubHTTPError) as create:
        anonymous.create_repo("acme/anonymous")
    assert create.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as upload:
        anonymous.upload_file(repo_id=REPO, path_in_repo="notes.txt", path_or_fileobj=b"hello")
    assert upload.value.response.status_code == 401
    assert hub.head(REPO) == repo_sha


def test_snapshot_download_and_listing(hub: FakeHub, cache: Path, repo_sha: str) -> None:
    hub.add_commit(REPO, {"sub/extra.txt": b"extra"})
    api = HfApi()  # endpoint comes from the patched constants
    assert sorted(api.list_repo_files(REPO)) == ["config.json", "model.safetensors", "sub/extra.txt"]
    assert [f.rfilename for f in api.model_info(REPO, revision=repo_sha).siblings or []] == [
        "config.json",
        "model.safetensors",
    ]
    snapshot = Path(snapshot_download(REPO))
    assert (snapshot / "sub" / "extra.txt").read_bytes() == b"extra"
    assert (snapshot / "model.safetensors").read_bytes() == WEIGHTS
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(REPO, revision="nope")


def test_context_manager_form_restores_constants(hub: FakeHub, repo_sha: str, tmp_path: Path) -> None:
    before = constants.ENDPOINT
    with fake_hub_env(hub.endpoint, tmp_path / "cache"):
        assert constants.ENDPOINT == hub.endpoint
        assert Path(hf_hub_download(REPO, "config.json")).read_bytes() == CONFIG
    assert constants.ENDPOINT == before


def test_subprocess_with_env_vars_only(hub: FakeHub, repo_sha: str, tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from huggingface_hub import hf_hub_download
        for name in ("config.json", "model.safetensors"):
            print(hf_hub_download(sys.argv[1], name))
        """
    )
    hf_home = (tmp_path / "hf-home").resolve()
    env = subprocess_env(hub.endpoint, hf_home, HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="5")
    result = subprocess.run(
        [sys.executable, "-c", script, REPO], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    config_path, weights_path = map(Path, result.stdout.split())
    assert config_path == hf_home / "hub" / "models--acme--tiny-inpainter" / "snapshots" / repo_sha / "config.json"
    assert config_path.read_bytes() == CONFIG and weights_path.read_bytes() == WEIGHTS
    assert len(hub.content_gets("model.safetensors")) == 1
