"""Speed and memory targets, run by `make bench`; results printed as a table. Never timed unit tests."""
