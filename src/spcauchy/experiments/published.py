"""Published MNIST numbers, shown beside ours (always labelled as published, never as results).

``mlp``: Davidson et al. 2018 (S-VAE), Table 2: IS log-likelihood (k = 500) and ELBO,
dynamically binarized MNIST, MLP 784-256-128. ``cnn``: Sablica & Hornik 2025, best test
reconstruction BCE over 40 epochs (mean ± sd of 5 seeds), grey-level MNIST, CNN 32/64/128.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from . import plots

# protocol → family → d → {metric: value}
PUBLISHED: dict[str, dict[str, dict[int, dict[str, float]]]] = {
    "mlp": {
        "normal": {2: {"log_lik": -135.73, "elbo": -137.08}, 5: {"log_lik": -110.21,
                   "elbo": -112.98}, 10: {"log_lik": -93.84, "elbo": -98.36},
                   20: {"log_lik": -88.90, "elbo": -94.79}, 40: {"log_lik": -88.93,
                   "elbo": -94.91}},
        "vmf": {2: {"log_lik": -132.50, "elbo": -133.72}, 5: {"log_lik": -108.43,
                "elbo": -111.19}, 10: {"log_lik": -93.16, "elbo": -97.70},
                20: {"log_lik": -89.02, "elbo": -96.15}, 40: {"log_lik": -90.87,
                "elbo": -101.26}},
    },
    "cnn": {
        family: {d: {"recon": m, "recon_sd": sd}
                 for d, (m, sd) in zip((2, 3, 5, 10, 20), values, strict=True)}
        for family, values in {
            "normal": ((133.07, 0.59), (118.65, 1.07), (102.40, 1.25), (81.07, 0.23),
                       (75.08, 0.27)),
            "vmf": ((132.03, 1.32), (118.25, 0.37), (104.55, 0.44), (83.38, 0.36),
                    (97.25, 45.06)),
            "power": ((132.53, 0.82), (119.04, 0.48), (106.09, 0.65), (84.12, 0.54),
                      (82.29, 6.02)),
            "spcauchy": ((130.29, 0.40), (116.44, 0.63), (100.22, 0.21), (80.30, 0.38),
                         (74.43, 0.30)),
        }.items()
    },
}
SOURCES = {"mlp": "Davidson et al. 2018 (S-VAE), IS-LL k=500 / ELBO",
           "cnn": "Sablica & Hornik 2025, best test reconstruction BCE, 5 seeds"}


def side_by_side(rows: list[dict], protocol: str) -> str:
    """Markdown: our mean over seeds next to the published value, per (d, family, metric)."""
    table = PUBLISHED.get(protocol, {})
    metrics = ("log_lik", "elbo") if protocol == "mlp" else ("recon",)
    head = "| d | family | " + " | ".join(f"ours {m} | published {m}" for m in metrics) + " |"
    lines = [f"Published: {SOURCES.get(protocol, 'none')}.", "", head,
             "|" + "---|" * (2 + 2 * len(metrics))]
    keys = sorted({(r["d"], r["family"]) for r in rows})
    for d, family in keys:
        cell = [r for r in rows if (r["d"], r["family"]) == (d, family)]
        pub = table.get(family, {}).get(d, {})
        parts = []
        for m in metrics:
            ours = sum(r[m] for r in cell) / len(cell)
            parts += [f"{ours:.2f}", f"{pub[m]:.2f}" if m in pub else "–"]
        lines.append(f"| {d} | {family} | " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n"


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def summary_table(rows: list[dict], protocol: str = "cnn") -> str:
    """Markdown: per (d, family), mean ± sd over seeds of the paper's metric (``best_recon``)
    beside the published value, and of the final model's test metrics; then, per d, the paired
    per-seed difference spCauchy − the best other family on ``best_recon``."""
    table = PUBLISHED.get(protocol, {})
    keys = sorted({(r["d"], r["family"]) for r in rows})
    lines = [f"Mean ± sd over seeds. Published: {SOURCES.get(protocol, 'none')}.", "",
             "| d | family | seeds | best test recon (selected on test) | published | "
             "final recon | -ELBO | KL | IS-LL | active |", "|" + "---|" * 10]
    for d, family in keys:
        cell = [r for r in rows if (r["d"], r["family"]) == (d, family)]
        pub = table.get(family, {}).get(d, {})
        published = f"{pub['recon']:.2f} ± {pub['recon_sd']:.2f}" if pub else "–"
        cols = [_mean_sd([r[m] for r in cell if m in r])
                for m in ("best_recon", "recon")]
        cols += [_mean_sd([-r["elbo"] for r in cell]), _mean_sd([r["kl"] for r in cell]),
                 _mean_sd([r["log_lik"] for r in cell if "log_lik" in r]),
                 _mean_sd([float(r["active_units"]) for r in cell])]
        lines.append(f"| {d} | {family} | {len(cell)} | {cols[0]} | {published} | "
                     + " | ".join(cols[1:]) + " |")
    lines += ["", "Paired per-seed difference of best test recon, spCauchy − the best other "
              "family at that d (negative: spCauchy reconstructs better):", "",
              "| d | other family | seeds | difference |", "|---|---|---|---|"]
    for d in sorted({r["d"] for r in rows}):
        by = {}
        for r in rows:
            if r["d"] == d and "best_recon" in r:
                by.setdefault(r["family"], {})[r["seed"]] = r["best_recon"]
        others = {f: v for f, v in by.items() if f != "spcauchy"}
        if "spcauchy" not in by or not others:
            continue
        best = min(others, key=lambda f: statistics.mean(others[f].values()))
        seeds = sorted(set(by["spcauchy"]) & set(others[best]))
        diffs = [by["spcauchy"][s] - others[best][s] for s in seeds]
        lines.append(f"| {d} | {best} | {len(seeds)} | {_mean_sd(diffs)} |")
    return "\n".join(lines) + "\n"


def save_recon_figure(rows: list[dict], path: str | Path, protocol: str = "cnn") -> Path:
    """The paper's metric against d: per family, our best test reconstruction (mean ± sd over
    seeds, filled) and the published one (mean ± sd, hollow), both minus the published Gaussian
    mean at that d, so that every d shares one scale; lower is better."""
    table = PUBLISHED[protocol]
    base = {d: v["recon"] for d, v in table["normal"].items()}
    ours: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        if "best_recon" in r and r["d"] in base:
            ours.setdefault(r["family"], {}).setdefault(r["d"], []).append(r["best_recon"])
    series = {family: {
        "ours": {d: (statistics.mean(v) - base[d], statistics.stdev(v) if len(v) > 1 else 0.0,
                     len(v)) for d, v in by_d.items()},
        "published": {d: (table[family][d]["recon"] - base[d], table[family][d]["recon_sd"])
                      for d in by_d if d in table.get(family, {})}}
        for family, by_d in ours.items()}
    return plots.save_paired_points(
        series, sorted(base), path,
        ylabel="best test reconstruction − published Gaussian mean (nats)",
        title="filled: ours (mean ± sd over seeds, n = seeds); hollow: published (5 seeds)")


def loglik_gaps(rows: list[dict], protocol: str = "mlp"
                ) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, float]]]:
    """Per latent (products and mixed latents included) and d: our IS log-likelihood (mean over
    seeds) minus our Gaussian's at that d, and the published S-VAE's minus the published
    N-VAE's; higher is better, 0 is the Gaussian."""
    ours: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        if "log_lik" in r:
            ours.setdefault(r["family"], {}).setdefault(r["d"], []).append(r["log_lik"])
    base = {d: statistics.mean(v) for d, v in ours.get("normal", {}).items()}
    gaps = {family: {d: statistics.mean(v) - base[d] for d, v in by_d.items() if d in base}
            for family, by_d in ours.items() if family != "normal"}
    table = PUBLISHED[protocol]
    pub_base = {d: v["log_lik"] for d, v in table["normal"].items()}
    published = {family: {d: v["log_lik"] - pub_base[d] for d, v in by_d.items()}
                 for family, by_d in table.items() if family != "normal"}
    return {f: g for f, g in gaps.items() if g}, published


def save_loglik_figure(rows: list[dict], path: str | Path, protocol: str = "mlp") -> Path:
    """``loglik_gaps`` against d, ours solid and published dashed."""
    return plots.save_gaps(
        *loglik_gaps(rows, protocol), path,
        ylabel="IS-LL − the Gaussian VAE's IS-LL (nats)",
        title="higher is better; solid: ours minus our Gaussian; dashed: published S-VAE minus "
              "the published N-VAE")
