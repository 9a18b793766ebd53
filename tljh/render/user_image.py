"""The files of a users' image reproducing the shared user environment (pure).

``tljh export user-image`` reads what the user environment holds
(:mod:`tljh.system.envpackages`) and writes what :func:`image_files` returns: a
Dockerfile on a Jupyter Docker Stacks base (``quay.io/jupyter/...``, the images
Zero to JupyterHub users start from) and the package list it installs.

Only the packages someone asked for are listed (what nothing else in the
environment needs), pinned to the versions installed here; their
dependencies follow from them.  JupyterHub itself is left to the base
image: the users' servers must match the cluster's hub, not this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tljh.system.envpackages import EnvReport

DEFAULT_BASE_IMAGE = "quay.io/jupyter/minimal-notebook:latest"

#: Packages the base image provides and must keep as they are there.
LEFT_TO_BASE = frozenset(
    {"jupyterhub", "pip", "setuptools", "wheel", "uv", "python", "conda", "mamba"}
)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    #: conda only: the channel it came from.
    channel: str = ""


@dataclass
class EnvPackages:
    """What the shared user environment holds, as its own pip/conda report it."""

    kind: str  # "venv" or "conda"
    prefix: str
    #: pip packages nothing else in the environment requires.
    pip: list[Package] = field(default_factory=list)
    #: conda packages asked for (conda's history), at their installed versions.
    conda: list[Package] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)


def normalize(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_packages(pip_list: Iterable[Mapping[str, str]]) -> list[Package]:
    """``pip list --format=json`` entries as packages, sorted, without editable checkouts."""
    out = []
    for entry in pip_list:
        if entry.get("editable_project_location"):
            continue
        out.append(Package(str(entry["name"]), str(entry["version"])))
    return sorted(out, key=lambda p: normalize(p.name))


_HISTORY_SPECS = re.compile(r"^#\s*(update|remove|install|create)\s+specs:\s*(\[.*\])\s*$")


def conda_requested(history: str) -> list[str]:
    """The names of the conda packages asked for, from ``conda-meta/history``.

    Each conda command leaves a ``# update specs: [...]`` (or ``remove specs``)
    line there; what ``conda env export --from-history`` reads too.
    """
    import ast

    requested: dict[str, None] = {}
    for line in history.splitlines():
        m = _HISTORY_SPECS.match(line.strip())
        if not m:
            continue
        try:
            specs = ast.literal_eval(m.group(2))
        except (ValueError, SyntaxError):
            continue
        for spec in specs:
            name = re.split(r"[\s=<>!~\[]", str(spec).split("::")[-1], maxsplit=1)[0].lower()
            if not name:
                continue
            if m.group(1) == "remove":
                requested.pop(name, None)
            else:
                requested[name] = None
    return list(requested)


def conda_packages(
    conda_list: Iterable[Mapping[str, str]], history: str
) -> tuple[list[Package], set[str]]:
    """(requested conda packages at their versions, names of everything pip installed).

    ``conda_list`` is ``conda list --json``; pip's packages have channel ``pypi``.
    """
    installed = {}
    from_pip = set()
    for entry in conda_list:
        name = str(entry["name"]).lower()
        if entry.get("channel") == "pypi":
            from_pip.add(normalize(name))
            continue
        installed[name] = Package(name, str(entry["version"]), str(entry.get("channel", "")))
    wanted = [installed[n] for n in conda_requested(history) if n in installed]
    return sorted(wanted, key=lambda p: p.name), from_pip


def _kept(packages: Sequence[Package]) -> list[Package]:
    return [p for p in packages if normalize(p.name) not in LEFT_TO_BASE]


def env_packages(report: EnvReport) -> EnvPackages:
    """What the image installs, from the user environment's own package lists."""
    env = EnvPackages(kind=report.kind, prefix=report.prefix, pip=pip_packages(report.pip_top))
    if report.kind == "conda":
        env.conda, from_pip = conda_packages(report.conda_list, report.conda_history)
        env.channels = sorted({p.channel for p in env.conda if p.channel}) or ["conda-forge"]
        # pip lists conda's Python packages too: keep what pip installed.
        env.pip = [p for p in env.pip if normalize(p.name) in from_pip]
    return env


def requirements_txt(env: EnvPackages) -> str:
    lines = [
        f"# pip packages of TLJH's user environment {env.prefix}: the ones nothing",
        "# else there requires, at the versions installed there.",
        *(f"{p.name}=={p.version}" for p in _kept(env.pip)),
    ]
    return "\n".join(lines) + "\n"


def environment_yml(env: EnvPackages) -> str:
    lines = [
        f"# conda packages asked for in TLJH's user environment {env.prefix},",
        "# at the versions installed there.",
        "channels:",
        *(f"  - {c}" for c in env.channels or ["conda-forge"]),
        "dependencies:",
        *(f"  - {p.name}={p.version}" for p in _kept(env.conda)),
    ]
    return "\n".join(lines) + "\n"


def dockerfile(env: EnvPackages, base_image: str = DEFAULT_BASE_IMAGE) -> str:
    conda = env.kind == "conda"
    lines = [
        f"# The users' image for Zero to JupyterHub, from TLJH's user environment {env.prefix}",
        f"# ({env.kind}), written by 'tljh export user-image'.",
        "#",
        "#   docker build -t REGISTRY/NAME:TAG . && docker push REGISTRY/NAME:TAG",
        "#",
        "# then set singleuser.image.name and .tag in the chart's values (or export them",
        "# again: tljh export z2jh --image REGISTRY/NAME:TAG).  Pick a dated tag of the",
        "# base image (or a hub-X.Y.Z one matching the cluster's JupyterHub) rather than",
        "# latest, so that rebuilding gives the same image.",
        f"ARG BASE_IMAGE={base_image}",
        "FROM ${BASE_IMAGE}",
        "",
    ]
    if conda:
        lines += [
            "COPY environment.yml /tmp/tljh-environment.yml",
            "RUN mamba env update --name base --file /tmp/tljh-environment.yml \\",
            "    && mamba clean --all --yes",
        ]
    lines += [
        "COPY requirements.txt /tmp/tljh-requirements.txt",
        "RUN python -m pip install --no-cache-dir -r /tmp/tljh-requirements.txt",
    ]
    return "\n".join(lines) + "\n"


def image_files(env: EnvPackages, base_image: str = DEFAULT_BASE_IMAGE) -> dict[str, str]:
    """File name → text of the image's build directory."""
    files = {"Dockerfile": dockerfile(env, base_image), "requirements.txt": requirements_txt(env)}
    if env.kind == "conda":
        files["environment.yml"] = environment_yml(env)
    return files
