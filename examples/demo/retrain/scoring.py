"""What the demo's choice (``choose_snapshot.py``, validation photos) and its test (``score_test.py``,
held-out photos, once) count: a model against the best of the classical baselines, as users meet it.

Both go through :func:`dpinpaint.evaluate.evaluate`, so through the public ``inpaint`` path:

- :func:`irregular`: seeded irregular holes of 10-20% ... 40-50% at a given long side, beside OpenCV's
  Telea and Navier-Stokes and scikit-image's biharmonic inpainting; :func:`against_best` compares
  the model with the best of them on hole PSNR, PSNR, SSIM and relative l1, per group and on
  average (20 comparisons);
- :func:`thin`: one thin-scratch or text-strokes mask per photo at the photo's own size, beside
  Telea and NS; :func:`per_photo` pairs the model's hole PSNR with a baseline's, photo by photo.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpinpaint.eval_report import EvalResult
from dpinpaint.evaluate import evaluate

BASELINES = ("opencv-telea", "opencv-ns", "skimage-biharmonic")
THIN_BASELINES = ("opencv-telea", "opencv-ns")
GROUPS = ((0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5))
#: metric -> +1 when higher is better, -1 when lower is.
METRICS = {"hole_psnr": 1, "psnr": 1, "ssim": 1, "l1": -1}


@dataclass
class Comparison:
    """The model against the best baseline on one metric of one column (a group or ``average``)."""

    column: str
    metric: str
    ours: float
    best: float
    best_method: str

    @property
    def win(self) -> bool:
        return METRICS[self.metric] * self.ours > METRICS[self.metric] * self.best

    @property
    def margin(self) -> float:
        """Positive when the model is ahead (in the metric's units)."""
        return METRICS[self.metric] * (self.ours - self.best)


def model_name(result: EvalResult, baselines: tuple[str, ...] = BASELINES) -> str:
    """The one method of ``result`` that is not a baseline."""
    return next(m for m in result.table if m not in baselines)


def irregular(
    output: Path,
    data: Path,
    model: str | None,
    long_side: int,
    num: int,
    baselines: tuple[str, ...] = BASELINES,
    **options: Any,
) -> EvalResult:
    """Irregular holes in :data:`GROUPS` at ``long_side``, the model (None: none) and ``baselines``."""
    return _evaluate(output, data, model, num, groups=GROUPS, baselines=baselines, long_side=long_side, **options)


def thin(
    output: Path,
    data: Path,
    model: str | None,
    masks: str,
    num: int,
    baselines: tuple[str, ...] = THIN_BASELINES,
    **options: Any,
) -> EvalResult:
    """One ``masks`` ("scratch" or "text") mask per photo at its own size, the model (None: none) and
    ``baselines``; ``options``: ``worst`` (results kept as images) or the model's settings (``thin_side``, ...)."""
    return _evaluate(output, data, model, num, masks=masks, baselines=baselines, long_side="native", **options)


def _evaluate(output: Path, data: Path, model: str | None, num: int, **protocol: Any) -> EvalResult:
    """Seed-0 masks, no FID (a few dozen photos are too few for it), no images kept unless ``worst``;
    the model's default settings unless ``protocol`` holds some (``native_max_side``, ``thin_side``,
    ``blend``).

    A run whose ``output`` already holds the report of the same protocol (the same photos, model
    files, masks and settings, the defaults included: ``protocol.json``) is read back instead of run again, so that the
    snapshots of a run can be scored as they come, across sessions.
    """
    from dpinpaint import __version__
    from dpinpaint.options import InpaintOptions

    settings = {k: protocol.pop(k) for k in ("native_max_side", "thin_side", "blend", "flat_contrast") if k in protocol}
    options = InpaintOptions(**settings)
    weights = _files(_model_folder(model))
    # The defaults too (the constants they resolve to are in the code digest): either may change.
    effective = dataclasses.asdict(options) if model is not None else None
    key = json.dumps({"data": _files(data), "model": model, "weights": weights, "num": num, "dpinpaint": __version__,
                      "code": _inference_code(), "options": effective, **protocol}, sort_keys=True, default=str)  # fmt: skip
    saved = output / "protocol.json"
    if saved.is_file() and (output / "report.json").is_file() and saved.read_text(encoding="utf-8") == key:
        return EvalResult.from_json((output / "report.json").read_text(encoding="utf-8"))
    saved.unlink(missing_ok=True)  # a run that dies leaves no key beside a stale report
    protocol.setdefault("worst", 0)
    result = evaluate(
        output, data, model=model, num=num, compute_fid=False, progress=False, options=options, **protocol
    )
    saved.write_text(key, encoding="utf-8")
    return result


def _inference_code() -> str:
    """A digest of the library's inference code (all of ``dpinpaint`` but training, the command
    line, the UI and conversion; its syntax trees without docstrings, so that comments, docstrings
    and formatting do not count): a change there, even to no setting, scores everything again."""
    import ast
    import hashlib

    import dpinpaint

    root = Path(dpinpaint.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] in ("train", "cli", "ui", "convert"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + ast.dump(tree).encode())
    return digest.hexdigest()


def _files(folder: str | Path | None) -> list[tuple[str, int, int]] | None:
    """``(path, size, mtime in ns)`` of every file under a folder (None for no folder)."""
    if folder is None or not Path(folder).is_dir():
        return None
    root = Path(folder)
    return [(p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()]  # fmt: skip


def _model_folder(model: str | None) -> Path | None:
    """The folder of a checkpoint path or of a bundled model's name (None otherwise)."""
    if model is None or Path(model).is_dir():
        return None if model is None else Path(model)
    from dpinpaint.registry import PRETRAINED, bundled_folder

    return bundled_folder(model) if model in PRETRAINED and PRETRAINED[model].bundled else None


def against_best(
    result: EvalResult, baselines: tuple[str, ...] = BASELINES, reference: EvalResult | None = None
) -> list[Comparison]:
    """Every column x :data:`METRICS` comparison of the model with the best of ``baselines``
    (their figures from ``reference`` when given: a run of the baselines alone, on the same photos
    and masks, so that runs of the model with other settings need not repeat them)."""
    model = model_name(result, baselines)
    table = (reference or result).table
    out = []
    for column, metrics in result.table[model].items():
        for metric, sign in METRICS.items():
            ours = metrics.get(metric)
            theirs = {b: table[b][column].get(metric) for b in baselines}
            if ours is None or any(v is None for v in theirs.values()):
                continue
            best_method = max(theirs, key=lambda b: sign * float(theirs[b] or 0.0))
            out.append(Comparison(column, metric, float(ours), float(theirs[best_method] or 0.0), best_method))
    return out


def per_photo(
    result: EvalResult, baseline: str = "opencv-telea", reference: EvalResult | None = None
) -> list[tuple[str, float, float]]:
    """``(photo, model's hole PSNR, baseline's hole PSNR)`` for each photo of a one-column run (the
    baseline's from ``reference`` when given)."""
    model = model_name(result)
    by_photo: dict[str, dict[str, float]] = {}
    for s in [*result.scores, *(reference.scores if reference else [])]:
        by_photo.setdefault(s.image, {})[s.method] = s.hole_psnr
    return [(photo, v[model], v[baseline]) for photo, v in by_photo.items() if model in v and baseline in v]


def irregular_score(comparisons: list[Comparison]) -> tuple[int, int, float]:
    """``(comparisons won, comparisons, average hole-PSNR margin)`` of :func:`against_best`'s list."""
    margin = next((c.margin for c in comparisons if c.metric == "hole_psnr" and c.column == "average"), float("nan"))
    return sum(c.win for c in comparisons), len(comparisons), margin


def thin_score(pairs: list[tuple[str, float, float]]) -> tuple[int, int, float]:
    """``(photos where the model is ahead, photos, the model's median hole PSNR)`` of :func:`per_photo`'s pairs."""
    return sum(ours > theirs for _, ours, theirs in pairs), len(pairs), median([ours for _, ours, _ in pairs])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
