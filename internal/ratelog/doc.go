// Package ratelog logs conditions that can happen thousands of times a
// second (requests refused as overloaded, messages dropped) as one
// warning per interval with a count, instead of a line each.
package ratelog
