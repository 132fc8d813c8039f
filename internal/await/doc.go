// Package await keeps trying, at start, what another server must be up
// for: connecting to MySQL, setting up the JetStream stream. In a
// container platform or a cluster that has just restarted, the service
// often starts before its database or before JetStream has a leader; it
// waits for them, for a bounded patience, instead of exiting at once.
package await
