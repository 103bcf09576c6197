"""End-to-end tests: the whole suite of operators on the local environment."""
