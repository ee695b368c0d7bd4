"""Forward-pass benchmark of the dual-path network (not a test: it prints figures).

Measures, in one run and side by side, on ``--device`` (default cpu) in ``--dtype``:
- the device's matmul throughput in that dtype (square GEMMs, the best of a few sizes);
- the forward latency of a preset (default ffhq-256, random weights: speed does not depend
  on their values) at batch 1 and batch 8, its FLOPs (``torch.utils.flop_counter``) and the
  achieved fraction of the matmul throughput;
- on the CPU, peak RSS of a fresh process that builds the model and runs one forward at each
  batch size; on CUDA, the peak GPU memory allocated by each batch size's forwards;
- with ``--compare-reference`` (on the CPU), ``G_s`` alone: dpinpaint's StyleGAN2 vs the
  straightforward port of ``tests/support/reference_stylegan2.py`` (rosinality's network with its
  unfused ``upfirdn2d_native`` blur) on the same weights, with a check that both give the same
  image. That port is the tests' oracle, so only this option reads anything from ``tests/``.

The first line (``env: {...}``) records the device name and the library versions.

Run from the repository root:
    python benchmarks/bench_forward.py [--preset ffhq-256] [--repeats 5] [--compare-reference]
    python benchmarks/bench_forward.py --device cuda --dtype bfloat16 --batches 1,8,32 --repeats 20
Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import add_device_arguments, device_and_dtype, median_seconds, print_environment  # noqa: E402

__all__ = ["median_seconds", "make_inputs"]  # median_seconds: kept here for the scripts that import it from here


def matmul_gflops(repeats: int, device: torch.device, dtype: torch.dtype) -> float:
    best = 0.0
    sizes = (1024, 2048, 3072) if device.type == "cpu" else (4096, 8192)
    for n in sizes:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        sec, _ = median_seconds(lambda a=a, b=b: a @ b, repeats, device=device)
        best = max(best, 2 * n**3 / sec / 1e9)
    return best


def make_inputs(
    resolution: int, batch: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, resolution, resolution, generator=gen) * 2 - 1
    known = torch.ones(batch, 1, resolution, resolution)
    q = resolution // 4
    known[..., q : 3 * q, q : 3 * q] = 0
    return image.to(device, dtype), known.to(device, dtype)


def child_peak_rss(preset: str, batch: int) -> dict[str, float]:
    """Run one forward in a fresh interpreter; return its peak RSS (MB) and the RSS before the forward."""
    code = (
        "import resource, torch, dpinpaint\n"
        "from dpinpaint import DualPathNet, get_preset\n"
        f"cfg = get_preset({preset!r}); net = DualPathNet(cfg).eval()\n"
        "r = cfg.resolution\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "with torch.no_grad():\n"
        f"    net(torch.rand({batch}, 3, r, r) * 2 - 1, torch.ones({batch}, 1, r, r))\n"
        "print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    before, peak = map(float, out.stdout.split())
    return {"rss_after_build_mb": before, "peak_rss_mb": peak}


def bench_stylegan(preset: str, repeats: int) -> dict[str, float]:
    # --compare-reference only: the reference port is the tests' oracle (six test modules use it);
    # this comparison times it against the library on the same weights.
    sys.path.insert(0, str(ROOT / "tests"))
    from dpinpaint import get_preset
    from dpinpaint.models import StyleGAN2Generator
    from support.reference_stylegan2 import ReferenceGenerator

    cfg = get_preset(preset).stylegan
    fast = StyleGAN2Generator(cfg).eval()
    ref = ReferenceGenerator(
        cfg.resolution, cfg.w_dim, cfg.n_mlp, lr_mlp=cfg.lr_mlp, channels=dict(zip(cfg.resolutions, cfg.channels))
    ).eval()
    missing, unexpected = ref.load_state_dict(fast.state_dict(), strict=False)
    if missing or unexpected != ["w_avg"]:
        raise RuntimeError(f"state dicts differ: missing={missing} unexpected={unexpected}")
    w = torch.randn(1, cfg.n_latent, cfg.w_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = fast.synthesis(w)[0]
        b = ref(w)
        t_fast, _ = median_seconds(lambda: fast.synthesis(w), repeats)
        t_ref, _ = median_seconds(lambda: ref(w), repeats)
    return {
        "gs_seconds": t_fast,
        "gs_reference_seconds": t_ref,
        "gs_speedup": t_ref / t_fast,
        "gs_max_abs_diff": float((a - b).abs().max()),
        "gs_image_abs_max": float(b.abs().max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="ffhq-256")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--compare-reference",
        action="store_true",
        help="also time G_s against the reference port of tests/support (CPU only)",
    )
    add_device_arguments(parser)
    args = parser.parse_args()
    device, dtype = device_and_dtype(args)

    from dpinpaint import DualPathNet, get_preset
    from dpinpaint.summary import summarize

    cfg = get_preset(args.preset)
    env = print_environment(device, dtype) if not args.json else None
    results: dict[str, object] = {
        "preset": args.preset,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
    }
    if env is None:
        from bench_common import environment

        results["env"] = environment(device, dtype)
    results["matmul_gflops"] = peak = matmul_gflops(args.repeats, device, dtype)

    net = DualPathNet(cfg).eval()
    flops_per_image = summarize(cfg, batch_size=1, model=net).total_flops  # counted on the CPU; linear in the batch
    net = net.to(device, dtype)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        flops = flops_per_image * batch
        image, known = make_inputs(cfg.resolution, batch, device, dtype)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode():
            sec, times = median_seconds(lambda image=image, known=known: net(image, known), args.repeats, device=device)
        memory = (
            {"peak_gpu_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20}
            if device.type == "cuda"
            else child_peak_rss(args.preset, batch)
            if device.type == "cpu"
            else {}
        )
        rows.append(
            {
                "batch": batch,
                "seconds": sec,
                "seconds_per_image": sec / batch,
                "runs": [round(t, 4) for t in times],
                "gflop": flops / 1e9,
                "gflops": flops / sec / 1e9,
                "fraction_of_matmul": flops / sec / 1e9 / peak,
                **memory,
            }
        )
    results["forward"] = rows
    if device.type == "cpu" and args.compare_reference:
        results.update(bench_stylegan(args.preset, args.repeats))

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(json.dumps({k: v for k, v in results.items() if k != "forward" and not k.startswith("gs")}))
    name = str(dtype).removeprefix("torch.")
    print(f"\n{name} matmul throughput on {device}: {peak:.1f} GFLOPS\n")
    memory_key = "peak_gpu_memory_mb" if device.type == "cuda" else "peak_rss_mb"
    print(f"| batch | ms / forward (median) | ms / image | GFLOP | GFLOPS | of matmul | {memory_key} |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        memory = f"{r[memory_key]:.0f}" if memory_key in r else "n/a"
        print(
            f"| {r['batch']} | {1e3 * r['seconds']:.2f} | {1e3 * r['seconds_per_image']:.2f} | {r['gflop']:.1f} | "
            f"{r['gflops']:.1f} | {r['fraction_of_matmul']:.0%} | {memory} |"
        )
    if "gs_seconds" not in results:
        return
    print(
        f"\nG_s forward (batch 1): dpinpaint {results['gs_seconds']:.3f} s, straightforward port "
        f"{results['gs_reference_seconds']:.3f} s: {results['gs_speedup']:.2f}x faster; "
        f"max |difference| {results['gs_max_abs_diff']:.2e} (image max {results['gs_image_abs_max']:.2f})"
    )
    print(f"peak RSS after building the model (before the forward): {rows[0]['rss_after_build_mb']:.0f} MB")


if __name__ == "__main__":
    main()
