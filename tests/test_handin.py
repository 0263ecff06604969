"""A learner's hand-in: the example id is refused, and the learner is told what the zip holds."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from tpmlab.course import RELEASE
from tpmlab.errors import TPMLabError
from tpmlab.handin import handin


@pytest.mark.parametrize("placeholder", ["YOUR-ID", "your-id", "<your-id>", "Student"])
def test_the_example_id_is_refused(tmp_path, placeholder):
    shutil.copytree(RELEASE / "00-warmup", tmp_path / "00-warmup")
    with pytest.raises(TPMLabError, match="example id") as error:
        handin("00-warmup", placeholder, folder=tmp_path / "00-warmup", out_dir=tmp_path)
    assert "What to do" in str(error.value)
    assert not list(tmp_path.glob("*.zip"))


def test_handin_says_when_each_notebook_was_saved_and_what_is_unanswered(tmp_path, capsys):
    folder = tmp_path / "00-warmup"
    shutil.copytree(RELEASE / "00-warmup", folder)
    notebook = folder / "warmup.ipynb"
    zipped = handin("00-warmup", "jdoe", folder=folder, out_dir=tmp_path)
    out = capsys.readouterr().out
    assert "warmup.ipynb: last saved" in out
    assert "not answered yet: q1" in out
    assert "save it (Ctrl+S)" in out and "Validate" in out
    assert zipfile.ZipFile(zipped).namelist()  # the zip is still written

    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            cell["source"] = "answer = 1\n"
    notebook.write_text(json.dumps(nb))
    handin("00-warmup", "jdoe", folder=folder, out_dir=tmp_path)
    assert "not answered yet" not in capsys.readouterr().out
