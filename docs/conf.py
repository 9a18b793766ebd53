"""Sphinx configuration of the TLJH documentation (built by `./dev docs`).

Pages are Markdown read by MyST, as upstream TLJH and most of the Jupyter ecosystem do;
see topics/docs.md for why and for how to build, check and regenerate them.
"""

project = "The Littlest JupyterHub"
author = "The TLJH contributors"
copyright = "TLJH contributors"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# `[text](page.md#a-heading)` links resolve to headings down to ###; with `-n` a link to a
# heading or page that does not exist is a warning, and `./dev docs` makes warnings errors.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]
# A bare heading anchor that MyST cannot find should fail the build, not be guessed.
suppress_warnings: list[str] = []

html_theme = "furo"
html_title = "The Littlest JupyterHub"
html_static_path = ["_static"]
# No network at build time: no intersphinx, no remote images.
