"""Scale a phased training recipe to a number of stage-2 steps (each phase keeps its share).

The demo's recipe (``examples/demo/retrain/recipe.json``) is one config with phases; a machine that can
run more or fewer steps in its time budget runs the same recipe scaled: every phase's length is
multiplied by ``steps / stage2_steps`` (rounded so that they still add up), and the periods of
checkpoints, snapshots and logs follow. The scaled config is what the run records in its
``config.json``, so the run is reproducible from it alone::

    python examples/demo/retrain/scale_recipe.py examples/demo/retrain/recipe.json --steps 9000 > run.json
    dpinpaint train run.json --data crops/ --output runs/demo --device cuda
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def scale(
    config: dict[str, Any], steps: int, snapshots: int = 8, changes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``config`` with ``stage2_steps = steps``, its phases scaled to add up to it, and ``changes``
    (top-level fields, e.g. ``{"precision": "fp32"}`` for a CPU without bfloat16)."""
    if steps < 1:
        raise SystemExit(f"--steps must be >= 1, got {steps}")
    out = dict(config)
    total = int(config["stage2_steps"])
    phases = [dict(p) for p in config.get("phases", [])]
    if phases:
        if len(phases) > steps:
            raise SystemExit(f"{len(phases)} phases cannot share {steps} steps")
        raw = [int(p["steps"]) * steps / total for p in phases]
        alloc = [max(1, int(r)) for r in raw]
        by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
        k = 0
        while sum(alloc) < steps:  # the rounding leftovers to the largest remainders
            alloc[by_remainder[k % len(alloc)]] += 1
            k += 1
        while sum(alloc) > steps:  # phases raised to 1 step: taken from the longest
            alloc[max(range(len(alloc)), key=alloc.__getitem__)] -= 1
        for p, n in zip(phases, alloc, strict=True):
            p["steps"] = n
        out["phases"] = phases
    out["stage2_steps"] = steps
    every = max(1, steps // snapshots)
    out["checkpoint_every"] = every
    if "snapshot_every" in config:
        out["snapshot_every"] = every
    out["log_every"] = max(1, min(int(config.get("log_every", 20)), every // 10 or 1))
    out.update(changes or {})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path, help="a training config.json with stage-2 phases")
    parser.add_argument("--steps", type=int, required=True, help="stage-2 steps of the scaled run")
    parser.add_argument("--snapshots", type=int, default=8, help="checkpoints and snapshots over the run (8)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=JSON", help="change a top-level field (repeatable)"
    )
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text(encoding="utf-8"))
    changes = {}
    for item in args.set:
        name, _, value = item.partition("=")
        try:
            changes[name] = json.loads(value)  # numbers, true/false, lists
        except json.JSONDecodeError:
            changes[name] = value  # a plain string such as fp32
    json.dump(scale(config, args.steps, args.snapshots, changes), sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
