"""Pure builders, one per object the kvm operator writes (plus the Ignition document)."""
