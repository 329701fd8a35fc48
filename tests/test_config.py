from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config, require_credentials


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
