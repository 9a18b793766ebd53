"""``python -m tljh.hub.config_check``: load the hub's config as the hub would, start nothing.

Run in a subprocess (:func:`tljh.apply.precheck.check_hub_config`) before
the hub is restarted, like ``nginx -t``: it executes the hub's config file
(our ``config.yaml`` translation, the plugins'
``tljh_custom_jupyterhub_config``, every ``jupyterhub_config.d`` snippet)
into a throwaway config object, builds JupyterHub's application object from
it -- which imports the authenticator, spawner and proxy classes and checks
JupyterHub's own settings -- and checks the values set for those classes
against their traits.  Nothing is started, listened on or written.

Exit status 0 when the hub would accept the configuration; otherwise 1, with
what is wrong on stderr.  Unknown settings are not an error: JupyterHub only
warns about them.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

from tljh.hub import jupyterhub_config

#: The JupyterHub settings that name a class whose own settings are checked too.
CLASS_TRAITS = ("authenticator_class", "spawner_class", "proxy_class")


def import_problems(config: Any) -> list[str]:
    """Why the classes named by import path in ``config`` do not import.

    JupyterHub's own message says only that one "could not be imported".
    """
    section = config.JupyterHub if "JupyterHub" in config else {}
    problems = []
    for trait in CLASS_TRAITS:
        name = section.get(trait)
        if not isinstance(name, str) or "." not in name:
            continue  # a class, or a short name found through entry points
        module, _, attr = name.rpartition(".")
        try:
            getattr(importlib.import_module(module), attr)
        except Exception as e:
            problems.append(
                f"c.JupyterHub.{trait} = {name!r} does not import: {type(e).__name__}: {e}"
            )
    return problems


def section_problems(cls: Any, config: Any) -> list[str]:
    """Values in ``config`` for ``cls`` (or a class it inherits from) its traits refuse."""
    from traitlets import TraitError
    from traitlets.config import LazyConfigValue

    traits = cls.class_traits(config=True)
    bare = cls.__new__(cls)  # validation needs an instance, not a started one
    # Cross-key validators read other settings of a configured instance: not this one.
    bare._cross_validation_lock = True
    problems = []
    for klass in cls.__mro__:
        section = klass.__name__
        if section not in config:
            continue
        for name, value in config[section].items():
            trait = traits.get(name)
            if trait is None or isinstance(value, LazyConfigValue):
                continue
            try:
                trait._validate(bare, value)
            except TraitError as e:
                problems.append(f"c.{section}.{name} = {value!r}: {e}")
    return problems


def check(config_file: Path) -> list[str]:
    """What the hub would refuse in its configuration (empty when it would start)."""
    from jupyterhub.app import JupyterHub
    from traitlets import TraitError
    from traitlets.config.loader import PyFileConfigLoader

    loader = PyFileConfigLoader(config_file.name, path=str(config_file.parent))
    config = loader.load_config()  # our own failures exit with their message
    try:
        app = JupyterHub(config=config)
    except TraitError as e:
        return import_problems(config) or [str(e)]
    problems = []
    for name in CLASS_TRAITS:
        try:
            cls = getattr(app, name)
        except TraitError as e:
            problems.append(str(e))
            continue
        problems += section_problems(cls, config)
    return problems


def main() -> int:
    # The current files are judged: no fallback to known-good ones, no note of one.
    os.environ[jupyterhub_config.STRICT_ENV] = "1"
    # jsonschema compiles an IRI grammar at import (~1 s measured) if this
    # optional package is there; only the hub's event logging uses it, and
    # nothing here validates an event.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    try:
        problems = check(Path(jupyterhub_config.__file__))
    except SystemExit as e:
        # The config file said why on stderr already (see jupyterhub_config._fail).
        return e.code if isinstance(e.code, int) and e.code else 1
    except Exception as e:
        print(f"loading the hub's configuration failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
