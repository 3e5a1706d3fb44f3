import datetime as dt
from pathlib import Path

import pytest

from marketflow_assets.settings import (
    PROJECT_ROOT,
    Settings,
    SettingsError,
    default_data_dir,
    parse_tickers,
)
from marketflow_assets.store.lake import Lake
from marketflow_assets.training.templates import CONVERSATION_TYPES


def test_defaults_use_the_sample_and_the_data_folder() -> None:
    settings = Settings.from_env({})
    assert settings.source == "sample"
    assert settings.duckdb_path == PROJECT_ROOT / "data" / "marketflow.duckdb"
    assert settings.tickers is None
    assert settings.start_date == dt.date(2009, 8, 21)


def test_duckdb_path_overrides_the_data_folder(tmp_path: Path) -> None:
    settings = Settings.from_env({"MARKETFLOW_DUCKDB": str(tmp_path / "x.duckdb")})
    assert settings.duckdb_path == tmp_path / "x.duckdb"


def test_a_lake_replaces_the_duckdb_file_as_the_store(tmp_path: Path) -> None:
    assert Settings.from_env({}).store_location == Settings.from_env({}).duckdb_path
    settings = Settings.from_env({"MARKETFLOW_LAKE": str(tmp_path / "lake")})
    assert settings.store_location == Lake(tmp_path / "lake")


def test_unknown_source_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match=r"MARKETFLOW_SOURCE='bogus'.*sample, files, yfinance"):
        Settings.from_env({"MARKETFLOW_SOURCE": "bogus"})


def test_files_source_needs_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="needs MARKETFLOW_FILES_DIR"):
        Settings.from_env({"MARKETFLOW_SOURCE": "files"})
    with pytest.raises(SettingsError, match="not an existing folder"):
        Settings.from_env(
            {"MARKETFLOW_SOURCE": "files", "MARKETFLOW_FILES_DIR": str(tmp_path / "missing")}
        )
    ok = Settings.from_env({"MARKETFLOW_SOURCE": "files", "MARKETFLOW_FILES_DIR": str(tmp_path)})
    assert ok.files_dir == tmp_path


def test_yfinance_needs_tickers() -> None:
    with pytest.raises(SettingsError, match="MARKETFLOW_TICKERS"):
        Settings.from_env({"MARKETFLOW_SOURCE": "yfinance"})


def test_bad_start_date_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="MARKETFLOW_START_DATE='2024-13-01'"):
        Settings.from_env({"MARKETFLOW_START_DATE": "2024-13-01"})


def test_tickers_are_upper_cased_and_deduplicated() -> None:
    assert parse_tickers(" aapl, msft  AAPL,,brk.b ") == ("AAPL", "MSFT", "BRK.B")
    assert parse_tickers(" , ") is None


def test_data_folder_defaults_to_the_checkout_or_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (PROJECT_ROOT / "pyproject.toml").is_file()
    assert default_data_dir() == PROJECT_ROOT / "data"
    site_packages = tmp_path / "site-packages"
    site_packages.mkdir()
    monkeypatch.chdir(tmp_path)
    assert default_data_dir(site_packages) == tmp_path / "data"
    (site_packages / "pyproject.toml").touch()
    assert default_data_dir(site_packages) == site_packages / "data"


def test_training_settings_default_to_the_packaged_templates() -> None:
    settings = Settings.from_env({})
    assert settings.templates_dir.resolve() == PROJECT_ROOT / "marketflow_assets" / "templates"
    assert {p.stem for p in settings.templates_dir.glob("*.j2")} >= {"system", *CONVERSATION_TYPES}
    assert settings.quiet_sample is None  # the rules' share


def test_templates_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"MARKETFLOW_TEMPLATES_DIR=.*not an existing folder"):
        Settings.from_env({"MARKETFLOW_TEMPLATES_DIR": str(tmp_path / "missing")})
    ok = Settings.from_env({"MARKETFLOW_TEMPLATES_DIR": str(tmp_path)})
    assert ok.templates_dir == tmp_path


@pytest.mark.parametrize("raw", ["1.5", "-0.1", "some"])
def test_quiet_sample_must_be_a_fraction(raw: str) -> None:
    with pytest.raises(SettingsError, match=f"MARKETFLOW_QUIET_SAMPLE='{raw}'"):
        Settings.from_env({"MARKETFLOW_QUIET_SAMPLE": raw})
    assert Settings.from_env({"MARKETFLOW_QUIET_SAMPLE": "0.2"}).quiet_sample == 0.2


def test_rules_default_to_the_packaged_file() -> None:
    rules_path = Settings.from_env({}).rules_path
    assert rules_path.resolve() == PROJECT_ROOT / "marketflow_assets" / "vpa" / "rules.yaml"


def test_rules_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(
        SettingsError, match=r"MARKETFLOW_RULES=.*missing\.yaml.*not an existing file"
    ):
        Settings.from_env({"MARKETFLOW_RULES": str(tmp_path / "missing.yaml")})
    with pytest.raises(SettingsError, match="MARKETFLOW_RULES="):
        Settings.from_env({"MARKETFLOW_RULES": str(tmp_path)})
    rules = tmp_path / "rules.yaml"
    rules.write_text(Settings.from_env({}).rules_path.read_text())
    assert Settings.from_env({"MARKETFLOW_RULES": str(rules)}).rules_path == rules


@pytest.mark.parametrize("raw", ["0", "-5", "lots", "1.5"])
def test_memory_budget_must_be_a_positive_number_of_mib(raw: str) -> None:
    with pytest.raises(SettingsError, match=f"MARKETFLOW_MEMORY_MIB={raw!r}"):
        Settings.from_env({"MARKETFLOW_MEMORY_MIB": raw})
    assert Settings.from_env({"MARKETFLOW_MEMORY_MIB": "512"}).memory_mib == 512
    assert Settings.from_env({}).memory_mib == 2048


def test_the_instance_is_postgres_unless_told_otherwise() -> None:
    assert Settings.from_env({}).instance == "postgres"
    assert Settings.from_env({"MARKETFLOW_INSTANCE": " SQLite "}).instance == "sqlite"
    with pytest.raises(SettingsError, match="MARKETFLOW_INSTANCE='mysql'"):
        Settings.from_env({"MARKETFLOW_INSTANCE": "mysql"})
    with pytest.raises(SettingsError, match="MARKETFLOW_POSTGRES_URL is set but"):
        Settings.from_env({"MARKETFLOW_INSTANCE": "sqlite", "MARKETFLOW_POSTGRES_URL": "x"})


def test_the_celery_broker_is_a_redis_url_beside_postgres() -> None:
    assert Settings.from_env({}).celery_broker is None
    broker = "redis://127.0.0.1:6379/0"
    assert Settings.from_env({"MARKETFLOW_CELERY_BROKER": broker}).celery_broker == broker
    with pytest.raises(SettingsError, match="MARKETFLOW_CELERY_BROKER is not a Redis URL"):
        Settings.from_env({"MARKETFLOW_CELERY_BROKER": "amqp://guest:secret@host//"})
    with pytest.raises(SettingsError, match="needs MARKETFLOW_INSTANCE=postgres"):
        Settings.from_env({"MARKETFLOW_CELERY_BROKER": broker, "MARKETFLOW_INSTANCE": "sqlite"})


@pytest.mark.parametrize("raw", ["0", "-1", "all", "1.5"])
def test_workers_must_be_a_positive_number_of_processes(raw: str) -> None:
    with pytest.raises(SettingsError, match=f"MARKETFLOW_WORKERS={raw!r}"):
        Settings.from_env({"MARKETFLOW_WORKERS": raw})
    assert Settings.from_env({"MARKETFLOW_WORKERS": "3"}).workers == 3
    assert Settings.from_env({}).workers is None
