package natscluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/natscluster"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publish publishes one message with a Nats-Msg-Id and waits up to wait
// for the stream's ack.
func publish(js jetstream.JetStream, subject, id string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := js.Publish(ctx, subject, []byte(id), jetstream.WithMsgID(id))
	return err
}

// publishRetrying publishes until the stream acks, republishing with the
// same Nats-Msg-Id (a leader change can lose an ack, not the message),
// for up to limit.
func publishRetrying(t *testing.T, js jetstream.JetStream, subject, id string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := publish(js, subject, id, 2*time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s: not acknowledged within %s: %v", id, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// msgs returns how many messages stream holds.
func msgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return s.CachedInfo().State.Msgs
}

// A cluster forms, an R3 stream survives its leader killed with -9, and
// losing two of the three servers loses the stream's quorum until they
// come back, with nothing lost.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster of processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := natscluster.Start(ctx, natscluster.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer func() {
		if t.Failed() {
			for i := range c.Size() {
				t.Logf("%s log:\n%s", c.Name(i), c.Log(i))
			}
		}
	}()

	// The cluster formed: one meta leader, every node healthy, a
	// connection given every URL lands on one of them and is found there.
	meta, err := c.MetaLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("meta leader %s", c.Name(meta))
	for i := range c.Size() {
		if err := c.WaitHealthy(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := nats.Connect(c.URLs(), nats.Name("natscluster-test"), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	home := c.NodeOf(nc)
	if home < 0 {
		t.Fatalf("NodeOf: connected to %q, which is not a node", nc.ConnectedServerName())
	}
	// Another connection, of another name, on another node: not counted.
	other, err := nats.Connect(c.URL((home+1)%c.Size()), nats.Name("other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if got := c.NodeOf(other); got != (home+1)%c.Size() {
		t.Errorf("NodeOf: %d; want %d, the node of the only URL given", got, (home+1)%c.Size())
	}
	conns, err := c.Conns(ctx, "natscluster-test")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, c.Size())
	want[home] = 1
	if !slices.Equal(conns, want) {
		t.Errorf("Conns: %v; want %v (the connection is on %s)", conns, want, c.Name(home))
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3,
		Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "R3", jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	n := 0
	send := func(count int, limit time.Duration) {
		for range count {
			n++
			publishRetrying(t, js, "r3.x", fmt.Sprint("m", n), limit)
		}
	}
	send(50, 10*time.Second)

	// kill -9 of the stream's leader: another node leads, nothing is lost.
	leader, err := c.WaitStreamLeader(ctx, "R3")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(leader); err != nil {
		t.Fatal(err)
	}
	if c.Running(leader) {
		t.Fatalf("%s runs after Kill", c.Name(leader))
	}
	send(50, 30*time.Second)
	next, err := c.WaitStreamLeader(ctx, "R3")
	if err != nil {
		t.Fatal(err)
	}
	if next == leader {
		t.Fatalf("the killed node %s still leads the stream", c.Name(leader))
	}
	if got := msgs(t, js, "R3"); got != uint64(n) {
		t.Fatalf("the stream holds %d messages after its leader was killed; want %d", got, n)
	}
	if cl, err := c.WaitConsumerLeader(ctx, "R3", "C"); err != nil || cl == leader || !c.Running(cl) {
		t.Fatalf("consumer leader %d (%v) with %s killed", cl, err, c.Name(leader))
	}
	if err := c.Start(ctx, leader); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx, leader); err != nil {
		t.Fatal(err)
	}

	// Two of three stopped, the stream's leader first: the stream has no
	// quorum, publishes fail. (A leader left alone would go on taking
	// publishes it cannot replicate, each timing out, for up to 20 s
	// before it steps down.)
	if leader, err = c.WaitStreamLeader(ctx, "R3"); err != nil {
		t.Fatal(err)
	}
	stopped := []int{leader, (leader + 1) % c.Size()}
	for _, i := range stopped {
		if err := c.Stop(i); err != nil {
			t.Fatal(err)
		}
	}
	errs := map[string]int{} // what publishes got before, by error
	for stoppedAt := time.Now(); ; {
		err := publish(js, "r3.x", "lost", time.Second)
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			t.Logf("publish without quorum: %v, %s after the second stop (before: %v)", err, time.Since(stoppedAt).Round(time.Millisecond), errs)
			break
		}
		errs[fmt.Sprint(err)]++
		time.Sleep(50 * time.Millisecond)
		if time.Since(stoppedAt) > 30*time.Second {
			t.Fatalf("publishes 30 s after two of three nodes stopped: %v; want %v", errs, jetstream.ErrNoStreamResponse)
		}
	}
	if _, err := c.StreamLeader(ctx, "R3"); err == nil {
		t.Errorf("the stream has a leader with two of three nodes stopped")
	}
	// A leader left alone steps down once it notices (seconds).
	lostAt := time.Now()
	for {
		if _, err := c.MetaLeader(ctx); err != nil {
			t.Logf("no meta leader %s after the second stop: %v", time.Since(lostAt).Round(time.Millisecond), err)
			break
		}
		if time.Since(lostAt) > 30*time.Second {
			t.Fatalf("the cluster still has a meta leader 30 s after two of three nodes stopped")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Restored: the stream leads again and takes publishes; nothing lost.
	if err := c.Start(ctx, stopped...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitMetaLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitStreamLeader(ctx, "R3"); err != nil {
		t.Fatal(err)
	}
	send(10, 30*time.Second)
	// "lost" may or may not have been stored before the quorum went.
	if got := msgs(t, js, "R3"); got != uint64(n) && got != uint64(n+1) {
		t.Errorf("the stream holds %d messages after the quorum came back; want %d", got, n)
	}
	for i := range c.Size() {
		if err := c.WaitHealthy(ctx, i); err != nil {
			t.Error(err)
		}
	}
}
