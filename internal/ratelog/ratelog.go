package ratelog

import (
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Logger counts events by message and logs each message's count once per
// interval. Create it with New; Close logs what is left.
type Logger struct {
	log   *slog.Logger
	every time.Duration

	mu     sync.Mutex
	counts map[string]int
	attrs  map[string][]any // the attributes of each message's latest event
	stop   chan struct{}
	done   chan struct{}
}

// New returns a Logger that writes to log every interval.
func New(log *slog.Logger, every time.Duration) *Logger {
	l := &Logger{log: log, every: every, counts: map[string]int{}, attrs: map[string][]any{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go l.loop()
	return l
}

// Add counts one event. attrs, the latest event's, are logged with the
// count.
func (l *Logger) Add(msg string, attrs ...any) {
	l.mu.Lock()
	l.counts[msg]++
	l.attrs[msg] = attrs
	l.mu.Unlock()
}

func (l *Logger) loop() {
	defer close(l.done)
	t := time.NewTicker(l.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush()
		case <-l.stop:
			return
		}
	}
}

// Flush logs the counts so far, one warning per message.
func (l *Logger) Flush() {
	l.mu.Lock()
	counts, attrs := l.counts, l.attrs
	l.counts, l.attrs = map[string]int{}, map[string][]any{}
	l.mu.Unlock()
	msgs := make([]string, 0, len(counts))
	for m := range counts {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	for _, m := range msgs {
		l.log.Warn(m, append([]any{"count", counts[m], "interval", l.every.String()}, attrs[m]...)...)
	}
}

// Close stops the ticker and logs what is left.
func (l *Logger) Close() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	<-l.done
	l.Flush()
}
