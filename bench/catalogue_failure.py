"""Failure prediction and its federated training: SVM and MLP vs gradient boosting (catalogue rows).

``compare_failure_models``: the shipped trace's machine events (the whole 29-day machine table),
trained on snapshots every ``train_step_s`` of days [0, 20] (every positive, a seeded
``negative_share`` of the negatives; the same rows for the three learners) and scored on every
machine at snapshots every ``eval_step_s`` of days [20, 29] (removal within one hour). Figures:
precision and recall at each model's own threshold (the top ``flag_share`` of training
negatives, the default's rule), AUC-PR (average precision over all scored rows) and the base rate
(the AUC-PR of a random ranking), fit and score seconds. The SVM's and MLP's settings are
chosen from a small grid (``_GRID``) by AUC-PR on days [14, 20] after fitting on [0, 14] (inside
the training window), then refitted on [0, 20]. All positives and a seeded
``eval_negative_share`` of the negatives are scored, negatives weighted by its inverse.

``compare_fedavg``: the same split, machines partitioned into regions by a seeded hash of their id;
each region trains only on its own machines; FedAvg of a logistic/MLP model (weights only
travel) vs one central model on all rows and vs each region alone.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

DAY_S = 86400.0


def _rows(
    predictor: Any, table: Any, start_s: float, end_s: float, step_s: float
) -> tuple[Any, Any, Any]:
    ids, xs, ys = [], [], []
    for i, x, y in predictor._snapshots(table, start_s, end_s, step_s):
        ids.append(i)
        xs.append(x)
        ys.append(y)
    return np.concatenate(ids), np.concatenate(xs), np.concatenate(ys)


def _sample(x: Any, y: Any, share: float, seed: int) -> tuple[Any, Any]:
    keep = y | (np.random.default_rng(seed).random(y.shape[0]) < share)
    return x[keep], y[keep]


def _metrics(risk: Any, y: Any, weight: Any, threshold: float) -> dict[str, Any]:
    """Precision, recall and AUC-PR with each scored negative standing for ``weight`` of them."""
    from sklearn.metrics import average_precision_score

    hit = risk >= threshold
    tp = float(weight[hit & y].sum())
    fp = float(weight[hit & ~y].sum())
    fn = float(weight[~hit & y].sum())
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "auc_pr": float(average_precision_score(y, risk, sample_weight=weight)),
        "flagged_estimate": round(tp + fp),
    }


# candidates per learner, chosen by AUC-PR on a validation split *inside* the training window
_GRID: dict[str, list[dict[str, Any]]] = {
    "gbm": [{}],  # the default as it ships
    "svm": [{"svm_c": 1.0, "svm_gamma": "scale"}, {"svm_c": 0.1, "svm_gamma": "scale"}],
    "mlp": [
        {"mlp_hidden": (32, 16), "mlp_alpha": 1e-3, "mlp_max_iter": 200},
        {"mlp_hidden": (8,), "mlp_alpha": 1e-2, "mlp_max_iter": 50},
    ],
}


def _choose_settings(
    probe: Any, table: Any, step_s: float, negative_share: float, seed: int
) -> dict[str, tuple[Any, dict[str, Any], float]]:
    """Fit on days [0, 14], score on [14, 20] (both inside the training window): the settings
    with the best AUC-PR per learner, as (settings, what they are, validation AUC-PR)."""
    from autoinfra.policies.failure_models import FailureModelSettings, ModelFailurePredictor

    _, x, y = _rows(probe, table, 600.0, 14 * DAY_S, step_s)
    x, y = _sample(x, y, negative_share, seed)
    _, xv, yv = _rows(probe, table, 14 * DAY_S, 20 * DAY_S, step_s)
    xv, yv = _sample(xv, yv, 0.2, seed + 2)
    wv = np.where(yv, 1.0, 5.0)
    out = {}
    for name, grid in _GRID.items():
        best: tuple[Any, dict[str, Any], float] | None = None
        for params in grid:
            st = FailureModelSettings(model=name, **params)  # type: ignore[arg-type]
            m = ModelFailurePredictor(st, seed=seed)
            m.fit_rows(x, y, np.random.default_rng(seed))
            from sklearn.metrics import average_precision_score

            ap = float(average_precision_score(yv, m.risk(xv), sample_weight=wv))
            if best is None or ap > best[2]:
                best = (
                    st,
                    {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
                    ap,
                )
        assert best is not None
        out[name] = best
    return out


def compare_failure_models(
    seed: int = 0,
    *,
    train_step_s: float = 12 * 3600.0,
    eval_step_s: float = 6 * 3600.0,
    negative_share: float = 0.02,
    eval_negative_share: float = 0.2,
) -> dict[str, Any]:
    from autoinfra.policies.failure import machine_history
    from autoinfra.policies.failure_models import ModelFailurePredictor

    table = machine_history()
    horizon_s = 3600.0
    probe = ModelFailurePredictor(horizon_s=horizon_s, seed=seed)
    _, x_tr, y_tr = _rows(probe, table, 600.0, 20 * DAY_S, train_step_s)
    x_fit, y_fit = _sample(x_tr, y_tr, negative_share, seed)
    _, x_all, y_all = _rows(probe, table, 20 * DAY_S, 29 * DAY_S, eval_step_s)
    # every positive and a seeded share of the negatives are scored, each negative weighted by
    # 1/share: unbiased precision and AUC-PR at a fifth of the cost (the RBF SVM's scoring is
    # ~0.5 ms a row here, so all 450k rows would take minutes)
    x_ev, y_ev = _sample(x_all, y_all, eval_negative_share, seed + 1)
    w_ev = np.where(y_ev, 1.0, 1.0 / eval_negative_share)
    chosen = _choose_settings(probe, table, train_step_s, negative_share, seed)
    out: dict[str, Any] = {}
    for name in ("gbm", "svm", "mlp"):
        p = ModelFailurePredictor(chosen[name][0], horizon_s=horizon_s, seed=seed)
        t0 = time.perf_counter()
        p.fit_rows(x_fit, y_fit, np.random.default_rng(seed))
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        risk = p.risk(x_ev)
        score_s = time.perf_counter() - t0
        if name != "svm":  # cheap to score: also on every row, to show the sample's error
            from sklearn.metrics import average_precision_score

            extra = {"auc_pr_all_rows": float(average_precision_score(y_all, p.risk(x_all)))}
        else:
            extra = {}
        out[name] = {
            "settings": chosen[name][1],
            "validation_auc_pr": chosen[name][2],
            **extra,
            **_metrics(risk, y_ev, w_ev, float(p.threshold or 0.0)),
            "threshold": p.threshold,
            "fit_s": round(fit_s, 2),
            "score_s": round(score_s, 2),
        }
    base_rate = float(y_all.mean())
    best = max(("svm", "mlp"), key=lambda n: out[n]["auc_pr"])
    wins = (
        out[best]["auc_pr"] > out["gbm"]["auc_pr"]
        and out[best]["precision"] >= out["gbm"]["precision"]
    )
    return {
        "setup": {
            "train_window_days": [0, 20],
            "eval_window_days": [20, 29],
            "horizon_s": horizon_s,
            "train_step_s": train_step_s,
            "eval_step_s": eval_step_s,
            "negative_share": negative_share,
            "train_rows": int(y_fit.shape[0]),
            "train_positives": int(y_fit.sum()),
            "eval_rows": int(y_all.shape[0]),
            "eval_rows_scored": int(y_ev.shape[0]),
            "eval_negative_share": eval_negative_share,
            "eval_positives": int(y_all.sum()),
            "base_rate": base_rate,
        },
        "default": {"id": "FailurePredictor (HistGradientBoosting)", **out["gbm"]},
        "candidate": {"id": f"ModelFailurePredictor({best})", **out[best]},
        "all": out,
        "verdict": "becomes default" if wins else "default stays",
    }


def _region_of(ids: Any, regions: int, seed: int) -> Any:
    """A seeded hash of the machine id: each machine belongs to one region for the whole trace."""
    mixed = (ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed)) >> np.uint64(
        33
    )
    return (mixed % np.uint64(regions)).astype(np.int64)


def compare_fedavg(
    seed: int = 0,
    *,
    regions: int = 3,
    train_step_s: float = 12 * 3600.0,
    eval_step_s: float = 6 * 3600.0,
    negative_share: float = 0.02,
) -> dict[str, Any]:
    from autoinfra.learning.fedavg import (
        FedAvgSettings,
        FederatedAggregator,
        MemoryHub,
        RegionTrainer,
        init_weights,
        predict,
        run_rounds,
        train_local,
    )
    from autoinfra.policies.failure import machine_history
    from autoinfra.policies.failure_models import ModelFailurePredictor

    table = machine_history()
    probe = ModelFailurePredictor(horizon_s=3600.0, seed=seed)
    ids_tr, x_tr, y_tr = _rows(probe, table, 600.0, 20 * DAY_S, train_step_s)
    keep = y_tr | (np.random.default_rng(seed).random(y_tr.shape[0]) < negative_share)
    ids_tr, x_tr, y_tr = ids_tr[keep], x_tr[keep], y_tr[keep]
    _, x_all, y_all = _rows(probe, table, 20 * DAY_S, 29 * DAY_S, eval_step_s)
    # these models are cheap to score: every evaluation row, no sampling
    x_ev, y_ev, w_ev = x_all, y_all, np.ones(y_all.shape[0])
    region = _region_of(ids_tr, regions, seed)
    out: dict[str, Any] = {}

    def score(risk: Any) -> dict[str, Any]:
        # no per-model threshold here: precision and recall at the riskiest 0.5 % of the rows
        thr = float(np.quantile(risk, 0.995))
        m = _metrics(risk, y_ev, w_ev, thr)
        return {"auc_pr": m["auc_pr"], "precision_top": m["precision"], "recall_top": m["recall"]}

    for model in ("linear", "mlp"):
        s = FedAvgSettings(model=model, rounds=15, local_epochs=1, seed=seed)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        hub = MemoryHub()
        agg = FederatedAggregator(hub.endpoint(f"fedavg.{s.model_id}.update"), s)
        trainers = [
            RegionTrainer(
                r,
                x_tr[region == r],
                y_tr[region == r],
                hub.endpoint(f"fedavg.{s.model_id}.global"),
                s,
            )
            for r in range(regions)
        ]
        w_fed = run_rounds(agg, trainers)
        fed_s = time.perf_counter() - t0
        # central: the same model and the same number of passes over all rows pooled in one place
        rng = np.random.default_rng(seed)
        w_c = init_weights(s)
        for _ in range(s.rounds):
            w_c = train_local(w_c, x_tr, y_tr, s, rng)
        # each region alone, as it would do without federation (mean over regions)
        alone = []
        for r in range(regions):
            w_r, rr = init_weights(s), np.random.default_rng([seed, r])
            for _ in range(s.rounds):
                w_r = train_local(w_r, x_tr[region == r], y_tr[region == r], s, rr)
            alone.append(score(predict(w_r, x_ev, s))["auc_pr"])
        out[model] = {
            "federated": {
                **score(predict(w_fed, x_ev, s)),
                "wall_s": round(fed_s, 2),
                "messages": len(hub.sent),
                "bytes_sent": sum(len(m) for _, m in hub.sent),
                "message_bytes": len(hub.sent[0][1]),
            },
            "central": score(predict(w_c, x_ev, s)),
            "region_alone_auc_pr_mean": float(np.mean(alone)),
            "region_alone_auc_pr_min": float(np.min(alone)),
        }
    gbm = ModelFailurePredictor(seed=seed)
    gbm.fit_rows(x_tr, y_tr, np.random.default_rng(seed))
    central_gbm = score(gbm.risk(x_ev))
    best = max(("linear", "mlp"), key=lambda m: out[m]["federated"]["auc_pr"])
    # the default is one central boosted model; federation is worth making the default only if
    # it matches it without the data moving
    fed = out[best]["federated"]
    wins = (
        fed["auc_pr"] > central_gbm["auc_pr"]
        and fed["precision_top"] >= central_gbm["precision_top"]
    )
    return {
        "setup": {
            "regions": regions,
            "region_rows": [int((region == r).sum()) for r in range(regions)],
            "region_positives": [int(y_tr[region == r].sum()) for r in range(regions)],
            "train_window_days": [0, 20],
            "eval_window_days": [20, 29],
            "eval_rows": int(y_all.shape[0]),
            "base_rate": float(y_all.mean()),
            "rounds": 15,
            "local_epochs": 1,
        },
        "default": {
            "id": "central FailurePredictor (HistGradientBoosting, all rows pooled)",
            **central_gbm,
        },
        "candidate": {"id": f"FedAvg {best}", **out[best]["federated"]},
        "all": out,
        "verdict": "becomes default" if wins else "default stays",
    }
