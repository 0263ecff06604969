"""nbgrader for an instructor of the class on JupyterHub: the shared exchange, and the course
folder copied into the instructor's home on first login (~/tpm-skills-lab/autograder).

First on JUPYTER_CONFIG_PATH for every instructor's server (tpmlab.hub.role_environment): the
formgrader and `nbgrader release_assignment|collect|release_feedback` run from any folder use the
course's own configuration (autograder/nbgrader_config.py) with this exchange.
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

course = os.path.expanduser("~/tpm-skills-lab/autograder")
if os.path.isfile(os.path.join(course, "nbgrader_config.py")):
    load_subconfig(os.path.join(course, "nbgrader_config.py"))  # noqa: F821
c.CourseDirectory.root = course
c.CourseDirectory.course_id = "tpm-skills-lab"
c.Exchange.root = os.environ.get("TPMLAB_EXCHANGE", "/srv/nbgrader/exchange")
