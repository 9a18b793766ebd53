"""The installer: ordered, idempotent steps that turn a server into a hub.

:mod:`~tljh.install.options` declares what the admin can ask for (the
bootstrap carries a generated copy); :mod:`~tljh.install.context` is what the
steps share; the steps live in :mod:`~tljh.install.files`,
:mod:`~tljh.install.accounts`, :mod:`~tljh.install.packages` and
:mod:`~tljh.install.services`, by what they act on; :mod:`~tljh.install.steps`
puts them in order and runs them.
"""
