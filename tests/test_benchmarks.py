"""benchmarks/bench_planners.py runs and counts the evaluations it reports (tiny budgets)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_bench_planners_emits_one_line_per_planner_and_budget(capsys):
    pytest.importorskip("nevergrad")
    from bench_planners import main

    assert main(["--budgets", "0.01", "0.02", "--repeats", "1", "--threads", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["planner"], r["budget"]) for r in lines] == [
        (p, b) for p in ("cem", "mppi", "nevergrad", "gradient") for b in (0.01, 0.02)]
    cem = lines[0]
    assert cem["num_samples"] == 10 and cem["evaluations"] == 10 * 10 + 1  # + the re-scored plan
    grad = lines[-1]  # 0.02 x 8000 / 3 Adam steps, 3 evaluations each, + the final scoring
    assert grad["iterations"] == 53 and grad["evaluations"] == 53 * 3 + 1 + 1
    assert all(r["s_per_action"] > 0 and r["energy"] >= 0 and "cpu" in r["device"] for r in lines)
