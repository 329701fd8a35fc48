import os
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config, public_dict, require_credentials


def test_defaults_and_environment_overrides(tmp_path):
    cfg = load_config(
        env={
            "SOHOA_HOME": str(tmp_path),
            "SOHOA_MINIO_SECURE": "1",
            "SOHOA_BUCKET_RAW": "raw1",
            "SOHOA_MINIO_ENDPOINT": "minio:9000",
        }
    )
    assert cfg.home == tmp_path.resolve()
    assert cfg.inbox == tmp_path.resolve() / "inbox"
    assert cfg.minio.secure is True
    assert cfg.minio.endpoint == "minio:9000"
    assert cfg.buckets.raw == "raw1" and cfg.buckets.archive == "archive"
    assert cfg.ocr.lang == "vie"


def test_file_overrides_default_and_env_overrides_file(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("ingest:\n  default_dpi: 200\nbuckets:\n  raw: fromfile\n", encoding="utf-8")
    cfg = load_config(
        env={"SOHOA_CONFIG": str(f), "SOHOA_BUCKET_RAW": "fromenv", "SOHOA_HOME": str(tmp_path)}
    )
    assert cfg.ingest.default_dpi == 200
    assert cfg.buckets.raw == "fromenv"


@pytest.mark.parametrize(
    "text",
    [
        "nonsense: 1\n",
        "ingest:\n  default_dpi: many\n",
        "minio:\n  endpoint: http://x:9000/\n",
        "- a\n",
    ],
)
def test_bad_configuration_is_a_clear_error(tmp_path, text):
    f = tmp_path / "bad.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(f, env={"SOHOA_HOME": str(tmp_path)})


def test_credentials_only_from_the_environment(tmp_path):
    cfg = load_config(env={"SOHOA_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="SOHOA_MINIO_ACCESS_KEY"):
        require_credentials(cfg)
    for committed in (Path(__file__).parents[1] / "configs").glob("*.yaml"):
        text = committed.read_text(encoding="utf-8")
        assert "secret_key:" not in text and "access_key:" not in text, committed


def test_every_example_configuration_loads(tmp_path):
    examples = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert examples, "configs/ holds example files"
    for example in examples:
        load_config(example, env={"SOHOA_HOME": str(tmp_path)})


def test_an_installed_package_runs_from_any_folder(tmp_path):
    """`pip install .` (not editable): package data travels inside the packages."""
    import site
    import subprocess
    import sys
    import zipfile

    repo = Path(__file__).parents[1]
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(wheels),
            str(repo),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("sohoa-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "pipeline/lang/data/vi_syllable_lm.bin" in names
    assert "pipeline/lang/data/vi_skeletons.tsv.gz" in names
    assert "workers/web/templates/base.html" in names
    assert not any(n.startswith(("tests/", "bench/", "configs/")) for n in names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    deps = os.pathsep.join(site.getsitepackages())  # the dependencies, not our source tree
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(
        [str(venv / "bin" / "sohoa"), "--json", "config"],
        cwd=elsewhere,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": deps, "SOHOA_HOME": str(elsewhere)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert str(repo) not in run.stdout
    probe = "import pipeline, workers; print(pipeline.__file__); print(workers.__file__)"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=elsewhere,
        env={"PYTHONPATH": deps},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.returncode == 0 and str(venv) in where.stdout and str(repo) not in where.stdout


def test_compose_file_wires_every_sohoa_service_and_holds_no_secret():
    import yaml

    repo = Path(__file__).parents[1]
    compose = yaml.safe_load((repo / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"minio", "postgres", "redis", "setup", "worker", "watcher", "web"} <= set(services)
    # Each sohoa service mounts its own role's file and nothing else (the station: the
    # station key alone), and no secret is written in the compose file or read from .env.
    roles = {"worker": "worker", "watcher": "station", "web": "web"}
    roles |= {"cli": "operator", "admin": "admin"}
    for name, role in roles.items():
        env = services[name]["environment"]
        assert env["SOHOA_EXECUTOR"] == "celery" and env["SOHOA_ROLE_FILE"]
        mounts = [v for v in services[name]["volumes"] if "/run/sohoa/role" in v]
        assert mounts == [f"${{SOHOA_OFFICE_DIR:-./office}}/{role}:/run/sohoa/role:ro"], name
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            assert not any(w in key for w in ("SECRET", "PASSWORD", "_URL", "KEY")), (name, key)
            assert "${" not in str(value) or key == "SOHOA_ROLE_FILE", (name, key)
    # Each server mounts its own secret's volume only, read-only; setup writes all three.
    for server in ("minio", "postgres", "redis"):
        keys = [v for v in services[server]["volumes"] if "-keys:" in v]
        assert keys == [f"{server}-keys:/run/sohoa-servers/{server}:ro"], server
    assert services["worker"]["command"][0] == "worker"
    assert services["watcher"]["command"] == ["watch"]
    assert services["setup"]["command"][:2] == ["office", "init"]
    assert "SOHOA_" in (repo / "configs" / "office.env.example").read_text(encoding="utf-8")


def test_database_and_broker_urls_never_printed_with_their_password():
    cfg = load_config(
        env={
            "SOHOA_DATABASE_URL": "postgresql://sohoa:pgsecret@db:5432/sohoa",
            "SOHOA_BROKER_URL": "redis://:redissecret@redis:6379/0",
        }
    )
    text = repr(cfg) + str(public_dict(cfg))
    assert "pgsecret" not in text and "redissecret" not in text
    assert public_dict(cfg)["database"]["url"] == "postgresql://sohoa:***@db:5432/sohoa"
