"""The JavaScript side: where js/ is, whether its packages are installed, and running a job
on onnxruntime-node (a Node process) or onnxruntime-web (a page in headless Chromium).

js/ holds package.json and package-lock.json; ``npm ci --ignore-scripts`` installs them
from the npm registry (``--ignore-scripts`` keeps onnxruntime-node's bundled CPU binaries
and skips its install script's download). Nothing comes from a CDN.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

#: Overrides where js/ is (default: the repository's, beside toolkit/).
JS_DIR_ENV = "XRBENCH_JS"

#: Seconds a whole Node or browser job may take before it is stopped.
JOB_TIMEOUT_S = 900.0


def js_dir() -> Path:
    """The folder with package.json and node_modules: $XRBENCH_JS, else the repo's js/."""
    chosen = os.environ.get(JS_DIR_ENV)
    return Path(chosen) if chosen else Path(__file__).resolve().parents[2] / "js"


def package_missing(package: str) -> str | None:
    """None when js/node_modules has ``package``, else the command that installs it."""
    root = js_dir()
    if (root / "node_modules" / package / "package.json").is_file():
        return None
    return (
        f"{package} is not installed in {root}/node_modules: run `npm ci --ignore-scripts` "
        f"in {root} (or `tox -e consumers`)."
    )


def package_version(package: str) -> str:
    """The installed version of an npm package of js/ ('' if absent)."""
    try:
        meta = json.loads((js_dir() / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(meta.get("version", ""))


def node_missing() -> str | None:
    """None when Node and onnxruntime-node are here, else what is missing."""
    if shutil.which("node") is None:
        return "node is not on PATH: install Node.js 18 or later (Debian: apt-get install nodejs)."
    return package_missing("onnxruntime-node")


def write_job(folder: Path, models: list[dict], images: np.ndarray, settings: dict) -> Path:
    """job.json and images.bin (raw C-order uint8) for consume.js, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    images_path = folder / "images.bin"
    np.ascontiguousarray(images, dtype=np.uint8).tofile(images_path)
    job = {
        "models": models,
        "images": settings.pop("images_url", str(images_path)),
        "shape": list(images.shape),
        **settings,
    }
    path = folder / "job.json"
    path.write_text(json.dumps(job))
    return path


def run_node(job: Path, out: Path) -> dict:
    """Run node_consume.js on ``job``; its JSON output.

    Raises:
        RuntimeError: node exited with an error or ran past :data:`JOB_TIMEOUT_S` (the last
            lines of its stderr).
    """
    script = js_dir() / "consumers" / "node_consume.js"
    try:
        done = subprocess.run(
            ["node", str(script), str(job), str(out)],
            capture_output=True,
            text=True,
            timeout=JOB_TIMEOUT_S,
            cwd=js_dir(),
        )
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"node_consume.js ran past {JOB_TIMEOUT_S:.0f} s") from e
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])[:500]
        raise RuntimeError(f"node_consume.js exited with {done.returncode}: {tail}")
    return json.loads(out.read_text())


def run_web(site: Path, job_url: str) -> tuple[dict, str]:
    """Run web.html's job in headless Chromium, serving ``site`` on 127.0.0.1.

    ``site`` must hold js/ (a link to :func:`js_dir`) and whatever the job's URLs name.

    Returns:
        (the page's JSON output, the browser's version).

    Raises:
        toolkit.consumers.browser.BrowserError: Chromium failed or the page did.
    """
    from toolkit.consumers.browser import Chromium, LocalServer

    with LocalServer(site) as server, Chromium(timeout=JOB_TIMEOUT_S) as browser:
        page = browser.open(server.url("js/consumers/web.html"))
        page.wait_for("window.xrbenchReady === true", timeout=120)
        text = page.evaluate(f"xrbenchRun({json.dumps(job_url)})", timeout=JOB_TIMEOUT_S)
        return json.loads(text), browser.version()
