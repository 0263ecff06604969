"""The JupyterHub setup's parts without a hub (tpmlab.hub, deploy/jupyterhub/): the roster and its
errors, the first-login copy of each role, each role's Jupyter settings, the Kubernetes values.
The hub itself runs in tests/test_jupyterhub.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tpmlab import hub
from tpmlab.errors import TPMLabError
from tpmlab.paths import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy" / "jupyterhub"


def test_roster_gives_each_account_its_role(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("username,role\ninstructor,Instructor\nalice,student\n\n,student\n")
    assert hub.read_roster(roster) == {"instructor": "instructor", "alice": "student"}


@pytest.mark.parametrize(
    "text, says",
    [
        (None, "does not exist"),
        ("name,role\nalice,student\n", "no header `username,role`"),
        ("username,role\nalice,student\nbob,teacher\n", "Line 3"),
    ],
)
def test_a_bad_roster_says_what_to_fix(tmp_path, text, says):
    roster = tmp_path / "roster.csv"
    if text is not None:
        roster.write_text(text)
    with pytest.raises(TPMLabError, match=says) as err:
        hub.read_roster(roster)
    assert "What to do" in str(err.value)


def test_first_login_copies_each_role_its_part_once(tmp_path):
    student, instructor = tmp_path / "s", tmp_path / "i"
    student.mkdir(), instructor.mkdir()
    assert hub.copy_course(student, "student")
    assert (student / "tpm-skills-lab" / "course" / "index.ipynb").is_file()
    assert not (student / "tpm-skills-lab" / "exercises").exists()
    work = student / "tpm-skills-lab" / "course" / "index.ipynb"
    work.write_text("my notes")
    assert hub.copy_course(student, "student") == []  # a later login keeps the learner's work
    assert work.read_text() == "my notes"
    out = subprocess.run(
        [sys.executable, "-m", "tpmlab.hub", "copy-course", "--role", "instructor"]
        + ["--home", str(instructor)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "copied" in out
    course = instructor / "tpm-skills-lab"
    assert (course / "autograder" / "nbgrader_config.py").is_file()
    assert (course / "autograder" / "release" / "00-warmup" / "warmup.ipynb").is_file()
    assert (course / "exercises" / "00-warmup" / "warmup.ipynb").is_file()


def test_each_role_gets_its_own_tools():
    def switches(role):
        server = json.loads((DEPLOY / "roles" / role / "jupyter_server_config.json").read_text())
        page = json.loads((DEPLOY / "roles" / role / "labconfig" / "page_config.json").read_text())
        return server["ServerApp"]["jpserver_extensions"], page["disabledExtensions"]

    (s_server, s_page), (i_server, i_page) = switches("student"), switches("instructor")
    assert s_server["nbgrader.server_extensions.assignment_list"] is True
    assert s_server["nbgrader.server_extensions.formgrader"] is False
    assert s_page["@jupyter/nbgrader:formgrader"] and s_page["@jupyter/nbgrader:create-assignment"]
    assert not s_page["@jupyter/nbgrader:assignment-list"]
    assert i_server["nbgrader.server_extensions.formgrader"] is True
    assert i_server["nbgrader.server_extensions.assignment_list"] is False
    assert not i_page["@jupyter/nbgrader:formgrader"]
    env = hub.role_environment("student", "/srv/x")
    assert env["JUPYTER_CONFIG_PATH"] == str(DEPLOY / "roles" / "student")
    assert env["TPMLAB_EXCHANGE"] == "/srv/x"
    with pytest.raises(TPMLabError, match="Unknown role"):
        hub.copy_course(REPO_ROOT, "teacher")


def test_kubernetes_values_name_what_exists():
    values = yaml.safe_load((DEPLOY / "z2jh-values.yaml").read_text())
    single = values["singleuser"]
    mounts = single["storage"]["extraVolumeMounts"]
    assert mounts[0]["mountPath"] == single["extraEnv"]["TPMLAB_EXCHANGE"] == hub.DEFAULT_EXCHANGE
    assert "tpmlab.hub copy-course" in " ".join(
        single["lifecycleHooks"]["postStart"]["exec"]["command"]
    )
    extra = values["hub"]["extraConfig"]["tpmlab-roles"]
    compile(extra, "z2jh-values.yaml", "exec")
    assert "deploy/jupyterhub/roles/{role}" in extra
    for role in hub.ROLES:
        assert (DEPLOY / "roles" / role / "nbgrader_config.py").is_file()
