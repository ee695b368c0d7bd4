"""The web page of ``dpinpaint ui``, served for real: over HTTP, and driven in headless Chromium.

One ``dpinpaint ui`` server (the bundled demo model, offline) runs for the module on a free
loopback port. The browser tests need Debian's ``chromium`` and ``chromium-driver`` and the
``selenium`` package; they skip without them, except in CI (``CI=true``), which installs them
(``.ci/run``) and must run them. ``DPINPAINT_UI_SCREENSHOT=path.png`` saves the page after a run
(the picture in docs/ui.md).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

if os.environ.get("CI") != "true":  # CI installs the [ui] extra and must run these tests
    pytest.importorskip("gradio")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: Chromium's own calls home are switched off; the page must make none either.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1700",
)


pytestmark = pytest.mark.slow  # a server and a browser start: about a minute

#: The server's upload limit in these tests (the photos are smaller).
MAX_UPLOAD_MB = 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a ``dpinpaint ui`` server started as a user would (offline, demo model)."""
    root = tmp_path_factory.mktemp("ui")
    port = _free_port()
    env = {**os.environ, "HF_HOME": str(root / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    log = (root / "server.log").open("w")
    cmd = [sys.executable, "-m", "dpinpaint.cli", "ui", "--port", str(port), "--max-upload-mb", str(MAX_UPLOAD_MB)]
    cmd += ["--workdir", str(root / "results")]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"dpinpaint ui exited with {proc.returncode}:\n{(root / 'server.log').read_text()}")
        try:
            if _get(url)[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"dpinpaint ui did not answer in 180 s:\n{(root / 'server.log').read_text()}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _api_call(url: str, endpoint: str, data: list[Any]) -> str:
    """Call one of the page's events through Gradio's HTTP API; the event stream's text."""
    body = json.dumps({"data": data}).encode()
    request = urllib.request.Request(
        f"{url}gradio_api/call/{endpoint}", body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        event = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{endpoint}/{event}", timeout=60) as r:
        return r.read().decode()


def test_the_page_serves_no_file_of_the_machine(server: str) -> None:
    readme = Path(__file__).resolve().parents[1] / "README.md"
    for path in ("/etc/passwd", str(readme), str(Path.cwd() / "pyproject.toml")):
        status, body = _get(f"{server}gradio_api/file={path}")
        assert status == 403 and b"root:" not in body and b"dpinpaint" not in body, path
    # An event handed a server path instead of an upload is refused before the handler runs.
    answer = _api_call(server, "on_photo", [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}])
    assert answer.startswith("event: error") and "root:" not in answer
    # A model outside the menu (a path, a Hub id) is refused.
    answer = _api_call(server, "on_model", ["/etc"])
    assert "event: error" in answer and "not in the list of choices" in answer


def test_uploads_over_the_limit_are_refused(server: str) -> None:
    boundary = "dpinpaint-test"
    big = b"x" * (MAX_UPLOAD_MB * 1024 * 1024 + 1)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + big
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{server}gradio_api/upload", body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413 and b"maximum allowed size" in refused.value.read()


def test_the_page_loads_nothing_from_elsewhere(server: str) -> None:
    status, html = _get(server)
    assert status == 200
    text = html.decode()
    for tag in ("<script", "<link"):
        for part in text.split(tag)[1:]:
            attrs = part.split(">", 1)[0]
            assert "http://" not in attrs and "https://" not in attrs and "//fonts." not in attrs, attrs


def test_hostile_and_careless_requests_get_a_message_and_lose_nothing(server: str, tmp_path: Path) -> None:
    """The page's events called as a client of its HTTP API would (one session: the photo is kept)."""
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False, download_files=str(tmp_path / "downloads"))

    def status(outputs: Any) -> str:
        return str(outputs[-1])

    # A JPEG whose header claims 65000x65000 pixels: refused from the header, saying why.
    small = io.BytesIO()
    Image.new("RGB", (16, 16)).save(small, "JPEG")
    jpeg = bytearray(small.getvalue())
    start = jpeg.find(b"\xff\xc0") + 5  # the frame header's height and width
    jpeg[start : start + 4] = (65000).to_bytes(2, "big") * 2
    (tmp_path / "huge.jpg").write_bytes(bytes(jpeg))
    answer = status(client.predict(handle_file(str(tmp_path / "huge.jpg")), api_name="/on_photo"))
    assert "huge.jpg is far too large" in answer and "50,000,000 pixels" in answer
    editor: dict[str, Any] = {"background": None, "layers": [], "composite": None, "id": None}
    form = ["demo", "auto", "poisson", "learned", 100]
    assert status(client.predict(editor, None, *form, api_name="/on_run")) == "Open a photo first."

    # A PNG named .jpg: the download is a PNG, every pixel outside the stroke the photo's (not a lossy JPEG).
    pixels = np.asarray(_photo(tmp_path / "chelsea.png", 64, 80))
    (tmp_path / "holiday.jpg").write_bytes((tmp_path / "chelsea.png").read_bytes())
    assert "holiday.jpg** (80x64, PNG)" in status(
        client.predict(handle_file(str(tmp_path / "holiday.jpg")), api_name="/on_photo")
    )
    assert "nothing to fill" in status(client.predict(editor, None, *form, api_name="/on_run"))
    layer = np.zeros((64, 80, 4), dtype=np.uint8)
    layer[20:30, 10:60] = (255, 0, 255, 176)
    Image.fromarray(layer).save(tmp_path / "layer.png")
    editor["layers"] = [handle_file(str(tmp_path / "layer.png"))]
    outputs = client.predict(editor, None, *form, api_name="/on_run")
    assert "holiday.jpg holds a PNG image" in status(outputs)
    hole = layer[..., 3] > 0
    with Image.open(outputs[2]) as result:
        assert result.format == "PNG" and Path(outputs[2]).name == "holiday-inpainted.png"
        np.testing.assert_array_equal(np.asarray(result)[~hole], pixels[~hole])

    # A mask that is not an image: the message names the upload, not the server's copy of it.
    (tmp_path / "mask.png").write_text("white = fill")
    answer = status(client.predict(editor, handle_file(str(tmp_path / "mask.png")), *form, api_name="/on_run"))
    assert "mask.png is not an image this page can read" in answer and "/" not in answer
    assert "Model **demo**" in str(client.predict("demo", api_name="/on_model"))  # still serving


def test_the_editor_keeps_few_layers_and_decodes_only_small_ones(tmp_path: Path) -> None:
    """Gradio's editor route kept every client's layers and as many slots as a client's index said."""
    import gradio as gr
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import DataWithFiles

    from dpinpaint.errors import InvalidInputError
    from dpinpaint.ui.page import harden_editor

    with gr.Blocks():
        editor = harden_editor(gr.ImageEditor(type="numpy", image_mode="RGBA"), max_pixels=1000)
    assert editor.get_config()["server_fns"] == ["accept_blobs"]
    import dpinpaint.ui.page

    assert not Path(dpinpaint.ui.page.__file__).with_suffix(".pyi").exists()  # Gradio writes one for subclasses

    def blob(run: str, kind: str, index: Any, payload: bytes = b"x") -> None:
        editor.accept_blobs(DataWithFiles(data={"id": run, "type": kind, "index": str(index)}, files=[("b", payload)]))

    with pytest.raises(InvalidInputError, match=r"index must be in 0\.\.3"):
        blob("a", "layer", 10**12)  # Gradio's own route would allocate 10**12 slots
    for run in range(40):
        blob(f"run{run}", "layer", 0)
        blob(f"run{run}", "background", "null", b"a photo the page does not need")
    assert list(editor.blob_storage) == [f"run{run}" for run in range(32, 40)]
    assert all(stored.background is None and len(stored.layers) == 1 for stored in editor.blob_storage.values())

    small, large = io.BytesIO(), io.BytesIO()
    Image.new("RGBA", (20, 10)).save(small, "PNG")
    Image.new("RGBA", (40, 30)).save(large, "PNG")
    blob("small", "layer", 0, small.getvalue())
    assert editor.preprocess(EditorData(id="small"))["layers"][0].shape == (10, 20, 4)
    blob("large", "layer", 0, large.getvalue())
    with pytest.raises(
        InvalidInputError, match="a painted layer has 1,200 pixels, more than this page's limit of 1,000"
    ):
        editor.preprocess(EditorData(id="large"))


# -- in the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium")
    if missing:
        why = f"the browser test needs {', '.join(missing)} (Debian chromium, chromium-driver; pip selenium)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver: Any, condition: Any, seconds: float = 120) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(condition)


def _status(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, "status").text)


def _open(driver: Any, server: str, photo: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get(server)
    upload = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#photo input[type=file]"))[0]
    upload.send_keys(str(photo))


def _photo(path: Path, h: int | None = None, w: int | None = None) -> np.ndarray:
    """scikit-image's cat photo (451x300), or a crop of it, saved as ``path``."""
    from skimage import data

    pixels = np.ascontiguousarray(data.chelsea()[:h, :w])
    Image.fromarray(pixels).save(path)
    return pixels


def _download(driver: Any, element_id: str) -> bytes:
    from selenium.webdriver.common.by import By

    link = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{element_id} a[href]"))[0]
    status, body = _get(link.get_attribute("href"))
    assert status == 200
    return body


def test_paint_a_stroke_run_and_download(server: str, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    pixels = _photo(tmp_path / "chelsea.png")
    _open(browser, server, tmp_path / "chelsea.png")
    _wait(browser, lambda d: "Opened" in _status(d))
    assert "chelsea.png (451x300, PNG)" in _status(browser)
    canvas = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#editor canvas"))[-1]
    time.sleep(1.0)  # the editor draws the photo into the canvas
    # A stroke with real pointer events: press left of the centre, drag right and down, release.
    stroke = ActionChains(browser).move_to_element_with_offset(canvas, -150, -20).click_and_hold()
    for _ in range(12):
        stroke.move_by_offset(20, 5)
    stroke.release().perform()
    browser.find_element(By.ID, "run").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#download a[href]") or "Could not" in _status(d))
    text = _status(browser)
    assert text.startswith("Done: chelsea-inpainted.png (451x300)"), text

    result = np.asarray(Image.open(io.BytesIO(_download(browser, "download"))))
    hole = np.asarray(Image.open(io.BytesIO(_download(browser, "mask-download")))) > 0
    assert result.shape == pixels.shape and hole.shape == pixels.shape[:2]
    # The stroke: a band from left of the centre to the right and down, a few percent of the photo.
    assert 0.02 < hole.mean() < 0.35
    rows, cols = np.nonzero(hole)
    assert 0.25 * 300 < rows.min() < 150 < rows.max() < 300 and 0.2 * 451 < cols.min() < 225 < cols.max() < 451
    # Every pixel outside the stroke is the photo's; inside, the model painted.
    np.testing.assert_array_equal(result[~hole], pixels[~hole])
    assert (result[hole] != pixels[hole]).any()

    target = os.environ.get("DPINPAINT_UI_SCREENSHOT")
    if target:
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(target)
    # No request of the page went anywhere but this server.
    elsewhere = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            request_url = message["params"]["request"]["url"]
            if not request_url.startswith((server, "data:", "blob:")):
                elsewhere.add(request_url)
    assert not elsewhere


def test_bad_uploads_get_a_message_and_the_server_keeps_serving(server: str, browser: Any, tmp_path: Path) -> None:
    (tmp_path / "holiday.png").write_text("these are notes, not a photo")
    _open(browser, server, tmp_path / "holiday.png")
    _wait(browser, lambda d: "Could not" in _status(d))
    assert "holiday.png is not an image this page can read" in _status(browser)
    (tmp_path / "huge.png").write_bytes(b"x" * (MAX_UPLOAD_MB * 1024 * 1024 + 1))
    _open(browser, server, tmp_path / "huge.png")
    _wait(browser, lambda d: "exceed the maximum allowed size" in d.find_element("tag name", "body").text)
    _photo(tmp_path / "photo.png", 64, 80)
    _open(browser, server, tmp_path / "photo.png")  # the same server, a fresh page
    _wait(browser, lambda d: "Opened" in _status(d))
    assert "photo.png (80x64, PNG)" in _status(browser)
