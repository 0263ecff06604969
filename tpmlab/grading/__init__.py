"""The course's grading workflow, built on nbgrader: one module a job.

The instructor's loop (``tpmlab-grade``):

- ``cli``: the command line ``tpmlab-grade`` (``python -m tpmlab.grading``, via ``__main__``).
- ``coursedir``: the nbgrader course folder: paths, gradebook URL, assignments, review logs.
- ``collect``: hand-ins (folders, zips, LMS exports) into nbgrader's submitted layout, a package:
  ``roster`` (the class list), ``zipsafe`` (bounded, safe extraction), ``identity`` (whose work
  an upload is and when it came), ``scan`` (reading the input), ``layout`` (the submitted
  folders and the report) and ``sidecar`` (the ``.collect.json`` record autograde reads).
- ``autograde``: parallel, idempotent autograding: one worker process a student, results merged;
  ``results``: a student's result, the progress bar and the closing line; ``workers``: the
  coordinator's handle on a worker process; ``cluster``: the same grading on a Dask cluster.
- ``worker``: the worker process that runs nbgrader's autograde for one student at a time;
  ``bytecode``: the bytecode caches of the kernels' packages, written once before a batch.
- ``gradebook``: one student's grades written into the course gradebook (hand grades kept).
- ``review``: review flags for a submission (edited test cells, suspicious code, extra files).
- ``checks``: what is read from one graded submission alone before it is recorded (its review,
  scoring and sandbox flags, hash, hand-graded answers), on the cluster worker that graded it or
  in the coordinating process.
- ``feedback``: what per-student feedback may show, and ``nbgrader generate_feedback``.
- ``markscheme``: graders' mark schemes under hand-graded answers, never in feedback.
- ``rubric``: rubrics of hand-graded answers (criteria x levels) and the graders' per-criterion
  scores, read from their formgrader comments for the class report.
- ``report``: the gradebook as tables, and the CSV exports.
- ``lms``: grade files an LMS imports (Canvas's gradebook CSV, Moodle's CSV grade import), with
  a roster mapping course ids to LMS ids; ``late``: deadlines and the late policy of the course
  configuration, lateness measured from the collected time.
- ``class_report``: the HTML class report an instructor opens after grading; ``class_tables``:
  the tables it shows (scores, questions, failure messages, hand-grading progress).
- ``questions``: readable question names and their natural order.
- ``demo``: a demonstration class graded end to end (``make grade-demo``).

Trusted scoring (hidden tests record answers; the grader decides):

- ``ipynb``: reading and executing notebooks, nbgrader's cell marks (the autograded-test
  predicate, the hidden-test block, the student stubs).
- ``keys``: answer keys built by running the solution, and their cache.
- ``judge``: recorded answers read from test cells and compared with the key.
- ``notebooks``: release, substitute answers, execute and score outside the gradebook (the
  test suite's proof that every check fails on wrong answers).

Untrusted code:

- ``sandbox``: the bubblewrap sandbox each student's kernel runs in, a package: ``config``
  (names, paths, limits), ``jail`` (the bwrap command line), ``host`` (uid slots, mounts,
  rlimits, cgroups), ``box`` (one sandbox), ``kernel`` (its kernelspec and kernel manager),
  ``ahead`` (the next student's kernel, started while the current one runs) and
  ``launcher`` (the kernel's launcher and the evidence relay); run as a program via its
  ``__main__``.
- ``sentinel``: the sandboxed kernel's audit hook, reporting what the submission did.
- ``sanitize``: the one HTML sanitiser, so nothing a submission displays runs in a browser.

nbgrader steps (``preprocessors``, one class a module, installed by
``autograder/nbgrader_config.py``): ``pin_variant``, ``sandboxed_execute``, ``trusted_scoring``,
``sanitize_notebook``, ``add_mark_schemes`` and ``hide_hidden_tests``.
"""

import sys

# jsonschema, which nbformat and so nbgrader import, builds the grammar of an optional IRI format
# checker (the rfc3987_syntax package) as it is imported: 1.6 of the 2.1 CPU seconds that
# importing nbformat takes. No notebook or gradebook schema checks IRIs; without that package
# every grading process (``tpmlab-grade``, each worker) starts in half the time.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
