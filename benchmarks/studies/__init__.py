"""One-off measurements behind the documents, run by hand (each module's docstring gives its command
and the docs section it feeds). Nothing in the gates or the tests depends on them, except the tests
that keep their code working."""
