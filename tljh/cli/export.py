"""``tljh export z2jh`` and ``tljh export user-image``: the way from one server to Kubernetes.

When a class outgrows one server, the next step is Zero to JupyterHub (Z2JH),
the JupyterHub Helm chart for Kubernetes.  ``z2jh`` writes the chart's values
equivalent to config.yaml and the ``jupyterhub_config.d`` files
(:mod:`tljh.render.z2jh`); ``user-image`` a Dockerfile that puts the shared
user environment's packages into the image users' pods run
(:mod:`tljh.render.user_image`).  What has no equivalent on Kubernetes is
said on stderr and at the top of the values file, never dropped silently.

Nothing here talks to a cluster: the files are for the admin to review and deploy.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tljh.config.store import load_checked_config
from tljh.errors import ExportError
from tljh.hub.plugins import ENTRY_POINT_GROUP
from tljh.layout import Layout
from tljh.render.user_image import DEFAULT_BASE_IMAGE, env_packages, image_files
from tljh.render.z2jh import Certificate, Export, ExportWarning, to_z2jh, values_text
from tljh.system.envpackages import read_env_packages
from tljh.system.files import PRIVATE_FILE

DEFAULT_VALUES = "values.yaml"
DEFAULT_IMAGE_DIR = "user-image"


def read_snippets(layout: Layout) -> dict[str, str]:
    """The ``jupyterhub_config.d`` files the hub runs, by file name."""
    directory = layout.jupyterhub_config_d
    if not directory.is_dir():
        return {}
    return {p.name: p.read_text(errors="replace") for p in sorted(directory.glob("*.py"))}


def read_certificate(config: Mapping[str, object], include_secrets: bool) -> Certificate | None:
    https = config.get("https")
    tls = https.get("tls") if isinstance(https, Mapping) else None
    if not isinstance(tls, Mapping) or not tls.get("cert") or not tls.get("key"):
        return None
    cert = Certificate(str(tls["cert"]), str(tls["key"]))
    if not include_secrets:
        return cert
    try:
        return Certificate(
            cert.cert_path,
            cert.key_path,
            Path(cert.cert_path).read_text(),
            Path(cert.key_path).read_text(),
        )
    except OSError as e:
        raise ExportError(
            f"cannot read the certificate or key of https.tls: {e}",
            "fix https.tls.cert/key, or export without --include-secrets "
            "(the values then name a Kubernetes Secret to create)",
        ) from None


def installed_plugins() -> list[str]:
    """The packages of the installed TLJH plugins (not loaded: only named)."""
    names = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        names.add(dist.name if dist is not None else ep.name)
    return sorted(names)


def parse_image(text: str | None) -> tuple[str, str] | None:
    """``REGISTRY/NAME:TAG`` as (name, tag); the tag is required (the chart needs one)."""
    if not text:
        return None
    name, sep, tag = text.rpartition(":")
    if not sep or not name or not tag or "/" in tag:
        raise ExportError(
            f"--image {text!r} has no tag",
            "give the image as pushed, with its tag, e.g. --image "
            "registry.example.org/class:2026-12",
        )
    return name, tag


def invoking_user() -> tuple[int, int] | None:
    """(uid, gid) of the admin who ran the command with sudo: the files are theirs to
    take to the cluster, not root's.  None when not run through sudo."""
    uid, gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
    if os.geteuid() != 0 or not uid.isdigit() or not gid.isdigit():
        return None
    return int(uid), int(gid)


def write_new(path: Path, text: str, mode: int, force: bool) -> None:
    """Write ``path`` whole, with ``mode``, owned by the admin who ran sudo (if any).

    An existing file is replaced only with ``force``.  The text goes to a new
    temporary file first (mode and owner set before it has its name), which
    then takes the name: with ``force`` by a rename, else by a link, which fails
    if anything, a symbolic link too, is there.
    """
    if path.is_dir():
        raise ExportError(f"{path} is a directory", "give a file name with --out")
    if not path.parent.is_dir():
        raise ExportError(
            f"cannot write {path}: {path.parent} does not exist",
            "create it or choose another --out",
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), mode)  # whatever the umask
            owner = invoking_user()
            if owner:
                os.fchown(f.fileno(), *owner)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                refuse_existing(path, force)
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def print_warnings(warnings: list[ExportWarning]) -> None:
    for w in warnings:
        print(f"warning: {w.key}: {w.reason}\n  what to do: {w.hint}", file=sys.stderr)


def refuse_existing(path: Path, force: bool) -> None:
    if not force and (path.exists() or path.is_symlink()):
        raise ExportError(
            f"{path} already exists", "add --force to replace it, or choose another --out"
        )


def cmd_z2jh(args: argparse.Namespace, layout: Layout) -> int:
    if args.out != "-":
        refuse_existing(Path(args.out), args.force)  # before the warnings, not after
    config = load_checked_config(layout)
    export: Export = to_z2jh(
        config,
        include_secrets=args.include_secrets,
        snippets=read_snippets(layout),
        certificate=read_certificate(config, args.include_secrets),
        image=parse_image(args.image),
        plugins=installed_plugins(),
    )
    text = values_text(export, str(layout.config_file))
    print_warnings(export.warnings)
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    # 0600 always: the file names users and admins, and may hold secrets.
    write_new(out, text, PRIVATE_FILE, args.force)
    left_out = (
        f"; {len(export.secrets)} secret(s) left out, marked in the file" if export.secrets else ""
    )
    print(
        f"wrote {out} (readable by its owner only){left_out}\n"
        f"next: read the comments at its top, then see 'When you outgrow one server' in "
        f"the docs; build the users' image with 'tljh export user-image'"
    )
    return 0


def cmd_user_image(args: argparse.Namespace, layout: Layout) -> int:
    env = env_packages(read_env_packages(layout))
    files = image_files(env, args.base_image)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a directory", "choose another --out")
    if not out.exists():
        out.mkdir(parents=True)
        owner = invoking_user()
        if owner:
            os.chown(out, *owner, follow_symlinks=False)
    existing = [name for name in files if (out / name).exists()]
    if existing and not args.force:
        raise ExportError(
            f"{out} already holds {', '.join(existing)}",
            "add --force to replace them, or choose another --out",
        )
    for name, text in files.items():
        write_new(out / name, text, 0o644, args.force)
    count = len(env.pip) + len(env.conda)
    print(
        f"wrote {', '.join(files)} to {out}: {count} package(s) of {env.prefix} ({env.kind})\n"
        f"next: docker build -t REGISTRY/NAME:TAG {out} && docker push REGISTRY/NAME:TAG, "
        "then tljh export z2jh --image REGISTRY/NAME:TAG"
    )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help="files for moving to Zero to JupyterHub on Kubernetes",
        description="When a class outgrows one server: write the values of the Zero to "
        "JupyterHub Helm chart (z2jh) and a Dockerfile for the users' image (user-image) "
        "equivalent to this server. Nothing is deployed; nothing here changes.",
        epilog="The docs page 'When you outgrow one server' has the whole checklist.",
    )
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    z2jh = sub.add_parser(
        "z2jh",
        help="the Helm chart's values for this server's configuration",
        description="Translate config.yaml and the jupyterhub_config.d files into values "
        "for the Zero to JupyterHub Helm chart: authenticator and its options, allowed, "
        "banned and admin users, limits (per group too), idle culler, HTTPS, base_url, "
        "default app. What has no equivalent on Kubernetes is listed on stderr and at the "
        "top of the file. Secrets are left out (with a placeholder saying where they "
        "go) unless --include-secrets.",
    )
    z2jh.add_argument(
        "--out",
        default=DEFAULT_VALUES,
        metavar="FILE",
        help=f"where to write the values (default: {DEFAULT_VALUES}; '-': standard output); "
        "the file is readable by its owner only",
    )
    z2jh.add_argument(
        "--include-secrets",
        action="store_true",
        help="put OAuth client secrets, LDAP passwords and your own TLS key into the file",
    )
    z2jh.add_argument("--force", action="store_true", help="replace FILE if it exists")
    z2jh.add_argument(
        "--image",
        metavar="NAME:TAG",
        help="the users' image you built and pushed (see 'tljh export user-image')",
    )
    z2jh.set_defaults(
        func=cmd_z2jh, needs_root="reads config.yaml, which may hold secrets and is root's alone"
    )
    image = sub.add_parser(
        "user-image",
        help="a Dockerfile with the packages of the shared user environment",
        description="Write a Dockerfile and requirements.txt (and environment.yml for a "
        "conda environment) that install the packages of the shared user environment, "
        "as its own pip and conda list them, on a Jupyter Docker Stacks image: the "
        "image the users' pods run on Kubernetes.",
    )
    image.add_argument(
        "--out",
        default=DEFAULT_IMAGE_DIR,
        metavar="DIR",
        help=f"the directory to write into (default: {DEFAULT_IMAGE_DIR}, made if missing)",
    )
    image.add_argument("--force", action="store_true", help="replace files already in DIR")
    image.add_argument(
        "--base-image",
        default=DEFAULT_BASE_IMAGE,
        metavar="IMAGE",
        help=f"the image to start from (default: {DEFAULT_BASE_IMAGE})",
    )
    image.set_defaults(func=cmd_user_image)
