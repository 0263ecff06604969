"""The six experiments: assignment, outcomes and daily exposure, each with its planted truth.

Each experiment is redrawn (up to :data:`MAX_ATTEMPTS` times, from its own random stream) until
the checks of its scenario hold (e.g. the real lift is significant, the null is not, the SRM is
detectable), and the truth and checks go into the manifest.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from scipy import stats

from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import DAY, Dataset, Users, rng_for, ts_of

MAX_ATTEMPTS = 200  # redraws of an experiment until its planted checks hold


def _ci_diff_prop(x1, n1, x0, n0):
    p1, p0 = x1 / n1, x0 / n0
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    d = p1 - p0
    return d, d - 1.959964 * se, d + 1.959964 * se


def _ci_welch(a, b):
    d = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    q = stats.t.ppf(0.975, dof)
    return d, d - q * se, d + q * se


def _srm_p(n_t, n_c, share):
    n = n_t + n_c
    exp = np.array([n * share, n * (1 - share)])
    return float(stats.chisquare([n_t, n_c], exp).pvalue)


def _contains(ci, value):
    return ci[1] <= value <= ci[2]


def _experiment_attempt(spec, rng, users_idx, u: Users, assigned_t, scale):
    """One draw of an experiment's variants and outcomes; returns frames, truth and checks."""
    n = len(users_idx)
    plat = u.platform[users_idx]
    sid = spec["scenario"]
    truth: dict = {"scenario": sid}
    if sid == "simpsons_paradox":
        mix = np.bincount(plat, minlength=3) / n
        a_web, a_ios = P.MOBILE_NAV_ALLOC["web"], P.MOBILE_NAV_ALLOC["ios"]
        a_and = float(np.clip((0.5 - mix[0] * a_web - mix[1] * a_ios) / mix[2], 0.5, 0.95))
        alloc = np.array([a_web, a_ios, a_and])
        treat = rng.random(n) < alloc[plat]
        truth["allocation_by_platform"] = dict(
            zip(P.PLATFORMS, np.round(alloc, 4).tolist(), strict=True)
        )
    else:
        treat = rng.random(n) < spec["planned_treatment_share"]
    # conversion probability per user
    if sid == "simpsons_paradox":
        p_conv = P.MOBILE_NAV_BASE[plat] + spec["lift"] * treat
    else:
        p_conv = spec["base_rate"] * P.CONV_PLATFORM_MULT[plat] + spec["lift"] * treat
    converted = rng.random(n) < p_conv
    # latent task rate -> pre and post counts (CUPED covariate)
    shape = P.TASKS_MEAN**2 / P.TASKS_VAR
    lam = rng.gamma(shape, P.TASKS_MEAN / shape, n)
    # users with less than 28 days of tenure have a shorter pre-period, but new users front-load
    # their task creation, so the expected count shrinks less than in proportion
    tenure = np.clip((assigned_t - u.t[users_idx]) / (28 * DAY), 0.0, 1.0)
    pre = rng.poisson(lam * tenure**0.3)
    tasks_mult = 1 + (P.BULK_EDIT["tasks_rel_lift"] if sid == "guardrail_regression" else 0) * treat
    post = rng.poisson(lam * tasks_mult)
    rev = np.where(
        rng.random(n) < np.where(converted, P.PURCHASE_P_CONVERTED, P.PURCHASE_P_OTHER),
        rng.lognormal(np.log(P.PURCHASE_MEDIAN_USD), P.PURCHASE_SIGMA, n),
        0.0,
    )
    plat_ms = P.PLATFORM_LOAD_MS[plat]
    load = (
        P.PAGE_LOAD_BASE_MS
        + plat_ms
        + rng.lognormal(np.log(P.PAGE_LOAD_MEDIAN_MS), P.PAGE_LOAD_SIGMA, n)
    )
    load_shift = P.BULK_EDIT["page_load_abs_lift_ms"] if sid == "guardrail_regression" else 0.0
    load = np.round(load + load_shift * treat, 1)
    rev = np.round(rev, 2)

    keep = np.ones(n, dtype=bool)
    if sid == "sample_ratio_mismatch":
        # a logging bug on the new page drops treatment users, mostly on slow Android devices
        w = np.where(plat == 2, P.PRICING_LOSS_ANDROID_WEIGHT, 1.0) * treat
        n_lost = int(round(P.PRICING_LOSS * treat.sum()))
        lost = rng.choice(n, size=n_lost, replace=False, p=w / w.sum())
        keep[lost] = False
        truth["lost_treatment_users"] = n_lost
        truth["lost_share_of_treatment"] = P.PRICING_LOSS
        truth["lost_by_platform"] = dict(
            zip(P.PLATFORMS, np.bincount(plat[lost], minlength=3).tolist(), strict=True)
        )

    out = {
        "treat": treat[keep],
        "converted": converted[keep].astype(np.int64),
        "revenue": rev[keep],
        "post": post[keep],
        "pre": pre[keep],
        "load": load[keep],
        "plat": plat[keep],
        "keep": keep,
    }
    tr, co = out["treat"], ~out["treat"]
    checks: dict[str, bool] = {}
    srm = _srm_p(int(tr.sum()), int(co.sum()), spec["planned_treatment_share"])
    if sid == "sample_ratio_mismatch":
        checks["srm_detected"] = srm < 1e-4
    else:
        checks["no_srm"] = srm > 0.01
    cv = out["converted"]
    conv_ci = _ci_diff_prop(cv[tr].sum(), tr.sum(), cv[co].sum(), co.sum())
    tasks_ci = _ci_welch(out["post"][tr].astype(float), out["post"][co].astype(float))
    load_ci = _ci_welch(out["load"][tr], out["load"][co])
    true_tasks = P.TASKS_MEAN * (tasks_mult.max() - 1) if sid == "guardrail_regression" else 0.0
    truth.update(
        {
            "primary_metric": spec["primary_metric"],
            "true_abs_lift": spec["lift"],
            "true_tasks_created_abs_lift": round(true_tasks, 6),
            "true_tasks_created_control_mean": P.TASKS_MEAN,
            "true_page_load_ms_abs_lift": load_shift,
        }
    )
    if sid == "simpsons_paradox":
        truth["true_control_rate_by_platform"] = dict(
            zip(P.PLATFORMS, P.MOBILE_NAV_BASE.tolist(), strict=True)
        )
        truth["true_abs_lift_by_platform"] = dict.fromkeys(P.PLATFORMS.tolist(), spec["lift"])
        mix_t = np.bincount(plat[treat], minlength=3) / max(1, treat.sum())
        mix_c = np.bincount(plat[~treat], minlength=3) / max(1, (~treat).sum())
        pooled = float(mix_t @ (P.MOBILE_NAV_BASE + spec["lift"]) - mix_c @ P.MOBILE_NAV_BASE)
        truth["expected_pooled_abs_lift_given_allocation"] = round(pooled, 6)
        # page load depends on platform too, so the pooled guardrail is confounded the same way
        load_shift = float((mix_t - mix_c) @ P.PLATFORM_LOAD_MS)
        truth["expected_pooled_page_load_ms_diff_given_allocation"] = round(load_shift, 3)
        truth["true_control_rate"] = round(float(mix_c @ P.MOBILE_NAV_BASE), 6)
        ok_all = True
        for k in range(3):
            m_t, m_c = tr & (out["plat"] == k), co & (out["plat"] == k)
            ci = _ci_diff_prop(cv[m_t].sum(), m_t.sum(), cv[m_c].sum(), m_c.sum())
            ok_all &= ci[0] > 0 and _contains(ci, spec["lift"])
        checks["better_in_every_platform"] = bool(ok_all)
        checks["worse_pooled"] = bool(conv_ci[2] < 0)
    else:
        truth["true_control_rate"] = spec["base_rate"]
        truth["true_treatment_rate"] = round(spec["base_rate"] + spec["lift"], 6)
        truth["true_rel_lift"] = round(spec["lift"] / spec["base_rate"], 6)
        if sid != "sample_ratio_mismatch":
            checks["converted_ci_contains_truth"] = _contains(conv_ci, spec["lift"])
    if sid == "real_lift":
        checks["converted_significant"] = conv_ci[1] > 0
    if sid == "true_null":
        checks["converted_ci_contains_zero"] = _contains(conv_ci, 0.0)
    if sid != "sample_ratio_mismatch":
        checks["tasks_ci_contains_truth"] = _contains(tasks_ci, true_tasks)
        checks["page_load_ci_contains_truth"] = _contains(load_ci, load_shift)
    if sid == "guardrail_regression":
        checks["tasks_significant"] = tasks_ci[1] > 0
        checks["page_load_significant"] = load_ci[1] > 0
    rho = float(np.corrcoef(out["pre"], out["post"])[0, 1])
    truth["rho_pre_post_tasks_created"] = round(rho, 4)
    checks["rho_in_range"] = 0.6 <= rho <= 0.75
    truth["srm_p_value"] = float(f"{srm:.6g}")
    return out, truth, checks


def _daily(spec, rng, variant_t, assigned_day, start_day, end_day, truth):
    """experiment_daily rows: exposures among assigned users, engagement (with novelty)."""
    days = np.arange(start_day, end_day + 1)
    rows = []
    novelty = spec["scenario"] == "novelty_effect"
    base = P.NOVELTY["control_engaged_rate"]
    lift_curve = P.NOVELTY["initial_abs_lift"] * 0.5 ** (
        np.arange(len(days)) / P.NOVELTY["half_life_days"]
    )
    for vi, vname in enumerate(["control", "treatment"]):
        is_t = vi == 1
        sel = assigned_day[variant_t == is_t]
        cum = np.searchsorted(np.sort(sel), days, side="right")
        exposed = rng.binomial(cum, P.DAILY_EXPOSED_P)
        rate = base + (lift_curve if (novelty and is_t) else 0.0)
        engaged = rng.binomial(exposed, rate)
        rows.append(
            pd.DataFrame(
                {
                    "experiment_id": spec["experiment_id"],
                    "variant": vname,
                    "day": days,
                    "day_index": np.arange(len(days)),
                    "exposed_users": exposed,
                    "engaged_users": engaged,
                }
            )
        )
    df = pd.concat(rows, ignore_index=True)
    checks = {}
    if novelty:
        truth["novelty"] = {
            **P.NOVELTY,
            "true_abs_lift_by_day_index": np.round(lift_curve, 6).tolist(),
        }
        c = df[df.variant == "control"].reset_index(drop=True)
        t = df[df.variant == "treatment"].reset_index(drop=True)
        for wk, (a, b) in {"week1": (0, 7), "week4": (21, 28)}.items():
            ct, tt = c.iloc[a:b], t.iloc[a:b]
            ci = _ci_diff_prop(
                tt.engaged_users.sum(),
                tt.exposed_users.sum(),
                ct.engaged_users.sum(),
                ct.exposed_users.sum(),
            )
            w = tt.exposed_users.to_numpy()
            true_w = float((w * lift_curve[a:b]).sum() / w.sum())
            truth["novelty"][f"true_abs_lift_{wk}"] = round(true_w, 6)
            checks[f"{wk}_ci_contains_truth"] = _contains(ci, true_w)
            if wk == "week1":
                checks["week1_significant"] = ci[1] > 0
            else:
                checks["week4_ci_contains_zero"] = _contains(ci, 0.0)
    return df, checks


def gen_experiments(seed: int, u: Users, scale: float, ds: Dataset) -> None:
    exp_rows, assign_parts, outcome_parts, daily_parts = [], [], [], []
    truths = {}
    for spec in P.EXPERIMENTS:
        eid = spec["experiment_id"]
        rng_u = rng_for(seed, f"experiment-users-{eid}")
        start_t = ts_of(spec["start_date"])
        end_t = ts_of(spec["end_date"], "23:59:59")
        eligible = np.flatnonzero(u.t < end_t - 3600)
        n = int(
            min(round(spec["target_users"] * scale), round(P.MAX_ELIGIBLE_SHARE * len(eligible)))
        )
        chosen = np.sort(rng_u.choice(eligible, size=n, replace=False))
        t0 = np.maximum(u.t[chosen], start_t) + 60
        a = t0 + rng_u.exponential(P.EXPOSURE_DELAY_MEAN_DAYS * DAY, n).astype(np.int64)
        over = a > end_t
        a[over] = t0[over] + (rng_u.random(int(over.sum())) * (end_t - t0[over])).astype(np.int64)
        chosen_t = a
        # small datasets cannot meet every check (e.g. SRM at p < 1e-4): do not search long
        max_attempts = MAX_ATTEMPTS if scale >= 0.25 else 3
        for attempt in range(max_attempts):
            rng = np.random.default_rng(
                np.random.SeedSequence(
                    entropy=seed, spawn_key=(zlib.crc32(f"experiment-{eid}".encode()), attempt)
                )
            )
            out, truth, checks = _experiment_attempt(spec, rng, chosen, u, chosen_t, scale)
            keep = out["keep"]
            a_day = chosen_t[keep] // DAY
            daily, dchecks = _daily(
                spec,
                rng,
                out["treat"],
                a_day,
                start_t // DAY,
                end_t // DAY,
                truth,
            )
            checks.update(dchecks)
            if all(checks.values()):
                break
        truth["generation_attempt"] = attempt
        truth["checks"] = {k: bool(v) for k, v in checks.items()}
        truth["checks_passed"] = bool(all(checks.values()))
        truth["n_assigned"] = int(keep.sum())
        truth["n_treatment"] = int(out["treat"].sum())
        truth["n_control"] = int((~out["treat"]).sum())
        truth["planned_treatment_share"] = spec["planned_treatment_share"]
        truth["window"] = [spec["start_date"], spec["end_date"]]
        truths[eid] = truth
        uid = chosen[keep]
        variant = np.where(out["treat"], "treatment", "control").astype(object)
        assign_parts.append(
            pd.DataFrame(
                {
                    "experiment_id": eid,
                    "user_id": uid + 1,
                    "variant": variant,
                    "assigned_at": chosen_t[keep],
                    "platform": P.PLATFORMS[u.platform[uid]],
                }
            )
        )
        outcome_parts.append(
            pd.DataFrame(
                {
                    "experiment_id": eid,
                    "user_id": uid + 1,
                    "converted": out["converted"],
                    "revenue_usd": out["revenue"],
                    "tasks_created": out["post"].astype(np.int64),
                    "pre_tasks_created": out["pre"].astype(np.int64),
                    "page_load_ms": out["load"],
                }
            )
        )
        daily_parts.append(daily)
        exp_rows.append(
            {
                k: spec[k]
                for k in (
                    "experiment_id",
                    "name",
                    "hypothesis",
                    "start_date",
                    "end_date",
                    "primary_metric",
                    "guardrail_metric",
                    "planned_treatment_share",
                )
            }
            | {"unit": "user"}
        )
    exps = pd.DataFrame(exp_rows)
    exps["start_date"] = [ts_of(d) // DAY for d in exps["start_date"]]
    exps["end_date"] = [ts_of(d) // DAY for d in exps["end_date"]]
    ds.tables["experiments"] = exps
    ds.tables["experiment_assignments"] = pd.concat(assign_parts, ignore_index=True)
    ds.tables["experiment_outcomes"] = pd.concat(outcome_parts, ignore_index=True)
    ds.tables["experiment_daily"] = pd.concat(daily_parts, ignore_index=True)
    ds.facts["experiments"] = truths
