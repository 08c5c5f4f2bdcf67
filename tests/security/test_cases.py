"""The bad-input and security cases of `tests.security.cases`, each on SQLite and PostgreSQL: NUL,
lone surrogates and invalid UTF-8 refused with the field named, huge seeds refused not wrapped, user
text escaped in exports and HTML, votes bound to their annotator, forged annotator ids refused,
exports behind the operator token in one bounded folder, path-like model ids refused without
telling whether the path exists, and a read-only database saying that nothing was stored."""

from __future__ import annotations

import pytest

from tests.security.cases import CASES


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(name, store):
    CASES[name](store)
