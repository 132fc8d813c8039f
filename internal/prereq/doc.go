// Package prereq is the tests' one policy for what they need from the
// machine (a MySQL server, mariadbd, galera-4, haproxy, Node.js and its
// packages): where it is missing, a test fails under CI (CI set, as .ci/run
// sets it), since a suite that skips its heart passes without testing
// anything, and is skipped elsewhere, saying what is missing.
package prereq
