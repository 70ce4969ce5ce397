"""Loading strategy files: the one Strategy class, or a one-line error naming the fix."""

from __future__ import annotations

import sys
import textwrap

import pytest
from strategies import FILES
from stratequeue.engine import LoadedStrategy, load_strategy
from stratequeue.errors import StrategyLoadError

HEADER = "from backtesting import Strategy\n"
BODY = "    def init(self):\n        pass\n\n    def next(self):\n        pass\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_loads_each_bundled_strategy_file():
    names = {p.stem: load_strategy(p) for p in FILES.glob("*.py")}
    assert names["sma_cross"].name == "SmaCross" and names["sma_cross"].lookback == 30
    assert names["trailing_signal"].name == "TrailingTrend"
    assert names["random_orders"].lookback is None
    assert all(isinstance(v, LoadedStrategy) for v in names.values())


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(StrategyLoadError, match=r"Strategy file not found: .*nope\.py"):
        load_strategy(tmp_path / "nope.py")


def test_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "bad.py", HEADER + "class A(Strategy):\n    def init(self)\n")
    with pytest.raises(StrategyLoadError, match=r"Syntax error in .*bad\.py line 3"):
        load_strategy(path)


def test_import_error_names_the_missing_module(tmp_path):
    path = write(tmp_path, "imp.py", "import talib_not_here\n" + HEADER)
    with pytest.raises(
        StrategyLoadError, match=r"imports 'talib_not_here', which is not installed"
    ):
        load_strategy(path)


def test_file_without_strategy_says_how_to_define_one(tmp_path):
    path = write(tmp_path, "empty.py", HEADER + "X = 1\n")
    with pytest.raises(
        StrategyLoadError, match=r"No backtesting.py Strategy subclass in .*empty\.py"
    ):
        load_strategy(path)


def test_two_candidates_are_named_with_the_selector_fix(tmp_path):
    path = write(
        tmp_path, "two.py", HEADER + f"class A(Strategy):\n{BODY}\nclass B(Strategy):\n{BODY}"
    )
    with pytest.raises(StrategyLoadError) as err:
        load_strategy(path)
    message = str(err.value)
    assert "A, B" in message and 'STRATEGY = "A"' in message and "\n" not in message


def test_strategy_selector_picks_one(tmp_path):
    text = HEADER + f"STRATEGY = 'B'\nclass A(Strategy):\n{BODY}\nclass B(Strategy):\n{BODY}"
    assert load_strategy(write(tmp_path, "sel.py", text)).name == "B"


def test_defined_class_wins_over_imported_ones(tmp_path):
    text = (
        "from backtesting.lib import SignalStrategy, TrailingStrategy\n"
        f"import sys; sys.path.insert(0, {str(FILES)!r})\nfrom sma_cross import SmaCross\n"
        + HEADER
        + f"class Mine(Strategy):\n{BODY}"
    )
    assert load_strategy(write(tmp_path, "mine.py", text)).name == "Mine"


def test_subclass_wins_over_its_base(tmp_path):
    text = HEADER + f"class Base(Strategy):\n{BODY}\nclass Child(Base):\n    n = 2\n"
    assert load_strategy(write(tmp_path, "child.py", text)).name == "Child"


def test_same_class_name_in_two_files_coexists(tmp_path):
    a = write(tmp_path, "a.py", HEADER + f"class S(Strategy):\n    x = 1\n{BODY}")
    (tmp_path / "b").mkdir()
    b = write(tmp_path / "b", "a.py", HEADER + f"class S(Strategy):\n    x = 2\n{BODY}")
    la, lb = load_strategy(a), load_strategy(b)
    assert (la.cls.x, lb.cls.x) == (1, 2) and la.cls.__module__ != lb.cls.__module__


def test_bad_lookback_is_rejected(tmp_path):
    path = write(tmp_path, "lb.py", HEADER + f"LOOKBACK = 'x'\nclass A(Strategy):\n{BODY}")
    with pytest.raises(StrategyLoadError, match="LOOKBACK"):
        load_strategy(path)


def test_talib_example_without_the_extra_names_the_analytics_extra(monkeypatch, examples):
    monkeypatch.setitem(sys.modules, "talib", None)  # as if ta-lib were not installed
    with pytest.raises(StrategyLoadError) as err:
        load_strategy(examples / "strategies" / "rsi_talib.py")
    message = str(err.value)
    assert "imports 'talib', which is not installed" in message
    assert 'pip install "stratequeue[analytics]"' in message and "\n" not in message


def test_strategy_may_name_a_library_class_and_prepare_data_must_be_a_function(tmp_path):
    file = tmp_path / "lib.py"
    file.write_text("from backtesting.test._test import SmaCross\nSTRATEGY = SmaCross\n")
    loaded = load_strategy(file)
    assert loaded.cls.__module__ == "backtesting.test._test" and loaded.prepare_data is None
    # found by a search, an imported library class is still not the file's strategy
    file.write_text("from backtesting.test._test import SmaCross\n")
    with pytest.raises(StrategyLoadError, match="No backtesting.py Strategy subclass"):
        load_strategy(file)
    file.write_text(
        "from backtesting.test._test import SmaCross\nSTRATEGY = SmaCross\nprepare_data = 3\n"
    )
    with pytest.raises(StrategyLoadError, match="prepare_data = 3; it must be a function"):
        load_strategy(file)
