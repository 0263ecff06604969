"""Collect submissions into nbgrader's layout, reporting every problem instead of guessing.

Accepted inputs (one folder or zip file given with ``--from``):

- **LMS bulk download** (Canvas style): files named
  ``<login>[_LATE]_<userid>_<submissionid>_<original name>.ipynb`` or per-student zips named the
  same way, all in one folder or one zip;
- **hand-in zips**: ``<anything>.zip`` files made by ``python -m tpmlab.handin`` (named
  ``<student>--<assignment>.zip``); each carries a ``tpmlab-handin.json`` manifest;
- **nbgrader layout**: ``<student>/<assignment>/<notebook>.ipynb`` (as the exchange or a shared
  drive produces), or ``<student>/<notebook>.ipynb``.

Whose work and when: only what the student cannot write decides.

=====================  ===============================================  ============================
input                  student                                          upload time
=====================  ===============================================  ============================
LMS bulk download      the LMS user id when the roster maps it to a     the LMS zip member's date
                       student (``lms_id`` column), else the login in   (bulk zip), else the file's
                       the file name; ``_LATE``, user and submission    modification time
                       ids are kept from the file name
hand-in zip, no LMS    the id in the file name ``<id>--<assignment>``   the file's modification time
name                   (as ``tpmlab.handin`` names it), else the        (or the bulk zip member's
                       manifest's ``student``, reported as unverified   date)
nbgrader layout        the folder name                                  the newest notebook's
                                                                        modification time
=====================  ===============================================  ============================

The collect time is used only when the upload's own time is missing or in the future. The
hand-in manifest (``student``, ``handed_in_at``) is never an override: a manifest naming another
student, a date that is not a date, or one after the upload or more than
:data:`BACKDATE_LIMIT` before it, is a review flag for the uploader.

Nothing a student wrote stops the collection: every upload is handled on its own, and one that
cannot be used (not a zip, a zip bomb, encrypted or unsafe members, no notebook of the
assignment) gives that student a recorded result. If the student has no usable work at all,
``submitted/<student>/<assignment>/`` is created without a notebook and the sidecar says
"not collected" with the reason; ``tpmlab-grade autograde`` then gives 0 with that reason.

Limits per upload (a student's zip): :data:`MAX_UPLOAD_MEMBERS` members,
:data:`MAX_UPLOAD_BYTES` uncompressed in total, :data:`MAX_FILE_BYTES` per file; a whole bulk
download: :data:`MAX_BULK_MEMBERS` members and :data:`MAX_BULK_BYTES`. The declared sizes are
checked before anything is written, and bytes are counted while extracting (headers can lie).

Everything lands in ``autograder/submitted/<student>/<assignment>/`` with a ``timestamp.txt``
(the upload time). Beside that folder, ``submitted/<student>/<assignment>.collect.json`` (the
*sidecar*) records where the submission came from: LMS user id, submission id, the ``_LATE``
marker, upload and collect times, the files' checksums and the review flags. It sits outside the
graded folder so that nbgrader never copies it into autograded notebooks or feedback, and a
re-collect of the same upload changes nothing that is graded. Roster names, emails and LMS ids
are written to the gradebook's student records (what ``nbgrader export`` reads).

Reported: students on the roster with no submission, duplicates (the newest upload is kept and
the others are named), misnamed notebooks (renamed only when the assignment has exactly one
notebook and the submission has exactly one), flags per student, and files nobody can be named
for. Nothing in the input is modified; a student's earlier collected submission is replaced only
by a newer one.

The steps, one module each: :mod:`~tpmlab.grading.collect.roster` (the roster),
:mod:`~tpmlab.grading.collect.zipsafe` (opening uploads within the bounds),
:mod:`~tpmlab.grading.collect.identity` (whose work and when),
:mod:`~tpmlab.grading.collect.scan` (reading the input),
:mod:`~tpmlab.grading.collect.layout` (laying out and reporting) and
:mod:`~tpmlab.grading.collect.sidecar` (the record autograde and export read).
"""

from tpmlab.grading.collect.identity import (
    BACKDATE_LIMIT,
    CANVAS,
    CLOCK_SKEW,
    HANDIN_NAME,
    MAX_MANIFEST_BYTES,
    ZIP_DATE_SKEW,
    Candidate,
)
from tpmlab.grading.collect.layout import CollectReport, collect
from tpmlab.grading.collect.roster import ROSTER_COLUMNS, STUDENT_ID, RosterEntry, read_roster
from tpmlab.grading.collect.sidecar import (
    SIDECAR_SUFFIX,
    collect_flags,
    collect_record,
    not_collected_reason,
    sidecar_path,
)
from tpmlab.grading.collect.zipsafe import (
    MAX_BULK_BYTES,
    MAX_BULK_MEMBERS,
    MAX_FILE_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_MEMBERS,
    UploadRefused,
)

__all__ = [
    "BACKDATE_LIMIT",
    "CANVAS",
    "CLOCK_SKEW",
    "HANDIN_NAME",
    "MAX_BULK_BYTES",
    "MAX_BULK_MEMBERS",
    "MAX_FILE_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_MEMBERS",
    "ROSTER_COLUMNS",
    "SIDECAR_SUFFIX",
    "STUDENT_ID",
    "ZIP_DATE_SKEW",
    "Candidate",
    "CollectReport",
    "RosterEntry",
    "UploadRefused",
    "collect",
    "collect_flags",
    "collect_record",
    "not_collected_reason",
    "read_roster",
    "sidecar_path",
]
