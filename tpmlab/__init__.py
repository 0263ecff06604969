"""TPM Skills Lab: the code shared by the course notebooks, the tests and the autograder.

Modules: ``paths`` (where things live), ``errors`` (learner-facing errors), ``data`` (Orbit's
datasets and database access), and one module per course topic.
"""

__version__ = "0.1.0"
