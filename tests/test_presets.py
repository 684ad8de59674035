"""--preset uniform | paper: what each sets, that a flag the user gives wins, that config.json records it, and that
docs/comparison.md lists exactly the settings the code applies."""
import json

import pytest

from darts_tse.config import METHODS, PAPER_PRESET, PRESETS, ConfigError, SearchConfig, preset_settings

from conftest import REPO_ROOT


def resolved(argv):
    from darts_tse.cli.sweep_plan import search_config, strict_parser

    return search_config(strict_parser(), argv)


def test_uniform_is_todays_shared_settings_for_every_method():
    assert PRESETS == ("uniform", "paper") and SearchConfig().preset == "uniform"
    for method in METHODS:
        config = SearchConfig(method=method)
        assert preset_settings("uniform", method) == {}
        assert config.resolve(set()) == config


def test_paper_gives_each_method_its_released_codes_settings():
    tse = resolved(["--method", "darts-tse", "--preset", "paper"])
    assert (tse.grad_clip, tse.tse_mode, tse.K, tse.epochs, tse.weight_decay, tse.nesterov) == \
        (None, "rollout", 100, 50, 5e-4, True)
    drnas = resolved(["--method", "drnas", "--preset", "paper"])
    assert (drnas.epochs, drnas.weight_decay, drnas.nesterov, drnas.grad_clip) == (100, 3e-4, False, 5.0)
    assert drnas.effective_arch_weight_decay == 1e-3
    drnas_tse = resolved(["--method", "drnas-tse", "--preset", "paper"])
    assert (drnas_tse.epochs, drnas_tse.weight_decay, drnas_tse.grad_clip, drnas_tse.tse_mode,
            drnas_tse.arch_warmup_epochs) == (100, 3e-4, None, "rollout", 10)
    darts = resolved(["--method", "darts", "--preset", "paper"])
    assert darts.to_dict() | {"preset": "uniform"} == SearchConfig(method="darts").to_dict(), \
        "AutoDL's DARTS-V1 settings are the shared ones"
    for config in (tse, drnas, drnas_tse, darts):
        assert config.preset == "paper"
        config.validate()


def test_a_flag_given_on_the_command_line_wins_over_the_preset():
    config = resolved(["--method", "darts-tse", "--preset", "paper", "--grad-clip", "3", "--epochs", "5"])
    assert (config.grad_clip, config.epochs, config.tse_mode) == (3.0, 5, "rollout")
    config = resolved(["--method", "drnas", "--preset", "paper", "--drnas-reg", "kl"])
    assert config.effective_arch_weight_decay == 0.0, "with kl, DrNAS' code puts no weight decay on θ"
    with pytest.raises(Exception, match=r"arch-warmup-epochs 10 \(--preset paper.s value\) >= --epochs 5"):
        resolved(["--method", "drnas-tse", "--preset", "paper", "--epochs", "5"]).validate()
    resolved(["--method", "drnas-tse", "--preset", "paper", "--epochs", "5", "--arch-warmup-epochs", "0"]).validate()


def test_an_unknown_preset_is_one_line():
    with pytest.raises(ConfigError, match="unknown --preset 'released'; choose one of: uniform, paper"):
        SearchConfig(preset="released").validate()


def test_train_search_records_the_preset_and_its_settings_in_config_json(tmp_path):
    from darts_tse.cli.search import main

    out = tmp_path / "run"
    code = main(["--method", "darts-tse", "--preset", "paper", "--K", "2", "--dataset", "synthetic",
                 "--synthetic-samples", "32", "--synthetic-image-size", "8", "--C", "2", "--N", "1", "--batch-size",
                 "8", "--epochs", "1", "--steps-per-epoch", "2", "--wandb", "disabled", "--no-progress", "--device",
                 "cpu", "--out", str(out)])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["preset"], config["grad_clip"], config["tse_mode"], config["K"], config["epochs"]) == \
        ("paper", None, "rollout", 2, 1)


def _value_text(name, value) -> str:
    if value is None:
        return "default" if name == "arch_weight_decay" else "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_docs_list_every_setting_of_the_paper_preset_with_its_source():
    text = (REPO_ROOT / "docs" / "comparison.md").read_text()
    for method, settings in PAPER_PRESET.items():
        for name, (value, source) in settings.items():
            row = f"| {method} | `{name}` | {_value_text(name, value)}"
            assert row in text, row
            assert source.split(" (")[0].split("/")[-1] in text
