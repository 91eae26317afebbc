"""Maps the top-level folders onto the `tracehouse.*` import names.

The folder layout tells the architecture (sdk/, collector/, ...), while the installed distribution has one import
root, so nothing named `sdk` or `collector` is ever installed as a top-level module. pyproject.toml cannot express a
recursive folder -> package mapping, hence these few lines; all other metadata lives in pyproject.toml.
"""

from setuptools import find_packages, setup

FOLDERS = {
    "tracehouse": "tracehouse",
    "sdk": "tracehouse.sdk",
    "orchestrator": "tracehouse.orchestrator",
    "collector": "tracehouse.collector",
    "dashboard": "tracehouse.dashboard",
    "evals": "tracehouse.evals",
}

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder, name in FOLDERS.items():
    package_dir[name] = folder
    packages.append(name)
    packages.extend(f"{name}.{sub}" for sub in find_packages(folder))

setup(packages=packages, package_dir=package_dir)
