"""Test support shared by the pytest suite and dagbag_check.py: real PostgreSQL databases,
generated marketplace data, and local HTTP servers that follow the vendors' documented APIs."""
