"""Research loop for the ``messjax`` routing policy (issue 11): a NumPy simulator, vectorised
over seeds, of the candidate designs on the authors' logs, with the request orders of
``messjax reproduce`` (per-seed shuffles). Prints per-task cost / satisfaction against alpha.

    MESSJAX_DATA_DIR=... python experiments/messjax_policy_dev.py --zoo llama3 --seeds 5 \
        --set V=1 --set c=0.05

Not the engine: the engine's policy is ``messjax/core/policy.py`` (this file was used to choose
the design; see the README's ablation for the final numbers).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

DEFAULTS = dict(
    V=1.0,  # gain: price moves by 1/V per request of deficit (relative-cost units)
    c=0.05,  # exploration: p_t = min(1, c / t^(1/4)) queries one extra model
    prior=1.0,  # Beta(prior * 0.5, prior * 0.5) pseudo-counts on every model's base rate
    margin=0.0,  # extra target in requests: track sum(alpha - s) + margin <= 0
    lp_price=1,  # price = LP dual of the estimates + D / V (0: D / V only)
    residual=0,  # per-request logistic residual on the embedding
    lr=0.05,  # residual head learning rate
    l2=1e-3,
    impute=1,  # sparse feedback: the deficit uses s_hat of the served model when no feedback
    bootstrap=1,  # the first request queries every model
    feedback_rate=1.0,
    explore_all=0,  # exploration queries every model (the paper) instead of one extra model
    signed=1,  # 0: clip the deficit at 0 (the paper's queue)
    ts=0,  # Thompson sampling: base rates drawn from the Beta posterior for each request
    primal=0,  # serve a draw from the cheapest mixture meeting alpha + D / V on the estimates
    kappa=0.0,  # integral gain: I <- I + kappa * D, price = (D + I) / V
    ts_temp=1.0,  # posterior std scale of the Thompson draws
    explore_uncertain=0,  # the extra model is the one with the widest posterior (else uniform)
    prior_alpha=0,  # the prior mean of every model's base rate is alpha (else 1/2)
    lam_max=1e9,  # cap on the price (relative-cost units per unit of satisfaction)
    impute_z=0.0,  # imputed satisfaction = posterior mean - z * posterior std
    lp_cap=1e4,
    ucb=0.0,  # optimism: base + ucb * sqrt(base (1 - base) / n)
)


def lp_price(p, E, alpha, lam_max=1e4, smallest=False):
    """Dual price of min E.z s.t. p.z >= alpha, z in simplex; [S, M] -> [S]."""
    S = p.shape[0]
    dp = p[:, None, :] - p[:, :, None]  # [S, i, j] = p_j - p_i
    dE = E[:, None, :] - E[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        cand = np.where(dp > 0, dE / np.where(dp > 0, dp, 1), 0.0).reshape(S, -1)
    cand = np.clip(cand, 0, lam_max)
    cand = np.concatenate([cand, np.zeros((S, 1)), np.full((S, 1), lam_max)], 1)
    g = (E[:, None, :] - cand[:, :, None] * (p[:, None, :] - alpha)).min(-1)
    # the largest maximiser (price at the top of the tie interval)
    best = g.max(1, keepdims=True)
    if smallest:
        return np.where(g >= best - 1e-12 * np.abs(best), cand, np.inf).min(1)
    lam = np.where(g >= best - 1e-12 * np.abs(best), cand, -1).max(1)
    return lam


def primal_choice(p, E, target, u):
    """Draw from the cheapest mixture of at most two models whose mean p meets target
    (the argmax-p model, cheapest on ties, when none does); [S, M] -> [S]."""
    S, M = p.shape
    target = target[:, None, None]
    pi, pj = p[:, :, None], p[:, None, :]
    Ei, Ej = E[:, :, None], E[:, None, :]
    gap = pj - pi
    w = np.where(gap > 0, (target - pi) / np.where(gap > 0, gap, 1), 1.0)
    w = np.clip(w, 0, 1)
    ok = (pj >= target) & ((pi <= target) | (w == 0))
    cost = np.where(ok, (1 - w) * Ei + w * Ej, np.inf).reshape(S, -1)
    best = cost.argmin(1)
    i, j = best // M, best % M
    wb = w.reshape(S, -1)[np.arange(S), best]
    m = np.where(u < wb, j, i)
    feasible = np.isfinite(cost.min(1))
    top = (p - 1e-9 * E).argmax(1)
    return np.where(feasible, m, top)


def simulate(x, labels, costs, alpha, orders, hp, rng_seed=0):
    """labels/costs [T, M]; orders [S, T]. Returns per-seed cost, satisfaction, shares."""
    S, T = orders.shape
    M = labels.shape[1]
    d = x.shape[1]
    rng = np.random.default_rng(rng_seed)
    n = np.full((S, M), hp["prior"])
    k = np.full((S, M), hp["prior"] * (alpha if hp["prior_alpha"] else 0.5))
    csum = np.zeros((S, M))
    ccount = np.zeros((S, M))
    W = np.zeros((S, M, d))
    D = np.full(S, hp["margin"])
    I = np.zeros(S)
    total_cost = np.zeros(S)
    sat = np.zeros(S)
    served_counts = np.zeros((S, M))
    explores = np.zeros(S)
    ar = np.arange(S)
    for t in range(T):
        idx = orders[:, t]
        xt = x[idx]  # [S, d]
        y = labels[idx]  # [S, M]
        e = costs[idx]
        base = k / n
        if hp["ts"]:
            tau2 = hp["ts_temp"] ** 2
            base = rng.beta(k / tau2, (n - k) / tau2)
        if hp["ucb"]:
            base = np.minimum(1 - 1e-6, base + hp["ucb"] * np.sqrt(base * (1 - base) / n))
        if hp["residual"]:
            z = np.log(base / (1 - base)) + np.einsum("smd,sd->sm", W, xt)
            s_hat = 1 / (1 + np.exp(-z))
        else:
            s_hat = base
        known = ccount > 0
        E_hat = np.where(known, csum / np.maximum(ccount, 1), 0.0)
        E_hat = np.where(known, E_hat, E_hat.max(1, keepdims=True) if known.any() else 1.0)
        E_rel = E_hat / np.maximum(E_hat.max(1, keepdims=True), 1e-30)
        Dq = D if hp["signed"] else np.maximum(D, 0)
        lam = lp_price(base, E_rel, alpha) if hp["lp_price"] == 1 else 0.0
        if hp["lp_price"] == 2:
            lam = lp_price(k / n, E_rel, alpha, hp["lp_cap"], smallest=True)
        lam = np.clip(lam + (Dq + I) / hp["V"], 0.0, hp["lam_max"])
        score = E_rel - lam[:, None] * s_hat
        m = score.argmin(1)
        if hp["primal"]:
            target = alpha + D / hp["V"]
            m = primal_choice(s_hat, E_rel, target, rng.random(S))
        p_t = min(1.0, hp["c"] / (t + 1) ** 0.25)
        explore = rng.random(S) < p_t
        if hp["bootstrap"] and t == 0:
            explore[:] = True
        other = (m + 1 + rng.integers(0, M - 1, S)) % M
        if hp["explore_uncertain"]:
            var = np.where(np.arange(M) == m[:, None], -1.0, (k / n) * (1 - k / n) / n)
            other = var.argmax(1)
        queried = np.zeros((S, M), bool)
        queried[ar, m] = True
        if hp["explore_all"] or (hp["bootstrap"] and t == 0):
            queried |= explore[:, None]
        else:
            queried[ar, other] |= explore
        feedback = rng.random(S) < hp["feedback_rate"]
        s = y[ar, m]
        total_cost += (e * queried).sum(1)
        sat += s
        served_counts[ar, m] += 1
        explores += explore
        csum += np.where(queried, e, 0)
        ccount += queried
        obs = queried & feedback[:, None]
        post_mean = k / n
        post_n = n.copy()
        n += obs
        k += np.where(obs, y, 0)
        if hp["residual"]:
            g = np.where(obs, s_hat - y, 0.0)  # [S, M]
            W -= hp["lr"] * (g[:, :, None] * xt[:, None, :] + hp["l2"] * W)
        post = post_mean
        if hp["impute_z"]:
            post = post - hp["impute_z"] * np.sqrt(post * (1 - post) / post_n)
        s_used = np.where(feedback, s, post[ar, m] if hp["impute"] else alpha)
        upd = np.where(feedback | bool(hp["impute"]), alpha - s_used, 0.0)
        if hp["impute"] == 2:  # doubly robust: model estimate + inverse-propensity correction
            upd = alpha - post[ar, m] + feedback / hp["feedback_rate"] * (post[ar, m] - s)
        D = D + upd
        I = I + hp["kappa"] * D
        if not hp["signed"]:
            D = np.maximum(D, 0)
    return total_cost, sat / T, served_counts / T, explores


def main():
    from messjax.runs.eval_setup import load_table, paper_streams
    from messjax.runs.experiment import table_features

    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default="llama3")
    ap.add_argument("--scenario", default="main")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tasks", default=None)
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    hp = dict(DEFAULTS)
    for kv in args.set:
        key, v = kv.split("=")
        hp[key] = float(v)
    table, zoo = load_table(args.zoo, None)
    x = table_features(table, "minilm")
    tasks = args.tasks.split(",") if args.tasks else None
    streams = [s for s, _ in paper_streams(table, zoo, args.scenario, tasks)]
    if args.scenario == "sparse":
        hp["feedback_rate"] = 0.2
    seeds = list(range(42, 42 + args.seeds))
    print(hp)
    costs, ok_mean, ok_min = [], 0, 0
    t0 = time.time()
    for spec in streams:
        test = table.take(spec.test_index)
        od = spec.orders(seeds)
        orders = np.stack([od[s] for s in seeds])
        c, s, share, ex = simulate(
            x[spec.test_index],
            test.labels.astype(float),
            test.costs.astype(float),
            spec.alpha,
            orders,
            hp,
        )
        gap = 100 * (s - spec.alpha)
        costs.append(c.mean() / 1e6)
        ok_mean += gap.mean() >= -0.5
        ok_min += gap.min() >= -1.5
        print(
            f"{spec.name:16s} a={spec.alpha:.3f} cost {c.mean() / 1e6:.3f} MJ  sat-alpha "
            f"{gap.mean():+.2f} (min {gap.min():+.2f})  shares "
            + "/".join(f"{v:.2f}" for v in share.mean(0))
            + f"  explores {ex.mean():.0f}"
        )
    print(
        f"MEAN cost {np.mean(costs):.3f} MJ; within 0.5pt {ok_mean}/{len(streams)}; "
        f"no seed below 1.5pt {ok_min}/{len(streams)}  ({time.time() - t0:.0f}s)"
    )


if __name__ == "__main__":
    main()
