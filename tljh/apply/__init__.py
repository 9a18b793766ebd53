"""Making the running hub and proxy match the config, or rolling back.

* :mod:`tljh.apply.health`      -- is the hub or the proxy healthy; restart one with a bounded wait
* :mod:`tljh.apply.snapshot`    -- the config files at one moment, and the one known to work
* :mod:`tljh.apply.plan`        -- which components a change restarts, in which order (pure)
* :mod:`tljh.apply.proxy_files` -- traefik's generated files
* :mod:`tljh.apply.transaction` -- one apply, and its rollback when the hub or proxy fails
* :mod:`tljh.apply.session`     -- a change under the config lock, applied before letting go

Not on the path of ``tljh-config set``: :mod:`tljh.cli.config` imports it lazily.
"""
