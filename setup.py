from setuptools import find_packages, setup

# Version ranges of the hub environment.  The installer installs the newest
# versions they allow, and the integration suite proves that combination.
HUB_REQUIREMENTS = [
    "jupyterhub>=6.1.1,<7",
    "jupyterhub-systemdspawner>=1.0.2,<2",
    "jupyterhub-traefik-proxy>=2.1.0,<3",
    "jupyterhub-idle-culler>=2.0.0,<3",
    "jupyterhub-firstuseauthenticator>=1.1.1,<2",
    "jupyterhub-nativeauthenticator>=1.3.0,<2",
    "jupyterhub-ldapauthenticator>=2.0.2,<3",
    "jupyterhub-tmpauthenticator>=1.0.0,<2",
    "oauthenticator>=17.4.0,<18",
]

CORE_REQUIREMENTS = [
    "ruamel.yaml>=0.18,<0.20",
    "pluggy>=1.5,<2",
    "tomli-w>=1.0,<2",
    "tomli>=2; python_version < '3.11'",
]

setup(
    name="the-littlest-jupyterhub",
    version="2.0.0.dev0",
    description="JupyterHub for a class of 1-100 students on one server",
    url="https://tljh.jupyter.org",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["tljh", "tljh.*"]),
    include_package_data=True,
    package_data={"tljh": ["py.typed", "requirements/*.txt"]},
    install_requires=CORE_REQUIREMENTS + HUB_REQUIREMENTS,
    extras_require={
        "test": [
            "pytest>=8",
            "ruff>=0.6",
            "import-linter>=2.1,<3",
            "mypy>=1.10",
            # tests/test_export_z2jh_chart.py runs the Zero to JupyterHub chart's hub
            # configuration: what it imports, and the schema check of its values.
            "jupyterhub-kubespawner>=7,<8",
            "kubernetes_asyncio",
            "pycurl>=7.45",
            "pyyaml>=6",
            "jsonschema>=4",
            # the documentation site (./dev docs): Sphinx + MyST, as upstream TLJH
            "sphinx>=8,<10",
            "myst-parser>=4,<6",
            "furo>=2024.8.6",
        ],
    },
    entry_points={
        "console_scripts": [
            "tljh-config = tljh.cli.config:main",
            "tljh-installer = tljh.cli.installer:run",
            "tljh = tljh.cli.main:main",
        ],
    },
)
