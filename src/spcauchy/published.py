"""Published MNIST numbers, shown beside ours (always labelled as published, never as results).

``mlp``: Davidson et al. 2018 (S-VAE), Table 2: IS log-likelihood (k = 500) and ELBO,
dynamically binarized MNIST, MLP 784-256-128. ``cnn``: Sablica & Hornik 2025, best test
reconstruction BCE (mean of 5 seeds), grey-level MNIST, CNN 32/64/128, 40 epochs.
"""

from __future__ import annotations

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
        family: {d: {"recon": v} for d, v in zip((2, 3, 5, 10, 20), values, strict=True)}
        for family, values in {
            "normal": (133.07, 118.65, 102.40, 81.07, 75.08),
            "vmf": (132.03, 118.25, 104.55, 83.38, 97.25),
            "power": (132.53, 119.04, 106.09, 84.12, 82.29),
            "spcauchy": (130.29, 116.44, 100.22, 80.30, 74.43),
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
