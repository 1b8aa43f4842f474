"""``mkdocs build --strict`` passes: no warnings, no broken links, reference generated."""

from __future__ import annotations


def test_mkdocs_build_strict(built_site):
    reference = (built_site / "reference" / "yaml" / "index.html").read_text()
    from symkit.registry import CATEGORIES, CORE_SCOPE, registry

    for category in CATEGORIES:  # core parts; plugins depend on what is installed
        for name in registry(category).names(f"{CORE_SCOPE}::*"):
            assert name in reference, f"{category} {name} missing from the YAML reference"
