"""Module 7 (shipping software): DORA's four key metrics and the practice API's mutants.

``dora`` computes deployment frequency, lead time for changes, change failure rate and
failed-deployment recovery time from Orbit's ``deploys`` and ``incidents`` tables; ``mutants``
runs a learner's acceptance tests against the correct security-lab server and each planted-bug
version of it (mutation grading). The servers themselves are in :mod:`tpmlab.api.lab`.
"""
