from __future__ import annotations

from adopt.exceptions import AdoptError, InputError


def test_input_error_is_one_line_naming_table_column_row():
    err = InputError("events", "cost", "negative value -3.0 (must be >= 0)", row=17)
    msg = str(err)
    assert "\n" not in msg
    assert msg == "table 'events', column 'cost', row 17: negative value -3.0 (must be >= 0)"
    assert isinstance(err, ValueError) and isinstance(err, AdoptError)


def test_errors_survive_pickling_as_themselves():
    """A Ray task's error reaches the driver pickled: it must come back whole."""
    import pickle

    from adopt.exceptions import InfeasibleError, ParameterError, WorkspaceError

    err = pickle.loads(pickle.dumps(InputError("events", "cost", "negative", row=3)))
    assert type(err) is InputError and (err.table, err.column, err.row) == ("events", "cost", 3)
    assert str(err) == "table 'events', column 'cost', row 3: negative"
    for cls in (WorkspaceError, ParameterError, InfeasibleError):
        assert str(pickle.loads(pickle.dumps(cls("one line")))) == "one line"
