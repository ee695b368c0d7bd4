"""The commands about models: ``info``, ``presets``, ``convert``, ``download``, ``list`` and ``env``."""

from __future__ import annotations

import argparse
import json

from ..config import list_presets
from ..version import __version__
from .common import load_config, non_negative_int


def cmd_info(args: argparse.Namespace) -> int:
    from ..summary import summarize

    config = load_config(args.model)
    if args.paths or args.fusion:
        config = config.replace(**{k: v for k, v in (("paths", args.paths), ("fusion", args.fusion)) if v})
    summary = summarize(config, batch_size=args.batch_size)
    if args.json:
        print(json.dumps({"config": config.to_dict(), "params": summary.params, "flops": summary.flops}, indent=2))
    else:
        print(summary.format())
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    for name, description in list_presets().items():
        print(f"{name:<12} {description}")
    return 0


def cmd_convert_stylegan2(args: argparse.Namespace) -> int:
    from ..convert import convert_stylegan2

    report = convert_stylegan2(
        args.src,
        args.output,
        samples=args.samples,
        seed=args.seed,
        truncation_psi=args.truncation,
        with_discriminator=not args.no_discriminator,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format())
    return 0


def add_convert(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    convert = sub.add_parser("convert", help="convert pretrained weights into this package's format")
    kinds = convert.add_subparsers(dest="kind", required=True)
    sg = kinds.add_parser(
        "stylegan2",
        help="a StyleGAN2 (rosinality .pt, NVIDIA ada-pytorch/stylegan3 .pkl, NVIDIA TensorFlow .pkl)",
        description="Convert a pretrained StyleGAN2 into a folder (config.json + stylegan2.safetensors), report "
        "the inferred architecture and parameter counts, and render samples.png from fixed seeds. Pickles "
        "are read with a restricted unpickler: nothing in the file is executed.",
    )
    sg.add_argument("src", help="the weights file (.pt or .pkl) or a converted folder")
    sg.add_argument("--output", "-o", required=True, help="folder to write (created if needed)")
    sg.add_argument("--samples", type=non_negative_int, default=8, help="images in samples.png (default 8; 0 = none)")
    sg.add_argument("--seed", type=int, default=0, help="first seed of the samples (default 0)")
    sg.add_argument("--truncation", type=float, default=0.7, help="truncation psi of the samples (default 0.7)")
    sg.add_argument("--no-discriminator", action="store_true", help="convert the generator only")
    sg.add_argument("--json", action="store_true", help="print the report as JSON")
    sg.set_defaults(func=cmd_convert_stylegan2)


def cmd_download(args: argparse.Namespace) -> int:
    from ..checkpoint import read_config
    from ..hub import PRETRAINED, resolve_checkpoint

    folder = resolve_checkpoint(args.model, revision=args.revision, variant=args.variant, force_download=args.force)
    config = read_config(folder)
    model = PRETRAINED.get(args.model)
    bundled = " (bundled with dpinpaint: nothing to download)" if model is not None and model.bundled else ""
    print(f"{args.model}: {config.name} ({config.resolution}x{config.resolution}) in {folder}{bundled}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from ..registry import list_models

    if not args.cached:
        for model in list_models():
            print(model)
        return 0
    from ..hub_cache import cached_checkpoints, hub_cache_folder

    folder = hub_cache_folder()  # the cache it reports below, read now
    found = cached_checkpoints(folder)
    rows = [f"{c.repo_id:<32} {c.commit[:12]}  {c.size_bytes / 1e6:8.1f} MB  {', '.join(c.files)}" for c in found]
    print("\n".join(rows) if rows else f"no dpinpaint checkpoints in the cache at {folder}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    import platform
    from importlib import metadata

    import torch
    from huggingface_hub import constants

    from ..device import resolve_device
    from ..ops import torchvision_kernels_available

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    device = resolve_device("auto")
    facts = {
        "dpinpaint": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": version("torchvision"),
        "torchvision kernels active": torchvision_kernels_available(),
        "numpy": version("numpy"),
        "pillow": version("pillow"),
        "huggingface-hub": version("huggingface-hub"),
        "safetensors": version("safetensors"),
        "opencv-python": version("opencv-python"),
        "device (auto)": str(device),
        "cuda available": torch.cuda.is_available(),
        "torch threads": torch.get_num_threads(),
        "hub endpoint": constants.ENDPOINT,
        "hub cache": constants.HF_HUB_CACHE,
        "hub offline": bool(constants.HF_HUB_OFFLINE),
    }
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        for key, value in facts.items():
            print(f"{key + ':':<28}{value}")
    return 0


def add_hub_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    download = sub.add_parser("download", help="download a model into the Hugging Face cache")
    download.add_argument("model", help="model name (dpinpaint list) or org/repo[@revision]")
    download.add_argument("--revision", help="branch, tag or commit")
    download.add_argument("--variant", choices=["fp16"], help="download model.fp16.safetensors instead")
    download.add_argument(
        "--force", action="store_true", help="download the files again even if they are cached (a damaged cache)"
    )
    download.set_defaults(func=cmd_download)
    models = sub.add_parser("list", help="list the pretrained model names (or the cached checkpoints)")
    models.add_argument("--cached", action="store_true", help="list the checkpoints in the Hugging Face cache")
    models.set_defaults(func=cmd_list)
    env = sub.add_parser("env", help="versions, device, cache location, torchvision kernels")
    env.add_argument("--json", action="store_true", help="print JSON")
    env.set_defaults(func=cmd_env)
