from shared.kube.client import failing_checks

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
