from __future__ import annotations

import pytest
from stratequeue.errors import UsageError
from stratequeue.portfolio.config import parse_strategies_file


def write(tmp_path, text):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("x = 1\n")
    path = tmp_path / "strategies.txt"
    path.write_text(text)
    return path


def test_seed_format_with_comments_and_blank_lines(tmp_path):
    specs = parse_strategies_file(
        write(tmp_path, "# filename,strategy_id,allocation\n\na.py,one,0.4  # note\nb.py,two,0.6\n")
    )
    assert [(s.strategy_id, s.allocation) for s in specs] == [("one", 0.4), ("two", 0.6)]
    assert specs[0].file == tmp_path / "a.py"


def test_the_example_file_parses(examples):
    specs = parse_strategies_file(examples / "strategies.txt")
    assert [s.strategy_id for s in specs] == ["sma_short", "momentum_1h", "mean_rev"]
    assert sum(s.allocation for s in specs) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a.py,one,0.7\nb.py,two,0.6\n", "allocations sum to 1.3, more than 1.0"),
        ("a.py,one,-0.1\n", "line 1: allocation -0.1 must be greater than 0"),
        ("a.py,one,lots\n", "line 1: allocation 'lots' is not a number"),
        ("a.py,one,0.2\nb.py,one,0.2\n", "line 2: strategy id 'one' is already used on line 1"),
        ("missing.py,one,0.2\n", "line 1: strategy file 'missing.py' not found"),
        ("a.py,one\n", "line 1: expected 'filename,strategy_id,allocation'"),
        ("# nothing\n", "lists no strategies"),
        ("a.py,one,1.5\n", "allocation 1.5 is over 1.0"),
    ],
)
def test_bad_lines_name_the_line_and_the_fix(tmp_path, text, expected):
    with pytest.raises(UsageError) as err:
        parse_strategies_file(write(tmp_path, text))
    assert expected in str(err.value)
