"""Orbit's numbers: who signs up, how they behave, and every effect planted in the data.

The generator's modules take their behavioural numbers from here: the mix of platforms, channels
and countries; how the day-0 onboarding funnel converts (by platform); how retention decays; what
paid plans cost and how workspaces upgrade, switch plan and churn; the six experiments and what
each one plants; deploys, incidents and the planted API incident; the API's traffic mix and error
rates; the raw layer's planted data-quality problems. Changing a number here changes the dataset
and its checksums (bump ``GENERATOR_VERSION`` in :mod:`tpmlab.data.generate.core`). Timing
mechanics (seconds between events of a session and the like) stay beside the code that uses them.

Arrays by platform are ordered web, ios, android (:data:`PLATFORMS`).
"""

from __future__ import annotations

import numpy as np

# ---- people --------------------------------------------------------------------------------
PLATFORMS = np.array(["web", "ios", "android"], dtype=object)
PLATFORM_P = np.array([0.5, 0.3, 0.2])
CHANNELS = np.array(["organic", "paid_search", "paid_social", "referral", "partner"], dtype=object)
CHANNEL_P = np.array([0.40, 0.20, 0.15, 0.15, 0.10])
COUNTRIES = np.array(
    ["US", "IN", "GB", "DE", "BR", "NG", "CA", "FR", "JP", "AU", "NL", "ES", "MX", "PL", "SE"],
    dtype=object,
)
COUNTRY_P = np.array([30, 10, 8, 8, 6, 5, 5, 5, 4, 4, 3, 3, 3, 3, 3], dtype=float)
COUNTRY_P /= COUNTRY_P.sum()
# UTC offsets in June 2025 (summer time where it applies): the iOS client sends local time.
COUNTRY_OFFSET_MIN = np.array(
    [-240, 330, 60, 120, -180, 60, -240, 120, 540, 600, 120, 120, -360, 120, 120]
)

SIGNUPS_PER_DAY_START = 80.0  # at scale 1, on 1 January...
SIGNUPS_PER_DAY_GROWTH = 60.0  # ...growing linearly to about 140 a day by 30 June
SIGNUP_WEEKDAY = np.array([1.10, 1.12, 1.10, 1.06, 0.98, 0.80, 0.84])  # Mon..Sun
SIGNUP_WEEKDAY /= SIGNUP_WEEKDAY.mean()
OWNER_SHARE = 0.60  # sign up to create a workspace; the others are invited into one

# ---- the day-0 onboarding funnel ------------------------------------------------------------
ONBOARD_P_BY_PLATFORM = np.array([0.72, 0.76, 0.62])  # owners finishing onboarding on day 0
PROJECT_BEFORE_ONBOARDING_P = 0.085  # owners who create a project before finishing onboarding
ONBOARD_AFTER_EARLY_PROJECT_P = 0.7
PROJECT_AFTER_ONBOARDING_P = 0.72
FIRST_TASK_P = 0.85  # owners with a project who create a task on day 0
EXTRA_TASKS_MEAN = 1.2  # Poisson mean of day-0 tasks after the first
INVITER_P = 0.5  # owners with a task who invite someone on day 0
INVITEE_RECENT_OWNER_P = 0.6  # invitees invited by a recent inviter (else any earlier one)
INVITEE_ONBOARD_P = 0.80
INVITEE_TASK_P_ONBOARDED = 0.65
INVITEE_TASK_P_NOT_ONBOARDED = 0.25
INVITEE_EXTRA_TASKS_MEAN = 0.8
INVITEE_PROJECT_P = 0.12
INVITEE_INVITE_P = 0.06

# ---- retention and later activity -----------------------------------------------------------
# A user stays "alive" d days after signup with probability
#   S(d) = c_u + (1 - c_u) * (d + 1) ** -b_u      (power-law decay that flattens at c_u)
# and, while alive, is active on a given day with probability q_u (x a weekday factor), so
#   P(active on day d) ~ a * (d + 1) ** -b + c    on average, with a = q(1 - c), c = q c.
RET_C, RET_B, RET_Q = 0.12, 0.9, (1.6, 2.4)  # long-term share, decay, Beta(q) with mean 0.4
CHANNEL_RETENTION = np.array([1.05, 0.90, 0.72, 1.20, 1.10])
PLATFORM_RETENTION = np.array([1.0, 1.18, 0.80])  # iOS retains better than Android
RETENTION_OWNER_WITH_PROJECT = 1.1
RETENTION_OWNER_WITHOUT_PROJECT = 0.6
RETENTION_INVITEE = 1.2
RETENTION_NOT_ONBOARDED = 0.4
ACTIVE_WEEKDAY = np.array([1.06, 1.08, 1.08, 1.04, 0.96, 0.55, 0.55])  # Mon..Sun
EXTRA_SESSIONS_MEAN = 0.7  # Poisson mean of sessions after the first on an active day
OTHER_PLATFORM_P = 0.2  # sessions on another of the user's devices
# event mix of later sessions, in schema.EVENT_NAMES order
EVENT_NAME_P = np.array([0.0, 0.0, 0.035, 0.38, 0.30, 0.26, 0.025, 0.0, 0.0, 0.0])
EVENT_NAME_P /= EVENT_NAME_P.sum()
LATE_ONBOARD_P = 0.4  # returning users who finish onboarding on their first later event
LATE_PROJECT_P = 0.5  # onboarded owners without a project who create one on returning

# ---- projects and tasks ---------------------------------------------------------------------
TASK_RECENT_PROJECT_P = 0.55  # geometric: a new task goes to the newest project mostly
PROJECT_ARCHIVED_P = 0.1
TASK_ASSIGNED_P = 0.7
TASK_IN_PROGRESS_P = 0.35  # open tasks in progress (the others are to do)
TASK_PRIORITY_P = [0.3, 0.5, 0.2]  # low, medium, high

# ---- paid plans, subscriptions and payments -------------------------------------------------
PLANS = {"pro": 12.0, "business": 24.0}  # USD per seat per month
UPGRADE_P_BASE = 0.075  # chance a workspace ever upgrades, for one member...
UPGRADE_P_PER_MEMBER = 0.035  # ...plus this per extra member...
UPGRADE_MEMBERS_CAP = 4  # ...counting at most this many extra members
UPGRADE_WITH_PROJECT = 1.25  # multiplier when the owner made a project on day 0
UPGRADE_WITHOUT_PROJECT = 0.6
UPGRADE_DELAY_MEDIAN_DAYS = 9
BUSINESS_SEATS = 4  # teams of at least this many seats pick Business more often
BUSINESS_P_LARGE, BUSINESS_P_SMALL = 0.45, 0.15
CHURN_P, UPGRADE_PLAN_P, DOWNGRADE_PLAN_P = 0.04, 0.03, 0.025  # per 30-day billing cycle
PAYMENT_FAILED_BELOW, PAYMENT_REFUNDED_BELOW = 0.03, 0.04  # ~3% fail (retried), ~1% refunded

# ---- experiments ------------------------------------------------------------------------------
EXPERIMENTS = [
    {
        "experiment_id": "onboarding_checklist",
        "name": "Setup checklist in the sidebar",
        "hypothesis": "A 'get set up' checklist raises the share of users who create a project "
        "or invite a teammate within 14 days of exposure.",
        "start_date": "2025-04-01",
        "end_date": "2025-06-29",
        "primary_metric": "converted",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 16_500,
        "scenario": "real_lift",
        "base_rate": 0.30,
        "lift": 0.03,
    },
    {
        "experiment_id": "dark_mode",
        "name": "Dark mode",
        "hypothesis": "Offering dark mode raises the share of users active in week 2.",
        "start_date": "2025-04-07",
        "end_date": "2025-05-04",
        "primary_metric": "converted",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 12_000,
        "scenario": "true_null",
        "base_rate": 0.22,
        "lift": 0.0,
    },
    {
        "experiment_id": "pricing_page_v2",
        "name": "Pricing page redesign",
        "hypothesis": "The new pricing page raises the share of workspaces starting a paid plan.",
        "start_date": "2025-06-02",
        "end_date": "2025-06-29",
        "primary_metric": "converted",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 19_000,
        "scenario": "sample_ratio_mismatch",
        "base_rate": 0.06,
        "lift": 0.004,
    },
    {
        "experiment_id": "ai_suggestions",
        "name": "AI task suggestions",
        "hypothesis": "Suggesting next tasks with AI raises daily engagement.",
        "start_date": "2025-05-05",
        "end_date": "2025-06-08",
        "primary_metric": "engaged_rate (experiment_daily)",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 16_000,
        "scenario": "novelty_effect",
        "base_rate": 0.25,
        "lift": 0.0,
    },
    {
        "experiment_id": "mobile_nav",
        "name": "New navigation bar",
        "hypothesis": "A bottom navigation bar raises the share of users who reach a task "
        "within 7 days.",
        "start_date": "2025-04-14",
        "end_date": "2025-05-11",
        "primary_metric": "converted",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 16_000,
        "scenario": "simpsons_paradox",
        "base_rate": None,
        "lift": 0.03,
    },
    {
        "experiment_id": "bulk_edit",
        "name": "Bulk edit for tasks",
        "hypothesis": "Editing many tasks at once raises the number of tasks created.",
        "start_date": "2025-06-02",
        "end_date": "2025-06-29",
        "primary_metric": "tasks_created",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 16_000,
        "scenario": "guardrail_regression",
        "base_rate": 0.20,
        "lift": 0.0,
    },
]
EXPOSURE_DELAY_MEAN_DAYS = 4  # exponential delay from eligibility to assignment
MAX_ELIGIBLE_SHARE = 0.92  # an experiment assigns at most this share of eligible users
TASKS_MEAN = 4.0  # tasks per 28 days for the average user
TASKS_VAR = 12.0  # variance of the gamma latent rate: rho ~ 0.65-0.70 between pre and post
MOBILE_NAV_BASE = np.array([0.40, 0.32, 0.12])  # control conversion by platform
MOBILE_NAV_ALLOC = {"web": 0.38, "ios": 0.5}  # android share is solved to keep 50/50 overall
PRICING_LOSS = 0.06  # share of treatment users whose assignment was never logged
PRICING_LOSS_ANDROID_WEIGHT = 3.0  # the logging bug hits slow Android devices three times more
NOVELTY = {"initial_abs_lift": 0.08, "half_life_days": 4.0, "control_engaged_rate": 0.22}
DAILY_EXPOSED_P = 0.3  # share of assigned users exposed on a given day (experiment_daily)
BULK_EDIT = {"tasks_rel_lift": 0.05, "page_load_abs_lift_ms": 120.0}
CONV_PLATFORM_MULT = np.array([1.05, 1.08, 0.80])  # (mean 1 over the platform mix)
CONV_PLATFORM_MULT = CONV_PLATFORM_MULT / (CONV_PLATFORM_MULT @ PLATFORM_P)
PURCHASE_P_CONVERTED, PURCHASE_P_OTHER = 0.15, 0.01  # revenue_usd > 0
PURCHASE_MEDIAN_USD, PURCHASE_SIGMA = 35, 1.1  # lognormal order value
PAGE_LOAD_BASE_MS, PAGE_LOAD_MEDIAN_MS, PAGE_LOAD_SIGMA = 650, 250, 0.6
PLATFORM_LOAD_MS = np.array([0.0, 60.0, 140.0])  # extra page-load time on ios / android

# ---- deploys and incidents ------------------------------------------------------------------
SERVICES = np.array(["api", "web", "ios", "android", "billing"], dtype=object)
DEPLOYS_PER_WEEKDAY, DEPLOYS_MIN, DEPLOYS_MAX = 3.8, 2, 6  # Poisson, clipped
DEPLOY_SERVICE_P = [0.35, 0.30, 0.10, 0.10, 0.15]
LEAD_TIME_MEDIAN_HOURS_MOBILE, LEAD_TIME_MEDIAN_HOURS_OTHER = 72, 20  # lognormal, sigma 0.9
COMMITS_MEAN_MOBILE, COMMITS_MEAN_OTHER = 12, 3  # 1 + Poisson
DEPLOY_FAILED_BELOW, DEPLOY_ROLLED_BACK_BELOW = 0.05, 0.10  # ~5% fail, ~5% rolled back
INCIDENTS_AFTER_DEPLOYS = 12  # incidents caused by a failed or rolled-back deploy
INCIDENTS_WITHOUT_DEPLOY = 6
SEVERITY_P = [0.1, 0.35, 0.55]  # sev1, sev2, sev3
DETECT_MINUTES_BY_SEVERITY = [6, 12, 25]  # exponential mean
FIX_MINUTES_BY_SEVERITY = [60, 120, 300]  # lognormal median
INCIDENT = {
    "start": "2025-06-18 14:05:00",
    "detected": "2025-06-18 14:11:00",
    "end": "2025-06-18 15:20:00",
    "deploy_at": "2025-06-18 13:58:00",
    "service": "api",
    "severity": "sev1",
    "title": "API 5xx spike and slow responses after connection-pool change",
}

# ---- the API request log (June) -------------------------------------------------------------
API_START = "2025-06-01"
ENDPOINTS = [
    # method, template, weight, median ms, sigma, median bytes, resource kind, success status
    ("GET", "/v1/projects", 0.09, 45, 0.55, 6000, "workspace", 200),
    ("GET", "/v1/projects/{project_id}", 0.12, 25, 0.5, 1500, "project", 200),
    ("GET", "/v1/projects/{project_id}/tasks", 0.24, 60, 0.6, 12000, "project", 200),
    ("GET", "/v1/tasks/{task_id}", 0.17, 20, 0.5, 900, "task", 200),
    ("POST", "/v1/projects/{project_id}/tasks", 0.08, 85, 0.55, 950, "project", 201),
    ("PATCH", "/v1/tasks/{task_id}", 0.07, 70, 0.55, 950, "task", 200),
    ("DELETE", "/v1/tasks/{task_id}", 0.02, 50, 0.5, 0, "task", 204),
    ("GET", "/v1/users/me", 0.08, 15, 0.45, 500, "user", 200),
    ("GET", "/v1/search", 0.05, 180, 0.8, 8000, "workspace", 200),
    ("GET", "/v1/workspaces/{workspace_id}/members", 0.04, 35, 0.5, 3000, "workspace", 200),
    ("POST", "/v1/webhooks", 0.01, 95, 0.5, 400, "workspace", 201),
    ("POST", "/v1/projects", 0.03, 90, 0.55, 1400, "workspace", 201),
]
API_RATE_PER_MIN = 10.5  # average requests per minute at scale 1 (~450k in June)
API_DIURNAL_AMPLITUDE, API_PEAK_HOUR, API_WEEKEND = 0.65, 15, 0.5
API_CLIENTS, API_CLIENT_ZIPF = 60, 1.2  # client_001 sends the most
API_RESOURCE_ZIPF = 1.1  # hot keys among projects, tasks, workspaces, users
API_SPIKE_P, API_SPIKE_X = 0.005, (5, 20)  # GC pauses and cold caches: the heavy tail
P_429_NOISY_CLIENT, P_429 = 0.06, 0.003  # client_001 hits its rate limit
P_400_WRITE, P_400_READ = 0.04, 0.004
P_401 = 0.008
P_404_BY_ID, P_404_LIST = 0.02, 0.002
P_5XX = 0.0015
P_503_OF_BASE_5XX = 0.4  # outside the incident, 40% of server errors are 503s
INCIDENT_5XX_CUTS = (0.08, 0.16, 0.20)  # 502, 503, 504 below these cumulative shares
INCIDENT_SLOW_P, INCIDENT_SLOW_MEAN_MS = 0.12, 2500

# ---- the raw layer (June): planted data-quality problems ------------------------------------
RAW_START = "2025-06-01"
WEB_BUILDS, IOS_BUILDS = 4, 3  # 2025.6.0-3 and 5.12.0-2, uniformly
ANDROID_VERSIONS = np.array(["5.10.2", "5.11.0", "5.11.3"], dtype=object)
ANDROID_VERSION_P = [0.2, 0.45, 0.35]
TITLE_CASE_SHARE = 0.15  # of Android 5.11.3 events: Title_Case names
KEBAB_CASE_SHARE = 0.1  # of web 2025.6.3 events: kebab-case names
LATE_MOBILE_SHARE = 0.012  # mobile events delivered more than 48 hours late
REDELIVERED_SHARE = 0.008  # same event, new event_id
NULL_USER_SHARE = 0.003  # logged-out pings
ORPHAN_USER_SHARE = 0.002  # ids of deleted users
EXACT_DUPLICATE_SHARE = 0.012  # the very same row twice

# ---- module 2: the planted metric drop and its decoy (before June) ---------------------------
# Both move daily task_completed events; see tpmlab.data.generate.metricdrop. Each starts at a
# successful deploy of its platform drawn in one of the two slots (which plant takes which slot is
# drawn from the seed) and ends at that platform's next successful deploy at least
# METRIC_DROP_MIN_DAYS later (or on May 31). Shares are drawn uniformly from their ranges; which
# of the mobile platforms (METRIC_DROP_PLATFORMS) gets the drop and which the decoy is drawn too.
METRIC_DROP_PLATFORMS = ("android", "ios")
METRIC_DROP_SLOTS = (("2025-03-03", "2025-04-07"), ("2025-04-21", "2025-05-10"))
METRIC_DROP_MIN_DAYS = 14
METRIC_DROP = {
    "kind": "behaviour",
    "share_range": (0.25, 0.40),
    "cause": "A {platform} release moved the 'complete' control into an overflow menu: "
    "{platform} users completed fewer tasks until the next {platform} release restored it.",
    "detect": "task_completed events on {platform} fall at the release deploy and recover at the "
    "next {platform} deploy; tasks.completed_at (the server's record) falls by the same amount, "
    "so users changed behaviour.",
}
METRIC_DECOY = {
    "kind": "tracking",
    "share_range": (0.50, 0.80),
    "cause": "A {platform} release stopped sending the task_completed event for users on that "
    "build (a tracking change): completions happened, the client did not log them.",
    "detect": "task_completed events on {platform} fall at the release deploy, but the tasks table "
    "(completed_at) does not: daily events and completed tasks stop reconciling for {platform}.",
}

# ---- module 8: the capstone's activation drop (a scenario build of its own) ------------------
# Used only by tpmlab.data.generate.capstone (python -m tpmlab.data build --scenario
# activation-drop); the default build never reads them. A release of one mobile client
# (CAPSTONE_PLATFORMS, drawn) deployed in CAPSTONE_RELEASE_WINDOW breaks one onboarding step
# (CAPSTONE_STEPS, drawn) through an API change: a share of that step's calls from the new
# version onwards fail with a 4xx, and the step never happens. Clients roll out in phases: the
# share of users on a release CAPSTONE_ROLLOUT_DAYS after it is CAPSTONE_ROLLOUT_SHARE.
CAPSTONE_PLATFORMS = ("ios", "android")
CAPSTONE_RELEASE_WINDOW = ("2025-06-03", "2025-06-11")
CAPSTONE_STEPS = {
    # step -> (method, endpoint template, success status)
    "project_created": ("POST", "/v1/projects", 201),
    "task_created": ("POST", "/v1/projects/{project_id}/tasks", 201),
}
CAPSTONE_FAIL_SHARE = (0.75, 0.90)  # of the step's attempts on the broken versions
CAPSTONE_ERROR_STATUS = (422, 400)  # the API rejects the new payload: mostly 422
CAPSTONE_ERROR_422_P = 0.85
CAPSTONE_BASE_ERROR_P = 0.03  # any version: a validation error, retried successfully
CAPSTONE_ROLLOUT_DAYS = np.array([0.0, 1.0, 2.0, 3.0])
CAPSTONE_ROLLOUT_SHARE = np.array([0.10, 0.30, 0.60, 1.00])
CAPSTONE_FIRST_VERSION = {"web": (3, 1), "ios": (5, 1), "android": (4, 1)}  # major, first minor
# the decoy experiment: launched 1 to 3 days before the release, no effect on anything
CAPSTONE_EXPERIMENT = {
    "experiment_id": "welcome_tour",
    "name": "Welcome tour for new signups",
    "hypothesis": "A guided tour on first launch raises the share of new signups who create a "
    "task within 7 days (activation).",
    "end_date": "2025-06-29",
    "primary_metric": "activation_7d",
    "guardrail_metric": "page_load_ms",
    "planned_treatment_share": 0.5,
}
CAPSTONE_EXPERIMENT_LEAD_DAYS = (1, 3)
# the decoy mix shift: a paid-social campaign from a few days before to a few days after the
# release brings extra signups whose intent is low (an activated lookalike is kept with
# probability CAPSTONE_CAMPAIGN_ACTIVATED_WEIGHT relative to a non-activated one)
CAPSTONE_CAMPAIGN_CHANNEL = "paid_social"
CAPSTONE_CAMPAIGN_OFFSET_DAYS = (-4, 2)
CAPSTONE_CAMPAIGN_EXTRA_SHARE = 0.15  # extra signups per day, as a share of the day's signups
CAPSTONE_CAMPAIGN_ACTIVATED_WEIGHT = 0.35
