from setuptools import setup

setup(
    name="tljh-test-plugin",
    version="1.0",
    description="A TLJH plugin for the integration suite: every hook leaves a trace",
    packages=["tljh_test_plugin"],
    entry_points={"tljh": ["tljh_test_plugin = tljh_test_plugin"]},
)
