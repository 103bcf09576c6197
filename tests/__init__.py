"""g8s tests, in tiers: unit (pure code), integration (one real dependency), e2e (the suite)."""
