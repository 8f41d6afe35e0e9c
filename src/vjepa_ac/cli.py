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


def _cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from vjepa_ac.config import load_config
    from vjepa_ac.serve.config import ServeConfig
    from vjepa_ac.serve.server import serve

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = list(args.overrides)
    overrides += [f"host={args.host}"] if args.host is not None else []
    overrides += [f"port={args.port}"] if args.port is not None else []
    serve(args.checkpoint, load_config(ServeConfig, args.config, overrides))
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
    p = sub.add_parser("serve", help="serve the planner over HTTP to a robot's control loop (docs/serve.md)")
    p.add_argument("checkpoint", help="released-format AC .pt file, or 'toy:' / 'tiny:' (test models)")
    p.add_argument("--config", default=None, help="YAML file of a ServeConfig (configs/serve.yaml)")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=None, help="TCP port (default 8765)")
    p.add_argument("overrides", nargs="*", help="ServeConfig key=value overrides, e.g. max_samples=1024")
    p.set_defaults(func=_cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
