"""nbgrader for a student of the class on JupyterHub: the shared exchange and the course id.

First on JUPYTER_CONFIG_PATH for every student's server (tpmlab.hub.role_environment), so the
Assignments tab and `nbgrader fetch_assignment|submit|fetch_feedback` in a terminal use them.
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "tpm-skills-lab"
c.Exchange.root = os.environ.get("TPMLAB_EXCHANGE", "/srv/nbgrader/exchange")
