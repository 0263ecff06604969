"""A/B testing toolkit for module 3: design, analysis, trustworthiness checks, CUPED, reporting.

One job per submodule: ``design`` (sample size, power, MDE, duration), ``analysis`` (z-test,
Welch's t-test, confidence intervals), ``bootstrap`` (percentile bootstrap), ``srm`` (sample ratio
mismatch), ``peeking`` (repeated-looks simulation), ``multiple`` (Bonferroni/Holm/BH), ``cuped``
(variance reduction), ``report`` (stakeholder table), ``experiments`` (one experiment's users
with their arm and outcomes, read from Orbit's data). Every function names its method and source.
"""

from tpmlab.abtest.analysis import (
    TestResult,
    relative_lift_ci,
    two_proportion_ztest,
    welch_ttest,
    welch_ttest_from_stats,
)
from tpmlab.abtest.bootstrap import BootstrapResult, bootstrap_ci
from tpmlab.abtest.cuped import CupedResult, cuped_adjust, cuped_analysis, cuped_theta
from tpmlab.abtest.design import (
    cohens_h,
    duration_days,
    mde_for_sample_size,
    power_curve,
    power_two_proportions,
    sample_size_cohens_h,
    sample_size_evan_miller,
    sample_size_means,
    sample_size_per_arm,
    sample_size_pooled,
    treatment_rate,
)
from tpmlab.abtest.experiments import experiment_users
from tpmlab.abtest.multiple import adjust_pvalues
from tpmlab.abtest.peeking import ARMITAGE_1969, PeekingResult, simulate_peeking
from tpmlab.abtest.report import results_table, verdict
from tpmlab.abtest.srm import SRMResult, srm_test

__all__ = [
    "ARMITAGE_1969",
    "BootstrapResult",
    "CupedResult",
    "PeekingResult",
    "SRMResult",
    "TestResult",
    "adjust_pvalues",
    "bootstrap_ci",
    "cohens_h",
    "cuped_adjust",
    "cuped_analysis",
    "cuped_theta",
    "duration_days",
    "experiment_users",
    "mde_for_sample_size",
    "power_curve",
    "power_two_proportions",
    "relative_lift_ci",
    "results_table",
    "sample_size_cohens_h",
    "sample_size_evan_miller",
    "sample_size_means",
    "sample_size_per_arm",
    "sample_size_pooled",
    "simulate_peeking",
    "srm_test",
    "treatment_rate",
    "two_proportion_ztest",
    "verdict",
    "welch_ttest",
    "welch_ttest_from_stats",
]
