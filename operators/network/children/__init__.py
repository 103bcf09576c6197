"""Pure builders, one per object the network operator writes."""
