"""How the browser tests start Debian's Chromium inside the test container."""

CHROMIUM = "/usr/bin/chromium"
# Root in a container has no user namespace sandbox and no GPU; the rest keeps
# Chromium from fetching anything the test did not ask for.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
