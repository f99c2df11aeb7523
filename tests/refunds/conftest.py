import pytest


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """``with commit(): …`` runs what the block enqueued on commit (the PSP submission) as a real commit would.

    Tests run inside one transaction that never commits; this is the commit."""

    def make():
        return django_capture_on_commit_callbacks(execute=True)

    return make
