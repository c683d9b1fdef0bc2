"""`@njit` kernels, one concept per module; they take storage integers and plain
parameters (no IR objects), so they can be tested and benchmarked on their own."""
