"""``spcauchy`` command line: train | evaluate | sample | interpolate | compare | report | demo |
cluster.

Configs come from TOML presets (``--config mnist-mlp``) or files, with ``--set key=value``
overrides. User mistakes print one line and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from ..distributions.mixture import (
    SphericalMixture,
    adjusted_rand_index,
    normalized_mutual_information,
)
from ..latents import LATENTS
from . import plots
from .compare import run_grid
from .config import Config, ConfigError, load, preset_names
from .data.packages import DataError
from .datasets import dataset, load_recorded, load_run
from .demo import demo
from .distributed import teardown
from .evaluate import evaluate_run
from .report import write_report
from .rundir import read_config
from .train import NonFiniteLossError, train

MAX_STEPS = 1000  # points on an interpolation path


def _config(args: argparse.Namespace) -> Config:
    return load(args.config, args.set)


def cmd_train(args: argparse.Namespace) -> None:
    try:
        history = train(_config(args), args.out, resume=args.resume)
    finally:
        teardown()
    if os.environ.get("RANK", "0") == "0":  # under torchrun only the first process reports
        print(json.dumps(history[-1] if history else {}, indent=2))
        if args.evaluate:
            print(json.dumps(evaluate_run(args.out), indent=2))


def cmd_evaluate(args: argparse.Namespace) -> None:
    for name in ("k", "limit", "samples"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            raise ConfigError(f"--{name} must be ≥ 0, got {getattr(args, name)}")
    if args.table_only and (args.k is not None or args.limit is not None):
        raise ConfigError("--table-only reuses the runs' test metrics: drop --k and --limit")
    for run in [] if args.table_only else args.runs:
        print(json.dumps({"run": run, **evaluate_run(run, k=args.k, limit=args.limit)}, indent=2))
    _molecule_table(args)


def _molecule_table(args: argparse.Namespace) -> None:
    """The MOSES metric table of SMILES runs, with a training-subsample reference row."""
    first = read_config(args.runs[0])
    n = first.samples if args.samples is None and first.dataset == "smiles" else args.samples
    if not n and args.table_only:
        raise ConfigError("--table-only needs --samples > 0 (or a config with samples)")
    if not n:
        return
    if first.dataset != "smiles":
        raise ConfigError("--samples needs SMILES runs")
    from .datasets.smiles import metric_table  # RDKit and the FCD model: only for this table

    shared: dict = {}
    # --table-only: a run kept without its weights is scored from its recorded samples
    runs = [load_recorded(r, shared) if args.table_only and not (Path(r) / "best.pt").exists()
            else load_run(r, shared=shared) for r in args.runs]
    out = args.table or Path(args.runs[0]) / "molecule_metrics.md"
    metric_table(runs, n=n, out=out, reference_size=args.reference_size)
    print(Path(out).read_text())


def cmd_sample(args: argparse.Namespace) -> None:
    if args.n < 1:
        raise ConfigError(f"-n must be a positive number of samples, got {args.n}")
    if args.temperature is not None and not (math.isfinite(args.temperature)
                                             and args.temperature >= 0):
        raise ConfigError(f"--temperature must be a finite number ≥ 0, got {args.temperature}")
    run = load_run(args.run)
    out = Path(args.out) if args.out else None
    print(dataset(run.cfg).sample(run, args.n, out, args.temperature, args.seed))


def cmd_interpolate(args: argparse.Namespace) -> None:
    if not 2 <= args.steps <= MAX_STEPS:
        raise ConfigError(f"--steps must be in 2..{MAX_STEPS}, got {args.steps}")
    if len(args.ends) not in (0, 2):
        raise ConfigError(f"give two endpoints or none, got {len(args.ends)}")
    run = load_run(args.run)
    out = Path(args.out) if args.out else None
    print(dataset(run.cfg).interpolate(run, args.ends, args.steps, out))


def cmd_compare(args: argparse.Namespace) -> None:
    # seeds outermost: a partial grid covers every (family, d) with the first seeds first
    configs = [dataclasses.replace(load(args.config, args.set, latent_dim=d), family=f, seed=s)
               for s in args.seeds for d in args.dims for f in args.families]
    rows = run_grid(configs, args.out, jobs=args.jobs, train_cells=not args.tables_only)
    print((Path(args.out) / "results.md").read_text() if rows else "empty grid")


def cmd_report(args: argparse.Namespace) -> None:
    print(write_report(args.runs, args.out, title=args.title, tables=args.table))


def cmd_demo(args: argparse.Namespace) -> None:
    print(demo(args.out, args.set))


def cmd_cluster(args: argparse.Namespace) -> None:
    for name, low in (("k", 1), ("restarts", 1), ("limit", 0)):
        if getattr(args, name) < low:
            raise ConfigError(f"--{name} must be an integer ≥ {low}, got {getattr(args, name)}")
    run = load_run(args.run)
    cfg, model = run.cfg, run.model
    if not model.latent.spherical:
        raise ConfigError(f"{args.run} has {cfg.family} latents; cluster needs spherical ones")
    test = run.data.test
    test = test.head(args.limit) if args.limit else test
    locs, labels = [], []
    with torch.no_grad():  # posterior mean directions μ(x) of the test set, on S^d
        for batch in test.batches(100):
            loc = model.posterior(batch["x"]).loc.double()  # float64 EM, renormalized
            locs.append(loc / torch.linalg.vector_norm(loc, dim=-1, keepdim=True))
            labels.append(batch.get("y"))
    z = torch.cat(locs)
    if len(z) < max(3, args.k):
        raise ConfigError(f"{len(z)} test points are too few for k = {args.k}")
    mix = SphericalMixture(args.family or cfg.family, args.k).fit(
        z, restarts=args.restarts, generator=torch.Generator().manual_seed(args.seed))
    out = {"run": args.run, "family": mix.family, "k": args.k, "n": len(z),
           "mean_log_lik": mix.history[-1], "bic": mix.bic(z), "converged": mix.converged,
           "weights": mix.weights.tolist(), "concentration": mix.concentration.tolist()}
    assigned = mix.predict(z)
    if all(y is not None and y.dim() == 1 and not y.is_floating_point() for y in labels):
        y = torch.cat(labels)
        out["adjusted_rand_index"] = adjusted_rand_index(y, assigned)
        out["normalized_mutual_information"] = normalized_mutual_information(y, assigned)
    if z.shape[-1] == 3:  # S²: the fitted components on the map
        path = Path(args.out or Path(args.run) / f"clusters-k{args.k}.png")
        out["map"] = str(plots.save_cluster_map(z, assigned, mix.loc, path))
    print(json.dumps(out, indent=2))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "--preset", default="mnist-mlp",
                   help=f"preset ({', '.join(preset_names())}) or a .toml file [mnist-mlp]")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set family=spcauchy --set latent_dim=5")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="spcauchy", epilog="Start with `spcauchy demo`; `spcauchy COMMAND --help` for more.",
        description="Hyperspherical VAEs (spCauchy, vMF, Power Spherical, Gaussian latents).")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: dict[str, tuple[Callable, str]] = {
        "train": (cmd_train, "train one model (torchrun-compatible)"),
        "evaluate": (cmd_evaluate, "test ELBO, KL, IS log-likelihood and active units of runs "
                     "(SMILES: reconstruction and, with --samples, the MOSES metric table)"),
        "sample": (cmd_sample, "decode prior samples: a PNG grid (MNIST) or a .smi file"),
        "interpolate": (cmd_interpolate, "geodesic interpolation between two test digits or "
                        "two molecules"),
        "compare": (cmd_compare, "grid of families × dims × seeds with a results table"),
        "report": (cmd_report, "self-contained HTML report of one or more runs"),
        "demo": (cmd_demo, "few-minute spCauchy vs Gaussian VAE on MNIST with an HTML report"),
        "cluster": (cmd_cluster, "EM mixture of the test set's latent directions (spherical "
                    "runs), with the adjusted Rand index against the labels where there are any"),
    }
    keys = "config keys for --set: " + ", ".join(
        f"{k}={json.dumps(v)}" for k, v in Config().to_dict().items())
    ps = {name: sub.add_parser(name, help=text, description=text, epilog=keys)
          for name, (_, text) in commands.items()}
    for name, (fn, _) in commands.items():
        ps[name].set_defaults(func=fn)
    _common(ps["train"])
    ps["train"].add_argument("--out", required=True, help="run directory")
    ps["train"].add_argument("--resume", action="store_true", help="continue an interrupted run")
    ps["train"].add_argument("--evaluate", action="store_true", help="evaluate on the test set")
    ps["evaluate"].add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    ps["evaluate"].add_argument("--k", type=int, default=None, help="importance samples [config]")
    ps["evaluate"].add_argument("--limit", type=int, default=None, help="first n test examples")
    ps["evaluate"].add_argument("--samples", type=int, default=None,
                                help="SMILES runs: molecules sampled per run for the MOSES metric "
                                     "table with a training-subsample reference row "
                                     "[config: 10000; 0: no table]")
    ps["evaluate"].add_argument("--table", default=None,
                                help="markdown path of that table [RUN/molecule_metrics.md]")
    ps["evaluate"].add_argument("--table-only", action="store_true",
                                help="SMILES runs: only the MOSES metric table, beside the test "
                                     "metrics the runs have (test_metrics.json); a run without "
                                     "its weights is scored from the samples an earlier table "
                                     "recorded")
    ps["evaluate"].add_argument("--reference-size", type=int, default=10_000,
                                help="molecules of MOSES test / test_scaffolds the table's FCD, "
                                     "SNN, Frag and Scaf compare with [10000]")
    for name in ("sample", "interpolate"):
        ps[name].add_argument("run", help="run directory")
        ps[name].add_argument("--out", default=None,
                              help="output path [RUN/<command>.png; samples of SMILES runs: "
                                   "RUN/samples.smi]")
    ps["sample"].add_argument("-n", "--n", type=int, default=64, help="number of samples [64]")
    ps["sample"].add_argument("--temperature", type=float, default=None,
                              help="SMILES runs: 0 = greedy [config: 1.0]")
    ps["sample"].add_argument("--seed", type=int, default=0, help="SMILES runs: seed [0]")
    ps["interpolate"].add_argument("ends", nargs="*", metavar="END",
                                   help="two test-image indices (MNIST) [0 1] or two SMILES")
    ps["interpolate"].add_argument("--steps", type=int, default=10, help="points on the path")
    _common(ps["compare"])
    ps["compare"].add_argument("--families", nargs="+", default=list(LATENTS),
                               help=f"latent families [{' '.join(LATENTS)}]")
    ps["compare"].add_argument("--dims", nargs="+", type=int, default=[2, 5, 10, 20, 40])
    ps["compare"].add_argument("--seeds", nargs="+", type=int, default=[0])
    ps["compare"].add_argument("--out", required=True, help="grid directory")
    ps["compare"].add_argument("--jobs", type=int, default=1,
                               help="cells trained at once in separate processes, the CPU "
                                    "cores split among them [1]")
    ps["compare"].add_argument("--tables-only", action="store_true",
                               help="only rebuild results.md / results.csv from finished cells")
    ps["report"].add_argument("runs", nargs="+", help="run directories")
    ps["report"].add_argument("--out", default="report.html", help="HTML file [report.html]")
    ps["report"].add_argument("--title", default="spcauchy report")
    ps["report"].add_argument("--table", action="append", default=[],
                              help="markdown table to include, e.g. from evaluate --table")
    ps["demo"].add_argument("--out", default="spcauchy-demo", help="output directory")
    ps["demo"].add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="override a field of the demo preset")
    ps["cluster"].add_argument("run", help="run directory")
    ps["cluster"].add_argument("--k", type=int, default=10, help="mixture components [10]")
    ps["cluster"].add_argument("--family", choices=("spcauchy", "vmf", "power"), default=None,
                               help="component family [the run's latent family]")
    ps["cluster"].add_argument("--limit", type=int, default=0, help="first n test examples [all]")
    ps["cluster"].add_argument("--restarts", type=int, default=4, help="EM restarts [4]")
    ps["cluster"].add_argument("--seed", type=int, default=0, help="seeding generator [0]")
    ps["cluster"].add_argument("--out", default=None,
                               help="S² runs: PNG of the components on the map "
                                    "[RUN/clusters-kK.png]")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def one_line(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"spcauchy {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():  # restores the display on return
            warnings.showwarning = one_line
            args.func(args)
    except (ConfigError, DataError) as err:
        print(f"spcauchy {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # unreadable input, read-only or full output directory
        where = f": {err.filename}" if err.filename else ""
        print(f"spcauchy {args.command}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except NonFiniteLossError as err:
        print(f"spcauchy {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"spcauchy {args.command}: interrupted (rerun with --resume)", file=sys.stderr)
        return 130
    return 0
