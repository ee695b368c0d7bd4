"""Count the host reads of tensor values per training step, by call site (not a test: it prints a table).

Every read of a tensor's value by Python (``.item()``, ``float(t)``, ``bool(t)``, ``if t:``) runs
``aten::_local_scalar_dense``; on an accelerator it waits for the device when the tensor lives
there. This runs ``Trainer.run`` over ``--steps`` steps of stage ``--stage`` (tiny preset, CPU,
after one warm-up step) under a ``TorchDispatchMode`` that counts those reads and where they
come from. Reads of CPU tensors (e.g. ``torch.optim.Adam``'s step counters, which live on the CPU
unless ``capturable`` or ``fused``) are not device syncs on an accelerator.

Run from the repository root:
    python benchmarks/scalar_reads.py --stage 2 --steps 10 --log-every 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import write_training_assets

from dpinpaint import get_preset
from dpinpaint.train.config import TrainConfig
from dpinpaint.train.trainer import Trainer


class ScalarReads(TorchDispatchMode):
    """Counts ``aten::_local_scalar_dense`` by call site (the innermost frame, and the innermost dpinpaint one)."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default:
            skip = ("python_dispatch", "eval_frame", "_compile")
            frames = [f for f in traceback.extract_stack()[:-1] if not any(s in f.filename for s in skip)]
            ours = [f for f in frames if "/dpinpaint/" in f.filename]
            site = f"{Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].name}"
            if ours and ours[-1] is not frames[-1]:
                site += f"  <- {Path(ours[-1].filename).name}:{ours[-1].lineno}"
            self.sites[site] += 1
        return func(*args, **(kwargs or {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", type=int, default=2, choices=[1, 2])
    parser.add_argument("--steps", type=int, default=10, help="counted steps (default 10)")
    parser.add_argument("--log-every", type=int, default=10, help="the run's log_every (default 10)")
    args = parser.parse_args()
    config = get_preset("tiny")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stylegan2 = write_training_assets(root, config, 6)
        steps = 1 + args.steps
        tc = TrainConfig(model=config, batch_size=2, workers=0, test_count=2, checkpoint_every=10_000,
                         sample_every=10_000, log_every=args.log_every, precision="fp32",
                         stage1_steps=steps if args.stage == 1 else 0, stage2_steps=steps if args.stage == 2 else 0)  # fmt: skip
        trainer = Trainer(tc, root / "run", root / "data", stylegan2, progress=False)
        trainer.run(until=1)  # warm-up
        with ScalarReads() as reads:
            trainer.run(until=steps)
    total = sum(reads.sites.values())
    print(f"stage {args.stage}, log_every {args.log_every}: {total / args.steps:.1f} host reads per step "
          f"({total} over {args.steps} steps; the last step also writes samples and a checkpoint)")  # fmt: skip
    for site, count in reads.sites.most_common():
        print(f"{count / args.steps:8.1f}  {site}")


if __name__ == "__main__":
    main()
