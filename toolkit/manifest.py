"""Where a result came from: command, seed, commit, library versions and the hardware.

Read from /proc, platform and importlib.metadata only, so the harness-only install can
write a manifest too; a GPU is found through nvidia-smi when it is there.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from toolkit.harness.runtimes import default_threads

PACKAGES = (
    "xrbench",
    "numpy",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-openvino",
    "onnx",
    "onnxscript",
    "torch",
    "torchvision",
    "scikit-learn",
    "skl2onnx",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def gpus() -> list[dict]:
    """NVIDIA GPUs as nvidia-smi reports them (empty where there is none)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [
        dict(zip(("name", "driver", "memory"), (p.strip() for p in line.split(",")), strict=False))
        for line in out.strip().splitlines()
        if line.strip()
    ]


def hardware() -> dict:
    """CPU model, cores, memory and GPUs of this machine."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": default_threads(),
        "memory_gib": _memory_gib(),
        "gpus": gpus(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "hostname": platform.node(),
    }


def git_commit(cwd: str | Path | None = None) -> str | None:
    """HEAD of the git checkout the toolkit runs from, with '-dirty' if it has changes."""
    root = Path(cwd or Path(__file__).resolve().parents[1])
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def build_manifest(command: list[str] | None = None, **settings) -> dict:
    """The manifest of a run: how it was started, with what, on what."""
    return {
        "command": command if command is not None else sys.argv,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "versions": package_versions(),
        "hardware": hardware(),
        **settings,
    }
