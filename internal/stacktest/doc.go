// Package stacktest holds the test helpers that the link packages' stack-to-stack tests
// share: the all-offloads feature set, two stacks joined by a pair of links with static
// addresses 10.0.0.1 and 10.0.0.2 (which exist only inside the in-process stacks), and a
// TCP transfer of pseudo-random bytes checked by SHA-256 digest.
//
// It is for tests only: the helpers take a testing.TB and fail it with require.
package stacktest
