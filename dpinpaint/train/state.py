"""Training checkpoints without pickle: weights, optimiser states and RNG in safetensors, the rest in JSON.

A checkpoint is a folder ``checkpoints/step-<8 digits>/`` holding

- ``weights.safetensors``: ``<network>.<key>`` for every network of the run;
- ``optim.safetensors``: ``<optimizer>.state.<param index>.<name>`` for every optimiser tensor,
  and ``rng.torch`` (the CPU generator state);
- ``state.json``: the step, the optimisers' ``param_groups`` and the scalars of their states,
  the data sampler's state and anything else JSON-able.

It is written to a hidden temporary folder and renamed into place, so a run killed at any
moment leaves either the previous checkpoints or the new one complete, never a partial one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import load_state_dict_strict, load_tensors, save_tensors
from ..errors import CheckpointError

__all__ = ["save_training_state", "load_training_state", "checkpoints", "latest_checkpoint", "prune_checkpoints"]

_PREFIX = "step-"


def _optimizer_split(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}.state.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_join(name: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}.state."
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, field_name = key[len(prefix) :].split(".", 1)
            state.setdefault(int(index), {})[field_name] = value
    for key, value in meta["scalars"].items():
        index, field_name = key.split(".", 1)
        state.setdefault(int(index), {})[field_name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_state(
    run_dir: str | os.PathLike[str],
    step: int,
    networks: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    extra: dict[str, Any],
) -> Path:
    """Write the checkpoint of ``step`` atomically; returns its folder."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        weights = {f"{n}.{k}": v for n, net in networks.items() for k, v in net.state_dict().items()}
        save_tensors(weights, tmp / "weights.safetensors")
        tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
        meta: dict[str, Any] = {}
        for name, opt in optimizers.items():
            t, m = _optimizer_split(name, opt)
            tensors.update(t)
            meta[name] = m
        save_tensors(tensors, tmp / "optim.safetensors")
        (tmp / "state.json").write_text(
            json.dumps({"step": step, "optimizers": meta, "extra": extra}, indent=1), encoding="utf-8"
        )
        if final.exists():  # a re-run of the same step: replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The complete checkpoint folders of a run, newest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    done = sorted(
        p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX) and (p / "state.json").is_file()
    )
    return done[::-1]


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest complete checkpoint folder of a run, or None."""
    found = checkpoints(run_dir)
    return found[0] if found else None


def prune_checkpoints(run_dir: str | os.PathLike[str], keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints, and leftovers of interrupted writes."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return
    for leftover in root.glob(f".{_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX))
    for old in done[:-keep] if keep > 0 else done:
        shutil.rmtree(old, ignore_errors=True)


def load_training_state(
    folder: str | os.PathLike[str],
    networks: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> dict[str, Any]:
    """Restore networks, optimisers and the RNG from a checkpoint folder; returns ``{"step", "extra"}``.

    Raises:
        CheckpointError: a missing file, or weights/optimisers that do not fit.
    """
    folder = Path(folder)
    try:
        info = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {folder} has no readable state.json: {exc}") from exc
    weights = load_tensors(folder / "weights.safetensors")
    for name, net in networks.items():
        prefix = f"{name}."
        load_state_dict_strict(
            net, {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}, source=f"{folder} ({name})"
        )
    tensors = load_tensors(folder / "optim.safetensors")
    try:
        saved = info["optimizers"]
        step, extra = int(info["step"]), info.get("extra", {})
        if not isinstance(saved, dict) or not isinstance(extra, dict) or step < 0:
            raise TypeError("its fields have the wrong types")
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {folder}: state.json is damaged ({type(exc).__name__}: {exc})") from exc
    for name, opt in optimizers.items():
        if name not in saved:
            raise CheckpointError(f"checkpoint {folder} has no state for optimiser {name!r}")
        try:
            opt.load_state_dict(_optimizer_join(name, tensors, saved[name]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {folder}: optimiser {name!r} does not fit: {exc}") from exc
    try:
        torch.set_rng_state(tensors["rng.torch"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {folder}: its random-number state is damaged ({exc})") from exc
    return {"step": step, "extra": extra}
