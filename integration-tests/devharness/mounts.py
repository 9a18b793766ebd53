"""Overlay mounts, and removing directory trees that may still have something mounted."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

from devharness.locations import RUNS
from devharness.messages import die, say
from devharness.processes import check_call


def mount_private_copy(lower: Path, run_dir: Path, root: Path) -> None:
    """A writable copy of lower at root, so a run never changes the cached rootfs.

    An overlay keeps its changes in run_dir; where overlays cannot be mounted, the
    whole rootfs is copied instead (slower, same result).
    """
    for sub in (run_dir / "upper", run_dir / "work", root):
        sub.mkdir(parents=True, exist_ok=True)
    upper, work = run_dir / "upper", run_dir / "work"
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
    mounted = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", opts, str(root)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        say(f"overlay mount failed ({mounted.stderr.strip()}); copying the rootfs instead")
        root.rmdir()
        check_call(
            ["cp", "-a", "--reflink=auto", str(lower), str(root)],
            "copying the rootfs",
        )


def rootfs_in_use(lower: Path) -> bool:
    """Whether a container left running (--keep) still has this rootfs under its overlay."""
    with open("/proc/self/mountinfo") as f:
        return any(f"lowerdir={lower}," in line or f"lowerdir={lower} " in line for line in f)


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def remove_tree(path: Path, background: bool = False) -> None:
    """Remove a directory tree, refusing to descend into anything still mounted.

    In the background, the tree is first renamed into RUNS/.trash, so the files of
    an installed TLJH (slow to delete) go away while the next run already starts.
    """
    for point in sorted(mounts_under(path), key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    left = mounts_under(path)
    if left:
        die(f"cannot remove {path}: still mounted: {', '.join(left)}")
    if background:
        trash = RUNS / ".trash"
        trash.mkdir(parents=True, exist_ok=True)
        target = trash / f"{path.name}-{secrets.token_hex(3)}"
        path.rename(target)
        empty_trash()
        return
    # rm(1) is several times faster than shutil.rmtree on an installed TLJH
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


def empty_trash() -> None:
    """Delete what earlier runs moved to RUNS/.trash, in a process that outlives this one."""
    trash = RUNS / ".trash"
    if not trash.is_dir() or mounts_under(trash):
        return
    entries = [str(p) for p in trash.iterdir()]
    if entries:
        subprocess.Popen(
            ["rm", "-rf", "--one-file-system", *entries],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
