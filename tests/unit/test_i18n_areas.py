"""Translation files: per-area files merge into the main catalogue; a key defined twice fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from siyu.console import i18n


@pytest.fixture
def locales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    i18n.catalog.cache_clear()
    yield tmp_path
    i18n.catalog.cache_clear()


def _write(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_area_files_are_merged(locales: Path) -> None:
    _write(locales / "zh.json", {"nav.home": "首页"})
    _write(locales / "zh" / "codes.json", {"codes.title": "渠道活码"})
    assert i18n.catalog("zh") == {"nav.home": "首页", "codes.title": "渠道活码"}


def test_key_defined_twice_names_the_file(locales: Path) -> None:
    _write(locales / "zh.json", {"codes.title": "渠道活码"})
    _write(locales / "zh" / "codes.json", {"codes.title": "活码"})
    with pytest.raises(ValueError, match=r"codes\.json defines keys already defined: codes\.title"):
        i18n.catalog("zh")


def test_shipped_catalogues_load_and_agree() -> None:
    i18n.catalog.cache_clear()
    assert i18n.catalog("zh")
    assert i18n.missing_keys() == {}
