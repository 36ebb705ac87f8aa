"""streamrec's development tools, outside the installed package: the embedded broker, the
bench and verify harness, the replay, and the process helpers the tests share."""
