"""The pass library (`qcompiler.passes`); importing it registers every pass."""
