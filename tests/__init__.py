import pytest

# The shared helpers' asserts explain a failure as a test's own would: marked here,
# before the root conftest imports them.
pytest.register_assert_rewrite("tests.support", "tests.factories")
