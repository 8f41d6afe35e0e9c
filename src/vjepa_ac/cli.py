"""The ``vjepa-ac`` command: thin subcommands, each calling one library function.

A config, checkpoint or input error (``USER_ERRORS``) ends any subcommand with one line on
stderr, ``vjepa-ac <command>: error: <message>``, and exit status 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = """\
Train and plan with the V-JEPA 2-AC action-conditioned world model.

MODEL (plan, serve, eval, landscape) is a training run folder, the main job's folder (runs/sim),
a checkpoint (step_*.pt), a release name (vjepa2-ac-vitg), a released-format .pt, a Hugging Face
Hub id (owner/name) or Hub-layout folder (vjepa-ac export-hub), or tiny: / toy: (untrained test models)."""

EPILOG = """\
examples:
  vjepa-ac pipeline                                   the main job: sim data -> encoder -> predictor -> eval
  vjepa-ac plan runs/sim --image now.png --state "0.5 0 0.3 3.14 0 0 0" --goal goal.png
  vjepa-ac eval sim runs/sim sim.episodes=5
  vjepa-ac calibrate runs/sim sim.lab=eval_kitchen  probe moves -> calibration.json (the camera's action frame)
  vjepa-ac serve runs/sim --port 8765 --calibration calibration.json
  vjepa-ac train configs/sim.yaml batch_size=64

Configs are YAML files plus key=value overrides; an unknown key is an error naming it (exit 2).
Run 'vjepa-ac COMMAND --help' for a command's options; docs/ has the details."""


def _user_errors() -> tuple[type[BaseException], ...]:
    """What a user's config, checkpoint or input can cause: reported in one line, exit status 2."""
    import pickle

    import yaml

    from vjepa_ac.official import CheckpointMismatchError

    return (ValueError, OSError, CheckpointMismatchError, yaml.YAMLError, pickle.UnpicklingError)


def _cmd_info(args: argparse.Namespace) -> int:
    import torch

    import vjepa_ac

    print(f"vjepa-ac {vjepa_ac.__version__}, torch {torch.__version__}, cuda={torch.cuda.is_available()}")
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    import logging

    from vjepa_ac.config import load_config
    from vjepa_ac.encode import EncodeConfig, encode_dataset

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_config(EncodeConfig, args.config, args.overrides)
    print(json.dumps(encode_dataset(cfg)))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import logging

    from vjepa_ac.config import load_config
    from vjepa_ac.train.config import TrainConfig
    from vjepa_ac.train.loop import train
    from vjepa_ac.train.step import NonFiniteLossError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(TrainConfig, args.config, args.overrides)
    try:
        result = train(cfg, resume=args.resume)
    except NonFiniteLossError as e:
        print(f"vjepa-ac train: {e}", file=sys.stderr)
        return 1
    except FileExistsError as e:  # the run folder holds checkpoints, or another trainer holds its lock
        print(f"vjepa-ac train: refused (FileExistsError): {e}", file=sys.stderr)
        return 1
    print(f"{result.stopped} at step {result.step}; run folder {result.run_dir}")
    return 0


def _seven_numbers(text: str, flag: str):
    """A state given on the command line: 7 numbers separated by spaces or commas."""
    import numpy as np

    try:
        v = np.array([float(x) for x in text.replace(",", " ").split()], dtype=np.float64)
    except ValueError:
        v = np.zeros(0)
    if v.shape != (7,) or not np.all(np.isfinite(v)):
        raise ValueError(f"{flag} needs 7 finite numbers (xyz, euler xyz, gripper), got {text!r}")
    return v


def _json_kwargs(text: str | None, flag: str) -> dict | None:
    """``--encoder-kwargs '{"embed_dim": 1024, ...}'`` -> dict (None when not given)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{flag} must be a JSON object, got {text!r} ({e})") from e
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object, got {text!r}")
    return value


def _cmd_plan(args: argparse.Namespace) -> int:
    import logging
    import time

    from vjepa_ac.config import parse_overrides
    from vjepa_ac.data.images import read_image
    from vjepa_ac.load import load_world_model
    from vjepa_ac.plan.calibration import load_calibration
    from vjepa_ac.plan.config import MPCConfig, PlannerSpec
    from vjepa_ac.plan.mpc import Planner

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    state = _seven_numbers(args.state, "--state")
    spec = PlannerSpec(args.planner, args.planner_config, parse_overrides(args.overrides))
    cfg = spec.resolve(where="")
    image, goals = read_image(args.image), [read_image(p) for p in args.goal]
    loaded = load_world_model(args.model, device=args.device, crop=args.crop,
                              encoder_kwargs=_json_kwargs(args.encoder_kwargs, "--encoder-kwargs"),
                              predictor_kwargs=_json_kwargs(args.predictor_kwargs, "--predictor-kwargs"))
    calibration = None if args.calibration is None else load_calibration(args.calibration)
    policy = Planner(loaded.world_model, cfg, MPCConfig(seed=args.seed))
    t0 = time.perf_counter()
    action = policy({"image": image, "state": state}, goals if len(goals) > 1 else goals[0])
    extra = {}
    if calibration is not None:  # the plan is in the model's frame; the robot executes it turned
        extra = dict(planned_action=[round(float(a), 6) for a in action], calibration=str(args.calibration))
        action = calibration.to_robot(action)
    print(json.dumps(dict(action=[round(float(a), 6) for a in action], energy=policy.last_plan.energy,
                          plan_s=round(time.perf_counter() - t0, 3), model_id=loaded.model_id, **extra)))
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import logging

    from vjepa_ac.calibrate.run import CalibrateConfig, describe, probes_path, run_calibration
    from vjepa_ac.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config, overrides = _config_and_overrides(args)
    overrides += [f"episode={args.episode}"] if args.episode is not None else []
    overrides += [f"out={args.out}"] if args.out is not None else []
    cfg = load_config(CalibrateConfig, config, overrides)
    report = run_calibration(args.model, cfg)
    errors = report["errors"]
    print(describe(report["calibration"]))
    for warning in report["calibration"]["warnings"]:
        print(f"  warning: {warning}")
    for name, e in errors.items():
        print(f"  inferred-move error {name.replace('_', ' ')}: {e['error_cm']:.2f} cm, {e['angle_deg']:.1f} deg "
              f"(executed {e['executed_cm']:.2f} cm)")
    print(f"calibration: {cfg.out} (probes: {probes_path(cfg.out)})")
    return 0


def _cmd_export_hub(args: argparse.Namespace) -> int:
    from vjepa_ac.hub import export_hub

    out = export_hub(args.source, args.out_dir, eval_results=args.eval_results, crop=args.crop, fps=args.fps,
                     encoder_kwargs=_json_kwargs(args.encoder_kwargs, "--encoder-kwargs"),
                     predictor_kwargs=_json_kwargs(args.predictor_kwargs, "--predictor-kwargs"))
    print(json.dumps({"out_dir": str(out), "files": sorted(p.name for p in out.iterdir())}))
    if args.push_to_hub:
        from vjepa_ac.hub import HubWorldModel

        url = HubWorldModel.from_pretrained(out).push_to_hub(args.push_to_hub, private=args.private)
        print(json.dumps({"pushed": args.push_to_hub, "commit": str(url)}))
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
    overrides += [f"calibration={args.calibration}"] if args.calibration is not None else []
    serve(args.checkpoint, load_config(ServeConfig, args.config, overrides))
    return 0


def _cmd_sim_collect(args: argparse.Namespace) -> int:
    from vjepa_ac.config import load_config
    from vjepa_ac.sim.collect import CollectConfig, collect

    config, overrides = _config_and_overrides(args)
    summary = collect(load_config(CollectConfig, config, overrides))
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))
    return 1 if summary["errors"] else 0


def _config_and_overrides(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """An optional CONFIG positional that may really be the first key=value override."""
    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        config, overrides = None, [config, *overrides]
    return config, overrides


def _cmd_eval_sim(args: argparse.Namespace) -> int:
    import logging

    from vjepa_ac.config import load_config
    from vjepa_ac.eval.sim import RESULTS_MD, EvalSimConfig, run_sim_eval

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_config(EvalSimConfig, *_config_and_overrides(args))
    results = run_sim_eval(args.model, cfg)
    rows = results["summary"]
    for name, s in (rows[-1]["policies"] if rows else {}).items():
        lo, hi = s["ci95"]
        print(f"{name}: {s['successes']}/{s['episodes']} successes ({100 * s['success_rate']:.0f}%, "
              f"95% CI {100 * lo:.0f}-{100 * hi:.0f}%), final distance {100 * s['distance_mean']:.1f} cm, "
              f"{s['action_time_median']:.3f} s/action")
    print(f"table: {cfg.out_dir / RESULTS_MD}")
    return 0


def _cmd_eval_offline(args: argparse.Namespace) -> int:
    import logging

    from vjepa_ac.eval.offline import run_offline_eval

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    results = run_offline_eval(args.model, *_config_and_overrides(args))
    pred, act, droid = results.get("prediction"), results.get("action_score"), results.get("droid_score")
    if pred:
        print(f"teacher forcing L1 {pred['teacher_forcing']:.4f}, rollout L1 {pred['rollout']:.4f} "
              f"({pred['clips']} clips)")
    if act:
        cm = {k: f"{100 * act[k]['xyz_l1']:.2f} cm" for k in ("plan", "random", "zero")}
        print(f"action xyz L1: plan {cm['plan']}, random {cm['random']}, zero {cm['zero']} "
              f"({act['steps']} steps)")
    if droid:
        print(f"DROID action score (jepa-wms protocol) {droid['score']:.1f} +- {droid['score_sem']:.1f}: "
              f"mean xyz error {100 * droid['xyz_error']:.2f} cm ({droid['episodes']} episodes)")
    print(f"report: {results['config']['out_dir']}/offline.md")
    return 0


def _cmd_landscape(args: argparse.Namespace) -> int:
    import logging

    from vjepa_ac.data.images import read_image
    from vjepa_ac.eval.landscape import frame_pair_landscape, load_npz_pair, save_landscape
    from vjepa_ac.load import load_world_model

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.npz is not None:
        if args.image or args.goal or args.state:
            raise ValueError("give either --npz or --image/--goal/--state, not both")
        image, goal, state, next_state = load_npz_pair(args.npz, args.traj)
    else:
        if not (args.image and args.goal and args.state):
            raise ValueError("give --npz FILE, or --image, --goal and --state (and --next-state)")
        image, goal = read_image(args.image), read_image(args.goal)
        state = _seven_numbers(args.state, "--state")
        next_state = None if args.next_state is None else _seven_numbers(args.next_state, "--next-state")
    served = load_world_model(args.model, device=args.device, crop=args.crop)
    landscape = frame_pair_landscape(served.world_model, image, goal, state, next_state,
                                     gripper=args.gripper, grid=args.grid, steps=args.steps,
                                     energy=args.energy, chunk_size=args.chunk_size)
    summary = save_landscape(landscape, args.out, args.through, meta={"model_id": served.model_id})
    print(json.dumps({k: v for k, v in summary.items() if k != "true_action"}))
    return 0


def _cmd_decoder_train(args: argparse.Namespace) -> int:
    import logging

    from vjepa_ac.config import load_config
    from vjepa_ac.train.decoder import DecoderTrainConfig, train_decoder

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    summary = train_decoder(load_config(DecoderTrainConfig, *_config_and_overrides(args)))
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}))
    return 0


def _cmd_decoder_eval(args: argparse.Namespace) -> int:
    from vjepa_ac.config import load_config
    from vjepa_ac.data.index import DataConfig
    from vjepa_ac.train.decoder import evaluate_decoder

    data = load_config(DataConfig, args.data_config, [o.removeprefix("data.") for o in args.overrides])
    print(json.dumps(evaluate_decoder(args.decoder, args.features, data, every=args.every, device=args.device,
                                      out=args.samples)))
    return 0


def _cmd_rollout(args: argparse.Namespace) -> int:
    from vjepa_ac.data.images import read_image
    from vjepa_ac.rollout import decoded_rollout, parse_actions, summary_line

    result = decoded_rollout(
        args.model, args.out,
        image=None if args.image is None else read_image(args.image),
        state=None if args.state is None else _seven_numbers(args.state, "--state"),
        actions=None if args.actions is None else parse_actions(args.actions),
        episode=args.episode, start_step=args.start_step, steps=args.steps, decoder=args.decoder,
        device=args.device, crop=args.crop, fmt=args.format)
    print(summary_line(result))
    return 0


def _add_decoder_commands(sub) -> None:
    p = sub.add_parser("decoder", help="a frame decoder to look at predictions (docs/decoder.md)")
    dsub = p.add_subparsers(dest="decoder_command", required=True)
    t = dsub.add_parser("train", help="train a frame decoder on a feature cache and its frames")
    t.add_argument("config", nargs="?", default=None, help="YAML overriding DecoderTrainConfig")
    t.add_argument("overrides", nargs="*", help="key=value, e.g. features=runs/sim/features "
                   "data.droid.root=runs/sim/episodes out_dir=runs/sim/decoder steps=2000")
    t.set_defaults(func=_cmd_decoder_train)
    e = dsub.add_parser("eval", help="PSNR of a decoder on another feature cache (same encoder)")
    e.add_argument("decoder", help="decoder.pt")
    e.add_argument("--features", required=True, help="feature cache folder (vjepa-ac encode) of the frames")
    e.add_argument("--data-config", default=None, help="YAML of the DataConfig the cache was encoded from")
    e.add_argument("--every", type=int, default=1, help="score every n-th grid frame")
    e.add_argument("--device", default="auto")
    e.add_argument("--samples", default=None, help="also write a PNG of real / decoded frames here")
    e.add_argument("overrides", nargs="*", help="DataConfig key=value, e.g. data.droid.root=heldout")
    e.set_defaults(func=_cmd_decoder_eval)
    p = sub.add_parser("rollout", help="decoded frames a model predicts for an action sequence (docs/decoder.md)")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--image", default=None, help="start camera image (default: the episode's frame)")
    p.add_argument("--state", default=None, help="7 numbers: start x y z roll pitch yaw gripper")
    p.add_argument("--actions", default=None, help="actions.npy [H,7], or rows of 7 numbers separated by ';'")
    p.add_argument("--episode", default=None, help="a recorded raw DROID episode folder: real frames beside the "
                   "predicted ones; start, state and actions default to its own")
    p.add_argument("--start-step", type=int, default=0, help="--episode: the start step (at the model's rate)")
    p.add_argument("--steps", type=int, default=8, help="--episode without --actions: steps to predict")
    p.add_argument("--decoder", default="auto", help="decoder.pt (default: the model's <run>/decoder/decoder.pt)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--crop", default=None, choices=CROP_CHOICES, help=CROP_HELP)
    p.add_argument("--format", default="gif", choices=("gif", "mp4"), help="the animation's format")
    p.add_argument("--out", required=True, help="output folder: rollout.png, rollout.gif, predicted_*.png, rollout.json")
    p.set_defaults(func=_cmd_rollout)


def _add_eval_commands(sub) -> None:
    model_help = MODEL_HELP
    p = sub.add_parser("eval", help="evaluate a world model: in the sim, or offline on held-out data")
    eval_sub = p.add_subparsers(dest="eval_command", required=True)
    for name, func, help_, config, example in (
        ("sim", _cmd_eval_sim, "planner + random baseline on the sim tasks (resumable)", "EvalSimConfig",
         "sim.episodes=5 sim.tasks=[reach] plan.num_samples=400"),
        ("offline", _cmd_eval_offline, "prediction L1 per horizon and action score, held-out episodes",
         "OfflineEvalConfig", "dataset.droid.root=/data/droid action_score.clips=8"),
    ):
        e = eval_sub.add_parser(name, help=help_)
        e.add_argument("model", help=model_help)
        e.add_argument("config", nargs="?", default=None, help=f"YAML overriding {config}")
        e.add_argument("overrides", nargs="*", help=f"key=value, e.g. {example}")
        e.set_defaults(func=func)
    p = sub.add_parser("landscape", help="energy over a grid of xyz actions for a frame pair, as heatmaps")
    p.add_argument("model", help=model_help)
    p.add_argument("--npz", default=None,
                   help="observations [B,T,H,W,3] + states [B,T,7]: first -> last frame")
    p.add_argument("--traj", type=int, default=0, help="--npz: which trajectory")
    p.add_argument("--image", default=None, help="current camera image")
    p.add_argument("--goal", default=None, help="goal image")
    p.add_argument("--state", default=None, help="7 numbers: current x y z roll pitch yaw gripper")
    p.add_argument("--next-state", default=None,
                   help="7 numbers: the state at the goal (marks the recorded action)")
    p.add_argument("--grid", type=float, default=0.075, help="m, half-width of the grid per axis")
    p.add_argument("--steps", type=int, default=21, help="grid points per axis (odd: 0 is on the grid)")
    p.add_argument("--gripper", choices=["true", "zero"], default="true",
                   help="gripper change of the grid actions: the recorded one, or 0")
    p.add_argument("--through", choices=["argmin", "zero", "true"], default="argmin",
                   help="the heatmap planes pass through the minimum, the origin, or the recorded action")
    p.add_argument("--energy", choices=["l1", "l2"], default="l1")
    p.add_argument("--chunk-size", type=int, default=1024, help="grid actions per world-model call")
    p.add_argument("--device", default="auto")
    p.add_argument("--crop", default=None, choices=CROP_CHOICES, help=CROP_HELP)
    p.add_argument("--out", default="landscape.png",
                   help="PNG; the grid goes to .npz and a summary to .json beside it")
    p.set_defaults(func=_cmd_landscape)


def _add_sim_commands(sub) -> None:
    p = sub.add_parser("sim", help="the simulated DROID-like Franka")
    sim_sub = p.add_subparsers(dest="sim_command", required=True)
    c = sim_sub.add_parser("collect", help="collect scripted episodes in raw DROID format (resumable)")
    c.add_argument("config", nargs="?", default=None, help="YAML overriding CollectConfig, e.g. configs/sim_collect.yaml")
    c.add_argument("overrides", nargs="*", help="key=value overrides, e.g. episodes=1000 workers=2 sim.image_size=256")
    c.set_defaults(func=_cmd_sim_collect)


def _cmd_pipeline(args: argparse.Namespace) -> int:
    import logging

    from vjepa_ac.config import load_config
    from vjepa_ac.pipeline import PipelineConfig, results_table, run_pipeline

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        config, overrides = None, [config, *overrides]  # only key=value overrides were given
    cfg = load_config(PipelineConfig, config, overrides)
    summary = run_pipeline(cfg)
    print(results_table(cfg))
    print("stage seconds: " + ", ".join(f"{k} {v['seconds']:.0f}" for k, v in summary["stages"].items()))
    return 0


MODEL_HELP = ("a training run folder, the main job's folder (runs/sim), a checkpoint, a release name "
              "(vjepa2-ac-vitg), a released-format .pt, a Hub id or Hub-layout folder, or tiny: (untrained)")
CROP_CHOICES = ("released", "square")  # data.transforms.CROPS (not imported: --help stays light)
CROP_HELP = "crop of camera frames (default: the one the model was trained with, else square)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vjepa-ac", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    p = sub.add_parser("plan", help="plan one action from a current image + state toward goal image(s)")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--image", required=True, help="current camera image (PNG/JPEG)")
    p.add_argument("--state", required=True, help="7 numbers: x y z roll pitch yaw gripper")
    p.add_argument("--goal", required=True, action="append", help="goal image; repeat for intermediate goals")
    p.add_argument("--planner", default="paper", help="cem, mppi, nevergrad, gradient, or a CEM preset: paper, notebook, jepa_wms_droid")
    p.add_argument("--planner-config", default=None, help="YAML overrides (configs/plan/*.yaml)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    p.add_argument("--crop", default=None, choices=CROP_CHOICES, help=CROP_HELP)
    p.add_argument("--encoder-kwargs", default=None, metavar="JSON",
                   help="architecture of a released-format .pt's encoder (public VisionTransformer arguments)")
    p.add_argument("--predictor-kwargs", default=None, metavar="JSON",
                   help="architecture of its predictor (public VisionTransformerPredictorAC arguments)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--calibration", default=None, metavar="FILE",
                   help="calibration.json of vjepa-ac calibrate: print the action turned into the robot's frame")
    p.add_argument("overrides", nargs="*", help="planner key=value overrides, e.g. num_samples=400 horizon=2")
    p.set_defaults(func=_cmd_plan)
    p = sub.add_parser("serve", help="serve the planner over HTTP to a robot's control loop (docs/serve.md)")
    p.add_argument("checkpoint", help=MODEL_HELP.replace("or tiny: (untrained)", "or toy: / tiny: (test models)"))
    p.add_argument("--config", default=None, help="YAML file of a ServeConfig (configs/serve.yaml)")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=None, help="TCP port (default 8765)")
    p.add_argument("--calibration", default=None, metavar="FILE",
                   help="calibration.json of vjepa-ac calibrate: replies carry actions in the robot's frame")
    p.add_argument("overrides", nargs="*", help="ServeConfig key=value overrides, e.g. max_samples=1024")
    p.set_defaults(func=_cmd_serve)
    p = sub.add_parser("calibrate", help="measure the camera's action frame from probe moves (sim) or recorded "
                       "moves, and save calibration.json for plan / serve / eval sim (docs/calibrate.md)")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("config", nargs="?", default=None, help="YAML overriding CalibrateConfig")
    p.add_argument("--episode", default=None, metavar="PATH",
                   help="recorded moves: a raw DROID episode folder (or a folder of them) or a LeRobot dataset; "
                        "default: probe moves in the sim (sim.lab, sim.camera_azimuth)")
    p.add_argument("--out", default=None, metavar="FILE", help="where to write the calibration (calibration.json)")
    p.add_argument("overrides", nargs="*", help="key=value, e.g. sim.lab=eval_garage sim.camera_azimuth=30 fit=rotation")
    p.set_defaults(func=_cmd_calibrate)
    p = sub.add_parser("export-hub", help="write a model in the Hugging Face Hub layout (safetensors + "
                       "config.json + model card; docs/finetune.md)")
    p.add_argument("source", help="a training run folder, a checkpoint, a release name, a released-format .pt "
                   "or a Hub-layout folder")
    p.add_argument("out_dir", help="folder to write (model.safetensors, config.json, README.md)")
    p.add_argument("--eval-results", default=None, metavar="JSON", help="an eval sim results.json for the card")
    p.add_argument("--crop", default=None, choices=CROP_CHOICES, help="planning crop (default: the source's)")
    p.add_argument("--fps", type=float, default=None, help="control rate, actions/s (default: the source's)")
    p.add_argument("--encoder-kwargs", default=None, metavar="JSON", help="architecture of a released-format "
                   ".pt's encoder")
    p.add_argument("--predictor-kwargs", default=None, metavar="JSON", help="architecture of its predictor")
    p.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="then upload the folder to this Hub "
                   "repository (needs a token: huggingface-cli login)")
    p.add_argument("--private", action="store_true", help="create the Hub repository private")
    p.set_defaults(func=_cmd_export_hub)
    _add_sim_commands(sub)
    p = sub.add_parser("pipeline", help="the main job: sim data -> features -> predictor -> planning eval")
    p.add_argument("config", nargs="?", default=None, help="YAML overriding PipelineConfig (default: embedded)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. work_dir=runs/x collect.episodes=100")
    p.set_defaults(func=_cmd_pipeline)
    _add_eval_commands(sub)
    _add_decoder_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from vjepa_ac.threads import prefer_passive_wait, tune_allocator

    prefer_passive_wait()  # before anything imports torch: OpenMP reads it once (vjepa_ac/threads.py)
    tune_allocator()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line
    args, extra = parser.parse_known_args([a for a in argv if a != "--debug"])
    # key=value overrides may come after options too (argparse stops collecting them at an option)
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if debug:
        return int(args.func(args) or 0)
    try:
        return int(args.func(args) or 0)
    except _user_errors() as e:
        command = " ".join(c for c in (args.command, getattr(args, "eval_command", None),
                                       getattr(args, "sim_command", None), getattr(args, "decoder_command", None))
                           if c)
        message = "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
        print(f"vjepa-ac {command}: error: {message} (--debug shows the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
