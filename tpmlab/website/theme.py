"""The site's theme: MyST's book theme, built here from its npm packages so that building the
site needs no network.

Jupyter Book 2 (mystmd) normally downloads its ready-built theme at build time from the MyST
templates API (a GitHub archive), which is neither a package registry nor reachable here or in
CI. The theme's packages (``@myst-theme/site``, ``@myst-theme/jupyter``, Remix...) are on npm;
its thin application (the Remix routes and the server, MIT, from ``jupyter-book/myst-theme``)
is kept in ``website/book-theme/`` with ``package.json`` and ``package-lock.json`` pinning every
package, and ``patches/`` holds the two fixes the theme's own build applies to its
dependencies (as its maintainers do with patch-package). This module copies that folder to a
cache folder, installs it with ``npm ci`` (the npm registry, at install time only), applies the
patches and builds it (thebe assets, Tailwind CSS, ``remix build``), which gives the folder
mystmd takes as a local ``site: template:``.

The cache folder is named after the digest of ``website/book-theme/``
(``~/.cache/tpmlab/book-theme-<digest>``; ``TPMLAB_THEME_CACHE`` moves the parent), so a fresh
clone on the same machine (CI) reuses the built theme, and a change of the theme builds anew.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tpmlab.errors import TPMLabError
from tpmlab.paths import REPO_ROOT

SOURCE = REPO_ROOT / "website" / "book-theme"
#: What the built theme must hold for mystmd to serve it (``template.yml``'s ``files``).
BUILT = ("template.yml", "server.js", "package.json", "build/index.js", "public/build")


def _digest(folder: Path) -> str:
    """The digest of what the theme is built from (its README, which only explains, left out)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.relative_to(folder).as_posix() != "README.md":
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def theme_dir() -> Path:
    """Where the built theme of the current ``website/book-theme/`` lives."""
    cache = os.environ.get("TPMLAB_THEME_CACHE") or (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tpmlab"
    )
    return Path(cache) / f"book-theme-{_digest(SOURCE)[:16]}"


def _run(cmd: list[str], cwd: Path, what: str, log, env: dict | None = None) -> None:
    log(f"  {what}: {' '.join(cmd)}")
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if result.returncode:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise TPMLabError(
            f"Building the site's theme failed at '{what}' ({' '.join(cmd)} in {cwd}):\n{tail}",
            "If npm could not reach its registry, retry when it can (the theme is installed "
            f"once and then reused); otherwise delete {cwd} and run `make site` again.",
        )


def node_tools() -> tuple[str, str]:
    """The ``node`` and ``npm`` programs, or a TPMLabError saying how to install them."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise TPMLabError(
            "Building the course website needs Node.js (18 or newer) and npm, and "
            f"{'node' if not node else 'npm'} is not on PATH.",
            "Install them (Debian/Ubuntu: sudo apt-get install nodejs npm), then run "
            "`make site` again.",
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    major = int(version.strip().lstrip("v").split(".")[0] or 0)
    if major < 18:
        raise TPMLabError(
            f"Building the course website needs Node.js 18 or newer; this one is {version}.",
            "Install a newer Node.js (https://nodejs.org or your system's packages).",
        )
    return node, npm


def _apply_patches(target: Path, log) -> None:
    """Apply ``patches/*.patch`` to the installed packages (``git apply`` used as a plain patch
    program: the folder is kept out of any repository around it), once."""
    git = shutil.which("git")
    if not git:
        raise TPMLabError(
            "Building the site's theme needs git (to apply its patches).",
            "Install git (Debian/Ubuntu: sudo apt-get install git).",
        )
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(target.parent))
    for patch in sorted((target / "patches").glob("*.patch")):
        applied = subprocess.run(
            [git, "apply", "--reverse", "--check", str(patch)],
            cwd=target,
            env=env,
            capture_output=True,
        )
        if applied.returncode:
            _run([git, "apply", str(patch)], target, f"patch {patch.name}", log, env)


def ensure_theme(target: Path | None = None, log=print) -> Path:
    """The built book theme in ``target`` (:func:`theme_dir` by default), built first if
    missing or out of date."""
    target = target or theme_dir()
    stamp = target / ".tpmlab-theme.sha256"
    digest = _digest(SOURCE)
    if stamp.exists() and stamp.read_text() == digest and all((target / f).exists() for f in BUILT):
        return target
    node, npm = node_tools()
    log(f"Building the site's theme into {target} (once; reused until website/book-theme changes)")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        lock = target / "package-lock.json"
        keep = (target / "node_modules").exists() and (
            lock.exists() and lock.read_bytes() == (SOURCE / "package-lock.json").read_bytes()
        )
        for child in target.iterdir():
            if not (keep and child.name == "node_modules"):
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(SOURCE, target, dirs_exist_ok=True)
    if not (target / "node_modules").exists():
        _run([npm, "ci", "--no-audit", "--no-fund", "--legacy-peer-deps"], target, "npm ci", log)
    _apply_patches(target, log)
    bin_dir = target / "node_modules" / ".bin"
    _run([node, "copy-thebe-assets.cjs", "./public"], target, "thebe assets", log)
    _run(
        [str(bin_dir / "tailwindcss"), "-m", "-i", "./styles/app.css", "-o", "app/styles/app.css"],
        target,
        "Tailwind CSS",
        log,
    )
    _run([str(bin_dir / "remix"), "build"], target, "remix build", log)
    missing = [f for f in BUILT if not (target / f).exists()]
    if missing:
        raise TPMLabError(
            f"The theme was built but {', '.join(missing)} is missing from {target}.",
            f"Delete {target} and run `make site` again.",
        )
    stamp.write_text(digest)
    return target
