"""The ``vjepa-ac`` command: thin subcommands, each calling one library function."""

from __future__ import annotations

import argparse
import sys


def _cmd_info(args: argparse.Namespace) -> int:
    import torch

    import vjepa_ac

    print(f"vjepa-ac {vjepa_ac.__version__}, torch {torch.__version__}, cuda={torch.cuda.is_available()}")
    return 0


def _cmd_sim_collect(args: argparse.Namespace) -> int:
    import json

    from vjepa_ac.config import load_config
    from vjepa_ac.sim.collect import CollectConfig, collect

    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        config, overrides = None, [config, *overrides]  # only key=value overrides were given
    summary = collect(load_config(CollectConfig, config, overrides))
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))
    return 1 if summary["errors"] else 0


def _add_sim_commands(sub) -> None:
    p = sub.add_parser("sim", help="the simulated DROID-like Franka")
    sim_sub = p.add_subparsers(dest="sim_command", required=True)
    c = sim_sub.add_parser("collect", help="collect scripted episodes in raw DROID format (resumable)")
    c.add_argument("config", nargs="?", default=None, help="YAML overriding CollectConfig, e.g. configs/sim_collect.yaml")
    c.add_argument("overrides", nargs="*", help="key=value overrides, e.g. episodes=1000 workers=2 sim.image_size=256")
    c.set_defaults(func=_cmd_sim_collect)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vjepa-ac", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="print versions and the device")
    p.set_defaults(func=_cmd_info)
    _add_sim_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
