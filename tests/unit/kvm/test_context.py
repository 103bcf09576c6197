"""The kvm operator's launcher settings: accelerator, guest image, placement."""

import pytest

from operators.kvm.context import KVMSettings
from shared.settings import SettingsError, load


def test_launcher_settings_from_the_environment() -> None:
    settings = load(
        KVMSettings,
        {
            "G8S_KVM_ACCEL": "tcg",
            "G8S_KVM_GUEST_IMAGE_PATH": "/srv/g8s/guest",
            "G8S_KVM_NODE_SELECTOR": "g8s.io/host=real",
            "G8S_KVM_TOLERATIONS": "g8s.io/real-host:NoSchedule",
        },
        prefix="G8S_KVM_",
    )
    assert settings.accel == "tcg"
    assert settings.guest_image_path == "/srv/g8s/guest"
    assert settings.node_selector == ("g8s.io/host=real",)
    assert settings.tolerations == ("g8s.io/real-host:NoSchedule",)


def test_defaults() -> None:
    settings = KVMSettings()
    assert (settings.accel, settings.guest_image_path) == ("auto", "")
    assert settings.node_selector == settings.tolerations == ()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("G8S_KVM_ACCEL", "xen", "G8S_KVM_ACCEL='xen': expected one of auto, kvm, tcg"),
        ("G8S_KVM_NODE_SELECTOR", "real", "expected key=value"),
        ("G8S_KVM_TOLERATIONS", "k:Sometimes", "effect must be one of"),
    ],
)
def test_wrong_values_fail_at_start(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(KVMSettings, {variable: value}, prefix="G8S_KVM_")


def test_cpu_allocation_ratio_below_one_is_refused() -> None:
    with pytest.raises(SettingsError, match="CPU_ALLOCATION_RATIO"):
        KVMSettings(cpu_allocation_ratio=0.5)
