"""The installer: ordered, idempotent steps that turn a server into a hub."""
