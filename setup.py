"""Package layout: `passes/` and `backends/` install as `qcompiler.passes` and
`qcompiler.backends`. The package list is computed so new subpackages need no edit."""
from setuptools import find_packages, setup


def mapped(folder: str) -> list:
    return [f"qcompiler.{folder}"] + [f"qcompiler.{folder}.{p}" for p in find_packages(where=folder)]


setup(
    packages=find_packages(include=["qcompiler", "qcompiler.*"]) + mapped("passes") + mapped("backends"),
    package_dir={"qcompiler.passes": "passes", "qcompiler.backends": "backends"},
    package_data={"qcompiler": ["targets/*.toml", "data/*.npz", "data/*.json"]},
    include_package_data=False,
)
