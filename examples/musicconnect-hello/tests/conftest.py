import pytest


@pytest.fixture
def mc_plugins():
    """These tests load the core and this plugin only: another installed plugin cannot break them."""
    return ["hello"]
