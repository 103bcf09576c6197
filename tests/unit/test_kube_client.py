from operators.certificates.__main__ import WORKER_THREADS as CERTIFICATES_THREADS
from shared.kube.client import POOL_SIZE, failing_checks, pooled
from shared.runtime import DEFAULT_WORKER_THREADS

READYZ = """[+]ping ok
[+]etcd ok
[-]poststarthook/rbac/bootstrap-roles failed: reason withheld
[+]poststarthook/bootstrap-controller ok
[-]autoregister-completion failed: reason withheld
readyz check failed
"""


def test_failing_checks_are_the_minus_lines() -> None:
    assert failing_checks(READYZ) == (
        "poststarthook/rbac/bootstrap-roles",
        "autoregister-completion",
    )


def test_a_ready_answer_has_no_failing_checks() -> None:
    assert failing_checks("[+]ping ok\nreadyz check passed\n") == ()
    assert failing_checks("") == ()


def test_the_connection_pool_holds_a_connection_for_every_worker_thread() -> None:
    assert pooled().connection_pool_maxsize == POOL_SIZE
    assert DEFAULT_WORKER_THREADS <= POOL_SIZE
    assert CERTIFICATES_THREADS <= POOL_SIZE
    assert pooled(threads=64).connection_pool_maxsize == 64
