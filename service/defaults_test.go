package service

import (
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/catalog"
	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/dbapi-dev/dbapi/durable"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// Each default has one definition a user sees: the configuration's
// envconfig tags (which `dbapi help` and the README table show). The
// packages keep constants of their own for the zero values of their
// Configs, for programs and tests that use them without the service;
// this test fails the day the two drift apart.
func TestDefaultsAgree(t *testing.T) {
	c, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		name        string
		config, pkg any
	}{
		{"DBAPI_PREFIX / consumer.DefaultPrefix", c.Prefix, consumer.DefaultPrefix},
		{"DBAPI_QUEUE_GROUP / consumer.DefaultQueueGroup", c.QueueGroup, consumer.DefaultQueueGroup},
		{"DBAPI_QUEUE_LEN / consumer.DefaultQueueLen", c.QueueLen, consumer.DefaultQueueLen},
		{"DBAPI_QUEUE_BYTES / consumer.DefaultQueueBytes", c.QueueBytes, int64(consumer.DefaultQueueBytes)},
		{"DBAPI_MAX_PAYLOAD / consumer.DefaultMaxPayload", c.MaxPayload, consumer.DefaultMaxPayload},
		{"DBAPI_POOL_SIZE / txrunner.DefaultPoolSize", c.PoolSize, txrunner.DefaultPoolSize},
		{"DBAPI_POOL_SIZE / consumer.DefaultWorkers", c.PoolSize, consumer.DefaultWorkers},
		{"DBAPI_MAX_ATTEMPTS / txrunner.DefaultMaxAttempts", c.MaxAttempts, txrunner.DefaultMaxAttempts},
		{"DBAPI_TIMEOUT / executor.DefaultTimeout", c.Timeout, executor.DefaultTimeout},
		{"DBAPI_COALESCE_MAX / executor.DefaultCoalesceMax", c.CoalesceMax, executor.DefaultCoalesceMax},
		{"DBAPI_COALESCE_GROUPS / executor.DefaultCoalesceGroups", c.CoalesceGroups, executor.DefaultCoalesceGroups},
		{"DBAPI_COALESCE_WAIT / executor.DefaultCoalesceWait", c.CoalesceWait, time.Duration(executor.DefaultCoalesceWait)},
		{"DBAPI_MAX_BATCH / batch.DefaultMaxSteps", c.MaxBatch, batch.DefaultMaxSteps},
		{"DBAPI_MAX_ROWS / catalog.DefaultMaxRows", c.MaxRows, catalog.DefaultMaxRows},
		{"DBAPI_IDEMPOTENCY_TTL / idempotency.DefaultTTL", c.IdemTTL, idempotency.DefaultTTL},
		{"DBAPI_DURABLE_REPLICAS / durable.DefaultReplicas", c.DurableReplicas, durable.DefaultReplicas},
		{"DBAPI_DURABLE_MAX_AGE / durable.DefaultMaxAge", c.DurableMaxAge, durable.DefaultMaxAge},
		{"DBAPI_DURABLE_DUPLICATES / durable.DefaultDuplicates", c.DurableDuplicates, durable.DefaultDuplicates},
		{"DBAPI_DURABLE_ACK_WAIT / durable.DefaultAckWait", c.DurableAckWait, durable.DefaultAckWait},
		{"DBAPI_DURABLE_MAX_DELIVER / durable.DefaultMaxDeliver", c.DurableMaxDeliver, durable.DefaultMaxDeliver},
		{"DBAPI_DURABLE_BACKOFF / durable.DefaultBackoff", c.DurableBackoff, durable.DefaultBackoff},
		{"DBAPI_DURABLE_MAX_BACKOFF / durable.DefaultMaxBackoff", c.DurableMaxBackoff, durable.DefaultMaxBackoff},
		{"DBAPI_DURABLE_OUTCOME_TTL / durable.DefaultOutcomeTTL", c.DurableOutcomeTTL, durable.DefaultOutcomeTTL},
	} {
		if d.config != d.pkg {
			t.Errorf("%s: the configuration says %v, the package %v", d.name, d.config, d.pkg)
		}
	}
}
