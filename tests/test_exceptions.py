from __future__ import annotations

from adopt.exceptions import AdoptError, InputError


def test_input_error_is_one_line_naming_table_column_row():
    err = InputError("events", "cost", "negative value -3.0 (must be >= 0)", row=17)
    msg = str(err)
    assert "\n" not in msg
    assert msg == "table 'events', column 'cost', row 17: negative value -3.0 (must be >= 0)"
    assert isinstance(err, ValueError) and isinstance(err, AdoptError)
