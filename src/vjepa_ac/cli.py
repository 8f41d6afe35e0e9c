"""The ``vjepa-ac`` command: thin subcommands, each calling one library function."""

from __future__ import annotations

import argparse
import sys


def _cmd_info(args: argparse.Namespace) -> int:
    import torch

    import vjepa_ac

    print(f"vjepa-ac {vjepa_ac.__version__}, torch {torch.__version__}, cuda={torch.cuda.is_available()}")
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    import json
    import logging

    from vjepa_ac.config import load_config
    from vjepa_ac.data.features import EncodeConfig, encode_dataset

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_config(EncodeConfig, args.config, args.overrides)
    print(json.dumps(encode_dataset(cfg)))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import logging

    from vjepa_ac.config import ConfigError, load_config
    from vjepa_ac.train.config import TrainConfig
    from vjepa_ac.train.loop import train
    from vjepa_ac.train.step import NonFiniteLossError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(TrainConfig, args.config, args.overrides)
    except ConfigError as e:
        print(f"vjepa-ac train: config error: {e}", file=sys.stderr)
        return 2
    try:
        result = train(cfg, resume=args.resume)
    except NonFiniteLossError as e:
        print(f"vjepa-ac train: {e}", file=sys.stderr)
        return 1
    print(f"{result.stopped} at step {result.step}; run folder {result.run_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vjepa-ac", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="print versions and the device")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("encode", help="cache frozen-encoder features of a dataset (resumable)")
    p.add_argument("config", help="YAML file of an EncodeConfig (configs/encode_droid.yaml)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. output=/data/cache clips.fps=4")
    p.set_defaults(func=_cmd_encode)
    p = sub.add_parser("train", help="train the AC predictor (one process, or many under torchrun)")
    p.add_argument("config", help="YAML file overriding TrainConfig defaults (configs/*.yaml)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. batch_size=64 optim.peak_lr=3e-4")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue from the run folder's latest checkpoint (or the given one)")
    p.set_defaults(func=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
