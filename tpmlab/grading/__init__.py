"""The course's grading workflow, built on nbgrader.

- ``notebooks``: release a source notebook in memory, substitute answers, execute it, and read the
  per-question results (used by the test suite to prove every check fails on wrong answers).
- ``cli``: the instructor command line ``tpmlab-grade`` (collect, autograde, feedback, export).
"""
