"""What ships: the license text in the wheel, the metadata a package index shows, a changelog per version."""

from __future__ import annotations

from pathlib import Path

import tomllib

import relgraph

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_file_is_apache_2_and_declared_for_the_wheel():
    project = _project()
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_index_metadata_urls_classifiers_and_long_description():
    project = _project()
    assert project["readme"] == "README.md" and (ROOT / "README.md").exists()
    assert {"Homepage", "Issues", "Changelog"} <= set(project["urls"])
    classifiers = project["classifiers"]
    assert "Programming Language :: Python :: 3" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # the SPDX expression says it (PEP 639)


def test_changelog_has_the_current_version_and_an_unreleased_section():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert project_version() == relgraph.__version__
    assert f"## {relgraph.__version__}" in changelog
    assert "## Unreleased" in changelog


def project_version() -> str:
    return _project()["version"]
