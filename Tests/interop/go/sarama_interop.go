// Interop: sarama (Go; the Debian package golang-github-shopify-sarama-dev) with
// Config.Version = V2_2_0_0, the newest Kafka version this sarama knows, against a running Rill
// cluster. ops/interop.sh builds it (GOPATH=/usr/share/gocode, no modules, no network) into an
// ignored directory and runs it with BOOTSTRAP=host:port,... in the environment.
//
// What it does: ClusterAdmin.CreateTopic, an idempotent SyncProducer with acks=all (snappy)
// producing a few hundred records, a plain consumer reading every record back at its offset, a
// consumer group that reads them all and commits, and a second session of the group that reads
// exactly the records produced after that commit; DeleteTopic.
//
// Versions: sarama sends no ApiVersions; its versions follow Config.Version. Every request it
// writes is seen on the wire (a dialer that wraps each connection reads the request headers) and
// printed as `sarama-<version> negotiated <Api> v<N>`; each must be within the range Rill
// advertises now (asked with an ApiVersions v0 request of our own).
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

// Set with -ldflags "-X main.saramaVersion=..." from the Debian package's version.
var saramaVersion = "unknown"

var tag string
var failures []string

func check(name string, ok bool, detail interface{}) {
	if ok {
		fmt.Printf("ok   %s: %s\n", tag, name)
	} else {
		fmt.Printf("FAIL %s: %s: %v\n", tag, name, detail)
		failures = append(failures, name)
	}
}

func info(format string, args ...interface{}) {
	fmt.Printf("     %s: %s\n", tag, fmt.Sprintf(format, args...))
}

// --- requests on the wire ----------------------------------------------------------------------

var sentMu sync.Mutex
var sent = map[int16]map[int16]bool{}

// sniffConn reads the size-prefixed request frames the client writes: int32 size, int16 API key,
// int16 version, ...
type sniffConn struct {
	net.Conn
	buf []byte
}

func (c *sniffConn) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for len(c.buf) >= 8 {
		size := int(binary.BigEndian.Uint32(c.buf))
		if len(c.buf) < 4+size {
			break
		}
		key := int16(binary.BigEndian.Uint16(c.buf[4:]))
		version := int16(binary.BigEndian.Uint16(c.buf[6:]))
		sentMu.Lock()
		if sent[key] == nil {
			sent[key] = map[int16]bool{}
		}
		sent[key][version] = true
		sentMu.Unlock()
		c.buf = c.buf[4+size:]
	}
	return c.Conn.Write(p)
}

type sniffDialer struct{}

func (sniffDialer) Dial(network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: conn}, nil
}

// --- what Rill advertises -----------------------------------------------------------------------

func advertised(addr string) (map[int16][2]int16, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	client := []byte("rill-interop-probe")
	req := make([]byte, 4+10+len(client))
	binary.BigEndian.PutUint32(req, uint32(10+len(client)))
	binary.BigEndian.PutUint16(req[4:], 18) // ApiVersions
	binary.BigEndian.PutUint16(req[6:], 0)  // v0
	binary.BigEndian.PutUint32(req[8:], 7)  // correlation id
	binary.BigEndian.PutUint16(req[12:], uint16(len(client)))
	copy(req[14:], client)
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(conn, head); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(head))
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, err
	}
	if len(body) < 10 || binary.BigEndian.Uint32(body) != 7 || binary.BigEndian.Uint16(body[4:]) != 0 {
		return nil, fmt.Errorf("ApiVersions v0: unexpected response % x", body[:min(len(body), 16)])
	}
	n := int(binary.BigEndian.Uint32(body[6:]))
	if len(body) < 10+6*n {
		return nil, fmt.Errorf("ApiVersions v0: %d APIs in %d bytes", n, len(body))
	}
	ranges := map[int16][2]int16{}
	for i := 0; i < n; i++ {
		at := 10 + 6*i
		ranges[int16(binary.BigEndian.Uint16(body[at:]))] = [2]int16{
			int16(binary.BigEndian.Uint16(body[at+2:])), int16(binary.BigEndian.Uint16(body[at+4:]))}
	}
	return ranges, nil
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

var apiNames = map[int16]string{
	0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
	10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
	15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
	20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
	32: "DescribeConfigs", 36: "SaslAuthenticate", 37: "CreatePartitions", 42: "DeleteGroups",
}

func apiName(k int16) string {
	if n, ok := apiNames[k]; ok {
		return n
	}
	return fmt.Sprintf("key%d", k)
}

// --- the run --------------------------------------------------------------------------------------

func config(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_2_0_0
	c.ClientID = clientID
	c.Net.Proxy.Enable = true
	c.Net.Proxy.Dialer = sniffDialer{}
	c.Net.DialTimeout = 5 * time.Second
	c.Net.ReadTimeout = 15 * time.Second
	c.Net.WriteTimeout = 15 * time.Second
	c.Metadata.Retry.Max = 20
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Admin.Timeout = 15 * time.Second
	return c
}

const partitions = 3
const count = 300

type handler struct {
	seen    *sync.Map // value -> times
	n       *int64Counter
	ready   chan struct{}
	started sync.Once
}

type int64Counter struct {
	mu sync.Mutex
	n  int
}

func (c *int64Counter) add() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

func (c *int64Counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error {
	h.started.Do(func() { close(h.ready) })
	return nil
}
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		v, _ := h.seen.LoadOrStore(string(m.Value), new(int64Counter))
		v.(*int64Counter).add()
		h.n.add()
		s.MarkMessage(m, "")
	}
	return nil
}

// groupSession joins the group with one member, reads until `want` records are seen (or 40 s),
// and leaves; the offset manager commits what was marked when the group is closed.
func groupSession(bootstrap []string, topic, group string, want int) (map[string]int, error) {
	c := config("sarama-group")
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	// OffsetCommit v1 (what sarama sends with no retention) is gone from Kafka 4 and Rill; a
	// retention time makes it send v2.
	c.Consumer.Offsets.Retention = 24 * time.Hour
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	c.Consumer.Return.Errors = true
	cg, err := sarama.NewConsumerGroup(bootstrap, group, c)
	if err != nil {
		return nil, err
	}
	seen := &sync.Map{}
	h := &handler{seen: seen, n: &int64Counter{}, ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var errMu sync.Mutex
	var groupErrs []string
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for e := range cg.Errors() {
			errMu.Lock()
			groupErrs = append(groupErrs, e.Error())
			errMu.Unlock()
		}
	}()
	deadline := time.Now().Add(40 * time.Second)
	for h.n.get() < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a record read twice would show up now
	cancel()
	var consumeErr error
	select {
	case consumeErr = <-done:
	case <-time.After(20 * time.Second):
		consumeErr = fmt.Errorf("Consume did not return within 20 s of its cancel")
	}
	if err := cg.Close(); err != nil && consumeErr == nil {
		consumeErr = err
	}
	select { // Close closes the Errors channel
	case <-errsDone:
	case <-time.After(5 * time.Second):
	}
	errMu.Lock()
	if consumeErr == nil && len(groupErrs) > 0 {
		consumeErr = fmt.Errorf("group errors: %v", groupErrs)
	}
	errMu.Unlock()
	out := map[string]int{}
	seen.Range(func(k, v interface{}) bool { out[k.(string)] = v.(*int64Counter).get(); return true })
	return out, consumeErr
}

func main() {
	tag = "sarama-" + saramaVersion
	bootstrapEnv := os.Getenv("BOOTSTRAP")
	if bootstrapEnv == "" {
		fmt.Fprintln(os.Stderr, "BOOTSTRAP (host:port,...) is not set")
		os.Exit(2)
	}
	go func() {
		time.Sleep(150 * time.Second)
		fmt.Printf("FAIL %s: the run did not finish within 150 s\n", tag)
		os.Exit(3)
	}()
	started := time.Now()
	bootstrap := strings.Split(bootstrapEnv, ",")
	rill, err := advertised(bootstrap[0])
	if err != nil {
		fmt.Printf("FAIL %s: ApiVersions v0 to %s: %v\n", tag, bootstrap[0], err)
		os.Exit(1)
	}
	info("Config.Version %s (the newest this sarama knows: %s)", sarama.V2_2_0_0, sarama.MaxVersion)
	run := fmt.Sprintf("%d", time.Now().UnixNano()/1e6%100000000)
	topic, group := "sarama-data-"+run, "sarama-group-"+run

	admin, err := sarama.NewClusterAdmin(bootstrap, config("sarama-admin"))
	if err != nil {
		check("ClusterAdmin connects", false, err)
		finish(rill, started)
	}
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 3}, false)
	check(fmt.Sprintf("ClusterAdmin.CreateTopic (%d partitions, replication 3)", partitions), err == nil, err)

	// The idempotent producer, acks=all, snappy. Right after the create a partition may still be
	// electing its leader: the producer retries (bounded).
	pc := config("sarama-producer")
	pc.Producer.RequiredAcks = sarama.WaitForAll
	pc.Producer.Idempotent = true
	pc.Net.MaxOpenRequests = 1
	pc.Producer.Retry.Max = 20
	pc.Producer.Retry.Backoff = 200 * time.Millisecond
	pc.Producer.Return.Successes = true
	pc.Producer.Compression = sarama.CompressionSnappy
	pc.Producer.Timeout = 15 * time.Second
	producer, err := sarama.NewSyncProducer(bootstrap, pc)
	acked := map[string][2]int64{}
	if err != nil {
		check("SyncProducer starts", false, err)
	} else {
		batch := func(from, to int) {
			var msgs []*sarama.ProducerMessage
			for i := from; i < to; i++ {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)),
					Value: sarama.StringEncoder(fmt.Sprintf("sarama-%d", i))})
			}
			err := producer.SendMessages(msgs)
			for _, m := range msgs {
				if m.Offset >= 0 && (err == nil || !failedMessage(err, m)) {
					acked[string(m.Value.(sarama.StringEncoder))] = [2]int64{int64(m.Partition), m.Offset}
				}
			}
			check(fmt.Sprintf("idempotent SyncProducer, acks=all, snappy: records %d..%d acknowledged", from, to-1), err == nil, err)
		}
		batch(0, count)
		defer producer.Close()

		// A plain consumer reads every partition from the oldest offset.
		consumer, err := sarama.NewConsumer(bootstrap, config("sarama-consumer"))
		if err != nil {
			check("Consumer starts", false, err)
		} else {
			got := map[string][2]int64{}
			for p := int32(0); p < partitions; p++ {
				pcons, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
				if err != nil {
					check(fmt.Sprintf("ConsumePartition %d", p), false, err)
					continue
				}
				want := 0
				for _, at := range acked {
					if at[0] == int64(p) {
						want++
					}
				}
				timeout := time.After(20 * time.Second)
			read:
				for n := 0; n < want; n++ {
					select {
					case m := <-pcons.Messages():
						got[string(m.Value)] = [2]int64{int64(m.Partition), m.Offset}
					case e := <-pcons.Errors():
						check(fmt.Sprintf("ConsumePartition %d reads", p), false, e)
						break read
					case <-timeout:
						break read
					}
				}
				pcons.Close()
			}
			consumer.Close()
			same := len(got) == len(acked)
			for v, at := range acked {
				same = same && got[v] == at
			}
			check(fmt.Sprintf("Consumer reads every acknowledged record at its partition and offset (%d of %d)", len(got), len(acked)), same,
				fmt.Sprintf("%d read", len(got)))
		}

		// The group: one session reads everything and commits; after more records, a second
		// session reads exactly those.
		seen, err := groupSession(bootstrap, topic, group, len(acked))
		check("consumer group session 1 ends without error", err == nil, err)
		twice, missing := 0, 0
		for v := range acked {
			switch seen[v] {
			case 0:
				missing++
			case 1:
			default:
				twice++
			}
		}
		check(fmt.Sprintf("consumer group session 1 reads every record once (%d of %d)", len(seen), len(acked)), missing == 0 && twice == 0,
			fmt.Sprintf("%d missing, %d read more than once", missing, twice))
		before := len(acked)
		batch(count, count+50)
		fresh, err := groupSession(bootstrap, topic, group, 50)
		check("consumer group session 2 ends without error", err == nil, err)
		old := 0
		for v := range fresh {
			var i int
			fmt.Sscanf(v, "sarama-%d", &i)
			if i < count {
				old++
			}
		}
		check(fmt.Sprintf("consumer group session 2 resumes at the commit: the %d new records, nothing old", len(acked)-before),
			len(fresh) == len(acked)-before && old == 0, fmt.Sprintf("%d read, %d of them old", len(fresh), old))
	}

	err = admin.DeleteTopic(topic)
	check("ClusterAdmin.DeleteTopic", err == nil, err)
	admin.Close()
	finish(rill, started)
}

func failedMessage(err error, m *sarama.ProducerMessage) bool {
	if errs, ok := err.(sarama.ProducerErrors); ok {
		for _, e := range errs {
			if e.Msg == m {
				return true
			}
		}
	}
	return false
}

func finish(rill map[int16][2]int16, started time.Time) {
	sentMu.Lock()
	keys := make([]int, 0, len(sent))
	for k := range sent {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	var wrong []string
	for _, k := range keys {
		var vs []int
		for v := range sent[int16(k)] {
			vs = append(vs, int(v))
		}
		sort.Ints(vs)
		shown := make([]string, len(vs))
		for i, v := range vs {
			shown[i] = fmt.Sprint(v)
		}
		fmt.Printf("%s negotiated %s v%s\n", tag, apiName(int16(k)), strings.Join(shown, "/"))
		r, ok := rill[int16(k)]
		for _, v := range vs {
			if !ok || v < int(r[0]) || v > int(r[1]) {
				wrong = append(wrong, fmt.Sprintf("%s v%d (Rill advertises %v)", apiName(int16(k)), v, r))
			}
		}
	}
	sentMu.Unlock()
	check(fmt.Sprintf("every API it sent (%d) used a version Rill advertises", len(keys)), len(wrong) == 0 && len(keys) > 0, wrong)
	info("finished in %.1f s", time.Since(started).Seconds())
	fmt.Printf("%s: %d failure(s)\n", tag, len(failures))
	if len(failures) > 0 {
		os.Exit(1)
	}
	os.Exit(0)
}
